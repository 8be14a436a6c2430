//! Signup, confirmation, activation and sessions through the router (`oneshot`), on the
//! in-memory store and mailer, with a manual clock. Every refusal also checks that nothing
//! was written.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::Duration;
use common::*;
use onboarding::http::router;
use serde_json::json;
use tower::ServiceExt as _;

#[tokio::test]
async fn signup_confirm_me_sign_out_and_in() {
    let app = TestApp::new();
    let a = sign_up(&app, "Acme IT", " Alice@Example.COM ").await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert_eq!(a.json(), json!({"status": "confirmation_sent"}));
    let mails = app.mailer.to("alice@example.com");
    assert_eq!(mails.len(), 1);
    assert!(mails[0].html.contains("Activate now"));
    // Stored hashed: neither the password nor the code appears anywhere in the store.
    let stored = serde_json::to_string(&app.snapshot()).unwrap();
    assert!(!stored.contains(PASSWORD) && !stored.contains(&last_code(&app, "alice@example.com")));
    assert!(stored.contains("$argon2id$v=19$m=19456,t=2,p=1$"));

    // Signing in before confirming is refused like a wrong password.
    let early = post(
        &app,
        "/v1/sessions",
        json!({"email": "alice@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (early.status, early.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );

    let c = confirm(&app, "ALICE@example.com", &last_code(&app, "alice@example.com")).await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    let body = c.json();
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        !serde_json::to_string(&app.snapshot()).unwrap().contains(&token),
        "session token stored in clear"
    );

    let me = call(&app, Method::GET, "/v1/me", None, Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    let me = me.json();
    assert_eq!(me["partner"]["name"], "Acme IT");
    assert_eq!(me["partner"]["id"], body["partner_id"]);
    assert_eq!(me["member"]["email"], "alice@example.com");

    assert_eq!(
        call(&app, Method::DELETE, "/v1/sessions/current", None, Some(&token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/me", None, Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let wrong = post(
        &app,
        "/v1/sessions",
        json!({"email": "alice@example.com", "password": "not the password at all"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = post(
        &app,
        "/v1/sessions",
        json!({"email": "nobody@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (wrong.status, wrong.error_code())
    );
    let ok = post(
        &app,
        "/v1/sessions",
        json!({"email": "Alice@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let t2 = ok.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&app, Method::GET, "/v1/me", None, Some(&t2)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn activate_link_confirms_once() {
    let app = TestApp::new();
    sign_up(&app, "Acme IT", "bob@example.com").await;
    let link = link_in(&app.mailer.to("bob@example.com")[0].text, "/v1/signup/activate?token=");
    let path = link.strip_prefix(common::BASE).unwrap();
    let token = path.split("token=").nth(1).unwrap();
    let press = || async {
        let req = Request::post("/v1/signup/activate")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .unwrap();
        let res = router(app.state.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    };
    let (status, text) = press().await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("Acme IT is active"));
    let (status, text) = press().await;
    assert_eq!(status, StatusCode::GONE);
    assert!(text.contains("already active"));
    let again = call(&app, Method::GET, path, None, None).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.text.contains("already active"));
    // The code of the same signup is now used, and the password works.
    let c = confirm(&app, "bob@example.com", &last_code(&app, "bob@example.com")).await;
    assert_eq!((c.status, c.error_code().as_str()), (StatusCode::GONE, "code_used"));
    let s = post(
        &app,
        "/v1/sessions",
        json!({"email": "bob@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(s.status, StatusCode::OK);
}

#[tokio::test]
async fn forged_or_replaced_activate_links_change_nothing() {
    let app = TestApp::new();
    sign_up(&app, "Acme IT", "carol@example.com").await;
    let link = link_in(&app.mailer.to("carol@example.com")[0].text, "token=");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let before = app.snapshot();
    let mut forged = token.clone();
    forged.replace_range(0..2, if forged.starts_with("AA") { "BB" } else { "AA" });
    for bad in [
        format!("/v1/signup/activate?token={forged}"),
        "/v1/signup/activate".into(),
        "/v1/signup/activate?token=x.y".into(),
    ] {
        let a = call(&app, Method::GET, &bad, None, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(a.text.contains("not valid"));
    }
    assert_eq!(app.snapshot(), before);
    // A resend replaces the link: the old one is dead.
    app.clock.advance(Duration::seconds(61));
    assert_eq!(
        post(&app, "/v1/signup/resend", json!({"email": "carol@example.com"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let before = app.snapshot();
    let old = call(
        &app,
        Method::GET,
        &format!("/v1/signup/activate?token={token}"),
        None,
        None,
    )
    .await;
    assert_eq!(old.status, StatusCode::GONE);
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn malformed_bodies_are_refused_without_writes() {
    let app = TestApp::new();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "malformed_json"),
        (
            json!({"organization": "Acme", "email": "a@example.com"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"organization": 5, "email": "a@example.com", "password": PASSWORD}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"organization": "Acme", "email": "not-an-email", "password": PASSWORD}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"organization": "Acme", "email": "a@example.com", "password": "password1234"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({"organization": "Acme", "email": "a@example.com", "password": "short"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({"organization": "Acme\r\nBcc: victim@example.com", "email": "a@example.com", "password": PASSWORD})
                .to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"organization": "x".repeat(201), "email": "a@example.com", "password": PASSWORD}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            format!(
                "{{\"organization\":\"{}\",\"email\":\"a@example.com\",\"password\":\"{PASSWORD}\"}}",
                "x".repeat(1 << 20)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (body, status, code) in cases {
        let a = call(&app, Method::POST, "/v1/signup", Some(body.clone()), None).await;
        assert_eq!(
            (a.status, a.error_code().as_str()),
            (status, code),
            "{}",
            &body[..body.len().min(80)]
        );
        assert!(!a.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let missing = post(
        &app,
        "/v1/signup",
        json!({"organization": "Acme", "email": "a@example.com"}),
    )
    .await;
    assert_eq!(missing.json()["error"]["field"], "password");
    let email = post(
        &app,
        "/v1/signup",
        json!({"organization": "Acme", "email": "nope", "password": PASSWORD}),
    )
    .await;
    assert_eq!(email.json()["error"]["field"], "email");
    assert!(app.snapshot().is_empty(), "refused signups wrote {:?}", app.snapshot());
    assert!(app.mailer.messages().is_empty());
    // The same shape on the other JSON endpoints.
    for path in ["/v1/signup/confirm", "/v1/signup/resend", "/v1/sessions"] {
        let a = call(&app, Method::POST, path, Some("[".into()), None).await;
        assert_eq!(
            (a.status, a.error_code().as_str()),
            (StatusCode::BAD_REQUEST, "malformed_json"),
            "{path}"
        );
    }
    let no_type = Request::post("/v1/signup").body(Body::from("{}")).unwrap();
    assert_eq!(
        router(app.state.clone()).oneshot(no_type).await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert!(app.snapshot().is_empty());
}

#[tokio::test]
async fn markup_and_sql_in_names_are_text_and_escaped_in_mail() {
    let app = TestApp::new();
    let org = "<img src=x onerror=alert(1)> Robert'); DROP TABLE partners;--";
    let token = registered(&app, org, "dave@example.com").await;
    let mail = &app.mailer.to("dave@example.com")[0];
    assert!(!mail.html.contains("<img src=x"));
    assert!(
        mail.html.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{}",
        mail.html
    );
    let me = call(&app, Method::GET, "/v1/me", None, Some(&token)).await.json();
    assert_eq!(me["partner"]["name"], org);
}

#[tokio::test]
async fn wrong_expired_and_used_codes() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "erin@example.com").await;
    let code = last_code(&app, "erin@example.com");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let a = confirm(&app, "erin@example.com", wrong).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_code")
    );
    assert!(a.json()["error"]["message"].as_str().unwrap().contains("4 tries left"));
    let bad_format = confirm(&app, "erin@example.com", "12ab56").await;
    assert_eq!(bad_format.status, StatusCode::UNPROCESSABLE_ENTITY);

    app.clock.advance(Duration::minutes(16));
    let before = app.snapshot();
    let expired = confirm(&app, "erin@example.com", &code).await;
    assert_eq!(
        (expired.status, expired.error_code().as_str()),
        (StatusCode::GONE, "code_expired")
    );
    assert_eq!(app.snapshot(), before, "an expired code must not use a try");

    // A new code works; the old one is dead.
    assert_eq!(
        post(&app, "/v1/signup/resend", json!({"email": "erin@example.com"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let fresh = last_code(&app, "erin@example.com");
    if fresh != code {
        assert_eq!(
            confirm(&app, "erin@example.com", &code).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(confirm(&app, "erin@example.com", &fresh).await.status, StatusCode::OK);
    let used = confirm(&app, "erin@example.com", &fresh).await;
    assert_eq!(
        (used.status, used.error_code().as_str()),
        (StatusCode::GONE, "code_used")
    );
}

#[tokio::test]
async fn a_code_for_another_address_creates_nothing() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "frank@example.com").await;
    sign_up(&app, "Other", "grace@example.com").await;
    let franks = last_code(&app, "frank@example.com");
    let graces = last_code(&app, "grace@example.com");
    if franks == graces {
        return; // one in a million: nothing to test
    }
    let a = confirm(&app, "grace@example.com", &franks).await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_code")
    );
    assert!(
        app.snapshot()
            .iter()
            .all(|i| !i.key.pk.starts_with("PARTNER#") && !i.key.pk.starts_with("SESSION#"))
    );
    let unknown = confirm(&app, "nobody@example.com", &franks).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn brute_force_kills_the_code() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "heidi@example.com").await;
    let code = last_code(&app, "heidi@example.com");
    let wrongs: Vec<String> = (0..6)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .collect();
    let mut statuses = Vec::new();
    for w in &wrongs[..5] {
        statuses.push(confirm(&app, "heidi@example.com", w).await.status);
    }
    assert_eq!(statuses[..4], [StatusCode::UNPROCESSABLE_ENTITY; 4]);
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS);
    let before = app.snapshot();
    let right = confirm(&app, "heidi@example.com", &code).await;
    assert_eq!(
        (right.status, right.error_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );
    assert_eq!(app.snapshot(), before);
    assert!(before.iter().all(|i| !i.key.pk.starts_with("PARTNER#")));
}

#[tokio::test]
async fn concurrent_guesses_cannot_exceed_the_try_limit() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "ivan@example.com").await;
    let code: u32 = last_code(&app, "ivan@example.com").parse().unwrap();
    let guesses = (1..=20).map(|i| {
        let state = app.state.clone();
        let guess = format!("{:06}", (code + i) % 1_000_000);
        tokio::spawn(async move {
            onboarding::usecases::signup::confirm(&state, "ivan@example.com", &guess)
                .await
                .is_ok()
        })
    });
    for g in guesses {
        assert!(!g.await.unwrap());
    }
    let pending = app
        .snapshot()
        .into_iter()
        .find(|i| i.key.pk == "SIGNUP#ivan@example.com")
        .unwrap();
    assert_eq!(pending.attrs["attempts"], 5);
}

#[tokio::test]
async fn two_concurrent_confirms_give_exactly_one_session() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "judy@example.com").await;
    let code = last_code(&app, "judy@example.com");
    let tries: Vec<_> = (0..2)
        .map(|_| {
            let state = app.state.clone();
            let code = code.clone();
            tokio::spawn(async move {
                onboarding::usecases::signup::confirm(&state, "judy@example.com", &code)
                    .await
                    .is_ok()
            })
        })
        .collect();
    let mut ok = 0;
    for t in tries {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
    let items = app.snapshot();
    assert_eq!(items.iter().filter(|i| i.key.pk.starts_with("SESSION#")).count(), 1);
    assert_eq!(items.iter().filter(|i| i.key.sk == "PROFILE").count(), 1);
}

#[tokio::test]
async fn resend_is_rate_limited_and_replaces_the_code() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "ken@example.com").await;
    let first = last_code(&app, "ken@example.com");
    let before = app.snapshot();
    let limited = post(&app, "/v1/signup/resend", json!({"email": "ken@example.com"})).await;
    assert_eq!(
        (limited.status, limited.error_code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(
        limited
            .headers
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    assert_eq!(app.snapshot(), before);
    assert_eq!(app.mailer.to("ken@example.com").len(), 1);
    for _ in 0..4 {
        app.clock.advance(Duration::seconds(61));
        assert_eq!(
            post(&app, "/v1/signup/resend", json!({"email": "ken@example.com"}))
                .await
                .status,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(app.mailer.to("ken@example.com").len(), 5);
    app.clock.advance(Duration::seconds(61));
    assert_eq!(
        post(&app, "/v1/signup/resend", json!({"email": "ken@example.com"}))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let last = last_code(&app, "ken@example.com");
    if last != first {
        assert_eq!(
            confirm(&app, "ken@example.com", &first).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    assert_eq!(confirm(&app, "ken@example.com", &last).await.status, StatusCode::OK);
    // Unknown and invalid addresses: the same 202 without mail / a 422.
    assert_eq!(
        post(&app, "/v1/signup/resend", json!({"email": "unknown@example.com"}))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert!(app.mailer.to("unknown@example.com").is_empty());
    assert_eq!(
        post(&app, "/v1/signup/resend", json!({"email": "bad@"})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn a_registered_address_gets_the_same_answer_and_a_notice() {
    let app = TestApp::new();
    let token = registered(&app, "Acme", "liz@example.com").await;
    let before: Vec<_> = app.snapshot().into_iter().filter(|i| !i.key.sk.eq("NOTICE")).collect();
    let again = post(
        &app,
        "/v1/signup",
        json!({"organization": "Evil", "email": "LIZ@example.com", "password": "another strong passphrase"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.json(), json!({"status": "confirmation_sent"}));
    let mails = app.mailer.to("liz@example.com");
    assert_eq!(mails.last().unwrap().subject, "You already have an account");
    let after: Vec<_> = app.snapshot().into_iter().filter(|i| !i.key.sk.eq("NOTICE")).collect();
    assert_eq!(before, after, "the account must not change");
    // A second try within 10 minutes mails nothing more.
    post(
        &app,
        "/v1/signup",
        json!({"organization": "Evil", "email": "liz@example.com", "password": "another strong passphrase"}),
    )
    .await;
    assert_eq!(app.mailer.to("liz@example.com").len(), mails.len());
    assert_eq!(
        call(&app, Method::GET, "/v1/me", None, Some(&token)).await.json()["partner"]["name"],
        "Acme"
    );
}

#[tokio::test]
async fn unconfirmed_signups_expire_after_a_day() {
    let app = TestApp::new();
    sign_up(&app, "Acme", "mia@example.com").await;
    let code = last_code(&app, "mia@example.com");
    app.clock.advance(Duration::hours(24));
    let a = confirm(&app, "mia@example.com", &code).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The address is free again.
    assert_eq!(
        sign_up(&app, "Acme", "mia@example.com").await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        confirm(&app, "mia@example.com", &last_code(&app, "mia@example.com"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_expired_and_malformed_session_tokens() {
    let app = TestApp::new();
    let token = registered(&app, "Acme", "ned@example.com").await;
    let before = app.snapshot();
    for t in ["", "nope", &"x".repeat(1000)] {
        assert_eq!(
            call(&app, Method::GET, "/v1/me", None, Some(t)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let no_header = call(&app, Method::GET, "/v1/me", None, None).await;
    assert_eq!(
        (no_header.status, no_header.error_code().as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(
        call(&app, Method::DELETE, "/v1/sessions/current", None, Some("nope"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.snapshot(), before);
    app.clock.advance(Duration::hours(12));
    assert_eq!(
        call(&app, Method::GET, "/v1/me", None, Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cors_health_and_unknown_routes() {
    let app = TestApp::new();
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/v1/me")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let ok = router(app.state.clone())
        .oneshot(preflight("http://127.0.0.1:3000"))
        .await
        .unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://127.0.0.1:3000");
    assert!(
        ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    let other = router(app.state.clone())
        .oneshot(preflight("https://evil.example"))
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    assert_eq!(
        call(&app, Method::GET, "/health", None, None).await.status,
        StatusCode::OK
    );
    let missing = call(&app, Method::GET, "/v1/nothing", None, None).await;
    assert_eq!(
        (missing.status, missing.error_code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let method = call(&app, Method::GET, "/v1/signup", None, None).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(missing.headers.contains_key("x-request-id"));
}
