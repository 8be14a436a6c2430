//! An offer's acceptance: when a consent through an account a client started from an offer
//! completes for the first time (the consent flow calls [`accepted`]).

use crate::domain::{Actor, AuditAction, EmailAddress};
use crate::email::templates;
use crate::repo::audit;
use crate::services::{HasClock, HasLinks, HasMailer, HasStore};
use crate::store::keys::{self, AccountItem, MemberItem, OfferItem};
use crate::store::{Condition, QueryOptions, StoreError, WriteOp};

crate::ports!(HasClock, HasLinks, HasMailer, HasStore);

/// After a consent through an offer's account completes for the first time: the offer's use
/// is counted, `offer_accepted` logged (one transaction with the account's mark), and the
/// partner's owners and admins are emailed. Later consents of the account do nothing here.
pub async fn accepted(s: &impl Ports, account: &AccountItem) -> Result<(), StoreError> {
    let Some(reference) = account.offer.as_ref().filter(|o| o.accepted_at.is_none()) else {
        return Ok(());
    };
    let account_key = keys::account(&account.partner_id, &account.id);
    let offer_key = keys::offer(&account.partner_id, &reference.offer_id);
    for _ in 0..8 {
        let (Some(account_item), Some(offer_item)) =
            (s.store().get(&account_key).await?, s.store().get(&offer_key).await?)
        else {
            return Ok(());
        };
        let mut a: AccountItem = account_item.record()?;
        let Some(r) = a.offer.as_mut().filter(|o| o.accepted_at.is_none()) else {
            return Ok(());
        };
        let now = s.clock().now();
        r.accepted_at = Some(now);
        let mut offer: OfferItem = offer_item.record()?;
        offer.uses += 1;
        let written = s
            .store()
            .transact(vec![
                WriteOp::Put {
                    item: account_item.next_version(&a)?,
                    condition: Condition::VersionIs(account_item.version),
                },
                WriteOp::Put {
                    item: offer_item.next_version(&offer)?,
                    condition: Condition::VersionIs(offer_item.version),
                },
                audit::account_entry(
                    &a,
                    Actor::System,
                    AuditAction::OfferAccepted,
                    serde_json::json!({ "offer_id": offer.id, "client_name": a.client_name, "uses": offer.uses }),
                    now,
                )?,
            ])
            .await;
        match written {
            Ok(()) => {
                notify(s, &a).await;
                return Ok(());
            }
            Err(StoreError::ConditionFailed | StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict)
}

/// "<organization> accepted your offer", to every owner and admin of the partner.
async fn notify(s: &impl Ports, a: &AccountItem) {
    let members = match s
        .store()
        .query_index(
            &keys::partner_partition(&a.partner_id),
            keys::MEMBER_PREFIX,
            QueryOptions::default(),
        )
        .await
    {
        Ok(page) => page.items,
        Err(e) => {
            tracing::error!(cause = %e, "could not list the partner's members for the offer mail");
            return;
        }
    };
    let url = format!("{}/accounts/{}", s.links().console_url, a.id);
    let tenant = a.tenant_domain.as_deref().or(a.tenant_id.as_deref()).unwrap_or("");
    for item in members {
        let Ok(m) = item.record::<MemberItem>() else { continue };
        if !m.role.allows(crate::domain::Permission::Manage) {
            continue;
        }
        let Ok(to) = EmailAddress::parse("email", &m.email) else {
            continue;
        };
        let sent = match templates::offer_accepted(&to, &a.client_name, a.platform.display_name(), tenant, &url) {
            Ok(message) => s.mailer().send(&message).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::error!(cause = %e, account_id = %a.id, "could not email a member about the accepted offer");
        }
    }
}
