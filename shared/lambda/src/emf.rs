//! Metrics as CloudWatch embedded-metric-format (EMF) log lines: one JSON object on stdout
//! whose `_aws` member tells CloudWatch Logs which of its fields are metrics, so the figures
//! cost no API call (CloudWatch extracts them from the function's log group).
//!
//! Namespace `Tollgate`; `Function` is the Lambda function's name
//! (`AWS_LAMBDA_FUNCTION_NAME`, what `!Ref <Function>` gives in template.yaml):
//! - every HTTP answer ([`http_request_line`], by [`crate::serve`]): `Requests` (Count) and
//!   `Latency` (Milliseconds) by `Function` + `StatusClass` and by `Function` alone (what the
//!   latency alarm reads); on the gateway also `Decisions` (Count) by `Function` + `Decision`;
//! - every SQS batch ([`sqs_batch_line`], by [`crate::sqs::serve`]): `Processed` (handled
//!   successfully) and `Failed` (reported for a retry) by `Function` + `Queue`;
//! - every scheduled job run ([`job_run`]): `JobRuns` (Count) by `Function` + `Job` +
//!   `Outcome` and by `Function` + `Job`, and `JobDuration` (Milliseconds) with them.
//!
//! Only fixed names and the status class become dimensions: never a path, id or key.

use serde_json::{json, Value};
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tollgate_http::metrics::{status_class, Decision};

/// The CloudWatch namespace of every figure.
pub const NAMESPACE: &str = "Tollgate";

/// This function's name (`AWS_LAMBDA_FUNCTION_NAME`, set by Lambda), or `local` outside Lambda.
pub fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| "local".into())
    })
}

/// Milliseconds since the Unix epoch, now.
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One metric directive: its dimension sets and `(name, unit)` metrics.
fn directive(dimensions: &[&[&str]], metrics: &[(&str, &str)]) -> Value {
    json!({
        "Namespace": NAMESPACE,
        "Dimensions": dimensions,
        "Metrics": metrics.iter().map(|(name, unit)| json!({"Name": name, "Unit": unit})).collect::<Vec<_>>(),
    })
}

/// The line: `fields` (dimension values and metric values) at the top level, with `_aws`.
fn line(timestamp_ms: u64, directives: Vec<Value>, fields: Vec<(&str, Value)>) -> String {
    let mut object = serde_json::Map::new();
    object.insert("_aws".into(), json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}));
    for (key, value) in fields {
        object.insert(key.into(), value);
    }
    Value::Object(object).to_string()
}

/// The EMF line of one HTTP answer of `function`: its status, its latency, and the
/// gateway's decision if it made one.
pub fn http_request_line(
    function: &str,
    status: u16,
    latency: Duration,
    decision: Option<Decision>,
    timestamp_ms: u64,
) -> String {
    let mut directives = vec![directive(
        &[&["Function", "StatusClass"], &["Function"]],
        &[("Requests", "Count"), ("Latency", "Milliseconds")],
    )];
    let mut fields = vec![
        ("Function", json!(function)),
        ("StatusClass", json!(status_class(status))),
        ("Requests", json!(1)),
        ("Latency", json!(latency.as_secs_f64() * 1000.0)),
    ];
    if let Some(decision) = decision {
        directives.push(directive(&[&["Function", "Decision"]], &[("Decisions", "Count")]));
        fields.push(("Decision", json!(decision.as_str())));
        fields.push(("Decisions", json!(1)));
    }
    line(timestamp_ms, directives, fields)
}

/// The EMF line of one SQS batch of `function` from `queue`: `processed` messages handled,
/// `failed` reported for a retry.
pub fn sqs_batch_line(function: &str, queue: &str, processed: usize, failed: usize, timestamp_ms: u64) -> String {
    line(
        timestamp_ms,
        vec![directive(&[&["Function", "Queue"]], &[("Processed", "Count"), ("Failed", "Count")])],
        vec![
            ("Function", json!(function)),
            ("Queue", json!(queue)),
            ("Processed", json!(processed)),
            ("Failed", json!(failed)),
        ],
    )
}

/// The EMF line of one run of the scheduled job `job` of `function`.
pub fn job_run_line(function: &str, job: &str, outcome: &str, duration_ms: u64, timestamp_ms: u64) -> String {
    line(
        timestamp_ms,
        vec![directive(
            &[&["Function", "Job", "Outcome"], &["Function", "Job"]],
            &[("JobRuns", "Count"), ("JobDuration", "Milliseconds")],
        )],
        vec![
            ("Function", json!(function)),
            ("Job", json!(job)),
            ("Outcome", json!(outcome)),
            ("JobRuns", json!(1)),
            ("JobDuration", json!(duration_ms)),
        ],
    )
}

/// Writes `line` to stdout as one line (CloudWatch Logs picks it up).
pub fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Reports one run of the scheduled job `job` with its `outcome` (`succeeded`, `failed` or
/// `skipped`) and how long it took: the Lambda twin of
/// `tollgate_http::metrics::record_job_run`.
pub fn job_run(job: &str, outcome: &str, duration_ms: u64) {
    emit(&job_run_line(function_name(), job, outcome, duration_ms, now_ms()));
}

/// Reports one HTTP answer (see [`http_request_line`]).
pub(crate) fn http_request(status: u16, latency: Duration, decision: Option<Decision>) {
    emit(&http_request_line(function_name(), status, latency, decision, now_ms()));
}

/// Reports one SQS batch (see [`sqs_batch_line`]).
pub(crate) fn sqs_batch(queue: &str, processed: usize, failed: usize) {
    emit(&sqs_batch_line(function_name(), queue, processed, failed, now_ms()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        serde_json::from_str(line).unwrap()
    }

    /// The metric names of directive `i`, and that each names a top-level field and each
    /// dimension a top-level string.
    fn names(v: &Value, i: usize) -> Vec<String> {
        let d = &v["_aws"]["CloudWatchMetrics"][i];
        assert_eq!(d["Namespace"], "Tollgate");
        for set in d["Dimensions"].as_array().unwrap() {
            for dim in set.as_array().unwrap() {
                assert!(v[dim.as_str().unwrap()].is_string(), "dimension {dim} missing in {v}");
            }
        }
        d["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let name = m["Name"].as_str().unwrap().to_string();
                assert!(v[&name].is_number(), "value of {name} missing in {v}");
                name
            })
            .collect()
    }

    #[test]
    fn an_http_answer_has_requests_and_latency_by_function_and_status_class() {
        let v = parse(&http_request_line("tollgate-AuthFunction-x", 404, Duration::from_micros(12_500), None, 1_700));
        assert_eq!(v["_aws"]["Timestamp"], 1_700);
        assert_eq!(v["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1);
        assert_eq!(names(&v, 0), ["Requests", "Latency"]);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Unit"], "Milliseconds");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function", "StatusClass"], ["Function"]]));
        assert_eq!((v["Function"].as_str(), v["StatusClass"].as_str()), (Some("tollgate-AuthFunction-x"), Some("4xx")));
        assert_eq!((v["Requests"].as_u64(), v["Latency"].as_f64()), (Some(1), Some(12.5)));
    }

    #[test]
    fn a_gateway_answer_adds_its_decision() {
        let v = parse(&http_request_line("gw", 429, Duration::from_millis(3), Some(Decision::OverQuota), 1));
        assert_eq!(names(&v, 0), ["Requests", "Latency"]);
        assert_eq!(names(&v, 1), ["Decisions"]);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][1]["Dimensions"], json!([["Function", "Decision"]]));
        assert_eq!((v["Decision"].as_str(), v["Decisions"].as_u64()), (Some("over_quota"), Some(1)));
    }

    #[test]
    fn an_sqs_batch_has_processed_and_failed_by_queue() {
        let v = parse(&sqs_batch_line("uw", "tollgate-UsageQueue-abc", 9, 1, 5));
        assert_eq!(names(&v, 0), ["Processed", "Failed"]);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function", "Queue"]]));
        assert_eq!((v["Processed"].as_u64(), v["Failed"].as_u64()), (Some(9), Some(1)));
        assert_eq!(v["Queue"], "tollgate-UsageQueue-abc");
    }

    #[test]
    fn a_job_run_has_its_count_and_duration_by_job_and_outcome() {
        let v = parse(&job_run_line("sched", "close_period", "failed", 1234, 5));
        assert_eq!(names(&v, 0), ["JobRuns", "JobDuration"]);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Job", "Outcome"], ["Function", "Job"]])
        );
        assert_eq!((v["Job"].as_str(), v["Outcome"].as_str()), (Some("close_period"), Some("failed")));
        assert_eq!((v["JobRuns"].as_u64(), v["JobDuration"].as_u64()), (Some(1), Some(1234)));
    }

    #[test]
    fn a_name_with_quotes_stays_valid_json() {
        let v = parse(&job_run_line("f", "a\"b\nc", "succeeded", 0, 0));
        assert_eq!(v["Job"], "a\"b\nc");
    }
}
