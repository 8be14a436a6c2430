//! Logging: human-readable locally, JSON on Lambda (one object per line, with every enclosing
//! span's fields: request ID, route, partner ID, account ID). `RUST_LOG` filters; the default
//! is `info`. No secret is ever a field: tokens, codes, passwords and states are `Secret*`
//! types or never logged; `tests/log_secrets.rs` proves it on a whole flow.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout, filter()));
}

/// The Lambda log format, writing to `writer` (tests capture it).
pub fn json_subscriber<W>(writer: W, filter: EnvFilter) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .without_time()
        .with_ansi(false)
        .with_writer(writer)
        .finish()
}
