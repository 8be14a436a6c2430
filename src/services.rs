//! The ports and settings the use cases run against: one trait per port ([`HasStore`],
//! [`HasMailer`], [`HasDirectory`], ...), and all of them as one value, [`Services`], that the
//! wiring ([`crate::app`]) builds once per process and tests build from in-memory twins. Each
//! use case declares the few it needs (`crate::ports!`) and takes `&impl Ports`.

use crate::clock::Clock;
use crate::crypto::{Encryptor, PasswordHasher, Signer, random_bytes};
use crate::email::Mailer;
use crate::identity::graph::{Directory, GraphClient, HttpDirectory, RetryPolicy};
use crate::identity::http::LazyHttp;
use crate::identity::{Google, Microsoft};
use crate::queue::Queue;
use crate::queue::local::LocalQueue;
use crate::store::Store;
use secrecy::SecretSlice;
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
    pub directory: Arc<dyn Directory>,
    /// Protected users per partner.
    pub seat_limit: u64,
    /// Days a disabled account's discovered objects are kept.
    pub account_retention_days: i64,
    /// How often each account is discovered.
    pub discovery_interval: chrono::Duration,
    /// Where discovery jobs go (SQS on AWS; in process locally and in tests).
    pub queue: Arc<dyn Queue>,
    /// The in-process queue when jobs run in this process (the local binary and tests drain
    /// it with the same worker the SQS events run); `None` on AWS.
    pub local_queue: Option<Arc<LocalQueue>>,
}

/// The directory discovery reads, over HTTPS at these bases (the sandbox or a fake Graph in
/// tests; Microsoft's and Google's in production).
pub fn http_directory(graph_url: &str, google_admin_url: &str) -> Arc<dyn Directory> {
    let client = GraphClient::new(LazyHttp::new(DIRECTORY_TIMEOUT), RetryPolicy::default());
    Arc::new(HttpDirectory::new(client, graph_url, google_admin_url))
}

/// Longest wait for one directory page.
const DIRECTORY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
        let local_queue = Arc::new(LocalQueue::new(store.clone(), clock.clone()));
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
            directory: http_directory("https://graph.microsoft.com", "https://admin.googleapis.com"),
            seat_limit: 1000,
            account_retention_days: 30,
            discovery_interval: chrono::Duration::hours(1),
            queue: local_queue.clone(),
            local_queue: Some(local_queue),
        }
    }

    /// Jobs go to this queue (SQS in tests of the adapter; a refusing one for faults); jobs
    /// are then not run in process.
    pub fn with_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = queue;
        self.local_queue = None;
        self
    }

    pub fn with_seat_limit(mut self, seats: u64) -> Self {
        self.seat_limit = seats;
        self
    }

    /// Points discovery at these directory bases (the sandbox or a fake Graph in tests).
    pub fn with_directory(mut self, graph_url: &str, google_admin_url: &str) -> Self {
        self.directory = http_directory(graph_url, google_admin_url);
        self
    }

    /// Discovery reads this directory (an in-memory twin in tests).
    pub fn with_directory_port(mut self, directory: Arc<dyn Directory>) -> Self {
        self.directory = directory;
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
}

pub type AppState = Arc<Services>;

/// The ports, one trait each: a use case (or a shared record in `repo`) declares the ones it
/// runs against in its own `Ports` trait and takes `&impl Ports`, so it can be read, tested and
/// wired with only those. [`Services`] has them all, and so does any `Arc` of one.
macro_rules! port {
    ($(#[$doc:meta])* $name:ident { $($method:ident -> $ty:ty = |$s:ident| $get:expr;)+ }) => {
        $(#[$doc])*
        pub trait $name: Send + Sync {
            $(fn $method(&self) -> $ty;)+
        }
        impl $name for Services {
            $(fn $method(&self) -> $ty {
                let $s = self;
                $get
            })+
        }
        impl<T: $name + ?Sized> $name for Arc<T> {
            $(fn $method(&self) -> $ty {
                (**self).$method()
            })+
        }
    };
}

port! {
    /// The table (DynamoDB or the embedded store).
    HasStore { store -> &Arc<dyn Store> = |s| &s.store; }
}
port! {
    /// Now.
    HasClock { clock -> &Arc<dyn Clock> = |s| &s.clock; }
}
port! {
    /// Mail out (SES or the outbox).
    HasMailer { mailer -> &Arc<dyn Mailer> = |s| &s.mailer; }
}
port! {
    /// The base URLs links are built on.
    HasLinks { links -> &Links = |s| &s.links; }
}
port! {
    /// Signs and checks tokens (states, activate links).
    HasSigner { signer -> &Signer = |s| &s.signer; }
}
port! {
    /// Seals secrets kept in the store.
    HasEncryptor { encryptor -> &Encryptor = |s| &s.encryptor; }
}
port! {
    /// Hashes and verifies passwords.
    HasHasher { hasher -> &PasswordHasher = |s| &s.hasher; }
}
port! {
    /// Microsoft's and Google's sign-in and consent.
    HasIdentity {
        microsoft -> &Arc<dyn Microsoft> = |s| &s.microsoft;
        google -> &Arc<dyn Google> = |s| &s.google;
    }
}
port! {
    /// Tenants' directories (Graph, Admin SDK).
    HasDirectory { directory -> &Arc<dyn Directory> = |s| &s.directory; }
}
port! {
    /// Where discovery jobs go.
    HasQueue { queue -> &Arc<dyn Queue> = |s| &s.queue; }
}
port! {
    /// The product's settings: lifetimes, limits, intervals.
    HasSettings {
        session_hours -> i64 = |s| s.session_hours;
        link_days -> i64 = |s| s.link_days;
        seat_limit -> u64 = |s| s.seat_limit;
        account_retention_days -> i64 = |s| s.account_retention_days;
        discovery_interval -> chrono::Duration = |s| s.discovery_interval;
    }
}

/// Declares a module's `Ports`: the port traits (and other modules' `Ports`) it runs against;
/// everything that has them all is one.
#[macro_export]
macro_rules! ports {
    ($($bound:path),+ $(,)?) => {
        /// The ports this module runs against.
        pub trait Ports: $($bound +)+ {}
        impl<T: $($bound +)+ ?Sized> Ports for T {}
    };
}
