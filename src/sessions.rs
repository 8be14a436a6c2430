//! Sign-in sessions: random 256-bit bearer tokens, stored only as their SHA-256, expiring
//! after [`crate::config::Config::session_hours`]; sign-in answers the same 401 for an
//! unknown address, an unconfirmed signup and a wrong password, in the same time.

use crate::app::Services;
use crate::crypto::{random_token, sha256_hex};
use crate::domain::{EmailAddress, PartnerId};
use crate::store::keys::{self, MemberItem, PartnerItem, SessionItem};
use crate::store::{Condition, Item, StoreError, WriteOp};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

/// A freshly issued session: the token is shown to the client once and never stored.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
    pub partner_id: PartnerId,
}

/// Who is calling, from a valid session.
#[derive(Debug, Clone)]
pub struct Principal {
    pub partner_id: PartnerId,
    pub email: String,
    token_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("email or password is not right")]
    InvalidCredentials,
    #[error("no valid session")]
    Unauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The write that stores a new session (used alone by sign-in and inside the confirm
/// transaction).
pub(crate) fn issue_session_op(
    s: &Services,
    partner_id: &PartnerId,
    email: &EmailAddress,
) -> Result<(WriteOp, NewSession), StoreError> {
    let now = s.clock.now();
    let token = random_token();
    let expires_at = now + Duration::hours(s.session_hours);
    let record = SessionItem {
        partner_id: partner_id.clone(),
        email: email.to_string(),
        created_at: now,
        expires_at,
    };
    let item = Item::from_record(keys::session(&sha256_hex(token.expose_secret())), &record)?
        .expiring_at(expires_at.timestamp());
    Ok((
        WriteOp::Put {
            item,
            condition: Condition::NotExists,
        },
        NewSession {
            token,
            expires_at,
            partner_id: partner_id.clone(),
        },
    ))
}

#[tracing::instrument(skip_all)]
pub async fn sign_in(s: &Services, email: &str, password: SecretString) -> Result<NewSession, SessionError> {
    let member = match EmailAddress::parse("email", email) {
        Ok(email) => s.store.get(&keys::member(&email)).await?.map(|i| (email, i)),
        Err(_) => None,
    };
    let Some((email, item)) = member else {
        s.hasher.verify_dummy(password).await;
        return Err(SessionError::InvalidCredentials);
    };
    let m: MemberItem = item.record()?;
    if !s.hasher.verify(password, m.password_hash).await {
        tracing::info!(partner_id = %m.partner_id, "sign-in refused: wrong password");
        return Err(SessionError::InvalidCredentials);
    }
    let (op, session) = issue_session_op(s, &m.partner_id, &email)?;
    s.store.transact(vec![op]).await?;
    tracing::info!(partner_id = %m.partner_id, "signed in");
    Ok(session)
}

pub async fn authenticate(s: &Services, token: &str) -> Result<Principal, SessionError> {
    if token.is_empty() || token.len() > 256 {
        return Err(SessionError::Unauthorized);
    }
    let token_hash = sha256_hex(token);
    let item = s
        .store
        .get(&keys::session(&token_hash))
        .await?
        .ok_or(SessionError::Unauthorized)?;
    let session: SessionItem = item.record()?;
    if session.expires_at <= s.clock.now() {
        return Err(SessionError::Unauthorized);
    }
    Ok(Principal {
        partner_id: session.partner_id,
        email: session.email,
        token_hash,
    })
}

pub async fn sign_out(s: &Services, principal: &Principal) -> Result<(), SessionError> {
    s.store
        .delete(&keys::session(&principal.token_hash), Condition::Always)
        .await?;
    tracing::info!(partner_id = %principal.partner_id, "signed out");
    Ok(())
}

/// The caller's partner organization.
pub async fn partner_of(s: &Services, principal: &Principal) -> Result<PartnerItem, SessionError> {
    let item = s
        .store
        .get(&keys::partner(&principal.partner_id))
        .await?
        .ok_or(SessionError::Unauthorized)?;
    Ok(item.record()?)
}
