//! Signup, confirm and sign-in latency, in process, through the real router on the embedded
//! store (on disk, as `cargo run` uses it, and in memory), with argon2id's share reported
//! apart; then whether a second signup (pending, registered address) or a password-reset
//! request for an unknown address takes as long as the answer it must look like; then peak
//! memory (VmHWM) and sign-in latency under 64 and 128 parallel wrong sign-ins, with the
//! hasher's semaphore and (last, since VmHWM only grows) without it. Run with
//! `cargo bench --bench signup` (optionally `-- <iterations>`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use onboarding::clock::SystemClock;
use onboarding::crypto::PasswordHasher;
use onboarding::email::memory::MemoryMailer;
use onboarding::services::{AppState, Links, Services};
use onboarding::store::Store;
use onboarding::store::embedded::EmbeddedStore;
use secrecy::{SecretSlice, SecretString};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery staple";

#[path = "support.rs"]
mod support;
use support::report;

async fn call(state: &AppState, path: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = onboarding::http::router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn services(store: Arc<dyn Store>, mailer: Arc<MemoryMailer>) -> Services {
    let links = Links {
        public_base_url: "http://127.0.0.1:3000".into(),
        console_url: "http://127.0.0.1:3000/console".into(),
    };
    Services::new(
        store,
        mailer,
        Arc::new(SystemClock),
        SecretSlice::from(vec![1u8; 32]),
        links,
    )
}

async fn timed(state: &AppState, path: &str, body: Value, want: StatusCode) -> Duration {
    let t = Instant::now();
    let (s, _) = call(state, path, body).await;
    let d = t.elapsed();
    assert_eq!(s, want, "{path}");
    d
}

/// p50 of a first signup vs a second one for a pending and for a registered address, and of a
/// reset request for a registered vs an unknown address.
async fn enumeration(n: usize) {
    let mailer = Arc::new(MemoryMailer::default());
    let state = services(
        Arc::new(EmbeddedStore::in_memory(Arc::new(SystemClock))),
        mailer.clone(),
    )
    .into_state();
    let signup = |email: &str| json!({"organization": "Bench MSP", "email": email, "password": PASSWORD});
    let (mut new, mut pending, mut registered, mut reset_known, mut reset_unknown) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (a, b) = (format!("enum-a{i}@example.com"), format!("enum-b{i}@example.com"));
        new.push(timed(&state, "/v1/signup", signup(&a), StatusCode::ACCEPTED).await);
        pending.push(timed(&state, "/v1/signup", signup(&a), StatusCode::ACCEPTED).await);
        timed(&state, "/v1/signup", signup(&b), StatusCode::ACCEPTED).await;
        let text = mailer.to(&b).pop().unwrap().text;
        let at = text.find("code is: ").unwrap() + 9;
        let code = text[at..at + 6].to_owned();
        timed(
            &state,
            "/v1/signup/confirm",
            json!({"email": b, "code": code}),
            StatusCode::OK,
        )
        .await;
        registered.push(timed(&state, "/v1/signup", signup(&b), StatusCode::ACCEPTED).await);
        reset_known.push(timed(&state, "/v1/password/forgot", json!({"email": b}), StatusCode::ACCEPTED).await);
        reset_unknown.push(
            timed(
                &state,
                "/v1/password/forgot",
                json!({"email": format!("enum-c{i}@example.com")}),
                StatusCode::ACCEPTED,
            )
            .await,
        );
    }
    println!("\n-- enumeration: the same answer in comparable time (embedded store in memory)");
    report("signup, new address", new);
    report("signup again, pending address", pending);
    report("signup again, registered address", registered);
    report("forgot password, registered", reset_known);
    report("forgot password, unknown", reset_unknown);
}

/// Peak memory of the process (VmHWM), in MiB.
fn vm_hwm_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// `parallel` wrong sign-ins at once (unknown addresses: the same argon2 work as a wrong
/// password), with the hasher allowing `permits` hashes at once.
async fn parallel_sign_ins(parallel: usize, permits: usize) {
    let mut services = services(
        Arc::new(EmbeddedStore::in_memory(Arc::new(SystemClock))),
        Arc::new(MemoryMailer::default()),
    );
    services.hasher = PasswordHasher::owasp_with_permits(permits);
    let state = services.into_state();
    let tasks: Vec<_> = (0..parallel)
        .map(|i| {
            let state = state.clone();
            tokio::spawn(async move {
                let body = json!({"email": format!("p{i}@example.com"), "password": "wrong password here"});
                timed(&state, "/v1/sessions", body, StatusCode::UNAUTHORIZED).await
            })
        })
        .collect();
    let mut samples = Vec::new();
    for t in tasks {
        samples.push(t.await.unwrap());
    }
    report(&format!("{parallel} parallel, {permits} permits"), samples);
    println!(
        "{:<34} VmHWM {:>8.1} MiB   most hashes at once {}",
        "",
        vm_hwm_mib(),
        state.hasher.peak_running()
    );
}

async fn run(label: &str, store: Arc<dyn Store>, n: usize) -> [Duration; 3] {
    let mailer = Arc::new(MemoryMailer::default());
    let state = services(store, mailer.clone()).into_state();
    let (mut up, mut confirm, mut sign_in) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let email = format!("bench{i}@example.com");
        let t = Instant::now();
        let (s, _) = call(
            &state,
            "/v1/signup",
            json!({"organization": "Bench MSP", "email": email, "password": PASSWORD}),
        )
        .await;
        up.push(t.elapsed());
        assert_eq!(s, StatusCode::ACCEPTED);
        let text = mailer.to(&email).pop().unwrap().text;
        let at = text.find("code is: ").unwrap() + 9;
        let code = text[at..at + 6].to_owned();
        let t = Instant::now();
        let (s, _) = call(&state, "/v1/signup/confirm", json!({"email": email, "code": code})).await;
        confirm.push(t.elapsed());
        assert_eq!(s, StatusCode::OK);
        let t = Instant::now();
        let (s, _) = call(&state, "/v1/sessions", json!({"email": email, "password": PASSWORD})).await;
        sign_in.push(t.elapsed());
        assert_eq!(s, StatusCode::OK);
    }
    println!("-- {label}");
    [
        report("signup (POST /v1/signup)", up),
        report("confirm (POST /v1/signup/confirm)", confirm),
        report("sign-in (POST /v1/sessions)", sign_in),
    ]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    println!("signup benchmark: {n} iterations per operation, argon2id m=19456 KiB t=2 p=1\n");

    let hasher = PasswordHasher::owasp();
    let (mut hash, mut verify) = (Vec::new(), Vec::new());
    let phc = hasher.hash(SecretString::from(PASSWORD)).await.unwrap();
    for _ in 0..n {
        let t = Instant::now();
        hasher.hash(SecretString::from(PASSWORD)).await.unwrap();
        hash.push(t.elapsed());
        let t = Instant::now();
        assert!(hasher.verify(SecretString::from(PASSWORD), phc.clone()).await);
        verify.push(t.elapsed());
    }
    println!("-- argon2id alone");
    let hash = report("hash", hash);
    let verify = report("verify", verify);

    let dir = tempfile::tempdir().unwrap();
    let disk = EmbeddedStore::open(&dir.path().join("bench.redb"), Arc::new(SystemClock)).unwrap();
    let on_disk = run("embedded store on disk (redb, fsync per commit)", Arc::new(disk), n).await;
    let in_memory = run(
        "embedded store in memory",
        Arc::new(EmbeddedStore::in_memory(Arc::new(SystemClock))),
        n,
    )
    .await;

    println!("\n-- argon2id's share of the p50 (signup: 2 hashes, password and code; confirm and sign-in: 1 verify)");
    for (label, [up, confirm, sign_in]) in [("on disk", on_disk), ("in memory", in_memory)] {
        let share = |argon: Duration, total: Duration| 100.0 * argon.as_secs_f64() / total.as_secs_f64();
        println!(
            "{label:<10} signup {:>5.1} %   confirm {:>5.1} %   sign-in {:>5.1} %",
            share(hash * 2, up),
            share(verify, confirm),
            share(verify, sign_in)
        );
    }

    enumeration(n).await;

    let permits = onboarding::crypto::default_hash_permits();
    println!("\n-- parallel wrong sign-ins (VmHWM is the process's peak so far: it only grows)");
    println!("before: VmHWM {:.1} MiB", vm_hwm_mib());
    parallel_sign_ins(64, permits).await;
    parallel_sign_ins(128, permits).await;
    println!("-- the same without the cap (what the service did before)");
    parallel_sign_ins(64, 1024).await;
    parallel_sign_ins(128, 1024).await;
}
