//! The console's partner-wide pages: Seats, Team (members and invitations), Offers and Audit,
//! each shown to every member and changed only by the roles the API allows.

use super::{Chrome, Member, Posted, chrome, forbidden_form, html, not_allowed, problem, see_other, when};
use crate::domain::{Actor, Permission, Role};
use crate::http::error::ApiError;
use crate::services::AppState;
use crate::usecases::audit::AuditQuery;
use crate::usecases::members::MemberStatus;
use crate::usecases::offers::NewOffer;
use crate::usecases::{accounts, audit, members, offers};
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

struct SeatRow {
    id: String,
    client: String,
    platform: &'static str,
    users: u64,
    protected: u64,
}

#[derive(Template)]
#[template(path = "console/seats.html")]
struct SeatsPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<SeatRow>,
    left: u64,
    percent: u64,
}

/// Seats: used of the limit across accounts, and each account's share.
pub async fn seats(State(s): State<AppState>, member: Member) -> Response {
    let chrome = match chrome(&s, &member, "seats").await {
        Ok(c) => c,
        Err(e) => return problem(&s, e),
    };
    let mut list = match accounts::list_accounts(&s, &member.principal).await {
        Ok(l) => l,
        Err(e) => return problem(&s, e.into()),
    };
    list.sort_by(|a, b| {
        b.discovery
            .counts
            .users
            .protected
            .cmp(&a.discovery.counts.users.protected)
            .then_with(|| a.client_name.to_lowercase().cmp(&b.client_name.to_lowercase()))
    });
    let rows = list
        .iter()
        .map(|a| SeatRow {
            id: a.id.to_string(),
            client: a.client_name.clone(),
            platform: a.platform.display_name(),
            users: a.discovery.counts.users.total,
            protected: a.discovery.counts.users.protected,
        })
        .collect();
    let left = chrome.seats_limit.saturating_sub(chrome.seats_used);
    let percent = (chrome.seats_used * 100)
        .checked_div(chrome.seats_limit)
        .unwrap_or(100)
        .min(100);
    html(
        StatusCode::OK,
        &SeatsPage {
            chrome: &chrome,
            rows,
            left,
            percent,
        },
    )
}

struct MemberRow {
    email: String,
    role: &'static str,
    invited: bool,
    since: String,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "console/team.html")]
struct TeamPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<MemberRow>,
    notice: Option<&'a str>,
    problem: Option<&'a str>,
}

#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

fn team_notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "invited" => Some("Invitation sent: the link works for 7 days."),
        "role" => Some("Role changed."),
        "removed" => Some("Member removed: their sessions ended."),
        _ => None,
    }
}

async fn team_page(
    s: &AppState,
    member: &Member,
    status: StatusCode,
    notice: Option<&str>,
    why: Option<&str>,
) -> Response {
    let chrome = match chrome(s, member, "team").await {
        Ok(c) => c,
        Err(e) => return problem(s, e),
    };
    let list = match members::list(s, &member.principal).await {
        Ok(l) => l,
        Err(e) => return problem(s, e.into()),
    };
    let rows = list
        .into_iter()
        .map(|m| MemberRow {
            is_me: m.email == member.principal.email,
            invited: m.status == MemberStatus::Invited,
            since: match m.status {
                MemberStatus::Active => format!("joined {}", when(m.joined_at)),
                MemberStatus::Invited => format!("invited; the link works until {}", when(m.invitation_expires_at)),
            },
            role: m.role.as_str(),
            email: m.email,
        })
        .collect();
    html(
        status,
        &TeamPage {
            chrome: &chrome,
            rows,
            notice,
            problem: why,
        },
    )
}

pub async fn team(State(s): State<AppState>, member: Member, q: Result<Query<Done>, QueryRejection>) -> Response {
    let done = q.ok().and_then(|q| q.0.done);
    team_page(&s, &member, StatusCode::OK, team_notice(done.as_deref()), None).await
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

fn role_of(r: &str) -> Result<Role, ApiError> {
    match r {
        "owner" => Ok(Role::Owner),
        "admin" => Ok(Role::Admin),
        "technician" => Ok(Role::Technician),
        _ => Err(crate::domain::FieldError::new("role", "choose owner, admin or technician").into()),
    }
}

/// A posted team or offer form: CSRF first (403 page, nothing changed), then the role, then
/// the change; a refused change is shown on the page it came from.
async fn team_acted<F, Fut>(s: &AppState, member: &Member, csrf: &str, to: &str, f: F) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<&'static str, ApiError>>,
{
    if !member.posted(s, csrf) {
        return forbidden_form(s);
    }
    if !member.may(Permission::Manage) {
        return not_allowed(s);
    }
    match f().await {
        Ok(done) => see_other(&format!("{}/console/{to}?done={done}", super::base(s))),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND && to == "team" => {
            team_page(s, member, e.status, None, Some(&e.message)).await
        }
        Err(e) => problem(s, e),
    }
}

pub async fn invite(State(s): State<AppState>, member: Member, form: Posted<MemberForm>) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    team_acted(&s, &member, &f.csrf, "team", || async {
        let role = match f.role.as_str() {
            "admin" => Role::Admin,
            "technician" => Role::Technician,
            _ => return Err(crate::domain::FieldError::new("role", "choose admin or technician").into()),
        };
        members::invite(&s, &member.principal, &f.email, role).await?;
        Ok("invited")
    })
    .await
}

pub async fn change_role(State(s): State<AppState>, member: Member, form: Posted<MemberForm>) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    team_acted(&s, &member, &f.csrf, "team", || async {
        members::change_role(&s, &member.principal, &f.email, role_of(&f.role)?).await?;
        Ok("role")
    })
    .await
}

pub async fn remove(State(s): State<AppState>, member: Member, form: Posted<MemberForm>) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    let leaving = f.email.trim().eq_ignore_ascii_case(&member.principal.email);
    let removed = team_acted(&s, &member, &f.csrf, "team", || async {
        members::remove(&s, &member.principal, &f.email).await?;
        Ok("removed")
    })
    .await;
    // Removing yourself ends your own session: on to sign-in.
    if leaving && removed.status() == StatusCode::SEE_OTHER {
        return super::to_sign_in(&s);
    }
    removed
}

struct OfferRow {
    id: String,
    url: String,
    platform: &'static str,
    label: String,
    active: bool,
    uses: u64,
    created: String,
}

#[derive(Template)]
#[template(path = "console/offers.html")]
struct OffersPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<OfferRow>,
    notice: Option<&'a str>,
}

pub async fn offers(State(s): State<AppState>, member: Member, q: Result<Query<Done>, QueryRejection>) -> Response {
    let done = q.ok().and_then(|q| q.0.done);
    let chrome = match chrome(&s, &member, "offers").await {
        Ok(c) => c,
        Err(e) => return problem(&s, e),
    };
    let list = match offers::list(&s, &member.principal).await {
        Ok(l) => l,
        Err(e) => return problem(&s, e.into()),
    };
    let rows = list
        .into_iter()
        .map(|o| OfferRow {
            id: o.id,
            url: o.url,
            platform: o.platform.display_name(),
            label: o.label.unwrap_or_default(),
            active: o.active,
            uses: o.uses,
            created: when(Some(o.created_at)),
        })
        .collect();
    let notice = match done.as_deref() {
        Some("created") => Some("Offer link created: publish it where your clients find it."),
        Some("withdrawn") => Some("Offer withdrawn: its link answers that it is no longer offered."),
        _ => None,
    };
    html(
        StatusCode::OK,
        &OffersPage {
            chrome: &chrome,
            rows,
            notice,
        },
    )
}

#[derive(Deserialize)]
pub struct OfferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    label: String,
}

pub async fn create_offer(State(s): State<AppState>, member: Member, form: Posted<OfferForm>) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    team_acted(&s, &member, &f.csrf, "offers", || async {
        let platform = super::platform(&f.platform)?;
        let label = Some(f.label.trim().to_owned()).filter(|l| !l.is_empty());
        offers::create(&s, &member.principal, NewOffer { platform, label }).await?;
        Ok("created")
    })
    .await
}

pub async fn withdraw_offer(
    State(s): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    form: Posted,
) -> Response {
    let csrf = form.map(|f| f.0.csrf).unwrap_or_default();
    team_acted(&s, &member, &csrf, "offers", || async {
        offers::disable(&s, &member.principal, &id).await?;
        Ok("withdrawn")
    })
    .await
}

struct AuditRow {
    at: String,
    who: String,
    action: String,
    account: Option<String>,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    chrome: &'a Chrome,
    rows: Vec<AuditRow>,
    account_id: &'a str,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AuditParams {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
}

fn actor(a: &Actor) -> String {
    match a {
        Actor::Member { email } => email.clone(),
        Actor::ClientAdmin { email: Some(e) } => format!("{e} (client administrator)"),
        Actor::ClientAdmin { email: None } => "the client's administrator".to_owned(),
        Actor::System => "the service".to_owned(),
    }
}

pub async fn audit(
    State(s): State<AppState>,
    member: Member,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Response {
    let q = q.map(|q| q.0).unwrap_or_default();
    let chrome = match chrome(&s, &member, "audit").await {
        Ok(c) => c,
        Err(e) => return problem(&s, e),
    };
    let account_id = q.account_id.clone().unwrap_or_default();
    let page = audit::list(
        &s,
        &member.principal,
        AuditQuery {
            cursor: q.cursor,
            limit: Some(50),
            account_id: q.account_id,
        },
    )
    .await;
    let page = match page {
        Ok(p) => p,
        Err(e) => return problem(&s, e.into()),
    };
    let rows = page
        .items
        .into_iter()
        .map(|e| AuditRow {
            at: when(Some(e.at)),
            who: actor(&e.actor),
            action: serde_json::to_value(e.action)
                .ok()
                .and_then(|v| v.as_str().map(|a| a.replace('_', " ")))
                .unwrap_or_default(),
            account: e.account_id.map(|a| a.to_string()),
            detail: match &e.detail {
                serde_json::Value::Object(m) if m.is_empty() => String::new(),
                serde_json::Value::Null => String::new(),
                d => d.to_string(),
            },
        })
        .collect();
    html(
        StatusCode::OK,
        &AuditPage {
            chrome: &chrome,
            rows,
            account_id: &account_id,
            next: page.next_cursor,
        },
    )
}
