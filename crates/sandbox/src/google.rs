//! Google: the OAuth consent page, the token endpoint (authorization code with PKCE S256,
//! refresh tokens) and the Admin SDK Directory (users, customers).

use crate::{
    ConsentForm, ConsentPage, GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_CUSTOMER_ID, GOOGLE_DOMAIN, GoogleCode, S,
    Sandbox, back_to, bearer, html, oauth_error, problem, token_fault,
};
use axum::Json;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub(crate) async fn google_consent_page(Query(q): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("client_id") != GOOGLE_CLIENT_ID {
        return problem(
            StatusCode::BAD_REQUEST,
            "Error 401: invalid_client. The OAuth client was not found.",
        );
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return back_to(
            &get("redirect_uri"),
            &[("error", "invalid_request"), ("state", &get("state"))],
        );
    }
    let scopes = get("scope")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let hidden = vec![
        ("redirect_uri", get("redirect_uri")),
        ("state", get("state")),
        ("code_challenge", get("code_challenge")),
        ("access_type", get("access_type")),
        ("tenant", GOOGLE_CUSTOMER_ID.to_owned()),
    ];
    let name = format!("Northwind ({GOOGLE_DOMAIN})");
    html(
        StatusCode::OK,
        &ConsentPage {
            provider: "Google",
            client_id: GOOGLE_CLIENT_ID,
            tenant_name: Some(&name),
            permissions: scopes,
            action: "/sandbox/google/consent",
            hidden,
            choices: Vec::new(),
        },
    )
}

pub(crate) async fn google_consent(State(sb): S, Form(f): Form<ConsentForm>) -> Response {
    if f.decision != "accept" {
        return back_to(&f.redirect_uri, &[("error", "access_denied"), ("state", &f.state)]);
    }
    let code = format!("4/sandbox-{}", uuid::Uuid::new_v4().simple());
    sb.lock().google_codes.insert(
        code.clone(),
        GoogleCode {
            challenge: f.code_challenge,
            redirect_uri: f.redirect_uri.clone(),
            offline: f.access_type == "offline",
        },
    );
    back_to(
        &f.redirect_uri,
        &[
            ("code", &code),
            ("scope", &onboarding::identity::GOOGLE_SCOPES.join(" ")),
            ("state", &f.state),
        ],
    )
}

pub(crate) fn google_access_token(sb: &Sandbox) -> String {
    let token = format!("ya29.sandbox-{}", uuid::Uuid::new_v4().simple());
    sb.lock()
        .google_access
        .insert(token.clone(), chrono::Utc::now().timestamp() + 3599);
    token
}

pub(crate) async fn google_token(State(sb): S, Form(f): Form<HashMap<String, String>>) -> Response {
    if let Some(r) = token_fault(&sb).await {
        return r;
    }
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != GOOGLE_CLIENT_ID || get("client_secret") != GOOGLE_CLIENT_SECRET {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    let scope = onboarding::identity::GOOGLE_SCOPES.join(" ");
    match get("grant_type") {
        "authorization_code" => {
            let Some(code) = sb.lock().google_codes.remove(get("code")) else {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Malformed auth code.");
            };
            let challenge = B64.encode(Sha256::digest(get("code_verifier").as_bytes()));
            if challenge != code.challenge || code.redirect_uri != get("redirect_uri") {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid code verifier.");
            }
            let access = google_access_token(&sb);
            let mut body =
                json!({ "access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer" });
            if code.offline {
                let refresh = format!("1//sandbox-{}", uuid::Uuid::new_v4().simple());
                sb.lock().google_refresh.insert(refresh.clone(), ());
                body["refresh_token"] = json!(refresh);
            }
            Json(body).into_response()
        }
        "refresh_token" => {
            if !sb.lock().google_refresh.contains_key(get("refresh_token")) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            }
            let access = google_access_token(&sb);
            Json(json!({ "access_token": access, "expires_in": 3599, "scope": scope, "token_type": "Bearer" }))
                .into_response()
        }
        _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Invalid grant_type."),
    }
}

pub(crate) async fn google_users(
    State(sb): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(s) = sb.faults().graph_status.and_then(|s| StatusCode::from_u16(s).ok()) {
        return (
            s,
            Json(json!({ "error": { "code": s.as_u16(), "message": "Injected by the sandbox." } })),
        )
            .into_response();
    }
    let now = chrono::Utc::now().timestamp();
    let valid = bearer(&headers)
        .and_then(|t| sb.lock().google_access.get(t).copied())
        .is_some_and(|exp| exp > now);
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": 401, "message": "Invalid Credentials" } })),
        )
            .into_response();
    }
    let max = q
        .get("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 500);
    let skip = q.get("pageToken").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let users = sb.lock().google_users.clone();
    let hide_customer = sb.faults().hide_customer_id;
    let page: Vec<Value> = users
        .iter()
        .skip(skip)
        .take(max)
        .enumerate()
        .map(|(i, u)| {
            json!({ "id": u.id, "primaryEmail": u.mail,
                               "name": { "fullName": u.display_name }, "suspended": !u.enabled,
                               "customerId": GOOGLE_CUSTOMER_ID, "isAdmin": skip + i == 0 })
        })
        .map(|mut u| {
            if hide_customer && let Some(o) = u.as_object_mut() {
                o.remove("customerId");
            }
            u
        })
        .collect();
    let mut body = json!({ "kind": "admin#directory#users", "users": page });
    if skip + max < users.len() {
        body["nextPageToken"] = json!((skip + max).to_string());
    }
    Json(body).into_response()
}

/// `GET {admin}/admin/directory/v1/customers/my_customer`: the customer behind the alias.
pub(crate) async fn google_customer(State(sb): S, headers: HeaderMap, Path(customer): Path<String>) -> Response {
    let now = chrono::Utc::now().timestamp();
    let valid = bearer(&headers)
        .and_then(|t| sb.lock().google_access.get(t).copied())
        .is_some_and(|exp| exp > now);
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": 401, "message": "Invalid Credentials" } })),
        )
            .into_response();
    }
    if customer != "my_customer" && customer != GOOGLE_CUSTOMER_ID {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": { "code": 404, "message": "Resource Not Found: customer" } })),
        )
            .into_response();
    }
    Json(json!({ "kind": "admin#directory#customer", "id": GOOGLE_CUSTOMER_ID, "customerDomain": GOOGLE_DOMAIN }))
        .into_response()
}
