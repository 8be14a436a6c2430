//! Discovery jobs through the worker and the in-process queue, over the in-memory twins (the
//! fake Entra's Microsoft port and its Graph as the Directory port): the job a just-authorized
//! account waits for, duplicates (later and at once), continuations under a tiny budget and
//! after throttling, bodies that are not jobs, jobs with nothing to do, and a worker killed
//! mid-run. Counts are checked against the tenant exactly: no loss, no double counting.

use async_trait::async_trait;
use onboarding::clock::{Clock as _, ManualClock};
use onboarding::domain::{AccountId, JobKind, PartnerId};
use onboarding::flows::worker::{self, Handled, Retry};
use onboarding::identity::graph::{Directory, GraphError, GraphPage};
use onboarding::queue::Job;
use onboarding::repo::jobs::{Queued, enqueue};
use onboarding::services::AppState;
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::keys::{self, AccountItem, AccountStatus, ObjectKind};
use onboarding::store::{Item, Store as _};
use onboarding::usecases::discovery::Outcome;
use onboarding_test_support::directory::MemoryDirectory;
use onboarding_test_support::entra::{FakeEntra, Fault, FaultKind};
use onboarding_test_support::fixtures::{in_memory, seed_account};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "fa4e7e11-0000-4000-8000-0000000000bb";
const BUDGET: Duration = Duration::from_secs(60);

/// The Directory twin, with the manual clock moved one second per page (so what a run writes
/// is later than when it started, as on a real clock).
struct Ticking {
    inner: Arc<MemoryDirectory>,
    clock: Arc<ManualClock>,
}

#[async_trait]
impl Directory for Ticking {
    fn graph_url(&self) -> &str {
        self.inner.graph_url()
    }
    fn google_admin_url(&self) -> &str {
        self.inner.google_admin_url()
    }
    async fn graph_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        self.clock.advance(chrono::Duration::seconds(1));
        self.inner.graph_page(tenant, token, url).await
    }
    async fn google_users_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        self.inner.google_users_page(tenant, token, url).await
    }
}

struct Rig {
    fake: Arc<FakeEntra>,
    state: AppState,
    store: Arc<EmbeddedStore>,
    clock: Arc<ManualClock>,
    partner: PartnerId,
    account: AccountId,
}

async fn rig(users: usize) -> Rig {
    let fake = FakeEntra::new(TENANT, users);
    let m = in_memory();
    let (store, clock) = (m.store.clone(), m.clock.clone());
    let directory = Arc::new(Ticking {
        inner: MemoryDirectory::new(&fake),
        clock: clock.clone(),
    });
    let state = m
        .services
        .with_identity(fake.clone(), Arc::new(onboarding::identity::Unconfigured))
        .with_directory_port(directory)
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
        partner,
        account,
    }
}

impl Rig {
    async fn account(&self) -> AccountItem {
        let key = keys::account(&self.partner, &self.account);
        self.store.get(&key).await.unwrap().unwrap().record().unwrap()
    }

    /// Queues the account's first job (what the consent callback does) and answers its body.
    async fn first_job(&self) -> String {
        let Queued::Sent(job) = enqueue(&self.state, &self.partner, &self.account, JobKind::First)
            .await
            .unwrap()
        else {
            panic!("a job is queued")
        };
        job.body()
    }

    async fn drain(&self) -> worker::Drained {
        worker::drain(&self.state, BUDGET).await.unwrap().unwrap()
    }

    fn users_stored(&self) -> usize {
        self.objects()
            .iter()
            .filter(|i| i.key.sk.starts_with(ObjectKind::Users.prefix()))
            .count()
    }

    /// Every stored item but the queue's (for "nothing written" checks).
    fn objects(&self) -> Vec<Item> {
        self.store
            .all_items()
            .unwrap()
            .into_iter()
            .filter(|i| !i.key.pk.starts_with("QUEUE#"))
            .collect()
    }

    fn queue(&self) -> Arc<onboarding::queue::local::LocalQueue> {
        self.state.local_queue.clone().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_job_lists_the_users_and_a_later_duplicate_does_nothing() {
    let r = rig(450).await;
    let body = r.first_job().await;
    assert_eq!(
        r.account().await.discovery.job.as_ref().map(|j| j.kind),
        Some(JobKind::First)
    );
    let drained = r.drain().await;
    assert_eq!((drained.handled, drained.ran), (1, 1), "{drained:?}");
    let a = r.account().await;
    assert_eq!(a.discovery.counts.users.total, 450);
    assert_eq!(r.users_stored(), 450);
    assert!(a.discovery.job.is_none(), "the account waits for no job");

    // SQS delivers at least once: the same job again, later, is acknowledged and does nothing.
    let before = r.objects();
    let pages = r.fake.pages_served();
    let handled = worker::handle(&r.state, &body, BUDGET).await.unwrap();
    assert!(matches!(handled, Handled::Skipped { .. }), "{handled:?}");
    assert_eq!(r.objects(), before, "nothing written");
    assert_eq!(r.fake.pages_served(), pages, "the provider was not called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_job_delivered_twice_at_once_runs_once() {
    let r = rig(450).await;
    let body = r.first_job().await;
    r.fake.set_latency(Duration::from_millis(20));
    let (a, b) = tokio::join!(
        worker::handle(&r.state, &body, BUDGET),
        worker::handle(&r.state, &body, BUDGET)
    );
    let ran = [&a, &b].iter().filter(|h| matches!(h, Ok(Handled::Ran { .. }))).count();
    let other = if matches!(a, Ok(Handled::Ran { .. })) { b } else { a };
    assert_eq!(ran, 1, "one run");
    assert!(
        matches!(other, Err(Retry::Busy) | Ok(Handled::Skipped { .. })),
        "the copy is retried later or acknowledged: {other:?}"
    );
    // The copy, delivered again, finds nothing to do.
    let again = worker::handle(&r.state, &body, BUDGET).await.unwrap();
    assert!(matches!(again, Handled::Skipped { .. }), "{again:?}");
    assert_eq!(r.account().await.discovery.counts.users.total, 450, "counted once");
    assert_eq!(
        r.fake.pages_served(),
        3 + 3,
        "one run's pages: users 3, groups, Teams, sites"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_budget_spans_continuations_without_loss_or_duplicates() {
    let r = rig(2000).await;
    r.first_job().await;
    // No time at all: each run reads one page per kind, then queues its continuation.
    let drained = worker::drain(&r.state, Duration::ZERO).await.unwrap().unwrap();
    assert!(drained.ran >= 10, "10 pages of users, one per run: {drained:?}");
    let continued = drained.runs.iter().filter(|run| run.continued_by.is_some()).count();
    assert_eq!(continued as u64, drained.ran - 1, "every run but the last continued");
    assert_eq!(drained.runs.last().unwrap().outcome, Outcome::Done);
    let a = r.account().await;
    assert_eq!((a.discovery.counts.users.total, r.users_stored()), (2000, 2000));
    assert!(a.discovery.job.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_continues_by_itself_after_its_retry_after() {
    let r = rig(450).await;
    r.first_job().await;
    r.fake.inject(Fault {
        after: 1,
        kind: FaultKind::Status {
            status: 429,
            retry_after: Some(120),
        },
    });
    let drained = r.drain().await;
    assert_eq!(drained.runs[0].outcome, Outcome::Partial, "{drained:?}");
    assert!(drained.runs[0].continued_by.is_some(), "its continuation is queued");
    let pending = r
        .account()
        .await
        .discovery
        .job
        .clone()
        .expect("the account waits for it");
    assert_eq!(pending.kind, JobKind::Continue);
    // Not before the Retry-After...
    assert_eq!(r.drain().await.handled, 0);
    // ...then it finishes, without Refresh or a schedule tick.
    r.clock.advance(chrono::Duration::seconds(121));
    let drained = r.drain().await;
    assert_eq!((drained.ran, drained.runs[0].outcome.clone()), (1, Outcome::Done));
    assert_eq!(r.account().await.discovery.counts.users.total, 450);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_jobs_are_dead_lettered_and_change_nothing() {
    let r = rig(10).await;
    let before = r.objects();
    let queue = r.queue();
    let unknown_field = format!(
        r#"{{"id":"{}","partner":"{}","account":"{}","kind":"first","resume":0,"admin":true}}"#,
        uuid::Uuid::new_v4(),
        r.partner,
        r.account
    );
    for body in [
        "{not json",
        "",
        unknown_field.as_str(),
        r#"{"id":"x","partner":"../","account":"y","kind":"first"}"#,
    ] {
        queue.send_body(body, Duration::ZERO).await.unwrap();
    }
    let drained = r.drain().await;
    assert_eq!((drained.dead_lettered, drained.ran), (4, 0), "{drained:?}");
    assert_eq!(r.objects(), before, "nothing written");
    assert_eq!(r.fake.pages_served(), 0);
    let dead = queue.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 4);
    assert!(dead.iter().all(|(_, why)| !why.is_empty()), "{dead:?}");
    assert_eq!(
        queue.next_visible().await.unwrap(),
        None,
        "acknowledged: the queue is empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_for_gone_or_revoked_accounts_are_acknowledged_and_do_nothing() {
    let r = rig(10).await;
    let revoked = seed_account(
        r.store.as_ref(),
        &r.partner,
        AccountStatus::AccessRevoked,
        TENANT,
        r.clock.now(),
    )
    .await
    .unwrap();
    let before = r.objects();
    let queue = r.queue();
    for job in [
        Job::new(&r.partner, &AccountId::new(), JobKind::Scheduled, 0),
        Job::new(&r.partner, &revoked, JobKind::Refresh, 0),
    ] {
        queue.send_body(&job.body(), Duration::ZERO).await.unwrap();
    }
    let drained = r.drain().await;
    assert_eq!(
        (drained.skipped, drained.ran, drained.retried),
        (2, 0, 0),
        "{drained:?}"
    );
    assert_eq!(r.objects(), before, "nothing written");
    assert_eq!(queue.next_visible().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_is_resumed_by_the_redelivered_job_without_loss_or_duplicates() {
    let r = rig(2000).await;
    r.first_job().await;
    let queue = r.queue();
    let received = queue.receive(1, worker::LOCAL_VISIBILITY).await.unwrap();
    r.fake.set_latency(Duration::from_millis(15));
    // The worker dies once it has written some pages: its future is dropped mid-run (watched
    // on the store, not timed, so a loaded machine changes nothing).
    let run = worker::handle(&r.state, &received[0].body, BUDGET);
    tokio::pin!(run);
    let killed = loop {
        tokio::select! {
            _ = &mut run => break false,
            _ = tokio::time::sleep(Duration::from_millis(2)) => {
                if r.users_stored() > 0 {
                    break true;
                }
            }
        }
    };
    assert!(killed, "killed mid-run");
    r.fake.set_latency(Duration::ZERO);
    let written = r.users_stored();
    assert!(written > 0 && written < 2000, "part written: {written}");
    assert_eq!(r.account().await.discovery.counts.users.total, 0, "and never counted");

    // Nothing is handed out while the message is hidden; once it shows again (after the
    // lease ran out) the same job resumes.
    assert_eq!(r.drain().await.handled, 0);
    r.clock
        .advance(chrono::Duration::from_std(worker::LOCAL_VISIBILITY).unwrap());
    let drained = r.drain().await;
    assert_eq!(
        (drained.ran, drained.runs[0].outcome.clone()),
        (1, Outcome::Done),
        "{drained:?}"
    );
    let a = r.account().await;
    assert_eq!(
        (a.discovery.counts.users.total, r.users_stored()),
        (2000, 2000),
        "no loss, no double count"
    );
}
