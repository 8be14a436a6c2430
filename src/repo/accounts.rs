//! Reading and modifying account records: every read is keyed by the caller's partner, so
//! another partner's account IDs are simply not found.

use crate::domain::{AccountId, PartnerId};
use crate::services::HasStore;
use crate::store::keys::{self, AccountItem};
use crate::store::{Condition, Item, Key, StoreError, WriteOp};

crate::ports!(HasStore);

/// The stored item of the partner's account `id` (`None` for an ID that is malformed, unknown,
/// or another partner's).
pub async fn find(s: &impl Ports, partner: &PartnerId, id: &str) -> Result<Option<Item>, StoreError> {
    let Some(id) = AccountId::parse(id) else {
        return Ok(None);
    };
    s.store().get(&keys::account(partner, &id)).await
}

/// Read-modify-write of an account item under its version; `f` answers whether to write.
/// Retries a lost race (re-reading) up to eight times. The account's due index entry moves in
/// the same transaction when the change moves it ([`crate::repo::due`]).
pub async fn modify<E: From<StoreError>>(
    s: &impl Ports,
    key: &Key,
    f: impl FnMut(&mut AccountItem) -> Result<bool, E>,
) -> Result<AccountItem, E> {
    modify_if_exists(s, key, f)
        .await?
        .ok_or_else(|| StoreError::Corrupt("the account is gone".into()).into())
}

/// [`modify`], answering `None` when there is no such account (a job for a deleted one).
pub async fn modify_if_exists<E: From<StoreError>>(
    s: &impl Ports,
    key: &Key,
    f: impl FnMut(&mut AccountItem) -> Result<bool, E>,
) -> Result<Option<AccountItem>, E> {
    modify_with(s, key, f, |_, _| Ok(Vec::new())).await
}

/// [`modify`] with more writes in the same transaction, made from the account before and
/// after the change (the audit log's entry of the change): both happen, or neither.
pub async fn modify_with<E: From<StoreError>>(
    s: &impl Ports,
    key: &Key,
    mut f: impl FnMut(&mut AccountItem) -> Result<bool, E>,
    also: impl Fn(&AccountItem, &AccountItem) -> Result<Vec<WriteOp>, StoreError>,
) -> Result<Option<AccountItem>, E> {
    for _ in 0..8 {
        let Some(item) = s.store().get(key).await? else {
            return Ok(None);
        };
        let before: AccountItem = item.record()?;
        let mut account = before.clone();
        if !f(&mut account)? {
            return Ok(Some(account));
        }
        let next = item.next_version(&account)?;
        let condition = Condition::VersionIs(item.version);
        let mut moves = crate::repo::due::entry_ops(Some(&before), &account)?;
        moves.extend(also(&before, &account)?);
        let written = if moves.is_empty() {
            s.store().put(next, condition).await
        } else {
            let mut ops = vec![WriteOp::Put { item: next, condition }];
            ops.extend(moves);
            s.store().transact(ops).await
        };
        match written {
            Ok(()) => return Ok(Some(account)),
            Err(StoreError::ConditionFailed | StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}
