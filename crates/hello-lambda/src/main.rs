//! Hello world on the Lambda runtime: what `--bench cold_start` measures every function
//! against (the same runtime crate, profile and emulator; no configuration, clients or router).

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, lambda_runtime::Error>(json!({ "statusCode": 200, "body": "ok" }))
    }))
    .await
}
