//! Discovery of an account's tenant (being built; see issue 5). Users come from Graph's
//! `/users/delta`: the first run reads every page, later runs only what changed since the
//! stored delta link, so an unchanged tenant costs one request and no write. Each page is
//! parsed whole before anything of it is written; only changed objects are written, in
//! batches; removed users are flagged `deleted`, never dropped. A stale delta link
//! (`syncStateNotFound` / 410) falls back to a full sync that still writes only changes.

use crate::app::Services;
use crate::domain::AccountId;
use crate::identity::graph::{GraphClient, GraphError};
use crate::store::keys::{self, DeltaCheckpointItem, DiscoveredUserItem};
use crate::store::{Condition, Item, StoreError};
use secrecy::SecretString;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one users run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UsersRun {
    /// A full read (first run, or a resync after a stale delta link).
    pub full: bool,
    pub pages: u64,
    pub seen: u64,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
}

impl UsersRun {
    pub fn writes(&self) -> u64 {
        self.added + self.changed + self.removed
    }
}

const USERS_SELECT: &str = "$select=id,displayName,mail,userPrincipalName,accountEnabled";

/// Discovers the users of `account`'s tenant through Graph at `graph_url` with `token`.
pub async fn discover_users(
    s: &Services,
    graph: &GraphClient,
    graph_url: &str,
    token: &SecretString,
    account: &AccountId,
) -> Result<UsersRun, DiscoveryError> {
    let checkpoint_key = keys::delta_checkpoint(account, "users");
    let checkpoint = s
        .store
        .get(&checkpoint_key)
        .await?
        .map(|i| i.record::<DeltaCheckpointItem>())
        .transpose()?;
    let full_url = format!("{graph_url}/v1.0/users/delta?{USERS_SELECT}");
    match &checkpoint {
        Some(c) => match run(s, graph, &c.link, token, account, false).await {
            Err(DiscoveryError::Graph(GraphError::Resync)) => {
                tracing::info!(account_id = %account, "delta link stale: full resync of users");
                s.store.delete(&checkpoint_key, Condition::Always).await?;
                run(s, graph, &full_url, token, account, true).await
            }
            other => other,
        },
        None => run(s, graph, &full_url, token, account, true).await,
    }
}

async fn run(
    s: &Services,
    graph: &GraphClient,
    start: &str,
    token: &SecretString,
    account: &AccountId,
    full: bool,
) -> Result<UsersRun, DiscoveryError> {
    let mut totals = UsersRun {
        full,
        ..UsersRun::default()
    };
    let mut url = start.to_owned();
    loop {
        let page = graph.page(token, &url).await?;
        totals.pages += 1;
        let mut puts = Vec::new();
        for object in &page.items {
            totals.seen += 1;
            if let Some(item) = merge(s, account, object, &mut totals).await? {
                puts.push(item);
            }
        }
        // The whole page was understood: now write its changes.
        if !puts.is_empty() {
            s.store.batch_write(puts, Vec::new()).await?;
        }
        match (page.next, page.delta) {
            (Some(next), _) => url = next,
            (None, Some(delta)) => {
                let checkpoint = DeltaCheckpointItem {
                    link: delta,
                    saved_at: s.clock.now(),
                };
                let item = Item::from_record(keys::delta_checkpoint(account, "users"), &checkpoint)?;
                s.store.put(item, Condition::Always).await?;
                tracing::info!(account_id = %account, ?totals, "users discovered");
                return Ok(totals);
            }
            (None, None) => return Err(GraphError::Malformed("a last page without @odata.deltaLink".into()).into()),
        }
    }
}

/// The write one Graph object calls for, if any (unchanged objects call for none).
async fn merge(
    s: &Services,
    account: &AccountId,
    object: &Value,
    totals: &mut UsersRun,
) -> Result<Option<Item>, DiscoveryError> {
    let id = object["id"]
        .as_str()
        .ok_or_else(|| GraphError::Malformed("an object without id".into()))?;
    let key = keys::discovered_user(account, id);
    let existing = s
        .store
        .get(&key)
        .await?
        .map(|i| i.record::<DiscoveredUserItem>())
        .transpose()?;
    let now = s.clock.now();
    let next = if object.get("@removed").is_some() {
        match existing {
            Some(e) if !e.deleted => {
                totals.removed += 1;
                DiscoveredUserItem {
                    deleted: true,
                    changed_at: now,
                    ..e
                }
            }
            _ => return Ok(None),
        }
    } else {
        // Delta pages may carry only the changed properties: keep what is not given.
        let text = |k: &str| object.get(k).and_then(Value::as_str).map(str::to_owned);
        let email = text("mail").or_else(|| text("userPrincipalName"));
        let enabled = object.get("accountEnabled").and_then(Value::as_bool);
        match existing {
            Some(e) => {
                let updated = DiscoveredUserItem {
                    name: text("displayName").unwrap_or_else(|| e.name.clone()),
                    email: email.or_else(|| e.email.clone()),
                    enabled: enabled.unwrap_or(e.enabled),
                    deleted: false,
                    ..e.clone()
                };
                if updated == e {
                    return Ok(None);
                }
                totals.changed += 1;
                DiscoveredUserItem {
                    changed_at: now,
                    ..updated
                }
            }
            None => {
                totals.added += 1;
                DiscoveredUserItem {
                    id: id.to_owned(),
                    name: text("displayName").unwrap_or_default(),
                    email,
                    enabled: enabled.unwrap_or(true),
                    protected: false,
                    deleted: false,
                    first_seen: now,
                    changed_at: now,
                }
            }
        }
    };
    Ok(Some(Item::from_record(key, &next)?))
}

/// What one scheduled run did (stub: being built).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ScheduledRun {
    pub accounts: u64,
}

/// Discovers every account that is due (stub: being built).
pub async fn run_scheduled(_s: &Services, _time: Option<chrono::DateTime<chrono::Utc>>) -> Result<ScheduledRun, DiscoveryError> {
    Ok(ScheduledRun::default())
}
