//! The SQS adapter of the job queue against moto's SQS (started by `scripts/test`; the suite
//! fails, never skips, without it): send, delay, batch, receive and delete as the worker's
//! event source does, the redrive to the dead-letter queue after too many receives, and the
//! dead-lettering of a body that is not a job.

mod common;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use onboarding::domain::{AccountId, JobKind, PartnerId};
use onboarding::queue::sqs::SqsQueue;
use onboarding::queue::{Job, Queue};
use std::time::Duration;

async fn client() -> Client {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SQS").unwrap_or_else(|_| common::moto_url());
    let config = common::aws_config().await;
    Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// A fresh queue with its dead-letter queue (messages move there after `max_receives`).
async fn queues(c: &Client, max_receives: u32) -> (String, String) {
    let name = format!("jobs-{}", uuid::Uuid::new_v4().simple());
    let dlq = c
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .expect("moto's SQS");
    let dlq_url = dlq.queue_url().unwrap().to_owned();
    let attrs = c
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attrs.attributes().unwrap()[&QueueAttributeName::QueueArn].clone();
    let redrive = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"{max_receives}"}}"#);
    let q = c
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap();
    (q.queue_url().unwrap().to_owned(), dlq_url)
}

/// Receives what is visible now (up to 10), hidden for `visibility` seconds.
async fn receive(c: &Client, url: &str, visibility: i32, wait: i32) -> Vec<aws_sdk_sqs::types::Message> {
    c.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .wait_time_seconds(wait)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

fn job(kind: JobKind) -> Job {
    Job::new(&PartnerId::new(), &AccountId::new(), kind, 0)
}

#[tokio::test]
async fn jobs_are_sent_received_and_deleted() {
    let c = client().await;
    let (url, dlq) = queues(&c, 3).await;
    let q = SqsQueue::new(c.clone(), &url, Some(dlq));
    let sent = job(JobKind::First);
    q.send(&sent, Duration::ZERO).await.unwrap();
    let got = receive(&c, &url, 30, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(Job::parse(got[0].body().unwrap()), Ok(sent), "the body is the job");
    c.delete_message()
        .queue_url(&url)
        .receipt_handle(got[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    assert!(receive(&c, &url, 0, 0).await.is_empty(), "deleted");
}

#[tokio::test]
async fn a_delayed_job_is_not_handed_out_before_its_delay() {
    let c = client().await;
    let (url, dlq) = queues(&c, 3).await;
    let q = SqsQueue::new(c.clone(), &url, Some(dlq));
    let later = job(JobKind::Continue);
    q.send(&later, Duration::from_secs(1)).await.unwrap();
    assert!(receive(&c, &url, 30, 0).await.is_empty(), "hidden during its delay");
    let got = receive(&c, &url, 30, 3).await;
    assert_eq!(got.len(), 1, "then handed out");
    assert_eq!(Job::parse(got[0].body().unwrap()), Ok(later));
}

#[tokio::test]
async fn a_batch_of_twelve_goes_in_two_requests_and_every_job_arrives() {
    let c = client().await;
    let (url, dlq) = queues(&c, 3).await;
    let q = SqsQueue::new(c.clone(), &url, Some(dlq));
    let jobs: Vec<Job> = (0..12).map(|_| job(JobKind::Scheduled)).collect();
    assert!(q.send_batch(&jobs).await.unwrap().is_empty(), "none refused");
    let mut ids = std::collections::HashSet::new();
    for _ in 0..5 {
        for m in receive(&c, &url, 60, 0).await {
            ids.insert(Job::parse(m.body().unwrap()).unwrap().id);
        }
    }
    let want: std::collections::HashSet<String> = jobs.into_iter().map(|j| j.id).collect();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn a_job_received_too_often_moves_to_the_dead_letter_queue() {
    let c = client().await;
    let (url, dlq) = queues(&c, 2).await;
    let q = SqsQueue::new(c.clone(), &url, Some(dlq.clone()));
    let poison = job(JobKind::Refresh);
    q.send(&poison, Duration::ZERO).await.unwrap();
    // Received and never deleted (a worker failing it twice)...
    for _ in 0..2 {
        assert_eq!(receive(&c, &url, 0, 0).await.len(), 1);
    }
    // ...then redriven.
    assert!(receive(&c, &url, 0, 0).await.is_empty());
    let dead = receive(&c, &dlq, 30, 0).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(Job::parse(dead[0].body().unwrap()), Ok(poison));
}

#[tokio::test]
async fn a_body_that_is_not_a_job_is_set_aside_with_why() {
    let c = client().await;
    let (url, dlq) = queues(&c, 3).await;
    let q = SqsQueue::new(c.clone(), &url, Some(dlq.clone()));
    q.dead_letter("{not a job", "the job is not valid JSON").await.unwrap();
    q.dead_letter("", "empty").await.unwrap();
    let dead = receive(&c, &dlq, 30, 0).await;
    let mut seen: Vec<(String, String)> = dead
        .iter()
        .map(|m| {
            let why = m.message_attributes().unwrap()["reason"]
                .string_value()
                .unwrap()
                .to_owned();
            (m.body().unwrap().to_owned(), why)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("<empty body>".to_owned(), "empty".to_owned()),
            ("{not a job".to_owned(), "the job is not valid JSON".to_owned())
        ]
    );
    assert!(receive(&c, &url, 0, 0).await.is_empty(), "nothing on the jobs queue");
    // Without a dead-letter queue configured, setting aside is an error (the message stays).
    let without = SqsQueue::new(c.clone(), &url, None);
    assert!(without.dead_letter("x", "y").await.is_err());
}
