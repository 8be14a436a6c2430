//! What the audit log records: who did which action. The log itself (keys, the entry written
//! in each action's transaction, reading it) is `repo::audit` and `usecases::audit`.

use serde::{Deserialize, Serialize};

/// An action recorded in the audit log (api.md "Audit log").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    SignupConfirmed,
    MemberInvited,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    PasswordReset,
    AccountCreated,
    AuthorizationSent,
    AuthorizationResent,
    ConsentGranted,
    ConsentFailed,
    ReauthorizationRequired,
    AccessRevoked,
    ProtectionChanged,
    AutoAddChanged,
    OfferCreated,
    OfferDisabled,
    OfferAccepted,
    AccountDisabled,
    AccountEnabled,
    /// An account a client started through an offer and never finished was removed.
    AccountExpired,
}

/// Who acted: a member of the partner (by email), the client's administrator at the
/// provider's consent (email when the sign-in named one), or the service itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    Member {
        email: String,
    },
    ClientAdmin {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(nullable = false)]
        email: Option<String>,
    },
    System,
}
