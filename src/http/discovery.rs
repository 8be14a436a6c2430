//! Handlers for discovery and protection (the `api` function): Refresh, listings of
//! discovered objects, protect / unprotect, auto-add settings.

use super::error::ApiError;
use super::extract::{ApiJson, Manager};
use super::views::{AccountView, AutoAddView, ObjectPage};
use crate::repo::jobs::Queued;
use crate::services::AppState;
use crate::store::keys::ObjectKind;
use crate::usecases::accounts;
use crate::usecases::discovery;
use crate::usecases::protection::{self, AutoAddRequest, ListQuery, ProtectOutcome, ProtectRequest};
use crate::usecases::sessions::Principal;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

fn on_account(id: &str) {
    if uuid::Uuid::parse_str(id).is_ok() {
        tracing::Span::current().record("account_id", id);
    }
}

/// Refresh's answer: the account, and what became of the job.
#[derive(Serialize, ToSchema)]
pub struct Refreshed {
    account: AccountView,
    job: RefreshJob,
}

/// `queued`: a job was queued now; `already_queued`: one was already on its way or running;
/// `scheduled`: the queue could not take it, the schedule queues it within minutes.
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshJob {
    Queued,
    AlreadyQueued,
    Scheduled,
}

/// `POST /v1/accounts/{id}/discovery` (Refresh): queues a discovery job and answers 202 with
/// the account (its discovery `queued`).
pub async fn refresh(State(s): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<Response, ApiError> {
    on_account(&id);
    let job = match discovery::refresh(&s, &who, &id).await? {
        Queued::Sent(_) => RefreshJob::Queued,
        Queued::Already => RefreshJob::AlreadyQueued,
        Queued::Unsent | Queued::NotDiscoverable => RefreshJob::Scheduled,
    };
    let account = AccountView::of(&accounts::get_account(&s, &who, &id).await?, s.clock.now());
    Ok((StatusCode::ACCEPTED, Json(Refreshed { account, job })).into_response())
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
    Manager(who): Manager,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProtectRequest>,
) -> Result<Json<ProtectOutcome>, ApiError> {
    on_account(&id);
    Ok(Json(protection::set_protection(&s, &who, &id, b).await?))
}

/// `PUT /v1/accounts/{id}/auto-add`.
pub async fn auto_add(
    State(s): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AutoAddRequest>,
) -> Result<Json<AutoAddView>, ApiError> {
    on_account(&id);
    Ok(Json(AutoAddView::from(
        &protection::set_auto_add(&s, &who, &id, b).await?,
    )))
}
