//! What the sandbox does wrong on purpose: `GET`/`POST /sandbox/faults` and the same from Rust
//! ([`crate::Sandbox::set_faults`]).

use crate::{S, Sandbox};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

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

/// The token endpoints' injected faults: a delay, then maybe an HTML error page.
pub(crate) async fn token_fault(sb: &Sandbox) -> Option<Response> {
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

pub(crate) async fn get_faults(State(sb): S) -> Json<Faults> {
    Json(sb.faults())
}

pub(crate) async fn set_faults(State(sb): S, Json(f): Json<Faults>) -> Json<Faults> {
    sb.set_faults(f.clone());
    Json(f)
}
