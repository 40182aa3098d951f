//! Logging setup: JSON lines (one object per event) with the request span's fields.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: JSON to stdout, filtered by `RUST_LOG` (default `info`).
/// Safe to call twice (the second call does nothing), which tests rely on.
pub fn init() {
    init_with(std::io::stdout);
}

/// [`init`] writing to stderr: for command-line commands, whose stdout is their answer.
pub fn init_to_stderr() {
    init_with(std::io::stderr);
}

fn init_with<W>(writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .try_init();
}
