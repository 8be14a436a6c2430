//! Security headers: every HTML page of the router (and of the local server's console
//! pages and the sandbox) carries a strict Content-Security-Policy, nosniff, no referrer and
//! no-store; JSON answers carry nosniff. The pages' only inline stylesheet is the one the
//! policy allows by hash, and no page has an inline `style` attribute or a script.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use common::*;
use http_body_util::BodyExt as _;
use onboarding_sandbox::{self as sandbox, Sandbox};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use tower::ServiceExt as _;

const MEMBER: &str = "owner@msp.example";

/// The local server's whole app (router, console, sandbox), as `cargo run` serves it.
async fn local_get(app: &TestApp, path: &str) -> Answer {
    let req = Request::builder().uri(path).body(Body::empty()).unwrap();
    answer(
        onboarding::http::local(app.state.clone(), sandbox::router(Sandbox::new()))
            .oneshot(req)
            .await
            .unwrap(),
    )
    .await
}

fn header<'a>(a: &'a Answer, name: &str) -> &'a str {
    a.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// A router's response as an [`Answer`].
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

/// The headers of an HTML page, and a body the policy allows.
fn assert_secure_page(what: &str, a: &Answer) {
    assert!(
        header(a, "content-type").starts_with("text/html"),
        "{what}: {} {}",
        a.status,
        a.text
    );
    let csp = header(a, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive} in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert_eq!(header(a, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(a, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(a, "cache-control"), "no-store", "{what}");
    assert!(!a.text.contains(" style=\""), "{what}: an inline style attribute");
    // Scripts only from this origin's one file, none inline (the policy's `script-src 'self'`).
    for (i, _) in a.text.match_indices("<script") {
        let tag = &a.text[i..];
        let end = tag.find("</script>").expect("a closed <script>");
        let open = &tag[..tag.find('>').unwrap()];
        assert!(
            open.contains(" src=\"") && open.contains("/console/console.js\""),
            "{what}: {open}"
        );
        assert_eq!(tag.find('>').unwrap() + 1, end, "{what}: an inline script");
    }
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    // Each inline stylesheet is allowed by its hash.
    let mut rest = a.text.as_str();
    while let Some(i) = rest.find("<style>") {
        let body = &rest[i + "<style>".len()..];
        let end = body.find("</style>").expect("a closed <style>");
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&body.as_bytes()[..end]));
        assert!(
            csp.contains(&format!("style-src 'sha256-{hash}'")),
            "{what}: the page's stylesheet is allowed by the CSP: {csp}"
        );
        rest = &body[end..];
    }
}

#[tokio::test]
async fn every_html_page_carries_the_security_headers() {
    let app = TestApp::new();
    // A partner (its activate link) and an account whose authorization link is mailed.
    assert_eq!(sign_up(&app, "Acme IT", MEMBER).await.status, StatusCode::ACCEPTED);
    let activate = link_in(&app.mailer.to(MEMBER).last().unwrap().text, "/v1/signup/activate");
    let activate = activate.strip_prefix(BASE).unwrap().to_owned();
    let a = confirm(&app, MEMBER, &last_code(&app, MEMBER)).await;
    let token = a.json()["token"].as_str().unwrap().to_owned();
    let body = json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "client",
                      "has_admin_credentials": false, "authorization_email": "admin@contoso.example"});
    let a = call(&app, Method::POST, "/v1/accounts", Some(body.to_string()), Some(&token)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let link = link_in(
        &app.mailer.to("admin@contoso.example").last().unwrap().text,
        "/authorize/",
    );
    let link = link.strip_prefix(BASE).unwrap().to_owned();
    // A password reset link.
    let forgot = json!({"email": MEMBER}).to_string();
    let a = call(&app, Method::POST, "/v1/password/forgot", Some(forgot), None).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    let reset = link_in(&app.mailer.to(MEMBER).last().unwrap().text, "/password/reset");
    let reset = reset.strip_prefix(BASE).unwrap().to_owned();
    // An offer link.
    let offer = json!({"platform": "microsoft365"}).to_string();
    let a = call(&app, Method::POST, "/v1/offers", Some(offer), Some(&token)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let offer = a.json()["url"].as_str().unwrap().strip_prefix(BASE).unwrap().to_owned();
    // An invitation link.
    let invite = json!({"email": "tech@acme.example", "role": "technician"}).to_string();
    let a = call(&app, Method::POST, "/v1/members", Some(invite), Some(&token)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let invitation = link_in(
        &app.mailer.to("tech@acme.example").last().unwrap().text,
        "/invitations/",
    );
    let invitation = invitation.strip_prefix(BASE).unwrap().to_owned();

    // (documented path, concrete request): valid and refused variants of every page.
    let ms_consent = format!(
        "/sandbox/microsoft/organizations/v2.0/adminconsent?client_id={}&redirect_uri={BASE}/v1/callback/microsoft&state=s",
        sandbox::CLIENT_ID
    );
    let google_consent = format!(
        "/sandbox/google/auth?client_id={}&redirect_uri={BASE}/v1/callback/google&state=s&code_challenge=c&code_challenge_method=S256&scope=a",
        sandbox::GOOGLE_CLIENT_ID
    );
    let pages: Vec<(&str, String)> = vec![
        ("/authorize/{token}", link.clone()),
        ("/authorize/{token}", "/authorize/forged".into()),
        ("/authorize/{token}/start", "/authorize/forged/start".into()),
        ("/authorize/done/{token}", "/authorize/done/forged".into()),
        ("/v1/callback/microsoft", "/v1/callback/microsoft".into()),
        (
            "/v1/callback/microsoft",
            "/v1/callback/microsoft?error=access_denied&state=x".into(),
        ),
        ("/v1/callback/google", "/v1/callback/google".into()),
        ("/v1/signup/activate", activate.clone()),
        ("/v1/signup/activate", activate),
        ("/v1/signup/activate", "/v1/signup/activate?token=forged".into()),
        ("/password/reset", reset),
        ("/password/reset", "/password/reset?token=forged".into()),
        ("/invitations/{token}", invitation),
        ("/invitations/{token}", "/invitations/forged".into()),
        ("/offer/{code}", offer),
        ("/offer/{code}", "/offer/forged".into()),
        ("/console", "/console".into()),
        ("/console/sign-in", "/console/sign-in".into()),
        ("/console/sign-up", "/console/sign-up".into()),
        ("/console/forgot", "/console/forgot".into()),
        ("/console/{*rest}", "/console/accounts/x".into()),
        ("/sandbox/microsoft/{tenant}/v2.0/adminconsent", ms_consent),
        (
            "/sandbox/microsoft/{tenant}/oauth2/v2.0/authorize",
            format!(
                "/sandbox/microsoft/organizations/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri={BASE}/v1/callback/microsoft&state=s&nonce=n&code_challenge=c&code_challenge_method=S256&scope=openid%20profile",
                sandbox::CLIENT_ID
            ),
        ),
        (
            "/sandbox/microsoft/{tenant}/oauth2/v2.0/authorize",
            "/sandbox/microsoft/organizations/oauth2/v2.0/authorize?client_id=wrong".into(),
        ),
        (
            "/sandbox/microsoft/{tenant}/v2.0/adminconsent",
            "/sandbox/microsoft/organizations/v2.0/adminconsent?client_id=wrong".into(),
        ),
        ("/sandbox/google/auth", google_consent),
        ("/sandbox/google/auth", "/sandbox/google/auth?client_id=wrong".into()),
    ];
    for (_, path) in &pages {
        let a = local_get(&app, path).await;
        assert_secure_page(path, &a);
    }
    let landing = local_get(&app, &link).await;
    assert_eq!(landing.status, StatusCode::OK, "the landing page itself was checked");
    // The reset form's POST answers pages too (a forged token here).
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/password/reset")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("token=forged&password=correct+horse+battery+staple"))
        .unwrap();
    let form = answer(
        onboarding::http::local(app.state.clone(), sandbox::router(Sandbox::new()))
            .oneshot(req)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(form.status, StatusCode::NOT_FOUND, "{}", form.text);
    assert_secure_page("POST /v1/password/reset (form)", &form);

    // Every route documented as answering HTML is in the list above.
    let doc: Value = call(&app, Method::GET, "/openapi.json", None, None).await.json();
    let mut tested: BTreeSet<&str> = pages.iter().map(|(p, _)| *p).collect();
    tested.insert("/v1/password/reset");
    // The invitation form's POST answers pages as the reset form's does (same extractor).
    tested.insert("/v1/invitations/accept");
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let html = ops.as_object().unwrap().values().any(|op| {
            op["responses"]
                .as_object()
                .unwrap()
                .values()
                .any(|r| r["content"].get("text/html").is_some())
        });
        if html {
            assert!(tested.contains(path.as_str()), "{path} answers HTML: test its headers");
        }
    }
}

#[tokio::test]
async fn every_lambda_functions_pages_carry_them_too() {
    use onboarding::http::{Function, router_for};
    let app = TestApp::new();
    for (function, path) in [
        (Function::ConsentCallback, "/authorize/forged"),
        (Function::ConsentCallback, "/v1/callback/google"),
        (Function::Confirm, "/v1/signup/activate?token=x"),
    ] {
        let req = Request::builder().uri(path).body(Body::empty()).unwrap();
        let a = answer(router_for(function, app.state.clone()).oneshot(req).await.unwrap()).await;
        assert_secure_page(path, &a);
    }
}

#[tokio::test]
async fn json_answers_carry_nosniff_and_no_page_policy() {
    let app = TestApp::new();
    for (method, path) in [
        (Method::GET, "/health"),
        (Method::GET, "/v1/me"),
        (Method::GET, "/nowhere"),
        (Method::GET, "/openapi.json"),
        (Method::POST, "/v1/signup"),
    ] {
        let a = call(&app, method.clone(), path, Some("{}".into()), None).await;
        assert!(header(&a, "content-type").starts_with("application/json"), "{path}");
        assert_eq!(header(&a, "x-content-type-options"), "nosniff", "{path}");
        assert!(a.headers.get("content-security-policy").is_none(), "{path}");
    }
    // A 302 to the provider is not a page, but keeps its own no-store / no-referrer.
    let a = local_get(&app, "/authorize/forged/start").await;
    assert_eq!(header(&a, "x-content-type-options"), "nosniff");
}

#[tokio::test]
async fn the_consoles_signed_in_pages_carry_them_and_load_only_their_own_script() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", "owner@msp.example").await;
    let body = serde_json::json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "client",
                                  "has_admin_credentials": false, "authorization_email": "admin@client.example"});
    let id = call(&app, Method::POST, "/v1/accounts", Some(body.to_string()), Some(&token))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/console".to_owned(),
        format!("/console/accounts/{id}"),
        "/console/accounts/new".to_owned(),
        "/console/seats".to_owned(),
        "/console/team".to_owned(),
        "/console/offers".to_owned(),
        "/console/audit".to_owned(),
    ] {
        let req = Request::builder()
            .uri(&path)
            .header("cookie", format!("console_session={token}"))
            .body(Body::empty())
            .unwrap();
        let a = answer(onboarding::http::router(app.state.clone()).oneshot(req).await.unwrap()).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.text);
        assert_secure_page(&path, &a);
    }
    let script = call(&app, Method::GET, "/console/console.js", None, None).await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    assert_eq!(header(&script, "x-content-type-options"), "nosniff");
}
