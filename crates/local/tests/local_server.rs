//! End to end, as a newcomer does it: start the real `onboarding` binary (what `cargo run`
//! runs) on a free port with a fresh data dir, sign up over HTTP, read the code from the
//! `.eml` in the outbox, confirm, call `/v1/me`, stop it with SIGTERM, start it again and
//! sign in: the embedded store and keys survive the restart.

use onboarding_test_support::local_server::{self, newest_mail_text};
use serde_json::{Value, json};
use std::process::Command;

#[tokio::test]
async fn cargo_run_walkthrough_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = local_server::http();
    let mut server = local_server::start(env!("CARGO_BIN_EXE_onboarding"), dir.path()).await;
    let base = server.base.clone();

    let r = client
        .post(format!("{base}/v1/signup"))
        .json(&json!({"organization": "Acme IT", "email": "alice@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let text = newest_mail_text(&dir.path().join("outbox"));
    let at = text.find("code is: ").unwrap() + 9;
    let code = &text[at..at + 6];
    assert!(text.contains(&format!("{base}/v1/signup/activate?token=")));

    let r = client
        .post(format!("{base}/v1/signup/confirm"))
        .json(&json!({"email": "alice@example.com", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    let me: Value = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["partner"]["name"], "Acme IT");

    // Graceful stop on SIGTERM (Ctrl-C is handled the same way).
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "the server did not exit cleanly: {status:?}");

    let server = local_server::start(env!("CARGO_BIN_EXE_onboarding"), dir.path()).await;
    let base = server.base.clone();
    let me = client
        .get(format!("{base}/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the session survives a restart");
    let r = client
        .post(format!("{base}/v1/sessions"))
        .json(&json!({"email": "alice@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
