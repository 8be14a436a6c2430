//! The real `onboarding` binary (what `cargo run` runs) on a free port with its own data dir.
//! Its path comes from the test: `env!("CARGO_BIN_EXE_onboarding")` exists only in the tests
//! of the package that builds it (`crates/local`).

use mail_parser::MessageParser;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn start(bin: &str, data_dir: &Path) -> Server {
    let port = free_port();
    let child = Command::new(bin)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("STORE")
        .env_remove("EMAIL")
        .env_remove("PUBLIC_BASE_URL")
        .env_remove("SIGNING_KEY")
        .env_remove("MICROSOFT_CLIENT_ID")
        .env_remove("MICROSOFT_CLIENT_SECRET")
        .env_remove("GOOGLE_CLIENT_ID")
        .env_remove("GOOGLE_CLIENT_SECRET")
        .stdout(Stdio::null())
        .spawn()
        .expect("the onboarding binary starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = http();
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
pub fn newest_mail_text(outbox: &Path) -> String {
    let mut files: Vec<_> = std::fs::read_dir(outbox).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let raw = std::fs::read(files.last().expect("a mail in the outbox")).unwrap();
    let message = MessageParser::default().parse(&raw).expect("an RFC 5322 message");
    assert!(message.html_body_count() == 1 && message.text_body_count() == 1);
    message.body_text(0).unwrap().into_owned()
}

/// A plain HTTP client for talking to the local server.
pub fn http() -> reqwest::Client {
    onboarding::crypto::install_tls_provider();
    reqwest::Client::new()
}
