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
    let (status, _, body) = invoke_redirect(app, function, name, replace).await;
    (status, body)
}

#[tokio::test]
async fn signup_and_confirm_functions_walk_the_flow() {
    let app = TestApp::new();
    let (status, body) = invoke(&app, Function::Signup, "signup.json", &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let code = code_in(&app.mailer.to("alice@example.com")[0].text);

    let (status, body) = invoke(&app, Function::Confirm, "confirm.json", &[("123456", &code)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = invoke(
        &app,
        Function::Signup,
        "me.json",
        &[("REPLACE_WITH_SESSION_TOKEN", &token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Acme IT Services"));
    let (status, _) = invoke(
        &app,
        Function::Signup,
        "sign-out.json",
        &[("REPLACE_WITH_SESSION_TOKEN", &token)],
    )
    .await;
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
    let (status, body) = invoke(
        &app,
        Function::Confirm,
        "activate.json",
        &[("REPLACE_WITH_EMAILED_TOKEN", token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Opening the link shows the button; its form POST activates.
    assert!(
        body.contains("<form method=\"post\"") && !body.contains("is active"),
        "{body}"
    );
    let (status, body) = invoke(
        &app,
        Function::Confirm,
        "activate-confirm.json",
        &[("REPLACE_WITH_EMAILED_TOKEN", token)],
    )
    .await;
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

/// Like [`invoke`], also answering the `Location` header.
async fn invoke_redirect(
    app: &TestApp,
    function: Function,
    name: &str,
    replace: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut event = std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for (from, to) in replace {
        event = event.replace(from, to);
    }
    let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
    let response = router_for(function, app.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, location, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn api_resend_and_consent_callback_functions_walk_the_onboarding() {
    let app = TestApp::new();
    let session = common::registered(&app, "Acme IT", "owner@msp.example").await;
    let auth = [("REPLACE_WITH_SESSION_TOKEN", session.as_str())];

    let (status, body) = invoke(&app, Function::Api, "create-client.json", &auth).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = invoke(&app, Function::Api, "create-account.json", &auth).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let account: Value = serde_json::from_str(&body).unwrap();
    let id = account["id"].as_str().unwrap().to_owned();
    let (status, body) = invoke(&app, Function::Api, "list-accounts.json", &auth).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&id));

    let with_id = [auth[0], ("REPLACE_WITH_ACCOUNT_ID", id.as_str())];
    let (status, body) = invoke(&app, Function::Resend, "check-authorization.json", &with_id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A minute later (the same address is not re-sent more often).
    app.clock.advance(chrono::Duration::seconds(61));
    let (status, body) = invoke(&app, Function::Resend, "resend-authorization.json", &with_id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // The Api function does not serve resend, and the Resend function does not create accounts.
    assert_eq!(
        invoke(&app, Function::Api, "resend-authorization.json", &with_id)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        invoke(&app, Function::Resend, "create-account.json", &auth).await.0,
        StatusCode::NOT_FOUND
    );

    let mail = app.mailer.to("admin@contoso.example").last().cloned().unwrap();
    let link = link_in(&mail.text, "/authorize/");
    let token = link.rsplit('/').next().unwrap();
    let (status, body) = invoke(
        &app,
        Function::ConsentCallback,
        "authorize-landing.json",
        &[("REPLACE_WITH_LINK_TOKEN", token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Acme IT"));

    // Start consent (as the landing page's button does), then the provider's redirect.
    let start = axum::http::Request::get(format!("/authorize/{token}/start"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = router_for(Function::ConsentCallback, app.state.clone())
        .oneshot(start)
        .await
        .unwrap();
    let sign_in_url = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    // The admin signs in (the sign-in leg), then consents.
    let consent_url = common::signed_in(&app, &sign_in_url, common::fakes::TENANT_A).await;
    let state = consent_url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let tenant = common::fakes::TENANT_A;
    let replace = [("REPLACE_WITH_TENANT", tenant), ("REPLACE_WITH_STATE", state.as_str())];
    let (status, _, body) = invoke_redirect(
        &app,
        Function::ConsentCallback,
        "callback-microsoft-declined.json",
        &replace,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not granted"));
    let (status, location, body) =
        invoke_redirect(&app, Function::ConsentCallback, "callback-microsoft.json", &replace).await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    assert!(
        location.contains("/authorize/done/"),
        "client-managed: the setup page ({location})"
    );
    let (status, body) = invoke(&app, Function::Api, "list-accounts.json", &auth).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"status\":\"active\""), "{body}");

    // A forged Google callback changes nothing.
    let before = app.snapshot();
    let (status, _, _) = invoke_redirect(
        &app,
        Function::ConsentCallback,
        "callback-google.json",
        &[("REPLACE_WITH_CODE", "x"), ("REPLACE_WITH_STATE", "forged")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.snapshot(), before);
}
