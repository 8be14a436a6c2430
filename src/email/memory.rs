//! In-memory mailer for tests: keeps every message sent.

use super::{EmailMessage, MailError, Mailer};
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<EmailMessage>>,
}

impl MemoryMailer {
    pub fn messages(&self) -> Vec<EmailMessage> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Messages sent to `to`, oldest first.
    pub fn to(&self, to: &str) -> Vec<EmailMessage> {
        self.messages().into_iter().filter(|m| m.to.as_str() == to).collect()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        Ok(())
    }
}
