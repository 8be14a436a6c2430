//! Discovery against the fake Entra/Graph (`onboarding_test_support::entra`) with injected faults: a 500 in
//! the middle of paging, a malformed page, a 410 delta link, 429 throttling (short and long),
//! revoked consent. Each run is checked for what it wrote and what the next run does.

mod common;

use onboarding::clock::{Clock as _, ManualClock, RecordingSleeper};
use onboarding::domain::{AccountId, PartnerId};
use onboarding::email::memory::MemoryMailer;
use onboarding::identity::graph::{GraphClient, HttpDirectory, RetryPolicy};
use onboarding::identity::http::{EntraClient, MicrosoftSettings, http_client};
use onboarding::services::{AppState, Links, Services};
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::keys::{self, AccountItem, AccountStatus, DiscoveredItem, ObjectKind};
use onboarding::store::{QueryOptions, Store};
use onboarding::usecases::discovery::{Outcome, discover_account};
use onboarding_test_support::entra::{FakeEntra, Fault, FaultKind};
use onboarding_test_support::fixtures::seed_account;
use secrecy::{SecretSlice, SecretString};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "fa4e7e11-0000-4000-8000-000000000001";

struct Rig {
    fake: Arc<FakeEntra>,
    state: AppState,
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    /// Every wait discovery asked for (none is slept).
    sleeper: Arc<RecordingSleeper>,
    partner: PartnerId,
    account: AccountId,
}

async fn rig(users: usize) -> Rig {
    let fake = FakeEntra::new(TENANT, users);
    let base = fake.serve().await;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let sleeper = Arc::new(RecordingSleeper::default());
    let store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
    let entra = EntraClient::new(
        MicrosoftSettings {
            client_id: "app".into(),
            client_secret: SecretString::from("secret"),
            login_url: base.clone(),
            graph_url: base.clone(),
            redirect_uri: "https://api.example/v1/callback/microsoft".into(),
        },
        http_client(Duration::from_secs(5)),
    );
    let state = Services::new(
        store.clone(),
        Arc::new(MemoryMailer::default()),
        clock.clone(),
        SecretSlice::from(vec![3u8; 32]),
        Links {
            public_base_url: "https://api.example".into(),
            console_url: "https://console.example".into(),
        },
    )
    .with_identity(Arc::new(entra), Arc::new(onboarding::identity::Unconfigured))
    .with_directory_port(Arc::new(HttpDirectory::new(
        GraphClient::new(http_client(Duration::from_secs(5)), RetryPolicy::default()).with_sleeper(sleeper.clone()),
        &base,
        &base,
    )))
    .into_state();
    let partner = PartnerId::new();
    let account = seed_account(store.as_ref(), &partner, AccountStatus::Active, TENANT, clock.now())
        .await
        .unwrap();
    Rig {
        fake,
        state,
        store,
        clock,
        sleeper,
        partner,
        account,
    }
}

impl Rig {
    async fn run(&self) -> onboarding::usecases::discovery::AccountRun {
        discover_account(&self.state, &self.partner, &self.account, Duration::from_secs(60))
            .await
            .unwrap()
    }

    async fn users(&self) -> Vec<DiscoveredItem> {
        let page = self
            .store
            .query(
                &keys::account_partition(&self.account),
                ObjectKind::Users.prefix(),
                QueryOptions::default(),
            )
            .await
            .unwrap();
        page.items.iter().map(|i| i.record().unwrap()).collect()
    }

    async fn account(&self) -> AccountItem {
        self.store
            .get(&keys::account(&self.partner, &self.account))
            .await
            .unwrap()
            .unwrap()
            .record()
            .unwrap()
    }
}

fn status(status: u16, retry_after: Option<u64>, after: u32) -> Fault {
    Fault {
        after,
        kind: FaultKind::Status { status, retry_after },
    }
}

#[tokio::test]
async fn a_500_in_the_middle_of_paging_then_the_next_run_completes_without_loss_or_duplicates() {
    let r = rig(1000).await;
    // Pages 1 and 2 pass; page 3 fails on every retry (the client tries 4 times).
    r.fake.inject(status(500, None, 2));
    for _ in 0..3 {
        r.fake.inject(status(500, None, 0));
    }
    let first = r.run().await;
    assert!(matches!(first.outcome, Outcome::Failed(_)), "{first:?}");
    assert_eq!(r.users().await.len(), 400, "the two pages read are kept");
    assert_eq!(r.account().await.discovery.counts.users.total, 400);

    let second = r.run().await;
    assert_eq!(second.outcome, Outcome::Done, "{second:?}");
    let users = r.users().await;
    let ids: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!((users.len(), ids.len()), (1000, 1000), "no loss, no duplicates");
    assert_eq!(
        second.kind(ObjectKind::Users).unwrap().pages,
        3,
        "resumed at the failed page"
    );
    assert_eq!(r.account().await.discovery.counts.users.total, 1000);
}

#[tokio::test]
async fn a_malformed_page_records_an_error_and_half_writes_nothing() {
    let r = rig(1000).await;
    r.fake.inject(Fault {
        after: 1,
        kind: FaultKind::Malformed,
    });
    let first = r.run().await;
    match &first.outcome {
        Outcome::Failed(why) => assert!(why.contains("malformed"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.users().await.len(),
        200,
        "only the page before; nothing of the bad one"
    );
    let a = r.account().await;
    assert!(a.discovery.last_error.unwrap().contains("malformed"));
    assert_eq!(a.status, AccountStatus::Active);
    assert_eq!(r.run().await.outcome, Outcome::Done);
    assert_eq!(r.users().await.len(), 1000);
}

#[tokio::test]
async fn a_410_delta_link_falls_back_to_a_full_sync() {
    let r = rig(1000).await;
    assert_eq!(r.run().await.outcome, Outcome::Done);
    r.fake.remove_users(5, 1);
    r.fake.expire_delta_tokens();
    r.fake.inject(Fault {
        after: 0,
        kind: FaultKind::Gone,
    });
    let run = r.run().await;
    assert_eq!(run.outcome, Outcome::Done, "{run:?}");
    let users = run.kind(ObjectKind::Users).unwrap();
    assert!(users.full);
    assert_eq!(
        (users.added, users.changed, users.removed),
        (0, 0, 1),
        "only the change is written"
    );
    let gone: Vec<_> = r.users().await.into_iter().filter(|u| u.deleted).collect();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].id, FakeEntra::user_id(5));
}

#[tokio::test]
async fn throttling_is_honoured_and_a_long_wait_resumes_later() {
    let r = rig(600).await;
    r.fake.inject(status(429, Some(1), 1));
    assert_eq!(r.run().await.outcome, Outcome::Done, "a 1 s Retry-After is waited out");
    assert_eq!(r.sleeper.waits(), [Duration::from_secs(1)]);
    assert_eq!(r.users().await.len(), 600);

    r.fake.rename_users(0, 450);
    r.fake.inject(status(429, Some(300), 1));
    let before = r.clock.now();
    let run = r.run().await;
    assert_eq!(run.outcome, Outcome::Partial, "{run:?}");
    let a = r.account().await;
    let due = a.discovery.next_due_at.unwrap();
    assert!(
        due >= before + chrono::Duration::seconds(300),
        "resumes after Retry-After"
    );
    r.clock.advance(chrono::Duration::seconds(301));
    let run = r.run().await;
    assert_eq!(run.outcome, Outcome::Done);
    assert_eq!(
        run.kind(ObjectKind::Users).unwrap().changed,
        250,
        "continued where it stopped"
    );
    assert_eq!(r.users().await.iter().filter(|u| u.name.ends_with("v1")).count(), 450);
}

#[tokio::test]
async fn revocation_marks_the_account_and_tells_the_partner() {
    let r = rig(300).await;
    assert_eq!(r.run().await.outcome, Outcome::Done);
    r.fake.revoke();
    let run = r.run().await;
    assert!(matches!(run.outcome, Outcome::Revoked(_)), "{run:?}");
    assert_eq!(r.account().await.status, AccountStatus::AccessRevoked);
    assert_eq!(r.users().await.len(), 300, "nothing dropped");
}
