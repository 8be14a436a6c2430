//! Discovery: what is in each authorized tenant, kept current cheaply.
//!
//! - **Microsoft**: users and groups by delta query (`/users/delta`, `/groups/delta`): the first
//!   run reads every page, later runs only what changed since the stored delta link, so an
//!   unchanged tenant costs one request per kind and no write. `@removed` objects are flagged
//!   `deleted`, never dropped. A stale link (`syncStateNotFound` / 410 `resyncRequired`) falls
//!   back to a full resync that still writes only changes and then flags what disappeared.
//!   Teams (groups provisioned as Teams) and SharePoint sites (without personal OneDrive sites)
//!   are listed in full; objects missing from a complete listing are flagged deleted.
//! - **Google**: Directory users by `pageToken`, with an access token from the stored
//!   (encrypted) refresh token; removals found the same way as for listings.
//! - Pages are streamed (the next one is fetched while the current one is written): each is
//!   parsed whole before anything of it is written (a malformed
//!   page writes nothing), its stored objects are read in one batch, and only changed objects
//!   are written, in transactions of up to 100 conditioned on the versions read (so a
//!   concurrent protect is never overwritten). Memory holds one page plus 8 bytes per object
//!   for removal detection in full reads.
//! - An interrupted delta run (provider failure, throttling longer than the wait cap, the time
//!   budget) saves the page it had not processed and the next run continues there.
//! - **Consent health** on every run: token failures are classified as `protocols.md` says:
//!   consent withdrawn or tenant gone makes the account `access_revoked` and emails the
//!   partner once; roles missing make it `reauthorization_required` naming them (and the kinds
//!   needing them are skipped); the service's own credentials refused is logged as an alert and
//!   leaves the tenant's status alone. Once a day the token is requested fresh (never from the
//!   cache), which is the nightly consent check.

use crate::domain::{AccountId, EmailAddress, JobKind, PartnerId, Platform};
use crate::email::templates;
use crate::identity::TokenError;
use crate::identity::graph::{GraphError, GraphPage};
use crate::identity::missing_roles;
use crate::queue::{Job, MAX_DELAY};
use crate::repo::jobs::Queued;
use crate::services::{HasClock, HasDirectory, HasEncryptor, HasIdentity, HasLinks, HasMailer, HasSettings, HasStore};
use crate::store::keys::{
    self, AccountItem, AccountStatus, Counts, DeltaCheckpointItem, DiscoveredItem, DiscoveryStatus, ObjectKind,
};
use crate::store::{Condition, Item, Key, Pages, QueryOptions, StoreError, WriteOp};
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::Instant;

crate::ports!(
    HasClock,
    HasDirectory,
    HasEncryptor,
    HasIdentity,
    HasLinks,
    HasMailer,
    HasSettings,
    HasStore,
    crate::repo::accounts::Ports,
    crate::repo::jobs::Ports
);

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("not found")]
    NotFound,
    #[error("the account is not authorized")]
    NotAuthorized,
    #[error("too many requests")]
    RateLimited { retry_after: i64 },
}

/// Refresh (`POST .../discovery`, which calls the provider): once a minute per account.
pub const REFRESH_PER_ACCOUNT: crate::limits::Limit =
    crate::limits::Limit::new(keys::LIMIT_REFRESH_ACCOUNT_MINUTE, 1, 60);

/// How long one run may hold an account before another may take it over: longer than the
/// worker may run (its timeout, 300 s in the template), shorter than the queue's visibility
/// timeout (420 s), so a job whose worker died is handed out again after the lease is free.
pub const LEASE: Duration = Duration::minutes(6);
/// After a failed run, the next try.
const RETRY_AFTER_FAILURE: Duration = Duration::minutes(15);
/// Roles missing right after consent are re-checked this often for the first hour
/// (Microsoft can take 15-60 minutes to put new permissions in tokens).
const ROLE_RECHECK: Duration = Duration::minutes(10);
/// A fresh token (never from the cache) at least this often: the nightly consent check.
const HEALTH_CHECK: Duration = Duration::hours(20);
/// Objects per write transaction (DynamoDB's limit).
const CHUNK: usize = 100;

/// What one kind's run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct KindRun {
    pub kind: Option<ObjectKind>,
    /// A full read (first run, resync after a stale delta link, or a listing).
    pub full: bool,
    /// Stopped part-way; the next run continues.
    pub partial: bool,
    pub pages: u64,
    pub seen: u64,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    pub restored: u64,
}

impl KindRun {
    /// Object writes (checkpoints not counted).
    pub fn writes(&self) -> u64 {
        self.added + self.changed + self.removed + self.restored
    }
}

/// How an account's run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
pub enum Outcome {
    Done,
    /// Stopped part-way (time budget or long throttling): continues at the next run.
    Partial,
    Failed(String),
    /// Consent withdrawn or tenant gone.
    Revoked(String),
    /// The service's own app credentials were refused: an operator must act.
    AppCredentials,
    /// Another run holds the account.
    Busy,
    /// The job is not the one the account waits for (a duplicate delivery, or superseded by
    /// a newer job): nothing was done.
    Superseded,
}

/// What one account's run did.
#[derive(Debug, Clone, Serialize)]
pub struct AccountRun {
    pub account_id: AccountId,
    /// `"outcome"`, and `"detail"` for a person when there is one.
    #[serde(flatten)]
    pub outcome: Outcome,
    pub missing_permissions: Vec<String>,
    pub kinds: Vec<KindRun>,
    /// The job that goes on where this run stopped, if one was queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued_by: Option<String>,
}

impl AccountRun {
    pub fn writes(&self) -> u64 {
        self.kinds.iter().map(KindRun::writes).sum()
    }

    pub fn kind(&self, kind: ObjectKind) -> Option<&KindRun> {
        self.kinds.iter().find(|k| k.kind == Some(kind))
    }
}

pub use crate::repo::due::{discoverable, due_at};

/// Discovers one account now, within `budget`, outside any job (benchmarks and tests; a
/// partial run is then continued by the schedule).
pub async fn discover_account(
    s: &impl Ports,
    partner: &PartnerId,
    account: &AccountId,
    budget: std::time::Duration,
) -> Result<AccountRun, DiscoveryError> {
    discover(s, partner, account, budget, None).await
}

/// Runs a queued job: discovers its account within `budget` if the account waits for this
/// very job (else [`Outcome::Superseded`], nothing done); a run that stops part-way queues its
/// continuation. Errors: the account is gone ([`DiscoveryError::NotFound`]) or no longer
/// authorized ([`DiscoveryError::NotAuthorized`]): nothing to do; the store failed: retry.
pub async fn run_job(s: &impl Ports, job: &Job, budget: std::time::Duration) -> Result<AccountRun, DiscoveryError> {
    discover(s, &job.partner, &job.account, budget, Some(job)).await
}

#[tracing::instrument(skip_all, fields(partner_id = %partner, account_id = %account, job_id = job.map(|j| j.id.as_str())))]
async fn discover(
    s: &impl Ports,
    partner: &PartnerId,
    account: &AccountId,
    budget: std::time::Duration,
    job: Option<&Job>,
) -> Result<AccountRun, DiscoveryError> {
    let started = Instant::now();
    let deadline = started + budget;
    let key = keys::account(partner, account);
    let now = s.clock().now();
    let mut run = AccountRun {
        account_id: account.clone(),
        outcome: Outcome::Done,
        missing_permissions: Vec::new(),
        kinds: Vec::new(),
        continued_by: None,
    };
    let leased = match take_lease(s, &key, now, job).await? {
        Lease::Taken(a) => a,
        Lease::Busy => {
            run.outcome = Outcome::Busy;
            return Ok(run);
        }
        Lease::Superseded => {
            run.outcome = Outcome::Superseded;
            return Ok(run);
        }
    };
    let names_indexed = leased.names_indexed || index_names(s, account).await?;
    let fresh = leased.status == AccountStatus::ReauthorizationRequired
        || leased
            .discovery
            .health_checked_at
            .is_none_or(|t| now - t >= HEALTH_CHECK);
    let mut deltas = Counts::default();
    let mut wait: Option<Duration> = None;
    match access(s, &leased, fresh).await {
        Err(outcome) => run.outcome = outcome,
        Ok((token, granted)) => {
            run.missing_permissions = match leased.platform {
                Platform::Microsoft365 => missing_roles(&granted),
                Platform::GoogleWorkspace => Vec::new(),
            };
            let tenant = leased.tenant_id.clone().unwrap_or_default();
            let ctx = Ctx {
                s,
                account,
                tenant: &tenant,
                token: &token,
                deadline,
                started: now,
            };
            let errors = read_kinds(&ctx, leased.platform, &granted, &mut run, &mut deltas, &mut wait).await?;
            if !errors.is_empty() && matches!(run.outcome, Outcome::Done | Outcome::Partial) {
                run.outcome = Outcome::Failed(errors.join("; "));
            }
        }
    }
    // A job's run that stopped part-way goes on in a continuation, unless the wait is longer
    // than a queue delay can be (the schedule then queues it when it is due).
    let continuation = match job {
        Some(j) if run.outcome == Outcome::Partial && wait.is_none_or(|w| w.to_std().is_ok_and(|w| w <= MAX_DELAY)) => {
            Some(Job::new(
                partner,
                account,
                JobKind::Continue,
                j.resume.saturating_add(1),
            ))
        }
        _ => None,
    };
    let end = RunEnd {
        finished: s.clock().now(),
        interval: s.discovery_interval(),
        wait,
        fresh,
        deltas,
        job: job.map(|j| j.id.clone()),
        continuation: continuation.clone(),
    };
    let mut newly_revoked = None;
    // A run that finds access revoked or permissions newly missing says so in the audit log,
    // in the transaction that records it.
    let logged =
        |before: &AccountItem, a: &AccountItem| -> Result<Vec<crate::store::WriteOp>, crate::store::StoreError> {
            let action = match a.status {
                _ if a.status == before.status => return Ok(Vec::new()),
                AccountStatus::AccessRevoked => crate::domain::AuditAction::AccessRevoked,
                AccountStatus::ReauthorizationRequired => crate::domain::AuditAction::ReauthorizationRequired,
                _ => return Ok(Vec::new()),
            };
            let detail = serde_json::json!({
                "missing_permissions": a.missing_permissions,
                "cause": a.discovery.last_error,
            });
            let entry =
                crate::repo::audit::account_entry(a, crate::domain::Actor::System, action, detail, s.clock().now())?;
            Ok(vec![entry])
        };
    let updated = crate::repo::accounts::modify_with(
        s,
        &key,
        |a| {
            newly_revoked = record_run(a, &run, &end);
            a.names_indexed |= names_indexed;
            Ok::<_, DiscoveryError>(true)
        },
        logged,
    )
    .await?
    .ok_or_else(|| DiscoveryError::from(crate::store::StoreError::Corrupt("the account is gone".into())))?;
    let writes = run.writes();
    let c = updated.discovery.counts;
    tracing::info!(
        outcome = ?run.outcome,
        status = ?updated.status,
        users = c.users.total,
        groups = c.groups.total,
        teams = c.teams.total,
        sites = c.sites.total,
        writes,
        missing_permissions = ?run.missing_permissions,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "account discovered"
    );
    if let Some(why) = newly_revoked {
        notify_revoked(s, &updated, &why).await;
    }
    if let Some(next) = continuation {
        let delay = wait.and_then(|w| w.to_std().ok()).unwrap_or_default();
        if crate::repo::jobs::send(s, &next, delay).await {
            run.continued_by = Some(next.id);
        }
    }
    Ok(run)
}

/// Puts the account's objects stored before objects were indexed by name into the name
/// index (once per account: the account records it). Each chunk is written under the versions
/// read, so a protection change meanwhile is never overwritten; a chunk that lost such a race
/// is left for the next run (answers `false`).
async fn index_names(s: &impl Ports, account: &AccountId) -> Result<bool, DiscoveryError> {
    let mut complete = true;
    for kind in ObjectKind::ALL {
        let mut stored = Pages::new(
            s.store().as_ref(),
            keys::account_partition(account),
            kind.prefix(),
            CHUNK,
        );
        while let Some(items) = stored.next().await? {
            let mut ops = Vec::new();
            for item in items.iter().filter(|i| i.gsi1.is_none()) {
                let o: DiscoveredItem = item.record()?;
                ops.push(WriteOp::Put {
                    item: item
                        .next_version(&o)?
                        .with_gsi1(keys::discovered_name_key(account, kind, &o)),
                    condition: Condition::VersionIs(item.version),
                });
            }
            if ops.is_empty() {
                continue;
            }
            match s.store().transact(ops).await {
                Ok(()) => {}
                Err(crate::store::StoreError::ConditionFailed | crate::store::StoreError::Conflict) => complete = false,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(complete)
}

enum Lease {
    Taken(Box<AccountItem>),
    Busy,
    Superseded,
}

/// Takes the account's lease (one run at a time per account); a job's run only when the
/// account waits for that job.
async fn take_lease(s: &impl Ports, key: &Key, now: DateTime<Utc>, job: Option<&Job>) -> Result<Lease, DiscoveryError> {
    let mut refused = None;
    let leased = crate::repo::accounts::modify_if_exists(s, key, |a| {
        refused = None;
        if !discoverable(a.status) {
            return Err(DiscoveryError::NotAuthorized);
        }
        if let Some(job) = job
            && a.discovery.job.as_ref().is_none_or(|j| j.id != job.id)
        {
            refused = Some(Lease::Superseded);
        } else if a.discovery.running_until.is_some_and(|t| t > now) {
            refused = Some(Lease::Busy);
        } else {
            a.discovery.status = DiscoveryStatus::Running;
            a.discovery.running_until = Some(now + LEASE);
        }
        Ok(refused.is_none())
    })
    .await?
    .ok_or(DiscoveryError::NotFound)?;
    Ok(refused.unwrap_or(Lease::Taken(Box::new(leased))))
}

/// Reads every kind the granted roles allow, in order, into `run` and `deltas`; stops at a
/// revocation or a long throttling (`wait`). Answers the kinds that failed, for a person.
async fn read_kinds<P: Ports>(
    ctx: &Ctx<'_, P>,
    platform: Platform,
    granted: &[String],
    run: &mut AccountRun,
    deltas: &mut Counts,
    wait: &mut Option<Duration>,
) -> Result<Vec<String>, DiscoveryError> {
    let mut errors: Vec<String> = Vec::new();
    for source in sources(ctx.s, platform) {
        if let Some(role) = source.role
            && !granted.iter().any(|g| g.eq_ignore_ascii_case(role))
        {
            continue;
        }
        match run_kind(ctx, &source).await {
            Ok(k) => {
                apply(deltas, source.kind, &k);
                if k.partial {
                    run.outcome = Outcome::Partial;
                }
                run.kinds.push(k);
            }
            Err(Failure { done, error }) => {
                apply(deltas, source.kind, &done);
                run.kinds.push(done);
                match error {
                    DiscoveryError::Graph(GraphError::Denied { code }) => {
                        run.outcome = Outcome::Revoked(format!("the directory refused access ({code})"));
                        break;
                    }
                    DiscoveryError::Graph(GraphError::Throttled(w)) => {
                        *wait = Some(Duration::from_std(w).unwrap_or(RETRY_AFTER_FAILURE));
                        run.outcome = Outcome::Partial;
                        break;
                    }
                    DiscoveryError::Graph(e) => {
                        tracing::warn!(kind = source.kind.as_str(), cause = %e, "discovery of a kind failed");
                        errors.push(format!("{}: {e}", source.kind.as_str()));
                    }
                    e => return Err(e),
                }
            }
        }
    }
    Ok(errors)
}

/// How a run ended, beside its [`AccountRun`]: what [`record_run`] needs to know.
#[derive(Debug, Clone)]
pub struct RunEnd {
    pub finished: DateTime<Utc>,
    /// How often the account is discovered.
    pub interval: Duration,
    /// The `Retry-After` that stopped a throttled run.
    pub wait: Option<Duration>,
    /// Whether this run took a fresh token (so it checked consent and roles).
    pub fresh: bool,
    /// Count changes the run made.
    pub deltas: Counts,
    /// The job that ran, if any (the account stops waiting for it).
    pub job: Option<String>,
    /// The job that goes on from here (the account waits for it).
    pub continuation: Option<Job>,
}

/// The discovery status machine, a pure function: records on the account how `run` ended
/// (status, counts, error, when it is next due, consent health, missing permissions).
/// Answers the cause when this run found the access newly revoked (the partner is told once).
pub fn record_run(a: &mut AccountItem, run: &AccountRun, end: &RunEnd) -> Option<String> {
    let RunEnd {
        finished,
        interval,
        wait,
        fresh,
        ref deltas,
        ref job,
        ref continuation,
    } = *end;
    let mut newly_revoked = None;
    a.discovery.running_until = None;
    if a.discovery.job.as_ref().is_some_and(|j| Some(&j.id) == job.as_ref()) {
        a.discovery.job = None;
    }
    if let Some(next) = continuation {
        let delay = wait.and_then(|w| w.to_std().ok()).unwrap_or_default();
        crate::repo::jobs::mark(a, next, finished, delay);
    }
    a.discovery.last_run_at = Some(finished);
    for kind in ObjectKind::ALL {
        let (c, d) = (a.discovery.counts.of_mut(kind), deltas.of(kind));
        c.total = c.total.saturating_add_signed(d.total as i64);
        c.deleted = c.deleted.saturating_add_signed(d.deleted as i64);
    }
    a.discovery.last_error = None;
    let mut next = finished + interval;
    match &run.outcome {
        Outcome::Done => {
            a.discovery.status = DiscoveryStatus::Done;
            a.discovery.last_success_at = Some(finished);
            a.discovery_due_at = None;
        }
        Outcome::Partial => {
            a.discovery.status = DiscoveryStatus::Partial;
            next = finished + wait.unwrap_or_else(Duration::zero);
        }
        Outcome::Failed(why) => {
            a.discovery.status = DiscoveryStatus::Failed;
            a.discovery.last_error = Some(why.clone());
            next = finished + RETRY_AFTER_FAILURE.min(interval);
        }
        Outcome::AppCredentials => {
            a.discovery.status = DiscoveryStatus::Failed;
            a.discovery.last_error =
                Some("the service could not sign in to the provider (our side); its operators were alerted".into());
            next = finished + RETRY_AFTER_FAILURE.min(interval);
        }
        Outcome::Revoked(why) => {
            a.discovery.status = DiscoveryStatus::Failed;
            a.discovery.last_error = Some(why.clone());
            // A run that ends after its account was disabled leaves it disabled.
            if a.status != AccountStatus::Disabled {
                if a.status != AccountStatus::AccessRevoked {
                    newly_revoked = Some(why.clone());
                }
                a.status = AccountStatus::AccessRevoked;
            }
            a.discovery_due_at = None;
        }
        Outcome::Busy | Outcome::Superseded => {}
    }
    if !matches!(
        run.outcome,
        Outcome::Revoked(_) | Outcome::AppCredentials | Outcome::Busy | Outcome::Superseded
    ) && fresh
    {
        a.discovery.health_checked_at = Some(finished);
    }
    if !matches!(run.outcome, Outcome::Revoked(_) | Outcome::AppCredentials)
        && matches!(a.status, AccountStatus::Active | AccountStatus::ReauthorizationRequired)
        && !(matches!(run.outcome, Outcome::Failed(_)) && run.kinds.is_empty() && run.missing_permissions.is_empty())
    {
        if run.missing_permissions.is_empty() {
            if a.status == AccountStatus::ReauthorizationRequired {
                tracing::info!("all required permissions granted now: reauthorization no longer needed");
            }
            a.status = AccountStatus::Active;
            a.missing_permissions.clear();
        } else {
            a.status = AccountStatus::ReauthorizationRequired;
            a.missing_permissions = run.missing_permissions.clone();
            // New permissions can take up to an hour to reach tokens: look again soon.
            if a.authorized_at.is_some_and(|t| finished - t < Duration::hours(1)) {
                next = next.min(finished + ROLE_RECHECK);
            }
        }
    }
    a.discovery.next_due_at = Some(next);
    newly_revoked
}

/// The Refresh button: queues a discovery job for the caller's account now (answered at
/// once; the account's discovery status says `queued`, then `running`). At most once a
/// minute per account.
pub async fn refresh(s: &impl Ports, who: &crate::domain::Principal, id: &str) -> Result<Queued, DiscoveryError> {
    let account = AccountId::parse(id).ok_or(DiscoveryError::NotFound)?;
    let item = s
        .store()
        .get(&keys::account(&who.partner_id, &account))
        .await?
        .ok_or(DiscoveryError::NotFound)?;
    if !discoverable(item.record::<AccountItem>()?.status) {
        return Err(DiscoveryError::NotAuthorized);
    }
    crate::limits::take(
        s.store().as_ref(),
        s.clock().as_ref(),
        &REFRESH_PER_ACCOUNT,
        account.as_str(),
    )
    .await
    .map_err(|e| match e {
        crate::limits::LimitError::Limited(l) => DiscoveryError::RateLimited {
            retry_after: l.retry_after,
        },
        crate::limits::LimitError::Store(e) => DiscoveryError::Store(e),
    })?;
    match crate::repo::jobs::enqueue(s, &who.partner_id, &account, JobKind::Refresh).await? {
        Queued::NotDiscoverable => Err(DiscoveryError::NotAuthorized),
        queued => Ok(queued),
    }
}

/// An access token for the account's tenant and the permissions it carries, or why not.
async fn access(s: &impl Ports, a: &AccountItem, fresh: bool) -> Result<(SecretString, Vec<String>), Outcome> {
    let result = match a.platform {
        Platform::Microsoft365 => {
            let Some(tenant) = a.tenant_id.as_deref() else {
                return Err(Outcome::Failed("the account has no proven tenant".into()));
            };
            let token = if fresh {
                s.microsoft().fresh_app_token(tenant).await
            } else {
                s.microsoft().app_token(tenant).await
            };
            token.map(|t| (t.access_token, t.roles))
        }
        Platform::GoogleWorkspace => {
            let Some(enc) = a.refresh_token_enc.as_deref() else {
                return Err(Outcome::Revoked("no grant is stored for this account".into()));
            };
            let Ok(refresh) = s.encryptor().decrypt(enc, a.id.as_str()) else {
                tracing::error!(
                    alert = "encryption_key",
                    "a stored refresh token cannot be decrypted: wrong ENCRYPTION_KEY?"
                );
                return Err(Outcome::AppCredentials);
            };
            s.google().refresh(&refresh).await.map(|g| (g.access_token, Vec::new()))
        }
    };
    result.map_err(|e| match e {
        TokenError::NoConsent { code } => {
            Outcome::Revoked(format!("the tenant's administrator withdrew consent or removed the app ({code})"))
        }
        TokenError::TenantGone { code } => Outcome::Revoked(format!("the tenant no longer exists or is disabled ({code})")),
        TokenError::AppCredentials { code } => {
            tracing::error!(
                alert = "app_credentials",
                code,
                platform = a.platform.as_str(),
                "the provider refused the service's own app credentials: renew the client secret; tenants were left untouched"
            );
            Outcome::AppCredentials
        }
        e => Outcome::Failed(e.to_string()),
    })
}

/// Tells the member who added the account, once per revocation.
async fn notify_revoked(s: &impl Ports, a: &AccountItem, why: &str) {
    let Ok(to) = EmailAddress::parse("email", &a.created_by) else {
        return;
    };
    let url = format!("{}/accounts/{}", s.links().console_url, a.id);
    let tenant = a.tenant_domain.as_deref().or(a.tenant_id.as_deref()).unwrap_or("");
    let sent = match templates::access_revoked(&to, &a.client_name, a.platform.display_name(), tenant, why, &url) {
        Ok(message) => s.mailer().send(&message).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::error!(cause = %e, "could not email the partner about the revoked access");
    }
}

/// Signed count changes accumulated by a run (stored wrapping in `u64`, applied with
/// `saturating_add_signed`).
fn apply(deltas: &mut Counts, kind: ObjectKind, k: &KindRun) {
    let c = deltas.of_mut(kind);
    let total = (k.added + k.restored) as i64 - k.removed as i64;
    let deleted = k.removed as i64 - k.restored as i64;
    c.total = c.total.wrapping_add(total as u64);
    c.deleted = c.deleted.wrapping_add(deleted as u64);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// A Graph delta query.
    Delta,
    /// A Graph listing read in full every run.
    Listing,
    /// The Google Directory users listing.
    Directory,
}

struct Source {
    kind: ObjectKind,
    read: Read,
    first_url: String,
    /// The Graph application permission the read needs.
    role: Option<&'static str>,
}

fn sources(s: &impl Ports, platform: Platform) -> Vec<Source> {
    let g = s.directory().graph_url();
    match platform {
        Platform::Microsoft365 => vec![
            Source {
                kind: ObjectKind::Users,
                read: Read::Delta,
                first_url: format!("{g}/v1.0/users/delta?$select=id,displayName,mail,userPrincipalName,accountEnabled"),
                role: Some("User.Read.All"),
            },
            Source {
                kind: ObjectKind::Groups,
                read: Read::Delta,
                first_url: format!("{g}/v1.0/groups/delta?$select=id,displayName,mail,groupTypes"),
                role: Some("Group.Read.All"),
            },
            Source {
                kind: ObjectKind::Teams,
                read: Read::Listing,
                first_url: format!(
                    "{g}/v1.0/groups?$filter=resourceProvisioningOptions/Any(x:x%20eq%20'Team')&$select=id,displayName,mail"
                ),
                role: Some("Group.Read.All"),
            },
            Source {
                kind: ObjectKind::Sites,
                read: Read::Listing,
                first_url: format!("{g}/v1.0/sites/getAllSites?$select=id,displayName,name,webUrl,isPersonalSite"),
                role: Some("Sites.Read.All"),
            },
        ],
        Platform::GoogleWorkspace => vec![Source {
            kind: ObjectKind::Users,
            read: Read::Directory,
            first_url: format!(
                "{}/admin/directory/v1/users?customer=my_customer&maxResults=500&projection=basic",
                s.directory().google_admin_url()
            ),
            role: None,
        }],
    }
}

struct Ctx<'a, P> {
    s: &'a P,
    account: &'a AccountId,
    tenant: &'a str,
    token: &'a SecretString,
    deadline: Instant,
    /// When this run took the account.
    started: DateTime<Utc>,
}

impl<P: Ports> Ctx<'_, P> {
    async fn page(&self, read: Read, url: &str) -> Result<GraphPage, GraphError> {
        let directory = &self.s.directory();
        match read {
            Read::Directory => directory.google_users_page(self.tenant, self.token, url).await,
            _ => directory.graph_page(self.tenant, self.token, url).await,
        }
    }
}

/// A kind's run that stopped on an error, with what it had done until then.
struct Failure {
    done: KindRun,
    error: DiscoveryError,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Nothing stored yet for this kind: every object is new (no reads).
    First,
    /// The continuation of an interrupted first read.
    FirstResumed,
    /// From a delta link: only changes.
    Incremental,
    /// Full read over stored objects (stale delta link, or a listing): flags what is missing.
    Full,
}

async fn run_kind<P: Ports>(ctx: &Ctx<'_, P>, src: &Source) -> Result<KindRun, Failure> {
    let fail = |done: KindRun, error: DiscoveryError| Failure { done, error };
    let empty = KindRun {
        kind: Some(src.kind),
        ..KindRun::default()
    };
    if src.read != Read::Delta {
        return read_pages(ctx, src, src.first_url.clone(), Mode::Full, None).await;
    }
    let ck_key = keys::delta_checkpoint(ctx.account, src.kind);
    let checkpoint = match ctx.s.store().get(&ck_key).await {
        Ok(i) => match i.map(|i| i.record::<DeltaCheckpointItem>()).transpose() {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => return Err(fail(empty, e.into())),
        },
        Err(e) => return Err(fail(empty, e.into())),
    };
    let (url, mode) = if let Some(r) = checkpoint.resume.clone() {
        (
            r,
            if checkpoint.resume_first {
                Mode::FirstResumed
            } else {
                Mode::Incremental
            },
        )
    } else if let Some(l) = checkpoint.link.clone() {
        (l, Mode::Incremental)
    } else {
        let any = ctx
            .s
            .store()
            .query(
                &keys::account_partition(ctx.account),
                src.kind.prefix(),
                QueryOptions {
                    limit: Some(1),
                    after: None,
                },
            )
            .await
            .map_err(|e| fail(empty.clone(), e.into()))?;
        let mode = if any.items.is_empty() { Mode::First } else { Mode::Full };
        // Marks where this read starts, so that should the run die part-way, the next one
        // continues there and counts what this one wrote but never recorded.
        let start = DeltaCheckpointItem {
            link: None,
            resume: (mode == Mode::First).then(|| src.first_url.clone()),
            resume_first: mode == Mode::First,
            saved_at: Some(ctx.started),
        };
        save_checkpoint(ctx, src.kind, &start)
            .await
            .map_err(|e| fail(empty.clone(), e))?;
        (src.first_url.clone(), mode)
    };
    match read_pages(ctx, src, url, mode, checkpoint.saved_at).await {
        Err(Failure {
            done,
            error: DiscoveryError::Graph(GraphError::Resync),
        }) if mode == Mode::Incremental || mode == Mode::FirstResumed => {
            tracing::info!(kind = src.kind.as_str(), "delta link stale: full resync");
            let reset = DeltaCheckpointItem::default();
            save_checkpoint(ctx, src.kind, &reset)
                .await
                .map_err(|e| fail(done.clone(), e))?;
            let mut again = read_pages(ctx, src, src.first_url.clone(), Mode::Full, None).await;
            let (Ok(k) | Err(Failure { done: k, .. })) = &mut again;
            *k = merge_runs(&done, k);
            again
        }
        other => other,
    }
}

fn merge_runs(a: &KindRun, b: &KindRun) -> KindRun {
    KindRun {
        kind: b.kind,
        full: a.full || b.full,
        partial: b.partial,
        pages: a.pages + b.pages,
        seen: a.seen + b.seen,
        added: a.added + b.added,
        changed: a.changed + b.changed,
        removed: a.removed + b.removed,
        restored: a.restored + b.restored,
    }
}

async fn save_checkpoint<P: Ports>(
    ctx: &Ctx<'_, P>,
    kind: ObjectKind,
    c: &DeltaCheckpointItem,
) -> Result<(), DiscoveryError> {
    let item = Item::from_record(keys::delta_checkpoint(ctx.account, kind), c)?;
    ctx.s.store().put(item, Condition::Always).await?;
    Ok(())
}

/// Reads `src` from `start` in `mode`. `uncounted_after`: when the kind's checkpoint was saved;
/// objects a run wrote after it (and before this run) were never counted (that run died).
async fn read_pages<P: Ports>(
    ctx: &Ctx<'_, P>,
    src: &Source,
    start: String,
    mode: Mode,
    uncounted_after: Option<DateTime<Utc>>,
) -> Result<KindRun, Failure> {
    let target = Target {
        kind: src.kind,
        known_empty: mode == Mode::First,
        uncounted: uncounted_after.map(|after| (after, ctx.started)),
    };
    let mut run = KindRun {
        kind: Some(src.kind),
        full: mode != Mode::Incremental,
        ..KindRun::default()
    };
    let resumable = matches!(mode, Mode::First | Mode::FirstResumed | Mode::Incremental) && src.read == Read::Delta;
    // 8 bytes per object of a full read, to tell what disappeared (and to count repeats once).
    let mut seen: HashSet<u64> = HashSet::new();
    let mut url = start;
    // The next page, fetched while the current one is written.
    let mut prefetched: Option<Result<GraphPage, GraphError>> = None;
    loop {
        // At least one page per run, so a run always makes progress.
        if resumable && run.pages > 0 && Instant::now() >= ctx.deadline {
            return match suspend(ctx, src, &url, mode).await {
                Ok(()) => {
                    run.partial = true;
                    Ok(run)
                }
                Err(error) => Err(Failure { done: run, error }),
            };
        }
        let fetched = match prefetched.take() {
            Some(p) => p,
            None => ctx.page(src.read, &url).await,
        };
        let parsed = match fetched {
            Ok(page) => parse_objects(src, &page).map(|objects| (page, objects)),
            Err(e) => Err(e),
        };
        let (page, objects) = match parsed {
            Ok(p) => p,
            Err(e) => {
                if resumable
                    && !matches!(e, GraphError::Resync | GraphError::Denied { .. })
                    && let Err(error) = suspend(ctx, src, &url, mode).await
                {
                    return Err(Failure { done: run, error });
                }
                return Err(Failure {
                    done: run,
                    error: e.into(),
                });
            }
        };
        run.pages += 1;
        let fresh: Vec<Seen> = if mode == Mode::Incremental {
            objects
        } else {
            objects.into_iter().filter(|o| seen.insert(hash(&o.id))).collect()
        };
        run.seen += fresh.len() as u64;
        let written = match &page.next {
            Some(next) => {
                let write = write_objects(ctx, target, fresh, &mut run);
                let (written, ahead) = tokio::join!(write, ctx.page(src.read, next));
                prefetched = Some(ahead);
                written
            }
            None => write_objects(ctx, target, fresh, &mut run).await,
        };
        if let Err(error) = written {
            return Err(Failure { done: run, error });
        }
        match (page.next, page.delta) {
            (Some(next), _) => url = next,
            (None, delta) => {
                let done = async {
                    if src.read == Read::Delta {
                        let link = delta
                            .ok_or_else(|| GraphError::Malformed("a last page without @odata.deltaLink".into()))?;
                        let checkpoint = DeltaCheckpointItem {
                            link: Some(link),
                            resume: None,
                            resume_first: false,
                            saved_at: Some(ctx.s.clock().now()),
                        };
                        save_checkpoint(ctx, src.kind, &checkpoint).await?;
                    }
                    if mode == Mode::Full {
                        sweep(ctx, src.kind, &seen, &mut run).await?;
                    }
                    Ok::<_, DiscoveryError>(())
                };
                return match done.await {
                    Ok(()) => Ok(run),
                    Err(error) => Err(Failure { done: run, error }),
                };
            }
        }
    }
}

/// Saves where an interrupted delta run continues.
async fn suspend<P: Ports>(ctx: &Ctx<'_, P>, src: &Source, url: &str, mode: Mode) -> Result<(), DiscoveryError> {
    let key = keys::delta_checkpoint(ctx.account, src.kind);
    let mut c = match ctx.s.store().get(&key).await? {
        Some(i) => i.record::<DeltaCheckpointItem>()?,
        None => DeltaCheckpointItem::default(),
    };
    c.resume = Some(url.to_owned());
    c.resume_first = matches!(mode, Mode::First | Mode::FirstResumed);
    c.saved_at = Some(ctx.s.clock().now());
    save_checkpoint(ctx, src.kind, &c).await
}

fn hash(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// One object as a page reported it. Delta pages may carry only changed properties: `None`
/// means "not given", not "empty".
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    removed: bool,
    name: Option<String>,
    email: Option<String>,
    url: Option<String>,
    enabled: Option<bool>,
}

/// Reads every object of a page, or refuses the whole page.
fn parse_objects(src: &Source, page: &GraphPage) -> Result<Vec<Seen>, GraphError> {
    let mut out = Vec::with_capacity(page.items.len());
    for v in &page.items {
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 400)
            .ok_or_else(|| GraphError::Malformed("an object without an id".into()))?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let mut seen = Seen {
            id: id.to_owned(),
            removed: v.get("@removed").is_some(),
            name: text("displayName"),
            email: text("mail"),
            url: None,
            enabled: None,
        };
        match (src.kind, src.read) {
            (ObjectKind::Users, Read::Directory) => {
                seen.name = v.pointer("/name/fullName").and_then(Value::as_str).map(str::to_owned);
                seen.email = text("primaryEmail");
                seen.enabled = v.get("suspended").and_then(Value::as_bool).map(|s| !s);
            }
            (ObjectKind::Users, _) => {
                seen.email = seen.email.or_else(|| text("userPrincipalName"));
                seen.enabled = v.get("accountEnabled").and_then(Value::as_bool);
            }
            (ObjectKind::Sites, _) => {
                seen.url = text("webUrl");
                let personal = v.get("isPersonalSite").and_then(Value::as_bool) == Some(true)
                    || seen.url.as_deref().is_some_and(|u| u.contains("-my.sharepoint.com"));
                if personal {
                    continue;
                }
                seen.name = seen.name.or_else(|| text("name"));
                seen.email = None;
            }
            _ => {}
        }
        out.push(seen);
    }
    Ok(out)
}

enum Change {
    Added,
    Changed,
    Removed,
    Restored,
}

/// The record an object calls for, if it changed.
fn merge(existing: Option<&DiscoveredItem>, o: &Seen, now: DateTime<Utc>) -> Option<(DiscoveredItem, Change)> {
    if o.removed {
        let e = existing.filter(|e| !e.deleted)?;
        return Some((
            DiscoveredItem {
                deleted: true,
                last_seen: now,
                ..e.clone()
            },
            Change::Removed,
        ));
    }
    match existing {
        Some(e) => {
            let updated = DiscoveredItem {
                name: o.name.clone().unwrap_or_else(|| e.name.clone()),
                email: o.email.clone().or_else(|| e.email.clone()),
                url: o.url.clone().or_else(|| e.url.clone()),
                enabled: o.enabled.unwrap_or(e.enabled),
                deleted: false,
                ..e.clone()
            };
            if &updated == e {
                return None;
            }
            let change = if e.deleted { Change::Restored } else { Change::Changed };
            Some((
                DiscoveredItem {
                    last_seen: now,
                    ..updated
                },
                change,
            ))
        }
        None => Some((
            DiscoveredItem {
                id: o.id.clone(),
                name: o.name.clone().unwrap_or_default(),
                email: o.email.clone(),
                url: o.url.clone(),
                enabled: o.enabled.unwrap_or(true),
                protected: false,
                deleted: false,
                first_seen: now,
                last_seen: now,
                protected_at: None,
            },
            Change::Added,
        )),
    }
}

fn count(run: &mut KindRun, change: &Change) {
    match change {
        Change::Added => run.added += 1,
        Change::Changed => run.changed += 1,
        Change::Removed => run.removed += 1,
        Change::Restored => run.restored += 1,
    }
}

/// Where a page's objects are written.
#[derive(Clone, Copy)]
struct Target {
    kind: ObjectKind,
    /// Nothing stored yet for the kind (first read): written without reading.
    known_empty: bool,
    /// `(after, before)`: objects first or last written in this window by a run that died
    /// were never counted; this run counts them.
    uncounted: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The count a stored object calls for although nothing about it changes: written by a run
/// that died before recording its counts.
fn uncounted(stored: &DiscoveredItem, o: &Seen, window: Option<(DateTime<Utc>, DateTime<Utc>)>) -> Option<Change> {
    let (after, before) = window?;
    let within = |t: DateTime<Utc>| t > after && t < before;
    if o.removed {
        (stored.deleted && within(stored.last_seen)).then_some(Change::Removed)
    } else {
        (!stored.deleted && within(stored.first_seen)).then_some(Change::Added)
    }
}

/// Writes what changed among `objects`, in chunks; each chunk's writes are conditioned on the
/// versions read, and a chunk that lost a race is read and merged again.
async fn write_objects<P: Ports>(
    ctx: &Ctx<'_, P>,
    target: Target,
    objects: Vec<Seen>,
    run: &mut KindRun,
) -> Result<(), DiscoveryError> {
    let Target { kind, known_empty, .. } = target;
    let now = ctx.s.clock().now();
    if known_empty {
        // First read of this kind: nothing stored, nothing to compare; removed ones are skipped.
        let mut puts = Vec::with_capacity(objects.len());
        for o in objects.iter().filter(|o| !o.removed) {
            if let Some((record, change)) = merge(None, o, now) {
                puts.push(keys::discovered_item(ctx.account, kind, &record)?);
                count(run, &change);
            }
        }
        if !puts.is_empty() {
            ctx.s.store().batch_write(puts, Vec::new()).await?;
        }
        return Ok(());
    }
    for chunk in objects.chunks(CHUNK) {
        // A page may name an object twice: the last mention wins.
        let mut last: HashMap<&str, &Seen> = HashMap::with_capacity(chunk.len());
        for o in chunk {
            last.insert(o.id.as_str(), o);
        }
        let keys: Vec<Key> = last.keys().map(|id| keys::discovered(ctx.account, kind, id)).collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let stored: HashMap<String, Item> = ctx
                .s
                .store()
                .batch_get(&keys)
                .await?
                .into_iter()
                .map(|i| (i.key.sk.clone(), i))
                .collect();
            let mut ops = Vec::new();
            let mut changes = Vec::new();
            for key in &keys {
                let id = &key.sk[kind.prefix().len()..];
                let o = last[id];
                let existing = stored.get(&key.sk);
                let record = existing.map(Item::record::<DiscoveredItem>).transpose()?;
                let missed = record.as_ref().and_then(|r| uncounted(r, o, target.uncounted));
                if let Some((next, change)) = merge(record.as_ref(), o, now) {
                    let (item, condition) = match existing {
                        Some(i) => (
                            i.next_version(&next)?
                                .with_gsi1(keys::discovered_name_key(ctx.account, kind, &next)),
                            Condition::VersionIs(i.version),
                        ),
                        None => (keys::discovered_item(ctx.account, kind, &next)?, Condition::NotExists),
                    };
                    ops.push(WriteOp::Put { item, condition });
                    // Added by a run that died: an addition, whatever changed since.
                    changes.push(match (change, missed) {
                        (Change::Changed, Some(Change::Added)) => Change::Added,
                        (change, _) => change,
                    });
                } else if let Some(missed) = missed {
                    changes.push(missed);
                }
            }
            if ops.is_empty() {
                changes.iter().for_each(|c| count(run, c));
                break;
            }
            match ctx.s.store().transact(ops).await {
                Ok(()) => {
                    changes.iter().for_each(|c| count(run, c));
                    break;
                }
                Err(StoreError::ConditionFailed | StoreError::Conflict) if attempt < 4 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// After a complete full read: flags stored objects the read did not report as deleted.
async fn sweep<P: Ports>(
    ctx: &Ctx<'_, P>,
    kind: ObjectKind,
    seen: &HashSet<u64>,
    run: &mut KindRun,
) -> Result<(), DiscoveryError> {
    let mut stored = Pages::new(
        ctx.s.store().as_ref(),
        keys::account_partition(ctx.account),
        kind.prefix(),
        500,
    );
    while let Some(items) = stored.next().await? {
        let gone: Vec<Seen> = items
            .iter()
            .filter_map(|i| i.record::<DiscoveredItem>().ok())
            .filter(|o| !o.deleted && !seen.contains(&hash(&o.id)))
            .map(|o| Seen {
                id: o.id,
                removed: true,
                name: None,
                email: None,
                url: None,
                enabled: None,
            })
            .collect();
        if !gone.is_empty() {
            let target = Target {
                kind,
                known_empty: false,
                uncounted: None,
            };
            write_objects(ctx, target, gone, run).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod status_machine {
    use super::*;
    use crate::domain::{ClientId, ManagedBy};

    fn t0() -> DateTime<Utc> {
        "2026-12-04T09:00:00Z".parse().unwrap()
    }

    fn account(status: AccountStatus) -> AccountItem {
        AccountItem {
            id: AccountId::new(),
            partner_id: PartnerId::new(),
            client_id: ClientId::new(),
            client_name: "Contoso".into(),
            platform: Platform::Microsoft365,
            managed_by: ManagedBy::Partner,
            status,
            tenant: None,
            tenant_id: Some("fa4e7e11-0000-4000-8000-000000000001".into()),
            tenant_domain: None,
            missing_permissions: Vec::new(),
            created_by: "owner@msp.example".into(),
            created_at: t0() - Duration::days(2),
            current_link_hash: None,
            offboarding: None,
            offer: None,
            names_indexed: false,
            link_sent_to: None,
            link_expires_at: None,
            authorized_at: Some(t0() - Duration::days(1)),
            discovery_due_at: Some(t0() - Duration::minutes(1)),
            refresh_token_enc: None,
            discovery: Default::default(),
            auto_add: None,
            consent_failure: None,
        }
    }

    fn run(outcome: Outcome, missing: &[&str]) -> AccountRun {
        AccountRun {
            account_id: AccountId::new(),
            outcome,
            missing_permissions: missing.iter().map(|m| (*m).to_owned()).collect(),
            kinds: vec![KindRun {
                kind: Some(ObjectKind::Users),
                ..KindRun::default()
            }],
            continued_by: None,
        }
    }

    fn end(wait: Option<Duration>) -> RunEnd {
        RunEnd {
            finished: t0(),
            interval: Duration::hours(1),
            wait,
            fresh: true,
            deltas: Counts::default(),
            job: None,
            continuation: None,
        }
    }

    #[test]
    fn a_done_run_clears_the_due_mark_and_is_next_due_after_the_interval() {
        let mut a = account(AccountStatus::Active);
        a.discovery.running_until = Some(t0() + Duration::minutes(5));
        assert_eq!(record_run(&mut a, &run(Outcome::Done, &[]), &end(None)), None);
        assert_eq!(a.discovery.status, DiscoveryStatus::Done);
        assert_eq!(a.discovery.running_until, None, "the lease is released");
        assert_eq!(a.discovery_due_at, None);
        assert_eq!(a.discovery.last_success_at, Some(t0()));
        assert_eq!(a.discovery.next_due_at, Some(t0() + Duration::hours(1)));
        assert_eq!(a.discovery.health_checked_at, Some(t0()));
        assert_eq!(a.status, AccountStatus::Active);
    }

    #[test]
    fn a_partial_run_is_due_again_after_its_retry_after_and_keeps_the_due_mark() {
        let mut a = account(AccountStatus::Active);
        record_run(&mut a, &run(Outcome::Partial, &[]), &end(Some(Duration::seconds(300))));
        assert_eq!(a.discovery.status, DiscoveryStatus::Partial);
        assert_eq!(a.discovery.next_due_at, Some(t0() + Duration::seconds(300)));
        assert!(a.discovery_due_at.is_some(), "the first full listing is still owed");
    }

    #[test]
    fn a_failed_run_records_why_and_retries_within_the_failure_delay() {
        let mut a = account(AccountStatus::Active);
        record_run(&mut a, &run(Outcome::Failed("users: 503".into()), &[]), &end(None));
        assert_eq!(a.discovery.status, DiscoveryStatus::Failed);
        assert_eq!(a.discovery.last_error.as_deref(), Some("users: 503"));
        assert_eq!(a.discovery.next_due_at, Some(t0() + RETRY_AFTER_FAILURE));
        assert_eq!(a.status, AccountStatus::Active, "a failure is not a revocation");
    }

    #[test]
    fn a_revocation_is_reported_once_and_stops_discovery() {
        let mut a = account(AccountStatus::Active);
        let revoked = run(Outcome::Revoked("consent withdrawn".into()), &[]);
        assert_eq!(
            record_run(&mut a, &revoked, &end(None)).as_deref(),
            Some("consent withdrawn")
        );
        assert_eq!(a.status, AccountStatus::AccessRevoked);
        assert_eq!(a.discovery_due_at, None);
        assert_eq!(a.discovery.health_checked_at, None, "no health was proven");
        assert_eq!(record_run(&mut a, &revoked, &end(None)), None, "told once");
    }

    #[test]
    fn missing_roles_ask_for_reauthorization_rechecked_soon_after_consent_and_clear_when_granted() {
        let mut a = account(AccountStatus::Active);
        a.authorized_at = Some(t0() - Duration::minutes(5));
        record_run(&mut a, &run(Outcome::Done, &["Sites.Read.All"]), &end(None));
        assert_eq!(a.status, AccountStatus::ReauthorizationRequired);
        assert_eq!(a.missing_permissions, ["Sites.Read.All"]);
        assert_eq!(
            a.discovery.next_due_at,
            Some(t0() + ROLE_RECHECK),
            "within the first hour"
        );
        // An hour on, no early recheck; then every role granted: active again.
        a.authorized_at = Some(t0() - Duration::hours(2));
        record_run(&mut a, &run(Outcome::Done, &["Sites.Read.All"]), &end(None));
        assert_eq!(a.discovery.next_due_at, Some(t0() + Duration::hours(1)));
        record_run(&mut a, &run(Outcome::Done, &[]), &end(None));
        assert_eq!(a.status, AccountStatus::Active);
        assert!(a.missing_permissions.is_empty());
    }

    #[test]
    fn our_own_credentials_refused_leave_the_account_alone() {
        let mut a = account(AccountStatus::ReauthorizationRequired);
        a.missing_permissions = vec!["Group.Read.All".into()];
        record_run(&mut a, &run(Outcome::AppCredentials, &[]), &end(None));
        assert_eq!(a.status, AccountStatus::ReauthorizationRequired, "status untouched");
        assert_eq!(a.missing_permissions, ["Group.Read.All"]);
        assert_eq!(a.discovery.status, DiscoveryStatus::Failed);
        assert_eq!(a.discovery.health_checked_at, None);
    }
}
