//! Handlers for signup, confirmation, activation and sessions: parse, call the use case, answer.

use super::error::ApiError;
use super::extract::{ApiJson, SourceIp};
use super::pages::{Activated, Problem, page};
use crate::app::AppState;
use crate::sessions::{self, Principal};
use crate::signup::{self as rules, ActivateError};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    organization: String,
    email: String,
    password: SecretString,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    email: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    email: String,
    password: SecretString,
}

#[derive(Serialize)]
pub struct SessionOut {
    token: String,
    expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_id: Option<String>,
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": "confirmation_sent" }))).into_response()
}

pub async fn sign_up(
    State(s): State<AppState>,
    ip: SourceIp,
    ApiJson(b): ApiJson<SignupBody>,
) -> Result<Response, ApiError> {
    rules::sign_up(&s, &b.organization, &b.email, b.password, ip.subject().as_deref()).await?;
    Ok(accepted())
}

pub async fn resend(State(s): State<AppState>, ApiJson(b): ApiJson<EmailBody>) -> Result<Response, ApiError> {
    rules::resend(&s, &b.email).await?;
    Ok(accepted())
}

pub async fn confirm(
    State(s): State<AppState>,
    ApiJson(b): ApiJson<ConfirmBody>,
) -> Result<Json<SessionOut>, ApiError> {
    let session = rules::confirm(&s, &b.email, &b.code).await?;
    Ok(Json(SessionOut {
        token: session.token.expose_secret().to_owned(),
        expires_at: session.expires_at,
        partner_id: Some(session.partner_id.to_string()),
    }))
}

#[derive(Deserialize)]
pub struct ActivateQuery {
    token: Option<String>,
}

pub async fn activate(State(s): State<AppState>, Query(q): Query<ActivateQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    let sign_in = format!(
        "Sign in at {} with the address and password you chose.",
        s.links.console_url
    );
    match rules::activate(&s, &token).await {
        Ok(organization) => page(
            StatusCode::OK,
            &Activated {
                organization: &organization,
                console_url: &s.links.console_url,
            },
        ),
        Err(ActivateError::Invalid) => page(
            StatusCode::NOT_FOUND,
            &Problem {
                title: "This link is not valid",
                cause: "The activation link is incomplete or was changed.",
                fix: "Open the link exactly as it is in the email, or type the 6-digit code on the confirmation page.",
                retry: None,
            },
        ),
        Err(ActivateError::Expired) => page(
            StatusCode::GONE,
            &Problem {
                title: "This link has expired",
                cause: "The link is older than the signup it belongs to, or a newer code was sent since.",
                fix: "Use the newest email, or ask for a new code on the confirmation page (or sign up again).",
                retry: None,
            },
        ),
        Err(ActivateError::AlreadyActive) => page(
            StatusCode::GONE,
            &Problem {
                title: "Your organization is already active",
                cause: "This link was already used.",
                fix: &sign_in,
                retry: None,
            },
        ),
        Err(ActivateError::Store(e)) => {
            tracing::error!(cause = %e, "activation failed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                &Problem {
                    title: "Something went wrong",
                    cause: "The service could not finish the activation.",
                    fix: "Reload this page in a minute.",
                    retry: None,
                },
            )
        }
    }
}

pub async fn sign_in(
    State(s): State<AppState>,
    ip: SourceIp,
    ApiJson(b): ApiJson<SignInBody>,
) -> Result<Json<SessionOut>, ApiError> {
    let session = sessions::sign_in(&s, &b.email, b.password, ip.subject().as_deref()).await?;
    Ok(Json(SessionOut {
        token: session.token.expose_secret().to_owned(),
        expires_at: session.expires_at,
        partner_id: None,
    }))
}

pub async fn sign_out(State(s): State<AppState>, principal: Principal) -> Result<StatusCode, ApiError> {
    sessions::sign_out(&s, &principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(s): State<AppState>, principal: Principal) -> Result<Json<serde_json::Value>, ApiError> {
    let partner = sessions::partner_of(&s, &principal).await?;
    Ok(Json(json!({
        "partner": { "id": partner.id, "name": partner.name, "created_at": partner.created_at },
        "member": { "email": principal.email, "role": "admin" },
    })))
}
