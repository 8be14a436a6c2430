//! The partner console (`/console`): sign-up, confirmation and sign-in through its forms, the
//! Status, New SaaS account, Account, Seats, Team, Offers and Audit pages and their actions;
//! CSRF on every form (before sign-in too), roles as the API's, ended sessions sent back to
//! sign-in, another partner's account a 404 page, every shown value escaped, long lists paged.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use http_body_util::BodyExt as _;
use onboarding::clock::Clock as _;
use serde_json::json;
use tower::ServiceExt as _;

const OWNER: &str = "owner@msp.example";

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> String {
        self.headers["location"].to_str().unwrap().to_owned()
    }

    /// The value of the cookie `name` this answer sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers.get_all("set-cookie").iter().find_map(|v| {
            let v = v.to_str().unwrap();
            v.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_owned())
        })
    }
}

/// A request with a raw `Cookie` header (`cookies`) and an optional form body.
async fn request(app: &TestApp, method: Method, path: &str, cookies: Option<&str>, form: Option<&str>) -> Page {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(c) = cookies {
        req = req.header("cookie", c);
    }
    if form.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = req
        .body(form.map_or_else(Body::empty, |f| Body::from(f.to_owned())))
        .unwrap();
    let res = onboarding::http::router(app.state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let text = String::from_utf8_lossy(&res.into_body().collect().await.unwrap().to_bytes()).into_owned();
    Page { status, headers, text }
}

/// A request as the signed-in member of the session cookie `cookie`.
async fn browse(app: &TestApp, method: Method, path: &str, cookie: Option<&str>, form: Option<&str>) -> Page {
    let cookies = cookie.map(|c| format!("console_session={c}"));
    request(app, method, path, cookies.as_deref(), form).await
}

/// A visitor before sign-in: the pre-session cookie header and the CSRF token of `path`'s form.
async fn visit(app: &TestApp, path: &str) -> (String, String) {
    let p = request(app, Method::GET, path, None, None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    let visit = p.cookie("console_visit").expect("a pre-session cookie");
    (format!("console_visit={visit}"), csrf_in(&p.text))
}

/// Signs in through the console's form: the session cookie's value and its attributes.
async fn sign_in(app: &TestApp, email: &str) -> (String, String) {
    let (visit, csrf) = visit(app, "/console/sign-in").await;
    let form = format!(
        "csrf={}&email={}&password={}",
        encode(&csrf),
        encode(email),
        encode(PASSWORD)
    );
    let p = request(app, Method::POST, "/console/sign-in", Some(&visit), Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let set = p
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("console_session="))
        .expect("the session cookie");
    (p.cookie("console_session").unwrap(), set)
}

fn csrf_in(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..at + page[at..].find('"').unwrap()]
        .replace("&#43;", "+")
        .replace("&#47;", "/")
        .replace("&#61;", "=")
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn waiting_account(app: &TestApp, token: &str, client: &str) -> String {
    let body = json!({"client_name": client, "platform": "microsoft365", "managed_by": "client",
                      "has_admin_credentials": false, "authorization_email": "admin@client.example"});
    let a = call(app, Method::POST, "/v1/accounts", Some(body.to_string()), Some(token)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    a.json()["id"].as_str().unwrap().to_owned()
}

/// The signed-in member's CSRF token (from the Status page).
async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    csrf_in(&browse(app, Method::GET, "/console", Some(cookie), None).await.text)
}

/// An active account of `partner` with `users` discovered users named "User 000000" ...
async fn active_with_users(app: &TestApp, token: &str, users: usize) -> String {
    let me = call(app, Method::GET, "/v1/me", None, Some(token)).await.json();
    let partner = onboarding::domain::PartnerId::parse(me["partner"]["id"].as_str().unwrap()).unwrap();
    let id = onboarding_test_support::fixtures::seed_account(
        app.store.as_ref(),
        &partner,
        onboarding::store::keys::AccountStatus::Active,
        "11111111-2222-3333-4444-555555555555",
        app.clock.now(),
    )
    .await
    .unwrap();
    onboarding_test_support::fixtures::seed_users(
        app.store.as_ref(),
        &id,
        users,
        app.clock.now() - chrono::Duration::days(30),
    )
    .await
    .unwrap();
    id.to_string()
}

#[tokio::test]
async fn a_partner_signs_in_and_sees_every_account_with_its_status() {
    let app = TestApp::new();
    let token = registered(&app, "Acme <IT>", OWNER).await;
    waiting_account(&app, &token, "<script>alert(1)</script> Ltd").await;
    // Not signed in: to the sign-in page.
    let p = browse(&app, Method::GET, "/console", None, None).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.headers["location"].to_str().unwrap().ends_with("/console/sign-in"));
    let (cookie, set) = sign_in(&app, OWNER).await;
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let p = browse(&app, Method::GET, "/console", Some(&cookie), None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains("Waiting for authorization"), "{}", p.text);
    assert!(p.text.contains("Seats 0 of 1000"));
    assert!(
        !p.text.contains("<script>alert(1)</script>") && !p.text.contains("Acme <IT>"),
        "escaped"
    );
    assert!(p.text.contains("Acme &lt;IT&gt;") || p.text.contains("Acme &#60;IT&#62;"));
    assert_eq!(p.headers["cache-control"], "no-store");
    assert!(
        p.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[tokio::test]
async fn forms_without_this_sessions_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = waiting_account(&app, &token, "Contoso").await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let (other, _) = sign_in(&app, OWNER).await;
    let other_csrf = csrf_in(&browse(&app, Method::GET, "/console", Some(&other), None).await.text);
    let path = format!("/console/accounts/{id}/resend");
    for form in [
        "email=new%40client.example".to_owned(),
        "csrf=forged&email=new%40client.example".to_owned(),
        format!("csrf={}&email=new%40client.example", encode(&other_csrf)),
    ] {
        let before = app.snapshot();
        let mails = app.mailer.messages().len();
        app.clock.advance(chrono::Duration::minutes(2));
        let p = browse(&app, Method::POST, &path, Some(&cookie), Some(&form)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{form}: {}", p.text);
        assert_eq!(app.snapshot(), before, "{form}: nothing written");
        assert_eq!(app.mailer.messages().len(), mails, "{form}: nothing sent");
    }
    // With its own token the same form works.
    let csrf = csrf_in(&browse(&app, Method::GET, "/console", Some(&cookie), None).await.text);
    let form = format!("csrf={}&email=new%40client.example", encode(&csrf));
    let p = browse(&app, Method::POST, &path, Some(&cookie), Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    assert!(app.mailer.to("new@client.example").len() == 1);
}

#[tokio::test]
async fn a_signed_out_or_removed_members_cookie_goes_back_to_sign_in() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let csrf = csrf_in(&browse(&app, Method::GET, "/console", Some(&cookie), None).await.text);
    let p = browse(
        &app,
        Method::POST,
        "/console/sign-out",
        Some(&cookie),
        Some(&format!("csrf={}", encode(&csrf))),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let p = browse(&app, Method::GET, "/console", Some(&cookie), None).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "signed out: back to sign-in");
    // A removed member.
    let invite = json!({"email": "tech@msp.example", "role": "technician"}).to_string();
    assert_eq!(
        call(&app, Method::POST, "/v1/members", Some(invite), Some(&owner))
            .await
            .status,
        StatusCode::CREATED
    );
    let link = app.mailer.to("tech@msp.example")[0].links[0].clone();
    let joined = post(
        &app,
        "/v1/invitations/accept",
        json!({"token": link.rsplit('/').next().unwrap(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    let (tech, _) = sign_in(&app, "tech@msp.example").await;
    assert_eq!(
        browse(&app, Method::GET, "/console", Some(&tech), None).await.status,
        StatusCode::OK
    );
    let removed = call(&app, Method::DELETE, "/v1/members/tech@msp.example", None, Some(&owner)).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        browse(&app, Method::GET, "/console", Some(&tech), None).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn another_partners_account_is_a_404_page() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = waiting_account(&app, &token, "Contoso").await;
    registered(&app, "Rival MSP", "boss@rival.example").await;
    let (rival, _) = sign_in(&app, "boss@rival.example").await;
    let p = browse(
        &app,
        Method::GET,
        &format!("/console/accounts/{id}"),
        Some(&rival),
        None,
    )
    .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(
        p.text.contains("Not found") && !p.text.contains("Contoso"),
        "{}",
        p.text
    );
    let (mine, _) = sign_in(&app, OWNER).await;
    let p = browse(&app, Method::GET, &format!("/console/accounts/{id}"), Some(&mine), None).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains("Contoso") && p.text.contains("Refresh"));
    let p = browse(&app, Method::GET, "/console/nothing-here", Some(&mine), None).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wrong_password_answers_the_form_again_without_a_cookie() {
    let app = TestApp::new();
    registered(&app, "Acme IT", OWNER).await;
    let (visit, csrf) = visit(&app, "/console/sign-in").await;
    let form = format!("csrf={}&email=owner%40msp.example&password=wrong", encode(&csrf));
    let p = request(&app, Method::POST, "/console/sign-in", Some(&visit), Some(&form)).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.cookie("console_session").is_none());
    assert!(
        p.text.contains("not right") && p.text.contains("owner@msp.example"),
        "{}",
        p.text
    );
}

#[tokio::test]
async fn a_partner_signs_up_confirms_the_code_and_lands_signed_in() {
    let app = TestApp::new();
    let (visit, csrf) = visit(&app, "/console/sign-up").await;
    let form = format!(
        "csrf={}&organization=Acme+IT&email=new%40msp.example&password={}",
        encode(&csrf),
        encode(PASSWORD)
    );
    let p = request(&app, Method::POST, "/console/sign-up", Some(&visit), Some(&form)).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert!(p.text.contains("6-digit code") && p.text.contains("new@msp.example"));
    // A wrong code: the form again, with why.
    let wrong = format!("csrf={}&email=new%40msp.example&code=000000", encode(&csrf_in(&p.text)));
    let again = request(&app, Method::POST, "/console/confirm", Some(&visit), Some(&wrong)).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.text);
    assert!(again.text.contains("role=\"alert\""));
    let code = last_code(&app, "new@msp.example");
    let right = format!("csrf={}&email=new%40msp.example&code={code}", encode(&csrf));
    let p = request(&app, Method::POST, "/console/confirm", Some(&visit), Some(&right)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let session = p.cookie("console_session").expect("signed in");
    let home = browse(&app, Method::GET, "/console", Some(&session), None).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.text.contains("Acme IT") && home.text.contains("No SaaS accounts yet"));
}

#[tokio::test]
async fn public_forms_without_the_visitors_token_are_refused_and_change_nothing() {
    let app = TestApp::new();
    registered(&app, "Acme IT", OWNER).await;
    let (visit, csrf) = visit(&app, "/console/sign-in").await;
    let (other_visit, _) = self::visit(&app, "/console/sign-in").await;
    let cases = [
        (
            "/console/sign-in",
            None,
            format!("email={}&password={}", encode(OWNER), encode(PASSWORD)),
        ),
        (
            "/console/sign-in",
            Some(&other_visit),
            format!(
                "csrf={}&email={}&password={}",
                encode(&csrf),
                encode(OWNER),
                encode(PASSWORD)
            ),
        ),
        (
            "/console/sign-up",
            Some(&visit),
            format!(
                "csrf=forged&organization=X&email=x%40msp.example&password={}",
                encode(PASSWORD)
            ),
        ),
        (
            "/console/forgot",
            None,
            format!("csrf={}&email={}", encode(&csrf), encode(OWNER)),
        ),
        (
            "/console/confirm",
            Some(&visit),
            "email=x%40msp.example&code=123456".to_owned(),
        ),
    ];
    for (path, cookies, form) in cases {
        let before = app.snapshot();
        let mails = app.mailer.messages().len();
        let p = request(&app, Method::POST, path, cookies.map(String::as_str), Some(&form)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.text);
        assert!(p.cookie("console_session").is_none(), "{path}");
        assert_eq!(app.snapshot(), before, "{path}: nothing written");
        assert_eq!(app.mailer.messages().len(), mails, "{path}: nothing sent");
    }
}

#[tokio::test]
async fn forgot_password_answers_alike_for_members_and_strangers() {
    let app = TestApp::new();
    registered(&app, "Acme IT", OWNER).await;
    let mut pages = Vec::new();
    for email in [OWNER, "nobody@msp.example"] {
        let (visit, csrf) = visit(&app, "/console/forgot").await;
        let form = format!("csrf={}&email={}", encode(&csrf), encode(email));
        let p = request(&app, Method::POST, "/console/forgot", Some(&visit), Some(&form)).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.text);
        pages.push(p.text.replace(email, "ADDRESS").replace(&csrf, "CSRF"));
    }
    assert_eq!(pages[0], pages[1], "the same page whoever asks");
    assert_eq!(
        app.mailer
            .to(OWNER)
            .iter()
            .filter(|m| m.subject.contains("password"))
            .count(),
        1
    );
    assert!(app.mailer.to("nobody@msp.example").is_empty());
}

#[tokio::test]
async fn new_saas_account_emails_the_link_or_opens_the_consent() {
    let app = TestApp::new();
    registered(&app, "Acme IT", OWNER).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let page = browse(&app, Method::GET, "/console/accounts/new", Some(&cookie), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text
            .contains("Do you have global admin credentials for this tenant?")
    );
    let csrf = csrf_in(&page.text);
    // Without credentials: the admin is emailed, and the account page says so.
    let form = format!(
        "csrf={}&client_id=&client_name=Contoso&platform=microsoft365&managed_by=client&admin=no&tenant=&authorization_email=admin%40contoso.example",
        encode(&csrf)
    );
    let p = browse(&app, Method::POST, "/console/accounts", Some(&cookie), Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    assert!(p.location().contains("/console/accounts/") && p.location().ends_with("done=sent"));
    assert_eq!(app.mailer.to("admin@contoso.example").len(), 1);
    let mail = &app.mailer.to("admin@contoso.example")[0];
    assert_eq!(
        mail.reply_to.as_ref().map(|r| r.as_str()),
        Some(OWNER),
        "replies reach the partner"
    );
    assert!(mail.text.contains("Sent for Acme IT"), "{}", mail.text);
    assert!(
        mail.text.contains("See the tenant's users"),
        "scopes in plain words: {}",
        mail.text
    );
    // The link's page names the partner and how to reach the member who asked.
    let link = mail.links[0]
        .trim_start_matches(&app.state.links.public_base_url)
        .to_owned();
    let landing = request(&app, Method::GET, &link, None, None).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.text);
    assert!(
        landing.text.contains("Write to Acme IT at") && landing.text.contains(&format!("mailto:{OWNER}")),
        "{}",
        landing.text
    );
    assert!(
        landing.text.contains("(User.Read.All)"),
        "scope names beside their plain words"
    );
    let account = browse(&app, Method::GET, &p.location(), Some(&cookie), None).await;
    assert!(
        account.text.contains("Link sent to admin@contoso.example"),
        "{}",
        account.text
    );
    // The same client again, picked from the list; with credentials: on to the consent now.
    let new_page = browse(&app, Method::GET, "/console/accounts/new", Some(&cookie), None).await;
    let at = new_page.text.find("\">Contoso</option>").unwrap();
    let client_id = &new_page.text[new_page.text[..at].rfind('"').unwrap() + 1..at];
    let form = format!(
        "csrf={}&client_id={client_id}&client_name=&platform=google_workspace&managed_by=partner&admin=yes&tenant=&authorization_email=",
        encode(&csrf)
    );
    let p = browse(&app, Method::POST, "/console/accounts", Some(&cookie), Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    assert!(!p.location().contains("/console/"), "to the provider: {}", p.location());
    let clients = call(
        &app,
        Method::GET,
        "/v1/clients",
        None,
        Some(&registered_token(&app).await),
    )
    .await;
    assert_eq!(clients.json()["items"].as_array().unwrap().len(), 1, "no twin client");
}

/// A fresh API session of the owner.
async fn registered_token(app: &TestApp) -> String {
    let r = post(app, "/v1/sessions", json!({"email": OWNER, "password": PASSWORD})).await;
    r.json()["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_refused_new_account_says_why_and_writes_nothing() {
    let app = TestApp::new();
    registered(&app, "Acme IT", OWNER).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let csrf = csrf_of(&app, &cookie).await;
    for (form, why) in [
        (
            "client_name=&platform=microsoft365&managed_by=client&admin=no&authorization_email=a%40b.example",
            "client",
        ),
        (
            "client_name=X&platform=exchange&managed_by=client&admin=no&authorization_email=a%40b.example",
            "platform",
        ),
        (
            "client_name=X&platform=microsoft365&managed_by=client&admin=no&authorization_email=not-an-address",
            "authorization email",
        ),
        (
            "client_name=X&platform=microsoft365&managed_by=client&admin=no&tenant=%3Cb%3E",
            "tenant",
        ),
    ] {
        let before = app.snapshot();
        let form = format!("csrf={}&{form}", encode(&csrf));
        let p = browse(&app, Method::POST, "/console/accounts", Some(&cookie), Some(&form)).await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{form}: {}", p.text);
        assert!(
            p.text.contains("role=\"alert\"") && p.text.contains(why),
            "{why}: {}",
            p.text
        );
        assert!(!p.text.contains("<b>"), "escaped");
        assert_eq!(app.snapshot(), before, "{form}: nothing written");
        assert!(app.mailer.messages().len() <= 1, "only the signup mail");
    }
}

#[tokio::test]
async fn the_users_tab_pages_searches_filters_and_protects() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = active_with_users(&app, &token, 10_000).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let path = format!("/console/accounts/{id}");
    let p = browse(&app, Method::GET, &path, Some(&cookie), None).await;
    assert_eq!(p.status, StatusCode::OK);
    // A page of 50 out of 10,000, and a link on.
    assert_eq!(p.text.matches("name=\"ids\"").count(), 50);
    assert!(p.text.contains("User 000000") && !p.text.contains("User 000050"));
    let next = p.text.split("href=\"").find(|h| h.contains("cursor=")).unwrap();
    let next = next[..next.find('"').unwrap()]
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let next = next.trim_start_matches(&app.state.links.public_base_url).to_owned();
    let p2 = browse(&app, Method::GET, &next, Some(&cookie), None).await;
    assert!(
        p2.text.contains("User 000050") && !p2.text.contains("User 000049"),
        "{next}"
    );
    // Search by name and by email.
    let found = browse(
        &app,
        Method::GET,
        &format!("{path}?tab=users&q=user%20009999"),
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(found.text.matches("name=\"ids\"").count(), 1, "{}", found.text);
    let found = browse(
        &app,
        Method::GET,
        &format!("{path}?tab=users&q=user009998%40"),
        Some(&cookie),
        None,
    )
    .await;
    assert!(found.text.contains("User 009998"));
    // A later word of the name: no name starts with it, so words and emails are searched.
    let found = browse(
        &app,
        Method::GET,
        &format!("{path}?tab=users&q=009997"),
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(found.text.matches("name=\"ids\"").count(), 1, "{}", found.text);
    assert!(found.text.contains("User 009997") && found.text.contains("Matching any word"));
    // Protect three at once, one by its own button: seats follow.
    let csrf = csrf_in(&p.text);
    let form = format!(
        "csrf={}&kind=users&back=tab%3Dusers&ids=u000001&ids=u000002&ids=u000003&protected=true",
        encode(&csrf)
    );
    let done = browse(
        &app,
        Method::POST,
        &format!("{path}/protect"),
        Some(&cookie),
        Some(&form),
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text);
    let form = format!("csrf={}&kind=users&toggle=p%3Au000004", encode(&csrf));
    browse(
        &app,
        Method::POST,
        &format!("{path}/protect"),
        Some(&cookie),
        Some(&form),
    )
    .await;
    let form = format!("csrf={}&kind=users&toggle=u%3Au000001", encode(&csrf));
    browse(
        &app,
        Method::POST,
        &format!("{path}/protect"),
        Some(&cookie),
        Some(&form),
    )
    .await;
    let after = browse(
        &app,
        Method::GET,
        &format!("{path}?tab=users&show=protected"),
        Some(&cookie),
        None,
    )
    .await;
    assert!(after.text.contains("Seats 3 of 1000"), "seats in the header");
    assert_eq!(after.text.matches("name=\"ids\"").count(), 3);
    for u in ["User 000002", "User 000003", "User 000004"] {
        assert!(after.text.contains(u), "{u}");
    }
    let seats = browse(&app, Method::GET, "/console/seats", Some(&cookie), None).await;
    assert!(seats.text.contains("<strong>3</strong> of 1000"), "{}", seats.text);
}

#[tokio::test]
async fn auto_add_is_set_in_a_zone_and_shown_in_it_and_in_utc() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = active_with_users(&app, &token, 3).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let csrf = csrf_of(&app, &cookie).await;
    let form = format!(
        "csrf={}&sites=on&run_at=20%3A00&timezone=Australia%2FSydney",
        encode(&csrf)
    );
    let p = browse(
        &app,
        Method::POST,
        &format!("/console/accounts/{id}/auto-add"),
        Some(&cookie),
        Some(&form),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let a = call(&app, Method::GET, &format!("/v1/accounts/{id}"), None, Some(&token))
        .await
        .json();
    assert_eq!(a["auto_add"]["sites"], true);
    assert_eq!(a["auto_add"]["users"], false);
    assert_eq!(a["auto_add"]["timezone"], "Australia/Sydney");
    let page = browse(
        &app,
        Method::GET,
        &format!("/console/accounts/{id}"),
        Some(&cookie),
        None,
    )
    .await;
    assert!(
        page.text.contains("20:00 AE"),
        "local time with its zone: {}",
        page.text
    );
    assert!(page.text.contains(":00 UTC)"), "and in UTC");
    // A zone that does not exist: refused, nothing changed.
    let before = app.snapshot();
    let form = format!("csrf={}&sites=on&run_at=20%3A00&timezone=Mars%2FOlympus", encode(&csrf));
    let p = browse(
        &app,
        Method::POST,
        &format!("/console/accounts/{id}/auto-add"),
        Some(&cookie),
        Some(&form),
    )
    .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.snapshot(), before);
}

#[tokio::test]
async fn a_technician_sees_everything_and_changes_only_what_the_role_allows() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    let id = active_with_users(&app, &owner, 3).await;
    let invite = json!({"email": "tech@msp.example", "role": "technician"}).to_string();
    call(&app, Method::POST, "/v1/members", Some(invite), Some(&owner)).await;
    let link = app.mailer.to("tech@msp.example")[0].links[0].clone();
    post(
        &app,
        "/v1/invitations/accept",
        json!({"token": link.rsplit('/').next().unwrap(), "password": PASSWORD}),
    )
    .await;
    let (tech, _) = sign_in(&app, "tech@msp.example").await;
    let csrf = csrf_of(&app, &tech).await;
    let page = browse(&app, Method::GET, &format!("/console/accounts/{id}"), Some(&tech), None).await;
    assert!(page.text.contains("User 000000") && !page.text.contains("Protect selected"));
    for (path, form) in [
        (
            format!("/console/accounts/{id}/protect"),
            "kind=users&ids=u000001&protected=true",
        ),
        (
            format!("/console/accounts/{id}/auto-add"),
            "users=on&run_at=20%3A00&timezone=UTC",
        ),
        (format!("/console/accounts/{id}/disable"), ""),
        ("/console/team".to_owned(), "email=x%40msp.example&role=admin"),
        (
            "/console/team/role".to_owned(),
            "email=owner%40msp.example&role=technician",
        ),
        ("/console/offers".to_owned(), "platform=microsoft365&label=Site"),
    ] {
        let before = app.snapshot();
        let mails = app.mailer.messages().len();
        let form = format!("csrf={}&{form}", encode(&csrf));
        let p = browse(&app, Method::POST, &path, Some(&tech), Some(&form)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.text);
        assert!(p.text.contains("Not allowed"));
        assert_eq!(app.snapshot(), before, "{path}: nothing written");
        assert_eq!(app.mailer.messages().len(), mails, "{path}: nothing sent");
    }
    // Refresh is a technician's.
    let p = browse(
        &app,
        Method::POST,
        &format!("/console/accounts/{id}/refresh"),
        Some(&tech),
        Some(&format!("csrf={}", encode(&csrf))),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    for page in ["/console/team", "/console/offers", "/console/audit", "/console/seats"] {
        let p = browse(&app, Method::GET, page, Some(&tech), None).await;
        assert_eq!(p.status, StatusCode::OK, "{page}");
        assert!(
            !p.text.contains("Send the invitation") && !p.text.contains("Create the offer link"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn every_signed_in_form_needs_this_sessions_token() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = active_with_users(&app, &token, 3).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let posts = [
        "/console/accounts".to_owned(),
        format!("/console/accounts/{id}/check"),
        format!("/console/accounts/{id}/refresh"),
        format!("/console/accounts/{id}/reauthorize"),
        format!("/console/accounts/{id}/protect"),
        format!("/console/accounts/{id}/auto-add"),
        format!("/console/accounts/{id}/disable"),
        format!("/console/accounts/{id}/enable"),
        "/console/team".to_owned(),
        "/console/team/role".to_owned(),
        "/console/team/remove".to_owned(),
        "/console/offers".to_owned(),
        "/console/offers/x/withdraw".to_owned(),
        "/console/sign-out".to_owned(),
    ];
    for path in posts {
        let before = app.snapshot();
        let form = "csrf=forged&kind=users&all=true&protected=true&email=x%40msp.example&role=admin&platform=microsoft365&client_name=X&managed_by=client&admin=no&users=on&run_at=20%3A00&timezone=UTC";
        let p = browse(&app, Method::POST, &path, Some(&cookie), Some(form)).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.text);
        assert_eq!(app.snapshot(), before, "{path}: nothing written");
    }
    assert_eq!(
        browse(&app, Method::GET, "/console", Some(&cookie), None).await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn team_offers_and_audit_pages_work_and_escape_what_they_show() {
    let app = TestApp::new();
    registered(&app, "Acme IT", OWNER).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let csrf = csrf_of(&app, &cookie).await;
    let form = format!("csrf={}&email=tech%40msp.example&role=technician", encode(&csrf));
    let p = browse(&app, Method::POST, "/console/team", Some(&cookie), Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    assert_eq!(app.mailer.to("tech@msp.example").len(), 1);
    let team = browse(&app, Method::GET, "/console/team", Some(&cookie), None).await;
    assert!(team.text.contains("tech@msp.example") && team.text.contains("invited"));
    // The last owner cannot step down: the page says why, nothing changes.
    let before = app.snapshot();
    let form = format!("csrf={}&email={}&role=admin", encode(&csrf), encode(OWNER));
    let p = browse(&app, Method::POST, "/console/team/role", Some(&cookie), Some(&form)).await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.text);
    assert_eq!(app.snapshot(), before);
    // An offer with markup in its label.
    let form = format!(
        "csrf={}&platform=microsoft365&label=%3Cb%3EWeb%3C%2Fb%3E",
        encode(&csrf)
    );
    let p = browse(&app, Method::POST, "/console/offers", Some(&cookie), Some(&form)).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let offers = browse(&app, Method::GET, "/console/offers", Some(&cookie), None).await;
    assert!(
        offers.text.contains("/offer/") && !offers.text.contains("<b>Web"),
        "{}",
        offers.text
    );
    let at = offers.text.find("/withdraw\"").unwrap();
    let offer_id = &offers.text[offers.text[..at].rfind('/').unwrap() + 1..at];
    let p = browse(
        &app,
        Method::POST,
        &format!("/console/offers/{offer_id}/withdraw"),
        Some(&cookie),
        Some(&format!("csrf={}", encode(&csrf))),
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.text);
    let audit = browse(&app, Method::GET, "/console/audit", Some(&cookie), None).await;
    for action in ["member invited", "offer created", "offer disabled", "signup confirmed"] {
        assert!(audit.text.contains(action), "{action}: {}", audit.text);
    }
    assert!(!audit.text.contains("<b>Web"), "escaped");
}

#[tokio::test]
async fn progress_is_the_members_own_accounts_only() {
    let app = TestApp::new();
    let token = registered(&app, "Acme IT", OWNER).await;
    let id = active_with_users(&app, &token, 3).await;
    let (cookie, _) = sign_in(&app, OWNER).await;
    let p = browse(
        &app,
        Method::GET,
        &format!("/console/accounts/{id}/progress"),
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(p.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&p.text).unwrap();
    assert!(v["text"].as_str().unwrap().starts_with("Discovery:"), "{v}");
    registered(&app, "Rival MSP", "boss@rival.example").await;
    let (rival, _) = sign_in(&app, "boss@rival.example").await;
    let p = browse(
        &app,
        Method::GET,
        &format!("/console/accounts/{id}/progress"),
        Some(&rival),
        None,
    )
    .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = browse(
        &app,
        Method::GET,
        &format!("/console/accounts/{id}/progress"),
        None,
        None,
    )
    .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "no cookie: to sign-in");
}
