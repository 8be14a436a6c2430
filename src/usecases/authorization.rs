//! Authorization of a SaaS account, as partners and admins do it: the landing page of an
//! emailed link, starting consent from it, `check`, `resend` and reauthorization. How links
//! and states are minted and mailed: [`crate::repo::links`].

use crate::domain::FieldError;
use crate::domain::{EmailAddress, Platform, Principal};
use crate::limits::{self, Limit, LimitError};
use crate::repo::audit::{self, Logged};
use crate::repo::links::{
    LinkError, audience_for, new_state, open_link, partner_name, permissions, replace_link, reserve_mail, send_link,
};
use crate::services::{HasClock, HasSettings, HasStore};
use crate::store::keys::{self, AccountItem, AccountStatus, Audience};
use crate::store::{Item, StoreError};
use chrono::{DateTime, Duration, Utc};

crate::ports!(
    HasClock,
    HasSettings,
    HasStore,
    crate::repo::accounts::Ports,
    crate::repo::links::Ports
);

#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Mail(#[from] crate::email::MailError),
    #[error("too many requests")]
    RateLimited { retry_after: i64 },
}

impl From<StoreError> for AuthorizationError {
    fn from(e: StoreError) -> Self {
        match e {
            // A conditioned write lost to a concurrent change of the account.
            StoreError::ConditionFailed => AuthorizationError::Conflict("the account changed meanwhile; try again"),
            e => AuthorizationError::Store(e),
        }
    }
}

impl From<LimitError> for AuthorizationError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(l) => AuthorizationError::RateLimited {
                retry_after: l.retry_after,
            },
            LimitError::Store(e) => AuthorizationError::Store(e),
        }
    }
}

impl From<LinkError> for AuthorizationError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Store(e) => AuthorizationError::Store(e),
            LinkError::Mail(e) => AuthorizationError::Mail(e),
            _ => AuthorizationError::Conflict("the authorization link is no longer valid"),
        }
    }
}

async fn account_item(s: &impl Ports, who: &Principal, id: &str) -> Result<Item, AuthorizationError> {
    crate::repo::accounts::find(s, &who.partner_id, id)
        .await
        .map_err(AuthorizationError::Store)?
        .ok_or(AuthorizationError::NotFound)
}

/// What `check` found: the account, and what must happen next while it waits.
#[derive(Debug)]
pub struct Checked {
    pub account: AccountItem,
    pub next_step: Option<&'static str>,
}

/// What the landing page shows.
pub struct Landing {
    pub partner: String,
    pub client: String,
    pub platform: Platform,
    pub tenant: Option<String>,
    pub permissions: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// Who at the partner asked (the admin's questions go there).
    pub contact: String,
}

pub async fn landing(s: &impl Ports, token: &str) -> Result<Landing, LinkError> {
    let open = open_link(s, token).await?;
    Ok(Landing {
        partner: partner_name(s, &open.account).await?,
        client: open.account.client_name.clone(),
        platform: open.account.platform,
        tenant: open.account.tenant.as_ref().map(|t| t.as_str().to_owned()),
        permissions: permissions(open.account.platform),
        expires_at: open.link.expires_at,
        contact: open.account.created_by.clone(),
    })
}

/// Starts consent from a link: stores a fresh state and answers the provider URL.
#[tracing::instrument(skip_all)]
pub async fn start(s: &impl Ports, token: &str) -> Result<String, LinkError> {
    let open = open_link(s, token).await?;
    let (op, url) = new_state(s, &open.account, open.link.audience, Some(open.hash))?;
    s.store().transact(vec![op]).await?;
    tracing::info!(account_id = %open.account.id, "consent started from a link");
    Ok(url)
}

/// What `check` says of an account still waiting.
pub const CONSENT_NOT_COMPLETE: &str = "Consent is not complete: ask the administrator to open the authorization link again, sign in and accept. The link stays valid until a consent completes through it.";

/// `authorization/check`: the account re-evaluated. An expired, unused link is replaced and
/// re-sent to its last recipient.
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id))]
pub async fn check(s: &impl Ports, who: &Principal, id: &str) -> Result<Checked, AuthorizationError> {
    let item = account_item(s, who, id).await?;
    // Each check may call the provider: at most once a minute per account.
    let current: AccountItem = item.record()?;
    limits::take(
        s.store().as_ref(),
        s.clock().as_ref(),
        &CHECK_PER_ACCOUNT,
        current.id.as_str(),
    )
    .await?;
    // A token alone never activates: it proves that someone in the tenant consented to the
    // (shared) app, not that the tenant's admin came through this account's link.
    let mut account = current;
    let now = s.clock().now();
    let expired = account.status == AccountStatus::WaitingForAuthorization
        && account.link_expires_at.is_some_and(|t| t <= now)
        && account.link_sent_to.is_some();
    if expired {
        let to = EmailAddress::parse("email", account.link_sent_to.as_deref().unwrap_or_default())?;
        let audience = audience_for(account.managed_by);
        reserve_mail(s, &account, &to).await?;
        let logged = Logged {
            actor: audit::member(&who.email),
            why: "expired",
        };
        let link = replace_link(s, &item, &mut account, &to, audience, logged).await?;
        send_link(s, &account, &to, &link).await?;
        tracing::info!(account_id = %account.id, "expired link replaced and re-sent");
    }
    let next_step = (account.status == AccountStatus::WaitingForAuthorization).then_some(CONSENT_NOT_COMPLETE);
    Ok(Checked { account, next_step })
}

/// `authorization/resend {email}`: a fresh link to the typed address; earlier links die.
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id))]
pub async fn resend(
    s: &impl Ports,
    who: &Principal,
    id: &str,
    email: &str,
) -> Result<(String, DateTime<Utc>), AuthorizationError> {
    let to = EmailAddress::parse("email", email)?;
    let item = account_item(s, who, id).await?;
    let mut account: AccountItem = item.record()?;
    if account.status == AccountStatus::Active {
        return Err(AuthorizationError::Conflict("this account is already authorized"));
    }
    if account.status == AccountStatus::Disabled {
        return Err(AuthorizationError::Conflict("this account is disabled"));
    }
    // The same address at most once a minute: a double click or a script must not flood an
    // inbox (another address is fine: the partner corrected a typo).
    if let (Some(last_to), Some(expires)) = (&account.link_sent_to, account.link_expires_at) {
        let sent_at = expires - Duration::days(s.link_days());
        let wait = (sent_at + Duration::seconds(RESEND_COOLDOWN_SECONDS) - s.clock().now()).num_seconds();
        if last_to == to.as_str() && wait > 0 {
            return Err(AuthorizationError::RateLimited { retry_after: wait });
        }
    }
    let audience = audience_for(account.managed_by);
    reserve_mail(s, &account, &to).await?;
    let logged = Logged {
        actor: audit::member(&who.email),
        why: "resend",
    };
    let link = replace_link(s, &item, &mut account, &to, audience, logged).await?;
    send_link(s, &account, &to, &link).await?;
    Ok((to.to_string(), link.expires_at))
}

/// Least time between two links sent to the same address for one account.
pub const RESEND_COOLDOWN_SECONDS: i64 = 60;

/// Where a link went and until when it works.
pub struct Sent {
    pub to: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST .../reauthorization {email?}`: a consent URL asking for the permissions required
/// now, for an account that was authorized before; emailed too when an address is given.
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id))]
pub async fn reauthorize(
    s: &impl Ports,
    who: &Principal,
    id: &str,
    email: Option<&str>,
) -> Result<(String, Option<Sent>), AuthorizationError> {
    let to = email
        .filter(|e| !e.trim().is_empty())
        .map(|e| EmailAddress::parse("email", e))
        .transpose()?;
    let item = account_item(s, who, id).await?;
    let mut account: AccountItem = item.record()?;
    if account.status == AccountStatus::Disabled {
        return Err(AuthorizationError::Conflict("this account is disabled"));
    }
    if let Some(to) = &to {
        reserve_mail(s, &account, to).await?;
    }
    let (state_op, url) = new_state(s, &account, Audience::Partner, None)?;
    let sent = match to {
        None => {
            s.store().transact(vec![state_op]).await?;
            None
        }
        Some(to) => {
            let audience = audience_for(account.managed_by);
            s.store().transact(vec![state_op]).await?;
            let logged = Logged {
                actor: audit::member(&who.email),
                why: "reauthorization",
            };
            let link = replace_link(s, &item, &mut account, &to, audience, logged).await?;
            send_link(s, &account, &to, &link).await?;
            Some(Sent {
                to: to.to_string(),
                expires_at: link.expires_at,
            })
        }
    };
    tracing::info!(account_id = %account.id, emailed = sent.is_some(), "reauthorization requested");
    Ok((url, sent))
}

/// `authorization/check` (it asks the provider for a token): once a minute per account.
pub const CHECK_PER_ACCOUNT: Limit = Limit::new(keys::LIMIT_CHECK_ACCOUNT_MINUTE, 1, 60);
