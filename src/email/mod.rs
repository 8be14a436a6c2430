//! The mailer port and its adapters: SES v2 ([`ses::SesMailer`]), a local outbox of `.eml`
//! files ([`outbox::OutboxMailer`]) and an in-memory twin for tests ([`memory::MemoryMailer`]).
//! Messages are built from [`templates`], which escape every user-supplied value in HTML.

pub mod memory;
pub mod outbox;
pub mod ses;
pub mod templates;

use crate::domain::EmailAddress;
use async_trait::async_trait;

/// A rendered message. Only `to` is user-supplied among the headers, and it is an
/// [`EmailAddress`], which cannot contain line breaks; subjects are fixed text.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub to: EmailAddress,
    /// Where replies go (the partner's member behind an authorization request), if not to us.
    pub reply_to: Option<EmailAddress>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The links the message carries (the local outbox prints them for the developer).
    pub links: Vec<String>,
}

/// Bodies carry codes and links: never printed whole.
impl std::fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailMessage")
            .field("to_domain", &self.to.domain())
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the message could not be built: {0}")]
    Build(String),
    #[error("the mail service failed: {0}")]
    Unavailable(String),
    /// A template failed to render: a bug, never sent as an empty message.
    #[error("the message template could not be rendered: {0}")]
    Render(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError>;
}
