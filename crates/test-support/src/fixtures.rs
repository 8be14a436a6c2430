//! Store fixtures: what earlier steps of a flow leave behind, for tests and benches that start
//! later.

use chrono::{DateTime, Utc};
use onboarding::domain::{AccountId, ClientId, ManagedBy, PartnerId, Platform};
use onboarding::store::keys::{self, AccountItem, AccountStatus};
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
    let id = AccountId::new();
    let authorized = (status == AccountStatus::Active).then_some(now);
    let account = AccountItem {
        id: id.clone(),
        partner_id: partner.clone(),
        client_id: ClientId::new(),
        client_name: "Fake Corp".into(),
        platform: Platform::Microsoft365,
        managed_by: ManagedBy::Partner,
        status,
        tenant: None,
        tenant_id: Some(tenant_id.into()),
        tenant_domain: None,
        missing_permissions: vec![],
        created_by: "owner@msp.example".into(),
        created_at: now,
        current_link_hash: None,
        offboarding: None,
        offer: None,
        link_sent_to: None,
        link_expires_at: None,
        authorized_at: authorized,
        discovery_due_at: authorized,
        refresh_token_enc: None,
        discovery: Default::default(),
        auto_add: None,
        consent_failure: None,
    };
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
