//! Typed configuration, read once from the environment and checked at start. Every variable
//! is listed in the README's configuration table. Secrets are `secrecy` types: they cannot be
//! printed by accident.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretSlice;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the process runs: defaults differ (local: embedded store and outbox; Lambda:
/// DynamoDB and SES, keys required).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Local,
    Lambda,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    Dynamodb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    Outbox,
    Ses,
}

#[derive(Debug)]
pub struct Config {
    pub runtime: Runtime,
    pub listen_addr: SocketAddr,
    pub public_base_url: String,
    pub console_url: String,
    pub allowed_origins: Vec<String>,
    pub data_dir: PathBuf,
    pub store: StoreKind,
    pub table_name: String,
    pub email: EmailKind,
    pub sender_email: String,
    pub ses_configuration_set: Option<String>,
    /// `None` locally means "generate one per data dir and keep it there".
    pub signing_key: Option<SecretSlice<u8>>,
    /// Key for stored refresh tokens; like `signing_key`.
    pub encryption_key: Option<SecretSlice<u8>>,
    pub session_hours: i64,
    /// Lifetime of emailed authorization links (`LINK_DAYS`, default 7).
    pub link_days: i64,
    /// Set when DynamoDB is local (DynamoDB Local): the table is then created when missing.
    pub dynamodb_endpoint: Option<String>,
    /// The multi-tenant Entra app; `None`: unconfigured (the local binary fills in the
    /// sandbox's before building the services).
    pub microsoft: Option<AppCredentials>,
    pub microsoft_login_url: String,
    pub microsoft_graph_url: String,
    /// The Google OAuth client; `None` as for Microsoft.
    pub google: Option<AppCredentials>,
    pub google_auth_url: String,
    pub google_token_url: String,
    pub google_admin_url: String,
    /// Protected users per partner, across its accounts (`SEAT_LIMIT`, default 1000).
    pub seat_limit: u64,
    /// Days a disabled account's discovered objects are kept (`ACCOUNT_RETENTION_DAYS`,
    /// default 30, 1 to 3650).
    pub account_retention_days: i64,
    /// How often each account is discovered (`DISCOVERY_INTERVAL`, e.g. `1h`, `30m`; default
    /// 1 hour; at most 3 days, well inside the 7-day life of Graph delta links). Locally also
    /// the scheduler's tick, capped at one minute so auto-add times are met.
    pub discovery_interval: std::time::Duration,
    /// Where discovery jobs go: SQS when `JOB_QUEUE_URL` is set (with
    /// `JOB_DEAD_LETTER_QUEUE_URL` for bodies that are not jobs), else in process (local runs).
    pub jobs: Jobs,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jobs {
    /// The in-process queue on the store, drained by the local binary.
    InProcess,
    Sqs {
        queue_url: String,
        dead_letter_url: Option<String>,
    },
    /// On Lambda without `JOB_QUEUE_URL` (functions that queue nothing): a send is an error.
    None,
}

/// An OAuth client's ID and secret.
pub struct AppCredentials {
    pub client_id: String,
    pub client_secret: secrecy::SecretString,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

fn err(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        message: message.into(),
    }
}

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

fn http_url(name: &'static str, raw: String) -> Result<String, ConfigError> {
    let u = url::Url::parse(&raw).map_err(|e| err(name, format!("not a URL ({e})")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(err(name, "must be an http(s) URL"));
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(err(name, "must be a base URL, without credentials, query or fragment"));
    }
    Ok(raw.trim().trim_end_matches('/').to_owned())
}

/// A comma-separated list of origins (`scheme://host[:port]`), each exactly as browsers send
/// it in `Origin`. `*` is refused: the API takes bearer tokens, so origins are listed.
fn origins(name: &'static str, raw: &str) -> Result<Vec<String>, ConfigError> {
    let mut list = Vec::new();
    for entry in raw
        .split(',')
        .map(|o| o.trim().trim_end_matches('/'))
        .filter(|o| !o.is_empty())
    {
        if entry.contains('*') {
            return Err(err(
                name,
                "`*` is not allowed: list each origin, such as https://console.example.com",
            ));
        }
        let origin = url::Url::parse(entry)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o.eq_ignore_ascii_case(entry))
            .ok_or_else(|| {
                err(
                    name,
                    format!("`{entry}` is not an origin (scheme://host[:port], no path, such as https://console.example.com)"),
                )
            })?;
        if axum::http::HeaderValue::from_str(&origin).is_err() {
            return Err(err(name, format!("`{entry}` cannot be sent in a header")));
        }
        list.push(origin);
    }
    if list.is_empty() {
        return Err(err(name, "lists no origin"));
    }
    Ok(list)
}

/// A name made of `allowed` characters, `min` to `max` long (AWS resource names).
fn aws_name(name: &'static str, raw: String, max: usize, allowed: &str) -> Result<String, ConfigError> {
    let ok = (1..=max).contains(&raw.len()) && raw.chars().all(|c| c.is_ascii_alphanumeric() || allowed.contains(c));
    if ok {
        Ok(raw)
    } else {
        Err(err(name, format!("must be 1 to {max} letters, digits or `{allowed}`")))
    }
}

impl Config {
    pub fn from_env(runtime: Runtime) -> Result<Self, ConfigError> {
        Self::from_lookup(runtime, |k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    pub fn from_lookup(runtime: Runtime, get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let lambda = runtime == Runtime::Lambda;
        let listen_addr = get("LISTEN_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| err("LISTEN_ADDR", format!("not an address ({e})")))?;
        let public_base_url = http_url(
            "PUBLIC_BASE_URL",
            match get("PUBLIC_BASE_URL") {
                Some(v) => v,
                None if lambda => return Err(err("PUBLIC_BASE_URL", "is required on Lambda")),
                None => format!("http://{listen_addr}"),
            },
        )?;
        let console_url = http_url(
            "CONSOLE_URL",
            get("CONSOLE_URL").unwrap_or_else(|| format!("{public_base_url}/console")),
        )?;
        let allowed_origins = match get("ALLOWED_ORIGINS") {
            Some(v) => origins("ALLOWED_ORIGINS", &v)?,
            None => origin_of(&console_url).into_iter().collect(),
        };
        let store = match get("STORE").as_deref() {
            None if lambda => StoreKind::Dynamodb,
            None | Some("embedded") => StoreKind::Embedded,
            Some("dynamodb") => StoreKind::Dynamodb,
            Some(other) => return Err(err("STORE", format!("`{other}` is neither `embedded` nor `dynamodb`"))),
        };
        let email = match get("EMAIL").as_deref() {
            None if lambda => EmailKind::Ses,
            None | Some("outbox") => EmailKind::Outbox,
            Some("ses") => EmailKind::Ses,
            Some(other) => return Err(err("EMAIL", format!("`{other}` is neither `outbox` nor `ses`"))),
        };
        let key = |name: &'static str| -> Result<Option<SecretSlice<u8>>, ConfigError> {
            match get(name) {
                Some(v) => {
                    let bytes = STANDARD.decode(v.trim()).map_err(|_| err(name, "is not base64"))?;
                    if bytes.len() < 32 {
                        return Err(err(name, "must be at least 32 bytes"));
                    }
                    Ok(Some(SecretSlice::from(bytes)))
                }
                None if lambda => Err(err(name, "is required on Lambda")),
                None => Ok(None),
            }
        };
        let signing_key = key("SIGNING_KEY")?;
        let encryption_key = key("ENCRYPTION_KEY")?;
        let link_days = match get("LINK_DAYS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|d| (1..=30).contains(d))
                .ok_or_else(|| err("LINK_DAYS", "must be 1 to 30"))?,
            None => 7,
        };
        let session_hours = match get("SESSION_HOURS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|h| (1..=720).contains(h))
                .ok_or_else(|| err("SESSION_HOURS", "must be 1 to 720"))?,
            None => 12,
        };
        let seat_limit = match get("SEAT_LIMIT") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=10_000_000).contains(n))
                .ok_or_else(|| err("SEAT_LIMIT", "must be 1 to 10000000"))?,
            None => 1000,
        };
        let account_retention_days = match get("ACCOUNT_RETENTION_DAYS") {
            Some(v) => v
                .parse()
                .ok()
                .filter(|n| (1..=3650).contains(n))
                .ok_or_else(|| err("ACCOUNT_RETENTION_DAYS", "must be 1 to 3650"))?,
            None => 30,
        };
        let discovery_interval = match get("DISCOVERY_INTERVAL") {
            Some(v) => humantime::parse_duration(&v)
                .ok()
                .filter(|d| (60..=3 * 86_400).contains(&d.as_secs()))
                .ok_or_else(|| {
                    err(
                        "DISCOVERY_INTERVAL",
                        "must be a duration from 1m to 3days, such as 1h or 30m",
                    )
                })?,
            None => std::time::Duration::from_secs(3600),
        };
        let jobs = match (get("JOB_QUEUE_URL"), get("JOB_DEAD_LETTER_QUEUE_URL")) {
            (Some(q), dlq) => Jobs::Sqs {
                queue_url: http_url("JOB_QUEUE_URL", q)?,
                dead_letter_url: dlq.map(|d| http_url("JOB_DEAD_LETTER_QUEUE_URL", d)).transpose()?,
            },
            (None, Some(_)) => {
                return Err(err(
                    "JOB_QUEUE_URL",
                    "is required when JOB_DEAD_LETTER_QUEUE_URL is set",
                ));
            }
            (None, None) if lambda => Jobs::None,
            (None, None) => Jobs::InProcess,
        };
        let sender_email = get("SENDER_EMAIL").unwrap_or_else(|| "no-reply@localhost".into());
        if sender_email.parse::<lettre::message::Mailbox>().is_err() {
            return Err(err("SENDER_EMAIL", "is not an email address"));
        }
        let credentials = |id: &'static str, secret: &'static str| -> Result<Option<AppCredentials>, ConfigError> {
            match (get(id), get(secret)) {
                (Some(client_id), Some(s)) => Ok(Some(AppCredentials {
                    client_id,
                    client_secret: secrecy::SecretString::from(s),
                })),
                (None, None) => Ok(None),
                (Some(_), None) => Err(err(secret, "is required when the client ID is set")),
                (None, Some(_)) => Err(err(id, "is required when the client secret is set")),
            }
        };
        let microsoft = credentials("MICROSOFT_CLIENT_ID", "MICROSOFT_CLIENT_SECRET")?;
        let google = credentials("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")?;
        let url_or =
            |name: &'static str, default: &str| http_url(name, get(name).unwrap_or_else(|| default.to_owned()));
        Ok(Self {
            microsoft,
            microsoft_login_url: url_or("MICROSOFT_LOGIN_URL", "https://login.microsoftonline.com")?,
            microsoft_graph_url: url_or("MICROSOFT_GRAPH_URL", "https://graph.microsoft.com")?,
            google,
            google_auth_url: url_or("GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth")?,
            google_token_url: url_or("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")?,
            google_admin_url: url_or("GOOGLE_ADMIN_URL", "https://admin.googleapis.com")?,
            runtime,
            listen_addr,
            public_base_url,
            console_url,
            allowed_origins,
            data_dir: get("DATA_DIR").map_or_else(|| PathBuf::from("./.data"), PathBuf::from),
            store,
            table_name: aws_name(
                "TABLE_NAME",
                get("TABLE_NAME").unwrap_or_else(|| "onboarding".into()),
                255,
                "_.-",
            )?,
            email,
            sender_email,
            ses_configuration_set: get("SES_CONFIGURATION_SET")
                .map(|v| aws_name("SES_CONFIGURATION_SET", v, 64, "_-"))
                .transpose()?,
            signing_key,
            encryption_key,
            session_hours,
            link_days,
            seat_limit,
            account_retention_days,
            discovery_interval,
            jobs,
            dynamodb_endpoint: get("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| get("AWS_ENDPOINT_URL")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)], runtime: Runtime) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(runtime, |k| m.get(k).cloned())
    }

    #[test]
    fn local_defaults() {
        let c = with(&[], Runtime::Local).unwrap();
        assert_eq!(c.public_base_url, "http://127.0.0.1:3000");
        assert_eq!(c.console_url, "http://127.0.0.1:3000/console");
        assert_eq!(c.allowed_origins, vec!["http://127.0.0.1:3000"]);
        assert_eq!((c.store, c.email), (StoreKind::Embedded, EmailKind::Outbox));
    }

    #[test]
    fn lambda_needs_keys_and_urls() {
        assert_eq!(with(&[], Runtime::Lambda).unwrap_err().name, "PUBLIC_BASE_URL");
        let e = with(&[("PUBLIC_BASE_URL", "https://api.example.com")], Runtime::Lambda).unwrap_err();
        assert_eq!(e.name, "SIGNING_KEY");
        let key = STANDARD.encode([1u8; 32]);
        let e = with(
            &[("PUBLIC_BASE_URL", "https://api.example.com"), ("SIGNING_KEY", &key)],
            Runtime::Lambda,
        )
        .unwrap_err();
        assert_eq!(e.name, "ENCRYPTION_KEY");
        let vars = [
            ("PUBLIC_BASE_URL", "https://api.example.com/"),
            ("SIGNING_KEY", key.as_str()),
            ("ENCRYPTION_KEY", key.as_str()),
        ];
        let c = with(&vars, Runtime::Lambda).unwrap();
        assert_eq!((c.store, c.email), (StoreKind::Dynamodb, EmailKind::Ses));
        assert_eq!(c.public_base_url, "https://api.example.com");
        assert!(!format!("{c:?}").contains(&key));
    }

    #[test]
    fn refuses_bad_values() {
        assert_eq!(with(&[("STORE", "mysql")], Runtime::Local).unwrap_err().name, "STORE");
        assert_eq!(
            with(&[("SIGNING_KEY", "c2hvcnQ=")], Runtime::Local).unwrap_err().name,
            "SIGNING_KEY"
        );
        assert_eq!(
            with(&[("PUBLIC_BASE_URL", "ftp://x")], Runtime::Local)
                .unwrap_err()
                .name,
            "PUBLIC_BASE_URL"
        );
    }

    #[test]
    fn allowed_origins_are_checked_never_a_panic() {
        for bad in [
            "*",
            "https://*.example.com",
            "console.example.com",
            "https://console.example.com/app",
            "ftp://console.example.com",
            "https://console.example.com?x=1",
            "https://a.example.com,,not an origin",
            "https://user@console.example.com",
            ",",
        ] {
            let e = with(&[("ALLOWED_ORIGINS", bad)], Runtime::Local).unwrap_err();
            assert_eq!(e.name, "ALLOWED_ORIGINS", "{bad:?}");
            assert!(e.to_string().contains("ALLOWED_ORIGINS"), "{e}");
        }
        // Hosts are compared as browsers send them (lower case); a trailing slash is dropped.
        let c = with(
            &[(
                "ALLOWED_ORIGINS",
                " https://Console.Example.com/ , http://127.0.0.1:5173",
            )],
            Runtime::Local,
        )
        .unwrap();
        assert_eq!(
            c.allowed_origins,
            vec!["https://console.example.com", "http://127.0.0.1:5173"]
        );
        // What the configuration accepts, the router takes without panicking.
        let state = crate::services::Services::new(
            std::sync::Arc::new(crate::store::embedded::EmbeddedStore::in_memory(std::sync::Arc::new(
                crate::clock::ManualClock::default(),
            ))),
            std::sync::Arc::new(crate::email::memory::MemoryMailer::default()),
            std::sync::Arc::new(crate::clock::ManualClock::default()),
            SecretSlice::from(vec![1u8; 32]),
            crate::services::Links {
                public_base_url: "http://127.0.0.1:3000".into(),
                console_url: "http://127.0.0.1:3000/console".into(),
            },
        );
        let state = crate::services::Services {
            allowed_origins: c.allowed_origins,
            ..state
        };
        let _ = crate::http::router(state.into_state());
    }

    #[test]
    fn other_values_name_their_variable() {
        for (name, value) in [
            ("TABLE_NAME", "bad name!"),
            ("SES_CONFIGURATION_SET", "a/b"),
            ("PUBLIC_BASE_URL", "https://api.example.com/?x=1"),
            ("CONSOLE_URL", "https://u:p@console.example.com"),
            ("LISTEN_ADDR", "nowhere"),
            ("LINK_DAYS", "0"),
            ("SESSION_HOURS", "x"),
            ("SEAT_LIMIT", "-1"),
            ("ACCOUNT_RETENTION_DAYS", "0"),
            ("DISCOVERY_INTERVAL", "5s"),
            ("SENDER_EMAIL", "not an address"),
            ("EMAIL", "smtp"),
            ("MICROSOFT_LOGIN_URL", "not a url"),
            ("ENCRYPTION_KEY", "%%%"),
        ] {
            let e = with(&[(name, value)], Runtime::Local).unwrap_err();
            assert_eq!(e.name, name, "{value:?}");
        }
    }
}
