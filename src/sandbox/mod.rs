//! The built-in **sandbox** identity provider and directory: served by the local server when
//! no real Microsoft or Google credentials are configured, and used by tests and benchmarks.
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
use axum::extract::{Form, Path, Query, State};
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
pub fn configure(config: &mut crate::config::Config) -> bool {
    let urls = urls(&config.public_base_url);
    let mut any = false;
    if config.microsoft.is_none() {
        config.microsoft = Some(crate::config::AppCredentials {
            client_id: CLIENT_ID.to_owned(),
            client_secret: secrecy::SecretString::from(CLIENT_SECRET),
        });
        config.microsoft_login_url = urls.microsoft_login_url;
        config.microsoft_graph_url = urls.microsoft_graph_url;
        any = true;
    }
    if config.google.is_none() {
        config.google = Some(crate::config::AppCredentials {
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

/// What the sandbox does wrong on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// The token endpoints answer this status (with an HTML body) instead of a token.
    pub token_status: Option<u16>,
    /// The token endpoints wait this long first.
    pub token_delay_ms: u64,
    /// Roles recorded at the next Microsoft consents; `None`: every required role.
    pub granted_roles: Option<Vec<String>>,
    /// Graph and Directory answer this status (429 comes with `Retry-After: 1`).
    pub graph_status: Option<u16>,
    /// The token endpoint refuses the service's own secret as expired (AADSTS7000222).
    pub client_secret_expired: bool,
    /// Directory users come without `customerId` (only `customers/my_customer` names it).
    pub hide_customer_id: bool,
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
    clock: Arc<dyn crate::clock::Clock>,
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
        Self::with_clock(Arc::new(crate::clock::SystemClock))
    }

    /// Like [`Sandbox::new`], issuing ID tokens at `clock`'s time.
    pub fn with_clock(clock: Arc<dyn crate::clock::Clock>) -> Arc<Self> {
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
            key: crate::crypto::random_bytes::<32>(),
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
            get(ms_sign_in_page),
        )
        .route("/sandbox/microsoft/signin", post(ms_sign_in))
        .route(
            "/sandbox/microsoft/{tenant}/v2.0/.well-known/openid-configuration",
            get(ms_openid_configuration),
        )
        .route("/sandbox/microsoft/{tenant}/v2.0/adminconsent", get(ms_consent_page))
        .route("/sandbox/microsoft/consent", post(ms_consent))
        .route("/sandbox/microsoft/{tenant}/oauth2/v2.0/token", post(ms_token))
        .route("/sandbox/graph/v1.0/users", get(graph_users))
        .route("/sandbox/graph/v1.0/users/delta", get(graph_users_delta))
        .route("/sandbox/graph/v1.0/groups", get(graph_groups))
        .route("/sandbox/graph/v1.0/groups/delta", get(graph_groups_delta))
        .route("/sandbox/graph/v1.0/sites/getAllSites", get(graph_sites))
        .route("/sandbox/google/auth", get(google_consent_page))
        .route("/sandbox/google/consent", post(google_consent))
        .route("/sandbox/google/token", post(google_token))
        .route("/sandbox/google/admin/directory/v1/users", get(google_users))
        .route(
            "/sandbox/google/admin/directory/v1/customers/{customer}",
            get(google_customer),
        )
        .route("/sandbox/faults", get(get_faults).post(set_faults))
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

fn granted_roles(faults: &Faults) -> Vec<String> {
    faults.granted_roles.clone().unwrap_or_else(|| {
        crate::identity::REQUIRED_MICROSOFT_ROLES
            .iter()
            .map(|r| (*r).to_owned())
            .collect()
    })
}

#[derive(Template)]
#[template(path = "sandbox/signin.html")]
struct SignInPage<'a> {
    client_id: &'a str,
    tenant_name: Option<&'a str>,
    hidden: Vec<(&'a str, String)>,
    choices: Vec<(String, String)>,
}

/// `(tenant ID, label)` pairs a sign-in or consent page offers.
type Choices = Vec<(String, String)>;

/// The tenant a page is for (its label), or the tenants to choose from (`organizations`);
/// `None` for an unknown tenant.
fn tenant_choice(sb: &Sandbox, tenant: &str) -> Option<(Option<String>, Choices)> {
    match tenant {
        "organizations" | "common" => {
            let tenants = sb.lock().tenants.clone();
            let choices = tenants
                .iter()
                .map(|t| (t.id.clone(), format!("{} ({})", t.name, t.domain)))
                .collect();
            Some((None, choices))
        }
        other => sb
            .find_tenant(other)
            .map(|t| (Some(format!("{} ({})", t.name, t.domain)), Vec::new())),
    }
}

/// The issuer base of this sandbox as the caller reached it: `http://{Host}/sandbox/microsoft`.
fn login_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/sandbox/microsoft")
}

/// `GET {login}/{tenant}/oauth2/v2.0/authorize`: the sign-in leg (OpenID Connect code flow).
async fn ms_sign_in_page(
    State(sb): S,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID {
        return problem(
            StatusCode::BAD_REQUEST,
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "AADSTS900144: The request must carry response_type=code, scope openid and an S256 code_challenge.",
        );
    }
    let Some((tenant_name, choices)) = tenant_choice(&sb, &tenant) else {
        return problem(StatusCode::BAD_REQUEST, "AADSTS90002: Tenant not found.");
    };
    let mut hidden = vec![
        ("redirect_uri", get("redirect_uri")),
        ("state", get("state")),
        ("nonce", get("nonce")),
        ("code_challenge", get("code_challenge")),
    ];
    if choices.is_empty() {
        hidden.push(("tenant", tenant));
    }
    html(
        StatusCode::OK,
        &SignInPage {
            client_id: CLIENT_ID,
            tenant_name: tenant_name.as_deref(),
            hidden,
            choices,
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    tenant: String,
    who: String,
    redirect_uri: String,
    state: String,
    #[serde(default)]
    nonce: String,
    code_challenge: String,
}

async fn ms_sign_in(State(sb): S, Form(f): Form<SignInForm>) -> Response {
    let Some(t) = sb.find_tenant(&f.tenant) else {
        return problem(StatusCode::BAD_REQUEST, "AADSTS90002: Tenant not found.");
    };
    let code = format!("ms-code-{}", B64.encode(crate::crypto::random_bytes::<18>()));
    sb.lock().microsoft_codes.insert(
        code.clone(),
        MicrosoftCode {
            tenant_id: t.id,
            domain: t.domain,
            admin: f.who == "admin",
            nonce: f.nonce,
            challenge: f.code_challenge,
            redirect_uri: f.redirect_uri.clone(),
        },
    );
    back_to(&f.redirect_uri, &[("code", &code), ("state", &f.state)])
}

/// `GET {login}/{tenant}/v2.0/.well-known/openid-configuration`: names the tenant's issuer.
async fn ms_openid_configuration(State(sb): S, headers: HeaderMap, Path(tenant): Path<String>) -> Response {
    let Some(t) = sb.find_tenant(&tenant) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    };
    let base = login_base(&headers);
    Json(json!({
        "issuer": format!("{base}/{}/v2.0", t.id),
        "authorization_endpoint": format!("{base}/{}/oauth2/v2.0/authorize", t.id),
        "token_endpoint": format!("{base}/{}/oauth2/v2.0/token", t.id),
        "tenant_region_scope": "WW",
    }))
    .into_response()
}

/// `grant_type=authorization_code` at the token endpoint: the sign-in code, once, with its
/// PKCE verifier; answers an ID token (HS256 here; real Entra signs RS256).
fn ms_redeem_code(sb: &Sandbox, headers: &HeaderMap, f: &HashMap<String, String>) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let Some(c) = sb.lock().microsoft_codes.remove(get("code")) else {
        return invalid_grant("AADSTS54005: OAuth2 Authorization code was already redeemed or is not valid.");
    };
    if c.redirect_uri != get("redirect_uri") {
        return invalid_grant("AADSTS50148: The redirect_uri does not match the one of the authorization request.");
    }
    let verifier = get("code_verifier");
    if B64.encode(Sha256::digest(verifier.as_bytes())) != c.challenge {
        return invalid_grant(
            "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
    }
    let now = sb.clock.now().timestamp();
    let wids: Vec<&str> = if c.admin {
        vec![crate::identity::CONSENTING_ADMIN_ROLES[0]]
    } else {
        Vec::new()
    };
    let who = if c.admin { "admin" } else { "user" };
    let id_token = sb.sign(&json!({
        "aud": CLIENT_ID, "iss": format!("{}/{}/v2.0", login_base(headers), c.tenant_id),
        "tid": c.tenant_id, "nonce": c.nonce, "wids": wids, "iat": now, "nbf": now, "exp": now + 3600,
        "preferred_username": format!("{who}@{}", c.domain), "ver": "2.0",
    }));
    let access_token =
        sb.sign(&json!({ "aud": "00000003-0000-0000-c000-000000000000", "tid": c.tenant_id, "exp": now + 3600 }));
    Json(
        json!({ "token_type": "Bearer", "scope": "openid profile", "expires_in": 3600,
                 "access_token": access_token, "id_token": id_token }),
    )
    .into_response()
}

async fn ms_consent_page(
    State(sb): S,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (client_id, redirect_uri, state) = (get("client_id"), get("redirect_uri"), get("state"));
    if client_id != CLIENT_ID {
        return problem(
            StatusCode::BAD_REQUEST,
            "AADSTS700016: Application not found in the directory.",
        );
    }
    let (tenant_name, choices) = match tenant_choice(&sb, &tenant) {
        Some(found) => found,
        None => {
            let d =
                format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.");
            return back_to(
                &redirect_uri,
                &[
                    ("error", "invalid_request"),
                    ("error_description", &d),
                    ("state", &state),
                ],
            );
        }
    };
    let mut hidden = vec![
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
    ];
    if choices.is_empty() {
        hidden.push(("tenant", tenant));
    }
    let permissions = granted_roles(&sb.faults())
        .into_iter()
        .map(|r| format!("Microsoft Graph: {r} (application)"))
        .collect();
    html(
        StatusCode::OK,
        &ConsentPage {
            provider: "Microsoft",
            client_id: CLIENT_ID,
            tenant_name: tenant_name.as_deref(),
            permissions,
            action: "/sandbox/microsoft/consent",
            hidden,
            choices,
        },
    )
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

async fn ms_consent(State(sb): S, Form(f): Form<ConsentForm>) -> Response {
    if f.decision != "accept" {
        return back_to(
            &f.redirect_uri,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.",
                ),
                ("state", &f.state),
            ],
        );
    }
    let Some(t) = f.tenant.as_deref().and_then(|t| sb.find_tenant(t)) else {
        return problem(StatusCode::BAD_REQUEST, "AADSTS90002: Tenant not found.");
    };
    let roles = granted_roles(&sb.faults());
    sb.lock().consents.insert(t.id.clone(), roles);
    back_to(
        &f.redirect_uri,
        &[
            ("admin_consent", "True"),
            ("tenant", &t.id),
            ("scope", crate::identity::http::GRAPH_DEFAULT_SCOPE),
            ("state", &f.state),
        ],
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The token endpoints' injected faults: a delay, then maybe an HTML error page.
async fn token_fault(sb: &Sandbox) -> Option<Response> {
    let faults = {
        let mut inner = sb.lock();
        inner.token_requests += 1;
        inner.faults.clone()
    };
    if faults.token_delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.token_delay_ms)).await;
    }
    let status = faults.token_status.and_then(|s| StatusCode::from_u16(s).ok())?;
    Some((status, Html("<html><body><h1>Service Unavailable</h1></body></html>")).into_response())
}

async fn ms_token(
    State(sb): S,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = token_fault(&sb).await {
        return r;
    }
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    let grant = get("grant_type");
    if grant != "client_credentials" && grant != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: unsupported grant type.",
        );
    }
    if get("client_id") != CLIENT_ID {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if get("client_secret") != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if sb.faults().client_secret_expired {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000222: The provided client secret keys for app are expired.",
        );
    }
    if grant == "authorization_code" {
        return ms_redeem_code(&sb, &headers, &f);
    }
    let Some(t) = sb.find_tenant(&tenant) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    };
    let Some(roles) = sb.lock().consents.get(&t.id).cloned() else {
        let d = format!(
            "AADSTS7000229: The client application {CLIENT_ID} is missing service principal in the tenant {}.",
            t.id
        );
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", &d);
    };
    let now = chrono::Utc::now().timestamp();
    let jwt = sb.sign(&json!({
        "aud": "https://graph.microsoft.com", "iss": format!("https://sts.windows.net/{}/", t.id),
        "tid": t.id, "roles": roles, "appid": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 3599,
    }));
    Json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": jwt }))
        .into_response()
}

fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message,
        "innerError": { "request-id": uuid::Uuid::new_v4().to_string(), "date": chrono::Utc::now().to_rfc3339() } } });
    let mut res = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The tenant a Graph call may read, after the faults, the token and the role checks.
fn graph_tenant(sb: &Sandbox, headers: &HeaderMap, role: &str) -> Result<Tenant, Box<Response>> {
    if let Some(s) = sb.faults().graph_status.and_then(|s| StatusCode::from_u16(s).ok()) {
        return Err(Box::new(graph_error(
            s,
            "serviceNotAvailable",
            "Injected by the sandbox.",
        )));
    }
    let claims = bearer(headers).and_then(|t| sb.verify(t)).ok_or_else(|| {
        Box::new(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ))
    })?;
    let tid = claims["tid"].as_str().unwrap_or_default();
    let granted = sb.lock().consents.get(tid).cloned();
    let has_role = granted.is_some_and(|r| r.iter().any(|g| g == role));
    if !has_role {
        return Err(Box::new(graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )));
    }
    sb.find_tenant(tid).ok_or_else(|| {
        Box::new(graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "No such tenant.",
        ))
    })
}

/// One page of `items` with `@odata.nextLink` built from the request's own address.
fn graph_page(headers: &HeaderMap, path: &str, q: &HashMap<String, String>, items: Vec<Value>) -> Response {
    let top = q
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 999);
    let skip = q.get("$skiptoken").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(skip).take(top).cloned().collect();
    let mut body = json!({ "value": page });
    if skip + top < items.len() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut next = url::Url::parse(&format!("http://{host}{path}")).expect("a URL");
        for (k, v) in q.iter().filter(|(k, _)| *k != "$skiptoken") {
            next.query_pairs_mut().append_pair(k, v);
        }
        next.query_pairs_mut()
            .append_pair("$top", &top.to_string())
            .append_pair("$skiptoken", &(skip + top).to_string());
        body["@odata.nextLink"] = json!(next.as_str());
    }
    Json(body).into_response()
}

async fn graph_users(State(sb): S, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let t = match graph_tenant(&sb, &headers, "User.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let items = t.users.iter().map(user_json).collect();
    graph_page(&headers, "/sandbox/graph/v1.0/users", &q, items)
}

fn user_json(u: &DirectoryUser) -> Value {
    json!({ "id": u.id, "displayName": u.display_name, "mail": u.mail, "userPrincipalName": u.mail,
            "accountEnabled": u.enabled, "assignedLicenses": [] })
}

/// `/users/delta`: a first run pages every user and ends with `@odata.deltaLink`; calling that
/// link answers only what changed since (added users, removed ones as `@removed`) and a new
/// link; `$deltatoken=latest` starts from now; a stale token answers 400 `syncStateNotFound`.
async fn graph_users_delta(State(sb): S, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let t = match graph_tenant(&sb, &headers, "User.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let all = t.users.iter().map(user_json).collect();
    delta_answer(&sb, &headers, &q, "users", &t.id, all).await
}

/// `/groups/delta`: as `/users/delta`, for groups (the sandbox's groups do not change).
async fn graph_groups_delta(State(sb): S, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let t = match graph_tenant(&sb, &headers, "Group.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let all = t.groups.iter().map(|g| group_json(g, &t.domain)).collect();
    delta_answer(&sb, &headers, &q, "groups", &t.id, all).await
}

fn group_json(g: &Group, domain: &str) -> Value {
    json!({ "id": g.id, "displayName": g.name, "mail": format!("{}@{}", g.name.to_lowercase().replace(' ', ""), domain),
            "groupTypes": ["Unified"], "resourceProvisioningOptions": if g.team { vec!["Team"] } else { vec![] } })
}

/// One page of a delta query over `kind` (`users`, `groups`): everything without a token,
/// the changes since a token of the current generation, nothing for `latest`.
async fn delta_answer(
    sb: &Sandbox,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    kind: &str,
    tenant: &str,
    all: Vec<Value>,
) -> Response {
    let (generation, seq) = {
        let inner = sb.lock();
        (inner.delta_generation, inner.seq)
    };
    let items: Vec<Value> = match q.get("$deltatoken").map(String::as_str) {
        None => all,
        Some("latest") => Vec::new(),
        Some(token) => {
            let parsed = token
                .strip_prefix('g')
                .and_then(|r| r.split_once('.'))
                .and_then(|(g, s)| Some((g.parse::<u64>().ok()?, s.parse::<u64>().ok()?)));
            match parsed {
                Some((g, since)) if g == generation => {
                    if kind == "users" {
                        sb.lock()
                            .user_changes
                            .iter()
                            .filter(|(s, t, _)| *s > since && t == tenant)
                            .map(|(_, _, v)| v.clone())
                            .collect()
                    } else {
                        Vec::new()
                    }
                }
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "syncStateNotFound",
                        "The delta token is expired.",
                    );
                }
            }
        }
    };
    let path = format!("/sandbox/graph/v1.0/{kind}/delta");
    let body = graph_page(headers, &path, q, items).into_body();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let mut page: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "value": [] }));
    if page.get("@odata.nextLink").is_none() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        page["@odata.deltaLink"] = json!(format!("http://{host}{path}?$deltatoken=g{generation}.{seq}"));
    }
    Json(page).into_response()
}

async fn graph_groups(State(sb): S, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let t = match graph_tenant(&sb, &headers, "Group.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let teams_only = q.get("$filter").is_some_and(|f| f.contains("'Team'"));
    let items = t
        .groups
        .iter()
        .filter(|g| !teams_only || g.team)
        .map(|g| group_json(g, &t.domain))
        .collect();
    graph_page(&headers, "/sandbox/graph/v1.0/groups", &q, items)
}

async fn graph_sites(State(sb): S, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let t = match graph_tenant(&sb, &headers, "Sites.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let items = t
        .sites
        .iter()
        .map(|s| json!({ "id": s.id, "displayName": s.name, "name": s.name, "webUrl": s.url, "isPersonalSite": s.personal }))
        .collect();
    graph_page(&headers, "/sandbox/graph/v1.0/sites/getAllSites", &q, items)
}

async fn google_consent_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != GOOGLE_CLIENT_ID {
        return problem(
            StatusCode::BAD_REQUEST,
            "Error 401: invalid_client. The OAuth client was not found.",
        );
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return back_to(
            &get("redirect_uri"),
            &[("error", "invalid_request"), ("state", &get("state"))],
        );
    }
    let scopes = get("scope")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let hidden = vec![
        ("redirect_uri", get("redirect_uri")),
        ("state", get("state")),
        ("code_challenge", get("code_challenge")),
        ("access_type", get("access_type")),
        ("tenant", GOOGLE_CUSTOMER_ID.to_owned()),
    ];
    let name = format!("Northwind ({GOOGLE_DOMAIN})");
    html(
        StatusCode::OK,
        &ConsentPage {
            provider: "Google",
            client_id: GOOGLE_CLIENT_ID,
            tenant_name: Some(&name),
            permissions: scopes,
            action: "/sandbox/google/consent",
            hidden,
            choices: Vec::new(),
        },
    )
}

async fn google_consent(State(sb): S, Form(f): Form<ConsentForm>) -> Response {
    if f.decision != "accept" {
        return back_to(&f.redirect_uri, &[("error", "access_denied"), ("state", &f.state)]);
    }
    let code = format!("4/sandbox-{}", uuid::Uuid::new_v4().simple());
    sb.lock().google_codes.insert(
        code.clone(),
        GoogleCode {
            challenge: f.code_challenge,
            redirect_uri: f.redirect_uri.clone(),
            offline: f.access_type == "offline",
        },
    );
    back_to(
        &f.redirect_uri,
        &[
            ("code", &code),
            ("scope", &crate::identity::GOOGLE_SCOPES.join(" ")),
            ("state", &f.state),
        ],
    )
}

fn google_access_token(sb: &Sandbox) -> String {
    let token = format!("ya29.sandbox-{}", uuid::Uuid::new_v4().simple());
    sb.lock()
        .google_access
        .insert(token.clone(), chrono::Utc::now().timestamp() + 3599);
    token
}

async fn google_token(State(sb): S, Form(f): Form<HashMap<String, String>>) -> Response {
    if let Some(r) = token_fault(&sb).await {
        return r;
    }
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != GOOGLE_CLIENT_ID || get("client_secret") != GOOGLE_CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    let scope = crate::identity::GOOGLE_SCOPES.join(" ");
    match get("grant_type") {
        "authorization_code" => {
            let Some(code) = sb.lock().google_codes.remove(get("code")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Malformed auth code.");
            };
            let challenge = B64.encode(Sha256::digest(get("code_verifier").as_bytes()));
            if challenge != code.challenge || code.redirect_uri != get("redirect_uri") {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid code verifier.");
            }
            let access = google_access_token(&sb);
            let mut body =
                json!({ "access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer" });
            if code.offline {
                let refresh = format!("1//sandbox-{}", uuid::Uuid::new_v4().simple());
                sb.lock().google_refresh.insert(refresh.clone(), ());
                body["refresh_token"] = json!(refresh);
            }
            Json(body).into_response()
        }
        "refresh_token" => {
            if !sb.lock().google_refresh.contains_key(get("refresh_token")) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            let access = google_access_token(&sb);
            Json(json!({ "access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer" }))
                .into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Invalid grant_type."),
    }
}

async fn google_users(State(sb): S, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(s) = sb.faults().graph_status.and_then(|s| StatusCode::from_u16(s).ok()) {
        return (
            s,
            Json(json!({ "error": { "code": s.as_u16(), "message": "Injected by the sandbox." } })),
        )
            .into_response();
    }
    let now = chrono::Utc::now().timestamp();
    let valid = bearer(&headers)
        .and_then(|t| sb.lock().google_access.get(t).copied())
        .is_some_and(|exp| exp > now);
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": 401, "message": "Invalid Credentials" } })),
        )
            .into_response();
    }
    let max = q
        .get("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let skip = q.get("pageToken").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let users = sb.lock().google_users.clone();
    let hide_customer = sb.faults().hide_customer_id;
    let page: Vec<Value> = users
        .iter()
        .skip(skip)
        .take(max)
        .enumerate()
        .map(|(i, u)| {
            json!({ "id": u.id, "primaryEmail": u.mail,
                               "name": { "fullName": u.display_name }, "suspended": !u.enabled,
                               "customerId": GOOGLE_CUSTOMER_ID, "isAdmin": skip + i == 0 })
        })
        .map(|mut u| {
            if hide_customer && let Some(o) = u.as_object_mut() {
                o.remove("customerId");
            }
            u
        })
        .collect();
    let mut body = json!({ "kind": "admin#directory#users", "users": page });
    if skip + max < users.len() {
        body["nextPageToken"] = json!((skip + max).to_string());
    }
    Json(body).into_response()
}

/// `GET {admin}/admin/directory/v1/customers/my_customer`: the customer behind the alias.
async fn google_customer(State(sb): S, headers: HeaderMap, Path(customer): Path<String>) -> Response {
    let now = chrono::Utc::now().timestamp();
    let valid = bearer(&headers)
        .and_then(|t| sb.lock().google_access.get(t).copied())
        .is_some_and(|exp| exp > now);
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": 401, "message": "Invalid Credentials" } })),
        )
            .into_response();
    }
    if customer != "my_customer" && customer != GOOGLE_CUSTOMER_ID {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": { "code": 404, "message": "Resource Not Found: customer" } })),
        )
            .into_response();
    }
    Json(json!({ "kind": "admin#directory#customer", "id": GOOGLE_CUSTOMER_ID, "customerDomain": GOOGLE_DOMAIN }))
        .into_response()
}

async fn get_faults(State(sb): S) -> Json<Faults> {
    Json(sb.faults())
}

async fn set_faults(State(sb): S, Json(f): Json<Faults>) -> Json<Faults> {
    sb.set_faults(f.clone());
    Json(f)
}

#[cfg(test)]
mod tests {}
