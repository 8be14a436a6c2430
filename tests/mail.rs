//! The mailer adapters for real: SES v2 against moto's server (started by `scripts/test`),
//! and the outbox's `.eml` files read back with a MIME parser. Markup and line breaks in
//! user-supplied names are escaped in HTML and can never become headers.

mod common;

use mail_parser::MessageParser;
use onboarding::domain::{EmailAddress, OrganizationName};
use onboarding::email::outbox::OutboxMailer;
use onboarding::email::ses::SesMailer;
use onboarding::email::{Mailer, templates};
use secrecy::SecretString;
use serde_json::Value;

const SENDER: &str = "no-reply@msp.example";

fn authorization_mail(to: &str, client: &str) -> onboarding::email::EmailMessage {
    let to = EmailAddress::parse("email", to).unwrap();
    let perms = ["User.Read.All", "Sites.Read.All"];
    let request = templates::AuthorizationRequest {
        partner: "Acme IT",
        client,
        platform: "Microsoft 365",
        tenant: Some("contoso.onmicrosoft.com"),
        permissions: &perms,
        expires: "1 December 2026, 12:00 UTC",
    };
    templates::authorization_request(&to, &request, &SecretString::from("https://api.example/authorize/tok"))
}

async fn ses_client() -> aws_sdk_sesv2::Client {
    let config = common::aws_config().await;
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SESV2").unwrap_or_else(|_| common::moto_url());
    aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&config)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// Every message moto's SES backend holds, whatever the region key.
async fn moto_sent() -> Vec<Value> {
    onboarding::crypto::install_tls_provider();
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", common::moto_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut found = Vec::new();
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m) => {
                if m.contains_key("destinations") || (m.contains_key("source") && m.contains_key("subject")) {
                    out.push(v.clone());
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(&data["ses"], &mut found);
    found
}

#[tokio::test]
async fn ses_sends_text_and_html_parts() {
    let client = ses_client().await;
    client
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .expect("sender identity created in moto");
    let to = format!("admin+{}@contoso.example", uuid::Uuid::new_v4().simple());
    let mailer = SesMailer::new(client, SENDER, None);
    mailer
        .send(&authorization_mail(&to, "Contoso Ltd"))
        .await
        .expect("SES accepted the message");

    let sent = moto_sent().await;
    let ours: Vec<&Value> = sent.iter().filter(|m| m.to_string().contains(&to)).collect();
    assert_eq!(ours.len(), 1, "exactly one message to {to} in moto: {sent:?}");
    let text = ours[0].to_string();
    assert!(text.contains("Authorization needed"), "subject: {text}");
    assert!(
        text.contains("Contoso Ltd") && text.contains("https://api.example/authorize/tok"),
        "body: {text}"
    );
    assert!(text.contains(SENDER));
}

#[tokio::test]
async fn ses_refuses_an_unverified_sender() {
    let client = ses_client().await;
    let mailer = SesMailer::new(client, "nobody@unverified.example", None);
    let to = format!("unverified+{}@contoso.example", uuid::Uuid::new_v4().simple());
    assert!(
        mailer.send(&authorization_mail(&to, "X")).await.is_err(),
        "moto enforces verified senders"
    );
    assert!(
        !moto_sent().await.iter().any(|m| m.to_string().contains(&to)),
        "nothing was sent"
    );
}

#[tokio::test]
async fn outbox_writes_rfc5322_files_with_both_parts() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::new(dir.path().to_path_buf(), SENDER).unwrap();
    let client = "Evil <script>alert(1)</script> & \"Co\"";
    mailer
        .send(&authorization_mail("admin@contoso.example", client))
        .await
        .unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let raw = std::fs::read(&files[0]).unwrap();
    let m = MessageParser::default().parse(&raw).expect("an RFC 5322 message");
    assert_eq!(m.from().unwrap().first().unwrap().address().unwrap(), SENDER);
    assert_eq!(
        m.to().unwrap().first().unwrap().address().unwrap(),
        "admin@contoso.example"
    );
    assert!(m.subject().unwrap().contains("Authorization needed"));
    assert_eq!((m.text_body_count(), m.html_body_count()), (1, 1));
    let text = m.body_text(0).unwrap();
    let html = m.body_html(0).unwrap();
    assert!(text.contains(client), "plain text keeps the name as typed");
    assert!(
        !html.contains("<script>") && html.contains("&#60;script&#62;"),
        "HTML escapes it: {html}"
    );
}

#[tokio::test]
async fn line_breaks_can_never_become_headers() {
    // Names with line breaks are refused where they enter...
    assert!(OrganizationName::parse("organization", "Evil\r\nBcc: victim@example.com").is_err());
    assert!(EmailAddress::parse("email", "a@b.example\r\nBcc: victim@example.com").is_err());
    // ...and even a subject built from text with one stays one header in the file.
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::new(dir.path().to_path_buf(), SENDER).unwrap();
    let mut msg = authorization_mail("admin@contoso.example", "Contoso");
    msg.subject = "Hello\r\nBcc: victim@example.com".into();
    let _ = mailer.send(&msg).await;
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let raw = std::fs::read(f.unwrap().path()).unwrap();
        let m = MessageParser::default().parse(&raw).unwrap();
        assert!(m.bcc().is_none(), "no Bcc header was injected");
    }
}
