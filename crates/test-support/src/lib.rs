//! Dev-only support of the tests and benchmarks (a dev-dependency; no Lambda bootstrap contains
//! it, `scripts/validate-infra` checks): the fake identity providers and Graph, fixtures, and
//! the harness that runs the local binary.
//!
//! - [`fake_graph`]: a synthetic Microsoft Graph and Entra token endpoint over HTTP, of any size,
//!   with injected faults (discovery tests and benchmarks); [`fake_graph::seed_account`].
//! - [`fakes`]: in-memory twins of the identity ports (router tests).
//! - [`local_server`]: the `onboarding` binary on a free port.

pub mod fake_graph;
pub mod fakes;
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
