//! The single-table key layout: every key and index key the service writes is built here,
//! together with the record (`*Item`) stored under it. Change the layout in this file only.
//!
//! | item | pk | sk | gsi1pk / gsi1sk | expires |
//! | --- | --- | --- | --- | --- |
//! | partner | `PARTNER#<id>` | `PROFILE` | | |
//! | member (login) | `EMAIL#<email>` | `MEMBER` | `PARTNER#<id>` / `MEMBER#<email>` | |
//! | pending signup | `SIGNUP#<email>` | `PENDING` | `ACTIVATE#<sha256(link token)>` / `SIGNUP` | 24 h |
//! | "already registered" mail marker | `SIGNUP#<email>` | `NOTICE` | | 10 min |
//! | session | `SESSION#<sha256(token)>` | `SESSION` | | session end |
//!
//! Members are keyed by email (not by partner, as first sketched in design.md) so that one
//! strongly consistent `get` answers sign-in and a conditional put makes an address unique
//! across all partners; a partner's members are listed through the index.

use super::Key;
use crate::domain::{EmailAddress, PartnerId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn partner(id: &PartnerId) -> Key {
    Key::new(format!("PARTNER#{id}"), "PROFILE")
}

pub fn member(email: &EmailAddress) -> Key {
    Key::new(format!("EMAIL#{email}"), "MEMBER")
}

pub fn member_by_partner(id: &PartnerId, email: &EmailAddress) -> Key {
    Key::new(format!("PARTNER#{id}"), format!("MEMBER#{email}"))
}

pub fn pending_signup(email: &EmailAddress) -> Key {
    Key::new(format!("SIGNUP#{email}"), "PENDING")
}

/// Index key of a pending signup, found by the hash of its activate-link token.
pub fn activation(token_hash: &str) -> Key {
    Key::new(format!("ACTIVATE#{token_hash}"), "SIGNUP")
}

pub fn signup_notice(email: &EmailAddress) -> Key {
    Key::new(format!("SIGNUP#{email}"), "NOTICE")
}

pub fn session(token_hash: &str) -> Key {
    Key::new(format!("SESSION#{token_hash}"), "SESSION")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartnerItem {
    pub id: PartnerId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberItem {
    pub partner_id: PartnerId,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignupItem {
    pub email: String,
    pub organization: String,
    pub password_hash: String,
    /// argon2id of the current code; earlier codes are gone with their hash.
    pub code_hash: String,
    pub code_expires_at: DateTime<Utc>,
    /// Tries used on the current code.
    pub attempts: u32,
    /// Codes sent for this signup (first one included).
    pub sends: u32,
    pub last_sent_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Set once confirmed: the item stays as a tombstone until it expires, so a reused code
    /// or link is answered "already used" rather than "unknown".
    #[serde(default)]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub partner_id: Option<PartnerId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeItem {
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionItem {
    pub partner_id: PartnerId,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}
