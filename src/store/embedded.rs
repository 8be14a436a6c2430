//! The embedded store: redb, on disk for `cargo run` (survives restarts) or in memory for fast
//! tests. Items are stored whole (JSON) under `(pk, sk)`; the index is a second table keyed
//! `(gsi1pk, gsi1sk, pk, sk)`. redb runs one write transaction at a time, which makes every
//! condition check atomic with its write.

use super::{Condition, Cursor, Item, Key, Page, QueryOptions, Store, StoreError, Update, WriteOp};
use crate::clock::Clock;
use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("gsi1");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    clock: Arc<dyn Clock>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// redb's page cache for an on-disk store.
const CACHE_BYTES: usize = 16 << 20;

impl EmbeddedStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(unavailable)?;
        }
        // A small page cache: the local store is small, and large discoveries stream through it.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(unavailable)?;
        Self::init(db, clock)
    }

    /// A store that lives in memory only.
    pub fn in_memory(clock: Arc<dyn Clock>) -> Self {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .expect("an in-memory database always opens");
        Self::init(db, clock).expect("an in-memory database always initializes")
    }

    fn init(db: Database, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let txn = db.begin_write().map_err(unavailable)?;
        txn.open_table(ITEMS).map_err(unavailable)?;
        txn.open_table(GSI1).map_err(unavailable)?;
        txn.commit().map_err(unavailable)?;
        Ok(Self {
            db: Arc::new(db),
            clock,
        })
    }

    /// Every stored item, expired ones included, in key order: for tests ("nothing was
    /// written") and local debugging. Not part of the port: production code never scans.
    pub fn all_items(&self) -> Result<Vec<Item>, StoreError> {
        let txn = self.db.begin_read().map_err(unavailable)?;
        let table = txn.open_table(ITEMS).map_err(unavailable)?;
        let mut items = Vec::new();
        for entry in table.iter().map_err(unavailable)? {
            let (_, v) = entry.map_err(unavailable)?;
            items.push(decode(v.value())?);
        }
        Ok(items)
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// Runs blocking redb work off the async executor.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database, i64) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        let now = self.now();
        tokio::task::spawn_blocking(move || f(&db, now))
            .await
            .map_err(unavailable)?
    }
}

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The two tables of a write transaction, opened once for all of its ops.
struct Tables<'t> {
    items: redb::Table<'t, (&'static str, &'static str), &'static [u8]>,
    gsi1: redb::Table<'t, (&'static str, &'static str, &'static str, &'static str), ()>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            items: txn.open_table(ITEMS).map_err(unavailable)?,
            gsi1: txn.open_table(GSI1).map_err(unavailable)?,
        })
    }

    fn read(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let found = self
            .items
            .get((key.pk.as_str(), key.sk.as_str()))
            .map_err(unavailable)?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Writes `item` whatever is stored at its key, dropping the replaced item's index entry.
    fn put(&mut self, item: &Item) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let replaced = self
            .items
            .insert((item.key.pk.as_str(), item.key.sk.as_str()), bytes.as_slice())
            .map_err(unavailable)?
            .map(|old| decode(old.value()))
            .transpose()?;
        if let Some(old) = replaced.filter(|old| old.gsi1.is_some() && old.gsi1 != item.gsi1) {
            self.remove_index(&old)?;
        }
        if let Some(g) = &item.gsi1 {
            self.gsi1
                .insert(
                    (g.pk.as_str(), g.sk.as_str(), item.key.pk.as_str(), item.key.sk.as_str()),
                    (),
                )
                .map_err(unavailable)?;
        }
        Ok(())
    }

    fn remove(&mut self, old: &Item) -> Result<(), StoreError> {
        self.items
            .remove((old.key.pk.as_str(), old.key.sk.as_str()))
            .map_err(unavailable)?;
        self.remove_index(old)
    }

    fn remove_index(&mut self, old: &Item) -> Result<(), StoreError> {
        if let Some(g) = &old.gsi1 {
            self.gsi1
                .remove((g.pk.as_str(), g.sk.as_str(), old.key.pk.as_str(), old.key.sk.as_str()))
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

/// Applies one op inside an open write transaction, checking its condition first. Returns
/// the updated item of an `Update` (what `update` answers); nothing for the others.
fn apply(t: &mut Tables<'_>, op: &WriteOp, now: i64) -> Result<Option<Item>, StoreError> {
    let key = match op {
        WriteOp::Put { item, .. } => &item.key,
        WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => key,
    };
    if let WriteOp::Put {
        item,
        condition: Condition::Always,
    } = op
    {
        // Unconditional: no read first; the replaced value (if any) comes back from the insert.
        return t.put(item).map(|_| None);
    }
    let current = t.read(key)?;
    let condition = match op {
        WriteOp::Put { condition, .. }
        | WriteOp::Update { condition, .. }
        | WriteOp::Delete { condition, .. }
        | WriteOp::Check { condition, .. } => *condition,
    };
    if !holds(condition, current.as_ref(), now) {
        return Err(StoreError::ConditionFailed);
    }
    match op {
        WriteOp::Put { item, .. } => t.put(item).map(|_| None),
        WriteOp::Update { update, .. } => {
            let Some(mut item) = current.filter(|i| !i.is_expired(now)) else {
                return Err(StoreError::ConditionFailed);
            };
            apply_update(&mut item, update);
            t.put(&item)?;
            Ok(Some(item))
        }
        WriteOp::Delete { .. } => match current {
            Some(old) => t.remove(&old).map(|_| None),
            None => Ok(None),
        },
        WriteOp::Check { .. } => Ok(None),
    }
}

/// Runs `ops` in one write transaction; any failure aborts all of them.
fn run(db: &Database, ops: &[WriteOp], now: i64) -> Result<Option<Item>, StoreError> {
    run_with(db, ops, now, Durability::Immediate)
}

fn run_with(db: &Database, ops: &[WriteOp], now: i64, durability: Durability) -> Result<Option<Item>, StoreError> {
    let mut txn = db.begin_write().map_err(unavailable)?;
    txn.set_durability(durability).map_err(unavailable)?;
    let mut last = None;
    let outcome = (|| {
        let mut tables = Tables::open(&txn)?;
        for op in ops {
            last = apply(&mut tables, op, now)?;
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => {
            txn.commit().map_err(unavailable)?;
            Ok(last)
        }
        Err(e) => {
            txn.abort().map_err(unavailable)?;
            Err(e)
        }
    }
}

fn page_of(mut items: Vec<Item>, limit: Option<usize>, index: bool) -> Page {
    let next = match limit {
        Some(l) if items.len() >= l => {
            items.truncate(l);
            items.last().map(|i| Cursor {
                key: i.key.clone(),
                gsi1: if index { i.gsi1.clone() } else { None },
            })
        }
        _ => None,
    };
    Page { items, next }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.blocking(move |db, now| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let found = table.get((key.pk.as_str(), key.sk.as_str())).map_err(unavailable)?;
            Ok(found
                .map(|v| decode(v.value()))
                .transpose()?
                .filter(|i| !i.is_expired(now)))
        })
        .await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.blocking(move |db, now| run(db, &[WriteOp::Put { item, condition }], now).map(|_| ()))
            .await
    }

    async fn update(&self, key: &Key, update: Update, condition: Condition) -> Result<Item, StoreError> {
        let op = WriteOp::Update {
            key: key.clone(),
            update,
            condition,
        };
        self.blocking(move |db, now| {
            run(db, &[op], now)?.ok_or_else(|| StoreError::Corrupt("update returned nothing".into()))
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        let op = WriteOp::Delete {
            key: key.clone(),
            condition,
        };
        self.blocking(move |db, now| run(db, &[op], now).map(|_| ())).await
    }

    async fn query(&self, pk: &str, sk_prefix: &str, options: QueryOptions) -> Result<Page, StoreError> {
        let (pk, prefix) = (pk.to_owned(), sk_prefix.to_owned());
        self.blocking(move |db, now| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let start = match &options.after {
                Some(c) => Bound::Excluded((pk.as_str(), c.key.sk.as_str())),
                None => Bound::Included((pk.as_str(), prefix.as_str())),
            };
            let mut items = Vec::new();
            for entry in table
                .range::<(&str, &str)>((start, Bound::Unbounded))
                .map_err(unavailable)?
            {
                let (k, v) = entry.map_err(unavailable)?;
                let (p, s) = k.value();
                if p != pk || !s.starts_with(prefix.as_str()) {
                    break;
                }
                let item = decode(v.value())?;
                if !item.is_expired(now) {
                    items.push(item);
                    if options.limit.is_some_and(|l| items.len() >= l) {
                        break;
                    }
                }
            }
            Ok(page_of(items, options.limit, false))
        })
        .await
    }

    async fn query_index(&self, gsi1pk: &str, sk_prefix: &str, options: QueryOptions) -> Result<Page, StoreError> {
        let (gpk, prefix) = (gsi1pk.to_owned(), sk_prefix.to_owned());
        self.blocking(move |db, now| {
            let txn = db.begin_read().map_err(unavailable)?;
            let index = txn.open_table(GSI1).map_err(unavailable)?;
            let items_table = txn.open_table(ITEMS).map_err(unavailable)?;
            let start = match &options.after {
                Some(Cursor { key, gsi1: Some(g) }) => {
                    Bound::Excluded((gpk.as_str(), g.sk.as_str(), key.pk.as_str(), key.sk.as_str()))
                }
                _ => Bound::Included((gpk.as_str(), prefix.as_str(), "", "")),
            };
            let mut items = Vec::new();
            for entry in index
                .range::<(&str, &str, &str, &str)>((start, Bound::Unbounded))
                .map_err(unavailable)?
            {
                let (k, _) = entry.map_err(unavailable)?;
                let (g, gs, p, s) = k.value();
                if g != gpk || !gs.starts_with(prefix.as_str()) {
                    break;
                }
                let Some(v) = items_table.get((p, s)).map_err(unavailable)? else {
                    continue;
                };
                let item = decode(v.value())?;
                if !item.is_expired(now) {
                    items.push(item);
                    if options.limit.is_some_and(|l| items.len() >= l) {
                        break;
                    }
                }
            }
            Ok(page_of(items, options.limit, true))
        })
        .await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let keys = keys.to_vec();
        self.blocking(move |db, now| {
            let txn = db.begin_read().map_err(unavailable)?;
            let table = txn.open_table(ITEMS).map_err(unavailable)?;
            let mut items = Vec::with_capacity(keys.len());
            for key in &keys {
                if let Some(v) = table.get((key.pk.as_str(), key.sk.as_str())).map_err(unavailable)? {
                    let item = decode(v.value())?;
                    if !item.is_expired(now) {
                        items.push(item);
                    }
                }
            }
            Ok(items)
        })
        .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.blocking(move |db, now| run(db, &ops, now).map(|_| ())).await
    }

    async fn batch_write(&self, puts: Vec<Item>, deletes: Vec<Key>) -> Result<(), StoreError> {
        let ops: Vec<WriteOp> = puts
            .into_iter()
            .map(|item| WriteOp::Put {
                item,
                condition: Condition::Always,
            })
            .chain(deletes.into_iter().map(|key| WriteOp::Delete {
                key,
                condition: Condition::Always,
            }))
            .collect();
        // One commit for the whole batch (unconditional writes cannot fail half-way on a
        // condition), without its own fsync: redb persists a non-durable commit with the next
        // durable one, in commit order. Bulk writes are always followed by a durable one (the
        // discovery checkpoint or the account's counts), and a crash before it loses only
        // writes that the unsaved checkpoint makes the next run repeat.
        self.blocking(move |db, now| run_with(db, &ops, now, Durability::None).map(|_| ()))
            .await
    }
}

/// Whether `condition` holds for the item stored now (DynamoDB checks it server-side).
fn holds(condition: Condition, current: Option<&Item>, now: i64) -> bool {
    let live = current.filter(|i| !i.is_expired(now));
    match condition {
        Condition::Always => true,
        Condition::NotExists => live.is_none(),
        Condition::Exists => live.is_some(),
        Condition::VersionIs(v) => live.is_some_and(|i| i.version == v),
    }
}

/// Applies an [`Update`] to an item in memory; the version is incremented.
fn apply_update(item: &mut Item, update: &Update) {
    for (k, v) in &update.set {
        item.attrs.insert(k.clone(), v.clone());
    }
    for k in &update.remove {
        item.attrs.remove(k);
    }
    item.version += 1;
}
