//! Discovery and protection over real HTTP against the built-in sandbox (production Entra,
//! Graph and Google clients): Refresh, counts, listings, delta runs that write only changes,
//! consent health, seats, protection, auto-add and the schedule, with jobs on the in-process
//! queue run by the worker.

mod common;

use common::live::Live;
use onboarding::clock::Clock as _;
use onboarding_sandbox::{CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID, Faults};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashSet;

const MEMBER: &str = "owner@msp.example";

async fn setup(seats: u64) -> (Live, String, String) {
    let live = Live::start_with_seats(seats).await;
    let session = live.partner("Acme IT", MEMBER).await;
    let id = live.consented_microsoft(&session, "Contoso", CONTOSO_TENANT_ID).await;
    (live, session, id)
}

/// Presses Refresh, lets the worker run the queued jobs, then lets Refresh's once-a-minute
/// cooldown pass: `{"account": <after the run>, "run": <the last run>, "job": <Refresh's answer>}`.
async fn refresh(live: &Live, session: &str, id: &str) -> Value {
    let (status, body) = live
        .api(Method::POST, &format!("/v1/accounts/{id}/discovery"), session, None)
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["account"]["discovery"]["status"], "queued", "{body}");
    let drained = live.drain().await;
    live.clock.advance(chrono::Duration::seconds(60));
    json!({
        "job": body["job"],
        "account": account(live, session, id).await,
        "run": drained.runs.last().map(|r| serde_json::to_value(r).unwrap()),
    })
}

async fn account(live: &Live, session: &str, id: &str) -> Value {
    live.api(Method::GET, &format!("/v1/accounts/{id}"), session, None)
        .await
        .1
}

/// Every item of a listing, following `next_cursor`.
async fn all(live: &Live, session: &str, id: &str, kind: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/accounts/{id}/{kind}?limit=7&{query}&cursor={cursor}");
        let (status, page) = live.api(Method::GET, &path, session, None).await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return items,
        }
    }
}

#[tokio::test]
async fn refresh_discovers_everything_then_writes_only_changes() {
    let (live, session, id) = setup(1000).await;
    let before = account(&live, &session, &id).await;
    assert_eq!(
        before["discovery"]["status"], "queued",
        "just authorized: its first job is queued"
    );

    let body = refresh(&live, &session, &id).await;
    assert_eq!(body["run"]["outcome"], "done", "{body}");
    let d = &body["account"]["discovery"];
    assert_eq!(d["status"], "done");
    assert_eq!(
        (&d["users"], &d["groups"], &d["teams"], &d["sites"]),
        (&json!(25), &json!(6), &json!(2), &json!(4)),
        "the personal OneDrive site is not a site to protect: {d}"
    );

    let users = all(&live, &session, &id, "users", "").await;
    let ids: HashSet<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!((users.len(), ids.len()), (25, 25), "every user once across pages");
    assert_eq!(users.iter().filter(|u| u["enabled"] == false).count(), 1);
    let sites = all(&live, &session, &id, "sites", "").await;
    assert!(
        sites
            .iter()
            .all(|s| !s["url"].as_str().unwrap().contains("-my.sharepoint.com"))
    );
    assert_eq!(all(&live, &session, &id, "teams", "").await.len(), 2);

    // Unchanged tenant: nothing written.
    let again = refresh(&live, &session, &id).await;
    let writes: u64 = again["run"]["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["added"].as_u64().unwrap() + k["changed"].as_u64().unwrap() + k["removed"].as_u64().unwrap())
        .sum();
    assert_eq!(writes, 0, "{again}");
    let users_run = &again["run"]["kinds"][0];
    assert_eq!(
        (users_run["full"].as_bool(), users_run["pages"].as_u64()),
        (Some(false), Some(1))
    );

    // One added, one removed: two writes; the removed user stays listed, flagged.
    let added = live
        .sandbox
        .add_user(CONTOSO_TENANT_ID, "New Hire", "new.hire@contoso.onmicrosoft.com")
        .unwrap();
    let gone = users[0]["id"].as_str().unwrap().to_owned();
    live.sandbox.remove_user(CONTOSO_TENANT_ID, &gone);
    let changes = refresh(&live, &session, &id).await;
    let k = &changes["run"]["kinds"][0];
    assert_eq!((&k["added"], &k["removed"]), (&json!(1), &json!(1)), "{changes}");
    let d = &changes["account"]["discovery"];
    assert_eq!((&d["users"], &d["deleted"]["users"]), (&json!(25), &json!(1)));
    let deleted = all(&live, &session, &id, "users", "deleted=true").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["id"], gone.as_str());
    assert!(
        all(&live, &session, &id, "users", "deleted=false")
            .await
            .iter()
            .any(|u| u["id"] == added.as_str())
    );

    // A stale delta link (7 days): full resync, which writes nothing new.
    live.sandbox.expire_delta_tokens();
    let resync = refresh(&live, &session, &id).await;
    let k = &resync["run"]["kinds"][0];
    assert_eq!(k["full"], true, "{resync}");
    assert_eq!(
        (&k["added"], &k["changed"], &k["removed"]),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(resync["account"]["discovery"]["users"], 25);
}

#[tokio::test]
async fn refresh_is_refused_within_a_minute_without_calling_the_provider_or_writing() {
    let (live, session, id) = setup(1000).await;
    let path = format!("/v1/accounts/{id}/discovery");
    let (status, body) = live.api(Method::POST, &path, &session, None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["job"], "already_queued", "the first job was on its way: {body}");
    live.drain().await;
    // A user added meanwhile would be written by a second run: a refused one must not run.
    live.sandbox
        .add_user(CONTOSO_TENANT_ID, "New Hire", "new.hire@contoso.onmicrosoft.com")
        .unwrap();
    let snapshot = live.store.all_items().unwrap();
    let r = live
        .http
        .post(format!("{}{path}", live.base))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: i64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["code"], "rate_limited");
    assert_eq!(live.store.all_items().unwrap(), snapshot, "nothing written");
    assert_eq!(account(&live, &session, &id).await["discovery"]["users"], 25);
    // Once the minute is over, Refresh runs again and finds the new user.
    live.clock.advance(chrono::Duration::seconds(wait));
    assert_eq!(refresh(&live, &session, &id).await["account"]["discovery"]["users"], 26);
}

#[tokio::test]
async fn graph_failure_records_the_error_and_the_next_run_completes() {
    let (live, session, id) = setup(1000).await;
    live.sandbox.set_faults(Faults {
        graph_status: Some(500),
        ..Faults::default()
    });
    let failed = refresh(&live, &session, &id).await;
    assert_eq!(failed["run"]["outcome"], "failed", "{failed}");
    let d = &failed["account"]["discovery"];
    assert_eq!(d["status"], "failed");
    assert!(d["error"].as_str().unwrap().contains("users"), "{d}");
    assert_eq!(d["users"], 0, "nothing half-written");
    assert_eq!(
        failed["account"]["status"], "active",
        "a provider outage is not the tenant's fault"
    );

    live.sandbox.set_faults(Faults::default());
    let ok = refresh(&live, &session, &id).await;
    assert_eq!(ok["run"]["outcome"], "done", "{ok}");
    assert_eq!(ok["account"]["discovery"]["users"], 25);
    assert!(ok["account"]["discovery"]["error"].is_null());
    assert_eq!(all(&live, &session, &id, "users", "").await.len(), 25);
}

#[tokio::test]
async fn revoked_consent_flags_the_account_and_mails_the_partner_once() {
    let (live, session, id) = setup(1000).await;
    refresh(&live, &session, &id).await;
    let mails = live.mailer.to(MEMBER).len();
    live.sandbox.revoke_microsoft(CONTOSO_TENANT_ID);

    let body = refresh(&live, &session, &id).await;
    assert_eq!(body["run"]["outcome"], "revoked", "{body}");
    let a = &body["account"];
    assert_eq!(a["status"], "access_revoked");
    assert!(a["discovery"]["error"].as_str().unwrap().contains("refused"), "{a}");
    let sent = live.mailer.to(MEMBER);
    assert_eq!(sent.len(), mails + 1, "one email");
    assert!(sent.last().unwrap().subject.contains("revoked"));
    assert!(sent.last().unwrap().text.contains(&format!("/accounts/{id}")));

    // A revoked account is not discovered again (by Refresh or schedule); no second mail.
    let (status, err) = live
        .api(Method::POST, &format!("/v1/accounts/{id}/discovery"), &session, None)
        .await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("not_authorized")));
    live.clock.advance(chrono::Duration::days(1));
    let session = live.sign_in(MEMBER).await;
    let (fanned, drained) = live.tick().await;
    assert_eq!((fanned.due, drained.handled), (0, 0));
    assert_eq!(live.mailer.to(MEMBER).len(), mails + 1);
    // The audit log has it once, from the service, with the cause.
    let (_, log) = live
        .api(Method::GET, &format!("/v1/audit?account_id={id}"), &session, None)
        .await;
    let revoked: Vec<_> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "access_revoked")
        .collect();
    assert_eq!(revoked.len(), 1, "{log}");
    assert_eq!(revoked[0]["actor"], json!({"kind": "system"}));
    assert!(
        revoked[0]["detail"]["cause"].as_str().unwrap().contains("refused"),
        "{log}"
    );

    // Reauthorization: a consent URL; after the callback the account is active again.
    let (status, re) = live
        .api(
            Method::POST,
            &format!("/v1/accounts/{id}/reauthorization"),
            &session,
            None,
        )
        .await;
    assert_eq!(status, 200, "{re}");
    let callback = live
        .consent_at(re["authorization_url"].as_str().unwrap(), "accept")
        .await;
    let r = live.get(&callback).await;
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/accounts/{id}"))
    );
    assert_eq!(account(&live, &session, &id).await["status"], "active");
    assert_eq!(refresh(&live, &session, &id).await["run"]["outcome"], "done");
}

#[tokio::test]
async fn missing_roles_flag_reauthorization_and_skip_only_what_they_gate() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    let without_sites: Vec<String> = onboarding::identity::REQUIRED_MICROSOFT_ROLES
        .iter()
        .filter(|r| **r != "Sites.Read.All")
        .map(|r| (*r).to_owned())
        .collect();
    live.sandbox.set_faults(Faults {
        granted_roles: Some(without_sites),
        ..Faults::default()
    });
    let id = live.consented_microsoft(&session, "Contoso", CONTOSO_TENANT_ID).await;
    live.sandbox.set_faults(Faults::default());
    let body = refresh(&live, &session, &id).await;
    let a = &body["account"];
    assert_eq!(a["status"], "reauthorization_required", "{body}");
    assert_eq!(a["missing_permissions"], json!(["Sites.Read.All"]));
    assert_eq!(
        (&a["discovery"]["users"], &a["discovery"]["sites"]),
        (&json!(25), &json!(0))
    );

    // The admin grants the permission (outside the service): the next run sees it in a fresh
    // token, clears the flag and discovers the sites.
    let all_roles = onboarding::identity::REQUIRED_MICROSOFT_ROLES
        .iter()
        .map(|r| (*r).to_owned())
        .collect();
    live.sandbox.set_roles(CONTOSO_TENANT_ID, all_roles);
    let body = refresh(&live, &session, &id).await;
    let a = &body["account"];
    assert_eq!(a["status"], "active", "{body}");
    assert_eq!(a["missing_permissions"], json!([]));
    assert_eq!(a["discovery"]["sites"], 4);
}

#[tokio::test]
async fn the_services_own_secret_refused_alerts_and_leaves_the_tenant_alone() {
    let (live, session, id) = setup(1000).await;
    refresh(&live, &session, &id).await;
    live.sandbox.set_faults(Faults {
        client_secret_expired: true,
        ..Faults::default()
    });
    // The nightly check asks for a fresh token.
    live.clock.advance(chrono::Duration::hours(21));
    let session = live.sign_in(MEMBER).await;
    let mails = live.mailer.to(MEMBER).len();
    let body = refresh(&live, &session, &id).await;
    assert_eq!(body["run"]["outcome"], "app_credentials", "{body}");
    assert_eq!(body["account"]["status"], "active", "not the tenant's fault");
    assert_eq!(
        live.mailer.to(MEMBER).len(),
        mails,
        "partners are not mailed about our secret"
    );
}

#[tokio::test]
async fn protection_by_ids_and_all_within_the_seat_limit() {
    let (live, session, id) = setup(10).await;
    refresh(&live, &session, &id).await;
    let users = all(&live, &session, &id, "users", "").await;
    let pick: Vec<&str> = users.iter().take(3).map(|u| u["id"].as_str().unwrap()).collect();
    let protect = |body: Value| {
        let live = &live;
        let session = &session;
        let id = &id;
        async move {
            live.api(
                Method::POST,
                &format!("/v1/accounts/{id}/protection"),
                session,
                Some(body),
            )
            .await
        }
    };

    let (status, out) = protect(json!({"kind": "users", "ids": pick, "protected": true})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        (&out["changed"], &out["protected"], &out["seats"]),
        (&json!(3), &json!(3), &json!({"used": 3, "limit": 10}))
    );
    let protected = all(&live, &session, &id, "users", "protected=true").await;
    assert_eq!(protected.len(), 3);
    // Who-am-I shows the partner's seats too.
    let (status, me) = live.api(Method::GET, "/v1/me", &session, None).await;
    assert_eq!((status, &me["seats"]), (200, &json!({"used": 3, "limit": 10})), "{me}");
    // The audit log names who protected what, in the same transaction.
    let (_, log) = live
        .api(
            Method::GET,
            &format!("/v1/audit?account_id={id}&limit=1"),
            &session,
            None,
        )
        .await;
    let entry = &log["items"][0];
    assert_eq!(entry["action"], "protection_changed", "{log}");
    assert_eq!(
        (&entry["actor"]["email"], &entry["detail"]),
        (
            &json!(MEMBER),
            &json!({"kind": "users", "protected": true, "count": 3, "auto_add": false})
        ),
        "{log}"
    );
    // Again: nothing changes, no seat taken twice.
    let (_, out) = protect(json!({"kind": "users", "ids": pick, "protected": true})).await;
    assert_eq!((&out["changed"], &out["seats"]["used"]), (&json!(0), &json!(3)));

    // Protect All users (25) passes the limit (10): 409 and nothing written.
    let snapshot = live.store.all_items().unwrap();
    let (status, err) = protect(json!({"kind": "users", "all": true, "protected": true})).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("seat_limit")),
        "{err}"
    );
    assert_eq!(
        live.store.all_items().unwrap(),
        snapshot,
        "a refused protect writes nothing"
    );

    // Unknown IDs, another kind's IDs, groups, bad shapes: refused, nothing written.
    for (body, want) in [
        (
            json!({"kind": "users", "ids": [pick[0], "no-such-user"], "protected": true}),
            404,
        ),
        (json!({"kind": "sites", "ids": [pick[0]], "protected": true}), 404),
        (json!({"kind": "groups", "all": true, "protected": true}), 422),
        (
            json!({"kind": "users", "ids": [pick[0]], "all": true, "protected": true}),
            422,
        ),
        (json!({"kind": "users", "ids": [], "protected": true}), 422),
        (json!({"kind": "users", "protected": true}), 422),
        (json!({"kind": "users", "all": true}), 422),
    ] {
        let (status, err) = protect(body.clone()).await;
        assert_eq!(status, want, "{body}: {err}");
        assert_eq!(live.store.all_items().unwrap(), snapshot, "{body} wrote something");
    }

    // Sites take no seats: Protect All sites.
    let (status, out) = protect(json!({"kind": "sites", "all": true, "protected": true})).await;
    assert_eq!(
        (status, &out["changed"], &out["seats"]["used"]),
        (200, &json!(4), &json!(3))
    );
    // Unprotecting gives seats back.
    let (_, out) = protect(json!({"kind": "users", "all": true, "protected": false})).await;
    assert_eq!((&out["changed"], &out["seats"]["used"]), (&json!(3), &json!(0)));
    let a = account(&live, &session, &id).await;
    assert_eq!(a["discovery"]["protected"], json!({"users": 0, "teams": 0, "sites": 4}));

    // Another partner cannot see or touch this account's objects.
    let other = live.partner("Other MSP", "other@msp2.example").await;
    let (status, _) = live
        .api(
            Method::POST,
            &format!("/v1/accounts/{id}/protection"),
            &other,
            Some(json!({"kind": "users", "ids": pick, "protected": true})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = live
        .api(Method::GET, &format!("/v1/accounts/{id}/users"), &other, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = live
        .api(Method::POST, &format!("/v1/accounts/{id}/discovery"), &other, None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn listings_refuse_bad_cursors_and_limits() {
    let (live, session, id) = setup(1000).await;
    refresh(&live, &session, &id).await;
    let other_kind_cursor = {
        let (_, page) = live
            .api(Method::GET, &format!("/v1/accounts/{id}/sites?limit=1"), &session, None)
            .await;
        page["next_cursor"].as_str().unwrap().to_owned()
    };
    // A page that ends exactly at the last object carries no cursor (no empty page to fetch).
    let (status, page) = live
        .api(Method::GET, &format!("/v1/accounts/{id}/sites?limit=4"), &session, None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 4, "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");
    for (query, want) in [
        (format!("cursor={other_kind_cursor}"), 422),
        ("cursor=not-base64!".to_owned(), 422),
        ("limit=0".to_owned(), 422),
        ("limit=501".to_owned(), 422),
        ("limit=abc".to_owned(), 400),
        ("protected=maybe".to_owned(), 400),
        ("color=red".to_owned(), 400),
    ] {
        let (status, body) = live
            .api(Method::GET, &format!("/v1/accounts/{id}/users?{query}"), &session, None)
            .await;
        assert_eq!(status, want, "{query}: {body}");
        assert!(body["error"]["code"].is_string());
    }
    let (status, _) = live
        .api(
            Method::GET,
            "/v1/accounts/00000000-0000-4000-8000-000000000000/users",
            &session,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn auto_add_validates_its_time_and_protects_new_users_at_that_time() {
    let (live, session, id) = setup(20).await;
    refresh(&live, &session, &id).await;
    let path = format!("/v1/accounts/{id}/auto-add");
    for (body, field) in [
        (json!({"users": true, "timezone": "Mars/Olympus"}), "timezone"),
        (json!({"users": true, "run_at": "25:00"}), "run_at"),
        (json!({"users": true, "run_at": "8pm"}), "run_at"),
    ] {
        let snapshot = live.store.all_items().unwrap();
        let (status, err) = live.api(Method::PUT, &path, &session, Some(body.clone())).await;
        assert_eq!(
            (status, err["error"]["field"].as_str()),
            (422, Some(field)),
            "{body}: {err}"
        );
        assert_eq!(live.store.all_items().unwrap(), snapshot);
    }
    // Defaults: 20:00 Australia/Sydney.
    let (status, settings) = live
        .api(
            Method::PUT,
            &path,
            &session,
            Some(json!({"users": true, "sites": true})),
        )
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(
        (&settings["run_at"], &settings["timezone"]),
        (&json!("20:00"), &json!("Australia/Sydney"))
    );
    let next: chrono::DateTime<chrono::Utc> = settings["next_run_at"].as_str().unwrap().parse().unwrap();
    let local = next.with_timezone(&chrono_tz::Australia::Sydney);
    assert_eq!(local.format("%H:%M").to_string(), "20:00");
    // The first 20:00 Sydney after now, by the calendar (a day is 23 or 25 hours when the
    // clocks change): the 20:00 of the day before is not in the future.
    let day_before = local
        .date_naive()
        .pred_opt()
        .unwrap()
        .and_hms_opt(20, 0, 0)
        .unwrap()
        .and_local_timezone(chrono_tz::Australia::Sydney)
        .earliest()
        .unwrap();
    assert!(next > live.clock.now() && day_before <= live.clock.now(), "{next}");
    assert_eq!(
        account(&live, &session, &id).await["auto_add"]["next_run_at"],
        settings["next_run_at"]
    );

    // Before the time: the schedule protects nothing.
    live.tick().await;
    assert!(all(&live, &session, &id, "users", "protected=true").await.is_empty());
    // At the time: users up to the seats (20 of 25, the rest listed), every site.
    live.clock
        .advance(next + chrono::Duration::minutes(1) - live.clock.now());
    // Up to a day later, whatever the hour the test starts at: the session may have expired.
    let session = live.sign_in(MEMBER).await;
    let (fanned, drained) = live.tick().await;
    assert_eq!(
        (fanned.queued, drained.ran),
        (1, 1),
        "auto-add's time queues the account's job"
    );
    let a = account(&live, &session, &id).await;
    let result = &a["auto_add"]["last_result"];
    assert_eq!(
        (&result["protected"], &result["left_out"]),
        (&json!(24), &json!(5)),
        "{a}"
    );
    assert_eq!(result["left_out_ids"].as_array().unwrap().len(), 5);
    assert_eq!(
        a["discovery"]["protected"],
        json!({"users": 20, "teams": 0, "sites": 4})
    );
    let after: chrono::DateTime<chrono::Utc> = a["auto_add"]["next_run_at"].as_str().unwrap().parse().unwrap();
    let after_local = after.with_timezone(&chrono_tz::Australia::Sydney);
    assert_eq!(
        (after_local.date_naive(), after_local.format("%H:%M").to_string()),
        (local.date_naive().succ_opt().unwrap(), "20:00".to_owned()),
        "the next day's 20:00"
    );
    // In the audit log: the member's setting, then the service's protection (users, sites).
    let (_, log) = live
        .api(Method::GET, &format!("/v1/audit?account_id={id}"), &session, None)
        .await;
    let entries = log["items"].as_array().unwrap();
    let by = |action: &str| entries.iter().filter(|e| e["action"] == action).collect::<Vec<_>>();
    let set = by("auto_add_changed");
    assert_eq!(set.len(), 1, "{log}");
    assert_eq!(set[0]["actor"]["email"], MEMBER);
    assert_eq!(
        (&set[0]["detail"]["run_at"], &set[0]["detail"]["timezone"]),
        (&json!("20:00"), &json!("Australia/Sydney"))
    );
    let protected: u64 = by("protection_changed")
        .iter()
        .inspect(|e| assert_eq!(e["actor"], json!({"kind": "system"}), "{e}"))
        .map(|e| e["detail"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(protected, 24, "the entries count what auto-add protected: {log}");
}

#[tokio::test]
async fn just_authorized_accounts_are_discovered_without_refresh_then_on_schedule() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    let contoso = live.consented_microsoft(&session, "Contoso", CONTOSO_TENANT_ID).await;
    let fabrikam = live.consented_microsoft(&session, "Fabrikam", FABRIKAM_TENANT_ID).await;
    // A waiting account is not due.
    let (status, _) = live
        .api(Method::POST, "/v1/accounts", &session,
             Some(json!({"client_name": "Waiting", "platform": "microsoft365", "managed_by": "partner", "has_admin_credentials": true})))
        .await;
    assert_eq!(status, 201);

    // Consent queued each one's first job: the worker lists their users, no Refresh, no tick.
    let drained = live.drain().await;
    assert_eq!((drained.handled, drained.ran), (2, 2), "{drained:?}");
    assert_eq!(account(&live, &session, &contoso).await["discovery"]["users"], 25);
    assert_eq!(account(&live, &session, &fabrikam).await["discovery"]["users"], 8);

    // Nothing is due again before the interval (1 hour)...
    let (fanned, _) = live.tick().await;
    assert_eq!(fanned.due, 0);
    // ...and both are after it.
    live.clock.advance(chrono::Duration::minutes(61));
    let (fanned, drained) = live.tick().await;
    assert_eq!((fanned.due, fanned.queued, drained.ran), (2, 2, 2), "{fanned:?}");
    assert!(
        drained
            .runs
            .iter()
            .all(|r| r.outcome == onboarding::usecases::discovery::Outcome::Done)
    );
    // A tick while their jobs wait queues nothing more.
    live.clock.advance(chrono::Duration::minutes(61));
    let (first, _) = (onboarding::flows::schedule::fan_out(&live.state).await.unwrap(), ());
    let again = onboarding::flows::schedule::fan_out(&live.state).await.unwrap();
    assert_eq!((first.queued, again.due, again.queued), (2, 0, 0), "{again:?}");
}

#[tokio::test]
async fn google_workspace_users_are_discovered_with_the_stored_refresh_token() {
    let live = Live::start().await;
    let session = live.partner("Acme IT", MEMBER).await;
    let (status, acc) = live
        .api(
            Method::POST,
            "/v1/accounts",
            &session,
            Some(
                json!({"client_name": "Northwind", "platform": "google_workspace", "managed_by": "client",
                         "has_admin_credentials": false, "authorization_email": "admin@northwind.example",
                         "tenant": onboarding_sandbox::GOOGLE_DOMAIN}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{acc}");
    let id = acc["id"].as_str().unwrap();
    let link = live.link_to("admin@northwind.example");
    let callback = live.consent_via_link(&link, "accept").await;
    assert_eq!(live.get(&callback).await.status(), 302);

    let body = refresh(&live, &session, id).await;
    assert_eq!(body["run"]["outcome"], "done", "{body}");
    assert_eq!(body["account"]["discovery"]["users"], 10);
    let users = all(&live, &session, id, "users", "").await;
    assert_eq!(users.len(), 10);
    assert!(users.iter().all(|u| {
        u["email"]
            .as_str()
            .unwrap()
            .ends_with(onboarding_sandbox::GOOGLE_DOMAIN)
    }));
    let again = refresh(&live, &session, id).await;
    assert_eq!(
        again["run"]["kinds"][0]["added"], 0,
        "a full listing that changes nothing writes nothing"
    );

    // The grant withdrawn at Google: refresh answers invalid_grant, the account is revoked.
    live.sandbox.revoke_google();
    let body = refresh(&live, &session, id).await;
    assert_eq!(body["run"]["outcome"], "revoked", "{body}");
    assert_eq!(body["account"]["status"], "access_revoked");
}

#[tokio::test]
async fn listings_search_names_and_emails_by_prefix_case_aside() {
    let (live, session, id) = setup(1000).await;
    live.drain().await;
    let (_, all) = live
        .api(
            Method::GET,
            &format!("/v1/accounts/{id}/users?limit=500"),
            &session,
            None,
        )
        .await;
    let all = all["items"].as_array().unwrap().clone();
    let name = all[3]["name"].as_str().unwrap().to_owned();
    let word = name.split_whitespace().last().unwrap().to_uppercase();
    let term: String = word.chars().take(3).collect();
    let (status, found) = live
        .api(
            Method::GET,
            &format!("/v1/accounts/{id}/users?q={term}"),
            &session,
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    let found = found["items"].as_array().unwrap();
    let expected = all
        .iter()
        .filter(|u| {
            let n = u["name"].as_str().unwrap().to_lowercase();
            let t = term.to_lowercase();
            n.starts_with(&t)
                || n.split_whitespace().any(|w| w.starts_with(&t))
                || u["email"].as_str().is_some_and(|e| e.to_lowercase().starts_with(&t))
        })
        .count();
    assert!(
        !found.is_empty() && found.len() == expected && found.len() < all.len(),
        "{term}: {found:?}"
    );
    let email = all[5]["email"].as_str().unwrap();
    let (_, by_email) = live
        .api(
            Method::GET,
            &format!("/v1/accounts/{id}/users?q={}", &email[..email.find('@').unwrap()]),
            &session,
            None,
        )
        .await;
    assert!(
        by_email["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["email"] == email),
        "{by_email}"
    );
    let (status, err) = live
        .api(
            Method::GET,
            &format!("/v1/accounts/{id}/users?q={}", "x".repeat(101)),
            &session,
            None,
        )
        .await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("q")), "{err}");
}

#[tokio::test]
async fn listings_go_in_name_order_when_asked_a_page_at_a_time() {
    let (live, session, id) = setup(1000).await;
    live.drain().await;
    for kind in ["users", "sites", "teams", "groups"] {
        let by_id = all(&live, &session, &id, kind, "").await;
        let by_name = all(&live, &session, &id, kind, "order=name").await;
        assert!(by_name.len() > 1 && by_name.len() == by_id.len(), "{kind}: each once");
        let names: Vec<String> = by_name
            .iter()
            .map(|o| o["name"].as_str().unwrap().to_lowercase())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{kind} in name order");
        let mut ids: Vec<&str> = by_name.iter().map(|o| o["id"].as_str().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), by_id.len(), "{kind}: no object twice");
    }
    // In name order, a search is a name prefix, found through the index, a page at a time.
    let users = all(&live, &session, &id, "users", "").await;
    let first = users[0]["name"].as_str().unwrap().to_owned();
    let prefix: String = first.to_uppercase().chars().take(4).collect();
    let found = all(
        &live,
        &session,
        &id,
        "users",
        &format!("order=name&q={}", prefix.replace(' ', "%20")),
    )
    .await;
    let expected: Vec<String> = {
        let mut e: Vec<String> = users
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .filter(|n| n.to_lowercase().starts_with(&prefix.to_lowercase()))
            .collect();
        e.sort_by_key(|n| n.to_lowercase());
        e
    };
    let got: Vec<String> = found.iter().map(|u| u["name"].as_str().unwrap().to_owned()).collect();
    assert!(
        !expected.is_empty() && got == expected,
        "{prefix}: {got:?} vs {expected:?}"
    );
    // A later word of a name is not a name prefix (the default order's search finds it).
    let word = first.split_whitespace().nth(1).expect("a name of two words").to_owned();
    assert!(
        !users.iter().any(|u| u["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .starts_with(&word.to_lowercase())),
        "{word} begins no name"
    );
    assert!(
        all(&live, &session, &id, "users", &format!("order=name&q={word}"))
            .await
            .is_empty()
    );
    assert!(
        !all(&live, &session, &id, "users", &format!("q={word}"))
            .await
            .is_empty()
    );
    // A cursor of one order is not a position of the other.
    let (_, page) = live
        .api(Method::GET, &format!("/v1/accounts/{id}/users?limit=2"), &session, None)
        .await;
    let id_cursor = page["next_cursor"].as_str().unwrap();
    let (status, err) = live
        .api(
            Method::GET,
            &format!("/v1/accounts/{id}/users?order=name&cursor={id_cursor}"),
            &session,
            None,
        )
        .await;
    assert_eq!((status, err["error"]["field"].as_str()), (422, Some("cursor")), "{err}");
    let (status, _) = live
        .api(
            Method::GET,
            &format!("/v1/accounts/{id}/users?order=size"),
            &session,
            None,
        )
        .await;
    assert_eq!(status, 400, "a query that does not parse is malformed");
}
