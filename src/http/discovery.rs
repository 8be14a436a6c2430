//! Handlers for discovery and protection (the `api` function): Refresh, listings of
//! discovered objects, protect / unprotect, auto-add settings.

use super::error::ApiError;
use super::extract::ApiJson;
use super::views::{AccountView, AutoAddView, ObjectPage};
use crate::services::AppState;
use crate::store::keys::ObjectKind;
use crate::usecases::accounts;
use crate::usecases::discovery::{self, AccountRun, DiscoveryError};
use crate::usecases::protection::{self, AutoAddRequest, ListQuery, ProtectOutcome, ProtectRequest, ProtectionError};
use crate::usecases::sessions::Principal;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

impl From<ProtectionError> for ApiError {
    fn from(e: ProtectionError) -> Self {
        match e {
            ProtectionError::Invalid(f) => Self::invalid(f.field, &f.message),
            ProtectionError::NotFound => Self::not_found(),
            ProtectionError::UnknownIds(ids) => {
                let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
                Self::new(
                    StatusCode::NOT_FOUND,
                    "unknown_ids",
                    format!(
                        "{} of the IDs are not in this account: {}{}. Nothing was changed.",
                        ids.len(),
                        shown.join(", "),
                        if ids.len() > shown.len() { ", ..." } else { "" }
                    ),
                )
                .field("ids")
            }
            ProtectionError::SeatLimit { limit, used, requested } => Self::new(
                StatusCode::CONFLICT,
                "seat_limit",
                format!(
                    "Protecting {requested} more users would pass your seat limit ({used} of {limit} seats used). Nothing was changed."
                ),
            ),
            ProtectionError::Conflict(why) => Self::new(StatusCode::CONFLICT, "conflict", why),
            ProtectionError::Store(e) => e.into(),
        }
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(e: DiscoveryError) -> Self {
        match e {
            DiscoveryError::NotFound => Self::not_found(),
            DiscoveryError::NotAuthorized => Self::new(
                StatusCode::CONFLICT,
                "not_authorized",
                "The account is not authorized (or its access was revoked): authorize it first.",
            ),
            DiscoveryError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            DiscoveryError::Store(e) => e.into(),
            DiscoveryError::Graph(e) => Self::internal(e),
        }
    }
}

fn on_account(id: &str) {
    if uuid::Uuid::parse_str(id).is_ok() {
        tracing::Span::current().record("account_id", id);
    }
}

/// `POST /v1/accounts/{id}/discovery`: runs discovery now (within a time budget; a longer
/// one continues at the next scheduled run) and answers 202 with the account and the run.
pub async fn refresh(State(s): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<Response, ApiError> {
    on_account(&id);
    let run: AccountRun = discovery::refresh(&s, &who, &id).await?;
    let account = AccountView::of(&accounts::get_account(&s, &who, &id).await?, s.clock.now());
    Ok((StatusCode::ACCEPTED, Json(json!({ "account": account, "run": run }))).into_response())
}

async fn list(
    s: AppState,
    who: Principal,
    id: String,
    kind: ObjectKind,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ObjectPage>, ApiError> {
    on_account(&id);
    let Query(q) = q?;
    Ok(Json(protection::list(&s, &who, &id, kind, q).await?.into()))
}

pub async fn users(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ObjectPage>, ApiError> {
    list(s, who, id, ObjectKind::Users, q).await
}

pub async fn groups(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ObjectPage>, ApiError> {
    list(s, who, id, ObjectKind::Groups, q).await
}

pub async fn teams(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ObjectPage>, ApiError> {
    list(s, who, id, ObjectKind::Teams, q).await
}

pub async fn sites(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ObjectPage>, ApiError> {
    list(s, who, id, ObjectKind::Sites, q).await
}

/// `POST /v1/accounts/{id}/protection`.
pub async fn protect(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProtectRequest>,
) -> Result<Json<ProtectOutcome>, ApiError> {
    on_account(&id);
    Ok(Json(protection::set_protection(&s, &who, &id, b).await?))
}

/// `PUT /v1/accounts/{id}/auto-add`.
pub async fn auto_add(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AutoAddRequest>,
) -> Result<Json<AutoAddView>, ApiError> {
    on_account(&id);
    Ok(Json(AutoAddView::from(
        &protection::set_auto_add(&s, &who, &id, b).await?,
    )))
}
