//! The single-table key layout: every key and index key the service writes is built here,
//! together with the record (`*Item`) stored under it. Change the layout in this file only.
//!
//! | item | pk | sk | gsi1pk / gsi1sk | expires |
//! | --- | --- | --- | --- | --- |
//! | partner | `PARTNER#<id>` | `PROFILE` | | |
//! | member (login) | `EMAIL#<email>` | `MEMBER` | `PARTNER#<id>` / `MEMBER#<email>` | |
//! | pending signup | `SIGNUP#<email>` | `PENDING` | `ACTIVATE#<sha256(link token)>` / `SIGNUP` | 24 h |
//! | "already registered" mail marker | `SIGNUP#<email>` | `NOTICE` | | 10 min |
//! | session | `SESSION#<sha256(token)>` | `SESSION` | | session end |
//! | client | `PARTNER#<id>` | `CLIENT#<id>` | | |
//! | client name (one client per name, case and spaces folded) | `PARTNER#<id>` | `CLIENTNAME#<folded name>` | | |
//! | SaaS account | `PARTNER#<id>` | `ACCOUNT#<id>` | `TENANT#<platform>#<tenant>` / `ACCOUNT` once authorized | |
//! | tenant owner (uniqueness) | `TENANT#<platform>#<tenant>` | `OWNER` | | |
//! | authorization link | `AUTH#<sha256(token)>` | `LINK` | | link expiry |
//! | OAuth state | `STATE#<sha256(state)>` | `STATE` | | state expiry + 1 day (kept to answer replays) |
//! | discovered object | `ACCOUNT#<id>` | `USER#` / `GROUP#` / `TEAM#` / `SITE#` + object id | | |
//! | delta checkpoint | `ACCOUNT#<id>` | `DELTA#<kind>` | | |
//! | audit entry (newest first; 400 days) | `AUDIT#<partner>` | `AT#<inverted ms>#<entry id>` | `AUDIT#<partner>#ACCOUNT#<account>` / the same, when it names an account | 400 days |
//! | due index entry (one per discoverable account, [`DUE_SHARDS`] partitions) | `DUE#<shard>` | `AT#<due time>#<account id>` | | |
//! | in-process job queue (local runs): a pending job, a dead letter | `QUEUE#jobs`, `QUEUE#dead` | `MSG#<message id>` | | |
//! | seat counter | `PARTNER#<id>` | `SEATS` | | |
//! | rate-limit counter | `LIMIT#<name>#<sha256(subject)>` | `W#<window start>` | | window end |
//! | offer | `PARTNER#<id>` | `OFFER#<offer id>` | | |
//! | offer code (the link's lookup) | `OFFERCODE#<sha256(code)>` | `OFFER` | | |
//! | invitation (one per address and partner) | `PARTNER#<id>` | `INVITE#<email>` | | 7 days |
//! | invitation link | `INVITE#<sha256(token)>` | `LINK` | | 7 days |
//! | a member's session (index, to end them all) | `EMAIL#<email>` | `SESSION#<sha256(token)>` | | session end |
//! | password reset link | `RESET#<sha256(token)>` | `RESET` | | 1 h |
//! | trust limits (names below): authorization mails per account (hour, day), per address (minute), per partner (day); check and Refresh per account (minute) | `LIMIT#authmail-account-1h#…`, `LIMIT#authmail-account-1d#…`, `LIMIT#authmail-address-1m#…`, `LIMIT#authmail-partner-1d#…`, `LIMIT#check-account-1m#…`, `LIMIT#refresh-account-1m#…` | `W#<window start>` | | window end |
//!
//! Discovery's state, counts and auto-add settings live on the account item itself, so an
//! account is read with one `get`.
//!
//! Members are keyed by email (not by partner, as first sketched in design.md) so that one
//! strongly consistent `get` answers sign-in and a conditional put makes an address unique
//! across all partners; a partner's members are listed through the index.

use super::{Item, Key, StoreError};
use crate::domain::{AccountId, ClientId, EmailAddress, ManagedBy, PartnerId, Platform, TenantRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn partner(id: &PartnerId) -> Key {
    Key::new(format!("PARTNER#{id}"), "PROFILE")
}

pub fn member(email: &EmailAddress) -> Key {
    Key::new(format!("EMAIL#{email}"), "MEMBER")
}

pub fn member_by_partner(id: &PartnerId, email: &EmailAddress) -> Key {
    Key::new(format!("PARTNER#{id}"), format!("MEMBER#{email}"))
}

pub fn pending_signup(email: &EmailAddress) -> Key {
    Key::new(format!("SIGNUP#{email}"), "PENDING")
}

/// Index key of a pending signup, found by the hash of its activate-link token.
pub fn activation(token_hash: &str) -> Key {
    Key::new(format!("ACTIVATE#{token_hash}"), "SIGNUP")
}

pub fn signup_notice(email: &EmailAddress) -> Key {
    Key::new(format!("SIGNUP#{email}"), "NOTICE")
}

pub fn session(token_hash: &str) -> Key {
    Key::new(format!("SESSION#{token_hash}"), "SESSION")
}

pub fn client(partner: &PartnerId, client: &ClientId) -> Key {
    Key::new(format!("PARTNER#{partner}"), format!("CLIENT#{client}"))
}

pub const CLIENT_PREFIX: &str = "CLIENT#";

/// The partner's client of a (folded) name: at most one, so adding an account for "contoso"
/// uses the existing "Contoso" instead of creating a twin.
pub fn client_name(partner: &PartnerId, folded: &str) -> Key {
    Key::new(partner_partition(partner), format!("CLIENTNAME#{folded}"))
}

/// The partner's audit log, newest first: the time is inverted (`i64::MAX` less the
/// milliseconds, zero-padded) so the table's ascending order is newest first.
pub fn audit(partner: &PartnerId, at: DateTime<Utc>, id: &str) -> Key {
    Key::new(audit_partition(partner), audit_sort(at, id))
}

pub fn audit_partition(partner: &PartnerId) -> String {
    format!("AUDIT#{partner}")
}

fn audit_sort(at: DateTime<Utc>, id: &str) -> String {
    format!("{AUDIT_PREFIX}{:019}#{id}", i64::MAX - at.timestamp_millis())
}

pub const AUDIT_PREFIX: &str = "AT#";

/// The index key of an audit entry naming an account (the log filtered by account).
pub fn audit_by_account(partner: &PartnerId, account: &AccountId, at: DateTime<Utc>, id: &str) -> Key {
    Key::new(audit_account_partition(partner, account), audit_sort(at, id))
}

pub fn audit_account_partition(partner: &PartnerId, account: &AccountId) -> String {
    format!("AUDIT#{partner}#ACCOUNT#{account}")
}

/// How long audit entries are kept.
pub const AUDIT_DAYS: i64 = 400;

/// One audit entry: append-only (written with its action, never changed by any route).
/// `GET /v1/audit` answers the records as they are (their schema: `AuditEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditItem {
    #[schema(format = Uuid)]
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: crate::domain::Actor,
    pub action: crate::domain::AuditAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub account_id: Option<AccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_id: Option<ClientId>,
    /// What changed, without secrets (counts, kinds, codes, addresses the action used).
    pub detail: serde_json::Value,
}

/// Which client holds a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientNameItem {
    pub client_id: ClientId,
}
pub const ACCOUNT_PREFIX: &str = "ACCOUNT#";

pub fn partner_partition(partner: &PartnerId) -> String {
    format!("PARTNER#{partner}")
}

pub fn account(partner: &PartnerId, account: &AccountId) -> Key {
    Key::new(format!("PARTNER#{partner}"), format!("ACCOUNT#{account}"))
}

pub fn tenant_owner(platform: Platform, tenant: &str) -> Key {
    Key::new(format!("TENANT#{}#{tenant}", platform.as_str()), "OWNER")
}

pub fn account_by_tenant(platform: Platform, tenant: &str) -> Key {
    Key::new(format!("TENANT#{}#{tenant}", platform.as_str()), "ACCOUNT")
}

pub fn authorization_link(token_hash: &str) -> Key {
    Key::new(format!("AUTH#{token_hash}"), "LINK")
}

pub fn oauth_state(state_hash: &str) -> Key {
    Key::new(format!("STATE#{state_hash}"), "STATE")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartnerItem {
    pub id: PartnerId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// How many members are owners: changed only with the partner item's version, so two
    /// owners demoting each other at once cannot leave none.
    #[serde(default = "one")]
    pub owners: u32,
}

fn one() -> u32 {
    1
}

// ---- the partner's offers: reusable links clients open to onboard themselves ----

/// One of the partner's offers.
pub fn offer(partner: &PartnerId, offer_id: &str) -> Key {
    Key::new(partner_partition(partner), format!("{OFFER_PREFIX}{offer_id}"))
}

pub const OFFER_PREFIX: &str = "OFFER#";

/// An offer found by the SHA-256 of its link's code.
pub fn offer_code(code_hash: &str) -> Key {
    Key::new(format!("OFFERCODE#{code_hash}"), "OFFER")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferItem {
    pub id: String,
    pub platform: Platform,
    pub label: Option<String>,
    pub active: bool,
    /// Consents completed through it.
    pub uses: u64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// The link's code, encrypted ([`crate::crypto::Encryptor`]): shown to the partner in
    /// listings, found by its hash.
    pub code_enc: String,
}

/// What an offer code points to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferCodeItem {
    pub partner_id: PartnerId,
    pub offer_id: String,
}

// ---- the partner's team: invitations (members themselves are `member` above) ----

/// A pending invitation of `email` to the partner (one per address; a new one replaces it).
pub fn invitation(partner: &PartnerId, email: &EmailAddress) -> Key {
    Key::new(partner_partition(partner), format!("{INVITATION_PREFIX}{email}"))
}

pub const INVITATION_PREFIX: &str = "INVITE#";

/// An invitation link, found by the SHA-256 of its token.
pub fn invitation_link(token_hash: &str) -> Key {
    Key::new(format!("INVITE#{token_hash}"), "LINK")
}

/// Sort-key prefix of members in the partner index (gsi1 of [`member`] items).
pub const MEMBER_PREFIX: &str = "MEMBER#";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationItem {
    pub email: String,
    pub role: crate::domain::Role,
    pub invited_by: String,
    /// SHA-256 of the current link's token: an earlier link stops working when replaced.
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What an invitation link points to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationLinkItem {
    pub partner_id: PartnerId,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberItem {
    pub partner_id: PartnerId,
    pub email: String,
    pub password_hash: String,
    pub role: crate::domain::Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignupItem {
    pub email: String,
    pub organization: String,
    pub password_hash: String,
    /// argon2id of the current code; earlier codes are gone with their hash.
    pub code_hash: String,
    pub code_expires_at: DateTime<Utc>,
    /// Tries used on the current code.
    pub attempts: u32,
    /// Codes sent for this signup (first one included).
    pub sends: u32,
    pub last_sent_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Set once confirmed: the item stays as a tombstone until it expires, so a reused code
    /// or link is answered "already used" rather than "unknown".
    #[serde(default)]
    pub confirmed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub partner_id: Option<PartnerId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticeItem {
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionItem {
    pub partner_id: PartnerId,
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientItem {
    pub id: ClientId,
    pub name: String,
    pub contact_email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Who opens the consent: decides where the callback sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Partner,
    Client,
}

/// An account's status, as stored and as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    WaitingForAuthorization,
    Active,
    ReauthorizationRequired,
    AccessRevoked,
    Disabled,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountItem {
    pub id: AccountId,
    pub partner_id: PartnerId,
    pub client_id: ClientId,
    pub client_name: String,
    pub platform: Platform,
    pub managed_by: ManagedBy,
    pub status: AccountStatus,
    /// As the partner pre-entered it (ID or domain), if at all.
    pub tenant: Option<TenantRef>,
    /// The proven tenant (Microsoft tenant ID, Google customer ID) once authorized.
    pub tenant_id: Option<String>,
    pub tenant_domain: Option<String>,
    pub missing_permissions: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Hash of the one authorization link that still works; earlier links are dead.
    pub current_link_hash: Option<String>,
    pub link_sent_to: Option<String>,
    pub link_expires_at: Option<DateTime<Utc>>,
    pub authorized_at: Option<DateTime<Utc>>,
    /// Set when consent was proven: discovery should run as soon as possible.
    pub discovery_due_at: Option<DateTime<Utc>>,
    /// Google: the refresh token, encrypted ([`crate::crypto::Encryptor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_enc: Option<String>,
    #[serde(default)]
    pub discovery: DiscoveryState,
    #[serde(default)]
    pub auto_add: Option<AutoAddItem>,
    /// The last consent attempt the provider refused (declined, wrong account, blocked, ...),
    /// until a consent succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_failure: Option<ConsentFailure>,
    /// Set when the account was disabled (kept after re-enabling until the next disable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offboarding: Option<Offboarding>,
    /// Set when a client created the account through the partner's offer link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferRef>,
    /// Whether every stored object of the account is in its kind's name index (objects stored
    /// before the index existed are indexed once, by the account's next discovery run).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub names_indexed: bool,
}

/// The offer an account came through, and when its consent completed (counted once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferRef {
    pub offer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
}

/// An account's offboarding: when and by whom it was disabled, the seats it gave back, and
/// when its discovered objects are (or were) deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offboarding {
    pub disabled_at: DateTime<Utc>,
    pub disabled_by: String,
    /// Protected users whose seats were freed (taken again on re-enabling, until deleted).
    pub released_seats: u64,
    /// When the scheduled work deletes the discovered objects.
    pub delete_at: DateTime<Utc>,
    /// When it finished deleting them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Why a consent through the account's link did not complete, as the partner is shown it
/// (`authorization.last_error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentFailure {
    pub code: ConsentFailureCode,
    /// The provider's own code where it gave one (`AADSTS65004`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub provider_code: Option<String>,
    /// In plain language.
    pub cause: String,
    pub at: DateTime<Utc>,
}

/// What the provider reported when a consent did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentFailureCode {
    Declined,
    WrongAccount,
    ConsentBlocked,
    ServiceMissing,
    AppUnavailable,
    TenantGone,
    ProviderError,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantOwnerItem {
    pub partner_id: PartnerId,
    pub account_id: AccountId,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkItem {
    pub partner_id: PartnerId,
    pub account_id: AccountId,
    pub sent_to: String,
    pub audience: Audience,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// What a consumed state led to, so a replayed callback shows the same result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateOutcome {
    pub redirect_to: String,
}

/// Which leg of a Microsoft consent a state belongs to (Google has one leg: `SignIn`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatePhase {
    /// The admin signs in (OpenID Connect code flow); the ID token names the tenant.
    #[default]
    SignIn,
    /// Admin consent for the tenant the sign-in proved (`StateItem::tenant_id`).
    Consent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateItem {
    pub partner_id: PartnerId,
    pub account_id: AccountId,
    pub provider: crate::domain::Provider,
    pub audience: Audience,
    #[serde(default)]
    pub phase: StatePhase,
    /// The link the consent started from, if any (marked used on success).
    pub link_hash: Option<String>,
    /// The sign-in leg's PKCE verifier (Microsoft and Google), encrypted.
    pub pkce_verifier_enc: Option<String>,
    /// Microsoft sign-in: SHA-256 of the nonce the ID token must carry.
    #[serde(default)]
    pub nonce_hash: Option<String>,
    /// Microsoft consent leg: the tenant the admin's sign-in proved, the only one this state
    /// can authorize.
    #[serde(default)]
    pub tenant_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub outcome: Option<StateOutcome>,
}

/// The partition of everything discovered in one account's tenant.
pub fn account_partition(account: &AccountId) -> String {
    format!("ACCOUNT#{account}")
}

/// Kinds of objects discovery finds in a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Users,
    Groups,
    Teams,
    Sites,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 4] = [
        ObjectKind::Users,
        ObjectKind::Groups,
        ObjectKind::Teams,
        ObjectKind::Sites,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Users => "users",
            ObjectKind::Groups => "groups",
            ObjectKind::Teams => "teams",
            ObjectKind::Sites => "sites",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Sort-key prefix of this kind's objects in the account partition.
    pub fn prefix(self) -> &'static str {
        match self {
            ObjectKind::Users => "USER#",
            ObjectKind::Groups => "GROUP#",
            ObjectKind::Teams => "TEAM#",
            ObjectKind::Sites => "SITE#",
        }
    }

    /// Whether a partner can protect (back up) objects of this kind. Groups are discovered
    /// for their membership; their mail and files are backed up as Teams, sites and users.
    pub fn protectable(self) -> bool {
        self != ObjectKind::Groups
    }

    /// Whether protecting one takes a seat (seats are per protected user).
    pub fn takes_seats(self) -> bool {
        self == ObjectKind::Users
    }
}

/// One object discovered in an account's tenant (Graph object ID, site ID, Google user ID).
pub fn discovered(account: &AccountId, kind: ObjectKind, object_id: &str) -> Key {
    Key::new(account_partition(account), format!("{}{object_id}", kind.prefix()))
}

/// The name index of one kind of an account's objects (GSI1): `NAMES#<account>#<kind>`, sorted
/// by [`name_sort_key`], so a listing can go in name order.
pub fn names_partition(account: &AccountId, kind: ObjectKind) -> String {
    format!("NAMES#{account}#{}", kind.as_str())
}

/// Ends the name in a [`name_sort_key`]: below every character a folded name keeps, so
/// "Adele Vance" sorts before "Adele Vance 2".
const NAME_END: char = '\u{1}';

/// An object's place in its name index: the name folded to lower case (control characters
/// dropped, at most 200 characters), then [`NAME_END`] and the object's ID (names are not
/// unique).
pub fn name_sort_key(name: &str, object_id: &str) -> String {
    let folded: String = name
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    format!("{folded}{NAME_END}{object_id}")
}

/// The object ID at the end of a [`name_sort_key`].
pub fn object_id_of_name_key(sort_key: &str) -> Option<&str> {
    sort_key
        .rsplit_once(NAME_END)
        .map(|(_, id)| id)
        .filter(|id| !id.is_empty())
}

/// A discovered object as stored: its record under [`discovered`], indexed by name.
pub fn discovered_item(account: &AccountId, kind: ObjectKind, o: &DiscoveredItem) -> Result<Item, StoreError> {
    Ok(Item::from_record(discovered(account, kind, &o.id), o)?.with_gsi1(discovered_name_key(account, kind, o)))
}

/// The name-index key of a discovered object (for a record whose name may have changed).
pub fn discovered_name_key(account: &AccountId, kind: ObjectKind, o: &DiscoveredItem) -> Key {
    Key::new(names_partition(account, kind), name_sort_key(&o.name, &o.id))
}

/// Where the next delta query of `kind` resumes.
pub fn delta_checkpoint(account: &AccountId, kind: ObjectKind) -> Key {
    Key::new(account_partition(account), format!("DELTA#{}", kind.as_str()))
}

/// Partitions of the due index. Each discoverable account has one entry, in the partition of
/// its ID's hash, sorted by when it is next due, so the schedule reads only what is due, all
/// partitions in parallel, and no key is hot. For 100,000 accounts discovered hourly: ~28
/// entries move per second in all (a delete and a put each, ~3.5 per partition per second,
/// far under a DynamoDB partition's 1,000 writes/s), and a 5-minute tick reads ~8,300 due
/// entries, ~520 per partition (~0.1 MB: three pages of the schedule's 200 per partition,
/// read by 16 readers at once, where one registry partition would be read page after page).
pub const DUE_SHARDS: u32 = 16;
pub const DUE_PREFIX: &str = "AT#";

/// The due index partition an account's entry lives in (FNV-1a of its ID: stable across
/// builds and machines).
pub fn due_shard(account: &AccountId) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in account.as_str().bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h % DUE_SHARDS
}

pub fn due_partition(shard: u32) -> String {
    format!("DUE#{shard:02}")
}

/// Sort-key time: fixed width, so key order is time order.
pub fn due_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The due index entry of `account`, due at `at`.
pub fn due_entry(account: &AccountId, at: DateTime<Utc>) -> Key {
    Key::new(
        due_partition(due_shard(account)),
        format!("{DUE_PREFIX}{}#{account}", due_time(at)),
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueItem {
    pub partner_id: PartnerId,
    pub account_id: AccountId,
    pub at: DateTime<Utc>,
}

/// The in-process job queue (local runs and tests; on AWS the queue is SQS).
pub const QUEUE_PENDING: &str = "QUEUE#jobs";
pub const QUEUE_DEAD: &str = "QUEUE#dead";
pub const QUEUE_PREFIX: &str = "MSG#";

pub fn queued_message(partition: &str, id: &str) -> Key {
    Key::new(partition, format!("{QUEUE_PREFIX}{id}"))
}

/// A message of the in-process queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessageItem {
    pub body: String,
    pub sent_at: DateTime<Utc>,
    /// Not handed out before then (the send's delay, or a receive's visibility timeout).
    pub visible_at: DateTime<Utc>,
    pub receives: u32,
    /// Dead letters: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A partner's seat counter (protected users across all its accounts).
pub fn seats(partner: &PartnerId) -> Key {
    Key::new(format!("PARTNER#{partner}"), "SEATS")
}

/// One fixed window of a rate limit (`crate::limits`): the subject (address, IP, account) is
/// stored only as its SHA-256.
pub fn rate_counter(limit: &str, subject_hash: &str, window_start: i64) -> Key {
    Key::new(format!("LIMIT#{limit}#{subject_hash}"), format!("W#{window_start}"))
}

// ---- Trust limits: names of the rate-limit counters above (`crate::limits::Limit::name`) ----
// Subjects: an account ID, a partner ID or a recipient address (stored as its SHA-256).

/// Authorization mails (create, resend, check's re-send, reauthorization) per account, per hour.
pub const LIMIT_AUTH_MAIL_ACCOUNT_HOUR: &str = "authmail-account-1h";
/// The same, per account and day.
pub const LIMIT_AUTH_MAIL_ACCOUNT_DAY: &str = "authmail-account-1d";
/// Authorization mails per recipient address (across accounts and partners), per minute.
pub const LIMIT_AUTH_MAIL_ADDRESS_MINUTE: &str = "authmail-address-1m";
/// Authorization mails per partner (across its accounts), per day.
pub const LIMIT_AUTH_MAIL_PARTNER_DAY: &str = "authmail-partner-1d";
/// `authorization/check` (a provider call) per account, per minute.
pub const LIMIT_CHECK_ACCOUNT_MINUTE: &str = "check-account-1m";
/// Refresh (`POST .../discovery`, provider calls) per account, per minute.
pub const LIMIT_REFRESH_ACCOUNT_MINUTE: &str = "refresh-account-1m";

// ---- end of trust limits ----

/// How many times a subject hit a limit in one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateCounterItem {
    pub count: u32,
}

// ---- signup and sessions (trust-signup): sessions findable per member, password reset ----

/// Sort-key prefix of a member's session index items (under [`member`]'s partition).
pub const MEMBER_SESSION_PREFIX: &str = "SESSION#";

/// The partition holding a member's login item and the index of its sessions.
pub fn member_partition(email: &EmailAddress) -> String {
    format!("EMAIL#{email}")
}

/// One of a member's sessions, listed under the member's partition so that a password reset
/// finds (with a strongly consistent query) and ends every one of them.
pub fn member_session(email: &EmailAddress, token_hash: &str) -> Key {
    Key::new(member_partition(email), format!("{MEMBER_SESSION_PREFIX}{token_hash}"))
}

/// What a member's session index item points to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberSessionItem {
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// A password reset link, found by the SHA-256 of its token (the token itself is never stored).
pub fn password_reset(token_hash: &str) -> Key {
    Key::new(format!("RESET#{token_hash}"), "RESET")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordResetItem {
    pub email: String,
    /// SHA-256 of the member's password hash when the link was issued: once the password
    /// changes (through any link), every earlier link stops working.
    pub password_fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

// ---- end of the signup and sessions block ----

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveredItem {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    /// Sites: the site's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Users: sign-in allowed (Graph `accountEnabled`, Google not `suspended`).
    pub enabled: bool,
    pub protected: bool,
    /// Removed from the tenant: kept (and flagged), never dropped silently.
    pub deleted: bool,
    pub first_seen: DateTime<Utc>,
    /// When discovery last recorded a change of this object (it writes only changes).
    pub last_seen: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeltaCheckpointItem {
    /// `@odata.deltaLink` of the last complete run, verbatim.
    pub link: Option<String>,
    /// Where an interrupted run (provider failure, long throttling, time budget) continues:
    /// the page it had not processed yet.
    #[serde(default)]
    pub resume: Option<String>,
    /// Whether the interrupted run was a first read (its continuation still writes every object).
    #[serde(default)]
    pub resume_first: bool,
    pub saved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeatsItem {
    pub used: u64,
}

/// Counts of one kind of object in an account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    /// Present in the tenant (not deleted).
    pub total: u64,
    pub protected: u64,
    /// Removed from the tenant but still listed (and, if protected, still taking a seat).
    pub deleted: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub users: KindCounts,
    pub groups: KindCounts,
    pub teams: KindCounts,
    pub sites: KindCounts,
}

impl Counts {
    pub fn of(&self, kind: ObjectKind) -> &KindCounts {
        match kind {
            ObjectKind::Users => &self.users,
            ObjectKind::Groups => &self.groups,
            ObjectKind::Teams => &self.teams,
            ObjectKind::Sites => &self.sites,
        }
    }

    pub fn of_mut(&mut self, kind: ObjectKind) -> &mut KindCounts {
        match kind {
            ObjectKind::Users => &mut self.users,
            ObjectKind::Groups => &mut self.groups,
            ObjectKind::Teams => &mut self.teams,
            ObjectKind::Sites => &mut self.sites,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryStatus {
    /// Never run yet.
    #[default]
    NotStarted,
    Running,
    /// The last run completed.
    Done,
    /// The last run stopped part-way (time budget or long throttling); the next run continues.
    Partial,
    /// The last run failed; `last_error` says why; the next run retries.
    Failed,
}

/// Discovery's state on the account item (so reading an account costs one get).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DiscoveryState {
    pub status: DiscoveryStatus,
    /// A run holds the account until then (one run at a time per account).
    pub running_until: Option<DateTime<Utc>>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub next_due_at: Option<DateTime<Utc>>,
    /// Last time consent was proven with a fresh token (the nightly health check).
    pub health_checked_at: Option<DateTime<Utc>>,
    pub counts: Counts,
    /// The job the account waits for: only a job with this ID runs (a duplicate or
    /// superseded delivery does nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<PendingJob>,
}

/// A queued discovery job, as recorded on its account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingJob {
    pub id: String,
    pub kind: crate::domain::JobKind,
    pub queued_at: DateTime<Utc>,
    /// When the queue hands it out (a continuation's delay).
    pub not_before: DateTime<Utc>,
}

/// Auto-add settings and state of an account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutoAddItem {
    pub users: bool,
    pub sites: bool,
    pub teams: bool,
    /// `HH:MM`, local to `timezone`.
    pub run_at: crate::schedule::RunAt,
    /// IANA name.
    pub timezone: crate::schedule::Zone,
    pub next_run_at: DateTime<Utc>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub last_result: Option<AutoAddResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutoAddResult {
    pub protected: u64,
    /// New objects left unprotected because the seat limit was reached.
    pub left_out: u64,
    /// The first of them (up to 50), to show.
    pub left_out_ids: Vec<String>,
}
