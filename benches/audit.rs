//! The audit log of a partner with many entries (default 100,000; `-- <entries>`): seeding
//! cost, then `GET /v1/audit` latency through the real router for the newest page, a page
//! deep in the log (following cursors), and the log filtered by one account, on the embedded
//! store (memory and disk) and on DynamoDB Local when it runs (`scripts/services.sh start`).
//! Run with `cargo bench --bench audit`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use onboarding::clock::SystemClock;
use onboarding::domain::{AccountId, AuditAction, PartnerId};
use onboarding::email::memory::MemoryMailer;
use onboarding::repo::audit;
use onboarding::services::AppState;
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::{Store, WriteOp};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

#[path = "support.rs"]
mod support;
use support::report;

const EMAIL: &str = "owner@audit.example";

async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = onboarding::http::router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A confirmed partner: its session and ID.
async fn partner(state: &AppState, mailer: &MemoryMailer) -> (String, PartnerId) {
    let body = json!({"organization": "Audit IT", "email": EMAIL, "password": "correct horse battery staple"});
    assert_eq!(
        call(state, "POST", "/v1/signup", Some(body), None).await.0,
        StatusCode::ACCEPTED
    );
    let code = onboarding_test_support::code_in(&mailer.to(EMAIL).pop().unwrap().text);
    let (status, s) = call(
        state,
        "POST",
        "/v1/signup/confirm",
        Some(json!({"email": EMAIL, "code": code})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let id = PartnerId::parse(s["partner_id"].as_str().unwrap()).unwrap();
    (s["token"].as_str().unwrap().to_owned(), id)
}

/// `n` entries over the last `n` seconds, one in ten naming `account`.
async fn seed(store: Arc<dyn Store>, partner: &PartnerId, account: &AccountId, n: usize) -> Duration {
    let started = Instant::now();
    let now = chrono::Utc::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = n.div_ceil(16);
    for t in 0..16 {
        let (store, partner, account) = (store.clone(), partner.clone(), account.clone());
        tasks.spawn(async move {
            let range = (t * per_task)..((t + 1) * per_task).min(n);
            let mut puts = Vec::new();
            for i in range {
                let named = i % 10 == 0;
                let op = audit::entry(
                    audit::Entry {
                        partner: &partner,
                        actor: audit::member(EMAIL),
                        action: if named {
                            AuditAction::ProtectionChanged
                        } else {
                            AuditAction::AuthorizationSent
                        },
                        account: named.then_some(&account),
                        client: None,
                        detail: json!({ "i": i }),
                    },
                    now - chrono::Duration::seconds(i as i64 + 1),
                )
                .unwrap();
                let WriteOp::Put { item, .. } = op else { unreachable!() };
                puts.push(item);
                if puts.len() == 25 {
                    store.batch_write(std::mem::take(&mut puts), Vec::new()).await.unwrap();
                }
            }
            if !puts.is_empty() {
                store.batch_write(puts, Vec::new()).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    started.elapsed()
}

async fn bench(name: &str, store: Arc<dyn Store>, entries: usize) {
    let mailer = Arc::new(MemoryMailer::default());
    let mut services = support::services(store.clone());
    services.mailer = mailer.clone();
    services.clock = Arc::new(SystemClock);
    let state = services.into_state();
    let (token, partner) = partner(&state, &mailer).await;
    let account = onboarding_test_support::fixtures::seed_account(
        store.as_ref(),
        &partner,
        onboarding::store::keys::AccountStatus::Active,
        "a0d17000-0000-4000-8000-000000000001",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let seeded = seed(store, &partner, &account, entries).await;
    println!(
        "{name}: seeded {entries} entries in {:.1} s ({:.0} entries/s)",
        seeded.as_secs_f64(),
        entries as f64 / seeded.as_secs_f64()
    );
    let timed = |path: String| {
        let (state, token) = (state.clone(), token.clone());
        async move {
            let t = Instant::now();
            let (status, page) = call(&state, "GET", &path, None, Some(&token)).await;
            let d = t.elapsed();
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            (d, page)
        }
    };
    let mut newest = Vec::new();
    for _ in 0..200 {
        newest.push(timed("/v1/audit?limit=50".into()).await.0);
    }
    report(&format!("{name}: newest 50"), newest);
    // Deep pages: follow the cursor 200 pages (10,000 entries) in, timing each page.
    let mut deep = Vec::new();
    let mut cursor = String::new();
    for _ in 0..200 {
        let (d, page) = timed(format!("/v1/audit?limit=50&cursor={cursor}")).await;
        deep.push(d);
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    report(&format!("{name}: next page (cursor)"), deep);
    let mut filtered = Vec::new();
    for _ in 0..200 {
        filtered.push(timed(format!("/v1/audit?limit=50&account_id={account}")).await.0);
    }
    report(&format!("{name}: one account's 50"), filtered);
}

#[tokio::main]
async fn main() {
    let entries: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    println!("audit log of one partner with {entries} entries; GET /v1/audit through the router");
    let clock = Arc::new(SystemClock);
    bench(
        "embedded (memory)",
        Arc::new(EmbeddedStore::in_memory(clock.clone())),
        entries,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(EmbeddedStore::open(&dir.path().join("audit.redb"), clock.clone()).unwrap());
    bench("embedded (disk)", disk, entries).await;
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok() {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = aws_sdk_dynamodb::Client::new(&aws);
        let table = format!("bench-audit-{}", std::process::id());
        onboarding::store::dynamo::create_table_if_missing(&client, &table)
            .await
            .unwrap();
        let store = Arc::new(onboarding::store::dynamo::DynamoStore::new(client, &table, clock));
        bench("DynamoDB Local", store, entries).await;
    } else {
        println!("DynamoDB Local: skipped (AWS_ENDPOINT_URL_DYNAMODB not set; start it with scripts/services.sh)");
    }
}
