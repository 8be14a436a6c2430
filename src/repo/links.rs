//! Authorization links and OAuth state: how they are minted, stored, opened and mailed.
//!
//! - A **link** is emailed to whoever must consent: `{PUBLIC_BASE_URL}/authorize/{token}`, the
//!   token being 256 random bits sealed with the signing key (forgeries are refused before
//!   the store is read), stored only as its SHA-256, valid `link_days` (7 by default), single
//!   use (marked used when consent succeeds), and dead once the account points at a newer one
//!   (resend, check).
//! - A **state** is minted when someone starts consent: `account.expiry.random.mac`, sealed
//!   for one provider, stored (with the PKCE verifier, encrypted), valid one hour, consumed by
//!   the callback with one conditional write. See `usecases/consent.rs` for its checks.
//! - **Mail limits**: every authorization mail is reserved under the limits of `api.md` first.

use crate::crypto::{random_token, sha256_hex};
use crate::domain::{EmailAddress, Platform, Provider};
use crate::email::{MailError, templates};
use crate::identity::{REQUIRED_MICROSOFT_ROLES, SignInRequest};
use crate::limits::{self, Limit, LimitError, RateLimited};
use crate::services::{HasClock, HasEncryptor, HasIdentity, HasLinks, HasMailer, HasSettings, HasSigner, HasStore};
use crate::store::keys::{self, AccountItem, AccountStatus, Audience, LinkItem, PartnerItem, StateItem, StatePhase};
use crate::store::{Condition, Item, StoreError, WriteOp};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

crate::ports!(
    HasClock,
    HasEncryptor,
    HasIdentity,
    HasLinks,
    HasMailer,
    HasSettings,
    HasSigner,
    HasStore
);

const LINK: &str = "authorize";
pub const STATE_MINUTES: i64 = 60;
/// A consumed state is kept this long after it expires, to answer a replayed callback.
const STATE_KEEP_HOURS: i64 = 24;

pub fn state_purpose(provider: Provider) -> String {
    format!("state:{}", provider.as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link is not valid")]
    Invalid,
    #[error("the link has expired")]
    Expired,
    #[error("a newer link was sent")]
    Replaced,
    #[error("the link was already used")]
    Used,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
}

pub struct NewLink {
    pub token: SecretString,
    pub op: WriteOp,
    pub expires_at: DateTime<Utc>,
}

/// Who follows links of an account: its managers, partner or client.
pub fn audience_for(managed_by: crate::domain::ManagedBy) -> Audience {
    match managed_by {
        crate::domain::ManagedBy::Partner => Audience::Partner,
        crate::domain::ManagedBy::Client => Audience::Client,
    }
}

/// Mints a link for `account` (which now points at it) and the write that stores it.
pub fn new_link(
    s: &impl Ports,
    account: &mut AccountItem,
    to: &EmailAddress,
    audience: Audience,
) -> Result<NewLink, StoreError> {
    let now = s.clock().now();
    let random = random_token();
    let token = SecretString::from(s.signer().seal(LINK, &[random.expose_secret()]));
    let hash = sha256_hex(token.expose_secret());
    let expires_at = now + Duration::days(s.link_days());
    let link = LinkItem {
        partner_id: account.partner_id.clone(),
        account_id: account.id.clone(),
        sent_to: to.to_string(),
        audience,
        created_at: now,
        expires_at,
        used_at: None,
    };
    let item = Item::from_record(keys::authorization_link(&hash), &link)?.expiring_at(expires_at.timestamp());
    account.current_link_hash = Some(hash);
    account.link_sent_to = Some(to.to_string());
    account.link_expires_at = Some(expires_at);
    Ok(NewLink {
        token,
        op: WriteOp::Put {
            item,
            condition: Condition::NotExists,
        },
        expires_at,
    })
}

/// The access a consent asks for, each in plain words with its scope name beside it.
pub fn permissions(platform: Platform) -> Vec<String> {
    match platform {
        Platform::Microsoft365 => REQUIRED_MICROSOFT_ROLES
            .iter()
            .map(|r| crate::identity::described(r))
            .collect(),
        Platform::GoogleWorkspace => crate::identity::GOOGLE_SCOPES
            .iter()
            .map(|r| crate::identity::described(r))
            .collect(),
    }
}

pub async fn partner_name(s: &impl Ports, account: &AccountItem) -> Result<String, StoreError> {
    let item = s.store().get(&keys::partner(&account.partner_id)).await?;
    Ok(item
        .map(|i| i.record::<PartnerItem>())
        .transpose()?
        .map_or_else(|| "Your IT provider".to_owned(), |p| p.name))
}

/// Emails the link: who asks, for which client and tenant, what access, until when.
pub async fn send_link(
    s: &impl Ports,
    account: &AccountItem,
    to: &EmailAddress,
    link: &NewLink,
) -> Result<(), LinkError> {
    let partner = partner_name(s, account).await?;
    let url = SecretString::from(format!(
        "{}/authorize/{}",
        s.links().public_base_url,
        link.token.expose_secret()
    ));
    let perms = permissions(account.platform);
    // The admin's questions go to the partner's member who asked, not to a no-reply address.
    let reply_to = EmailAddress::parse("created_by", &account.created_by).ok();
    let expires = link.expires_at.format("%-d %B %Y, %H:%M UTC").to_string();
    let request = templates::AuthorizationRequest {
        partner: &partner,
        client: &account.client_name,
        platform: account.platform.display_name(),
        tenant: account.tenant.as_ref().map(|t| t.as_str()),
        permissions: &perms,
        expires: &expires,
        reply_to: reply_to.as_ref(),
    };
    s.mailer()
        .send(&templates::authorization_request(to, &request, &url)?)
        .await?;
    tracing::info!(account_id = %account.id, to_domain = to.domain(), "authorization link sent");
    Ok(())
}

/// A fresh sealed state and its record, valid [`STATE_MINUTES`].
fn mint_state(
    s: &impl Ports,
    account: &AccountItem,
    audience: Audience,
    link_hash: Option<String>,
    phase: StatePhase,
) -> (String, StateItem) {
    let now = s.clock().now();
    let expires_at = now + Duration::minutes(STATE_MINUTES);
    let provider = account.platform.provider();
    let random = random_token();
    let exp = expires_at.timestamp().to_string();
    let state = s.signer().seal(
        &state_purpose(provider),
        &[account.id.as_str(), &exp, random.expose_secret()],
    );
    let record = StateItem {
        partner_id: account.partner_id.clone(),
        account_id: account.id.clone(),
        provider,
        audience,
        phase,
        link_hash,
        pkce_verifier_enc: None,
        nonce_hash: None,
        tenant_id: None,
        created_at: now,
        expires_at,
        consumed_at: None,
        outcome: None,
    };
    (state, record)
}

/// The write that stores a state (by its hash; kept a day past expiry to answer replays).
fn state_write(state: &str, record: &StateItem) -> Result<WriteOp, StoreError> {
    let item = Item::from_record(keys::oauth_state(&sha256_hex(state)), record)?
        .expiring_at((record.expires_at + Duration::hours(STATE_KEEP_HOURS)).timestamp());
    Ok(WriteOp::Put {
        item,
        condition: Condition::NotExists,
    })
}

/// Mints a state for a consent started now, the write that stores it, and the provider URL:
/// Microsoft's sign-in leg (OpenID Connect code flow with nonce and PKCE, whose ID token
/// proves the admin's tenant) or Google's authorization code flow with PKCE.
pub fn new_state(
    s: &impl Ports,
    account: &AccountItem,
    audience: Audience,
    link_hash: Option<String>,
) -> Result<(WriteOp, String), StoreError> {
    let (state, mut record) = mint_state(s, account, audience, link_hash, StatePhase::SignIn);
    let verifier = random_token();
    let challenge = B64.encode(Sha256::digest(verifier.expose_secret().as_bytes()));
    record.pkce_verifier_enc = Some(s.encryptor().encrypt(&verifier, account.id.as_str()));
    let entered = account.tenant.as_ref().map(|t| t.as_str());
    let url = match account.platform {
        Platform::Microsoft365 => {
            let nonce = random_token();
            record.nonce_hash = Some(sha256_hex(nonce.expose_secret()));
            s.microsoft().sign_in_url(&SignInRequest {
                tenant: account.tenant_id.as_deref().or(entered),
                state: &state,
                nonce: nonce.expose_secret(),
                code_challenge: &challenge,
            })
        }
        Platform::GoogleWorkspace => {
            s.google()
                .authorize_url(&state, &challenge, account.tenant_domain.as_deref().or(entered))
        }
    };
    Ok((state_write(&state, &record)?, url))
}

/// The consent leg of a Microsoft consent, after a proven sign-in: a state bound to the
/// signed-in admin's tenant, its write, and the admin-consent URL for exactly that tenant.
pub fn consent_state(
    s: &impl Ports,
    signed_in: &StateItem,
    account: &AccountItem,
    tenant_id: &str,
) -> Result<(WriteOp, String), StoreError> {
    let (state, mut record) = mint_state(
        s,
        account,
        signed_in.audience,
        signed_in.link_hash.clone(),
        StatePhase::Consent,
    );
    record.tenant_id = Some(tenant_id.to_owned());
    let url = s.microsoft().admin_consent_url(Some(tenant_id), &state);
    Ok((state_write(&state, &record)?, url))
}

/// A link that still works, with its account.
pub struct OpenLink {
    pub hash: String,
    pub link: LinkItem,
    pub account: AccountItem,
}

pub async fn open_link(s: &impl Ports, token: &str) -> Result<OpenLink, LinkError> {
    if s.signer().open(LINK, token).is_none() {
        return Err(LinkError::Invalid);
    }
    let hash = sha256_hex(token);
    let item = s
        .store()
        .get(&keys::authorization_link(&hash))
        .await?
        .ok_or(LinkError::Expired)?;
    let link: LinkItem = item.record()?;
    if link.used_at.is_some() {
        return Err(LinkError::Used);
    }
    if link.expires_at <= s.clock().now() {
        return Err(LinkError::Expired);
    }
    let account: AccountItem = s
        .store()
        .get(&keys::account(&link.partner_id, &link.account_id))
        .await?
        .ok_or(LinkError::Expired)?
        .record()?;
    if account.current_link_hash.as_deref() != Some(hash.as_str()) {
        return Err(LinkError::Replaced);
    }
    if account.status == AccountStatus::Active {
        return Err(LinkError::Used);
    }
    Ok(OpenLink { hash, link, account })
}

/// Points the account (read as `item`) at a fresh link, in one transaction conditioned on
/// the version read: [`StoreError::ConditionFailed`] when the account changed meanwhile.
pub async fn replace_link(
    s: &impl Ports,
    item: &Item,
    account: &mut AccountItem,
    to: &EmailAddress,
    audience: Audience,
    logged: crate::repo::audit::Logged<'_>,
) -> Result<NewLink, StoreError> {
    let link = new_link(s, account, to, audience)?;
    let mut updated = Item::from_record(item.key.clone(), &*account)?;
    updated.gsi1 = item.gsi1.clone();
    updated.version = item.version + 1;
    let entry = crate::repo::audit::account_entry(
        account,
        logged.actor,
        crate::domain::AuditAction::AuthorizationResent,
        serde_json::json!({ "to": to.as_str(), "why": logged.why }),
        s.clock().now(),
    )?;
    let result = s
        .store()
        .transact(vec![
            link.op.clone(),
            WriteOp::Put {
                item: updated,
                condition: Condition::VersionIs(item.version),
            },
            entry,
        ])
        .await;
    result.map(|()| link)
}

/// Authorization mails per account: 5 an hour (`api.md`).
pub const MAILS_PER_ACCOUNT_HOUR: Limit = Limit::new(keys::LIMIT_AUTH_MAIL_ACCOUNT_HOUR, 5, 3600);
/// Authorization mails per account: 20 a day (`api.md`).
pub const MAILS_PER_ACCOUNT_DAY: Limit = Limit::new(keys::LIMIT_AUTH_MAIL_ACCOUNT_DAY, 20, 86_400);
/// Authorization mails per recipient address, across accounts and partners: 1 a minute.
pub const MAILS_PER_ADDRESS_MINUTE: Limit = Limit::new(keys::LIMIT_AUTH_MAIL_ADDRESS_MINUTE, 1, 60);
/// Authorization mails per partner, across its accounts: 50 a day, so creating accounts in
/// bulk cannot turn our domain into a mailer for phishing-like client names.
pub const MAILS_PER_PARTNER_DAY: Limit = Limit::new(keys::LIMIT_AUTH_MAIL_PARTNER_DAY, 50, 86_400);

/// Reserves one authorization mail of `account` to `to` under every mail limit, or refuses
/// with the longest wait. Called after every other check and before anything is written: a
/// refusal writes nothing. All limits are checked first (so an ordinary refusal counts
/// nothing), then counted one by one (so parallel requests cannot pass a limit; one that
/// loses such a race may leave the limits it already took counted, erring on the safe side).
pub async fn reserve_mail(s: &impl Ports, account: &AccountItem, to: &EmailAddress) -> Result<(), LimitError> {
    let subjects = [
        (&MAILS_PER_ADDRESS_MINUTE, to.as_str()),
        (&MAILS_PER_ACCOUNT_HOUR, account.id.as_str()),
        (&MAILS_PER_ACCOUNT_DAY, account.id.as_str()),
        (&MAILS_PER_PARTNER_DAY, account.partner_id.as_str()),
    ];
    // The four counters are independent items: read (then count) them concurrently.
    let checks = futures_util::future::join_all(
        subjects
            .iter()
            .map(|(limit, subject)| limits::check(s.store().as_ref(), s.clock().as_ref(), limit, subject)),
    )
    .await;
    let mut wait = None;
    for result in checks {
        match result {
            Ok(()) => {}
            Err(LimitError::Limited(l)) => wait = wait.max(Some(l.retry_after)),
            Err(LimitError::Store(e)) => return Err(e.into()),
        }
    }
    if let Some(retry_after) = wait {
        tracing::info!(account_id = %account.id, retry_after, "authorization mail refused: over a mail limit");
        return Err(RateLimited { retry_after }.into());
    }
    let takes = futures_util::future::join_all(
        subjects
            .iter()
            .map(|(limit, subject)| limits::take(s.store().as_ref(), s.clock().as_ref(), limit, subject)),
    )
    .await;
    takes.into_iter().collect()
}
