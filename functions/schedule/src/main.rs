//! Lambda function `schedule`: builds the shared state once per process and runs
//! [`schedule::handle`] for every scheduled event.

use lambda_runtime::{LambdaEvent, service_fn};
use onboarding::config::{Config, Runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    onboarding::telemetry::init_lambda();
    let config = Config::from_env(Runtime::Lambda)?;
    let state = onboarding::services::Services::from_config(&config).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let state = state.clone();
        async move { schedule::handle(&state, event).await }
    }))
    .await
}
