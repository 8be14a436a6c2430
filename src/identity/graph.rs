//! Microsoft Graph reads for discovery, one page at a time so memory never grows with the
//! tenant: `@odata.nextLink` is followed verbatim, throttling (429/503/504 with
//! `Retry-After`) is honoured with jittered backoff up to a cap, and errors are classified by
//! Graph's `error.code` as `protocols.md` says. The caller decides what to do with each page
//! and where to resume (`next` is the position to save when a wait would be too long).

use crate::clock::{Sleeper, TokioSleeper};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// One page of a Graph collection.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphPage {
    pub items: Vec<Value>,
    /// `@odata.nextLink`: the next page, verbatim.
    pub next: Option<String>,
    /// `@odata.deltaLink`: on the last page of a delta query.
    pub delta: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// 401/403 `Authorization_RequestDenied` / `InvalidAuthenticationToken`: consent gone or
    /// roles missing.
    #[error("access denied by Graph ({code})")]
    Denied { code: String },
    /// 400 `syncStateNotFound` or 410 `resyncRequired`: drop the delta link, sync fully.
    #[error("delta token expired: resync")]
    Resync,
    /// Still throttled after the allowed waits: resume later from the same URL.
    #[error("throttled; retry after {0:?}")]
    Throttled(Duration),
    /// 5xx or transport failure after retries.
    #[error("Graph unavailable: {0}")]
    Unavailable(String),
    /// A page that is not the documented shape.
    #[error("malformed Graph page: {0}")]
    Malformed(String),
}

/// How long to keep trying one page before giving the position back to the caller.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// Longest single wait; a longer `Retry-After` is returned as [`GraphError::Throttled`].
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            max_wait: Duration::from_secs(30),
        }
    }
}

/// Requests in flight per tenant, at most (Graph's limits are per app per tenant).
pub const PER_TENANT_CONCURRENCY: usize = 2;

pub struct GraphClient {
    http: crate::identity::http::LazyHttp,
    retry: RetryPolicy,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    sleeper: Arc<dyn Sleeper>,
}

impl GraphClient {
    pub fn new(http: impl Into<crate::identity::http::LazyHttp>, retry: RetryPolicy) -> Self {
        Self {
            http: http.into(),
            retry,
            tenants: Mutex::new(HashMap::new()),
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Waits (`Retry-After`, backoff) through `sleeper` instead of tokio's timer.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// [`GraphClient::page`] within `tenant`'s concurrency limit.
    pub async fn tenant_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        let _permit = self.permit(tenant).await;
        self.page(token, url).await
    }

    /// A Google Directory `users.list` page (`users`, `nextPageToken`) as a [`GraphPage`]
    /// whose `next` is `url` with `pageToken` set; same retries and error classes.
    pub async fn directory_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        let _permit = self.permit(tenant).await;
        let body = self.json(token, url).await?;
        parse_directory_page(url, body)
    }

    async fn permit(&self, tenant: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let sem = {
            let mut map = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(tenant.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_TENANT_CONCURRENCY)))
                .clone()
        };
        sem.acquire_owned().await.ok()
    }

    /// Fetches one page at `url` (a first-page URL or a `nextLink`/`deltaLink`, verbatim).
    pub async fn page(&self, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        parse_page(self.json(token, url).await?)
    }

    /// GETs `url` with retries; the body of a 200 answer.
    async fn json(&self, token: &SecretString, url: &str) -> Result<Value, GraphError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let res = self
                .http
                .client()
                .get(url)
                .bearer_auth(token.expose_secret())
                .send()
                .await;
            let wait = match res {
                Err(e) if attempt < self.retry.attempts => backoff(attempt, e.to_string()),
                Err(e) => return Err(GraphError::Unavailable(e.to_string())),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body: Value = match r.json().await {
                        Ok(v) => v,
                        Err(_) if status == 200 => return Err(GraphError::Malformed("a page that is not JSON".into())),
                        Err(_) => Value::Null,
                    };
                    match status {
                        200 => return Ok(body),
                        429 | 503 | 504 => {
                            let wait = retry_after.unwrap_or_else(|| backoff(attempt, String::new()));
                            if wait > self.retry.max_wait || attempt >= self.retry.attempts {
                                return Err(GraphError::Throttled(wait));
                            }
                            wait
                        }
                        _ => {
                            let code = body["error"]["code"].as_str().unwrap_or_default().to_owned();
                            let request_id = body["error"]["innerError"]["request-id"].as_str().unwrap_or_default();
                            tracing::warn!(status, code, request_id, "Graph refused a page");
                            match status {
                                500..=599 if attempt < self.retry.attempts => backoff(attempt, code),
                                _ => return Err(refusal(status, code)),
                            }
                        }
                    }
                }
            };
            self.sleeper.sleep(wait).await;
        }
    }
}

/// What a final non-200, non-throttling Graph answer means, by status and `error.code`.
pub fn refusal(status: u16, code: String) -> GraphError {
    match (status, code.as_str()) {
        (401 | 403, _) => GraphError::Denied { code },
        (410, _) | (400, "syncStateNotFound" | "resyncRequired") => GraphError::Resync,
        (500..=599, _) => GraphError::Unavailable(format!("{status} {code}")),
        _ => GraphError::Malformed(format!("{status} {code}")),
    }
}

/// Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s, ... (capped at 8 s).
fn backoff(attempt: u32, _why: String) -> Duration {
    let ceiling_ms = 500u64 << attempt.saturating_sub(1).min(4);
    let r = u64::from(u32::from_le_bytes(crate::crypto::random_bytes::<4>()));
    Duration::from_millis(r % ceiling_ms.max(1))
}

/// A Graph collection page from its JSON body (`value`, `@odata.nextLink`, `@odata.deltaLink`).
pub fn parse_page(body: Value) -> Result<GraphPage, GraphError> {
    let items = body["value"]
        .as_array()
        .cloned()
        .ok_or_else(|| GraphError::Malformed("no `value` array".into()))?;
    let link = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(GraphPage {
        items,
        next: link("@odata.nextLink"),
        delta: link("@odata.deltaLink"),
    })
}

fn parse_directory_page(url: &str, body: Value) -> Result<GraphPage, GraphError> {
    let items = match body.get("users") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(GraphError::Malformed("`users` is not an array".into())),
    };
    let next = match body.get("nextPageToken") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => {
            let mut u = url::Url::parse(url).map_err(|e| GraphError::Malformed(e.to_string()))?;
            let kept: Vec<(String, String)> = u
                .query_pairs()
                .filter(|(k, _)| k != "pageToken")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            u.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("pageToken", t);
            Some(u.to_string())
        }
        Some(_) => return Err(GraphError::Malformed("`nextPageToken` is not a string".into())),
    };
    Ok(GraphPage {
        items,
        next,
        delta: None,
    })
}

/// The directory port: pages of a tenant's directory, as discovery reads them (Microsoft
/// Graph collections and delta queries; Google Directory `users.list`). Its adapter is
/// [`HttpDirectory`]; tests give an in-memory twin.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Graph base, e.g. `https://graph.microsoft.com` (requests add `/v1.0/...`).
    fn graph_url(&self) -> &str;
    /// Admin SDK base, e.g. `https://admin.googleapis.com`.
    fn google_admin_url(&self) -> &str;
    /// A Graph page at `url` (a first-page URL or a `nextLink`/`deltaLink`, verbatim).
    async fn graph_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError>;
    /// A Google Directory `users.list` page at `url`, its `next` carrying the `pageToken`.
    async fn google_users_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError>;
}

/// The directory APIs over HTTPS, through one [`GraphClient`] (retries, per-tenant limits).
pub struct HttpDirectory {
    pub client: GraphClient,
    graph_url: String,
    google_admin_url: String,
}

impl HttpDirectory {
    pub fn new(client: GraphClient, graph_url: &str, google_admin_url: &str) -> Self {
        Self {
            client,
            graph_url: graph_url.trim_end_matches('/').to_owned(),
            google_admin_url: google_admin_url.trim_end_matches('/').to_owned(),
        }
    }
}

#[async_trait]
impl Directory for HttpDirectory {
    fn graph_url(&self) -> &str {
        &self.graph_url
    }

    fn google_admin_url(&self) -> &str {
        &self.google_admin_url
    }

    async fn graph_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        self.client.tenant_page(tenant, token, url).await
    }

    async fn google_users_page(&self, tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        self.client.directory_page(tenant, token, url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_read_and_malformed_ones_refused() {
        let p = parse_page(serde_json::json!({"value": [{"id": "1"}], "@odata.nextLink": "https://g/next"})).unwrap();
        assert_eq!(
            (p.items.len(), p.next.as_deref(), p.delta),
            (1, Some("https://g/next"), None)
        );
        assert!(matches!(
            parse_page(serde_json::json!({"values": []})),
            Err(GraphError::Malformed(_))
        ));
    }

    #[test]
    fn directory_pages_carry_the_page_token_forward() {
        let url = "https://admin.example/admin/directory/v1/users?customer=my_customer&maxResults=500&pageToken=old";
        let p = parse_directory_page(url, serde_json::json!({"users": [{"id": "1"}], "nextPageToken": "a b"})).unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(
            p.next.as_deref(),
            Some("https://admin.example/admin/directory/v1/users?customer=my_customer&maxResults=500&pageToken=a+b")
        );
        let last = parse_directory_page(url, serde_json::json!({"kind": "admin#directory#users"})).unwrap();
        assert!(last.items.is_empty() && last.next.is_none());
        assert!(parse_directory_page(url, serde_json::json!({"users": {}})).is_err());
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        for attempt in 1..10 {
            assert!(backoff(attempt, String::new()) < Duration::from_secs(8));
        }
    }
}
