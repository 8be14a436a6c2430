//! The OpenAPI schemas of the parsed values (utoipa, no HTTP): each says exactly what its
//! `parse` accepts, constraints included, so `/openapi.json` is generated from the parsers and a
//! fuzzer drawing from it finds no gap. Patterns are ECMA-262 (and Python `re`) compatible.

use super::{AccountId, ClientId, ConfirmationCode, EmailAddress, NewPassword, OrganizationName, PartnerId, TenantRef};
use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{RefOr, schema::SchemaType};
use utoipa::{PartialSchema, ToSchema};

/// Rust's `char::is_whitespace` (Unicode White_Space), which `str::trim` removes.
pub const WHITESPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Rust's `char::is_control` (general category Cc).
pub const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Whitespace that is not a control character.
const SPACES: &str = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .description(Some(description))
}

/// `value`, or (when the field is optional) absent, `null` or blank: what a handler that
/// filters out blank strings before parsing accepts.
pub fn blank_or(value: RefOr<Schema>) -> RefOr<Schema> {
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::new(Type::Null)))
        .item(string("Blank: the same as leaving the field out.").pattern(Some(format!("^[{WHITESPACE}]*$"))))
        .item(value)
        .into()
}

impl PartialSchema for EmailAddress {
    fn schema() -> RefOr<Schema> {
        string("An email address (trimmed and lower-cased; at most 254 characters).")
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(EmailAddress::MAX_LEN))
            .examples(["alice@example.com"])
            .into()
    }
}
impl ToSchema for EmailAddress {}

impl PartialSchema for ConfirmationCode {
    fn schema() -> RefOr<Schema> {
        string("The 6-digit code from the email; spaces and dashes are ignored.")
            .pattern(Some("^[ -]*([0-9][ -]*){6}$"))
            .examples(["123456"])
            .into()
    }
}
impl ToSchema for ConfirmationCode {}

impl PartialSchema for OrganizationName {
    fn schema() -> RefOr<Schema> {
        // Trimmed, then 1 to MAX_CHARS characters without control characters.
        let edge = format!("[^{CONTROL}{SPACES}]");
        let inner = format!("[^{CONTROL}]");
        let max = OrganizationName::MAX_CHARS - 2;
        string(&format!(
            "A name, trimmed: 1 to {} characters, no line breaks or control characters.",
            OrganizationName::MAX_CHARS
        ))
        .pattern(Some(format!(
            "^[{WHITESPACE}]*{edge}({inner}{{0,{max}}}{edge})?[{WHITESPACE}]*$"
        )))
        .examples(["Acme IT"])
        .into()
    }
}
impl ToSchema for OrganizationName {}

impl PartialSchema for NewPassword {
    fn schema() -> RefOr<Schema> {
        string(&format!(
            "{} to {} characters, and not guessable (common passwords, keyboard walks, repeats and \
             ones built from the email or organization are refused with 422 weak_password).",
            NewPassword::MIN_CHARS,
            NewPassword::MAX_CHARS
        ))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
        .min_length(Some(NewPassword::MIN_CHARS))
        .max_length(Some(NewPassword::MAX_CHARS))
        .into()
    }
}
impl ToSchema for NewPassword {}

/// A GUID as `uuid::Uuid::parse_str` reads it (hyphenated, simple, braced or URN), any case.
const GUID: &str = concat!(
    "([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
    "|[0-9A-Fa-f]{32}",
    r"|\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}",
    "|[Uu][Rr][Nn]:[Uu][Uu][Ii][Dd]:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})"
);
/// A DNS name of at least two labels (letters, digits, inner hyphens; 1 to 63 each).
const DOMAIN: &str = r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

impl PartialSchema for TenantRef {
    fn schema() -> RefOr<Schema> {
        string(
            "The tenant: its ID (a GUID; Microsoft 365 only) or a verified domain such as \
             contoso.onmicrosoft.com (at most 253 characters).",
        )
        .pattern(Some(format!("^[{WHITESPACE}]*({GUID}|{DOMAIN})[{WHITESPACE}]*$")))
        .examples(["contoso.onmicrosoft.com"])
        .into()
    }
}
impl ToSchema for TenantRef {}

/// An ID this service issued: a UUID.
pub fn uuid(description: &str) -> RefOr<Schema> {
    string(description)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}

/// The IDs this service issues (`domain::ids`): what they serialize as, a UUID string.
macro_rules! uuid_schema {
    ($($name:ident: $description:literal),* $(,)?) => {
        $(
            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    uuid($description)
                }
            }
            impl ToSchema for $name {}
        )*
    };
}

uuid_schema!(
    PartnerId: "A partner organization's ID.",
    ClientId: "A partner's client's ID.",
    AccountId: "A SaaS account's ID.",
);

/// An optional address (absent, `null` or blank is none).
pub fn optional_email() -> RefOr<Schema> {
    blank_or(EmailAddress::schema())
}

/// An optional tenant (absent, `null` or blank is none).
pub fn optional_tenant() -> RefOr<Schema> {
    blank_or(TenantRef::schema())
}
