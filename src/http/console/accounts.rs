//! The console's account pages: Status (every account), New SaaS account, and the Account page
//! (tabs Users / Sites / Teams / Groups with search and filters, protection, Refresh with live
//! progress, auto-add, the reauthorization banner, disable / enable) with their actions.

use super::{Chrome, Member, Posted, chrome, forbidden_form, html, not_allowed, problem, see_other, when};
use crate::domain::{ManagedBy, Permission};
use crate::http::error::ApiError;
use crate::services::AppState;
use crate::store::keys::{AccountItem, AccountStatus, ConsentFailureCode, DiscoveryStatus, ObjectKind};
use crate::usecases::protection::{AutoAddRequest, ListOrder, ListQuery, ProtectKind, ProtectRequest};
use crate::usecases::{accounts, authorization, discovery, lifecycle, protection};
use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Objects shown per page of a tab.
pub const PAGE: usize = 50;
/// Listing calls one page may make while a search or filter finds nothing (each reads a
/// bounded stretch of the account's objects).
const SEARCH_CALLS: usize = 10;

/// What a status badge says, its colour class, and the cause to show under it.
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

/// Only fixed sentences, chosen by a key: nothing typed into a URL is shown back.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "checked" => Some("Authorization checked."),
        "resent" => Some("A fresh authorization link was sent; earlier links stop working."),
        "sent" => Some("The account was added and the authorization link emailed."),
        "refreshed" => Some("Discovery is queued; the counts below update as it runs."),
        "protected" => Some("Protection changed."),
        "auto_add" => Some("Auto add saved."),
        "disabled" => Some("The account is disabled: discovery and auto add stopped and its seats are free."),
        "enabled" => Some("The account is enabled again: a fresh authorization link was emailed."),
        _ => None,
    }
}

fn managed_by(m: ManagedBy) -> &'static str {
    match m {
        ManagedBy::Partner => "you",
        ManagedBy::Client => "the client",
    }
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
    /// Protected users, sites and Teams.
    protected: [u64; 3],
    waiting: bool,
    sent_to: String,
}

#[derive(Template)]
#[template(path = "console/status.html")]
struct StatusPage<'a> {
    chrome: &'a Chrome,
    notice: Option<&'a str>,
    rows: Vec<Row>,
}

#[derive(Deserialize, Default)]
pub struct Notice {
    #[serde(default)]
    done: Option<String>,
}

pub async fn status(State(s): State<AppState>, member: Member, q: Result<Query<Notice>, QueryRejection>) -> Response {
    let q = q.ok();
    let chrome = match chrome(&s, &member, "status").await {
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
                protected: {
                    let c = &a.discovery.counts;
                    [c.users.protected, c.sites.protected, c.teams.protected]
                },
                waiting: a.status == AccountStatus::WaitingForAuthorization,
                sent_to: a.link_sent_to.clone().unwrap_or_default(),
            }
        })
        .collect();
    html(
        StatusCode::OK,
        &StatusPage {
            chrome: &chrome,
            notice: notice(q.as_ref().and_then(|q| q.done.as_deref())),
            rows,
        },
    )
}

/// The New SaaS account form as typed (shown back when refused).
#[derive(Deserialize, Default)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    /// One of the partner's clients, or empty for a new one named in `client_name`.
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_name: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    managed_by: String,
    /// `yes` or `no`.
    #[serde(default)]
    admin: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    authorization_email: String,
}

struct ClientOption {
    id: String,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console/new_account.html")]
struct NewPage<'a> {
    chrome: &'a Chrome,
    clients: Vec<ClientOption>,
    f: &'a NewForm,
    problem: Option<&'a str>,
}

async fn new_form(s: &AppState, member: &Member, f: &NewForm, status: StatusCode, why: Option<&str>) -> Response {
    let chrome = match chrome(s, member, "new").await {
        Ok(n) => n,
        Err(e) => return problem(s, e),
    };
    let mut clients = match accounts::list_clients(s, &member.principal).await {
        Ok(c) => c,
        Err(e) => return problem(s, e.into()),
    };
    clients.sort_by_cached_key(|c| c.name.to_lowercase());
    let clients = clients
        .into_iter()
        .map(|c| ClientOption {
            selected: c.id.to_string() == f.client_id,
            id: c.id.to_string(),
            name: c.name,
        })
        .collect();
    html(
        status,
        &NewPage {
            chrome: &chrome,
            clients,
            f,
            problem: why,
        },
    )
}

pub async fn new_page(State(s): State<AppState>, member: Member) -> Response {
    let f = NewForm {
        platform: "microsoft365".into(),
        managed_by: "client".into(),
        admin: "no".into(),
        ..Default::default()
    };
    new_form(&s, &member, &f, StatusCode::OK, None).await
}

fn optional(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The form as the API's request; a choice that is not one of the form's is a field error.
fn new_account(f: &NewForm) -> Result<accounts::NewAccount, ApiError> {
    let platform = super::platform(&f.platform)?;
    let managed_by = match f.managed_by.as_str() {
        "partner" => ManagedBy::Partner,
        "client" => ManagedBy::Client,
        _ => return Err(crate::domain::FieldError::new("managed_by", "choose who manages the account").into()),
    };
    let has_admin_credentials = match f.admin.as_str() {
        "yes" => true,
        "no" => false,
        _ => {
            return Err(crate::domain::FieldError::new(
                "has_admin_credentials",
                "say whether you have global admin credentials",
            )
            .into());
        }
    };
    let client_id = optional(&f.client_id);
    Ok(accounts::NewAccount {
        client_name: if client_id.is_none() {
            optional(&f.client_name)
        } else {
            None
        },
        client_id,
        platform,
        managed_by,
        has_admin_credentials,
        tenant: optional(&f.tenant),
        authorization_email: if has_admin_credentials {
            None
        } else {
            optional(&f.authorization_email)
        },
    })
}

/// New SaaS account: with admin credentials at hand, straight on to the consent; without,
/// the link is emailed and the account page says so.
pub async fn create(State(s): State<AppState>, member: Member, form: Posted<NewForm>) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    if !member.posted(&s, &f.csrf) {
        return forbidden_form(&s);
    }
    let created = match new_account(&f) {
        Ok(req) => accounts::create_account(&s, &member.principal, req)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match created {
        Ok(c) => match c.authorization_url {
            Some(url) => see_other(&url),
            None => see_other(&format!(
                "{}/console/accounts/{}?done=sent",
                super::base(&s),
                c.account.id
            )),
        },
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            let why = match &e.field {
                Some(field) => format!("{} ({})", e.message, field.replace('_', " ")),
                None => e.message.clone(),
            };
            new_form(&s, &member, &f, e.status, Some(&why)).await
        }
        Err(e) => problem(&s, e),
    }
}

/// The Account page's query: tab, search, filter, page.
#[derive(Deserialize, Default)]
pub struct AccountQuery {
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    tab: Option<String>,
    #[serde(default)]
    q: Option<String>,
    /// `all`, `protected`, `unprotected`, `deleted`, `new`.
    #[serde(default)]
    show: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// The order the cursor belongs to: `name` (default) or `id` (a search by words and
    /// emails).
    #[serde(default)]
    order: Option<String>,
}

/// One page of a tab as shown: a filtered or searched listing reads a bounded stretch per
/// call and may answer an empty page with a cursor, so it reads on (up to [`SEARCH_CALLS`]
/// stretches) before showing "nothing".
#[allow(clippy::too_many_arguments)]
async fn list_page(
    s: &AppState,
    member: &Member,
    id: &str,
    kind: ObjectKind,
    (protected, deleted, new): (Option<bool>, Option<bool>, Option<bool>),
    term: Option<&str>,
    mut cursor: Option<String>,
    order: ListOrder,
) -> Result<protection::Listing, ApiError> {
    let mut calls = 0;
    loop {
        calls += 1;
        let page = protection::list(
            s,
            &member.principal,
            id,
            kind,
            ListQuery {
                cursor: cursor.take(),
                limit: Some(PAGE),
                protected,
                deleted,
                new,
                q: term.map(str::to_owned),
                order: Some(order),
            },
        )
        .await?;
        if page.items.is_empty() && page.next_cursor.is_some() && calls < SEARCH_CALLS {
            cursor = page.next_cursor;
        } else {
            return Ok(page);
        }
    }
}

struct ObjectRow {
    id: String,
    name: String,
    email: String,
    protected: bool,
    deleted: bool,
    new: bool,
}

struct Tab {
    key: &'static str,
    label: &'static str,
    count: u64,
    current: bool,
}

struct AutoAddForm {
    users: bool,
    sites: bool,
    teams: bool,
    run_at: String,
    timezone: String,
    /// The next run in the chosen zone and in UTC.
    next_local: Option<String>,
    next_utc: Option<String>,
    /// The next run as RFC 3339, for the script to show it in the browser's own zone too.
    next_iso: Option<String>,
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage<'a> {
    chrome: &'a Chrome,
    notice: Option<&'a str>,
    id: &'a str,
    client: &'a str,
    badge: &'a str,
    badge_class: &'a str,
    cause: Option<String>,
    platform: &'a str,
    managed_by: &'a str,
    tenant: Option<&'a str>,
    missing: Vec<String>,
    waiting: bool,
    disabled: bool,
    sent_to: &'a str,
    link_expires: String,
    discovery: &'a str,
    busy: bool,
    users: u64,
    groups: u64,
    teams: u64,
    sites: u64,
    protected_users: u64,
    last_run: String,
    tabs: Vec<Tab>,
    tab: &'static str,
    tab_label: &'static str,
    protectable: bool,
    /// This tab's query (tab, search, filter), for the forms' way back and the next page.
    back: String,
    /// The search also looked in later words of names and in emails (no name starts with it,
    /// or it is an address).
    broad: bool,
    next_href: Option<String>,
    q: &'a str,
    show: &'a str,
    objects: Vec<ObjectRow>,
    auto_add: AutoAddForm,
    offboarding: Vec<&'static str>,
    delete_at: Option<String>,
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

/// Whether discovery is waiting or running (the page polls its progress meanwhile).
fn busy(a: &AccountItem, now: chrono::DateTime<chrono::Utc>) -> bool {
    crate::repo::jobs::in_flight(a, now) || matches!(a.discovery.status, DiscoveryStatus::Running)
}

fn tab_of(tab: Option<&str>) -> ObjectKind {
    tab.and_then(ObjectKind::parse).unwrap_or(ObjectKind::Users)
}

fn label(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Users => "Users",
        ObjectKind::Sites => "Sites",
        ObjectKind::Teams => "Teams",
        ObjectKind::Groups => "Groups",
    }
}

/// The filter's query fields: (protected, deleted, new).
fn filter(show: &str) -> (Option<bool>, Option<bool>, Option<bool>) {
    match show {
        "protected" => (Some(true), None, None),
        "unprotected" => (Some(false), Some(false), None),
        "deleted" => (None, Some(true), None),
        "new" => (None, None, Some(true)),
        _ => (None, None, None),
    }
}

pub async fn account(
    State(s): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    q: Result<Query<AccountQuery>, QueryRejection>,
) -> Response {
    let q = q.map(|q| q.0).unwrap_or_default();
    let chrome = match chrome(&s, &member, "status").await {
        Ok(n) => n,
        Err(e) => return problem(&s, e),
    };
    let a = match accounts::get_account(&s, &member.principal, &id).await {
        Ok(a) => a,
        Err(e) => return problem(&s, e.into()),
    };
    let kind = tab_of(q.tab.as_deref());
    let show = q
        .show
        .as_deref()
        .filter(|v| matches!(*v, "protected" | "unprotected" | "deleted" | "new"))
        .unwrap_or("all");
    let (protected, deleted, new) = filter(show);
    let term = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    // A search looks for names starting with the term first (a seek in the name index); an
    // address, or a term no name starts with, is looked for in every word of the names and in
    // the emails (a scan, continued by "Search further").
    let mut order = match q.order.as_deref() {
        Some("id") => ListOrder::Id,
        Some(_) => ListOrder::Name,
        None if term.is_some_and(|t| t.contains('@')) => ListOrder::Id,
        None => ListOrder::Name,
    };
    let listing = match list_page(
        &s,
        &member,
        &id,
        kind,
        (protected, deleted, new),
        term,
        q.cursor.clone(),
        order,
    )
    .await
    {
        Ok(l) if l.items.is_empty() && term.is_some() && order == ListOrder::Name && q.cursor.is_none() => {
            order = ListOrder::Id;
            list_page(&s, &member, &id, kind, (protected, deleted, new), term, None, order).await
        }
        other => other,
    };
    let listing = match listing {
        Ok(l) => l,
        Err(e) => return problem(&s, e),
    };
    let now = s.clock.now();
    let new_since = now - chrono::Duration::days(protection::NEW_DAYS);
    let (badge, badge_class, cause) = badge(&a, now);
    let c = &a.discovery.counts;
    let tabs = [
        (ObjectKind::Users, c.users.total),
        (ObjectKind::Sites, c.sites.total),
        (ObjectKind::Teams, c.teams.total),
        (ObjectKind::Groups, c.groups.total),
    ]
    .into_iter()
    .map(|(k, count)| Tab {
        key: k.as_str(),
        label: label(k),
        count,
        current: k == kind,
    })
    .collect();
    let auto_add = match &a.auto_add {
        Some(x) => {
            // The next run, when auto add is on for some kind.
            let next = (x.users || x.sites || x.teams).then_some(x.next_run_at);
            AutoAddForm {
                users: x.users,
                sites: x.sites,
                teams: x.teams,
                run_at: x.run_at.to_string(),
                timezone: x.timezone.to_string(),
                next_local: next.map(|t| {
                    t.with_timezone(&x.timezone.tz())
                        .format("%a %-d %b %Y, %H:%M %Z")
                        .to_string()
                }),
                next_utc: next.map(|t| t.format("%a %-d %b %Y, %H:%M UTC").to_string()),
                next_iso: next.map(|t| t.to_rfc3339()),
            }
        }
        None => {
            let d = crate::schedule::DailyAt::default();
            AutoAddForm {
                users: false,
                sites: false,
                teams: false,
                run_at: d.run_at.to_string(),
                timezone: d.zone.to_string(),
                next_local: None,
                next_utc: None,
                next_iso: None,
            }
        }
    };
    let back = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("tab", kind.as_str())
        .append_pair("q", term.unwrap_or(""))
        .append_pair("show", show)
        .append_pair("order", if order == ListOrder::Id { "id" } else { "name" })
        .finish();
    let offboarding = match (&a.offboarding, a.status) {
        (Some(o), AccountStatus::Disabled) => lifecycle::offboarding_view(a.platform, o).remove_app_steps,
        _ => Vec::new(),
    };
    html(
        StatusCode::OK,
        &AccountPage {
            chrome: &chrome,
            notice: notice(q.done.as_deref()),
            id: a.id.as_str(),
            client: &a.client_name,
            badge,
            badge_class,
            cause,
            platform: a.platform.display_name(),
            managed_by: managed_by(a.managed_by),
            tenant: a.tenant_domain.as_deref().or(a.tenant_id.as_deref()),
            missing: a
                .missing_permissions
                .iter()
                .map(|p| crate::identity::described(p))
                .collect(),
            waiting: a.status == AccountStatus::WaitingForAuthorization,
            disabled: a.status == AccountStatus::Disabled,
            sent_to: a.link_sent_to.as_deref().unwrap_or(""),
            link_expires: when(a.link_expires_at),
            discovery: discovery_words(a.discovery.status, crate::repo::jobs::in_flight(&a, now)),
            busy: busy(&a, now),
            users: c.users.total,
            groups: c.groups.total,
            teams: c.teams.total,
            sites: c.sites.total,
            protected_users: c.users.protected,
            last_run: when(a.discovery.last_run_at),
            tabs,
            tab: kind.as_str(),
            tab_label: label(kind),
            protectable: ProtectKind::try_from(kind).is_ok() && chrome.manager && a.status != AccountStatus::Disabled,
            q: term.unwrap_or(""),
            show,
            objects: listing
                .items
                .into_iter()
                .map(|o| ObjectRow {
                    new: o.first_seen >= new_since,
                    id: o.id,
                    name: o.name,
                    email: o.email.or(o.url).unwrap_or_default(),
                    protected: o.protected,
                    deleted: o.deleted,
                })
                .collect(),
            next_href: listing.next_cursor.map(|c| {
                let mut q = url::form_urlencoded::Serializer::new(back.clone());
                q.append_pair("cursor", &c);
                format!("{}/console/accounts/{}?{}", chrome.base, a.id, q.finish())
            }),
            broad: term.is_some() && order == ListOrder::Id,
            back,
            auto_add,
            delete_at: a.offboarding.as_ref().map(|o| when(Some(o.delete_at))),
            offboarding,
        },
    )
}

/// `GET /console/accounts/{id}/progress`: discovery's state and counts, for the page's
/// polling (JSON, the session cookie's member only).
pub async fn progress(State(s): State<AppState>, member: Member, Path(id): Path<String>) -> Response {
    let a = match accounts::get_account(&s, &member.principal, &id).await {
        Ok(a) => a,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let now = s.clock.now();
    let c = &a.discovery.counts;
    let words = discovery_words(a.discovery.status, crate::repo::jobs::in_flight(&a, now));
    Json(serde_json::json!({
        "busy": busy(&a, now),
        "text": format!(
            "Discovery: {words} · {} users, {} groups, {} Teams, {} sites · last run {}",
            c.users.total, c.groups.total, c.teams.total, c.sites.total, when(a.discovery.last_run_at)
        ),
    }))
    .into_response()
}

/// Where an account action's answer goes.
enum Then {
    /// Back to the account page with this query (its notice, tab, search).
    Back(String),
    /// On elsewhere (the provider's consent).
    Leave(String),
}

/// A posted account action: checks the form's CSRF token first (403, nothing done), then the
/// role when the action needs more than operating.
async fn acted<F, Fut>(s: &AppState, member: &Member, csrf: &str, id: &str, needs: Permission, f: F) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Then, ApiError>>,
{
    if !member.posted(s, csrf) {
        return forbidden_form(s);
    }
    if !member.may(needs) {
        return not_allowed(s);
    }
    if uuid::Uuid::parse_str(id).is_err() {
        return problem(s, ApiError::not_found());
    }
    match f().await {
        Ok(Then::Leave(to)) => see_other(&to),
        Ok(Then::Back(query)) => see_other(&format!("{}/console/accounts/{id}?{query}", super::base(s))),
        Err(e) => problem(s, e),
    }
}

fn csrf_of(form: Posted) -> String {
    form.map(|f| f.0.csrf).unwrap_or_default()
}

pub async fn check(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, Permission::Operate, || async {
        authorization::check(&s, &member.principal, &id).await?;
        Ok(Then::Back("done=checked".to_owned()))
    })
    .await
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub async fn resend(
    State(s): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    form: Posted<ResendForm>,
) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    acted(&s, &member, &f.csrf, &id, Permission::Operate, || async {
        authorization::resend(&s, &member.principal, &id, &f.email).await?;
        Ok(Then::Back("done=resent".to_owned()))
    })
    .await
}

pub async fn refresh(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, Permission::Operate, || async {
        discovery::refresh(&s, &member.principal, &id).await?;
        Ok(Then::Back("done=refreshed".to_owned()))
    })
    .await
}

/// The reauthorization banner's Begin: on to the provider's consent for the missing
/// permissions.
pub async fn reauthorize(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, Permission::Operate, || async {
        let (url, _) = authorization::reauthorize(&s, &member.principal, &id, None).await?;
        Ok(Then::Leave(url))
    })
    .await
}

/// The protect form: `kind`, `protected` (`true`/`false`), and `ids` (repeated) or `all`.
/// Parsed by hand: a form's repeated field is a list, which `serde_urlencoded` cannot read.
pub async fn protect(State(s): State<AppState>, member: Member, Path(id): Path<String>, body: Bytes) -> Response {
    let (mut csrf, mut kind, mut protected, mut all, mut ids, mut back) =
        (String::new(), String::new(), None, false, Vec::new(), String::new());
    let mut toggled = false;
    for (k, v) in url::form_urlencoded::parse(&body) {
        if toggled && matches!(&*k, "ids" | "protected" | "all") {
            continue;
        }
        match &*k {
            "csrf" => csrf = v.into_owned(),
            "kind" => kind = v.into_owned(),
            "protected" => protected = Some(v == "true"),
            "all" => all = v == "true",
            "ids" => ids.push(v.into_owned()),
            // A row's own button: `p:<id>` protects that row, `u:<id>` unprotects it.
            "toggle" => match v.split_once(':') {
                Some((p, one)) => {
                    protected = Some(p == "p");
                    ids = vec![one.to_owned()];
                    all = false;
                    toggled = true;
                }
                None => toggled = true,
            },
            "back" => back = v.into_owned(),
            _ => {}
        }
    }
    acted(&s, &member, &csrf, &id, Permission::Manage, || async {
        let kind = ObjectKind::parse(&kind)
            .and_then(|k| ProtectKind::try_from(k).ok())
            .ok_or_else(|| ApiError::from(crate::domain::FieldError::new("kind", "choose users, sites or Teams")))?;
        let protected =
            protected.ok_or_else(|| ApiError::from(crate::domain::FieldError::new("protected", "is required")))?;
        if !all && ids.is_empty() {
            return Err(crate::domain::FieldError::new("ids", "select at least one row, or use Protect all").into());
        }
        let req = ProtectRequest {
            kind,
            ids: (!all).then_some(ids),
            all,
            protected,
        };
        protection::set_protection(&s, &member.principal, &id, req).await?;
        // Back to the same tab, search and filter (only this page's own query keys).
        let keep: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(back.as_bytes())
                    .filter(|(k, _)| matches!(&**k, "tab" | "q" | "show" | "order")),
            )
            .finish();
        Ok(Then::Back(format!("done=protected&{keep}")))
    })
    .await
}

#[derive(Deserialize)]
pub struct AutoAddFormIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    users: Option<String>,
    #[serde(default)]
    sites: Option<String>,
    #[serde(default)]
    teams: Option<String>,
    #[serde(default)]
    run_at: String,
    #[serde(default)]
    timezone: String,
}

pub async fn auto_add(
    State(s): State<AppState>,
    member: Member,
    Path(id): Path<String>,
    form: Posted<AutoAddFormIn>,
) -> Response {
    let Ok(axum::Form(f)) = form else {
        return forbidden_form(&s);
    };
    acted(&s, &member, &f.csrf, &id, Permission::Manage, || async {
        let req = AutoAddRequest {
            users: f.users.is_some(),
            sites: f.sites.is_some(),
            teams: f.teams.is_some(),
            run_at: optional(&f.run_at),
            timezone: optional(&f.timezone),
        };
        protection::set_auto_add(&s, &member.principal, &id, req).await?;
        Ok(Then::Back("done=auto_add".to_owned()))
    })
    .await
}

pub async fn disable(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, Permission::Manage, || async {
        lifecycle::disable(&s, &member.principal, &id).await?;
        Ok(Then::Back("done=disabled".to_owned()))
    })
    .await
}

pub async fn enable(State(s): State<AppState>, member: Member, Path(id): Path<String>, form: Posted) -> Response {
    let csrf = csrf_of(form);
    acted(&s, &member, &csrf, &id, Permission::Manage, || async {
        lifecycle::enable(&s, &member.principal, &id).await?;
        Ok(Then::Back("done=enabled".to_owned()))
    })
    .await
}
