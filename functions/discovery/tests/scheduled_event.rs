//! The discovery function fed the real EventBridge Scheduler event from `events/`, parsed by
//! the Lambda runtime's types exactly as on AWS.

use discovery::handle;
use lambda_runtime::{Context, LambdaEvent};
use onboarding::clock::ManualClock;
use onboarding::domain::PartnerId;
use onboarding::email::memory::MemoryMailer;
use onboarding::services::{Links, Services};
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::keys::AccountStatus;
use onboarding_test_support::fixtures::seed_account;
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
    // and says why), one still waiting for authorization (never due). A run in which an
    // account failed is an error to the runtime (its retries, dead letters and alarm see it).
    let partner = PartnerId::new();
    for status in [AccountStatus::Active, AccountStatus::WaitingForAuthorization] {
        let now = onboarding::clock::Clock::now(&*clock);
        seed_account(
            store.as_ref(),
            &partner,
            status,
            "7a3c1f0e-5b2d-4c8e-9f61-2d4b8a0c3e11",
            now,
        )
        .await
        .unwrap();
    }
    let err = handle(&state, event()).await.unwrap_err();
    assert_eq!(err.to_string(), "1 of 1 due accounts failed (see the log)");
}
