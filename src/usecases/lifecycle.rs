//! Offboarding (api.md "Account lifecycle"): disabling an account stops discovery and auto-add,
//! frees its protected users' seats, releases its tenant (another account may claim it through
//! a proven consent), kills its links, and schedules the deletion of its discovered objects
//! after the retention period, which the scheduled work carries out in batches. Re-enabling
//! needs a fresh consent (a new link is mailed) and takes the freed seats again while the
//! objects still exist. Each is one transaction with its audit entry.

use crate::domain::{AuditAction, EmailAddress, Platform, Principal};
use crate::limits::LimitError;
use crate::queue::Job;
use crate::repo::audit;
use crate::repo::links::{LinkError, audience_for, new_link, reserve_mail, send_link};
use crate::services::{HasClock, HasSettings, HasStore};
use crate::store::keys::{self, AccountItem, AccountStatus, Offboarding, TenantOwnerItem};
use crate::store::{Condition, Item, Key, QueryOptions, StoreError, WriteOp};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

crate::ports!(
    HasClock,
    HasSettings,
    HasStore,
    crate::repo::accounts::Ports,
    crate::repo::jobs::Ports,
    crate::repo::links::Ports,
    crate::repo::seats::Ports
);

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("not found")]
    NotFound,
    #[error("re-enabling would pass the seat limit")]
    SeatLimit { limit: u64, used: u64, requested: u64 },
    #[error("{0}")]
    Conflict(&'static str),
    #[error("over a mail limit; retry in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] crate::email::MailError),
}

impl From<LimitError> for LifecycleError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(l) => Self::RateLimited {
                retry_after: l.retry_after,
            },
            LimitError::Store(e) => Self::Store(e),
        }
    }
}

impl From<LinkError> for LifecycleError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Store(e) => Self::Store(e),
            LinkError::Mail(e) => Self::Mail(e),
            _ => Self::Conflict("the authorization link could not be made"),
        }
    }
}

/// How the client removes the service's app from their tenant once disabled.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OffboardingView {
    pub disabled_at: DateTime<Utc>,
    pub disabled_by: String,
    pub released_seats: u64,
    /// When the discovered objects are deleted (or were: `deleted_at`).
    pub delete_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// For the client's administrator: removing the app ends the consent at the provider.
    pub remove_app_steps: Vec<&'static str>,
}

pub fn offboarding_view(platform: Platform, o: &Offboarding) -> OffboardingView {
    OffboardingView {
        disabled_at: o.disabled_at,
        disabled_by: o.disabled_by.clone(),
        released_seats: o.released_seats,
        delete_at: o.delete_at,
        deleted_at: o.deleted_at,
        remove_app_steps: remove_app_steps(platform).to_vec(),
    }
}

fn remove_app_steps(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Microsoft365 => &[
            "Sign in to the Microsoft Entra admin center (https://entra.microsoft.com) as a Global Administrator of the tenant.",
            "Open Identity > Applications > Enterprise applications and search for the backup application the administrator consented to.",
            "Open it, choose Properties, then Delete, and confirm: its permissions end at once.",
        ],
        Platform::GoogleWorkspace => &[
            "Sign in to the Google Admin console (https://admin.google.com) as a super administrator.",
            "Open Security > Access and data control > API controls > Manage Third-Party App Access.",
            "Find the backup application, choose Change access, set it to Blocked and save: its tokens stop working.",
        ],
    }
}

async fn account_item(s: &impl Ports, who: &Principal, id: &str) -> Result<Item, LifecycleError> {
    crate::repo::accounts::find(s, &who.partner_id, id)
        .await?
        .ok_or(LifecycleError::NotFound)
}

/// The tenant owner record's delete when it names this account (the tenant is released).
async fn release_tenant(s: &impl Ports, a: &AccountItem) -> Result<Option<WriteOp>, StoreError> {
    let Some(tenant) = &a.tenant_id else {
        return Ok(None);
    };
    let key = keys::tenant_owner(a.platform, tenant);
    let Some(item) = s.store().get(&key).await? else {
        return Ok(None);
    };
    if item.record::<TenantOwnerItem>()?.account_id != a.id {
        return Ok(None);
    }
    Ok(Some(WriteOp::Delete {
        key,
        condition: Condition::VersionIs(item.version),
    }))
}

/// Disables the account; an already disabled one is answered as it is (nothing written).
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id))]
pub async fn disable(s: &impl Ports, who: &Principal, id: &str) -> Result<AccountItem, LifecycleError> {
    for _ in 0..4 {
        let item = account_item(s, who, id).await?;
        let before: AccountItem = item.record()?;
        if before.status == AccountStatus::Disabled {
            return Ok(before);
        }
        let now = s.clock().now();
        let released = before.discovery.counts.users.protected;
        let mut after = before.clone();
        after.status = AccountStatus::Disabled;
        after.current_link_hash = None;
        after.link_expires_at = None;
        after.discovery_due_at = None;
        after.discovery.job = None;
        after.refresh_token_enc = None;
        after.offboarding = Some(Offboarding {
            disabled_at: now,
            disabled_by: who.email.clone(),
            released_seats: released,
            delete_at: now + Duration::days(s.account_retention_days()),
            deleted_at: None,
        });
        let mut next = item.next_version(&after)?;
        // Off the tenant index: the tenant is no longer this account's.
        next.gsi1 = None;
        let mut ops = vec![WriteOp::Put {
            item: next,
            condition: Condition::VersionIs(item.version),
        }];
        ops.extend(crate::repo::due::entry_ops(Some(&before), &after)?);
        ops.extend(release_tenant(s, &before).await?);
        if released > 0 {
            let (used, seats) = crate::repo::seats::read(s, &who.partner_id).await?;
            ops.push(crate::repo::seats::write(
                &who.partner_id,
                used.saturating_sub(released),
                seats.as_ref(),
            )?);
        }
        ops.push(audit::account_entry(
            &after,
            audit::member(&who.email),
            AuditAction::AccountDisabled,
            serde_json::json!({
                "released_seats": released,
                "tenant_id": before.tenant_id,
                "retention_days": s.account_retention_days(),
            }),
            now,
        )?);
        match s.store().transact(ops).await {
            Ok(()) => {
                tracing::info!(account_id = %after.id, released_seats = released, "account disabled");
                return Ok(after);
            }
            Err(StoreError::ConditionFailed | StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LifecycleError::Conflict("the account changed meanwhile; try again"))
}

/// Re-enables a disabled account: `waiting_for_authorization` with a fresh link mailed to
/// its last recipient (else the member), its freed seats taken again while its objects
/// exist. Refused over the seat limit (nothing written).
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id))]
pub async fn enable(s: &impl Ports, who: &Principal, id: &str) -> Result<AccountItem, LifecycleError> {
    let item = account_item(s, who, id).await?;
    let before: AccountItem = item.record()?;
    if before.status != AccountStatus::Disabled {
        return Err(LifecycleError::Conflict("only a disabled account can be enabled"));
    }
    let to = before
        .link_sent_to
        .as_deref()
        .and_then(|e| EmailAddress::parse("email", e).ok())
        .or_else(|| EmailAddress::parse("email", &who.email).ok())
        .ok_or(StoreError::Corrupt("no address for the authorization link".into()))?;
    let retake = before
        .offboarding
        .as_ref()
        .filter(|o| o.deleted_at.is_none())
        .map_or(0, |o| o.released_seats.min(before.discovery.counts.users.protected));
    let (used, seats) = crate::repo::seats::read(s, &who.partner_id).await?;
    if retake > s.seat_limit().saturating_sub(used) {
        return Err(LifecycleError::SeatLimit {
            limit: s.seat_limit(),
            used,
            requested: retake,
        });
    }
    reserve_mail(s, &before, &to).await?;
    let now = s.clock().now();
    let mut after = before.clone();
    after.status = AccountStatus::WaitingForAuthorization;
    after.consent_failure = None;
    if let Some(o) = after.offboarding.as_mut() {
        o.released_seats -= retake;
    }
    let audience = audience_for(after.managed_by);
    let link = new_link(s, &mut after, &to, audience)?;
    let mut ops = vec![
        WriteOp::Put {
            item: item.next_version(&after)?,
            condition: Condition::VersionIs(item.version),
        },
        link.op.clone(),
    ];
    ops.extend(crate::repo::due::entry_ops(Some(&before), &after)?);
    if retake > 0 {
        ops.push(crate::repo::seats::write(
            &who.partner_id,
            used + retake,
            seats.as_ref(),
        )?);
    }
    ops.push(audit::account_entry(
        &after,
        audit::member(&who.email),
        AuditAction::AccountEnabled,
        serde_json::json!({ "to": to.as_str(), "retaken_seats": retake }),
        now,
    )?);
    match s.store().transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed | StoreError::Conflict) => {
            return Err(LifecycleError::Conflict("the account changed meanwhile; try again"));
        }
        Err(e) => return Err(e.into()),
    }
    send_link(s, &after, &to, &link).await?;
    tracing::info!(account_id = %after.id, retaken_seats = retake, "account enabled");
    Ok(after)
}

/// Deleted per batch write (DynamoDB's limit is 25).
const DELETE_BATCH: usize = 25;

/// What a deletion job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Deletion {
    /// Not a disabled account due for deletion, or another job's: nothing read or deleted.
    NotDue,
    /// Some deleted; the budget ran out, the schedule continues at the next tick.
    Partial { deleted: u64 },
    /// Every discovered object is gone; the account is no longer scheduled.
    Done { deleted: u64 },
    /// An offer's unfinished account was removed (with its client when nothing else used it).
    Expired,
}

/// A scheduled job for an account that is not authorized: deletes a disabled account's
/// objects after the retention period, or removes an offer's unfinished account after
/// `repo::due::OFFER_UNFINISHED_DAYS`. Anything else (another job's, not yet due) does
/// nothing and fetches nothing.
pub async fn housekeeping(s: &impl Ports, job: &Job, budget: std::time::Duration) -> Result<Deletion, StoreError> {
    let key = keys::account(&job.partner, &job.account);
    let Some(item) = s.store().get(&key).await? else {
        return Ok(Deletion::NotDue);
    };
    let a: AccountItem = item.record()?;
    if a.discovery.job.as_ref().is_none_or(|j| j.id != job.id) {
        return Ok(Deletion::NotDue);
    }
    let now = s.clock().now();
    if crate::repo::due::deletion_due_at(&a).is_some_and(|at| at <= now) {
        return delete_objects(s, &key, job, budget).await;
    }
    if crate::repo::due::offer_expires_at(&a).is_some_and(|at| at <= now) {
        return remove_unfinished(s, &item, &a).await;
    }
    Ok(Deletion::NotDue)
}

/// Removes an unfinished offer account, its link and due entry, and its client (and the
/// client's name) when no other account of the partner uses it, in one transaction.
async fn remove_unfinished(s: &impl Ports, item: &Item, a: &AccountItem) -> Result<Deletion, StoreError> {
    let mut ops = vec![WriteOp::Delete {
        key: item.key.clone(),
        condition: Condition::VersionIs(item.version),
    }];
    if let Some(at) = crate::repo::due::scheduled_at(a) {
        ops.push(WriteOp::Delete {
            key: keys::due_entry(&a.id, at),
            condition: Condition::Always,
        });
    }
    if let Some(hash) = &a.current_link_hash {
        ops.push(WriteOp::Delete {
            key: keys::authorization_link(hash),
            condition: Condition::Always,
        });
    }
    let others = s
        .store()
        .query(
            &keys::partner_partition(&a.partner_id),
            keys::ACCOUNT_PREFIX,
            QueryOptions::default(),
        )
        .await?
        .items
        .iter()
        .map(Item::record::<AccountItem>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .any(|o| o.client_id == a.client_id && o.id != a.id);
    let client_removed = !others;
    if client_removed {
        ops.push(WriteOp::Delete {
            key: keys::client(&a.partner_id, &a.client_id),
            condition: Condition::Always,
        });
        if let Ok(name) = crate::domain::OrganizationName::parse("name", &a.client_name) {
            ops.push(WriteOp::Delete {
                key: keys::client_name(&a.partner_id, &name.folded()),
                condition: Condition::Always,
            });
        }
    }
    ops.push(audit::account_entry(
        a,
        crate::domain::Actor::System,
        AuditAction::AccountExpired,
        serde_json::json!({
            "offer_id": a.offer.as_ref().map(|o| o.offer_id.clone()),
            "client_removed": client_removed,
        }),
        s.clock().now(),
    )?);
    match s.store().transact(ops).await {
        Ok(()) => {
            tracing::info!(account_id = %a.id, client_removed, "unfinished offer account removed");
            Ok(Deletion::Expired)
        }
        // Consent completed meanwhile: it stays.
        Err(StoreError::ConditionFailed) => Ok(Deletion::NotDue),
        Err(e) => Err(e),
    }
}

/// [`housekeeping`]'s part for a disabled account past its retention period (the job checked
/// there): deletes its discovered objects (and delta checkpoints) in batches within `budget`,
/// then records the deletion on the account.
#[tracing::instrument(skip_all, fields(account_id = %job.account))]
async fn delete_objects(
    s: &impl Ports,
    key: &Key,
    job: &Job,
    budget: std::time::Duration,
) -> Result<Deletion, StoreError> {
    let started = std::time::Instant::now();
    let partition = keys::account_partition(&job.account);
    let mut deleted = 0u64;
    loop {
        let page = s
            .store()
            .query(
                &partition,
                "",
                QueryOptions {
                    limit: Some(DELETE_BATCH * 4),
                    after: None,
                },
            )
            .await?;
        if page.items.is_empty() {
            break;
        }
        for chunk in page.items.chunks(DELETE_BATCH) {
            s.store()
                .batch_write(Vec::new(), chunk.iter().map(|i| i.key.clone()).collect())
                .await?;
            deleted += chunk.len() as u64;
        }
        if started.elapsed() >= budget {
            crate::repo::jobs::unmark(s, key, &job.id).await;
            tracing::info!(deleted, "deletion continues at the next tick");
            return Ok(Deletion::Partial { deleted });
        }
    }
    let now = s.clock().now();
    crate::repo::accounts::modify(s, key, |a| {
        if a.status != AccountStatus::Disabled {
            return Ok::<_, StoreError>(false);
        }
        if let Some(o) = a.offboarding.as_mut() {
            o.deleted_at = Some(now);
            o.released_seats = 0;
        }
        a.discovery.counts = Default::default();
        a.discovery.job = None;
        Ok(true)
    })
    .await?;
    tracing::info!(deleted, "discovered objects of a disabled account deleted");
    Ok(Deletion::Done { deleted })
}
