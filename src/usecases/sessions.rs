//! Sign-in sessions: random 256-bit bearer tokens, stored only as their SHA-256, expiring
//! after [`crate::config::Config::session_hours`]; sign-in answers the same 401 for an
//! unknown address, an unconfirmed signup and a wrong password, in the same time.
//!
//! Sign-in counts failures: [`SIGN_IN_PER_ADDRESS`] per address (registered or not, so the
//! limit reveals nothing) and [`SIGN_IN_PER_IP`] per source IP; once over, right and wrong
//! passwords alike get a 429 until the window ends, and no password is checked.

use crate::crypto::sha256_hex;
use crate::domain::EmailAddress;
use crate::limits::{self, Limit, LimitError};
use crate::services::{HasClock, HasHasher, HasStore};
use crate::store::keys::{self, MemberItem, PartnerItem, SessionItem};
use crate::store::{Condition, StoreError};
use secrecy::SecretString;

pub use crate::domain::Principal;
use crate::repo::sessions::issue_session_ops;
pub use crate::repo::sessions::{NewSession, end_all_sessions};

crate::ports!(HasClock, HasHasher, HasStore, crate::repo::sessions::Ports);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("email or password is not right")]
    InvalidCredentials,
    #[error("no valid session")]
    Unauthorized,
    #[error("too many failed sign-ins; retry in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LimitError> for SessionError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(l) => SessionError::RateLimited {
                retry_after: l.retry_after,
            },
            LimitError::Store(e) => SessionError::Store(e),
        }
    }
}

/// Failed sign-ins per address in 15 minutes before every sign-in for it is refused.
pub const SIGN_IN_PER_ADDRESS: Limit = Limit::new("signin-address", 5, 15 * 60);
/// Failed sign-ins per source IP in 15 minutes.
pub const SIGN_IN_PER_IP: Limit = Limit::new("signin-ip", 100, 15 * 60);

#[tracing::instrument(skip_all)]
pub async fn sign_in(
    s: &impl Ports,
    email: &str,
    password: SecretString,
    source_ip: Option<&str>,
) -> Result<NewSession, SessionError> {
    let parsed = EmailAddress::parse("email", email).ok();
    // An unparseable address is limited under its own spelling, like any unknown one.
    let address = parsed
        .as_ref()
        .map_or_else(|| email.trim().to_lowercase(), |e| e.to_string());
    if let Some(ip) = source_ip {
        limits::check(s.store().as_ref(), s.clock().as_ref(), &SIGN_IN_PER_IP, ip).await?;
    }
    limits::check(s.store().as_ref(), s.clock().as_ref(), &SIGN_IN_PER_ADDRESS, &address).await?;
    match verify_member(s, parsed, password).await? {
        Some((email, m)) => {
            let (ops, session) = issue_session_ops(s, &m.partner_id, &email)?;
            s.store().transact(ops).await?;
            tracing::info!(partner_id = %m.partner_id, "signed in");
            Ok(session)
        }
        None => {
            if let Some(ip) = source_ip {
                limits::record(s.store().as_ref(), s.clock().as_ref(), &SIGN_IN_PER_IP, ip).await?;
            }
            limits::record(s.store().as_ref(), s.clock().as_ref(), &SIGN_IN_PER_ADDRESS, &address).await?;
            Err(SessionError::InvalidCredentials)
        }
    }
}

/// The member whose password this is, or `None` (after the same argon2 work) when the address
/// is unknown, unconfirmed or the password wrong.
async fn verify_member(
    s: &impl Ports,
    email: Option<EmailAddress>,
    password: SecretString,
) -> Result<Option<(EmailAddress, MemberItem)>, SessionError> {
    let member = match email {
        Some(email) => s.store().get(&keys::member(&email)).await?.map(|i| (email, i)),
        None => None,
    };
    let Some((email, item)) = member else {
        s.hasher().verify_dummy(password).await;
        return Ok(None);
    };
    let m: MemberItem = item.record()?;
    if !s.hasher().verify(password, m.password_hash.clone()).await {
        tracing::info!(partner_id = %m.partner_id, "sign-in refused: wrong password");
        return Ok(None);
    }
    Ok(Some((email, m)))
}

pub async fn authenticate(s: &impl Ports, token: &str) -> Result<Principal, SessionError> {
    if token.is_empty() || token.len() > 256 {
        return Err(SessionError::Unauthorized);
    }
    let token_hash = sha256_hex(token);
    let item = s
        .store()
        .get(&keys::session(&token_hash))
        .await?
        .ok_or(SessionError::Unauthorized)?;
    let session: SessionItem = item.record()?;
    if session.expires_at <= s.clock().now() {
        return Err(SessionError::Unauthorized);
    }
    // The member's current role, and proof they still belong to the partner: a removed
    // member's surviving session (its deletion follows the removal) answers 401.
    let email = EmailAddress::parse("email", &session.email).map_err(|_| SessionError::Unauthorized)?;
    let member: MemberItem = s
        .store()
        .get(&keys::member(&email))
        .await?
        .ok_or(SessionError::Unauthorized)?
        .record()?;
    if member.partner_id != session.partner_id {
        return Err(SessionError::Unauthorized);
    }
    Ok(Principal {
        partner_id: session.partner_id,
        email: session.email,
        role: member.role,
        token_hash,
    })
}

pub async fn sign_out(s: &impl Ports, principal: &Principal) -> Result<(), SessionError> {
    s.store()
        .delete(&keys::session(&principal.token_hash), Condition::Always)
        .await?;
    if let Ok(email) = EmailAddress::parse("email", &principal.email) {
        s.store()
            .delete(&keys::member_session(&email, &principal.token_hash), Condition::Always)
            .await?;
    }
    tracing::info!(partner_id = %principal.partner_id, "signed out");
    Ok(())
}

/// The caller's partner organization.
pub async fn partner_of(s: &impl Ports, principal: &Principal) -> Result<PartnerItem, SessionError> {
    let item = s
        .store()
        .get(&keys::partner(&principal.partner_id))
        .await?
        .ok_or(SessionError::Unauthorized)?;
    Ok(item.record()?)
}
