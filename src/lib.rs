//! Onboarding backend of a SaaS-backup service for managed service providers.
//!
//! The crate is laid out as ports and adapters:
//! - [`domain`]: parsed, always-valid values (emails, names, codes, passwords); no I/O.
//! - [`signup`], [`sessions`], [`accounts`], [`authorization`], [`consent`], [`discovery`],
//!   [`protection`]: the use cases, written against the ports only ([`schedule`]: auto-add times).
//! - [`store`], [`email`], [`clock`]: the ports and their adapters (DynamoDB / embedded, SES / outbox).
//! - [`http`]: the one axum router served by every Lambda function, locally and in tests.
//! - [`config`], [`app`], [`telemetry`]: wiring.

pub mod app;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod email;
pub mod flows;
pub mod http;
pub mod identity;
pub mod limits;
pub mod queue;
pub mod repo;
pub mod schedule;
pub mod services;
pub mod store;
pub mod telemetry;
pub mod usecases;

pub use services::AppState;
