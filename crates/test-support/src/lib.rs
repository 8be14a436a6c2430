//! Dev-only support of the tests and benchmarks (a dev-dependency; no Lambda bootstrap contains
//! it, `scripts/validate-infra` checks): the fake identity providers and Graph, fixtures, and
//! the harness that runs the local binary.
//!
//! - [`entra`]: the one fake Microsoft (Entra ID and Graph): the `Microsoft` port in memory for
//!   router tests, and the token endpoint and a Graph of any size, with injected faults, over
//!   HTTP for discovery tests and benchmarks; both read the same consent.
//! - [`google`]: the `Google` port in memory.
//! - [`fixtures`]: store contents earlier steps leave behind ([`fixtures::seed_account`]).
//! - [`local_server`]: the `onboarding` binary on a free port.
//!
//! The sandbox (`onboarding-sandbox`) stays what `cargo run` serves to people and what the
//! sandbox-flow tests walk through; tests and benches script this crate's fakes instead.

/// The HTTP client the local-server helpers answer (so tests can name its types).
pub use reqwest;
pub mod directory;
pub mod entra;
pub mod fixtures;
pub mod google;
pub mod local_server;

/// The password every test partner signs up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// Extracts the 6-digit code from a signup mail's text.
pub fn code_in(text: &str) -> String {
    let at = text.find("code is: ").expect("a code in the mail") + "code is: ".len();
    text[at..at + 6].to_owned()
}

/// Extracts the first URL containing `needle` from a text.
pub fn link_in(text: &str, needle: &str) -> String {
    text.split_whitespace()
        .find(|w| w.contains(needle))
        .expect("a link in the mail")
        .to_owned()
}
