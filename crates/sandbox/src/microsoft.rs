//! Microsoft's identity platform as the service calls it: the sign-in leg (authorize page,
//! single-use codes with PKCE, ID tokens, openid-configuration), admin consent and the token
//! endpoint (client credentials, authorization code).

use crate::{
    CLIENT_ID, CLIENT_SECRET, ConsentForm, ConsentPage, Faults, MicrosoftCode, S, Sandbox, back_to, html, oauth_error,
    problem, token_fault,
};
use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub(crate) fn granted_roles(faults: &Faults) -> Vec<String> {
    faults.granted_roles.clone().unwrap_or_else(|| {
        onboarding::identity::REQUIRED_MICROSOFT_ROLES
            .iter()
            .map(|r| (*r).to_owned())
            .collect()
    })
}

#[derive(Template)]
#[template(path = "sandbox/signin.html")]
pub(crate) struct SignInPage<'a> {
    client_id: &'a str,
    tenant_name: Option<&'a str>,
    hidden: Vec<(&'a str, String)>,
    choices: Vec<(String, String)>,
}

/// `(tenant ID, label)` pairs a sign-in or consent page offers.
pub(crate) type Choices = Vec<(String, String)>;

/// The tenant a page is for (its label), or the tenants to choose from (`organizations`);
/// `None` for an unknown tenant.
pub(crate) fn tenant_choice(sb: &Sandbox, tenant: &str) -> Option<(Option<String>, Choices)> {
    match tenant {
        "organizations" | "common" => {
            let tenants = sb.lock().tenants.clone();
            let choices = tenants
                .iter()
                .map(|t| (t.id.clone(), format!("{} ({})", t.name, t.domain)))
                .collect();
            Some((None, choices))
        }
        other => sb
            .find_tenant(other)
            .map(|t| (Some(format!("{} ({})", t.name, t.domain)), Vec::new())),
    }
}

/// The issuer base of this sandbox as the caller reached it: `http://{Host}/sandbox/microsoft`.
pub(crate) fn login_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/sandbox/microsoft")
}

/// `GET {login}/{tenant}/oauth2/v2.0/authorize`: the sign-in leg (OpenID Connect code flow).
pub(crate) async fn ms_sign_in_page(
    State(sb): S,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID {
        return problem(
            StatusCode::BAD_REQUEST,
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").is_empty()
        || !get("scope").split(' ').any(|s| s == "openid")
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "AADSTS900144: The request must carry response_type=code, scope openid and an S256 code_challenge.",
        );
    }
    let Some((tenant_name, choices)) = tenant_choice(&sb, &tenant) else {
        return problem(StatusCode::BAD_REQUEST, "AADSTS90002: Tenant not found.");
    };
    let mut hidden = vec![
        ("redirect_uri", get("redirect_uri")),
        ("state", get("state")),
        ("nonce", get("nonce")),
        ("code_challenge", get("code_challenge")),
    ];
    if choices.is_empty() {
        hidden.push(("tenant", tenant));
    }
    html(
        StatusCode::OK,
        &SignInPage {
            client_id: CLIENT_ID,
            tenant_name: tenant_name.as_deref(),
            hidden,
            choices,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    tenant: String,
    who: String,
    redirect_uri: String,
    state: String,
    #[serde(default)]
    nonce: String,
    code_challenge: String,
}

pub(crate) async fn ms_sign_in(State(sb): S, Form(f): Form<SignInForm>) -> Response {
    let Some(t) = sb.find_tenant(&f.tenant) else {
        return problem(StatusCode::BAD_REQUEST, "AADSTS90002: Tenant not found.");
    };
    let code = format!("ms-code-{}", B64.encode(onboarding::crypto::random_bytes::<18>()));
    sb.lock().microsoft_codes.insert(
        code.clone(),
        MicrosoftCode {
            tenant_id: t.id,
            domain: t.domain,
            admin: f.who == "admin",
            nonce: f.nonce,
            challenge: f.code_challenge,
            redirect_uri: f.redirect_uri.clone(),
        },
    );
    back_to(&f.redirect_uri, &[("code", &code), ("state", &f.state)])
}

/// `GET {login}/{tenant}/v2.0/.well-known/openid-configuration`: names the tenant's issuer.
pub(crate) async fn ms_openid_configuration(State(sb): S, headers: HeaderMap, Path(tenant): Path<String>) -> Response {
    let Some(t) = sb.find_tenant(&tenant) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    };
    let base = login_base(&headers);
    Json(json!({
        "issuer": format!("{base}/{}/v2.0", t.id),
        "authorization_endpoint": format!("{base}/{}/oauth2/v2.0/authorize", t.id),
        "token_endpoint": format!("{base}/{}/oauth2/v2.0/token", t.id),
        "tenant_region_scope": "WW",
    }))
    .into_response()
}

/// `grant_type=authorization_code` at the token endpoint: the sign-in code, once, with its
/// PKCE verifier; answers an ID token (HS256 here; real Entra signs RS256).
pub(crate) fn ms_redeem_code(sb: &Sandbox, headers: &HeaderMap, f: &HashMap<String, String>) -> Response {
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    let invalid_grant = |d: &str| oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let Some(c) = sb.lock().microsoft_codes.remove(get("code")) else {
        return invalid_grant("AADSTS54005: OAuth2 Authorization code was already redeemed or is not valid.");
    };
    if c.redirect_uri != get("redirect_uri") {
        return invalid_grant("AADSTS50148: The redirect_uri does not match the one of the authorization request.");
    }
    let verifier = get("code_verifier");
    if B64.encode(Sha256::digest(verifier.as_bytes())) != c.challenge {
        return invalid_grant(
            "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
    }
    let now = sb.clock.now().timestamp();
    let wids: Vec<&str> = if c.admin {
        vec![onboarding::identity::CONSENTING_ADMIN_ROLES[0]]
    } else {
        Vec::new()
    };
    let who = if c.admin { "admin" } else { "user" };
    let id_token = sb.sign(&json!({
        "aud": CLIENT_ID, "iss": format!("{}/{}/v2.0", login_base(headers), c.tenant_id),
        "tid": c.tenant_id, "nonce": c.nonce, "wids": wids, "iat": now, "nbf": now, "exp": now + 3600,
        "preferred_username": format!("{who}@{}", c.domain), "ver": "2.0",
    }));
    let access_token =
        sb.sign(&json!({ "aud": "00000003-0000-0000-c000-000000000000", "tid": c.tenant_id, "exp": now + 3600 }));
    Json(
        json!({ "token_type": "Bearer", "scope": "openid profile", "expires_in": 3600,
                 "access_token": access_token, "id_token": id_token }),
    )
    .into_response()
}

pub(crate) async fn ms_consent_page(
    State(sb): S,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let (client_id, redirect_uri, state) = (get("client_id"), get("redirect_uri"), get("state"));
    if client_id != CLIENT_ID {
        return problem(
            StatusCode::BAD_REQUEST,
            "AADSTS700016: Application not found in the directory.",
        );
    }
    let (tenant_name, choices) = match tenant_choice(&sb, &tenant) {
        Some(found) => found,
        None => {
            let d =
                format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.");
            return back_to(
                &redirect_uri,
                &[
                    ("error", "invalid_request"),
                    ("error_description", &d),
                    ("state", &state),
                ],
            );
        }
    };
    let mut hidden = vec![
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", state),
    ];
    if choices.is_empty() {
        hidden.push(("tenant", tenant));
    }
    let permissions = granted_roles(&sb.faults())
        .into_iter()
        .map(|r| format!("Microsoft Graph: {r} (application)"))
        .collect();
    html(
        StatusCode::OK,
        &ConsentPage {
            provider: "Microsoft",
            client_id: CLIENT_ID,
            tenant_name: tenant_name.as_deref(),
            permissions,
            action: "/sandbox/microsoft/consent",
            hidden,
            choices,
        },
    )
}

pub(crate) async fn ms_consent(State(sb): S, Form(f): Form<ConsentForm>) -> Response {
    if f.decision != "accept" {
        return back_to(
            &f.redirect_uri,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "AADSTS65004: User declined to consent to access the app.",
                ),
                ("state", &f.state),
            ],
        );
    }
    let Some(t) = f.tenant.as_deref().and_then(|t| sb.find_tenant(t)) else {
        return problem(StatusCode::BAD_REQUEST, "AADSTS90002: Tenant not found.");
    };
    let roles = granted_roles(&sb.faults());
    sb.lock().consents.insert(t.id.clone(), roles);
    back_to(
        &f.redirect_uri,
        &[
            ("admin_consent", "True"),
            ("tenant", &t.id),
            ("scope", onboarding::identity::http::GRAPH_DEFAULT_SCOPE),
            ("state", &f.state),
        ],
    )
}

pub(crate) async fn ms_token(
    State(sb): S,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = token_fault(&sb).await {
        return r;
    }
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    let grant = get("grant_type");
    if grant != "client_credentials" && grant != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: unsupported grant type.",
        );
    }
    if get("client_id") != CLIENT_ID {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    if get("client_secret") != CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    if sb.faults().client_secret_expired {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000222: The provided client secret keys for app are expired.",
        );
    }
    if grant == "authorization_code" {
        return ms_redeem_code(&sb, &headers, &f);
    }
    let Some(t) = sb.find_tenant(&tenant) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    };
    let Some(roles) = sb.lock().consents.get(&t.id).cloned() else {
        let d = format!(
            "AADSTS7000229: The client application {CLIENT_ID} is missing service principal in the tenant {}.",
            t.id
        );
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", &d);
    };
    let now = chrono::Utc::now().timestamp();
    let jwt = sb.sign(&json!({
        "aud": "https://graph.microsoft.com", "iss": format!("https://sts.windows.net/{}/", t.id),
        "tid": t.id, "roles": roles, "appid": CLIENT_ID, "iat": now, "nbf": now, "exp": now + 3599,
    }));
    Json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": jwt }))
        .into_response()
}
