//! The in-memory twin of the [`Directory`] port: the fake Entra's Graph answered in process
//! (its router driven by `oneshot`, no socket), classified the way the HTTP client classifies
//! Graph's answers. Discovery tests and benches read a tenant of any size with no network.

use crate::entra::FakeEntra;
use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use onboarding::identity::graph::{Directory, GraphError, GraphPage, parse_page, refusal};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt as _;

/// Where the twin says its Graph is (nextLinks and deltaLinks carry it).
pub const MEMORY_GRAPH: &str = "memory://graph";

/// The fake Entra's Graph as a [`Directory`], in process. Graph only: Google's Directory is
/// not part of this twin (its pages answer `Malformed`).
pub struct MemoryDirectory {
    fake: Arc<FakeEntra>,
}

impl MemoryDirectory {
    pub fn new(fake: &Arc<FakeEntra>) -> Arc<Self> {
        fake.set_base(MEMORY_GRAPH);
        Arc::new(Self { fake: fake.clone() })
    }
}

#[async_trait]
impl Directory for MemoryDirectory {
    fn graph_url(&self) -> &str {
        MEMORY_GRAPH
    }

    fn google_admin_url(&self) -> &str {
        "memory://google"
    }

    async fn graph_page(&self, _tenant: &str, token: &SecretString, url: &str) -> Result<GraphPage, GraphError> {
        let path = url
            .strip_prefix(MEMORY_GRAPH)
            .ok_or_else(|| GraphError::Malformed(format!("not a memory Graph URL: {url}")))?;
        let request = Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", token.expose_secret()))
            .body(Body::empty())
            .map_err(|e| GraphError::Malformed(e.to_string()))?;
        let res = self
            .fake
            .router()
            .oneshot(request)
            .await
            .map_err(|e| GraphError::Unavailable(e.to_string()))?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .map_err(|e| GraphError::Unavailable(e.to_string()))?;
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = body["error"]["code"].as_str().unwrap_or_default().to_owned();
        match status {
            StatusCode::OK => parse_page(body),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                Err(GraphError::Throttled(Duration::from_secs(retry_after.unwrap_or(1))))
            }
            s => Err(refusal(s.as_u16(), code)),
        }
    }

    async fn google_users_page(&self, _: &str, _: &SecretString, _: &str) -> Result<GraphPage, GraphError> {
        Err(GraphError::Malformed(
            "the memory directory has no Google Directory".into(),
        ))
    }
}
