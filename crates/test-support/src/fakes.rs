//! In-memory twins of the identity ports: scripted answers, recorded calls.

use async_trait::async_trait;
use chrono::{Duration, Utc};
use onboarding::identity::{
    AppToken, CONSENTING_ADMIN_ROLES, Google, GoogleCustomer, GoogleGrant, IdTokenClaims, Microsoft,
    REQUIRED_MICROSOFT_ROLES, SignInRequest, TokenError,
};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Mutex;

pub const TENANT_A: &str = "11111111-1111-4111-8111-111111111111";
pub const TENANT_B: &str = "22222222-2222-4222-8222-222222222222";

/// Microsoft as a test scripts it: which tenants have consented with which roles, which
/// domains name which tenant, and an optional failure for the next token calls.
pub struct FakeMicrosoft {
    pub consented: Mutex<HashMap<String, Vec<String>>>,
    pub domains: Mutex<HashMap<String, String>>,
    pub failure: Mutex<Option<TokenError>>,
    pub token_calls: Mutex<usize>,
    /// Sign-in codes the provider would accept, with the ID token each redeems to.
    pub sign_ins: Mutex<HashMap<String, IdTokenClaims>>,
    /// The PKCE verifiers sent with redeemed codes.
    pub verifiers: Mutex<Vec<String>>,
}

impl Default for FakeMicrosoft {
    fn default() -> Self {
        let all: Vec<String> = REQUIRED_MICROSOFT_ROLES.iter().map(|r| (*r).to_owned()).collect();
        Self {
            consented: Mutex::new(HashMap::from([
                (TENANT_A.to_owned(), all.clone()),
                (TENANT_B.to_owned(), all),
            ])),
            domains: Mutex::new(HashMap::from([
                ("a.onmicrosoft.com".to_owned(), TENANT_A.to_owned()),
                ("b.onmicrosoft.com".to_owned(), TENANT_B.to_owned()),
            ])),
            failure: Mutex::new(None),
            token_calls: Mutex::new(0),
            sign_ins: Mutex::new(HashMap::new()),
            verifiers: Mutex::new(Vec::new()),
        }
    }
}

pub const FAKE_CLIENT_ID: &str = "fake";

/// The ID token a genuine sign-in of a global admin of `tenant` redeems to.
pub fn admin_id_token(tenant: &str, nonce: &str) -> IdTokenClaims {
    IdTokenClaims {
        iss: format!("https://login.fake/{tenant}/v2.0"),
        aud: FAKE_CLIENT_ID.into(),
        exp: (Utc::now() + Duration::hours(1)).timestamp(),
        nonce: Some(nonce.to_owned()),
        tid: Some(tenant.to_owned()),
        wids: Some(vec![CONSENTING_ADMIN_ROLES[0].to_owned()]),
        preferred_username: Some(format!("admin@{tenant}")),
    }
}

impl FakeMicrosoft {
    /// Makes `code` redeem to `claims` (once).
    pub fn accept_sign_in(&self, code: &str, claims: IdTokenClaims) {
        self.sign_ins.lock().unwrap().insert(code.to_owned(), claims);
    }

    pub fn fail_with(&self, e: Option<TokenError>) {
        *self.failure.lock().unwrap() = e;
    }

    pub fn grant_roles(&self, tenant: &str, roles: &[&str]) {
        self.consented
            .lock()
            .unwrap()
            .insert(tenant.to_owned(), roles.iter().map(|r| (*r).to_owned()).collect());
    }
}

#[async_trait]
impl Microsoft for FakeMicrosoft {
    fn client_id(&self) -> &str {
        FAKE_CLIENT_ID
    }

    fn issuer(&self, tenant_id: &str) -> String {
        format!("https://login.fake/{tenant_id}/v2.0")
    }

    fn sign_in_url(&self, r: &SignInRequest<'_>) -> String {
        let mut u = url::Url::parse(&format!(
            "https://login.fake/{}/oauth2/v2.0/authorize",
            r.tenant.unwrap_or("organizations")
        ))
        .unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", FAKE_CLIENT_ID)
            .append_pair("state", r.state)
            .append_pair("nonce", r.nonce)
            .append_pair("code_challenge", r.code_challenge);
        u.to_string()
    }

    async fn redeem_sign_in(&self, code: &str, code_verifier: &str) -> Result<IdTokenClaims, TokenError> {
        self.verifiers.lock().unwrap().push(code_verifier.to_owned());
        self.sign_ins.lock().unwrap().remove(code).ok_or(TokenError::NoConsent {
            code: "invalid_grant".into(),
        })
    }

    async fn tenant_of_domain(&self, domain: &str) -> Result<Option<String>, TokenError> {
        Ok(self.domains.lock().unwrap().get(domain).cloned())
    }

    fn admin_consent_url(&self, tenant: Option<&str>, state: &str) -> String {
        let mut u = url::Url::parse(&format!(
            "https://login.fake/{}/v2.0/adminconsent",
            tenant.unwrap_or("organizations")
        ))
        .unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", "fake")
            .append_pair("state", state);
        u.to_string()
    }

    async fn app_token(&self, tenant: &str) -> Result<AppToken, TokenError> {
        *self.token_calls.lock().unwrap() += 1;
        if let Some(e) = self.failure.lock().unwrap().clone() {
            return Err(e);
        }
        let tid = self
            .domains
            .lock()
            .unwrap()
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| tenant.to_owned());
        let roles = self
            .consented
            .lock()
            .unwrap()
            .get(&tid)
            .cloned()
            .ok_or(TokenError::NoConsent { code: "7000229".into() })?;
        Ok(AppToken {
            access_token: SecretString::from("fake-access-token"),
            expires_at: Utc::now() + Duration::hours(1),
            tenant_id: tid,
            roles,
        })
    }
}

/// Google as a test scripts it: codes that work, the customer they reach.
pub struct FakeGoogle {
    pub codes: Mutex<HashMap<String, String>>,
    pub customer: Mutex<GoogleCustomer>,
    pub failure: Mutex<Option<TokenError>>,
    pub verifiers: Mutex<Vec<String>>,
}

impl Default for FakeGoogle {
    fn default() -> Self {
        Self {
            codes: Mutex::new(HashMap::new()),
            customer: Mutex::new(GoogleCustomer {
                customer_id: "C01fake".into(),
                domain: "northwind.example".into(),
            }),
            failure: Mutex::new(None),
            verifiers: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl Google for FakeGoogle {
    fn authorize_url(&self, state: &str, code_challenge: &str, domain_hint: Option<&str>) -> String {
        let mut u = url::Url::parse("https://accounts.fake/o/oauth2/v2/auth").unwrap();
        u.query_pairs_mut()
            .append_pair("state", state)
            .append_pair("code_challenge", code_challenge);
        if let Some(d) = domain_hint {
            u.query_pairs_mut().append_pair("hd", d);
        }
        u.to_string()
    }

    async fn exchange_code(&self, code: &str, code_verifier: &str) -> Result<GoogleGrant, TokenError> {
        if let Some(e) = self.failure.lock().unwrap().clone() {
            return Err(e);
        }
        self.verifiers.lock().unwrap().push(code_verifier.to_owned());
        let refresh = self.codes.lock().unwrap().remove(code).ok_or(TokenError::NoConsent {
            code: "invalid_grant".into(),
        })?;
        Ok(GoogleGrant {
            access_token: SecretString::from("fake-google-access"),
            refresh_token: Some(SecretString::from(refresh)),
            expires_at: Utc::now() + Duration::hours(1),
            scopes: onboarding::identity::GOOGLE_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        })
    }

    async fn refresh(&self, _: &SecretString) -> Result<GoogleGrant, TokenError> {
        Err(TokenError::NoConsent {
            code: "invalid_grant".into(),
        })
    }

    async fn probe_directory(&self, _: &SecretString) -> Result<GoogleCustomer, TokenError> {
        Ok(self.customer.lock().unwrap().clone())
    }
}
