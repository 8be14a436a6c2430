//! `GET /openapi.json` against the contract of `shared/api.md`: every route of the contract is
//! in the document with its method, every documented route is served by the router, errors
//! have one schema, and every bearer-protected operation documents 401.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};

/// The contract (`shared/api.md`): method and path of every route.
const CONTRACT: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/openapi.json"),
    ("post", "/v1/signup"),
    ("post", "/v1/signup/confirm"),
    ("get", "/v1/signup/activate"),
    ("post", "/v1/signup/activate"),
    ("post", "/v1/password/forgot"),
    ("get", "/password/reset"),
    ("post", "/v1/password/reset"),
    ("post", "/v1/signup/resend"),
    ("post", "/v1/sessions"),
    ("delete", "/v1/sessions/current"),
    ("get", "/v1/me"),
    ("post", "/v1/clients"),
    ("get", "/v1/clients"),
    ("post", "/v1/accounts"),
    ("get", "/v1/accounts"),
    ("get", "/v1/accounts/{id}"),
    ("post", "/v1/accounts/{id}/authorization/check"),
    ("post", "/v1/accounts/{id}/authorization/resend"),
    ("post", "/v1/accounts/{id}/reauthorization"),
    ("post", "/v1/accounts/{id}/discovery"),
    ("get", "/v1/accounts/{id}/users"),
    ("get", "/v1/accounts/{id}/groups"),
    ("get", "/v1/accounts/{id}/teams"),
    ("get", "/v1/accounts/{id}/sites"),
    ("post", "/v1/accounts/{id}/protection"),
    ("put", "/v1/accounts/{id}/auto-add"),
    ("get", "/v1/audit"),
    ("post", "/v1/accounts/{id}/disable"),
    ("post", "/v1/accounts/{id}/enable"),
    ("post", "/v1/offers"),
    ("get", "/v1/offers"),
    ("delete", "/v1/offers/{id}"),
    ("get", "/offer/{code}"),
    ("post", "/offer/{code}"),
    ("get", "/v1/members"),
    ("post", "/v1/members"),
    ("patch", "/v1/members/{email}"),
    ("delete", "/v1/members/{email}"),
    ("get", "/invitations/{token}"),
    ("post", "/v1/invitations/accept"),
    ("get", "/authorize/{token}"),
    ("get", "/authorize/{token}/start"),
    ("get", "/authorize/done/{token}"),
    ("get", "/v1/callback/microsoft"),
    ("get", "/v1/callback/google"),
];

async fn spec(app: &TestApp) -> Value {
    let a = call(app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    a.json()
}

#[tokio::test]
async fn every_contract_route_is_documented() {
    let app = TestApp::new();
    let doc = spec(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in CONTRACT {
        assert!(
            doc["paths"][path][method].is_object(),
            "{} {path} is missing from /openapi.json",
            method.to_uppercase()
        );
    }
    // Every 429 documents Retry-After.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if let Some(limited) = op["responses"].get("429") {
                assert!(
                    limited["headers"]["Retry-After"].is_object(),
                    "{method} {path}: a 429 without Retry-After"
                );
            }
        }
    }
    for (method, path) in [
        ("post", "/v1/sessions"),
        ("post", "/v1/password/forgot"),
        ("post", "/v1/signup"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"]["429"].is_object(),
            "{method} {path} can answer 429: document it"
        );
    }
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "one error schema: {error}");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

#[tokio::test]
async fn every_documented_route_is_served_and_protected_ones_document_401() {
    let app = TestApp::new();
    let doc = spec(&app).await;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{token}", "x")
            .replace("{email}", "a@example.com")
            .replace("{code}", "x");
        // A routed path answers another method with 405; an unrouted one falls back to 404.
        let a = call(&app, Method::TRACE, &concrete, None, None).await;
        assert_eq!(
            a.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{path} is documented but not served"
        );
        for (method, op) in ops.as_object().unwrap() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let a = call(&app, m, &concrete, None, None).await;
            assert_ne!(
                a.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served"
            );
            if op["security"].is_array() {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path} needs a session: document 401"
                );
                assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path} without a session");
            }
        }
    }
}

#[tokio::test]
async fn rate_limited_routes_document_429_with_retry_after() {
    let app = TestApp::new();
    let doc = spec(&app).await;
    for (method, path) in [
        ("post", "/v1/accounts"),
        ("post", "/v1/accounts/{id}/authorization/check"),
        ("post", "/v1/accounts/{id}/authorization/resend"),
        ("post", "/v1/accounts/{id}/reauthorization"),
        ("post", "/v1/accounts/{id}/discovery"),
    ] {
        let r = &doc["paths"][path][method]["responses"]["429"];
        assert!(r.is_object(), "{method} {path} can answer 429: document it");
        assert!(
            r["headers"]["Retry-After"].is_object(),
            "{method} {path}: 429 carries Retry-After"
        );
    }
}

/// Request schemas are the handlers' own types with the parsers' constraints, and every
/// operation documents the statuses its kind can answer.
#[tokio::test]
async fn request_schemas_carry_the_parsers_constraints_and_every_status_is_documented() {
    let app = TestApp::new();
    let doc = spec(&app).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["SignupBody"]["additionalProperties"], false);
    assert_eq!(schemas["EmailAddress"]["format"], "email");
    assert_eq!(schemas["EmailAddress"]["maxLength"], 254);
    assert_eq!(schemas["NewPassword"]["minLength"], 12);
    assert_eq!(schemas["NewPassword"]["maxLength"], 128);
    assert!(schemas["ConfirmationCode"]["pattern"].is_string());
    assert!(
        schemas["OrganizationName"]["pattern"]
            .as_str()
            .unwrap()
            .contains("{0,198}")
    );
    assert_eq!(
        schemas["ProtectKind"]["enum"],
        serde_json::json!(["users", "sites", "teams"])
    );
    assert_eq!(
        schemas["AccountStatus"]["enum"],
        serde_json::json!([
            "waiting_for_authorization",
            "active",
            "reauthorization_required",
            "access_revoked",
            "disabled"
        ])
    );
    let codes = &schemas["ErrorDetail"]["properties"]["code"]["enum"];
    assert!(codes.as_array().unwrap().contains(&"unsupported_media_type".into()));
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let r = &op["responses"];
            if op["requestBody"]["content"]["application/json"].is_object() {
                for status in ["400", "413", "422"] {
                    assert!(
                        r[status].is_object(),
                        "{method} {path}: a JSON body can answer {status}"
                    );
                }
                if !path.ends_with("/reauthorization") {
                    assert!(r["415"].is_object(), "{method} {path}: 415 without a JSON content type");
                }
            }
            if path.contains("{id}") {
                assert!(r["404"].is_object(), "{method} {path}: an unknown ID answers 404");
            }
            if path != "/health" && path != "/openapi.json" {
                assert!(r["500"].is_object(), "{method} {path}: document 500");
            }
        }
    }
}

/// A body that is not JSON answers 415 with the typed error body, as documented.
#[tokio::test]
async fn a_body_without_json_content_type_answers_415() {
    let app = TestApp::new();
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/signup")
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let res = tower::ServiceExt::oneshot(onboarding::http::router(app.state.clone()), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Reauthorization's body may be left out (the server asks for a URL only), and the contract
/// says so: a fuzzer sending no body must find it accepted by the schema too.
#[tokio::test]
async fn the_optional_reauthorization_body_is_not_required() {
    let app = TestApp::new();
    let doc = spec(&app).await;
    let body = &doc["paths"]["/v1/accounts/{id}/reauthorization"]["post"]["requestBody"];
    assert_eq!(body["required"], json!(false), "{body}");
    // Every other body is required.
    assert_eq!(
        doc["paths"]["/v1/accounts"]["post"]["requestBody"]["required"],
        json!(true)
    );
}

/// Response schemas are derived from the types the handlers serialize: an `Option` always
/// serialized is required and nullable, one skipped when `None` is optional and never null,
/// and string enums list their values.
#[tokio::test]
async fn response_schemas_say_what_serde_emits() {
    let app = TestApp::new();
    let doc = spec(&app).await;
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        schemas[name]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no required list"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let account = required("Account");
    for field in ["tenant", "tenant_id", "tenant_domain", "auto_add"] {
        assert!(account.contains(&field.to_owned()), "Account.{field} is always sent");
    }
    for field in ["authorization_url", "offboarding"] {
        assert!(
            !account.contains(&field.to_owned()),
            "Account.{field} is left out when none"
        );
    }
    assert_eq!(
        schemas["Account"]["properties"]["tenant"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        schemas["Account"]["properties"]["authorization_url"]["type"],
        json!("string")
    );
    assert!(!required("Session").contains(&"partner_id".to_owned()));
    assert_eq!(schemas["Session"]["properties"]["partner_id"]["type"], json!("string"));
    assert!(required("ObjectPage").contains(&"next_cursor".to_owned()));
    assert!(required("AuditPage").contains(&"next_cursor".to_owned()));
    assert_eq!(
        schemas["Discovery"]["properties"]["status"]["$ref"],
        json!("#/components/schemas/DiscoveryState")
    );
    assert_eq!(
        schemas["RefreshJob"]["enum"],
        json!(["queued", "already_queued", "scheduled"])
    );
    assert_eq!(schemas["MePartner"]["required"], json!(["created_at", "id", "name"]));
    assert_eq!(schemas["AccountId"]["format"], json!("uuid"));
}
