//! HTML pages people open from emails (askama templates in `templates/pages/`, escaped).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// The one stylesheet of every page, inlined in a `<style>` element by
/// `templates/pages/layout.html` and allowed by its hash in the pages' CSP (`headers.rs`):
/// pages carry no `style` attributes (a hash cannot allow those), only these classes.
pub const PAGE_CSS: &str = concat!(
    "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2933;max-width:620px;margin:48px auto;padding:0 24px;line-height:1.5}",
    ".box{border:1px solid #d9e2ec;border-radius:8px;padding:24px}.ok{color:#1b7a3a}.bad{color:#b42318}",
    "a.button,button{display:inline-block;background:#2563eb;color:#fff;padding:10px 18px;border-radius:4px;text-decoration:none;border:0;font-size:16px;cursor:pointer}",
    "button.secondary{background:#52606d}.note{font-size:13px;color:#52606d}",
    ".sandbox{background:#fff4e5;border:1px solid #f5a623;padding:8px 12px;border-radius:4px}",
    // The console's pages (templates/console/).
    "body.console{max-width:1100px;margin:16px auto}header{display:flex;flex-wrap:wrap;gap:12px;align-items:center;border-bottom:1px solid #d9e2ec;padding:8px 0;margin-bottom:16px}",
    ".product{font-weight:700}nav{display:flex;flex-wrap:wrap;gap:12px;align-items:center}.partner{font-weight:600}",
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e4e7eb;vertical-align:top}",
    ".badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:13px;background:#e4e7eb}.badge.good{background:#d3f9d8}.badge.warn{background:#fff4e5}.badge.bad{background:#ffe3e3}",
    "form.inline{display:inline-block;margin:2px}button.link{background:none;color:#2563eb;padding:0;text-decoration:underline}",
    ".banner{border:1px solid #f5a623;background:#fff4e5;padding:8px 12px;border-radius:4px}",
    ".sr{position:absolute;left:-9999px}a:focus,button:focus,input:focus,select:focus{outline:2px solid #1d4ed8;outline-offset:2px}",
    ".skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px}",
    "nav a{color:#1d4ed8}nav a[aria-current]{font-weight:700;color:#1f2933;text-decoration:none}.seats{font-size:14px}.seats.warn{color:#b42318;font-weight:600}.who{font-size:13px;color:#52606d}",
    ".tabs{border-bottom:1px solid #d9e2ec;margin:16px 0 8px}.tabs a{padding:6px 10px}.tabs a[aria-current]{border-bottom:3px solid #2563eb}",
    ".stack label{display:block;font-weight:600;margin-bottom:2px}.stack input:not([type=radio]):not([type=checkbox]),.stack select{width:100%;max-width:420px;padding:6px;font-size:16px;box-sizing:border-box}",
    "label.choice{display:block;font-weight:400;margin:4px 0}fieldset{border:1px solid #d9e2ec;border-radius:4px;margin:0 0 12px;padding:8px 12px}legend{font-weight:600}",
    "input,select{font-size:15px;padding:4px}.search{margin:8px 0}.note{display:block}button.small{padding:4px 10px;font-size:14px}button.danger{background:#b42318}",
    ".link-field{width:100%;min-width:12em}.detail{font-family:monospace;font-size:12px;word-break:break-all}meter{width:100%;max-width:420px;height:20px}",
    "@media (max-width:600px){body.console{margin:8px auto;padding:0 12px}table,thead,tbody,tr,th,td{display:block}thead{display:none}td{border:0;padding:2px 0}td[data-label]::before{content:attr(data-label) \": \";font-weight:600;color:#52606d}tr{border-bottom:1px solid #d9e2ec;padding:6px 0}}",
);

#[derive(Template)]
#[template(path = "pages/activated.html")]
pub struct Activated<'a> {
    pub organization: &'a str,
    pub console_url: &'a str,
}

/// A page that names what went wrong and what to do about it.
#[derive(Template)]
#[template(path = "pages/problem.html")]
pub struct Problem<'a> {
    pub title: &'a str,
    pub cause: &'a str,
    pub fix: &'a str,
    /// A "Try again" button's target, when trying the same thing again can work.
    pub retry: Option<&'a str>,
}

/// The landing page of an emailed authorization link.
#[derive(Template)]
#[template(path = "pages/authorize.html")]
pub struct Authorize<'a> {
    pub partner: &'a str,
    pub client: &'a str,
    pub platform: &'a str,
    pub tenant: Option<&'a str>,
    pub provider: &'a str,
    pub admin_role: &'a str,
    pub permissions: &'a [String],
    pub start_url: &'a str,
    pub expires: &'a str,
    /// The partner's member who asked: questions go there.
    pub contact: &'a str,
}

/// Where a client's administrator lands after granting consent.
#[derive(Template)]
#[template(path = "pages/setup_started.html")]
pub struct SetupStarted<'a> {
    pub partner: &'a str,
    pub client: &'a str,
    pub platform: &'a str,
    pub missing: &'a [String],
}

pub fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(cause = %e, "page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<h1>Something went wrong</h1>".to_owned()),
            )
                .into_response()
        }
    }
}

/// The emailed activate link's page: one button that POSTs the token (a GET changes nothing).
#[derive(Template)]
#[template(path = "pages/activate.html")]
pub struct Activate<'a> {
    pub organization: &'a str,
    pub action: &'a str,
    pub token: &'a str,
}

/// The emailed reset link's page: the new-password form.
#[derive(Template)]
#[template(path = "pages/reset_password.html")]
pub struct ResetPassword<'a> {
    pub action: &'a str,
    pub token: &'a str,
}

#[derive(Template)]
#[template(path = "pages/password_changed.html")]
pub struct PasswordChanged<'a> {
    pub console_url: &'a str,
}

/// The emailed invitation's page: who invites, for which role, a password form.
#[derive(Template)]
#[template(path = "pages/invitation.html")]
pub struct InvitationPage<'a> {
    pub partner: &'a str,
    pub inviter: &'a str,
    pub email: &'a str,
    pub role: &'a str,
    pub expires: &'a str,
    pub action: &'a str,
    pub token: &'a str,
}

#[derive(Template)]
#[template(path = "pages/joined.html")]
pub struct Joined<'a> {
    pub partner: &'a str,
    pub console_url: &'a str,
}

/// Where a platform's consent happens, and who can give it.
pub fn consent_by(platform: crate::domain::Platform) -> (&'static str, &'static str) {
    match platform {
        crate::domain::Platform::Microsoft365 => ("Microsoft", "global administrator of the Microsoft 365 tenant"),
        crate::domain::Platform::GoogleWorkspace => ("Google", "super administrator of the Google Workspace"),
    }
}

/// A partner's offer page: who offers protection, a form for the client's organization and
/// administrator.
#[derive(Template)]
#[template(path = "pages/offer.html")]
pub struct OfferPage<'a> {
    pub partner: &'a str,
    pub platform: &'a str,
    pub provider: &'a str,
    pub admin_role: &'a str,
    pub action: &'a str,
    pub organization: &'a str,
    pub email: &'a str,
    pub problem: Option<&'a str>,
}

/// A page that carries a token: never cached, never sent on as a referrer.
pub fn token_page(status: StatusCode, t: &impl Template) -> Response {
    let mut res = page(status, t);
    let h = res.headers_mut();
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        axum::http::header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("no-referrer"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose formatting fails, so the template holding it cannot render.
    struct Unprintable;

    impl std::fmt::Display for Unprintable {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Err(std::fmt::Error)
        }
    }

    #[derive(Template)]
    #[template(source = "<p>{{ value }}</p>", ext = "html")]
    struct Broken {
        value: Unprintable,
    }

    #[tokio::test]
    async fn a_page_that_cannot_render_answers_500_with_a_body() {
        let res = page(StatusCode::OK, &Broken { value: Unprintable });
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Something went wrong"));
    }
}
