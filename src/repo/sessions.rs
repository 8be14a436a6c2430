//! Session records: issuing one (sign-in, and inside the confirm transaction) and ending
//! all of a member's (password reset).

use crate::crypto::{random_token, sha256_hex};
use crate::domain::{EmailAddress, PartnerId};
use crate::services::{HasClock, HasSettings, HasStore};
use crate::store::keys::{self, MemberSessionItem, SessionItem};
use crate::store::{Condition, Item, Pages, StoreError, WriteOp};
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

crate::ports!(HasClock, HasSettings, HasStore);

/// A freshly issued session: the token is shown to the client once and never stored.
#[derive(Debug)]
pub struct NewSession {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
    pub partner_id: PartnerId,
}

/// The writes that store a new session and its entry in the member's session index (used
/// alone by sign-in and inside the confirm transaction).
pub fn issue_session_ops(
    s: &impl Ports,
    partner_id: &PartnerId,
    email: &EmailAddress,
) -> Result<(Vec<WriteOp>, NewSession), StoreError> {
    let now = s.clock().now();
    let token = random_token();
    let token_hash = sha256_hex(token.expose_secret());
    let expires_at = now + Duration::hours(s.session_hours());
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
pub async fn end_all_sessions(s: &impl Ports, email: &EmailAddress) -> Result<usize, StoreError> {
    let mut ended = 0;
    let mut pages = Pages::new(
        s.store().as_ref(),
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
        s.store().batch_write(Vec::new(), chunk.to_vec()).await?;
    }
    Ok(ended)
}
