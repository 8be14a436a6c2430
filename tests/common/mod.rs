//! Shared test set-up: services on in-memory twins, the test services' endpoints, helpers
//! to read what was stored and mailed.
#![allow(dead_code)]

use onboarding::app::{AppState, Links, Services};
use onboarding::clock::ManualClock;
use onboarding::email::memory::MemoryMailer;
use onboarding::store::embedded::EmbeddedStore;
use onboarding::store::Item;
use secrecy::SecretSlice;
use std::sync::Arc;

pub const BASE: &str = "http://127.0.0.1:3000";

pub struct TestApp {
    pub state: AppState,
    pub store: Arc<EmbeddedStore>,
    pub mailer: Arc<MemoryMailer>,
    pub clock: Arc<ManualClock>,
}

impl TestApp {
    pub fn new() -> Self {
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(EmbeddedStore::in_memory(clock.clone()));
        let mailer = Arc::new(MemoryMailer::default());
        let state = Services::new(
            store.clone(),
            mailer.clone(),
            clock.clone(),
            SecretSlice::from(vec![42u8; 32]),
            Links { public_base_url: BASE.into(), console_url: format!("{BASE}/console") },
        )
        .into_state();
        Self { state, store, mailer, clock }
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
    std::env::var("MOTO_URL").expect("MOTO_URL is not set: run the suite with `scripts/test`, which starts moto's server")
}

pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// Extracts the 6-digit code from a signup mail's text.
pub fn code_in(text: &str) -> String {
    let at = text.find("code is: ").expect("a code in the mail") + "code is: ".len();
    text[at..at + 6].to_owned()
}

/// Extracts the first URL containing `needle` from a text.
pub fn link_in(text: &str, needle: &str) -> String {
    text.split_whitespace().find(|w| w.contains(needle)).expect("a link in the mail").to_owned()
}
