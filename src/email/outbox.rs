//! Local outbox: each message becomes one RFC 5322 `.eml` file (multipart/alternative, text
//! and HTML) in `$DATA_DIR/outbox/`, and its links are logged so a developer can click them.
//! Local use only: on Lambda the SES adapter is used and no link is ever logged.

use super::{EmailMessage, MailError, Mailer};
use async_trait::async_trait;
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    pub fn new(dir: PathBuf, from: &str) -> Result<Self, MailError> {
        let from = from
            .parse()
            .map_err(|e| MailError::Build(format!("sender address: {e}")))?;
        std::fs::create_dir_all(&dir).map_err(|e| MailError::Unavailable(e.to_string()))?;
        Ok(Self { dir, from })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// One part, 8-bit encoded when its lines allow (so links stay whole and greppable in the
/// file; quoted-printable would fold them), else lettre's own choice.
fn part(content_type: ContentType, body: &str) -> SinglePart {
    let crlf = body.replace("\r\n", "\n").replace('\n', "\r\n");
    // RFC 5322: lines of at most 998 bytes, no NUL; then 8-bit needs no encoding at all.
    if crlf.split("\r\n").all(|l| l.len() <= 998) && !crlf.contains('\0') {
        let body = Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit);
        SinglePart::builder().header(content_type).body(body)
    } else {
        SinglePart::builder().header(content_type).body(body.to_owned())
    }
}

/// Builds the RFC 5322 form of a message (also used by tests to check the wire format).
pub fn to_rfc5322(from: &Mailbox, message: &EmailMessage) -> Result<Vec<u8>, MailError> {
    let to: Mailbox = message
        .to
        .as_str()
        .parse()
        .map_err(|e| MailError::Build(format!("recipient: {e}")))?;
    let mut builder = Message::builder().from(from.clone()).to(to);
    if let Some(reply_to) = &message.reply_to {
        builder = builder.reply_to(
            reply_to
                .as_str()
                .parse()
                .map_err(|e| MailError::Build(format!("reply-to: {e}")))?,
        );
    }
    let built = builder
        .subject(message.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(part(ContentType::TEXT_PLAIN, &message.text))
                .singlepart(part(ContentType::TEXT_HTML, &message.html)),
        )
        .map_err(|e| MailError::Build(e.to_string()))?;
    Ok(built.formatted())
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        let bytes = to_rfc5322(&self.from, message)?;
        let name = format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let path = self.dir.join(name);
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| MailError::Unavailable(e.to_string()))?;
        tracing::info!(
            target: "outbox",
            to = %message.to,
            subject = %message.subject,
            file = %path.display(),
            links = ?message.links,
            "mail written to the local outbox"
        );
        Ok(())
    }
}
