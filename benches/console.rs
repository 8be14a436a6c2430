//! The partner console's pages through the real router (server time = time to the whole
//! body, which askama renders at once, so also the time to first byte), p50/p99 and bytes, on
//! the embedded store on disk: a partner with 1,000 accounts (Status, Seats) and one account
//! of 100,000 users (the Users tab: first page, a page deep by cursor, a name search and a
//! word search that each match one user). Arguments: `-- [accounts] [users]` (defaults 1,000 and 100,000).
//! Run with `cargo bench --bench console`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use onboarding::clock::SystemClock;
use onboarding::email::memory::MemoryMailer;
use onboarding::services::AppState;
use onboarding::store::Store;
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::keys::AccountStatus;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

#[path = "support.rs"]
mod support;
use support::{ms, percentile};

const EMAIL: &str = "owner@console.example";

async fn call(state: &AppState, path: &str, body: Option<Value>, cookie: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder()
        .method(if body.is_some() { "POST" } else { "GET" })
        .uri(path)
        .header("content-type", "application/json");
    if let Some(c) = cookie {
        req = req.header("cookie", format!("console_session={c}"));
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let res = onboarding::http::router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    (status, res.into_body().collect().await.unwrap().to_bytes().to_vec())
}

/// A confirmed partner: its session token (the console's cookie holds the same).
async fn partner(state: &AppState, mailer: &MemoryMailer) -> String {
    let body = json!({"organization": "Console IT", "email": EMAIL, "password": "correct horse battery staple"});
    assert_eq!(
        call(state, "/v1/signup", Some(body), None).await.0,
        StatusCode::ACCEPTED
    );
    let code = onboarding_test_support::code_in(&mailer.to(EMAIL).pop().unwrap().text);
    let (status, s) = call(
        state,
        "/v1/signup/confirm",
        Some(json!({"email": EMAIL, "code": code})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice::<Value>(&s).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn time_page(state: &AppState, name: &str, path: &str, cookie: &str, n: usize) {
    let mut samples = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let t = Instant::now();
        let (status, body) = call(state, path, None, Some(cookie)).await;
        samples.push(t.elapsed());
        assert_eq!(status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&body));
        bytes = body.len();
    }
    samples.sort();
    let (p50, p99): (Duration, Duration) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    println!(
        "{name:<40} n={n:<4} p50 {:>8.2} ms   p99 {:>8.2} ms   {:>7} bytes",
        ms(p50),
        ms(p99),
        bytes
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let accounts = args.first().copied().unwrap_or(1_000);
    let users = args.get(1).copied().unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SystemClock);
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(&dir.path().join("console.redb"), clock).unwrap());
    let mailer = Arc::new(MemoryMailer::default());
    let mut services = support::services(store.clone());
    services.mailer = mailer.clone();
    let state = services.into_state();
    let cookie = partner(&state, &mailer).await;
    let me = {
        let req = Request::builder()
            .uri("/v1/me")
            .header("authorization", format!("Bearer {cookie}"))
            .body(Body::empty())
            .unwrap();
        let res = onboarding::http::router(state.clone()).oneshot(req).await.unwrap();
        serde_json::from_slice::<Value>(&res.into_body().collect().await.unwrap().to_bytes()).unwrap()
    };
    let partner = onboarding::domain::PartnerId::parse(me["partner"]["id"].as_str().unwrap()).unwrap();

    let t = Instant::now();
    let mut big = None;
    for i in 0..accounts {
        let id = onboarding_test_support::fixtures::seed_account(
            store.as_ref(),
            &partner,
            AccountStatus::Active,
            &format!("c0501e00-0000-4000-8000-{i:012}"),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        big.get_or_insert(id);
    }
    let big = big.expect("at least one account");
    println!("seeded {accounts} accounts in {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    onboarding_test_support::fixtures::seed_users(store.as_ref(), &big, users, chrono::Utc::now())
        .await
        .unwrap();
    println!(
        "seeded {users} users in one account in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    println!("console pages through the router, embedded store on disk");
    for (name, path) in [
        ("sign-in (public)", "/console/sign-in".to_owned()),
        ("sign-up (public)", "/console/sign-up".to_owned()),
        ("forgot (public)", "/console/forgot".to_owned()),
        (&*format!("Status ({accounts} accounts)"), "/console".to_owned()),
        ("New SaaS account", "/console/accounts/new".to_owned()),
        (&*format!("Seats ({accounts} accounts)"), "/console/seats".to_owned()),
        ("Team", "/console/team".to_owned()),
        ("Offers", "/console/offers".to_owned()),
        ("Audit", "/console/audit".to_owned()),
        (
            &*format!("Account, Users tab ({users} users)"),
            format!("/console/accounts/{big}"),
        ),
        (
            "Account, Users tab, a name search (1)",
            format!("/console/accounts/{big}?tab=users&q=user+{:06}", users - 1),
        ),
        (
            "Account, Users tab, a word search (1)",
            format!("/console/accounts/{big}?tab=users&q={:06}", users - 1),
        ),
        (
            "Account, Sites tab (empty)",
            format!("/console/accounts/{big}?tab=sites"),
        ),
        ("Account progress (JSON)", format!("/console/accounts/{big}/progress")),
    ] {
        time_page(&state, name, &path, &cookie, 50).await;
    }
    // A page deep in the list: follow 20 "Next page" links first.
    let mut path = format!("/console/accounts/{big}");
    for _ in 0..20 {
        let (_, body) = call(&state, &path, None, Some(&cookie)).await;
        let text = String::from_utf8_lossy(&body);
        let at = text.find("cursor=").expect("a next page");
        let start = text[..at].rfind("href=\"").unwrap() + "href=\"".len();
        let end = start + text[start..].find('"').unwrap();
        path = text[start..end]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
            .trim_start_matches("https://api.example")
            .to_owned();
    }
    time_page(&state, "Account, Users tab, page 21 (cursor)", &path, &cookie, 50).await;
}
