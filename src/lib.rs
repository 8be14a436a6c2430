//! Onboarding backend of a SaaS-backup service for managed service providers.
//!
//! The crate is laid out as ports and adapters:
//! - [`domain`]: parsed, always-valid values (emails, names, codes, passwords); no I/O.
//! - [`signup`], [`sessions`], [`accounts`], [`authorization`], [`consent`], [`discovery`],
//!   [`protection`]: the use cases, written against the ports only ([`schedule`]: auto-add times).
//! - [`store`], [`email`], [`clock`]: the ports and their adapters (DynamoDB / embedded, SES / outbox).
//! - [`http`]: the one axum router served by every Lambda function, locally and in tests.
//! - [`config`], [`app`], [`telemetry`]: wiring.

pub mod accounts;
pub mod app;
pub mod authorization;
pub mod clock;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod discovery;
pub mod domain;
pub mod email;
pub mod fake_graph;
pub mod http;
pub mod identity;
pub mod limits;
pub mod password_reset;
pub mod protection;
pub mod sandbox;
pub mod schedule;
pub mod sessions;
pub mod signup;
pub mod store;
pub mod telemetry;

pub use app::AppState;
