//! Lambda function `schedule`: the EventBridge schedule's target. Each tick only fans out: one
//! discovery job per due account (read from the sharded due index) goes to the job queue,
//! where the `discovery` function runs it.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use onboarding::services::AppState;
use serde_json::Value;

/// Handles one scheduled event: answers the tick's totals (visible in the Lambda console and
/// in `cargo lambda invoke`). A tick that could not read the index or queue every due job is
/// an error to the runtime (its retries, dead letters and error alarm see it); the accounts it
/// missed stay due, so the next tick queues them.
pub async fn handle(
    state: &AppState,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, lambda_runtime::Error> {
    let (event, context) = event.into_parts();
    let out = onboarding::flows::schedule::fan_out(state).await?;
    lambda_runtime::tracing::info!(request_id = %context.request_id, event_time = ?event.time, ?out, "schedule tick done");
    if out.unsent > 0 {
        return Err(format!(
            "{} of {} due accounts could not be queued (see the log)",
            out.unsent, out.due
        )
        .into());
    }
    Ok(serde_json::to_value(out)?)
}
