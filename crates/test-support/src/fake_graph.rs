//! A synthetic Microsoft Graph and Entra token endpoint for tests and benchmarks: one tenant
//! of any size (100,000 users are generated from their index on the fly, so its memory grows
//! with the changes made to it, not with its size), `/users/delta` with delta links and
//! `@removed`, and faults injected on chosen requests: 5xx and 429 with `Retry-After`,
//! malformed pages, 410 `resyncRequired`, consent revocation. Not served by `cargo run` (the
//! human-facing sandbox is the `onboarding-sandbox` crate).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use onboarding::domain::{AccountId, ClientId, ManagedBy, PartnerId, Platform};
use onboarding::store::keys::{self, AccountItem, AccountStatus, RegistryItem};
use onboarding::store::{Condition, Item, Store, StoreError, WriteOp};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Stores a Microsoft 365 account of `tenant_id` for `partner` in `status`, authorized and due
/// for discovery at `now` when active, with its discovery registry entry: what the consent
/// callback leaves behind, for tests and benches that start after consent.
pub async fn seed_account(
    store: &dyn Store,
    partner: &PartnerId,
    status: AccountStatus,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> Result<AccountId, StoreError> {
    let id = AccountId::new();
    let authorized = (status == AccountStatus::Active).then_some(now);
    let account = AccountItem {
        id: id.clone(),
        partner_id: partner.clone(),
        client_id: ClientId::new(),
        client_name: "Fake Corp".into(),
        platform: Platform::Microsoft365,
        managed_by: ManagedBy::Partner,
        status,
        tenant: None,
        tenant_id: Some(tenant_id.into()),
        tenant_domain: None,
        missing_permissions: vec![],
        created_by: "owner@msp.example".into(),
        created_at: now,
        current_link_hash: None,
        link_sent_to: None,
        link_expires_at: None,
        authorized_at: authorized,
        discovery_due_at: authorized,
        refresh_token_enc: None,
        discovery: Default::default(),
        auto_add: None,
    };
    let registry = RegistryItem {
        partner_id: partner.clone(),
        account_id: id.clone(),
    };
    store
        .transact(vec![
            WriteOp::Put {
                item: Item::from_record(keys::account(partner, &id), &account)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: Item::from_record(keys::discovery_registry(&id), &registry)?,
                condition: Condition::NotExists,
            },
        ])
        .await?;
    Ok(id)
}

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

struct FakeTenant {
    users: usize,
    epoch: u64,
    /// User index → (epoch of its last change, the change).
    changes: BTreeMap<usize, (u64, Change)>,
    faults: VecDeque<Fault>,
    revoked: bool,
    generation: u64,
}

pub struct FakeGraph {
    pub tenant_id: String,
    base: Mutex<String>,
    state: Mutex<FakeTenant>,
    pages: AtomicU64,
    tokens: AtomicU64,
    /// Time every Graph answer (not the token endpoint) takes, in microseconds.
    latency_us: AtomicU64,
}

type S = State<Arc<FakeGraph>>;

impl FakeGraph {
    pub fn new(tenant_id: &str, users: usize) -> Arc<Self> {
        Arc::new(Self {
            tenant_id: tenant_id.to_owned(),
            base: Mutex::new(String::new()),
            state: Mutex::new(FakeTenant {
                users,
                epoch: 0,
                changes: BTreeMap::new(),
                faults: VecDeque::new(),
                revoked: false,
                generation: 0,
            }),
            pages: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            latency_us: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeTenant> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Serves on a loopback port; answers the base URL (use it as login and Graph URL).
    pub async fn serve(self: &Arc<Self>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        *self.base.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = base.clone();
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
        let mut s = self.lock();
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
        let mut s = self.lock();
        s.epoch += 1;
        let epoch = s.epoch;
        for i in first..first + count {
            s.changes.insert(i, (epoch, Change::Removed));
        }
    }

    pub fn add_users(&self, count: usize) {
        let mut s = self.lock();
        s.epoch += 1;
        let epoch = s.epoch;
        let first = s.users;
        s.users += count;
        for i in first..first + count {
            s.changes.insert(i, (epoch, Change::Renamed(0)));
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Consent withdrawn: tokens are refused (AADSTS7000229) and Graph answers 403.
    pub fn revoke(&self) {
        self.lock().revoked = true;
    }

    /// Every delta token issued so far answers 400 `syncStateNotFound`.
    pub fn expire_delta_tokens(&self) {
        self.lock().generation += 1;
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

    pub fn token_requests(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }

    fn base(&self) -> String {
        self.base
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Checks the caller and the fault queue; `Some` is the answer to give instead of a page.
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
        let mut s = self.lock();
        if s.revoked {
            return Some(graph_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", None));
        }
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

async fn token(State(fg): S, Path(tenant): Path<String>) -> Response {
    fg.tokens.fetch_add(1, Ordering::Relaxed);
    if tenant != fg.tenant_id {
        let d = format!("AADSTS90002: Tenant '{tenant}' not found.");
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": d})),
        )
            .into_response();
    }
    if fg.lock().revoked {
        let d = "AADSTS7000229: The client application is missing service principal in the tenant.";
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client", "error_description": d})),
        )
            .into_response();
    }
    let claims = json!({ "tid": fg.tenant_id, "roles": onboarding::identity::REQUIRED_MICROSOFT_ROLES,
        "exp": chrono::Utc::now().timestamp() + 3599 });
    let jwt = format!("e30.{}.fake", B64.encode(claims.to_string()));
    Json(json!({ "token_type": "Bearer", "expires_in": 3599, "access_token": jwt })).into_response()
}

fn user(out: &mut String, index: usize, version: u32) {
    let id = FakeGraph::user_id(index);
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
    let s = fg.lock();
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
                            FakeGraph::user_id(**i)
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
        let fg = FakeGraph::new("t-1", 1050);
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
