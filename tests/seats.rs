//! Seats under concurrency: random protect / unprotect / protect-all / unprotect-all /
//! auto-add requests, run concurrently over two accounts of one partner, on the embedded store
//! and on DynamoDB Local, must always end with used seats == protected users, each account's
//! protected count == its protected objects, and never more than the limit.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use onboarding::clock::{Clock as _, ManualClock};
use onboarding::domain::{AccountId, PartnerId};
use onboarding::email::memory::MemoryMailer;
use onboarding::services::{AppState, Links, Services};
use onboarding::store::keys::{self, AccountItem, AccountStatus, DiscoveredItem, ObjectKind, SeatsItem};
use onboarding::store::{Condition, Item, Store, WriteOp};
use proptest::prelude::*;
use secrecy::SecretSlice;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

const LIMIT: u64 = 7;
const USERS: usize = 6;

struct Harness {
    state: AppState,
    store: Arc<dyn Store>,
    token: String,
    partner: PartnerId,
    accounts: Vec<AccountId>,
}

async fn req(
    state: &AppState,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let r = b
        .body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
        .unwrap();
    let res = onboarding::http::router(state.clone()).oneshot(r).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn harness(store: Arc<dyn Store>, clock: Arc<ManualClock>) -> Harness {
    let mailer = Arc::new(MemoryMailer::default());
    let state = Services::new(
        store.clone(),
        mailer.clone(),
        clock.clone(),
        SecretSlice::from(vec![9u8; 32]),
        Links {
            public_base_url: common::BASE.into(),
            console_url: format!("{}/console", common::BASE),
        },
    )
    .with_seat_limit(LIMIT)
    .into_state();
    let email = "owner@seats.example";
    let body = json!({"organization": "Seats IT", "email": email, "password": common::PASSWORD});
    assert_eq!(
        req(&state, Method::POST, "/v1/signup", Some(body), None).await.0,
        StatusCode::ACCEPTED
    );
    let code = common::code_in(&mailer.to(email).last().unwrap().text);
    let (status, s) = req(
        &state,
        Method::POST,
        "/v1/signup/confirm",
        Some(json!({"email": email, "code": code})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let token = s["token"].as_str().unwrap().to_owned();
    let (_, me) = req(&state, Method::GET, "/v1/me", None, Some(&token)).await;
    let partner = PartnerId::parse(me["partner"]["id"].as_str().unwrap()).unwrap();
    let now = clock.now();
    let mut accounts = Vec::new();
    for t in 0..2 {
        let tenant = format!("{t}0000000-0000-4000-8000-000000000000");
        let id = onboarding_test_support::fixtures::seed_account(
            store.as_ref(),
            &partner,
            AccountStatus::Active,
            &tenant,
            now,
        )
        .await
        .unwrap();
        for u in 0..USERS {
            let o = DiscoveredItem {
                id: format!("user-{u}"),
                name: format!("User {u}"),
                email: Some(format!("u{u}@t{t}.example")),
                url: None,
                enabled: true,
                protected: false,
                deleted: false,
                first_seen: now,
                last_seen: now,
                protected_at: None,
            };
            store
                .transact(vec![WriteOp::Put {
                    item: Item::from_record(keys::discovered(&id, ObjectKind::Users, &o.id), &o).unwrap(),
                    condition: Condition::NotExists,
                }])
                .await
                .unwrap();
        }
        let auto = json!({"users": true, "run_at": "20:00", "timezone": "Australia/Sydney"});
        let (status, v) = req(
            &state,
            Method::PUT,
            &format!("/v1/accounts/{id}/auto-add"),
            Some(auto),
            Some(&token),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        accounts.push(id);
    }
    Harness {
        state,
        store,
        token,
        partner,
        accounts,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Protect(usize, Vec<usize>),
    Unprotect(usize, Vec<usize>),
    ProtectAll(usize),
    UnprotectAll(usize),
    AutoAdd(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let ids = proptest::collection::vec(0..USERS, 1..4);
    prop_oneof![
        (0..2usize, ids.clone()).prop_map(|(a, i)| Op::Protect(a, i)),
        (0..2usize, ids).prop_map(|(a, i)| Op::Unprotect(a, i)),
        (0..2usize).prop_map(Op::ProtectAll),
        (0..2usize).prop_map(Op::UnprotectAll),
        (0..2usize).prop_map(Op::AutoAdd),
    ]
}

async fn run(h: &Harness, op: Op) {
    let protect = |a: usize, body: Value| {
        let path = format!("/v1/accounts/{}/protection", h.accounts[a]);
        async move {
            let (status, v) = req(&h.state, Method::POST, &path, Some(body), Some(&h.token)).await;
            assert!([StatusCode::OK, StatusCode::CONFLICT].contains(&status), "{status} {v}");
        }
    };
    let ids = |i: &[usize]| i.iter().map(|u| format!("user-{u}")).collect::<Vec<_>>();
    match op {
        Op::Protect(a, i) => protect(a, json!({"kind": "users", "ids": ids(&i), "protected": true})).await,
        Op::Unprotect(a, i) => protect(a, json!({"kind": "users", "ids": ids(&i), "protected": false})).await,
        Op::ProtectAll(a) => protect(a, json!({"kind": "users", "all": true, "protected": true})).await,
        Op::UnprotectAll(a) => protect(a, json!({"kind": "users", "all": true, "protected": false})).await,
        Op::AutoAdd(a) => {
            match onboarding::usecases::protection::run_auto_add(&h.state, &h.partner, &h.accounts[a]).await {
                Ok(_) | Err(onboarding::usecases::protection::ProtectionError::Conflict(_)) => {}
                Err(e) => panic!("auto-add: {e}"),
            }
        }
    }
}

/// Seats used == protected users; each account's count == its protected objects; ≤ limit.
async fn assert_consistent(h: &Harness) {
    let mut protected_total = 0;
    for id in &h.accounts {
        let items = h
            .store
            .query(
                &keys::account_partition(id),
                ObjectKind::Users.prefix(),
                onboarding::store::QueryOptions {
                    limit: Some(1000),
                    after: None,
                },
            )
            .await
            .unwrap()
            .items;
        let protected = items
            .iter()
            .filter(|i| i.record::<DiscoveredItem>().unwrap().protected)
            .count() as u64;
        let account: AccountItem = h
            .store
            .get(&keys::account(&h.partner, id))
            .await
            .unwrap()
            .unwrap()
            .record()
            .unwrap();
        assert_eq!(
            account.discovery.counts.of(ObjectKind::Users).protected,
            protected,
            "the account's count equals its protected objects"
        );
        protected_total += protected;
    }
    let used = h
        .store
        .get(&keys::seats(&h.partner))
        .await
        .unwrap()
        .map_or(0, |i| i.record::<SeatsItem>().unwrap().used);
    assert_eq!(used, protected_total, "seats used equal protected users");
    assert!(used <= LIMIT, "never above the limit: {used}");
}

fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

async fn scenario(store: Arc<dyn Store>, clock: Arc<ManualClock>, rounds: Vec<Vec<Op>>) {
    let h = harness(store, clock).await;
    for round in rounds {
        let mut set = Vec::new();
        for op in round {
            set.push(run(&h, op));
        }
        futures_util::future::join_all(set).await;
        assert_consistent(&h).await;
    }
}

fn rounds() -> impl Strategy<Value = Vec<Vec<Op>>> {
    proptest::collection::vec(proptest::collection::vec(op(), 2..6), 1..4)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn seats_equal_protected_users_on_the_embedded_store(rounds in rounds()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let clock = Arc::new(ManualClock::default());
            let store = Arc::new(onboarding::store::embedded::EmbeddedStore::in_memory(clock.clone()));
            scenario(store, clock, rounds).await;
        });
    }

    #[test]
    fn seats_equal_protected_users_on_dynamodb_local(rounds in rounds()) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let clock = Arc::new(ManualClock::default());
            let store = common::dynamo_store(clock.clone()).await;
            scenario(store, clock, rounds).await;
        });
    }
}

#[tokio::test]
async fn a_request_over_the_limit_changes_nothing() {
    let clock = Arc::new(ManualClock::default());
    let store = Arc::new(onboarding::store::embedded::EmbeddedStore::in_memory(clock.clone()));
    let h = harness(store.clone(), clock).await;
    let path = format!("/v1/accounts/{}/protection", h.accounts[0]);
    let (status, _) = req(
        &h.state,
        Method::POST,
        &path,
        Some(json!({"kind": "users", "all": true, "protected": true})),
        Some(&h.token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let before = store.all_items().unwrap();
    let path = format!("/v1/accounts/{}/protection", h.accounts[1]);
    let (status, v) = req(
        &h.state,
        Method::POST,
        &path,
        Some(json!({"kind": "users", "all": true, "protected": true})),
        Some(&h.token),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "seat_limit", "{v}");
    assert_eq!(store.all_items().unwrap(), before, "nothing changed");
    assert_consistent(&h).await;
}
