//! Parsed domain values. Each constructor refuses bad input, so code holding one of these types
//! never re-checks it ("parse, don't validate"). Nothing here does I/O or knows about HTTP/AWS.

mod audit;
mod code;
mod email;
mod ids;
mod job;
mod name;
mod password;
mod principal;
mod role;
pub mod schema;
mod tenant;

pub use audit::{Actor, AuditAction};
pub use code::ConfirmationCode;
pub use email::EmailAddress;
pub use ids::{AccountId, ClientId, PartnerId};
pub use job::JobKind;
pub use name::OrganizationName;
pub use password::{NewPassword, PasswordError};
pub use principal::Principal;
pub use role::{Permission, Role};
pub use tenant::{ManagedBy, Platform, Provider, TenantId, TenantRef};

/// Why a field was refused: the field's name and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
