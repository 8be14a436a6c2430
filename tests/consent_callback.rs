//! The consent callbacks through the router, with scripted identity providers (the in-memory
//! twins in `common::fakes`). Every refusal checks its page and that nothing was written.

mod common;

use axum::http::{Method, StatusCode};
use chrono::Duration;
use common::fakes::{TENANT_A, TENANT_B};
use common::*;
use onboarding::identity::TokenError;
use serde_json::{Value, json};

const MEMBER: &str = "owner@msp.example";
const ADMIN: &str = "admin@contoso.example";

struct Flow {
    app: TestApp,
    token: String,
}

impl Flow {
    async fn new() -> Self {
        Self::on(TestApp::new()).await
    }

    async fn on(app: TestApp) -> Self {
        let token = registered(&app, "Acme IT", MEMBER).await;
        Self { app, token }
    }

    async fn account(&self, body: Value) -> Value {
        let mut b = json!({"client_name": "Contoso Ltd", "platform": "microsoft365", "managed_by": "client",
                           "has_admin_credentials": false, "authorization_email": ADMIN});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        let a = call(
            &self.app,
            Method::POST,
            "/v1/accounts",
            Some(b.to_string()),
            Some(&self.token),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        a.json()
    }

    async fn view(&self, id: &str) -> Value {
        call(
            &self.app,
            Method::GET,
            &format!("/v1/accounts/{id}"),
            None,
            Some(&self.token),
        )
        .await
        .json()
    }

    /// Opens the newest link mailed to `to` and presses the button: the provider URL.
    async fn start(&self, to: &str) -> url::Url {
        let mail = self.app.mailer.to(to).last().cloned().expect("a link mail");
        let path = link_in(&mail.text, "/authorize/")
            .strip_prefix(BASE)
            .unwrap()
            .to_owned();
        let a = call(&self.app, Method::GET, &format!("{path}/start"), None, None).await;
        assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
        url::Url::parse(a.headers["location"].to_str().unwrap()).unwrap()
    }

    /// Opens the newest link mailed to `to`, and the admin of `tenant` signs in: the
    /// admin-consent URL for that tenant.
    async fn consent(&self, to: &str, tenant: &str) -> url::Url {
        let sign_in = self.start(to).await;
        signed_in(&self.app, &sign_in, tenant).await
    }

    async fn get(&self, path: &str) -> Answer {
        call(&self.app, Method::GET, path, None, None).await
    }
}

fn state_of(u: &url::Url) -> String {
    u.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn ms_callback(tenant: &str, state: &str) -> String {
    format!(
        "/v1/callback/microsoft?admin_consent=True&tenant={tenant}&state={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        enc(state)
    )
}

#[tokio::test]
async fn client_admin_consents_and_lands_on_the_setup_page() {
    let f = Flow::new().await;
    let acc = f.account(json!({})).await;
    let id = acc["id"].as_str().unwrap();
    let sign_in = f.start(ADMIN).await;
    assert!(
        sign_in
            .as_str()
            .starts_with("https://login.fake/organizations/oauth2/v2.0/authorize"),
        "the admin signs in first: {sign_in}"
    );
    let consent = signed_in(&f.app, &sign_in, TENANT_A).await;
    assert!(
        consent
            .as_str()
            .starts_with(&format!("https://login.fake/{TENANT_A}/v2.0/adminconsent")),
        "then consents for exactly the signed-in tenant: {consent}"
    );
    let state = state_of(&consent);

    let before = f.app.snapshot();
    let a = f.get(&ms_callback(TENANT_A, &state)).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
    let location = a.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{BASE}/authorize/done/")), "{location}");
    assert_eq!(a.headers["cache-control"], "no-store");

    // Store writes of one successful callback: state consumed, account updated (its first
    // discovery job recorded), tenant owner claimed, link marked used, the account's due
    // index entry, the audit log's entry, and the first job itself (the in-process queue
    // keeps it in the store).
    let after = f.app.snapshot();
    let changed: Vec<_> = after.iter().filter(|i| !before.contains(i)).collect();
    assert_eq!(changed.len(), 7, "writes per successful callback: {changed:#?}");
    assert!(
        changed
            .iter()
            .any(|i| i.key.pk.starts_with("AUDIT#") && i.attrs["action"] == "consent_granted"),
        "the consent is in the audit log: {changed:#?}"
    );
    assert!(
        changed
            .iter()
            .any(|i| i.key.pk == onboarding::store::keys::QUEUE_PENDING)
    );

    let v = f.view(id).await;
    assert_eq!(v["status"], "active");
    assert_eq!(v["tenant_id"], TENANT_A);
    assert_eq!(v["discovery"]["status"], "queued", "its first discovery job is queued");
    assert!(v["authorization"]["authorized_at"].is_string());

    // The partner is told.
    let told = f.app.mailer.to(MEMBER).last().cloned().unwrap();
    assert!(told.subject.contains("authorized"), "{}", told.subject);

    // The client's page.
    let page = f.get(location.strip_prefix(BASE).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("being set up") && page.text.contains("Acme IT"),
        "{}",
        page.text
    );

    // A browser refresh: the same redirect, nothing changes, no second email.
    let mails = f.app.mailer.messages().len();
    let again = f.get(&ms_callback(TENANT_A, &state)).await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert_eq!(again.headers["location"].to_str().unwrap(), location);
    assert_eq!(f.app.snapshot(), after);
    assert_eq!(f.app.mailer.messages().len(), mails);

    // The link is used now.
    let mail = f.app.mailer.to(ADMIN).last().cloned().unwrap();
    let path = link_in(&mail.text, "/authorize/")
        .strip_prefix(BASE)
        .unwrap()
        .to_owned();
    assert_eq!(f.get(&path).await.status, StatusCode::GONE);
}

#[tokio::test]
async fn partner_with_credentials_lands_on_the_console_account_page() {
    let f = Flow::new().await;
    let acc = f
        .account(json!({"managed_by": "partner", "has_admin_credentials": true, "tenant": TENANT_B}))
        .await;
    let url = url::Url::parse(acc["authorization_url"].as_str().unwrap()).unwrap();
    assert!(
        url.path().starts_with(&format!("/{TENANT_B}/")),
        "pre-entered tenant in the consent URL"
    );
    let consent = signed_in(&f.app, &url, TENANT_B).await;
    let a = f.get(&ms_callback(TENANT_B, &state_of(&consent))).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
    assert_eq!(
        a.headers["location"],
        format!("{BASE}/console/accounts/{}", acc["id"].as_str().unwrap()).as_str()
    );
}

#[tokio::test]
async fn a_token_lacking_roles_records_the_missing_permissions() {
    let f = Flow::new().await;
    let acc = f.account(json!({})).await;
    f.app
        .microsoft
        .grant_roles(TENANT_A, &["User.Read.All", "Group.Read.All"]);
    let state = state_of(&f.consent(ADMIN, TENANT_A).await);
    let a = f.get(&ms_callback(TENANT_A, &state)).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
    let v = f.view(acc["id"].as_str().unwrap()).await;
    assert_eq!(v["status"], "reauthorization_required");
    assert_eq!(
        v["missing_permissions"],
        json!(["Sites.Read.All", "Mail.ReadWrite", "Files.ReadWrite.All"])
    );
    let page = f
        .get(a.headers["location"].to_str().unwrap().strip_prefix(BASE).unwrap())
        .await;
    assert!(
        page.text.contains("up to an hour"),
        "the page says permissions can take time"
    );
}

/// Runs a callback the provider refused, with a state we issued: asserts its status, a phrase
/// of its page, that the account records the failure (`code`) for the partner, and that
/// nothing else changed (the state and the link stay usable) and nothing was mailed.
async fn refused_and_recorded(f: &Flow, path: &str, status: StatusCode, phrase: &str, account: &str, code: &str) {
    let before = without_consent_failure(f.app.snapshot());
    let logged = failures_logged(&f.app.snapshot());
    let mails = f.app.mailer.messages().len();
    let a = f.get(path).await;
    assert_eq!(a.status, status, "{path}: {}", a.text);
    assert!(a.text.contains(phrase), "{path}: expected {phrase:?} in {}", a.text);
    let v = f.view(account).await;
    let failure = &v["authorization"]["last_error"];
    assert_eq!(failure["code"], code, "{path}: {v}");
    assert!(failure["cause"].as_str().is_some_and(|c| c.len() > 20), "{path}: {v}");
    assert_eq!(v["status"], "waiting_for_authorization", "{path}");
    assert_eq!(
        without_consent_failure(f.app.snapshot()),
        before,
        "{path} wrote only the failure"
    );
    assert_eq!(
        failures_logged(&f.app.snapshot()),
        logged + 1,
        "{path}: one audit entry"
    );
    assert_eq!(f.app.mailer.messages().len(), mails, "{path} mailed nothing");
}

/// The audit log's `consent_failed` entries.
fn failures_logged(items: &[onboarding::store::Item]) -> usize {
    items
        .iter()
        .filter(|i| i.key.pk.starts_with("AUDIT#") && i.attrs["action"] == "consent_failed")
        .count()
}

/// The store without accounts' recorded consent failures (and their versions) and without the
/// audit log's `consent_failed` entries.
fn without_consent_failure(items: Vec<onboarding::store::Item>) -> Vec<onboarding::store::Item> {
    items
        .into_iter()
        .filter(|i| !(i.key.pk.starts_with("AUDIT#") && i.attrs["action"] == "consent_failed"))
        .map(|mut i| {
            if i.attrs.remove("consent_failure").is_some() || i.key.sk.starts_with("ACCOUNT#") {
                i.version = 0;
            }
            i
        })
        .collect()
}

/// Runs a bad callback; asserts its status, a phrase of its page, and that nothing changed.
async fn refused(f: &Flow, path: &str, status: StatusCode, phrase: &str) {
    let before = f.app.snapshot();
    let mails = f.app.mailer.messages().len();
    let a = f.get(path).await;
    assert_eq!(a.status, status, "{path}: {}", a.text);
    assert!(a.text.contains(phrase), "{path}: expected {phrase:?} in {}", a.text);
    assert_eq!(f.app.snapshot(), before, "{path} wrote nothing");
    assert_eq!(f.app.mailer.messages().len(), mails, "{path} mailed nothing");
}

#[tokio::test]
async fn forged_missing_and_cross_provider_states_are_refused() {
    let f = Flow::new().await;
    let acc = f.account(json!({})).await;
    let state = state_of(&f.consent(ADMIN, TENANT_A).await);
    refused(
        &f,
        "/v1/callback/microsoft?admin_consent=True&tenant=x",
        StatusCode::BAD_REQUEST,
        "cannot be used",
    )
    .await;
    refused(&f, "/v1/callback/microsoft", StatusCode::BAD_REQUEST, "cannot be used").await;
    refused(
        &f,
        &ms_callback(TENANT_A, "forged.state.value"),
        StatusCode::BAD_REQUEST,
        "cannot be used",
    )
    .await;
    // Tampering with any byte breaks the seal.
    let mut tampered = state.clone().into_bytes();
    tampered[3] = if tampered[3] == b'a' { b'b' } else { b'a' };
    refused(
        &f,
        &ms_callback(TENANT_A, &String::from_utf8(tampered).unwrap()),
        StatusCode::BAD_REQUEST,
        "cannot be used",
    )
    .await;
    // A Microsoft state on the Google callback.
    refused(
        &f,
        &format!("/v1/callback/google?code=abc&state={}", enc(&state)),
        StatusCode::BAD_REQUEST,
        "cannot be used",
    )
    .await;
    // Undecodable query.
    refused(
        &f,
        "/v1/callback/microsoft?state=%ZZ",
        StatusCode::BAD_REQUEST,
        "cannot be used",
    )
    .await;
    // No tenant, or not a GUID.
    refused(
        &f,
        &format!("/v1/callback/microsoft?admin_consent=True&state={}", enc(&state)),
        StatusCode::BAD_REQUEST,
        "cannot be used",
    )
    .await;
    refused(
        &f,
        &ms_callback("contoso.com", &state),
        StatusCode::BAD_REQUEST,
        "cannot be used",
    )
    .await;
    // After all that, the genuine callback still works.
    assert_eq!(f.get(&ms_callback(TENANT_A, &state)).await.status, StatusCode::FOUND);
    assert_eq!(f.view(acc["id"].as_str().unwrap()).await["status"], "active");
}

#[tokio::test]
async fn another_accounts_state_cannot_activate_this_one() {
    let f = Flow::new().await;
    let a = f.account(json!({"tenant": TENANT_A})).await;
    let state_a = state_of(&f.consent(ADMIN, TENANT_A).await);
    let b = f
        .account(json!({"client_name": "Fabrikam", "authorization_email": "it@fabrikam.example"}))
        .await;
    let _ = f.start("it@fabrikam.example").await;
    // A's state names A only: it can't be pointed at B, and for B's tenant it's a mismatch.
    refused(
        &f,
        &ms_callback(TENANT_B, &state_a),
        StatusCode::CONFLICT,
        "not the expected tenant",
    )
    .await;
    assert_eq!(
        f.view(b["id"].as_str().unwrap()).await["status"],
        "waiting_for_authorization"
    );
    assert_eq!(
        f.view(a["id"].as_str().unwrap()).await["status"],
        "waiting_for_authorization"
    );
}

#[tokio::test]
async fn expired_and_replayed_states() {
    let f = Flow::new().await;
    f.account(json!({})).await;
    let state = state_of(&f.consent(ADMIN, TENANT_A).await);
    f.app.clock.advance(Duration::minutes(61));
    refused(&f, &ms_callback(TENANT_A, &state), StatusCode::GONE, "expired").await;

    // Two consents started from one link: the first activates; the second, for the same
    // tenant, lands on the same page and leaves the account active.
    let f = Flow::new().await;
    let acc = f.account(json!({})).await;
    let s1 = state_of(&f.consent(ADMIN, TENANT_A).await);
    let s2 = state_of(&f.consent(ADMIN, TENANT_A).await);
    let first = f.get(&ms_callback(TENANT_A, &s1)).await;
    assert_eq!(first.status, StatusCode::FOUND);
    let second = f.get(&ms_callback(TENANT_A, &s2)).await;
    assert_eq!(second.status, StatusCode::FOUND, "{}", second.text);
    assert_eq!(f.view(acc["id"].as_str().unwrap()).await["status"], "active");
    // ...but for another tenant it is refused: an authorized account never moves.
    let f2 = Flow::new().await;
    f2.account(json!({})).await;
    let s1 = state_of(&f2.consent(ADMIN, TENANT_A).await);
    let s2 = f2.start(ADMIN).await;
    assert_eq!(f2.get(&ms_callback(TENANT_A, &s1)).await.status, StatusCode::FOUND);
    // The admin of another tenant signs in through the second start: refused at once.
    refused(
        &f2,
        &sign_in_callback(&f2.app, &s2, TENANT_B),
        StatusCode::CONFLICT,
        "not the expected tenant",
    )
    .await;
}

#[tokio::test]
async fn provider_errors_are_read_first_explained_and_recorded_for_the_partner() {
    let f = Flow::new().await;
    let acc = f.account(json!({})).await;
    let id = acc["id"].as_str().unwrap();
    assert_eq!(f.view(id).await["authorization"]["last_error"], json!(null));
    let state = enc(&state_of(&f.start(ADMIN).await));
    let cases = [
        (
            "error=access_denied&error_description=AADSTS65004%3A+User+declined",
            "not granted",
            "declined",
        ),
        (
            "admin_consent=True&tenant=11111111-1111-4111-8111-111111111111&error=access_denied&error_description=AADSTS65004",
            "not granted",
            "declined",
        ),
        (
            "error=invalid_request&error_description=AADSTS50020%3A+User+account+from+identity+provider",
            "private browser window",
            "wrong_account",
        ),
        (
            "error=invalid_request&error_description=AADSTS90094%3A+admin",
            "global administrator",
            "consent_blocked",
        ),
        (
            "error=unauthorized_client&error_description=AADSTS700016%3A+Application+not+found",
            "not available",
            "app_unavailable",
        ),
        (
            "error=invalid_request&error_description=AADSTS90002%3A+Tenant+not+found",
            "disabled or deleted",
            "tenant_gone",
        ),
        ("error=server_error", "did not complete", "provider_error"),
    ];
    for (q, phrase, code) in cases {
        refused_and_recorded(
            &f,
            &format!("/v1/callback/microsoft?{q}&state={state}"),
            StatusCode::BAD_REQUEST,
            phrase,
            id,
            code,
        )
        .await;
    }
    let v = f.view(id).await;
    assert_eq!(v["authorization"]["last_error"]["provider_code"], "server_error", "{v}");
    // A forged state records nothing anywhere.
    refused(
        &f,
        "/v1/callback/microsoft?error=access_denied&error_description=AADSTS65004&state=forged",
        StatusCode::BAD_REQUEST,
        "not granted",
    )
    .await;
    // Declined without any state at all still gets its page.
    refused(
        &f,
        "/v1/callback/microsoft?error=access_denied&error_description=AADSTS65004",
        StatusCode::BAD_REQUEST,
        "not granted",
    )
    .await;
}

#[tokio::test]
async fn tenant_mismatch_and_tenant_already_owned_change_nothing() {
    let f = Flow::new().await;
    // Pre-entered by domain: consent in another tenant is refused.
    f.account(json!({"tenant": "a.onmicrosoft.com"})).await;
    let sign_in = f.start(ADMIN).await;
    let before = f.app.snapshot();
    let a = f.get(&sign_in_callback(&f.app, &sign_in, TENANT_B)).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    assert!(a.text.contains("not the expected tenant"), "{}", a.text);
    assert!(
        a.text.contains("a.onmicrosoft.com") && a.text.contains(TENANT_B),
        "the page names both tenants: {}",
        a.text
    );
    assert_eq!(f.app.snapshot(), before, "nothing written");
    // The right tenant works.
    let consent = signed_in(&f.app, &f.start(ADMIN).await, TENANT_A).await;
    assert_eq!(
        f.get(&ms_callback(TENANT_A, &state_of(&consent))).await.status,
        StatusCode::FOUND
    );

    // Tenant A is owned now: another account (even another partner's) cannot take it.
    let other = registered(&f.app, "Rival IT", "rival@other.example").await;
    let body = json!({"client_name": "Contoso again", "platform": "microsoft365", "managed_by": "partner", "has_admin_credentials": true});
    let acc = call(
        &f.app,
        Method::POST,
        "/v1/accounts",
        Some(body.to_string()),
        Some(&other),
    )
    .await
    .json();
    let url = url::Url::parse(acc["authorization_url"].as_str().unwrap()).unwrap();
    refused(
        &f,
        &sign_in_callback(&f.app, &url, TENANT_A),
        StatusCode::CONFLICT,
        "already protected",
    )
    .await;
}

#[tokio::test]
async fn token_endpoint_failures_say_try_again_and_trying_again_works() {
    let f = Flow::new().await;
    let acc = f.account(json!({})).await;
    let state = state_of(&f.consent(ADMIN, TENANT_A).await);
    let path = ms_callback(TENANT_A, &state);

    f.app
        .microsoft
        .fail_with(Some(TokenError::Unavailable("503 from the token endpoint".into())));
    refused(&f, &path, StatusCode::BAD_GATEWAY, "Try again").await;
    let page = f.get(&path).await;
    assert!(page.text.contains("id=\"retry\""), "a retry button");

    f.app
        .microsoft
        .fail_with(Some(TokenError::Unavailable("timeout".into())));
    refused(&f, &path, StatusCode::BAD_GATEWAY, "did not answer").await;

    // Consent not (yet) visible in the tenant: no activation.
    f.app
        .microsoft
        .fail_with(Some(TokenError::NoConsent { code: "7000229".into() }));
    refused(&f, &path, StatusCode::FORBIDDEN, "could not be confirmed").await;

    // Our own secret refused: our fault, said so.
    f.app
        .microsoft
        .fail_with(Some(TokenError::AppCredentials { code: "7000215".into() }));
    refused(&f, &path, StatusCode::BAD_GATEWAY, "our fault").await;

    f.app.microsoft.fail_with(None);
    let a = f.get(&path).await;
    assert_eq!(a.status, StatusCode::FOUND, "trying again works: {}", a.text);
    assert_eq!(f.view(acc["id"].as_str().unwrap()).await["status"], "active");
}

#[tokio::test]
async fn google_workspace_consent_with_pkce_and_an_encrypted_refresh_token() {
    let f = Flow::new().await;
    let acc = f
        .account(json!({"platform": "google_workspace", "tenant": "northwind.example"}))
        .await;
    let url = f.start(ADMIN).await;
    assert!(url.as_str().starts_with("https://accounts.fake/"));
    assert!(url.query_pairs().any(|(k, v)| k == "hd" && v == "northwind.example"));
    let challenge = url
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .into_owned();
    let state = state_of(&url);
    f.app
        .google
        .codes
        .lock()
        .unwrap()
        .insert("code-1".into(), "1//refresh-secret".into());

    refused_and_recorded(
        &f,
        &format!("/v1/callback/google?error=access_denied&state={}", enc(&state)),
        StatusCode::BAD_REQUEST,
        "not granted",
        acc["id"].as_str().unwrap(),
        "declined",
    )
    .await;
    refused(
        &f,
        &format!("/v1/callback/google?code=wrong&state={}", enc(&state)),
        StatusCode::FORBIDDEN,
        "could not be confirmed",
    )
    .await;

    let a = f
        .get(&format!("/v1/callback/google?code=code-1&state={}", enc(&state)))
        .await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
    // The verifier sent matches the challenge in the URL (S256).
    let verifier = f.app.google.verifiers.lock().unwrap().last().cloned().unwrap();
    use base64::Engine as _;
    use sha2::Digest as _;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(challenge, expected);

    let v = f.view(acc["id"].as_str().unwrap()).await;
    assert_eq!(v["status"], "active");
    assert_eq!(
        v["authorization"]["last_error"],
        json!(null),
        "a consent clears the failure"
    );
    assert_eq!(v["tenant_id"], "C01fake");
    assert_eq!(v["tenant_domain"], "northwind.example");
    let stored = format!("{:?}", f.app.snapshot());
    assert!(
        !stored.contains("refresh-secret"),
        "the refresh token is stored encrypted"
    );
    assert!(stored.contains("refresh_token_enc"));
}

#[tokio::test]
async fn google_workspace_of_another_domain_is_a_mismatch() {
    let f = Flow::new().await;
    f.account(json!({"platform": "google_workspace", "tenant": "contoso.example"}))
        .await;
    let state = state_of(&f.start(ADMIN).await);
    f.app
        .google
        .codes
        .lock()
        .unwrap()
        .insert("code-2".into(), "1//r".into());
    refused(
        &f,
        &format!("/v1/callback/google?code=code-2&state={}", enc(&state)),
        StatusCode::CONFLICT,
        "not the expected tenant",
    )
    .await;
}

#[tokio::test]
async fn check_never_activates_on_a_token_alone() {
    let f = Flow::new().await;
    // Tenant B has consented to the (shared) app, through some other partner's link.
    let acc = f.account(json!({"tenant": "b.onmicrosoft.com"})).await;
    let id = acc["id"].as_str().unwrap();
    let check = format!("/v1/accounts/{id}/authorization/check");
    let before = without_limits(f.app.snapshot());
    let mails = f.app.mailer.messages().len();
    let a = call(&f.app, Method::POST, &check, None, Some(&f.token)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["status"], "waiting_for_authorization");
    assert!(
        a.json()["authorization"]["next_step"]
            .as_str()
            .unwrap()
            .contains("open the authorization link again"),
        "{}",
        a.text
    );
    assert_eq!(without_limits(f.app.snapshot()), before, "nothing written");
    assert_eq!(f.app.mailer.messages().len(), mails, "nothing mailed");
    // The link stays valid: the admin completes the consent through it.
    let consent = f.consent(ADMIN, TENANT_B).await;
    assert_eq!(
        f.get(&ms_callback(TENANT_B, &state_of(&consent))).await.status,
        StatusCode::FOUND
    );
    assert_eq!(f.view(id).await["status"], "active");
}

fn without_limits(items: Vec<onboarding::store::Item>) -> Vec<onboarding::store::Item> {
    items.into_iter().filter(|i| !i.key.pk.starts_with("LIMIT#")).collect()
}

/// Partner M keeps the state of her own account's `authorization_url`; partner B's client
/// admin consents at Microsoft (tenant A has consented to the shared app). M's forged
/// admin-consent callback must not give her tenant A.
#[tokio::test]
async fn a_bare_admin_consent_callback_with_another_partners_state_takes_no_tenant() {
    let f = Flow::new().await;
    let mallory = registered(&f.app, "Mallory IT", "m@mallory.example").await;
    let body = json!({"client_name": "Bait", "platform": "microsoft365", "managed_by": "partner", "has_admin_credentials": true});
    let acc = call(
        &f.app,
        Method::POST,
        "/v1/accounts",
        Some(body.to_string()),
        Some(&mallory),
    )
    .await
    .json();
    let url = url::Url::parse(acc["authorization_url"].as_str().unwrap()).unwrap();
    let state = state_of(&url);
    refused(
        &f,
        &ms_callback(TENANT_A, &state),
        StatusCode::BAD_REQUEST,
        "sign-in is missing",
    )
    .await;
    // Same with her account pre-entered for tenant A and `check`.
    let body = json!({"client_name": "Bait 2", "platform": "microsoft365", "managed_by": "partner",
                      "has_admin_credentials": true, "tenant": TENANT_A});
    let acc2 = call(
        &f.app,
        Method::POST,
        "/v1/accounts",
        Some(body.to_string()),
        Some(&mallory),
    )
    .await
    .json();
    let id2 = acc2["id"].as_str().unwrap();
    let a = call(
        &f.app,
        Method::POST,
        &format!("/v1/accounts/{id2}/authorization/check"),
        None,
        Some(&mallory),
    )
    .await;
    assert_eq!(a.json()["status"], "waiting_for_authorization", "{}", a.text);
    // B's own client completes normally and owns tenant A.
    let b = f.account(json!({})).await;
    let consent = f.consent(ADMIN, TENANT_A).await;
    assert_eq!(
        f.get(&ms_callback(TENANT_A, &state_of(&consent))).await.status,
        StatusCode::FOUND
    );
    assert_eq!(f.view(b["id"].as_str().unwrap()).await["status"], "active");
}

#[tokio::test]
async fn id_tokens_with_a_wrong_audience_nonce_issuer_or_expiry_are_refused() {
    use common::fakes::admin_id_token;
    let f = Flow::new().await;
    f.account(json!({})).await;
    let sign_in = f.start(ADMIN).await;
    let nonce = query_value(&sign_in, "nonce");
    let genuine = admin_id_token(TENANT_A, &nonce);
    let mut cases = Vec::new();
    let mut c = genuine.clone();
    c.aud = "another-app".into();
    cases.push(("aud", c));
    let mut c = genuine.clone();
    c.nonce = Some("another-nonce".into());
    cases.push(("nonce", c));
    let mut c = genuine.clone();
    c.nonce = None;
    cases.push(("no nonce", c));
    let mut c = genuine.clone();
    c.iss = format!("https://evil.example/{TENANT_A}/v2.0");
    cases.push(("iss", c));
    let mut c = genuine.clone();
    c.iss = format!("https://login.fake/{TENANT_B}/v2.0");
    cases.push(("iss of another tenant", c));
    let mut c = genuine.clone();
    c.exp = (chrono::Utc::now() - Duration::hours(1)).timestamp();
    cases.push(("expired", c));
    let mut c = genuine.clone();
    c.tid = Some("not-a-guid".into());
    cases.push(("tid", c));
    for (i, (what, claims)) in cases.into_iter().enumerate() {
        let code = format!("bad-{i}");
        f.app.microsoft.accept_sign_in(&code, claims);
        let before = f.app.snapshot();
        let a = f.get(&sign_in_callback_with(&sign_in, &code)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {}", a.text);
        assert!(a.text.contains("could not be verified"), "{what}: {}", a.text);
        assert_eq!(f.app.snapshot(), before, "{what}: nothing written");
    }
    // A signed-in user without an administrator role is told so.
    let mut c = genuine.clone();
    c.wids = Some(vec![]);
    f.app.microsoft.accept_sign_in("plain-user", c);
    refused(
        &f,
        &sign_in_callback_with(&sign_in, "plain-user"),
        StatusCode::FORBIDDEN,
        "administrator must sign in",
    )
    .await;
    // The state was never consumed: the genuine sign-in still works.
    f.app.microsoft.accept_sign_in("good", genuine);
    let a = f.get(&sign_in_callback_with(&sign_in, "good")).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
}

#[tokio::test]
async fn a_replayed_sign_in_code_is_refused() {
    let f = Flow::new().await;
    f.account(json!({})).await;
    let sign_in = f.start(ADMIN).await;
    let path = sign_in_callback(&f.app, &sign_in, TENANT_A);
    assert_eq!(f.get(&path).await.status, StatusCode::FOUND);
    // The same callback again: its state is consumed.
    refused(&f, &path, StatusCode::GONE, "already used").await;
    // The code with a fresh state: the provider refuses the used code.
    let second = f.start(ADMIN).await;
    let code = path
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    refused(
        &f,
        &sign_in_callback_with(&second, &code),
        StatusCode::BAD_REQUEST,
        "could not be verified",
    )
    .await;
    // The verifier sent is the one whose challenge the sign-in URL carried (S256).
    use base64::Engine as _;
    use sha2::Digest as _;
    let verifier = f.app.microsoft.verifiers.lock().unwrap()[0].clone();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(query_value(&sign_in, "code_challenge"), challenge);
}

#[tokio::test]
async fn a_consent_callback_for_another_tenant_than_the_signed_in_one_is_refused() {
    let f = Flow::new().await;
    let acc = f.account(json!({})).await;
    let consent = f.consent(ADMIN, TENANT_A).await;
    let before = f.app.snapshot();
    let a = f.get(&ms_callback(TENANT_B, &state_of(&consent))).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    assert!(
        a.text.contains(TENANT_A) && a.text.contains(TENANT_B),
        "names both: {}",
        a.text
    );
    assert_eq!(f.app.snapshot(), before);
    assert_eq!(
        f.view(acc["id"].as_str().unwrap()).await["status"],
        "waiting_for_authorization"
    );
}

#[tokio::test]
async fn a_queue_that_refuses_at_consent_still_activates_and_the_schedule_queues_the_account() {
    let f = Flow::on(TestApp::with_services(|s| {
        s.with_queue(std::sync::Arc::new(onboarding::queue::Unavailable(
            "SQS is down (test)",
        )))
    }))
    .await;
    let acc = f.account(json!({})).await;
    let id = acc["id"].as_str().unwrap();
    let consent = f.consent(ADMIN, TENANT_A).await;
    let a = f.get(&ms_callback(TENANT_A, &state_of(&consent))).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.text);
    let v = f.view(id).await;
    assert_eq!(v["status"], "active");
    assert_eq!(v["discovery"]["status"], "due", "no job is on its way: {v}");

    // The schedule's next tick (with the queue back) queues its first job at once.
    let working = onboarding::services::Services::new(
        f.app.store.clone(),
        f.app.mailer.clone(),
        f.app.clock.clone(),
        secrecy::SecretSlice::from(vec![42u8; 32]),
        f.app.state.links.clone(),
    )
    .into_state();
    let fanned = onboarding::flows::schedule::fan_out(&working).await.unwrap();
    assert_eq!((fanned.due, fanned.queued), (1, 1), "{fanned:?}");
    assert_eq!(f.view(id).await["discovery"]["status"], "queued");
}
