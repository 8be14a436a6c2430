//! What a member of a partner may do.

use serde::{Deserialize, Serialize};

/// A member's role in its partner organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Signed the organization up: everything, and cannot be removed while the only one.
    Owner,
    /// Full administration.
    Admin,
    /// Limited administration.
    Technician,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Technician => "technician",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn stored_roles_read_back_and_a_corrupt_one_is_an_error() {
        for role in [Role::Owner, Role::Admin, Role::Technician] {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }
}
