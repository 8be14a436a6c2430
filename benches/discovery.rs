//! Discovery of a large tenant on the fake Entra/Graph (`onboarding_test_support::entra`), over loopback,
//! with the production Entra and Graph clients:
//! - the time to merely fetch every page of `/users/delta` (the floor), and a full first
//!   discovery of the same tenant (parse, compare, write), as a ratio;
//! - peak RSS (VmHWM, reset just before the run) of the first discovery;
//! - object writes of a second run with no change, and of a run after 1,000 renames;
//! - discovery as jobs, as `cargo run` runs it (the in-process queue on the store, the worker
//!   loop): Accept (the first job queued) -> the first users stored, and -> the whole tenant
//!   listed, as a ratio to fetching alone; with the local budget and with a 5 s budget, so the
//!   discovery spans many continuations;
//!
//! on the embedded on-disk store and, when `AWS_ENDPOINT_URL_DYNAMODB` is set (started by
//! `scripts/services.sh`), on DynamoDB Local.
//!
//! `eval "$(scripts/services.sh start)"; cargo bench --bench discovery -- [users]` (default 100000).

#[path = "support.rs"]
#[allow(dead_code)]
mod support;

use onboarding::clock::{Clock as _, SystemClock};
use onboarding::domain::JobKind;
use onboarding::domain::{AccountId, PartnerId};
use onboarding::flows::worker;
use onboarding::identity::graph::{GraphClient, RetryPolicy};
use onboarding::identity::http::{EntraClient, MicrosoftSettings, http_client};
use onboarding::repo::jobs::{Queued, enqueue};
use onboarding::store::keys::AccountItem;
use onboarding::store::keys::{self, AccountStatus, DiscoveredItem, ObjectKind};
use onboarding::store::{Item, Store};
use onboarding::usecases::discovery::{AccountRun, discover_account};
use onboarding_test_support::entra::{FakeEntra, PAGE};
use onboarding_test_support::fixtures::seed_account;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TENANT: &str = "fa4e7e11-0000-4000-8000-0000000000be";

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

async fn fetch_only(base: &str) -> (Duration, u64) {
    let entra = entra(base);
    use onboarding::identity::Microsoft as _;
    let token = entra.app_token(TENANT).await.unwrap().access_token;
    let graph = GraphClient::new(http_client(Duration::from_secs(30)), RetryPolicy::default());
    let started = Instant::now();
    let mut url = format!("{base}/v1.0/users/delta?$select=id,displayName,mail,userPrincipalName,accountEnabled");
    let mut objects = 0;
    loop {
        let page = graph.page(&token, &url).await.unwrap();
        objects += page.items.len() as u64;
        match page.next {
            Some(n) => url = n,
            None => return (started.elapsed(), objects),
        }
    }
}

fn entra(base: &str) -> EntraClient {
    EntraClient::new(
        MicrosoftSettings {
            client_id: "app".into(),
            client_secret: SecretString::from("secret"),
            login_url: base.into(),
            graph_url: base.into(),
            redirect_uri: "https://api.example/v1/callback/microsoft".into(),
        },
        http_client(Duration::from_secs(10)),
    )
}

async fn account(store: &dyn Store) -> (PartnerId, AccountId) {
    let partner = PartnerId::new();
    let id = seed_account(store, &partner, AccountStatus::Active, TENANT, SystemClock.now())
        .await
        .unwrap();
    (partner, id)
}

fn users(run: &AccountRun) -> (u64, u64) {
    let k = run.kind(ObjectKind::Users).expect("a users run");
    (k.seen, k.writes())
}

/// Discovers a fresh tenant on `store` with Graph pages taking `latency`; with `follow_ups`,
/// also a run with no change and one after 1,000 renames.
async fn bench(
    name: &str,
    store: Arc<dyn Store>,
    users_n: usize,
    latency: Duration,
    fetch: Duration,
    follow_ups: bool,
) {
    let fake = FakeEntra::new(TENANT, users_n);
    fake.set_latency(latency);
    let base = fake.serve().await;
    let state = services(store.clone(), &base);
    let (partner, id) = account(store.as_ref()).await;
    let budget = Duration::from_secs(3600);

    reset_peak_rss();
    let before = peak_rss_kb();
    let started = Instant::now();
    let first = discover_account(&state, &partner, &id, budget).await.unwrap();
    let full = started.elapsed();
    let peak = peak_rss_kb();
    let (seen, writes) = users(&first);
    println!(
        "{name:<16} {:>4} ms/page first run: {seen} users in {:.2} s ({} pages); fetch-only {:.2} s; ratio {:.2}; peak RSS {:.1} MB (before {:.1} MB); object writes {writes}",
        latency.as_millis(),
        full.as_secs_f64(),
        first.kind(ObjectKind::Users).unwrap().pages,
        fetch.as_secs_f64(),
        full.as_secs_f64() / fetch.as_secs_f64(),
        peak as f64 / 1024.0,
        before as f64 / 1024.0,
    );

    if !follow_ups {
        return;
    }
    let started = Instant::now();
    let unchanged = discover_account(&state, &partner, &id, budget).await.unwrap();
    println!(
        "{name:<16} no change:  {:.1} ms, users seen {}, object writes {}",
        support::ms(started.elapsed()),
        users(&unchanged).0,
        unchanged.writes()
    );

    fake.rename_users(users_n / 3, 1000);
    let started = Instant::now();
    let changed = discover_account(&state, &partner, &id, budget).await.unwrap();
    println!(
        "{name:<16} 1000 renamed: {:.1} ms, users seen {}, object writes {}",
        support::ms(started.elapsed()),
        users(&changed).0,
        changed.writes()
    );
}

/// Discovery as jobs: the first job queued as the consent callback queues it, the in-process
/// worker loop (`cargo run`'s) with `budget` per run; the time to the first user stored and to
/// the whole tenant listed (the account waiting for no job, every user counted).
async fn jobs(name: &str, store: Arc<dyn Store>, users_n: usize, latency: Duration, fetch: Duration, budget: Duration) {
    let fake = FakeEntra::new(TENANT, users_n);
    fake.set_latency(latency);
    let base = fake.serve().await;
    let state = services(store.clone(), &base);
    let (partner, id) = account(store.as_ref()).await;
    let worker = tokio::spawn(worker::run_local(state.clone(), budget));
    let first_user = keys::discovered(&id, ObjectKind::Users, &FakeEntra::user_id(0));
    let account_key = keys::account(&partner, &id);

    reset_peak_rss();
    let rss_before = peak_rss_kb();
    let started = Instant::now();
    let Queued::Sent(_) = enqueue(&state, &partner, &id, JobKind::First).await.unwrap() else {
        panic!("the first job is queued")
    };
    while store.get(&first_user).await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let first = started.elapsed();
    // Continuations: jobs of kind `continue` seen on the account while it runs.
    let mut continuations = std::collections::HashSet::new();
    loop {
        let a: AccountItem = store.get(&account_key).await.unwrap().unwrap().record().unwrap();
        match &a.discovery.job {
            Some(job) if job.kind == JobKind::Continue => {
                continuations.insert(job.id.clone());
            }
            None if a.discovery.counts.users.total == users_n as u64 => break,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = started.elapsed();
    let rss_peak = peak_rss_kb();
    worker.abort();
    println!(
        "{name:<16} {:>4} ms/page jobs, budget {:>3} s: Accept -> first users {:.0} ms, -> all {users_n} users {:.2} s ({} continuations seen, {} pages); fetch-only {:.2} s; ratio {:.2}; peak RSS {:.1} MB (+{:.1} MB)",
        latency.as_millis(),
        budget.as_secs(),
        support::ms(first),
        all.as_secs_f64(),
        continuations.len(),
        fake.pages_served(),
        fetch.as_secs_f64(),
        all.as_secs_f64() / fetch.as_secs_f64(),
        rss_peak as f64 / 1024.0,
        rss_peak.saturating_sub(rss_before) as f64 / 1024.0,
    );
}

fn services(store: Arc<dyn Store>, base: &str) -> onboarding::services::AppState {
    support::services(store)
        .with_identity(Arc::new(entra(base)), Arc::new(onboarding::identity::Unconfigured))
        .with_directory(base, base)
        .into_state()
}

/// The store's share: the same 100,000 records written as first discovery writes them (one
/// batch per page), with no Graph at all.
async fn store_only(name: &str, store: &dyn Store, users_n: usize) {
    let (_, account) = account(store).await;
    let now = SystemClock.now();
    let started = Instant::now();
    for first in (0..users_n).step_by(PAGE) {
        let puts = (first..(first + PAGE).min(users_n))
            .map(|i| {
                let id = FakeEntra::user_id(i);
                let record = DiscoveredItem {
                    id: id.clone(),
                    name: format!("User {i}"),
                    email: Some(format!("user{i}@fake.example")),
                    url: None,
                    enabled: true,
                    protected: false,
                    deleted: false,
                    first_seen: now,
                    last_seen: now,
                    protected_at: None,
                };
                Item::from_record(keys::discovered(&account, ObjectKind::Users, &id), &record).unwrap()
            })
            .collect();
        store.batch_write(puts, Vec::new()).await.unwrap();
    }
    println!(
        "{name:<16} store only: {users_n} records in {} batches of {PAGE}: {:.2} s",
        users_n.div_ceil(PAGE),
        started.elapsed().as_secs_f64()
    );
}

/// The floor for one page latency, measured twice (the first warms the connection path).
async fn floor(users_n: usize, latency: Duration) -> Duration {
    let fake = FakeEntra::new(TENANT, users_n);
    fake.set_latency(latency);
    let base = fake.serve().await;
    let _ = fetch_only(&base).await;
    let (fetch, objects) = fetch_only(&base).await;
    println!(
        "fetch only, {:>4} ms/page: {objects} users, {} pages in {:.2} s",
        latency.as_millis(),
        fake.pages_served() / 2,
        fetch.as_secs_f64()
    );
    fetch
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter_map(|a| a.parse::<u64>().ok());
    let users_n = args.next().map_or(100_000, |n| n as usize);
    // A second figure: a page latency (ms) for the ratio at Graph-like speeds. Real Graph
    // delta pages take 100 ms and more; 20 ms keeps the bench short and is still harsh.
    let latency = Duration::from_millis(args.next().unwrap_or(20));
    let instant = floor(users_n, Duration::ZERO).await;
    let slow = floor(users_n, latency).await;

    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| {
        Arc::new(
            onboarding::store::embedded::EmbeddedStore::open(&dir.path().join(name), Arc::new(SystemClock)).unwrap(),
        )
    };
    store_only("embedded (disk)", open("store-only.redb").as_ref(), users_n).await;
    bench(
        "embedded (disk)",
        open("bench.redb"),
        users_n,
        Duration::ZERO,
        instant,
        true,
    )
    .await;
    bench("embedded (disk)", open("latency.redb"), users_n, latency, slow, false).await;
    for (file, budget) in [
        ("jobs.redb", worker::LOCAL_BUDGET),
        ("jobs-5s.redb", Duration::from_secs(5)),
    ] {
        jobs("embedded (disk)", open(file), users_n, latency, slow, budget).await;
    }

    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok() {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = aws_sdk_dynamodb::Client::new(&aws);
        let table = format!("bench-discovery-{}", std::process::id());
        onboarding::store::dynamo::create_table_if_missing(&client, &table)
            .await
            .unwrap();
        let store = Arc::new(onboarding::store::dynamo::DynamoStore::new(
            client,
            &table,
            Arc::new(SystemClock),
        ));
        store_only("DynamoDB Local", store.as_ref(), users_n).await;
        bench("DynamoDB Local", store.clone(), users_n, Duration::ZERO, instant, true).await;
        bench("DynamoDB Local", store, users_n, latency, slow, false).await;
    } else {
        println!("DynamoDB Local: skipped (AWS_ENDPOINT_URL_DYNAMODB not set; start it with scripts/services.sh)");
    }
}
