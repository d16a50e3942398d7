//! The textual specifications a user gives: durations, rates, stages, the
//! operation mix and thresholds.
//!
//! Guarantees: every parser is total (no panic on any input) and a refusal
//! names the argument and says what form is expected. Parsed values are
//! validated (positive rates, shares that sum to more than zero, finite
//! numbers).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{LoadgenError, Result};

/// Parses `500ms`, `10s`, `2m`, `1.5s`, `250us`, `1h`; a bare number is
/// seconds. `arg` names the option in the error.
///
/// # Errors
/// [`LoadgenError::Arg`] when `s` is not a number with one of those units, or
/// is negative, not finite or longer than 7 days.
pub fn parse_duration(arg: &'static str, s: &str) -> Result<Duration> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| LoadgenError::arg(arg, s, "expected a duration such as 500ms, 10s or 2m"))?;
    let secs = v * mult;
    if !secs.is_finite() || !(0.0..=86_400.0 * 7.0).contains(&secs) {
        return Err(LoadgenError::arg(
            arg,
            s,
            "duration must be between 0 and 7 days",
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a request rate in requests per second (`500`, `500/s`,
/// fractions allowed). `arg` names the option in the error.
///
/// # Errors
/// [`LoadgenError::Arg`] when `s` is not a number, or not above 0 and at
/// most 10 000 000 per second.
pub fn parse_rate(arg: &'static str, s: &str) -> Result<f64> {
    let v: f64 = s
        .trim()
        .trim_end_matches("/s")
        .parse()
        .map_err(|_| LoadgenError::arg(arg, s, "expected requests per second, e.g. 500"))?;
    if !v.is_finite() || v <= 0.0 || v > 10_000_000.0 {
        return Err(LoadgenError::arg(
            arg,
            s,
            "rate must be above 0 and at most 10000000 per second",
        ));
    }
    Ok(v)
}

/// One stage of an open-model run: the rate goes linearly from `from_rate` to
/// `to_rate` requests per second over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// The rate at the stage's start, requests per second (0 or more).
    pub from_rate: f64,
    /// The rate at the stage's end, requests per second.
    pub to_rate: f64,
    /// How long the stage lasts; in the report as seconds.
    #[serde(with = "duration_secs")]
    pub duration: Duration,
}

impl Stage {
    /// A stage at a constant `rate` (requests per second) for `duration`.
    pub fn hold(rate: f64, duration: Duration) -> Self {
        Stage {
            from_rate: rate,
            to_rate: rate,
            duration,
        }
    }

    /// The number of requests this stage schedules (the integral of its rate).
    pub fn requests(&self) -> f64 {
        (self.from_rate + self.to_rate) / 2.0 * self.duration.as_secs_f64()
    }
}

/// Parses `--stages`: `ramp:0-200/10s,hold:200/20s` (stages in order).
/// `hold:R/D` is a constant rate R, `ramp:A-B/D` goes linearly from A (0 or
/// more) to B over D; rates as [`parse_rate`], durations as
/// [`parse_duration`].
///
/// # Errors
/// [`LoadgenError::Arg`] (for `--stages`) naming the bad part: an unknown
/// kind, a missing `/DURATION` or `FROM-TO`, a bad rate or duration, a stage
/// of 0 s, or no stage at all.
pub fn parse_stages(s: &str) -> Result<Vec<Stage>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = |why: &str| LoadgenError::arg("--stages", s, format!("{part:?}: {why}"));
        let (kind, rest) = part
            .split_once(':')
            .ok_or_else(|| bad("expected hold:RATE/DURATION or ramp:FROM-TO/DURATION"))?;
        let (rates, dur) = rest
            .split_once('/')
            .ok_or_else(|| bad("missing /DURATION"))?;
        let duration = parse_duration("--stages", dur)?;
        if duration.is_zero() {
            return Err(bad("a stage must last longer than 0 s"));
        }
        let stage = match kind.trim() {
            "hold" => Stage::hold(parse_rate("--stages", rates)?, duration),
            "ramp" => {
                let (a, b) = rates
                    .split_once('-')
                    .ok_or_else(|| bad("a ramp is FROM-TO, e.g. ramp:0-200/10s"))?;
                let from: f64 = a.trim().parse().map_err(|_| bad("FROM is not a number"))?;
                let to = parse_rate("--stages", b)?;
                if !from.is_finite() || from < 0.0 {
                    return Err(bad("FROM must be 0 or more"));
                }
                Stage {
                    from_rate: from,
                    to_rate: to,
                    duration,
                }
            }
            other => return Err(bad(&format!("unknown stage kind {other:?} (hold, ramp)"))),
        };
        out.push(stage);
    }
    if out.is_empty() {
        return Err(LoadgenError::arg("--stages", s, "no stage given"));
    }
    Ok(out)
}

/// The buyer behaviour a payment asks the simulator for, by the last four
/// digits of its auth code (docs/SIMULATOR.md, "Magic values"). In a mix it
/// is written `pay:NNNN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PayCase {
    /// An ordinary auth code: the profile decides (default: success).
    Normal,
    /// `1003`: code 10003 (waiting for the buyer's password), then paid
    /// after the password delay.
    Wait1003,
    /// `1004`: code 10003, never paid (WAIT_BUYER_PAY until cancelled or
    /// closed).
    Wait1004,
    /// `2000`: code 20000 (unknown), but the trade was paid.
    Unknown2000,
    /// `2001`: code 20000 (unknown), and no trade was created.
    Unknown2001,
    /// `4004`: code 40004 `ACQ.PAYMENT_AUTH_CODE_INVALID`, no trade.
    Fail4004,
    /// `4005`: code 40004 `ACQ.BUYER_BALANCE_NOT_ENOUGH`, a closed trade.
    Fail4005,
    /// `9001`: the gateway holds the connection without answering, then
    /// drops it; the trade was paid.
    Hang9001,
    /// `9002`: the connection is reset before any answer; no trade.
    Reset9002,
}

impl PayCase {
    /// The last four digits of the auth code (`0000` for [`PayCase::Normal`]).
    pub fn suffix(self) -> &'static str {
        match self {
            PayCase::Normal => "0000",
            PayCase::Wait1003 => "1003",
            PayCase::Wait1004 => "1004",
            PayCase::Unknown2000 => "2000",
            PayCase::Unknown2001 => "2001",
            PayCase::Fail4004 => "4004",
            PayCase::Fail4005 => "4005",
            PayCase::Hang9001 => "9001",
            PayCase::Reset9002 => "9002",
        }
    }

    fn parse(s: &str) -> Option<PayCase> {
        Some(match s {
            "" | "ok" | "normal" | "0000" => PayCase::Normal,
            "1003" => PayCase::Wait1003,
            "1004" => PayCase::Wait1004,
            "2000" => PayCase::Unknown2000,
            "2001" => PayCase::Unknown2001,
            "4004" => PayCase::Fail4004,
            "4005" => PayCase::Fail4005,
            "9001" => PayCase::Hang9001,
            "9002" => PayCase::Reset9002,
            _ => return None,
        })
    }
}

/// An operation of the mix: what one request of the load does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OpKind {
    /// A barcode payment with the given magic auth code.
    Pay(PayCase),
    /// A QR precreate, then the buyer pays through the simulator's control API.
    Precreate,
    /// A query of a trade made earlier in the run.
    Query,
    /// A partial refund (0.01) of a paid trade made earlier in the run.
    Refund,
    /// A cancel of a trade made earlier in the run.
    Cancel,
}

impl OpKind {
    /// The name used in reports and in `--mix`: `pay`, `pay:1003`,
    /// `precreate`, `query`, `refund`, `cancel`.
    pub fn name(self) -> String {
        match self {
            OpKind::Pay(PayCase::Normal) => "pay".into(),
            OpKind::Pay(c) => format!("pay:{}", c.suffix()),
            OpKind::Precreate => "precreate".into(),
            OpKind::Query => "query".into(),
            OpKind::Refund => "refund".into(),
            OpKind::Cancel => "cancel".into(),
        }
    }

    /// Parses a name as [`OpKind::name`] writes it (also `pay:ok`,
    /// `pay:normal`, `pay:0000` for a plain payment); `None` for anything
    /// else.
    pub fn parse(s: &str) -> Option<OpKind> {
        let s = s.trim();
        if let Some(case) = s.strip_prefix("pay:") {
            return PayCase::parse(case).map(OpKind::Pay);
        }
        Some(match s {
            "pay" => OpKind::Pay(PayCase::Normal),
            "precreate" => OpKind::Precreate,
            "query" => OpKind::Query,
            "refund" => OpKind::Refund,
            "cancel" => OpKind::Cancel,
            _ => return None,
        })
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The operation mix: operations with their relative weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Each operation once, in the order given, with its weight; the
    /// weights sum to more than 0 in a parsed mix, and an operation's share
    /// is its weight over that sum.
    pub entries: Vec<(OpKind, u32)>,
}

impl Mix {
    /// Plain payments only (`pay=1`).
    pub fn pay_only() -> Self {
        Mix {
            entries: vec![(OpKind::Pay(PayCase::Normal), 1)],
        }
    }

    /// Parses `--mix`: `pay=70,pay:1003=5,precreate=10,query=10,refund=3,cancel=2`.
    /// A name without `=W` has weight 1; a name given twice has its weights
    /// added.
    ///
    /// # Errors
    /// [`LoadgenError::Arg`] (for `--mix`) for an unknown operation, a
    /// weight that is not a whole number, or weights that sum to 0.
    pub fn parse(s: &str) -> Result<Mix> {
        let mut entries: Vec<(OpKind, u32)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = part.split_once('=').unwrap_or((part, "1"));
            let op = OpKind::parse(name).ok_or_else(|| {
                LoadgenError::arg(
                    "--mix",
                    s,
                    format!(
                        "unknown operation {name:?} (pay, pay:1003, pay:1004, pay:2000, pay:2001, pay:4004, pay:4005, pay:9001, pay:9002, precreate, query, refund, cancel)"
                    ),
                )
            })?;
            let w: u32 = w.trim().parse().map_err(|_| {
                LoadgenError::arg(
                    "--mix",
                    s,
                    format!("weight of {name:?} is not a whole number"),
                )
            })?;
            if let Some(e) = entries.iter_mut().find(|e| e.0 == op) {
                e.1 = e.1.saturating_add(w);
            } else {
                entries.push((op, w));
            }
        }
        let total: u64 = entries.iter().map(|e| u64::from(e.1)).sum();
        if total == 0 {
            return Err(LoadgenError::arg(
                "--mix",
                s,
                "the weights must sum to more than 0",
            ));
        }
        Ok(Mix { entries })
    }

    /// The operation for a uniform number `u` in [0, 1) (clamped): the
    /// entries cover that interval in order, each by its share.
    pub fn pick(&self, u: f64) -> OpKind {
        let total: u64 = self.entries.iter().map(|e| u64::from(e.1)).sum();
        let mut x = (u.clamp(0.0, 1.0) * total as f64) as u64;
        for (op, w) in &self.entries {
            if x < u64::from(*w) {
                return *op;
            }
            x -= u64::from(*w);
        }
        self.entries
            .last()
            .map(|e| e.0)
            .unwrap_or(OpKind::Pay(PayCase::Normal))
    }

    /// The mix as [`Mix::parse`] reads it: `pay=70,pay:1003=5,...`, every
    /// weight written.
    pub fn to_spec(&self) -> String {
        self.entries
            .iter()
            .map(|(op, w)| format!("{}={w}", op.name()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// The median latency (`p50`, `median`), microseconds.
    P50,
    /// The 90th percentile latency (`p90`), microseconds.
    P90,
    /// The 99th percentile latency (`p99`), microseconds.
    P99,
    /// The 99.9th percentile latency (`p99.9`, `p999`), microseconds.
    P999,
    /// The highest latency (`max`), microseconds.
    Max,
    /// The mean latency (`mean`, `avg`), microseconds.
    Mean,
    /// Error share in percent.
    Errors,
    /// Achieved requests per second.
    Tps,
}

/// A threshold's comparison, serialised as its operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    /// `<`: the measured value must be below the limit.
    #[serde(rename = "<")]
    Lt,
    /// `<=`: at most the limit.
    #[serde(rename = "<=")]
    Le,
    /// `>`: above the limit.
    #[serde(rename = ">")]
    Gt,
    /// `>=`: at least the limit.
    #[serde(rename = ">=")]
    Ge,
}

impl Cmp {
    /// Whether `actual CMP limit` holds (the threshold passes).
    pub fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => actual < limit,
            Cmp::Le => actual <= limit,
            Cmp::Gt => actual > limit,
            Cmp::Ge => actual >= limit,
        }
    }

    /// The operator as text: `<`, `<=`, `>`, `>=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A pass/fail threshold: `[op.]metric CMP value`. Latency limits are kept in
/// microseconds, error limits in percent, TPS in requests per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The text as the user gave it.
    pub spec: String,
    /// The operation it applies to; `None` for all requests.
    pub op: Option<String>,
    /// What is measured.
    pub metric: Metric,
    /// How the measured value is compared with the limit.
    pub cmp: Cmp,
    /// The limit, in the metric's unit: microseconds for a latency, percent
    /// for errors, requests per second for TPS; finite, 0 or more.
    pub limit: f64,
}

impl Threshold {
    /// Parses `--threshold`: `p99<50ms`, `errors<0.1%`, `tps>=1000`,
    /// `pay.p99.9<=200ms` (spaces ignored, names case-insensitive). A latency
    /// is read as [`parse_duration`] reads it (a bare number is seconds); an
    /// error share without `%` is a fraction (`0.001` is 0.1 %).
    ///
    /// # Errors
    /// [`LoadgenError::Arg`] (for `--threshold`) for a missing operator, an
    /// unknown metric or operation, or a limit that does not parse or is
    /// negative or not finite.
    pub fn parse(s: &str) -> Result<Threshold> {
        let bad = |why: &str| LoadgenError::arg("--threshold", s, why.to_string());
        let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let pos = t.find(['<', '>']).ok_or_else(|| {
            bad("expected METRIC<VALUE, METRIC<=VALUE, METRIC>VALUE or METRIC>=VALUE")
        })?;
        let (lhs, rest) = t.split_at(pos);
        let (cmp, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Cmp::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Cmp::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Cmp::Lt, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Cmp::Gt, v)
        } else {
            return Err(bad("no comparison operator"));
        };
        let lhs = lhs.to_ascii_lowercase();
        let (op, metric_name) = match Metric::parse_name(&lhs) {
            Some(m) => (None, m),
            None => {
                let (op, m) = lhs.split_once('.').ok_or_else(|| {
                    bad("unknown metric (p50, p90, p99, p99.9, max, mean, errors, tps)")
                })?;
                if OpKind::parse(op).is_none() {
                    return Err(bad(&format!("unknown operation {op:?}")));
                }
                let m = Metric::parse_name(m).ok_or_else(|| {
                    bad("unknown metric (p50, p90, p99, p99.9, max, mean, errors, tps)")
                })?;
                (Some(op.to_string()), m)
            }
        };
        let limit = match metric_name {
            Metric::Errors => {
                let (num, pct) = match value.strip_suffix('%') {
                    Some(n) => (n, true),
                    None => (value, false),
                };
                let v: f64 = num
                    .parse()
                    .map_err(|_| bad("expected an error share such as 0.1% or 0"))?;
                if pct {
                    v
                } else {
                    v * 100.0
                }
            }
            Metric::Tps => value
                .trim_end_matches("/s")
                .parse()
                .map_err(|_| bad("expected requests per second, e.g. tps>=1000"))?,
            _ => {
                let d = parse_duration("--threshold", value)
                    .map_err(|_| bad("expected a latency with a unit, e.g. 50ms, 1s, 800us"))?;
                d.as_secs_f64() * 1e6
            }
        };
        if !limit.is_finite() || limit < 0.0 {
            return Err(bad("the limit must be a finite number, 0 or more"));
        }
        Ok(Threshold {
            spec: s.trim().to_string(),
            op,
            metric: metric_name,
            cmp,
            limit,
        })
    }
}

impl Metric {
    fn parse_name(s: &str) -> Option<Metric> {
        Some(match s {
            "p50" | "median" => Metric::P50,
            "p90" => Metric::P90,
            "p99" => Metric::P99,
            "p99.9" | "p999" => Metric::P999,
            "max" => Metric::Max,
            "mean" | "avg" => Metric::Mean,
            "errors" | "error" | "err" => Metric::Errors,
            "tps" | "rps" => Metric::Tps,
            _ => return None,
        })
    }

    /// Whether the metric is a latency (its limit in microseconds), i.e.
    /// neither [`Metric::Errors`] nor [`Metric::Tps`].
    pub fn is_latency(self) -> bool {
        !matches!(self, Metric::Errors | Metric::Tps)
    }
}

/// Serde helper for `#[serde(with = "...")]`: a [`Duration`] as floating
/// seconds (the report's convention).
pub mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `d` as an `f64` of seconds.
    ///
    /// # Errors
    /// Whatever the serializer returns for an `f64`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Reads an `f64` of seconds.
    ///
    /// # Errors
    /// The deserializer's error when the value is not a number, or a custom
    /// one when it is negative or not finite.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || v < 0.0 {
            return Err(serde::de::Error::custom(
                "duration must be 0 or more seconds",
            ));
        }
        Ok(Duration::from_secs_f64(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse() {
        let t = Threshold::parse("p99<50ms").unwrap();
        assert_eq!((t.metric, t.cmp, t.limit), (Metric::P99, Cmp::Lt, 50_000.0));
        let t = Threshold::parse("errors<0.1%").unwrap();
        assert_eq!((t.metric, t.limit), (Metric::Errors, 0.1));
        let t = Threshold::parse("tps>=1000").unwrap();
        assert_eq!((t.metric, t.cmp, t.limit), (Metric::Tps, Cmp::Ge, 1000.0));
        let t = Threshold::parse("pay:1003.p99.9 <= 2s").unwrap();
        assert_eq!(t.op.as_deref(), Some("pay:1003"));
        assert_eq!((t.metric, t.limit), (Metric::P999, 2e6));
        for bad in [
            "",
            "p99",
            "p99<",
            "p99<abc",
            "p77<5ms",
            "tps>=x",
            "nope.p99<1ms",
            "p99<-1ms",
        ] {
            let e = Threshold::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--threshold"), "{bad}: {e}");
        }
    }

    #[test]
    fn mix_and_stages_parse() {
        let m = Mix::parse("pay=70,pay:1003=5,precreate=10,query").unwrap();
        assert_eq!(m.entries.len(), 4);
        assert_eq!(m.pick(0.0), OpKind::Pay(PayCase::Normal));
        assert_eq!(m.pick(0.999), OpKind::Query);
        assert!(Mix::parse("pay=0").is_err());
        assert!(Mix::parse("fly=1").unwrap_err().to_string().contains("fly"));
        let s = parse_stages("ramp:0-200/10s, hold:200/20s").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].requests(), 1000.0);
        assert!(parse_stages("hold:0/1s").is_err());
        assert!(parse_stages("hold:10").is_err());
        assert!(parse_duration("--duration", "1x").is_err());
        assert_eq!(
            parse_duration("--d", "250ms").unwrap(),
            Duration::from_millis(250)
        );
    }
}
