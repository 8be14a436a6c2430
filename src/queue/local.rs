//! The in-process job queue (`cargo run`, tests): SQS's semantics on the store, so pending
//! jobs survive a restart. A send puts a message visible after its delay; a receive hands out
//! visible messages and hides them for a visibility timeout (a worker that dies leaves them to
//! reappear); a message received [`MAX_RECEIVES`] times without being deleted moves to the
//! dead letters, as SQS's redrive policy does.

use super::{Job, MAX_DELAY, Queue, QueueError};
use crate::clock::Clock;
use crate::store::keys::{self, QueuedMessageItem};
use crate::store::{Condition, Item, Pages, Store, StoreError, WriteOp};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Receives before a message is dead-lettered (the template's `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

pub struct LocalQueue {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sent: Notify,
}

/// A message handed out by [`LocalQueue::receive`].
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub body: String,
    pub receives: u32,
}

impl LocalQueue {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            sent: Notify::new(),
        }
    }

    /// Puts a raw body on the queue (tests: what a producer of bad jobs would send).
    pub async fn send_body(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let now = self.clock.now();
        let message = QueuedMessageItem {
            body: body.to_owned(),
            sent_at: now,
            visible_at: now + chrono::Duration::from_std(delay.min(MAX_DELAY)).unwrap_or_default(),
            receives: 0,
            reason: None,
        };
        // Send order first, so jobs are handed out about in the order they were sent.
        let id = format!(
            "{:020}-{}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            uuid::Uuid::new_v4()
        );
        let item = Item::from_record(keys::queued_message(keys::QUEUE_PENDING, &id), &message).map_err(store)?;
        self.store.put(item, Condition::NotExists).await.map_err(store)?;
        self.sent.notify_one();
        Ok(())
    }

    /// Hands out up to `max` visible messages, each hidden for `visibility`; a message over
    /// its receive count goes to the dead letters instead.
    pub async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, StoreError> {
        let now = self.clock.now();
        let hidden_until = now + chrono::Duration::from_std(visibility).unwrap_or_default();
        let mut out = Vec::new();
        let mut pages = Pages::new(self.store.as_ref(), keys::QUEUE_PENDING, keys::QUEUE_PREFIX, 100);
        while let Some(items) = pages.next().await? {
            for item in items {
                if out.len() >= max {
                    return Ok(out);
                }
                let mut m: QueuedMessageItem = item.record()?;
                if m.visible_at > now {
                    continue;
                }
                let id = item.key.sk[keys::QUEUE_PREFIX.len()..].to_owned();
                if m.receives >= MAX_RECEIVES {
                    self.move_to_dead(&item, &m, "received too often without success")
                        .await?;
                    continue;
                }
                m.receives += 1;
                m.visible_at = hidden_until;
                match self
                    .store
                    .put(item.next_version(&m)?, Condition::VersionIs(item.version))
                    .await
                {
                    Ok(()) => out.push(Received {
                        id,
                        body: m.body,
                        receives: m.receives,
                    }),
                    // Another receiver took it.
                    Err(StoreError::ConditionFailed | StoreError::Conflict) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    /// Deletes a handled message.
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.store
            .delete(&keys::queued_message(keys::QUEUE_PENDING, id), Condition::Always)
            .await
    }

    /// The earliest time a pending message becomes visible, if any is pending.
    pub async fn next_visible(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut earliest: Option<DateTime<Utc>> = None;
        let mut pages = Pages::new(self.store.as_ref(), keys::QUEUE_PENDING, keys::QUEUE_PREFIX, 100);
        while let Some(items) = pages.next().await? {
            for item in items {
                let m: QueuedMessageItem = item.record()?;
                earliest = Some(earliest.map_or(m.visible_at, |e| e.min(m.visible_at)));
            }
        }
        Ok(earliest)
    }

    /// Waits until something is sent (or `timeout` passes).
    pub async fn wait_for_send(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.sent.notified()).await;
    }

    /// The dead letters, oldest first: `(body, reason)`.
    pub async fn dead_letters(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        let mut pages = Pages::new(self.store.as_ref(), keys::QUEUE_DEAD, keys::QUEUE_PREFIX, 100);
        while let Some(items) = pages.next().await? {
            for item in items {
                let m: QueuedMessageItem = item.record()?;
                out.push((m.sent_at, m.body, m.reason.unwrap_or_default()));
            }
        }
        out.sort_by_key(|(at, _, _)| *at);
        Ok(out.into_iter().map(|(_, b, r)| (b, r)).collect())
    }

    async fn move_to_dead(&self, item: &Item, m: &QueuedMessageItem, reason: &str) -> Result<(), StoreError> {
        let id = &item.key.sk[keys::QUEUE_PREFIX.len()..];
        let dead = QueuedMessageItem {
            reason: Some(reason.to_owned()),
            ..m.clone()
        };
        tracing::error!(message_id = id, reason, "job moved to the dead letters");
        self.store
            .transact(vec![
                WriteOp::Delete {
                    key: item.key.clone(),
                    condition: Condition::VersionIs(item.version),
                },
                WriteOp::Put {
                    item: Item::from_record(keys::queued_message(keys::QUEUE_DEAD, id), &dead)?,
                    condition: Condition::Always,
                },
            ])
            .await
    }
}

fn store(e: StoreError) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

#[async_trait]
impl Queue for LocalQueue {
    async fn send(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        self.send_body(&job.body(), delay).await
    }

    async fn send_batch(&self, jobs: &[Job]) -> Result<Vec<Job>, QueueError> {
        for job in jobs {
            self.send(job, Duration::ZERO).await?;
        }
        Ok(Vec::new())
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        let now = self.clock.now();
        let dead = QueuedMessageItem {
            body: body.to_owned(),
            sent_at: now,
            visible_at: now,
            receives: 1,
            reason: Some(reason.to_owned()),
        };
        let id = uuid::Uuid::new_v4().to_string();
        let item = Item::from_record(keys::queued_message(keys::QUEUE_DEAD, &id), &dead).map_err(store)?;
        self.store.put(item, Condition::Always).await.map_err(store)
    }
}
