//! `GET /v1/audit` (the `api` function): the partner's audit log, newest first.

use super::error::ApiError;
use crate::services::AppState;
use crate::usecases::audit::{self, AuditPage, AuditQuery};
use crate::usecases::sessions::Principal;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};

pub async fn list(
    State(s): State<AppState>,
    who: Principal,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(q) = q?;
    Ok(Json(audit::list(&s, &who, q).await?))
}
