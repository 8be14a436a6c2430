//! Lambda function `discovery`: the EventBridge schedule's target. Each scheduled event
//! discovers every account that is due (just-authorized accounts first) and applies auto-add
//! where its local time has come; the core logs one summary line per account.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use onboarding::services::AppState;
use serde_json::Value;

/// Handles one scheduled event: answers the run's totals (visible in the Lambda console and
/// in `cargo lambda invoke`).
pub async fn handle(
    state: &AppState,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, lambda_runtime::Error> {
    let (event, context) = event.into_parts();
    let run = onboarding::flows::run_scheduled(state, event.time).await?;
    lambda_runtime::tracing::info!(request_id = %context.request_id, ?run, "scheduled discovery done");
    // A run in which accounts failed is an error to the runtime, so the schedule's retries,
    // its dead-letter queue and the error alarm see it (finished accounts are no longer due:
    // a retry redoes only what failed).
    if run.failures() > 0 {
        return Err(format!(
            "{} of {} due accounts failed (see the log)",
            run.failures(),
            run.due + run.auto_add
        )
        .into());
    }
    Ok(serde_json::to_value(run)?)
}
