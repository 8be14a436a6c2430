//! The discovery worker: one job = one account's discovery, then its auto-add when that is
//! due (auto-add acts on what discovery found). The same [`handle`] runs each message of an
//! SQS event (the `discovery` function) and each message of the in-process queue
//! ([`drain`], [`run_local`]).
//!
//! A message is acknowledged when its work is done or there is none (the account is gone,
//! no longer authorized, or waits for another job: a duplicate or superseded delivery); a
//! body that is not a job is set aside on the dead-letter queue; anything else (the store
//! failed, another run still holds the account) is left to be delivered again.

use crate::queue::Job;
use crate::services::AppState;
use crate::store::StoreError;
use crate::store::keys::{self, AccountItem};
use crate::usecases::discovery::{self, AccountRun, DiscoveryError, Outcome};
use crate::usecases::{lifecycle, protection};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// What handling one message did (it is acknowledged).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "handled")]
pub enum Handled {
    /// The account was discovered (and auto-added to when due).
    Ran {
        run: AccountRun,
        #[serde(skip_serializing_if = "Option::is_none")]
        auto_add: Option<keys::AutoAddResult>,
    },
    /// A disabled account's discovered objects were deleted (all, or as many as the budget
    /// allowed: the schedule continues), or an offer's unfinished account removed.
    Deleted { deletion: lifecycle::Deletion },
    /// Nothing to do: why.
    Skipped { why: &'static str },
    /// Not a job: set aside on the dead-letter queue.
    DeadLettered { why: String },
}

/// Why a message is to be delivered again.
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    #[error("discovery failed: {0}")]
    Discovery(#[from] DiscoveryError),
    #[error("another run holds the account")]
    Busy,
    #[error("auto-add failed: {0}")]
    AutoAdd(String),
    #[error("deleting a disabled account's objects failed: {0}")]
    Deletion(StoreError),
    #[error("the dead-letter queue refused: {0}")]
    DeadLetter(String),
}

/// Handles one message body within `budget`.
pub async fn handle(s: &AppState, body: &str, budget: Duration) -> Result<Handled, Retry> {
    let job = match Job::parse(body) {
        Ok(job) => job,
        Err(bad) => {
            tracing::error!(cause = %bad, bytes = body.len(), "a queued message is not a job: dead-lettered");
            s.queue
                .dead_letter(body, &bad.to_string())
                .await
                .map_err(|e| Retry::DeadLetter(e.to_string()))?;
            return Ok(Handled::DeadLettered { why: bad.to_string() });
        }
    };
    let run = match discovery::run_job(s, &job, budget).await {
        Ok(run) => run,
        Err(DiscoveryError::NotFound) => {
            return Ok(Handled::Skipped {
                why: "the account is gone",
            });
        }
        Err(DiscoveryError::NotAuthorized) => {
            // Nothing is fetched for an account that is not authorized; a disabled one past
            // its retention period has its objects deleted, an offer's unfinished one past
            // its days is removed.
            return match lifecycle::housekeeping(s, &job, budget).await {
                Ok(lifecycle::Deletion::NotDue) => Ok(Handled::Skipped {
                    why: "the account is not authorized",
                }),
                Ok(deletion) => Ok(Handled::Deleted { deletion }),
                Err(e) => Err(Retry::Deletion(e)),
            };
        }
        Err(e) => return Err(e.into()),
    };
    match run.outcome {
        Outcome::Superseded => {
            return Ok(Handled::Skipped {
                why: "the account waits for another job (a duplicate or superseded delivery)",
            });
        }
        // SQS may deliver a message twice at once: the copy comes back later, and by then
        // the account no longer waits for it.
        Outcome::Busy => return Err(Retry::Busy),
        _ => {}
    }
    let auto_add = if run.continued_by.is_none() && !matches!(run.outcome, Outcome::Revoked(_)) {
        auto_add_if_due(s, &job).await?
    } else {
        None
    };
    Ok(Handled::Ran { run, auto_add })
}

async fn auto_add_if_due(s: &AppState, job: &Job) -> Result<Option<keys::AutoAddResult>, Retry> {
    let key = keys::account(&job.partner, &job.account);
    let account: Option<AccountItem> = s
        .store
        .get(&key)
        .await
        .and_then(|i| i.map(|i| i.record()).transpose())
        .map_err(|e| Retry::AutoAdd(e.to_string()))?;
    let now = s.clock.now();
    let due = account
        .is_some_and(|a| crate::repo::due::discoverable(a.status) && a.auto_add.is_some_and(|x| x.next_run_at <= now));
    if !due {
        return Ok(None);
    }
    protection::run_auto_add(s, &job.partner, &job.account)
        .await
        .map(Some)
        .map_err(|e| Retry::AutoAdd(e.to_string()))
}

/// A job's time budget in the in-process worker: what the `discovery` function gets on
/// Lambda (its 300 s timeout less a 30 s margin).
pub const LOCAL_BUDGET: Duration = Duration::from_secs(270);
/// Jobs run at once by the in-process worker.
const LOCAL_CONCURRENCY: usize = 4;
/// The in-process queue's visibility timeout: longer than a run's lease, as SQS's is.
pub const LOCAL_VISIBILITY: Duration = Duration::from_secs(7 * 60);

/// What [`drain`] did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Drained {
    pub handled: u64,
    pub ran: u64,
    pub skipped: u64,
    /// Jobs that deleted a disabled account's objects.
    pub deleted: u64,
    pub dead_lettered: u64,
    pub retried: u64,
    /// The runs, in the order they ended.
    pub runs: Vec<AccountRun>,
}

/// Runs the in-process queue's visible messages, and those they queue without delay, until
/// none is left: [`LOCAL_CONCURRENCY`] at once, one at a time per account. (Tests and the
/// local worker; `None` when the services run no queue in process.)
pub async fn drain(s: &AppState, budget: Duration) -> Result<Option<Drained>, StoreError> {
    let Some(queue) = s.local_queue.clone() else {
        return Ok(None);
    };
    let mut total = Drained::default();
    loop {
        let received = queue.receive(64, LOCAL_VISIBILITY).await?;
        if received.is_empty() {
            return Ok(Some(total));
        }
        // One account's messages in order, accounts in parallel.
        let mut by_account: HashMap<String, Vec<_>> = HashMap::new();
        for m in received {
            let account = Job::parse(&m.body).map(|j| j.account.to_string()).unwrap_or_default();
            by_account.entry(account).or_default().push(m);
        }
        let mut groups = futures_util::stream::iter(by_account.into_values().map(|messages| {
            let (s, queue) = (s.clone(), queue.clone());
            async move {
                let mut done = Vec::new();
                for m in messages {
                    let handled = handle(&s, &m.body, budget).await;
                    if handled.is_ok() {
                        queue.delete(&m.id).await?;
                    }
                    done.push(handled);
                }
                Ok::<_, StoreError>(done)
            }
        }))
        .buffer_unordered(LOCAL_CONCURRENCY);
        use futures_util::StreamExt as _;
        while let Some(group) = groups.next().await {
            for handled in group? {
                total.handled += 1;
                match handled {
                    Ok(Handled::Ran { run, .. }) => {
                        total.ran += 1;
                        total.runs.push(run);
                    }
                    Ok(Handled::Skipped { .. }) => total.skipped += 1,
                    Ok(Handled::Deleted { .. }) => total.deleted += 1,
                    Ok(Handled::DeadLettered { .. }) => total.dead_lettered += 1,
                    Err(e) => {
                        tracing::warn!(cause = %e, "a job will be delivered again");
                        total.retried += 1;
                    }
                }
            }
        }
    }
}

/// The in-process worker of `cargo run`: drains the queue whenever something is sent or a
/// delayed message comes due.
pub async fn run_local(s: AppState, budget: Duration) {
    let Some(queue) = s.local_queue.clone() else {
        return;
    };
    loop {
        if let Err(e) = drain(&s, budget).await {
            tracing::error!(cause = %e, "the in-process job queue could not be read");
        }
        let wait = match queue.next_visible().await {
            Ok(Some(at)) => (at - s.clock.now())
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_millis(50)),
            _ => Duration::from_secs(60),
        };
        queue.wait_for_send(wait.min(Duration::from_secs(60))).await;
    }
}
