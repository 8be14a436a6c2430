//! When an account is next due for work (discovery or auto-add), and its entry in the sharded
//! due index (`keys::due_entry`) that the schedule reads. The entry is derived from the
//! account record alone and written in the same transaction as every change of the account
//! ([`crate::repo::accounts::modify`], the consent's activation), so the two never disagree.

use crate::store::keys::{self, AccountItem, AccountStatus, DueItem};
use crate::store::{Condition, Item, StoreError, WriteOp};
use chrono::{DateTime, Duration, Utc};

/// A queued job not handed out by then is taken as lost: the schedule queues another.
pub const JOB_GRACE: Duration = Duration::minutes(15);

/// Whether discovery runs for an account in this status.
pub fn discoverable(status: AccountStatus) -> bool {
    matches!(status, AccountStatus::Active | AccountStatus::ReauthorizationRequired)
}

/// When the account should next be discovered: at once when just authorized, else when its
/// last run said.
pub fn due_at(a: &AccountItem) -> Option<DateTime<Utc>> {
    match (a.discovery_due_at, a.discovery.next_due_at) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// When the schedule should next queue a job for the account: the earlier of discovery's due
/// time and auto-add's, but not while a queued job or a run may still do it (until the job's
/// grace or the run's lease has passed); for a disabled account, when its objects are to be
/// deleted. `None`: never.
pub fn scheduled_at(a: &AccountItem) -> Option<DateTime<Utc>> {
    let mut at = if discoverable(a.status) {
        let auto_add = a.auto_add.as_ref().map(|x| x.next_run_at);
        match (due_at(a), auto_add) {
            (Some(x), Some(y)) => x.min(y),
            (x, y) => x.or(y)?,
        }
    } else {
        deletion_due_at(a).or_else(|| offer_expires_at(a))?
    };
    if let Some(job) = &a.discovery.job {
        at = at.max(job.not_before + JOB_GRACE);
    }
    if let Some(lease) = a.discovery.running_until {
        at = at.max(lease);
    }
    Some(at)
}

/// How long an account a client started through an offer may stay unfinished.
pub const OFFER_UNFINISHED_DAYS: i64 = 7;

/// When an account started through an offer and never authorized is removed (`None`: not
/// one).
pub fn offer_expires_at(a: &AccountItem) -> Option<DateTime<Utc>> {
    let unfinished = a.status == AccountStatus::WaitingForAuthorization
        && a.authorized_at.is_none()
        && a.offer.as_ref().is_some_and(|o| o.accepted_at.is_none());
    unfinished.then(|| a.created_at + Duration::days(OFFER_UNFINISHED_DAYS))
}

/// When a disabled account's discovered objects are to be deleted (`None`: not disabled, or
/// already deleted).
pub fn deletion_due_at(a: &AccountItem) -> Option<DateTime<Utc>> {
    match (&a.status, &a.offboarding) {
        (AccountStatus::Disabled, Some(o)) if o.deleted_at.is_none() => Some(o.delete_at),
        _ => None,
    }
}

/// The writes that move the account's due index entry from where `before` put it to where
/// `after` puts it (none when it does not move).
pub fn entry_ops(before: Option<&AccountItem>, after: &AccountItem) -> Result<Vec<WriteOp>, StoreError> {
    let old = before.and_then(scheduled_at);
    let new = scheduled_at(after);
    if old == new {
        return Ok(Vec::new());
    }
    let mut ops = Vec::with_capacity(2);
    if let Some(at) = old {
        ops.push(WriteOp::Delete {
            key: keys::due_entry(&after.id, at),
            condition: Condition::Always,
        });
    }
    if let Some(at) = new {
        let entry = DueItem {
            partner_id: after.partner_id.clone(),
            account_id: after.id.clone(),
            at,
        };
        ops.push(WriteOp::Put {
            item: Item::from_record(keys::due_entry(&after.id, at), &entry)?,
            condition: Condition::Always,
        });
    }
    Ok(ops)
}
