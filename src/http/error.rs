//! The one error type of the HTTP layer: every failure answers
//! `{"error": {"code", "message", "field"?}}` with the status `api.md` gives it. 5xx bodies
//! are opaque; their cause goes to the log only.

use crate::domain::FieldError;
use crate::email::MailError;
use crate::store::StoreError;
use crate::usecases::accounts::AccountError;
use crate::usecases::authorization::AuthorizationError;
use crate::usecases::discovery::DiscoveryError;
use crate::usecases::password_reset::ResetError;
use crate::usecases::protection::ProtectionError;
use crate::usecases::sessions::SessionError;
use crate::usecases::signup::{ConfirmError, SignupError};
use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub retry_after: Option<i64>,
    /// The cause of a 5xx, for the log only.
    internal: Option<String>,
}

/// Every `code` an error answer can carry (the `ErrorCode` enum of `/openapi.json`).
pub const CODES: &[&str] = &[
    "already_member",
    "code_expired",
    "code_used",
    "conflict",
    "forbidden",
    "internal",
    "invitation_expired",
    "last_owner",
    "invalid_code",
    "invalid_credentials",
    "invalid_field",
    "mail_unavailable",
    "malformed_json",
    "malformed_query",
    "malformed_request",
    "method_not_allowed",
    "not_authorized",
    "not_found",
    "offer_disabled",
    "payload_too_large",
    "provider_unavailable",
    "rate_limited",
    "reset_link_expired",
    "seat_limit",
    "team_full",
    "store_unavailable",
    "too_many_attempts",
    "unauthorized",
    "unknown_ids",
    "unsupported_media_type",
    "weak_password",
];

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            CODES.contains(&code),
            "error code {code} is missing from CODES (the documented enum)"
        );
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            internal: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(field: &str, message: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("{field} {message}"),
        )
        .field(field)
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than {} KiB.", super::BODY_LIMIT / 1024),
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "There is nothing at this address.")
    }

    /// 403: signed in, but the member's role does not allow this.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Your role does not allow this; ask an owner or admin of your organization.",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Sign in first: this needs a valid session token.",
        )
    }

    pub fn rate_limited(retry_after: i64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("Too many requests; try again in {retry_after} seconds."),
        );
        e.retry_after = Some(retry_after.max(1));
        e
    }

    /// A server-side failure: the client sees a generic message, the log sees `cause`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side; try again.",
        );
        e.internal = Some(cause.to_string());
        e
    }

    pub fn unavailable(code: &'static str, message: &str, cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message);
        e.internal = Some(cause.to_string());
        e
    }
}

/// Every error answer's body: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// snake_case, stable.
    #[schema(schema_with = error_code)]
    pub code: &'static str,
    /// A human sentence.
    pub message: String,
    /// The field at fault (422, and 404 `unknown_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

fn error_code() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(CODES.iter().copied()))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.internal {
            tracing::error!(code = self.code, status = self.status.as_u16(), cause = %cause, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(s) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            res.headers_mut().insert(header::RETRY_AFTER, s);
        }
        res
    }
}

/// The field a serde message names (`missing field `email``, `unknown field `x``).
fn field_in(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => {
                // "Failed to deserialize ...: <path>: <detail>" (the path is absent at the top level).
                let text = e.body_text();
                let rest = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
                let (path, detail) = match rest.split_once(": ") {
                    Some((p, d)) if !p.is_empty() && !p.contains([' ', '`']) => (Some(p.to_owned()), d),
                    _ => (None, rest),
                };
                let mut err = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    format!("The request body does not fit: {detail}."),
                );
                err.field = path.or_else(|| field_in(detail));
                err
            }
            JsonRejection::JsonSyntaxError(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "The request body is not valid JSON.",
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as JSON with `Content-Type: application/json`.",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(),
            other => Self::new(StatusCode::BAD_REQUEST, "malformed_request", other.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::payload_too_large()
        } else {
            Self::new(StatusCode::BAD_REQUEST, "malformed_request", r.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_query", r.body_text())
    }
}

// ---------------------------------------------------------------------------------------------
// The error map: every use-case error to its answer, in one place. The arms use cases share
// (a refused field, not found, the store, a rate limit, mail) go through the helpers below.
// ---------------------------------------------------------------------------------------------

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) | StoreError::Conflict => {
                Self::unavailable("store_unavailable", "The service is briefly unavailable; try again.", e)
            }
            e => Self::internal(e),
        }
    }
}

/// A refused field: 422 `invalid_field` naming it; a refused new password is `weak_password`.
impl From<FieldError> for ApiError {
    fn from(f: FieldError) -> Self {
        if f.field == "password" {
            Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "weak_password",
                format!("password {}", f.message),
            )
            .field("password")
        } else {
            Self::invalid(f.field, &f.message)
        }
    }
}

impl From<MailError> for ApiError {
    /// An email that could not be sent: 503 with the generic "try again" sentence (a use
    /// case with a better one says it through [`ApiError::mail`]).
    fn from(e: MailError) -> Self {
        Self::mail(e, "The email could not be sent right now; try again in a minute.")
    }
}

impl ApiError {
    /// An email that could not be sent (503 `mail_unavailable`, `message` for the person), or
    /// one that could not be rendered (500: a bug, its cause in the log only).
    fn mail(e: MailError, message: &str) -> Self {
        match e {
            MailError::Render(_) => Self::internal(e),
            e => Self::unavailable("mail_unavailable", message, e),
        }
    }
}

impl From<SignupError> for ApiError {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::Invalid(f) => f.into(),
            SignupError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            SignupError::Store(e) => e.into(),
            SignupError::Mail(e) => Self::mail(
                e,
                "The email could not be sent right now; ask for a new code in a minute.",
            ),
            SignupError::Hash => Self::internal(e),
        }
    }
}

impl From<ConfirmError> for ApiError {
    fn from(e: ConfirmError) -> Self {
        match e {
            ConfirmError::Invalid(f) => f.into(),
            ConfirmError::WrongCode { tries_left } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_code",
                format!("That code is not right for this address ({tries_left} tries left)."),
            )
            .field("code"),
            ConfirmError::Expired => Self::new(
                StatusCode::GONE,
                "code_expired",
                "The code has expired; ask for a new one.",
            ),
            ConfirmError::Used => Self::new(
                StatusCode::GONE,
                "code_used",
                "This code was already used; sign in instead.",
            ),
            ConfirmError::TooManyAttempts => {
                let mut e = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "Too many wrong codes: this code no longer works. Ask for a new one.",
                );
                // A new code can be asked for right away (resend's own cooldown applies).
                e.retry_after = Some(crate::usecases::signup::RESEND_COOLDOWN_SECONDS);
                e
            }
            ConfirmError::Store(e) => e.into(),
            ConfirmError::Hash => Self::internal(e),
        }
    }
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::Invalid(f) => f.into(),
            ResetError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            ResetError::Forged => Self::invalid("token", "is not a valid password reset link."),
            ResetError::Gone => Self::new(
                StatusCode::GONE,
                "reset_link_expired",
                "This password reset link was used or has expired; ask for a new one.",
            ),
            ResetError::Store(e) => e.into(),
            ResetError::Mail(e) => e.into(),
            ResetError::Hash => Self::internal(e),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidCredentials => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "The email or password is not right.",
            ),
            SessionError::Unauthorized => Self::unauthorized(),
            SessionError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            SessionError::Store(e) => e.into(),
        }
    }
}

impl From<crate::usecases::members::MemberError> for ApiError {
    fn from(e: crate::usecases::members::MemberError) -> Self {
        use crate::usecases::members::{MemberError as E, TEAM_LIMIT};
        match e {
            E::Invalid(f) => f.into(),
            E::Forbidden => Self::forbidden(),
            E::NotFound => Self::not_found(),
            E::AlreadyMember => Self::conflict(
                "already_member",
                "This address already belongs to a member of an organization.",
            ),
            E::LastOwner => Self::conflict(
                "last_owner",
                "An organization needs at least one owner: make another member owner first.",
            ),
            E::TeamFull => Self::conflict(
                "team_full",
                format!("The team has {TEAM_LIMIT} members and invitations; remove some first."),
            ),
            E::Conflict => Self::conflict("conflict", "The team changed meanwhile; try again."),
            E::Forged => Self::new(
                StatusCode::GONE,
                "invitation_expired",
                "This invitation link is not valid.",
            ),
            E::Gone => Self::new(
                StatusCode::GONE,
                "invitation_expired",
                "This invitation was used, withdrawn or has expired; ask for a new one.",
            ),
            E::RateLimited { retry_after } => Self::rate_limited(retry_after),
            E::Store(e) => e.into(),
            E::Mail(e) => e.into(),
            E::Hash => Self::internal("password hashing failed"),
        }
    }
}

impl From<crate::usecases::lifecycle::LifecycleError> for ApiError {
    fn from(e: crate::usecases::lifecycle::LifecycleError) -> Self {
        use crate::usecases::lifecycle::LifecycleError as E;
        match e {
            E::NotFound => Self::not_found(),
            E::SeatLimit { limit, used, requested } => Self::conflict(
                "seat_limit",
                format!(
                    "Re-enabling takes {requested} seats again and would pass your seat limit ({used} of {limit} used). Nothing was changed."
                ),
            ),
            E::Conflict(why) => Self::conflict("conflict", format!("{}.", capitalized(why))),
            E::RateLimited { retry_after } => Self::rate_limited(retry_after),
            E::Store(e) => e.into(),
            E::Mail(e) => e.into(),
        }
    }
}

impl From<crate::usecases::offers::OfferError> for ApiError {
    fn from(e: crate::usecases::offers::OfferError) -> Self {
        use crate::usecases::offers::OfferError as E;
        match e {
            E::Invalid(f) => f.into(),
            E::NotFound => Self::not_found(),
            E::Disabled => Self::new(StatusCode::GONE, "offer_disabled", "This offer was withdrawn."),
            E::Conflict(why) => Self::conflict("conflict", format!("{}.", capitalized(why))),
            E::RateLimited { retry_after } => Self::rate_limited(retry_after),
            E::Store(e) => e.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(f) => f.into(),
            AccountError::NotFound => Self::not_found(),
            AccountError::Conflict(why) => Self::conflict("conflict", format!("{}.", capitalized(why))),
            AccountError::Store(e) => e.into(),
            AccountError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            AccountError::Mail(e) => e.into(),
        }
    }
}

impl From<AuthorizationError> for ApiError {
    fn from(e: AuthorizationError) -> Self {
        match e {
            AuthorizationError::Invalid(f) => f.into(),
            AuthorizationError::NotFound => Self::not_found(),
            AuthorizationError::Conflict(why) => Self::conflict("conflict", format!("{}.", capitalized(why))),
            AuthorizationError::Store(e) => e.into(),
            AuthorizationError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            AuthorizationError::Mail(e) => e.into(),
        }
    }
}

impl From<crate::usecases::audit::AuditError> for ApiError {
    fn from(e: crate::usecases::audit::AuditError) -> Self {
        use crate::usecases::audit::AuditError;
        match e {
            AuditError::Invalid(f) => f.into(),
            AuditError::NotFound => Self::not_found(),
            AuditError::Store(e) => e.into(),
        }
    }
}

impl From<ProtectionError> for ApiError {
    fn from(e: ProtectionError) -> Self {
        match e {
            ProtectionError::Invalid(f) => f.into(),
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
            ProtectionError::SeatLimit { limit, used, requested } => Self::conflict(
                "seat_limit",
                format!(
                    "Protecting {requested} more users would pass your seat limit ({used} of {limit} seats used). Nothing was changed."
                ),
            ),
            ProtectionError::Conflict(why) => Self::conflict("conflict", why),
            ProtectionError::Store(e) => e.into(),
        }
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(e: DiscoveryError) -> Self {
        match e {
            DiscoveryError::NotFound => Self::not_found(),
            DiscoveryError::NotAuthorized => Self::conflict(
                "not_authorized",
                "The account is not authorized (or its access was revoked): authorize it first.",
            ),
            DiscoveryError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            DiscoveryError::Store(e) => e.into(),
            DiscoveryError::Graph(e) => Self::internal(e),
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_named_field() {
        assert_eq!(
            super::field_in("missing field `email` at line 1 column 2").as_deref(),
            Some("email")
        );
        assert_eq!(super::field_in("no field here"), None);
    }

    #[test]
    fn a_mail_that_cannot_render_is_a_500_one_that_cannot_be_sent_a_503() {
        use super::{ApiError, MailError, StatusCode};
        let e = ApiError::from(crate::usecases::signup::SignupError::Mail(MailError::Render(
            "x".into(),
        )));
        assert_eq!((e.status, e.code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        let e = ApiError::from(MailError::Unavailable("x".into()));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::SERVICE_UNAVAILABLE, "mail_unavailable")
        );
    }
}
