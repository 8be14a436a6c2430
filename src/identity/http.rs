//! HTTP clients of the real identity providers (and of the sandbox, which serves the same
//! protocol): Microsoft Entra ID ([`EntraClient`]) and Google ([`GoogleClient`]). Token
//! requests go through the `oauth2` crate on a reqwest client that follows no redirects.

use super::{
    AppToken, GOOGLE_SCOPES, Google, GoogleCustomer, GoogleGrant, IdTokenClaims, Microsoft, SignInRequest, TokenError,
};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthorizationCode, ClientId, ClientSecret, HttpClientError, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Mutex;

/// Graph's `.default` scope: every application permission granted to the app.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// What the sign-in leg asks for: an ID token and the user's name, nothing else.
const SIGN_IN_SCOPE: &str = "openid profile";

/// The HTTP client for token endpoints and provider APIs: no redirects (a token endpoint
/// that redirects is not answering), bounded connect and total time.
pub fn http_client(total: std::time::Duration) -> reqwest::Client {
    crate::crypto::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(total)
        .user_agent(concat!("onboarding/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// An [`http_client`] built on its first request, not when the process starts: a function
/// that never calls a provider (most events of most functions) never pays for its TLS
/// configuration, and the ones that do pay once per process.
pub struct LazyHttp {
    total: std::time::Duration,
    client: std::sync::OnceLock<reqwest::Client>,
}

impl LazyHttp {
    pub fn new(total: std::time::Duration) -> Self {
        Self {
            total,
            client: std::sync::OnceLock::new(),
        }
    }

    pub fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| http_client(self.total))
    }
}

/// A client built already (tests, benches).
impl From<reqwest::Client> for LazyHttp {
    fn from(client: reqwest::Client) -> Self {
        Self {
            total: std::time::Duration::ZERO,
            client: std::sync::OnceLock::from(client),
        }
    }
}

/// The claims read from an access token. Its signature is not checked: the token came
/// straight from the token endpoint over TLS (`protocols.md`), and is never accepted from
/// anyone else.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    tid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

fn claims<T: serde::de::DeserializeOwned>(jwt: &str) -> Result<T, TokenError> {
    let payload = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| TokenError::Refused("the token is not a JWT".into()))?;
    let bytes = B64
        .decode(payload.trim_end_matches('='))
        .map_err(|_| TokenError::Refused("the token's claims are not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Refused("the token's claims are not JSON".into()))
}

/// The token endpoint's answer to a sign-in code: the standard fields and the `id_token`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
struct IdTokenField {
    id_token: String,
}

impl oauth2::ExtraTokenFields for IdTokenField {}

type SignInResponse = oauth2::StandardTokenResponse<IdTokenField, oauth2::basic::BasicTokenType>;

/// The oauth2 client for the sign-in code exchange.
type SignInClient = oauth2::Client<
    BasicErrorResponse,
    SignInResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

#[derive(serde::Deserialize)]
struct OpenIdConfiguration {
    issuer: String,
}

type OAuthError = RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// The AADSTS number in an error description (`AADSTS7000229: ...`), if any.
fn aadsts(description: &str) -> Option<&str> {
    let at = description.find("AADSTS")? + "AADSTS".len();
    let digits = description[at..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(&description[at..], |end| &description[at..at + end]);
    (!digits.is_empty()).then_some(digits)
}

/// Classifies a token endpoint failure as `protocols.md` says: by AADSTS code first, by the
/// OAuth error otherwise; anything that is not an error answer (timeout, 5xx page,
/// redirect) is `Unavailable`.
fn classify(e: OAuthError) -> TokenError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let error = r.error().to_string();
            let description = r.error_description().cloned().unwrap_or_default();
            match aadsts(&description) {
                Some(code @ ("7000229" | "700016" | "65001" | "650051")) => TokenError::NoConsent { code: code.into() },
                Some(code @ ("90002" | "500014" | "90072" | "500011")) => TokenError::TenantGone { code: code.into() },
                Some(code @ ("7000215" | "7000222" | "700027")) => TokenError::AppCredentials { code: code.into() },
                Some(code) => TokenError::Refused(format!("AADSTS{code}")),
                None => match error.as_str() {
                    "invalid_grant" => TokenError::NoConsent { code: error },
                    "invalid_client" | "unauthorized_client" => TokenError::AppCredentials { code: error },
                    "server_error" | "temporarily_unavailable" => TokenError::Unavailable(error),
                    _ => TokenError::Refused(error),
                },
            }
        }
        RequestTokenError::Request(e) => TokenError::Unavailable(format!("request failed: {e}")),
        RequestTokenError::Parse(_, _) => TokenError::Unavailable("unreadable answer from the token endpoint".into()),
        RequestTokenError::Other(e) => TokenError::Unavailable(e),
    }
}

fn expiry(expires_in: Option<std::time::Duration>) -> DateTime<Utc> {
    Utc::now()
        + expires_in
            .and_then(|d| Duration::from_std(d).ok())
            .unwrap_or_else(|| Duration::minutes(55))
}

/// The multi-tenant Entra app's settings.
pub struct MicrosoftSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub login_url: String,
    pub graph_url: String,
    pub redirect_uri: String,
}

/// Microsoft Entra ID: admin consent URLs and client-credentials tokens, cached per tenant
/// until five minutes before they expire (there is no refresh token).
pub struct EntraClient {
    settings: MicrosoftSettings,
    http: LazyHttp,
    cache: Mutex<HashMap<String, AppToken>>,
}

impl std::fmt::Debug for EntraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraClient")
            .field("client_id", &self.settings.client_id)
            .field("login_url", &self.settings.login_url)
            .finish_non_exhaustive()
    }
}

impl EntraClient {
    pub fn new(settings: MicrosoftSettings, http: impl Into<LazyHttp>) -> Self {
        Self {
            settings,
            http: http.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn graph_url(&self) -> &str {
        &self.settings.graph_url
    }

    fn cached(&self, tenant: &str) -> Option<AppToken> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(tenant)
            .filter(|t| t.expires_at - Duration::minutes(5) > Utc::now())
            .cloned()
    }
}

fn tenant_segment(tenant: &str) -> Result<&str, TokenError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 253
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(tenant)
    } else {
        Err(TokenError::Refused("not a tenant ID or domain".into()))
    }
}

impl EntraClient {
    fn sign_in_client(&self) -> Result<SignInClient, TokenError> {
        let bad = |_| TokenError::Refused("bad Microsoft URL".into());
        Ok(oauth2::Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_redirect_uri(RedirectUrl::new(self.settings.redirect_uri.clone()).map_err(bad)?)
            .set_token_uri(
                TokenUrl::new(format!("{}/organizations/oauth2/v2.0/token", self.settings.login_url)).map_err(bad)?,
            ))
    }
}

#[async_trait]
impl Microsoft for EntraClient {
    fn client_id(&self) -> &str {
        &self.settings.client_id
    }

    fn issuer(&self, tenant_id: &str) -> String {
        format!("{}/{tenant_id}/v2.0", self.settings.login_url)
    }

    fn sign_in_url(&self, r: &SignInRequest<'_>) -> String {
        let tenant = r.tenant.and_then(|t| tenant_segment(t).ok()).unwrap_or("organizations");
        let Ok(mut url) = url::Url::parse(&format!("{}/{tenant}/oauth2/v2.0/authorize", self.settings.login_url))
        else {
            return "about:blank#bad-login-url".to_owned();
        };
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("response_type", "code")
            .append_pair("response_mode", "query")
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("scope", SIGN_IN_SCOPE)
            .append_pair("state", r.state)
            .append_pair("nonce", r.nonce)
            .append_pair("code_challenge", r.code_challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "select_account");
        url.into()
    }

    async fn redeem_sign_in(&self, code: &str, code_verifier: &str) -> Result<IdTokenClaims, TokenError> {
        let answer = self
            .sign_in_client()?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_owned()))
            .add_extra_param("scope", SIGN_IN_SCOPE)
            .request_async(self.http.client())
            .await
            .map_err(classify)?;
        claims(&answer.extra_fields().id_token)
    }

    async fn tenant_of_domain(&self, domain: &str) -> Result<Option<String>, TokenError> {
        let domain = tenant_segment(domain)?;
        let url = format!(
            "{}/{domain}/v2.0/.well-known/openid-configuration",
            self.settings.login_url
        );
        let res = self
            .http
            .client()
            .get(url)
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(format!("openid-configuration: {e}")))?;
        let status = res.status();
        if status == reqwest::StatusCode::BAD_REQUEST || status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(TokenError::Unavailable(format!(
                "openid-configuration answered {status}"
            )));
        }
        let config: OpenIdConfiguration = res
            .json()
            .await
            .map_err(|_| TokenError::Unavailable("unreadable openid-configuration".into()))?;
        let prefix = format!("{}/", self.settings.login_url);
        Ok(config
            .issuer
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix("/v2.0"))
            .filter(|tid| crate::domain::TenantId::parse(tid).is_some())
            .map(str::to_lowercase))
    }

    fn admin_consent_url(&self, tenant: Option<&str>, state: &str) -> String {
        let tenant = tenant.and_then(|t| tenant_segment(t).ok()).unwrap_or("organizations");
        let mut url = match url::Url::parse(&format!("{}/{tenant}/v2.0/adminconsent", self.settings.login_url)) {
            Ok(u) => u,
            Err(_) => return "about:blank#bad-login-url".to_owned(),
        };
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("scope", GRAPH_DEFAULT_SCOPE)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("state", state);
        url.into()
    }

    async fn fresh_app_token(&self, tenant: &str) -> Result<AppToken, TokenError> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(tenant);
        self.app_token(tenant).await
    }

    async fn app_token(&self, tenant: &str) -> Result<AppToken, TokenError> {
        let tenant = tenant_segment(tenant)?;
        if let Some(t) = self.cached(tenant) {
            return Ok(t);
        }
        let token_url = TokenUrl::new(format!("{}/{tenant}/oauth2/v2.0/token", self.settings.login_url))
            .map_err(|_| TokenError::Refused("bad token URL".into()))?;
        let client = BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_token_uri(token_url);
        let answer = client
            .exchange_client_credentials()
            .add_scope(Scope::new(GRAPH_DEFAULT_SCOPE.to_owned()))
            .request_async(self.http.client())
            .await
            .map_err(classify)?;
        let secret = answer.access_token().secret();
        let c: Claims = claims(secret)?;
        let token = AppToken {
            access_token: SecretString::from(secret.to_owned()),
            expires_at: expiry(answer.expires_in()),
            tenant_id: c
                .tid
                .ok_or_else(|| TokenError::Refused("the token names no tenant".into()))?,
            roles: c.roles,
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.to_owned(), token.clone());
        Ok(token)
    }
}

/// The Google OAuth client's settings.
pub struct GoogleSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub auth_url: String,
    pub token_url: String,
    pub admin_url: String,
    pub redirect_uri: String,
}

/// The oauth2 client with a token endpoint (and no other endpoint) set.
type GoogleOAuth = oauth2::Client<
    BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// Google: authorization code with PKCE and offline access, refresh, one Directory call.
pub struct GoogleClient {
    settings: GoogleSettings,
    http: LazyHttp,
}

impl std::fmt::Debug for GoogleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleClient")
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl GoogleClient {
    pub fn new(settings: GoogleSettings, http: impl Into<LazyHttp>) -> Self {
        Self {
            settings,
            http: http.into(),
        }
    }

    pub fn admin_url(&self) -> &str {
        &self.settings.admin_url
    }

    fn oauth(&self) -> Result<GoogleOAuth, TokenError> {
        let bad = |_| TokenError::Refused("bad Google URL".into());
        Ok(BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_redirect_uri(RedirectUrl::new(self.settings.redirect_uri.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(self.settings.token_url.clone()).map_err(bad)?))
    }

    fn grant(answer: &oauth2::basic::BasicTokenResponse) -> GoogleGrant {
        GoogleGrant {
            access_token: SecretString::from(answer.access_token().secret().to_owned()),
            refresh_token: answer
                .refresh_token()
                .map(|r| SecretString::from(r.secret().to_owned())),
            expires_at: expiry(answer.expires_in()),
            scopes: answer
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        }
    }
}

/// A Workspace customer ID (`C03az79cb`), not the `my_customer` alias.
fn is_customer_id(id: &str) -> bool {
    !id.is_empty() && id != "my_customer" && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[derive(serde::Deserialize)]
struct DirectoryCustomer {
    id: Option<String>,
}

impl GoogleClient {
    /// `GET {admin}/admin/directory/v1/customers/my_customer`: the ID behind the alias.
    async fn customer_id(&self, access_token: &SecretString) -> Result<String, TokenError> {
        let url = format!("{}/admin/directory/v1/customers/my_customer", self.settings.admin_url);
        let res = self
            .http
            .client()
            .get(url)
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(format!("directory customer: {e}")))?;
        if !res.status().is_success() {
            return Err(TokenError::Unavailable(format!(
                "directory customer answered {}",
                res.status()
            )));
        }
        let body: DirectoryCustomer = res
            .json()
            .await
            .map_err(|_| TokenError::Unavailable("unreadable directory customer".into()))?;
        body.id
            .filter(|id| is_customer_id(id))
            .ok_or_else(|| TokenError::Refused("the directory did not name its customer".into()))
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryUsers {
    #[serde(default)]
    users: Vec<DirectoryUser>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryUser {
    primary_email: String,
    customer_id: Option<String>,
}

#[async_trait]
impl Google for GoogleClient {
    fn authorize_url(&self, state: &str, code_challenge: &str, domain_hint: Option<&str>) -> String {
        let mut url = match url::Url::parse(&self.settings.auth_url) {
            Ok(u) => u,
            Err(_) => return "about:blank#bad-google-auth-url".to_owned(),
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("scope", &GOOGLE_SCOPES.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent");
        if let Some(d) = domain_hint {
            url.query_pairs_mut().append_pair("hd", d);
        }
        url.into()
    }

    async fn exchange_code(&self, code: &str, code_verifier: &str) -> Result<GoogleGrant, TokenError> {
        let answer = self
            .oauth()?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(code_verifier.to_owned()))
            .request_async(self.http.client())
            .await
            .map_err(classify)?;
        Ok(Self::grant(&answer))
    }

    async fn refresh(&self, refresh_token: &SecretString) -> Result<GoogleGrant, TokenError> {
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let answer = self
            .oauth()?
            .exchange_refresh_token(&token)
            .request_async(self.http.client())
            .await
            .map_err(classify)?;
        Ok(Self::grant(&answer))
    }

    async fn probe_directory(&self, access_token: &SecretString) -> Result<GoogleCustomer, TokenError> {
        let url = format!(
            "{}/admin/directory/v1/users?customer=my_customer&maxResults=1",
            self.settings.admin_url
        );
        let res = self
            .http
            .client()
            .get(url)
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(format!("directory: {e}")))?;
        let status = res.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(TokenError::NoConsent {
                code: format!("directory {status}"),
            });
        }
        if !status.is_success() {
            return Err(TokenError::Unavailable(format!("directory answered {status}")));
        }
        let body: DirectoryUsers = res
            .json()
            .await
            .map_err(|_| TokenError::Unavailable("unreadable directory answer".into()))?;
        let user = body
            .users
            .first()
            .ok_or_else(|| TokenError::Refused("the directory has no users".into()))?;
        let domain = user
            .primary_email
            .rsplit_once('@')
            .map(|(_, d)| d.to_lowercase())
            .unwrap_or_default();
        // `my_customer` is an alias, never an ID: when the users do not name their customer,
        // the customer resource does.
        let customer_id = match user.customer_id.clone().filter(|c| is_customer_id(c)) {
            Some(id) => id,
            None => self.customer_id(access_token).await?,
        };
        Ok(GoogleCustomer { customer_id, domain })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aadsts_codes_are_read_from_descriptions() {
        assert_eq!(
            aadsts("AADSTS7000229: The client application x is missing"),
            Some("7000229")
        );
        assert_eq!(aadsts("Trace: AADSTS90002: Tenant"), Some("90002"));
        assert_eq!(aadsts("no code"), None);
    }

    #[test]
    fn claims_are_read_without_the_signature() {
        let payload = B64.encode(r#"{"tid":"t-1","roles":["User.Read.All"]}"#);
        let c: Claims = claims(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(c.tid.as_deref(), Some("t-1"));
        assert_eq!(c.roles, vec!["User.Read.All"]);
        assert!(claims::<Claims>("opaque").is_err());
    }

    #[test]
    fn consent_urls_carry_the_tenant_or_organizations() {
        let c = EntraClient::new(
            MicrosoftSettings {
                client_id: "app".into(),
                client_secret: SecretString::from("s3cret"),
                login_url: "https://login.example".into(),
                graph_url: "https://graph.example".into(),
                redirect_uri: "https://api.example/v1/callback/microsoft".into(),
            },
            http_client(std::time::Duration::from_secs(1)),
        );
        let u = c.admin_consent_url(None, "a.b+c");
        assert!(u.starts_with("https://login.example/organizations/v2.0/adminconsent?client_id=app&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"));
        assert!(u.contains("state=a.b%2Bc"));
        assert!(
            c.admin_consent_url(Some("contoso.onmicrosoft.com"), "s")
                .starts_with("https://login.example/contoso.onmicrosoft.com/")
        );
        assert!(
            c.admin_consent_url(Some("../evil"), "s").contains("/organizations/"),
            "no path injection"
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
