//! `GET /v1/audit` (the `api` function): the partner's audit log, newest first.

use super::error::ApiError;
use crate::services::AppState;
use crate::store::keys::AuditItem;
use crate::usecases::audit::{self, AuditQuery};
use crate::usecases::sessions::Principal;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;

/// One page of the log as the API shows it.
#[derive(Serialize)]
pub struct AuditPageOut {
    items: Vec<AuditItem>,
    next_cursor: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    who: Principal,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPageOut>, ApiError> {
    let Query(q) = q?;
    let page = audit::list(&s, &who, q).await?;
    Ok(Json(AuditPageOut {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
