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

/// The names in a kind's name index, in index order (read through `Pages::on_index`, a page
/// of 100 at a time).
async fn names_in_order(state: &AppState, account: &AccountId, kind: ObjectKind) -> Vec<String> {
    use onboarding::store::keys::{self, DiscoveredItem};
    let mut pages =
        onboarding::store::Pages::on_index(state.store.as_ref(), keys::names_partition(account, kind), "", 100);
    let mut names = Vec::new();
    while let Some(items) = pages.next().await.unwrap() {
        names.extend(items.iter().map(|i| i.record::<DiscoveredItem>().unwrap().name));
    }
    names
}

fn folded_sorted(names: &[String]) -> Vec<String> {
    let mut sorted = names.to_vec();
    sorted.sort_by_key(|n| n.to_lowercase());
    sorted
}

#[tokio::test]
async fn objects_are_indexed_by_name_and_a_rename_moves_them() {
    let (fake, state, _clock, partner, account) = rig(450).await;
    discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    let names = names_in_order(&state, &account, ObjectKind::Users).await;
    assert_eq!(names.len(), 450);
    assert_eq!(names, folded_sorted(&names), "name order");
    fake.rename_users(0, 10);
    let run = discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(run.kind(ObjectKind::Users).unwrap().changed, 10, "{run:?}");
    let renamed = names_in_order(&state, &account, ObjectKind::Users).await;
    assert_eq!(renamed.len(), 450, "each object once: the old name's entry moved");
    assert_eq!(renamed, folded_sorted(&renamed));
    assert_ne!(renamed, names);
}

#[tokio::test]
async fn objects_stored_before_the_name_index_join_it_at_the_next_run_as_no_change() {
    use onboarding::store::keys;
    let (_fake, state, _clock, partner, account) = rig(450).await;
    discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    // As stored by an older version: no name-index entry.
    let mut stored = onboarding::store::Pages::new(
        state.store.as_ref(),
        keys::account_partition(&account),
        ObjectKind::Users.prefix(),
        500,
    );
    let mut old = Vec::new();
    while let Some(items) = stored.next().await.unwrap() {
        old.extend(items.into_iter().map(|mut i| {
            i.gsi1 = None;
            i
        }));
    }
    state.store.batch_write(old, Vec::new()).await.unwrap();
    assert!(names_in_order(&state, &account, ObjectKind::Users).await.is_empty());
    // The account as an older version left it: never indexed.
    let key = keys::account(&partner, &account);
    let item = state.store.get(&key).await.unwrap().unwrap();
    let mut a: keys::AccountItem = item.record().unwrap();
    a.names_indexed = false;
    state
        .store
        .put(
            item.next_version(&a).unwrap(),
            onboarding::store::Condition::VersionIs(item.version),
        )
        .await
        .unwrap();
    let run = discover_account(&state, &partner, &account, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(run.writes(), 0, "indexing is not a change: {run:?}");
    assert_eq!(names_in_order(&state, &account, ObjectKind::Users).await.len(), 450);
    let a: keys::AccountItem = state.store.get(&key).await.unwrap().unwrap().record().unwrap();
    assert!(a.names_indexed, "once per account");
}
