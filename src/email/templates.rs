//! Email templates (askama, `templates/email/`): every message has a text and an HTML part;
//! askama escapes every value in the HTML part, so organization names like `<b>` or
//! `"; DROP TABLE` arrive as text.

use super::{EmailMessage, MailError};
use crate::domain::{ConfirmationCode, EmailAddress, OrganizationName};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};

#[derive(Template)]
#[template(path = "email/signup_code.html")]
struct SignupCodeHtml<'a> {
    organization: &'a str,
    code: &'a str,
    activate_url: &'a str,
    valid_minutes: i64,
}

#[derive(Template)]
#[template(path = "email/signup_code.txt")]
struct SignupCodeText<'a> {
    organization: &'a str,
    code: &'a str,
    activate_url: &'a str,
    valid_minutes: i64,
}

#[derive(Template)]
#[template(path = "email/already_registered.html")]
struct AlreadyRegisteredHtml<'a> {
    sign_in_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/already_registered.txt")]
struct AlreadyRegisteredText<'a> {
    sign_in_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/authorization_request.html")]
struct AuthorizationRequestHtml<'a> {
    partner: &'a str,
    client: &'a str,
    platform: &'a str,
    tenant: Option<&'a str>,
    permissions: &'a [String],
    url: &'a str,
    expires: &'a str,
    has_contact: bool,
}

#[derive(Template)]
#[template(path = "email/authorization_request.txt")]
struct AuthorizationRequestText<'a> {
    partner: &'a str,
    client: &'a str,
    platform: &'a str,
    tenant: Option<&'a str>,
    permissions: &'a [String],
    url: &'a str,
    expires: &'a str,
    has_contact: bool,
}

#[derive(Template)]
#[template(path = "email/account_authorized.html")]
struct AccountAuthorizedHtml<'a> {
    client: &'a str,
    platform: &'a str,
    tenant: &'a str,
    missing: &'a [String],
    url: &'a str,
}

#[derive(Template)]
#[template(path = "email/account_authorized.txt")]
struct AccountAuthorizedText<'a> {
    client: &'a str,
    platform: &'a str,
    tenant: &'a str,
    missing: &'a [String],
    url: &'a str,
}

/// What an authorization email says (all values user-facing text; escaped in HTML).
pub struct AuthorizationRequest<'a> {
    pub partner: &'a str,
    pub client: &'a str,
    pub platform: &'a str,
    pub tenant: Option<&'a str>,
    pub permissions: &'a [String],
    pub expires: &'a str,
    /// Who answers the admin's questions: the partner's member who asked (`Reply-To`).
    pub reply_to: Option<&'a EmailAddress>,
}

pub fn authorization_request(
    to: &EmailAddress,
    r: &AuthorizationRequest<'_>,
    url: &SecretString,
) -> Result<EmailMessage, MailError> {
    let url = url.expose_secret();
    let (partner, client, platform, tenant, permissions, expires) =
        (r.partner, r.client, r.platform, r.tenant, r.permissions, r.expires);
    Ok(EmailMessage {
        reply_to: r.reply_to.cloned(),
        to: to.clone(),
        subject: format!("Authorization needed to back up your {platform} data"),
        text: render(&AuthorizationRequestText {
            partner,
            client,
            platform,
            tenant,
            permissions,
            url,
            expires,
            has_contact: r.reply_to.is_some(),
        })?,
        html: render(&AuthorizationRequestHtml {
            partner,
            client,
            platform,
            tenant,
            permissions,
            url,
            expires,
            has_contact: r.reply_to.is_some(),
        })?,
        links: vec![url.to_owned()],
    })
}

pub fn account_authorized(
    to: &EmailAddress,
    client: &str,
    platform: &str,
    tenant: &str,
    missing: &[String],
    url: &str,
) -> Result<EmailMessage, MailError> {
    Ok(EmailMessage {
        reply_to: None,
        to: to.clone(),
        subject: format!("{platform} tenant authorized"),
        text: render(&AccountAuthorizedText {
            client,
            platform,
            tenant,
            missing,
            url,
        })?,
        html: render(&AccountAuthorizedHtml {
            client,
            platform,
            tenant,
            missing,
            url,
        })?,
        links: vec![url.to_owned()],
    })
}

#[derive(Template)]
#[template(path = "email/access_revoked.html")]
struct AccessRevokedHtml<'a> {
    client: &'a str,
    platform: &'a str,
    tenant: &'a str,
    reason: &'a str,
    url: &'a str,
}

#[derive(Template)]
#[template(path = "email/access_revoked.txt")]
struct AccessRevokedText<'a> {
    client: &'a str,
    platform: &'a str,
    tenant: &'a str,
    reason: &'a str,
    url: &'a str,
}

/// To the partner, once, when discovery finds a tenant's consent withdrawn or the tenant gone.
pub fn access_revoked(
    to: &EmailAddress,
    client: &str,
    platform: &str,
    tenant: &str,
    reason: &str,
    url: &str,
) -> Result<EmailMessage, MailError> {
    Ok(EmailMessage {
        reply_to: None,
        to: to.clone(),
        subject: format!("Action needed: {client}'s {platform} access was revoked"),
        text: render(&AccessRevokedText {
            client,
            platform,
            tenant,
            reason,
            url,
        })?,
        html: render(&AccessRevokedHtml {
            client,
            platform,
            tenant,
            reason,
            url,
        })?,
        links: vec![url.to_owned()],
    })
}

/// A failed render is an error (never an empty message): the message is not sent.
fn render(t: &impl Template) -> Result<String, MailError> {
    t.render().map_err(|e| MailError::Render(e.to_string()))
}

pub fn signup_code(
    to: &EmailAddress,
    organization: &OrganizationName,
    code: &ConfirmationCode,
    activate_url: &SecretString,
    valid_minutes: i64,
) -> Result<EmailMessage, MailError> {
    let (organization, code, activate_url) = (organization.as_str(), code.expose(), activate_url.expose_secret());
    Ok(EmailMessage {
        reply_to: None,
        to: to.clone(),
        subject: "Your confirmation code".to_owned(),
        text: render(&SignupCodeText {
            organization,
            code,
            activate_url,
            valid_minutes,
        })?,
        html: render(&SignupCodeHtml {
            organization,
            code,
            activate_url,
            valid_minutes,
        })?,
        links: vec![activate_url.to_owned()],
    })
}

pub fn already_registered(to: &EmailAddress, sign_in_url: &str) -> Result<EmailMessage, MailError> {
    Ok(EmailMessage {
        reply_to: None,
        to: to.clone(),
        subject: "You already have an account".to_owned(),
        text: render(&AlreadyRegisteredText { sign_in_url })?,
        html: render(&AlreadyRegisteredHtml { sign_in_url })?,
        links: vec![sign_in_url.to_owned()],
    })
}

#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct PasswordResetHtml<'a> {
    reset_url: &'a str,
    valid_minutes: i64,
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct PasswordResetText<'a> {
    reset_url: &'a str,
    valid_minutes: i64,
}

/// A single-use link to choose a new password.
pub fn password_reset(
    to: &EmailAddress,
    reset_url: &SecretString,
    valid_minutes: i64,
) -> Result<EmailMessage, MailError> {
    let reset_url = reset_url.expose_secret();
    Ok(EmailMessage {
        reply_to: None,
        to: to.clone(),
        subject: "Reset your password".to_owned(),
        text: render(&PasswordResetText {
            reset_url,
            valid_minutes,
        })?,
        html: render(&PasswordResetHtml {
            reset_url,
            valid_minutes,
        })?,
        links: vec![reset_url.to_owned()],
    })
}

#[derive(Template)]
#[template(path = "email/invitation.html")]
struct InvitationHtml<'a> {
    partner: &'a str,
    inviter: &'a str,
    role: &'a str,
    url: &'a str,
    valid_days: i64,
}

#[derive(Template)]
#[template(path = "email/invitation.txt")]
struct InvitationText<'a> {
    partner: &'a str,
    inviter: &'a str,
    role: &'a str,
    url: &'a str,
    valid_days: i64,
}

/// An invitation to join a partner's team: a single-use link to choose a password.
pub fn invitation(
    to: &EmailAddress,
    partner: &str,
    inviter: &str,
    role: &str,
    url: &SecretString,
    valid_days: i64,
) -> Result<EmailMessage, MailError> {
    let url = url.expose_secret();
    Ok(EmailMessage {
        reply_to: None,
        to: to.clone(),
        subject: format!("{inviter} invited you to {partner}"),
        text: render(&InvitationText {
            partner,
            inviter,
            role,
            url,
            valid_days,
        })?,
        html: render(&InvitationHtml {
            partner,
            inviter,
            role,
            url,
            valid_days,
        })?,
        links: vec![url.to_owned()],
    })
}

#[derive(Template)]
#[template(path = "email/offer_accepted.html")]
struct OfferAcceptedHtml<'a> {
    client: &'a str,
    platform: &'a str,
    tenant: &'a str,
    url: &'a str,
}

#[derive(Template)]
#[template(path = "email/offer_accepted.txt")]
struct OfferAcceptedText<'a> {
    client: &'a str,
    platform: &'a str,
    tenant: &'a str,
    url: &'a str,
}

/// To the partner's owners and admins when a client onboarded itself through an offer.
pub fn offer_accepted(
    to: &EmailAddress,
    client: &str,
    platform: &str,
    tenant: &str,
    url: &str,
) -> Result<EmailMessage, MailError> {
    Ok(EmailMessage {
        reply_to: None,
        to: to.clone(),
        subject: format!("{client} accepted your offer"),
        text: render(&OfferAcceptedText {
            client,
            platform,
            tenant,
            url,
        })?,
        html: render(&OfferAcceptedHtml {
            client,
            platform,
            tenant,
            url,
        })?,
        links: vec![url.to_owned()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_are_escaped_in_html_and_kept_in_text() {
        let org = OrganizationName::parse("organization", "<script>alert('x')</script> & \"Co\"").unwrap();
        let to = EmailAddress::parse("email", "a@example.com").unwrap();
        let code = ConfirmationCode::parse("code", "123456").unwrap();
        let m = signup_code(&to, &org, &code, &SecretString::from("http://x/a?token=t"), 15).unwrap();
        assert!(!m.html.contains("<script>"));
        assert!(m.html.contains("&#60;script&#62;"));
        assert!(m.text.contains("<script>alert('x')</script>"));
        assert!(m.text.contains("123456") && m.html.contains("123456"));
        assert!(!m.subject.contains('\n'));
    }

    struct Unprintable;

    impl std::fmt::Display for Unprintable {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Err(std::fmt::Error)
        }
    }

    #[derive(Template)]
    #[template(source = "{{ value }}", ext = "txt")]
    struct Broken {
        value: Unprintable,
    }

    #[test]
    fn a_template_that_cannot_render_is_an_error_never_an_empty_message() {
        let e = render(&Broken { value: Unprintable }).unwrap_err();
        assert!(matches!(e, MailError::Render(_)));
    }
}
