//! Handlers for signup, confirmation, activation and sessions: parse, call the use case, answer.

use super::error::ApiError;
use super::extract::{ApiJson, JsonOrForm, SourceIp};
use super::pages::{Activate, Activated, PasswordChanged, Problem, ResetPassword, page, token_page};
#[allow(unused_imports)] // named by the schema attributes
use crate::domain::{ConfirmationCode, EmailAddress, NewPassword, OrganizationName};
use crate::domain::{PartnerId, Role};
use crate::services::AppState;
use crate::usecases::password_reset::{self, ResetError};
use crate::usecases::sessions::{self, Principal};
use crate::usecases::signup::{self as rules, ActivateError};
use axum::Form;
use axum::Json;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

// Request bodies: each field's schema is the one of the domain type its use case parses it
// into (`crate::domain::schema`), so `/openapi.json` states exactly what is accepted.

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    #[schema(value_type = OrganizationName)]
    organization: String,
    #[schema(value_type = EmailAddress)]
    email: String,
    #[schema(value_type = NewPassword)]
    password: SecretString,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    #[schema(value_type = EmailAddress)]
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    #[schema(value_type = EmailAddress)]
    email: String,
    #[schema(value_type = ConfirmationCode)]
    code: String,
}

/// Any address and password: a wrong or unknown one answers 401 like a mismatch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInBody {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// A new session: its bearer token.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionOut {
    token: String,
    expires_at: DateTime<Utc>,
    /// On confirmation only: the new partner's ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = Uuid)]
    partner_id: Option<String>,
}

/// A request taken: what was done (or will be).
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    status: AcceptedStatus,
}

/// `confirmation_sent` (signup, resend: a code and an activation link are mailed),
/// `reset_link_sent` (forgot password: mailed if the address is registered),
/// `password_changed` (password reset).
#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AcceptedStatus {
    ConfirmationSent,
    ResetLinkSent,
    PasswordChanged,
}

impl Accepted {
    fn json(status: AcceptedStatus) -> Json<Self> {
        Json(Self { status })
    }
}

/// `GET /v1/me`: who is signed in, for which partner, and the partner's seats.
// Fields in alphabetical order, as the `json!` object this replaced serialized them.
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeOut {
    member: MeMember,
    partner: MePartner,
    seats: crate::usecases::protection::SeatsView,
}

/// The signed-in member.
#[derive(Serialize, ToSchema)]
pub struct MeMember {
    email: String,
    role: Role,
}

/// The member's partner organization.
#[derive(Serialize, ToSchema)]
pub struct MePartner {
    created_at: DateTime<Utc>,
    id: PartnerId,
    name: String,
}

impl SessionOut {
    /// A new session as sign-in answers it (no partner ID).
    pub fn of(session: &sessions::NewSession) -> Self {
        Self {
            token: session.token.expose_secret().to_owned(),
            expires_at: session.expires_at,
            partner_id: None,
        }
    }
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, Accepted::json(AcceptedStatus::ConfirmationSent)).into_response()
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

/// The emailed link's token (query) or the page's form field.
#[derive(Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    token: Option<String>,
}

/// A link's token; an undecodable query counts as none (the page then says the link is not valid).
fn token_of(q: Result<Query<TokenQuery>, QueryRejection>) -> String {
    q.ok().and_then(|Query(q)| q.token).unwrap_or_default()
}

fn activate_problem(s: &AppState, e: ActivateError) -> Response {
    let sign_in = format!(
        "Sign in at {} with the address and password you chose.",
        s.links.console_url
    );
    match e {
        ActivateError::Invalid => page(
            StatusCode::NOT_FOUND,
            &Problem {
                title: "This link is not valid",
                cause: "The activation link is incomplete or was changed.",
                fix: "Open the link exactly as it is in the email, or type the 6-digit code on the confirmation page.",
                retry: None,
            },
        ),
        ActivateError::Expired => page(
            StatusCode::GONE,
            &Problem {
                title: "This link has expired",
                cause: "The link is older than the signup it belongs to, or a newer code was sent since.",
                fix: "Use the newest email, or ask for a new code on the confirmation page (or sign up again).",
                retry: None,
            },
        ),
        ActivateError::AlreadyActive => page(
            StatusCode::GONE,
            &Problem {
                title: "Your organization is already active",
                cause: "This link was already used.",
                fix: &sign_in,
                retry: None,
            },
        ),
        ActivateError::Store(e) => {
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

/// `GET /v1/signup/activate?token=`: a page with one button; changes nothing.
pub async fn activate_page(State(s): State<AppState>, q: Result<Query<TokenQuery>, QueryRejection>) -> Response {
    let token = token_of(q);
    match rules::check_activation(&s, &token).await {
        Ok(organization) => token_page(
            StatusCode::OK,
            &Activate {
                organization: &organization,
                action: &format!("{}/v1/signup/activate", s.links.public_base_url),
                token: &token,
            },
        ),
        Err(e) => activate_problem(&s, e),
    }
}

/// `POST /v1/signup/activate` (form `token`): the page's button.
pub async fn activate(State(s): State<AppState>, form: Result<Form<TokenQuery>, FormRejection>) -> Response {
    let token = form.ok().and_then(|Form(f)| f.token).unwrap_or_default();
    match rules::activate(&s, &token).await {
        Ok(organization) => page(
            StatusCode::OK,
            &Activated {
                organization: &organization,
                console_url: &s.links.console_url,
            },
        ),
        Err(e) => activate_problem(&s, e),
    }
}

fn reset_sent() -> Response {
    (StatusCode::ACCEPTED, Accepted::json(AcceptedStatus::ResetLinkSent)).into_response()
}

pub async fn forgot_password(
    State(s): State<AppState>,
    ip: SourceIp,
    ApiJson(b): ApiJson<EmailBody>,
) -> Result<Response, ApiError> {
    password_reset::forgot(&s, &b.email, ip.subject().as_deref()).await?;
    Ok(reset_sent())
}

fn reset_problem(s: &AppState, e: ResetError, token: &str) -> Response {
    let retry = format!("{}/password/reset?token={token}", s.links.public_base_url);
    match e {
        ResetError::Forged => page(
            StatusCode::NOT_FOUND,
            &Problem {
                title: "This link is not valid",
                cause: "The password reset link is incomplete or was changed.",
                fix: "Open the link exactly as it is in the email, or ask for a new one.",
                retry: None,
            },
        ),
        ResetError::Gone => page(
            StatusCode::GONE,
            &Problem {
                title: "This link has expired",
                cause: "Password reset links work once, for one hour.",
                fix: "Ask for a new password reset link.",
                retry: None,
            },
        ),
        ResetError::Invalid(f) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &Problem {
                title: "Choose another password",
                cause: &format!("The new {} {}", f.field, f.message),
                fix: "Go back and choose a longer, less guessable password.",
                retry: Some(&retry),
            },
        ),
        e => {
            let e = ApiError::from(e);
            page(
                e.status,
                &Problem {
                    title: "Something went wrong",
                    cause: "The service could not change the password.",
                    fix: "Try again in a minute.",
                    retry: Some(&retry),
                },
            )
        }
    }
}

/// `GET /password/reset?token=`: the new-password form; changes nothing.
pub async fn reset_page(State(s): State<AppState>, q: Result<Query<TokenQuery>, QueryRejection>) -> Response {
    let token = token_of(q);
    match password_reset::check(&s, &token).await {
        Ok(()) => token_page(
            StatusCode::OK,
            &ResetPassword {
                action: &format!("{}/v1/password/reset", s.links.public_base_url),
                token: &token,
            },
        ),
        Err(e) => reset_problem(&s, e, &token),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// The token of the emailed link (`/password/reset?token=`).
    token: String,
    #[schema(value_type = NewPassword)]
    password: SecretString,
}

/// `POST /v1/password/reset`: JSON (answers JSON) or a form (answers a page).
pub async fn reset_password(State(s): State<AppState>, body: JsonOrForm<ResetBody>) -> Response {
    match body {
        JsonOrForm::Form(None) => reset_problem(&s, ResetError::Forged, ""),
        JsonOrForm::Form(Some(b)) => match password_reset::reset(&s, &b.token, b.password).await {
            Ok(()) => page(
                StatusCode::OK,
                &PasswordChanged {
                    console_url: &s.links.console_url,
                },
            ),
            Err(e) => reset_problem(&s, e, &b.token),
        },
        JsonOrForm::Json(b) => match password_reset::reset(&s, &b.token, b.password).await {
            Ok(()) => Accepted::json(AcceptedStatus::PasswordChanged).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        },
    }
}

pub async fn sign_in(
    State(s): State<AppState>,
    ip: SourceIp,
    ApiJson(b): ApiJson<SignInBody>,
) -> Result<Json<SessionOut>, ApiError> {
    let session = sessions::sign_in(&s, &b.email, b.password, ip.subject().as_deref()).await?;
    Ok(Json(SessionOut::of(&session)))
}

pub async fn sign_out(State(s): State<AppState>, principal: Principal) -> Result<StatusCode, ApiError> {
    sessions::sign_out(&s, &principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(s): State<AppState>, principal: Principal) -> Result<Json<MeOut>, ApiError> {
    let partner = sessions::partner_of(&s, &principal).await?;
    let seats = crate::usecases::protection::seats(&s, &principal).await?;
    Ok(Json(MeOut {
        member: MeMember {
            email: principal.email,
            role: principal.role,
        },
        partner: MePartner {
            created_at: partner.created_at,
            id: partner.id,
            name: partner.name,
        },
        seats,
    }))
}
