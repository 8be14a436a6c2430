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
async fn a_client_name_that_matches_an_existing_client_uses_it() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let first = post_as(&app, &t, "/v1/accounts", account_body(json!({}))).await.json();
    // Case and spaces aside, the same name: the same client, no twin.
    let second = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(
            json!({"client_name": "  contoso   LTD ", "platform": "google_workspace", "has_admin_credentials": true}),
        ),
    )
    .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let second = second.json();
    assert_eq!(second["client_id"], first["client_id"]);
    assert_eq!(second["client_name"], "Contoso Ltd", "the client keeps its name");
    let clients = get_as(&app, &t, "/v1/clients").await.json();
    assert_eq!(clients["items"].as_array().unwrap().len(), 1, "{clients}");
    // Another name is another client.
    let other = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"client_name": "Contoso", "has_admin_credentials": true})),
    )
    .await
    .json();
    assert_ne!(other["client_id"], first["client_id"]);

    // Creating a client whose name is taken: 409, nothing written, nothing sent.
    let before = (app.snapshot(), app.mailer.messages().len());
    let a = post_as(&app, &t, "/v1/clients", json!({"name": "CONTOSO LTD"})).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    assert_eq!(a.json()["error"]["code"], "conflict");
    assert_eq!((app.snapshot(), app.mailer.messages().len()), before, "nothing changed");

    // Another partner's client of that name is not this partner's.
    let other_partner = registered(&app, "Other MSP", "owner@other.example").await;
    let theirs = post_as(&app, &other_partner, "/v1/accounts", account_body(json!({})))
        .await
        .json();
    assert_ne!(theirs["client_id"], first["client_id"]);
}

#[tokio::test]
async fn a_client_from_before_name_entries_is_found_by_its_name() {
    use onboarding::store::Store as _;
    let app = TestApp::new();
    let t = partner(&app).await;
    let created = post_as(&app, &t, "/v1/clients", json!({"name": "Northwind Traders"}))
        .await
        .json();
    // Remove the name's entry, as for a client stored before entries existed.
    let name_entry = app
        .snapshot()
        .into_iter()
        .find(|i| i.key.sk.starts_with("CLIENTNAME#"))
        .expect("the client's name entry");
    assert_eq!(name_entry.key.sk, "CLIENTNAME#northwind traders");
    app.store
        .delete(&name_entry.key, onboarding::store::Condition::Always)
        .await
        .unwrap();
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"client_name": "northwind traders", "has_admin_credentials": true})),
    )
    .await
    .json();
    assert_eq!(a["client_id"], created["id"]);
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
        url.starts_with("https://login.fake/a.onmicrosoft.com/oauth2/v2.0/authorize"),
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
    // Not expired yet: check changes nothing and sends nothing (it only counts itself
    // against its once-a-minute limit).
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let a = post_as(&app, &t, &format!("/v1/accounts/{id}/authorization/check"), json!({})).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["status"], "waiting_for_authorization");
    let unlimited = |items: Vec<onboarding::store::Item>| -> Vec<_> {
        items.into_iter().filter(|i| !i.key.pk.starts_with("LIMIT#")).collect()
    };
    assert_eq!(unlimited(app.snapshot()), unlimited(before));
    assert_eq!(app.mailer.messages().len(), mails);

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

/// Moves the test clock to the start of the next fixed window of `seconds` (plus one
/// second), so a test's sequence of limited requests stays inside one window.
fn align(app: &TestApp, seconds: i64) {
    use onboarding::clock::Clock as _;
    let now = app.clock.now().timestamp();
    app.clock
        .advance(Duration::seconds(seconds - now.rem_euclid(seconds) + 1));
}

fn retry_after(a: &Answer) -> i64 {
    a.headers["retry-after"].to_str().unwrap().parse().unwrap()
}

/// A refused request: 429 with `Retry-After` and the error shape, nothing written, no mail.
fn assert_refused(app: &TestApp, a: &Answer, before: &[onboarding::store::Item], mails: usize) -> i64 {
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
    assert_eq!(a.error_code(), "rate_limited");
    assert_eq!(app.snapshot(), before, "nothing written");
    assert_eq!(app.mailer.messages().len(), mails, "nothing sent");
    retry_after(a)
}

async fn new_account(app: &TestApp, t: &str, extra: Value) -> String {
    let a = post_as(app, t, "/v1/accounts", account_body(extra)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    a.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn resending_to_alternating_addresses_is_limited_per_account_per_hour_and_day() {
    let app = TestApp::new();
    align(&app, 86_400);
    let t = partner(&app).await;
    let id = new_account(&app, &t, json!({})).await; // mail 1 of the hour
    let path = format!("/v1/accounts/{id}/authorization/resend");
    let mut sent = 1;
    let mut hour_refusals = 0;
    for i in 0..40 {
        app.clock.advance(Duration::seconds(61));
        let to = if i % 2 == 0 {
            "a@victim.example"
        } else {
            "b@victim.example"
        };
        let before = app.snapshot();
        let mails = app.mailer.messages().len();
        let a = post_as(&app, &t, &path, json!({ "email": to })).await;
        if a.status == StatusCode::ACCEPTED {
            sent += 1;
            assert_eq!(app.mailer.messages().len(), mails + 1);
            continue;
        }
        let wait = assert_refused(&app, &a, &before, mails);
        if sent < 20 {
            // Over the hour's 5: wait for the next hour.
            assert_eq!(sent % 5, 0, "refused after {sent} mails");
            assert!(wait <= 3600, "{wait}");
            hour_refusals += 1;
            app.clock.advance(Duration::seconds(wait));
        } else {
            // Over the day's 20: the next day.
            assert!(wait > 3600, "the day's limit: {wait}");
            break;
        }
    }
    assert_eq!((sent, hour_refusals), (20, 3), "5 an hour, 20 a day");
}

#[tokio::test]
async fn one_address_gets_at_most_one_authorization_mail_a_minute_across_accounts_and_paths() {
    let app = TestApp::new();
    align(&app, 60);
    let t = partner(&app).await;
    let victim = "victim@example.com";
    // 20 accounts with a phishing-like client name to one address: one mail, 19 refusals that
    // create nothing (no client, no account, no link) and send nothing.
    let first = new_account(
        &app,
        &t,
        json!({"client_name": "Microsoft Security: verify your account", "authorization_email": victim}),
    )
    .await;
    for _ in 0..19 {
        let before = app.snapshot();
        let mails = app.mailer.messages().len();
        let a = post_as(
            &app,
            &t,
            "/v1/accounts",
            account_body(
                json!({"client_name": "Microsoft Security: verify your account", "authorization_email": victim}),
            ),
        )
        .await;
        assert!((1..=60).contains(&assert_refused(&app, &a, &before, mails)));
    }
    assert_eq!(app.mailer.to(victim).len(), 1);
    let accounts = get_as(&app, &t, "/v1/accounts").await.json();
    assert_eq!(accounts["items"].as_array().unwrap().len(), 1);

    // Another account's resend and reauthorization to the same address: refused too.
    let other = new_account(&app, &t, json!({"client_name": "Other"})).await; // to the member
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    for path in [
        format!("/v1/accounts/{other}/authorization/resend"),
        format!("/v1/accounts/{other}/reauthorization"),
    ] {
        let a = post_as(&app, &t, &path, json!({ "email": victim })).await;
        assert_refused(&app, &a, &before, mails);
    }
    // Reauthorization with an address that just got a mail: refused before its state is written.
    let a = post_as(
        &app,
        &t,
        &format!("/v1/accounts/{first}/reauthorization"),
        json!({ "email": victim }),
    )
    .await;
    assert_refused(&app, &a, &before, mails);
    // A minute later it goes through.
    app.clock.advance(Duration::seconds(60));
    let a = post_as(
        &app,
        &t,
        &format!("/v1/accounts/{other}/authorization/resend"),
        json!({ "email": victim }),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(app.mailer.to(victim).len(), 2);
}

#[tokio::test]
async fn a_partner_sends_at_most_50_authorization_mails_a_day() {
    let app = TestApp::new();
    align(&app, 86_400);
    let t = partner(&app).await;
    for i in 0..50 {
        new_account(
            &app,
            &t,
            json!({"client_name": format!("Client {i}"), "authorization_email": format!("admin{i}@client.example")}),
        )
        .await;
    }
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"client_name": "Client 50", "authorization_email": "admin50@client.example"})),
    )
    .await;
    assert!(assert_refused(&app, &a, &before, mails) > 3600, "until the next day");
    // Consent URLs (no mail) are still fine.
    let a = post_as(
        &app,
        &t,
        "/v1/accounts",
        account_body(json!({"has_admin_credentials": true, "client_name": "Client 51"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    // Another partner has its own allowance.
    let t2 = registered(&app, "Other MSP", "owner@other.example").await;
    let a = post_as(
        &app,
        &t2,
        "/v1/accounts",
        account_body(json!({"authorization_email": "admin50@client.example"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
}

#[tokio::test]
async fn check_is_at_most_once_a_minute_per_account() {
    let app = TestApp::new();
    align(&app, 60);
    let t = partner(&app).await;
    let id = new_account(&app, &t, json!({"tenant": "contoso.onmicrosoft.com"})).await;
    let path = format!("/v1/accounts/{id}/authorization/check");
    let a = post_as(&app, &t, &path, json!({})).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let calls = *app.microsoft.token_calls.lock().unwrap();
    assert_eq!(
        calls, 0,
        "a check never activates on a token, so it asks Microsoft nothing"
    );
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let a = post_as(&app, &t, &path, json!({})).await;
    let wait = assert_refused(&app, &a, &before, mails);
    assert!((1..=60).contains(&wait));
    assert_eq!(
        *app.microsoft.token_calls.lock().unwrap(),
        calls,
        "Microsoft not asked again"
    );
    // Another account has its own minute.
    let other = new_account(
        &app,
        &t,
        json!({"client_name": "Other", "authorization_email": "x@other.example"}),
    )
    .await;
    let a = post_as(
        &app,
        &t,
        &format!("/v1/accounts/{other}/authorization/check"),
        json!({}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    app.clock.advance(Duration::seconds(wait));
    assert_eq!(post_as(&app, &t, &path, json!({})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn checks_re_send_of_an_expired_link_obeys_the_mail_limits() {
    let app = TestApp::new();
    let t = partner(&app).await;
    let id = new_account(&app, &t, json!({"authorization_email": "admin@contoso.example"})).await;
    app.clock.advance(Duration::days(7) + Duration::minutes(1));
    align(&app, 60);
    let t = post(&app, "/v1/sessions", json!({"email": MEMBER, "password": PASSWORD}))
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another account just mailed the same address.
    new_account(
        &app,
        &t,
        json!({"client_name": "Second", "authorization_email": "admin@contoso.example"}),
    )
    .await;
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let a = post_as(&app, &t, &format!("/v1/accounts/{id}/authorization/check"), json!({})).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text);
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(app.mailer.messages().len(), mails, "nothing sent");
    // Only the check itself was counted (its once-a-minute limit): no link, no account change.
    let written: Vec<_> = app
        .snapshot()
        .into_iter()
        .filter(|i| !before.contains(i))
        .map(|i| i.key.pk)
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("LIMIT#check-account-1m#"), "{written:?}");
    let view = get_as(&app, &t, &format!("/v1/accounts/{id}")).await.json();
    assert_eq!(view["authorization"]["expired"], true);
}

#[tokio::test]
async fn parallel_creations_to_one_address_send_one_mail() {
    let app = TestApp::new();
    align(&app, 60);
    let t = partner(&app).await;
    let answers = futures_util::future::join_all((0..10).map(|i| {
        post_as(
            &app,
            &t,
            "/v1/accounts",
            account_body(json!({"client_name": format!("Client {i}"), "authorization_email": "victim@example.com"})),
        )
    }))
    .await;
    let created = answers.iter().filter(|a| a.status == StatusCode::CREATED).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, refused), (1, 9));
    assert_eq!(app.mailer.to("victim@example.com").len(), 1);
    assert_eq!(
        get_as(&app, &t, "/v1/accounts").await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
