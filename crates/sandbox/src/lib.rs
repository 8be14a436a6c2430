//! The **sandbox** identity provider and directory: served by the local binary (`crates/local`,
//! the only crate that depends on this one outside tests) when no real Microsoft or Google
//! credentials are configured, and by the sandbox-flow tests. No Lambda bootstrap contains it
//! (`scripts/validate-infra` checks every function's dependency tree).
//! It speaks the real protocols (`shared/protocols.md`) under `/sandbox/...`, reached through
//! the same base-URL settings as the real providers, so production code paths run unchanged:
//!
//! - Microsoft: `GET {login}/{tenant}/v2.0/adminconsent` (a labelled page with Accept and
//!   Decline), `POST {login}/{tenant}/oauth2/v2.0/token` (client credentials; a JWT with `tid`
//!   and `roles`, HS256 with a per-process key; AADSTS errors as Entra words them), and a small
//!   Graph: `/v1.0/users`, `/v1.0/groups` (Teams by `$filter`), `/v1.0/sites/getAllSites`,
//!   paged by `@odata.nextLink`.
//! - Google: `GET {auth}` (consent page), `POST {token}` (authorization code with PKCE S256,
//!   refresh token), `GET {admin}/admin/directory/v1/users`.
//! - Knobs for tests and demos: `POST /sandbox/faults` (token endpoint status or delay, roles
//!   granted at the next consent, Graph status) and the same from Rust.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The service's page layout (`templates/pages/layout.html`, which the sandbox's pages extend)
/// inlines its stylesheet by this path.
mod http {
    pub(crate) mod pages {
        pub(crate) use onboarding::http::pages::PAGE_CSS;
    }
}

mod faults;
mod google;
mod graph;
mod microsoft;

pub use faults::Faults;
use faults::token_fault;
use graph::user_json;

pub const CLIENT_ID: &str = "sandbox-microsoft-app";
pub const CLIENT_SECRET: &str = "sandbox-microsoft-secret";
pub const GOOGLE_CLIENT_ID: &str = "sandbox-google-client.apps.example";
pub const GOOGLE_CLIENT_SECRET: &str = "sandbox-google-secret";
pub const CONTOSO_TENANT_ID: &str = "7a3c1f0e-5b2d-4c8e-9f61-2d4b8a0c3e11";
pub const CONTOSO_DOMAIN: &str = "contoso.onmicrosoft.com";
pub const FABRIKAM_TENANT_ID: &str = "c4e8a2b6-1d3f-4a5c-8e7b-9f0a1b2c3d4e";
pub const FABRIKAM_DOMAIN: &str = "fabrikam.onmicrosoft.com";
pub const GOOGLE_CUSTOMER_ID: &str = "C0sandbx1";
pub const GOOGLE_DOMAIN: &str = "northwind.example";

/// The base URLs to configure the real clients with, for a server at `base`.
#[derive(Debug, Clone)]
pub struct SandboxUrls {
    pub microsoft_login_url: String,
    pub microsoft_graph_url: String,
    pub google_auth_url: String,
    pub google_token_url: String,
    pub google_admin_url: String,
}

pub fn urls(base: &str) -> SandboxUrls {
    let base = base.trim_end_matches('/');
    SandboxUrls {
        microsoft_login_url: format!("{base}/sandbox/microsoft"),
        microsoft_graph_url: format!("{base}/sandbox/graph"),
        google_auth_url: format!("{base}/sandbox/google/auth"),
        google_token_url: format!("{base}/sandbox/google/token"),
        google_admin_url: format!("{base}/sandbox/google"),
    }
}

/// Points every provider of `config` without real credentials at the sandbox served at
/// `config.public_base_url` (its client IDs, secrets and URLs); answers whether any was, that
/// is whether the sandbox must be served. Real credentials keep the configured URLs.
pub fn configure(config: &mut onboarding::config::Config) -> bool {
    let urls = urls(&config.public_base_url);
    let mut any = false;
    if config.microsoft.is_none() {
        config.microsoft = Some(onboarding::config::AppCredentials {
            client_id: CLIENT_ID.to_owned(),
            client_secret: secrecy::SecretString::from(CLIENT_SECRET),
        });
        config.microsoft_login_url = urls.microsoft_login_url;
        config.microsoft_graph_url = urls.microsoft_graph_url;
        any = true;
    }
    if config.google.is_none() {
        config.google = Some(onboarding::config::AppCredentials {
            client_id: GOOGLE_CLIENT_ID.to_owned(),
            client_secret: secrecy::SecretString::from(GOOGLE_CLIENT_SECRET),
        });
        config.google_auth_url = urls.google_auth_url;
        config.google_token_url = urls.google_token_url;
        config.google_admin_url = urls.google_admin_url;
        any = true;
    }
    any
}

#[derive(Debug, Clone, Serialize)]
pub struct DirectoryUser {
    pub id: String,
    pub display_name: String,
    pub mail: String,
    pub enabled: bool,
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    name: String,
    team: bool,
}

#[derive(Debug, Clone)]
struct Site {
    id: String,
    name: String,
    url: String,
    personal: bool,
}

#[derive(Debug, Clone)]
struct Tenant {
    id: String,
    domain: String,
    name: String,
    users: Vec<DirectoryUser>,
    groups: Vec<Group>,
    sites: Vec<Site>,
}

/// A Microsoft sign-in code: who signed in where, for which PKCE challenge and nonce.
struct MicrosoftCode {
    tenant_id: String,
    domain: String,
    admin: bool,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct GoogleCode {
    challenge: String,
    redirect_uri: String,
    offline: bool,
}

#[derive(Default)]
struct Inner {
    tenants: Vec<Tenant>,
    /// Consented tenant ID → granted roles.
    consents: HashMap<String, Vec<String>>,
    faults: Faults,
    google_users: Vec<DirectoryUser>,
    google_codes: HashMap<String, GoogleCode>,
    microsoft_codes: HashMap<String, MicrosoftCode>,
    google_access: HashMap<String, i64>,
    google_refresh: HashMap<String, ()>,
    token_requests: usize,
    /// Change log for `/users/delta`: (sequence, tenant, the change as Graph shows it).
    user_changes: Vec<(u64, String, Value)>,
    seq: u64,
    /// Delta tokens of an older generation answer `syncStateNotFound`.
    delta_generation: u64,
}

/// The sandbox's state. Cheap to share behind an `Arc`.
pub struct Sandbox {
    key: [u8; 32],
    inner: Mutex<Inner>,
    /// The time ID tokens are issued at (tests share the service's manual clock).
    clock: Arc<dyn onboarding::clock::Clock>,
}

fn uuid_from(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn tenant(id: &str, domain: &str, name: &str, users: usize) -> Tenant {
    let short = domain.split('.').next().unwrap_or(domain);
    let people = [
        "Adele Vance",
        "Alex Wilber",
        "Diego Siciliani",
        "Grady Archie",
        "Isaiah Langer",
        "Johanna Lorenz",
    ];
    let users = (0..users)
        .map(|i| {
            let base = people[i % people.len()];
            let display_name = if i < people.len() {
                base.to_owned()
            } else {
                format!("{base} {}", i / people.len() + 1)
            };
            let login = display_name.to_lowercase().replace(' ', ".");
            DirectoryUser {
                id: uuid_from(&format!("{id}/user/{i}")),
                mail: format!("{login}@{domain}"),
                display_name,
                enabled: i != 3,
            }
        })
        .collect();
    let groups = [
        "All Company",
        "Sales",
        "Marketing",
        "Engineering",
        "Finance",
        "Project Falcon",
    ]
    .iter()
    .enumerate()
    .map(|(i, n)| Group {
        id: uuid_from(&format!("{id}/group/{i}")),
        name: (*n).to_owned(),
        team: i == 1 || i == 5,
    })
    .collect();
    let sites = [
        "Intranet",
        "Sales Hub",
        "Engineering Docs",
        "Finance Records",
        "Adele's OneDrive",
    ]
    .iter()
    .enumerate()
    .map(|(i, n)| {
        let personal = i == 4;
        let host = if personal {
            format!("{short}-my.sharepoint.com")
        } else {
            format!("{short}.sharepoint.com")
        };
        Site {
            id: format!(
                "{host},{},{}",
                uuid_from(&format!("{id}/site/{i}")),
                uuid_from(&format!("{id}/web/{i}"))
            ),
            name: (*n).to_owned(),
            url: format!("https://{host}/sites/{}", n.to_lowercase().replace([' ', '\''], "")),
            personal,
        }
    })
    .collect();
    Tenant {
        id: id.to_owned(),
        domain: domain.to_owned(),
        name: name.to_owned(),
        users,
        groups,
        sites,
    }
}

impl Sandbox {
    /// Two Microsoft tenants (Contoso: 25 users, one disabled; 6 groups, 2 of them Teams; 4
    /// sites and a personal OneDrive. Fabrikam: 8 users) and one Google customer (10 users).
    pub fn new() -> Arc<Self> {
        Self::with_clock(Arc::new(onboarding::clock::SystemClock))
    }

    /// Like [`Sandbox::new`], issuing ID tokens at `clock`'s time.
    pub fn with_clock(clock: Arc<dyn onboarding::clock::Clock>) -> Arc<Self> {
        let google = tenant(GOOGLE_CUSTOMER_ID, GOOGLE_DOMAIN, "Northwind", 10).users;
        let inner = Inner {
            tenants: vec![
                tenant(CONTOSO_TENANT_ID, CONTOSO_DOMAIN, "Contoso", 25),
                tenant(FABRIKAM_TENANT_ID, FABRIKAM_DOMAIN, "Fabrikam", 8),
            ],
            google_users: google,
            ..Inner::default()
        };
        Arc::new(Self {
            key: onboarding::crypto::random_bytes::<32>(),
            inner: Mutex::new(inner),
            clock,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Withdraws the app's consent in a tenant: its token requests then fail (AADSTS7000229).
    pub fn revoke_microsoft(&self, tenant_id: &str) {
        self.lock().consents.remove(tenant_id);
    }

    /// Withdraws every Google grant: refresh answers `invalid_grant`.
    pub fn revoke_google(&self) {
        let mut inner = self.lock();
        inner.google_refresh.clear();
        inner.google_access.clear();
    }

    /// Sets the roles granted in a consented tenant (as if an admin changed them).
    pub fn set_roles(&self, tenant_id: &str, roles: Vec<String>) {
        self.lock().consents.insert(tenant_id.to_owned(), roles);
    }

    /// A new empty-ish tenant (5 users) named `name`; answers its ID (`name.onmicrosoft.com`).
    pub fn add_tenant(&self, name: &str) -> String {
        let id = uuid_from(&format!("tenant/{name}"));
        let domain = format!("{}.onmicrosoft.com", name.to_lowercase());
        self.lock().tenants.push(tenant(&id, &domain, name, 5));
        id
    }

    pub fn add_user(&self, tenant_id: &str, display_name: &str, mail: &str) -> Option<String> {
        let mut inner = self.lock();
        let t = inner.tenants.iter_mut().find(|t| t.id == tenant_id)?;
        let id = uuid_from(&format!("{tenant_id}/added/{mail}"));
        let user = DirectoryUser {
            id: id.clone(),
            display_name: display_name.into(),
            mail: mail.into(),
            enabled: true,
        };
        let shown = user_json(&user);
        t.users.push(user);
        inner.seq += 1;
        let seq = inner.seq;
        inner.user_changes.push((seq, tenant_id.to_owned(), shown));
        Some(id)
    }

    pub fn remove_user(&self, tenant_id: &str, user_id: &str) {
        let mut inner = self.lock();
        if let Some(t) = inner.tenants.iter_mut().find(|t| t.id == tenant_id) {
            t.users.retain(|u| u.id != user_id);
            inner.seq += 1;
            let seq = inner.seq;
            let removed = json!({ "id": user_id, "@removed": { "reason": "deleted" } });
            inner.user_changes.push((seq, tenant_id.to_owned(), removed));
        }
    }

    /// Makes every delta token issued so far stale (`syncStateNotFound`), as after 7 days.
    pub fn expire_delta_tokens(&self) {
        self.lock().delta_generation += 1;
    }

    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    fn find_tenant(&self, raw: &str) -> Option<Tenant> {
        let raw = raw.to_lowercase();
        self.lock()
            .tenants
            .iter()
            .find(|t| t.id == raw || t.domain == raw)
            .cloned()
    }

    fn sign(&self, claims: &Value) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(claims.to_string());
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("{header}.{payload}").as_bytes());
        format!("{header}.{payload}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The claims of a token this sandbox issued, if it is genuine and unexpired.
    fn verify(&self, jwt: &str) -> Option<Value> {
        let (signed, sig) = jwt.rsplit_once('.')?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(signed.as_bytes());
        mac.verify_slice(&B64.decode(sig).ok()?).ok()?;
        let claims: Value = serde_json::from_slice(&B64.decode(signed.split('.').nth(1)?).ok()?).ok()?;
        (claims["exp"].as_i64()? > chrono::Utc::now().timestamp()).then_some(claims)
    }
}

/// The sandbox's routes, all under `/sandbox/`; merge them into the app's router.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route(
            "/sandbox/microsoft/{tenant}/oauth2/v2.0/authorize",
            get(microsoft::ms_sign_in_page),
        )
        .route("/sandbox/microsoft/signin", post(microsoft::ms_sign_in))
        .route(
            "/sandbox/microsoft/{tenant}/v2.0/.well-known/openid-configuration",
            get(microsoft::ms_openid_configuration),
        )
        .route(
            "/sandbox/microsoft/{tenant}/v2.0/adminconsent",
            get(microsoft::ms_consent_page),
        )
        .route("/sandbox/microsoft/consent", post(microsoft::ms_consent))
        .route(
            "/sandbox/microsoft/{tenant}/oauth2/v2.0/token",
            post(microsoft::ms_token),
        )
        .route("/sandbox/graph/v1.0/users", get(graph::graph_users))
        .route("/sandbox/graph/v1.0/users/delta", get(graph::graph_users_delta))
        .route("/sandbox/graph/v1.0/groups", get(graph::graph_groups))
        .route("/sandbox/graph/v1.0/groups/delta", get(graph::graph_groups_delta))
        .route("/sandbox/graph/v1.0/sites/getAllSites", get(graph::graph_sites))
        .route("/sandbox/google/auth", get(google::google_consent_page))
        .route("/sandbox/google/consent", post(google::google_consent))
        .route("/sandbox/google/token", post(google::google_token))
        .route("/sandbox/google/admin/directory/v1/users", get(google::google_users))
        .route(
            "/sandbox/google/admin/directory/v1/customers/{customer}",
            get(google::google_customer),
        )
        .route("/sandbox/faults", get(faults::get_faults).post(faults::set_faults))
        .with_state(sandbox)
}

type S = State<Arc<Sandbox>>;

#[derive(Template)]
#[template(path = "sandbox/consent.html")]
struct ConsentPage<'a> {
    provider: &'a str,
    client_id: &'a str,
    tenant_name: Option<&'a str>,
    permissions: Vec<String>,
    action: &'a str,
    hidden: Vec<(&'a str, String)>,
    choices: Vec<(String, String)>,
}

fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(cause = %e, "sandbox page rendering failed");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "The page could not be rendered.")
        }
    }
}

fn problem(status: StatusCode, text: &str) -> Response {
    let t = askama::filters::escape(text, askama::filters::Html)
        .map(|e| e.to_string())
        .unwrap_or_default();
    (
        status,
        Html(format!(
            "<!doctype html><title>Sandbox error</title><p><strong>Sandbox identity provider</strong></p><h1>{t}</h1>"
        )),
    )
        .into_response()
}

/// `redirect_uri?pairs`, the way providers append their answer.
fn back_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return problem(StatusCode::BAD_REQUEST, "redirect_uri is not a URL");
    };
    for (k, v) in pairs {
        url.query_pairs_mut().append_pair(k, v);
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => problem(StatusCode::BAD_REQUEST, "redirect_uri is not usable"),
    }
}

#[derive(Deserialize)]
struct ConsentForm {
    decision: String,
    tenant: Option<String>,
    redirect_uri: String,
    state: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    access_type: String,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}
