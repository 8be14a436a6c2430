//! Password reset: `forgot` mails a registered address a single-use link valid
//! [`RESET_VALID_MINUTES`] (unknown and pending addresses get the same answer and nothing);
//! `reset` sets a new password (the signup rules), ends every session of the member and
//! consumes the link, in that member's one transaction. The link's token is HMAC-signed (a
//! forged one is refused before the store is read) and stored only as its SHA-256, with TTL.

use crate::crypto::sha256_hex;
use crate::domain::{EmailAddress, FieldError, NewPassword};
use crate::email::{MailError, templates};
use crate::limits::{self, Limit, LimitError};
use crate::repo::sessions::end_all_sessions;
use crate::services::{HasClock, HasHasher, HasLinks, HasMailer, HasSigner, HasStore};
use crate::store::keys::{self, MemberItem, PasswordResetItem};
use crate::store::{Condition, Item, StoreError, Update, WriteOp};
use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};

crate::ports!(
    HasClock,
    HasHasher,
    HasLinks,
    HasMailer,
    HasSigner,
    HasStore,
    crate::repo::sessions::Ports
);

pub const RESET_VALID_MINUTES: i64 = 60;
/// Password-reset requests per source IP per hour.
pub const RESETS_PER_IP: Limit = Limit::new("reset-ip", 50, 3600);
/// Reset requests counted per address per hour; past it no more mail is sent (silently).
pub const RESET_MAILS_PER_ADDRESS: Limit = Limit::new("reset-address", 3, 3600);
const RESET: &str = "password-reset";

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("too many reset requests; retry in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error("the reset link is not valid")]
    Forged,
    #[error("the reset link was used or has expired")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("hashing failed")]
    Hash,
}

/// Mails a reset link when `email` belongs to a member; the same `Ok` for any address.
#[tracing::instrument(skip_all, fields(email_domain))]
pub async fn forgot(s: &impl Ports, email: &str, source_ip: Option<&str>) -> Result<(), ResetError> {
    let email = EmailAddress::parse("email", email)?;
    tracing::Span::current().record("email_domain", email.domain());
    if let Some(ip) = source_ip {
        limits::take(s.store().as_ref(), s.clock().as_ref(), &RESETS_PER_IP, ip)
            .await
            .map_err(|e| match e {
                LimitError::Limited(l) => ResetError::RateLimited {
                    retry_after: l.retry_after,
                },
                LimitError::Store(e) => ResetError::Store(e),
            })?;
    }
    // Counted for every address (the same work whether registered or not).
    let within = match limits::take(
        s.store().as_ref(),
        s.clock().as_ref(),
        &RESET_MAILS_PER_ADDRESS,
        email.as_str(),
    )
    .await
    {
        Ok(()) => true,
        Err(LimitError::Limited(_)) => false,
        Err(LimitError::Store(e)) => return Err(e.into()),
    };
    let Some(member) = s.store().get(&keys::member(&email)).await? else {
        tracing::info!("password reset for an address without an account: nothing sent");
        return Ok(());
    };
    let m: MemberItem = member.record()?;
    if !within {
        tracing::info!("password reset: per-address limit reached, nothing sent");
        return Ok(());
    }
    let now = s.clock().now();
    let token = s.signer().issue(RESET);
    let expires_at = now + Duration::minutes(RESET_VALID_MINUTES);
    let record = PasswordResetItem {
        email: email.to_string(),
        password_fingerprint: sha256_hex(&m.password_hash),
        created_at: now,
        expires_at,
    };
    let item = Item::from_record(keys::password_reset(&sha256_hex(token.expose_secret())), &record)?
        .expiring_at(expires_at.timestamp());
    s.store().put(item, Condition::NotExists).await?;
    let url = SecretString::from(format!(
        "{}/password/reset?token={}",
        s.links().public_base_url,
        token.expose_secret()
    ));
    s.mailer()
        .send(&templates::password_reset(&email, &url, RESET_VALID_MINUTES)?)
        .await?;
    tracing::info!("password reset link sent");
    Ok(())
}

/// A usable reset link: its item, and its member's.
struct Found {
    link: Item,
    email: EmailAddress,
    member: Item,
    m: MemberItem,
}

/// The reset link and its member, read only: `Forged` for a token we did not sign, `Gone` for
/// a used, expired or unknown one, or one sent before the password last changed.
async fn find(s: &impl Ports, token: &str) -> Result<Found, ResetError> {
    if !s.signer().verify(RESET, token) {
        return Err(ResetError::Forged);
    }
    let link = s
        .store()
        .get(&keys::password_reset(&sha256_hex(token)))
        .await?
        .ok_or(ResetError::Gone)?;
    let r: PasswordResetItem = link.record()?;
    if r.expires_at <= s.clock().now() {
        return Err(ResetError::Gone);
    }
    let email = EmailAddress::parse("email", &r.email).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let member = s.store().get(&keys::member(&email)).await?.ok_or(ResetError::Gone)?;
    let m: MemberItem = member.record()?;
    if sha256_hex(&m.password_hash) != r.password_fingerprint {
        return Err(ResetError::Gone);
    }
    Ok(Found { link, email, member, m })
}

/// Whether a reset link can still be used (for the form page; changes nothing).
pub async fn check(s: &impl Ports, token: &str) -> Result<(), ResetError> {
    find(s, token).await.map(|_| ())
}

/// Sets the new password, consumes the link and ends every session of the member.
#[tracing::instrument(skip_all)]
pub async fn reset(s: &impl Ports, token: &str, password: SecretString) -> Result<(), ResetError> {
    let Found { link, email, member, m } = find(s, token).await?;
    let password =
        NewPassword::parse(password, &[email.as_str()]).map_err(|e| FieldError::new("password", e.to_string()))?;
    let password_hash = s
        .hasher()
        .hash(password.secret().clone())
        .await
        .map_err(|_| ResetError::Hash)?;
    let ops = vec![
        WriteOp::Delete {
            key: link.key.clone(),
            condition: Condition::VersionIs(link.version),
        },
        WriteOp::Update {
            key: member.key.clone(),
            update: Update::default().set("password_hash", &password_hash)?,
            condition: Condition::VersionIs(member.version),
        },
        crate::repo::audit::entry(
            crate::repo::audit::Entry {
                partner: &m.partner_id,
                actor: crate::repo::audit::member(email.as_str()),
                action: crate::domain::AuditAction::PasswordReset,
                account: None,
                client: None,
                detail: serde_json::json!({}),
            },
            s.clock().now(),
        )?,
    ];
    match s.store().transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => return Err(ResetError::Gone),
        Err(e) => return Err(e.into()),
    }
    let ended = end_all_sessions(s, &email).await?;
    tracing::info!(partner_id = %m.partner_id, sessions_ended = ended, "password reset");
    Ok(())
}
