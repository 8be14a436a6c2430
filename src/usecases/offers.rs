//! Partner offers (api.md "Partner offers"): a reusable link, not client-specific, that any
//! client's administrator opens to onboard their own tenant under the partner. Starting
//! creates a client and a client-managed account and hands over to the same consent flow as
//! an emailed link (`/authorize/{token}/start`), so the tenant binding applies unchanged.
//! Nothing is mailed to the typed address (the form must not be a way to mail strangers);
//! once the consent completes the partner's owners and admins are told.
//!
//! Abuse: starts are limited per offer ([`STARTS_PER_OFFER`]) and per source IP; unfinished
//! accounts are removed after `repo::due::OFFER_UNFINISHED_DAYS` by the scheduled work, with
//! their client when nothing else uses it. The code is stored encrypted and found by its hash.

use crate::crypto::{random_token, sha256_hex};
use crate::domain::{Actor, AuditAction, EmailAddress, FieldError, ManagedBy, OrganizationName, Platform, Principal};
use crate::limits::{self, Limit, LimitError};
use crate::repo::audit;
use crate::repo::links::{audience_for, new_link};
use crate::services::{HasClock, HasEncryptor, HasLinks, HasStore};
use crate::store::keys::{self, OfferCodeItem, OfferItem, OfferRef, PartnerItem};
use crate::store::{Condition, Item, QueryOptions, StoreError, WriteOp};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

crate::ports!(
    HasClock,
    HasEncryptor,
    HasLinks,
    HasStore,
    crate::repo::clients::Ports,
    crate::repo::links::Ports
);

/// Unfinished starts per offer per hour.
pub const STARTS_PER_OFFER: Limit = Limit::new("offer-starts-1h", 20, 3600);
/// Starts per source IP per hour, across offers.
pub const STARTS_PER_IP: Limit = Limit::new("offer-ip-1h", 10, 3600);
/// Offers a partner may have.
pub const MAX_OFFERS: usize = 100;
const CODE_CONTEXT: &str = "offer-code";

#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("not found")]
    NotFound,
    #[error("this offer was withdrawn")]
    Disabled,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("too many starts; retry in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<LimitError> for OfferError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(l) => Self::RateLimited {
                retry_after: l.retry_after,
            },
            LimitError::Store(e) => Self::Store(e),
        }
    }
}

/// `POST /v1/offers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOffer {
    pub platform: Platform,
    /// For the partner's own reference (where the link is published), 1 to 200 characters.
    #[schema(value_type = Option<OrganizationName>)]
    pub label: Option<String>,
}

/// An offer as the partner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfferView {
    pub id: String,
    /// The link to publish.
    pub url: String,
    pub platform: Platform,
    #[schema(required)]
    pub label: Option<String>,
    pub active: bool,
    /// Consents completed through it.
    pub uses: u64,
    pub created_at: DateTime<Utc>,
}

fn view(s: &impl Ports, o: &OfferItem) -> Result<OfferView, StoreError> {
    let code = s
        .encryptor()
        .decrypt(&o.code_enc, CODE_CONTEXT)
        .map_err(|_| StoreError::Corrupt("an offer code does not decrypt".into()))?;
    Ok(OfferView {
        id: o.id.clone(),
        url: format!("{}/offer/{}", s.links().public_base_url, code.expose_secret()),
        platform: o.platform,
        label: o.label.clone(),
        active: o.active,
        uses: o.uses,
        created_at: o.created_at,
    })
}

async fn partner_offers(s: &impl Ports, who: &Principal) -> Result<Vec<OfferItem>, StoreError> {
    let page = s
        .store()
        .query(
            &keys::partner_partition(&who.partner_id),
            keys::OFFER_PREFIX,
            QueryOptions {
                limit: Some(MAX_OFFERS + 1),
                after: None,
            },
        )
        .await?;
    page.items.iter().map(Item::record).collect()
}

pub async fn list(s: &impl Ports, who: &Principal) -> Result<Vec<OfferView>, OfferError> {
    let mut offers = partner_offers(s, who).await?;
    offers.sort_by_key(|o| std::cmp::Reverse(o.created_at));
    Ok(offers.iter().map(|o| view(s, o)).collect::<Result<_, _>>()?)
}

/// Creates an offer (the caller is an owner or admin: the route's extractor says so).
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id))]
pub async fn create(s: &impl Ports, who: &Principal, req: NewOffer) -> Result<OfferView, OfferError> {
    // Given, a label must say something (leave it out for none).
    let label = req
        .label
        .as_deref()
        .map(|l| OrganizationName::parse("label", l))
        .transpose()?;
    if partner_offers(s, who).await?.len() >= MAX_OFFERS {
        return Err(OfferError::Conflict("you have 100 offers; withdraw some first"));
    }
    let now = s.clock().now();
    let code = random_token();
    let offer = OfferItem {
        id: uuid::Uuid::new_v4().to_string(),
        platform: req.platform,
        label: label.map(|l| l.to_string()),
        active: true,
        uses: 0,
        created_by: who.email.clone(),
        created_at: now,
        disabled_at: None,
        code_enc: s.encryptor().encrypt(&code, CODE_CONTEXT),
    };
    let pointer = OfferCodeItem {
        partner_id: who.partner_id.clone(),
        offer_id: offer.id.clone(),
    };
    s.store()
        .transact(vec![
            WriteOp::Put {
                item: Item::from_record(keys::offer(&who.partner_id, &offer.id), &offer)?,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: Item::from_record(keys::offer_code(&sha256_hex(code.expose_secret())), &pointer)?,
                condition: Condition::NotExists,
            },
            offer_entry(
                who,
                AuditAction::OfferCreated,
                serde_json::json!({ "offer_id": offer.id, "platform": offer.platform, "label": offer.label }),
                now,
            )?,
        ])
        .await?;
    tracing::info!(offer_id = %offer.id, "offer created");
    Ok(view(s, &offer)?)
}

fn offer_entry(
    who: &Principal,
    action: AuditAction,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<WriteOp, StoreError> {
    audit::entry(
        audit::Entry {
            partner: &who.partner_id,
            actor: audit::member(&who.email),
            action,
            account: None,
            client: None,
            detail,
        },
        now,
    )
}

/// Withdraws an offer: its link answers 410 from then on. Withdrawing it again does nothing.
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id))]
pub async fn disable(s: &impl Ports, who: &Principal, id: &str) -> Result<(), OfferError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(OfferError::NotFound);
    }
    let item = s
        .store()
        .get(&keys::offer(&who.partner_id, id))
        .await?
        .ok_or(OfferError::NotFound)?;
    let mut offer: OfferItem = item.record()?;
    if !offer.active {
        return Ok(());
    }
    let now = s.clock().now();
    offer.active = false;
    offer.disabled_at = Some(now);
    let written = s
        .store()
        .transact(vec![
            WriteOp::Put {
                item: item.next_version(&offer)?,
                condition: Condition::VersionIs(item.version),
            },
            offer_entry(
                who,
                AuditAction::OfferDisabled,
                serde_json::json!({ "offer_id": offer.id, "uses": offer.uses }),
                now,
            )?,
        ])
        .await;
    match written {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed | StoreError::Conflict) => {
            Err(OfferError::Conflict("the offer changed meanwhile; try again"))
        }
        Err(e) => Err(e.into()),
    }
}

/// An active offer behind a link, read only.
pub struct OpenOffer {
    pub partner: PartnerItem,
    pub offer: OfferItem,
}

/// The offer behind a code: `NotFound` for a code that is not ours, `Disabled` for a
/// withdrawn one.
pub async fn open(s: &impl Ports, code: &str) -> Result<OpenOffer, OfferError> {
    if code.is_empty() || code.len() > 128 {
        return Err(OfferError::NotFound);
    }
    let pointer: OfferCodeItem = s
        .store()
        .get(&keys::offer_code(&sha256_hex(code)))
        .await?
        .ok_or(OfferError::NotFound)?
        .record()?;
    let offer: OfferItem = s
        .store()
        .get(&keys::offer(&pointer.partner_id, &pointer.offer_id))
        .await?
        .ok_or(OfferError::NotFound)?
        .record()?;
    if !offer.active {
        return Err(OfferError::Disabled);
    }
    let partner: PartnerItem = s
        .store()
        .get(&keys::partner(&pointer.partner_id))
        .await?
        .ok_or(OfferError::NotFound)?
        .record()?;
    Ok(OpenOffer { partner, offer })
}

/// A client's administrator starts onboarding through the offer: a new client (named as
/// typed; a name the partner already uses gets a number, so nobody can attach an account to
/// an existing client or learn the partner's client list) and a client-managed account
/// waiting for authorization. Answers the consent start's URL to redirect to.
#[tracing::instrument(skip_all)]
pub async fn start(
    s: &impl Ports,
    code: &str,
    organization: &str,
    email: &str,
    source_ip: Option<&str>,
) -> Result<String, OfferError> {
    // The form first (a refused field is 422 whatever the code), then the offer.
    let organization = OrganizationName::parse("organization", organization)?;
    let to = EmailAddress::parse("email", email)?;
    let OpenOffer { partner, offer } = open(s, code).await?;
    if let Some(ip) = source_ip {
        limits::check(s.store().as_ref(), s.clock().as_ref(), &STARTS_PER_IP, ip).await?;
    }
    limits::check(s.store().as_ref(), s.clock().as_ref(), &STARTS_PER_OFFER, &offer.id).await?;
    let name = free_name(s, &partner, &organization).await?;
    if let Some(ip) = source_ip {
        limits::take(s.store().as_ref(), s.clock().as_ref(), &STARTS_PER_IP, ip).await?;
    }
    limits::take(s.store().as_ref(), s.clock().as_ref(), &STARTS_PER_OFFER, &offer.id).await?;
    let now = s.clock().now();
    let (client, mut ops) = crate::repo::clients::new_client(s, &partner.id, &name, Some(&to))?;
    let mut account = crate::repo::clients::waiting_account(
        &partner.id,
        &offer.created_by,
        &client,
        offer.platform,
        ManagedBy::Client,
        None,
        now,
    );
    account.offer = Some(OfferRef {
        offer_id: offer.id.clone(),
        accepted_at: None,
    });
    let link = new_link(s, &mut account, &to, audience_for(ManagedBy::Client))?;
    ops.push(link.op.clone());
    ops.push(WriteOp::Put {
        item: Item::from_record(keys::account(&partner.id, &account.id), &account)?,
        condition: Condition::NotExists,
    });
    ops.extend(crate::repo::due::entry_ops(None, &account)?);
    ops.push(audit::account_entry(
        &account,
        Actor::ClientAdmin {
            email: Some(to.to_string()),
        },
        AuditAction::AccountCreated,
        serde_json::json!({
            "client_name": client.name,
            "platform": account.platform,
            "managed_by": account.managed_by,
            "offer_id": offer.id,
        }),
        now,
    )?);
    match s.store().transact(ops).await {
        Err(StoreError::ConditionFailed) => return Err(OfferError::Conflict("please try again")),
        other => other?,
    }
    tracing::info!(partner_id = %partner.id, offer_id = %offer.id, account_id = %account.id, "offer started");
    Ok(format!(
        "{}/authorize/{}/start",
        s.links().public_base_url,
        link.token.expose_secret()
    ))
}

/// The organization's name, or "<name> (2)" ... when the partner already has a client of it.
async fn free_name(
    s: &impl Ports,
    partner: &PartnerItem,
    name: &OrganizationName,
) -> Result<OrganizationName, OfferError> {
    for n in 1..=20 {
        let candidate = if n == 1 {
            name.clone()
        } else {
            let base: String = name.as_str().chars().take(OrganizationName::MAX_CHARS - 6).collect();
            OrganizationName::parse("organization", &format!("{base} ({n})"))?
        };
        if s.store()
            .get(&keys::client_name(&partner.id, &candidate.folded()))
            .await?
            .is_none()
        {
            return Ok(candidate);
        }
    }
    Err(OfferError::Conflict("please try again later"))
}
