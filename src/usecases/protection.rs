//! Protection of discovered objects: listings with filters and cursors, protect / unprotect by
//! IDs or all, seats, and auto-add at a local time.
//!
//! Seats: each protected user takes one of its partner's seats (`SEAT_LIMIT`), across all the
//! partner's accounts; sites and Teams take none. A deleted user that is protected keeps its
//! seat until the partner unprotects it (it is listed with `deleted: true`).
//!
//! A protect request over the limit is refused (409) before any object is written. Objects
//! are written in transactions of up to 98, each with the account's protected count and the
//! partner's seat counter moved by exactly the objects it writes (100 items, DynamoDB's
//! limit); every item is conditioned on the version read, and a lost race re-reads all of it.
//! So used seats equal protected users, and counts equal protected objects, under any
//! concurrency: nothing is reserved ahead or given back.

use crate::domain::{AccountId, FieldError, PartnerId};
use crate::domain::{Actor, AuditAction, Principal};
use crate::repo::accounts::modify as modify_account;
use crate::repo::audit;
use crate::schedule::{DailyAt, RunAt, Zone};
use crate::services::{HasClock, HasSettings, HasStore};
use crate::store::keys::{self, AccountItem, AutoAddItem, AutoAddResult, DiscoveredItem, ObjectKind};
use crate::store::{Condition, Cursor, Item, Key, Pages, StoreError, WriteOp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

crate::ports!(
    HasClock,
    HasSettings,
    HasStore,
    crate::repo::accounts::Ports,
    crate::repo::seats::Ports
);

#[derive(Debug, thiserror::Error)]
pub enum ProtectionError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("not found")]
    NotFound,
    /// IDs that are not objects of this kind in this account.
    #[error("unknown ids")]
    UnknownIds(Vec<String>),
    #[error("the seat limit would be passed")]
    SeatLimit { limit: u64, used: u64, requested: u64 },
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const DISABLED: &str =
    "This account is disabled: enable it (a fresh consent) to change its protection. Nothing was changed.";

/// Largest `ids` list of one request.
pub const MAX_IDS: usize = 1000;
/// Objects per write transaction.
const CHUNK: usize = 98;
/// Left-out objects an auto-add result names.
const LEFT_OUT_SHOWN: usize = 50;

/// `POST /v1/accounts/{id}/protection`: `ids` (1 to [`MAX_IDS`]) or `all: true`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectRequest {
    pub kind: ProtectKind,
    #[schema(schema_with = ids_schema)]
    pub ids: Option<Vec<String>>,
    #[serde(default)]
    pub all: bool,
    pub protected: bool,
}

/// `ids`: 1 to [`MAX_IDS`] object IDs (each at most [`MAX_ID_BYTES`] bytes: documented as a
/// quarter of that in characters, which no encoding can pass), or `null` with `all: true`.
fn ids_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, SchemaType, Type};
    let id = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .min_length(Some(1))
        .max_length(Some(MAX_ID_BYTES / 4));
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Null)))
        .item(
            ArrayBuilder::new()
                .items(id)
                .min_items(Some(1))
                .max_items(Some(MAX_IDS)),
        )
        .into()
}

/// Longest object ID of a request, in bytes.
pub const MAX_ID_BYTES: usize = 400;

/// The kinds of objects that can be protected (groups cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProtectKind {
    Users,
    Sites,
    Teams,
}

impl From<ProtectKind> for ObjectKind {
    fn from(k: ProtectKind) -> Self {
        match k {
            ProtectKind::Users => ObjectKind::Users,
            ProtectKind::Sites => ObjectKind::Sites,
            ProtectKind::Teams => ObjectKind::Teams,
        }
    }
}

/// Groups cannot be protected.
impl TryFrom<ObjectKind> for ProtectKind {
    type Error = ObjectKind;

    fn try_from(k: ObjectKind) -> Result<Self, ObjectKind> {
        match k {
            ObjectKind::Users => Ok(ProtectKind::Users),
            ObjectKind::Sites => Ok(ProtectKind::Sites),
            ObjectKind::Teams => Ok(ProtectKind::Teams),
            ObjectKind::Groups => Err(k),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProtectOutcome {
    pub kind: ObjectKind,
    /// Objects whose protection changed.
    pub changed: u64,
    /// Protected objects of this kind in the account now.
    pub protected: u64,
    /// Objects of this kind present in the tenant.
    pub total: u64,
    pub seats: SeatsView,
}

/// Protected users across the partner's accounts, and the limit (`SEAT_LIMIT`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Seats)]
pub struct SeatsView {
    pub used: u64,
    pub limit: u64,
}

async fn account(s: &impl Ports, who: &Principal, id: &str) -> Result<(AccountItem, Key), ProtectionError> {
    let item = crate::repo::accounts::find(s, &who.partner_id, id)
        .await?
        .ok_or(ProtectionError::NotFound)?;
    Ok((item.record()?, item.key))
}

/// Protects or unprotects objects of one kind, by IDs or all of them.
#[tracing::instrument(skip_all, fields(kind = ObjectKind::from(req.kind).as_str(), all = req.all, protected = req.protected))]
pub async fn set_protection(
    s: &impl Ports,
    who: &Principal,
    id: &str,
    req: ProtectRequest,
) -> Result<ProtectOutcome, ProtectionError> {
    let kind = ObjectKind::from(req.kind);
    let ids = match (req.ids, req.all) {
        (Some(ids), false) if !ids.is_empty() && ids.len() <= MAX_IDS => Some(ids),
        (None, true) => None,
        (Some(ids), false) if ids.len() > MAX_IDS => {
            return Err(FieldError::new("ids", format!("at most {MAX_IDS} per request; use `all` for more")).into());
        }
        _ => return Err(FieldError::new("ids", "give a non-empty `ids` list or `all: true`, not both").into()),
    };
    let (account, account_key) = account(s, who, id).await?;
    if account.status == crate::store::keys::AccountStatus::Disabled {
        return Err(ProtectionError::Conflict(DISABLED));
    }
    let desired = req.protected;
    let targets = match ids {
        Some(mut ids) => {
            ids.sort();
            ids.dedup();
            if ids.iter().any(|i| i.is_empty() || i.len() > MAX_ID_BYTES) {
                return Err(FieldError::new("ids", "contains an empty or over-long ID").into());
            }
            let wanted: Vec<Key> = ids.iter().map(|i| keys::discovered(&account.id, kind, i)).collect();
            let found = s.store().batch_get(&wanted).await?;
            if found.len() != wanted.len() {
                let have: std::collections::HashSet<&str> = found.iter().map(|i| i.key.sk.as_str()).collect();
                let unknown = wanted
                    .iter()
                    .filter(|k| !have.contains(k.sk.as_str()))
                    .map(|k| k.sk[kind.prefix().len()..].to_owned())
                    .collect();
                return Err(ProtectionError::UnknownIds(unknown));
            }
            let mut targets = Vec::new();
            for item in found {
                let o: DiscoveredItem = item.record()?;
                if desired && o.deleted && !o.protected {
                    return Err(FieldError::new(
                        "ids",
                        format!("{} was removed from the tenant and cannot be protected", o.id),
                    )
                    .into());
                }
                if needs_change(&o, desired) {
                    targets.push(item);
                }
            }
            Targets::Listed(targets)
        }
        None => Targets::All,
    };
    let changed = apply(
        s,
        &account,
        &account_key,
        kind,
        desired,
        targets,
        By::Member(who.email.clone()),
    )
    .await?
    .written;
    let account: AccountItem = s
        .store()
        .get(&account_key)
        .await?
        .ok_or(ProtectionError::NotFound)?
        .record()?;
    let seats = seats_used(s, &account.partner_id).await?.0;
    let counts = account.discovery.counts.of(kind);
    tracing::info!(changed, "protection changed");
    Ok(ProtectOutcome {
        kind,
        changed,
        protected: counts.protected,
        total: counts.total,
        seats: SeatsView {
            used: seats,
            limit: s.seat_limit(),
        },
    })
}

fn needs_change(o: &DiscoveredItem, desired: bool) -> bool {
    o.protected != desired && (!desired || !o.deleted)
}

enum Targets {
    Listed(Vec<Item>),
    /// Every object of the kind that needs the change, streamed from the store.
    All,
}

struct Applied {
    written: u64,
    left_out: u64,
    left_out_ids: Vec<String>,
}

/// Writes the objects in chunks, each chunk in one transaction with the seat and count
/// changes it actually makes. By auto-add (`partial_ok`) as many as the seats allow are
/// protected and the rest reported; without, a request over the limit is refused before
/// anything is written.
async fn apply(
    s: &impl Ports,
    account: &AccountItem,
    account_key: &Key,
    kind: ObjectKind,
    desired: bool,
    targets: Targets,
    by: By,
) -> Result<Applied, ProtectionError> {
    let partial_ok = matches!(by, By::AutoAdd);
    let actor = match by {
        By::Member(email) => audit::member(&email),
        By::AutoAdd => Actor::System,
    };
    if desired && kind.takes_seats() && !partial_ok {
        let wanted = match &targets {
            Targets::Listed(items) => items.len() as u64,
            Targets::All => {
                let mut n = 0;
                stream(s, &account.id, kind, |o| {
                    if needs_change(o, desired) {
                        n += 1;
                    }
                })
                .await?;
                n
            }
        };
        let used = seats_used(s, &account.partner_id).await?.0;
        if wanted > s.seat_limit().saturating_sub(used) {
            return Err(ProtectionError::SeatLimit {
                limit: s.seat_limit(),
                used,
                requested: wanted,
            });
        }
    }
    let mut chunk = ChunkWriter {
        s,
        account,
        actor,
        account_key,
        kind,
        desired,
        partial_ok,
        now: s.clock().now(),
        applied: Applied {
            written: 0,
            left_out: 0,
            left_out_ids: Vec::new(),
        },
    };
    let mut batch: Vec<Item> = Vec::new();
    match targets {
        Targets::Listed(items) => batch = items,
        Targets::All => {
            let mut stored = Pages::new(
                s.store().as_ref(),
                keys::account_partition(&account.id),
                kind.prefix(),
                500,
            );
            while let Some(items) = stored.next().await? {
                for item in items {
                    let o: DiscoveredItem = item.record()?;
                    if needs_change(&o, desired) {
                        batch.push(item);
                    }
                }
                while batch.len() >= CHUNK {
                    let rest = batch.split_off(CHUNK);
                    chunk.write(std::mem::replace(&mut batch, rest)).await?;
                }
            }
        }
    }
    for part in batch.chunks(CHUNK) {
        chunk.write(part.to_vec()).await?;
    }
    Ok(chunk.applied)
}

/// Who changes protection, which decides how: a member's change is all or nothing (past the
/// seats it is refused); auto-add protects what the seats allow and reports the rest.
enum By {
    Member(String),
    AutoAdd,
}

/// Writes chunks of objects of one kind in one account, with their seat and count changes.
struct ChunkWriter<'a, P> {
    s: &'a P,
    account: &'a AccountItem,
    /// Named in the audit log's entry of each chunk.
    actor: Actor,
    account_key: &'a Key,
    kind: ObjectKind,
    desired: bool,
    partial_ok: bool,
    now: DateTime<Utc>,
    applied: Applied,
}

impl<P: Ports> ChunkWriter<'_, P> {
    /// One transaction: the objects (each conditioned on the version read), the account's
    /// protected count and the partner's seats (each conditioned on its version), moved by
    /// exactly the number of objects written. On a lost race everything is read again and
    /// only objects that still need the change are written, so seats always equal
    /// protected users and counts equal protected objects.
    async fn write(&mut self, mut items: Vec<Item>) -> Result<(), ProtectionError> {
        let (s, kind, desired) = (self.s, self.kind, self.desired);
        for _ in 0..8 {
            let (used, seats_item) = seats_used(s, &self.account.partner_id).await?;
            let mut writing = items.clone();
            let mut left = Vec::new();
            if desired && kind.takes_seats() {
                let available = usize::try_from(s.seat_limit().saturating_sub(used)).unwrap_or(usize::MAX);
                if writing.len() > available {
                    if !self.partial_ok {
                        return Err(ProtectionError::SeatLimit {
                            limit: s.seat_limit(),
                            used,
                            requested: writing.len() as u64,
                        });
                    }
                    left = writing.split_off(available);
                }
            }
            if writing.is_empty() {
                self.leave_out(&left)?;
                return Ok(());
            }
            let n = writing.len() as u64;
            let account_item = s
                .store()
                .get(self.account_key)
                .await?
                .ok_or(ProtectionError::NotFound)?;
            let mut account: AccountItem = account_item.record()?;
            if account.status == crate::store::keys::AccountStatus::Disabled {
                // Disabled meanwhile: its seats were freed, nothing more changes.
                return Err(ProtectionError::Conflict(DISABLED));
            }
            let c = account.discovery.counts.of_mut(kind);
            c.protected = if desired {
                c.protected + n
            } else {
                c.protected.saturating_sub(n)
            };
            let mut ops = Vec::with_capacity(writing.len() + 2);
            for item in &writing {
                let mut o: DiscoveredItem = item.record()?;
                o.protected = desired;
                o.protected_at = desired.then_some(self.now);
                ops.push(WriteOp::Put {
                    item: item.next_version(&o)?,
                    condition: Condition::VersionIs(item.version),
                });
            }
            ops.push(WriteOp::Put {
                item: account_item.next_version(&account)?,
                condition: Condition::VersionIs(account_item.version),
            });
            if kind.takes_seats() {
                ops.push(crate::repo::seats::write(
                    &self.account.partner_id,
                    if desired { used + n } else { used.saturating_sub(n) },
                    seats_item.as_ref(),
                )?);
            }
            ops.push(audit::account_entry(
                self.account,
                self.actor.clone(),
                AuditAction::ProtectionChanged,
                serde_json::json!({
                    "kind": kind.as_str(),
                    "protected": desired,
                    "count": n,
                    "auto_add": self.partial_ok,
                }),
                self.now,
            )?);
            match s.store().transact(ops).await {
                Ok(()) => {
                    self.applied.written += n;
                    self.leave_out(&left)?;
                    return Ok(());
                }
                Err(StoreError::ConditionFailed | StoreError::Conflict) => {
                    let keys: Vec<Key> = items.iter().map(|i| i.key.clone()).collect();
                    items = s
                        .store()
                        .batch_get(&keys)
                        .await?
                        .into_iter()
                        .filter(|i| i.record::<DiscoveredItem>().is_ok_and(|o| needs_change(&o, desired)))
                        .collect();
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ProtectionError::Conflict("the objects kept changing; try again"))
    }

    fn leave_out(&mut self, items: &[Item]) -> Result<(), ProtectionError> {
        for item in items {
            self.applied.left_out += 1;
            if self.applied.left_out_ids.len() < LEFT_OUT_SHOWN {
                self.applied.left_out_ids.push(item.record::<DiscoveredItem>()?.id);
            }
        }
        Ok(())
    }
}

/// Calls `f` with every stored object of `kind` in the account, a page at a time.
async fn stream(
    s: &impl Ports,
    account: &AccountId,
    kind: ObjectKind,
    mut f: impl FnMut(&DiscoveredItem),
) -> Result<(), ProtectionError> {
    let mut stored = Pages::new(s.store().as_ref(), keys::account_partition(account), kind.prefix(), 500);
    while let Some(items) = stored.next().await? {
        for item in &items {
            f(&item.record()?);
        }
    }
    Ok(())
}

/// The partner's seats: protected users across its accounts, and the limit.
pub async fn seats(s: &impl Ports, who: &Principal) -> Result<SeatsView, ProtectionError> {
    Ok(SeatsView {
        used: seats_used(s, &who.partner_id).await?.0,
        limit: s.seat_limit(),
    })
}

async fn seats_used(s: &impl Ports, partner: &PartnerId) -> Result<(u64, Option<Item>), ProtectionError> {
    Ok(crate::repo::seats::read(s, partner).await?)
}

/// One page of a listing: the objects, and where the next page starts.
#[derive(Debug)]
pub struct Listing {
    pub items: Vec<DiscoveredItem>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/accounts/{id}/{kind}` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `next_cursor` of the previous page (empty: the first page).
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    pub protected: Option<bool>,
    pub deleted: Option<bool>,
    /// Only objects first discovered in the last [`NEW_DAYS`] days (`true`), or only older
    /// ones (`false`).
    pub new: Option<bool>,
    /// `id` (the default: stable as objects are renamed) or `name` (case aside; objects
    /// discovered before names were indexed join the name order at their account's next
    /// discovery run).
    #[param(inline)]
    pub order: Option<ListOrder>,
    /// Search, case aside (1 to 100 characters): objects whose name (or a word of it) or
    /// email starts with this; with `order=name`, objects whose name starts with it (found
    /// through the name index, however large the account).
    #[param(min_length = 1, max_length = 100)]
    pub q: Option<String>,
}

/// The order of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ListOrder {
    Id,
    Name,
}

/// What marks a name-order cursor (its position is in the name index, not the table).
const NAME_CURSOR: &str = "NAME#";

/// A listing's search term, folded for comparison.
fn search_term(q: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(q) = q else { return Ok(None) };
    let q = q.trim();
    if q.is_empty() || q.chars().count() > 100 || q.chars().any(char::is_control) {
        return Err(FieldError::new(
            "q",
            "must be 1 to 100 characters, without control characters",
        ));
    }
    Ok(Some(q.to_lowercase()))
}

/// Whether an object's name (or one of its words) or email starts with the folded term.
fn matches(o: &DiscoveredItem, term: &str) -> bool {
    let name = o.name.to_lowercase();
    name.starts_with(term)
        || name.split_whitespace().any(|w| w.starts_with(term))
        || o.email.as_deref().is_some_and(|e| e.to_lowercase().starts_with(term))
}

/// An object first discovered this many days ago or later is "new" (the `new` filter).
pub const NEW_DAYS: i64 = 7;
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 500;
/// Stored objects one listing request reads at most while filtering.
const SCAN_BUDGET: usize = 5000;

/// Lists one kind of an account's objects in ID order, filtered (and searched), a page at a
/// time; a search reads at most [`SCAN_BUDGET`] objects per page and says where to go on. The
/// cursor is opaque to callers; it names a position inside this account and kind only.
pub async fn list(
    s: &impl Ports,
    who: &Principal,
    id: &str,
    kind: ObjectKind,
    q: ListQuery,
) -> Result<Listing, ProtectionError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(FieldError::new("limit", format!("must be 1 to {MAX_PAGE}")).into());
    }
    let term = search_term(q.q.as_deref())?;
    let (account, _) = account(s, who, id).await?;
    let pk = keys::account_partition(&account.id);
    let by_name = q.order == Some(ListOrder::Name);
    let names = keys::names_partition(&account.id, kind);
    let not_ours = || FieldError::new("cursor", "is not a cursor of this listing");
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        // In name order: the last item's place in the name index (and so its object ID).
        Some(c) if by_name => {
            let sk = Cursor::decode_sort_key(c, NAME_CURSOR).ok_or_else(not_ours)?;
            let gsi1sk = &sk[NAME_CURSOR.len()..];
            let id = keys::object_id_of_name_key(gsi1sk).ok_or_else(not_ours)?;
            Some(Cursor {
                key: keys::discovered(&account.id, kind, id),
                gsi1: Some(Key::new(names.clone(), gsi1sk)),
            })
        }
        Some(c) => {
            let sk = Cursor::decode_sort_key(c, kind.prefix()).ok_or_else(not_ours)?;
            Some(Cursor {
                key: Key::new(pk.clone(), sk),
                gsi1: None,
            })
        }
    };
    let position = |item: &Item| match (&item.gsi1, by_name) {
        (Some(g), true) => Cursor::encode_sort_key(&format!("{NAME_CURSOR}{}", g.sk)),
        _ => Cursor::encode_sort_key(&item.key.sk),
    };
    let new_since = s.clock().now() - chrono::Duration::days(NEW_DAYS);
    let mut items = Vec::new();
    let mut scanned = 0;
    let per_page = limit.max(100);
    // In name order a search is a prefix of the name: a seek in the name index, however many
    // objects the account has (the key folds names as `search_term` folds the term).
    let seek = if by_name {
        term.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let mut stored = if by_name {
        Pages::on_index(s.store().as_ref(), names, &seek, per_page)
    } else {
        Pages::new(s.store().as_ref(), pk, kind.prefix(), per_page)
    }
    .starting_after(after);
    while let Some(page) = stored.next().await? {
        let n = page.len();
        for (i, item) in page.into_iter().enumerate() {
            scanned += 1;
            let o: DiscoveredItem = item.record()?;
            let keep = q.protected.is_none_or(|p| p == o.protected)
                && q.deleted.is_none_or(|d| d == o.deleted)
                && q.new.is_none_or(|n| n == (o.first_seen >= new_since))
                && (by_name || term.as_deref().is_none_or(|t| matches(&o, t)));
            if keep {
                items.push(o);
            }
            let last_of_all = i + 1 == n && stored.is_done();
            if (items.len() == limit || scanned >= SCAN_BUDGET) && !last_of_all {
                return Ok(Listing {
                    items,
                    next_cursor: Some(position(&item)),
                });
            }
        }
    }
    Ok(Listing {
        items,
        next_cursor: None,
    })
}

/// `PUT /v1/accounts/{id}/auto-add`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoAddRequest {
    #[serde(default)]
    pub users: bool,
    #[serde(default)]
    pub sites: bool,
    #[serde(default)]
    pub teams: bool,
    /// `HH:MM`, local to `timezone` (default `20:00`).
    #[schema(schema_with = crate::schedule::run_at_schema)]
    pub run_at: Option<String>,
    /// An IANA time zone (default `Australia/Sydney`).
    #[schema(schema_with = crate::schedule::zone_schema)]
    pub timezone: Option<String>,
}

/// Sets an account's auto-add; `run_at` and `timezone` default to 20:00 Australia/Sydney.
pub async fn set_auto_add(
    s: &impl Ports,
    who: &Principal,
    id: &str,
    req: AutoAddRequest,
) -> Result<AutoAddItem, ProtectionError> {
    let default = DailyAt::default();
    let run_at = match req.run_at.as_deref() {
        Some(r) => RunAt::parse(r).map_err(|e| FieldError::new("run_at", e.to_string()))?,
        None => default.run_at,
    };
    let zone = match req.timezone.as_deref() {
        Some(z) => Zone::parse(z).map_err(|e| FieldError::new("timezone", e.to_string()))?,
        None => default.zone,
    };
    let daily = DailyAt { run_at, zone };
    let (_, key) = account(s, who, id).await?;
    let now = s.clock().now();
    let logged = |_: &AccountItem, a: &AccountItem| -> Result<Vec<WriteOp>, StoreError> {
        let detail = serde_json::json!({
            "users": req.users,
            "sites": req.sites,
            "teams": req.teams,
            "run_at": run_at.to_string(),
            "timezone": zone.to_string(),
        });
        Ok(vec![audit::account_entry(
            a,
            audit::member(&who.email),
            AuditAction::AutoAddChanged,
            detail,
            now,
        )?])
    };
    let updated = crate::repo::accounts::modify_with(
        s,
        &key,
        |a| {
            let previous = a.auto_add.take();
            a.auto_add = Some(AutoAddItem {
                users: req.users,
                sites: req.sites,
                teams: req.teams,
                run_at,
                timezone: zone,
                next_run_at: daily.next_after(now),
                last_run_at: previous.as_ref().and_then(|p| p.last_run_at),
                last_result: previous.and_then(|p| p.last_result),
            });
            Ok::<_, ProtectionError>(true)
        },
        logged,
    )
    .await?
    .ok_or(ProtectionError::NotFound)?;
    let settings = updated.auto_add.as_ref().ok_or(ProtectionError::NotFound)?;
    tracing::info!(run_at = %settings.run_at, timezone = %settings.timezone, next_run_at = %settings.next_run_at, "auto-add set");
    Ok(settings.clone())
}

/// Runs an account's auto-add now (its time has come): every unprotected object of the
/// enabled kinds becomes protected, users within the seats left; the rest are reported.
pub async fn run_auto_add(
    s: &impl Ports,
    partner: &PartnerId,
    id: &AccountId,
) -> Result<AutoAddResult, ProtectionError> {
    let key = keys::account(partner, id);
    let account: AccountItem = s.store().get(&key).await?.ok_or(ProtectionError::NotFound)?.record()?;
    let Some(settings) = account.auto_add.clone() else {
        return Ok(AutoAddResult::default());
    };
    let mut result = AutoAddResult::default();
    let kinds = [
        (ObjectKind::Users, settings.users),
        (ObjectKind::Sites, settings.sites),
        (ObjectKind::Teams, settings.teams),
    ];
    for (kind, on) in kinds {
        if !on {
            continue;
        }
        let applied = apply(s, &account, &key, kind, true, Targets::All, By::AutoAdd).await?;
        result.protected += applied.written;
        result.left_out += applied.left_out;
        let room = LEFT_OUT_SHOWN.saturating_sub(result.left_out_ids.len());
        result.left_out_ids.extend(applied.left_out_ids.into_iter().take(room));
    }
    let now = s.clock().now();
    let daily = DailyAt {
        run_at: settings.run_at,
        zone: settings.timezone,
    };
    let done = result.clone();
    modify_account(s, &key, |a| {
        if let Some(auto) = a.auto_add.as_mut() {
            auto.last_run_at = Some(now);
            auto.last_result = Some(done.clone());
            auto.next_run_at = daily.next_after(now);
        }
        Ok::<_, ProtectionError>(true)
    })
    .await?;
    tracing::info!(
        account_id = %id,
        protected = result.protected,
        left_out = result.left_out,
        "auto-add ran"
    );
    Ok(result)
}
