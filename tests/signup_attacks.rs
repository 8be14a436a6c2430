//! Attacks on signup, sign-in and password reset, through the router (`oneshot`), each with
//! the answer it must get and a check that nothing was written and nothing mailed where that
//! applies. Source IPs are simulated with `ConnectInfo` in the request extensions.

mod common;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use chrono::Duration;
use common::*;
use http_body_util::BodyExt as _;
use onboarding::http::router;
use serde_json::{Value, json};
use std::net::SocketAddr;
use tower::ServiceExt as _;

/// A request from `ip` (as the local server sees it through `ConnectInfo`).
async fn call_from(app: &TestApp, ip: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let mut req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    answer(router(app.state.clone()).oneshot(req).await.unwrap()).await
}

async fn answer(res: axum::response::Response) -> Answer {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn retry_after(a: &Answer) -> i64 {
    a.headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("a 429 without Retry-After: {}", a.text))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn assert_limited(a: &Answer) {
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{}",
        a.text
    );
    assert!(retry_after(a) > 0);
}

async fn sign_in_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Answer {
    call_from(
        app,
        ip,
        Method::POST,
        "/v1/sessions",
        Some(json!({"email": email, "password": password})),
    )
    .await
}

const WRONG: &str = "not the password at all";

fn sessions_in(app: &TestApp) -> usize {
    app.snapshot()
        .iter()
        .filter(|i| i.key.pk.starts_with("SESSION#"))
        .count()
}

#[tokio::test]
async fn five_failed_sign_ins_lock_an_address_for_right_and_wrong_passwords() {
    let app = TestApp::new();
    registered(&app, "Acme", "alice@example.com").await;
    for _ in 0..5 {
        let a = sign_in_from(&app, "10.0.0.1", "alice@example.com", WRONG).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let sessions = sessions_in(&app);
    let before = app.snapshot();
    // From another IP too: the limit is the address's.
    for (ip, password) in [("10.0.0.1", WRONG), ("10.0.0.2", PASSWORD), ("10.0.0.3", WRONG)] {
        assert_limited(&sign_in_from(&app, ip, "Alice@example.com", password).await);
    }
    assert_eq!(app.snapshot(), before, "a refused sign-in writes nothing");
    assert_eq!(sessions_in(&app), sessions);
    // The window ends: the right password works again.
    app.clock.advance(Duration::minutes(15));
    assert_eq!(
        sign_in_from(&app, "10.0.0.1", "alice@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_addresses_are_limited_exactly_like_registered_ones() {
    let app = TestApp::new();
    registered(&app, "Acme", "bob@example.com").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..6 {
        known.push(sign_in_from(&app, "10.0.0.1", "bob@example.com", WRONG).await);
        unknown.push(sign_in_from(&app, "10.0.0.1", "nobody@example.com", WRONG).await);
    }
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!((k.status, k.json()), (u.status, u.json()));
        assert_eq!(k.headers.get("retry-after"), u.headers.get("retry-after"));
    }
    assert_eq!(known[5].status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn one_ip_gets_100_failed_sign_ins_per_15_minutes() {
    let app = TestApp::new();
    registered(&app, "Acme", "carol@example.com").await;
    // 100 failures spread over addresses (4 each: no address reaches its own limit).
    for i in 0..100 {
        let a = sign_in_from(&app, "192.0.2.7", &format!("guess{}@example.com", i / 4), WRONG).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let before = app.snapshot();
    assert_limited(&sign_in_from(&app, "192.0.2.7", "carol@example.com", PASSWORD).await);
    assert_limited(&sign_in_from(&app, "192.0.2.7", "fresh@example.com", WRONG).await);
    assert_eq!(app.snapshot(), before);
    // Another IP is not affected.
    assert_eq!(
        sign_in_from(&app, "192.0.2.8", "carol@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn api_gateway_source_ip_is_the_one_limited() {
    let app = TestApp::new();
    let from_gateway = |ip: &str| {
        let mut req = Request::post("/v1/sessions")
            .header("content-type", "application/json")
            // A client-set header is never trusted.
            .header("x-forwarded-for", "203.0.113.99")
            .body(Body::from(
                json!({"email": "x@example.com", "password": WRONG}).to_string(),
            ))
            .unwrap();
        let ctx: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext =
            serde_json::from_value(json!({"http": {"method": "POST", "path": "/v1/sessions", "sourceIp": ip}}))
                .unwrap();
        req.extensions_mut()
            .insert(lambda_http::request::RequestContext::ApiGatewayV2(ctx));
        req
    };
    router(app.state.clone())
        .oneshot(from_gateway("198.51.100.4"))
        .await
        .unwrap();
    let counters: Vec<String> = app
        .snapshot()
        .into_iter()
        .map(|i| i.key.pk)
        .filter(|pk| pk.starts_with("LIMIT#signin-ip#"))
        .collect();
    assert_eq!(
        counters,
        vec![format!(
            "LIMIT#signin-ip#{}",
            onboarding::crypto::sha256_hex("198.51.100.4")
        )]
    );
}

#[tokio::test]
async fn too_many_wrong_codes_answer_429_with_retry_after() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "dan@example.com").await;
    let code: u32 = last_code(&app, "dan@example.com").parse().unwrap();
    let mut last = None;
    for i in 1..=6 {
        last = Some(confirm(&app, "dan@example.com", &format!("{:06}", (code + i) % 1_000_000)).await);
    }
    let a = last.unwrap();
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );
    assert!(retry_after(&a) > 0);
}

fn pending_of(app: &TestApp, email: &str) -> Value {
    let item = app
        .snapshot()
        .into_iter()
        .find(|i| i.key.pk == format!("SIGNUP#{email}") && i.key.sk == "PENDING")
        .expect("a pending signup");
    serde_json::to_value(&item.attrs).unwrap()
}

#[tokio::test]
async fn a_second_signup_never_replaces_a_pending_password_or_organization() {
    let app = TestApp::new();
    assert_eq!(
        sign_up(&app, "Acme", "erin@example.com").await.status,
        StatusCode::ACCEPTED
    );
    let first = pending_of(&app, "erin@example.com");
    let evil =
        json!({"organization": "Evil Corp", "email": "erin@example.com", "password": "another strong passphrase"});

    // Inside the resend cooldown: the same 202, nothing written, nothing mailed.
    let before = app.snapshot();
    let a = post(&app, "/v1/signup", evil.clone()).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::ACCEPTED, json!({"status": "confirmation_sent"}))
    );
    assert_eq!(app.snapshot(), before);
    assert_eq!(app.mailer.to("erin@example.com").len(), 1);

    // After the cooldown: the pending code is re-sent, for the first organization.
    app.clock.advance(Duration::seconds(61));
    let a = post(&app, "/v1/signup", evil).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::ACCEPTED, json!({"status": "confirmation_sent"}))
    );
    let mails = app.mailer.to("erin@example.com");
    assert_eq!(mails.len(), 2);
    assert!(mails[1].text.contains("Confirm Acme") && !mails[1].text.contains("Evil"));
    let second = pending_of(&app, "erin@example.com");
    assert_eq!(second["password_hash"], first["password_hash"]);
    assert_eq!(second["organization"], "Acme");
    assert_eq!(second["sends"], 2);

    let c = confirm(&app, "erin@example.com", &last_code(&app, "erin@example.com")).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    let me = call(&app, Method::GET, "/v1/me", None, c.json()["token"].as_str()).await;
    assert_eq!(me.json()["partner"]["name"], "Acme");
    let attacker = post(
        &app,
        "/v1/sessions",
        json!({"email": "erin@example.com", "password": "another strong passphrase"}),
    )
    .await;
    assert_eq!(attacker.status, StatusCode::UNAUTHORIZED);
    let owner = post(
        &app,
        "/v1/sessions",
        json!({"email": "erin@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(owner.status, StatusCode::OK);
}

#[tokio::test]
async fn repeated_signups_mail_no_more_than_the_resend_limit_and_never_answer_429() {
    let app = TestApp::new();
    for _ in 0..10 {
        let a = sign_up(&app, "Acme", "fay@example.com").await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
        app.clock.advance(Duration::seconds(61));
    }
    assert_eq!(app.mailer.to("fay@example.com").len(), 5, "MAX_SENDS codes per signup");
}

#[tokio::test]
async fn second_signups_answer_like_first_ones_for_new_pending_and_registered_addresses() {
    let app = TestApp::new();
    registered(&app, "Acme", "reg@example.com").await;
    sign_up(&app, "Acme", "pending@example.com").await;
    let mut answers = Vec::new();
    for email in ["reg@example.com", "pending@example.com", "new@example.com"] {
        for _ in 0..2 {
            let a = sign_up(&app, "Acme", email).await;
            answers.push((email, a.status, a.json(), a.headers.get("retry-after").cloned()));
        }
    }
    for (email, status, body, retry) in &answers {
        assert_eq!(
            (*status, body, retry),
            (StatusCode::ACCEPTED, &json!({"status": "confirmation_sent"}), &None),
            "{email}"
        );
    }
}

#[tokio::test]
async fn one_ip_gets_50_signups_an_hour() {
    let app = TestApp::new();
    for i in 0..50 {
        let a = call_from(
            &app,
            "192.0.2.9",
            Method::POST,
            "/v1/signup",
            Some(json!({"organization": "Acme", "email": format!("s{i}@example.com"), "password": PASSWORD})),
        )
        .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "signup {i}");
    }
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let body = json!({"organization": "Acme", "email": "s50@example.com", "password": PASSWORD});
    assert_limited(&call_from(&app, "192.0.2.9", Method::POST, "/v1/signup", Some(body.clone())).await);
    assert_eq!(app.snapshot(), before, "an over-limit signup writes nothing");
    assert_eq!(app.mailer.messages().len(), mails, "and mails nothing");
    assert_eq!(
        call_from(&app, "192.0.2.10", Method::POST, "/v1/signup", Some(body.clone()))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    app.clock.advance(Duration::hours(1));
    assert_eq!(
        call_from(&app, "192.0.2.9", Method::POST, "/v1/signup", Some(body))
            .await
            .status,
        StatusCode::ACCEPTED
    );
}

async fn form_post(app: &TestApp, path: &str, form: &str) -> Answer {
    let req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    answer(router(app.state.clone()).oneshot(req).await.unwrap()).await
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn opening_the_activate_link_changes_nothing_and_the_button_activates() {
    let app = TestApp::new();
    sign_up(&app, "Acme <IT>", "gil@example.com").await;
    let mail = &app.mailer.to("gil@example.com")[0];
    let link = link_in(&mail.text, "/v1/signup/activate?token=");
    assert!(mail.html.contains(&link), "the HTML part links the same page");
    let path = link.strip_prefix(BASE).unwrap();
    let token = token_of(&link);
    let before = app.snapshot();
    for _ in 0..3 {
        let a = call(&app, Method::GET, path, None, None).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.text.contains("<form method=\"post\""), "{}", a.text);
        assert!(a.text.contains(&format!("name=\"token\" value=\"{token}\"")));
        assert!(a.text.contains("Acme &#60;IT&#62;"), "escaped: {}", a.text);
        assert_eq!(a.headers["cache-control"], "no-store");
        assert_eq!(a.headers["referrer-policy"], "no-referrer");
    }
    assert_eq!(app.snapshot(), before, "a GET of the activate link must change nothing");
    let a = form_post(&app, "/v1/signup/activate", &format!("token={token}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(a.text.contains("is active"));
    // A forged token posted: nothing written.
    let before = app.snapshot();
    let forged = form_post(&app, "/v1/signup/activate", "token=abc.def").await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
    let empty = form_post(&app, "/v1/signup/activate", "").await;
    assert_eq!(empty.status, StatusCode::NOT_FOUND);
    assert_eq!(app.snapshot(), before);
}

const NEW_PASSWORD: &str = "a brand new long passphrase";

async fn forgot(app: &TestApp, email: &str) -> Answer {
    post(app, "/v1/password/forgot", json!({"email": email})).await
}

fn reset_link(app: &TestApp, email: &str) -> String {
    let mail = app
        .mailer
        .to(email)
        .into_iter()
        .rev()
        .find(|m| m.subject == "Reset your password")
        .expect("a reset mail");
    link_in(&mail.text, "/password/reset?token=")
}

#[tokio::test]
async fn password_reset_ends_every_session_and_the_link_works_once() {
    let app = TestApp::new();
    let t1 = registered(&app, "Acme", "hal@example.com").await;
    let t2 = post(
        &app,
        "/v1/sessions",
        json!({"email": "hal@example.com", "password": PASSWORD}),
    )
    .await
    .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = forgot(&app, "HAL@example.com").await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::ACCEPTED, json!({"status": "reset_link_sent"}))
    );
    let link = reset_link(&app, "hal@example.com");
    let token = token_of(&link);
    let stored = serde_json::to_string(&app.snapshot()).unwrap();
    assert!(!stored.contains(&token), "the reset token is stored only as its hash");
    assert!(stored.contains(&onboarding::crypto::sha256_hex(&token)));

    // The page: a form, nothing changed.
    let before = app.snapshot();
    let page = call(&app, Method::GET, link.strip_prefix(BASE).unwrap(), None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("type=\"password\"") && page.text.contains(&token));
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(app.snapshot(), before);

    // A weak password: 422 naming `password`, nothing written, the link still works.
    let weak = post(
        &app,
        "/v1/password/reset",
        json!({"token": token, "password": "password1234"}),
    )
    .await;
    assert_eq!(
        (
            weak.status,
            weak.error_code().as_str(),
            weak.json()["error"]["field"].as_str()
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password", Some("password"))
    );
    assert_eq!(app.snapshot(), before);

    let ok = post(
        &app,
        "/v1/password/reset",
        json!({"token": token, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    for t in [&t1, &t2] {
        assert_eq!(
            call(&app, Method::GET, "/v1/me", None, Some(t)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(sessions_in(&app), 0, "every session ended");
    // In the audit log, with no secret: neither the link's token nor the password.
    let logged: Vec<_> = app
        .snapshot()
        .into_iter()
        .filter(|i| i.key.pk.starts_with("AUDIT#") && i.attrs["action"] == "password_reset")
        .collect();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].attrs["actor"]["email"], "hal@example.com");
    let text = serde_json::to_string(&logged).unwrap();
    assert!(!text.contains(&token) && !text.contains(NEW_PASSWORD), "{text}");
    assert!(
        app.snapshot().iter().all(|i| !i.key.sk.starts_with("SESSION#")),
        "and the session index is empty"
    );
    let old = post(
        &app,
        "/v1/sessions",
        json!({"email": "hal@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = post(
        &app,
        "/v1/sessions",
        json!({"email": "hal@example.com", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);

    // Used: 410, nothing written.
    let before = app.snapshot();
    let again = post(
        &app,
        "/v1/password/reset",
        json!({"token": token, "password": "yet another long passphrase"}),
    )
    .await;
    assert_eq!(
        (again.status, again.error_code().as_str()),
        (StatusCode::GONE, "reset_link_expired")
    );
    let page = call(&app, Method::GET, link.strip_prefix(BASE).unwrap(), None, None).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn reset_links_expire_after_an_hour_and_forged_ones_are_refused() {
    let app = TestApp::new();
    registered(&app, "Acme", "ida@example.com").await;
    forgot(&app, "ida@example.com").await;
    let token = token_of(&reset_link(&app, "ida@example.com"));
    let mut forged = token.clone();
    forged.replace_range(0..2, if forged.starts_with("AA") { "BB" } else { "AA" });
    let before = app.snapshot();
    for bad in [forged.as_str(), "x.y", ""] {
        let a = post(
            &app,
            "/v1/password/reset",
            json!({"token": bad, "password": NEW_PASSWORD}),
        )
        .await;
        assert_eq!(
            (a.status, a.json()["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("token")),
            "{bad}"
        );
        let page = call(&app, Method::GET, &format!("/password/reset?token={bad}"), None, None).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
    }
    app.clock.advance(Duration::minutes(60));
    let expired = form_post(
        &app,
        "/v1/password/reset",
        &format!("token={token}&password=a+brand+new+long+passphrase"),
    )
    .await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.text.contains("expired"), "an HTML page: {}", expired.text);
    assert_eq!(app.snapshot(), before);
    let old = post(
        &app,
        "/v1/sessions",
        json!({"email": "ida@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(old.status, StatusCode::OK);
}

#[tokio::test]
async fn the_reset_form_posts_and_answers_a_page() {
    let app = TestApp::new();
    registered(&app, "Acme", "jo@example.com").await;
    forgot(&app, "jo@example.com").await;
    let token = token_of(&reset_link(&app, "jo@example.com"));
    let weak = form_post(&app, "/v1/password/reset", &format!("token={token}&password=short")).await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.text.contains("password"));
    let ok = form_post(
        &app,
        "/v1/password/reset",
        &format!("token={token}&password=a+brand+new+long+passphrase"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert!(ok.text.contains("password is changed"));
    let new = post(
        &app,
        "/v1/sessions",
        json!({"email": "jo@example.com", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_unknown_and_pending_addresses_and_mails_them_nothing() {
    let app = TestApp::new();
    registered(&app, "Acme", "kim@example.com").await;
    sign_up(&app, "Acme", "pending@example.com").await;
    let mails = app.mailer.messages().len();
    let mut answers = Vec::new();
    for email in ["kim@example.com", "pending@example.com", "nobody@example.com"] {
        let a = forgot(&app, email).await;
        answers.push((a.status, a.json()));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert_eq!(app.mailer.messages().len(), mails + 1, "only the member gets a mail");
    assert!(
        app.snapshot().iter().filter(|i| i.key.pk.starts_with("RESET#")).count() == 1,
        "one reset link, for the member"
    );
    // Per address: past 3 an hour, the same 202 and no more mail.
    for _ in 0..5 {
        assert_eq!(forgot(&app, "kim@example.com").await.status, StatusCode::ACCEPTED);
    }
    assert_eq!(
        app.mailer
            .to("kim@example.com")
            .iter()
            .filter(|m| m.subject == "Reset your password")
            .count(),
        3
    );
}

#[tokio::test]
async fn one_ip_gets_50_reset_requests_an_hour() {
    let app = TestApp::new();
    registered(&app, "Acme", "lee@example.com").await;
    for i in 0..50 {
        let a = call_from(
            &app,
            "192.0.2.11",
            Method::POST,
            "/v1/password/forgot",
            Some(json!({"email": format!("r{i}@example.com")})),
        )
        .await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let a = call_from(
        &app,
        "192.0.2.11",
        Method::POST,
        "/v1/password/forgot",
        Some(json!({"email": "lee@example.com"})),
    )
    .await;
    assert_limited(&a);
    assert_eq!(app.snapshot(), before);
    assert_eq!(app.mailer.messages().len(), mails);
}

#[tokio::test]
async fn a_password_change_kills_every_earlier_reset_link() {
    let app = TestApp::new();
    registered(&app, "Acme", "max@example.com").await;
    forgot(&app, "max@example.com").await;
    let older = token_of(&reset_link(&app, "max@example.com"));
    forgot(&app, "max@example.com").await;
    let newer = token_of(&reset_link(&app, "max@example.com"));
    assert_ne!(older, newer);
    let ok = post(
        &app,
        "/v1/password/reset",
        json!({"token": newer, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let before = app.snapshot();
    let stale = post(
        &app,
        "/v1/password/reset",
        json!({"token": older, "password": "an attacker's long passphrase"}),
    )
    .await;
    assert_eq!(
        (stale.status, stale.error_code().as_str()),
        (StatusCode::GONE, "reset_link_expired")
    );
    let page = call(&app, Method::GET, &format!("/password/reset?token={older}"), None, None).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert_eq!(app.snapshot(), before);
    let new = post(
        &app,
        "/v1/sessions",
        json!({"email": "max@example.com", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(new.status, StatusCode::OK);
}

#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_reset_flow_logs_no_token_or_password() {
    let capture = Capture::default();
    let filter = tracing_subscriber::EnvFilter::new("debug");
    let _guard = tracing::subscriber::set_default(onboarding::telemetry::json_subscriber(capture.clone(), filter));
    let app = TestApp::new();
    registered(&app, "Acme", "ned@example.com").await;
    forgot(&app, "ned@example.com").await;
    let link = reset_link(&app, "ned@example.com");
    let token = token_of(&link);
    call(&app, Method::GET, link.strip_prefix(BASE).unwrap(), None, None).await;
    post(
        &app,
        "/v1/password/reset",
        json!({"token": token, "password": "password1234"}),
    )
    .await;
    let ok = post(
        &app,
        "/v1/password/reset",
        json!({"token": token, "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("password reset"), "the flow logged: {logs}");
    let (random, _) = token.split_once('.').unwrap();
    for secret in [token.as_str(), random, NEW_PASSWORD, "password1234", PASSWORD] {
        assert!(!logs.contains(secret), "a secret in the logs: {secret}");
    }
}
