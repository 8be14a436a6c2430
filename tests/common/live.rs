//! The whole router and the sandbox served on a real loopback port, with the production HTTP
//! identity clients pointed at the sandbox: the exact code paths of `cargo run`.

use super::{BASE, PASSWORD};
use onboarding::clock::ManualClock;
use onboarding::email::memory::MemoryMailer;
use onboarding::identity::http::{EntraClient, GoogleClient, GoogleSettings, MicrosoftSettings, http_client};
use onboarding::services::{AppState, Links, Services};
use onboarding::store::embedded::EmbeddedStore;
use onboarding_sandbox::{self as sandbox, Sandbox};
use secrecy::{SecretSlice, SecretString};
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Live {
    pub base: String,
    pub state: AppState,
    pub store: Arc<EmbeddedStore>,
    pub mailer: Arc<MemoryMailer>,
    pub clock: Arc<ManualClock>,
    pub sandbox: Arc<Sandbox>,
    /// A browser-like client: no redirects followed, so each hop is checked.
    pub http: reqwest::Client,
}

impl Live {
    pub async fn start() -> Self {
        Self::start_with_seats(1000).await
    }

    /// Like [`Live::start`], with `seats` protected users per partner.
    pub async fn start_with_seats(seats: u64) -> Self {
        let _ = BASE;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let urls = sandbox::urls(&base);
        let (urls_graph, urls_admin) = (urls.microsoft_graph_url.clone(), urls.google_admin_url.clone());
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let mailer = Arc::new(MemoryMailer::default());
        let microsoft = EntraClient::new(
            MicrosoftSettings {
                client_id: sandbox::CLIENT_ID.into(),
                client_secret: SecretString::from(sandbox::CLIENT_SECRET),
                login_url: urls.microsoft_login_url,
                graph_url: urls.microsoft_graph_url,
                redirect_uri: format!("{base}/v1/callback/microsoft"),
            },
            http_client(std::time::Duration::from_secs(2)),
        );
        let google = GoogleClient::new(
            GoogleSettings {
                client_id: sandbox::GOOGLE_CLIENT_ID.into(),
                client_secret: SecretString::from(sandbox::GOOGLE_CLIENT_SECRET),
                auth_url: urls.google_auth_url,
                token_url: urls.google_token_url,
                admin_url: urls.google_admin_url,
                redirect_uri: format!("{base}/v1/callback/google"),
            },
            http_client(std::time::Duration::from_secs(2)),
        );
        let state = Services::new(
            store.clone(),
            mailer.clone(),
            clock.clone(),
            SecretSlice::from(vec![7u8; 32]),
            Links {
                public_base_url: base.clone(),
                console_url: format!("{base}/console"),
            },
        )
        .with_identity(Arc::new(microsoft), Arc::new(google))
        .with_directory(&urls_graph, &urls_admin)
        .with_seat_limit(seats)
        .into_state();
        let sandbox = Sandbox::with_clock(clock.clone());
        let app = onboarding::http::local(state.clone(), sandbox::router(sandbox.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = http_client(std::time::Duration::from_secs(10));
        Self {
            base,
            state,
            store,
            mailer,
            clock,
            sandbox,
            http,
        }
    }

    /// Runs every queued job (and what they queue without delay), as the worker would.
    #[allow(dead_code)]
    pub async fn drain(&self) -> onboarding::flows::worker::Drained {
        onboarding::flows::worker::drain(&self.state, std::time::Duration::from_secs(60))
            .await
            .expect("the in-process queue")
            .expect("jobs run in process")
    }

    /// One tick of the schedule, then every job it queued.
    #[allow(dead_code)]
    pub async fn tick(&self) -> (onboarding::flows::schedule::FanOut, onboarding::flows::worker::Drained) {
        let fanned = onboarding::flows::schedule::fan_out(&self.state)
            .await
            .expect("the due index");
        (fanned, self.drain().await)
    }

    /// The sandbox's Contoso tenant consented with every required role: a Graph token for it
    /// from the production Entra client, and the sandbox Graph's base URL.
    pub async fn contoso(&self) -> (SecretString, String) {
        use onboarding::identity::Microsoft as _;
        let all = onboarding::identity::REQUIRED_MICROSOFT_ROLES
            .iter()
            .map(|r| (*r).to_owned())
            .collect();
        self.sandbox.set_roles(sandbox::CONTOSO_TENANT_ID, all);
        let urls = sandbox::urls(&self.base);
        let entra = EntraClient::new(
            MicrosoftSettings {
                client_id: sandbox::CLIENT_ID.into(),
                client_secret: SecretString::from(sandbox::CLIENT_SECRET),
                login_url: urls.microsoft_login_url,
                graph_url: urls.microsoft_graph_url.clone(),
                redirect_uri: format!("{}/v1/callback/microsoft", self.base),
            },
            http_client(std::time::Duration::from_secs(5)),
        );
        let token = entra.app_token(sandbox::CONTOSO_TENANT_ID).await.unwrap().access_token;
        (token, urls.microsoft_graph_url)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// A signed-in request to the API: `method` `path` with an optional JSON body.
    pub async fn api(&self, method: reqwest::Method, path: &str, session: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(session);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A Microsoft account for the sandbox tenant `tenant`, consented now by the partner
    /// itself (admin credentials at hand): answers the account ID.
    pub async fn consented_microsoft(&self, session: &str, client: &str, tenant: &str) -> String {
        let (status, acc) = self
            .api(
                reqwest::Method::POST,
                "/v1/accounts",
                session,
                Some(
                    json!({"client_name": client, "platform": "microsoft365", "managed_by": "partner",
                            "has_admin_credentials": true, "tenant": tenant}),
                ),
            )
            .await;
        assert_eq!(status, 201, "{acc}");
        let callback = self
            .consent_at(acc["authorization_url"].as_str().unwrap(), "accept")
            .await;
        let r = self.get(&callback).await;
        assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
        acc["id"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        let url = if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base)
        };
        self.http.get(url).send().await.unwrap()
    }

    /// A confirmed partner; answers its session token.
    pub async fn partner(&self, org: &str, email: &str) -> String {
        let r = self
            .post(
                "/v1/signup",
                None,
                json!({"organization": org, "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), 202);
        let code = super::code_in(&self.mailer.to(email).last().unwrap().text);
        let r = self
            .post("/v1/signup/confirm", None, json!({"email": email, "code": code}))
            .await;
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    /// A colleague invited by `session`'s member as `role`, joined with the test password:
    /// their session token.
    #[allow(dead_code)]
    pub async fn colleague(&self, session: &str, email: &str, role: &str) -> String {
        let (status, invited) = self
            .api(
                reqwest::Method::POST,
                "/v1/members",
                session,
                Some(json!({"email": email, "role": role})),
            )
            .await;
        assert_eq!(status, 201, "{invited}");
        let mail = self.mailer.to(email).last().cloned().expect("an invitation mail");
        let token = mail.links[0].rsplit('/').next().unwrap().to_owned();
        let r = self
            .post(
                "/v1/invitations/accept",
                None,
                json!({"token": token, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    /// A new session for a confirmed member.
    pub async fn sign_in(&self, email: &str) -> String {
        let r = self
            .post("/v1/sessions", None, json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
    }

    /// The newest authorization link mailed to `to`.
    pub fn link_to(&self, to: &str) -> String {
        super::link_in(&self.mailer.to(to).last().expect("a link mail").text, "/authorize/")
    }

    /// Follows a consent from the emailed link's button to the provider's redirect back:
    /// answers the callback URL the browser is sent to (not yet followed).
    pub async fn consent_via_link(&self, link: &str, decision: &str) -> String {
        let start = self.get(&format!("{link}/start")).await;
        assert_eq!(start.status(), 302, "{}", start.text().await.unwrap());
        let consent_page = start.headers()["location"].to_str().unwrap().to_owned();
        self.consent_at(&consent_page, decision).await
    }

    /// At a sandbox consent page: reads its form and presses the button. A sign-in page
    /// first (Microsoft's sign-in leg): signs in as the tenant's admin, follows the callback
    /// to the admin-consent page, and presses the button there.
    pub async fn consent_at(&self, consent_page: &str, decision: &str) -> String {
        let consent_page = if consent_page.contains("/oauth2/v2.0/authorize") {
            let callback = self.submit(consent_page, &[("who", "admin")]).await;
            assert!(callback.contains("/v1/callback/microsoft?code="), "{callback}");
            let r = self.get(&callback).await;
            assert_eq!(r.status(), 302, "sign-in callback: {}", r.text().await.unwrap());
            r.headers()["location"].to_str().unwrap().to_owned()
        } else {
            consent_page.to_owned()
        };
        self.submit(&consent_page, &[("decision", decision)]).await
    }

    /// Reads a sandbox page's form (hidden fields, the first tenant offered), adds `extra`,
    /// posts it: answers where the sandbox redirects.
    async fn submit(&self, page_url: &str, extra: &[(&str, &str)]) -> String {
        let page = self.get(page_url).await;
        assert_eq!(page.status(), 200, "{page_url}");
        let html = page.text().await.unwrap();
        assert!(html.contains("Sandbox identity provider"), "labelled as the sandbox");
        let action = attr_after(&html, "<form method=\"post\" action=\"", "\"");
        let mut form: Vec<(String, String)> = Vec::new();
        let mut rest = html.as_str();
        while let Some(i) = rest.find("<input type=\"hidden\" name=\"") {
            rest = &rest[i..];
            let name = attr_after(rest, "name=\"", "\"");
            let value = html_unescape(&attr_after(rest, "value=\"", "\""));
            form.push((name, value));
            rest = &rest[10..];
        }
        if html.contains("<select name=\"tenant\">") {
            form.push(("tenant".into(), attr_after(&html, "<option value=\"", "\"")));
        }
        form.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let r = self
            .http
            .post(format!("{}{action}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
        r.headers()["location"].to_str().unwrap().to_owned()
    }
}

fn attr_after(s: &str, prefix: &str, end: &str) -> String {
    let i = s.find(prefix).unwrap_or_else(|| panic!("{prefix} in page")) + prefix.len();
    let j = s[i..].find(end).unwrap() + i;
    s[i..j].to_owned()
}

fn html_unescape(s: &str) -> String {
    s.replace("&#43;", "+")
        .replace("&#61;", "=")
        .replace("&#47;", "/")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
