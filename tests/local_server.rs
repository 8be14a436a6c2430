//! End to end, as a newcomer does it: start the real `onboarding` binary (what `cargo run`
//! runs) on a free port with a fresh data dir, sign up over HTTP, read the code from the
//! `.eml` in the outbox, confirm, call `/v1/me`, stop it with SIGTERM, start it again and
//! sign in: the embedded store and keys survive the restart.

use mail_parser::MessageParser;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(data_dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_onboarding"))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("STORE")
        .env_remove("EMAIL")
        .env_remove("PUBLIC_BASE_URL")
        .env_remove("SIGNING_KEY")
        .stdout(Stdio::null())
        .spawn()
        .expect("the onboarding binary starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("{}/health", server.base)).send().await
            && r.status() == 200
        {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "the local server did not answer /health within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text part of the newest `.eml` in the outbox.
fn newest_mail_text(outbox: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(outbox).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let raw = std::fs::read(files.last().expect("a mail in the outbox")).unwrap();
    let message = MessageParser::default().parse(&raw).expect("an RFC 5322 message");
    assert!(message.html_body_count() == 1 && message.text_body_count() == 1);
    message.body_text(0).unwrap().into_owned()
}

#[tokio::test]
async fn cargo_run_walkthrough_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = start(dir.path()).await;
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

    let server = start(dir.path()).await;
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
