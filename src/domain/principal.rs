//! Who is calling: a signed-in member of a partner, as a valid session proves.

use super::{PartnerId, Permission, Role};

/// Who is calling, from a valid session (built only by the sessions use case, which reads the
/// member's current role on every request, so a changed role or a removal applies at once).
#[derive(Debug, Clone)]
pub struct Principal {
    pub partner_id: PartnerId,
    pub email: String,
    pub role: Role,
    /// SHA-256 of the session token: which session to end on sign-out.
    pub(crate) token_hash: String,
}

impl Principal {
    pub fn may(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }
}
