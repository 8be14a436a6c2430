//! Cold start of each Lambda function: a minimal Lambda Runtime API emulator on loopback
//! serves one event to a freshly spawned release bootstrap (the HTTP functions: an API Gateway
//! `GET /health`; `schedule`: the EventBridge Scheduler event of `events/`, against an empty
//! table on DynamoDB Local; `discovery`, the jobs' worker: an SQS batch with no records), and the time from process spawn to the first `next` call (init)
//! and to the posted response (first handled event) is reported. Builds the host release
//! binaries first.
//! Every function is compared with a hello-world `lambda_runtime` binary (`crates/hello-lambda`,
//! same release profile) measured interleaved in the same run.
//! Run with `eval "$(scripts/services.sh start)"; cargo bench --bench cold_start` (optionally
//! `-- <runs per function> [function ...]`); without DynamoDB Local, `schedule` is left out and says so.

#[path = "support.rs"]
mod support;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const FUNCTIONS: [&str; 7] = [
    "signup",
    "confirm",
    "api",
    "resend",
    "consent-callback",
    "schedule",
    "discovery",
];
/// The floor: a hello-world `lambda_runtime` function (crates/hello-lambda), same profile.
const HELLO: &str = "hello-lambda";

#[derive(Debug)]
enum Seen {
    Next,
    Response(String),
    Error(String),
}

#[derive(Clone)]
struct Emulator {
    tx: mpsc::UnboundedSender<Seen>,
    served: Arc<Mutex<bool>>,
    event: Arc<String>,
}

fn scheduled_event() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/scheduled-discovery.json")).unwrap()
}

fn health_event() -> String {
    let raw = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/events/me.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    v["rawPath"] = "/health".into();
    v["routeKey"] = "GET /health".into();
    v["requestContext"]["http"]["path"] = "/health".into();
    v["requestContext"]["routeKey"] = "GET /health".into();
    v.to_string()
}

async fn next(State(e): State<Emulator>) -> impl IntoResponse {
    let _ = e.tx.send(Seen::Next);
    let first = std::mem::replace(&mut *e.served.lock().unwrap(), true);
    if first {
        // One event per process: later polls wait until the process is killed.
        std::future::pending::<()>().await;
    }
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
    h.insert(
        "lambda-runtime-deadline-ms",
        (chrono::Utc::now().timestamp_millis() + 30_000)
            .to_string()
            .parse()
            .unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".parse().unwrap(),
    );
    h.insert(
        "lambda-runtime-trace-id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700".parse().unwrap(),
    );
    (h, e.event.as_str().to_owned())
}

async fn response(State(e): State<Emulator>, Path(_id): Path<String>, body: String) -> &'static str {
    let _ = e.tx.send(Seen::Response(body));
    "{}"
}

async fn error(State(e): State<Emulator>, body: String) -> &'static str {
    let _ = e.tx.send(Seen::Error(body));
    "{}"
}

/// A binary under test: its name, the event it gets, extra environment.
type Subject = (&'static str, Arc<String>, Vec<(&'static str, String)>);

/// One cold start of `bin`: spawn it under a fresh emulator serving `event`; answers (init,
/// first event): spawn -> first `next`, spawn -> response.
async fn cold_start(f: &str, bin: &str, event: Arc<String>, store_env: &[(&str, String)]) -> (Duration, Duration) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let emulator = Emulator {
        tx,
        served: Arc::new(Mutex::new(false)),
        event,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(emulator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", f)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PUBLIC_BASE_URL", "https://api.example.com")
        .env("SENDER_EMAIL", "no-reply@example.com")
        .env("SIGNING_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        .env("ENCRYPTION_KEY", "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
        .env("RUST_LOG", "warn")
        .envs(store_env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the bootstrap starts");
    let mut init = None;
    let first = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Seen::Next)) if init.is_none() => init = Some(t0.elapsed()),
            Ok(Some(Seen::Next)) => {}
            Ok(Some(Seen::Response(body))) => {
                assert!(
                    body.contains("200")
                        || body.contains("ok")
                        || body.contains("\"due\"")
                        || body.contains("batchItemFailures"),
                    "{f}: {body}"
                );
                break t0.elapsed();
            }
            Ok(Some(Seen::Error(body))) => panic!("{f} reported an error: {body}"),
            Ok(None) | Err(_) => panic!("{f} did not answer within 10 s"),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    (init.unwrap(), first)
}

/// The host's target triple, as rustc names it.
fn host_triple() -> String {
    let out = Command::new("rustc").arg("-vV").output().expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20);
    // Function names among the arguments measure only those (beside hello-world).
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| FUNCTIONS.contains(&a.as_str()))
        .collect();
    let functions: Vec<&str> = FUNCTIONS
        .into_iter()
        .filter(|f| named.is_empty() || named.iter().any(|n| n == f))
        .collect();
    // Built as `scripts/build-lambdas` builds them: for an explicit target (so build scripts and
    // proc macros keep their defaults), non-PIE, without aws-lc's jitter entropy source.
    let host = host_triple();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--release", "--quiet", "--target", &host, "-p", HELLO])
        .env(
            format!("CARGO_TARGET_{}_RUSTFLAGS", host.to_uppercase().replace('-', "_")),
            "-C relocation-model=static",
        )
        .env("AWS_LC_SYS_NO_JITTER_ENTROPY", "1");
    for f in &functions {
        build.args(["-p", f]);
    }
    assert!(
        build.status().expect("cargo runs").success(),
        "release build of the functions"
    );
    let target_dir =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    let target = format!("{target_dir}/{host}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // The schedule function reads the table: an empty one on DynamoDB Local.
        let dynamodb = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok();
        let table = format!("bench-cold-{}", std::process::id());
        if dynamodb.is_some() {
            let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let client = aws_sdk_dynamodb::Client::new(&aws);
            onboarding::store::dynamo::create_table_if_missing(&client, &table)
                .await
                .unwrap();
        }
        // The hello-world floor first, then every function; runs interleaved (one of each per
        // round) so they share the machine's state.
        let mut subjects: Vec<Subject> = vec![(HELLO, Arc::new(health_event()), Vec::new())];
        for f in functions {
            if f == "discovery" {
                subjects.push((f, Arc::new(r#"{"Records":[]}"#.to_owned()), Vec::new()));
            } else if f == "schedule" {
                let Some(endpoint) = dynamodb.clone() else {
                    println!("schedule: left out (AWS_ENDPOINT_URL_DYNAMODB not set; start scripts/services.sh)");
                    continue;
                };
                subjects.push((
                    f,
                    Arc::new(scheduled_event()),
                    vec![("AWS_ENDPOINT_URL_DYNAMODB", endpoint), ("TABLE_NAME", table.clone())],
                ));
            } else {
                subjects.push((f, Arc::new(health_event()), Vec::new()));
            }
        }
        println!(
            "cold start, host release bootstraps, {runs} runs each, interleaved (spawn -> first `next` = init; -> response = first event)"
        );
        let mut samples: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(Vec::new(), Vec::new()); subjects.len()];
        for _ in 0..runs {
            for (i, (f, event, store_env)) in subjects.iter().enumerate() {
                let bin = format!("{target}/release/{f}");
                let (init, first) = cold_start(f, &bin, event.clone(), store_env).await;
                samples[i].0.push(init);
                samples[i].1.push(first);
            }
        }
        let mut floor = None;
        for ((f, _, _), (inits, firsts)) in subjects.iter().zip(samples) {
            let size = std::fs::metadata(format!("{target}/release/{f}")).map(|m| m.len()).unwrap_or(0);
            println!("{f} (binary {:.1} MB)", size as f64 / 1_048_576.0);
            let p50 = support::report("  init (spawn -> first next)", inits);
            support::report("  first event (spawn -> response)", firsts);
            match floor {
                None => floor = Some(p50),
                Some(hello) => println!("  init p50 = {:.1}x hello-world's", support::ms(p50) / support::ms(hello)),
            }
        }
    });
}
