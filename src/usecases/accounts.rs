//! Clients and SaaS accounts of a partner: create, list, read. Every read is keyed by the
//! caller's partner ID, so another partner's IDs are simply not found.

use crate::domain::{AuditAction, Principal};
use crate::domain::{ClientId, EmailAddress, FieldError, ManagedBy, OrganizationName, PartnerId, Platform, TenantRef};
use crate::email::MailError;
use crate::repo::audit;
use crate::repo::links::{self as authorization, LinkError};
use crate::services::{HasClock, HasStore};
use crate::store::keys::{self, AccountItem, Audience, ClientItem};
use crate::store::{Condition, Item, QueryOptions, StoreError, WriteOp};

use serde::Deserialize;

crate::ports!(
    HasClock,
    HasStore,
    crate::repo::accounts::Ports,
    crate::repo::clients::Ports,
    crate::repo::links::Ports
);

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("too many requests")]
    RateLimited { retry_after: i64 },
}

impl From<crate::limits::LimitError> for AccountError {
    fn from(e: crate::limits::LimitError) -> Self {
        match e {
            crate::limits::LimitError::Limited(l) => AccountError::RateLimited {
                retry_after: l.retry_after,
            },
            crate::limits::LimitError::Store(e) => AccountError::Store(e),
        }
    }
}

impl From<LinkError> for AccountError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Store(e) => AccountError::Store(e),
            LinkError::Mail(e) => AccountError::Mail(e),
            _ => AccountError::Conflict("the authorization link is no longer valid"),
        }
    }
}

/// A new account, and how its authorization goes on.
#[derive(Debug)]
pub struct Created {
    pub account: AccountItem,
    /// With admin credentials at hand: the consent to open now.
    pub authorization_url: Option<String>,
    /// Without: whether the authorization email went out.
    pub delivery: Option<Delivery>,
}

/// Whether an authorization email went out. A failed one is logged; `authorization/resend`
/// sends a fresh link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Sent,
    Failed,
}

/// `POST /v1/accounts` as the partner filled it in.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// One of the partner's clients; or `client_name` to create one.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub client_id: Option<String>,
    /// A new client's name (when `client_id` is not given).
    #[schema(value_type = Option<OrganizationName>)]
    pub client_name: Option<String>,
    pub platform: Platform,
    pub managed_by: ManagedBy,
    pub has_admin_credentials: bool,
    #[schema(schema_with = crate::domain::schema::optional_tenant)]
    pub tenant: Option<String>,
    /// Without admin credentials: who gets the authorization link.
    #[schema(schema_with = crate::domain::schema::optional_email)]
    pub authorization_email: Option<String>,
}

pub async fn create_client(
    s: &impl Ports,
    who: &Principal,
    name: &str,
    contact_email: Option<&str>,
) -> Result<ClientItem, AccountError> {
    let (client, ops) = new_client(s, &who.partner_id, name, contact_email)?;
    if find_client_named(s, who, &client.name).await?.is_some() {
        return Err(AccountError::Conflict(NAME_TAKEN));
    }
    match s.store().transact(ops).await {
        Err(StoreError::ConditionFailed) => return Err(AccountError::Conflict(NAME_TAKEN)),
        other => other?,
    }
    tracing::info!(partner_id = %who.partner_id, client_id = %client.id, "client created");
    Ok(client)
}

const NAME_TAKEN: &str = "one of your clients already has this name";

/// A new client (parsed name and contact) and its writes.
fn new_client(
    s: &impl Ports,
    partner: &PartnerId,
    name: &str,
    contact_email: Option<&str>,
) -> Result<(ClientItem, Vec<WriteOp>), AccountError> {
    let name = OrganizationName::parse("name", name)?;
    let contact_email = contact_email
        .filter(|e| !e.trim().is_empty())
        .map(|e| EmailAddress::parse("contact_email", e))
        .transpose()?;
    Ok(crate::repo::clients::new_client(
        s,
        partner,
        &name,
        contact_email.as_ref(),
    )?)
}

/// The partner's client of this name, case and spaces aside: by the name's entry, else (a
/// client from before names had entries) by reading the partner's clients.
async fn find_client_named(s: &impl Ports, who: &Principal, name: &str) -> Result<Option<ClientItem>, AccountError> {
    let Ok(name) = OrganizationName::parse("name", name) else {
        return Ok(None);
    };
    let folded = name.folded();
    if let Some(item) = s.store().get(&keys::client_name(&who.partner_id, &folded)).await? {
        let index: keys::ClientNameItem = item.record()?;
        if let Some(client) = s.store().get(&keys::client(&who.partner_id, &index.client_id)).await? {
            return Ok(Some(client.record()?));
        }
    }
    Ok(list_clients(s, who)
        .await?
        .into_iter()
        .find(|c| OrganizationName::parse("name", &c.name).is_ok_and(|n| n.folded() == folded)))
}

pub async fn list_clients(s: &impl Ports, who: &Principal) -> Result<Vec<ClientItem>, AccountError> {
    let page = s
        .store()
        .query(
            &keys::partner_partition(&who.partner_id),
            keys::CLIENT_PREFIX,
            QueryOptions::default(),
        )
        .await?;
    Ok(page.items.iter().map(Item::record).collect::<Result<_, _>>()?)
}

async fn get_client(s: &impl Ports, who: &Principal, id: &str) -> Result<ClientItem, AccountError> {
    let id = ClientId::parse(id).ok_or(AccountError::NotFound)?;
    let item = s
        .store()
        .get(&keys::client(&who.partner_id, &id))
        .await?
        .ok_or(AccountError::NotFound)?;
    Ok(item.record()?)
}

/// The client an account is for: an existing one by ID, or a new one by name (with its write).
async fn client_for(
    s: &impl Ports,
    who: &Principal,
    req: &NewAccount,
) -> Result<(ClientItem, Vec<WriteOp>), AccountError> {
    match (&req.client_id, &req.client_name) {
        (Some(id), _) => {
            let client = get_client(s, who, id).await.map_err(|e| match e {
                AccountError::NotFound => {
                    AccountError::Invalid(FieldError::new("client_id", "is not one of your clients"))
                }
                e => e,
            })?;
            Ok((client, Vec::new()))
        }
        (None, Some(name)) => {
            let (client, ops) = new_client(s, &who.partner_id, name, None).map_err(|e| match e {
                AccountError::Invalid(f) if f.field == "name" => {
                    AccountError::Invalid(FieldError::new("client_name", f.message))
                }
                e => e,
            })?;
            // The partner's client of that name, if there is one, rather than a twin.
            match find_client_named(s, who, &client.name).await? {
                Some(existing) => Ok((existing, Vec::new())),
                None => Ok((client, ops)),
            }
        }
        (None, None) => Err(FieldError::new("client_id", "or client_name is required").into()),
    }
}

/// Who gets the authorization link: the typed address, else the client's contact
/// (client-managed), else the signed-in member (partner-managed).
fn recipient(
    who: &Principal,
    managed_by: ManagedBy,
    typed: Option<EmailAddress>,
    client: &ClientItem,
) -> Result<EmailAddress, AccountError> {
    Ok(match (typed, managed_by, &client.contact_email) {
        (Some(e), _, _) => e,
        (None, ManagedBy::Client, Some(contact)) => EmailAddress::parse("contact_email", contact)?,
        (None, ManagedBy::Client, None) => {
            return Err(FieldError::new(
                "authorization_email",
                "is required: the client has no contact email to send the authorization link to",
            )
            .into());
        }
        (None, ManagedBy::Partner, _) => EmailAddress::parse("email", &who.email)?,
    })
}

/// Creates the account (and its client when named), then either returns a consent URL to
/// open now (admin credentials at hand) or emails an authorization link to the right person:
/// the typed address, else the client's contact (client-managed), else the signed-in member.
#[tracing::instrument(skip_all, fields(partner_id = %who.partner_id, account_id))]
pub async fn create_account(s: &impl Ports, who: &Principal, req: NewAccount) -> Result<Created, AccountError> {
    let tenant = req
        .tenant
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| TenantRef::parse("tenant", t, req.platform))
        .transpose()?;
    let typed = req
        .authorization_email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| EmailAddress::parse("authorization_email", e))
        .transpose()?;
    let (client, mut ops) = client_for(s, who, &req).await?;
    let recipient = if req.has_admin_credentials {
        None
    } else {
        Some(recipient(who, req.managed_by, typed, &client)?)
    };
    let now = s.clock().now();
    let mut account = crate::repo::clients::waiting_account(
        &who.partner_id,
        &who.email,
        &client,
        req.platform,
        req.managed_by,
        tenant,
        now,
    );
    tracing::Span::current().record("account_id", account.id.as_str());
    let audience = authorization::audience_for(req.managed_by);
    let mut authorization_url = None;
    let mut mail = None;
    match recipient {
        None => {
            // Admin credentials at hand: consent now, as the signed-in partner.
            let (op, url) = authorization::new_state(s, &account, Audience::Partner, None)?;
            ops.push(op);
            authorization_url = Some(url);
        }
        Some(to) => {
            let link = authorization::new_link(s, &mut account, &to, audience)?;
            ops.push(link.op.clone());
            mail = Some((to, link));
        }
    }
    ops.push(WriteOp::Put {
        item: Item::from_record(keys::account(&who.partner_id, &account.id), &account)?,
        condition: Condition::NotExists,
    });
    // The log says so in the same transaction: the account, and the link's mail if one goes.
    let entry = |action, detail| audit::account_entry(&account, audit::member(&who.email), action, detail, now);
    ops.push(entry(
        AuditAction::AccountCreated,
        serde_json::json!({
            "client_name": client.name,
            "platform": account.platform,
            "managed_by": account.managed_by,
            "has_admin_credentials": req.has_admin_credentials,
        }),
    )?);
    if let Some((to, _)) = &mail {
        ops.push(entry(
            AuditAction::AuthorizationSent,
            serde_json::json!({ "to": to.as_str() }),
        )?);
        // Over a mail limit the account is not created either: nothing written, nothing sent.
        authorization::reserve_mail(s, &account, to).await?;
    }
    match s.store().transact(ops).await {
        // Only a new client's name can be taken meanwhile (every other key is new).
        Err(StoreError::ConditionFailed) => {
            return Err(AccountError::Conflict(
                "another request just created a client of this name; try again to use it",
            ));
        }
        other => other?,
    }
    let mut delivery = None;
    if let Some((to, link)) = mail {
        // The account exists now: a mail failure must not hide it (the partner can resend).
        delivery = Some(match authorization::send_link(s, &account, &to, &link).await {
            Ok(()) => Delivery::Sent,
            Err(e) => {
                tracing::error!(cause = %e, "authorization email failed");
                Delivery::Failed
            }
        });
    }
    tracing::info!(
        platform = account.platform.as_str(),
        with_credentials = req.has_admin_credentials,
        "account created"
    );
    Ok(Created {
        account,
        authorization_url,
        delivery,
    })
}

async fn account_item(s: &impl Ports, who: &Principal, id: &str) -> Result<Item, AccountError> {
    crate::repo::accounts::find(s, &who.partner_id, id)
        .await?
        .ok_or(AccountError::NotFound)
}

pub async fn get_account(s: &impl Ports, who: &Principal, id: &str) -> Result<AccountItem, AccountError> {
    Ok(account_item(s, who, id).await?.record()?)
}

pub async fn list_accounts(s: &impl Ports, who: &Principal) -> Result<Vec<AccountItem>, AccountError> {
    let page = s
        .store()
        .query(
            &keys::partner_partition(&who.partner_id),
            keys::ACCOUNT_PREFIX,
            QueryOptions::default(),
        )
        .await?;
    Ok(page.items.iter().map(Item::record).collect::<Result<_, _>>()?)
}
