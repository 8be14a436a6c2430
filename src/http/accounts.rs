//! Handlers for clients and SaaS accounts (the `api` function) and for checking and resending
//! authorization (the `resend` function): parse, call the use case, answer.

use super::error::ApiError;
use super::extract::{ApiJson, Manager};
use super::views::AccountView;
use crate::domain::ClientId;
#[allow(unused_imports)] // named by the schema attributes
use crate::domain::schema::optional_email;
#[allow(unused_imports)] // named by the schema attributes
use crate::domain::{EmailAddress, OrganizationName};
use crate::services::AppState;
use crate::store::keys::ClientItem;
use crate::usecases::accounts::{self, NewAccount};
use crate::usecases::sessions::Principal;
use crate::usecases::{authorization, lifecycle};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Names the account on the request's span (so on every log line of the request).
fn on_account(id: &str) {
    if uuid::Uuid::parse_str(id).is_ok() {
        tracing::Span::current().record("account_id", id);
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientBody {
    #[schema(value_type = OrganizationName)]
    name: String,
    #[schema(schema_with = optional_email)]
    contact_email: Option<String>,
}

/// A partner's client.
#[derive(Serialize, ToSchema)]
#[schema(as = Client)]
pub struct ClientOut {
    id: ClientId,
    name: String,
    #[schema(required)]
    contact_email: Option<String>,
    created_at: DateTime<Utc>,
}

/// The partner's clients.
#[derive(Serialize, ToSchema)]
pub struct ClientList {
    items: Vec<ClientOut>,
}

/// The partner's accounts.
#[derive(Serialize, ToSchema)]
pub struct AccountList {
    items: Vec<AccountView>,
}

/// A fresh authorization link went out.
// Fields in alphabetical order, as the `json!` object this replaced serialized them.
#[derive(Serialize, ToSchema)]
pub struct LinkSent {
    expires_at: DateTime<Utc>,
    sent_to: String,
}

/// A consent URL for the missing permissions, and where it was mailed if it was.
// Fields in alphabetical order, as the `json!` object this replaced serialized them.
#[derive(Serialize, ToSchema)]
pub struct Reauthorization {
    authorization_url: String,
    /// With `email`: when the mailed link stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    expires_at: Option<DateTime<Utc>>,
    /// With `email`: where the link was mailed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sent_to: Option<String>,
}

impl From<ClientItem> for ClientOut {
    fn from(c: ClientItem) -> Self {
        Self {
            id: c.id,
            name: c.name,
            contact_email: c.contact_email,
            created_at: c.created_at,
        }
    }
}

pub async fn create_client(
    State(s): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewClientBody>,
) -> Result<Response, ApiError> {
    let client = accounts::create_client(&s, &who, &b.name, b.contact_email.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(ClientOut::from(client))).into_response())
}

pub async fn list_clients(State(s): State<AppState>, who: Principal) -> Result<Json<ClientList>, ApiError> {
    let items: Vec<ClientOut> = accounts::list_clients(&s, &who)
        .await?
        .into_iter()
        .map(ClientOut::from)
        .collect();
    Ok(Json(ClientList { items }))
}

pub async fn create_account(
    State(s): State<AppState>,
    who: Principal,
    ApiJson(b): ApiJson<NewAccount>,
) -> Result<Response, ApiError> {
    let created = accounts::create_account(&s, &who, b).await?;
    let mut view = AccountView::of(&created.account, s.clock.now());
    view.authorization_url = created.authorization_url;
    view.authorization.delivery = created.delivery;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub async fn list_accounts(State(s): State<AppState>, who: Principal) -> Result<Json<AccountList>, ApiError> {
    let now = s.clock.now();
    let items: Vec<AccountView> = accounts::list_accounts(&s, &who)
        .await?
        .iter()
        .map(|a| AccountView::of(a, now))
        .collect();
    Ok(Json(AccountList { items }))
}

pub async fn get_account(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    on_account(&id);
    let account = accounts::get_account(&s, &who, &id).await?;
    Ok(Json(AccountView::of(&account, s.clock.now())))
}

/// `POST /v1/accounts/{id}/disable` (owner or admin): offboarding.
pub async fn disable(
    State(s): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    on_account(&id);
    let account = lifecycle::disable(&s, &who, &id).await?;
    Ok(Json(AccountView::of(&account, s.clock.now())))
}

/// `POST /v1/accounts/{id}/enable` (owner or admin): a fresh consent is needed.
pub async fn enable(
    State(s): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    on_account(&id);
    let account = lifecycle::enable(&s, &who, &id).await?;
    Ok(Json(AccountView::of(&account, s.clock.now())))
}

pub async fn check(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    on_account(&id);
    let checked = authorization::check(&s, &who, &id).await?;
    let mut view = AccountView::of(&checked.account, s.clock.now());
    view.authorization.next_step = checked.next_step;
    Ok(Json(view))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendBody {
    /// Where to send the fresh link.
    #[schema(value_type = EmailAddress)]
    email: String,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionalEmailBody {
    /// Also email the URL there.
    #[schema(schema_with = optional_email)]
    email: Option<String>,
}

pub async fn resend(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ResendBody>,
) -> Result<Response, ApiError> {
    on_account(&id);
    let (sent_to, expires_at) = authorization::resend(&s, &who, &id, &b.email).await?;
    Ok((StatusCode::ACCEPTED, Json(LinkSent { expires_at, sent_to })).into_response())
}

pub async fn reauthorize(
    State(s): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Reauthorization>, ApiError> {
    on_account(&id);
    let body = body.map_err(ApiError::from)?;
    // The body is optional: none (or `{}`) asks for a URL only.
    let b: OptionalEmailBody = if body.iter().all(u8::is_ascii_whitespace) {
        OptionalEmailBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    "The request body is not valid JSON.",
                )
            } else {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    format!("The request body does not fit: {e}."),
                )
            }
        })?
    };
    let (url, sent) = authorization::reauthorize(&s, &who, &id, b.email.as_deref()).await?;
    Ok(Json(Reauthorization {
        authorization_url: url,
        expires_at: sent.as_ref().map(|m| m.expires_at),
        sent_to: sent.map(|m| m.to),
    }))
}
