//! The mailer adapters for real: SES v2 against moto's server (started by `scripts/test`; the
//! tests fail, never skip, without it), and the outbox's `.eml` files read back with a MIME
//! parser. Markup and quotes in user-supplied names are escaped in HTML, and line breaks in
//! them can never become headers.

mod common;

use mail_parser::{Message, MessageParser, MimeHeaders as _};
use onboarding::domain::{ConfirmationCode, EmailAddress, OrganizationName};
use onboarding::email::outbox::OutboxMailer;
use onboarding::email::ses::SesMailer;
use onboarding::email::{EmailMessage, Mailer, templates};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

const SENDER: &str = "no-reply@msp.example";
const CODE: &str = "493817";
const ACTIVATE_URL: &str = "https://app.example/v1/signup/activate?token=tok-493817";
/// Markup, an ampersand and quotes: all must arrive as text.
const MARKUP_ORG: &str = "Evil <script>alert(1)</script> & \"Co\"";
const MARKUP_ORG_ESCAPED: &str = "Evil &#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;Co&#34;";

fn address(s: &str) -> EmailAddress {
    EmailAddress::parse("email", s).unwrap()
}

fn unique(local: &str) -> String {
    format!("{local}+{}@contoso.example", uuid::Uuid::new_v4().simple())
}

/// The signup mail, as the signup flow renders it.
fn signup_mail(to: &str, organization: &str) -> EmailMessage {
    templates::signup_code(
        &address(to),
        &OrganizationName::parse("organization", organization).unwrap(),
        &ConfirmationCode::parse("code", CODE).unwrap(),
        &SecretString::from(ACTIVATE_URL),
        15,
    )
    .expect("the signup mail renders")
}

/// The authorization mail: its client name is free text (not an [`OrganizationName`]).
fn authorization_mail(to: &str, client: &str) -> EmailMessage {
    let perms = ["User.Read.All".to_owned(), "Sites.Read.All".to_owned()];
    let request = templates::AuthorizationRequest {
        partner: "Acme IT",
        client,
        platform: "Microsoft 365",
        tenant: Some("contoso.onmicrosoft.com"),
        permissions: &perms,
        expires: "1 December 2026, 12:00 UTC",
        reply_to: None,
    };
    templates::authorization_request(
        &address(to),
        &request,
        &SecretString::from("https://api.example/authorize/tok"),
    )
    .expect("the authorization mail renders")
}

// ---------------------------------------------------------------------------------------------
// SES v2 against moto

async fn ses_client() -> aws_sdk_sesv2::Client {
    // Fails (never skips) when the services were not started.
    let moto = common::moto_url();
    let endpoint = std::env::var("AWS_ENDPOINT_URL_SESV2").unwrap_or(moto);
    let config = common::aws_config().await;
    aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&config)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// Creates the sender identity (moto marks it verified at once); idempotent.
async fn verify_sender(client: &aws_sdk_sesv2::Client, identity: &str) {
    match client.create_email_identity().email_identity(identity).send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => {}
        Err(e) => panic!(
            "creating the identity {identity} in moto failed: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(&e)
        ),
    }
}

/// One message as moto's SES backend records it in `GET /moto-api/data.json`, under
/// `ses.Message[]`. For simple content moto keeps one body: the HTML part when there is one,
/// else the text part.
#[derive(Debug, Deserialize)]
struct MotoMessage {
    id: String,
    source: String,
    destinations: MotoDestinations,
    subject: String,
    body: String,
}

#[derive(Debug, Deserialize)]
struct MotoDestinations {
    #[serde(rename = "ToAddresses", default)]
    to: Vec<String>,
    #[serde(rename = "CcAddresses", default)]
    cc: Vec<String>,
    #[serde(rename = "BccAddresses", default)]
    bcc: Vec<String>,
}

/// Every message moto's SES backend has accepted (all tests share one moto: filter by recipient).
async fn moto_messages() -> Vec<MotoMessage> {
    onboarding::crypto::install_tls_provider();
    let url = format!("{}/moto-api/data.json", common::moto_url());
    let data: Value = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = data["ses"]["Message"].clone();
    assert!(messages.is_array(), "moto's data.json has no ses.Message list: {data}");
    serde_json::from_value(messages).expect("moto's ses.Message entries have the expected shape")
}

async fn moto_messages_to(to: &str) -> Vec<MotoMessage> {
    moto_messages()
        .await
        .into_iter()
        .filter(|m| m.destinations.to.iter().chain(&m.destinations.cc).any(|a| a == to))
        .collect()
}

#[tokio::test]
async fn ses_sends_the_signup_mail_with_text_and_html_parts() {
    let client = ses_client().await;
    verify_sender(&client, SENDER).await;
    let to = unique("admin");
    let message = signup_mail(&to, MARKUP_ORG);
    assert!(
        message.text.contains(CODE) && message.html.contains(CODE),
        "both parts carry the code"
    );
    let mailer: Box<dyn Mailer> = Box::new(SesMailer::new(client, SENDER, None));
    mailer.send(&message).await.expect("SES (moto) accepted the message");

    let ours = moto_messages_to(&to).await;
    assert_eq!(ours.len(), 1, "exactly one message to {to} in moto: {ours:?}");
    let sent = &ours[0];
    assert!(!sent.id.is_empty());
    assert_eq!(sent.source, SENDER);
    assert_eq!(sent.destinations.to, vec![to.clone()]);
    assert!(sent.destinations.cc.is_empty() && sent.destinations.bcc.is_empty());
    assert_eq!(sent.subject, "Your confirmation code");
    assert_eq!(sent.body, message.html, "moto keeps the HTML part verbatim");
    assert!(sent.body.contains(CODE), "the code is in the body");
    assert!(sent.body.contains(ACTIVATE_URL), "the activation link is in the body");
    assert!(
        sent.body.contains(MARKUP_ORG_ESCAPED) && !sent.body.contains("<script>"),
        "the organization name is escaped in the HTML: {}",
        sent.body
    );
}

#[tokio::test]
async fn ses_sends_the_authorization_mail() {
    let client = ses_client().await;
    verify_sender(&client, SENDER).await;
    let to = unique("it");
    let message = authorization_mail(&to, "Contoso Ltd");
    SesMailer::new(client, SENDER, None)
        .send(&message)
        .await
        .expect("SES (moto) accepted the message");
    let ours = moto_messages_to(&to).await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        ours[0].subject,
        "Authorization needed to back up your Microsoft 365 data"
    );
    assert!(ours[0].body.contains("Contoso Ltd") && ours[0].body.contains("https://api.example/authorize/tok"));
}

#[tokio::test]
async fn ses_refuses_an_unverified_sender() {
    let client = ses_client().await;
    let mailer = SesMailer::new(client, "nobody@unverified.example", None);
    let to = unique("unverified");
    let err = mailer
        .send(&signup_mail(&to, "Contoso Ltd"))
        .await
        .expect_err("moto enforces verified senders");
    let err = err.to_string();
    assert!(
        err.contains("MessageRejected") && err.contains("not verified"),
        "the SES rejection is reported: {err}"
    );
    assert!(moto_messages_to(&to).await.is_empty(), "nothing was sent");
}

// ---------------------------------------------------------------------------------------------
// Local outbox

/// Sends `message` through an outbox in `dir` and answers the files it holds afterwards.
async fn send_to_outbox(dir: &Path, message: &EmailMessage) -> Vec<PathBuf> {
    let mailer: Box<dyn Mailer> = Box::new(OutboxMailer::new(dir.to_path_buf(), SENDER).unwrap());
    mailer.send(message).await.expect("the outbox takes the message");
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}

/// The lines of the message's own header block (up to the first empty line), as written.
fn raw_header_lines(raw: &[u8]) -> Vec<String> {
    let raw = String::from_utf8_lossy(raw);
    let end = raw.find("\r\n\r\n").expect("a header block");
    raw[..end].split("\r\n").map(str::to_owned).collect()
}

/// Names of every header of the message and of each of its MIME parts, lower-cased.
fn header_names(m: &Message<'_>) -> Vec<String> {
    m.parts
        .iter()
        .flat_map(|p| p.headers.iter().map(|h| h.name.as_str().to_ascii_lowercase()))
        .collect()
}

#[tokio::test]
async fn outbox_writes_the_signup_mail_as_rfc5322_with_both_parts() {
    let dir = tempfile::tempdir().unwrap();
    let message = signup_mail("admin@contoso.example", MARKUP_ORG);
    let files = send_to_outbox(dir.path(), &message).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let raw = std::fs::read(&files[0]).unwrap();
    let m = MessageParser::default().parse(&raw).expect("an RFC 5322 message");

    assert_eq!(m.from().unwrap().first().unwrap().address().unwrap(), SENDER);
    let to = m.to().unwrap();
    assert_eq!(to.iter().count(), 1);
    assert_eq!(to.first().unwrap().address().unwrap(), "admin@contoso.example");
    assert!(m.cc().is_none() && m.bcc().is_none());
    assert_eq!(m.subject(), Some("Your confirmation code"));
    assert!(m.is_content_type("multipart", "alternative"));
    assert_eq!((m.text_body_count(), m.html_body_count()), (1, 1));

    let text = m.body_text(0).unwrap();
    let html = m.body_html(0).unwrap();
    assert!(text.contains(CODE) && html.contains(CODE), "the code is in both parts");
    assert!(text.contains(ACTIVATE_URL), "the link stays whole in the text part");
    assert!(
        text.contains(MARKUP_ORG),
        "the text part keeps the name as typed: {text}"
    );
    assert!(
        html.contains(MARKUP_ORG_ESCAPED),
        "the HTML part escapes markup, ampersand and quotes: {html}"
    );
    assert!(!html.contains("<script>") && !html.contains("\"Co\""), "{html}");
}

#[tokio::test]
async fn an_organization_name_with_a_line_break_never_reaches_a_header() {
    // Signup mails take an `OrganizationName`, which refuses every line break and control character...
    for evil in ["Evil\r\nBcc: x@y.z", "Evil\nBcc: x@y.z", "Evil\rBcc: x@y.z", "Evil\0"] {
        assert!(
            OrganizationName::parse("organization", evil).is_err(),
            "{evil:?} is refused"
        );
    }
    // ...and recipients an `EmailAddress`, which refuses them too.
    assert!(EmailAddress::parse("email", "a@b.example\r\nBcc: x@y.z").is_err());

    // Names that reach templates as free text (a client's name in the authorization mail) only
    // ever land in bodies: the message keeps exactly its own headers.
    let dir = tempfile::tempdir().unwrap();
    let client = "Evil\r\nBcc: x@y.z <script>alert(1)</script> \"Co\"";
    let files = send_to_outbox(dir.path(), &authorization_mail("admin@contoso.example", client)).await;
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert!(m.bcc().is_none(), "no Bcc header was injected");
    assert!(!header_names(&m).iter().any(|h| h == "bcc"), "in no part either");
    assert!(
        !raw_header_lines(&raw)
            .iter()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc"))
    );
    let to: Vec<_> = m.to().unwrap().iter().filter_map(|a| a.address()).collect();
    assert_eq!(to, ["admin@contoso.example"]);
    assert_eq!(
        m.subject(),
        Some("Authorization needed to back up your Microsoft 365 data")
    );
    let html = m.body_html(0).unwrap();
    assert!(html.contains("&#60;script&#62;") && html.contains("&#34;Co&#34;") && !html.contains("<script>"));
    assert!(
        m.body_text(0).unwrap().contains("Bcc: x@y.z"),
        "the text stays in the body"
    );
}

#[tokio::test]
async fn a_subject_with_a_line_break_stays_one_header() {
    // Subjects are fixed text today; even if one carried a line break, it could not add a header.
    let dir = tempfile::tempdir().unwrap();
    let mut message = signup_mail("admin@contoso.example", "Contoso");
    message.subject = "Hello\r\nBcc: x@y.z".into();
    let files = send_to_outbox(dir.path(), &message).await;
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    let m = MessageParser::default().parse(&raw).unwrap();
    assert!(m.bcc().is_none(), "no Bcc header was injected");
    assert!(!header_names(&m).iter().any(|h| h == "bcc"));
    let lines = raw_header_lines(&raw);
    assert!(
        !lines.iter().any(|l| l.to_ascii_lowercase().starts_with("bcc")),
        "no header line starts with Bcc: {lines:?}"
    );
    assert!(m.subject().unwrap().starts_with("Hello"), "{:?}", m.subject());
    assert_eq!(
        m.to().unwrap().iter().filter_map(|a| a.address()).collect::<Vec<_>>(),
        ["admin@contoso.example"]
    );
}
