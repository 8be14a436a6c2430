//! The one fake Microsoft of the tests and benchmarks: Entra ID (consent, tokens, sign-in) and
//! Graph over one state, seen two ways.
//!
//! - As the [`Microsoft`] port in memory ([`FakeEntra`] implements it): router tests under
//!   `oneshot` script which tenants consented with which roles, which domains name them, the
//!   sign-in codes that redeem to which ID token, and a failure for the next token calls.
//! - Over HTTP ([`FakeEntra::serve`]): the token endpoint and Graph that the production
//!   `EntraClient` and `GraphClient` talk to (discovery tests and benchmarks). Its directory is
//!   one tenant of any size (100,000 users are generated from their index on the fly, so its
//!   memory grows with the changes made to it, not with its size), `/users/delta` with delta
//!   links and `@removed`, and faults injected on chosen requests: 5xx and 429 with
//!   `Retry-After`, malformed pages, 410 `resyncRequired`, consent revocation.
//!
//! Both faces read the same consent: [`FakeEntra::revoke`] makes the port's `app_token` and the
//! HTTP token endpoint refuse alike (AADSTS7000229), and Graph answer 403. Not served by `cargo
//! run` (the human-facing sandbox is the `onboarding-sandbox` crate).

use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Duration, Utc};
use onboarding::identity::{
    AppToken, CONSENTING_ADMIN_ROLES, IdTokenClaims, Microsoft, REQUIRED_MICROSOFT_ROLES, SignInRequest, TokenError,
};
use secrecy::SecretString;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub const TENANT_A: &str = "11111111-1111-4111-8111-111111111111";
pub const TENANT_B: &str = "22222222-2222-4222-8222-222222222222";
pub const FAKE_CLIENT_ID: &str = "fake";

/// Objects per page (Graph's delta pages hold about 200 whatever `$top` says).
pub const PAGE: usize = 200;

/// A fault, fired on the Graph page request that comes after `after` more successful ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub after: u32,
    pub kind: FaultKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// This status with a Graph error body (and `Retry-After` seconds when given).
    Status { status: u16, retry_after: Option<u64> },
    /// 200 with a body that is not a Graph page.
    Malformed,
    /// 410 `resyncRequired`.
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Renamed(u32),
    Removed,
}

/// The directory the Graph serves: users by index, their changes, the fault queue.
struct Directory {
    users: usize,
    epoch: u64,
    /// User index → (epoch of its last change, the change).
    changes: BTreeMap<usize, (u64, Change)>,
    faults: VecDeque<Fault>,
    generation: u64,
}

/// Microsoft as a test scripts it (see the module's documentation).
pub struct FakeEntra {
    /// Consented tenant ID → granted roles; a tenant missing here has not consented (or revoked).
    pub consented: Mutex<HashMap<String, Vec<String>>>,
    /// Domain → tenant ID, for `tenant_of_domain` and token requests naming a domain.
    pub domains: Mutex<HashMap<String, String>>,
    /// Answered by the next `app_token` calls of the port instead of a token.
    pub failure: Mutex<Option<TokenError>>,
    /// Token requests so far, through the port and over HTTP.
    pub token_calls: Mutex<usize>,
    /// Sign-in codes the provider would accept, with the ID token each redeems to.
    pub sign_ins: Mutex<HashMap<String, IdTokenClaims>>,
    /// The PKCE verifiers sent with redeemed codes.
    pub verifiers: Mutex<Vec<String>>,
    /// The tenant whose directory the Graph serves.
    pub tenant_id: String,
    base: Mutex<String>,
    directory: Mutex<Directory>,
    pages: AtomicU64,
    /// Time every Graph answer (not the token endpoint) takes, in microseconds.
    latency_us: AtomicU64,
}

fn all_roles() -> Vec<String> {
    REQUIRED_MICROSOFT_ROLES.iter().map(|r| (*r).to_owned()).collect()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Default for FakeEntra {
    /// Tenants A and B (`a.onmicrosoft.com`, `b.onmicrosoft.com`) consented with every required
    /// role; the Graph serves tenant A's directory, empty.
    fn default() -> Self {
        let fake = Self::with_directory(TENANT_A, 0);
        lock(&fake.consented).insert(TENANT_B.to_owned(), all_roles());
        lock(&fake.domains).extend([
            ("a.onmicrosoft.com".to_owned(), TENANT_A.to_owned()),
            ("b.onmicrosoft.com".to_owned(), TENANT_B.to_owned()),
        ]);
        fake
    }
}

type S = State<Arc<FakeEntra>>;

/// The ID token a genuine sign-in of a global admin of `tenant` redeems to.
pub fn admin_id_token(tenant: &str, nonce: &str) -> IdTokenClaims {
    IdTokenClaims {
        iss: format!("https://login.fake/{tenant}/v2.0"),
        aud: FAKE_CLIENT_ID.into(),
        exp: (Utc::now() + Duration::hours(1)).timestamp(),
        nonce: Some(nonce.to_owned()),
        tid: Some(tenant.to_owned()),
        wids: Some(vec![CONSENTING_ADMIN_ROLES[0].to_owned()]),
        preferred_username: Some(format!("admin@{tenant}")),
    }
}

/// An access token as the fake issues it: unsigned, its claims readable (`tid`, `roles`).
fn access_token(tenant_id: &str, roles: &[String]) -> String {
    let claims = json!({ "tid": tenant_id, "roles": roles, "exp": Utc::now().timestamp() + 3599 });
    format!("e30.{}.fake", B64.encode(claims.to_string()))
}

impl FakeEntra {
    /// One tenant, consented with every required role, whose Graph directory holds `users`.
    pub fn new(tenant_id: &str, users: usize) -> Arc<Self> {
        Arc::new(Self::with_directory(tenant_id, users))
    }

    fn with_directory(tenant_id: &str, users: usize) -> Self {
        Self {
            consented: Mutex::new(HashMap::from([(tenant_id.to_owned(), all_roles())])),
            domains: Mutex::new(HashMap::new()),
            failure: Mutex::new(None),
            token_calls: Mutex::new(0),
            sign_ins: Mutex::new(HashMap::new()),
            verifiers: Mutex::new(Vec::new()),
            tenant_id: tenant_id.to_owned(),
            base: Mutex::new(String::new()),
            directory: Mutex::new(Directory {
                users,
                epoch: 0,
                changes: BTreeMap::new(),
                faults: VecDeque::new(),
                generation: 0,
            }),
            pages: AtomicU64::new(0),
            latency_us: AtomicU64::new(0),
        }
    }

    fn dir(&self) -> MutexGuard<'_, Directory> {
        lock(&self.directory)
    }

    /// Makes `code` redeem to `claims` (once).
    pub fn accept_sign_in(&self, code: &str, claims: IdTokenClaims) {
        lock(&self.sign_ins).insert(code.to_owned(), claims);
    }

    pub fn fail_with(&self, e: Option<TokenError>) {
        *lock(&self.failure) = e;
    }

    /// Records `roles` as what `tenant` granted (as if its admin changed them).
    pub fn grant_roles(&self, tenant: &str, roles: &[&str]) {
        lock(&self.consented).insert(tenant.to_owned(), roles.iter().map(|r| (*r).to_owned()).collect());
    }

    /// Consent withdrawn in the directory's tenant: tokens are refused (AADSTS7000229), through
    /// the port and over HTTP, and Graph answers 403.
    pub fn revoke(&self) {
        lock(&self.consented).remove(&self.tenant_id);
    }

    /// Token requests so far (the port's and the HTTP endpoint's).
    pub fn token_requests(&self) -> u64 {
        *lock(&self.token_calls) as u64
    }

    /// The tenant a token request names (an ID or a known domain), and the roles it consented
    /// to (`None`: it has not, or revoked).
    fn resolve(&self, tenant: &str) -> (String, Option<Vec<String>>) {
        let tid = lock(&self.domains)
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| tenant.to_owned());
        let roles = lock(&self.consented).get(&tid).cloned();
        (tid, roles)
    }

    /// Serves on a loopback port; answers the base URL (use it as login and Graph URL).
    pub async fn serve(self: &Arc<Self>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        *lock(&self.base) = base.clone();
        let app = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        base
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/users/delta", get(users_delta))
            .route("/v1.0/groups/delta", get(empty_delta))
            .route("/v1.0/groups", get(empty_listing))
            .route("/v1.0/sites/getAllSites", get(empty_listing))
            .with_state(self.clone())
    }

    pub fn user_id(index: usize) -> String {
        format!("fa4e0000-0000-4000-8000-{index:012x}")
    }

    /// Renames users `[first, first + count)`: they show up in the next delta.
    pub fn rename_users(&self, first: usize, count: usize) {
        let mut s = self.dir();
        s.epoch += 1;
        let epoch = s.epoch;
        for i in first..first + count {
            let v = match s.changes.get(&i) {
                Some((_, Change::Renamed(v))) => v + 1,
                _ => 1,
            };
            s.changes.insert(i, (epoch, Change::Renamed(v)));
        }
    }

    pub fn remove_users(&self, first: usize, count: usize) {
        let mut s = self.dir();
        s.epoch += 1;
        let epoch = s.epoch;
        for i in first..first + count {
            s.changes.insert(i, (epoch, Change::Removed));
        }
    }

    pub fn add_users(&self, count: usize) {
        let mut s = self.dir();
        s.epoch += 1;
        let epoch = s.epoch;
        let first = s.users;
        s.users += count;
        for i in first..first + count {
            s.changes.insert(i, (epoch, Change::Renamed(0)));
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.dir().faults.push_back(fault);
    }

    /// Every delta token issued so far answers 400 `syncStateNotFound`.
    pub fn expire_delta_tokens(&self) {
        self.dir().generation += 1;
    }

    /// Graph pages answered 200 so far.
    pub fn pages_served(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }

    /// Makes every later Graph answer take `latency` (real Graph pages take 100 ms and more).
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.latency_us.store(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    async fn delay(&self) {
        let us = self.latency_us.load(Ordering::Relaxed);
        if us > 0 {
            tokio::time::sleep(std::time::Duration::from_micros(us)).await;
        }
    }

    fn base(&self) -> String {
        lock(&self.base).clone()
    }

    /// Where the Graph says it is (its nextLinks and deltaLinks start with it).
    pub fn set_base(&self, base: &str) {
        *lock(&self.base) = base.to_owned();
    }

    /// Checks the caller, the consent and the fault queue; `Some` is the answer to give
    /// instead of a page.
    fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if tid_of(token).as_deref() != Some(self.tenant_id.as_str()) {
            return Some(graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                None,
            ));
        }
        if !lock(&self.consented).contains_key(&self.tenant_id) {
            return Some(graph_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", None));
        }
        let mut s = self.dir();
        let fault = match s.faults.front_mut() {
            Some(f) if f.after == 0 => s.faults.pop_front(),
            Some(f) => {
                f.after -= 1;
                None
            }
            None => None,
        };
        drop(s);
        match fault?.kind {
            FaultKind::Status { status, retry_after } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Some(graph_error(status, "serviceNotAvailable", retry_after))
            }
            FaultKind::Malformed => Some((StatusCode::OK, "{\"value\": {\"oops\": 1}").into_response()),
            FaultKind::Gone => Some(graph_error(StatusCode::GONE, "resyncRequired", None)),
        }
    }
}

fn tid_of(jwt: &str) -> Option<String> {
    let claims = B64.decode(jwt.split('.').nth(1)?).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&claims).ok()?;
    v["tid"].as_str().map(str::to_owned)
}

fn graph_error(status: StatusCode, code: &str, retry_after: Option<u64>) -> Response {
    let body = json!({ "error": { "code": code, "message": "Injected by the fake Graph.",
        "innerError": { "request-id": "00000000-0000-0000-0000-000000000000", "date": "2026-11-24T00:00:00" } } });
    let mut res = (status, Json(body)).into_response();
    if let Some(s) = retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, s.into());
    }
    res
}

async fn token(State(fake): S, Path(tenant): Path<String>) -> Response {
    *lock(&fake.token_calls) += 1;
    let (tid, roles) = fake.resolve(&tenant);
    let known = roles.is_some() || tid == fake.tenant_id;
    if !known {
        let d = format!("AADSTS90002: Tenant '{tenant}' not found.");
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": d})),
        )
            .into_response();
    }
    let Some(roles) = roles else {
        let d = "AADSTS7000229: The client application is missing service principal in the tenant.";
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client", "error_description": d})),
        )
            .into_response();
    };
    let jwt = access_token(&tid, &roles);
    Json(json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": jwt })).into_response()
}

fn user(out: &mut String, index: usize, version: u32) {
    let id = FakeEntra::user_id(index);
    let name = if version == 0 {
        format!("User {index}")
    } else {
        format!("User {index} v{version}")
    };
    let _ = write!(
        out,
        r#"{{"id":"{id}","displayName":"{name}","mail":"user{index}@fake.example","userPrincipalName":"user{index}@fake.example","accountEnabled":{}}}"#,
        index % 97 != 3
    );
}

/// `/users/delta`: without a token every user (pages of [`PAGE`], `$skiptoken` = next index);
/// with `$deltatoken=g<generation>.<epoch>` the users changed after that epoch.
async fn users_delta(State(fg): S, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    fg.delay().await;
    if let Some(r) = fg.gate(&headers) {
        return r;
    }
    let base = fg.base();
    let skip: usize = q.get("$skiptoken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let s = fg.dir();
    let mut out = String::with_capacity(PAGE * 200);
    out.push_str("{\"value\":[");
    let mut n = 0;
    let next: Option<String> = match q.get("$deltatoken") {
        None => {
            // A full read: every present user from index `skip`.
            let mut i = skip;
            while i < s.users && n < PAGE {
                match s.changes.get(&i) {
                    Some((_, Change::Removed)) => {}
                    change => {
                        if n > 0 {
                            out.push(',');
                        }
                        let v = match change {
                            Some((_, Change::Renamed(v))) => *v,
                            _ => 0,
                        };
                        user(&mut out, i, v);
                        n += 1;
                    }
                }
                i += 1;
            }
            (i < s.users).then(|| format!("{base}/v1.0/users/delta?$skiptoken={i}"))
        }
        Some(token) => {
            let parsed = token
                .strip_prefix('g')
                .and_then(|r| r.split_once('.'))
                .and_then(|(g, e)| Some((g.parse::<u64>().ok()?, e.parse::<u64>().ok()?)));
            let since = match parsed {
                Some((g, e)) if g == s.generation => e,
                _ => return graph_error(StatusCode::BAD_REQUEST, "syncStateNotFound", None),
            };
            let changed: Vec<(&usize, &(u64, Change))> = s.changes.iter().filter(|(_, (e, _))| *e > since).collect();
            for (i, (_, change)) in changed.iter().skip(skip).take(PAGE) {
                if n > 0 {
                    out.push(',');
                }
                match change {
                    Change::Removed => {
                        let _ = write!(
                            out,
                            r#"{{"id":"{}","@removed":{{"reason":"deleted"}}}}"#,
                            FakeEntra::user_id(**i)
                        );
                    }
                    Change::Renamed(v) => user(&mut out, **i, *v),
                }
                n += 1;
            }
            (skip + PAGE < changed.len())
                .then(|| format!("{base}/v1.0/users/delta?$deltatoken={token}&$skiptoken={}", skip + PAGE))
        }
    };
    out.push(']');
    match next {
        Some(link) => {
            let _ = write!(out, r#","@odata.nextLink":"{link}"}}"#);
        }
        None => {
            let _ = write!(
                out,
                r#","@odata.deltaLink":"{base}/v1.0/users/delta?$deltatoken=g{}.{}"}}"#,
                s.generation, s.epoch
            );
        }
    }
    drop(s);
    fg.pages.fetch_add(1, Ordering::Relaxed);
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

async fn empty_delta(State(fg): S, headers: HeaderMap) -> Response {
    fg.delay().await;
    if let Some(r) = fg.gate(&headers) {
        return r;
    }
    fg.pages.fetch_add(1, Ordering::Relaxed);
    let link = format!("{}/v1.0/groups/delta?$deltatoken=g0.0", fg.base());
    Json(json!({ "value": [], "@odata.deltaLink": link })).into_response()
}

async fn empty_listing(State(fg): S, headers: HeaderMap) -> Response {
    fg.delay().await;
    if let Some(r) = fg.gate(&headers) {
        return r;
    }
    fg.pages.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "value": [] })).into_response()
}

#[async_trait]
impl Microsoft for FakeEntra {
    fn client_id(&self) -> &str {
        FAKE_CLIENT_ID
    }

    fn issuer(&self, tenant_id: &str) -> String {
        format!("https://login.fake/{tenant_id}/v2.0")
    }

    fn sign_in_url(&self, r: &SignInRequest<'_>) -> String {
        let mut u = url::Url::parse(&format!(
            "https://login.fake/{}/oauth2/v2.0/authorize",
            r.tenant.unwrap_or("organizations")
        ))
        .unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", FAKE_CLIENT_ID)
            .append_pair("state", r.state)
            .append_pair("nonce", r.nonce)
            .append_pair("code_challenge", r.code_challenge);
        u.to_string()
    }

    async fn redeem_sign_in(&self, code: &str, code_verifier: &str) -> Result<IdTokenClaims, TokenError> {
        lock(&self.verifiers).push(code_verifier.to_owned());
        lock(&self.sign_ins).remove(code).ok_or(TokenError::NoConsent {
            code: "invalid_grant".into(),
        })
    }

    async fn tenant_of_domain(&self, domain: &str) -> Result<Option<String>, TokenError> {
        Ok(lock(&self.domains).get(domain).cloned())
    }

    fn admin_consent_url(&self, tenant: Option<&str>, state: &str) -> String {
        let mut u = url::Url::parse(&format!(
            "https://login.fake/{}/v2.0/adminconsent",
            tenant.unwrap_or("organizations")
        ))
        .unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", FAKE_CLIENT_ID)
            .append_pair("state", state);
        u.to_string()
    }

    /// The same consent as the HTTP token endpoint, and a token its Graph accepts.
    async fn app_token(&self, tenant: &str) -> Result<AppToken, TokenError> {
        *lock(&self.token_calls) += 1;
        if let Some(e) = lock(&self.failure).clone() {
            return Err(e);
        }
        let (tid, roles) = self.resolve(tenant);
        let roles = roles.ok_or(TokenError::NoConsent { code: "7000229".into() })?;
        Ok(AppToken {
            access_token: SecretString::from(access_token(&tid, &roles)),
            expires_at: Utc::now() + Duration::hours(1),
            tenant_id: tid,
            roles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onboarding::identity::graph::{GraphClient, RetryPolicy};
    use secrecy::SecretString;

    async fn read_all(g: &GraphClient, token: &SecretString, url: &str) -> (Vec<serde_json::Value>, String) {
        let mut items = Vec::new();
        let mut url = url.to_owned();
        loop {
            let p = g.page(token, &url).await.unwrap();
            items.extend(p.items);
            match (p.next, p.delta) {
                (Some(n), _) => url = n,
                (None, Some(d)) => return (items, d),
                (None, None) => panic!("no delta link"),
            }
        }
    }

    #[tokio::test]
    async fn full_reads_deltas_and_faults() {
        let fg = FakeEntra::new("t-1", 1050);
        let base = fg.serve().await;
        let token = SecretString::from(format!("e30.{}.x", B64.encode(r#"{"tid":"t-1"}"#)));
        let g = GraphClient::new(
            onboarding::identity::http::http_client(std::time::Duration::from_secs(5)),
            RetryPolicy {
                attempts: 1,
                max_wait: std::time::Duration::from_secs(1),
            },
        );
        let (all, delta) = read_all(&g, &token, &format!("{base}/v1.0/users/delta")).await;
        assert_eq!(all.len(), 1050);
        assert_eq!(fg.pages_served(), 6);
        fg.rename_users(0, 3);
        fg.remove_users(10, 2);
        fg.add_users(1);
        let (changes, next) = read_all(&g, &token, &delta).await;
        assert_eq!(changes.len(), 6);
        assert_eq!(changes.iter().filter(|c| c.get("@removed").is_some()).count(), 2);
        assert!(read_all(&g, &token, &next).await.0.is_empty());
        fg.inject(Fault {
            after: 1,
            kind: FaultKind::Status {
                status: 500,
                retry_after: None,
            },
        });
        assert!(g.page(&token, &next).await.is_ok());
        assert!(g.page(&token, &next).await.is_err());
        assert!(g.page(&token, &next).await.is_ok());
        fg.expire_delta_tokens();
        assert_eq!(
            g.page(&token, &next).await.unwrap_err(),
            onboarding::identity::graph::GraphError::Resync
        );
    }
}
