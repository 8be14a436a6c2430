//! The schedule function fed the real EventBridge Scheduler event from `events/`, parsed by
//! the Lambda runtime's types exactly as on AWS: it queues one job per due account, nothing
//! for accounts that are not due, and is an error to the runtime when the queue refuses (the
//! account stays due, the next tick queues it).

use lambda_runtime::{Context, LambdaEvent};
use onboarding::clock::Clock as _;
use onboarding::domain::PartnerId;
use onboarding::queue::{Job, JobKind, Unavailable};
use onboarding::store::keys::AccountStatus;
use onboarding_test_support::fixtures::{in_memory, seed_account};
use schedule::handle;
use std::sync::Arc;

fn event() -> LambdaEvent<aws_lambda_events::eventbridge::EventBridgeEvent<serde_json::Value>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/scheduled-discovery.json");
    let text = std::fs::read_to_string(path).expect("events/scheduled-discovery.json");
    LambdaEvent::new(
        serde_json::from_str(&text).expect("an EventBridge event"),
        Context::default(),
    )
}

/// An account of `partner` in `status` (due now when authorized), on the test's store.
async fn seed(
    store: &onboarding::store::embedded::EmbeddedStore,
    clock: &onboarding::clock::ManualClock,
    partner: &PartnerId,
    status: AccountStatus,
) -> onboarding::domain::AccountId {
    seed_account(
        store,
        partner,
        status,
        "7a3c1f0e-5b2d-4c8e-9f61-2d4b8a0c3e11",
        clock.now(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_scheduled_event_queues_one_job_per_due_account() {
    let m = in_memory();
    let (store, clock) = (m.store.clone(), m.clock.clone());
    let state = m.services.into_state();
    let queue = state.local_queue.clone().unwrap();

    // No accounts: the event is understood and nothing is due.
    let out = handle(&state, event()).await.unwrap();
    assert_eq!(
        (out["due"].as_u64(), out["queued"].as_u64()),
        (Some(0), Some(0)),
        "{out}"
    );

    // One authorized account due now, one still waiting for authorization (never due).
    let partner = PartnerId::new();
    let mut active = None;
    for status in [AccountStatus::Active, AccountStatus::WaitingForAuthorization] {
        let id = seed(&store, &clock, &partner, status).await;
        active.get_or_insert(id);
    }
    let out = handle(&state, event()).await.unwrap();
    assert_eq!(
        (out["due"].as_u64(), out["queued"].as_u64()),
        (Some(1), Some(1)),
        "{out}"
    );
    let sent = queue.receive(10, std::time::Duration::from_secs(60)).await.unwrap();
    assert_eq!(sent.len(), 1);
    let job = Job::parse(&sent[0].body).unwrap();
    assert_eq!((job.account, job.kind), (active.unwrap(), JobKind::Scheduled));
    // Its job is on its way: the next tick queues nothing.
    let out = handle(&state, event()).await.unwrap();
    assert_eq!(
        (out["due"].as_u64(), out["queued"].as_u64()),
        (Some(0), Some(0)),
        "{out}"
    );
}

#[tokio::test]
async fn a_queue_that_refuses_fails_the_tick_and_the_account_stays_due() {
    let m = in_memory();
    let (store, clock) = (m.store.clone(), m.clock.clone());
    let working = onboarding::services::Services::new(
        m.store.clone(),
        m.mailer.clone(),
        m.clock.clone(),
        secrecy::SecretSlice::from(vec![5u8; 32]),
        m.services.links.clone(),
    )
    .into_state();
    let down = m
        .services
        .with_queue(Arc::new(Unavailable("SQS is down (test)")))
        .into_state();
    let partner = PartnerId::new();
    seed(&store, &clock, &partner, AccountStatus::Active).await;
    let err = handle(&down, event()).await.unwrap_err();
    assert_eq!(err.to_string(), "1 of 1 due accounts could not be queued (see the log)");
    // The next tick, with the queue back, queues it at once.
    let out = handle(&working, event()).await.unwrap();
    assert_eq!(
        (out["due"].as_u64(), out["queued"].as_u64()),
        (Some(1), Some(1)),
        "{out}"
    );
}

#[tokio::test]
async fn a_tick_out_of_time_leaves_the_rest_due_for_the_next() {
    let m = in_memory();
    let (store, clock) = (m.store.clone(), m.clock.clone());
    let state = m.services.into_state();
    // Enough due accounts that most due index partitions hold more than one page (200).
    let partner = PartnerId::new();
    let n = 3_600;
    for _ in 0..n {
        seed(&store, &clock, &partner, AccountStatus::Active).await;
    }
    // No time at all: each partition's first page is finished (marked and sent), then it stops.
    let first = onboarding::flows::schedule::fan_out_within(&state, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(first.cut_short > 0 && first.queued < n, "{first:?}");
    assert_eq!(
        (first.queued, first.unsent),
        (first.due, 0),
        "every entry read was queued"
    );
    // The next tick queues the rest, and nothing twice.
    let second = handle(&state, event()).await.unwrap();
    assert_eq!(second["cut_short"].as_u64(), Some(0), "{second}");
    assert_eq!(first.queued + second["queued"].as_u64().unwrap(), n, "{second}");
}
