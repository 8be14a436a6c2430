//! A small Microsoft Graph: users, groups (Teams by `$filter`), sites, and delta queries,
//! paged by `@odata.nextLink`, behind the token and role checks.

use crate::{DirectoryUser, Group, S, Sandbox, Tenant, bearer};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(crate) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message,
        "innerError": { "request-id": uuid::Uuid::new_v4().to_string(), "date": chrono::Utc::now().to_rfc3339() } } });
    let mut res = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

/// The tenant a Graph call may read, after the faults, the token and the role checks.
pub(crate) fn graph_tenant(sb: &Sandbox, headers: &HeaderMap, role: &str) -> Result<Tenant, Box<Response>> {
    if let Some(s) = sb.faults().graph_status.and_then(|s| StatusCode::from_u16(s).ok()) {
        return Err(Box::new(graph_error(
            s,
            "serviceNotAvailable",
            "Injected by the sandbox.",
        )));
    }
    let claims = bearer(headers).and_then(|t| sb.verify(t)).ok_or_else(|| {
        Box::new(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ))
    })?;
    let tid = claims["tid"].as_str().unwrap_or_default();
    let granted = sb.lock().consents.get(tid).cloned();
    let has_role = granted.is_some_and(|r| r.iter().any(|g| g == role));
    if !has_role {
        return Err(Box::new(graph_error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )));
    }
    sb.find_tenant(tid).ok_or_else(|| {
        Box::new(graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            "No such tenant.",
        ))
    })
}

/// One page of `items` with `@odata.nextLink` built from the request's own address.
pub(crate) fn graph_page(headers: &HeaderMap, path: &str, q: &HashMap<String, String>, items: Vec<Value>) -> Response {
    let top = q
        .get("$top")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 999);
    let skip = q.get("$skiptoken").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(skip).take(top).cloned().collect();
    let mut body = json!({ "value": page });
    if skip + top < items.len() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut next = url::Url::parse(&format!("http://{host}{path}")).expect("a URL");
        for (k, v) in q.iter().filter(|(k, _)| *k != "$skiptoken") {
            next.query_pairs_mut().append_pair(k, v);
        }
        next.query_pairs_mut()
            .append_pair("$top", &top.to_string())
            .append_pair("$skiptoken", &(skip + top).to_string());
        body["@odata.nextLink"] = json!(next.as_str());
    }
    Json(body).into_response()
}

pub(crate) async fn graph_users(
    State(sb): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match graph_tenant(&sb, &headers, "User.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let items = t.users.iter().map(user_json).collect();
    graph_page(&headers, "/sandbox/graph/v1.0/users", &q, items)
}

pub(crate) fn user_json(u: &DirectoryUser) -> Value {
    json!({ "id": u.id, "displayName": u.display_name, "mail": u.mail, "userPrincipalName": u.mail,
            "accountEnabled": u.enabled, "assignedLicenses": [] })
}

/// `/users/delta`: a first run pages every user and ends with `@odata.deltaLink`; calling that
/// link answers only what changed since (added users, removed ones as `@removed`) and a new
/// link; `$deltatoken=latest` starts from now; a stale token answers 400 `syncStateNotFound`.
pub(crate) async fn graph_users_delta(
    State(sb): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match graph_tenant(&sb, &headers, "User.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let all = t.users.iter().map(user_json).collect();
    delta_answer(&sb, &headers, &q, "users", &t.id, all).await
}

/// `/groups/delta`: as `/users/delta`, for groups (the sandbox's groups do not change).
pub(crate) async fn graph_groups_delta(
    State(sb): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match graph_tenant(&sb, &headers, "Group.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let all = t.groups.iter().map(|g| group_json(g, &t.domain)).collect();
    delta_answer(&sb, &headers, &q, "groups", &t.id, all).await
}

pub(crate) fn group_json(g: &Group, domain: &str) -> Value {
    json!({ "id": g.id, "displayName": g.name, "mail": format!("{}@{}", g.name.to_lowercase().replace(' ', ""), domain),
            "groupTypes": ["Unified"], "resourceProvisioningOptions": if g.team { vec!["Team"] } else { vec![] } })
}

/// One page of a delta query over `kind` (`users`, `groups`): everything without a token,
/// the changes since a token of the current generation, nothing for `latest`.
pub(crate) async fn delta_answer(
    sb: &Sandbox,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    kind: &str,
    tenant: &str,
    all: Vec<Value>,
) -> Response {
    let (generation, seq) = {
        let inner = sb.lock();
        (inner.delta_generation, inner.seq)
    };
    let items: Vec<Value> = match q.get("$deltatoken").map(String::as_str) {
        None => all,
        Some("latest") => Vec::new(),
        Some(token) => {
            let parsed = token
                .strip_prefix('g')
                .and_then(|r| r.split_once('.'))
                .and_then(|(g, s)| Some((g.parse::<u64>().ok()?, s.parse::<u64>().ok()?)));
            match parsed {
                Some((g, since)) if g == generation => {
                    if kind == "users" {
                        sb.lock()
                            .user_changes
                            .iter()
                            .filter(|(s, t, _)| *s > since && t == tenant)
                            .map(|(_, _, v)| v.clone())
                            .collect()
                    } else {
                        Vec::new()
                    }
                }
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "syncStateNotFound",
                        "The delta token is expired.",
                    );
                }
            }
        }
    };
    let path = format!("/sandbox/graph/v1.0/{kind}/delta");
    let body = graph_page(headers, &path, q, items).into_body();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let mut page: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({ "value": [] }));
    if page.get("@odata.nextLink").is_none() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        page["@odata.deltaLink"] = json!(format!("http://{host}{path}?$deltatoken=g{generation}.{seq}"));
    }
    Json(page).into_response()
}

pub(crate) async fn graph_groups(
    State(sb): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match graph_tenant(&sb, &headers, "Group.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let teams_only = q.get("$filter").is_some_and(|f| f.contains("'Team'"));
    let items = t
        .groups
        .iter()
        .filter(|g| !teams_only || g.team)
        .map(|g| group_json(g, &t.domain))
        .collect();
    graph_page(&headers, "/sandbox/graph/v1.0/groups", &q, items)
}

pub(crate) async fn graph_sites(
    State(sb): S,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = match graph_tenant(&sb, &headers, "Sites.Read.All") {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let items = t
        .sites
        .iter()
        .map(|s| json!({ "id": s.id, "displayName": s.name, "name": s.name, "webUrl": s.url, "isPersonalSite": s.personal }))
        .collect();
    graph_page(&headers, "/sandbox/graph/v1.0/sites/getAllSites", &q, items)
}
