//! The partner console (`/console`): server-rendered pages (askama, `templates/console/`)
//! calling the same use cases as the JSON API, with the same roles and limits.
//!
//! Sessions: sign-in sets the session token in an HttpOnly, SameSite=Strict cookie scoped to
//! `/console` (Secure unless the console is served over plain HTTP on loopback). Every form
//! carries a CSRF token: the HMAC of the session's hash under the service's signing key, so it
//! is bound to that session, needs no storage, and a form posted without it, or with another
//! session's, is refused (403, nothing changed).

use super::error::ApiError;
use crate::domain::Principal;
use crate::services::AppState;
use crate::store::keys::{AccountItem, AccountStatus, ConsentFailureCode, DiscoveryStatus, ObjectKind};
use crate::usecases::protection::ListQuery;
use crate::usecases::{accounts, authorization, discovery, protection, sessions};
use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::LOCATION;
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
const CSRF: &str = "console-csrf";

/// The console's routes (merged into the `api` function's router and the local server's).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(status))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/accounts/{id}", get(account))
        .route("/console/accounts/{id}/check", post(check))
        .route("/console/accounts/{id}/resend", post(resend))
        .route("/console/accounts/{id}/refresh", post(refresh))
        .route("/console/accounts/{id}/reauthorize", post(reauthorize))
        .route("/console/{*rest}", get(not_found))
}

/// A signed-in member of the console, and the CSRF token its forms carry. Without a valid
/// session cookie the page answers a redirect to sign-in.
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

async fn not_found(State(s): State<AppState>) -> Response {
    problem(&s, ApiError::not_found())
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    base: &'a str,
    email: &'a str,
    problem: Option<&'a str>,
}

async fn sign_in_page(State(s): State<AppState>) -> Response {
    html(
        StatusCode::OK,
        &SignInPage {
            base: &base(&s),
            email: "",
            problem: None,
        },
    )
}

#[derive(Deserialize)]
struct SignInForm {
    email: String,
    password: SecretString,
}

/// The session cookie: HttpOnly, SameSite=Strict, `/console` only, Secure unless served over
/// plain HTTP on loopback (`cargo run`). A browser session's cookie (no Max-Age): the session
/// itself ends on the server after `SESSION_HOURS` anyway.
fn session_cookie(s: &AppState, token: Option<&SecretString>) -> Cookie<'static> {
    let loopback = url::Url::parse(&s.links.public_base_url)
        .is_ok_and(|u| u.scheme() == "http" && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")));
    let mut c = Cookie::new(COOKIE, token.map(|t| t.expose_secret().to_owned()).unwrap_or_default());
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/console");
    c.set_secure(!loopback);
    c
}

async fn sign_in(
    State(s): State<AppState>,
    ip: super::extract::SourceIp,
    jar: CookieJar,
    form: Result<axum::Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(f)) = form else {
        return refused_sign_in(
            &s,
            "",
            "Fill in your email and password.",
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    match sessions::sign_in(&s, &f.email, f.password, ip.subject().as_deref()).await {
        Ok(session) => {
            let jar = jar.add(session_cookie(&s, Some(&session.token)));
            (jar, see_other(&format!("{}/console", base(&s)))).into_response()
        }
        Err(sessions::SessionError::RateLimited { retry_after }) => refused_sign_in(
            &s,
            &f.email,
            &format!(
                "Too many failed sign-ins; try again in {} minutes.",
                (retry_after + 59) / 60
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(sessions::SessionError::Store(e)) => problem(&s, e.into()),
        Err(_) => refused_sign_in(
            &s,
            &f.email,
            "The email or password is not right.",
            StatusCode::UNAUTHORIZED,
        ),
    }
}

fn refused_sign_in(s: &AppState, email: &str, why: &str, status: StatusCode) -> Response {
    html(
        status,
        &SignInPage {
            base: &base(s),
            email,
            problem: Some(why),
        },
    )
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(s): State<AppState>,
    member: Member,
    jar: CookieJar,
    form: Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if !form.is_ok_and(|f| member.posted(&s, &f.csrf)) {
        return forbidden_form(&s);
    }
    if let Err(e) = sessions::sign_out(&s, &member.principal).await {
        return problem(&s, e.into());
    }
    let jar = jar.remove(session_cookie(&s, None));
    (jar, to_sign_in(&s)).into_response()
}

/// The header every signed-in page shows: the partner, seats, sign-out.
struct Nav {
    base: String,
    partner: String,
    seats_used: u64,
    seats_limit: u64,
    csrf: String,
}

async fn nav(s: &AppState, m: &Member) -> Result<Nav, ApiError> {
    let partner = sessions::partner_of(s, &m.principal).await?;
    let seats = protection::seats(s, &m.principal).await?;
    Ok(Nav {
        base: base(s),
        partner: partner.name,
        seats_used: seats.used,
        seats_limit: seats.limit,
        csrf: m.csrf.clone(),
    })
}

/// What a status badge says, and its colour class.
fn badge(a: &AccountItem, now: chrono::DateTime<chrono::Utc>) -> (&'static str, &'static str, Option<String>) {
    match a.status {
        AccountStatus::Active => ("Active", "good", None),
        AccountStatus::ReauthorizationRequired => ("Reauthorization required", "warn", None),
        AccountStatus::AccessRevoked => ("Access revoked", "bad", a.discovery.last_error.clone()),
        AccountStatus::Disabled => ("Disabled", "", None),
        AccountStatus::WaitingForAuthorization => match &a.consent_failure {
            Some(f) if f.code == ConsentFailureCode::Declined => ("Declined", "bad", Some(f.cause.clone())),
            Some(f) => ("Consent failed", "bad", Some(f.cause.clone())),
            None if a.link_expires_at.is_some_and(|t| t <= now) => ("Link expired", "warn", None),
            None => ("Waiting for authorization", "warn", None),
        },
    }
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

struct Row {
    id: String,
    client: String,
    platform: &'static str,
    managed_by: &'static str,
    badge: &'static str,
    badge_class: &'static str,
    cause: Option<String>,
    last_run: String,
    protected: u64,
    waiting: bool,
    sent_to: String,
}

#[derive(Template)]
#[template(path = "console/status.html")]
struct StatusPage<'a> {
    base: &'a str,
    partner: &'a str,
    seats_used: u64,
    seats_limit: u64,
    csrf: &'a str,
    notice: Option<&'a str>,
    rows: Vec<Row>,
}

#[derive(Deserialize, Default)]
struct Notice {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

/// Only fixed sentences, chosen by a key: nothing typed into a URL is shown back.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "checked" => Some("Authorization checked."),
        "resent" => Some("A fresh authorization link was sent; earlier links stop working."),
        "refreshed" => Some("Discovery is queued; counts update when it has run."),
        _ => None,
    }
}

fn managed_by(m: crate::domain::ManagedBy) -> &'static str {
    match m {
        crate::domain::ManagedBy::Partner => "you",
        crate::domain::ManagedBy::Client => "the client",
    }
}

async fn status(State(s): State<AppState>, member: Member, q: Result<Query<Notice>, QueryRejection>) -> Response {
    let q = q.ok();
    let nav = match nav(&s, &member).await {
        Ok(n) => n,
        Err(e) => return problem(&s, e),
    };
    let mut list = match accounts::list_accounts(&s, &member.principal).await {
        Ok(l) => l,
        Err(e) => return problem(&s, e.into()),
    };
    list.sort_by_cached_key(|a| a.client_name.to_lowercase());
    let now = s.clock.now();
    let rows = list
        .iter()
        .map(|a| {
            let (badge, badge_class, cause) = badge(a, now);
            Row {
                id: a.id.to_string(),
                client: a.client_name.clone(),
                platform: a.platform.display_name(),
                managed_by: managed_by(a.managed_by),
                badge,
                badge_class,
                cause,
                last_run: when(a.discovery.last_run_at),
                protected: a.discovery.counts.users.protected,
                waiting: a.status == AccountStatus::WaitingForAuthorization,
                sent_to: a.link_sent_to.clone().unwrap_or_default(),
            }
        })
        .collect();
    html(
        StatusCode::OK,
        &StatusPage {
            base: &nav.base,
            partner: &nav.partner,
            seats_used: nav.seats_used,
            seats_limit: nav.seats_limit,
            csrf: &nav.csrf,
            notice: notice(q.as_ref().and_then(|q| q.done.as_deref())),
            rows,
        },
    )
}

struct ObjectRow {
    name: String,
    email: String,
    protected: bool,
    deleted: bool,
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage<'a> {
    base: &'a str,
    partner: &'a str,
    seats_used: u64,
    seats_limit: u64,
    csrf: &'a str,
    notice: Option<&'a str>,
    id: &'a str,
    client: &'a str,
    badge: &'a str,
    badge_class: &'a str,
    platform: &'a str,
    managed_by: &'a str,
    tenant: Option<&'a str>,
    missing: &'a [String],
    discovery: &'a str,
    users: u64,
    groups: u64,
    teams: u64,
    sites: u64,
    last_run: String,
    objects: Vec<ObjectRow>,
    next: Option<String>,
}

fn discovery_words(d: DiscoveryStatus, queued: bool) -> &'static str {
    match (queued, d) {
        (true, _) => "queued",
        (_, DiscoveryStatus::NotStarted) => "not started",
        (_, DiscoveryStatus::Running) => "running",
        (_, DiscoveryStatus::Done) => "done",
        (_, DiscoveryStatus::Partial) => "partly done (continues by itself)",
        (_, DiscoveryStatus::Failed) => "failed (retries by itself)",
    }
}

async fn account(
    State(s): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    q: Result<Query<Notice>, QueryRejection>,
) -> Response {
    let q = q.ok();
    let nav = match nav(&s, &member).await {
        Ok(n) => n,
        Err(e) => return problem(&s, e),
    };
    let a = match accounts::get_account(&s, &member.principal, &id).await {
        Ok(a) => a,
        Err(e) => return problem(&s, e.into()),
    };
    let q = q.map(|q| q.0).unwrap_or_default();
    let listing = protection::list(
        &s,
        &member.principal,
        &id,
        ObjectKind::Users,
        ListQuery {
            cursor: q.cursor.clone(),
            limit: Some(50),
            ..Default::default()
        },
    )
    .await;
    let listing = match listing {
        Ok(l) => l,
        Err(e) => return problem(&s, e.into()),
    };
    let now = s.clock.now();
    let (badge, badge_class, _) = badge(&a, now);
    let c = &a.discovery.counts;
    html(
        StatusCode::OK,
        &AccountPage {
            base: &nav.base,
            partner: &nav.partner,
            seats_used: nav.seats_used,
            seats_limit: nav.seats_limit,
            csrf: &nav.csrf,
            notice: notice(q.done.as_deref()),
            id: a.id.as_str(),
            client: &a.client_name,
            badge,
            badge_class,
            platform: a.platform.display_name(),
            managed_by: managed_by(a.managed_by),
            tenant: a.tenant_domain.as_deref().or(a.tenant_id.as_deref()),
            missing: &a.missing_permissions,
            discovery: discovery_words(a.discovery.status, crate::repo::jobs::in_flight(&a, now)),
            users: c.users.total,
            groups: c.groups.total,
            teams: c.teams.total,
            sites: c.sites.total,
            last_run: when(a.discovery.last_run_at),
            objects: listing
                .items
                .into_iter()
                .map(|o| ObjectRow {
                    name: o.name,
                    email: o.email.unwrap_or_default(),
                    protected: o.protected,
                    deleted: o.deleted,
                })
                .collect(),
            next: listing.next_cursor,
        },
    )
}

/// A posted account action: checks the form's CSRF token first (403, nothing done).
async fn acted<F, Fut>(s: &AppState, member: &Member, csrf: &str, id: &str, done: &str, f: F) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, ApiError>>,
{
    if !member.posted(s, csrf) {
        return forbidden_form(s);
    }
    if uuid::Uuid::parse_str(id).is_err() {
        return problem(s, ApiError::not_found());
    }
    match f().await {
        Ok(Some(elsewhere)) => see_other(&elsewhere),
        Ok(None) => see_other(&format!("{}/console/accounts/{id}?done={done}", base(s))),
        Err(e) => problem(s, e),
    }
}

type Posted = Result<axum::Form<CsrfForm>, axum::extract::rejection::FormRejection>;

fn csrf_of(form: Posted) -> String {
    form.map(|f| f.0.csrf).unwrap_or_default()
}

async fn check(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, "checked", || async {
        authorization::check(&s, &member.principal, &id).await?;
        Ok(None)
    })
    .await
}

#[derive(Deserialize)]
struct ResendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn resend(
    State(s): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    form: Result<axum::Form<ResendForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    acted(&s, &member, &f.csrf, &id, "resent", || async {
        authorization::resend(&s, &member.principal, &id, &f.email).await?;
        Ok(None)
    })
    .await
}

async fn refresh(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, "refreshed", || async {
        discovery::refresh(&s, &member.principal, &id).await?;
        Ok(None)
    })
    .await
}

/// The reauthorization banner's Begin: on to the provider's consent for the missing
/// permissions.
async fn reauthorize(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, "", || async {
        let (url, _) = authorization::reauthorize(&s, &member.principal, &id, None).await?;
        Ok(Some(url))
    })
    .await
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
