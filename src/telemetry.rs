//! Logging: human-readable locally, JSON on Lambda (one object per line, with the span's
//! fields: request ID, route, partner ID). `RUST_LOG` filters; the default is `info`.

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Readable lines for a developer's terminal.
pub fn init_local() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .compact()
        .try_init();
}

/// JSON lines for CloudWatch, without ANSI colours or timestamps (Lambda adds them).
pub fn init_lambda() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
