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

#[async_trait]
pub trait Microsoft: Send + Sync {
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
