//! Process metrics in the Prometheus text exposition format (version 0.0.4), without a
//! metrics crate: atomic counters and fixed-bucket histograms in one global [`Registry`],
//! rendered in a deterministic order (families by name, series by their sorted labels).
//!
//! What is recorded, and where:
//! - `tollgate_http_requests_total{group,status_class}` and
//!   `tollgate_http_request_duration_seconds{group}`: every answer, by the layer
//!   [`crate::finish_router`] adds ([`record_http_request`]). `group` is the route group of
//!   the path ([`route_group`]), never the path itself: no id, key or token reaches a label.
//! - `tollgate_gateway_decisions_total{decision}`: the gateway puts its [`Decision`] into the
//!   answer's extensions, and the same layer counts it ([`record_gateway_decision`]).
//! - `tollgate_worker_messages_total{queue,outcome}`: each round of a local queue worker
//!   ([`record_worker_messages`]).
//! - `tollgate_job_runs_total{job,outcome}` and `tollgate_job_run_duration_seconds{job}`:
//!   each run of a scheduled job ([`record_job_run`]).
//!
//! Figures read at scrape time (the local queues' depth, say) are rendered next to the
//! registry's with [`write_gauge`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// Latency buckets of HTTP requests, in seconds (1 ms to 10 s).
pub const HTTP_DURATION_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Duration buckets of scheduled jobs, in seconds (100 ms to 15 min).
pub const JOB_DURATION_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];

const HTTP_REQUESTS: &str = "tollgate_http_requests_total";
const HTTP_DURATION: &str = "tollgate_http_request_duration_seconds";
const GATEWAY_DECISIONS: &str = "tollgate_gateway_decisions_total";
const WORKER_MESSAGES: &str = "tollgate_worker_messages_total";
const JOB_RUNS: &str = "tollgate_job_runs_total";
const JOB_DURATION: &str = "tollgate_job_run_duration_seconds";

/// A monotonic counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Observations counted into fixed buckets (each observation in the first bucket whose
/// upper bound it does not exceed, or past the last), with their sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, then the observations above the last bound.
    counts: Box<[AtomicU64]>,
    /// The sum, as the bits of an `f64`.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum: AtomicU64::new(0) }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        let slot = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        // A lock-free float add: retried only if another observation landed in between.
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    /// Records a duration, in seconds.
    pub fn observe_duration(&self, duration: Duration) {
        self.observe(duration.as_secs_f64());
    }

    /// The number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The sum of the observations.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// `(upper bound, observations at or below it)` per bucket, cumulative, ending with
    /// `+Inf` and the total count.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        let mut out = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            out.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), total));
        }
        out
    }
}

/// A series' labels, sorted by name (so equal sets are equal keys, and render in one order).
type LabelSet = Vec<(&'static str, String)>;

fn label_set(labels: &[(&'static str, &str)]) -> LabelSet {
    let mut set: LabelSet = labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect();
    set.sort();
    set
}

enum Series {
    Counter(Arc<Counter>),
    Histogram(Arc<Histogram>),
}

struct Family {
    help: &'static str,
    series: BTreeMap<LabelSet, Series>,
}

/// Metric families by name. Lookups take a read lock; only the first use of a series
/// takes the write lock.
#[derive(Default)]
pub struct Registry {
    families: RwLock<BTreeMap<&'static str, Family>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry (tests; the process uses [`Registry::global`]).
    pub fn new() -> Self {
        Registry::default()
    }

    /// The process's registry, with the series that should show from the start (at zero):
    /// each gateway decision, and each local queue's worker outcomes.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let registry = Registry::new();
            for decision in Decision::ALL {
                registry.decision_counter(decision);
            }
            for queue in [
                tollgate_domain::QueueName::Usage,
                tollgate_domain::QueueName::Notifications,
                tollgate_domain::QueueName::StripeEvents,
            ] {
                for outcome in ["succeeded", "retried", "dead_lettered"] {
                    registry.worker_counter(queue.as_str(), outcome);
                }
            }
            registry
        })
    }

    /// The counter `name` with `labels`, created at zero on first use. A name already used
    /// for a histogram gets a counter that is not rendered (a programming error, caught in
    /// debug builds).
    pub fn counter(&self, name: &'static str, help: &'static str, labels: &[(&'static str, &str)]) -> Arc<Counter> {
        let found = self.find(name, labels, |s| match s {
            Series::Counter(c) => Some(c.clone()),
            Series::Histogram(_) => None,
        });
        match found {
            Lookup::Found(c) => c,
            Lookup::WrongKind => {
                debug_assert!(false, "{name} is a histogram");
                Arc::default()
            }
            Lookup::Missing => {
                let mut families = self.families.write().unwrap_or_else(|e| e.into_inner());
                let family = families.entry(name).or_insert_with(|| Family { help, series: BTreeMap::new() });
                let series = family.series.entry(label_set(labels)).or_insert_with(|| Series::Counter(Arc::default()));
                match series {
                    Series::Counter(c) => c.clone(),
                    Series::Histogram(_) => Arc::default(),
                }
            }
        }
    }

    /// The histogram `name` with `labels` and the bucket bounds `bounds` (ascending),
    /// created empty on first use.
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        bounds: &'static [f64],
        labels: &[(&'static str, &str)],
    ) -> Arc<Histogram> {
        let found = self.find(name, labels, |s| match s {
            Series::Histogram(h) => Some(h.clone()),
            Series::Counter(_) => None,
        });
        match found {
            Lookup::Found(h) => h,
            Lookup::WrongKind => {
                debug_assert!(false, "{name} is a counter");
                Arc::new(Histogram::new(bounds))
            }
            Lookup::Missing => {
                let mut families = self.families.write().unwrap_or_else(|e| e.into_inner());
                let family = families.entry(name).or_insert_with(|| Family { help, series: BTreeMap::new() });
                let series = family
                    .series
                    .entry(label_set(labels))
                    .or_insert_with(|| Series::Histogram(Arc::new(Histogram::new(bounds))));
                match series {
                    Series::Histogram(h) => h.clone(),
                    Series::Counter(_) => Arc::new(Histogram::new(bounds)),
                }
            }
        }
    }

    fn find<T>(&self, name: &str, labels: &[(&'static str, &str)], pick: impl Fn(&Series) -> Option<T>) -> Lookup<T> {
        let families = self.families.read().unwrap_or_else(|e| e.into_inner());
        let Some(family) = families.get(name) else {
            return Lookup::Missing;
        };
        // Every family of the name has the same kind: one series tells.
        if let Some(any) = family.series.values().next() {
            if pick(any).is_none() {
                return Lookup::WrongKind;
            }
        }
        match family.series.get(&label_set(labels)) {
            Some(series) => pick(series).map_or(Lookup::WrongKind, Lookup::Found),
            None => Lookup::Missing,
        }
    }

    /// Every family in the text exposition format: families by name, series by labels.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    /// [`Registry::render`] appended to `out`.
    pub fn render_into(&self, out: &mut String) {
        let families = self.families.read().unwrap_or_else(|e| e.into_inner());
        for (name, family) in families.iter() {
            let kind = match family.series.values().next() {
                Some(Series::Histogram(_)) => "histogram",
                _ => "counter",
            };
            write_header(out, name, family.help, kind);
            for (labels, series) in &family.series {
                let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                match series {
                    Series::Counter(c) => write_sample(out, name, "", &labels, None, &c.get().to_string()),
                    Series::Histogram(h) => write_histogram(out, name, &labels, h),
                }
            }
        }
    }

    fn decision_counter(&self, decision: Decision) -> Arc<Counter> {
        self.counter(
            GATEWAY_DECISIONS,
            "Gateway calls by decision: allowed, or refused (rate_limited, over_quota, unauthorized, forbidden).",
            &[("decision", decision.as_str())],
        )
    }

    fn worker_counter(&self, queue: &str, outcome: &str) -> Arc<Counter> {
        self.counter(
            WORKER_MESSAGES,
            "Messages handled by the local queue workers, by queue and outcome (succeeded, retried, dead_lettered).",
            &[("queue", queue), ("outcome", outcome)],
        )
    }
}

enum Lookup<T> {
    Found(T),
    Missing,
    WrongKind,
}

/// What the gateway decided about a call: the `decision` label of
/// `tollgate_gateway_decisions_total` and the `Decision` dimension in CloudWatch. The
/// gateway puts it into its answer's extensions; the metrics layers read it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Let through (forwarded, reported or verified), whatever the upstream answered.
    Allowed,
    /// 429 `rate_limited`.
    RateLimited,
    /// 429 `quota_exceeded`.
    OverQuota,
    /// 401: no key, or a key that is unknown, malformed, revoked, expired or rotated.
    Unauthorized,
    /// 403: the key's account is suspended or its subscription inactive.
    Forbidden,
}

impl Decision {
    /// Every decision, in label order.
    pub const ALL: [Decision; 5] =
        [Decision::Allowed, Decision::RateLimited, Decision::OverQuota, Decision::Unauthorized, Decision::Forbidden];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::RateLimited => "rate_limited",
            Decision::OverQuota => "over_quota",
            Decision::Unauthorized => "unauthorized",
            Decision::Forbidden => "forbidden",
        }
    }

    /// The decision a gateway refusal stands for; `None` for an answer that decides nothing
    /// about the caller (a bad path, an unknown endpoint, a failing store). The upstream's
    /// failures (502, 504) come after the call was let through and counted: `Allowed`.
    pub fn of_refusal(error: &crate::ApiError) -> Option<Decision> {
        use crate::ErrorCode;
        match error.error_code() {
            ErrorCode::RateLimited => Some(Decision::RateLimited),
            ErrorCode::QuotaExceeded => Some(Decision::OverQuota),
            ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout => Some(Decision::Allowed),
            code if code.status() == axum::http::StatusCode::UNAUTHORIZED => Some(Decision::Unauthorized),
            code if code.status() == axum::http::StatusCode::FORBIDDEN => Some(Decision::Forbidden),
            _ => None,
        }
    }
}

/// The route group of a path (the matched route's, or the request's): the function that
/// serves it in AWS (template.yaml's routes), `public` for health and the spec, `other` for
/// anything else. Only these fixed names become labels.
pub fn route_group(path: &str) -> &'static str {
    let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    if under("/api/v1") {
        "gateway"
    } else if under("/api/user/auth") || under("/api/admin/auth") {
        "auth"
    } else if under("/api/admin") {
        "admin"
    } else if under("/api/user/account") {
        "account"
    } else if under("/api/user/api-keys") || under("/api/user/projects") {
        "api-keys"
    } else if under("/api/user/usage") {
        "usage"
    } else if under("/api/plans") || under("/api/user/subscription") || under("/api/user/billing") {
        "billing"
    } else if under("/api/stripe/webhook") {
        "stripe-webhook"
    } else if path == "/health" || path == "/api/openapi.json" {
        "public"
    } else {
        "other"
    }
}

/// `1xx` to `5xx` (`other` outside 100-599).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// Counts one answer of route group `group` (see [`route_group`]) and its latency.
pub fn record_http_request(group: &'static str, status: u16, duration: Duration) {
    let registry = Registry::global();
    registry
        .counter(
            HTTP_REQUESTS,
            "HTTP requests answered, by route group and status class.",
            &[("group", group), ("status_class", status_class(status))],
        )
        .inc();
    registry
        .histogram(
            HTTP_DURATION,
            "Time to answer an HTTP request, in seconds, by route group.",
            HTTP_DURATION_BUCKETS,
            &[("group", group)],
        )
        .observe_duration(duration);
}

/// Counts one gateway decision.
pub fn record_gateway_decision(decision: Decision) {
    Registry::global().decision_counter(decision).inc();
}

/// Counts one round of a local queue worker on `queue`: messages acknowledged, released for
/// a retry, and moved to the dead letters.
pub fn record_worker_messages(queue: &str, succeeded: u64, retried: u64, dead_lettered: u64) {
    let registry = Registry::global();
    for (outcome, n) in [("succeeded", succeeded), ("retried", retried), ("dead_lettered", dead_lettered)] {
        if n > 0 {
            registry.worker_counter(queue, outcome).add(n);
        }
    }
}

/// Counts one run of the scheduled job `job` with its `outcome` (`succeeded`, `failed` or
/// `skipped`) and how long it took. For the scheduler; in Lambda, see
/// `tollgate_lambda::emf::job_run`.
pub fn record_job_run(job: &str, outcome: &str, duration: Duration) {
    let registry = Registry::global();
    registry.counter(JOB_RUNS, "Scheduled job runs, by job and outcome.", &[("job", job), ("outcome", outcome)]).inc();
    registry
        .histogram(JOB_DURATION, "Time a scheduled job ran, in seconds, by job.", JOB_DURATION_BUCKETS, &[("job", job)])
        .observe_duration(duration);
}

/// Appends a gauge family read at scrape time: `samples` are `(labels, value)`.
pub fn write_gauge(out: &mut String, name: &str, help: &str, samples: &[(&[(&str, &str)], f64)]) {
    write_family(out, name, help, "gauge", samples);
}

/// Appends a counter family read at scrape time (kept elsewhere than the registry).
pub fn write_counter(out: &mut String, name: &str, help: &str, samples: &[(&[(&str, &str)], f64)]) {
    write_family(out, name, help, "counter", samples);
}

fn write_family(out: &mut String, name: &str, help: &str, kind: &str, samples: &[(&[(&str, &str)], f64)]) {
    write_header(out, name, help, kind);
    for (labels, value) in samples {
        write_sample(out, name, "", labels, None, &format_value(*value));
    }
}

fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn write_histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &Histogram) {
    let cumulative = h.cumulative();
    for (bound, count) in &cumulative {
        let le = format_value(*bound);
        write_sample(out, name, "_bucket", labels, Some(&le), &count.to_string());
    }
    write_sample(out, name, "_sum", labels, None, &format_value(h.sum()));
    let count = cumulative.last().map_or(0, |(_, n)| *n);
    write_sample(out, name, "_count", labels, None, &count.to_string());
}

/// One line: `name{labels} value`, with `le` last for a bucket.
fn write_sample(out: &mut String, name: &str, suffix: &str, labels: &[(&str, &str)], le: Option<&str>, value: &str) {
    out.push_str(name);
    out.push_str(suffix);
    let all = labels.iter().copied().chain(le.map(|le| ("le", le)));
    for (i, (key, val)) in all.enumerate() {
        out.push(if i == 0 { '{' } else { ',' });
        let _ = write!(out, "{key}=\"{}\"", escape_label_value(val));
    }
    if !labels.is_empty() || le.is_some() {
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value: `+Inf`, `-Inf`, `NaN`, or the shortest decimal that reads back equal.
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// The value of the sample `name{labels}` in `text` (a rendering), if present; labels in
/// any order. For tests of what a scrape shows.
pub fn sample_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        if series_name != name {
            return None;
        }
        let parsed: Vec<(&str, String)> = parse_labels(series_labels)?;
        let matches = parsed.len() == labels.len()
            && labels.iter().all(|(k, v)| parsed.iter().any(|(pk, pv)| pk == k && pv == &escape_label_value(v)));
        if !matches {
            return None;
        }
        match value {
            "+Inf" => Some(f64::INFINITY),
            v => v.parse().ok(),
        }
    })
}

/// `k="v",k2="v2"` into pairs (values left escaped).
fn parse_labels(text: &str) -> Option<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => {
                    value.push('\\');
                    value.push(chars.next()?.1);
                }
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.push((key, value));
        rest = after[end + 1..].strip_prefix(',').unwrap_or(&after[end + 1..]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_renders_with_help_type_and_sorted_labels() {
        let r = Registry::new();
        r.counter("t_requests_total", "Requests.", &[("status_class", "2xx"), ("group", "auth")]).add(3);
        r.counter("t_requests_total", "Requests.", &[("group", "auth"), ("status_class", "2xx")]).inc();
        r.counter("t_requests_total", "Requests.", &[("group", "admin"), ("status_class", "4xx")]).inc();
        assert_eq!(
            r.render(),
            "# HELP t_requests_total Requests.\n\
             # TYPE t_requests_total counter\n\
             t_requests_total{group=\"admin\",status_class=\"4xx\"} 1\n\
             t_requests_total{group=\"auth\",status_class=\"2xx\"} 4\n"
        );
    }

    #[test]
    fn families_render_by_name_and_a_series_without_labels_has_no_braces() {
        let r = Registry::new();
        r.counter("t_b_total", "B.", &[]).inc();
        r.counter("t_a_total", "A.", &[]).add(2);
        assert_eq!(
            r.render(),
            "# HELP t_a_total A.\n# TYPE t_a_total counter\nt_a_total 2\n\
             # HELP t_b_total B.\n# TYPE t_b_total counter\nt_b_total 1\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf_sum_and_count() {
        static BOUNDS: &[f64] = &[0.1, 0.5, 1.0];
        let r = Registry::new();
        let h = r.histogram("t_seconds", "Latency.", BOUNDS, &[("group", "gateway")]);
        for v in [0.05, 0.1, 0.3, 0.7, 2.0] {
            h.observe(v);
        }
        let text = r.render();
        assert_eq!(
            text,
            "# HELP t_seconds Latency.\n\
             # TYPE t_seconds histogram\n\
             t_seconds_bucket{group=\"gateway\",le=\"0.1\"} 2\n\
             t_seconds_bucket{group=\"gateway\",le=\"0.5\"} 3\n\
             t_seconds_bucket{group=\"gateway\",le=\"1\"} 4\n\
             t_seconds_bucket{group=\"gateway\",le=\"+Inf\"} 5\n\
             t_seconds_sum{group=\"gateway\"} 3.15\n\
             t_seconds_count{group=\"gateway\"} 5\n"
        );
        assert_eq!(h.count(), 5);
        assert_eq!(sample_value(&text, "t_seconds_bucket", &[("le", "+Inf"), ("group", "gateway")]), Some(5.0));
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let r = Registry::new();
        r.counter("t_total", "Line one\nback\\slash", &[("job", "a\"b\\c\nd")]).inc();
        let text = r.render();
        assert!(text.contains("# HELP t_total Line one\\nback\\\\slash\n"), "{text}");
        assert!(text.contains("t_total{job=\"a\\\"b\\\\c\\nd\"} 1\n"), "{text}");
        assert_eq!(sample_value(&text, "t_total", &[("job", "a\"b\\c\nd")]), Some(1.0));
    }

    #[test]
    fn a_name_keeps_its_kind() {
        let r = Registry::new();
        r.counter("t_x", "X.", &[]).inc();
        let orphan = std::panic::catch_unwind(|| r.histogram("t_x", "X.", JOB_DURATION_BUCKETS, &[]).observe(1.0));
        // Debug builds assert; release builds hand out an unregistered histogram.
        assert!(orphan.is_err() || !r.render().contains("bucket"));
    }

    #[test]
    fn gauges_render_with_their_type() {
        let mut out = String::new();
        write_gauge(&mut out, "t_depth", "Depth.", &[(&[("queue", "usage")], 3.0), (&[("queue", "x")], 0.5)]);
        assert_eq!(
            out,
            "# HELP t_depth Depth.\n# TYPE t_depth gauge\nt_depth{queue=\"usage\"} 3\nt_depth{queue=\"x\"} 0.5\n"
        );
    }

    #[test]
    fn paths_map_to_their_route_group_only() {
        let cases = [
            ("/api/v1/{*path}", "gateway"),
            ("/api/v1", "gateway"),
            ("/api/v1/track", "gateway"),
            ("/api/v1x", "other"),
            ("/api/user/auth/login", "auth"),
            ("/api/admin/auth/login", "auth"),
            ("/api/admin/plans/{id}", "admin"),
            ("/api/user/account/password", "account"),
            ("/api/user/api-keys/{id}/rotate", "api-keys"),
            ("/api/user/projects", "api-keys"),
            ("/api/user/usage/summary", "usage"),
            ("/api/plans", "billing"),
            ("/api/user/subscription/upgrade", "billing"),
            ("/api/user/billing/invoices", "billing"),
            ("/api/stripe/webhook", "stripe-webhook"),
            ("/health", "public"),
            ("/api/openapi.json", "public"),
            ("/metrics", "other"),
            ("/sk_live_secret", "other"),
        ];
        for (path, group) in cases {
            assert_eq!(route_group(path), group, "{path}");
        }
        assert_eq!(
            (status_class(204), status_class(429), status_class(503), status_class(42)),
            ("2xx", "4xx", "5xx", "other")
        );
    }

    #[test]
    fn refusals_map_to_decisions() {
        use crate::{ApiError, ErrorCode};
        let of = |code| Decision::of_refusal(&ApiError::rejected(code, "x"));
        assert_eq!(of(ErrorCode::InvalidApiKey), Some(Decision::Unauthorized));
        assert_eq!(of(ErrorCode::MissingApiKey), Some(Decision::Unauthorized));
        assert_eq!(of(ErrorCode::SubscriptionInactive), Some(Decision::Forbidden));
        assert_eq!(of(ErrorCode::UpstreamTimeout), Some(Decision::Allowed));
        assert_eq!(of(ErrorCode::NotFound), None);
        let limited = ApiError::TooManyRequests { code: ErrorCode::QuotaExceeded, message: "x".into(), retry_after: 1 };
        assert_eq!(Decision::of_refusal(&limited), Some(Decision::OverQuota));
    }

    #[test]
    fn job_runs_are_counted_in_the_global_registry() {
        let before = Registry::global().render();
        let runs = |text: &str| sample_value(text, JOB_RUNS, &[("job", "t_close_period"), ("outcome", "failed")]);
        let count =
            |text: &str| sample_value(text, "tollgate_job_run_duration_seconds_count", &[("job", "t_close_period")]);
        record_job_run("t_close_period", "failed", Duration::from_millis(1500));
        let after = Registry::global().render();
        assert_eq!(runs(&after).unwrap() - runs(&before).unwrap_or(0.0), 1.0);
        assert_eq!(count(&after).unwrap() - count(&before).unwrap_or(0.0), 1.0);
        let le5 =
            sample_value(&after, "tollgate_job_run_duration_seconds_bucket", &[("job", "t_close_period"), ("le", "5")]);
        let le1 =
            sample_value(&after, "tollgate_job_run_duration_seconds_bucket", &[("job", "t_close_period"), ("le", "1")]);
        assert!(le5.unwrap() >= 1.0 && le1 == Some(0.0), "{after}");
    }

    #[test]
    fn every_decision_shows_from_the_start() {
        let text = Registry::global().render();
        for d in Decision::ALL {
            assert!(sample_value(&text, GATEWAY_DECISIONS, &[("decision", d.as_str())]).is_some(), "{text}");
        }
    }
}
