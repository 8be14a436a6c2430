//! The HTTP layer: one axum router per Lambda function, all built from the same handlers and
//! layers. Locally the full [`router`] runs under `axum::serve`; on Lambda each function runs
//! its [`router_for`] under `lambda_http::run`; tests drive the same routers with `oneshot`.

mod accounts;
mod audit;
mod consent;
pub mod console;
mod discovery;
pub mod error;
pub mod extract;
pub mod headers;
mod members;
mod offers;
pub mod openapi;
pub mod pages;
mod signup;
pub mod views;

use crate::services::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{delete, get, patch, post, put};
use error::ApiError;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Largest accepted request body. Every JSON body of this API is far smaller.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Which function's routes a router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Everything (the local server).
    All,
    /// Signup, resend, sessions, `me`, password reset.
    Signup,
    /// Code confirmation and the activate link.
    Confirm,
    /// Clients and SaaS accounts.
    Api,
    /// Checking and resending authorization.
    Resend,
    /// Emailed authorization links, provider callbacks and the pages they lead to.
    ConsentCallback,
}

fn signup_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/signup", post(signup::sign_up))
        .route("/v1/signup/resend", post(signup::resend))
        .route("/v1/sessions", post(signup::sign_in))
        .route("/v1/sessions/current", delete(signup::sign_out))
        .route("/v1/me", get(signup::me))
        .route("/v1/password/forgot", post(signup::forgot_password))
        .route("/v1/password/reset", post(signup::reset_password))
        .route("/password/reset", get(signup::reset_page))
        .route("/invitations/{token}", get(members::invitation_page))
        .route("/v1/invitations/accept", post(members::accept))
}

fn confirm_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/signup/confirm", post(signup::confirm))
        .route("/v1/signup/activate", get(signup::activate_page).post(signup::activate))
}

fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/clients", post(accounts::create_client).get(accounts::list_clients))
        .route(
            "/v1/accounts",
            post(accounts::create_account).get(accounts::list_accounts),
        )
        .route("/v1/accounts/{id}", get(accounts::get_account))
        .route("/v1/accounts/{id}/reauthorization", post(accounts::reauthorize))
        .route("/v1/accounts/{id}/disable", post(accounts::disable))
        .route("/v1/accounts/{id}/enable", post(accounts::enable))
        .route("/v1/accounts/{id}/discovery", post(discovery::refresh))
        .route("/v1/accounts/{id}/users", get(discovery::users))
        .route("/v1/accounts/{id}/groups", get(discovery::groups))
        .route("/v1/accounts/{id}/teams", get(discovery::teams))
        .route("/v1/accounts/{id}/sites", get(discovery::sites))
        .route("/v1/accounts/{id}/protection", post(discovery::protect))
        .route("/v1/accounts/{id}/auto-add", put(discovery::auto_add))
        .route("/v1/audit", get(audit::list))
        .route("/v1/offers", get(offers::list).post(offers::create))
        .route("/v1/offers/{id}", delete(offers::disable))
        .route("/v1/members", get(members::list).post(members::invite))
        .route(
            "/v1/members/{email}",
            patch(members::change_role).delete(members::remove),
        )
        .route("/openapi.json", get(openapi::serve))
        .merge(console::routes())
}

fn resend_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts/{id}/authorization/check", post(accounts::check))
        .route("/v1/accounts/{id}/authorization/resend", post(accounts::resend))
}

fn callback_routes() -> Router<AppState> {
    Router::new()
        .route("/authorize/{token}", get(consent::landing))
        .route("/authorize/{token}/start", get(consent::start))
        .route("/authorize/done/{token}", get(consent::setup_started))
        .route("/v1/callback/microsoft", get(consent::microsoft))
        .route("/v1/callback/google", get(consent::google))
        .route("/offer/{code}", get(offers::offer_page).post(offers::start))
}

fn common_routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

// One constructor per function, called by that function's `main`, so a bootstrap links only
// its own handlers (a runtime choice among all of them would link every handler in each).

/// The `signup` function's router.
pub fn signup_router(state: AppState) -> Router {
    with_layers(common_routes().merge(signup_routes()), state)
}

/// The `confirm` function's router.
pub fn confirm_router(state: AppState) -> Router {
    with_layers(common_routes().merge(confirm_routes()), state)
}

/// The `api` function's router.
pub fn api_router(state: AppState) -> Router {
    with_layers(common_routes().merge(api_routes()), state)
}

/// The `resend` function's router.
pub fn resend_router(state: AppState) -> Router {
    with_layers(common_routes().merge(resend_routes()), state)
}

/// The `consent-callback` function's router.
pub fn consent_callback_router(state: AppState) -> Router {
    with_layers(common_routes().merge(callback_routes()), state)
}

/// The whole API (local server).
pub fn router(state: AppState) -> Router {
    router_for(Function::All, state)
}

/// One function's routes with the shared layers (tests and the local server; each function's
/// `main` calls its own constructor above).
pub fn router_for(function: Function, state: AppState) -> Router {
    match function {
        Function::All => with_layers(
            common_routes()
                .merge(signup_routes())
                .merge(confirm_routes())
                .merge(api_routes())
                .merge(resend_routes())
                .merge(callback_routes()),
            state,
        ),
        Function::Signup => signup_router(state),
        Function::Confirm => confirm_router(state),
        Function::Api => api_router(state),
        Function::Resend => resend_router(state),
        Function::ConsentCallback => consent_callback_router(state),
    }
}

/// The shared layers: body limit, CORS, request IDs, tracing, security headers. Only the trace
/// layer wraps each route (its span names the matched route, known once routed); the others
/// wrap the routed whole once, so a cold start does not build them for each of ~100 routes.
fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let cors = cors(&state.allowed_origins);
    let request_id = HeaderName::from_static("x-request-id");
    let links = state.links.clone();
    let routed = routes
        .fallback(|| async { ApiError::not_found() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(axum::http::StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here.")
        })
        .layer(
            // Spans name the matched route, never the full URI: query strings carry tokens.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
                let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                tracing::info_span!("request", method = %req.method(), route, request_id = id, partner_id = tracing::field::Empty, account_id = tracing::field::Empty)
            }),
        )
        .with_state(state);
    let whole = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(cors)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .service(routed);
    headers::secure(Router::new().fallback_service(whole), &links)
}

/// The local server's whole app: [`router`] (the console included) and `extra` routes (the
/// sandbox provider when it is served), every answer with the security headers.
pub fn local(state: AppState, extra: Router) -> Router {
    let links = state.links.clone();
    headers::secure(router(state).merge(extra), &links)
}

fn cors(origins: &[String]) -> CorsLayer {
    // The configuration refuses `*` (tower-http would panic on it in a list); skip it anyway.
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| o.as_str() != "*")
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}
