//! Amazon SES v2 `SendEmail` with simple content (text and HTML parts), optionally through a
//! configuration set. The client is built once per process and reused.

use super::{EmailMessage, MailError, Mailer};
use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, from: impl Into<String>, configuration_set: Option<String>) -> Self {
        Self {
            client,
            from: from.into(),
            configuration_set,
        }
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Build(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        let body = Body::builder()
            .text(utf8(&message.text)?)
            .html(utf8(&message.html)?)
            .build();
        let content = EmailContent::builder()
            .simple(Message::builder().subject(utf8(&message.subject)?).body(body).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(message.to.as_str()).build())
            .set_reply_to_addresses(message.reply_to.as_ref().map(|r| vec![r.as_str().to_owned()]))
            .content(content)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|e| MailError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        tracing::info!(
            message_id = out.message_id().unwrap_or(""),
            to_domain = message.to.domain(),
            "mail sent through SES"
        );
        Ok(())
    }
}
