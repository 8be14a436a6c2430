//! Discovery over the in-memory twin of the Directory port (`onboarding_test_support::directory`)
//! and the fake Entra's in-memory Microsoft port: no socket, no wall-clock wait. A 450-user
//! tenant in three pages, a second run that writes nothing, throttling that stops the run at
//! its position, revocation.

use onboarding::clock::{Clock as _, ManualClock};
use onboarding::domain::{AccountId, PartnerId};
use onboarding::email::memory::MemoryMailer;
use onboarding::services::{AppState, Links, Services};
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::keys::{AccountStatus, ObjectKind};
use onboarding::usecases::discovery::{Outcome, discover_account};
use onboarding_test_support::directory::MemoryDirectory;
use onboarding_test_support::entra::{FakeEntra, Fault, FaultKind};
use onboarding_test_support::fixtures::seed_account;
use secrecy::SecretSlice;
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "fa4e7e11-0000-4000-8000-0000000000aa";

async fn rig(users: usize) -> (Arc<FakeEntra>, AppState, Arc<ManualClock>, PartnerId, AccountId) {
    let fake = FakeEntra::new(TENANT, users);
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
    let state = Services::new(
        store.clone(),
        Arc::new(MemoryMailer::default()),
        clock.clone(),
        SecretSlice::from(vec![5u8; 32]),
        Links {
            public_base_url: "https://api.example".into(),
            console_url: "https://console.example".into(),
        },
    )
    .with_identity(fake.clone(), Arc::new(onboarding::identity::Unconfigured))
    .with_directory_port(MemoryDirectory::new(&fake))
    .into_state();
    let partner = PartnerId::new();
    let account = seed_account(store.as_ref(), &partner, AccountStatus::Active, TENANT, clock.now())
        .await
        .unwrap();
    (fake, state, clock, partner, account)
}

#[tokio::test]
async fn a_tenant_is_discovered_in_process_and_a_second_run_writes_nothing() {
    let (fake, state, _clock, partner, account) = rig(450).await;
    let run = discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(run.outcome, Outcome::Done, "{run:?}");
    let users = run.kind(ObjectKind::Users).unwrap();
    assert_eq!((users.pages, users.seen, users.added), (3, 450, 450));
    assert_eq!(
        fake.pages_served(),
        3 + 3,
        "users in 3 pages; groups, Teams, sites one each"
    );

    let again = discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Done);
    assert_eq!(again.writes(), 0, "{again:?}");
}

#[tokio::test]
async fn throttling_stops_at_its_position_and_revocation_stops_discovery() {
    let (fake, state, _clock, partner, account) = rig(450).await;
    fake.inject(Fault {
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some(300),
        },
        after: 1,
    });
    let run = discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(run.outcome, Outcome::Partial, "{run:?}");
    assert_eq!(
        run.kind(ObjectKind::Users).unwrap().seen,
        200,
        "page 1 kept, page 2 throttled"
    );

    fake.revoke();
    let run = discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(matches!(run.outcome, Outcome::Revoked(_)), "{run:?}");
}
