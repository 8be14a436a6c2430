//! A real browser (headless Debian Chromium driven by playwright-core, both installed by
//! `scripts/test`) walks the client administrator's path against `cargo run`'s binary and its
//! sandbox provider: open the emailed link, press the button, accept, land on the result; the
//! tenant's users are then listed with no Refresh (the first discovery job ran by itself).
//! The screenshot is kept in `target/browser-artifacts/`.

use onboarding_test_support::local_server::{self, http, newest_mail_text};
use onboarding_test_support::{PASSWORD, code_in, link_in};
use serde_json::{Value, json};
use std::process::Command;

/// Runs the browser script on `link` (`mode`: `offer` fills the offer form first); keeps its
/// screenshot as `target/browser-artifacts/<screenshot>`; answers the script's JSON line.
fn browse(node_path: &str, link: &str, screenshot: &str, mode: Option<&str>) -> Value {
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join(screenshot);
    let _ = std::fs::remove_file(&screenshot);
    let mut args = vec![link.to_owned(), screenshot.display().to_string()];
    args.extend(mode.map(str::to_owned));
    let seen = node(node_path, "consent.cjs", &args);
    assert!(
        std::fs::metadata(&screenshot).unwrap().len() > 1000,
        "a screenshot was kept"
    );
    seen
}

/// Runs `tests/browser/<script>` with `args` under node (NODE_PATH finds playwright-core and
/// axe-core); fails on a failed run; answers the script's JSON line.
fn node(node_path: &str, script: &str, args: &[String]) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(script);
    let out = Command::new("node")
        .arg(&script)
        .args(args)
        .env("NODE_PATH", node_path)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON line")
}

/// A confirmed partner on the local server: its session token.
async fn partner(client: &onboarding_test_support::reqwest::Client, base: &str, outbox: &std::path::Path) -> String {
    let r = client
        .post(format!("{base}/v1/signup"))
        .json(&json!({"organization": "Acme IT", "email": "owner@msp.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let code = code_in(&newest_mail_text(outbox));
    let r = client
        .post(format!("{base}/v1/signup/confirm"))
        .json(&json!({"email": "owner@msp.example", "code": code}))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_onboards_itself_through_an_offer_in_a_browser() {
    let node_path = std::env::var("NODE_PATH")
        .expect("NODE_PATH is not set: run the suite with `scripts/test`, which installs playwright-core and Chromium");
    let dir = tempfile::tempdir().unwrap();
    let server = local_server::start(env!("CARGO_BIN_EXE_onboarding"), dir.path()).await;
    let client = http();
    let base = &server.base;
    let outbox = dir.path().join("outbox");
    let session = partner(&client, base, &outbox).await;
    let r = client
        .post(format!("{base}/v1/offers"))
        .bearer_auth(&session)
        .json(&json!({"platform": "microsoft365", "label": "Website"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let offer: Value = r.json().await.unwrap();

    let result = browse(
        &node_path,
        offer["url"].as_str().unwrap(),
        "offer-result.png",
        Some("offer"),
    );
    assert!(result["url"].as_str().unwrap().contains("/authorize/done/"), "{result}");
    assert!(result["text"].as_str().unwrap().contains("being set up"), "{result}");
    assert_eq!(result["violations"], json!([]), "{result}");
    assert_eq!(result["styled"]["landing"], "rgb(37, 99, 235)", "{result}");

    // The partner is told, and the offer counts the use.
    assert!(
        newest_mail_text(&outbox).contains("Northwind Traders accepted your offer"),
        "{}",
        newest_mail_text(&outbox)
    );
    let offers: Value = client
        .get(format!("{base}/v1/offers"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(offers["items"][0]["uses"], 1, "{offers}");
}

#[tokio::test]
async fn an_admin_authorizes_from_the_emailed_link_in_a_browser() {
    let node_path = std::env::var("NODE_PATH")
        .expect("NODE_PATH is not set: run the suite with `scripts/test`, which installs playwright-core and Chromium");
    let dir = tempfile::tempdir().unwrap();
    let server = local_server::start(env!("CARGO_BIN_EXE_onboarding"), dir.path()).await;
    let client = http();
    let base = &server.base;
    let outbox = dir.path().join("outbox");

    let session = partner(&client, base, &outbox).await;
    let body = json!({"client_name": "Contoso", "platform": "microsoft365", "managed_by": "client",
                      "has_admin_credentials": false, "authorization_email": "admin@contoso.example"});
    let r = client
        .post(format!("{base}/v1/accounts"))
        .bearer_auth(&session)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let account: Value = r.json().await.unwrap();
    let link = link_in(&newest_mail_text(&outbox), "/authorize/");

    let result = browse(&node_path, &link, "consent-result.png", None);
    assert!(result["url"].as_str().unwrap().contains("/authorize/done/"), "{result}");
    assert!(result["text"].as_str().unwrap().contains("being set up"), "{result}");
    // The pages' Content-Security-Policy blocked nothing, and their stylesheet applied.
    assert_eq!(result["violations"], json!([]), "{result}");
    assert_eq!(result["styled"]["landing"], "rgb(37, 99, 235)", "{result}");
    assert_eq!(result["styled"]["consent"], "rgb(37, 99, 235)", "{result}");

    let id = account["id"].as_str().unwrap();
    let v: Value = client
        .get(format!("{base}/v1/accounts/{id}"))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "active", "{v}");
    assert_eq!(v["tenant_id"], onboarding_sandbox::CONTOSO_TENANT_ID);

    // Discovery started by itself (Accept queued its first job): the tenant's users are listed
    // with no Refresh and no scheduler tick.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let users: Value = client
            .get(format!("{base}/v1/accounts/{id}/users"))
            .bearer_auth(&session)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if users["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no users listed 30 s after consent: {users}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Runs `tests/browser/console.cjs` in `mode` against a fresh `cargo run` binary; its
/// screenshots go to `target/browser-artifacts/console-<mode>/`. Answers the script's JSON line.
async fn console_walk(mode: &str) -> Value {
    let node_path = std::env::var("NODE_PATH")
        .expect("NODE_PATH is not set: run the suite with `scripts/test`, which installs playwright-core, axe-core and Chromium");
    let dir = tempfile::tempdir().unwrap();
    let server = local_server::start(env!("CARGO_BIN_EXE_onboarding"), dir.path()).await;
    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/browser-artifacts")
        .join(format!("console-{mode}"));
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let started = std::time::Instant::now();
    let seen = node(
        &node_path,
        "console.cjs",
        &[
            server.base.clone(),
            dir.path().join("outbox").display().to_string(),
            artifacts.display().to_string(),
            mode.to_owned(),
        ],
    );
    eprintln!(
        "console browser walk ({mode}): {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Every page: a screenshot at both widths, nothing wider than a 390 px phone, no serious
    // accessibility violation, nothing blocked by the pages' policy.
    for p in seen["pages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        for width in ["1440", "390"] {
            let shot = artifacts.join(format!("{name}-{width}.png"));
            assert!(std::fs::metadata(&shot).unwrap().len() > 1000, "{}", shot.display());
        }
        assert!(
            p["width390"].as_u64().unwrap() <= 390,
            "{name} scrolls sideways at 390 px: {p}"
        );
        assert!(p["title"].as_str().unwrap().ends_with("SaaS Backup console"), "{p}");
    }
    assert_eq!(seen["axe"], json!([]), "accessibility: {seen}");
    assert_eq!(seen["csp"], json!([]), "content security policy: {seen}");
    seen
}

#[tokio::test]
async fn a_partner_onboards_a_client_and_protects_users_in_the_console() {
    let seen = console_walk("walk").await;
    assert!(seen["adminResult"].as_str().unwrap().contains("being set up"), "{seen}");
    assert!(seen["status"].as_str().unwrap().contains("Contoso"), "{seen}");
    assert!(seen["progressStart"].as_str().unwrap().contains("queued"), "{seen}");
    assert!(seen["progressEnd"].as_str().unwrap().contains("done"), "{seen}");
    let wanted = seen["search"]["wanted"].as_str().unwrap();
    let rows = seen["search"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{seen}");
    assert!(rows[0].as_str().unwrap().contains(wanted), "{seen}");
    assert!(
        seen["seatsAfterProtect"].as_str().unwrap().starts_with("Seats 3 of"),
        "{seen}"
    );
    assert_eq!(seen["protectedRows"], 3, "{seen}");
    let auto_add = seen["autoAdd"].as_str().unwrap();
    assert!(auto_add.contains("20:00 AE") && auto_add.contains("UTC)"), "{auto_add}");
    assert!(
        seen["autoAddYours"].as_str().unwrap().starts_with("Your time: "),
        "{seen}"
    );
    assert!(seen["seats"].as_str().unwrap().contains("3 of"), "{seen}");
    assert!(seen["audit"].as_str().unwrap().contains("protection changed"), "{seen}");
    assert_eq!(seen["pages"].as_array().unwrap().len(), 16, "{seen}");
}

#[tokio::test]
async fn a_partner_walks_the_reauthorization_banners_begin_in_the_console() {
    let seen = console_walk("reauth").await;
    let banner = seen["banner"].as_str().unwrap();
    assert!(banner.contains("Reauthorization required"), "{banner}");
    assert!(
        banner.contains("Files.ReadWrite.All") && banner.contains("OneDrive"),
        "in plain words: {banner}"
    );
    assert!(seen["afterBegin"].as_str().unwrap().contains("Active"), "{seen}");
    assert_eq!(seen["bannerGone"], true, "{seen}");
}
