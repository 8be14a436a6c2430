//! Wiring: the ports every use case needs, built once per process from [`Config`].

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EmailKind, Jobs, Runtime, StoreKind};
use crate::crypto::{Encryptor, PasswordHasher, Signer, random_bytes};
use crate::email::Mailer;
use crate::email::outbox::OutboxMailer;
use crate::email::ses::SesMailer;
use crate::identity::graph::Directory;
use crate::identity::http::{EntraClient, GoogleClient, GoogleSettings, LazyHttp, MicrosoftSettings};
use crate::identity::{Google, Microsoft};
use crate::queue::local::LocalQueue;
use crate::queue::sqs::SqsQueue;
use crate::queue::{Queue, Unavailable};
use crate::services::{AppState, Links, Services, http_directory};
use crate::store::Store;
use crate::store::dynamo::{DynamoStore, create_table_if_missing};
use secrecy::SecretSlice;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("mail: {0}")]
    Mail(#[from] crate::email::MailError),
    #[error("{0} is not in this build")]
    NotInThisBuild(&'static str),
    #[error("data dir: {0}")]
    Io(#[from] std::io::Error),
}

impl Services {
    /// Builds every port from the configuration: SDK clients once per process.
    pub async fn from_config(config: &Config) -> Result<AppState, StartError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let needs_aws = config.store == StoreKind::Dynamodb
            || config.email == EmailKind::Ses
            || matches!(config.jobs, Jobs::Sqs { .. });
        let aws = if needs_aws { Some(aws_sdk_config().await) } else { None };
        let store: Arc<dyn Store> = match (config.store, &aws) {
            (StoreKind::Dynamodb, Some(aws)) => {
                let client = aws_sdk_dynamodb::Client::new(aws);
                if config.runtime == Runtime::Local && config.dynamodb_endpoint.is_some() {
                    create_table_if_missing(&client, &config.table_name).await?;
                }
                Arc::new(DynamoStore::new(client, &config.table_name, clock.clone()))
            }
            _ => embedded_store(config, clock.clone())?,
        };
        let mailer: Arc<dyn Mailer> = match (config.email, &aws) {
            (EmailKind::Ses, Some(aws)) => Arc::new(SesMailer::new(
                aws_sdk_sesv2::Client::new(aws),
                &config.sender_email,
                config.ses_configuration_set.clone(),
            )),
            _ => Arc::new(OutboxMailer::new(config.data_dir.join("outbox"), &config.sender_email)?),
        };
        let (queue, local_queue): (Arc<dyn Queue>, _) = match (&config.jobs, &aws) {
            (
                Jobs::Sqs {
                    queue_url,
                    dead_letter_url,
                },
                Some(aws),
            ) => (
                Arc::new(SqsQueue::new(
                    aws_sdk_sqs::Client::new(aws),
                    queue_url,
                    dead_letter_url.clone(),
                )),
                None,
            ),
            (Jobs::InProcess, _) => {
                let local = Arc::new(LocalQueue::new(store.clone(), clock.clone()));
                (local.clone(), Some(local))
            }
            _ => (
                Arc::new(Unavailable("JOB_QUEUE_URL is not set for this function")),
                None,
            ),
        };
        let signing_key = match &config.signing_key {
            Some(k) => k.clone(),
            None => local_key(config, "signing.key")?,
        };
        let encryption_key = match &config.encryption_key {
            Some(k) => k.clone(),
            None => local_key(config, "encryption.key")?,
        };
        Ok(Arc::new(Services {
            store,
            mailer,
            clock,
            hasher: PasswordHasher::owasp(),
            signer: Signer::new(signing_key),
            encryptor: Encryptor::new(encryption_key),
            microsoft: microsoft(config),
            google: google(config),
            links: Links {
                public_base_url: config.public_base_url.clone(),
                console_url: config.console_url.clone(),
            },
            session_hours: config.session_hours,
            link_days: config.link_days,
            allowed_origins: config.allowed_origins.clone(),
            directory: directory(config),
            seat_limit: config.seat_limit,
            account_retention_days: config.account_retention_days,
            discovery_interval: chrono::Duration::from_std(config.discovery_interval)
                .unwrap_or_else(|_| chrono::Duration::hours(1)),
            queue,
            local_queue,
        }))
    }
}

/// The embedded store on disk in the data dir (`cargo run`).
#[cfg(feature = "local")]
fn embedded_store(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>, StartError> {
    let path = config.data_dir.join("store.redb");
    Ok(Arc::new(crate::store::embedded::EmbeddedStore::open(&path, clock)?))
}

/// A Lambda bootstrap has no embedded store (built without the `local` feature).
#[cfg(not(feature = "local"))]
fn embedded_store(_: &Config, _: Arc<dyn Clock>) -> Result<Arc<dyn Store>, StartError> {
    Err(StartError::NotInThisBuild("the embedded store (STORE=embedded)"))
}

/// The AWS SDK's shared configuration (region and credentials from the environment, as
/// `aws_config::load_defaults`), with an HTTPS client that trusts only the roots AWS's
/// endpoints chain to, compiled in, instead of reading and parsing the machine's certificate
/// directory: that was most of a cold start's init (`cargo bench --bench cold_start`).
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aws_http_client())
        .load()
        .await
}

/// The roots of Amazon Trust Services, the CA of every AWS service endpoint (DynamoDB, SES and
/// SQS among them; S3 was the last to move, in 2022): Amazon Root CA 1-4 and the Starfield
/// Services root that cross-signs them, as PEM. Five roots to parse at init instead of ~150,
/// and 7 KB in the binary instead of Mozilla's whole set; a test keeps the file equal to those
/// five in Mozilla's set (`webpki-root-certs`, a dev-dependency).
const AWS_ROOTS_PEM: &str = include_str!("aws_roots.pem");

/// rustls on aws-lc-rs (the one TLS stack, shared with reqwest) trusting [`AWS_ROOTS_PEM`].
fn aws_http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let roots = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOTS_PEM);
    let context = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("a TLS context of root certificates builds");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// The Entra app when configured, else unconfigured. The library knows no sandbox: the local
/// binary puts the sandbox's credentials and URLs into the [`Config`] when none are set.
fn microsoft(config: &Config) -> Arc<dyn Microsoft> {
    let Some(app) = &config.microsoft else {
        return Arc::new(crate::identity::Unconfigured);
    };
    let settings = MicrosoftSettings {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        login_url: config.microsoft_login_url.clone(),
        graph_url: config.microsoft_graph_url.clone(),
        redirect_uri: format!("{}/v1/callback/microsoft", config.public_base_url),
    };
    Arc::new(EntraClient::new(settings, LazyHttp::new(IDENTITY_TIMEOUT)))
}

/// The directory bases of the configuration (Graph and Admin SDK).
fn directory(config: &Config) -> Arc<dyn Directory> {
    http_directory(&config.microsoft_graph_url, &config.google_admin_url)
}

/// Like [`microsoft`], for Google.
fn google(config: &Config) -> Arc<dyn Google> {
    let Some(app) = &config.google else {
        return Arc::new(crate::identity::Unconfigured);
    };
    let settings = GoogleSettings {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        auth_url: config.google_auth_url.clone(),
        token_url: config.google_token_url.clone(),
        admin_url: config.google_admin_url.clone(),
        redirect_uri: format!("{}/v1/callback/google", config.public_base_url),
    };
    Arc::new(GoogleClient::new(settings, LazyHttp::new(IDENTITY_TIMEOUT)))
}

/// Longest wait for a provider call made while a person waits on a page.
const IDENTITY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A random key generated once per data dir and kept there (local runs only), so links
/// survive a restart.
fn local_key(config: &Config, name: &str) -> Result<SecretSlice<u8>, std::io::Error> {
    let path = config.data_dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => Ok(SecretSlice::from(bytes)),
        _ => {
            std::fs::create_dir_all(&config.data_dir)?;
            let key = random_bytes::<32>().to_vec();
            write_private(&path, &key)?;
            Ok(SecretSlice::from(key))
        }
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    /// The names of the roots in `aws_roots.pem`.
    const AWS_ROOT_NAMES: [&[u8]; 5] = [
        b"Amazon Root CA 1",
        b"Amazon Root CA 2",
        b"Amazon Root CA 3",
        b"Amazon Root CA 4",
        b"Starfield Services Root Certificate Authority - G2",
    ];

    /// Those roots in Mozilla's set, as PEM (a root is its own issuer: its DER holds the name,
    /// as a string of exactly that length).
    fn mozilla_aws_roots() -> String {
        use base64::Engine as _;
        webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|der| {
                AWS_ROOT_NAMES.iter().any(|name| {
                    der.as_ref()
                        .windows(name.len() + 1)
                        .any(|w| usize::from(w[0]) == name.len() && &w[1..] == *name)
                })
            })
            .map(|der| {
                let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
                let lines: Vec<&str> = b64
                    .as_bytes()
                    .chunks(64)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                format!(
                    "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                    lines.join("\n")
                )
            })
            .collect()
    }

    /// `UPDATE_AWS_ROOTS=1 cargo test --lib app::` rewrites the file from Mozilla's set.
    #[test]
    fn the_sdk_trusts_exactly_the_five_amazon_trust_services_roots_of_mozillas_set() {
        let expected = mozilla_aws_roots();
        assert_eq!(expected.matches("BEGIN CERTIFICATE").count(), AWS_ROOT_NAMES.len());
        if std::env::var_os("UPDATE_AWS_ROOTS").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/src/aws_roots.pem"), &expected).unwrap();
        }
        assert_eq!(
            super::AWS_ROOTS_PEM,
            expected,
            "src/aws_roots.pem differs from Mozilla's five"
        );
    }

    /// The compiled-in roots parse (a bad one panics when the SDK builds its connector), and a
    /// client on them reaches the network: an HTTPS call to a closed loopback port fails to
    /// connect, not on the trust store.
    #[tokio::test]
    async fn the_sdk_client_trusts_the_compiled_in_roots() {
        let config = super::aws_sdk_config().await;
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "test", "test", None, None, "test",
                ))
                .endpoint_url("https://127.0.0.1:1")
                .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
                .build(),
        );
        let err = dynamodb.list_tables().send().await.unwrap_err();
        let aws_sdk_dynamodb::error::SdkError::DispatchFailure(dispatch) = &err else {
            panic!("not a dispatch failure: {err:?}");
        };
        assert!(dispatch.is_io(), "{err:?}");
    }
}
