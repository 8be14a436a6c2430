//! The schedule's tick (EventBridge every few minutes; locally a timer): queues one
//! `scheduled` job per due account and nothing more. Due accounts are read from the due
//! index's [`keys::DUE_SHARDS`] partitions in parallel, each only as far as "due by now"; each
//! job is recorded on its account (which moves the account's entry past the job's grace, so
//! the next tick does not queue it again) and sent in batches of ten. A tick stops reading
//! new pages after [`TICK_BUDGET`] (well inside the schedule function's timeout), so it is
//! never cut between marking accounts and sending their jobs; what it left is still due and the
//! next tick queues it.

use crate::domain::JobKind;
use crate::queue::{Job, MAX_BATCH};
use crate::repo::due::scheduled_at;
use crate::repo::jobs::{in_flight, mark, unmark};
use crate::services::AppState;
use crate::store::keys::{self, DueItem};
use crate::store::{Condition, Item, Pages, StoreError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long a tick reads new due pages (the schedule function's timeout is 120 s; a page
/// started before this ends is finished: its accounts marked and their jobs sent).
pub const TICK_BUDGET: Duration = Duration::from_secs(60);

/// What one tick did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct FanOut {
    /// Due index entries read (all due by now).
    pub due: u64,
    /// Jobs queued.
    pub queued: u64,
    /// Due entries whose account was already waiting for a job or running.
    pub in_flight: u64,
    /// Entries of accounts that are gone or changed since (removed or left).
    pub stale: u64,
    /// Jobs the queue refused (their accounts stay due for the next tick).
    pub unsent: u64,
    /// Query pages read, over all partitions, and the most read from one.
    pub pages: u64,
    pub max_pages_per_shard: u64,
    /// Partitions left part-read when the budget ran out (the next tick reads on).
    pub cut_short: u64,
}

impl FanOut {
    fn add(&mut self, o: &FanOut) {
        self.due += o.due;
        self.queued += o.queued;
        self.in_flight += o.in_flight;
        self.stale += o.stale;
        self.unsent += o.unsent;
        self.pages += o.pages;
        self.max_pages_per_shard = self.max_pages_per_shard.max(o.pages);
        self.cut_short += o.cut_short;
    }
}

/// Due entries read per query page.
const PAGE: usize = 200;
/// Accounts of one partition marked at once.
const CONCURRENT_MARKS: usize = 8;

/// One tick: every account due by now gets a job (within [`TICK_BUDGET`]).
pub async fn fan_out(s: &AppState) -> Result<FanOut, StoreError> {
    fan_out_within(s, TICK_BUDGET).await
}

/// One tick that reads new pages only while `budget` lasts (at least one page per partition).
pub async fn fan_out_within(s: &AppState, budget: Duration) -> Result<FanOut, StoreError> {
    let started = Instant::now();
    let now = s.clock.now();
    let mut shards = tokio::task::JoinSet::new();
    for shard in 0..keys::DUE_SHARDS {
        let s = s.clone();
        shards.spawn(async move { fan_out_shard(&s, shard, now, started + budget).await });
    }
    let mut total = FanOut::default();
    let mut first_error = None;
    while let Some(joined) = shards.join_next().await {
        match joined {
            Ok(Ok(o)) => total.add(&o),
            Ok(Err(e)) => {
                tracing::error!(cause = %e, "a due index partition could not be read");
                first_error.get_or_insert(e);
            }
            Err(e) => {
                tracing::error!(cause = %e, "a due index partition's task panicked");
                first_error.get_or_insert(StoreError::Unavailable(e.to_string()));
            }
        }
    }
    tracing::info!(
        ?total,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "schedule fanned out"
    );
    match first_error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

async fn fan_out_shard(s: &AppState, shard: u32, now: DateTime<Utc>, until: Instant) -> Result<FanOut, StoreError> {
    let mut out = FanOut::default();
    // Past every entry due at `now` itself (`~` sorts after an account ID's characters).
    let cutoff = format!("{}{}#~", keys::DUE_PREFIX, keys::due_time(now));
    let partition = keys::due_partition(shard);
    let mut pages = Pages::new(s.store.as_ref(), partition, keys::DUE_PREFIX, PAGE);
    while let Some(items) = pages.next().await? {
        out.pages += 1;
        // Entries are in due-time order: the first one past now ends the partition's work.
        let due: Vec<Item> = items.into_iter().take_while(|i| i.key.sk <= cutoff).collect();
        let reached_end = due.len() < PAGE;
        out.due += due.len() as u64;
        let marked: Vec<Result<Marked, StoreError>> = futures_util::stream::iter(due)
            .map(|entry| mark_due(s, entry, now))
            .buffer_unordered(CONCURRENT_MARKS)
            .collect()
            .await;
        let mut jobs = Vec::new();
        for m in marked {
            match m? {
                Marked::Job(job) => jobs.push(job),
                Marked::InFlight => out.in_flight += 1,
                Marked::Stale => out.stale += 1,
            }
        }
        for batch in jobs.chunks(MAX_BATCH) {
            let refused = match s.queue.send_batch(batch).await {
                Ok(refused) => refused,
                Err(e) => {
                    tracing::error!(cause = %e, "the queue refused a batch of scheduled jobs");
                    batch.to_vec()
                }
            };
            for job in &refused {
                unmark(s, &keys::account(&job.partner, &job.account), &job.id).await;
            }
            out.unsent += refused.len() as u64;
            out.queued += (batch.len() - refused.len()) as u64;
        }
        if reached_end {
            break;
        }
        if Instant::now() >= until {
            out.cut_short = 1;
            break;
        }
    }
    Ok(out)
}

enum Marked {
    Job(Job),
    InFlight,
    Stale,
}

/// Records a scheduled job on the entry's account (which moves the entry).
async fn mark_due(s: &AppState, entry: Item, now: DateTime<Utc>) -> Result<Marked, StoreError> {
    let due: DueItem = entry.record()?;
    let job = Job::new(&due.partner_id, &due.account_id, JobKind::Scheduled, 0);
    let mut marked = Marked::Stale;
    let account = crate::repo::accounts::modify_if_exists(s, &keys::account(&due.partner_id, &due.account_id), |a| {
        marked = if scheduled_at(a) != Some(due.at) {
            Marked::Stale
        } else if in_flight(a, now) {
            Marked::InFlight
        } else {
            mark(a, &job, now, std::time::Duration::ZERO);
            Marked::Job(job.clone())
        };
        Ok::<_, StoreError>(matches!(marked, Marked::Job(_)))
    })
    .await?;
    if account.is_none() || matches!(marked, Marked::Stale) {
        // An entry its account does not explain (the account is gone, or the entry is left
        // from before a change): removed, so it is not read again.
        tracing::warn!(key = %entry.key.sk, "removing a stale due index entry");
        s.store.delete(&entry.key, Condition::Always).await?;
        return Ok(Marked::Stale);
    }
    Ok(marked)
}
