//! Flows: what combines use cases, in one thin layer above them. The scheduled run is
//! discovery of every due account, then auto-add where its local time has come.

use crate::services::AppState;
use crate::store::keys::{self, AccountItem, RegistryItem};
use crate::store::{Key, Pages, StoreError};
use crate::usecases::discovery::{Outcome, discover_account, discoverable, due_at};
use crate::usecases::protection;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Instant;

/// What one scheduled run did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ScheduledRun {
    /// Accounts in the registry.
    pub accounts: u64,
    pub due: u64,
    pub done: u64,
    pub partial: u64,
    pub failed: u64,
    pub revoked: u64,
    pub busy: u64,
    /// Accounts whose auto-add time had come.
    pub auto_add: u64,
    /// Of those, how many failed.
    pub auto_add_failed: u64,
}

/// Longest a scheduled run keeps starting accounts (the Lambda allows 15 minutes).
const SCHEDULED_BUDGET: std::time::Duration = std::time::Duration::from_secs(12 * 60);
/// Accounts discovered at once by a scheduled run.
const CONCURRENT_ACCOUNTS: usize = 4;

/// The scheduled run (EventBridge, or the local scheduler): discovers every account that is
/// due, just-authorized ones first, then applies auto-add where its local time has come.
pub async fn run_scheduled(s: &AppState, time: Option<DateTime<Utc>>) -> Result<ScheduledRun, StoreError> {
    let started = Instant::now();
    let now = s.clock.now();
    let mut totals = ScheduledRun::default();
    let mut due: Vec<(bool, DateTime<Utc>, AccountItem)> = Vec::new();
    let mut auto_add: Vec<AccountItem> = Vec::new();
    let mut registry = Pages::new(s.store.as_ref(), keys::DISCOVERY_REGISTRY, keys::ACCOUNT_PREFIX, 100);
    while let Some(items) = registry.next().await? {
        let wanted: Vec<Key> = items
            .iter()
            .filter_map(|i| i.record::<RegistryItem>().ok())
            .map(|r| keys::account(&r.partner_id, &r.account_id))
            .collect();
        totals.accounts += wanted.len() as u64;
        for item in s.store.batch_get(&wanted).await? {
            let Ok(account) = item.record::<AccountItem>() else {
                continue;
            };
            if !discoverable(account.status) {
                continue;
            }
            if account.auto_add.as_ref().is_some_and(|a| a.next_run_at <= now) {
                auto_add.push(account.clone());
            }
            if let Some(at) = due_at(&account).filter(|t| *t <= now) {
                due.push((account.discovery.last_run_at.is_some(), at, account));
            }
        }
    }
    // Never discovered first (just authorized), then the longest waiting.
    due.sort_by_key(|(ran, at, _)| (*ran, *at));
    totals.due = due.len() as u64;
    tracing::info!(event_time = ?time, accounts = totals.accounts, due = totals.due, "scheduled discovery starts");
    let mut running = tokio::task::JoinSet::new();
    let mut queue = due.into_iter().map(|(_, _, a)| a);
    loop {
        while running.len() < CONCURRENT_ACCOUNTS {
            let Some(account) = queue.next() else { break };
            let Some(budget) = SCHEDULED_BUDGET.checked_sub(started.elapsed()) else {
                break;
            };
            let s = s.clone();
            running.spawn(async move { discover_account(&s, &account.partner_id, &account.id, budget).await });
        }
        let Some(joined) = running.join_next().await else { break };
        match joined {
            Ok(Ok(run)) => match run.outcome {
                Outcome::Done => totals.done += 1,
                Outcome::Partial => totals.partial += 1,
                Outcome::Revoked(_) => totals.revoked += 1,
                Outcome::Busy => totals.busy += 1,
                Outcome::Failed(_) | Outcome::AppCredentials => totals.failed += 1,
            },
            Ok(Err(e)) => {
                totals.failed += 1;
                tracing::error!(cause = %e, "discovery of an account failed");
            }
            Err(e) => {
                totals.failed += 1;
                tracing::error!(cause = %e, "discovery task panicked");
            }
        }
    }
    for account in auto_add {
        totals.auto_add += 1;
        if let Err(e) = protection::run_auto_add(s, &account.partner_id, &account.id).await {
            totals.auto_add_failed += 1;
            tracing::error!(cause = %e, account_id = %account.id, "auto-add failed");
        }
    }
    tracing::info!(
        ?totals,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "scheduled discovery done"
    );
    Ok(totals)
}

impl ScheduledRun {
    /// Accounts whose discovery or auto-add failed in this run.
    pub fn failures(&self) -> u64 {
        self.failed + self.auto_add_failed
    }
}
