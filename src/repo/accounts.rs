//! Reading and modifying account records: every read is keyed by the caller's partner, so
//! another partner's account IDs are simply not found.

use crate::domain::{AccountId, PartnerId};
use crate::services::Services;
use crate::store::keys::{self, AccountItem};
use crate::store::{Condition, Item, Key, StoreError};

/// The stored item of the partner's account `id` (`None` for an ID that is malformed, unknown,
/// or another partner's).
pub async fn find(s: &Services, partner: &PartnerId, id: &str) -> Result<Option<Item>, StoreError> {
    let Some(id) = AccountId::parse(id) else {
        return Ok(None);
    };
    s.store.get(&keys::account(partner, &id)).await
}

/// Read-modify-write of an account item under its version; `f` answers whether to write.
/// Retries a lost race (re-reading) up to eight times.
pub async fn modify<E: From<StoreError>>(
    s: &Services,
    key: &Key,
    mut f: impl FnMut(&mut AccountItem) -> Result<bool, E>,
) -> Result<AccountItem, E> {
    for _ in 0..8 {
        let item = s
            .store
            .get(key)
            .await?
            .ok_or(StoreError::Corrupt("the account is gone".into()))?;
        let mut account: AccountItem = item.record()?;
        if !f(&mut account)? {
            return Ok(account);
        }
        match s
            .store
            .put(item.next_version(&account)?, Condition::VersionIs(item.version))
            .await
        {
            Ok(()) => return Ok(account),
            Err(StoreError::ConditionFailed | StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}
