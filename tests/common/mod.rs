//! Shared test set-up: services on in-memory twins, the test services' endpoints, helpers
//! to read what was stored and mailed.
#![allow(dead_code)]

pub mod live;

pub use onboarding_test_support::entra as fakes;
use onboarding_test_support::google::FakeGoogle;
pub use onboarding_test_support::{PASSWORD, code_in, link_in};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use onboarding::clock::ManualClock;
use onboarding::email::memory::MemoryMailer;
use onboarding::http::router;
use onboarding::services::{AppState, Links, Services};
use onboarding::store::Item;
use onboarding::store::embedded::EmbeddedStore;
use secrecy::SecretSlice;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt as _;

pub const BASE: &str = "http://127.0.0.1:3000";

pub struct TestApp {
    pub state: AppState,
    pub store: Arc<EmbeddedStore>,
    pub mailer: Arc<MemoryMailer>,
    pub clock: Arc<ManualClock>,
    pub microsoft: Arc<fakes::FakeEntra>,
    pub google: Arc<FakeGoogle>,
}

impl TestApp {
    pub fn new() -> Self {
        Self::with_services(|s| s)
    }

    /// A test app whose services are changed by `f` (another queue, say).
    pub fn with_services(f: impl FnOnce(Services) -> Services) -> Self {
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let mailer = Arc::new(MemoryMailer::default());
        let microsoft = Arc::new(fakes::FakeEntra::default());
        let google = Arc::new(FakeGoogle::default());
        let state = Services::new(
            store.clone(),
            mailer.clone(),
            clock.clone(),
            SecretSlice::from(vec![42u8; 32]),
            Links {
                public_base_url: BASE.into(),
                console_url: format!("{BASE}/console"),
            },
        )
        .with_identity(microsoft.clone(), google.clone());
        let state = f(state).into_state();
        Self {
            state,
            store,
            mailer,
            clock,
            microsoft,
            google,
        }
    }

    /// Every stored item (for "nothing was written" checks).
    pub fn snapshot(&self) -> Vec<Item> {
        self.store.all_items().unwrap()
    }
}

/// DynamoDB Local's endpoint, started by `scripts/test`. Missing means the suite was not
/// started by the test command: fail, never skip.
pub fn dynamodb_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB is not set: run the suite with `scripts/test`, which starts DynamoDB Local")
}

/// moto's endpoint (SES v2 emulator), started by `scripts/test`.
pub fn moto_url() -> String {
    std::env::var("MOTO_URL")
        .expect("MOTO_URL is not set: run the suite with `scripts/test`, which starts moto's server")
}

pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

pub async fn call(app: &TestApp, method: Method, path: &str, body: Option<String>, token: Option<&str>) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let res = router(app.state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

pub async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    call(app, Method::POST, path, Some(body.to_string()), None).await
}

pub async fn sign_up(app: &TestApp, org: &str, email: &str) -> Answer {
    post(
        app,
        "/v1/signup",
        json!({"organization": org, "email": email, "password": PASSWORD}),
    )
    .await
}

pub fn last_code(app: &TestApp, email: &str) -> String {
    code_in(&app.mailer.to(email).last().expect("a mail").text)
}

pub async fn confirm(app: &TestApp, email: &str, code: &str) -> Answer {
    post(app, "/v1/signup/confirm", json!({"email": email, "code": code})).await
}

/// Signs up and confirms; returns the session token.
pub async fn registered(app: &TestApp, org: &str, email: &str) -> String {
    assert_eq!(sign_up(app, org, email).await.status, StatusCode::ACCEPTED);
    let a = confirm(app, email, &last_code(app, email)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.json()["token"].as_str().unwrap().to_owned()
}

/// The actions of an audit log page (`GET /v1/audit`), in its order.
pub fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// The value of `name` in a URL's query.
pub fn query_value(u: &url::Url, name: &str) -> String {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {u}"))
}

/// The admin of `tenant` signs in at the (fake) provider from a sign-in URL: the callback
/// path the provider would send the browser to, its code accepted once with a genuine ID token.
pub fn sign_in_callback(app: &TestApp, sign_in_url: &url::Url, tenant: &str) -> String {
    let nonce = query_value(sign_in_url, "nonce");
    static CODES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let code = format!("code-{}", CODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    app.microsoft
        .accept_sign_in(&code, fakes::admin_id_token(tenant, &nonce));
    sign_in_callback_with(sign_in_url, &code)
}

/// The sign-in callback path for `code` and the sign-in URL's state.
pub fn sign_in_callback_with(sign_in_url: &url::Url, code: &str) -> String {
    let state: String = url::form_urlencoded::byte_serialize(query_value(sign_in_url, "state").as_bytes()).collect();
    format!("/v1/callback/microsoft?code={code}&state={state}")
}

/// Signs in as the admin of `tenant` and answers the admin-consent URL the callback sends to.
pub async fn signed_in(app: &TestApp, sign_in_url: &url::Url, tenant: &str) -> url::Url {
    let path = sign_in_callback(app, sign_in_url, tenant);
    let a = call(app, Method::GET, &path, None, None).await;
    assert_eq!(a.status, StatusCode::FOUND, "sign-in callback: {}", a.text);
    url::Url::parse(a.headers["location"].to_str().unwrap()).unwrap()
}

/// A fresh table in DynamoDB Local (panics when it was not started by the test command).
pub async fn dynamo_store(clock: Arc<ManualClock>) -> Arc<dyn onboarding::store::Store> {
    let config = aws_config().await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(dynamodb_endpoint())
            .build(),
    );
    let table = format!("t-{}", uuid::Uuid::new_v4().simple());
    onboarding::store::dynamo::create_table_if_missing(&client, &table)
        .await
        .expect("table created in DynamoDB Local");
    Arc::new(onboarding::store::dynamo::DynamoStore::new(client, table, clock))
}
