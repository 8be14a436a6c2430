//! Offboarding (api.md "Account lifecycle"): disabling stops discovery and auto-add, frees the
//! seats, releases the tenant and tells how to remove the app; the objects are deleted by the
//! scheduled work after the retention period; re-enabling needs a fresh consent. Refusals
//! write nothing.

mod common;

use common::live::Live;
use onboarding::store::Store as _;
use onboarding::store::keys;
use onboarding_sandbox::{CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID};
use reqwest::Method;
use serde_json::{Value, json};

const MEMBER: &str = "owner@msp.example";

/// A partner with Contoso consented, discovered (25 users) and every user protected.
async fn protected_contoso(live: &Live) -> (String, String) {
    let session = live.partner("Acme IT", MEMBER).await;
    let id = live.consented_microsoft(&session, "Contoso", CONTOSO_TENANT_ID).await;
    live.drain().await;
    let (status, body) = live
        .api(
            Method::POST,
            &format!("/v1/accounts/{id}/protection"),
            &session,
            Some(json!({"kind": "users", "all": true, "protected": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(seats_used(live, &session).await, 25);
    (session, id)
}

async fn seats_used(live: &Live, session: &str) -> u64 {
    let (_, me) = live.api(Method::GET, "/v1/me", session, None).await;
    me["seats"]["used"].as_u64().unwrap()
}

/// An account action, a second after the previous one (audit entries of one instant have no
/// order).
async fn act(live: &Live, session: &str, id: &str, what: &str) -> (u16, Value) {
    live.clock.advance(chrono::Duration::seconds(1));
    live.api(Method::POST, &format!("/v1/accounts/{id}/{what}"), session, None)
        .await
}

fn partner_of(live: &Live, id: &str) -> onboarding::domain::PartnerId {
    let sk = format!("ACCOUNT#{id}");
    let item = live
        .store
        .all_items()
        .unwrap()
        .into_iter()
        .find(|i| i.key.sk == sk)
        .unwrap();
    item.record::<keys::AccountItem>().unwrap().partner_id
}

fn objects(live: &Live, id: &str) -> usize {
    let partition = format!("ACCOUNT#{id}");
    live.store
        .all_items()
        .unwrap()
        .iter()
        .filter(|i| i.key.pk == partition)
        .count()
}

#[tokio::test]
async fn disabling_frees_seats_releases_the_tenant_and_says_how_to_remove_the_app() {
    let live = Live::start().await;
    let (session, id) = protected_contoso(&live).await;
    let owner = keys::tenant_owner(onboarding::domain::Platform::Microsoft365, CONTOSO_TENANT_ID);
    assert!(live.store.get(&owner).await.unwrap().is_some());

    live.clock.advance(chrono::Duration::seconds(1));
    let (status, acc) = act(&live, &session, &id, "disable").await;
    assert_eq!(status, 200, "{acc}");
    assert_eq!(acc["status"], "disabled");
    let off = &acc["offboarding"];
    assert_eq!(off["released_seats"], 25, "{acc}");
    assert_eq!(off["disabled_by"], MEMBER);
    let steps: Vec<&str> = off["remove_app_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(steps.iter().any(|s| s.contains("Enterprise applications")), "{steps:?}");
    assert_eq!(seats_used(&live, &session).await, 0, "the seats are freed");
    assert!(
        live.store.get(&owner).await.unwrap().is_none(),
        "the tenant is released"
    );
    let (_, log) = live.api(Method::GET, "/v1/audit?limit=1", &session, None).await;
    assert_eq!(log["items"][0]["action"], "account_disabled", "{log}");
    assert_eq!(log["items"][0]["detail"]["released_seats"], 25);

    // Disabling again changes nothing.
    let before = live.store.all_items().unwrap();
    let (status, again) = act(&live, &session, &id, "disable").await;
    assert_eq!((status, &again["status"]), (200, &json!("disabled")));
    assert_eq!(live.store.all_items().unwrap(), before, "idempotent: nothing written");

    // Protection and Refresh are refused, with nothing written.
    for (path, body) in [
        (
            "protection",
            Some(json!({"kind": "users", "all": true, "protected": false})),
        ),
        ("discovery", None),
    ] {
        let (status, answer) = live
            .api(Method::POST, &format!("/v1/accounts/{id}/{path}"), &session, body)
            .await;
        assert_eq!(status, 409, "{path}: {answer}");
        assert_eq!(live.store.all_items().unwrap(), before, "{path}: nothing written");
    }

    // Another partner may now claim the tenant through a proven consent.
    let rival = live.partner("Rival MSP", "boss@rival.example").await;
    let claimed = live.consented_microsoft(&rival, "Contoso", CONTOSO_TENANT_ID).await;
    let (_, acc) = live
        .api(Method::GET, &format!("/v1/accounts/{claimed}"), &rival, None)
        .await;
    assert_eq!(acc["status"], "active", "{acc}");
}

#[tokio::test]
async fn a_disabled_accounts_jobs_fetch_nothing_and_its_objects_go_after_the_retention_period() {
    let live = Live::start().await;
    let (session, id) = protected_contoso(&live).await;
    // A Refresh queued before the disable: acknowledged, nothing fetched.
    live.clock.advance(chrono::Duration::seconds(61));
    let (status, _) = act(&live, &session, &id, "discovery").await;
    assert_eq!(status, 202);
    let (status, _) = act(&live, &session, &id, "disable").await;
    assert_eq!(status, 200);
    let drained = live.drain().await;
    assert_eq!(
        (drained.handled, drained.ran, drained.skipped),
        (1, 0, 1),
        "{drained:?}"
    );
    let stored = objects(&live, &id);
    assert!(stored >= 25, "{stored} objects kept during the retention period");

    // Within the period nothing is due; after it, the schedule deletes them.
    live.clock.advance(chrono::Duration::days(29));
    let (fanned, _) = live.tick().await;
    assert_eq!(fanned.due, 0, "{fanned:?}");
    assert_eq!(objects(&live, &id), stored);
    live.clock
        .advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    // A job out of time stops after one batch; the next tick goes on where it stopped.
    let fanned = onboarding::flows::schedule::fan_out(&live.state).await.unwrap();
    let drained = onboarding::flows::worker::drain(&live.state, std::time::Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((fanned.queued, drained.deleted), (1, 1), "{fanned:?} {drained:?}");
    let account_item = live
        .store
        .get(&keys::account(
            &partner_of(&live, &id),
            &onboarding::domain::AccountId::parse(&id).unwrap(),
        ))
        .await
        .unwrap()
        .unwrap();
    let record: keys::AccountItem = account_item.record().unwrap();
    assert!(
        record.offboarding.unwrap().deleted_at.is_none(),
        "not finished within no time"
    );
    let (fanned, drained) = live.tick().await;
    assert_eq!((fanned.queued, drained.deleted), (1, 1), "{fanned:?} {drained:?}");
    assert_eq!(
        objects(&live, &id),
        0,
        "every discovered object and checkpoint is deleted"
    );
    let session = live.sign_in(MEMBER).await;
    let (_, acc) = live
        .api(Method::GET, &format!("/v1/accounts/{id}"), &session, None)
        .await;
    assert!(acc["offboarding"]["deleted_at"].is_string(), "{acc}");
    assert_eq!(acc["discovery"]["users"], 0, "{acc}");
    // And it is not scheduled again.
    live.clock.advance(chrono::Duration::days(1));
    let (fanned, _) = live.tick().await;
    assert_eq!(fanned.due, 0);
}

#[tokio::test]
async fn enabling_needs_a_fresh_consent_and_takes_the_seats_again() {
    let live = Live::start().await;
    let (session, id) = protected_contoso(&live).await;
    act(&live, &session, &id, "disable").await;
    let mails = live.mailer.messages().len();
    let (status, acc) = act(&live, &session, &id, "enable").await;
    assert_eq!(status, 200, "{acc}");
    assert_eq!(acc["status"], "waiting_for_authorization");
    assert!(acc.get("offboarding").is_none(), "{acc}");
    assert_eq!(live.mailer.messages().len(), mails + 1, "a fresh link is mailed");
    assert_eq!(
        seats_used(&live, &session).await,
        25,
        "its protected users take their seats again"
    );
    // The fresh link's consent activates it again, bound to the same tenant.
    let link = live.link_to(acc["authorization"]["sent_to"].as_str().unwrap());
    let callback = live.consent_via_link(&link, "accept").await;
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let (_, acc) = live
        .api(Method::GET, &format!("/v1/accounts/{id}"), &session, None)
        .await;
    assert_eq!(
        (&acc["status"], &acc["tenant_id"]),
        (&json!("active"), &json!(CONTOSO_TENANT_ID))
    );
    let (_, log) = live.api(Method::GET, "/v1/audit?limit=20", &session, None).await;
    let seen = common::actions(&log);
    assert!(seen.contains(&"account_enabled".to_owned()), "{seen:?}");
}

#[tokio::test]
async fn refused_lifecycle_requests_write_nothing_and_send_nothing() {
    let live = Live::start_with_seats(30).await;
    let (session, id) = protected_contoso(&live).await;
    let rival = live.partner("Rival MSP", "boss@rival.example").await;
    let fabrikam = live.consented_microsoft(&session, "Fabrikam", FABRIKAM_TENANT_ID).await;
    live.drain().await;
    let check = |what: &'static str| {
        let before = live.store.all_items().unwrap();
        let mails = live.mailer.messages().len();
        move |live: &Live, status: u16, got: u16, body: &Value| {
            assert_eq!(got, status, "{what}: {body}");
            assert_eq!(live.store.all_items().unwrap(), before, "{what}: nothing written");
            assert_eq!(live.mailer.messages().len(), mails, "{what}: nothing sent");
        }
    };
    // Another partner's account: 404 for both.
    for what in ["disable", "enable"] {
        let done = check(what);
        let (got, body) = act(&live, &rival, &id, what).await;
        done(&live, 404, got, &body);
    }
    // Enabling an account that is not disabled.
    let done = check("enable active");
    let (got, body) = act(&live, &session, &id, "enable").await;
    done(&live, 409, got, &body);
    // Re-enabling past the seat limit: Contoso's 25 seats are freed, Fabrikam takes 8 of 30.
    act(&live, &session, &id, "disable").await;
    let (status, _) = live
        .api(
            Method::POST,
            &format!("/v1/accounts/{fabrikam}/protection"),
            &session,
            Some(json!({"kind": "users", "all": true, "protected": true})),
        )
        .await;
    assert_eq!(status, 200);
    let done = check("enable over the seat limit");
    let (got, body) = act(&live, &session, &id, "enable").await;
    assert_eq!(body["error"]["code"], "seat_limit", "{body}");
    done(&live, 409, got, &body);
}

#[tokio::test]
async fn a_technician_cannot_disable_or_enable() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    let id = live.consented_microsoft(&session, "Contoso", CONTOSO_TENANT_ID).await;
    let tech = live.colleague(&session, "tech@msp.example", "technician").await;
    for what in ["disable", "enable"] {
        let before = live.store.all_items().unwrap();
        let (status, body) = act(&live, &tech, &id, what).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{what}"
        );
        assert_eq!(live.store.all_items().unwrap(), before, "{what}: nothing written");
    }
}

/// Disabling, releasing the tenant and the batched deletion, and an offer's link, on DynamoDB
/// Local (the deletion reads a whole partition: no sort-key condition there).
#[tokio::test]
async fn offboarding_and_offers_work_on_dynamodb_local() {
    use axum::http::{Method, StatusCode};
    use common::{TestApp, call, confirm, dynamo_store, last_code, sign_up};
    use onboarding::store::{Condition, Item};
    let clock = std::sync::Arc::new(onboarding::clock::ManualClock::default());
    let dynamo = dynamo_store(clock.clone()).await;
    let app = TestApp::with_services(|mut s| {
        s.store = dynamo.clone();
        s.clock = clock.clone();
        s
    });
    assert_eq!(sign_up(&app, "Acme IT", MEMBER).await.status, StatusCode::ACCEPTED);
    let confirmed = confirm(&app, MEMBER, &last_code(&app, MEMBER)).await.json();
    let token = confirmed["token"].as_str().unwrap().to_owned();
    let partner = onboarding::domain::PartnerId::parse(confirmed["partner_id"].as_str().unwrap()).unwrap();
    let now = onboarding::clock::Clock::now(clock.as_ref());
    let id = onboarding_test_support::fixtures::seed_account(
        dynamo.as_ref(),
        &partner,
        keys::AccountStatus::Active,
        CONTOSO_TENANT_ID,
        now,
    )
    .await
    .unwrap();
    let owner_key = keys::tenant_owner(onboarding::domain::Platform::Microsoft365, CONTOSO_TENANT_ID);
    let owner = keys::TenantOwnerItem {
        partner_id: partner.clone(),
        account_id: id.clone(),
        since: now,
    };
    dynamo
        .put(
            Item::from_record(owner_key.clone(), &owner).unwrap(),
            Condition::NotExists,
        )
        .await
        .unwrap();
    let objects: Vec<Item> = (0..60)
        .map(|i| {
            Item::from_record(
                onboarding::store::Key::new(keys::account_partition(&id), format!("USER#u{i:03}")),
                &json!({ "i": i }),
            )
            .unwrap()
        })
        .collect();
    for chunk in objects.chunks(25) {
        dynamo.batch_write(chunk.to_vec(), Vec::new()).await.unwrap();
    }

    let a = call(
        &app,
        Method::POST,
        &format!("/v1/accounts/{id}/disable"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert!(
        dynamo.get(&owner_key).await.unwrap().is_none(),
        "the tenant is released"
    );
    clock.advance(chrono::Duration::days(31));
    let fanned = onboarding::flows::schedule::fan_out(&app.state).await.unwrap();
    let drained = onboarding::flows::worker::drain(&app.state, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((fanned.queued, drained.deleted), (1, 1), "{fanned:?} {drained:?}");
    let left = dynamo
        .query(&keys::account_partition(&id), "", Default::default())
        .await
        .unwrap();
    assert!(left.items.is_empty(), "{} objects left", left.items.len());

    // An offer's link answers, then 410 once withdrawn.
    let token = {
        let signed = call(
            &app,
            Method::POST,
            "/v1/sessions",
            Some(json!({"email": MEMBER, "password": common::PASSWORD}).to_string()),
            None,
        )
        .await;
        signed.json()["token"].as_str().unwrap().to_owned()
    };
    let offer = call(
        &app,
        Method::POST,
        "/v1/offers",
        Some(json!({"platform": "microsoft365"}).to_string()),
        Some(&token),
    )
    .await;
    assert_eq!(offer.status, StatusCode::CREATED, "{}", offer.text);
    let offer = offer.json();
    let path = offer["url"]
        .as_str()
        .unwrap()
        .strip_prefix(common::BASE)
        .unwrap()
        .to_owned();
    assert_eq!(call(&app, Method::GET, &path, None, None).await.status, StatusCode::OK);
    let id = offer["id"].as_str().unwrap();
    assert_eq!(
        call(&app, Method::DELETE, &format!("/v1/offers/{id}"), None, Some(&token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, Method::GET, &path, None, None).await.status,
        StatusCode::GONE
    );
}
