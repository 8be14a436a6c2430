//! Identity provider ports: Microsoft Entra ID (admin consent + client-credentials token) and
//! Google (OAuth 2.0 authorization code with PKCE + Admin SDK Directory). Every base URL comes
//! from configuration, so the real providers, the built-in sandbox (`crate::sandbox`) and test
//! fakes run the same code. Facts these follow: `shared/protocols.md`.

pub mod graph;
pub mod http;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

/// The application permissions (Graph app roles) the service needs in a Microsoft tenant now.
/// A token lacking any of them means `reauthorization_required`.
pub const REQUIRED_MICROSOFT_ROLES: [&str; 5] = [
    "User.Read.All",
    "Group.Read.All",
    "Sites.Read.All",
    "Mail.ReadWrite",
    "Files.ReadWrite.All",
];

/// What a permission lets the service do, in plain words, for people who read scope names
/// in consent pages, mails and the console (`None` for a name we do not ask for).
pub fn permission_line(permission: &str) -> Option<&'static str> {
    Some(match permission {
        "User.Read.All" => "See the tenant's users and their mailboxes' names",
        "Group.Read.All" => "See the tenant's groups and Teams",
        "Sites.Read.All" => "See the tenant's SharePoint sites",
        "Mail.ReadWrite" => "Back up and restore mailboxes",
        "Files.ReadWrite.All" => "Back up and restore OneDrive and SharePoint files",
        "https://www.googleapis.com/auth/admin.directory.user.readonly" => "See the domain's users (read only)",
        _ => return None,
    })
}

/// `permission` with its plain-words line beside it: "See the tenant's users (User.Read.All)".
pub fn described(permission: &str) -> String {
    match permission_line(permission) {
        Some(line) => format!("{line} ({permission})"),
        None => permission.to_owned(),
    }
}

/// The Google scopes the service asks for.
pub const GOOGLE_SCOPES: [&str; 1] = ["https://www.googleapis.com/auth/admin.directory.user.readonly"];

/// An app-only access token for one tenant, with the claims read from it.
#[derive(Clone)]
pub struct AppToken {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
    /// `tid`: the tenant the token is for.
    pub tenant_id: String,
    /// `roles`: the application permissions granted in that tenant.
    pub roles: Vec<String>,
}

impl std::fmt::Debug for AppToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppToken")
            .field("tenant_id", &self.tenant_id)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// What a token request or provider call failed with, classified by AADSTS code (Microsoft)
/// or OAuth error (Google) as `protocols.md` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Consent withdrawn or the app is not in the tenant (AADSTS7000229, 700016, 65001;
    /// Google `invalid_grant`; Graph 401/403 `Authorization_RequestDenied`).
    #[error("no consent in the tenant ({code})")]
    NoConsent { code: String },
    /// The tenant does not exist, was deleted or is disabled (AADSTS90002, 500014, 90072).
    #[error("tenant not found or disabled ({code})")]
    TenantGone { code: String },
    /// The service's own credentials were refused (AADSTS7000215, 7000222, Google
    /// `invalid_client`): our fault, never the tenant's.
    #[error("the service's app credentials were refused ({code})")]
    AppCredentials { code: String },
    /// 5xx, timeout, connection failure or an unreadable answer: try again later.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// Any other refusal (bad request, unknown code...).
    #[error("refused by the identity provider: {0}")]
    Refused(String),
}

/// Directory role template IDs (`wids`) whose holders can grant tenant-wide consent to
/// Microsoft Graph application permissions: Global Administrator and Privileged Role
/// Administrator.
pub const CONSENTING_ADMIN_ROLES: [&str; 2] = [
    "62e90394-69f5-4237-9190-012177145e10",
    "e8611ab8-c189-46e8-94e1-60213ab1f814",
];

/// The claims of an ID token that the token endpoint gave to our own code exchange. Read,
/// not yet checked: `consent.rs` checks them (audience, issuer, nonce, expiry, roles).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct IdTokenClaims {
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub aud: String,
    #[serde(default)]
    pub exp: i64,
    pub nonce: Option<String>,
    /// The signed-in user's tenant.
    pub tid: Option<String>,
    /// Directory role template IDs of the signed-in user, when the app registration emits them.
    pub wids: Option<Vec<String>>,
    pub preferred_username: Option<String>,
}

/// What the sign-in leg's authorization URL carries.
pub struct SignInRequest<'a> {
    /// The tenant ID or domain when known, else `organizations`.
    pub tenant: Option<&'a str>,
    pub state: &'a str,
    pub nonce: &'a str,
    /// `BASE64URL(SHA-256(verifier))` (PKCE S256).
    pub code_challenge: &'a str,
}

#[async_trait]
pub trait Microsoft: Send + Sync {
    /// Our application (client) ID: the `aud` of ID tokens issued to us.
    fn client_id(&self) -> &str;

    /// The issuer of ID tokens for `tenant_id`: `{login}/{tid}/v2.0`.
    fn issuer(&self, tenant_id: &str) -> String;

    /// The sign-in leg (OpenID Connect authorization code with PKCE):
    /// `{login}/{tenant|organizations}/oauth2/v2.0/authorize?client_id&response_type=code&response_mode=query&redirect_uri&scope=openid profile&state&nonce&code_challenge&code_challenge_method=S256&prompt=select_account`.
    fn sign_in_url(&self, request: &SignInRequest<'_>) -> String;

    /// Redeems a sign-in code at `{login}/organizations/oauth2/v2.0/token` with the PKCE
    /// verifier; answers the ID token's claims.
    async fn redeem_sign_in(&self, code: &str, code_verifier: &str) -> Result<IdTokenClaims, TokenError>;

    /// The tenant ID a domain names (`{login}/{domain}/v2.0/.well-known/openid-configuration`'s
    /// issuer); `None` when no tenant has that domain.
    async fn tenant_of_domain(&self, domain: &str) -> Result<Option<String>, TokenError>;

    /// `{login}/{tenant}/v2.0/adminconsent?client_id&scope=https://graph.microsoft.com/.default&redirect_uri&state`,
    /// with the tenant ID or domain when known, else `organizations`.
    fn admin_consent_url(&self, tenant: Option<&str>, state: &str) -> String;

    /// A client-credentials token for `tenant` (ID or domain): the only proof of consent.
    async fn app_token(&self, tenant: &str) -> Result<AppToken, TokenError>;

    /// A token requested now, never from a cache: what a consent callback proves consent
    /// with (a cached token would show the roles of an earlier consent).
    async fn fresh_app_token(&self, tenant: &str) -> Result<AppToken, TokenError> {
        self.app_token(tenant).await
    }
}

/// What a Google code exchange or refresh gives.
#[derive(Clone)]
pub struct GoogleGrant {
    pub access_token: SecretString,
    /// Present on the first exchange with `access_type=offline&prompt=consent`.
    pub refresh_token: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for GoogleGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleGrant")
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The Google Workspace customer a grant reaches, proven by one Directory call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoogleCustomer {
    /// `customerId` of the directory's users (e.g. `C03az79cb`).
    pub customer_id: String,
    /// The primary domain (domain part of the first user's `primaryEmail`).
    pub domain: String,
}

#[async_trait]
pub trait Google: Send + Sync {
    /// `{auth}?response_type=code&client_id&redirect_uri&scope&state&code_challenge&code_challenge_method=S256&access_type=offline&prompt=consent`
    /// (plus `hd=<domain>` when the domain is known).
    fn authorize_url(&self, state: &str, code_challenge: &str, domain_hint: Option<&str>) -> String;

    /// Exchanges the authorization code with the PKCE verifier.
    async fn exchange_code(&self, code: &str, code_verifier: &str) -> Result<GoogleGrant, TokenError>;

    /// A new access token from a stored refresh token (`invalid_grant`: access revoked).
    async fn refresh(&self, refresh_token: &SecretString) -> Result<GoogleGrant, TokenError>;

    /// `GET {admin}/admin/directory/v1/users?customer=my_customer&maxResults=1`: proves the
    /// grant reaches a directory and names it.
    async fn probe_directory(&self, access_token: &SecretString) -> Result<GoogleCustomer, TokenError>;
}

/// Identity providers that are not configured: every call answers `Unavailable`.
pub struct Unconfigured;

#[async_trait]
impl Microsoft for Unconfigured {
    fn client_id(&self) -> &str {
        ""
    }

    fn issuer(&self, _: &str) -> String {
        String::new()
    }

    fn sign_in_url(&self, _: &SignInRequest<'_>) -> String {
        "about:blank#microsoft-not-configured".to_owned()
    }

    async fn redeem_sign_in(&self, _: &str, _: &str) -> Result<IdTokenClaims, TokenError> {
        Err(TokenError::Unavailable("Microsoft is not configured".into()))
    }

    async fn tenant_of_domain(&self, _: &str) -> Result<Option<String>, TokenError> {
        Err(TokenError::Unavailable("Microsoft is not configured".into()))
    }

    fn admin_consent_url(&self, _: Option<&str>, _: &str) -> String {
        "about:blank#microsoft-not-configured".to_owned()
    }

    async fn app_token(&self, _: &str) -> Result<AppToken, TokenError> {
        Err(TokenError::Unavailable("Microsoft is not configured".into()))
    }
}

#[async_trait]
impl Google for Unconfigured {
    fn authorize_url(&self, _: &str, _: &str, _: Option<&str>) -> String {
        "about:blank#google-not-configured".to_owned()
    }

    async fn exchange_code(&self, _: &str, _: &str) -> Result<GoogleGrant, TokenError> {
        Err(TokenError::Unavailable("Google is not configured".into()))
    }

    async fn refresh(&self, _: &SecretString) -> Result<GoogleGrant, TokenError> {
        Err(TokenError::Unavailable("Google is not configured".into()))
    }

    async fn probe_directory(&self, _: &SecretString) -> Result<GoogleCustomer, TokenError> {
        Err(TokenError::Unavailable("Google is not configured".into()))
    }
}

/// The required application roles `granted` lacks (compared case-insensitively).
pub fn missing_roles(granted: &[String]) -> Vec<String> {
    REQUIRED_MICROSOFT_ROLES
        .iter()
        .filter(|r| !granted.iter().any(|g| g.eq_ignore_ascii_case(r)))
        .map(|r| (*r).to_owned())
        .collect()
}
