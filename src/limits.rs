//! Rate limits held in the store, so they count across Lambda instances: fixed windows
//! (`window_seconds` long, aligned on the epoch), one counter item per subject and window,
//! expiring with its window. A subject (an email address, a source IP, an account ID) is
//! stored only as its SHA-256.
//!
//! Two ways to use a limit:
//! - [`take`]: count this attempt, refusing once `max` were counted in the window (mails,
//!   signups, Refresh).
//! - [`check`] before the work, then [`record`] only when the attempt should count (sign-in
//!   counts failures, but refuses right and wrong passwords alike once over).
//!
//! A refused attempt writes nothing. Counting is optimistic (a conditional put on the
//! counter's version, retried), so parallel attempts can never pass `max`.

use crate::clock::Clock;
use crate::crypto::sha256_hex;
use crate::store::keys::{self, RateCounterItem};
use crate::store::{Condition, Item, Key, Store, StoreError};

/// A limit: at most `max` in each window of `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Names the counter in the key layout (`LIMIT#<name>#...`).
    pub name: &'static str,
    pub max: u32,
    pub window_seconds: i64,
}

impl Limit {
    pub const fn new(name: &'static str, max: u32, window_seconds: i64) -> Self {
        Self {
            name,
            max,
            window_seconds,
        }
    }
}

/// Over a limit: try again in `retry_after` seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry after {retry_after} s")]
pub struct RateLimited {
    pub retry_after: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Limited(#[from] RateLimited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Window {
    key: Key,
    end: i64,
    retry_after: i64,
}

fn window(limit: &Limit, subject: &str, now: i64) -> Window {
    let start = now - now.rem_euclid(limit.window_seconds);
    let end = start + limit.window_seconds;
    Window {
        key: keys::rate_counter(limit.name, &sha256_hex(subject), start),
        end,
        retry_after: (end - now).max(1),
    }
}

async fn current(store: &dyn Store, w: &Window) -> Result<Option<(u64, u32)>, StoreError> {
    Ok(match store.get(&w.key).await? {
        Some(item) => Some((item.version, item.record::<RateCounterItem>()?.count)),
        None => None,
    })
}

/// Refuses when `max` attempts were already counted in this window; counts nothing.
pub async fn check(store: &dyn Store, clock: &dyn Clock, limit: &Limit, subject: &str) -> Result<(), LimitError> {
    let w = window(limit, subject, clock.now().timestamp());
    match current(store, &w).await? {
        Some((_, count)) if count >= limit.max => Err(RateLimited {
            retry_after: w.retry_after,
        }
        .into()),
        _ => Ok(()),
    }
}

/// Counts one attempt, even past `max` (what [`check`] refuses on).
pub async fn record(store: &dyn Store, clock: &dyn Clock, limit: &Limit, subject: &str) -> Result<(), StoreError> {
    bump(store, clock, limit, subject, None).await.map_err(|e| match e {
        LimitError::Store(e) => e,
        LimitError::Limited(_) => StoreError::Conflict,
    })
}

/// Counts one attempt unless `max` were already counted in this window (then nothing is
/// written and the caller is told how long to wait).
pub async fn take(store: &dyn Store, clock: &dyn Clock, limit: &Limit, subject: &str) -> Result<(), LimitError> {
    bump(store, clock, limit, subject, Some(limit.max)).await
}

async fn bump(
    store: &dyn Store,
    clock: &dyn Clock,
    limit: &Limit,
    subject: &str,
    cap: Option<u32>,
) -> Result<(), LimitError> {
    let w = window(limit, subject, clock.now().timestamp());
    for _ in 0..16 {
        let (condition, count) = match current(store, &w).await? {
            Some((version, count)) => (Condition::VersionIs(version), count),
            None => (Condition::NotExists, 0),
        };
        if cap.is_some_and(|max| count >= max) {
            return Err(RateLimited {
                retry_after: w.retry_after,
            }
            .into());
        }
        let mut item = Item::from_record(w.key.clone(), &RateCounterItem { count: count + 1 })?.expiring_at(w.end);
        if let Condition::VersionIs(v) = condition {
            item.version = v + 1;
        }
        match store.put(item, condition).await {
            Ok(()) => return Ok(()),
            Err(StoreError::ConditionFailed | StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::embedded::EmbeddedStore;
    use chrono::Duration;

    const FIVE_A_MINUTE: Limit = Limit::new("test", 5, 60);

    #[tokio::test]
    async fn take_refuses_past_max_until_the_window_ends() {
        let clock = std::sync::Arc::new(ManualClock::default());
        let store = EmbeddedStore::in_memory(clock.clone());
        for _ in 0..5 {
            take(&store, &*clock, &FIVE_A_MINUTE, "a@example.com").await.unwrap();
        }
        let Err(LimitError::Limited(l)) = take(&store, &*clock, &FIVE_A_MINUTE, "a@example.com").await else {
            panic!("the sixth attempt must be refused");
        };
        assert!((1..=60).contains(&l.retry_after));
        // Another subject has its own counter.
        take(&store, &*clock, &FIVE_A_MINUTE, "b@example.com").await.unwrap();
        clock.advance(Duration::seconds(l.retry_after));
        take(&store, &*clock, &FIVE_A_MINUTE, "a@example.com").await.unwrap();
    }

    #[tokio::test]
    async fn check_counts_nothing_and_record_counts_past_max() {
        let clock = std::sync::Arc::new(ManualClock::default());
        let store = EmbeddedStore::in_memory(clock.clone());
        check(&store, &*clock, &FIVE_A_MINUTE, "ip").await.unwrap();
        for _ in 0..7 {
            record(&store, &*clock, &FIVE_A_MINUTE, "ip").await.unwrap();
        }
        assert!(matches!(
            check(&store, &*clock, &FIVE_A_MINUTE, "ip").await,
            Err(LimitError::Limited(_))
        ));
    }

    #[tokio::test]
    async fn parallel_takes_never_pass_max() {
        let clock = std::sync::Arc::new(ManualClock::default());
        let store = std::sync::Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, clock) = (store.clone(), clock.clone());
                tokio::spawn(async move { take(&*store, &*clock, &FIVE_A_MINUTE, "x").await.is_ok() })
            })
            .collect();
        let mut passed = 0;
        for t in tasks {
            passed += usize::from(t.await.unwrap());
        }
        assert_eq!(passed, 5);
    }
}
