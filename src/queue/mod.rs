//! The job queue port: discovery is work on a queue, not on a timer. Producers (the consent
//! callback, Refresh, the schedule's fan-out, a run that stops part-way) send [`Job`]s; the
//! worker runs one account per job. Adapters: [`sqs::SqsQueue`] (Amazon SQS; the worker is
//! the `discovery` function on an SQS event source) and [`local::LocalQueue`] (in process for
//! `cargo run` and tests; pending jobs live in the store, so a restart loses none).
//!
//! Delivery is at least once: a job may arrive twice, late, or after a newer one. The job's
//! `id` is also recorded on the account when it is queued, so the worker runs only the job the
//! account is waiting for (a duplicate or superseded job is acknowledged and does nothing).

pub mod local;
pub mod sqs;

pub use crate::domain::JobKind;
use crate::domain::{AccountId, PartnerId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest delay a queue takes on a message (SQS's `DelaySeconds` maximum).
pub const MAX_DELAY: Duration = Duration::from_secs(900);
/// Most messages per batch send (SQS's limit).
pub const MAX_BATCH: usize = 10;
/// Largest job body accepted on receipt (jobs are ~200 bytes).
pub const MAX_BODY: usize = 4096;

/// One unit of work: discover `account` (of `partner`) now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Random, recorded on the account when queued (see the module's notes).
    pub id: String,
    pub partner: PartnerId,
    pub account: AccountId,
    pub kind: JobKind,
    /// How many runs of this discovery came before (0, or the continuation's number).
    pub resume: u32,
}

/// Why a received body is not a job (it goes to the dead-letter queue, nothing is run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadJob {
    #[error("the job is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the job is not valid JSON of the job shape: {0}")]
    Shape(String),
    #[error("the job's {0} is not an ID")]
    Id(&'static str),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    id: String,
    partner: String,
    account: String,
    kind: JobKind,
    #[serde(default)]
    resume: u32,
}

impl Job {
    pub fn new(partner: &PartnerId, account: &AccountId, kind: JobKind, resume: u32) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            partner: partner.clone(),
            account: account.clone(),
            kind,
            resume,
        }
    }

    /// Parses a received body, refusing anything but a well-formed job.
    pub fn parse(body: &str) -> Result<Job, BadJob> {
        if body.len() > MAX_BODY {
            return Err(BadJob::TooLarge);
        }
        let raw: RawJob = serde_json::from_str(body).map_err(|e| BadJob::Shape(e.to_string()))?;
        if uuid::Uuid::parse_str(&raw.id).is_err() {
            return Err(BadJob::Id("id"));
        }
        Ok(Job {
            id: raw.id,
            partner: PartnerId::parse(&raw.partner).ok_or(BadJob::Id("partner"))?,
            account: AccountId::parse(&raw.account).ok_or(BadJob::Id("account"))?,
            kind: raw.kind,
            resume: raw.resume,
        })
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("a job serializes")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue refused or could not be reached: {0}")]
    Unavailable(String),
}

/// The producers' side of the queue (receiving is the runtime's: SQS events, or the local
/// adapter's own loop).
#[async_trait]
pub trait Queue: Send + Sync {
    /// Sends one job, visible after `delay` (at most [`MAX_DELAY`]).
    async fn send(&self, job: &Job, delay: Duration) -> Result<(), QueueError>;
    /// Sends up to [`MAX_BATCH`] jobs at once; answers the ones that were not accepted.
    async fn send_batch(&self, jobs: &[Job]) -> Result<Vec<Job>, QueueError>;
    /// Sets a body that is not a job aside on the dead-letter queue, with why.
    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError>;
}

/// A queue that refuses every send, saying why (a function configured without a queue; the
/// "queue down" tests).
pub struct Unavailable(pub &'static str);

#[async_trait]
impl Queue for Unavailable {
    async fn send(&self, _: &Job, _: Duration) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(self.0.into()))
    }
    async fn send_batch(&self, _: &[Job]) -> Result<Vec<Job>, QueueError> {
        Err(QueueError::Unavailable(self.0.into()))
    }
    async fn dead_letter(&self, _: &str, _: &str) -> Result<(), QueueError> {
        Err(QueueError::Unavailable(self.0.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_and_anything_else_is_refused() {
        let job = Job::new(&PartnerId::new(), &AccountId::new(), JobKind::First, 0);
        assert_eq!(Job::parse(&job.body()), Ok(job.clone()));
        let mut v: serde_json::Value = serde_json::from_str(&job.body()).unwrap();
        v["extra"] = 1.into();
        assert!(matches!(Job::parse(&v.to_string()), Err(BadJob::Shape(_))));
        let mut v: serde_json::Value = serde_json::from_str(&job.body()).unwrap();
        v["account"] = "ACCOUNT#../x".into();
        assert_eq!(Job::parse(&v.to_string()), Err(BadJob::Id("account")));
        let mut v: serde_json::Value = serde_json::from_str(&job.body()).unwrap();
        v["kind"] = "wipe".into();
        assert!(matches!(Job::parse(&v.to_string()), Err(BadJob::Shape(_))));
        assert!(matches!(Job::parse("not json"), Err(BadJob::Shape(_))));
        assert_eq!(Job::parse(&"x".repeat(MAX_BODY + 1)), Err(BadJob::TooLarge));
    }
}
