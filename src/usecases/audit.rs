//! Reading the audit log: the partner's entries newest first, a page at a time, optionally
//! those naming one account. Entries are written only by the actions they record
//! (`repo::audit`); nothing here or anywhere changes or deletes one.

use crate::domain::{AccountId, FieldError, Principal};
use crate::services::HasStore;
use crate::store::keys::{self, AuditItem};
use crate::store::{Cursor, Key, QueryOptions, StoreError};
use serde::Deserialize;

crate::ports!(HasStore, crate::repo::accounts::Ports);

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `GET /v1/audit` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `next_cursor` of the previous page (empty: the newest entries).
    pub cursor: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Only the entries naming this account (one of yours).
    pub account_id: Option<String>,
}

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

/// One page of the log (the API's answer as it is).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditItem>,
    /// Pass as `cursor` for the next (older) page; null on the last.
    #[schema(required)]
    pub next_cursor: Option<String>,
}

pub async fn list(s: &impl Ports, who: &Principal, q: AuditQuery) -> Result<AuditPage, AuditError> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(FieldError::new("limit", format!("must be 1 to {MAX_PAGE}")).into());
    }
    let account = match q.account_id.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(id) => {
            // Only one of the partner's own accounts: another partner's is not found.
            crate::repo::accounts::find(s, &who.partner_id, id)
                .await?
                .ok_or(AuditError::NotFound)?;
            Some(AccountId::parse(id).ok_or(AuditError::NotFound)?)
        }
    };
    let table_pk = keys::audit_partition(&who.partner_id);
    let index_pk = account
        .as_ref()
        .map(|a| keys::audit_account_partition(&who.partner_id, a));
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let sk = Cursor::decode_sort_key(c, keys::AUDIT_PREFIX)
                .filter(|sk| sk.len() < 200)
                .ok_or_else(|| FieldError::new("cursor", "is not a cursor of this log"))?;
            Some(Cursor {
                key: Key::new(table_pk.clone(), sk.clone()),
                gsi1: index_pk.clone().map(|pk| Key::new(pk, sk)),
            })
        }
    };
    let options = QueryOptions {
        limit: Some(limit),
        after,
    };
    let page = match &index_pk {
        None => s.store().query(&table_pk, keys::AUDIT_PREFIX, options).await?,
        Some(pk) => s.store().query_index(pk, keys::AUDIT_PREFIX, options).await?,
    };
    let items = page
        .items
        .iter()
        .map(|i| i.record())
        .collect::<Result<Vec<AuditItem>, _>>()?;
    Ok(AuditPage {
        next_cursor: page.next.map(|c| Cursor::encode_sort_key(&c.key.sk)),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::domain::{AuditAction, PartnerId, Role};
    use crate::repo::audit::{Entry, entry, member};
    use crate::store::Store;
    use crate::store::embedded::EmbeddedStore;
    use std::sync::Arc;

    /// Everything the audit log reads with: a store, no mail, clock, keys or providers.
    struct OnlyStore(Arc<dyn Store>);

    impl HasStore for OnlyStore {
        fn store(&self) -> &Arc<dyn Store> {
            &self.0
        }
    }

    #[tokio::test]
    async fn the_log_reads_with_nothing_but_a_store() {
        let clock = Arc::new(ManualClock::default());
        let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let partner = PartnerId::new();
        let write = entry(
            Entry {
                partner: &partner,
                actor: member("owner@msp.example"),
                action: AuditAction::MemberInvited,
                account: None,
                client: None,
                detail: serde_json::json!({}),
            },
            clock.now(),
        )
        .unwrap();
        store.transact(vec![write]).await.unwrap();
        let who = Principal {
            partner_id: partner,
            email: "owner@msp.example".into(),
            role: Role::Owner,
            token_hash: String::new(),
        };
        let page = list(&OnlyStore(store), &who, AuditQuery::default()).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].action, AuditAction::MemberInvited);
        assert!(page.next_cursor.is_none());
    }
}
