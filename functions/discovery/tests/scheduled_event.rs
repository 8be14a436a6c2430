//! The discovery function fed the real EventBridge Scheduler event from `events/`, parsed by
//! the Lambda runtime's types exactly as on AWS.

use discovery::handle;
use lambda_runtime::{Context, LambdaEvent};
use onboarding::app::{Links, Services};
use onboarding::clock::ManualClock;
use onboarding::domain::{AccountId, ClientId, ManagedBy, PartnerId, Platform};
use onboarding::email::memory::MemoryMailer;
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::keys::{self, AccountItem, AccountStatus, RegistryItem};
use onboarding::store::{Condition, Item, Store as _};
use secrecy::SecretSlice;
use std::sync::Arc;

fn event() -> LambdaEvent<aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/scheduled-discovery.json");
    let text = std::fs::read_to_string(path).expect("events/scheduled-discovery.json");
    LambdaEvent::new(
        serde_json::from_str(&text).expect("an EventBridge event"),
        Context::default(),
    )
}

#[tokio::test]
async fn a_scheduled_event_discovers_the_due_accounts() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
    let state = Services::new(
        store.clone(),
        Arc::new(MemoryMailer::default()),
        clock.clone(),
        SecretSlice::from(vec![1u8; 32]),
        Links {
            public_base_url: "https://api.example".into(),
            console_url: "https://console.example".into(),
        },
    )
    .into_state();

    // No accounts: the event is understood and nothing is due.
    let out = handle(&state, event()).await.unwrap();
    assert_eq!(
        (out["accounts"].as_u64(), out["due"].as_u64()),
        (Some(0), Some(0)),
        "{out}"
    );

    // One authorized account due now (its provider is not configured here, so its run fails
    // and says why), one still waiting for authorization (never due).
    let partner = PartnerId::new();
    for status in [AccountStatus::Active, AccountStatus::WaitingForAuthorization] {
        let id = AccountId::new();
        let now = onboarding::clock::Clock::now(&*clock);
        let account = AccountItem {
            id: id.clone(),
            partner_id: partner.clone(),
            client_id: ClientId::new(),
            client_name: "Contoso".into(),
            platform: Platform::Microsoft365,
            managed_by: ManagedBy::Partner,
            status,
            tenant: None,
            tenant_id: Some("7a3c1f0e-5b2d-4c8e-9f61-2d4b8a0c3e11".into()),
            tenant_domain: None,
            missing_permissions: vec![],
            created_by: "owner@msp.example".into(),
            created_at: now,
            current_link_hash: None,
            link_sent_to: None,
            link_expires_at: None,
            authorized_at: Some(now),
            discovery_due_at: Some(now),
            refresh_token_enc: None,
            discovery: Default::default(),
            auto_add: None,
        };
        let item = Item::from_record(keys::account(&partner, &id), &account).unwrap();
        store.put(item, Condition::NotExists).await.unwrap();
        let registry = RegistryItem {
            partner_id: partner.clone(),
            account_id: id.clone(),
        };
        let item = Item::from_record(keys::discovery_registry(&id), &registry).unwrap();
        store.put(item, Condition::NotExists).await.unwrap();
    }
    let out = handle(&state, event()).await.unwrap();
    assert_eq!(
        (out["accounts"].as_u64(), out["due"].as_u64(), out["failed"].as_u64()),
        (Some(2), Some(1), Some(1)),
        "{out}"
    );
}
