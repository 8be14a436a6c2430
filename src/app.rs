//! Wiring: the ports every use case needs, built once per process from [`Config`].

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EmailKind, Runtime, StoreKind};
use crate::crypto::{Encryptor, PasswordHasher, Signer, random_bytes};
use crate::email::Mailer;
use crate::email::outbox::OutboxMailer;
use crate::email::ses::SesMailer;
use crate::identity::graph::{GraphClient, RetryPolicy};
use crate::identity::http::{EntraClient, GoogleClient, GoogleSettings, MicrosoftSettings, http_client};
use crate::identity::{Google, Microsoft};
use crate::store::Store;
use crate::store::dynamo::{DynamoStore, create_table_if_missing};
use crate::store::embedded::EmbeddedStore;
use secrecy::{SecretSlice, SecretString};
use std::sync::Arc;

/// Base URLs used to build links.
#[derive(Debug, Clone)]
pub struct Links {
    pub public_base_url: String,
    pub console_url: String,
}

/// The ports and settings the use cases run against; cheap to clone behind [`AppState`].
pub struct Services {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub signer: Signer,
    pub encryptor: Encryptor,
    pub microsoft: Arc<dyn Microsoft>,
    pub google: Arc<dyn Google>,
    pub links: Links,
    pub session_hours: i64,
    /// Lifetime of an emailed authorization link.
    pub link_days: i64,
    pub allowed_origins: Vec<String>,
    /// Where discovery reads tenants' directories.
    pub directory: Directory,
    /// Protected users per partner.
    pub seat_limit: u64,
    /// How often each account is discovered.
    pub discovery_interval: chrono::Duration,
}

/// The directory APIs discovery reads (Microsoft Graph, Google Admin SDK) and their client.
pub struct Directory {
    pub graph: GraphClient,
    /// Graph base, e.g. `https://graph.microsoft.com` (requests add `/v1.0/...`).
    pub graph_url: String,
    /// Admin SDK base, e.g. `https://admin.googleapis.com`.
    pub google_admin_url: String,
}

impl Directory {
    pub fn new(graph_url: &str, google_admin_url: &str) -> Self {
        Self {
            graph: GraphClient::new(http_client(DIRECTORY_TIMEOUT), RetryPolicy::default()),
            graph_url: graph_url.trim_end_matches('/').to_owned(),
            google_admin_url: google_admin_url.trim_end_matches('/').to_owned(),
        }
    }
}

/// Longest wait for one directory page.
const DIRECTORY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub type AppState = Arc<Services>;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("mail: {0}")]
    Mail(#[from] crate::email::MailError),
    #[error("data dir: {0}")]
    Io(#[from] std::io::Error),
}

impl Services {
    /// Services from explicit ports (tests, benchmarks): sessions last 12 hours, links 7
    /// days, the console's origin may call the API, and identity providers are unconfigured
    /// until [`Services::with_identity`].
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        signing_key: SecretSlice<u8>,
        links: Links,
    ) -> Services {
        let allowed_origins = url::Url::parse(&links.console_url)
            .map(|u| vec![u.origin().ascii_serialization()])
            .unwrap_or_default();
        let encryption_key = SecretSlice::from(random_bytes::<32>().to_vec());
        Services {
            store,
            mailer,
            clock,
            hasher: PasswordHasher::owasp(),
            signer: Signer::new(signing_key),
            encryptor: Encryptor::new(encryption_key),
            microsoft: Arc::new(crate::identity::Unconfigured),
            google: Arc::new(crate::identity::Unconfigured),
            links,
            session_hours: 12,
            link_days: 7,
            allowed_origins,
            directory: Directory::new("https://graph.microsoft.com", "https://admin.googleapis.com"),
            seat_limit: 1000,
            discovery_interval: chrono::Duration::hours(1),
        }
    }

    pub fn with_seat_limit(mut self, seats: u64) -> Self {
        self.seat_limit = seats;
        self
    }

    /// Points discovery at these directory bases (the sandbox or a fake Graph in tests).
    pub fn with_directory(mut self, graph_url: &str, google_admin_url: &str) -> Self {
        self.directory = Directory::new(graph_url, google_admin_url);
        self
    }

    pub fn with_identity(mut self, microsoft: Arc<dyn Microsoft>, google: Arc<dyn Google>) -> Self {
        self.microsoft = microsoft;
        self.google = google;
        self
    }

    pub fn into_state(self) -> AppState {
        Arc::new(self)
    }

    /// Builds every port from the configuration: SDK clients once per process.
    pub async fn from_config(config: &Config) -> Result<AppState, StartError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let needs_aws = config.store == StoreKind::Dynamodb || config.email == EmailKind::Ses;
        let aws = if needs_aws {
            Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
        } else {
            None
        };
        let store: Arc<dyn Store> = match (config.store, &aws) {
            (StoreKind::Dynamodb, Some(aws)) => {
                let client = aws_sdk_dynamodb::Client::new(aws);
                if config.runtime == Runtime::Local && config.dynamodb_endpoint.is_some() {
                    create_table_if_missing(&client, &config.table_name).await?;
                }
                Arc::new(DynamoStore::new(client, &config.table_name, clock.clone()))
            }
            _ => Arc::new(EmbeddedStore::open(&config.data_dir.join("store.redb"), clock.clone())?),
        };
        let mailer: Arc<dyn Mailer> = match (config.email, &aws) {
            (EmailKind::Ses, Some(aws)) => Arc::new(SesMailer::new(
                aws_sdk_sesv2::Client::new(aws),
                &config.sender_email,
                config.ses_configuration_set.clone(),
            )),
            _ => Arc::new(OutboxMailer::new(config.data_dir.join("outbox"), &config.sender_email)?),
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
            discovery_interval: chrono::Duration::from_std(config.discovery_interval)
                .unwrap_or_else(|_| chrono::Duration::hours(1)),
        }))
    }
}

/// The Entra app when configured; locally without credentials, the sandbox (same client code,
/// sandbox URLs); on Lambda without credentials, unconfigured.
fn microsoft(config: &Config) -> Arc<dyn Microsoft> {
    let redirect_uri = format!("{}/v1/callback/microsoft", config.public_base_url);
    let settings = match (&config.microsoft, config.runtime) {
        (Some(app), _) => MicrosoftSettings {
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.clone(),
            login_url: config.microsoft_login_url.clone(),
            graph_url: config.microsoft_graph_url.clone(),
            redirect_uri,
        },
        (None, Runtime::Local) => {
            let urls = crate::sandbox::urls(&config.public_base_url);
            MicrosoftSettings {
                client_id: crate::sandbox::CLIENT_ID.to_owned(),
                client_secret: SecretString::from(crate::sandbox::CLIENT_SECRET),
                login_url: urls.microsoft_login_url,
                graph_url: urls.microsoft_graph_url,
                redirect_uri,
            }
        }
        (None, Runtime::Lambda) => return Arc::new(crate::identity::Unconfigured),
    };
    Arc::new(EntraClient::new(settings, http_client(IDENTITY_TIMEOUT)))
}

/// The directory bases matching the identity providers chosen by [`microsoft`] and [`google`].
fn directory(config: &Config) -> Directory {
    let sandbox = crate::sandbox::urls(&config.public_base_url);
    let local = config.runtime == Runtime::Local;
    let graph = if config.microsoft.is_none() && local {
        sandbox.microsoft_graph_url
    } else {
        config.microsoft_graph_url.clone()
    };
    let admin = if config.google.is_none() && local {
        sandbox.google_admin_url
    } else {
        config.google_admin_url.clone()
    };
    Directory::new(&graph, &admin)
}

/// Like [`microsoft`], for Google.
fn google(config: &Config) -> Arc<dyn Google> {
    let redirect_uri = format!("{}/v1/callback/google", config.public_base_url);
    let settings = match (&config.google, config.runtime) {
        (Some(app), _) => GoogleSettings {
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.clone(),
            auth_url: config.google_auth_url.clone(),
            token_url: config.google_token_url.clone(),
            admin_url: config.google_admin_url.clone(),
            redirect_uri,
        },
        (None, Runtime::Local) => {
            let urls = crate::sandbox::urls(&config.public_base_url);
            GoogleSettings {
                client_id: crate::sandbox::GOOGLE_CLIENT_ID.to_owned(),
                client_secret: SecretString::from(crate::sandbox::GOOGLE_CLIENT_SECRET),
                auth_url: urls.google_auth_url,
                token_url: urls.google_token_url,
                admin_url: urls.google_admin_url,
                redirect_uri,
            }
        }
        (None, Runtime::Lambda) => return Arc::new(crate::identity::Unconfigured),
    };
    Arc::new(GoogleClient::new(settings, http_client(IDENTITY_TIMEOUT)))
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
