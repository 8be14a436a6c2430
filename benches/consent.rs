//! Consent-callback latency, in process: the router handles `GET /v1/callback/microsoft`
//! while the token request goes over loopback to the built-in sandbox provider with the
//! production Entra client (fresh token, JWT claims, roles). Also counts the store writes of
//! one successful callback. Run with `cargo bench --bench consent` (optionally `-- <n>`).

#[path = "support.rs"]
mod support;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use onboarding::clock::SystemClock;
use onboarding::email::memory::MemoryMailer;
use onboarding::identity::http::{EntraClient, MicrosoftSettings, http_client};
use onboarding::services::{Links, Services};
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::{Condition, Item, Key, Page, QueryOptions, Store, StoreError, Update, WriteOp};
use onboarding_sandbox::{self as sandbox, Sandbox};
use secrecy::{SecretSlice, SecretString};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tower::ServiceExt as _;

/// The embedded store, counting every item written.
struct Counting {
    inner: EmbeddedStore,
    writes: AtomicUsize,
}

impl Counting {
    fn add(&self, n: usize) {
        self.writes.fetch_add(n, Ordering::Relaxed);
    }
}

#[async_trait]
impl Store for Counting {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.add(1);
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, update: Update, condition: Condition) -> Result<Item, StoreError> {
        self.add(1);
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.add(1);
        self.inner.delete(key, condition).await
    }
    async fn query(&self, pk: &str, prefix: &str, o: QueryOptions) -> Result<Page, StoreError> {
        self.inner.query(pk, prefix, o).await
    }
    async fn query_index(&self, pk: &str, prefix: &str, o: QueryOptions) -> Result<Page, StoreError> {
        self.inner.query_index(pk, prefix, o).await
    }
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.inner.batch_get(keys).await
    }
    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.add(ops.iter().filter(|o| !matches!(o, WriteOp::Check { .. })).count());
        self.inner.transact(ops).await
    }
    async fn batch_write(&self, puts: Vec<Item>, deletes: Vec<Key>) -> Result<(), StoreError> {
        self.add(puts.len() + deletes.len());
        self.inner.batch_write(puts, deletes).await
    }
}

async fn request(app: &axum::Router, req: Request<Body>) -> (u16, Option<String>, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, location, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn post(path: &str, token: Option<&str>, body: Value) -> Request<Body> {
    let mut r = Request::post(path).header("content-type", "application/json");
    if let Some(t) = token {
        r = r.header("authorization", format!("Bearer {t}"));
    }
    r.body(Body::from(body.to_string())).unwrap()
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let sandbox = Sandbox::new();
        let sb_router = sandbox::router(sandbox.clone());
        tokio::spawn(async move { axum::serve(listener, sb_router).await.unwrap() });
        let urls = sandbox::urls(&base);
        let clock = Arc::new(SystemClock);
        let store = Arc::new(Counting {
            inner: EmbeddedStore::in_memory(clock.clone()),
            writes: AtomicUsize::new(0),
        });
        let microsoft = EntraClient::new(
            MicrosoftSettings {
                client_id: sandbox::CLIENT_ID.into(),
                client_secret: SecretString::from(sandbox::CLIENT_SECRET),
                login_url: urls.microsoft_login_url.clone(),
                graph_url: urls.microsoft_graph_url,
                redirect_uri: format!("{base}/v1/callback/microsoft"),
            },
            http_client(Duration::from_secs(5)),
        );
        let mailer = Arc::new(MemoryMailer::default());
        let state = Services::new(
            store.clone(),
            mailer.clone(),
            clock,
            SecretSlice::from(vec![9u8; 32]),
            Links {
                public_base_url: base.clone(),
                console_url: format!("{base}/console"),
            },
        )
        .with_identity(Arc::new(microsoft), Arc::new(onboarding::identity::Unconfigured))
        .into_state();
        let app = onboarding::http::router(state);
        let browser = http_client(Duration::from_secs(5));

        let (email, pw) = ("b@bench.example", "correct horse battery staple");
        request(
            &app,
            post(
                "/v1/signup",
                None,
                json!({"organization": "Bench IT", "email": email, "password": pw}),
            ),
        )
        .await;
        let text = mailer.to(email)[0].text.clone();
        let at = text.find("code is: ").unwrap() + "code is: ".len();
        let code = &text[at..at + 6];
        let (_, _, s) = request(
            &app,
            post("/v1/signup/confirm", None, json!({"email": email, "code": code})),
        )
        .await;
        let session = s["token"].as_str().unwrap().to_owned();

        let mut samples = Vec::with_capacity(n);
        let mut sign_in_samples = Vec::with_capacity(n);
        let mut writes = Vec::with_capacity(n);
        for i in 0..n + 10 {
            // Untimed: an account with admin credentials, and the admin's Accept at the sandbox.
            let tenant = sandbox.add_tenant(&format!("bench{i}"));
            let body = json!({"client_name": format!("Client {i}"), "platform": "microsoft365",
                              "managed_by": "partner", "has_admin_credentials": true});
            let (status, _, acc) = request(&app, post("/v1/accounts", Some(&session), body)).await;
            assert_eq!(status, 201, "{acc}");
            let sign_in = url::Url::parse(acc["authorization_url"].as_str().unwrap()).unwrap();
            let q = |u: &url::Url, k: &str| {
                u.query_pairs()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.into_owned())
                    .unwrap()
            };
            let redirect_uri = format!("{base}/v1/callback/microsoft");
            let form = [
                ("tenant", tenant.clone()),
                ("who", "admin".into()),
                ("redirect_uri", redirect_uri.clone()),
                ("state", q(&sign_in, "state")),
                ("nonce", q(&sign_in, "nonce")),
                ("code_challenge", q(&sign_in, "code_challenge")),
            ];
            let r = browser
                .post(format!("{base}/sandbox/microsoft/signin"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let callback = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
            let path = format!("{}?{}", callback.path(), callback.query().unwrap());
            // Timed: the sign-in leg (code exchange, ID token checks, the bound state).
            let t = Instant::now();
            let (status, location, _) = request(&app, Request::get(&path).body(Body::empty()).unwrap()).await;
            let took_sign_in = t.elapsed();
            assert_eq!(status, 302);
            let consent = url::Url::parse(&location.unwrap()).unwrap();
            let form = [
                ("decision", "accept".to_owned()),
                ("tenant", tenant.clone()),
                ("redirect_uri", redirect_uri),
                ("state", q(&consent, "state")),
            ];
            let r = browser
                .post(format!("{base}/sandbox/microsoft/consent"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let callback = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
            let path = format!("{}?{}", callback.path(), callback.query().unwrap());

            let before = store.writes.load(Ordering::Relaxed);
            let t = Instant::now();
            let (status, location, _) = request(&app, Request::get(&path).body(Body::empty()).unwrap()).await;
            let took = t.elapsed();
            assert_eq!(status, 302);
            assert!(location.unwrap().contains("/console/accounts/"));
            if i >= 10 {
                samples.push(took);
                sign_in_samples.push(took_sign_in);
                writes.push(store.writes.load(Ordering::Relaxed) - before);
            }
        }
        println!("sign-in leg (Microsoft, sandbox code exchange over loopback, embedded store in memory)");
        support::report("GET /v1/callback/microsoft?code", sign_in_samples);
        println!("consent callback (Microsoft, sandbox token over loopback, embedded store in memory)");
        support::report("GET /v1/callback/microsoft", samples);
        writes.sort();
        println!(
            "store writes per successful callback: min {} max {} (one transaction)",
            writes[0],
            writes[writes.len() - 1]
        );
        println!("sandbox token requests: {}", sandbox.token_requests());
    });
}
