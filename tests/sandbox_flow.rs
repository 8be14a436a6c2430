//! The onboarding flow over real HTTP against the built-in sandbox provider, with the
//! production Entra and Google clients: what `cargo run` does, hop by hop.

mod common;

use common::live::Live;
use onboarding_sandbox::{self as sandbox, CONTOSO_TENANT_ID, Faults, GOOGLE_CUSTOMER_ID};
use serde_json::{Value, json};

const MEMBER: &str = "owner@msp.example";
const ADMIN: &str = "admin@contoso.example";

async fn account(live: &Live, session: &str, body: Value) -> Value {
    let r = live.post("/v1/accounts", Some(session), body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn view(live: &Live, session: &str, id: &str) -> Value {
    let r = live
        .http
        .get(format!("{}/v1/accounts/{id}", live.base))
        .bearer_auth(session)
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
async fn microsoft_admin_consent_end_to_end() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    let acc = account(
        &live,
        &session,
        json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "client",
               "has_admin_credentials": false, "authorization_email": ADMIN, "tenant": "contoso.onmicrosoft.com"}),
    )
    .await;
    let id = acc["id"].as_str().unwrap();
    let link = live.link_to(ADMIN);
    let landing = live.get(&link).await;
    assert_eq!(landing.status(), 200);

    // Declining first: a page naming the cause; nothing changes.
    let declined = live.consent_via_link(&link, "decline").await;
    let page = live.get(&declined).await;
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("not granted"));
    let v = view(&live, &session, id).await;
    assert_eq!(v["status"], "waiting_for_authorization");
    // The partner sees why, in plain language, in the account list too.
    assert_eq!(v["authorization"]["last_error"]["code"], "declined", "{v}");
    let (_, list) = live.api(axum::http::Method::GET, "/v1/accounts", &session, None).await;
    assert_eq!(
        list["items"][0]["authorization"]["last_error"]["code"], "declined",
        "{list}"
    );

    // Accepting: the callback proves the grant with a real token request to the sandbox.
    let callback = live.consent_via_link(&link, "accept").await;
    assert!(callback.starts_with(&format!(
        "{}/v1/callback/microsoft?admin_consent=True&tenant={CONTOSO_TENANT_ID}",
        live.base
    )));
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 302);
    let done = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(done.contains("/authorize/done/"));
    let page = live.get(&done).await.text().await.unwrap();
    assert!(page.contains("being set up"));
    let v = view(&live, &session, id).await;
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(v["tenant_id"], CONTOSO_TENANT_ID);
    assert!(v["missing_permissions"].as_array().unwrap().is_empty());

    // A refresh of the callback: the same page.
    let again = live.get(&callback).await;
    assert_eq!(again.headers()["location"].to_str().unwrap(), done);
}

#[tokio::test]
async fn token_endpoint_5xx_and_timeout_then_trying_again_works() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    let acc = account(
        &live,
        &session,
        json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "partner", "has_admin_credentials": true}),
    )
    .await;
    let consent_page = acc["authorization_url"].as_str().unwrap();
    let callback = live.consent_at(consent_page, "accept").await;

    live.sandbox.set_faults(Faults {
        token_status: Some(503),
        ..Faults::default()
    });
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(page.contains("Try again") && page.contains("id=\"retry\""), "{page}");

    // Slower than the client's 2 s budget: a timeout, the same page.
    live.sandbox.set_faults(Faults {
        token_delay_ms: 2500,
        ..Faults::default()
    });
    assert_eq!(live.get(&callback).await.status(), 502);

    live.sandbox.set_faults(Faults::default());
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 302, "trying again works");
    let id = acc["id"].as_str().unwrap();
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{}/console/accounts/{id}", live.base)
    );
    assert_eq!(view(&live, &session, id).await["status"], "active");
    // The console's account page asks a browser without a session to sign in first.
    let page = live.get(&format!("/console/accounts/{id}")).await;
    assert_eq!(page.status(), 303, "the console's sign-in first");
    assert!(
        page.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/console/sign-in")
    );
}

#[tokio::test]
async fn a_consent_lacking_roles_needs_reauthorization() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    live.sandbox.set_faults(Faults {
        granted_roles: Some(vec!["User.Read.All".into()]),
        ..Faults::default()
    });
    let acc = account(
        &live,
        &session,
        json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "partner", "has_admin_credentials": true}),
    )
    .await;
    let callback = live
        .consent_at(acc["authorization_url"].as_str().unwrap(), "accept")
        .await;
    assert_eq!(live.get(&callback).await.status(), 302);
    let v = view(&live, &session, acc["id"].as_str().unwrap()).await;
    assert_eq!(v["status"], "reauthorization_required");
    assert_eq!(v["missing_permissions"].as_array().unwrap().len(), 4);

    // Reauthorization: a new consent URL; the admin grants everything; the flag clears.
    live.sandbox.set_faults(Faults::default());
    let r = live
        .post(
            &format!("/v1/accounts/{}/reauthorization", acc["id"].as_str().unwrap()),
            Some(&session),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let url = r.json::<Value>().await.unwrap()["authorization_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let callback = live.consent_at(&url, "accept").await;
    assert_eq!(live.get(&callback).await.status(), 302);
    let v = view(&live, &session, acc["id"].as_str().unwrap()).await;
    assert_eq!(v["status"], "active", "{v}");
    assert!(v["missing_permissions"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn google_workspace_oauth_end_to_end() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    let acc = account(
        &live,
        &session,
        json!({"client_name": "Northwind", "platform": "google_workspace", "managed_by": "client",
               "has_admin_credentials": false, "authorization_email": "admin@northwind.example", "tenant": sandbox::GOOGLE_DOMAIN}),
    )
    .await;
    let link = live.link_to("admin@northwind.example");
    let callback = live.consent_via_link(&link, "accept").await;
    assert!(callback.contains("/v1/callback/google?code="));
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let v = view(&live, &session, acc["id"].as_str().unwrap()).await;
    assert_eq!(v["status"], "active");
    assert_eq!(v["tenant_id"], GOOGLE_CUSTOMER_ID);
    assert_eq!(v["tenant_domain"], sandbox::GOOGLE_DOMAIN);
    // The code is single use at the provider; the refresh replays the stored outcome.
    assert_eq!(live.get(&callback).await.status(), 302);
}

#[tokio::test]
async fn google_customer_id_is_read_never_the_my_customer_alias() {
    let live = Live::start().await;
    // The directory's users do not name their customer: the customer resource does.
    live.sandbox.set_faults(sandbox::Faults {
        hide_customer_id: true,
        ..Default::default()
    });
    let session = live.partner("Acme IT", MEMBER).await;
    let acc = account(
        &live,
        &session,
        json!({"client_name": "Northwind", "platform": "google_workspace", "managed_by": "client",
               "has_admin_credentials": false, "authorization_email": "admin@northwind.example"}),
    )
    .await;
    let link = live.link_to("admin@northwind.example");
    let callback = live.consent_via_link(&link, "accept").await;
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let v = view(&live, &session, acc["id"].as_str().unwrap()).await;
    assert_eq!(v["status"], "active");
    assert_eq!(v["tenant_id"], GOOGLE_CUSTOMER_ID, "the ID, not the alias");
    let stored = format!("{:?}", live.store.all_items().unwrap());
    assert!(!stored.contains("my_customer"), "no alias stored as a tenant");
}
