//! Store fixtures: what earlier steps of a flow leave behind, for tests and benches that start
//! later.

use chrono::{DateTime, Utc};
use onboarding::domain::{AccountId, ClientId, ManagedBy, PartnerId, Platform};
use onboarding::store::keys::{self, AccountStatus, ClientItem};
use onboarding::store::{Condition, Item, Store, StoreError, WriteOp};

/// Stores a Microsoft 365 account of `tenant_id` for `partner` in `status`, authorized and due
/// for discovery at `now` when active, with its due index entry: what the consent
/// callback leaves behind, for tests and benches that start after consent.
pub async fn seed_account(
    store: &dyn Store,
    partner: &PartnerId,
    status: AccountStatus,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> Result<AccountId, StoreError> {
    let client = ClientItem {
        id: ClientId::new(),
        name: "Fake Corp".into(),
        contact_email: None,
        created_at: now,
    };
    // The record an account is created with, then as consent leaves it.
    let mut account = onboarding::repo::clients::waiting_account(
        partner,
        "owner@msp.example",
        &client,
        Platform::Microsoft365,
        ManagedBy::Partner,
        None,
        now,
    );
    let id = account.id.clone();
    let authorized = (status == AccountStatus::Active).then_some(now);
    account.status = status;
    account.tenant_id = Some(tenant_id.into());
    account.authorized_at = authorized;
    account.discovery_due_at = authorized;
    let mut ops = vec![WriteOp::Put {
        item: Item::from_record(keys::account(partner, &id), &account)?,
        condition: Condition::NotExists,
    }];
    ops.extend(onboarding::repo::due::entry_ops(None, &account)?);
    store.transact(ops).await?;
    Ok(id)
}

/// In-memory services on a manual clock: the embedded store in memory, a memory mailer, the
/// in-process job queue, fixed keys and example links; identity providers unconfigured until
/// `with_identity`. The parts are kept to look at.
pub struct InMemory {
    pub services: onboarding::services::Services,
    pub store: std::sync::Arc<onboarding::store::embedded::EmbeddedStore>,
    pub mailer: std::sync::Arc<onboarding::email::memory::MemoryMailer>,
    pub clock: std::sync::Arc<onboarding::clock::ManualClock>,
}

pub fn in_memory() -> InMemory {
    use std::sync::Arc;
    let clock = Arc::new(onboarding::clock::ManualClock::new(Utc::now()));
    let store = Arc::new(onboarding::store::embedded::EmbeddedStore::in_memory(clock.clone()));
    let mailer = Arc::new(onboarding::email::memory::MemoryMailer::default());
    let services = onboarding::services::Services::new(
        store.clone(),
        mailer.clone(),
        clock.clone(),
        secrecy::SecretSlice::from(vec![5u8; 32]),
        onboarding::services::Links {
            public_base_url: "https://api.example".into(),
            console_url: "https://console.example".into(),
        },
    );
    InMemory {
        services,
        store,
        mailer,
        clock,
    }
}

/// User `i` of a seeded tenant: `u000042`, "User 000042", `user000042@fake.example`, first
/// seen at `first_seen`, not protected.
pub fn discovered_user(i: usize, first_seen: DateTime<Utc>) -> keys::DiscoveredItem {
    keys::DiscoveredItem {
        id: format!("u{i:06}"),
        name: format!("User {i:06}"),
        email: Some(format!("user{i:06}@fake.example")),
        url: None,
        enabled: true,
        protected: false,
        deleted: false,
        first_seen,
        last_seen: first_seen,
        protected_at: None,
    }
}

/// Stores `count` users ([`discovered_user`]) in the account, as discovery stores them (with
/// their name-index entries), a thousand to a batch.
pub async fn seed_users(
    store: &dyn Store,
    account: &AccountId,
    count: usize,
    first_seen: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut puts = Vec::new();
    for i in 0..count {
        puts.push(keys::discovered_item(
            account,
            keys::ObjectKind::Users,
            &discovered_user(i, first_seen),
        )?);
        if puts.len() == 1000 {
            store.batch_write(std::mem::take(&mut puts), Vec::new()).await?;
        }
    }
    if !puts.is_empty() {
        store.batch_write(puts, Vec::new()).await?;
    }
    Ok(())
}
