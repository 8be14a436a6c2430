//! One contract for the store port, run on every adapter: embedded in memory, embedded on
//! disk (redb), and DynamoDB (against DynamoDB Local, started by `scripts/test`; a fresh
//! table per test, created exactly as `cargo run` creates it).

mod common;

use chrono::{Duration, TimeZone, Utc};
use onboarding::clock::{Clock, ManualClock};
use onboarding::store::dynamo::{DynamoStore, create_table_if_missing};
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::{Condition, Item, Key, QueryOptions, Store, StoreError, Update, WriteOp};
use serde_json::json;
use std::sync::Arc;

struct Backend {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    _dir: Option<tempfile::TempDir>,
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()))
}

async fn embedded_memory() -> Backend {
    let clock = clock();
    Backend {
        store: Arc::new(EmbeddedStore::in_memory(clock.clone())),
        clock,
        _dir: None,
    }
}

async fn embedded_disk() -> Backend {
    let clock = clock();
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("store.redb"), clock.clone()).unwrap();
    Backend {
        store: Arc::new(store),
        clock,
        _dir: Some(dir),
    }
}

async fn dynamodb() -> Backend {
    let endpoint = common::dynamodb_endpoint();
    let config = common::aws_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(endpoint)
            .build(),
    );
    let table = format!("contract-{}", uuid::Uuid::new_v4().simple());
    create_table_if_missing(&client, &table)
        .await
        .expect("table created in DynamoDB Local");
    let clock = clock();
    Backend {
        store: Arc::new(DynamoStore::new(client, table, clock.clone())),
        clock,
        _dir: None,
    }
}

fn item(pk: &str, sk: &str, n: i64) -> Item {
    Item::from_record(
        Key::new(pk, sk),
        &json!({"n": n, "name": format!("item {n}"), "nested": {"list": [1, 2, 3], "flag": true}, "none": null}),
    )
    .unwrap()
}

async fn round_trip(b: Backend) {
    let it = item("P#1", "A#1", 1)
        .with_gsi1(Key::new("G#1", "X#1"))
        .expiring_at(b.clock.now().timestamp() + 60);
    b.store.put(it.clone(), Condition::NotExists).await.unwrap();
    let got = b.store.get(&it.key).await.unwrap().expect("stored");
    assert_eq!(got.attrs, it.attrs);
    assert_eq!(got.gsi1, it.gsi1);
    assert_eq!(got.expires_at, it.expires_at);
    assert_eq!(got.version, 1);
    assert!(b.store.get(&Key::new("P#1", "A#2")).await.unwrap().is_none());
}

async fn conditional_put_conflicts(b: Backend) {
    let first = item("P#1", "A#1", 1);
    b.store.put(first.clone(), Condition::NotExists).await.unwrap();
    let err = b
        .store
        .put(item("P#1", "A#1", 2), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(
        b.store.get(&first.key).await.unwrap().unwrap().attrs["n"],
        1,
        "unchanged"
    );
    let err = b.store.put(item("P#1", "A#9", 9), Condition::Exists).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    assert!(b.store.get(&Key::new("P#1", "A#9")).await.unwrap().is_none());
    b.store.put(item("P#1", "A#1", 3), Condition::Always).await.unwrap();
    assert_eq!(b.store.get(&first.key).await.unwrap().unwrap().attrs["n"], 3);
}

async fn versioned_updates(b: Backend) {
    let key = Key::new("P#1", "A#1");
    b.store.put(item("P#1", "A#1", 1), Condition::NotExists).await.unwrap();
    let updated = b
        .store
        .update(
            &key,
            Update::default().set("n", 2).remove("none"),
            Condition::VersionIs(1),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.attrs["n"], 2);
    assert!(!updated.attrs.contains_key("none"));
    let err = b
        .store
        .update(&key, Update::default().set("n", 3), Condition::VersionIs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "a stale version loses");
    let now = b.store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.attrs["n"].clone()),
        (2, json!(2)),
        "the loser changed nothing"
    );
    let err = b.store.delete(&key, Condition::VersionIs(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed));
    b.store.delete(&key, Condition::VersionIs(2)).await.unwrap();
    assert!(b.store.get(&key).await.unwrap().is_none());
}

async fn prefix_queries_page_in_order(b: Backend) {
    let mut puts: Vec<Item> = (0..30).map(|i| item("P#1", &format!("USER#{i:03}"), i)).collect();
    puts.push(item("P#1", "SITE#001", 100));
    puts.push(item("P#2", "USER#000", 200));
    b.store.batch_write(puts, vec![]).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = b
            .store
            .query("P#1", "USER#", QueryOptions { limit: Some(7), after })
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|i| i.key.sk.clone()));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
        assert!(pages < 10, "pagination ends");
    }
    let expected: Vec<String> = (0..30).map(|i| format!("USER#{i:03}")).collect();
    assert_eq!(seen, expected, "every item once, in sort-key order");
    assert_eq!(
        b.store
            .query("P#1", "SITE#", QueryOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        b.store
            .query("P#1", "", QueryOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        31
    );
}

async fn index_queries(b: Backend) {
    for (i, email) in ["a@x.example", "b@x.example", "c@y.example"].iter().enumerate() {
        let it = item("P#1", &format!("MEMBER#{email}"), i as i64).with_gsi1(Key::new("EMAIL", format!("E#{email}")));
        b.store.put(it, Condition::NotExists).await.unwrap();
    }
    b.store
        .put(item("P#1", "NOINDEX", 9), Condition::NotExists)
        .await
        .unwrap();
    let page = b
        .store
        .query_index("EMAIL", "E#b@", QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].key.sk, "MEMBER#b@x.example");
    assert_eq!(page.items[0].attrs["n"], 1, "the whole item comes back");
    let all = b
        .store
        .query_index(
            "EMAIL",
            "E#",
            QueryOptions {
                limit: Some(2),
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 2);
    let rest = b
        .store
        .query_index(
            "EMAIL",
            "E#",
            QueryOptions {
                limit: Some(2),
                after: all.next,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].key.sk, "MEMBER#c@y.example");
}

async fn transactions_are_all_or_nothing(b: Backend) {
    b.store
        .put(item("P#1", "TAKEN", 0), Condition::NotExists)
        .await
        .unwrap();
    // One failing condition (a check on an absent key) sinks the whole transaction.
    let ops_failing = vec![
        WriteOp::Put {
            item: item("P#1", "NEW#1", 1),
            condition: Condition::NotExists,
        },
        WriteOp::Update {
            key: Key::new("P#1", "TAKEN"),
            update: Update::default().set("n", 5),
            condition: Condition::VersionIs(1),
        },
        WriteOp::Check {
            key: Key::new("P#1", "ABSENT"),
            condition: Condition::Exists,
        },
    ];
    let err = b.store.transact(ops_failing).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert!(
        b.store.get(&Key::new("P#1", "NEW#1")).await.unwrap().is_none(),
        "nothing applied"
    );
    assert_eq!(
        b.store.get(&Key::new("P#1", "TAKEN")).await.unwrap().unwrap().attrs["n"],
        0
    );

    let ok = vec![
        WriteOp::Put {
            item: item("P#1", "NEW#1", 1),
            condition: Condition::NotExists,
        },
        WriteOp::Update {
            key: Key::new("P#1", "TAKEN"),
            update: Update::default().set("n", 5),
            condition: Condition::VersionIs(1),
        },
        WriteOp::Delete {
            key: Key::new("P#1", "GONE"),
            condition: Condition::NotExists,
        },
    ];
    b.store.transact(ok).await.unwrap();
    assert!(b.store.get(&Key::new("P#1", "NEW#1")).await.unwrap().is_some());
    let taken = b.store.get(&Key::new("P#1", "TAKEN")).await.unwrap().unwrap();
    assert_eq!((taken.version, taken.attrs["n"].clone()), (2, json!(5)));
}

async fn batch_writes_past_25(b: Backend) {
    let puts: Vec<Item> = (0..60).map(|i| item("B#1", &format!("X#{i:03}"), i)).collect();
    b.store.batch_write(puts, vec![]).await.unwrap();
    assert_eq!(
        b.store
            .query("B#1", "X#", QueryOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        60
    );
    let deletes: Vec<Key> = (0..40).map(|i| Key::new("B#1", format!("X#{i:03}"))).collect();
    b.store.batch_write(vec![item("B#1", "Y#1", 1)], deletes).await.unwrap();
    assert_eq!(
        b.store
            .query("B#1", "X#", QueryOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        20
    );
    assert_eq!(
        b.store
            .query("B#1", "Y#", QueryOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn expired_items_are_absent(b: Backend) {
    let now = b.clock.now().timestamp();
    let it = item("E#1", "A#1", 1)
        .with_gsi1(Key::new("G#E", "A#1"))
        .expiring_at(now + 60);
    b.store.put(it.clone(), Condition::NotExists).await.unwrap();
    assert!(b.store.get(&it.key).await.unwrap().is_some());
    b.clock.advance(Duration::seconds(61));
    assert!(b.store.get(&it.key).await.unwrap().is_none(), "expired: absent on get");
    assert!(
        b.store
            .query("E#1", "A#", QueryOptions::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "and on query"
    );
    assert!(
        b.store
            .query_index("G#E", "A#", QueryOptions::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "and on the index"
    );
    let err = b
        .store
        .update(&it.key, Update::default().set("n", 2), Condition::Exists)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed),
        "an expired item does not exist for conditions"
    );
    b.store
        .put(item("E#1", "A#1", 2), Condition::NotExists)
        .await
        .expect("a new item may take its place");
    assert_eq!(b.store.get(&it.key).await.unwrap().unwrap().attrs["n"], 2);
}

macro_rules! contract {
    ($($backend:ident),*) => {
        $(
            mod $backend {
                #[tokio::test] async fn round_trip() { super::round_trip(super::$backend().await).await }
                #[tokio::test] async fn conditional_put_conflicts() { super::conditional_put_conflicts(super::$backend().await).await }
                #[tokio::test] async fn versioned_updates() { super::versioned_updates(super::$backend().await).await }
                #[tokio::test] async fn prefix_queries_page_in_order() { super::prefix_queries_page_in_order(super::$backend().await).await }
                #[tokio::test] async fn index_queries() { super::index_queries(super::$backend().await).await }
                #[tokio::test] async fn transactions_are_all_or_nothing() { super::transactions_are_all_or_nothing(super::$backend().await).await }
                #[tokio::test] async fn batch_writes_past_25() { super::batch_writes_past_25(super::$backend().await).await }
                #[tokio::test] async fn expired_items_are_absent() { super::expired_items_are_absent(super::$backend().await).await }
            }
        )*
    };
}

contract!(embedded_memory, embedded_disk, dynamodb);

#[tokio::test]
async fn the_embedded_store_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let clock = clock();
    {
        let store = EmbeddedStore::open(&path, clock.clone()).unwrap();
        store.put(item("P#1", "A#1", 42), Condition::NotExists).await.unwrap();
    }
    let store = EmbeddedStore::open(&path, clock).unwrap();
    assert_eq!(
        store.get(&Key::new("P#1", "A#1")).await.unwrap().unwrap().attrs["n"],
        42
    );
}
