//! Partner signup: the rules in one place.
//!
//! - `sign_up`: organization, email, password. Password: 12..=128 characters, not guessable
//!   (see [`NewPassword`]), stored as argon2id. A 6-digit code (CSPRNG, stored as argon2id,
//!   valid [`CODE_VALID_MINUTES`]) and a signed activate link are mailed. An address that
//!   already has an account gets the same answer and a "you already have an account" mail
//!   (at most one per [`NOTICE_MINUTES`]), so addresses cannot be enumerated.
//! - Unconfirmed signups expire after [`PENDING_HOURS`] hours.
//! - `resend`: a new code and link; the earlier ones stop working. At most one send per
//!   [`RESEND_COOLDOWN_SECONDS`] and [`MAX_SENDS`] in all per signup.
//! - `confirm`: every try is reserved by a conditional write *before* the code is checked,
//!   so [`MAX_ATTEMPTS`] wrong tries kill the code even under concurrent guessing. The
//!   partner, its first member and a session are written in one transaction conditioned on
//!   the pending signup's version: of two concurrent confirms exactly one succeeds.
//! - `activate`: the emailed link does what `confirm` does, without a session.

use crate::crypto::sha256_hex;
use crate::domain::{
    ConfirmationCode, EmailAddress, FieldError, NewPassword, OrganizationName, PartnerId, PasswordError,
};
use crate::email::{MailError, templates};
use crate::limits::{self, Limit, LimitError};
use crate::repo::sessions::{NewSession, issue_session_ops};
use crate::services::{HasClock, HasHasher, HasLinks, HasMailer, HasSigner, HasStore};
use crate::store::keys::{self, MemberItem, NoticeItem, PartnerItem, PendingSignupItem};
use crate::store::{Condition, Item, StoreError, Update, WriteOp};
use chrono::{DateTime, Duration, Utc};
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

pub const CODE_VALID_MINUTES: i64 = 15;
pub const MAX_ATTEMPTS: u32 = 5;
pub const RESEND_COOLDOWN_SECONDS: i64 = 60;
pub const MAX_SENDS: u32 = 5;
pub const PENDING_HOURS: i64 = 24;
pub const NOTICE_MINUTES: i64 = 10;
const ACTIVATE: &str = "activate";

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("too many codes requested; retry in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("hashing failed")]
    Hash,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("the code is not right")]
    WrongCode { tries_left: u32 },
    #[error("the code has expired")]
    Expired,
    #[error("the code was already used")]
    Used,
    #[error("too many wrong tries")]
    TooManyAttempts,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("hashing failed")]
    Hash,
}

#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error("the link is not valid")]
    Invalid,
    #[error("the link has expired or was replaced by a newer one")]
    Expired,
    #[error("the organization is already active")]
    AlreadyActive,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn password_error(e: PasswordError) -> FieldError {
    FieldError::new("password", e.to_string())
}

/// The pending signup's item, with its code and link hashes replaced by fresh ones.
struct Fresh {
    code: ConfirmationCode,
    link_token: SecretString,
    code_hash: String,
}

async fn fresh_code(s: &impl Ports) -> Result<Fresh, SignupError> {
    let code = ConfirmationCode::generate();
    let code_hash = s
        .hasher()
        .hash(SecretString::from(code.expose()))
        .await
        .map_err(|_| SignupError::Hash)?;
    Ok(Fresh {
        code,
        link_token: s.signer().issue(ACTIVATE),
        code_hash,
    })
}

fn pending_item(
    email: &EmailAddress,
    p: &PendingSignupItem,
    link_token: &SecretString,
    version: u64,
) -> Result<Item, StoreError> {
    let mut item = Item::from_record(keys::pending_signup(email), p)?
        .with_gsi1(keys::activation(&sha256_hex(link_token.expose_secret())))
        .expiring_at((p.created_at + Duration::hours(PENDING_HOURS)).timestamp());
    item.version = version;
    Ok(item)
}

async fn send_code(s: &impl Ports, email: &EmailAddress, org: &OrganizationName, f: &Fresh) -> Result<(), MailError> {
    let url = SecretString::from(format!(
        "{}/v1/signup/activate?token={}",
        s.links().public_base_url,
        f.link_token.expose_secret()
    ));
    s.mailer()
        .send(&templates::signup_code(email, org, &f.code, &url, CODE_VALID_MINUTES)?)
        .await
}

fn cooldown(p: &PendingSignupItem, now: DateTime<Utc>) -> Result<(), SignupError> {
    let wait = RESEND_COOLDOWN_SECONDS - (now - p.last_sent_at).num_seconds();
    if wait > 0 {
        return Err(SignupError::RateLimited { retry_after: wait });
    }
    if p.sends >= MAX_SENDS {
        let until = p.created_at + Duration::hours(PENDING_HOURS);
        return Err(SignupError::RateLimited {
            retry_after: (until - now).num_seconds().max(1),
        });
    }
    Ok(())
}

/// Signups per source IP per hour.
pub const SIGNUPS_PER_IP: Limit = Limit::new("signup-ip", 50, 3600);

fn limited(e: LimitError) -> SignupError {
    match e {
        LimitError::Limited(l) => SignupError::RateLimited {
            retry_after: l.retry_after,
        },
        LimitError::Store(e) => SignupError::Store(e),
    }
}

/// A signup. Whatever the address (new, pending, registered), the answer is the same and the
/// work too: the password and a code are hashed on every path. A pending signup keeps its
/// password and organization: a later signup for its address re-sends its code (within the
/// resend limits, silently beyond them).
#[tracing::instrument(skip_all, fields(email_domain))]
pub async fn sign_up(
    s: &impl Ports,
    organization: &str,
    email: &str,
    password: SecretString,
    source_ip: Option<&str>,
) -> Result<(), SignupError> {
    let email = EmailAddress::parse("email", email)?;
    tracing::Span::current().record("email_domain", email.domain());
    let org = OrganizationName::parse("organization", organization)?;
    let password = NewPassword::parse(password, &[email.as_str(), org.as_str()]).map_err(password_error)?;
    if let Some(ip) = source_ip {
        limits::take(s.store().as_ref(), s.clock().as_ref(), &SIGNUPS_PER_IP, ip)
            .await
            .map_err(limited)?;
    }
    let now = s.clock().now();
    let password_hash = s
        .hasher()
        .hash(password.secret().clone())
        .await
        .map_err(|_| SignupError::Hash)?;
    let fresh = fresh_code(s).await?;

    if s.store().get(&keys::member(&email)).await?.is_some() {
        return notify_already_registered(s, &email, now).await;
    }
    if let Some(item) = s.store().get(&keys::pending_signup(&email)).await? {
        let p: PendingSignupItem = item.record()?;
        if p.confirmed_at.is_some() {
            return notify_already_registered(s, &email, now).await;
        }
        return match send_again(s, &email, &item, p, fresh, now).await {
            Err(SignupError::RateLimited { .. }) => {
                tracing::info!("signup for a pending address: code not re-sent (resend limit)");
                Ok(())
            }
            other => other,
        };
    }
    let pending = PendingSignupItem {
        email: email.to_string(),
        organization: org.to_string(),
        password_hash,
        code_hash: fresh.code_hash.clone(),
        code_expires_at: now + Duration::minutes(CODE_VALID_MINUTES),
        attempts: 0,
        sends: 1,
        last_sent_at: now,
        created_at: now,
        confirmed_at: None,
        partner_id: None,
    };
    match s
        .store()
        .put(
            pending_item(&email, &pending, &fresh.link_token, 1)?,
            Condition::NotExists,
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // A concurrent signup for the same address won: it mailed its code.
            tracing::info!("signup raced another for the same address: nothing sent");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    send_code(s, &email, &org, &fresh).await?;
    tracing::info!(sends = 1, "signup code sent");
    Ok(())
}

/// Replaces a pending signup's code and link with `fresh` and mails them (password and
/// organization unchanged). Refused with `RateLimited` inside the resend cooldown or past
/// [`MAX_SENDS`], or when another resend raced this one.
async fn send_again(
    s: &impl Ports,
    email: &EmailAddress,
    item: &Item,
    mut p: PendingSignupItem,
    fresh: Fresh,
    now: DateTime<Utc>,
) -> Result<(), SignupError> {
    cooldown(&p, now)?;
    p.code_hash = fresh.code_hash.clone();
    p.code_expires_at = now + Duration::minutes(CODE_VALID_MINUTES);
    p.attempts = 0;
    p.sends += 1;
    p.last_sent_at = now;
    match s
        .store()
        .put(
            pending_item(email, &p, &fresh.link_token, item.version + 1)?,
            Condition::VersionIs(item.version),
        )
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(SignupError::RateLimited {
                retry_after: RESEND_COOLDOWN_SECONDS,
            });
        }
        Err(e) => return Err(e.into()),
    }
    let org = OrganizationName::parse("organization", &p.organization)?;
    send_code(s, email, &org, &fresh).await?;
    tracing::info!(sends = p.sends, "signup code re-sent");
    Ok(())
}

async fn notify_already_registered(
    s: &impl Ports,
    email: &EmailAddress,
    now: DateTime<Utc>,
) -> Result<(), SignupError> {
    let marker = Item::from_record(keys::signup_notice(email), &NoticeItem { sent_at: now })?
        .expiring_at((now + Duration::minutes(NOTICE_MINUTES)).timestamp());
    match s.store().put(marker, Condition::NotExists).await {
        Ok(()) => {
            s.mailer()
                .send(&templates::already_registered(email, &s.links().console_url)?)
                .await?;
            tracing::info!("signup for a registered address: notice sent");
        }
        Err(StoreError::ConditionFailed) => tracing::info!("signup for a registered address: notice recently sent"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// A new code and link for a pending signup. Unknown or confirmed addresses get the same
/// answer and no mail.
#[tracing::instrument(skip_all, fields(email_domain))]
pub async fn resend(s: &impl Ports, email: &str) -> Result<(), SignupError> {
    let email = EmailAddress::parse("email", email)?;
    tracing::Span::current().record("email_domain", email.domain());
    let Some(item) = s.store().get(&keys::pending_signup(&email)).await? else {
        return Ok(());
    };
    let p: PendingSignupItem = item.record()?;
    if p.confirmed_at.is_some() {
        return Ok(());
    }
    let now = s.clock().now();
    cooldown(&p, now)?;
    let fresh = fresh_code(s).await?;
    send_again(s, &email, &item, p, fresh, now).await
}

#[tracing::instrument(skip_all, fields(email_domain))]
pub async fn confirm(s: &impl Ports, email: &str, code: &str) -> Result<NewSession, ConfirmError> {
    let email = EmailAddress::parse("email", email)?;
    tracing::Span::current().record("email_domain", email.domain());
    let code = ConfirmationCode::parse("code", code)?;
    let key = keys::pending_signup(&email);
    // Reserve one try with a conditional write; retry only when another try raced us.
    let (item, p) = loop {
        let Some(item) = s.store().get(&key).await? else {
            return Err(ConfirmError::WrongCode {
                tries_left: MAX_ATTEMPTS,
            });
        };
        let p: PendingSignupItem = item.record()?;
        if p.confirmed_at.is_some() {
            return Err(ConfirmError::Used);
        }
        if p.attempts >= MAX_ATTEMPTS {
            return Err(ConfirmError::TooManyAttempts);
        }
        if s.clock().now() >= p.code_expires_at {
            return Err(ConfirmError::Expired);
        }
        let update = Update::default().set("attempts", p.attempts + 1)?;
        match s.store().update(&key, update, Condition::VersionIs(item.version)).await {
            Ok(reserved) => break (reserved, p),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    if !s
        .hasher()
        .verify(SecretString::from(code.expose()), p.code_hash.clone())
        .await
    {
        let used = p.attempts + 1;
        tracing::info!(attempts = used, "wrong confirmation code");
        return Err(if used >= MAX_ATTEMPTS {
            ConfirmError::TooManyAttempts
        } else {
            ConfirmError::WrongCode {
                tries_left: MAX_ATTEMPTS - used,
            }
        });
    }
    let (partner_id, session) = complete(s, &email, &item, &p, true).await.map_err(|e| match e {
        StoreError::ConditionFailed => ConfirmError::Used,
        e => ConfirmError::Store(e),
    })?;
    tracing::info!(partner_id = %partner_id, "signup confirmed");
    session.ok_or(ConfirmError::Store(StoreError::Corrupt("no session issued".into())))
}

/// The pending signup an activate link belongs to (read only).
async fn find_pending(s: &impl Ports, token: &str) -> Result<(Item, PendingSignupItem), ActivateError> {
    if !s.signer().verify(ACTIVATE, token) {
        return Err(ActivateError::Invalid);
    }
    let index_key = keys::activation(&sha256_hex(token));
    let page = s
        .store()
        .query_index(&index_key.pk, &index_key.sk, Default::default())
        .await?;
    let Some(found) = page.items.into_iter().next() else {
        return Err(ActivateError::Expired);
    };
    // The index is eventually consistent: re-read the item and check the link is current.
    let Some(item) = s.store().get(&found.key).await? else {
        return Err(ActivateError::Expired);
    };
    if item.gsi1.as_ref() != Some(&index_key) {
        return Err(ActivateError::Expired);
    }
    let p: PendingSignupItem = item.record()?;
    if p.confirmed_at.is_some() {
        return Err(ActivateError::AlreadyActive);
    }
    Ok((item, p))
}

/// The organization's name when the activate link can still be used; changes nothing (the
/// page a GET of the emailed link shows: mail scanners open links).
pub async fn check_activation(s: &impl Ports, token: &str) -> Result<String, ActivateError> {
    find_pending(s, token).await.map(|(_, p)| p.organization)
}

/// The organization's name once its activate link was used (the page's button, a POST).
#[tracing::instrument(skip_all)]
pub async fn activate(s: &impl Ports, token: &str) -> Result<String, ActivateError> {
    let (item, p) = find_pending(s, token).await?;
    let email = EmailAddress::parse("email", &p.email).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let (partner_id, _) = complete(s, &email, &item, &p, false).await.map_err(|e| match e {
        StoreError::ConditionFailed => ActivateError::AlreadyActive,
        e => ActivateError::Store(e),
    })?;
    tracing::info!(partner_id = %partner_id, "signup activated by link");
    Ok(p.organization)
}

/// Creates the partner and its first member (and a session) and marks the signup used, all
/// in one transaction conditioned on the pending item's current version.
async fn complete(
    s: &impl Ports,
    email: &EmailAddress,
    item: &Item,
    p: &PendingSignupItem,
    with_session: bool,
) -> Result<(PartnerId, Option<NewSession>), StoreError> {
    let now = s.clock().now();
    let partner_id = PartnerId::new();
    let partner = PartnerItem {
        id: partner_id.clone(),
        name: p.organization.clone(),
        created_at: now,
        owners: 1,
    };
    let member = MemberItem {
        partner_id: partner_id.clone(),
        email: email.to_string(),
        password_hash: p.password_hash.clone(),
        role: crate::domain::Role::Owner,
        created_at: now,
    };
    let mut ops = vec![
        WriteOp::Update {
            key: item.key.clone(),
            update: Update::default()
                .set("confirmed_at", now)?
                .set("partner_id", &partner_id)?,
            condition: Condition::VersionIs(item.version),
        },
        WriteOp::Put {
            item: Item::from_record(keys::partner(&partner_id), &partner)?,
            condition: Condition::NotExists,
        },
        WriteOp::Put {
            item: Item::from_record(keys::member(email), &member)?
                .with_gsi1(keys::member_by_partner(&partner_id, email)),
            condition: Condition::NotExists,
        },
    ];
    ops.push(crate::repo::audit::entry(
        crate::repo::audit::Entry {
            partner: &partner_id,
            actor: crate::repo::audit::member(email.as_str()),
            action: crate::domain::AuditAction::SignupConfirmed,
            account: None,
            client: None,
            detail: serde_json::json!({ "organization": p.organization }),
        },
        now,
    )?);
    let session = if with_session {
        let (session_ops, session) = issue_session_ops(s, &partner_id, email)?;
        ops.extend(session_ops);
        Some(session)
    } else {
        None
    };
    s.store().transact(ops).await?;
    Ok((partner_id, session))
}
