//! Google as a test scripts it: the `Google` port in memory (codes that work, the customer
//! they reach, a failure for the next exchange).

use async_trait::async_trait;
use chrono::{Duration, Utc};
use onboarding::identity::{Google, GoogleCustomer, GoogleGrant, TokenError};
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Mutex;

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
