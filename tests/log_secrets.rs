//! Runs a whole signup-to-active flow (Microsoft and Google) with the Lambda log format
//! captured, then fails if any password, code, token, secret or state value appears in the
//! logs, or if a request's lines lack its request ID (and partner/account IDs where known).

mod common;

use axum::http::{Method, StatusCode};
use common::fakes::TENANT_A;
use common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
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

fn state_of(u: &str) -> String {
    url::Url::parse(u)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_whole_flow_logs_no_secret_and_tags_every_request_line() {
    let capture = Capture::default();
    let filter = tracing_subscriber::EnvFilter::new("debug");
    let _guard = tracing::subscriber::set_default(onboarding::telemetry::json_subscriber(capture.clone(), filter));

    let app = TestApp::new();
    let mut secrets: Vec<String> = vec![PASSWORD.to_owned()];
    let email = "owner@msp.example";
    assert_eq!(sign_up(&app, "Acme IT", email).await.status, StatusCode::ACCEPTED);
    let code = last_code(&app, email);
    secrets.push(code.clone());
    let activate = link_in(&app.mailer.to(email)[0].text, "token=");
    secrets.push(activate.split("token=").nth(1).unwrap().to_owned());
    let session = confirm(&app, email, &code).await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(session.clone());
    let signed_in = post(&app, "/v1/sessions", json!({"email": email, "password": PASSWORD}))
        .await
        .json();
    secrets.push(signed_in["token"].as_str().unwrap().to_owned());

    // Microsoft: an emailed link, started, consented.
    let body = json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "client",
                      "has_admin_credentials": false, "authorization_email": "admin@contoso.example"});
    let acc: Value = call(
        &app,
        Method::POST,
        "/v1/accounts",
        Some(body.to_string()),
        Some(&session),
    )
    .await
    .json();
    let id = acc["id"].as_str().unwrap().to_owned();
    let link = link_in(&app.mailer.to("admin@contoso.example")[0].text, "/authorize/");
    let link_path = link.strip_prefix(BASE).unwrap().to_owned();
    secrets.push(link_path.trim_start_matches("/authorize/").to_owned());
    let start = call(&app, Method::GET, &format!("{link_path}/start"), None, None).await;
    let sign_in_url = url::Url::parse(start.headers["location"].to_str().unwrap()).unwrap();
    secrets.push(state_of(sign_in_url.as_str()));
    secrets.push(common::query_value(&sign_in_url, "nonce"));
    let consent_url = common::signed_in(&app, &sign_in_url, TENANT_A).await;
    let state = state_of(consent_url.as_str());
    secrets.push(state.clone());
    let cb = format!(
        "/v1/callback/microsoft?admin_consent=True&tenant={TENANT_A}&state={}",
        enc(&state)
    );
    let done = call(&app, Method::GET, &cb, None, None).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.text);
    let done_token = done.headers["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    secrets.push(done_token);
    assert_eq!(call(&app, Method::GET, &cb, None, None).await.status, StatusCode::FOUND);
    let check = call(
        &app,
        Method::POST,
        &format!("/v1/accounts/{id}/authorization/check"),
        None,
        Some(&session),
    )
    .await;
    assert_eq!(check.json()["status"], "active");

    // Google: with admin credentials, consent URL now, code exchanged, refresh token stored.
    let body = json!({"client_name": "Northwind", "platform": "google_workspace", "managed_by": "partner", "has_admin_credentials": true});
    let acc: Value = call(
        &app,
        Method::POST,
        "/v1/accounts",
        Some(body.to_string()),
        Some(&session),
    )
    .await
    .json();
    let gstate = state_of(acc["authorization_url"].as_str().unwrap());
    secrets.push(gstate.clone());
    app.google
        .codes
        .lock()
        .unwrap()
        .insert("4/0AQlEd8x-google-code".into(), "1//0refresh-token-value".into());
    secrets.extend([
        "4/0AQlEd8x-google-code".to_owned(),
        "1//0refresh-token-value".to_owned(),
    ]);
    let g = call(
        &app,
        Method::GET,
        &format!(
            "/v1/callback/google?code=4%2F0AQlEd8x-google-code&state={}",
            enc(&gstate)
        ),
        None,
        None,
    )
    .await;
    assert_eq!(g.status, StatusCode::FOUND, "{}", g.text);
    secrets.extend(app.google.verifiers.lock().unwrap().iter().cloned());

    // Bad input is logged too: still no secrets.
    call(&app, Method::GET, "/v1/me", None, Some("forged-session-token-value")).await;
    secrets.push("forged-session-token-value".to_owned());

    drop(_guard);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.lines().count() > 10, "the flow logged: {logs}");
    for secret in &secrets {
        assert!(secret.len() >= 6, "a real secret: {secret}");
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs: {secret}\n{logs}"
        );
    }

    let mut request_lines = 0;
    let mut account_lines = 0;
    for line in logs.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        let spans = v["spans"].as_array().cloned().unwrap_or_default();
        let Some(request) = spans.iter().find(|s| s["name"] == "request") else {
            continue;
        };
        request_lines += 1;
        assert!(
            request["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "request ID on {line}"
        );
        let route = request["route"].as_str().unwrap_or_default();
        // The request's first line comes before the session is read: it can't name the partner.
        if route.starts_with("/v1/accounts/{id}") && v["target"] != "tower_http::trace::on_request" {
            account_lines += 1;
            assert_eq!(
                request["partner_id"].as_str().map(str::len),
                Some(36),
                "partner ID on {line}"
            );
            assert_eq!(
                request["account_id"].as_str(),
                Some(id.as_str()),
                "account ID on {line}"
            );
        }
        if route.starts_with("/v1/callback/")
            && v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("authorized"))
        {
            assert!(
                spans.iter().any(|s| s["account_id"].is_string()),
                "account ID on {line}"
            );
        }
    }
    assert!(request_lines > 5 && account_lines > 0, "{logs}");
}
