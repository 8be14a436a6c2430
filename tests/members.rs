//! The partner's team (api.md "Partner team"): invitations, accepting one into a session,
//! roles checked in one extractor, the last owner kept, removals ending sessions at once, and
//! every refusal answered with nothing written and no mail sent.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};

const OWNER: &str = "owner@msp.example";
const TECH: &str = "tech@msp.example";
const ADMIN: &str = "admin@msp.example";
const NEW_PASSWORD: &str = "violet-harbor-engine-47";

/// A partner call, a second after the previous one (audit entries of one instant have no order).
async fn send(app: &TestApp, method: Method, token: &str, path: &str, body: Option<Value>) -> Answer {
    app.clock.advance(chrono::Duration::seconds(1));
    call(app, method, path, body.map(|b| b.to_string()), Some(token)).await
}

async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> Answer {
    send(
        app,
        Method::POST,
        token,
        "/v1/members",
        Some(json!({"email": email, "role": role})),
    )
    .await
}

/// The token of the last invitation mailed to `email`.
fn invitation_token(app: &TestApp, email: &str) -> String {
    let mail = app.mailer.to(email).last().cloned().expect("an invitation mail");
    let link = mail
        .links
        .iter()
        .find(|l| l.contains("/invitations/"))
        .expect("an invitation link")
        .clone();
    link.rsplit('/').next().unwrap().to_owned()
}

async fn accept(app: &TestApp, token: &str, password: &str) -> Answer {
    app.clock.advance(chrono::Duration::seconds(1));
    post(
        app,
        "/v1/invitations/accept",
        json!({"token": token, "password": password}),
    )
    .await
}

/// An organization with its owner and a joined member of `role`: (owner's, member's session).
async fn team(app: &TestApp, email: &str, role: &str) -> (String, String) {
    let owner = registered(app, "Acme IT", OWNER).await;
    let a = invite(app, &owner, email, role).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let joined = accept(app, &invitation_token(app, email), NEW_PASSWORD).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    (owner, joined.json()["token"].as_str().unwrap().to_owned())
}

/// `f`'s answer, and that it wrote nothing and mailed nobody.
async fn refused<F: std::future::Future<Output = Answer>>(app: &TestApp, f: F) -> Answer {
    let before = app.snapshot();
    let mails = app.mailer.messages().len();
    let a = f.await;
    assert_eq!(app.snapshot(), before, "something was written: {}", a.text);
    assert_eq!(app.mailer.messages().len(), mails, "something was mailed");
    a
}

#[tokio::test]
async fn an_invited_colleague_joins_with_a_password_and_is_signed_in_with_their_role() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    let me = send(&app, Method::GET, &owner, "/v1/me", None).await.json();
    assert_eq!(me["member"], json!({"email": OWNER, "role": "owner"}), "{me}");

    let a = invite(&app, &owner, TECH, "technician").await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(
        (&a.json()["status"], &a.json()["role"]),
        (&json!("invited"), &json!("technician"))
    );
    let mail = app.mailer.to(TECH).last().cloned().unwrap();
    assert!(mail.subject.contains("Acme IT"), "{}", mail.subject);

    let token = invitation_token(&app, TECH);
    let page = call(&app, Method::GET, &format!("/invitations/{token}"), None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    for shown in ["Acme IT", OWNER, TECH, "technician", "type=\"password\""] {
        assert!(page.text.contains(shown), "{shown} missing from the page");
    }
    assert_eq!(page.headers["cache-control"], "no-store");

    let joined = accept(&app, &token, NEW_PASSWORD).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    let session = joined.json()["token"].as_str().unwrap().to_owned();
    let me = send(&app, Method::GET, &session, "/v1/me", None).await.json();
    assert_eq!(me["member"], json!({"email": TECH, "role": "technician"}), "{me}");
    // The password works for sign-in, too.
    let signed_in = post(&app, "/v1/sessions", json!({"email": TECH, "password": NEW_PASSWORD})).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);

    let list = send(&app, Method::GET, &session, "/v1/members", None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let items = list.json()["items"].clone();
    let by_email: Vec<(String, String, String)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
                m["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        by_email,
        [
            (OWNER.to_owned(), "owner".to_owned(), "active".to_owned()),
            (TECH.to_owned(), "technician".to_owned(), "active".to_owned())
        ]
    );
    let log = send(&app, Method::GET, &owner, "/v1/audit", None).await.json();
    assert_eq!(
        actions(&log),
        ["member_joined", "member_invited", "signup_confirmed"],
        "{log}"
    );
    assert_eq!(log["items"][0]["actor"], json!({"kind": "member", "email": TECH}));
    assert_eq!(log["items"][1]["detail"], json!({"email": TECH, "role": "technician"}));
}

#[tokio::test]
async fn the_invitation_form_joins_and_answers_a_page() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    invite(&app, &owner, ADMIN, "admin").await;
    let token = invitation_token(&app, ADMIN);
    let req = axum::http::Request::post("/v1/invitations/accept")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("token={token}&password={NEW_PASSWORD}")))
        .unwrap();
    let res = tower::ServiceExt::oneshot(onboarding::http::router(app.state.clone()), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("You joined Acme IT"));
}

#[tokio::test]
async fn a_technician_cannot_manage_members_protection_or_auto_add_and_nothing_changes() {
    let app = TestApp::new();
    let (owner, tech) = team(&app, TECH, "technician").await;
    let account = send(
        &app,
        Method::POST,
        &tech,
        "/v1/accounts",
        Some(
            json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "partner",
                    "has_admin_credentials": true}),
        ),
    )
    .await;
    assert_eq!(
        account.status,
        StatusCode::CREATED,
        "technicians add accounts: {}",
        account.text
    );
    let id = account.json()["id"].as_str().unwrap().to_owned();
    let attempts = [
        (
            Method::POST,
            "/v1/members".to_owned(),
            json!({"email": "x@msp.example", "role": "admin"}),
        ),
        (
            Method::PATCH,
            format!("/v1/members/{OWNER}"),
            json!({"role": "technician"}),
        ),
        (
            Method::POST,
            format!("/v1/accounts/{id}/protection"),
            json!({"kind": "users", "all": true, "protected": true}),
        ),
        (
            Method::PUT,
            format!("/v1/accounts/{id}/auto-add"),
            json!({"users": true, "sites": false, "teams": false, "run_at": "02:00", "timezone": "UTC"}),
        ),
    ];
    for (method, path, body) in attempts {
        let a = refused(&app, send(&app, method.clone(), &tech, &path, Some(body))).await;
        assert_eq!(
            (a.status, a.error_code()),
            (StatusCode::FORBIDDEN, "forbidden".into()),
            "{method} {path}"
        );
    }
    let a = refused(
        &app,
        send(&app, Method::DELETE, &tech, &format!("/v1/members/{OWNER}"), None),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Reading is allowed.
    assert_eq!(
        send(&app, Method::GET, &tech, "/v1/members", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Method::GET, &tech, "/v1/audit", None).await.status,
        StatusCode::OK
    );
    let _ = owner;
}

#[tokio::test]
async fn a_role_change_and_a_removal_apply_to_open_sessions_at_once() {
    let app = TestApp::new();
    let (owner, admin) = team(&app, ADMIN, "admin").await;
    let invite_x = || invite(&app, &admin, "x@msp.example", "technician");
    assert_eq!(invite_x().await.status, StatusCode::CREATED);
    let a = send(
        &app,
        Method::PATCH,
        &owner,
        &format!("/v1/members/{ADMIN}"),
        Some(json!({"role": "technician"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json()["role"], "technician");
    assert_eq!(
        invite_x().await.status,
        StatusCode::FORBIDDEN,
        "the open session has the new role"
    );

    let a = send(&app, Method::DELETE, &owner, &format!("/v1/members/{ADMIN}"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    let me = send(&app, Method::GET, &admin, "/v1/me", None).await;
    assert_eq!(
        me.status,
        StatusCode::UNAUTHORIZED,
        "the removed member's session ended"
    );
    let signed_in = post(&app, "/v1/sessions", json!({"email": ADMIN, "password": NEW_PASSWORD})).await;
    assert_eq!(signed_in.status, StatusCode::UNAUTHORIZED);
    let log = send(&app, Method::GET, &owner, "/v1/audit", None).await.json();
    assert_eq!(&actions(&log)[..2], ["member_removed", "member_role_changed"], "{log}");
}

#[tokio::test]
async fn the_last_owner_can_neither_leave_nor_be_demoted_but_can_hand_over() {
    let app = TestApp::new();
    let (owner, admin) = team(&app, ADMIN, "admin").await;
    for (method, body) in [(Method::DELETE, None), (Method::PATCH, Some(json!({"role": "admin"})))] {
        let a = refused(&app, send(&app, method, &owner, &format!("/v1/members/{OWNER}"), body)).await;
        assert_eq!(
            (a.status, a.error_code()),
            (StatusCode::CONFLICT, "last_owner".into()),
            "{}",
            a.text
        );
    }
    // An admin cannot touch an owner, nor make one.
    let a = refused(
        &app,
        send(
            &app,
            Method::PATCH,
            &admin,
            &format!("/v1/members/{OWNER}"),
            Some(json!({"role": "admin"})),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = refused(
        &app,
        send(
            &app,
            Method::PATCH,
            &admin,
            &format!("/v1/members/{ADMIN}"),
            Some(json!({"role": "owner"})),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The owner hands over, then may leave (and their session ends).
    let a = send(
        &app,
        Method::PATCH,
        &owner,
        &format!("/v1/members/{ADMIN}"),
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let a = send(&app, Method::DELETE, &owner, &format!("/v1/members/{OWNER}"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    assert_eq!(
        send(&app, Method::GET, &owner, "/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Now the former admin is the last owner.
    let a = refused(
        &app,
        send(&app, Method::DELETE, &admin, &format!("/v1/members/{ADMIN}"), None),
    )
    .await;
    assert_eq!(a.error_code(), "last_owner");
}

#[tokio::test]
async fn anyone_may_leave_and_their_session_ends() {
    let app = TestApp::new();
    let (owner, tech) = team(&app, TECH, "technician").await;
    let a = send(&app, Method::DELETE, &tech, &format!("/v1/members/{TECH}"), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    assert_eq!(
        send(&app, Method::GET, &tech, "/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, Method::GET, &owner, "/v1/me", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn another_partners_member_answers_404_and_nothing_changes() {
    let app = TestApp::new();
    let (_, _) = team(&app, TECH, "technician").await;
    let other = registered(&app, "Rival MSP", "boss@rival.example").await;
    let path = format!("/v1/members/{TECH}");
    let a = refused(
        &app,
        send(&app, Method::PATCH, &other, &path, Some(json!({"role": "admin"}))),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    let a = refused(&app, send(&app, Method::DELETE, &other, &path, None)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.text);
    let list = send(&app, Method::GET, &other, "/v1/members", None).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}

#[tokio::test]
async fn used_expired_replaced_withdrawn_and_forged_invitations_answer_410_and_change_nothing() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    // Used.
    invite(&app, &owner, TECH, "technician").await;
    let used = invitation_token(&app, TECH);
    assert_eq!(accept(&app, &used, NEW_PASSWORD).await.status, StatusCode::OK);
    // Replaced: a second invitation of the same address.
    invite(&app, &owner, "b@msp.example", "technician").await;
    let replaced = invitation_token(&app, "b@msp.example");
    invite(&app, &owner, "b@msp.example", "admin").await;
    // Withdrawn.
    invite(&app, &owner, "c@msp.example", "admin").await;
    let withdrawn = invitation_token(&app, "c@msp.example");
    let a = send(&app, Method::DELETE, &owner, "/v1/members/c@msp.example", None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
    // Forged: not signed by us.
    let forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB".to_owned();
    for token in [&used, &replaced, &withdrawn, &forged] {
        let a = refused(&app, accept(&app, token, NEW_PASSWORD)).await;
        assert_eq!(
            (a.status, a.error_code()),
            (StatusCode::GONE, "invitation_expired".into()),
            "{}",
            a.text
        );
        let page = refused(
            &app,
            call(&app, Method::GET, &format!("/invitations/{token}"), None, None),
        )
        .await;
        assert_eq!(page.status, StatusCode::GONE);
    }
    // Expired: seven days later.
    let pending = invitation_token(&app, "b@msp.example");
    app.clock
        .advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    let a = refused(&app, accept(&app, &pending, NEW_PASSWORD)).await;
    assert_eq!(a.status, StatusCode::GONE, "{}", a.text);
}

#[tokio::test]
async fn a_weak_password_is_refused_and_the_invitation_still_works() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    invite(&app, &owner, TECH, "technician").await;
    let token = invitation_token(&app, TECH);
    for weak in ["short", "tech@msp.example1", "password1234"] {
        let a = refused(&app, accept(&app, &token, weak)).await;
        assert_eq!(
            (a.status, a.error_code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "weak_password".into()),
            "{weak}"
        );
    }
    assert_eq!(accept(&app, &token, NEW_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_invitations_are_refused_with_nothing_written_or_sent() {
    let app = TestApp::new();
    let (owner, _) = team(&app, TECH, "technician").await;
    let cases = [
        (
            json!({"email": TECH, "role": "admin"}),
            StatusCode::CONFLICT,
            "already_member",
        ),
        (
            json!({"email": "new@msp.example", "role": "owner"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"email": "not an address", "role": "admin"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"email": "new@msp.example", "role": "root"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (body, status, code) in cases {
        let a = refused(
            &app,
            send(&app, Method::POST, &owner, "/v1/members", Some(body.clone())),
        )
        .await;
        assert_eq!(
            (a.status, a.error_code()),
            (status, code.to_owned()),
            "{body}: {}",
            a.text
        );
    }
}

#[tokio::test]
async fn inviting_someone_elses_member_answers_like_anyone_and_only_the_invitee_learns() {
    let app = TestApp::new();
    let owner = registered(&app, "Acme IT", OWNER).await;
    registered(&app, "Rival MSP", "boss@rival.example").await;
    let known = invite(&app, &owner, "boss@rival.example", "admin").await;
    let unknown = invite(&app, &owner, "nobody@rival.example", "admin").await;
    assert_eq!(known.status, unknown.status);
    let shape = |v: Value| {
        let mut v = v;
        v["email"] = json!("");
        v["invitation_expires_at"] = json!("");
        v
    };
    assert_eq!(shape(known.json()), shape(unknown.json()));
    let token = invitation_token(&app, "boss@rival.example");
    let a = refused(&app, accept(&app, &token, NEW_PASSWORD)).await;
    assert_eq!(
        (a.status, a.error_code()),
        (StatusCode::CONFLICT, "already_member".into())
    );
}

/// The same team on DynamoDB Local: the partner index lists members, the owner count guards
/// the last owner, acceptance is one transaction.
#[tokio::test]
async fn the_team_works_on_dynamodb_local() {
    let clock = std::sync::Arc::new(onboarding::clock::ManualClock::default());
    let dynamo = dynamo_store(clock.clone()).await;
    let app = TestApp::with_services(|mut s| {
        s.store = dynamo.clone();
        s.clock = clock.clone();
        s
    });
    let owner = registered(&app, "Acme IT", OWNER).await;
    invite(&app, &owner, ADMIN, "admin").await;
    let token = invitation_token(&app, ADMIN);
    let joined = accept(&app, &token, NEW_PASSWORD).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    assert_eq!(accept(&app, &token, NEW_PASSWORD).await.status, StatusCode::GONE);
    let list = send(&app, Method::GET, &owner, "/v1/members", None).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    let a = send(&app, Method::DELETE, &owner, &format!("/v1/members/{OWNER}"), None).await;
    assert_eq!(a.error_code(), "last_owner");
    let admin = joined.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&app, Method::DELETE, &owner, &format!("/v1/members/{ADMIN}"), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, Method::GET, &admin, "/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}
