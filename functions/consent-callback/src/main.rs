//! Lambda function `consent-callback`: builds the shared state once per process and serves the core's
//! router for this function under the Lambda runtime.

use onboarding::config::{Config, Runtime};
use onboarding::http::consent_callback_router;
use onboarding::services::Services;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    onboarding::telemetry::init_lambda();
    let config = Config::from_env(Runtime::Lambda)?;
    let state = Services::from_config(&config).await?;
    lambda_http::run(consent_callback_router(state)).await
}
