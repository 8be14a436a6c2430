//! Lambda function `discovery`: builds the shared state once per process and runs
//! [`discovery::handle`] for every batch of queued jobs.

use lambda_runtime::{LambdaEvent, service_fn};
use onboarding::config::{Config, Runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    onboarding::telemetry::init_lambda();
    let config = Config::from_env(Runtime::Lambda)?;
    let state = onboarding::services::Services::from_config(&config).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let state = state.clone();
        async move { discovery::handle(&state, event).await }
    }))
    .await
}
