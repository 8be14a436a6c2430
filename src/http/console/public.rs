//! The console's pages before sign-in: sign-up, the confirmation code, sign-in and forgot
//! password. Each form carries the pre-session CSRF token ([`super::Visitor`]).

use super::{Posted, Visitor, html, problem, signed_in, visitor};
use crate::http::error::ApiError;
use crate::http::extract::SourceIp;
use crate::services::AppState;
use crate::usecases::{password_reset, sessions, signup};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;

/// The fields a public page shows back (never the password).
#[derive(Default)]
struct Typed {
    organization: String,
    email: String,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    base: &'a str,
    csrf: &'a str,
    email: &'a str,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/sign_up.html")]
struct SignUpPage<'a> {
    base: &'a str,
    csrf: &'a str,
    typed: &'a Typed,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/confirm.html")]
struct ConfirmPage<'a> {
    base: &'a str,
    csrf: &'a str,
    email: &'a str,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/forgot.html")]
struct ForgotPage<'a> {
    base: &'a str,
    csrf: &'a str,
    email: &'a str,
    problem: Option<&'a str>,
    sent: bool,
}

/// A public page answered with the visitor's cookie (set on first sight).
fn answer(jar: CookieJar, status: StatusCode, t: &impl Template) -> Response {
    (jar, html(status, t)).into_response()
}

/// A message people can act on, from the use case's refusal; 5xx stay opaque.
fn why(e: &ApiError) -> String {
    if e.status.is_server_error() {
        "The service could not do this; try again in a minute.".to_owned()
    } else if let Some(after) = e.retry_after {
        format!("{} Try again in {} minutes.", e.message, (after + 59) / 60)
    } else {
        e.message.clone()
    }
}

pub async fn sign_in_page(State(s): State<AppState>, jar: CookieJar) -> Response {
    let v = visitor(&s, jar);
    let page = SignInPage {
        base: &super::base(&s),
        csrf: &v.csrf,
        email: "",
        problem: None,
    };
    answer(v.jar, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: SecretString,
}

pub async fn sign_in(State(s): State<AppState>, ip: SourceIp, jar: CookieJar, form: Posted<SignInForm>) -> Response {
    let v = visitor(&s, jar);
    let refused = |v: Visitor, email: &str, why: &str, status: StatusCode| {
        let page = SignInPage {
            base: &super::base(&s),
            csrf: &v.csrf,
            email,
            problem: Some(why),
        };
        answer(v.jar, status, &page)
    };
    let Ok(axum::Form(f)) = form else {
        return refused(
            v,
            "",
            "Fill in your email and password.",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    if !v.posted(&s, &f.csrf) {
        return super::forbidden_form(&s);
    }
    match sessions::sign_in(&s, &f.email, f.password, ip.subject().as_deref()).await {
        Ok(session) => signed_in(&s, v.jar, &session.token),
        Err(sessions::SessionError::RateLimited { retry_after }) => refused(
            v,
            &f.email,
            &format!(
                "Too many failed sign-ins; try again in {} minutes.",
                (retry_after + 59) / 60
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(sessions::SessionError::Store(e)) => problem(&s, e.into()),
        Err(_) => refused(
            v,
            &f.email,
            "The email or password is not right.",
            StatusCode::UNAUTHORIZED,
        ),
    }
}

pub async fn sign_up_page(State(s): State<AppState>, jar: CookieJar) -> Response {
    let v = visitor(&s, jar);
    let page = SignUpPage {
        base: &super::base(&s),
        csrf: &v.csrf,
        typed: &Typed::default(),
        problem: None,
    };
    answer(v.jar, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    email: String,
    password: SecretString,
}

/// Sign-up: the same use case and answer as `POST /v1/signup` (a registered address is not
/// told apart), then the code form.
pub async fn sign_up(State(s): State<AppState>, ip: SourceIp, jar: CookieJar, form: Posted<SignUpForm>) -> Response {
    let v = visitor(&s, jar);
    let base = super::base(&s);
    let Ok(axum::Form(f)) = form else {
        let page = SignUpPage {
            base: &base,
            csrf: &v.csrf,
            typed: &Typed::default(),
            problem: Some("Fill in your organization, email and a password."),
        };
        return answer(v.jar, StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    if !v.posted(&s, &f.csrf) {
        return super::forbidden_form(&s);
    }
    match signup::sign_up(&s, &f.organization, &f.email, f.password, ip.subject().as_deref()).await {
        Ok(()) => {
            let page = ConfirmPage {
                base: &base,
                csrf: &v.csrf,
                email: f.email.trim(),
                problem: None,
            };
            answer(v.jar, StatusCode::OK, &page)
        }
        Err(e) => {
            let e = ApiError::from(e);
            let typed = Typed {
                organization: f.organization,
                email: f.email,
            };
            let page = SignUpPage {
                base: &base,
                csrf: &v.csrf,
                typed: &typed,
                problem: Some(&why(&e)),
            };
            answer(v.jar, e.status, &page)
        }
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
}

/// The emailed code: signed in on the spot.
pub async fn confirm(State(s): State<AppState>, jar: CookieJar, form: Posted<ConfirmForm>) -> Response {
    let v = visitor(&s, jar);
    let Ok(axum::Form(f)) = form else {
        return super::forbidden_form(&s);
    };
    if !v.posted(&s, &f.csrf) {
        return super::forbidden_form(&s);
    }
    match signup::confirm(&s, &f.email, f.code.trim()).await {
        Ok(session) => signed_in(&s, v.jar, &session.token),
        Err(e) => {
            let e = ApiError::from(e);
            let page = ConfirmPage {
                base: &super::base(&s),
                csrf: &v.csrf,
                email: &f.email,
                problem: Some(&why(&e)),
            };
            answer(v.jar, e.status, &page)
        }
    }
}

pub async fn forgot_page(State(s): State<AppState>, jar: CookieJar) -> Response {
    let v = visitor(&s, jar);
    let page = ForgotPage {
        base: &super::base(&s),
        csrf: &v.csrf,
        email: "",
        problem: None,
        sent: false,
    };
    answer(v.jar, StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Forgot password: the same answer whether or not the address is registered.
pub async fn forgot(State(s): State<AppState>, ip: SourceIp, jar: CookieJar, form: Posted<ForgotForm>) -> Response {
    let v = visitor(&s, jar);
    let Ok(axum::Form(f)) = form else {
        return super::forbidden_form(&s);
    };
    if !v.posted(&s, &f.csrf) {
        return super::forbidden_form(&s);
    }
    let (status, problem, sent) = match password_reset::forgot(&s, &f.email, ip.subject().as_deref()).await {
        Ok(()) => (StatusCode::OK, None, true),
        Err(e) => {
            let e = ApiError::from(e);
            (e.status, Some(why(&e)), false)
        }
    };
    let page = ForgotPage {
        base: &super::base(&s),
        csrf: &v.csrf,
        email: &f.email,
        problem: problem.as_deref(),
        sent,
    };
    answer(v.jar, status, &page)
}
