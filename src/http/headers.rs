//! Security headers on every answer, set by one set of tower-http layers rather than per
//! handler:
//! - every response: `X-Content-Type-Options: nosniff`;
//! - every HTML page (`text/html`: emailed-link pages, callback answers, the console
//!   pages, the sandbox's pages): a strict `Content-Security-Policy`,
//!   `Referrer-Policy: no-referrer` and `Cache-Control: no-store` (their URLs carry tokens).
//!
//! The policy allows nothing but the pages' one inline stylesheet (by its hash, so no
//! `'unsafe-inline'`), forms posting to this service (the sandbox's consent form, whose answer
//! redirects through the callback to the console), no framing and no `<base>`; scripts and
//! fetches from this origin only (the console's one script file, `/console/console.js`, and
//! its progress polling): nothing inline. Pages carry no image or font.

use super::pages::PAGE_CSS;
use crate::services::Links;
use axum::Router;
use axum::http::{HeaderValue, Response, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

/// The CSP source allowing [`PAGE_CSS`] inlined in a `<style>` element.
pub fn style_source() -> String {
    format!("'sha256-{}'", STANDARD.encode(Sha256::digest(PAGE_CSS.as_bytes())))
}

/// The policy of every HTML page. `form-action` lists this service's own origin (`'self'`,
/// and `PUBLIC_BASE_URL`'s, which differs behind a proxy) and the console's, where a consent
/// answer may end (browsers check `form-action` on the redirects after a form post too).
pub fn content_security_policy(links: &Links) -> String {
    let mut form_action = vec!["'self'".to_owned()];
    for url in [&links.public_base_url, &links.console_url] {
        if let Ok(u) = url::Url::parse(url) {
            let origin = u.origin().ascii_serialization();
            if u.origin().is_tuple() && !form_action.contains(&origin) {
                form_action.push(origin);
            }
        }
    }
    format!(
        "default-src 'none'; style-src {}; script-src 'self'; connect-src 'self'; form-action {}; frame-ancestors 'none'; base-uri 'none'",
        style_source(),
        form_action.join(" ")
    )
}

/// The strictest policy, when the configured origins cannot be put in a header.
const FALLBACK_POLICY: &str = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn is_html<B>(res: &Response<B>) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

fn on_html<B>(value: HeaderValue) -> impl Fn(&Response<B>) -> Option<HeaderValue> + Clone {
    move |res: &Response<B>| is_html(res).then(|| value.clone())
}

/// `router` with the security headers on each of its answers.
pub fn secure<S: Clone + Send + Sync + 'static>(router: Router<S>, links: &Links) -> Router<S> {
    let csp = HeaderValue::from_str(&content_security_policy(links))
        .unwrap_or_else(|_| HeaderValue::from_static(FALLBACK_POLICY));
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            on_html(csp),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            on_html(HeaderValue::from_static("no-referrer")),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            on_html(HeaderValue::from_static("no-store")),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_stylesheet_and_the_form_targets_only() {
        let csp = content_security_policy(&Links {
            public_base_url: "https://api.example.com".into(),
            console_url: "https://console.example.com/app".into(),
        });
        assert_eq!(
            csp,
            format!(
                "default-src 'none'; style-src {}; script-src 'self'; connect-src 'self'; form-action 'self' https://api.example.com https://console.example.com; frame-ancestors 'none'; base-uri 'none'",
                style_source()
            )
        );
        assert!(!csp.contains("unsafe"));
    }
}
