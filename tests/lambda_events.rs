//! The Lambda functions' routers fed with real API Gateway HTTP API (v2) event JSON from
//! `events/`, parsed by `lambda_http` exactly as the runtime does.

mod common;

use axum::http::StatusCode;
use common::{TestApp, code_in, link_in};
use http_body_util::BodyExt as _;
use onboarding::http::{Function, router_for};
use serde_json::Value;
use tower::ServiceExt as _;

/// Loads `events/<name>`, replaces placeholders, and runs it through `function`'s router.
async fn invoke(app: &TestApp, function: Function, name: &str, replace: &[(&str, &str)]) -> (StatusCode, String) {
    let mut event = std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for (from, to) in replace {
        event = event.replace(from, to);
    }
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = router_for(function, app.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn signup_and_confirm_functions_walk_the_flow() {
    let app = TestApp::new();
    let (status, body) = invoke(&app, Function::Signup, "signup.json", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let code = code_in(&app.mailer.to("alice@example.com")[0].text);

    let (status, body) = invoke(&app, Function::Confirm, "confirm.json", &[("123456", &code)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"].as_str().unwrap().to_owned();

    let (status, body) = invoke(&app, Function::Signup, "me.json", &[("REPLACE_WITH_SESSION_TOKEN", &token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Acme IT Services"));
    let (status, _) = invoke(&app, Function::Signup, "sign-out.json", &[("REPLACE_WITH_SESSION_TOKEN", &token)]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = invoke(&app, Function::Signup, "sign-in.json", &[]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn base64_bodies_resend_and_the_activate_link() {
    let app = TestApp::new();
    let (status, body) = invoke(&app, Function::Signup, "signup-base64.json", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let link = link_in(&app.mailer.to("bob@example.com")[0].text, "token=");
    let token = link.split("token=").nth(1).unwrap();
    let (status, body) = invoke(&app, Function::Confirm, "activate.json", &[("REPLACE_WITH_EMAILED_TOKEN", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Bravo MSP is active"));

    // resend for an unknown address: 202, no mail.
    let (status, _) = invoke(&app, Function::Signup, "signup-resend.json", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(app.mailer.to("alice@example.com").is_empty());
}

#[tokio::test]
async fn bad_events_change_nothing_and_functions_serve_only_their_routes() {
    let app = TestApp::new();
    let (status, body) = invoke(&app, Function::Signup, "signup-malformed.json", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("malformed_json"));
    let (status, _) = invoke(&app, Function::Confirm, "signup.json", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = invoke(&app, Function::Signup, "confirm.json", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = invoke(&app, Function::Signup, "me.json", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = invoke(&app, Function::Confirm, "activate.json", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(app.snapshot().is_empty());
    assert!(app.mailer.messages().is_empty());
}
