//! Sign-in sessions: random 256-bit bearer tokens, stored only as their SHA-256, expiring
//! after [`crate::config::Config::session_hours`]; sign-in answers the same 401 for an
//! unknown address, an unconfirmed signup and a wrong password, in the same time.
//!
//! Sign-in counts failures: [`SIGN_IN_PER_ADDRESS`] per address (registered or not, so the
//! limit reveals nothing) and [`SIGN_IN_PER_IP`] per source IP; once over, right and wrong
//! passwords alike get a 429 until the window ends, and no password is checked.

use crate::app::Services;
use crate::crypto::{random_token, sha256_hex};
use crate::domain::{EmailAddress, PartnerId};
use crate::limits::{self, Limit, LimitError};
use crate::store::keys::{self, MemberItem, MemberSessionItem, PartnerItem, SessionItem};
use crate::store::{Condition, Item, Pages, StoreError, WriteOp};
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

/// The writes that store a new session and its entry in the member's session index (used
/// alone by sign-in and inside the confirm transaction).
pub(crate) fn issue_session_ops(
    s: &Services,
    partner_id: &PartnerId,
    email: &EmailAddress,
) -> Result<(Vec<WriteOp>, NewSession), StoreError> {
    let now = s.clock.now();
    let token = random_token();
    let token_hash = sha256_hex(token.expose_secret());
    let expires_at = now + Duration::hours(s.session_hours);
    let record = SessionItem {
        partner_id: partner_id.clone(),
        email: email.to_string(),
        created_at: now,
        expires_at,
    };
    let item = Item::from_record(keys::session(&token_hash), &record)?.expiring_at(expires_at.timestamp());
    let index = Item::from_record(
        keys::member_session(email, &token_hash),
        &MemberSessionItem {
            token_hash: token_hash.clone(),
            expires_at,
        },
    )?
    .expiring_at(expires_at.timestamp());
    Ok((
        vec![
            WriteOp::Put {
                item,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: index,
                condition: Condition::NotExists,
            },
        ],
        NewSession {
            token,
            expires_at,
            partner_id: partner_id.clone(),
        },
    ))
}

/// Ends every session of a member (password reset): reads the member's session index with
/// strongly consistent queries and deletes sessions and index entries. Returns how many.
pub async fn end_all_sessions(s: &Services, email: &EmailAddress) -> Result<usize, StoreError> {
    let mut ended = 0;
    let mut pages = Pages::new(
        &*s.store,
        keys::member_partition(email),
        keys::MEMBER_SESSION_PREFIX,
        50,
    );
    let mut deletes = Vec::new();
    while let Some(items) = pages.next().await? {
        for item in items {
            let entry: MemberSessionItem = item.record()?;
            deletes.push(keys::session(&entry.token_hash));
            deletes.push(item.key);
            ended += 1;
        }
    }
    for chunk in deletes.chunks(24) {
        s.store.batch_write(Vec::new(), chunk.to_vec()).await?;
    }
    Ok(ended)
}

#[tracing::instrument(skip_all)]
pub async fn sign_in(
    s: &Services,
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
        limits::check(&*s.store, &*s.clock, &SIGN_IN_PER_IP, ip).await?;
    }
    limits::check(&*s.store, &*s.clock, &SIGN_IN_PER_ADDRESS, &address).await?;
    match verify_member(s, parsed, password).await? {
        Some((email, m)) => {
            let (ops, session) = issue_session_ops(s, &m.partner_id, &email)?;
            s.store.transact(ops).await?;
            tracing::info!(partner_id = %m.partner_id, "signed in");
            Ok(session)
        }
        None => {
            if let Some(ip) = source_ip {
                limits::record(&*s.store, &*s.clock, &SIGN_IN_PER_IP, ip).await?;
            }
            limits::record(&*s.store, &*s.clock, &SIGN_IN_PER_ADDRESS, &address).await?;
            Err(SessionError::InvalidCredentials)
        }
    }
}

/// The member whose password this is, or `None` (after the same argon2 work) when the address
/// is unknown, unconfirmed or the password wrong.
async fn verify_member(
    s: &Services,
    email: Option<EmailAddress>,
    password: SecretString,
) -> Result<Option<(EmailAddress, MemberItem)>, SessionError> {
    let member = match email {
        Some(email) => s.store.get(&keys::member(&email)).await?.map(|i| (email, i)),
        None => None,
    };
    let Some((email, item)) = member else {
        s.hasher.verify_dummy(password).await;
        return Ok(None);
    };
    let m: MemberItem = item.record()?;
    if !s.hasher.verify(password, m.password_hash.clone()).await {
        tracing::info!(partner_id = %m.partner_id, "sign-in refused: wrong password");
        return Ok(None);
    }
    Ok(Some((email, m)))
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
    if let Ok(email) = EmailAddress::parse("email", &principal.email) {
        s.store
            .delete(&keys::member_session(&email, &principal.token_hash), Condition::Always)
            .await?;
    }
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
