//! Who is calling: a signed-in member of a partner, as a valid session proves.

use super::PartnerId;

/// Who is calling, from a valid session (built only by the sessions use case).
#[derive(Debug, Clone)]
pub struct Principal {
    pub partner_id: PartnerId,
    pub email: String,
    /// SHA-256 of the session token: which session to end on sign-out.
    pub(crate) token_hash: String,
}
