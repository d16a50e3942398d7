//! The pressure-test report: the versioned JSON document (docs/LOADGEN.md,
//! "The JSON report, schema `payswitch-loadgen-report/1`") built
//! from the measurements, the threshold verdicts, and its renderings
//! (Markdown, one self-contained HTML file with inline SVG plots) in English
//! or Chinese: [`model::build`] makes one format-neutral [`doc::Document`]
//! of the report, which [`markdown::render`] and [`html::render`] render.
//!
//! Guarantees: the JSON carries `schema` = [`SCHEMA`]; a reader of an older
//! minor form ignores fields it does not know and every added field has a
//! default, so reports stay comparable across versions; latencies are in
//! microseconds; no secret (terminal secret, private key) is part of any
//! report; `passed` is false when a threshold failed, the audit found a
//! non-match, or the generator itself fell behind (`valid` false).

pub mod compare;
pub mod doc;
pub mod html;
pub mod i18n;
pub mod markdown;
pub mod model;
pub mod plots;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::audit::AuditReport;
use crate::error::{LoadgenError, Result};
use crate::load::Model;
use crate::measure::{Measurements, OutcomeKind, Stats};
use crate::procstat::{Machine, ProcessUsage};
use crate::spec::{Cmp, Metric, Threshold};

/// The schema name and major version of the JSON report: fields are only
/// added within a major version; [`read`] refuses any other.
pub const SCHEMA: &str = "payswitch-loadgen-report/1";

/// A latency summary (the JSON's "latency object"), microseconds; in the
/// open model measured from each request's intended send time. Values come
/// from an HdrHistogram of 3 significant digits (within 0.1%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Latency {
    /// The smallest value.
    pub min: u64,
    /// The mean, rounded to 0.1.
    pub mean: f64,
    /// The median.
    pub p50: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest value.
    pub max: u64,
}

impl Latency {
    /// The summary of a histogram (zeros when empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            min: h.min(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One outcome of a set of requests: how many requests came to it and
/// their latencies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeReport {
    /// What the requests came to (`SUCCESS`, `40004 ACQ.…`, `HTTP 503`,
    /// `timeout`).
    pub label: String,
    /// What kind of outcome the label is.
    pub kind: OutcomeKind,
    /// Whether it counts as an error.
    pub error: bool,
    /// Whether the error is the generator's own rather than the target's: a
    /// transport timeout, where the generator stopped waiting at its own
    /// request timeout (the target may still have completed the request).
    #[serde(default)]
    pub generator: bool,
    /// Requests with this outcome.
    pub count: u64,
    /// Their latencies.
    pub latency_us: Latency,
}

/// The figures of one operation's requests, or of all of them (the JSON's
/// "op object").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct OpReport {
    /// Completed requests.
    pub requests: u64,
    /// Requests that did not end in an error outcome.
    pub successes: u64,
    /// Requests that ended in an error outcome.
    pub errors: u64,
    /// errors / requests, percent.
    pub error_pct: f64,
    /// Completed requests per second of load.
    pub tps: f64,
    /// The latencies of all these requests.
    pub latency_us: Latency,
    /// Per outcome, the most frequent first.
    pub outcomes: Vec<OutcomeReport>,
}

impl OpReport {
    fn of(s: &Stats, secs: f64) -> Self {
        let mut outcomes: Vec<OutcomeReport> = s
            .outcomes
            .iter()
            .map(|(label, o)| OutcomeReport {
                label: label.clone(),
                kind: o.kind,
                error: o.error,
                generator: o.kind == OutcomeKind::Transport
                    && label.as_str() == crate::measure::TRANSPORT_TIMEOUT,
                count: o.hist.len(),
                latency_us: Latency::of(&o.hist),
            })
            .collect();
        outcomes.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
        OpReport {
            requests: s.requests,
            successes: s.requests - s.errors,
            errors: s.errors,
            error_pct: pct(s.errors, s.requests),
            tps: if secs > 0.0 {
                round2(s.requests as f64 / secs)
            } else {
                0.0
            },
            latency_us: Latency::of(&s.hist),
            outcomes,
        }
    }
}

/// One second of the run (the per-second series and the over-time plots).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondReport {
    /// Seconds since the start of the load, from 0.
    pub second: u64,
    /// Requests scheduled in this second.
    pub offered: u64,
    /// Requests completed in this second.
    pub achieved: u64,
    /// Requests completed in this second with an error outcome.
    pub errors: u64,
    /// Median latency of the requests completed in it, microseconds (0:
    /// none).
    pub p50_us: u64,
    /// Their 99th percentile, microseconds.
    pub p99_us: u64,
    /// Their largest latency, microseconds.
    pub max_us: u64,
}

/// The generator's own health: whether it kept its schedule, and so
/// whether the figures describe the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Generator {
    /// Requests the schedule intended up to the end.
    pub intended: u64,
    /// Requests sent.
    pub sent: u64,
    /// Send lag (actual minus intended send time), microseconds.
    pub send_lag_us: Latency,
    /// The largest p99 lag accepted before the run is invalid, microseconds.
    pub max_lag_p99_us: u64,
    /// Whether the generator fell behind its own schedule (open model:
    /// send lag p99 above `max_lag_p99_us`); the run is then invalid.
    pub behind: bool,
    /// Service time (from the actual send, not corrected), microseconds.
    pub service_time_us: Latency,
}

/// A threshold (`--threshold`) with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The threshold as the user gave it (`pay.p99<50ms`).
    pub spec: String,
    /// The operation it applies to; `None` for all requests.
    pub op: Option<String>,
    /// What is measured.
    pub metric: Metric,
    /// How the measured value must compare with `limit`.
    pub cmp: Cmp,
    /// The limit: microseconds for a latency, percent for errors,
    /// requests per second for TPS.
    pub limit: f64,
    /// `None` when there was nothing to measure (no request of that operation).
    /// The measured value, in the unit of `limit`.
    pub actual: Option<f64>,
    /// Whether it was measured and holds; a threshold with nothing to
    /// measure fails.
    pub passed: bool,
}

/// One step of a staircase run (`--staircase`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The offered rate of the step, requests per second.
    pub rate: f64,
    /// Completed requests per second of the step's wall time.
    pub achieved_tps: f64,
    /// Requests completed in the step.
    pub requests: u64,
    /// Errors / requests, percent.
    pub error_pct: f64,
    /// The 99th percentile latency of the step, microseconds.
    pub p99_us: u64,
    /// Whether the step kept the overall p99 and errors thresholds with the
    /// generator on schedule.
    pub passed: bool,
}

/// The target of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `switch`, `gateway` or `http`.
    pub kind: String,
    /// Where the requests went; the URLs of several switch nodes are
    /// separated by commas.
    pub url: String,
    /// Registered terminals used (switch target).
    #[serde(default)]
    pub terminals: usize,
}

/// The parameters of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadInfo {
    /// The load model and its stages or terminals (flattened into this
    /// object in the JSON).
    #[serde(flatten)]
    pub model: Model,
    /// The operation mix, as a `--mix` specification.
    pub mix: String,
    /// The cap on requests (`--requests`); 0 for none (only the time
    /// bound).
    pub max_requests: u64,
    /// The seed of the random choices of the run (which operation comes
    /// next), so that a run can be repeated.
    pub seed: u64,
    /// Each request's time-out, milliseconds.
    pub timeout_ms: u64,
    /// `wait` of POST /v1/pay (switch target).
    #[serde(default)]
    pub pay_wait_secs: Option<u32>,
}

/// The verdict of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Verdict {
    /// No reason to fail: every threshold held, the audit and the
    /// reconciliation (when run) found nothing, the run was valid and
    /// completed a request.
    pub passed: bool,
    /// False when the generator fell behind: the figures do not describe the target.
    pub valid: bool,
    /// Why it failed, one sentence each; empty when it passed.
    pub reasons: Vec<String>,
}

/// The whole report: what `report.json` holds (field by field in
/// docs/LOADGEN.md, "The JSON report").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: String,
    /// `loadgen`.
    pub tool: String,
    /// The crate's version.
    pub tool_version: String,
    /// `LG` + hexadecimal milliseconds; the prefix of every out_trade_no of
    /// the run.
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Wall time of the load, seconds (without the audit).
    pub duration_secs: f64,
    /// What was driven.
    pub target: TargetInfo,
    /// How it was driven.
    pub load: LoadInfo,
    /// The machine the generator ran on.
    pub machine: Machine,
    /// The verdict and its reasons.
    pub verdict: Verdict,
    /// Every threshold with its verdict, in the order given.
    pub thresholds: Vec<ThresholdResult>,
    /// The generator's own health.
    pub generator: Generator,
    /// All requests.
    pub total: OpReport,
    /// Per operation (`pay`, `pay:1003`, `precreate`, ...).
    pub operations: BTreeMap<String, OpReport>,
    /// One entry per second of the run.
    pub series: Vec<SecondReport>,
    /// Latency at percentiles (for the distribution plot): (percentile, us).
    pub distribution: Vec<(f64, u64)>,
    /// CPU and memory of the processes under test (`--pid`); empty when
    /// none was given.
    pub processes: Vec<ProcessUsage>,
    /// The audit of every trade against the switch's journal and the
    /// gateway's ledger; `None` when it was not run.
    #[serde(default)]
    pub audit: Option<AuditReport>,
    /// The steps of a staircase run; empty otherwise.
    #[serde(default)]
    pub staircase: Vec<StepReport>,
    /// What was not measured, and other remarks.
    #[serde(default)]
    pub notes: Vec<String>,
    /// The switch's reconciliation of the run's gateway days against the
    /// gateway's bill (`loadgen demo`); empty when it was not run.
    #[serde(default)]
    pub reconciliation: Vec<ReconDay>,
}

/// The difference classes of the switch's reconciliation
/// (docs/RECONCILIATION.md, "The five classes").
pub const RECON_CLASSES: [&str; 5] = [
    "bill_only",
    "journal_only",
    "amount_mismatch",
    "status_mismatch",
    "fee_mismatch",
];

/// The reconciliation of one gateway day after the load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReconDay {
    /// yyyy-MM-dd, gateway time.
    pub date: String,
    /// The reconciliation's exit code (0 clean, 2 differences open); None
    /// when it could not run (see `error`).
    pub exit_code: Option<i32>,
    /// Rows in the gateway's bill of the day.
    pub bill_rows: u64,
    /// Bill rows matched with the journal.
    pub matched: u64,
    /// Differences found, resolved or not.
    pub differences: u64,
    /// Differences not resolved.
    pub open: u64,
    /// Differences per class, every class of [`RECON_CLASSES`] present.
    pub by_class: BTreeMap<String, u64>,
    /// Why the reconciliation could not run; `None` when it ran.
    pub error: Option<String>,
    /// The settlement file of the reconciled day (`payswitch settlement`),
    /// when the day reconciled cleanly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<SettlementCheck>,
}

/// The day's settlement and whether its totals equal the reconciled bill's.
/// Amounts are yuan, as the settlement file writes them (`"12.34"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SettlementCheck {
    /// Sub-merchants in the settlement.
    pub merchants: u64,
    /// The day's trades, total.
    pub trade_amount: String,
    /// The day's refunds, total.
    pub refund_amount: String,
    /// The gateway's fee (the bill's service fee), total.
    pub gateway_fee: String,
    /// The acquirer's fee to the merchants, total.
    pub merchant_fee: String,
    /// What is paid out to the merchants, total.
    pub net_amount: String,
    /// trade count and amount, refund count and amount and the gateway fee
    /// all equal the bill's.
    pub equals_bill: bool,
    /// What differs, or why no settlement was written.
    pub note: Option<String>,
}

impl ReconDay {
    /// Clean: it ran, exit 0, every bill row matched, nothing open, and the
    /// settlement (when written) adds up to the bill.
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.exit_code == Some(0)
            && self.matched == self.bill_rows
            && self.open == 0
            && self.settlement.as_ref().map_or(true, |s| s.equals_bill)
    }

    /// The day `date` from the reconciliation's JSON report `v`
    /// (`recon-YYYY-MM-DD.json`, docs/RECONCILIATION.md, "The report") and
    /// its exit code: missing counts read as 0, a difference without a
    /// class counts as `other`, one without `resolved` as open.
    pub fn from_json(date: &str, exit_code: i32, v: &serde_json::Value) -> Self {
        let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let diffs = v
            .get("differences")
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut by_class: BTreeMap<String, u64> =
            RECON_CLASSES.iter().map(|c| (c.to_string(), 0)).collect();
        let mut open = 0;
        for d in &diffs {
            let class = d
                .get("class")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("other");
            *by_class.entry(class.to_string()).or_default() += 1;
            if !d
                .get("resolved")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
            {
                open += 1;
            }
        }
        ReconDay {
            date: date.to_string(),
            exit_code: Some(exit_code),
            bill_rows: n("bill_rows"),
            matched: n("matched"),
            differences: diffs.len() as u64,
            open,
            by_class,
            error: None,
            settlement: None,
        }
    }
}

/// Adds the reconciliation to the report and to its verdict: a day that
/// did not run clean fails the run.
pub fn add_reconciliation(r: &mut Report, days: Vec<ReconDay>) {
    for d in days.iter().filter(|d| !d.passed()) {
        r.verdict.reasons.push(match &d.error {
            Some(e) => format!("reconciliation of {}: {e}", d.date),
            None => format!(
                "reconciliation of {}: exit {}, {} of {} bill rows matched, {} differences open",
                d.date,
                d.exit_code.unwrap_or(-1),
                d.matched,
                d.bill_rows,
                d.open
            ),
        });
        r.verdict.passed = false;
    }
    r.reconciliation = days;
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 100.0 / whole as f64 * 1e4).round() / 1e4
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The inputs of [`build`] other than the measurements.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The run id ([`Report::run_id`]).
    pub run_id: String,
    /// When the load started, RFC 3339, UTC.
    pub started_at: String,
    /// Wall time of the load, seconds: the divisor of every TPS.
    pub wall_secs: f64,
    /// What was driven.
    pub target: TargetInfo,
    /// How it was driven.
    pub load: LoadInfo,
    /// The thresholds to evaluate.
    pub thresholds: Vec<Threshold>,
    /// The largest send lag p99 accepted before the run is invalid,
    /// microseconds (open model).
    pub max_lag_p99_us: u64,
    /// CPU and memory of the processes under test.
    pub processes: Vec<ProcessUsage>,
    /// The audit, when one was run.
    pub audit: Option<AuditReport>,
    /// Remarks for the report's notes.
    pub notes: Vec<String>,
}

/// Builds the report of measurements `m` and its verdict: the per-operation
/// figures, the series, the distribution, the generator's health, every
/// threshold evaluated (see [`evaluate`]) and the machine described. The
/// verdict fails on a failed threshold, a generator behind its schedule
/// (the run is then also invalid), an audit that did not pass, or no
/// completed request. The staircase and the reconciliation are added by the
/// caller.
pub fn build(m: &Measurements, info: RunInfo) -> Report {
    let secs = info.wall_secs.max(1e-9);
    let total = OpReport::of(&m.total, secs);
    let operations = m
        .per_op
        .iter()
        .map(|(k, s)| (k.name(), OpReport::of(s, secs)))
        .collect::<BTreeMap<_, _>>();
    let last = m.seconds.len();
    let series = m
        .seconds
        .iter()
        .enumerate()
        .take(last)
        .map(|(i, s)| SecondReport {
            second: i as u64,
            offered: s.offered,
            achieved: s.completed,
            errors: s.errors,
            p50_us: if s.hist.is_empty() {
                0
            } else {
                s.hist.value_at_quantile(0.5)
            },
            p99_us: if s.hist.is_empty() {
                0
            } else {
                s.hist.value_at_quantile(0.99)
            },
            max_us: if s.hist.is_empty() { 0 } else { s.hist.max() },
        })
        .collect();
    let distribution = [
        0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
    ]
    .iter()
    .map(|p| {
        let v = if m.total.hist.is_empty() {
            0
        } else {
            m.total.hist.value_at_quantile(p / 100.0)
        };
        (*p, v)
    })
    .collect();
    let lag = m.lag.as_ref().map(Latency::of).unwrap_or_default();
    let is_open = matches!(info.load.model, Model::Open { .. });
    let behind = is_open && lag.p99 > info.max_lag_p99_us;
    let generator = Generator {
        intended: m.intended,
        sent: m.sent,
        send_lag_us: lag,
        max_lag_p99_us: info.max_lag_p99_us,
        behind,
        service_time_us: m.service.as_ref().map(Latency::of).unwrap_or_default(),
    };
    let thresholds: Vec<ThresholdResult> = info
        .thresholds
        .iter()
        .map(|t| evaluate(t, &total, &operations))
        .collect();
    let mut reasons = Vec::new();
    for t in thresholds.iter().filter(|t| !t.passed) {
        reasons.push(format!("threshold failed: {}", t.spec));
    }
    if behind {
        reasons.push(format!(
            "the generator fell behind its schedule (send lag p99 {} us > {} us): the run is invalid",
            lag.p99, info.max_lag_p99_us
        ));
    }
    if let Some(a) = &info.audit {
        if !a.passed {
            reasons.push(format!(
                "audit: {} of {} trades did not match",
                a.checked - a.matched,
                a.checked
            ));
        }
    }
    if total.requests == 0 {
        reasons.push("no request completed".into());
    }
    let verdict = Verdict {
        passed: reasons.is_empty(),
        valid: !behind,
        reasons,
    };
    Report {
        schema: SCHEMA.into(),
        tool: "loadgen".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run_id: info.run_id,
        started_at: info.started_at,
        duration_secs: round2(info.wall_secs),
        target: info.target,
        load: info.load,
        machine: crate::procstat::machine(),
        verdict,
        thresholds,
        generator,
        total,
        operations,
        series,
        distribution,
        processes: info.processes,
        audit: info.audit,
        staircase: Vec::new(),
        notes: info.notes,
        reconciliation: Vec::new(),
    }
}

/// Evaluates threshold `t` against `total` (no operation named) or the
/// operation it names in `ops`; with no request to measure, `actual` is
/// `None` and the threshold fails.
pub fn evaluate(
    t: &Threshold,
    total: &OpReport,
    ops: &BTreeMap<String, OpReport>,
) -> ThresholdResult {
    let r = match &t.op {
        None => Some(total),
        Some(op) => ops.get(op),
    };
    let actual = r.filter(|r| r.requests > 0).map(|r| match t.metric {
        Metric::P50 => r.latency_us.p50 as f64,
        Metric::P90 => r.latency_us.p90 as f64,
        Metric::P99 => r.latency_us.p99 as f64,
        Metric::P999 => r.latency_us.p999 as f64,
        Metric::Max => r.latency_us.max as f64,
        Metric::Mean => r.latency_us.mean,
        Metric::Errors => r.error_pct,
        Metric::Tps => r.tps,
    });
    ThresholdResult {
        spec: t.spec.clone(),
        op: t.op.clone(),
        metric: t.metric,
        cmp: t.cmp,
        limit: t.limit,
        actual,
        passed: actual.is_some_and(|a| t.cmp.holds(a, t.limit)),
    }
}

/// The language of a rendered report (`--lang`); the JSON is the same in
/// both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Simplified Chinese.
    Zh,
}

/// The three files [`write_all`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
}

/// Writes report.json, report.md and report.html into `dir` (created); the
/// Markdown and the HTML are renderings of one [`model::build`] document.
///
/// # Errors
///
/// [`LoadgenError::Io`] when the directory or a file cannot be written,
/// [`LoadgenError::Format`] when the JSON cannot be serialised,
/// [`LoadgenError::Plot`] when a plot cannot be drawn.
pub fn write_all(r: &Report, dir: &Path, lang: Lang) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|e| LoadgenError::io("cannot create", dir, e))?;
    let json = dir.join("report.json");
    let markdown = dir.join("report.md");
    let html = dir.join("report.html");
    let text = serde_json::to_string_pretty(r).map_err(|e| LoadgenError::Format {
        path: json.clone(),
        reason: e.to_string(),
    })?;
    let doc = model::build(r, lang)?;
    write(&json, &text)?;
    write(&markdown, &markdown::render(&doc))?;
    write(&html, &html::render(&doc))?;
    Ok(Written {
        json,
        markdown,
        html,
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| LoadgenError::io("cannot write", path, e))
}

/// Reads a JSON report (`loadgen report`, `loadgen compare`); fields it
/// does not know are ignored, missing optional ones take their default.
///
/// # Errors
/// [`LoadgenError::Io`] when the file cannot be read;
/// [`LoadgenError::Format`] when it is not JSON, its `schema` is not
/// [`SCHEMA`], or it is not a loadgen report.
pub fn read(path: &Path) -> Result<Report> {
    let text =
        std::fs::read_to_string(path).map_err(|e| LoadgenError::io("cannot read", path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| LoadgenError::Format {
        path: path.to_owned(),
        reason: format!("not JSON: {e}"),
    })?;
    match v.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        other => {
            return Err(LoadgenError::Format {
                path: path.to_owned(),
                reason: format!("schema is {other:?}, expected {SCHEMA:?}"),
            })
        }
    }
    serde_json::from_value(v).map_err(|e| LoadgenError::Format {
        path: path.to_owned(),
        reason: format!("not a loadgen report: {e}"),
    })
}

/// The attribution check of an audit in one phrase: how many ledger trades
/// were compared with their terminal's registration and how many differ.
pub fn attribution_line(a: &AuditReport, lang: Lang) -> String {
    match (&a.attribution, lang) {
        (None, _) => i18n::t(lang, i18n::Key::AttributionNone).to_string(),
        (Some(c), Lang::En) => format!(
            "{} trades checked, {} with another sub-merchant, store or terminal",
            c.checked, c.mismatched
        ),
        (Some(c), Lang::Zh) => format!("核对 {} 笔，归属不符 {} 笔", c.checked, c.mismatched),
    }
}

/// Formats microseconds for people: `850 µs`, `12.30 ms`, `1.20 s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

/// Formats a threshold's value `v` in the unit of `metric`: `0.100%` for
/// errors, `1200.0/s` for TPS, a latency as [`fmt_us`].
pub fn fmt_metric(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Errors => format!("{v:.3}%"),
        Metric::Tps => format!("{v:.1}/s"),
        _ => fmt_us(v.max(0.0) as u64),
    }
}

/// Bytes as MiB with one decimal (`123.4 MiB`).
pub fn fmt_mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciliation_days() {
        let v = serde_json::json!({"bill_rows": 7, "matched": 6, "differences": [
            {"class": "fee_mismatch", "resolved": false},
            {"class": "bill_only", "resolved": true}]});
        let d = ReconDay::from_json("2026-12-02", 2, &v);
        assert_eq!(
            (d.bill_rows, d.matched, d.differences, d.open),
            (7, 6, 2, 1)
        );
        assert_eq!(d.by_class["fee_mismatch"], 1);
        assert_eq!(d.by_class["journal_only"], 0);
        assert_eq!(d.by_class.len(), RECON_CLASSES.len());
        assert!(!d.passed());
        let clean = ReconDay::from_json(
            "2026-12-02",
            0,
            &serde_json::json!({"bill_rows": 3, "matched": 3, "differences": []}),
        );
        assert!(clean.passed());
    }
}
