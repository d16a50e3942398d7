//! The pressure-test report: the versioned JSON document (API.md 4) built
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

/// The schema name and major version of the JSON report.
pub const SCHEMA: &str = "payswitch-loadgen-report/1";

/// Latency summary, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
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

/// One outcome of a set of requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeReport {
    pub label: String,
    pub kind: OutcomeKind,
    pub error: bool,
    pub count: u64,
    pub latency_us: Latency,
}

/// Requests of one operation, or all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct OpReport {
    pub requests: u64,
    pub successes: u64,
    pub errors: u64,
    /// errors / requests, percent.
    pub error_pct: f64,
    /// Completed requests per second of load.
    pub tps: f64,
    pub latency_us: Latency,
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

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondReport {
    pub second: u64,
    /// Requests scheduled in this second.
    pub offered: u64,
    /// Requests completed in this second.
    pub achieved: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// The generator's own health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Generator {
    /// Requests the schedule intended up to the end, and sent.
    pub intended: u64,
    pub sent: u64,
    /// Send lag (actual minus intended send time), microseconds.
    pub send_lag_us: Latency,
    /// The largest p99 lag accepted before the run is invalid, microseconds.
    pub max_lag_p99_us: u64,
    /// Whether the generator fell behind its own schedule.
    pub behind: bool,
    /// Service time (from the actual send, not corrected), microseconds.
    pub service_time_us: Latency,
}

/// A threshold with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub spec: String,
    pub op: Option<String>,
    pub metric: Metric,
    pub cmp: Cmp,
    pub limit: f64,
    /// `None` when there was nothing to measure (no request of that operation).
    pub actual: Option<f64>,
    pub passed: bool,
}

/// One step of a staircase run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub rate: f64,
    pub achieved_tps: f64,
    pub requests: u64,
    pub error_pct: f64,
    pub p99_us: u64,
    pub passed: bool,
}

/// The target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `switch` or `gateway`.
    pub kind: String,
    pub url: String,
    /// Registered terminals used (switch target).
    #[serde(default)]
    pub terminals: usize,
}

/// Parameters of the load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadInfo {
    #[serde(flatten)]
    pub model: Model,
    pub mix: String,
    pub max_requests: u64,
    pub seed: u64,
    pub timeout_ms: u64,
    /// `wait` of POST /v1/pay (switch target).
    #[serde(default)]
    pub pay_wait_secs: Option<u32>,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Verdict {
    pub passed: bool,
    /// False when the generator fell behind: the figures do not describe the target.
    pub valid: bool,
    pub reasons: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: String,
    pub tool_version: String,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_secs: f64,
    pub target: TargetInfo,
    pub load: LoadInfo,
    pub machine: Machine,
    pub verdict: Verdict,
    pub thresholds: Vec<ThresholdResult>,
    pub generator: Generator,
    pub total: OpReport,
    pub operations: BTreeMap<String, OpReport>,
    pub series: Vec<SecondReport>,
    /// Latency at percentiles (for the distribution plot): (percentile, us).
    pub distribution: Vec<(f64, u64)>,
    pub processes: Vec<ProcessUsage>,
    #[serde(default)]
    pub audit: Option<AuditReport>,
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

/// The difference classes of the switch's reconciliation (API.md 3).
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
    pub bill_rows: u64,
    pub matched: u64,
    pub differences: u64,
    pub open: u64,
    /// Differences per class, every class of [`RECON_CLASSES`] present.
    pub by_class: BTreeMap<String, u64>,
    pub error: Option<String>,
    /// The settlement file of the reconciled day (`payswitch settlement`),
    /// when the day reconciled cleanly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement: Option<SettlementCheck>,
}

/// The day's settlement and whether its totals equal the reconciled bill's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SettlementCheck {
    pub merchants: u64,
    pub trade_amount: String,
    pub refund_amount: String,
    pub gateway_fee: String,
    pub merchant_fee: String,
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

    /// Reads the reconciliation's JSON (`recon-YYYY-MM-DD.json`, API.md 3).
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
    pub run_id: String,
    pub started_at: String,
    pub wall_secs: f64,
    pub target: TargetInfo,
    pub load: LoadInfo,
    pub thresholds: Vec<Threshold>,
    pub max_lag_p99_us: u64,
    pub processes: Vec<ProcessUsage>,
    pub audit: Option<AuditReport>,
    pub notes: Vec<String>,
}

/// Builds the report and its verdict.
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

/// Evaluates a threshold against the totals or one operation.
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

/// The report language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

/// The three files of a report.
#[derive(Debug, Clone)]
pub struct Written {
    pub json: PathBuf,
    pub markdown: PathBuf,
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

/// Reads a JSON report.
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

/// Formats microseconds for people: `850 us`, `12.3 ms`, `1.20 s`.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.2} ms", us as f64 / 1e3)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

/// Formats a threshold's value in its unit.
pub fn fmt_metric(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Errors => format!("{v:.3}%"),
        Metric::Tps => format!("{v:.1}/s"),
        _ => fmt_us(v.max(0.0) as u64),
    }
}

/// Bytes as MiB.
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
