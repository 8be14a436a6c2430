//! The partner console's first pages (`/console`): cookie sign-in, the Status page, the
//! Account page and its actions; CSRF on every form, ended sessions sent back to sign-in,
//! another partner's account a 404 page, every shown value escaped.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use http_body_util::BodyExt as _;
use serde_json::json;
use tower::ServiceExt as _;

const OWNER: &str = "owner@msp.example";

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

async fn browse(app: &TestApp, method: Method, path: &str, cookie: Option<&str>, form: Option<&str>) -> Page {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("console_session={c}"));
    }
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = req
        .body(form.map_or_else(Body::empty, |f| Body::from(f.to_owned())))
        .unwrap();
    let res = onboarding::http::router(app.state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
    Page { status, headers, text }
}

/// Signs in through the console's form: the session cookie's value and its attributes.
async fn sign_in(app: &TestApp, email: &str) -> (String, String) {
    let form = format!(
        "email={}&password={}",
        email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let p = browse(app, Method::POST, "/console/sign-in", None, Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let set = p.headers["set-cookie"].to_str().unwrap().to_owned();
    let value = set
        .strip_prefix("console_session=")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (value, set)
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..at + page[at..].find('"').unwrap()]
        .replace("&#43;", "+")
        .replace("&#47;", "/")
        .replace("&#61;", "=")
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn waiting_account(app: &TestApp, token: &str, client: &str) -> String {
    let body = json!({"client_name": client, "platform": "microsoft365", "managed_by": "client",
                      "has_admin_credentials": false, "authorization_email": "admin@client.example"});
    let a = call(app, Method::POST, "/v1/accounts", Some(body.to_string()), Some(token)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    a.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_partner_signs_in_and_sees_every_account_with_its_status() {
    let app = TestApp::new();
    let token = registered(&app, "Acme <IT>", OWNER).await;
    waiting_account(&app, &token, "<script>alert(1)</script> Ltd").await;
    // Not signed in: to the sign-in page.
    let p = browse(&app, Method::GET, "/console", None, None).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.headers["location"].to_str().unwrap().ends_with("/console/sign-in"));
    let (cookie, set) = sign_in(&app, OWNER).await;
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let p = browse(&app, Method::GET, "/console", Some(&cookie), None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains("Waiting for authorization"), "{}", p.text);
    assert!(p.text.contains("Seats 0 of 1000"));
    assert!(
        !p.text.contains("<script>alert(1)</script>") && !p.text.contains("Acme <IT>"),
        "escaped"
    );
    assert!(p.text.contains("Acme &lt;IT&gt;") || p.text.contains("Acme &#60;IT&#62;"));
    assert_eq!(p.headers["cache-control"], "no-store");
    assert!(
        p.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[tokio::test]
async fn forms_without_this_sessions_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = waiting_account(&app, &token, "Contoso").await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let (other, _) = sign_in(&app, OWNER).await;
    let other_csrf = csrf_in(&browse(&app, Method::GET, "/console", Some(&other), None).await.text);
    let path = format!("/console/accounts/{id}/resend");
    for form in [
        "email=new%40client.example".to_owned(),
        "csrf=forged&email=new%40client.example".to_owned(),
        format!("csrf={}&email=new%40client.example", encode(&other_csrf)),
    ] {
        let before = app.snapshot();
        let mails = app.mailer.messages().len();
        app.clock.advance(chrono::Duration::minutes(2));
        let p = browse(&app, Method::POST, &path, Some(&cookie), Some(&form)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{form}: {}", p.text);
        assert_eq!(app.snapshot(), before, "{form}: nothing written");
        assert_eq!(app.mailer.messages().len(), mails, "{form}: nothing sent");
    }
    // With its own token the same form works.
    let csrf = csrf_in(&browse(&app, Method::GET, "/console", Some(&cookie), None).await.text);
    let form = format!("csrf={}&email=new%40client.example", encode(&csrf));
    let p = browse(&app, Method::POST, &path, Some(&cookie), Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    assert!(app.mailer.to("new@client.example").len() == 1);
}

#[tokio::test]
async fn a_signed_out_or_removed_members_cookie_goes_back_to_sign_in() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let csrf = csrf_in(&browse(&app, Method::GET, "/console", Some(&cookie), None).await.text);
    let p = browse(
        &app,
        Method::POST,
        "/console/sign-out",
        Some(&cookie),
        Some(&format!("csrf={}", encode(&csrf))),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let p = browse(&app, Method::GET, "/console", Some(&cookie), None).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "signed out: back to sign-in");
    // A removed member.
    let invite = json!({"email": "tech@msp.example", "role": "technician"}).to_string();
    assert_eq!(
        call(&app, Method::POST, "/v1/members", Some(invite), Some(&owner))
            .await
            .status,
        StatusCode::CREATED
    );
    let link = app.mailer.to("tech@msp.example")[0].links[0].clone();
    let joined = post(
        &app,
        "/v1/invitations/accept",
        json!({"token": link.rsplit('/').next().unwrap(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    let (tech, _) = sign_in(&app, "tech@msp.example").await;
    assert_eq!(
        browse(&app, Method::GET, "/console", Some(&tech), None).await.status,
        StatusCode::OK
    );
    let removed = call(&app, Method::DELETE, "/v1/members/tech@msp.example", None, Some(&owner)).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        browse(&app, Method::GET, "/console", Some(&tech), None).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn another_partners_account_is_a_404_page() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = waiting_account(&app, &token, "Contoso").await;
    registered(&app, "Rival MSP", "boss@rival.example").await;
    let (rival, _) = sign_in(&app, "boss@rival.example").await;
    let p = browse(
        &app,
        Method::GET,
        &format!("/console/accounts/{id}"),
        Some(&rival),
        None,
    )
    .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(
        p.text.contains("Not found") && !p.text.contains("Contoso"),
        "{}",
        p.text
    );
    let (mine, _) = sign_in(&app, OWNER).await;
    let p = browse(&app, Method::GET, &format!("/console/accounts/{id}"), Some(&mine), None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains("Contoso") && p.text.contains("Refresh"));
    let p = browse(&app, Method::GET, "/console/nothing-here", Some(&mine), None).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_password_answers_the_form_again_without_a_cookie() {
    let app = TestApp::new();
    registered(&app, "Acme IT", OWNER).await;
    let p = browse(
        &app,
        Method::POST,
        "/console/sign-in",
        None,
        Some("email=owner%40msp.example&password=wrong"),
    )
    .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.headers.get("set-cookie").is_none());
    assert!(
        p.text.contains("not right") && p.text.contains("owner@msp.example"),
        "{}",
        p.text
    );
}
