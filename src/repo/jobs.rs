//! Queueing an account's discovery job: the job's ID is recorded on the account first (so the
//! worker can tell the job the account waits for from a duplicate or a superseded one), then
//! the job is sent. A send that fails takes the record back, so the account is due again at
//! once and the schedule queues it: a job is never lost, at worst late by one tick.

use crate::domain::{AccountId, JobKind, PartnerId};
use crate::queue::Job;
use crate::repo::due::{JOB_GRACE, discoverable};
use crate::services::{HasClock, HasQueue};
use crate::store::keys::{self, AccountItem, PendingJob};
use crate::store::{Key, StoreError};
use chrono::{DateTime, Utc};
use std::time::Duration;

crate::ports!(HasClock, HasQueue, crate::repo::accounts::Ports);

/// What queueing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// Sent; the account waits for it.
    Sent(Job),
    /// A job was already queued (or running) and will do it.
    Already,
    /// The account is not authorized: nothing to discover.
    NotDiscoverable,
    /// The queue refused: the account is due, the schedule queues it at its next tick.
    Unsent,
}

/// Records `job` on the account as the one it waits for, handed out after `delay`.
pub fn mark(a: &mut AccountItem, job: &Job, now: DateTime<Utc>, delay: Duration) {
    a.discovery.job = Some(PendingJob {
        id: job.id.clone(),
        kind: job.kind,
        queued_at: now,
        not_before: now + chrono::Duration::from_std(delay).unwrap_or_default(),
    });
}

/// Whether a job already queued or running will do what a new one would.
pub fn in_flight(a: &AccountItem, now: DateTime<Utc>) -> bool {
    let running = a.discovery.running_until.is_some_and(|t| t > now);
    let queued = a.discovery.job.as_ref().is_some_and(|j| {
        // Handed out soon, and not so old that it must have been lost.
        j.not_before <= now + chrono::Duration::seconds(5) && now < j.not_before + JOB_GRACE
    });
    running || queued
}

/// Queues a `kind` job for the account now, unless one is already on its way.
pub async fn enqueue(
    s: &impl Ports,
    partner: &PartnerId,
    account: &AccountId,
    kind: JobKind,
) -> Result<Queued, StoreError> {
    let key = keys::account(partner, account);
    let now = s.clock().now();
    let job = Job::new(partner, account, kind, 0);
    let mut outcome = Queued::Sent(job.clone());
    crate::repo::accounts::modify(s, &key, |a| {
        outcome = if !discoverable(a.status) {
            Queued::NotDiscoverable
        } else if in_flight(a, now) {
            Queued::Already
        } else {
            mark(a, &job, now, Duration::ZERO);
            Queued::Sent(job.clone())
        };
        Ok::<_, StoreError>(matches!(outcome, Queued::Sent(_)))
    })
    .await?;
    if let Queued::Sent(job) = &outcome
        && !send(s, job, Duration::ZERO).await
    {
        return Ok(Queued::Unsent);
    }
    Ok(outcome)
}

/// Sends a job already marked on its account; when the queue refuses, takes the mark back
/// (the account is then due at once). Answers whether it was sent.
pub async fn send(s: &impl Ports, job: &Job, delay: Duration) -> bool {
    match s.queue().send(job, delay).await {
        Ok(()) => {
            tracing::info!(job_id = %job.id, kind = job.kind.as_str(), delay_s = delay.as_secs(), "job queued");
            true
        }
        Err(e) => {
            tracing::error!(cause = %e, job_id = %job.id, "could not queue a discovery job; the schedule will");
            unmark(s, &keys::account(&job.partner, &job.account), &job.id).await;
            false
        }
    }
}

/// Clears the account's pending job if it is still `job_id` (best effort: should this fail
/// too, the job's grace runs out and the schedule queues the account then).
pub async fn unmark(s: &impl Ports, key: &Key, job_id: &str) {
    let cleared = crate::repo::accounts::modify(s, key, |a| {
        let ours = a.discovery.job.as_ref().is_some_and(|j| j.id == job_id);
        if ours {
            a.discovery.job = None;
        }
        Ok::<_, StoreError>(ours)
    })
    .await;
    if let Err(e) = cleared {
        tracing::error!(cause = %e, "could not clear an unsent job from its account");
    }
}
