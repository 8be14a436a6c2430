//! The schedule fanning out due accounts: N accounts (default 10,000) due at once, spread over
//! the due index's shards, on DynamoDB Local with jobs sent to moto's SQS (both started by
//! `scripts/services.sh`). Reports the tick's time, the due index pages read (in all and from
//! the busiest shard), the jobs queued and the messages on the queue after it, then a second
//! tick (every account now waits for its job: nothing is queued again). Twice: with a queue
//! that only counts what it is sent (the store's side alone), then with moto's SQS (moto is
//! single-threaded Python: its time is not SQS's).
//!
//! `eval "$(scripts/services.sh start)"; cargo bench --bench fan_out -- [accounts] [moto accounts]`
//! (defaults 10,000 and 1,000: moto's sends slow down as its queue grows, past 1,000 it is
//! moto that is measured).

#[path = "support.rs"]
#[allow(dead_code)]
mod support;

use onboarding::clock::{Clock as _, SystemClock};
use onboarding::domain::PartnerId;
use onboarding::flows::schedule::fan_out;
use onboarding::queue::sqs::SqsQueue;
use onboarding::queue::{Job, Queue, QueueError};
use onboarding::store::keys::AccountStatus;
use onboarding_test_support::fixtures::seed_account;
use std::sync::Arc;
use std::time::Instant;

/// Accepts every job and only counts them.
#[derive(Default)]
struct Counting(std::sync::atomic::AtomicU64);

#[async_trait::async_trait]
impl Queue for Counting {
    async fn send(&self, _: &Job, _: std::time::Duration) -> Result<(), QueueError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
    async fn send_batch(&self, jobs: &[Job]) -> Result<Vec<Job>, QueueError> {
        self.0
            .fetch_add(jobs.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Vec::new())
    }
    async fn dead_letter(&self, _: &str, _: &str) -> Result<(), QueueError> {
        Ok(())
    }
}

/// Seeds `accounts` due accounts on a fresh table, runs a tick and a second one.
async fn tick(name: &str, aws: &aws_config::SdkConfig, queue: Arc<dyn Queue>, accounts: usize) {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    let table = format!("bench-fan-out-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    onboarding::store::dynamo::create_table_if_missing(&dynamodb, &table)
        .await
        .unwrap();
    let store = Arc::new(onboarding::store::dynamo::DynamoStore::new(
        dynamodb,
        &table,
        Arc::new(SystemClock),
    ));
    let state = support::services(store.clone()).with_queue(queue).into_state();

    // Partners of 10 accounts each, every account due now.
    let started = Instant::now();
    let partners: Vec<PartnerId> = (0..accounts.div_ceil(10)).map(|_| PartnerId::new()).collect();
    let mut seeding = tokio::task::JoinSet::new();
    for chunk in (0..accounts).collect::<Vec<_>>().chunks(accounts.div_ceil(32).max(1)) {
        let (store, partners, chunk) = (store.clone(), partners.clone(), chunk.to_vec());
        seeding.spawn(async move {
            for i in chunk {
                let tenant = format!("fa4e7e11-0000-4000-8000-{i:012}");
                seed_account(
                    store.as_ref(),
                    &partners[i / 10],
                    AccountStatus::Active,
                    &tenant,
                    SystemClock.now(),
                )
                .await
                .unwrap();
            }
        });
    }
    seeding.join_all().await;
    println!(
        "{name}: seeded {accounts} due accounts of {} partners on DynamoDB Local in {:.1} s",
        partners.len(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let tick = fan_out(&state).await.unwrap();
    let took = started.elapsed();
    println!(
        "{name}: tick: {} due, {} queued, {} in flight, {} stale, {} unsent in {:.2} s ({:.2} ms per account); {} due-index pages, at most {} from one shard",
        tick.due,
        tick.queued,
        tick.in_flight,
        tick.stale,
        tick.unsent,
        took.as_secs_f64(),
        support::ms(took) / accounts as f64,
        tick.pages,
        tick.max_pages_per_shard,
    );
    let started = Instant::now();
    let again = fan_out(&state).await.unwrap();
    println!(
        "{name}: second tick: {} due, {} queued in {:.1} ms",
        again.due,
        again.queued,
        support::ms(started.elapsed())
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).filter_map(|a| a.parse::<usize>().ok());
    let accounts = args.next().unwrap_or(10_000);
    // moto keeps a queue's messages in a list (its sends slow down as the queue grows): fewer.
    let moto_accounts = args.next().unwrap_or(1_000);
    if std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_err() || std::env::var("AWS_ENDPOINT_URL_SQS").is_err() {
        println!("fan_out: needs DynamoDB Local and moto's SQS: eval \"$(scripts/services.sh start)\" first");
        return;
    }
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let counting = Arc::new(Counting::default());
    tick("counting queue", &aws, counting.clone(), accounts).await;
    println!(
        "counting queue: {} jobs sent",
        counting.0.load(std::sync::atomic::Ordering::Relaxed)
    );

    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("bench-jobs-{}", std::process::id()))
        .send()
        .await
        .expect("moto's SQS")
        .queue_url()
        .unwrap()
        .to_owned();
    tick(
        "moto SQS",
        &aws,
        Arc::new(SqsQueue::new(sqs.clone(), &queue_url, None)),
        moto_accounts,
    )
    .await;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let on_queue = attrs
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .cloned()
        .unwrap_or_default();
    println!("moto SQS: {on_queue} messages on the queue");
}
