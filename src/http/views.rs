//! What the API shows: views of the records the use cases answer with. Only the HTTP layer
//! builds them, so a use case never shapes a response. Their OpenAPI schemas are derived from
//! them (`/openapi.json`): an `Option` that is always serialized is required and nullable, one
//! skipped when `None` is optional and never null.

use crate::domain::{AccountId, ClientId, ManagedBy, Platform};
use crate::store::keys::{AccountItem, AccountStatus, AutoAddItem, AutoAddResult, DiscoveredItem, DiscoveryStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// An account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    pub id: AccountId,
    pub client_id: ClientId,
    pub client_name: String,
    pub platform: Platform,
    pub managed_by: ManagedBy,
    pub status: AccountStatus,
    /// The tenant as pre-entered (ID or domain), if it was.
    #[schema(required)]
    pub tenant: Option<String>,
    #[schema(required)]
    pub tenant_id: Option<String>,
    #[schema(required)]
    pub tenant_domain: Option<String>,
    pub authorization: AuthorizationView,
    pub missing_permissions: Vec<String>,
    pub discovery: DiscoveryView,
    #[schema(required)]
    pub auto_add: Option<AutoAddView>,
    pub created_at: DateTime<Utc>,
    /// With admin credentials, on creation: the provider's consent page, to open now.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub authorization_url: Option<String>,
    /// While disabled: freed seats, when the objects are deleted, how the client removes the
    /// app.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub offboarding: Option<crate::usecases::lifecycle::OffboardingView>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Authorization)]
pub struct AuthorizationView {
    #[schema(required)]
    pub sent_to: Option<String>,
    #[schema(required)]
    pub expires_at: Option<DateTime<Utc>>,
    pub expired: bool,
    #[schema(required)]
    pub authorized_at: Option<DateTime<Utc>>,
    /// On creation only: whether the authorization email went out (`sent`, `failed`). A
    /// failed one is logged; `authorization/resend` sends a fresh link.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub delivery: Option<crate::usecases::accounts::Delivery>,
    /// On `authorization/check` of an account still waiting: what must happen next (a consent
    /// completes only through the link, never by a token alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_step: Option<&'static str>,
    /// The last consent attempt the provider refused (declined, wrong account, blocked by a
    /// policy, ...), until a consent succeeds; null when there was none.
    #[schema(required)]
    pub last_error: Option<crate::store::keys::ConsentFailure>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Discovery)]
pub struct DiscoveryView {
    pub status: DiscoveryState,
    /// When the next run is due.
    #[schema(required)]
    pub due_at: Option<DateTime<Utc>>,
    #[schema(required)]
    pub last_run_at: Option<DateTime<Utc>>,
    #[schema(required)]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the last run failed, for a person.
    #[schema(required)]
    pub error: Option<String>,
    /// Objects present in the tenant.
    pub users: u64,
    pub groups: u64,
    pub teams: u64,
    pub sites: u64,
    pub protected: ProtectedView,
    /// Objects removed from the tenant but still listed (protected ones keep their seat).
    pub deleted: DeletedView,
}

/// Where an account's discovery stands, as the partner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscoveryState {
    NotStarted,
    /// Just authorized: the first run is due now (its job is being queued).
    Due,
    /// A job waits in the queue (Refresh, just authorized, scheduled, or a continuation).
    Queued,
    Running,
    Done,
    /// Stopped part-way; continues by itself.
    Partial,
    Failed,
}

/// Protected objects present in the tenant.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProtectedCounts)]
pub struct ProtectedView {
    pub users: u64,
    pub teams: u64,
    pub sites: u64,
}

/// Objects removed from the tenant but still listed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeletedCounts)]
pub struct DeletedView {
    pub users: u64,
    pub groups: u64,
    pub teams: u64,
    pub sites: u64,
}

impl DiscoveryView {
    pub fn of(a: &AccountItem, now: DateTime<Utc>) -> Self {
        let d = &a.discovery;
        let c = &d.counts;
        let due_at = crate::usecases::discovery::due_at(a);
        let status = match d.status {
            DiscoveryStatus::Running if d.running_until.is_some_and(|t| t > now) => DiscoveryState::Running,
            _ if d.job.is_some() => DiscoveryState::Queued,
            _ if a.discovery_due_at.is_some() && d.last_run_at.is_none() => DiscoveryState::Due,
            DiscoveryStatus::NotStarted | DiscoveryStatus::Running => DiscoveryState::NotStarted,
            DiscoveryStatus::Done => DiscoveryState::Done,
            DiscoveryStatus::Partial => DiscoveryState::Partial,
            DiscoveryStatus::Failed => DiscoveryState::Failed,
        };
        Self {
            status,
            due_at,
            last_run_at: d.last_run_at,
            last_success_at: d.last_success_at,
            error: d.last_error.clone(),
            users: c.users.total,
            groups: c.groups.total,
            teams: c.teams.total,
            sites: c.sites.total,
            protected: ProtectedView {
                users: c.users.protected,
                teams: c.teams.protected,
                sites: c.sites.protected,
            },
            deleted: DeletedView {
                users: c.users.deleted,
                groups: c.groups.deleted,
                teams: c.teams.deleted,
                sites: c.sites.deleted,
            },
        }
    }
}

impl AccountView {
    pub fn of(a: &AccountItem, now: DateTime<Utc>) -> Self {
        let waiting = a.status == AccountStatus::WaitingForAuthorization;
        Self {
            id: a.id.clone(),
            client_id: a.client_id.clone(),
            client_name: a.client_name.clone(),
            platform: a.platform,
            managed_by: a.managed_by,
            status: a.status,
            tenant: a.tenant.as_ref().map(|t| t.as_str().to_owned()),
            tenant_id: a.tenant_id.clone(),
            tenant_domain: a.tenant_domain.clone(),
            authorization: AuthorizationView {
                sent_to: a.link_sent_to.clone(),
                expires_at: a.link_expires_at,
                expired: waiting && a.link_expires_at.is_some_and(|t| t <= now),
                authorized_at: a.authorized_at,
                delivery: None,
                next_step: None,
                last_error: a.consent_failure.clone(),
            },
            missing_permissions: a.missing_permissions.clone(),
            discovery: DiscoveryView::of(a, now),
            auto_add: a.auto_add.as_ref().map(AutoAddView::from),
            created_at: a.created_at,
            authorization_url: None,
            offboarding: a
                .offboarding
                .as_ref()
                .filter(|_| a.status == AccountStatus::Disabled)
                .map(|o| crate::usecases::lifecycle::offboarding_view(a.platform, o)),
        }
    }
}

/// One discovered object as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DiscoveredObject)]
pub struct ObjectView {
    pub id: String,
    pub name: String,
    #[schema(required)]
    pub email: Option<String>,
    /// Sites only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub url: Option<String>,
    pub enabled: bool,
    pub protected: bool,
    /// Removed from the tenant; kept and listed (a protected one keeps its seat).
    pub deleted: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl From<DiscoveredItem> for ObjectView {
    fn from(o: DiscoveredItem) -> Self {
        Self {
            id: o.id,
            name: o.name,
            email: o.email,
            url: o.url,
            enabled: o.enabled,
            protected: o.protected,
            deleted: o.deleted,
            first_seen: o.first_seen,
            last_seen: o.last_seen,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ObjectPage {
    pub items: Vec<ObjectView>,
    /// Pass as `cursor` for the next page; null on the last.
    #[schema(required)]
    pub next_cursor: Option<String>,
}

/// Auto-add settings as the API shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = AutoAdd)]
pub struct AutoAddView {
    pub users: bool,
    pub sites: bool,
    pub teams: bool,
    /// `HH:MM`, local to `timezone`.
    pub run_at: String,
    /// IANA time zone, e.g. `Australia/Sydney`.
    pub timezone: String,
    /// The next time auto-add runs, in UTC.
    pub next_run_at: DateTime<Utc>,
    #[schema(required)]
    pub last_run_at: Option<DateTime<Utc>>,
    #[schema(required)]
    pub last_result: Option<AutoAddResult>,
}

impl From<&AutoAddItem> for AutoAddView {
    fn from(a: &AutoAddItem) -> Self {
        Self {
            users: a.users,
            sites: a.sites,
            teams: a.teams,
            run_at: a.run_at.to_string(),
            timezone: a.timezone.to_string(),
            next_run_at: a.next_run_at,
            last_run_at: a.last_run_at,
            last_result: a.last_result.clone(),
        }
    }
}

impl From<crate::usecases::protection::Listing> for ObjectPage {
    fn from(l: crate::usecases::protection::Listing) -> Self {
        Self {
            items: l.items.into_iter().map(ObjectView::from).collect(),
            next_cursor: l.next_cursor,
        }
    }
}
