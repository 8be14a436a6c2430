//! The consent callbacks: every check between "the provider redirected someone back" and
//! "the account is active", in the order they run.
//!
//! Microsoft comes back twice (`shared/protocols.md`, "Proving which tenant consented"): an
//! app-only token proves only that *someone* in a tenant consented to our (shared,
//! multi-tenant) app, so the tenant is proven by the admin's own sign-in through this link.
//!
//! Both legs (`GET /v1/callback/microsoft?...&state` or `?error&error_description&state`):
//! 1. `error` first: a response may carry `admin_consent=True` *and* an error. The error's
//!    AADSTS code picks a page naming the cause and the fix. Nothing is written.
//! 2. `state`: present; its seal verifies for this provider; it is stored (so it was minted
//!    here and not expired past keeping); it belongs to the account it names; unexpired;
//!    unconsumed. A consumed state replays the outcome it led to (a browser refresh shows
//!    the same result and changes nothing); a consumed sign-in state is refused.
//!
//! Sign-in leg (`?code&state`, a state of phase `sign_in`):
//! 3. The code is redeemed by us, with the state's PKCE verifier. The ID token must be for
//!    our client ID (`aud`), carry the state's `nonce`, come from `{login}/{tid}/v2.0`
//!    (`iss`), be unexpired. Its `tid` is the signed-in admin's tenant. When the token lists
//!    the admin's directory roles (`wids`), one must be able to grant consent.
//! 4. A pre-entered tenant (ID, or a domain resolved by its OpenID configuration) must be
//!    that tenant; an account authorized before must stay in it; the tenant must not belong
//!    to another account. Each failure names both tenants where it helps; nothing is written.
//! 5. One transaction: the sign-in state consumed, a consent state bound to `tid` stored.
//!    Then 302 to admin consent for exactly that tenant.
//!
//! Consent leg (`?admin_consent=True&tenant&state`, a state of phase `consent`):
//! 6. The callback's `tenant` must be the bound one; a bare admin-consent callback with a
//!    sign-in state (nobody signed in through this link) activates nothing.
//! 7. A fresh app-only token for the tenant shows the consent and its `roles`, compared with
//!    [`REQUIRED_MICROSOFT_ROLES`]: missing ones make the account `reauthorization_required`.
//! 8. The tenant must still not belong to another account. One transaction: state consumed
//!    (conditional on its version), account updated (conditional on its version), tenant
//!    owner claimed (conditional on absence), link marked used. Then the partner is emailed
//!    and the browser redirected by role.
//!
//! Google (`GET /v1/callback/google?code&state` or `?error&state`): the same, with the code
//! exchanged using the state's PKCE verifier, the refresh token encrypted, and one Directory
//! call proving which Workspace the grant reaches.
//!
//! A provider that is down or slow leaves the state unconsumed, so "try again" works.

use crate::crypto::sha256_hex;
use crate::domain::{Actor, AuditAction, JobKind, Provider};
use crate::domain::{EmailAddress, Platform, TenantId, TenantRef};
use crate::email::templates;
use crate::identity::{CONSENTING_ADMIN_ROLES, GOOGLE_SCOPES, IdTokenClaims, TokenError, missing_roles};
use crate::queue::Job;
use crate::repo::audit;
use crate::repo::links::{consent_state, state_purpose};
use crate::services::{HasClock, HasEncryptor, HasIdentity, HasLinks, HasMailer, HasSigner, HasStore};
use crate::store::keys::{
    self, AccountItem, AccountStatus, Audience, ConsentFailureCode, StateItem, StateOutcome, StatePhase,
    TenantOwnerItem,
};
use crate::store::{Condition, Item, StoreError, Update, WriteOp};

crate::ports!(
    HasClock,
    HasEncryptor,
    HasIdentity,
    HasLinks,
    HasMailer,
    HasSigner,
    HasStore,
    crate::repo::accounts::Ports,
    crate::repo::jobs::Ports,
    crate::repo::links::Ports,
    crate::repo::offers::Ports
);

/// What the Microsoft admin-consent redirect carried.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MicrosoftCallback {
    /// The sign-in leg's authorization code.
    pub code: Option<String>,
    pub admin_consent: Option<String>,
    pub tenant: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What the Google OAuth redirect carried.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GoogleCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

/// Why a callback did not activate an account. Each variant is a page for a person: see
/// [`ConsentError::explain`]. None of them changed anything.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error("the administrator declined")]
    Declined,
    #[error("signed in with an account from another organization")]
    WrongAccount,
    #[error("admin consent required or blocked by policy ({0})")]
    ConsentBlocked(String),
    #[error("a required Microsoft service is missing in the tenant")]
    ServicePrincipalMissing,
    #[error("the application is not available in the tenant ({0})")]
    AppUnavailable(String),
    #[error("the tenant is disabled or deleted")]
    TenantGone,
    #[error("the provider reported an error ({0})")]
    ProviderError(String),
    #[error("no state in the callback")]
    MissingState,
    #[error("the state is not one we issued")]
    ForgedState,
    #[error("the state has expired")]
    ExpiredState,
    #[error("the state was already used")]
    ReplayedState,
    #[error("the callback is incomplete")]
    Incomplete,
    #[error("a different tenant than the expected one")]
    TenantMismatch { expected: String, found: String },
    #[error("an admin-consent answer without the admin's sign-in through this link")]
    SignInMissing,
    #[error("the sign-in could not be verified ({0})")]
    InvalidSignIn(&'static str),
    #[error("signed in without a role that can grant consent")]
    NotAdmin,
    #[error("the tenant is already protected under another account")]
    TenantOwned,
    #[error("no consent could be proven in the tenant")]
    NotProven,
    #[error("the identity provider is unavailable")]
    ProviderUnavailable,
    #[error("the service's own credentials were refused")]
    ServiceMisconfigured,
    #[error("the account was changed meanwhile")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A page's words.
pub struct Explanation {
    pub title: &'static str,
    pub cause: &'static str,
    pub fix: &'static str,
    /// Trying the very same callback again can work (the state was left unconsumed).
    pub retry: bool,
}

impl ConsentError {
    pub fn explain(&self) -> Explanation {
        let (title, cause, fix, retry) = match self {
            Self::Declined => (
                "Access was not granted",
                "The administrator chose not to grant the backup service access (AADSTS65004 / access_denied).",
                "If that was a mistake, open the authorization link from the email again and choose Accept.",
                false,
            ),
            Self::WrongAccount => (
                "Signed in with the wrong account",
                "The account used to sign in belongs to another organization than the tenant being authorized (AADSTS50020).",
                "Open the authorization link in a private browser window and sign in as a global administrator of the client's tenant.",
                false,
            ),
            Self::ConsentBlocked(_) => (
                "An administrator must grant this",
                "Only a global administrator can grant tenant-wide access, or a policy in the tenant blocks consent (AADSTS90094 / 90008).",
                "Ask a global administrator of the tenant to open the authorization link, or allow admin consent for the app in Entra ID.",
                false,
            ),
            Self::ServicePrincipalMissing => (
                "A Microsoft service is missing in the tenant",
                "The tenant lacks a Microsoft service the backup needs (AADSTS650052), usually because it has no Exchange or SharePoint subscription.",
                "Check the tenant's Microsoft 365 subscriptions, then open the authorization link again.",
                false,
            ),
            Self::AppUnavailable(_) => (
                "The backup application is not available in this tenant",
                "Microsoft says the application is missing or disabled in the tenant (AADSTS700016 / 7000112), or was removed minutes ago.",
                "Re-enable the application in Entra ID (Enterprise applications) or wait 15 minutes after removing it, then open the authorization link again.",
                false,
            ),
            Self::TenantGone => (
                "The tenant is disabled or deleted",
                "Microsoft reports that this tenant does not exist or is disabled (AADSTS500014 / 90002).",
                "Check the tenant with your IT provider; if it was entered wrong, ask them to correct it and resend the link.",
                false,
            ),
            Self::ProviderError(_) => (
                "The sign-in did not complete",
                "Microsoft or Google reported an error while granting access.",
                "Open the authorization link from the email again. If it keeps failing, tell your IT provider.",
                false,
            ),
            Self::MissingState | Self::ForgedState | Self::Incomplete => (
                "This page cannot be used",
                "The address is incomplete or was not issued by the backup service.",
                "Start again from the authorization link in the email.",
                false,
            ),
            Self::ExpiredState => (
                "This sign-in has expired",
                "Authorization must be completed within an hour of starting it.",
                "Start again from the authorization link in the email (it stays valid for several days).",
                false,
            ),
            Self::ReplayedState => (
                "This sign-in was already used",
                "Each sign-in can complete authorization once.",
                "Start again from the authorization link in the email if access is still needed.",
                false,
            ),
            Self::TenantMismatch { .. } => (
                "This is not the expected tenant",
                "The administrator signed in to (or granted access in) a different tenant than the one expected for this client. Nothing was changed.",
                "Sign in with an administrator of the right tenant (a private window helps), or ask your IT provider to correct the tenant and resend the link.",
                false,
            ),
            Self::SignInMissing => (
                "The administrator's sign-in is missing",
                "Access can only be granted after the administrator signs in through the authorization link. Nothing was changed.",
                "Start again from the authorization link in the email and sign in when asked.",
                false,
            ),
            Self::InvalidSignIn(_) => (
                "The sign-in could not be verified",
                "The sign-in was not accepted: it was already used, has expired, or was not issued for this service. Nothing was changed.",
                "Start again from the authorization link in the email.",
                false,
            ),
            Self::NotAdmin => (
                "An administrator must sign in",
                "The account used to sign in has no administrator role that can grant tenant-wide access (Global Administrator or Privileged Role Administrator). Nothing was changed.",
                "Open the authorization link in a private browser window and sign in as a global administrator of the client's tenant.",
                false,
            ),
            Self::TenantOwned => (
                "This tenant is already protected",
                "The tenant is already connected to another backup account. Nothing was changed.",
                "Ask your IT provider to check which account protects this tenant.",
                false,
            ),
            Self::NotProven => (
                "Access could not be confirmed",
                "The provider did not confirm the access just granted. Right after a change, Microsoft can take a few minutes to apply it.",
                "Wait five minutes and try again; if it still fails, open the authorization link from the email again.",
                true,
            ),
            Self::ProviderUnavailable => (
                "Microsoft or Google did not answer",
                "We could not confirm the access with the provider just now (it was slow or unavailable). Nothing was lost.",
                "Try again in a minute.",
                true,
            ),
            Self::ServiceMisconfigured => (
                "The backup service has a problem",
                "The provider refused the backup service's own credentials. This is our fault, not yours; we have been alerted.",
                "Try again later; your IT provider will be told when it is fixed.",
                true,
            ),
            Self::Conflict | Self::Store(_) => (
                "Something went wrong",
                "The authorization could not be saved just now.",
                "Try again in a minute.",
                true,
            ),
        };
        Explanation {
            title,
            cause,
            fix,
            retry,
        }
    }

    /// The failure as it is recorded on the account for the partner, for the refusals the
    /// provider reports (the admin declined, signed in wrong, a policy blocks, ...). Refused
    /// states, forged or mismatched sign-ins and our own faults are not recorded: they change
    /// nothing.
    pub fn recorded(&self) -> Option<(ConsentFailureCode, Option<String>)> {
        use ConsentFailureCode as C;
        match self {
            Self::Declined => Some((C::Declined, None)),
            Self::WrongAccount => Some((C::WrongAccount, Some("AADSTS50020".into()))),
            Self::ConsentBlocked(code) => Some((C::ConsentBlocked, Some(format!("AADSTS{code}")))),
            Self::ServicePrincipalMissing => Some((C::ServiceMissing, Some("AADSTS650052".into()))),
            Self::AppUnavailable(code) => Some((C::AppUnavailable, Some(format!("AADSTS{code}")))),
            Self::TenantGone => Some((C::TenantGone, None)),
            Self::ProviderError(code) => Some((C::ProviderError, Some(code.clone()))),
            _ => None,
        }
    }

    /// The facts a page names beside its words (which tenants differ).
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::TenantMismatch { expected, found } => {
                Some(format!("Expected tenant: {expected}. Tenant signed in to: {found}."))
            }
            _ => None,
        }
    }
}

/// Where a successful (or replayed) callback sends the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect(pub String);

/// Maps the AADSTS code in a Microsoft consent error to its page.
fn microsoft_error(error: &str, description: &str) -> ConsentError {
    let code = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|w| w.strip_prefix("AADSTS"))
        .unwrap_or("");
    match code {
        "65004" => ConsentError::Declined,
        "50020" => ConsentError::WrongAccount,
        "90094" | "90008" => ConsentError::ConsentBlocked(code.to_owned()),
        "650052" => ConsentError::ServicePrincipalMissing,
        "700016" | "7000112" | "650051" => ConsentError::AppUnavailable(code.to_owned()),
        "500014" | "90002" => ConsentError::TenantGone,
        _ if error == "access_denied" => ConsentError::Declined,
        _ => ConsentError::ProviderError(if code.is_empty() {
            error.to_owned()
        } else {
            format!("AADSTS{code}")
        }),
    }
}

/// A state that passed every check, with the records it points at.
struct OpenState {
    key: crate::store::Key,
    version: u64,
    state: StateItem,
    account_item: Item,
    account: AccountItem,
}

enum StateCheck {
    Open(Box<OpenState>),
    Replay(Redirect),
}

async fn check_state(s: &impl Ports, provider: Provider, state: Option<&str>) -> Result<StateCheck, ConsentError> {
    let raw = state.filter(|v| !v.is_empty()).ok_or(ConsentError::MissingState)?;
    let parts = s
        .signer()
        .open(&state_purpose(provider), raw)
        .ok_or(ConsentError::ForgedState)?;
    let [account_id, exp, _random] = parts.as_slice() else {
        return Err(ConsentError::ForgedState);
    };
    let key = keys::oauth_state(&sha256_hex(raw));
    let item = s.store().get(&key).await?.ok_or(ConsentError::ExpiredState)?;
    let state: StateItem = item.record().map_err(ConsentError::Store)?;
    if state.account_id.as_str() != *account_id
        || state.provider != provider
        || exp.parse::<i64>().ok() != Some(state.expires_at.timestamp())
    {
        return Err(ConsentError::ForgedState);
    }
    if state.consumed_at.is_some() {
        return match state.outcome {
            Some(o) => Ok(StateCheck::Replay(Redirect(o.redirect_to))),
            None => Err(ConsentError::ReplayedState),
        };
    }
    if state.expires_at <= s.clock().now() {
        return Err(ConsentError::ExpiredState);
    }
    let account_item = s
        .store()
        .get(&keys::account(&state.partner_id, &state.account_id))
        .await?
        .ok_or(ConsentError::ForgedState)?;
    let account: AccountItem = account_item.record()?;
    if account.status == AccountStatus::Disabled {
        return Err(ConsentError::ReplayedState);
    }
    Ok(StateCheck::Open(Box::new(OpenState {
        key,
        version: item.version,
        state,
        account_item,
        account,
    })))
}

/// What the provider proved about the grant.
struct Proven {
    tenant_id: String,
    tenant_domain: Option<String>,
    missing: Vec<String>,
    refresh_token_enc: Option<String>,
}

fn token_failure(e: TokenError) -> ConsentError {
    match e {
        TokenError::NoConsent { .. } => ConsentError::NotProven,
        TokenError::TenantGone { .. } => ConsentError::TenantGone,
        TokenError::AppCredentials { code } => {
            tracing::error!(
                code,
                "the provider refused the service's own credentials: rotate the app secret"
            );
            ConsentError::ServiceMisconfigured
        }
        TokenError::Unavailable(cause) => {
            tracing::warn!(cause, "identity provider unavailable during a consent callback");
            ConsentError::ProviderUnavailable
        }
        TokenError::Refused(cause) => {
            tracing::warn!(cause, "identity provider refused during a consent callback");
            ConsentError::NotProven
        }
    }
}

/// `GET /v1/callback/microsoft`: either leg, told apart by the state's phase.
#[tracing::instrument(skip_all, fields(account_id))]
pub async fn microsoft(s: &impl Ports, cb: &MicrosoftCallback) -> Result<Redirect, ConsentError> {
    if let Some(error) = cb.error.as_deref().filter(|e| !e.is_empty()) {
        let e = microsoft_error(error, cb.error_description.as_deref().unwrap_or(""));
        tracing::info!(error, cause = %e, "sign-in or admin consent failed at Microsoft");
        record_failure(s, Provider::Microsoft, cb.state.as_deref(), &e).await;
        return Err(e);
    }
    let open = match check_state(s, Provider::Microsoft, cb.state.as_deref()).await? {
        StateCheck::Replay(r) => return Ok(r),
        StateCheck::Open(o) => o,
    };
    tracing::Span::current().record("account_id", open.account.id.as_str());
    match open.state.phase {
        StatePhase::SignIn => signed_in(s, *open, cb).await,
        StatePhase::Consent => consented(s, *open, cb).await,
    }
}

/// A refusal the provider reported, recorded on the account of the callback's state when that
/// state is one we issued and still open (nothing else changes: the state stays usable, the
/// link too, so the admin can try again). Without such a state nothing is recorded: a
/// provider's error page alone names no account.
async fn record_failure(s: &impl Ports, provider: Provider, state: Option<&str>, e: &ConsentError) {
    let Some((code, provider_code)) = e.recorded() else {
        return;
    };
    let Ok(StateCheck::Open(open)) = check_state(s, provider, state).await else {
        return;
    };
    let now = s.clock().now();
    let failure = keys::ConsentFailure {
        code,
        provider_code,
        cause: e.explain().cause.to_owned(),
        at: now,
    };
    // The account and the log's entry in one transaction.
    let detail = match serde_json::to_value(&failure) {
        Ok(d) => d,
        Err(e) => return tracing::warn!(cause = %e, "the consent failure could not be recorded"),
    };
    let recorded = crate::repo::accounts::modify_with(
        s,
        &keys::account(&open.account.partner_id, &open.account.id),
        |a| {
            a.consent_failure = Some(failure.clone());
            Ok::<_, StoreError>(true)
        },
        |_, a| {
            let detail = detail.clone();
            let actor = Actor::ClientAdmin { email: None };
            Ok(vec![audit::account_entry(
                a,
                actor,
                AuditAction::ConsentFailed,
                detail,
                now,
            )?])
        },
    )
    .await;
    match recorded {
        Ok(_) => tracing::info!(account_id = %open.account.id, ?code, "consent failure recorded"),
        Err(e) => tracing::warn!(cause = %e, "the consent failure could not be recorded"),
    }
}

/// Steps 3-5: the admin signed in; the ID token names the tenant; on to consent for it.
async fn signed_in(s: &impl Ports, open: OpenState, cb: &MicrosoftCallback) -> Result<Redirect, ConsentError> {
    let Some(code) = cb.code.as_deref().filter(|c| !c.is_empty()) else {
        if cb.admin_consent.is_some() {
            tracing::warn!("admin-consent callback with a sign-in state: nobody signed in through this link");
            return Err(ConsentError::SignInMissing);
        }
        return Err(ConsentError::Incomplete);
    };
    let verifier = pkce_verifier(s, &open)?;
    let claims = s
        .microsoft()
        .redeem_sign_in(code, secrecy::ExposeSecret::expose_secret(&verifier))
        .await
        .map_err(sign_in_failure)?;
    let tenant_id = verify_id_token(s, &open.state, &claims)?;
    if let Some(wids) = &claims.wids
        && !wids.iter().any(|w| CONSENTING_ADMIN_ROLES.contains(&w.as_str()))
    {
        return Err(ConsentError::NotAdmin);
    }
    expected_tenant(s, &open.account, &tenant_id).await?;
    ownership(s, &open.account, &tenant_id).await?;

    let now = s.clock().now();
    let mut consumed = open.state.clone();
    consumed.consumed_at = Some(now);
    let mut state_item = Item::from_record(open.key.clone(), &consumed)?;
    state_item.expires_at = Some(open.state.expires_at.timestamp() + 24 * 3600);
    state_item.version = open.version + 1;
    let (consent_op, url) = consent_state(s, &open.state, &open.account, &tenant_id)?;
    let ops = vec![
        WriteOp::Put {
            item: state_item,
            condition: Condition::VersionIs(open.version),
        },
        consent_op,
    ];
    match s.store().transact(ops).await {
        Ok(()) => {}
        // The same sign-in completed concurrently.
        Err(StoreError::ConditionFailed) => return Err(ConsentError::ReplayedState),
        Err(e) => return Err(e.into()),
    }
    tracing::info!("admin signed in; tenant bound, on to admin consent");
    Ok(Redirect(url))
}

fn pkce_verifier(s: &impl Ports, open: &OpenState) -> Result<secrecy::SecretString, ConsentError> {
    let enc = open
        .state
        .pkce_verifier_enc
        .as_deref()
        .ok_or(ConsentError::ForgedState)?;
    s.encryptor()
        .decrypt(enc, open.account.id.as_str())
        .map_err(|_| ConsentError::ForgedState)
}

/// A refused sign-in code (used, expired, another verifier) proves nothing; the provider
/// being down or refusing our own secret say so.
fn sign_in_failure(e: TokenError) -> ConsentError {
    match e {
        TokenError::NoConsent { .. } | TokenError::Refused(_) => ConsentError::InvalidSignIn("code refused"),
        other => token_failure(other),
    }
}

/// Clock skew tolerated on an ID token's expiry.
const ID_TOKEN_SKEW_SECONDS: i64 = 300;

/// Step 3: the ID token from our own code exchange, checked; answers the signed-in tenant.
/// Its signature is taken on trust: it came straight from the token endpoint over TLS
/// (OpenID Connect Core 3.1.3.7).
fn verify_id_token(s: &impl Ports, state: &StateItem, c: &IdTokenClaims) -> Result<String, ConsentError> {
    if c.aud != s.microsoft().client_id() {
        return Err(ConsentError::InvalidSignIn("audience"));
    }
    let tenant = c
        .tid
        .as_deref()
        .and_then(TenantId::parse)
        .ok_or(ConsentError::InvalidSignIn("tenant"))?;
    if c.iss != s.microsoft().issuer(tenant.as_str()) {
        return Err(ConsentError::InvalidSignIn("issuer"));
    }
    let nonce_ok = matches!((&c.nonce, &state.nonce_hash), (Some(n), Some(h)) if &sha256_hex(n) == h);
    if !nonce_ok {
        return Err(ConsentError::InvalidSignIn("nonce"));
    }
    if c.exp + ID_TOKEN_SKEW_SECONDS <= s.clock().now().timestamp() {
        return Err(ConsentError::InvalidSignIn("expired"));
    }
    Ok(tenant.as_str().to_owned())
}

/// Step 4: the tenant the partner entered for this client (an ID, or a domain resolved by
/// the provider) must be the one signed in to.
async fn expected_tenant(s: &impl Ports, account: &AccountItem, tenant_id: &str) -> Result<(), ConsentError> {
    let mismatch = |expected: &str| ConsentError::TenantMismatch {
        expected: expected.to_owned(),
        found: tenant_id.to_owned(),
    };
    match &account.tenant {
        Some(TenantRef::Id(id)) if id.as_str() != tenant_id => Err(mismatch(id.as_str())),
        Some(TenantRef::Domain(domain)) => match s.microsoft().tenant_of_domain(domain).await {
            Ok(Some(t)) if t == tenant_id => Ok(()),
            Ok(_) => Err(mismatch(domain)),
            Err(e) => Err(token_failure(e)),
        },
        _ => Ok(()),
    }
}

/// Steps 6-8: admin consent came back for the tenant the sign-in proved.
async fn consented(s: &impl Ports, open: OpenState, cb: &MicrosoftCallback) -> Result<Redirect, ConsentError> {
    if !cb
        .admin_consent
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Err(ConsentError::Incomplete);
    }
    let bound = open.state.tenant_id.clone().ok_or(ConsentError::ForgedState)?;
    let claimed = cb
        .tenant
        .as_deref()
        .and_then(TenantId::parse)
        .ok_or(ConsentError::Incomplete)?;
    if claimed.as_str() != bound {
        tracing::warn!("admin consent came back for another tenant than the signed-in one");
        return Err(ConsentError::TenantMismatch {
            expected: bound,
            found: claimed.to_string(),
        });
    }
    let token = s.microsoft().fresh_app_token(&bound).await.map_err(token_failure)?;
    if !token.tenant_id.eq_ignore_ascii_case(&bound) {
        tracing::warn!("token tenant differs from the signed-in tenant");
        return Err(ConsentError::TenantMismatch {
            expected: bound,
            found: token.tenant_id,
        });
    }
    let missing = missing_roles(&token.roles);
    let domain = match &open.account.tenant {
        Some(TenantRef::Domain(d)) => Some(d.clone()),
        _ => None,
    };
    let proven = Proven {
        tenant_id: bound,
        tenant_domain: domain,
        missing,
        refresh_token_enc: None,
    };
    finish(s, open, proven).await
}

/// `GET /v1/callback/google`.
#[tracing::instrument(skip_all, fields(account_id))]
pub async fn google(s: &impl Ports, cb: &GoogleCallback) -> Result<Redirect, ConsentError> {
    if let Some(error) = cb.error.as_deref().filter(|e| !e.is_empty()) {
        tracing::info!(error, "Google authorization failed");
        let e = if error == "access_denied" {
            ConsentError::Declined
        } else {
            ConsentError::ProviderError(error.to_owned())
        };
        record_failure(s, Provider::Google, cb.state.as_deref(), &e).await;
        return Err(e);
    }
    let open = match check_state(s, Provider::Google, cb.state.as_deref()).await? {
        StateCheck::Replay(r) => return Ok(r),
        StateCheck::Open(o) => o,
    };
    tracing::Span::current().record("account_id", open.account.id.as_str());
    let code = cb
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or(ConsentError::Incomplete)?;
    let verifier = pkce_verifier(s, &open)?;
    let grant = s
        .google()
        .exchange_code(code, secrecy::ExposeSecret::expose_secret(&verifier))
        .await
        .map_err(token_failure)?;
    let refresh = grant.refresh_token.as_ref().ok_or_else(|| {
        tracing::warn!("Google returned no refresh token");
        ConsentError::NotProven
    })?;
    let customer = s
        .google()
        .probe_directory(&grant.access_token)
        .await
        .map_err(token_failure)?;
    if let Some(TenantRef::Domain(d)) = &open.account.tenant
        && !d.eq_ignore_ascii_case(&customer.domain)
    {
        return Err(ConsentError::TenantMismatch {
            expected: d.clone(),
            found: customer.domain,
        });
    }
    let granted: Vec<&str> = if grant.scopes.is_empty() {
        cb.scope.as_deref().unwrap_or("").split(' ').collect()
    } else {
        grant.scopes.iter().map(String::as_str).collect()
    };
    let missing = GOOGLE_SCOPES
        .iter()
        .filter(|s| !granted.contains(s))
        .map(|s| (*s).to_owned())
        .collect();
    let proven = Proven {
        tenant_id: customer.customer_id,
        tenant_domain: Some(customer.domain),
        missing,
        refresh_token_enc: Some(s.encryptor().encrypt(refresh, open.account.id.as_str())),
    };
    finish(s, *open, proven).await
}

/// Steps 4 and 6: ownership, then the one transaction, the partner's email and the redirect.
async fn finish(s: &impl Ports, open: OpenState, proven: Proven) -> Result<Redirect, ConsentError> {
    let OpenState {
        key,
        version,
        state,
        account_item,
        mut account,
    } = open;
    let platform = account.platform;
    let owner_condition = ownership(s, &account, &proven.tenant_id).await?;
    let now = s.clock().now();
    let redirect = redirect_for(s, &state, &account);
    let before = account.clone();
    authorize(&mut account, &proven, now);
    // Discovery starts at once: its first job is recorded with the activation and sent
    // right after it (should the queue refuse, the account is due and the schedule sends it).
    let first = Job::new(&account.partner_id, &account.id, JobKind::First, 0);
    crate::repo::jobs::mark(&mut account, &first, now, std::time::Duration::ZERO);

    let mut consumed = state.clone();
    consumed.consumed_at = Some(now);
    consumed.outcome = Some(StateOutcome {
        redirect_to: redirect.0.clone(),
    });
    let mut state_item = Item::from_record(key.clone(), &consumed)?;
    state_item.expires_at = Some(state.expires_at.timestamp() + 24 * 3600);
    state_item.version = version + 1;

    let mut ops = vec![WriteOp::Put {
        item: state_item,
        condition: Condition::VersionIs(version),
    }];
    ops.extend(account_ops(
        &account_item,
        &account,
        owner_condition,
        state.link_hash.as_deref(),
        now,
    )?);
    ops.extend(crate::repo::due::entry_ops(Some(&before), &account)?);
    // In the log with the activation itself; a consent that lacks permissions says so too.
    let mut actions = vec![AuditAction::ConsentGranted];
    if !account.missing_permissions.is_empty() {
        actions.push(AuditAction::ReauthorizationRequired);
    }
    for action in actions {
        ops.push(audit::account_entry(
            &account,
            Actor::ClientAdmin { email: None },
            action,
            serde_json::json!({
                "tenant_id": proven.tenant_id,
                "missing_permissions": account.missing_permissions,
            }),
            now,
        )?);
    }
    match s.store().transact(ops).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // A concurrent callback with the same state won, or the account/tenant changed.
            if let Some(item) = s.store().get(&key).await?
                && let Ok(StateItem { outcome: Some(o), .. }) = item.record::<StateItem>()
            {
                return Ok(Redirect(o.redirect_to));
            }
            if let Some(item) = s.store().get(&keys::tenant_owner(platform, &proven.tenant_id)).await?
                && item
                    .record::<TenantOwnerItem>()
                    .is_ok_and(|o| o.account_id != account.id)
            {
                return Err(ConsentError::TenantOwned);
            }
            return Err(ConsentError::Conflict);
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(
        platform = platform.as_str(),
        status = ?account.status,
        missing = account.missing_permissions.len(),
        "consent proven; account authorized"
    );
    crate::repo::jobs::send(s, &first, std::time::Duration::ZERO).await;
    notify_partner(s, &account).await;
    Ok(redirect)
}

/// Checks the tenant may be this account's: not another tenant than the one it was
/// authorized for, not owned by another account. Answers the condition for claiming it
/// (`None`: already this account's).
async fn ownership(s: &impl Ports, account: &AccountItem, tenant_id: &str) -> Result<Option<Condition>, ConsentError> {
    if let Some(existing) = &account.tenant_id
        && existing != tenant_id
    {
        // Already authorized for one tenant: a consent elsewhere must not move it.
        return Err(ConsentError::TenantMismatch {
            expected: existing.clone(),
            found: tenant_id.to_owned(),
        });
    }
    match s.store().get(&keys::tenant_owner(account.platform, tenant_id)).await? {
        Some(item) if item.record::<TenantOwnerItem>()?.account_id != account.id => Err(ConsentError::TenantOwned),
        Some(_) => Ok(None),
        None => Ok(Some(Condition::NotExists)),
    }
}

/// The account as proven consent leaves it.
fn authorize(account: &mut AccountItem, proven: &Proven, now: chrono::DateTime<chrono::Utc>) {
    account.status = if proven.missing.is_empty() {
        AccountStatus::Active
    } else {
        AccountStatus::ReauthorizationRequired
    };
    account.tenant_id = Some(proven.tenant_id.clone());
    if proven.tenant_domain.is_some() {
        account.tenant_domain = proven.tenant_domain.clone();
    }
    account.missing_permissions = proven.missing.clone();
    account.consent_failure = None;
    account.authorized_at = Some(now);
    account.discovery_due_at = Some(now);
    if proven.refresh_token_enc.is_some() {
        account.refresh_token_enc = proven.refresh_token_enc.clone();
    }
}

/// The account's conditional update, the tenant's owner record when unclaimed, and the
/// link the consent came through marked used.
fn account_ops(
    account_item: &Item,
    account: &AccountItem,
    owner_condition: Option<Condition>,
    link_hash: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<WriteOp>, ConsentError> {
    let tenant_id = account.tenant_id.as_deref().unwrap_or_default();
    let mut updated = Item::from_record(account_item.key.clone(), account)?
        .with_gsi1(keys::account_by_tenant(account.platform, tenant_id));
    updated.version = account_item.version + 1;
    let mut ops = vec![WriteOp::Put {
        item: updated,
        condition: Condition::VersionIs(account_item.version),
    }];
    if let Some(condition) = owner_condition {
        let owner = TenantOwnerItem {
            partner_id: account.partner_id.clone(),
            account_id: account.id.clone(),
            since: now,
        };
        ops.push(WriteOp::Put {
            item: Item::from_record(keys::tenant_owner(account.platform, tenant_id), &owner)?,
            condition,
        });
    }
    if let Some(link) = link_hash {
        ops.push(WriteOp::Update {
            key: keys::authorization_link(link),
            update: Update::default().set("used_at", now)?,
            condition: Condition::Exists,
        });
    }
    Ok(ops)
}

/// Partners land on the console's account page; clients on the "being set up" page.
fn redirect_for(s: &impl Ports, state: &StateItem, account: &AccountItem) -> Redirect {
    match state.audience {
        Audience::Partner => Redirect(format!("{}/accounts/{}", s.links().console_url, account.id)),
        Audience::Client => {
            let token = s
                .signer()
                .seal(DONE, &[account.partner_id.as_str(), account.id.as_str()]);
            Redirect(format!("{}/authorize/done/{token}", s.links().public_base_url))
        }
    }
}

const DONE: &str = "done";

/// The "protection is being set up" page's facts, from its sealed address.
pub struct SetupStarted {
    pub partner: String,
    pub client: String,
    pub platform: Platform,
    pub missing: Vec<String>,
}

pub async fn setup_started(s: &impl Ports, token: &str) -> Result<SetupStarted, ConsentError> {
    let parts = s.signer().open(DONE, token).ok_or(ConsentError::ForgedState)?;
    let [partner_id, account_id] = parts.as_slice() else {
        return Err(ConsentError::ForgedState);
    };
    let (Some(partner_id), Some(account_id)) = (
        crate::domain::PartnerId::parse(partner_id),
        crate::domain::AccountId::parse(account_id),
    ) else {
        return Err(ConsentError::ForgedState);
    };
    let account: AccountItem = s
        .store()
        .get(&keys::account(&partner_id, &account_id))
        .await?
        .ok_or(ConsentError::ForgedState)?
        .record()?;
    let partner = match s.store().get(&keys::partner(&partner_id)).await? {
        Some(i) => i.record::<keys::PartnerItem>()?.name,
        None => "Your IT provider".to_owned(),
    };
    Ok(SetupStarted {
        partner,
        client: account.client_name,
        platform: account.platform,
        missing: account.missing_permissions,
    })
}

/// Tells the member who added the account. A mail failure is logged, never undoes consent.
async fn notify_partner(s: &impl Ports, account: &AccountItem) {
    if account.offer.is_some() {
        // Through an offer: counted, logged, and its owners and admins told instead.
        if let Err(e) = crate::repo::offers::accepted(s, account).await {
            tracing::error!(cause = %e, account_id = %account.id, "could not record the accepted offer");
        }
        return;
    }
    let Ok(to) = EmailAddress::parse("email", &account.created_by) else {
        return;
    };
    let url = format!("{}/accounts/{}", s.links().console_url, account.id);
    let message = templates::account_authorized(
        &to,
        &account.client_name,
        account.platform.display_name(),
        account
            .tenant_domain
            .as_deref()
            .or(account.tenant_id.as_deref())
            .unwrap_or(""),
        &account.missing_permissions,
        &url,
    );
    let sent = match message {
        Ok(message) => s.mailer().send(&message).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::error!(cause = %e, account_id = %account.id, "could not email the partner about the authorization");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_errors_map_by_aadsts_code() {
        let d = |s: &str| microsoft_error("access_denied", s);
        assert!(matches!(
            d("AADSTS65004: User declined to consent"),
            ConsentError::Declined
        ));
        assert!(matches!(
            microsoft_error("invalid_request", "AADSTS50020: User account from"),
            ConsentError::WrongAccount
        ));
        assert!(matches!(
            microsoft_error("invalid_request", "AADSTS90094: admin"),
            ConsentError::ConsentBlocked(_)
        ));
        assert!(matches!(
            microsoft_error("x", "AADSTS650052: missing"),
            ConsentError::ServicePrincipalMissing
        ));
        assert!(matches!(
            microsoft_error("unauthorized_client", "AADSTS700016: app"),
            ConsentError::AppUnavailable(_)
        ));
        assert!(matches!(
            microsoft_error("x", "AADSTS90002: Tenant"),
            ConsentError::TenantGone
        ));
        assert!(matches!(
            microsoft_error("server_error", "boom"),
            ConsentError::ProviderError(_)
        ));
    }
}
