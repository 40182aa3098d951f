//! Logging setup: JSON lines (one object per event) with the request span's fields.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber: JSON to stdout, filtered by `RUST_LOG` (see
/// [`log_filter`]). Safe to call twice (the second call does nothing), which tests rely on.
pub fn init() {
    init_with(std::io::stdout);
}

/// [`init`] writing to stderr: for command-line commands, whose stdout is their answer.
pub fn init_to_stderr() {
    init_with(std::io::stderr);
}

/// The log filter for a `RUST_LOG` value: comma-separated `target=level` directives and at
/// most one bare default level, as in `info,access=debug` (a target matches by prefix,
/// `tollgate_app=debug` covers its modules). Unset, empty or invalid, it is `info`.
///
/// This is tracing-subscriber's `Targets` filter, not its `EnvFilter`: the same syntax less
/// the span and field directives (`[span{field=value}]`), which nothing here needs and which
/// bring two regular-expression engines, about 330 KB of every Lambda binary (BENCHMARKS.md).
pub fn log_filter(rust_log: Option<&str>) -> Targets {
    let default = || Targets::new().with_default(LevelFilter::INFO);
    match rust_log.map(str::trim) {
        None | Some("") => default(),
        Some(directives) => directives.parse().unwrap_or_else(|e| {
            // The subscriber is not installed yet: this is the only place to say it.
            eprintln!("RUST_LOG={directives:?} is not a valid log filter ({e}); logging at info");
            default()
        }),
    }
}

fn init_with<W>(writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(writer)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false);
    let _ = tracing_subscriber::registry().with(json).with(filter).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn the_filter_reads_a_default_level_and_per_target_levels() {
        let filter = log_filter(Some("warn,access=debug,tollgate_app=trace"));
        assert!(enabled(&filter, "access", Level::DEBUG));
        assert!(enabled(&filter, "tollgate_app::usage", Level::TRACE), "a target covers its modules");
        assert!(enabled(&filter, "hyper", Level::WARN));
        assert!(!enabled(&filter, "hyper", Level::INFO));
    }

    #[test]
    fn an_unset_empty_or_invalid_filter_logs_at_info() {
        for value in [None, Some(""), Some("  "), Some("access=loud")] {
            let filter = log_filter(value);
            assert!(enabled(&filter, "tollgate", Level::INFO), "{value:?}");
            assert!(!enabled(&filter, "tollgate", Level::DEBUG), "{value:?}");
        }
    }
}
