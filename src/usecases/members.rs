//! The partner's team (api.md "Partner team"): invitations by email with a role, accepting
//! one with a password (the signup rules) into a session, listing, changing roles and removing
//! members, whose sessions end at once. Who may do what is [`Role::allows`]; the last owner can
//! neither be demoted nor leave, enforced by the partner item's owner count and version.
//!
//! Inviting an address that belongs to another organization answers exactly as for a new
//! one (the inviter learns nothing); the invitee is told when they try to accept.

use crate::crypto::sha256_hex;
use crate::domain::{Actor, AuditAction, EmailAddress, FieldError, NewPassword, Permission, Principal, Role};
use crate::email::{MailError, templates};
use crate::limits::{self, Limit, LimitError};
use crate::repo::audit::{self, Entry};
use crate::repo::sessions::{NewSession, end_all_sessions, issue_session_ops};
use crate::services::{HasClock, HasHasher, HasLinks, HasMailer, HasSigner, HasStore};
use crate::store::keys::{self, InvitationItem, InvitationLinkItem, MemberItem, PartnerItem};
use crate::store::{Condition, Item, QueryOptions, StoreError, Update, WriteOp};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

crate::ports!(
    HasClock,
    HasHasher,
    HasLinks,
    HasMailer,
    HasSigner,
    HasStore,
    crate::repo::sessions::Ports
);

/// How long an invitation link works.
pub const INVITATION_DAYS: i64 = 7;
/// Invitations a partner may send per day.
pub const INVITATIONS_PER_PARTNER: Limit = Limit::new("invite-partner-1d", 50, 86_400);
/// Members and pending invitations a partner may have.
pub const TEAM_LIMIT: usize = 200;
const INVITATION: &str = "invitation";

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("your role does not allow this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("this address is already a member")]
    AlreadyMember,
    #[error("an organization needs at least one owner")]
    LastOwner,
    #[error("the team has {TEAM_LIMIT} members and invitations")]
    TeamFull,
    #[error("changed meanwhile; try again")]
    Conflict,
    #[error("the invitation link is not valid")]
    Forged,
    #[error("the invitation was used, withdrawn or has expired")]
    Gone,
    #[error("too many invitations; retry in {retry_after} s")]
    RateLimited { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("hashing failed")]
    Hash,
}

/// A member or a pending invitation, as `GET /v1/members` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub email: String,
    pub role: Role,
    pub status: MemberStatus,
    /// When the member joined (absent while invited).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub joined_at: Option<DateTime<Utc>>,
    /// When the pending invitation's link stops working.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub invitation_expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    Invited,
}

fn forbid_unless(principal: &Principal, permission: Permission) -> Result<(), MemberError> {
    if principal.may(permission) {
        Ok(())
    } else {
        Err(MemberError::Forbidden)
    }
}

fn active(m: &MemberItem) -> MemberView {
    MemberView {
        email: m.email.clone(),
        role: m.role,
        status: MemberStatus::Active,
        joined_at: Some(m.created_at),
        invitation_expires_at: None,
    }
}

fn invited(i: &InvitationItem) -> MemberView {
    MemberView {
        email: i.email.clone(),
        role: i.role,
        status: MemberStatus::Invited,
        joined_at: None,
        invitation_expires_at: Some(i.expires_at),
    }
}

/// Members first (by address), then pending invitations.
pub async fn list(s: &impl Ports, principal: &Principal) -> Result<Vec<MemberView>, MemberError> {
    let partition = keys::partner_partition(&principal.partner_id);
    let all = QueryOptions {
        limit: Some(TEAM_LIMIT + 1),
        after: None,
    };
    let members = s
        .store()
        .query_index(&partition, keys::MEMBER_PREFIX, all.clone())
        .await?;
    let invitations = s.store().query(&partition, keys::INVITATION_PREFIX, all).await?;
    let now = s.clock().now();
    let mut out = Vec::new();
    for item in &members.items {
        out.push(active(&item.record::<MemberItem>()?));
    }
    for item in &invitations.items {
        let i: InvitationItem = item.record()?;
        if i.expires_at > now {
            out.push(invited(&i));
        }
    }
    Ok(out)
}

/// A member of the caller's partner, with its item (`NotFound` for anyone else's).
async fn member_of(
    s: &impl Ports,
    principal: &Principal,
    email: &EmailAddress,
) -> Result<Option<(Item, MemberItem)>, MemberError> {
    let Some(item) = s.store().get(&keys::member(email)).await? else {
        return Ok(None);
    };
    let m: MemberItem = item.record()?;
    Ok((m.partner_id == principal.partner_id).then_some((item, m)))
}

async fn invitation_of(
    s: &impl Ports,
    principal: &Principal,
    email: &EmailAddress,
) -> Result<Option<(Item, InvitationItem)>, MemberError> {
    let Some(item) = s.store().get(&keys::invitation(&principal.partner_id, email)).await? else {
        return Ok(None);
    };
    let i: InvitationItem = item.record()?;
    Ok((i.expires_at > s.clock().now()).then_some((item, i)))
}

fn invitable(role: Role) -> Result<Role, FieldError> {
    match role {
        Role::Owner => Err(FieldError::new(
            "role",
            "invite as admin or technician; an owner can make a member owner once they joined",
        )),
        r => Ok(r),
    }
}

fn limited(e: LimitError) -> MemberError {
    match e {
        LimitError::Limited(l) => MemberError::RateLimited {
            retry_after: l.retry_after,
        },
        LimitError::Store(e) => MemberError::Store(e),
    }
}

/// Invites `email` with `role` (admin or technician): a single-use link valid
/// [`INVITATION_DAYS`], replacing an earlier invitation of the same address.
#[tracing::instrument(skip_all)]
pub async fn invite(s: &impl Ports, principal: &Principal, email: &str, role: Role) -> Result<MemberView, MemberError> {
    forbid_unless(principal, Permission::Manage)?;
    let email = EmailAddress::parse("email", email)?;
    let role = invitable(role)?;
    if member_of(s, principal, &email).await?.is_some() {
        return Err(MemberError::AlreadyMember);
    }
    let earlier = s.store().get(&keys::invitation(&principal.partner_id, &email)).await?;
    if earlier.is_none() && list(s, principal).await?.len() >= TEAM_LIMIT {
        return Err(MemberError::TeamFull);
    }
    let partner_item = s
        .store()
        .get(&keys::partner(&principal.partner_id))
        .await?
        .ok_or(MemberError::NotFound)?;
    let partner: PartnerItem = partner_item.record()?;
    limits::take(
        s.store().as_ref(),
        s.clock().as_ref(),
        &INVITATIONS_PER_PARTNER,
        principal.partner_id.as_str(),
    )
    .await
    .map_err(limited)?;
    let now = s.clock().now();
    let token = s.signer().issue(INVITATION);
    let token_hash = sha256_hex(token.expose_secret());
    let expires_at = now + Duration::days(INVITATION_DAYS);
    let record = InvitationItem {
        email: email.to_string(),
        role,
        invited_by: principal.email.clone(),
        token_hash: token_hash.clone(),
        created_at: now,
        expires_at,
    };
    let mut ops = Vec::new();
    match &earlier {
        Some(item) => {
            let old: InvitationItem = item.record()?;
            ops.push(WriteOp::Put {
                item: item.next_version(&record)?.expiring_at(expires_at.timestamp()),
                condition: Condition::VersionIs(item.version),
            });
            ops.push(WriteOp::Delete {
                key: keys::invitation_link(&old.token_hash),
                condition: Condition::Always,
            });
        }
        None => ops.push(WriteOp::Put {
            item: Item::from_record(keys::invitation(&principal.partner_id, &email), &record)?
                .expiring_at(expires_at.timestamp()),
            condition: Condition::NotExists,
        }),
    }
    ops.push(WriteOp::Put {
        item: Item::from_record(
            keys::invitation_link(&token_hash),
            &InvitationLinkItem {
                partner_id: principal.partner_id.clone(),
                email: email.to_string(),
            },
        )?
        .expiring_at(expires_at.timestamp()),
        condition: Condition::NotExists,
    });
    ops.push(team_entry(
        principal,
        AuditAction::MemberInvited,
        serde_json::json!({ "email": email.as_str(), "role": role }),
        now,
    )?);
    s.store().transact(ops).await.map_err(conflict)?;
    let url = SecretString::from(format!(
        "{}/invitations/{}",
        s.links().public_base_url,
        token.expose_secret()
    ));
    s.mailer()
        .send(&templates::invitation(
            &email,
            &partner.name,
            &principal.email,
            role.as_str(),
            &url,
            INVITATION_DAYS,
        )?)
        .await?;
    tracing::info!(partner_id = %principal.partner_id, role = role.as_str(), "member invited");
    Ok(invited(&record))
}

fn team_entry(
    principal: &Principal,
    action: AuditAction,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<WriteOp, StoreError> {
    audit::entry(
        Entry {
            partner: &principal.partner_id,
            actor: audit::member(&principal.email),
            action,
            account: None,
            client: None,
            detail,
        },
        now,
    )
}

fn conflict(e: StoreError) -> MemberError {
    match e {
        StoreError::ConditionFailed | StoreError::Conflict => MemberError::Conflict,
        e => MemberError::Store(e),
    }
}

/// The partner item's write that changes its owner count by `delta`, refusing to leave none.
async fn owners_change(s: &impl Ports, principal: &Principal, delta: i64) -> Result<WriteOp, MemberError> {
    let item = s
        .store()
        .get(&keys::partner(&principal.partner_id))
        .await?
        .ok_or(MemberError::NotFound)?;
    let mut partner: PartnerItem = item.record()?;
    let owners = i64::from(partner.owners) + delta;
    if owners < 1 {
        return Err(MemberError::LastOwner);
    }
    partner.owners = u32::try_from(owners).map_err(|_| StoreError::Corrupt("owner count".into()))?;
    Ok(WriteOp::Put {
        item: item.next_version(&partner)?,
        condition: Condition::VersionIs(item.version),
    })
}

fn owner_delta(from: Role, to: Option<Role>) -> i64 {
    i64::from(to == Some(Role::Owner)) - i64::from(from == Role::Owner)
}

/// Changes a member's (or a pending invitation's) role.
#[tracing::instrument(skip_all)]
pub async fn change_role(
    s: &impl Ports,
    principal: &Principal,
    email: &str,
    role: Role,
) -> Result<MemberView, MemberError> {
    forbid_unless(principal, Permission::Manage)?;
    let email = EmailAddress::parse("email", email)?;
    let now = s.clock().now();
    if let Some((item, mut m)) = member_of(s, principal, &email).await? {
        forbid_unless(principal, m.role.change_needs(Some(role)))?;
        if m.role == role {
            return Ok(active(&m));
        }
        let mut ops = Vec::new();
        let delta = owner_delta(m.role, Some(role));
        if delta != 0 {
            ops.push(owners_change(s, principal, delta).await?);
        }
        let from = m.role;
        m.role = role;
        ops.push(WriteOp::Update {
            key: item.key.clone(),
            update: Update::default().set("role", role)?,
            condition: Condition::VersionIs(item.version),
        });
        ops.push(team_entry(
            principal,
            AuditAction::MemberRoleChanged,
            serde_json::json!({ "email": email.as_str(), "from": from, "to": role }),
            now,
        )?);
        s.store().transact(ops).await.map_err(conflict)?;
        tracing::info!(partner_id = %principal.partner_id, role = role.as_str(), "member role changed");
        return Ok(active(&m));
    }
    let (item, mut i) = invitation_of(s, principal, &email)
        .await?
        .ok_or(MemberError::NotFound)?;
    let role = invitable(role)?;
    if i.role == role {
        return Ok(invited(&i));
    }
    let from = i.role;
    i.role = role;
    s.store()
        .transact(vec![
            WriteOp::Put {
                item: item.next_version(&i)?,
                condition: Condition::VersionIs(item.version),
            },
            team_entry(
                principal,
                AuditAction::MemberRoleChanged,
                serde_json::json!({ "email": email.as_str(), "from": from, "to": role, "status": "invited" }),
                now,
            )?,
        ])
        .await
        .map_err(conflict)?;
    Ok(invited(&i))
}

/// Removes a member (their sessions end at once) or withdraws an invitation (its link stops
/// working). Anyone may remove themselves; removing others needs [`Permission::Manage`].
#[tracing::instrument(skip_all)]
pub async fn remove(s: &impl Ports, principal: &Principal, email: &str) -> Result<(), MemberError> {
    let email = EmailAddress::parse("email", email)?;
    let themselves = email.as_str() == principal.email;
    if !themselves {
        forbid_unless(principal, Permission::Manage)?;
    }
    let now = s.clock().now();
    if let Some((item, m)) = member_of(s, principal, &email).await? {
        if !themselves {
            forbid_unless(principal, m.role.change_needs(None))?;
        }
        let mut ops = Vec::new();
        if m.role == Role::Owner {
            ops.push(owners_change(s, principal, -1).await?);
        }
        ops.push(WriteOp::Delete {
            key: item.key.clone(),
            condition: Condition::VersionIs(item.version),
        });
        ops.push(team_entry(
            principal,
            AuditAction::MemberRemoved,
            serde_json::json!({ "email": email.as_str(), "role": m.role }),
            now,
        )?);
        s.store().transact(ops).await.map_err(conflict)?;
        let ended = end_all_sessions(s, &email).await?;
        tracing::info!(partner_id = %principal.partner_id, sessions_ended = ended, "member removed");
        return Ok(());
    }
    let (item, i) = invitation_of(s, principal, &email)
        .await?
        .ok_or(MemberError::NotFound)?;
    s.store()
        .transact(vec![
            WriteOp::Delete {
                key: item.key.clone(),
                condition: Condition::VersionIs(item.version),
            },
            WriteOp::Delete {
                key: keys::invitation_link(&i.token_hash),
                condition: Condition::Always,
            },
            team_entry(
                principal,
                AuditAction::MemberRemoved,
                serde_json::json!({ "email": email.as_str(), "role": i.role, "status": "invited" }),
                now,
            )?,
        ])
        .await
        .map_err(conflict)?;
    tracing::info!(partner_id = %principal.partner_id, "invitation withdrawn");
    Ok(())
}

/// A usable invitation: what its page shows, and the items accepting it changes.
pub struct Invitation {
    pub partner: PartnerItem,
    pub email: EmailAddress,
    pub role: Role,
    pub invited_by: String,
    pub expires_at: DateTime<Utc>,
    link: Item,
    invitation: Item,
}

/// The invitation behind a link, read only: `Forged` for a token we did not sign, `Gone` for
/// a used, replaced, withdrawn or expired one.
pub async fn find(s: &impl Ports, token: &str) -> Result<Invitation, MemberError> {
    if !s.signer().verify(INVITATION, token) {
        return Err(MemberError::Forged);
    }
    let token_hash = sha256_hex(token);
    let link = s
        .store()
        .get(&keys::invitation_link(&token_hash))
        .await?
        .ok_or(MemberError::Gone)?;
    let l: InvitationLinkItem = link.record()?;
    let email = EmailAddress::parse("email", &l.email).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let invitation = s
        .store()
        .get(&keys::invitation(&l.partner_id, &email))
        .await?
        .ok_or(MemberError::Gone)?;
    let i: InvitationItem = invitation.record()?;
    if i.token_hash != token_hash || i.expires_at <= s.clock().now() {
        return Err(MemberError::Gone);
    }
    let partner: PartnerItem = s
        .store()
        .get(&keys::partner(&l.partner_id))
        .await?
        .ok_or(MemberError::Gone)?
        .record()?;
    Ok(Invitation {
        partner,
        email,
        role: i.role,
        invited_by: i.invited_by,
        expires_at: i.expires_at,
        link,
        invitation,
    })
}

/// Accepts an invitation: the member is created with the chosen password (the signup rules)
/// and signed in, and the link is consumed, in one transaction. Answers the session and the
/// partner's name.
#[tracing::instrument(skip_all)]
pub async fn accept(s: &impl Ports, token: &str, password: SecretString) -> Result<(NewSession, String), MemberError> {
    // A password no rule allows is refused whatever the link (422 before 410).
    NewPassword::parse(password.clone(), &[]).map_err(|e| FieldError::new("password", e.to_string()))?;
    let inv = find(s, token).await?;
    let password = NewPassword::parse(password, &[inv.email.as_str(), &inv.partner.name])
        .map_err(|e| FieldError::new("password", e.to_string()))?;
    if s.store().get(&keys::member(&inv.email)).await?.is_some() {
        return Err(MemberError::AlreadyMember);
    }
    let password_hash = s
        .hasher()
        .hash(password.secret().clone())
        .await
        .map_err(|_| MemberError::Hash)?;
    let now = s.clock().now();
    let member = MemberItem {
        partner_id: inv.partner.id.clone(),
        email: inv.email.to_string(),
        password_hash,
        role: inv.role,
        created_at: now,
    };
    let mut ops = vec![
        WriteOp::Put {
            item: Item::from_record(keys::member(&inv.email), &member)?
                .with_gsi1(keys::member_by_partner(&inv.partner.id, &inv.email)),
            condition: Condition::NotExists,
        },
        WriteOp::Delete {
            key: inv.invitation.key.clone(),
            condition: Condition::VersionIs(inv.invitation.version),
        },
        WriteOp::Delete {
            key: inv.link.key.clone(),
            condition: Condition::VersionIs(inv.link.version),
        },
        audit::entry(
            Entry {
                partner: &inv.partner.id,
                actor: Actor::Member {
                    email: inv.email.to_string(),
                },
                action: AuditAction::MemberJoined,
                account: None,
                client: None,
                detail: serde_json::json!({ "role": inv.role, "invited_by": inv.invited_by }),
            },
            now,
        )?,
    ];
    let (session_ops, session) = issue_session_ops(s, &inv.partner.id, &inv.email)?;
    ops.extend(session_ops);
    match s.store().transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            return Err(if s.store().get(&keys::member(&inv.email)).await?.is_some() {
                MemberError::AlreadyMember
            } else {
                MemberError::Gone
            });
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(partner_id = %inv.partner.id, role = inv.role.as_str(), "member joined");
    Ok((session, inv.partner.name))
}
