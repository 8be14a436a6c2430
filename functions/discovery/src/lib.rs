//! Lambda function `discovery`: the job queue's worker (an SQS event source mapping with
//! partial batch responses). Each message is one account's job, run within the invocation's
//! time left less a margin; the messages of a batch run at once. A message that is to be
//! delivered again (the store failed, another run holds the account) is reported as a batch
//! item failure; the others are acknowledged, including bodies that are not jobs, which go to
//! the dead-letter queue with why.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use onboarding::flows::worker::{self, Handled};
use onboarding::services::AppState;
use std::time::Duration;

/// Kept back from the invocation's deadline for recording the run and queueing its
/// continuation.
pub const MARGIN: Duration = Duration::from_secs(30);
/// The budget when the deadline is unknown or already near.
pub const MIN_BUDGET: Duration = Duration::from_secs(5);

/// Handles one batch of messages.
pub async fn handle(state: &AppState, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let (event, context) = event.into_parts();
    let left = context
        .deadline()
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    let budget = left.saturating_sub(MARGIN).max(MIN_BUDGET);
    let runs = event.records.iter().map(|record| {
        let body = record.body.as_deref().unwrap_or_default();
        async move {
            (
                record.message_id.clone().unwrap_or_default(),
                worker::handle(state, body, budget).await,
            )
        }
    });
    let mut response = SqsBatchResponse::default();
    for (message_id, handled) in futures_util::future::join_all(runs).await {
        match handled {
            Ok(Handled::Ran { run, .. }) => {
                lambda_runtime::tracing::info!(%message_id, outcome = ?run.outcome, "job done")
            }
            Ok(other) => lambda_runtime::tracing::info!(%message_id, handled = ?other, "job acknowledged"),
            Err(e) => {
                lambda_runtime::tracing::warn!(%message_id, cause = %e, "job to be delivered again");
                response.add_failure(message_id);
            }
        }
    }
    lambda_runtime::tracing::info!(
        request_id = %context.request_id,
        messages = event.records.len(),
        failures = response.batch_item_failures.len(),
        budget_s = budget.as_secs(),
        "batch done"
    );
    Ok(response)
}
