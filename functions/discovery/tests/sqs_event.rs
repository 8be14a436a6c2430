//! The discovery worker fed the real SQS event JSON from `events/discovery-jobs.json`, parsed
//! by the Lambda runtime's types exactly as on AWS. The batch holds a job, a poison body and
//! the same job delivered again (SQS is at-least-once): one run lists the tenant, the poison
//! goes to the dead-letter queue and is acknowledged, the copy is acknowledged or reported as
//! a batch item failure, and delivered again it does nothing. The event's fixed IDs are those
//! of an account seeded here. A job whose account another run holds is the one batch item
//! failure of its batch (SQS delivers it again later), while the others are acknowledged.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Context, LambdaEvent};
use onboarding::clock::Clock as _;
use onboarding::domain::{JobKind, PartnerId};
use onboarding::repo::jobs::{Queued, enqueue};
use onboarding::store::Store as _;
use onboarding::store::keys::{self, AccountItem, AccountStatus};
use onboarding_test_support::directory::MemoryDirectory;
use onboarding_test_support::entra::FakeEntra;
use onboarding_test_support::fixtures::{in_memory, seed_account};
use std::sync::Arc;

const TENANT: &str = "fa4e7e11-0000-4000-8000-0000000000cc";
const EVENT_PARTNER: &str = "9b2e4c6a-1d3f-4e5a-8b7c-0d1e2f3a4b5c";
const EVENT_ACCOUNT: &str = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d";
const EVENT_JOB: &str = "3f1c2b7a-6d4e-4a8b-9c0d-1e2f3a4b5c6d";

/// The event from `events/`, its IDs swapped for the seeded account's and its job's.
fn event(partner: &str, account: &str, job: &str) -> SqsEvent {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/discovery-jobs.json");
    let text = std::fs::read_to_string(path).expect("events/discovery-jobs.json");
    for id in [EVENT_PARTNER, EVENT_ACCOUNT, EVENT_JOB] {
        assert!(text.contains(id), "the event names {id}");
    }
    let text = text
        .replace(EVENT_PARTNER, partner)
        .replace(EVENT_ACCOUNT, account)
        .replace(EVENT_JOB, job);
    serde_json::from_str(&text).expect("an SQS event")
}

fn invoke(event: SqsEvent) -> LambdaEvent<SqsEvent> {
    let mut context = Context::default();
    context.deadline = (std::time::SystemTime::now() + std::time::Duration::from_secs(300))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    LambdaEvent::new(event, context)
}

type Rig = (
    Arc<FakeEntra>,
    onboarding::services::AppState,
    Arc<onboarding::store::embedded::EmbeddedStore>,
    Arc<onboarding::clock::ManualClock>,
);

/// In-memory services whose Microsoft and Directory ports are a 450-user fake tenant.
fn rig() -> Rig {
    let fake = FakeEntra::new(TENANT, 450);
    let m = in_memory();
    let state = m
        .services
        .with_identity(fake.clone(), Arc::new(onboarding::identity::Unconfigured))
        .with_directory_port(MemoryDirectory::new(&fake))
        .into_state();
    (fake, state, m.store, m.clock)
}

/// A seeded active account whose first job is queued, and the event from `events/` naming
/// that job.
async fn queued(
    state: &onboarding::services::AppState,
    store: &onboarding::store::embedded::EmbeddedStore,
    clock: &onboarding::clock::ManualClock,
    partner: &PartnerId,
) -> (onboarding::domain::AccountId, SqsEvent) {
    let account = seed_account(store, partner, AccountStatus::Active, TENANT, clock.now())
        .await
        .unwrap();
    let Queued::Sent(job) = enqueue(state, partner, &account, JobKind::First).await.unwrap() else {
        panic!("a job is queued")
    };
    let event = event(partner.as_str(), account.as_str(), &job.id);
    (account, event)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_job_a_poison_body_and_a_duplicate() {
    let (fake, state, store, clock) = rig();
    let partner = PartnerId::new();
    let (account, event) = queued(&state, &store, &clock, &partner).await;
    let ids: Vec<String> = event.records.iter().map(|r| r.message_id.clone().unwrap()).collect();
    let duplicate = event.records[2].clone();
    assert_eq!(duplicate.body, event.records[0].body, "the same job twice");

    let response = discovery::handle(&state, invoke(event)).await.unwrap();
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // The job and its duplicate run at once: whichever takes the account's lease second is
    // the one delivered again (never the poison body, never both).
    assert!(
        failed.is_empty() || failed == [ids[0].as_str()] || failed == [ids[2].as_str()],
        "only one copy of the job may be delivered again: {failed:?}"
    );

    let item: AccountItem = store
        .get(&keys::account(&partner, &account))
        .await
        .unwrap()
        .unwrap()
        .record()
        .unwrap();
    assert_eq!(item.discovery.counts.users.total, 450, "listed and counted once");
    assert!(item.discovery.job.is_none(), "the account waits for no job");
    let pages = fake.pages_served();
    assert_eq!(pages, 3 + 3, "one run's pages: users 3, groups, Teams, sites");

    let queue = state.local_queue.clone().unwrap();
    let dead = queue.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1, "the poison body is dead-lettered: {dead:?}");
    assert!(dead[0].0.contains("wipe"), "{dead:?}");

    // The duplicate, delivered again, is acknowledged and does nothing.
    let before = store.all_items().unwrap();
    let mut redelivered = SqsEvent::default();
    redelivered.records = vec![duplicate];
    let again = discovery::handle(&state, invoke(redelivered)).await.unwrap();
    assert!(again.batch_item_failures.is_empty(), "{again:?}");
    assert_eq!(store.all_items().unwrap(), before, "nothing written");
    assert_eq!(fake.pages_served(), pages, "the provider was not called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_account_is_busy_is_the_only_batch_item_failure() {
    let (_fake, state, store, clock) = rig();
    let partner = PartnerId::new();
    let mut records = Vec::new();
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let (account, event) = queued(&state, &store, &clock, &partner).await;
        let mut record = event.records[0].clone();
        record.message_id = Some(format!("message-{}", accounts.len()));
        records.push(record);
        accounts.push(account);
    }
    // Another run holds the second account (its lease runs for minutes yet).
    let until = clock.now() + chrono::Duration::minutes(5);
    onboarding::repo::accounts::modify(&state, &keys::account(&partner, &accounts[1]), |a| {
        a.discovery.running_until = Some(until);
        Ok::<_, onboarding::store::StoreError>(true)
    })
    .await
    .unwrap();

    let mut batch = SqsEvent::default();
    batch.records = records;
    let response = discovery::handle(&state, invoke(batch)).await.unwrap();
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["message-1"], "only the busy account's job is delivered again");
    let read = |i: usize| {
        let (store, key) = (store.clone(), keys::account(&partner, &accounts[i]));
        async move {
            let a: AccountItem = store.get(&key).await.unwrap().unwrap().record().unwrap();
            a
        }
    };
    let (done, busy) = (read(0).await, read(1).await);
    assert_eq!(done.discovery.counts.users.total, 450);
    assert!(done.discovery.job.is_none());
    assert_eq!(busy.discovery.counts.users.total, 0, "nothing ran for the busy account");
    assert!(busy.discovery.job.is_some(), "its job is still the one to run");
}
