//! `GET /openapi.json`: the HTTP contract (`shared/api.md`) as OpenAPI 3.1, generated with
//! utoipa from the operation descriptions below. The wire shapes are described here, next to
//! one another, rather than by deriving schemas on domain types (which know nothing of HTTP).
//! `tests/openapi.rs` fails when a route of the contract is missing from the document or when
//! a documented route is not served.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    /// snake_case, stable: `malformed_json`, `invalid_field`, `unauthorized`, `not_found`,
    /// `conflict`, `payload_too_large`, `rate_limited`, `invalid_code`, `code_expired`, ...
    code: String,
    /// A human sentence.
    message: String,
    /// The field at fault (422).
    field: Option<String>,
}

#[derive(ToSchema)]
pub struct SignupBody {
    organization: String,
    email: String,
    /// 12 to 128 characters, not a common password.
    password: String,
}

#[derive(ToSchema)]
pub struct EmailBody {
    email: String,
}

#[derive(ToSchema)]
pub struct OptionalEmailBody {
    email: Option<String>,
}

#[derive(ToSchema)]
pub struct ConfirmBody {
    email: String,
    /// Six digits.
    code: String,
}

#[derive(ToSchema)]
pub struct SignInBody {
    email: String,
    password: String,
}

#[derive(ToSchema)]
pub struct TokenForm {
    token: String,
}

#[derive(ToSchema)]
pub struct ResetBody {
    token: String,
    /// The signup rules: 12 to 128 characters, not guessable.
    password: String,
}

#[derive(ToSchema)]
pub struct Accepted {
    status: String,
}

#[derive(ToSchema)]
pub struct Session {
    token: String,
    expires_at: DateTime<Utc>,
    partner_id: Option<String>,
}

#[derive(ToSchema)]
pub struct Me {
    partner: serde_json::Value,
    member: serde_json::Value,
}

#[derive(ToSchema)]
pub struct NewClient {
    name: String,
    contact_email: Option<String>,
}

#[derive(ToSchema)]
pub struct Client {
    id: String,
    name: String,
    contact_email: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct ClientList {
    items: Vec<Client>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Platform {
    Microsoft365,
    GoogleWorkspace,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ManagedBy {
    Partner,
    Client,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum AccountStatus {
    WaitingForAuthorization,
    Active,
    ReauthorizationRequired,
    AccessRevoked,
    Disabled,
}

#[derive(ToSchema)]
pub struct NewAccount {
    /// An existing client, or `client_name` to create one.
    client_id: Option<String>,
    client_name: Option<String>,
    platform: Platform,
    managed_by: ManagedBy,
    has_admin_credentials: bool,
    /// Tenant ID (GUID) or domain (Microsoft), primary domain (Google).
    tenant: Option<String>,
    authorization_email: Option<String>,
}

#[derive(ToSchema)]
pub struct Authorization {
    sent_to: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    expired: bool,
    authorized_at: Option<DateTime<Utc>>,
    /// On creation: `sent` or `failed`.
    delivery: Option<String>,
    /// On `authorization/check` of an account still waiting: what must happen next (a
    /// consent completes only through the link, never by a token alone).
    next_step: Option<String>,
}

#[derive(ToSchema)]
pub struct Discovery {
    /// `not_started`, `due`, `running`, `done`, `partial` (continues at the next run), `failed`.
    status: String,
    due_at: Option<DateTime<Utc>>,
    last_run_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    /// Why the last run failed, for a person.
    error: Option<String>,
    users: u64,
    groups: u64,
    teams: u64,
    sites: u64,
    protected: ProtectedCounts,
    deleted: DeletedCounts,
}

#[derive(ToSchema)]
pub struct ProtectedCounts {
    users: u64,
    teams: u64,
    sites: u64,
}

#[derive(ToSchema)]
pub struct DeletedCounts {
    users: u64,
    groups: u64,
    teams: u64,
    sites: u64,
}

#[derive(ToSchema)]
pub struct AutoAddResult {
    protected: u64,
    /// New objects left unprotected because the seat limit was reached.
    left_out: u64,
    left_out_ids: Vec<String>,
}

#[derive(ToSchema)]
pub struct AutoAdd {
    users: bool,
    sites: bool,
    teams: bool,
    /// `HH:MM`, local to `timezone`.
    run_at: String,
    /// IANA time zone, e.g. `Australia/Sydney`.
    timezone: String,
    /// The next run, in UTC.
    next_run_at: DateTime<Utc>,
    last_run_at: Option<DateTime<Utc>>,
    last_result: Option<AutoAddResult>,
}

#[derive(ToSchema)]
pub struct AutoAddBody {
    users: Option<bool>,
    sites: Option<bool>,
    teams: Option<bool>,
    /// Default `20:00`.
    run_at: Option<String>,
    /// Default `Australia/Sydney`.
    timezone: Option<String>,
}

#[derive(ToSchema)]
pub struct DiscoveredObject {
    id: String,
    name: String,
    email: Option<String>,
    /// Sites only.
    url: Option<String>,
    enabled: bool,
    protected: bool,
    /// Removed from the tenant; kept and listed (a protected one keeps its seat).
    deleted: bool,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct ObjectPage {
    items: Vec<DiscoveredObject>,
    /// Pass as `cursor` for the next page; absent on the last.
    next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct ProtectBody {
    /// `users`, `sites` or `teams`.
    kind: String,
    /// 1 to 1000 IDs; or `all: true`.
    ids: Option<Vec<String>>,
    all: Option<bool>,
    protected: bool,
}

#[derive(ToSchema)]
pub struct Seats {
    used: u64,
    limit: u64,
}

#[derive(ToSchema)]
pub struct ProtectOutcome {
    kind: String,
    changed: u64,
    protected: u64,
    total: u64,
    seats: Seats,
}

#[derive(ToSchema)]
pub struct RunKind {
    kind: String,
    full: bool,
    partial: bool,
    pages: u64,
    seen: u64,
    added: u64,
    changed: u64,
    removed: u64,
    restored: u64,
}

#[derive(ToSchema)]
pub struct DiscoveryRun {
    account_id: String,
    /// `done`, `partial`, `failed`, `revoked`, `app_credentials`, `busy`.
    outcome: String,
    detail: Option<String>,
    missing_permissions: Vec<String>,
    kinds: Vec<RunKind>,
}

#[derive(ToSchema)]
pub struct Refreshed {
    account: Account,
    run: DiscoveryRun,
}

#[derive(ToSchema)]
pub struct Account {
    id: String,
    client_id: String,
    client_name: String,
    platform: Platform,
    managed_by: ManagedBy,
    status: AccountStatus,
    tenant: Option<String>,
    tenant_id: Option<String>,
    tenant_domain: Option<String>,
    authorization: Authorization,
    missing_permissions: Vec<String>,
    discovery: Discovery,
    auto_add: Option<AutoAdd>,
    created_at: DateTime<Utc>,
    /// With admin credentials: the provider's consent page, to open now.
    authorization_url: Option<String>,
}

#[derive(ToSchema)]
pub struct AccountList {
    items: Vec<Account>,
}

#[derive(ToSchema)]
pub struct LinkSent {
    sent_to: String,
    expires_at: DateTime<Utc>,
}

#[derive(ToSchema)]
pub struct Reauthorization {
    authorization_url: String,
    sent_to: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/health", tag = "service", responses((status = 200, description = "Up")))]
fn health() {}

#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, description = "This document")))]
fn openapi_json() {}

#[utoipa::path(post, path = "/v1/signup", tag = "signup", request_body = SignupBody, responses(
    (status = 202, body = Accepted, description = "Code and activate link mailed (same answer for a registered address)"),
    (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "invalid_field or weak_password"),
    (status = 429, body = ErrorBody, headers(("Retry-After" = u32)))))]
fn sign_up() {}

#[utoipa::path(post, path = "/v1/signup/resend", tag = "signup", request_body = EmailBody, responses(
    (status = 202, body = Accepted), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody, headers(("Retry-After" = u32)))))]
fn resend_code() {}

#[utoipa::path(post, path = "/v1/signup/confirm", tag = "signup", request_body = ConfirmBody, responses(
    (status = 200, body = Session), (status = 400, body = ErrorBody), (status = 410, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "invalid_code"),
    (status = 429, body = ErrorBody, description = "too_many_attempts", headers(("Retry-After" = u32)))))]
fn confirm() {}

#[utoipa::path(get, path = "/v1/signup/activate", tag = "signup", params(("token" = String, Query)), responses(
    (status = 200, content_type = "text/html", description = "A page with one button that POSTs the token; changes nothing"),
    (status = 404, content_type = "text/html"), (status = 410, content_type = "text/html")))]
fn activate_page() {}

#[utoipa::path(post, path = "/v1/signup/activate", tag = "signup",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 200, content_type = "text/html", description = "Activated, with a link to the console"),
    (status = 404, content_type = "text/html"), (status = 410, content_type = "text/html")))]
fn activate() {}

#[utoipa::path(post, path = "/v1/password/forgot", tag = "sessions", request_body = EmailBody, responses(
    (status = 202, body = Accepted, description = "Always (a registered address gets a single-use reset link valid 1 hour)"),
    (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "Too many requests from this source IP", headers(("Retry-After" = u32)))))]
fn forgot_password() {}

#[utoipa::path(get, path = "/password/reset", tag = "pages", params(("token" = String, Query)), responses(
    (status = 200, content_type = "text/html", description = "The new-password form; changes nothing"),
    (status = 404, content_type = "text/html"), (status = 410, content_type = "text/html")))]
fn reset_page() {}

#[utoipa::path(post, path = "/v1/password/reset", tag = "sessions",
    request_body(content = ResetBody, content_type = "application/json",
        description = "Or the same fields as `application/x-www-form-urlencoded` (then the answers are HTML pages)"),
    responses(
    (status = 200, body = Accepted, description = "Password changed; every session of the member ended"),
    (status = 400, body = ErrorBody), (status = 410, body = ErrorBody, description = "reset_link_expired: used or expired"),
    (status = 422, body = ErrorBody, description = "weak_password (field password) or invalid_field (field token)")))]
fn reset_password() {}

#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignInBody, responses(
    (status = 200, body = Session), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "5 failures for the address (or 100 from the source IP) in 15 minutes",
        headers(("Retry-After" = u32)))))]
fn sign_in() {}

#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("bearer" = [])), responses(
    (status = 204), (status = 401, body = ErrorBody)))]
fn sign_out() {}

#[utoipa::path(get, path = "/v1/me", tag = "sessions", security(("bearer" = [])), responses(
    (status = 200, body = Me), (status = 401, body = ErrorBody)))]
fn me() {}

#[utoipa::path(post, path = "/v1/clients", tag = "accounts", security(("bearer" = [])), request_body = NewClient, responses(
    (status = 201, body = Client), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
fn create_client() {}

#[utoipa::path(get, path = "/v1/clients", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = ClientList), (status = 401, body = ErrorBody)))]
fn list_clients() {}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", security(("bearer" = [])), request_body = NewAccount, responses(
    (status = 201, body = Account), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "Over an authorization-mail limit (per address 1 a minute, per partner 50 a day): the account is not created", headers(("Retry-After" = u32))),
    (status = 503, body = ErrorBody)))]
fn create_account() {}

#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = AccountList), (status = 401, body = ErrorBody)))]
fn list_accounts() {}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = Account), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
fn get_account() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/authorization/check", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, body = Account, description = "Re-evaluated; an expired unused link is replaced and re-sent"),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "Checked within the last minute, or the re-send would pass a mail limit", headers(("Retry-After" = u32))),
    (status = 502, body = ErrorBody)))]
fn check() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/authorization/resend", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = EmailBody, responses(
    (status = 202, body = LinkSent), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "Over a mail limit: per account 5 an hour and 20 a day, per address 1 a minute, per partner 50 a day", headers(("Retry-After" = u32))),
    (status = 503, body = ErrorBody)))]
fn resend() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/reauthorization", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path)), request_body(content = OptionalEmailBody, description = "optional"), responses(
    (status = 200, body = Reauthorization), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "With an email: over a mail limit", headers(("Retry-After" = u32)))))]
fn reauthorize() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/discovery", tag = "discovery", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 202, body = Refreshed, description = "Discovery ran now (within 20 s; a longer one continues at the next scheduled run)"),
    (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Not authorized, or access revoked"),
    (status = 429, body = ErrorBody, description = "Refreshed within the last minute", headers(("Retry-After" = u32)))))]
fn refresh() {}

#[utoipa::path(get, path = "/v1/accounts/{id}/users", tag = "discovery", security(("bearer" = [])),
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 500, default 100"),
           ("protected" = Option<bool>, Query), ("deleted" = Option<bool>, Query)), responses(
    (status = 200, body = ObjectPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
fn list_users() {}

#[utoipa::path(get, path = "/v1/accounts/{id}/groups", tag = "discovery", security(("bearer" = [])),
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query),
           ("protected" = Option<bool>, Query), ("deleted" = Option<bool>, Query)), responses(
    (status = 200, body = ObjectPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
fn list_groups() {}

#[utoipa::path(get, path = "/v1/accounts/{id}/teams", tag = "discovery", security(("bearer" = [])),
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query),
           ("protected" = Option<bool>, Query), ("deleted" = Option<bool>, Query)), responses(
    (status = 200, body = ObjectPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
fn list_teams() {}

#[utoipa::path(get, path = "/v1/accounts/{id}/sites", tag = "discovery", security(("bearer" = [])),
    params(("id" = String, Path), ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query),
           ("protected" = Option<bool>, Query), ("deleted" = Option<bool>, Query)), responses(
    (status = 200, body = ObjectPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
fn list_sites() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/protection", tag = "discovery", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ProtectBody, responses(
    (status = 200, body = ProtectOutcome), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "Unknown account or IDs; nothing changed"),
    (status = 409, body = ErrorBody, description = "Over the seat limit; nothing changed"), (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
fn protect() {}

#[utoipa::path(put, path = "/v1/accounts/{id}/auto-add", tag = "discovery", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AutoAddBody, responses(
    (status = 200, body = AutoAdd), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "Bad run_at or timezone")))]
fn auto_add() {}

#[utoipa::path(get, path = "/authorize/{token}", tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, content_type = "text/html", description = "Who asks, for which tenant, what access, one button"),
    (status = 404, content_type = "text/html"), (status = 410, content_type = "text/html", description = "Expired, replaced or used")))]
fn landing() {}

#[utoipa::path(get, path = "/authorize/{token}/start", tag = "pages", params(("token" = String, Path)), responses(
    (status = 302, description = "To Microsoft admin consent or Google OAuth", headers(("Location" = String))),
    (status = 404, content_type = "text/html"), (status = 410, content_type = "text/html")))]
fn start() {}

#[utoipa::path(get, path = "/authorize/done/{token}", tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, content_type = "text/html", description = "Protection is being set up"),
    (status = 404, content_type = "text/html")))]
fn done() {}

#[utoipa::path(get, path = "/v1/callback/microsoft", tag = "pages", params(
    ("admin_consent" = Option<String>, Query), ("tenant" = Option<String>, Query), ("state" = Option<String>, Query),
    ("error" = Option<String>, Query), ("error_description" = Option<String>, Query)), responses(
    (status = 302, description = "Partners: CONSOLE_URL/accounts/{id}; clients: the setup page", headers(("Location" = String))),
    (status = 400, content_type = "text/html", description = "Declined, wrong account, forged or missing state..."),
    (status = 403, content_type = "text/html"), (status = 409, content_type = "text/html", description = "Tenant mismatch or owned"),
    (status = 410, content_type = "text/html", description = "Expired or used state"),
    (status = 502, content_type = "text/html", description = "Provider unavailable: try again")))]
fn callback_microsoft() {}

#[utoipa::path(get, path = "/v1/callback/google", tag = "pages", params(
    ("code" = Option<String>, Query), ("state" = Option<String>, Query), ("error" = Option<String>, Query)), responses(
    (status = 302, headers(("Location" = String))), (status = 400, content_type = "text/html"),
    (status = 403, content_type = "text/html"), (status = 409, content_type = "text/html"),
    (status = 410, content_type = "text/html"), (status = 502, content_type = "text/html")))]
fn callback_google() {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Onboarding API", description = "Partner signup, client tenants' consent, discovery."),
    paths(
        health, openapi_json, sign_up, resend_code, confirm, activate_page, activate, forgot_password, reset_page,
        reset_password, sign_in, sign_out, me, create_client,
        list_clients, create_account, list_accounts, get_account, check, resend, reauthorize, refresh, list_users,
        list_groups, list_teams, list_sites, protect, auto_add, landing, start, done, callback_microsoft, callback_google
    ),
    modifiers(&BearerAuth)
)]
struct Doc;

/// The whole contract.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = Doc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

pub async fn serve() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(openapi())
}
