//! The audit log's one way in: [`entry`], the write a use case adds to the transaction of the
//! action it records, so an action without its entry (or an entry without its action) cannot
//! happen. Entries are put once (`NotExists`) and no route changes or deletes one; they expire
//! after [`keys::AUDIT_DAYS`].

use crate::domain::{AccountId, Actor, AuditAction, ClientId, PartnerId};
use crate::store::keys::{self, AccountItem, AuditItem};
use crate::store::{Condition, Item, StoreError, WriteOp};
use chrono::{DateTime, Utc};

/// What an entry says, beside who and when.
pub struct Entry<'a> {
    pub partner: &'a PartnerId,
    pub actor: Actor,
    pub action: AuditAction,
    pub account: Option<&'a AccountId>,
    pub client: Option<&'a ClientId>,
    pub detail: serde_json::Value,
}

/// The entry's write, for the action's transaction.
pub fn entry(e: Entry<'_>, now: DateTime<Utc>) -> Result<WriteOp, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    let record = AuditItem {
        id: id.clone(),
        at: now,
        actor: e.actor,
        action: e.action,
        account_id: e.account.cloned(),
        client_id: e.client.cloned(),
        detail: e.detail,
    };
    let mut item = Item::from_record(keys::audit(e.partner, now, &id), &record)?;
    item.gsi1 = e.account.map(|a| keys::audit_by_account(e.partner, a, now, &id));
    item.expires_at = Some((now + chrono::Duration::days(keys::AUDIT_DAYS)).timestamp());
    Ok(WriteOp::Put {
        item,
        condition: Condition::NotExists,
    })
}

/// The entry of an action on `account` (naming it and its client).
pub fn account_entry(
    account: &AccountItem,
    actor: Actor,
    action: AuditAction,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<WriteOp, StoreError> {
    entry(
        Entry {
            partner: &account.partner_id,
            actor,
            action,
            account: Some(&account.id),
            client: Some(&account.client_id),
            detail,
        },
        now,
    )
}

/// Who replaced an account's link and why (`resend`, `expired`, `reauthorization`): the
/// `authorization_resent` entry written with the new link.
pub struct Logged<'a> {
    pub actor: Actor,
    pub why: &'a str,
}

/// A member acting.
pub fn member(email: &str) -> Actor {
    Actor::Member {
        email: email.to_owned(),
    }
}
