//! Clients, SaaS accounts, authorization links, check and resend, through the router on the
//! in-memory twins. Every refusal also checks that nothing was written.

mod common;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use common::*;
use serde_json::{Value, json};

const MEMBER: &str = "owner@msp.example";

async fn partner(app: &TestApp) -> String {
    registered(app, "Acme IT", MEMBER).await
}

async fn post_as(app: &TestApp, token: &str, path: &str, body: Value) -> Answer {
    call(app, Method::POST, path, Some(body.to_string()), Some(token)).await
}

async fn get_as(app: &TestApp, token: &str, path: &str) -> Answer {
    call(app, Method::GET, path, None, Some(token)).await
}

fn account_body(extra: Value) -> Value {
    let mut b = json!({
        "client_name": "Contoso Ltd",
        "platform": "microsoft365",
        "managed_by": "partner",
        "has_admin_credentials": false,
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// The path of the authorization link in the newest mail to `to` (`/authorize/<token>`).
fn link_path(app: &TestApp, to: &str) -> String {
    let mail = app.mailer.to(to).last().cloned().expect("an authorization mail");
    let url = link_in(&mail.text, "/authorize/");
    url.strip_prefix(BASE).unwrap().to_owned()
}

#[tokio::test]
async fn clients_are_created_listed_and_validated() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let a = post_as(
        &app,
        &t,
        "/v1/clients",
        json!({"name": "Contoso Ltd", "contact_email": "IT@Contoso.example"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json()["contact_email"], "it@contoso.example");
    let list = get_as(&app, &t, "/v1/clients").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let before = app.snapshot();
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(300)}), "name"),
        (json!({"name": "Evil\r\nBcc: victim@example.com"}), "name"),
        (
            json!({"name": "Ok", "contact_email": "not-an-address"}),
            "contact_email",
        ),
    ] {
        let a = post_as(&app, &t, "/v1/clients", body).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
        assert_eq!(a.json()["error"]["field"], field);
    }
    assert_eq!(
        call(&app, Method::POST, "/v1/clients", Some(r#"{"name":"#.into()), Some(&t))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&app, Method::POST, "/v1/clients", Some("{}".into()), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.snapshot(), before, "refusals wrote nothing");
}

#[tokio::test]
async fn partner_managed_account_without_credentials_emails_the_signed_in_member() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let a = post_as(&app, &t, "/v1/accounts", account_body(json!({}))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let acc = a.json();
    assert_eq!(acc["status"], "waiting_for_authorization");
    assert_eq!(acc["authorization"]["sent_to"], MEMBER);
    assert_eq!(acc["authorization"]["delivery"], "sent");
    assert_eq!(acc["authorization"]["expired"], false);
    assert!(acc.get("authorization_url").is_none());

    let mail = app.mailer.to(MEMBER).last().cloned().unwrap();
    assert!(
        mail.text.contains("Acme IT") && mail.text.contains("Contoso Ltd"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("User.Read.All"), "the access asked for is named");
    let path = link_path(&app, MEMBER);
    let token = path.trim_start_matches("/authorize/");
    assert!(token.len() >= 43, "at least 128 random bits, sealed");

    // The landing page names who asks and what for; the token is stored only hashed.
    let page = call(&app, Method::GET, &path, None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Acme IT") && page.text.contains("id=\"authorize\""));
    assert_eq!(page.headers["cache-control"], "no-store");
    let stored = format!("{:?}", app.snapshot());
    assert!(!stored.contains(token), "the link token is not stored in clear");

    // Listed and readable.
    let id = acc["id"].as_str().unwrap();
    assert_eq!(get_as(&app, &t, "/v1/accounts").await.json()["items"][0]["id"], id);
    assert_eq!(
        get_as(&app, &t, &format!("/v1/accounts/{id}")).await.json()["client_name"],
        "Contoso Ltd"
    );
}

#[tokio::test]
async fn recipients_follow_the_rules() {
    let app = TestApp::new();
    let t = partner(&app).await;
    // Client-managed: the client's contact.
    let c = post_as(
        &app,
        &t,
        "/v1/clients",
        json!({"name": "Fabrikam", "contact_email": "admin@fabrikam.example"}),
    )
    .await
    .json();
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        json!({"client_id": c["id"], "platform": "microsoft365", "managed_by": "client", "has_admin_credentials": false}),
    )
    .await;
    assert_eq!(
        a.json()["authorization"]["sent_to"],
        "admin@fabrikam.example",
        "{}",
        a.text
    );
    // A typed address wins.
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"managed_by": "client", "authorization_email": "Boss@Contoso.example"})),
    )
    .await;
    assert_eq!(a.json()["authorization"]["sent_to"], "boss@contoso.example");
    assert_eq!(app.mailer.to("boss@contoso.example").len(), 1);
    // Client-managed with no contact and no typed address: nothing to send to.
    let before = app.snapshot();
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"managed_by": "client", "client_name": "NoContact"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["error"]["field"], "authorization_email");
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn with_admin_credentials_the_answer_carries_the_consent_url() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let mails = app.mailer.messages().len();
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"has_admin_credentials": true, "tenant": "a.onmicrosoft.com"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let url = a.json()["authorization_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("https://login.fake/a.onmicrosoft.com/v2.0/adminconsent"),
        "pre-entered tenant in the URL: {url}"
    );
    assert!(url.contains("state="));
    assert_eq!(app.mailer.messages().len(), mails, "no email");
    // Without a pre-entered tenant: `organizations`.
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"has_admin_credentials": true, "client_name": "Other"})),
    )
    .await;
    assert!(
        a.json()["authorization_url"]
            .as_str()
            .unwrap()
            .starts_with("https://login.fake/organizations/")
    );
}

#[tokio::test]
async fn invalid_accounts_are_refused_without_writes() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let before = app.snapshot();
    for (body, field) in [
        (account_body(json!({"platform": "dropbox"})), "platform"),
        (account_body(json!({"managed_by": "nobody"})), "managed_by"),
        (account_body(json!({"tenant": "not a tenant!"})), "tenant"),
        (
            account_body(json!({"platform": "google_workspace", "tenant": "11111111-1111-4111-8111-111111111111"})),
            "tenant",
        ),
        (
            account_body(json!({"authorization_email": "bad@"})),
            "authorization_email",
        ),
        (
            account_body(json!({"client_name": "<b>x</b>\r\nBcc: a@b.c"})),
            "client_name",
        ),
        (account_body(json!({"client_name": "y".repeat(201)})), "client_name"),
        (
            account_body(json!({"client_id": "00000000-0000-4000-8000-000000000000", "client_name": null})),
            "client_id",
        ),
        (account_body(json!({"surprise": true})), "surprise"),
    ] {
        let a = post_as(&app, &t, "/v1/accounts", body.clone()).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {}", a.text);
        assert_eq!(a.json()["error"]["field"], field, "{body} -> {}", a.text);
    }
    let huge = json!({"client_name": "z".repeat(1024 * 1024)}).to_string();
    assert_eq!(
        call(&app, Method::POST, "/v1/accounts", Some(huge), Some(&t))
            .await
            .status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/accounts",
            Some(r#"{"client_name": "#.into()),
            Some(&t)
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn markup_in_names_is_escaped_in_the_email_and_the_page() {
    let app = TestApp::new();
    let t = registered(&app, "<script>alert(1)</script> & Co", MEMBER).await;
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"client_name": "\"Contoso\" <img src=x onerror=alert(2)>"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let mail = app.mailer.to(MEMBER).last().cloned().unwrap();
    assert!(
        !mail.html.contains("<script>") && !mail.html.contains("<img"),
        "{}",
        mail.html
    );
    assert!(!mail.subject.contains('\n'));
    let page = call(&app, Method::GET, &link_path(&app, MEMBER), None, None).await;
    assert!(
        !page.text.contains("<script>alert") && !page.text.contains("<img src=x"),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn another_partners_and_unknown_ids_are_not_found_and_change_nothing() {
    let app = TestApp::new();
    let t1 = partner(&app).await;
    let t2 = registered(&app, "Rival IT", "rival@other.example").await;
    let id = post_as(&app, &t1, "/v1/accounts", account_body(json!({}))).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    for path in [
        format!("/v1/accounts/{id}"),
        "/v1/accounts/00000000-0000-4000-8000-000000000000".to_owned(),
        "/v1/accounts/not-an-id".to_owned(),
    ] {
        assert_eq!(get_as(&app, &t2, &path).await.status, StatusCode::NOT_FOUND, "{path}");
        let a = post_as(&app, &t2, &format!("{path}/authorization/check"), json!({})).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
        let a = post_as(
            &app,
            &t2,
            &format!("{path}/authorization/resend"),
            json!({"email": "x@y.example"}),
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        let a = post_as(&app, &t2, &format!("{path}/reauthorization"), json!({})).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
    }
    let body = json!({"client_id": "00000000-0000-4000-8000-000000000000", "platform": "microsoft365", "managed_by": "partner", "has_admin_credentials": true});
    assert_eq!(
        post_as(&app, &t2, "/v1/accounts", body).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(
        get_as(&app, &t2, "/v1/accounts").await.json()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.snapshot(), before);
    assert_eq!(app.mailer.messages().len(), mails);
}

#[tokio::test]
async fn resend_replaces_the_link_and_refuses_bad_addresses() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let id = post_as(&app, &t, "/v1/accounts", account_body(json!({}))).await.json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = link_path(&app, MEMBER);

    let before = app.snapshot();
    for bad in ["", "nobody", "a@b", "x@y.example\r\nBcc: z@w.example"] {
        let a = post_as(
            &app,
            &t,
            &format!("/v1/accounts/{id}/authorization/resend"),
            json!({"email": bad}),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {}", a.text);
        assert_eq!(a.json()["error"]["field"], "email");
    }
    assert_eq!(app.snapshot(), before, "bad addresses wrote nothing");

    let a = post_as(
        &app,
        &t,
        &format!("/v1/accounts/{id}/authorization/resend"),
        json!({"email": "Admin@Contoso.example"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(a.json()["sent_to"], "admin@contoso.example");
    let new = link_path(&app, "admin@contoso.example");
    assert_ne!(old, new);

    // The same address again within a minute: 429 with Retry-After, nothing written or sent.
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let again = post_as(
        &app,
        &t,
        &format!("/v1/accounts/{id}/authorization/resend"),
        json!({"email": "admin@contoso.example"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS, "{}", again.text);
    assert!(again.headers.contains_key("retry-after"));
    assert_eq!(app.snapshot(), before);
    assert_eq!(app.mailer.messages().len(), mails);

    let page = call(&app, Method::GET, &old, None, None).await;
    assert_eq!(page.status, StatusCode::GONE, "the earlier link stops working");
    assert!(page.text.contains("newer link"));
    assert_eq!(
        call(&app, Method::GET, &format!("{old}/start"), None, None)
            .await
            .status,
        StatusCode::GONE
    );
    assert_eq!(call(&app, Method::GET, &new, None, None).await.status, StatusCode::OK);
    assert_eq!(
        get_as(&app, &t, &format!("/v1/accounts/{id}")).await.json()["authorization"]["sent_to"],
        "admin@contoso.example"
    );
}

#[tokio::test]
async fn links_expire_and_check_replaces_an_expired_link() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let id = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"authorization_email": "admin@contoso.example"})),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = link_path(&app, "admin@contoso.example");
    // Not expired yet: check changes nothing and sends nothing.
    let before = app.snapshot();
    let a = post_as(&app, &t, &format!("/v1/accounts/{id}/authorization/check"), json!({})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["status"], "waiting_for_authorization");
    assert_eq!(app.snapshot(), before);

    app.clock.advance(Duration::days(7) + Duration::minutes(1));
    let t = post(&app, "/v1/sessions", json!({"email": MEMBER, "password": PASSWORD}))
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let view = get_as(&app, &t, &format!("/v1/accounts/{id}")).await.json();
    assert_eq!(view["authorization"]["expired"], true);
    let page = call(&app, Method::GET, &old, None, None).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.text.contains("expired"));

    let a = post_as(&app, &t, &format!("/v1/accounts/{id}/authorization/check"), json!({})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["authorization"]["expired"], false);
    assert_eq!(
        app.mailer.to("admin@contoso.example").len(),
        2,
        "re-sent to its last recipient"
    );
    let new = link_path(&app, "admin@contoso.example");
    assert_ne!(new, old);
    assert_eq!(call(&app, Method::GET, &new, None, None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn forged_link_tokens_are_refused_before_any_read() {
    let app = TestApp::new();
    let before = app.snapshot();
    for path in [
        "/authorize/forged",
        "/authorize/forged/start",
        "/authorize/a.b.c",
        "/authorize/done/forged",
    ] {
        let a = call(&app, Method::GET, path, None, None).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}: {}", a.text);
        assert!(a.text.contains("<h1"), "an HTML page for people");
    }
    assert_eq!(app.snapshot(), before);
}
