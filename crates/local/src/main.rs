//! `cargo run`: the whole service on one local server (embedded store, local outbox) and, for
//! providers without real credentials, the sandbox identity provider (`onboarding-sandbox`,
//! which only this binary links).

use onboarding::config::{Config, EmailKind, Runtime, StoreKind};
use onboarding::services::Services;
use onboarding::{http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    telemetry::init_local();
    let mut config = Config::from_env(Runtime::Local)?;
    // Providers without real credentials: the sandbox's, served below.
    let sandboxed = onboarding_sandbox::configure(&mut config);
    let state = Services::from_config(&config).await?;
    // Discovery jobs, in process (on AWS: the SQS queue and the discovery function): the
    // worker drains the queue as jobs arrive; the schedule's tick (on AWS: EventBridge and
    // the schedule function) queues due accounts.
    tokio::spawn(onboarding::flows::worker::run_local(
        state.clone(),
        onboarding::flows::worker::LOCAL_BUDGET,
    ));
    let tick = config.discovery_interval.min(std::time::Duration::from_secs(60));
    let scheduled = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = onboarding::flows::schedule::fan_out(&scheduled).await {
                tracing::error!(cause = %e, "the schedule's tick failed");
            }
        }
    });
    tracing::info!(every = ?tick, interval = ?config.discovery_interval, "job worker and schedule started");
    let mut extra = axum::Router::new();
    if sandboxed {
        extra = onboarding_sandbox::router(onboarding_sandbox::Sandbox::new());
        tracing::warn!(
            url = %format!("{}/sandbox/", config.public_base_url),
            "no Microsoft/Google credentials: serving the SANDBOX identity provider (not real tenants)"
        );
    }
    let app = http::local(state, extra);
    let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
    let store = match config.store {
        StoreKind::Embedded => format!("embedded ({})", config.data_dir.join("store.redb").display()),
        StoreKind::Dynamodb => format!("DynamoDB table {}", config.table_name),
    };
    let mail = match config.email {
        EmailKind::Outbox => format!(
            "outbox {} (links are printed here too)",
            config.data_dir.join("outbox").display()
        ),
        EmailKind::Ses => "Amazon SES".to_owned(),
    };
    tracing::info!(addr = %listener.local_addr()?, %store, %mail, "onboarding service listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
