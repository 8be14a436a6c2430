//! Email templates (askama, `templates/email/`): every message has a text and an HTML part;
//! askama escapes every value in the HTML part, so organization names like `<b>` or
//! `"; DROP TABLE` arrive as text.

use super::EmailMessage;
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

fn render(t: &impl Template) -> String {
    // Rendering only fails on a formatter error, which plain strings cannot raise.
    t.render().unwrap_or_default()
}

pub fn signup_code(
    to: &EmailAddress,
    organization: &OrganizationName,
    code: &ConfirmationCode,
    activate_url: &SecretString,
    valid_minutes: i64,
) -> EmailMessage {
    let (organization, code, activate_url) = (organization.as_str(), code.expose(), activate_url.expose_secret());
    EmailMessage {
        to: to.clone(),
        subject: "Your confirmation code".to_owned(),
        text: render(&SignupCodeText {
            organization,
            code,
            activate_url,
            valid_minutes,
        }),
        html: render(&SignupCodeHtml {
            organization,
            code,
            activate_url,
            valid_minutes,
        }),
        links: vec![activate_url.to_owned()],
    }
}

pub fn already_registered(to: &EmailAddress, sign_in_url: &str) -> EmailMessage {
    EmailMessage {
        to: to.clone(),
        subject: "You already have an account".to_owned(),
        text: render(&AlreadyRegisteredText { sign_in_url }),
        html: render(&AlreadyRegisteredHtml { sign_in_url }),
        links: vec![sign_in_url.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_are_escaped_in_html_and_kept_in_text() {
        let org = OrganizationName::parse("organization", "<script>alert('x')</script> & \"Co\"").unwrap();
        let to = EmailAddress::parse("email", "a@example.com").unwrap();
        let code = ConfirmationCode::parse("code", "123456").unwrap();
        let m = signup_code(&to, &org, &code, &SecretString::from("http://x/a?token=t"), 15);
        assert!(!m.html.contains("<script>"));
        assert!(m.html.contains("&#60;script&#62;"));
        assert!(m.text.contains("<script>alert('x')</script>"));
        assert!(m.text.contains("123456") && m.html.contains("123456"));
        assert!(!m.subject.contains('\n'));
    }
}
