//! Partner offers (api.md "Partner offers"): a reusable link a client's administrator opens to
//! onboard their own tenant through the same consent flow, the partner told on acceptance;
//! withdrawn, forged and flooded links refused; unfinished accounts removed after 7 days.
//! Refusals write nothing and mail nobody.

mod common;

use common::actions;
use common::live::Live;
use reqwest::Method;
use serde_json::{Value, json};

const OWNER: &str = "owner@msp.example";
const ADMIN_OF_CLIENT: &str = "it@northwind.example";

async fn new_offer(live: &Live, session: &str) -> Value {
    live.clock.advance(chrono::Duration::seconds(1));
    let (status, offer) = live
        .api(
            Method::POST,
            "/v1/offers",
            session,
            Some(json!({"platform": "microsoft365", "label": "Website"})),
        )
        .await;
    assert_eq!(status, 201, "{offer}");
    offer
}

async fn submit(live: &Live, url: &str, organization: &str, email: &str) -> reqwest::Response {
    live.clock.advance(chrono::Duration::seconds(1));
    live.http
        .post(url)
        .form(&[("organization", organization), ("email", email)])
        .send()
        .await
        .unwrap()
}

/// `f`'s status, checking nothing was written and nothing mailed.
async fn refused(live: &Live, f: impl std::future::Future<Output = reqwest::Response>) -> (u16, String) {
    let before = live.store.all_items().unwrap();
    let mails = live.mailer.messages().len();
    let r = f.await;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(live.store.all_items().unwrap(), before, "nothing written: {body}");
    assert_eq!(live.mailer.messages().len(), mails, "nothing mailed");
    (status, body)
}

#[tokio::test]
async fn a_client_onboards_itself_through_the_offer_and_the_partner_is_told() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", OWNER).await;
    let offer = new_offer(&live, &session).await;
    let url = offer["url"].as_str().unwrap().to_owned();
    assert_eq!((&offer["active"], &offer["uses"]), (&json!(true), &json!(0)));

    let page = live.get(&url).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Acme IT") && html.contains("Microsoft 365"), "{html}");

    let r = submit(&live, &url, "Northwind Traders", ADMIN_OF_CLIENT).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let start = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(start.contains("/authorize/") && start.ends_with("/start"), "{start}");
    assert!(
        live.mailer.to(ADMIN_OF_CLIENT).is_empty(),
        "nothing is mailed to a typed address"
    );

    // The same consent flow as an emailed link.
    let r = live.get(&start).await;
    assert_eq!(r.status(), 302);
    let consent = r.headers()["location"].to_str().unwrap().to_owned();
    let callback = live.consent_at(&consent, "accept").await;
    live.clock.advance(chrono::Duration::seconds(1));
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    assert!(
        r.headers()["location"].to_str().unwrap().contains("/authorize/done/"),
        "clients land on the setup page"
    );

    let (_, accounts) = live.api(Method::GET, "/v1/accounts", &session, None).await;
    let account = &accounts["items"][0];
    assert_eq!(
        (&account["status"], &account["managed_by"], &account["client_name"]),
        (&json!("active"), &json!("client"), &json!("Northwind Traders")),
        "{accounts}"
    );
    let (_, offers) = live.api(Method::GET, "/v1/offers", &session, None).await;
    assert_eq!(offers["items"][0]["uses"], 1, "{offers}");
    let told = live.mailer.to(OWNER);
    assert!(
        told.iter()
            .any(|m| m.subject == "Northwind Traders accepted your offer"),
        "{:?}",
        told.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let (_, log) = live.api(Method::GET, "/v1/audit", &session, None).await;
    let seen = actions(&log);
    for want in ["offer_created", "account_created", "consent_granted", "offer_accepted"] {
        assert!(seen.contains(&want.to_owned()), "{want} in {seen:?}");
    }
    let created = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "account_created")
        .unwrap();
    assert_eq!(
        created["actor"],
        json!({"kind": "client_admin", "email": ADMIN_OF_CLIENT})
    );

    // A later consent of the account (reauthorization) does not count the offer twice.
    let sk = format!("ACCOUNT#{}", account["id"].as_str().unwrap());
    let stored: onboarding::store::keys::AccountItem = live
        .store
        .all_items()
        .unwrap()
        .into_iter()
        .find(|i| i.key.sk == sk)
        .unwrap()
        .record()
        .unwrap();
    onboarding::repo::offers::accepted(&live.state, &stored).await.unwrap();
    let (_, offers) = live.api(Method::GET, "/v1/offers", &session, None).await;
    assert_eq!(offers["items"][0]["uses"], 1);
}

#[tokio::test]
async fn withdrawn_and_forged_offers_are_refused_and_change_nothing() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", OWNER).await;
    let offer = new_offer(&live, &session).await;
    let url = offer["url"].as_str().unwrap().to_owned();
    let id = offer["id"].as_str().unwrap();
    let (status, _) = live
        .api(Method::DELETE, &format!("/v1/offers/{id}"), &session, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = refused(&live, live.get(&url)).await;
    assert_eq!(status, 410);
    let (status, _) = refused(&live, submit(&live, &url, "Northwind", ADMIN_OF_CLIENT)).await;
    assert_eq!(status, 410);
    let forged = format!("{}/offer/{}", live.base, "A".repeat(43));
    let (status, _) = refused(&live, live.get(&forged)).await;
    assert_eq!(status, 410);
    let (status, _) = refused(&live, submit(&live, &forged, "Northwind", ADMIN_OF_CLIENT)).await;
    assert_eq!(status, 410);
    let (_, offers) = live.api(Method::GET, "/v1/offers", &session, None).await;
    assert_eq!(offers["items"][0]["active"], false);
}

#[tokio::test]
async fn an_offer_flooded_past_its_limit_answers_429_and_changes_nothing() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", OWNER).await;
    let url = new_offer(&live, &session).await["url"].as_str().unwrap().to_owned();
    // The limit's windows are fixed hours and each submit moves the clock a second: start at
    // the top of an hour, so the 21 starts fall in one window whatever the time of the run.
    use onboarding::clock::Clock as _;
    let into_hour = live.clock.now().timestamp().rem_euclid(3600);
    live.clock.advance(chrono::Duration::seconds(3600 - into_hour));
    for i in 0..20 {
        let r = submit(&live, &url, &format!("Client {i}"), &format!("it{i}@client.example")).await;
        assert_eq!(r.status(), 303, "start {i}");
    }
    let before = live.store.all_items().unwrap();
    let r = submit(&live, &url, "Client 21", "it21@client.example").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(live.store.all_items().unwrap(), before, "nothing written");
}

#[tokio::test]
async fn bad_organizations_are_refused_or_escaped_everywhere() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", OWNER).await;
    let url = new_offer(&live, &session).await["url"].as_str().unwrap().to_owned();
    for (org, email) in [
        ("Evil\r\nBcc: victim@example.com", ADMIN_OF_CLIENT),
        ("", ADMIN_OF_CLIENT),
        ("Northwind", "not an address"),
    ] {
        let (status, body) = refused(&live, submit(&live, &url, org, email)).await;
        assert_eq!(status, 422, "{org:?} {email:?}");
        assert!(body.contains("role=\"alert\""), "the form says what is wrong");
    }
    // HTML is kept as text and escaped in the page that shows it back.
    let (status, body) = refused(&live, submit(&live, &url, "<script>alert(1)</script>", "nope")).await;
    assert_eq!(status, 422);
    assert!(!body.contains("<script>alert(1)</script>"), "escaped: {body}");
    assert!(
        body.contains("&lt;script&gt;") || body.contains("&#60;script&#62;"),
        "kept as text: {body}"
    );
    // Through to consent, the partner's mail escapes it too.
    let r = submit(&live, &url, "<b>Bold</b> Corp", ADMIN_OF_CLIENT).await;
    assert_eq!(r.status(), 303);
    let start = r.headers()["location"].to_str().unwrap().to_owned();
    let consent = live.get(&start).await.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let callback = live.consent_at(&consent, "accept").await;
    assert_eq!(live.get(&callback).await.status(), 302);
    let mail = live
        .mailer
        .to(OWNER)
        .into_iter()
        .find(|m| m.subject.contains("accepted your offer"))
        .unwrap();
    assert!(!mail.html.contains("<b>Bold</b>"), "{}", mail.html);
    assert!(
        mail.html.contains("&lt;b&gt;Bold") || mail.html.contains("&#60;b&#62;Bold"),
        "{}",
        mail.html
    );
}

#[tokio::test]
async fn an_existing_clients_name_gets_a_new_client_never_the_existing_one() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", OWNER).await;
    let (status, existing) = live
        .api(Method::POST, "/v1/clients", &session, Some(json!({"name": "Contoso"})))
        .await;
    assert_eq!(status, 201);
    let url = new_offer(&live, &session).await["url"].as_str().unwrap().to_owned();
    let r = submit(&live, &url, "contoso", ADMIN_OF_CLIENT).await;
    assert_eq!(r.status(), 303);
    let (_, clients) = live.api(Method::GET, "/v1/clients", &session, None).await;
    let names: Vec<&str> = clients["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"contoso (2)"), "{names:?}");
    let (_, accounts) = live.api(Method::GET, "/v1/accounts", &session, None).await;
    assert_ne!(accounts["items"][0]["client_id"], existing["id"]);
}

#[tokio::test]
async fn unfinished_offer_accounts_are_removed_with_their_client_after_seven_days() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", OWNER).await;
    let url = new_offer(&live, &session).await["url"].as_str().unwrap().to_owned();
    assert_eq!(submit(&live, &url, "Northwind", ADMIN_OF_CLIENT).await.status(), 303);
    live.clock.advance(chrono::Duration::days(6));
    let (fanned, _) = live.tick().await;
    assert_eq!(fanned.due, 0);
    live.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    let (fanned, drained) = live.tick().await;
    assert_eq!((fanned.queued, drained.deleted), (1, 1), "{fanned:?} {drained:?}");
    let session = live.sign_in(OWNER).await;
    let (_, accounts) = live.api(Method::GET, "/v1/accounts", &session, None).await;
    assert_eq!(accounts["items"], json!([]), "{accounts}");
    let (_, clients) = live.api(Method::GET, "/v1/clients", &session, None).await;
    assert_eq!(clients["items"], json!([]), "{clients}");
    let (_, log) = live.api(Method::GET, "/v1/audit?limit=1", &session, None).await;
    assert_eq!(log["items"][0]["action"], "account_expired");
    // The name is free again.
    assert_eq!(submit(&live, &url, "Northwind", ADMIN_OF_CLIENT).await.status(), 303);
    let (_, clients) = live.api(Method::GET, "/v1/clients", &session, None).await;
    assert_eq!(clients["items"][0]["name"], "Northwind");
}

#[tokio::test]
async fn only_owners_and_admins_create_or_withdraw_offers_and_only_their_own() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", OWNER).await;
    let offer = new_offer(&live, &session).await;
    let rival = live.partner("Rival MSP", "boss@rival.example").await;
    let before = live.store.all_items().unwrap();
    let (status, _) = live
        .api(
            Method::DELETE,
            &format!("/v1/offers/{}", offer["id"].as_str().unwrap()),
            &rival,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, theirs) = live.api(Method::GET, "/v1/offers", &rival, None).await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(live.store.all_items().unwrap(), before);
    // A technician.
    let tech = live.colleague(&session, "tech@msp.example", "technician").await;
    let before = live.store.all_items().unwrap();
    let (status, body) = live
        .api(
            Method::POST,
            "/v1/offers",
            &tech,
            Some(json!({"platform": "microsoft365"})),
        )
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = live
        .api(
            Method::DELETE,
            &format!("/v1/offers/{}", offer["id"].as_str().unwrap()),
            &tech,
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(live.store.all_items().unwrap(), before, "nothing written");
    let (status, _) = live.api(Method::GET, "/v1/offers", &tech, None).await;
    assert_eq!(status, 200, "technicians read");
}
