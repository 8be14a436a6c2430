//! The partner console (`/console`): server-rendered pages (askama, `templates/console/`)
//! calling the same use cases as the JSON API, with the same roles and limits.
//!
//! - `public`: sign-up, the confirmation code, sign-in, forgot password (no session yet);
//! - `accounts`: Status, New SaaS account, the Account page (tabs, search, protection,
//!   Refresh with live progress, auto-add, reauthorization, disable / enable);
//! - `team`: Seats, Team, Offers and Audit.
//!
//! Sessions: sign-in sets the session token in an HttpOnly, SameSite=Strict cookie scoped to
//! `/console` (Secure unless the console is served over plain HTTP on loopback). Every form
//! carries a CSRF token: signed in, the HMAC of the session's hash under the service's signing
//! key (bound to that session, no storage); before sign-in, the HMAC of a random pre-session
//! cookie (signed double submit). A form posted without its token, or with another session's,
//! is refused (403, nothing changed). Roles are the API's: [`Member::may`] asks
//! [`crate::domain::Role::allows`].

mod accounts;
mod public;
mod team;

use super::error::ApiError;
use crate::domain::{Permission, Principal};
use crate::services::AppState;
use crate::usecases::{protection, sessions};
use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The session cookie's name.
pub const COOKIE: &str = "console_session";
/// The pre-session cookie: the secret half of the sign-in and sign-up forms' CSRF token.
pub const PRE_COOKIE: &str = "console_visit";
const CSRF: &str = "console-csrf";
const PRE_CSRF: &str = "console-visit-csrf";

/// The console's routes (merged into the `api` function's router and the local server's).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(accounts::status))
        .route("/console/console.js", get(script))
        .route("/console/sign-in", get(public::sign_in_page).post(public::sign_in))
        .route("/console/sign-up", get(public::sign_up_page).post(public::sign_up))
        .route("/console/confirm", post(public::confirm))
        .route("/console/forgot", get(public::forgot_page).post(public::forgot))
        .route("/console/sign-out", post(sign_out))
        .route("/console/accounts", post(accounts::create))
        .route("/console/accounts/new", get(accounts::new_page))
        .route("/console/accounts/{id}", get(accounts::account))
        .route("/console/accounts/{id}/progress", get(accounts::progress))
        .route("/console/accounts/{id}/check", post(accounts::check))
        .route("/console/accounts/{id}/resend", post(accounts::resend))
        .route("/console/accounts/{id}/refresh", post(accounts::refresh))
        .route("/console/accounts/{id}/reauthorize", post(accounts::reauthorize))
        .route("/console/accounts/{id}/protect", post(accounts::protect))
        .route("/console/accounts/{id}/auto-add", post(accounts::auto_add))
        .route("/console/accounts/{id}/disable", post(accounts::disable))
        .route("/console/accounts/{id}/enable", post(accounts::enable))
        .route("/console/seats", get(team::seats))
        .route("/console/team", get(team::team).post(team::invite))
        .route("/console/team/role", post(team::change_role))
        .route("/console/team/remove", post(team::remove))
        .route("/console/offers", get(team::offers).post(team::create_offer))
        .route("/console/offers/{id}/withdraw", post(team::withdraw_offer))
        .route("/console/audit", get(team::audit))
        .route("/console/{*rest}", get(not_found))
}

/// The console's one script (progress polling, "select all"): served from this origin, so
/// the pages' policy allows it as `script-src 'self'` and nothing inline.
const SCRIPT: &str = include_str!("../../../templates/console/console.js");

async fn script() -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A signed-in member of the console, and the CSRF token its forms carry. Without a valid
/// session cookie (never issued, signed out, the member removed) the page answers a redirect
/// to sign-in.
pub struct Member {
    principal: Principal,
    csrf: String,
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(cookie) = jar.get(COOKIE) else {
            return Err(to_sign_in(s));
        };
        match sessions::authenticate(s, cookie.value()).await {
            Ok(principal) => {
                let csrf = s.signer.tag(CSRF, &principal.token_hash);
                Ok(Self { principal, csrf })
            }
            Err(sessions::SessionError::Store(e)) => Err(problem(s, ApiError::from(e))),
            Err(_) => Err(to_sign_in(s)),
        }
    }
}

impl Member {
    /// Whether a posted form's token is this session's.
    fn posted(&self, s: &AppState, csrf: &str) -> bool {
        s.signer.check_tag(CSRF, &self.principal.token_hash, csrf)
    }

    /// Whether this member's role allows `p` (the API's rule, `Role::allows`).
    fn may(&self, p: Permission) -> bool {
        self.principal.may(p)
    }
}

/// A visitor before sign-in: the pre-session cookie (made on first sight) and the CSRF token
/// its forms carry.
struct Visitor {
    jar: CookieJar,
    csrf: String,
    /// The cookie's value, when the request carried one (a posted form must).
    had: Option<String>,
}

fn visitor(s: &AppState, jar: CookieJar) -> Visitor {
    let had = jar
        .get(PRE_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty());
    let (jar, value) = match &had {
        Some(v) => (jar, v.clone()),
        None => {
            let v = crate::crypto::random_token().expose_secret().to_owned();
            (jar.add(cookie(s, PRE_COOKIE, v.clone())), v)
        }
    };
    Visitor {
        csrf: s.signer.tag(PRE_CSRF, &value),
        jar,
        had,
    }
}

impl Visitor {
    fn posted(&self, s: &AppState, csrf: &str) -> bool {
        self.had
            .as_deref()
            .is_some_and(|v| s.signer.check_tag(PRE_CSRF, v, csrf))
    }
}

/// A console cookie: HttpOnly, SameSite=Strict, `/console` only, Secure unless served over
/// plain HTTP on loopback (`cargo run`). A browser session's cookie (no Max-Age): the session
/// itself ends on the server after `SESSION_HOURS` anyway.
fn cookie(s: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    let loopback = url::Url::parse(&s.links.public_base_url)
        .is_ok_and(|u| u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")));
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/console");
    c.set_secure(!loopback);
    c
}

/// Signed in: the session cookie set, on to the Status page.
fn signed_in(s: &AppState, jar: CookieJar, token: &SecretString) -> Response {
    let jar = jar.add(cookie(s, COOKIE, token.expose_secret().to_owned()));
    (jar, see_other(&format!("{}/console", base(s)))).into_response()
}

fn html(status: StatusCode, t: &impl Template) -> Response {
    super::pages::page(status, t)
}

/// The body of a redirect (so even the redirect is a page with its headers).
#[derive(Template)]
#[template(
    source = "<!doctype html><title>Moved</title><a href=\"{{ to }}\">Continue</a>",
    ext = "html"
)]
struct Moved<'a> {
    to: &'a str,
}

/// 303 to `to`, with a short HTML body escaped as every page is.
fn see_other(to: &str) -> Response {
    let mut res = html(StatusCode::SEE_OTHER, &Moved { to });
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

fn to_sign_in(s: &AppState) -> Response {
    see_other(&format!("{}/console/sign-in", base(s)))
}

/// Where the console is served from (its links and form actions).
fn base(s: &AppState) -> String {
    s.links.public_base_url.trim_end_matches('/').to_owned()
}

#[derive(Template)]
#[template(path = "console/problem.html")]
struct ProblemPage<'a> {
    base: &'a str,
    title: &'a str,
    cause: &'a str,
}

fn problem(s: &AppState, e: ApiError) -> Response {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
        StatusCode::CONFLICT => "Not possible now",
        _ if e.status.is_server_error() => "Something went wrong",
        _ => "Not accepted",
    };
    let cause = if e.status.is_server_error() {
        "The service could not do this; try again in a minute.".to_owned()
    } else {
        e.message.clone()
    };
    let status = e.status;
    tracing::info!(status = status.as_u16(), code = e.code, "console: refused");
    html(
        status,
        &ProblemPage {
            base: &base(s),
            title,
            cause: &cause,
        },
    )
}

fn forbidden_form(s: &AppState) -> Response {
    problem(
        s,
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This form is out of date or was not sent from the console; reload the page and try again.",
        ),
    )
}

/// What a member whose role does not allow an action sees (the API's 403, as a page).
fn not_allowed(s: &AppState) -> Response {
    problem(s, ApiError::forbidden())
}

async fn not_found(State(s): State<AppState>) -> Response {
    problem(&s, ApiError::not_found())
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

type Posted<T = CsrfForm> = Result<axum::Form<T>, axum::extract::rejection::FormRejection>;

async fn sign_out(State(s): State<AppState>, member: Member, jar: CookieJar, form: Posted) -> Response {
    if !form.is_ok_and(|f| member.posted(&s, &f.csrf)) {
        return forbidden_form(&s);
    }
    if let Err(e) = sessions::sign_out(&s, &member.principal).await {
        return problem(&s, e.into());
    }
    let jar = jar.remove(cookie(&s, COOKIE, String::new()));
    (jar, to_sign_in(&s)).into_response()
}

/// What every signed-in page shows around its body: the product, the partner, the member and
/// role, seats, the sections (those the role may use), sign-out.
pub struct Chrome {
    base: String,
    partner: String,
    email: String,
    role: &'static str,
    seats_used: u64,
    seats_limit: u64,
    /// Seats at 90 % or more of the limit: the header warns.
    seats_warning: bool,
    csrf: String,
    /// May manage (owner, admin): offers, protection, auto-add, team changes.
    manager: bool,
    /// The section shown (`aria-current` in the navigation).
    section: &'static str,
}

async fn chrome(s: &AppState, m: &Member, section: &'static str) -> Result<Chrome, ApiError> {
    let partner = sessions::partner_of(s, &m.principal).await?;
    let seats = protection::seats(s, &m.principal).await?;
    Ok(Chrome {
        base: base(s),
        partner: partner.name,
        email: m.principal.email.clone(),
        role: m.principal.role.as_str(),
        seats_used: seats.used,
        seats_limit: seats.limit,
        seats_warning: seats.limit > 0 && seats.used * 10 >= seats.limit * 9,
        csrf: m.csrf.clone(),
        manager: m.may(Permission::Manage),
        section,
    })
}

/// A form's platform choice (the values the API uses, `Platform::parse`).
fn platform(raw: &str) -> Result<crate::domain::Platform, ApiError> {
    crate::domain::Platform::parse(raw)
        .ok_or_else(|| crate::domain::FieldError::new("platform", "choose Microsoft 365 or Google Workspace").into())
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn redirect_bodies_escape_their_target() {
        let res = super::see_other("/a\"<b>&");
        assert_eq!(res.status(), axum::http::StatusCode::SEE_OTHER);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(!body.contains("\"<b>&"), "{body}");
        assert!(body.contains("&#60;b&#62;") || body.contains("&lt;b&gt;"), "{body}");
    }
}
