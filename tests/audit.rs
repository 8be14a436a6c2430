//! The audit log (`GET /v1/audit`): entries written in the transaction of the action they
//! record, newest first with a cursor, filtered by account, scoped to the partner, kept 400
//! days, and no route that changes or deletes one.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};

const MEMBER: &str = "owner@msp.example";

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Answer {
    call(app, Method::POST, path, Some(body.to_string()), Some(token)).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> Answer {
    call(app, Method::GET, path, None, Some(token)).await
}

fn account(client: &str, with_credentials: bool) -> Value {
    json!({"client_name": client, "platform": "microsoft365", "managed_by": "client",
           "has_admin_credentials": with_credentials, "authorization_email": format!("admin@{}.example", client.to_lowercase())})
}

#[tokio::test]
async fn creating_an_account_is_logged_with_who_what_and_for_which_client() {
    let app = TestApp::new();
    let t = registered(&app, "Acme IT", MEMBER).await;
    let created = post(&app, &t, "/v1/accounts", account("Contoso", false)).await.json();
    let log = get(&app, &t, "/v1/audit").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let log = log.json();
    let mut seen = actions(&log);
    seen.sort();
    assert_eq!(
        seen,
        ["account_created", "authorization_sent", "signup_confirmed"],
        "{log}"
    );
    let signup = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "signup_confirmed")
        .unwrap();
    assert_eq!(
        (&signup["action"], &signup["actor"], &signup["detail"]),
        (
            &json!("signup_confirmed"),
            &json!({"kind": "member", "email": MEMBER}),
            &json!({"organization": "Acme IT"})
        ),
        "{log}"
    );
    for e in log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "signup_confirmed")
    {
        assert_eq!(e["actor"], json!({"kind": "member", "email": MEMBER}));
        assert_eq!(e["account_id"], created["id"]);
        assert_eq!(e["client_id"], created["client_id"]);
    }
    let sent = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "authorization_sent")
        .unwrap();
    assert_eq!(sent["detail"], json!({"to": "admin@contoso.example"}));
    // No secret in any entry: the link's token is nowhere in the log.
    let mail = app.mailer.to("admin@contoso.example").last().cloned().unwrap();
    let token = link_in(&mail.text, "/authorize/")
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(!log.to_string().contains(&token));
    // Kept 400 days (the store's TTL), in the partner's log partition.
    let stored: Vec<_> = app
        .snapshot()
        .into_iter()
        .filter(|i| i.key.pk.starts_with("AUDIT#"))
        .collect();
    assert_eq!(stored.len(), 3);
    for i in &stored {
        let days = (i.expires_at.unwrap() - onboarding::clock::Clock::now(app.clock.as_ref()).timestamp()) / 86_400;
        assert_eq!(days, 400, "{i:?}");
    }
}

#[tokio::test]
async fn a_refused_action_logs_nothing() {
    let app = TestApp::new();
    let t = registered(&app, "Acme IT", MEMBER).await;
    post(&app, &t, "/v1/accounts", account("Contoso", false)).await;
    // The same address again within a minute: 429, no account, no entry.
    let before = app.snapshot();
    let a = post(&app, &t, "/v1/accounts", account("Contoso", false)).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
    assert_eq!(app.snapshot(), before, "nothing written, no entry");
    assert_eq!(actions(&get(&app, &t, "/v1/audit").await.json()).len(), 3);
}

#[tokio::test]
async fn the_log_pages_newest_first_and_filters_by_account() {
    let app = TestApp::new();
    let t = registered(&app, "Acme IT", MEMBER).await;
    let mut ids = Vec::new();
    for (i, client) in ["Contoso", "Fabrikam", "Northwind"].iter().enumerate() {
        app.clock.advance(chrono::Duration::minutes(i as i64 + 1));
        ids.push(post(&app, &t, "/v1/accounts", account(client, true)).await.json()["id"].clone());
    }
    // Newest first, one per page, every entry once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(&app, &t, &format!("/v1/audit?limit=1&cursor={cursor}"))
            .await
            .json();
        for e in page["items"].as_array().unwrap() {
            seen.push(e["account_id"].clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    expected.push(Value::Null); // the signup, oldest, names no account
    assert_eq!(seen, expected, "newest first, each once");
    // Filtered by one account.
    let page = get(&app, &t, &format!("/v1/audit?account_id={}", ids[1].as_str().unwrap()))
        .await
        .json();
    assert_eq!(actions(&page), ["account_created"]);
    assert_eq!(page["items"][0]["account_id"], ids[1]);
}

#[tokio::test]
async fn another_partners_log_and_accounts_are_not_reachable() {
    let app = TestApp::new();
    let a = registered(&app, "Acme IT", MEMBER).await;
    let b = registered(&app, "Other MSP", "owner@other.example").await;
    let theirs = post(&app, &a, "/v1/accounts", account("Contoso", true)).await.json();
    // B's log is B's alone, and A's account is not found through it.
    assert_eq!(actions(&get(&app, &b, "/v1/audit").await.json()), ["signup_confirmed"]);
    let before = app.snapshot();
    let r = get(
        &app,
        &b,
        &format!("/v1/audit?account_id={}", theirs["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // A's cursor in B's hands reads B's log only.
    let page = get(&app, &a, "/v1/audit?limit=1").await.json();
    let r = get(
        &app,
        &b,
        &format!("/v1/audit?cursor={}", page["next_cursor"].as_str().unwrap_or("")),
    )
    .await;
    let theirs_seen = actions(&r.json());
    assert_eq!(r.status, StatusCode::OK);
    assert!(!theirs_seen.contains(&"account_created".to_owned()), "{theirs_seen:?}");
    // Bad queries: a clear 422 (or 400), nothing written.
    for (q, status) in [
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=201", StatusCode::UNPROCESSABLE_ENTITY),
        ("cursor=not-a-cursor!", StatusCode::UNPROCESSABLE_ENTITY),
        ("cursor=UExBSU4", StatusCode::UNPROCESSABLE_ENTITY),
        ("account_id=not-an-id", StatusCode::NOT_FOUND),
        ("limit=ten", StatusCode::BAD_REQUEST),
        ("other=1", StatusCode::BAD_REQUEST),
    ] {
        let r = get(&app, &b, &format!("/v1/audit?{q}")).await;
        assert_eq!(r.status, status, "{q}: {}", r.text);
    }
    assert_eq!(app.snapshot(), before, "reads and refusals wrote nothing");
    // Without a session: 401.
    assert_eq!(
        call(&app, Method::GET, "/v1/audit", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn no_route_changes_or_deletes_an_entry() {
    let app = TestApp::new();
    let t = registered(&app, "Acme IT", MEMBER).await;
    post(&app, &t, "/v1/accounts", account("Contoso", true)).await;
    let before = app.snapshot();
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let r = call(&app, method.clone(), "/v1/audit", Some("{}".into()), Some(&t)).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn a_resent_link_is_logged_with_the_new_address() {
    let app = TestApp::new();
    let t = registered(&app, "Acme IT", MEMBER).await;
    let acc = post(&app, &t, "/v1/accounts", account("Contoso", false)).await.json();
    let id = acc["id"].as_str().unwrap();
    app.clock.advance(chrono::Duration::minutes(2));
    let path = format!("/v1/accounts/{id}/authorization/resend");
    let resend = || post(&app, &t, &path, json!({"email": "it@contoso.example"}));
    let r = resend().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let log = get(&app, &t, &format!("/v1/audit?account_id={id}")).await.json();
    let newest = &log["items"][0];
    assert_eq!(newest["action"], "authorization_resent", "{log}");
    assert_eq!(newest["detail"], json!({"to": "it@contoso.example", "why": "resend"}));
    assert_eq!(newest["actor"]["email"], MEMBER);
    // Refused (the same address again at once): no entry.
    let before = app.snapshot();
    let r = resend().await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(app.snapshot(), before);
}

/// The same log on DynamoDB Local: the newest-first order, the cursor through the table and
/// through the account index (whose start key needs the table's keys too).
#[tokio::test]
async fn the_log_pages_and_filters_on_dynamodb_local() {
    let clock = std::sync::Arc::new(onboarding::clock::ManualClock::default());
    let dynamo = dynamo_store(clock.clone()).await;
    let app = TestApp::with_services(|mut s| {
        s.store = dynamo.clone();
        s.clock = clock.clone();
        s
    });
    let t = registered(&app, "Acme IT", MEMBER).await;
    let mut ids = Vec::new();
    for client in ["Contoso", "Fabrikam", "Northwind"] {
        clock.advance(chrono::Duration::minutes(1));
        let created = post(&app, &t, "/v1/accounts", account(client, true)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        ids.push(created.json()["id"].clone());
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(&app, &t, &format!("/v1/audit?limit=2&cursor={cursor}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let page = page.json();
        seen.extend(actions(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "account_created",
            "account_created",
            "account_created",
            "signup_confirmed"
        ]
    );
    let one = get(
        &app,
        &t,
        &format!("/v1/audit?account_id={}&limit=1", ids[0].as_str().unwrap()),
    )
    .await
    .json();
    assert_eq!(one["items"][0]["account_id"], ids[0]);
    if let Some(c) = one["next_cursor"].as_str() {
        let rest = get(
            &app,
            &t,
            &format!("/v1/audit?account_id={}&cursor={c}", ids[0].as_str().unwrap()),
        )
        .await;
        assert_eq!((rest.status, actions(&rest.json()).len()), (StatusCode::OK, 0));
    }
}
