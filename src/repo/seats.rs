//! The partner's seat counter (protected users across its accounts): read with its item, and
//! the write that sets it, conditioned on the version read, for the transaction that moves it.

use crate::domain::PartnerId;
use crate::services::HasStore;
use crate::store::keys::{self, SeatsItem};
use crate::store::{Condition, Item, StoreError, WriteOp};

crate::ports!(HasStore);

/// Seats used, and the counter's item (`None` before the first protection).
pub async fn read(s: &impl Ports, partner: &PartnerId) -> Result<(u64, Option<Item>), StoreError> {
    let item = s.store().get(&keys::seats(partner)).await?;
    let used = item
        .as_ref()
        .map(|i| i.record::<SeatsItem>())
        .transpose()?
        .map_or(0, |r| r.used);
    Ok((used, item))
}

/// The write setting the counter to `used`, conditioned on the item read by [`read`].
pub fn write(partner: &PartnerId, used: u64, read: Option<&Item>) -> Result<WriteOp, StoreError> {
    let next = SeatsItem { used };
    Ok(match read {
        Some(i) => WriteOp::Put {
            item: i.next_version(&next)?,
            condition: Condition::VersionIs(i.version),
        },
        None => WriteOp::Put {
            item: Item::from_record(keys::seats(partner), &next)?,
            condition: Condition::NotExists,
        },
    })
}
