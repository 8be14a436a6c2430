//! Partner offers: `/v1/offers` for the partner, and the public offer page a client opens.

use super::error::ApiError;
use super::extract::{ApiJson, Manager, SourceIp};
use super::pages::{OfferPage, Problem, consent_by, page};
use crate::domain::{EmailAddress, OrganizationName, Principal};
use crate::services::AppState;
use crate::usecases::offers::{self, NewOffer, OfferError, OfferView};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{LOCATION, RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct OfferList {
    items: Vec<OfferView>,
}

pub async fn list(State(s): State<AppState>, who: Principal) -> Result<Json<OfferList>, ApiError> {
    Ok(Json(OfferList {
        items: offers::list(&s, &who).await?,
    }))
}

pub async fn create(
    State(s): State<AppState>,
    Manager(who): Manager,
    ApiJson(b): ApiJson<NewOffer>,
) -> Result<(StatusCode, Json<OfferView>), ApiError> {
    Ok((StatusCode::CREATED, Json(offers::create(&s, &who, b).await?)))
}

pub async fn disable(
    State(s): State<AppState>,
    Manager(who): Manager,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    offers::disable(&s, &who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The offer page's form.
#[derive(Deserialize, ToSchema)]
pub struct OfferForm {
    #[schema(value_type = OrganizationName)]
    organization: String,
    #[schema(value_type = EmailAddress)]
    email: String,
}

fn problem(e: OfferError) -> Response {
    let (status, title, cause, fix) = match e {
        // A code that is not ours answers like a withdrawn one: 410, nothing to try again.
        OfferError::NotFound => (
            StatusCode::GONE,
            "This link is not valid",
            "The offer link is incomplete, was changed, or has ended.".to_owned(),
            "Open the link exactly as your IT provider published it, or ask them for a current one.",
        ),
        OfferError::Disabled => (
            StatusCode::GONE,
            "This offer has ended",
            "Your IT provider withdrew this offer link.".to_owned(),
            "Ask them for a current link.",
        ),
        OfferError::RateLimited { retry_after } => {
            let mut res = page(
                StatusCode::TOO_MANY_REQUESTS,
                &Problem {
                    title: "Too many requests",
                    cause: "This offer was started many times in the last hour.",
                    fix: &format!("Try again in {} minutes.", ((retry_after + 59) / 60).max(1)),
                    retry: None,
                },
            );
            if let Ok(v) = retry_after.max(1).to_string().parse() {
                res.headers_mut().insert(RETRY_AFTER, v);
            }
            return res;
        }
        e => {
            let e = ApiError::from(e);
            (
                e.status,
                "Something went wrong",
                "The service could not start the onboarding.".to_owned(),
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

fn form_page(s: &AppState, code: &str, open: &offers::OpenOffer, typed: (&str, &str), why: Option<&str>) -> Response {
    let (provider, admin_role) = consent_by(open.offer.platform);
    let status = if why.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(
        status,
        &OfferPage {
            partner: &open.partner.name,
            platform: open.offer.platform.display_name(),
            provider,
            admin_role,
            action: &format!("{}/offer/{code}", s.links.public_base_url),
            organization: typed.0,
            email: typed.1,
            problem: why,
        },
    )
}

fn invalid_form(why: &str) -> Response {
    page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &Problem {
            title: "Fill in the form",
            cause: why,
            fix: "Open the offer link again and fill in both fields.",
            retry: None,
        },
    )
}

/// `GET /offer/{code}`: who offers protection, and the form; changes nothing.
pub async fn offer_page(State(s): State<AppState>, Path(code): Path<String>) -> Response {
    match offers::open(&s, &code).await {
        Ok(open) => form_page(&s, &code, &open, ("", ""), None),
        Err(e) => problem(e),
    }
}

/// `POST /offer/{code}`: the client and its account are created, then 303 into the consent.
pub async fn start(
    State(s): State<AppState>,
    ip: SourceIp,
    Path(code): Path<String>,
    form: Result<Form<OfferForm>, FormRejection>,
) -> Response {
    // A form that does not parse is refused as such (422), whatever the code.
    let Ok(Form(f)) = form else {
        return match offers::open(&s, &code).await {
            Ok(open) => form_page(&s, &code, &open, ("", ""), Some("Fill in both fields.")),
            Err(_) => invalid_form("The organization's name and the administrator's email are both required."),
        };
    };
    match offers::start(&s, &code, &f.organization, &f.email, ip.subject().as_deref()).await {
        Ok(url) => (StatusCode::SEE_OTHER, [(LOCATION, url)]).into_response(),
        Err(OfferError::Invalid(field)) => {
            let why = format!("The {} {}.", field.field, field.message);
            match offers::open(&s, &code).await {
                Ok(open) => form_page(&s, &code, &open, (&f.organization, &f.email), Some(&why)),
                Err(_) => invalid_form(&why),
            }
        }
        Err(e) => problem(e),
    }
}
