//! `GET /openapi.json`: the HTTP contract (`shared/api.md`) as OpenAPI 3.1, generated with
//! utoipa. Request bodies and query parameters are the very types the handlers parse, each
//! field with the schema of the domain type its use case parses it into (constraints
//! included: `crate::domain::schema`); enums are the domain's and the store's own. Response
//! bodies are the very types the handlers serialize (`super::views`, the handlers' answer
//! types, the use cases' views), so the document cannot drift from what is sent. Every
//! status a route can answer is documented: the route's own below, and the ones every route
//! of a kind shares (malformed or mistyped bodies, sessions, unknown IDs, server failures) by
//! [`Statuses`]. `tests/openapi.rs` fails when a route of the contract is missing from the
//! document or when a documented route is not served; `scripts/contract-fuzz` runs
//! schemathesis against the served document.
// The functions below only carry the `#[utoipa::path]` of each route: never called.
#![allow(dead_code)]

use super::accounts::{
    AccountList, ClientList, ClientOut, LinkSent, NewClientBody, OptionalEmailBody, Reauthorization, ResendBody,
};
use super::discovery::Refreshed;
use super::error::ErrorBody;
use super::members::{AcceptBody, InviteBody, MemberList, RoleBody};
use super::offers::{OfferForm, OfferList};
use super::signup::{
    Accepted, ConfirmBody, EmailBody, MeOut, ResetBody, SessionOut, SignInBody, SignupBody, TokenQuery,
};
use super::views::{AccountView, AutoAddView, ObjectPage};
use crate::usecases::accounts::NewAccount;
use crate::usecases::audit::AuditPage;
use crate::usecases::consent::{GoogleCallback, MicrosoftCallback};
use crate::usecases::members::MemberView;
use crate::usecases::offers::{NewOffer, OfferView};
use crate::usecases::protection::{AutoAddRequest, ListQuery, ProtectOutcome, ProtectRequest};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

const RA: &str = "Retry-After";

#[utoipa::path(get, path = "/health", tag = "service", responses((status = 200, description = "Up")))]
fn health() {}

#[utoipa::path(get, path = "/openapi.json", tag = "service", responses((status = 200, description = "This document")))]
fn openapi_json() {}

#[utoipa::path(post, path = "/v1/signup", tag = "signup", request_body = SignupBody, responses(
    (status = 202, body = Accepted, description = "Code and activate link mailed (same answer for a registered address)"),
    (status = 422, body = ErrorBody, description = "invalid_field, or weak_password (a schema-valid password can be guessable)"),
    (status = 429, body = ErrorBody, description = "50 signups an hour per source IP, or a pending signup's resend limits", headers(("Retry-After" = u32)))))]
fn sign_up() {}

#[utoipa::path(post, path = "/v1/signup/resend", tag = "signup", request_body = EmailBody, responses(
    (status = 202, body = Accepted, description = "A new code for a pending signup (the same answer for any address)"),
    (status = 429, body = ErrorBody, description = "One a minute, a few in all", headers(("Retry-After" = u32)))))]
fn resend_code() {}

#[utoipa::path(post, path = "/v1/signup/confirm", tag = "signup", request_body = ConfirmBody, responses(
    (status = 200, body = SessionOut),
    (status = 410, body = ErrorBody, description = "code_expired or code_used"),
    (status = 422, body = ErrorBody, description = "invalid_code (a wrong code, or no pending signup for the address)"),
    (status = 429, body = ErrorBody, description = "too_many_attempts", headers(("Retry-After" = u32)))))]
fn confirm() {}

#[utoipa::path(get, path = "/v1/signup/activate", tag = "signup", params(TokenQuery), responses(
    (status = 200, body = String, content_type = "text/html", description = "A page with one button that POSTs the token; changes nothing"),
    (status = 404, body = String, content_type = "text/html", description = "Not a link of ours"),
    (status = 410, body = String, content_type = "text/html", description = "Expired, replaced or already used")))]
fn activate_page() {}

#[utoipa::path(post, path = "/v1/signup/activate", tag = "signup",
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 200, body = String, content_type = "text/html", description = "Activated, with a link to the console"),
    (status = 404, body = String, content_type = "text/html"), (status = 410, body = String, content_type = "text/html")))]
fn activate() {}

#[utoipa::path(post, path = "/v1/password/forgot", tag = "sessions", request_body = EmailBody, responses(
    (status = 202, body = Accepted, description = "Always (a registered address gets a single-use reset link valid 1 hour)"),
    (status = 429, body = ErrorBody, description = "Too many requests from this source IP", headers(("Retry-After" = u32)))))]
fn forgot_password() {}

#[utoipa::path(get, path = "/password/reset", tag = "pages", params(TokenQuery), responses(
    (status = 200, body = String, content_type = "text/html", description = "The new-password form; changes nothing"),
    (status = 404, body = String, content_type = "text/html"), (status = 410, body = String, content_type = "text/html")))]
fn reset_page() {}

#[utoipa::path(post, path = "/v1/password/reset", tag = "sessions",
    request_body(content(
        (ResetBody = "application/json"),
        (ResetBody = "application/x-www-form-urlencoded")),
        description = "JSON (answers JSON) or a form (answers HTML pages)"),
    responses(
    (status = 200, description = "Password changed; every session of the member ended", content(
        (Accepted = "application/json"), (String = "text/html"))),
    (status = 404, body = String, content_type = "text/html", description = "Form: not a reset link of ours"),
    (status = 410, description = "reset_link_expired: used or expired", content(
        (ErrorBody = "application/json"), (String = "text/html"))),
    (status = 422, description = "weak_password (field password) or invalid_field (field token: not a reset link of ours)", content(
        (ErrorBody = "application/json"), (String = "text/html")))))]
fn reset_password() {}

#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignInBody, responses(
    (status = 200, body = SessionOut), (status = 401, body = ErrorBody, description = "invalid_credentials"),
    (status = 429, body = ErrorBody, description = "5 failures for the address (or 100 from the source IP) in 15 minutes",
        headers(("Retry-After" = u32)))))]
fn sign_in() {}

#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("bearer" = [])), responses(
    (status = 204, description = "Signed out: this session ended")))]
fn sign_out() {}

#[utoipa::path(get, path = "/v1/me", tag = "sessions", security(("bearer" = [])), responses((status = 200, body = MeOut)))]
fn me() {}

#[utoipa::path(post, path = "/v1/clients", tag = "accounts", security(("bearer" = [])), request_body = NewClientBody, responses(
    (status = 201, body = ClientOut),
    (status = 409, body = ErrorBody, description = "conflict: one of your clients already has this name (case and spaces aside)")))]
fn create_client() {}

#[utoipa::path(get, path = "/v1/clients", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = ClientList)))]
fn list_clients() {}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", security(("bearer" = [])), request_body = NewAccount, responses(
    (status = 201, body = AccountView, description = "Created; a `client_name` naming one of your clients (case and spaces aside) uses that client"),
    (status = 409, body = ErrorBody, description = "conflict: a concurrent request created a client of the same name (try again)"),
    (status = 422, body = ErrorBody, description = "invalid_field; also `client_id` that is not one of your clients, or a client-managed account whose client has no contact email and no `authorization_email`"),
    (status = 429, body = ErrorBody, description = "Over an authorization-mail limit (per address 1 a minute, per partner 50 a day): the account is not created", headers(("Retry-After" = u32)))))]
fn create_account() {}

#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = AccountList)))]
fn list_accounts() {}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = AccountView)))]
fn get_account() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/authorization/check", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 200, body = AccountView, description = "Re-evaluated; an expired unused link is replaced and re-sent"),
    (status = 409, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "Checked within the last minute, or the re-send would pass a mail limit", headers(("Retry-After" = u32))),
    (status = 502, body = ErrorBody, description = "provider_unavailable")))]
fn check() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/authorization/resend", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ResendBody, responses(
    (status = 202, body = LinkSent), (status = 409, body = ErrorBody, description = "Already authorized, or disabled"),
    (status = 429, body = ErrorBody, description = "Over a mail limit: per account 5 an hour and 20 a day, per address 1 a minute, per partner 50 a day", headers(("Retry-After" = u32)))))]
fn resend() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/reauthorization", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    request_body(content = OptionalEmailBody, content_type = "application/json", description = "Optional: no body (or `{}`) asks for a URL only"),
    responses(
    (status = 200, body = Reauthorization), (status = 409, body = ErrorBody, description = "Disabled"),
    (status = 429, body = ErrorBody, description = "With an email: over a mail limit", headers(("Retry-After" = u32)))))]
fn reauthorize() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/discovery", tag = "discovery", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 202, body = Refreshed, description = "A discovery job is queued (the account's discovery status goes `queued`, `running`, `done`)"),
    (status = 409, body = ErrorBody, description = "not_authorized: not authorized, or access revoked"),
    (status = 429, body = ErrorBody, description = "Refreshed within the last minute", headers(("Retry-After" = u32)))))]
fn refresh() {}

macro_rules! listing {
    ($name:ident, $path:literal) => {
        #[utoipa::path(get, path = $path, tag = "discovery", security(("bearer" = [])),
            params(("id" = uuid::Uuid, Path), ListQuery), responses(
            (status = 200, body = ObjectPage),
            (status = 422, body = ErrorBody, description = "invalid_field: `limit` out of range, or a `cursor` that is not one of this listing"))
        )]
        fn $name() {}
    };
}
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(crate::usecases::audit::AuditQuery), responses(
    (status = 200, body = AuditPage, description = "The partner's audit log, newest first"),
    (status = 404, body = ErrorBody, description = "not_found: `account_id` is not one of your accounts"),
    (status = 422, body = ErrorBody, description = "invalid_field: `limit` out of range, or a `cursor` that is not one of this log")))]
fn audit_log() {}

listing!(list_users, "/v1/accounts/{id}/users");
listing!(list_groups, "/v1/accounts/{id}/groups");
listing!(list_teams, "/v1/accounts/{id}/teams");
listing!(list_sites, "/v1/accounts/{id}/sites");

#[utoipa::path(post, path = "/v1/accounts/{id}/protection", tag = "discovery", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ProtectRequest, responses(
    (status = 200, body = ProtectOutcome),
    (status = 404, body = ErrorBody, description = "not_found (the account) or unknown_ids (field ids); nothing changed"),
    (status = 409, body = ErrorBody, description = "seat_limit: over the seat limit; nothing changed")))]
fn protect() {}

#[utoipa::path(put, path = "/v1/accounts/{id}/auto-add", tag = "discovery", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AutoAddRequest, responses(
    (status = 200, body = AutoAddView)))]
fn auto_add() {}

#[utoipa::path(get, path = "/authorize/{token}", tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, body = String, content_type = "text/html", description = "Who asks, for which tenant, what access, one button"),
    (status = 404, body = String, content_type = "text/html"),
    (status = 410, body = String, content_type = "text/html", description = "Expired, replaced or used")))]
fn landing() {}

#[utoipa::path(get, path = "/authorize/{token}/start", tag = "pages", params(("token" = String, Path)), responses(
    (status = 302, description = "To the provider's sign-in (Microsoft) or consent (Google)", headers(("Location" = String))),
    (status = 404, body = String, content_type = "text/html"), (status = 410, body = String, content_type = "text/html")))]
fn start() {}

#[utoipa::path(get, path = "/authorize/done/{token}", tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, body = String, content_type = "text/html", description = "Protection is being set up"),
    (status = 404, body = String, content_type = "text/html")))]
fn done() {}

#[utoipa::path(get, path = "/v1/callback/microsoft", tag = "pages", params(MicrosoftCallback), responses(
    (status = 302, description = "Partners: CONSOLE_URL/accounts/{id}; clients: the setup page; or on to admin consent", headers(("Location" = String))),
    (status = 400, body = String, content_type = "text/html", description = "Declined, wrong account, forged or missing state..."),
    (status = 403, body = String, content_type = "text/html"),
    (status = 409, body = String, content_type = "text/html", description = "Tenant mismatch or owned"),
    (status = 410, body = String, content_type = "text/html", description = "Expired or used state"),
    (status = 502, body = String, content_type = "text/html", description = "Provider unavailable: try again")))]
fn callback_microsoft() {}

#[utoipa::path(get, path = "/v1/callback/google", tag = "pages", params(GoogleCallback), responses(
    (status = 302, headers(("Location" = String))), (status = 400, body = String, content_type = "text/html"),
    (status = 403, body = String, content_type = "text/html"), (status = 409, body = String, content_type = "text/html"),
    (status = 410, body = String, content_type = "text/html"), (status = 502, body = String, content_type = "text/html")))]
fn callback_google() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/disable", tag = "accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 200, body = AccountView, description = "Disabled (or already): discovery and auto-add stop, seats freed, tenant released; `offboarding` says how the client removes the app and when the objects are deleted"),
    (status = 403, body = ErrorBody, description = "forbidden: owners and admins only"),
    (status = 409, body = ErrorBody, description = "conflict: changed meanwhile")))]
fn disable_account() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/enable", tag = "accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 200, body = AccountView, description = "waiting_for_authorization: a fresh link is mailed (a new consent is needed); freed seats are taken again"),
    (status = 403, body = ErrorBody, description = "forbidden: owners and admins only"),
    (status = 409, body = ErrorBody, description = "conflict (not disabled) or seat_limit; nothing changed"),
    (status = 429, body = ErrorBody, description = "Over an authorization-mail limit", headers(("Retry-After" = u32)))))]
fn enable_account() {}

#[utoipa::path(post, path = "/v1/offers", tag = "offers", security(("bearer" = [])), request_body = NewOffer, responses(
    (status = 201, body = OfferView, description = "A reusable link (`url`) to publish; any client's administrator can onboard through it"),
    (status = 403, body = ErrorBody, description = "forbidden: owners and admins only"),
    (status = 409, body = ErrorBody, description = "conflict: 100 offers already")))]
fn create_offer() {}

#[utoipa::path(get, path = "/v1/offers", tag = "offers", security(("bearer" = [])), responses(
    (status = 200, body = OfferList, description = "Newest first, with `uses` (consents completed through each)")))]
fn list_offers() {}

#[utoipa::path(delete, path = "/v1/offers/{id}", tag = "offers", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 204, description = "Withdrawn (or already): the link answers 410 from now on"),
    (status = 403, body = ErrorBody, description = "forbidden: owners and admins only")))]
fn disable_offer() {}

#[utoipa::path(get, path = "/offer/{code}", tag = "pages", params(("code" = String, Path)), responses(
    (status = 200, body = String, content_type = "text/html", description = "Which partner offers protection; a form (organization, admin email); changes nothing"),
    (status = 410, body = String, content_type = "text/html", description = "Not an offer of ours, or withdrawn")))]
fn offer_page() {}

#[utoipa::path(post, path = "/offer/{code}", tag = "pages", params(("code" = String, Path)),
    request_body(content = OfferForm, content_type = "application/x-www-form-urlencoded"), responses(
    (status = 303, description = "A client and a client-managed account were created: on to the consent (`/authorize/{token}/start`)", headers(("Location" = String))),
    (status = 410, body = String, content_type = "text/html", description = "Not an offer of ours, or withdrawn"),
    (status = 422, body = String, content_type = "text/html", description = "The form again, naming the refused field"),
    (status = 429, body = String, content_type = "text/html", description = "20 starts an hour per offer, 10 per source IP", headers(("Retry-After" = u32)))))]
fn start_offer() {}

#[utoipa::path(get, path = "/v1/members", tag = "team", security(("bearer" = [])), responses(
    (status = 200, body = MemberList, description = "Members, then pending invitations")))]
fn list_members() {}

#[utoipa::path(post, path = "/v1/members", tag = "team", security(("bearer" = [])), request_body = InviteBody, responses(
    (status = 201, body = MemberView, description = "Invited: a single-use link valid 7 days is mailed (an earlier invitation of the address stops working)"),
    (status = 403, body = ErrorBody, description = "forbidden: technicians cannot manage members"),
    (status = 409, body = ErrorBody, description = "already_member (of this organization) or team_full"),
    (status = 422, body = ErrorBody, description = "invalid_field (role: owner cannot be invited)"),
    (status = 429, body = ErrorBody, description = "50 invitations a day per organization", headers(("Retry-After" = u32)))))]
fn invite_member() {}

#[utoipa::path(patch, path = "/v1/members/{email}", tag = "team", security(("bearer" = [])),
    params(("email" = String, Path, description = "The member's (or invited) address")), request_body = RoleBody, responses(
    (status = 200, body = MemberView),
    (status = 403, body = ErrorBody, description = "forbidden: technicians cannot manage members; only owners make, change or remove owners"),
    (status = 404, body = ErrorBody, description = "not_found: not a member or invitation of your organization"),
    (status = 409, body = ErrorBody, description = "last_owner: the only owner cannot be demoted; conflict: changed meanwhile"),
    (status = 422, body = ErrorBody, description = "invalid_field (an invited member cannot be made owner before joining)")))]
fn change_member_role() {}

#[utoipa::path(delete, path = "/v1/members/{email}", tag = "team", security(("bearer" = [])),
    params(("email" = String, Path, description = "The member's (or invited) address")), responses(
    (status = 204, description = "Removed (their sessions ended) or the invitation withdrawn"),
    (status = 403, body = ErrorBody, description = "forbidden: only owners and admins remove others (anyone may leave)"),
    (status = 404, body = ErrorBody, description = "not_found: not a member or invitation of your organization"),
    (status = 409, body = ErrorBody, description = "last_owner: the only owner cannot leave"),
    (status = 422, body = ErrorBody, description = "invalid_field: not an email address")))]
fn remove_member() {}

#[utoipa::path(get, path = "/invitations/{token}", tag = "pages", params(("token" = String, Path)), responses(
    (status = 200, body = String, content_type = "text/html", description = "Who invites, for which role, a password form; changes nothing"),
    (status = 409, body = String, content_type = "text/html", description = "The address already has an account"),
    (status = 410, body = String, content_type = "text/html", description = "Not ours, used, withdrawn, replaced or expired")))]
fn invitation_page() {}

#[utoipa::path(post, path = "/v1/invitations/accept", tag = "team",
    request_body(content(
        (AcceptBody = "application/json"),
        (AcceptBody = "application/x-www-form-urlencoded")),
        description = "JSON (answers JSON) or the invitation page's form (answers HTML pages)"),
    responses(
    (status = 200, description = "Joined and signed in", content(
        (SessionOut = "application/json"), (String = "text/html"))),
    (status = 409, description = "already_member: the address already has an account", content(
        (ErrorBody = "application/json"), (String = "text/html"))),
    (status = 410, description = "invitation_expired: not ours, used, withdrawn, replaced or expired", content(
        (ErrorBody = "application/json"), (String = "text/html"))),
    (status = 422, description = "weak_password, or a form without its fields", content(
        (ErrorBody = "application/json"), (String = "text/html")))))]
fn accept_invitation() {}

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

/// The rules across fields that the derives cannot say, added to the derived schemas of the
/// request types (each rule is the use case's own):
/// - `NewAccount`: `client_id`, or `client_name` (`accounts::create_account`);
/// - `ProtectRequest`: a non-empty `ids` list, or `all: true`, not both
///   (`protection::set_protection`).
struct CrossFieldRules;

fn present(field: &str, schema: ObjectBuilder) -> ObjectBuilder {
    ObjectBuilder::new().required(field).property(field, schema)
}

fn of_type(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::new(t))
}

impl Modify for CrossFieldRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let rules = [
            (
                "NewAccount",
                AnyOfBuilder::new()
                    .item(present("client_id", of_type(Type::String)))
                    .item(present("client_name", of_type(Type::String)))
                    .build(),
            ),
            (
                "ProtectRequest",
                AnyOfBuilder::new()
                    .item(
                        present("ids", of_type(Type::Array))
                            .property("all", of_type(Type::Boolean).enum_values(Some([false]))),
                    )
                    .item(
                        present("all", of_type(Type::Boolean).enum_values(Some([true])))
                            .property("ids", of_type(Type::Null)),
                    )
                    .build(),
            ),
        ];
        for (name, rule) in rules {
            if let Some(derived) = components.schemas.remove(name) {
                let schema = AllOfBuilder::new().item(derived).item(Schema::AnyOf(rule)).build();
                components
                    .schemas
                    .insert(name.to_owned(), RefOr::T(Schema::AllOf(schema)));
            }
        }
    }
}

/// The statuses every route of a kind can answer, added where a route does not say more:
/// JSON bodies (400 malformed, 413, 415 without `Content-Type: application/json`, 422), the
/// session (401), an unknown ID (404), a bad query (400), and server failures (500, 503).
/// HTML pages answer their failures as pages.
struct Statuses;

fn error(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

fn html(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "text/html",
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(SchemaType::new(Type::String))))
                .build(),
        )
        .build()
        .into()
}

impl Statuses {
    fn complete(path: &str, op: &mut Operation) {
        let page =
            op.tags.as_ref().is_some_and(|t| t.iter().any(|t| t == "pages")) || path.starts_with("/v1/signup/activate");
        let service = path == "/health" || path == "/openapi.json";
        let json_body = op
            .request_body
            .as_ref()
            .is_some_and(|b| matches!(b, RefOr::T(b) if b.content.contains_key("application/json")));
        // The optional body of reauthorization is read whatever its content type, and may
        // be left out.
        let any_content_type = path.ends_with("/reauthorization");
        if any_content_type && let Some(RefOr::T(b)) = op.request_body.as_mut() {
            b.required = Some(utoipa::openapi::Required::False);
        }
        let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
        let query = op.parameters.as_ref().is_some_and(|ps| {
            ps.iter().any(
                |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)),
            )
        });
        let mut add = |status: &str, r: RefOr<Response>| {
            op.responses.responses.entry(status.to_owned()).or_insert(r);
        };
        if json_body {
            add("400", error("malformed_json (not JSON) or malformed_request"));
            add("413", error("payload_too_large: over 64 KiB"));
            if !any_content_type {
                add(
                    "415",
                    error("unsupported_media_type: send `Content-Type: application/json`"),
                );
            }
            add(
                "422",
                error("invalid_field: a field is missing, mistyped, unknown or refused (`field` names it)"),
            );
        }
        if query && !page {
            add("400", error("malformed_query: an unknown or mistyped query parameter"));
        }
        if secured {
            add("401", error("unauthorized: no valid session"));
        }
        if path.contains("{id}") {
            add(
                "404",
                error("not_found: no such account of yours (another partner's IDs too)"),
            );
        }
        if !service {
            if page {
                add("500", html("Something went wrong"));
                add("503", html("Briefly unavailable: try again"));
            } else {
                add("500", error("internal: our failure (the cause is logged)"));
                add("503", error("store_unavailable or mail_unavailable: try again"));
            }
        }
    }
}

impl Modify for Statuses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                Self::complete(path, op);
                // Every 429 says when to try again.
                if let Some(RefOr::T(r)) = op.responses.responses.get_mut("429") {
                    r.headers.entry(RA.to_owned()).or_insert_with(|| {
                        HeaderBuilder::new()
                            .schema(Some(
                                ObjectBuilder::new()
                                    .schema_type(SchemaType::new(Type::Integer))
                                    .minimum(Some(1)),
                            ))
                            .description(Some("Seconds to wait"))
                            .build()
                            .into()
                    });
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Onboarding API", description = "Partner signup, client tenants' consent, discovery."),
    paths(
        health, openapi_json, sign_up, resend_code, confirm, activate_page, activate, forgot_password, reset_page,
        reset_password, sign_in, sign_out, me, create_client,
        list_clients, create_account, list_accounts, get_account, check, resend, reauthorize, refresh, list_users,
        list_groups, list_teams, list_sites, protect, auto_add, audit_log, disable_account, enable_account, create_offer, list_offers, disable_offer, offer_page,
        start_offer, list_members, invite_member,
        change_member_role, remove_member, invitation_page, accept_invitation, landing, start, done, callback_microsoft, callback_google
    ),
    modifiers(&BearerAuth, &Statuses, &CrossFieldRules)
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
