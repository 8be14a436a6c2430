//! What a member of a partner may do: the one place that says which role may act how
//! (api.md "Partner team"). The HTTP layer's `Manager` extractor and the members use case ask
//! [`Role::allows`]; nothing else compares roles.

use serde::{Deserialize, Serialize};

/// A member's role in its partner organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Signed the organization up (or was made one by an owner): everything; at least one
    /// always.
    Owner,
    /// Full administration, members included.
    Admin,
    /// Limited administration: reads everything, adds accounts, sends, checks and resends
    /// authorizations, presses Refresh.
    Technician,
}

/// What a partner action needs, beyond being a signed-in member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Reading, adding accounts, sending and checking authorizations, Refresh.
    Operate,
    /// Members, offers, protection, auto-add, disabling accounts (they spend seats or change
    /// who has access).
    Manage,
    /// Making an owner, or changing or removing one.
    ManageOwners,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Technician => "technician",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Operate => true,
            Permission::Manage => matches!(self, Role::Owner | Role::Admin),
            Permission::ManageOwners => self == Role::Owner,
        }
    }

    /// What changing a member from `self` to `to` (or removing one in `self`) needs.
    pub fn change_needs(self, to: Option<Role>) -> Permission {
        if self == Role::Owner || to == Some(Role::Owner) {
            Permission::ManageOwners
        } else {
            Permission::Manage
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Permission, Role};

    #[test]
    fn stored_roles_read_back_and_a_corrupt_one_is_an_error() {
        for role in [Role::Owner, Role::Admin, Role::Technician] {
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), role);
        }
        assert!(serde_json::from_str::<Role>("\"root\"").is_err());
    }

    #[test]
    fn technicians_operate_admins_manage_owners_manage_owners() {
        use Permission::*;
        let table = [
            (Role::Technician, [true, false, false]),
            (Role::Admin, [true, true, false]),
            (Role::Owner, [true, true, true]),
        ];
        for (role, allowed) in table {
            for (p, want) in [Operate, Manage, ManageOwners].into_iter().zip(allowed) {
                assert_eq!(role.allows(p), want, "{role:?} {p:?}");
            }
        }
        assert_eq!(Role::Admin.change_needs(Some(Role::Technician)), Manage);
        assert_eq!(Role::Technician.change_needs(Some(Role::Owner)), ManageOwners);
        assert_eq!(Role::Owner.change_needs(None), ManageOwners);
    }
}
