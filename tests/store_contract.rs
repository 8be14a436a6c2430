//! One contract for the store port, run on every adapter: embedded in memory, embedded on
//! disk (redb in a temporary directory), and DynamoDB (against DynamoDB Local, started by
//! `scripts/test`; a fresh randomly named table per test, created exactly as `cargo run`
//! creates it, so the tests run in parallel). Without DynamoDB Local the `dynamodb::*` tests
//! fail, never skip.
//!
//! Each contract test is an `async fn(Backend)` below; `contract!` instantiates every one of
//! them once per backend (`embedded_memory::round_trip`, `dynamodb::round_trip`, ...).
//! Time is a [`ManualClock`]: expiry is tested by moving it, never by sleeping.

mod common;

use chrono::{Duration, Utc};
use onboarding::clock::{Clock, ManualClock};
use onboarding::store::dynamo::{DynamoStore, create_table_if_missing};
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::{Condition, Item, Key, Page, Pages, QueryOptions, Store, StoreError, Update, WriteOp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Backends

struct Backend {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    /// Keeps the on-disk store's directory alive for the test.
    _dir: Option<tempfile::TempDir>,
}

/// The store's clock starts at the real time: DynamoDB Local deletes items whose `ttl` has
/// passed in real time, so a fixed date would turn "expires in 10 minutes" into "already gone"
/// once that date is behind us (it did, the day after it was written).
fn clock() -> Arc<ManualClock> {
    let now = Utc::now();
    Arc::new(ManualClock::new(
        now - Duration::nanoseconds(i64::from(now.timestamp_subsec_nanos())),
    ))
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
    // Panics (the test fails) when DynamoDB Local was not started.
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

impl Backend {
    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    async fn get(&self, pk: &str, sk: &str) -> Option<Item> {
        self.store.get(&Key::new(pk, sk)).await.unwrap()
    }

    /// The `n` attribute of the live item at `pk`/`sk`.
    async fn n(&self, pk: &str, sk: &str) -> Option<Value> {
        self.get(pk, sk).await.map(|i| i.attrs["n"].clone())
    }

    /// Every page of a query (or an index query) with page size `limit`.
    async fn pages(&self, index: bool, pk: &str, prefix: &str, limit: Option<usize>) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let options = QueryOptions { limit, after };
            let page = if index {
                self.store.query_index(pk, prefix, options).await.unwrap()
            } else {
                self.store.query(pk, prefix, options).await.unwrap()
            };
            after = page.next.clone();
            pages.push(page);
            assert!(pages.len() <= 100, "pagination ends");
            if after.is_none() {
                return pages;
            }
        }
    }

    /// The sort keys of every item a query (or an index query) returns, page after page.
    async fn all_sks(&self, index: bool, pk: &str, prefix: &str, limit: Option<usize>) -> Vec<String> {
        let pages = self.pages(index, pk, prefix, limit).await;
        if let Some(l) = limit {
            assert!(pages.iter().all(|p| p.items.len() <= l), "no page exceeds the limit");
        }
        pages
            .iter()
            .flat_map(|p| p.items.iter().map(|i| i.key.sk.clone()))
            .collect()
    }
}

fn item(pk: &str, sk: &str, n: i64) -> Item {
    Item::from_record(
        Key::new(pk, sk),
        &json!({"n": n, "name": format!("item {n}"), "nested": {"list": [1, 2, 3], "flag": true}, "none": null}),
    )
    .unwrap()
}

fn is_condition_failed(err: &StoreError) -> bool {
    matches!(err, StoreError::ConditionFailed) && err.to_string().contains("condition failed")
}

fn limit(l: usize) -> QueryOptions {
    QueryOptions {
        limit: Some(l),
        after: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The contract

/// Attributes of every JSON kind come back as they were stored.
async fn round_trip(b: Backend) {
    let attrs = json!({
        "name": "Contoso Ltd",
        "unicode": "Müller & Söhne — 東京 🚀",
        "empty": "",
        "digits": "007",
        "markup": "line 1\r\nline 2 \"quoted\" <b>bold</b> & 'single'",
        "int": 42,
        "negative": -17,
        "big": u64::MAX,
        "min": i64::MIN,
        "float": 0.25,
        "negative_float": -3.5,
        "yes": true,
        "no": false,
        "nothing": null,
        "nested": {
            "list": [1, "two", {"three": [3.5, null, false]}],
            "empty_list": [],
            "empty_map": {},
            "deep": {"a": {"b": {"c": "d"}}}
        }
    });
    let it = Item::from_record(Key::new("P#1", "A#1"), &attrs).unwrap();
    b.store.put(it.clone(), Condition::NotExists).await.unwrap();
    let got = b.get("P#1", "A#1").await.expect("stored");
    assert_eq!(Value::Object(got.attrs.clone()), attrs);
    assert_eq!(got.key, it.key);
    assert_eq!((got.gsi1, got.expires_at, got.version), (None, None, 1));
    assert!(b.get("P#1", "A#2").await.is_none(), "another sort key is absent");
    assert!(b.get("P#2", "A#1").await.is_none(), "another partition is absent");

    // A typed record, with an index key, an expiry and optional fields set, null and absent.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Tenant {
        name: String,
        seats: u32,
        price: f64,
        ratio: f64,
        contact: Option<String>,
        note: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        tags: Vec<String>,
        limits: BTreeMap<String, i64>,
    }
    let tenant = Tenant {
        name: "contoso.onmicrosoft.com".into(),
        seats: 250,
        price: 12.0,
        ratio: 0.125,
        contact: Some("it@contoso.example".into()),
        note: None,
        region: None,
        tags: vec!["m365".into(), "pilot".into()],
        limits: BTreeMap::from([("mailboxes".into(), 300), ("sites".into(), -1)]),
    };
    let expires = b.now() + 3600;
    let typed = Item::from_record(Key::new("P#1", "TENANT#1"), &tenant)
        .unwrap()
        .with_gsi1(Key::new("G#1", "TENANT#contoso"))
        .expiring_at(expires);
    b.store.put(typed, Condition::NotExists).await.unwrap();
    let got = b.get("P#1", "TENANT#1").await.expect("stored");
    assert_eq!(got.record::<Tenant>().unwrap(), tenant);
    assert_eq!(got.gsi1, Some(Key::new("G#1", "TENANT#contoso")));
    assert_eq!(got.expires_at, Some(expires));
    assert_eq!(got.attrs["note"], Value::Null, "None is stored as null");
    assert!(!got.attrs.contains_key("region"), "a skipped field stays absent");
    for reserved in ["pk", "sk", "gsi1pk", "gsi1sk", "ttl", "version"] {
        assert!(
            !got.attrs.contains_key(reserved),
            "{reserved} is not a record attribute"
        );
    }
}

/// A conditional put that fails reports `ConditionFailed` and writes nothing.
async fn conditional_put_conflicts(b: Backend) {
    b.store.put(item("P#1", "A#1", 1), Condition::NotExists).await.unwrap();
    let err = b
        .store
        .put(item("P#1", "A#1", 2), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(is_condition_failed(&err), "{err:?}");
    let kept = b.get("P#1", "A#1").await.unwrap();
    assert_eq!((kept.attrs["n"].clone(), kept.version), (json!(1), 1), "unchanged");

    let err = b.store.put(item("P#1", "A#9", 9), Condition::Exists).await.unwrap_err();
    assert!(is_condition_failed(&err), "{err:?}");
    assert!(
        b.get("P#1", "A#9").await.is_none(),
        "Exists on an absent key creates nothing"
    );

    let err = b
        .store
        .put(item("P#1", "A#1", 3), Condition::VersionIs(7))
        .await
        .unwrap_err();
    assert!(is_condition_failed(&err), "{err:?}");
    assert_eq!(b.n("P#1", "A#1").await, Some(json!(1)));

    b.store
        .put(item("P#1", "A#1", 4), Condition::VersionIs(1))
        .await
        .unwrap();
    assert_eq!(b.n("P#1", "A#1").await, Some(json!(4)));
    b.store.put(item("P#1", "A#1", 5), Condition::Exists).await.unwrap();
    b.store.put(item("P#1", "A#1", 6), Condition::Always).await.unwrap();
    assert_eq!(b.n("P#1", "A#1").await, Some(json!(6)));
}

/// Updates bump the version; a stale version loses and changes nothing; deletes honour
/// their condition.
async fn versioned_updates(b: Backend) {
    let key = Key::new("P#1", "A#1");
    b.store
        .put(
            item("P#1", "A#1", 1)
                .with_gsi1(Key::new("G#1", "A#1"))
                .expiring_at(b.now() + 600),
            Condition::NotExists,
        )
        .await
        .unwrap();
    let updated = b
        .store
        .update(
            &key,
            Update::default()
                .set("n", 2)
                .unwrap()
                .set("last-seen.at", json!({"when": "2026-11-24", "by": ["a", "b"]}))
                .unwrap()
                .remove("none"),
            Condition::VersionIs(1),
        )
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.attrs["n"], 2);
    assert_eq!(
        updated.attrs["last-seen.at"]["by"][1], "b",
        "names with dots and dashes are literal"
    );
    assert!(!updated.attrs.contains_key("none"));
    assert_eq!(updated.attrs["name"], "item 1", "untouched attributes stay");
    assert_eq!(updated.gsi1, Some(Key::new("G#1", "A#1")), "the index key stays");
    assert_eq!(updated.expires_at, Some(b.now() + 600), "the expiry stays");
    assert_eq!(
        b.get("P#1", "A#1").await.unwrap(),
        updated,
        "update answers the stored item"
    );

    let err = b
        .store
        .update(&key, Update::default().set("n", 3).unwrap(), Condition::VersionIs(1))
        .await
        .unwrap_err();
    assert!(is_condition_failed(&err), "a stale version loses: {err:?}");
    let now = b.get("P#1", "A#1").await.unwrap();
    assert_eq!(
        (now.version, now.attrs["n"].clone()),
        (2, json!(2)),
        "the loser changed nothing"
    );

    let third = b
        .store
        .update(&key, Update::default().set("n", 3).unwrap(), Condition::Always)
        .await
        .unwrap();
    assert_eq!(third.version, 3);
    let fourth = b
        .store
        .update(&key, Update::default(), Condition::Exists)
        .await
        .unwrap();
    assert_eq!(fourth.version, 4, "an empty update still bumps the version");

    let err = b.store.delete(&key, Condition::VersionIs(3)).await.unwrap_err();
    assert!(is_condition_failed(&err), "{err:?}");
    assert!(b.get("P#1", "A#1").await.is_some(), "a failed delete deletes nothing");
    let err = b.store.delete(&key, Condition::NotExists).await.unwrap_err();
    assert!(is_condition_failed(&err), "{err:?}");
    b.store.delete(&key, Condition::VersionIs(4)).await.unwrap();
    assert!(b.get("P#1", "A#1").await.is_none());
    assert!(
        b.all_sks(true, "G#1", "", None).await.is_empty(),
        "and its index entry is gone"
    );
}

/// Updates and conditional deletes need a live item; nothing is ever created by them.
async fn writes_on_absent_items(b: Backend) {
    let key = Key::new("P#1", "ABSENT");
    for condition in [
        Condition::Always,
        Condition::Exists,
        Condition::VersionIs(1),
        Condition::NotExists,
    ] {
        let err = b
            .store
            .update(&key, Update::default().set("n", 1).unwrap(), condition)
            .await
            .unwrap_err();
        assert!(
            is_condition_failed(&err),
            "update of an absent item with {condition:?}: {err:?}"
        );
    }
    for condition in [Condition::Exists, Condition::VersionIs(1)] {
        let err = b.store.delete(&key, condition).await.unwrap_err();
        assert!(
            is_condition_failed(&err),
            "delete of an absent item with {condition:?}: {err:?}"
        );
    }
    for condition in [Condition::Always, Condition::NotExists] {
        let err = b
            .store
            .transact(vec![WriteOp::Update {
                key: key.clone(),
                update: Update::default().set("n", 1).unwrap(),
                condition,
            }])
            .await
            .unwrap_err();
        assert!(
            is_condition_failed(&err),
            "transactional update of an absent item with {condition:?}: {err:?}"
        );
    }
    b.store.delete(&key, Condition::Always).await.unwrap();
    b.store.delete(&key, Condition::NotExists).await.unwrap();
    assert!(b.get("P#1", "ABSENT").await.is_none(), "nothing was created");
    assert!(b.all_sks(false, "P#1", "", None).await.is_empty());
}

/// Queries return one partition's items under a sort-key prefix, ascending by the bytes of the
/// sort key, page after page without gaps or duplicates.
async fn prefix_queries_page_in_order(b: Backend) {
    let mut puts: Vec<Item> = (0..30).map(|i| item("P#1", &format!("USER#{i:03}"), i)).collect();
    puts.reverse();
    puts.push(item("P#1", "SITE#001", 100));
    puts.push(item("P#1", "USER", 101));
    puts.push(item("P#1", "USERS#000", 102));
    puts.push(item("P#2", "USER#000", 200));
    b.store.batch_write(puts, vec![]).await.unwrap();

    let expected: Vec<String> = (0..30).map(|i| format!("USER#{i:03}")).collect();
    let pages = b.pages(false, "P#1", "USER#", Some(7)).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.items.len()).collect();
    assert_eq!(sizes, [7, 7, 7, 7, 2], "full pages, then the rest");
    let seen: Vec<String> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.key.sk.clone()))
        .collect();
    assert_eq!(seen, expected, "every item once, in sort-key order");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30, "no duplicates");
    assert!(pages.iter().flat_map(|p| &p.items).all(|i| i.key.pk == "P#1"));

    assert_eq!(
        b.all_sks(false, "P#1", "USER#", None).await,
        expected,
        "unpaged, the same"
    );
    assert_eq!(b.all_sks(false, "P#1", "USER#", Some(30)).await.len(), 30);
    assert_eq!(b.all_sks(false, "P#1", "USER#01", None).await.len(), 10);
    assert_eq!(b.all_sks(false, "P#1", "SITE#", None).await, ["SITE#001"]);
    assert_eq!(
        b.all_sks(false, "P#1", "", Some(4)).await.len(),
        33,
        "an empty prefix: the whole partition"
    );
    assert_eq!(b.all_sks(false, "P#2", "USER#", None).await, ["USER#000"]);
    assert!(b.all_sks(false, "P#3", "", None).await.is_empty());
    let first = b.store.query("P#1", "USER#", limit(1)).await.unwrap();
    assert_eq!(first.items[0].attrs["n"], 0, "the whole item comes back");

    // `Pages`, the reader the services use for whole partitions: the same pages, then `None`.
    let mut reader = Pages::new(b.store.as_ref(), "P#1", "USER#", 7);
    let mut read = Vec::new();
    while let Some(items) = reader.next().await.unwrap() {
        read.push(items.iter().map(|i| i.key.sk.clone()).collect::<Vec<_>>());
    }
    assert_eq!(read.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 7, 7, 2]);
    assert_eq!(read.concat(), expected);
    assert!(reader.next().await.unwrap().is_none(), "and stays done");

    // Byte order (DynamoDB's order for strings): digits < upper case < lower case < non-ASCII.
    let odd = ["K#é", "K#a", "K#~", "K#Z", "K#0", "K#B"];
    b.store
        .batch_write(odd.iter().map(|sk| item("P#9", sk, 0)).collect(), vec![])
        .await
        .unwrap();
    assert_eq!(
        b.all_sks(false, "P#9", "K#", Some(2)).await,
        ["K#0", "K#B", "K#Z", "K#a", "K#~", "K#é"]
    );
}

/// Expired items are skipped inside pages too: every page but the last is full.
async fn pagination_skips_expired_items(b: Backend) {
    let now = b.now();
    let puts: Vec<Item> = (0..12)
        .map(|i| {
            let it = item("P#1", &format!("T#{i:02}"), i).with_gsi1(Key::new("G#T", format!("T#{i:02}")));
            if i % 2 == 1 { it.expiring_at(now + 10) } else { it }
        })
        .collect();
    b.store.batch_write(puts, vec![]).await.unwrap();
    assert_eq!(b.all_sks(false, "P#1", "T#", Some(3)).await.len(), 12);
    b.clock.advance(Duration::seconds(10));
    let live: Vec<String> = (0..12).step_by(2).map(|i| format!("T#{i:02}")).collect();
    for index in [false, true] {
        let pk = if index { "G#T" } else { "P#1" };
        let pages = b.pages(index, pk, "T#", Some(4)).await;
        let seen: Vec<String> = pages
            .iter()
            .flat_map(|p| p.items.iter().map(|i| i.key.sk.clone()))
            .collect();
        assert_eq!(seen, live, "index: {index}");
        let (last, full) = pages.split_last().unwrap();
        assert!(full.iter().all(|p| p.items.len() == 4), "index: {index}");
        assert!(last.items.len() <= 4);
    }
}

/// Index queries: by index partition and sort-key prefix, whole items, paged.
async fn index_queries(b: Backend) {
    for (i, email) in ["a@x.example", "b@x.example", "c@y.example"].iter().enumerate() {
        let it = item("P#1", &format!("MEMBER#{email}"), i as i64).with_gsi1(Key::new("EMAIL", format!("E#{email}")));
        b.store.put(it, Condition::NotExists).await.unwrap();
    }
    b.store
        .put(item("P#1", "NOINDEX", 9), Condition::NotExists)
        .await
        .unwrap();
    b.store
        .put(
            item("P#2", "OTHER", 8).with_gsi1(Key::new("EMAIL2", "E#a@x.example")),
            Condition::NotExists,
        )
        .await
        .unwrap();

    let page = b
        .store
        .query_index("EMAIL", "E#b@", QueryOptions::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.next.is_none());
    let found = &page.items[0];
    assert_eq!(found.key, Key::new("P#1", "MEMBER#b@x.example"));
    assert_eq!(found.gsi1, Some(Key::new("EMAIL", "E#b@x.example")));
    assert_eq!(found.attrs["n"], 1, "the whole item comes back");
    assert_eq!(found.attrs["nested"]["list"], json!([1, 2, 3]));

    let all = b.store.query_index("EMAIL", "E#", limit(2)).await.unwrap();
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
    assert_eq!(
        b.all_sks(true, "EMAIL", "", Some(1)).await,
        ["MEMBER#a@x.example", "MEMBER#b@x.example", "MEMBER#c@y.example"]
    );
    assert!(b.all_sks(true, "EMAIL", "E#z", None).await.is_empty());
    assert!(b.all_sks(true, "NOINDEX", "", None).await.is_empty());

    // Index keys need not be unique: paging through equal ones still sees each item once.
    let same: Vec<Item> = (0..9)
        .map(|i| item(&format!("P#{i}"), "SAME", i).with_gsi1(Key::new("DUP", "D#1")))
        .collect();
    b.store.batch_write(same, vec![]).await.unwrap();
    let seen = b.pages(true, "DUP", "D#", Some(2)).await;
    let pks: Vec<String> = seen
        .iter()
        .flat_map(|p| p.items.iter().map(|i| i.key.pk.clone()))
        .collect();
    assert_eq!(pks.len(), 9, "{pks:?}");
    assert_eq!(pks.iter().collect::<HashSet<_>>().len(), 9, "no duplicates: {pks:?}");
}

/// The index follows every write: re-put under another index key, update, removal of the
/// index key, delete.
async fn index_follows_writes(b: Backend) {
    let key = Key::new("P#1", "A#1");
    b.store
        .put(
            item("P#1", "A#1", 1).with_gsi1(Key::new("G#A", "X#1")),
            Condition::NotExists,
        )
        .await
        .unwrap();
    assert_eq!(b.all_sks(true, "G#A", "X#", None).await, ["A#1"]);

    b.store
        .put(
            item("P#1", "A#1", 2).with_gsi1(Key::new("G#B", "Y#1")),
            Condition::VersionIs(1),
        )
        .await
        .unwrap();
    assert!(
        b.all_sks(true, "G#A", "", None).await.is_empty(),
        "the old index entry is gone"
    );
    assert_eq!(b.all_sks(true, "G#B", "Y#", None).await, ["A#1"]);

    b.store
        .update(&key, Update::default().set("n", 3).unwrap(), Condition::Exists)
        .await
        .unwrap();
    let page = b.store.query_index("G#B", "Y#", QueryOptions::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!((page.items[0].attrs["n"].clone(), page.items[0].version), (json!(3), 2));

    b.store.put(item("P#1", "A#1", 4), Condition::Exists).await.unwrap();
    assert!(
        b.all_sks(true, "G#B", "", None).await.is_empty(),
        "no index key, no entry"
    );

    b.store
        .put(
            item("P#1", "A#1", 5).with_gsi1(Key::new("G#C", "Z#1")),
            Condition::Always,
        )
        .await
        .unwrap();
    assert_eq!(b.all_sks(true, "G#C", "", None).await, ["A#1"]);
    // An unconditional put over an indexed item moves its index entry too.
    b.store
        .put(
            item("P#1", "A#1", 6).with_gsi1(Key::new("G#D", "W#1")),
            Condition::Always,
        )
        .await
        .unwrap();
    assert!(
        b.all_sks(true, "G#C", "", None).await.is_empty(),
        "the replaced entry is gone"
    );
    assert_eq!(b.all_sks(true, "G#D", "W#", None).await, ["A#1"]);
    b.store.put(item("P#1", "A#1", 7), Condition::Always).await.unwrap();
    assert!(
        b.all_sks(true, "G#D", "", None).await.is_empty(),
        "replaced without an index key"
    );
    b.store
        .put(
            item("P#1", "A#1", 8).with_gsi1(Key::new("G#C", "Z#1")),
            Condition::Always,
        )
        .await
        .unwrap();
    b.store.delete(&key, Condition::Exists).await.unwrap();
    assert!(
        b.all_sks(true, "G#C", "", None).await.is_empty(),
        "deleted, and off the index"
    );
}

/// A transaction with one failing condition applies none of its writes and says why.
async fn transactions_are_all_or_nothing(b: Backend) {
    b.store
        .put(item("P#1", "TAKEN", 0), Condition::NotExists)
        .await
        .unwrap();
    b.store.put(item("P#1", "GONE", 0), Condition::NotExists).await.unwrap();
    let writes = |last: WriteOp| {
        vec![
            WriteOp::Put {
                item: item("P#1", "NEW#1", 1).with_gsi1(Key::new("G#NEW", "N#1")),
                condition: Condition::NotExists,
            },
            WriteOp::Update {
                key: Key::new("P#1", "TAKEN"),
                update: Update::default().set("n", 5).unwrap(),
                condition: Condition::VersionIs(1),
            },
            WriteOp::Delete {
                key: Key::new("P#1", "GONE"),
                condition: Condition::Exists,
            },
            last,
        ]
    };
    let failing = [
        // A check on an absent key...
        WriteOp::Check {
            key: Key::new("P#1", "ABSENT"),
            condition: Condition::Exists,
        },
        // ...a put that needs an item where there is none...
        WriteOp::Put {
            item: item("P#1", "TAKEN2", 1),
            condition: Condition::Exists,
        },
        // ...a stale version.
        WriteOp::Update {
            key: Key::new("P#2", "OTHER"),
            update: Update::default().set("n", 1).unwrap(),
            condition: Condition::VersionIs(9),
        },
    ];
    b.store
        .put(item("P#2", "OTHER", 0), Condition::NotExists)
        .await
        .unwrap();
    for last in failing {
        let what = format!("{last:?}");
        let err = b.store.transact(writes(last)).await.unwrap_err();
        assert!(is_condition_failed(&err), "{what}: {err:?}");
        assert!(b.get("P#1", "NEW#1").await.is_none(), "{what}: nothing applied");
        assert!(
            b.all_sks(true, "G#NEW", "", None).await.is_empty(),
            "{what}: nor indexed"
        );
        let taken = b.get("P#1", "TAKEN").await.unwrap();
        assert_eq!((taken.version, taken.attrs["n"].clone()), (1, json!(0)), "{what}");
        assert!(b.get("P#1", "GONE").await.is_some(), "{what}: not deleted");
        assert!(b.get("P#1", "TAKEN2").await.is_none(), "{what}");
        assert_eq!(b.get("P#2", "OTHER").await.unwrap().version, 1, "{what}");
    }

    b.store
        .transact(writes(WriteOp::Check {
            key: Key::new("P#2", "OTHER"),
            condition: Condition::VersionIs(1),
        }))
        .await
        .unwrap();
    assert_eq!(b.n("P#1", "NEW#1").await, Some(json!(1)));
    assert_eq!(b.all_sks(true, "G#NEW", "N#", None).await, ["NEW#1"]);
    let taken = b.get("P#1", "TAKEN").await.unwrap();
    assert_eq!((taken.version, taken.attrs["n"].clone()), (2, json!(5)));
    assert!(b.get("P#1", "GONE").await.is_none());
    assert_eq!(
        b.get("P#2", "OTHER").await.unwrap().version,
        1,
        "a check writes nothing"
    );
}

/// Batches larger than DynamoDB's 25 writes per request all land.
async fn batch_writes_past_25(b: Backend) {
    let puts: Vec<Item> = (0..60)
        .map(|i| item("B#1", &format!("X#{i:03}"), i).with_gsi1(Key::new("G#B", format!("X#{i:03}"))))
        .collect();
    b.store.batch_write(puts, vec![]).await.unwrap();
    let expected: Vec<String> = (0..60).map(|i| format!("X#{i:03}")).collect();
    assert_eq!(b.all_sks(false, "B#1", "X#", None).await, expected);
    assert_eq!(b.all_sks(true, "G#B", "X#", Some(25)).await, expected);
    for i in [0, 24, 25, 26, 49, 50, 59] {
        assert_eq!(b.n("B#1", &format!("X#{i:03}")).await, Some(json!(i)));
    }

    let deletes: Vec<Key> = (0..40).map(|i| Key::new("B#1", format!("X#{i:03}"))).collect();
    b.store.batch_write(vec![item("B#1", "Y#1", 1)], deletes).await.unwrap();
    assert_eq!(b.all_sks(false, "B#1", "X#", None).await, expected[40..]);
    assert_eq!(b.all_sks(false, "B#1", "Y#", None).await, ["Y#1"]);
    b.store.batch_write(vec![], vec![]).await.unwrap();
}

/// Batch reads past DynamoDB's 100 keys per request: every live item once, missing and
/// expired ones left out, whole items back.
async fn batch_gets_past_100(b: Backend) {
    let now = b.now();
    let puts: Vec<Item> = (0..150)
        .map(|i| {
            let it = item("G#1", &format!("X#{i:03}"), i);
            if i == 7 { it.expiring_at(now + 10) } else { it }
        })
        .collect();
    b.store.batch_write(puts, vec![]).await.unwrap();
    b.clock.advance(Duration::seconds(10));
    let mut keys: Vec<Key> = (0..160).map(|i| Key::new("G#1", format!("X#{i:03}"))).collect();
    keys.push(Key::new("G#2", "X#000"));
    let got = b.store.batch_get(&keys).await.unwrap();
    let mut sks: Vec<String> = got.iter().map(|i| i.key.sk.clone()).collect();
    sks.sort();
    let expected: Vec<String> = (0..150).filter(|i| *i != 7).map(|i| format!("X#{i:03}")).collect();
    assert_eq!(sks, expected, "live items once; missing and expired ones absent");
    assert!(
        got.iter()
            .all(|i| i.attrs["n"] == json!(i.key.sk[2..].parse::<i64>().unwrap()))
    );
    assert!(b.store.batch_get(&[]).await.unwrap().is_empty());
}

/// An item whose expiry has passed (by the injected clock) is absent everywhere: get, query,
/// index, conditions; and a new item may take its key.
async fn expired_items_are_absent(b: Backend) {
    let now = b.now();
    let it = item("E#1", "A#1", 1)
        .with_gsi1(Key::new("G#E", "A#1"))
        .expiring_at(now + 60);
    b.store.put(it.clone(), Condition::NotExists).await.unwrap();
    b.store.put(item("E#1", "A#2", 2), Condition::NotExists).await.unwrap();
    assert!(b.get("E#1", "A#1").await.is_some());
    b.clock.advance(Duration::seconds(59));
    assert!(b.get("E#1", "A#1").await.is_some(), "alive until its expiry");
    let err = b
        .store
        .put(item("E#1", "A#1", 9), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(is_condition_failed(&err), "{err:?}");

    b.clock.advance(Duration::seconds(1));
    assert!(
        b.get("E#1", "A#1").await.is_none(),
        "expired at its expiry second: absent on get"
    );
    assert_eq!(b.all_sks(false, "E#1", "A#", None).await, ["A#2"], "and on query");
    assert!(b.all_sks(true, "G#E", "", None).await.is_empty(), "and on the index");

    for condition in [
        Condition::Exists,
        Condition::VersionIs(1),
        Condition::Always,
        Condition::NotExists,
    ] {
        let err = b
            .store
            .update(&it.key, Update::default().set("n", 2).unwrap(), condition)
            .await
            .unwrap_err();
        assert!(
            is_condition_failed(&err),
            "update of an expired item with {condition:?}: {err:?}"
        );
    }
    let err = b.store.delete(&it.key, Condition::Exists).await.unwrap_err();
    assert!(
        is_condition_failed(&err),
        "an expired item does not exist for conditions: {err:?}"
    );
    let err = b
        .store
        .transact(vec![WriteOp::Check {
            key: it.key.clone(),
            condition: Condition::VersionIs(1),
        }])
        .await
        .unwrap_err();
    assert!(is_condition_failed(&err), "{err:?}");
    assert!(b.get("E#1", "A#1").await.is_none(), "still absent");

    b.store
        .put(item("E#1", "A#1", 3), Condition::NotExists)
        .await
        .expect("a new item may take its place");
    let fresh = b.get("E#1", "A#1").await.unwrap();
    assert_eq!(
        (fresh.attrs["n"].clone(), fresh.version, fresh.expires_at),
        (json!(3), 1, None)
    );
    assert!(
        b.all_sks(true, "G#E", "", None).await.is_empty(),
        "the new item is not indexed"
    );
    assert_eq!(b.all_sks(false, "E#1", "A#", None).await, ["A#1", "A#2"]);

    // The same in a transaction, and a delete conditioned on absence.
    let other = item("E#2", "B#1", 1).expiring_at(b.now() + 5);
    b.store.put(other, Condition::NotExists).await.unwrap();
    b.clock.advance(Duration::seconds(5));
    b.store
        .delete(&Key::new("E#2", "B#1"), Condition::NotExists)
        .await
        .unwrap();
    b.store
        .put(item("E#2", "B#1", 2).expiring_at(b.now() + 1), Condition::Always)
        .await
        .unwrap();
    b.clock.advance(Duration::seconds(1));
    b.store
        .transact(vec![
            WriteOp::Check {
                key: Key::new("E#2", "B#1"),
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: item("E#2", "B#2", 3),
                condition: Condition::NotExists,
            },
        ])
        .await
        .unwrap();
    b.store
        .transact(vec![WriteOp::Put {
            item: item("E#2", "B#1", 4),
            condition: Condition::NotExists,
        }])
        .await
        .expect("a transaction may put over an expired item");
    assert_eq!(b.n("E#2", "B#1").await, Some(json!(4)));
}

/// `Pages::on_index` reads an index partition in index order (not the table's), a page at a
/// time, every item once, names sharing a prefix and `\u{1}`-ended sort keys included (the
/// discovered objects' name index).
async fn index_pages_read_in_index_order(b: Backend) {
    use onboarding::store::keys::name_sort_key;
    let names = [
        "Zoe",
        "adele vance 2",
        "Adele Vance",
        "bob",
        "Émile",
        "adele vance 10",
        "Carol",
    ];
    for (i, name) in names.iter().enumerate() {
        // Table order (by ID) differs from name order on purpose.
        let it = item("ACCOUNT#n", &format!("USER#{:02}", 99 - i), i as i64).with_gsi1(Key::new(
            "NAMES#n#users",
            name_sort_key(name, &format!("{:02}", 99 - i)),
        ));
        b.store.put(it, Condition::NotExists).await.unwrap();
    }
    let mut pages = Pages::on_index(b.store.as_ref(), "NAMES#n#users", "", 2);
    let mut order = Vec::new();
    while let Some(items) = pages.next().await.unwrap() {
        assert!(items.len() <= 2);
        order.extend(items.iter().map(|i| i.attrs["n"].as_i64().unwrap() as usize));
    }
    let read: Vec<&str> = order.iter().map(|&i| names[i]).collect();
    assert_eq!(
        read,
        [
            "Adele Vance",
            "adele vance 10",
            "adele vance 2",
            "bob",
            "Carol",
            "Zoe",
            "Émile"
        ],
        "name order (case aside), each once"
    );
}

macro_rules! contract {
    (backends: [$($backend:ident),* $(,)?], tests: $tests:tt) => {
        $( contract!(@backend $backend $tests); )*
    };
    (@backend $backend:ident [$($test:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::$backend().await).await
                }
            )*
        }
    };
}

contract!(
    backends: [embedded_memory, embedded_disk, dynamodb],
    tests: [
        round_trip,
        conditional_put_conflicts,
        versioned_updates,
        writes_on_absent_items,
        prefix_queries_page_in_order,
        pagination_skips_expired_items,
        index_queries,
        index_follows_writes,
        transactions_are_all_or_nothing,
        batch_writes_past_25,
        batch_gets_past_100,
        expired_items_are_absent,
        index_pages_read_in_index_order,
    ]
);

/// The on-disk store keeps everything across a drop and reopen of its file: items, versions,
/// index entries, expiries.
#[tokio::test]
async fn embedded_disk_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("store.redb");
    let clock = clock();
    let expires = clock.now().timestamp() + 60;
    {
        let store = EmbeddedStore::open(&path, clock.clone()).unwrap();
        store
            .put(
                item("P#1", "A#1", 42).with_gsi1(Key::new("G#1", "X#1")),
                Condition::NotExists,
            )
            .await
            .unwrap();
        store
            .update(
                &Key::new("P#1", "A#1"),
                Update::default().set("n", 43).unwrap(),
                Condition::VersionIs(1),
            )
            .await
            .unwrap();
        store
            .batch_write((0..30).map(|i| item("P#2", &format!("B#{i:02}"), i)).collect(), vec![])
            .await
            .unwrap();
        store
            .put(item("P#3", "T#1", 1).expiring_at(expires), Condition::NotExists)
            .await
            .unwrap();
        store.delete(&Key::new("P#2", "B#00"), Condition::Exists).await.unwrap();
    }
    let store = EmbeddedStore::open(&path, clock.clone()).unwrap();
    let a = store.get(&Key::new("P#1", "A#1")).await.unwrap().expect("survived");
    assert_eq!((a.attrs["n"].clone(), a.version), (json!(43), 2));
    let indexed = store.query_index("G#1", "X#", QueryOptions::default()).await.unwrap();
    assert_eq!(indexed.items, [a]);
    assert_eq!(
        store
            .query("P#2", "B#", QueryOptions::default())
            .await
            .unwrap()
            .items
            .len(),
        29
    );
    assert!(
        store.get(&Key::new("P#2", "B#00")).await.unwrap().is_none(),
        "the delete survived too"
    );
    let t = store.get(&Key::new("P#3", "T#1")).await.unwrap().unwrap();
    assert_eq!(t.expires_at, Some(expires));
    clock.advance(Duration::seconds(60));
    assert!(
        store.get(&Key::new("P#3", "T#1")).await.unwrap().is_none(),
        "and still expires"
    );
    drop(store);
    assert_eq!(
        EmbeddedStore::open(&path, clock).unwrap().all_items().unwrap().len(),
        31,
        "the expired item is still in the file (absent to reads, not deleted)"
    );
}
