//! Store fixtures: what earlier steps of a flow leave behind, for tests and benches that start
//! later.

use chrono::{DateTime, Utc};
use onboarding::domain::{AccountId, ClientId, ManagedBy, PartnerId, Platform};
use onboarding::store::keys::{self, AccountItem, AccountStatus, RegistryItem};
use onboarding::store::{Condition, Item, Store, StoreError, WriteOp};

/// Stores a Microsoft 365 account of `tenant_id` for `partner` in `status`, authorized and due
/// for discovery at `now` when active, with its discovery registry entry: what the consent
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
        link_sent_to: None,
        link_expires_at: None,
        authorized_at: authorized,
        discovery_due_at: authorized,
        refresh_token_enc: None,
        discovery: Default::default(),
        auto_add: None,
    };
    let registry = RegistryItem {
        partner_id: partner.clone(),
        account_id: id.clone(),
    };
    store
        .transact(vec![
            WriteOp::Put {
                item: Item::from_record(keys::account(partner, &id), &account)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: Item::from_record(keys::discovery_registry(&id), &registry)?,
                condition: Condition::NotExists,
            },
        ])
        .await?;
    Ok(id)
}
