//! The partner's team: `/v1/members`, the emailed invitation page and its acceptance.

use super::error::ApiError;
use super::extract::{ApiJson, JsonOrForm, Manager};
use super::pages::{InvitationPage, Joined, Problem, page, token_page};
use super::signup::SessionOut;
use crate::domain::{EmailAddress, NewPassword, Principal, Role};
use crate::services::AppState;
use crate::usecases::members::{self, MemberError, MemberView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    items: Vec<MemberView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[schema(value_type = EmailAddress)]
    email: String,
    /// `admin` or `technician` (an owner makes owners from the members list).
    role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The token of the emailed link (`/invitations/{token}`).
    token: String,
    #[schema(value_type = NewPassword)]
    password: SecretString,
}

pub async fn list(State(s): State<AppState>, principal: Principal) -> Result<Json<MemberList>, ApiError> {
    Ok(Json(MemberList {
        items: members::list(&s, &principal).await?,
    }))
}

pub async fn invite(
    State(s): State<AppState>,
    Manager(principal): Manager,
    ApiJson(b): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    let view = members::invite(&s, &principal, &b.email, b.role).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

pub async fn change_role(
    State(s): State<AppState>,
    Manager(principal): Manager,
    Path(email): Path<String>,
    ApiJson(b): ApiJson<RoleBody>,
) -> Result<Json<MemberView>, ApiError> {
    Ok(Json(members::change_role(&s, &principal, &email, b.role).await?))
}

/// Anyone may remove themselves; removing others needs a managing role (the use case asks
/// the role's permissions, since the target decides which).
pub async fn remove(
    State(s): State<AppState>,
    principal: Principal,
    Path(email): Path<String>,
) -> Result<StatusCode, ApiError> {
    members::remove(&s, &principal, &email).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn invitation_problem(e: MemberError) -> Response {
    let (status, title, cause, fix) = match e {
        MemberError::Forged => (
            StatusCode::GONE,
            "This link is not valid",
            "The invitation link is incomplete or was changed.".to_owned(),
            "Open the link exactly as it is in the email.",
        ),
        MemberError::Gone => (
            StatusCode::GONE,
            "This invitation has expired",
            format!(
                "Invitations work once, for {} days, and end when withdrawn or sent again.",
                members::INVITATION_DAYS
            ),
            "Ask the person who invited you for a new invitation.",
        ),
        MemberError::AlreadyMember => (
            StatusCode::CONFLICT,
            "You already have an account",
            "This address already belongs to a member of an organization.".to_owned(),
            "Sign in with it, or ask to be invited with another address.",
        ),
        MemberError::Invalid(f) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose another password",
            format!("The {} {}", f.field, f.message),
            "Go back and choose a longer, less guessable password.",
        ),
        e => {
            let e = ApiError::from(e);
            (
                e.status,
                "Something went wrong",
                "The service could not accept the invitation.".to_owned(),
                "Try again in a minute.",
            )
        }
    };
    page(
        status,
        &Problem {
            title,
            cause: &cause,
            fix,
            retry: None,
        },
    )
}

/// `GET /invitations/{token}`: who invites, for which role, a password form; changes nothing.
pub async fn invitation_page(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match members::find(&s, &token).await {
        Ok(inv) => token_page(
            StatusCode::OK,
            &InvitationPage {
                partner: &inv.partner.name,
                inviter: &inv.invited_by,
                email: inv.email.as_str(),
                role: inv.role.as_str(),
                expires: &inv.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                action: &format!("{}/v1/invitations/accept", s.links.public_base_url),
                token: &token,
            },
        ),
        Err(e) => invitation_problem(e),
    }
}

/// `POST /v1/invitations/accept`: JSON (answers the session) or the page's form (answers a
/// page).
pub async fn accept(State(s): State<AppState>, body: JsonOrForm<AcceptBody>) -> Response {
    match body {
        JsonOrForm::Form(None) => invitation_problem(MemberError::Invalid(crate::domain::FieldError::new(
            "password",
            "and the invitation's token are both required",
        ))),
        JsonOrForm::Form(Some(b)) => match members::accept(&s, &b.token, b.password).await {
            Ok((_, partner)) => page(
                StatusCode::OK,
                &Joined {
                    partner: &partner,
                    console_url: &s.links.console_url,
                },
            ),
            Err(e) => invitation_problem(e),
        },
        JsonOrForm::Json(b) => match members::accept(&s, &b.token, b.password).await {
            Ok((session, _)) => Json(SessionOut::of(&session)).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        },
    }
}
