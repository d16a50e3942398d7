//! `loadgen compare A.json B.json`: the differences of two runs, with
//! regressions flagged.
//!
//! Guarantees: a regression is B worse than A by more than the tolerance on
//! a latency percentile (higher), the error share (higher, by more than 0.01
//! percentage points), or the achieved TPS (lower); operations present in
//! only one run are listed, never silently dropped.

use std::fmt::Write as _;

use serde::Serialize;

use super::{fmt_us, OpReport, Report};

/// One compared figure of one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// `total` or an operation's name (`pay`, `pay:1003`, ...).
    pub scope: String,
    /// `p50_us`, `p90_us`, `p99_us`, `p999_us`, `max_us` (microseconds),
    /// `error_pct` (percent) or `tps` (requests per second).
    pub figure: String,
    /// The figure in run A.
    pub a: f64,
    /// The figure in run B.
    pub b: f64,
    /// (b - a) / a, percent; `None` when a is 0.
    pub change_pct: Option<f64>,
    /// Whether B is worse than A beyond the tolerance: a latency percentile
    /// (p50 to p99.9, not max) higher by more than the tolerance and by more
    /// than 100 µs, an error share higher by more than 0.01 points, or a
    /// TPS lower by more than the tolerance.
    pub regression: bool,
}

/// The comparison of run B against run A (`loadgen compare`, printed as
/// JSON with `--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Run A's run id.
    pub a_run: String,
    /// Run B's run id.
    pub b_run: String,
    /// Every compared figure: the totals first, then each operation present
    /// in both runs.
    pub diffs: Vec<Diff>,
    /// Operations only run A has.
    pub only_in_a: Vec<String>,
    /// Operations only run B has.
    pub only_in_b: Vec<String>,
    /// How many of `diffs` are regressions (`loadgen compare` exits 2 when
    /// any).
    pub regressions: usize,
}

fn change(a: f64, b: f64) -> Option<f64> {
    (a != 0.0).then(|| (b - a) / a * 100.0)
}

fn compare_op(scope: &str, a: &OpReport, b: &OpReport, tol_pct: f64, out: &mut Vec<Diff>) {
    let lat = [
        ("p50_us", a.latency_us.p50, b.latency_us.p50),
        ("p90_us", a.latency_us.p90, b.latency_us.p90),
        ("p99_us", a.latency_us.p99, b.latency_us.p99),
        ("p999_us", a.latency_us.p999, b.latency_us.p999),
        ("max_us", a.latency_us.max, b.latency_us.max),
    ];
    for (name, x, y) in lat {
        let (x, y) = (x as f64, y as f64);
        let c = change(x, y);
        // Ignore sub-100 us wiggles: they are noise at any tolerance.
        let regression = name != "max_us" && y - x > 100.0 && c.is_some_and(|c| c > tol_pct);
        out.push(Diff {
            scope: scope.into(),
            figure: name.into(),
            a: x,
            b: y,
            change_pct: c,
            regression,
        });
    }
    out.push(Diff {
        scope: scope.into(),
        figure: "error_pct".into(),
        a: a.error_pct,
        b: b.error_pct,
        change_pct: change(a.error_pct, b.error_pct),
        regression: b.error_pct - a.error_pct > 0.01,
    });
    let c = change(a.tps, b.tps);
    out.push(Diff {
        scope: scope.into(),
        figure: "tps".into(),
        a: a.tps,
        b: b.tps,
        change_pct: c,
        regression: c.is_some_and(|c| c < -tol_pct),
    });
}

/// Compares run `b` against run `a`, with a tolerance in percent (the
/// `--tolerance` of `loadgen compare`, default 10) before a change of a
/// latency or of the TPS counts as a regression (see [`Diff::regression`]).
pub fn compare(a: &Report, b: &Report, tol_pct: f64) -> Comparison {
    let mut diffs = Vec::new();
    compare_op("total", &a.total, &b.total, tol_pct, &mut diffs);
    let mut only_in_a = Vec::new();
    let mut only_in_b = Vec::new();
    for (k, x) in &a.operations {
        match b.operations.get(k) {
            Some(y) => compare_op(k, x, y, tol_pct, &mut diffs),
            None => only_in_a.push(k.clone()),
        }
    }
    for k in b.operations.keys() {
        if !a.operations.contains_key(k) {
            only_in_b.push(k.clone());
        }
    }
    let regressions = diffs.iter().filter(|d| d.regression).count();
    Comparison {
        a_run: a.run_id.clone(),
        b_run: b.run_id.clone(),
        diffs,
        only_in_a,
        only_in_b,
        regressions,
    }
}

/// The comparison as a text table for a terminal: one row per figure with
/// A, B and the change, `REGRESSION` marked, then the operations of one run
/// only and the count of regressions.
pub fn render_text(c: &Comparison) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "A = {}   B = {}", c.a_run, c.b_run);
    let _ = writeln!(
        o,
        "{:<14} {:<10} {:>14} {:>14} {:>9}",
        "scope", "figure", "A", "B", "change"
    );
    for d in &c.diffs {
        let fmt = |v: f64| {
            if d.figure.ends_with("_us") {
                fmt_us(v as u64)
            } else {
                format!("{v:.3}")
            }
        };
        let _ = writeln!(
            o,
            "{:<14} {:<10} {:>14} {:>14} {:>9}{}",
            d.scope,
            d.figure,
            fmt(d.a),
            fmt(d.b),
            d.change_pct
                .map(|c| format!("{c:+.1}%"))
                .unwrap_or_else(|| "-".into()),
            if d.regression { "  REGRESSION" } else { "" }
        );
    }
    for k in &c.only_in_a {
        let _ = writeln!(o, "operation {k} only in A");
    }
    for k in &c.only_in_b {
        let _ = writeln!(o, "operation {k} only in B");
    }
    let _ = writeln!(o, "{} regression(s)", c.regressions);
    o
}
