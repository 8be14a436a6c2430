//! The job queue on Amazon SQS (aws-sdk-sqs): `SendMessage` with `DelaySeconds`,
//! `SendMessageBatch` (10 at a time), and the dead-letter queue for bodies that are not jobs.
//! Receiving is the Lambda event source mapping's (the `discovery` function).

use super::{Job, MAX_BATCH, MAX_DELAY, Queue, QueueError};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use std::time::Duration;

pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>, dead_letter_url: Option<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_url,
        }
    }
}

fn unavailable(e: impl std::error::Error) -> QueueError {
    // The SDK's Display is terse ("service error"): its source chain says what happened.
    QueueError::Unavailable(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

fn delay_seconds(delay: Duration) -> i32 {
    delay.min(MAX_DELAY).as_secs() as i32
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(job.body())
            .delay_seconds(delay_seconds(delay))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn send_batch(&self, jobs: &[Job]) -> Result<Vec<Job>, QueueError> {
        let mut refused = Vec::new();
        for chunk in jobs.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, job)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(job.body())
                        .build()
                        .map_err(unavailable)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(unavailable)?;
            for failed in out.failed() {
                if let Some(job) = failed.id().parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    tracing::warn!(code = failed.code(), "SQS refused a job of a batch");
                    refused.push(job.clone());
                }
            }
        }
        Ok(refused)
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), QueueError> {
        let Some(url) = &self.dead_letter_url else {
            return Err(QueueError::Unavailable("no dead-letter queue is configured".into()));
        };
        let reason = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(unavailable)?;
        // SQS takes at most 256 KiB and only some characters: a body it cannot carry is
        // recorded by its length only.
        let printable = body.len() <= 64 * 1024 && !body.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
        let kept = if body.is_empty() {
            "<empty body>".to_owned()
        } else if printable {
            body.to_owned()
        } else {
            format!("<{} bytes, not kept>", body.len())
        };
        self.client
            .send_message()
            .queue_url(url)
            .message_body(kept)
            .message_attributes("reason", reason)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
