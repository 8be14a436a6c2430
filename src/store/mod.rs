//! The store port: one DynamoDB-shaped table (`pk`/`sk`, one index `gsi1pk`/`gsi1sk`, an
//! expiry attribute, an optimistic-concurrency `version`). The single-table mapping is written
//! once above it, in [`keys`]; the adapters are [`dynamo::DynamoStore`] and
//! [`embedded::EmbeddedStore`] (redb on disk, or in memory for fast tests).
//!
//! Contract (tested on both adapters by `tests/store_contract.rs`):
//! - An item whose `expires_at` has passed is absent: `get` and queries skip it and
//!   `Condition::NotExists` holds for it (DynamoDB deletes expired items lazily, and DynamoDB
//!   Local never does, so the check is ours).
//! - Conditions are evaluated atomically with the write; a failed one writes nothing.
//! - `transact` is all-or-nothing.

pub mod dynamo;
#[cfg(feature = "local")]
pub mod embedded;
pub mod keys;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Attribute names the table itself uses; records must not use them.
pub const RESERVED: [&str; 6] = ["pk", "sk", "gsi1pk", "gsi1sk", "ttl", "version"];

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item: its key, optional index key, optional expiry (epoch seconds, stored as
/// DynamoDB's `ttl`), version, and its record's attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: Key,
    pub gsi1: Option<Key>,
    pub expires_at: Option<i64>,
    pub version: u64,
    pub attrs: Map<String, Value>,
}

impl Item {
    /// Builds an item from a serializable record (a struct serializing to a JSON object).
    pub fn from_record<T: Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        let attrs = match serde_json::to_value(record) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(StoreError::Corrupt("a record must serialize to an object".into())),
            Err(e) => return Err(StoreError::Corrupt(e.to_string())),
        };
        if let Some(bad) = RESERVED.iter().find(|r| attrs.contains_key(**r)) {
            return Err(StoreError::Corrupt(format!("record uses reserved attribute {bad}")));
        }
        Ok(Self {
            key,
            gsi1: None,
            expires_at: None,
            version: 1,
            attrs,
        })
    }

    /// This item with `record` as its new attributes: same key, index key and expiry, next
    /// version (write it with `Condition::VersionIs(self.version)`).
    pub fn next_version<T: Serialize>(&self, record: &T) -> Result<Self, StoreError> {
        let mut next = Self::from_record(self.key.clone(), record)?;
        next.gsi1 = self.gsi1.clone();
        next.expires_at = self.expires_at;
        next.version = self.version + 1;
        Ok(next)
    }

    pub fn with_gsi1(mut self, gsi1: Key) -> Self {
        self.gsi1 = Some(gsi1);
        self
    }

    pub fn expiring_at(mut self, epoch_seconds: i64) -> Self {
        self.expires_at = Some(epoch_seconds);
        self
    }

    /// Reads the record back; a stored item that does not fit is `Corrupt`, never a panic.
    pub fn record<T: serde::de::DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_value(Value::Object(self.attrs.clone()))
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", self.key.pk, self.key.sk)))
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// A write's precondition, evaluated atomically with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No live item at the key (an expired one counts as absent).
    NotExists,
    /// A live item at the key.
    Exists,
    /// A live item at the key with this version.
    VersionIs(u64),
}

/// Attribute changes applied by [`Store::update`]; the version is incremented.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Map<String, Value>,
    pub remove: Vec<String>,
}

impl Update {
    /// Sets attribute `name` to `value`; a value that cannot be serialized is an error (never
    /// a silent `null`).
    pub fn set(mut self, name: &str, value: impl Serialize) -> Result<Self, StoreError> {
        let value = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
        self.set.insert(name.to_owned(), value);
        Ok(self)
    }

    pub fn remove(mut self, name: &str) -> Self {
        self.remove.push(name.to_owned());
        self
    }
}

/// One write in a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Condition,
    },
    Update {
        key: Key,
        update: Update,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    Check {
        key: Key,
        condition: Condition,
    },
}

/// Where a query starts and how much it returns.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    pub limit: Option<usize>,
    /// Continue after this item (from a previous page's `next`).
    pub after: Option<Cursor>,
}

/// The position after the last item of a page (the item's keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub key: Key,
    pub gsi1: Option<Key>,
}

impl Cursor {
    /// The opaque form a listing hands its callers: the sort key of the page's last item,
    /// base64url.
    pub fn encode_sort_key(sk: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sk)
    }

    /// The sort key of an opaque position from [`Cursor::encode_sort_key`], when it is one
    /// under `prefix` (anything else is not a position of that listing).
    pub fn decode_sort_key(encoded: &str, prefix: &str) -> Option<String> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|sk| sk.starts_with(prefix))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("condition failed")]
    ConditionFailed,
    #[error("conflicting concurrent transaction")]
    Conflict,
    #[error("stored data does not fit: {0}")]
    Corrupt(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The live item at `key`, read consistently.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError>;
    /// Applies `update` to the item and increments its version; returns the new item.
    async fn update(&self, key: &Key, update: Update, condition: Condition) -> Result<Item, StoreError>;
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError>;
    /// Items of partition `pk` whose sort key starts with `sk_prefix`, ascending.
    async fn query(&self, pk: &str, sk_prefix: &str, options: QueryOptions) -> Result<Page, StoreError>;
    /// Items whose index key `gsi1pk` matches and `gsi1sk` starts with `sk_prefix` (eventually consistent).
    async fn query_index(&self, gsi1pk: &str, sk_prefix: &str, options: QueryOptions) -> Result<Page, StoreError>;
    /// The live items at `keys` (any number; read consistently, in batches), in no particular
    /// order; missing and expired ones are left out.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError>;
    /// All writes or none (at most 100 ops).
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Unconditional puts and deletes in batches; not atomic as a whole.
    async fn batch_write(&self, puts: Vec<Item>, deletes: Vec<Key>) -> Result<(), StoreError>;
}

/// Reads every item of partition `pk` under `sk_prefix`, `per_page` at a time, in key order:
/// `while let Some(items) = pages.next().await? { ... }`.
pub struct Pages<'a> {
    store: &'a dyn Store,
    pk: String,
    sk_prefix: &'a str,
    per_page: usize,
    after: Option<Cursor>,
    done: bool,
    /// `pk` is a GSI1 partition (its items in index order) rather than a table partition.
    index: bool,
}

impl<'a> Pages<'a> {
    pub fn new(store: &'a dyn Store, pk: impl Into<String>, sk_prefix: &'a str, per_page: usize) -> Self {
        Self {
            store,
            pk: pk.into(),
            sk_prefix,
            per_page,
            after: None,
            done: false,
            index: false,
        }
    }

    /// Reads the index partition `gsi1pk` under `sk_prefix` instead, in index order.
    pub fn on_index(store: &'a dyn Store, gsi1pk: impl Into<String>, sk_prefix: &'a str, per_page: usize) -> Self {
        Self {
            index: true,
            ..Self::new(store, gsi1pk, sk_prefix, per_page)
        }
    }

    /// Starts after `cursor` (a listing's position) instead of at the first item.
    pub fn starting_after(mut self, cursor: Option<Cursor>) -> Self {
        self.after = cursor;
        self
    }

    /// Whether the last page was read (after `next` answered it, before it answers `None`).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next page's items; `None` once the last page was read.
    pub async fn next(&mut self) -> Result<Option<Vec<Item>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let options = QueryOptions {
            limit: Some(self.per_page),
            after: self.after.take(),
        };
        let page = if self.index {
            self.store.query_index(&self.pk, self.sk_prefix, options).await?
        } else {
            self.store.query(&self.pk, self.sk_prefix, options).await?
        };
        self.done = page.next.is_none();
        self.after = page.next;
        Ok(Some(page.items))
    }
}
