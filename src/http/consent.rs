//! Pages people open from emails and the provider callbacks (the `consent-callback`
//! function): HTML in, HTML or a redirect out. Tokens live in these URLs, so every answer is
//! `no-store` with no referrer, and spans name the route only.

use super::pages::{Authorize, Problem, SetupStarted, page};
use crate::repo::links::LinkError;
use crate::services::AppState;
use crate::usecases::authorization;
use crate::usecases::consent::{self, ConsentError, GoogleCallback, MicrosoftCallback, Redirect};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Pages and redirects that carry secrets in URLs are never cached nor leaked as referrers.
fn private(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

fn see_other(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(v) => private((StatusCode::FOUND, [(header::LOCATION, v)]).into_response()),
        Err(e) => {
            tracing::error!(cause = %e, "the redirect target is not a valid Location header");
            private(page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &Problem {
                    title: "Something went wrong",
                    cause: "The service could not send you on to the next step.",
                    fix: "Try again in a minute.",
                    retry: None,
                },
            ))
        }
    }
}

fn link_problem(e: LinkError) -> Response {
    let (status, title, cause, fix) = match e {
        LinkError::Invalid => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "The authorization link is incomplete or was changed.",
            "Open the link exactly as it is in the email, or ask your IT provider to send a new one.",
        ),
        LinkError::Expired => (
            StatusCode::GONE,
            "This link has expired",
            "Authorization links work for a limited time.",
            "Ask your IT provider to send a new link (they can resend it from their console).",
        ),
        LinkError::Replaced => (
            StatusCode::GONE,
            "A newer link was sent",
            "This link was replaced by a newer one; only the newest link works.",
            "Use the most recent authorization email, or ask your IT provider to resend it.",
        ),
        LinkError::Used => (
            StatusCode::GONE,
            "This link was already used",
            "Access was already granted with this link.",
            "Nothing else is needed. If access must be granted again, ask your IT provider for a new link.",
        ),
        LinkError::Store(e) => {
            tracing::error!(cause = %e, "store failed on an authorization link");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong",
                "The service is briefly unavailable.",
                "Reload this page in a minute.",
            )
        }
        LinkError::Mail(e) => {
            tracing::error!(cause = %e, "mail failed on an authorization link");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Something went wrong",
                "An email could not be sent.",
                "Try again in a minute.",
            )
        }
    };
    private(page(
        status,
        &Problem {
            title,
            cause,
            fix,
            retry: None,
        },
    ))
}

/// `GET /authorize/{token}`: who asks, for which tenant, what access, one button.
pub async fn landing(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match authorization::landing(&s, &token).await {
        Ok(l) => {
            let start_url = format!("/authorize/{token}/start");
            let expires = l.expires_at.format("%-d %B %Y, %H:%M UTC").to_string();
            let (provider, admin_role) = super::pages::consent_by(l.platform);
            private(page(
                StatusCode::OK,
                &Authorize {
                    partner: &l.partner,
                    client: &l.client,
                    platform: l.platform.display_name(),
                    tenant: l.tenant.as_deref(),
                    provider,
                    admin_role,
                    permissions: &l.permissions,
                    start_url: &start_url,
                    expires: &expires,
                    contact: &l.contact,
                },
            ))
        }
        Err(e) => link_problem(e),
    }
}

/// `GET /authorize/{token}/start`: to the provider, with a fresh state.
pub async fn start(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match authorization::start(&s, &token).await {
        Ok(url) => see_other(&url),
        Err(e) => link_problem(e),
    }
}

fn consent_answer(result: Result<Redirect, ConsentError>, uri: &OriginalUri) -> Response {
    match result {
        Ok(Redirect(url)) => see_other(&url),
        Err(e) => {
            let status = match &e {
                ConsentError::Declined
                | ConsentError::WrongAccount
                | ConsentError::ConsentBlocked(_)
                | ConsentError::ServicePrincipalMissing
                | ConsentError::AppUnavailable(_)
                | ConsentError::TenantGone
                | ConsentError::ProviderError(_)
                | ConsentError::MissingState
                | ConsentError::ForgedState
                | ConsentError::Incomplete
                | ConsentError::SignInMissing
                | ConsentError::InvalidSignIn(_) => StatusCode::BAD_REQUEST,
                ConsentError::ExpiredState | ConsentError::ReplayedState => StatusCode::GONE,
                ConsentError::TenantMismatch { .. } | ConsentError::TenantOwned | ConsentError::Conflict => {
                    StatusCode::CONFLICT
                }
                ConsentError::NotProven | ConsentError::NotAdmin => StatusCode::FORBIDDEN,
                ConsentError::ProviderUnavailable | ConsentError::ServiceMisconfigured => StatusCode::BAD_GATEWAY,
                ConsentError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            if let ConsentError::Store(cause) = &e {
                tracing::error!(cause = %cause, "store failed in a consent callback");
            } else {
                tracing::info!(outcome = %e, status = status.as_u16(), "consent callback refused");
            }
            let x = e.explain();
            // The same callback again: its state was left unconsumed.
            let retry = x.retry.then(|| uri.0.to_string());
            let cause = match e.detail() {
                Some(d) => format!("{} {d}", x.cause),
                None => x.cause.to_owned(),
            };
            private(page(
                status,
                &Problem {
                    title: x.title,
                    cause: &cause,
                    fix: x.fix,
                    retry: retry.as_deref(),
                },
            ))
        }
    }
}

/// `GET /v1/callback/microsoft`. Unknown query parameters are ignored (Microsoft adds some).
pub async fn microsoft(State(s): State<AppState>, uri: OriginalUri) -> Response {
    // An undecodable query is treated as an empty one: the page then says the state is missing.
    let cb = Query::<MicrosoftCallback>::try_from_uri(&uri.0)
        .map(|Query(q)| q)
        .unwrap_or_default();
    consent_answer(consent::microsoft(&s, &cb).await, &uri)
}

/// `GET /v1/callback/google`.
pub async fn google(State(s): State<AppState>, uri: OriginalUri) -> Response {
    let cb = Query::<GoogleCallback>::try_from_uri(&uri.0)
        .map(|Query(q)| q)
        .unwrap_or_default();
    consent_answer(consent::google(&s, &cb).await, &uri)
}

/// `GET /authorize/done/{token}`: "protection is being set up", for clients.
pub async fn setup_started(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    match consent::setup_started(&s, &token).await {
        Ok(d) => private(page(
            StatusCode::OK,
            &SetupStarted {
                partner: &d.partner,
                client: &d.client,
                platform: d.platform.display_name(),
                missing: &d.missing,
            },
        )),
        Err(e) => {
            let x = e.explain();
            private(page(
                StatusCode::NOT_FOUND,
                &Problem {
                    title: x.title,
                    cause: x.cause,
                    fix: x.fix,
                    retry: None,
                },
            ))
        }
    }
}
