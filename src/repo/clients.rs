//! New client and account records: what creating an account writes, whether a partner member
//! adds it or a client starts it through an offer.

use crate::domain::{AccountId, ClientId, EmailAddress, ManagedBy, OrganizationName, PartnerId, Platform, TenantRef};
use crate::services::HasClock;
use crate::store::keys::{self, AccountItem, AccountStatus, ClientItem};
use crate::store::{Condition, Item, StoreError, WriteOp};

crate::ports!(HasClock);

/// A new client and its writes: the client, and its name (which no other client of the
/// partner may hold: the put fails when it does).
pub fn new_client(
    s: &impl Ports,
    partner: &PartnerId,
    name: &OrganizationName,
    contact_email: Option<&EmailAddress>,
) -> Result<(ClientItem, Vec<WriteOp>), StoreError> {
    let client = ClientItem {
        id: ClientId::new(),
        name: name.to_string(),
        contact_email: contact_email.map(|e| e.to_string()),
        created_at: s.clock().now(),
    };
    let index = keys::ClientNameItem {
        client_id: client.id.clone(),
    };
    let ops = vec![
        WriteOp::Put {
            item: Item::from_record(keys::client(partner, &client.id), &client)?,
            condition: Condition::NotExists,
        },
        WriteOp::Put {
            item: Item::from_record(keys::client_name(partner, &name.folded()), &index)?,
            condition: Condition::NotExists,
        },
    ];
    Ok((client, ops))
}

/// A new account record, waiting for authorization.
pub fn waiting_account(
    partner: &PartnerId,
    created_by: &str,
    client: &ClientItem,
    platform: Platform,
    managed_by: ManagedBy,
    tenant: Option<TenantRef>,
    now: chrono::DateTime<chrono::Utc>,
) -> AccountItem {
    AccountItem {
        id: AccountId::new(),
        partner_id: partner.clone(),
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        platform,
        managed_by,
        status: AccountStatus::WaitingForAuthorization,
        tenant,
        tenant_id: None,
        tenant_domain: None,
        missing_permissions: Vec::new(),
        created_by: created_by.to_owned(),
        created_at: now,
        current_link_hash: None,
        offboarding: None,
        offer: None,
        names_indexed: false,
        link_sent_to: None,
        link_expires_at: None,
        authorized_at: None,
        discovery_due_at: None,
        refresh_token_enc: None,
        discovery: Default::default(),
        auto_add: None,
        consent_failure: None,
    }
}
