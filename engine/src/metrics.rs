//! Prometheus metrics: counters and histograms kept in lock-free atomics,
//! rendered as the Prometheus text format by GET /metrics.
//!
//! Every family the switch records is listed in [`FAMILIES`] with its type
//! and help: `/metrics` prints `# HELP` and `# TYPE` of each from the start,
//! and the series an alert watches (unlabelled counters, the known values of
//! a few labels, the journal's histograms) at 0, so that a rule over
//! `increase()` sees the first event and a dashboard finds every family
//! before its first event. A family that only exists with some
//! configuration (the PostgreSQL pool, the leases, a TLS listener) shows
//! its HELP and TYPE without samples. Labels never carry an order number or
//! a secret. `deploy/monitoring/` holds the alerting rules and dashboard
//! built on these families.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

use crate::flow::policy::IncidentKind;

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// What a family is, as `# TYPE` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total` names).
    Counter,
    /// A value that goes up and down (set by a job or read at render).
    Gauge,
    /// Observations in buckets (latencies in seconds, batch sizes).
    Histogram,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family the switch records.
#[derive(Debug)]
pub struct Family {
    /// The metric name (`payswitch_...`).
    pub name: &'static str,
    /// The `# TYPE` of the family.
    pub kind: Kind,
    /// The `# HELP` text (one line, no backslash).
    pub help: &'static str,
    /// Label sets printed at 0 before their first event (counters, and the
    /// unlabelled histograms).
    pub zero: &'static [&'static [(&'static str, &'static str)]],
    /// A histogram's bucket bounds; empty for the others.
    pub bounds: &'static [f64],
}

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family {
        name,
        kind,
        help,
        zero: &[],
        bounds: &[],
    }
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    family(name, Kind::Counter, help)
}

/// An unlabelled counter, printed at 0 from the start.
const fn counter0(name: &'static str, help: &'static str) -> Family {
    Family {
        zero: &[&[]],
        ..counter(name, help)
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    family(name, Kind::Gauge, help)
}

const fn histogram(name: &'static str, help: &'static str, bounds: &'static [f64]) -> Family {
    Family {
        bounds,
        ..family(name, Kind::Histogram, help)
    }
}

/// The gauge of the expiry of a certificate the switch loaded (Unix
/// seconds, label `key`: the setting the file came from), set by
/// [`Metrics::publish_cert_expiry`].
pub const KEY_EXPIRY: &str = "payswitch_key_expiry_timestamp_seconds";

/// Every family the switch records, in name order. A name recorded but
/// missing here is still rendered (TYPE only); the unit test
/// `every_recorded_family_is_catalogued` keeps the list and the code equal.
pub const FAMILIES: &[Family] = &[
    counter(
        "payswitch_answer_mismatches_total",
        "Gateway answers naming another out_trade_no or amount than the request (treated as unknown, journaled as an incident), by method.",
    ),
    counter(
        "payswitch_auth_failures_total",
        "Terminal requests refused by authentication, by reason.",
    ),
    counter0(
        "payswitch_busy_refusals_total",
        "New trades refused because server.max_trades_in_memory trades are in memory.",
    ),
    counter(
        "payswitch_connections_closed_total",
        "Connections closed by the switch, by listener and reason (no_request, idle).",
    ),
    counter(
        "payswitch_connections_refused_total",
        "Connections closed at accept over the listener's max_connections, by listener.",
    ),
    gauge(
        "payswitch_flows_in_flight",
        "Payment flows (requests and background resolutions) running now.",
    ),
    counter(
        "payswitch_gateway_calls_total",
        "Calls to the Alipay gateway by method and answer code (unknown: no verified answer).",
    ),
    gauge(
        "payswitch_gateway_circuit_open",
        "1 while the gateway circuit breaker is open (new payments answer 503 gateway_unavailable), else 0.",
    ),
    histogram(
        "payswitch_gateway_seconds",
        "Latency of gateway calls by method, in seconds.",
        SECONDS,
    ),
    Family {
        zero: &[&[("result", "ok")], &[("result", "failed")]],
        ..counter(
            "payswitch_heartbeats_total",
            "monitor.heartbeat.syn calls by result (ok, failed).",
        )
    },
    Family {
        zero: &[&[("what", "auth")], &[("what", "connection")]],
        ..counter(
            "payswitch_ip_limited_total",
            "Sources refused by the per-IP limits, by what (auth: 429 ip_limited, connection: closed at accept).",
        )
    },
    counter0(
        "payswitch_ip_table_full_total",
        "Sources left untracked because the per-IP table is full.",
    ),
    Family {
        zero: &[&[]],
        ..histogram(
            "payswitch_journal_batch_size",
            "Commits written per journal group commit (the commits queued when the writer took them).",
            SIZES,
        )
    },
    counter0(
        "payswitch_journal_busy_total",
        "Journal commits refused because the writer queue was full (behind, not broken).",
    ),
    Family {
        zero: &[&[]],
        ..histogram(
            "payswitch_journal_commit_seconds",
            "Latency of one journal group commit (one transaction, one fsync), in seconds.",
            SECONDS,
        )
    },
    counter0(
        "payswitch_journal_conflict_retries_total",
        "PostgreSQL journal batches retried after a conflict with another node's.",
    ),
    counter0(
        "payswitch_journal_failures_total",
        "Journal commits that failed (retried with back-off; new trades are refused meanwhile).",
    ),
    gauge(
        "payswitch_journal_pool_connections",
        "PostgreSQL journal connection pool, by state (size, max, available, waiting).",
    ),
    counter0(
        "payswitch_journal_stale_writes_total",
        "Trade changes that met another node's change first (re-read and decided again).",
    ),
    gauge(
        KEY_EXPIRY,
        "Earliest notAfter of the certificates loaded from the file named by key, as Unix seconds.",
    ),
    Family {
        zero: &[&[("kind", "late_landing_watch_unanswered")], &[("kind", "late_landing_not_undone")]],
        ..counter(
            "payswitch_late_landing_watch_gave_up_total",
            "Late-landing watches ended with an incident for a person, by kind (late_landing_watch_unanswered, late_landing_not_undone).",
        )
    },
    Family {
        zero: &[&[("undone_by", "cancel")], &[("undone_by", "refund")]],
        ..counter(
            "payswitch_late_landings_total",
            "Payments booked at the gateway for trades the terminal was told are not paid, undone, by how (cancel, refund).",
        )
    },
    gauge(
        "payswitch_leases_held",
        "Leases of background work this node holds (PostgreSQL journal).",
    ),
    counter0(
        "payswitch_leases_taken_over_total",
        "Trades and relays this node took over after their lease lapsed (another node died or stalled).",
    ),
    Family {
        zero: &[
            &[("result", "incident")],
            &[("result", "orphan")],
            &[("result", "journal_error")],
            &[("result", "bad_signature")],
        ],
        ..counter(
            "payswitch_notifications_total",
            "Gateway notifications by result (applied, journaled, incident, orphan, bad_signature, bad_sign_type, invalid, journal_error).",
        )
    },
    Family {
        zero: &[
            &[("kind", IncidentKind::WrongAppId.as_str())],
            &[("kind", IncidentKind::WrongSellerId.as_str())],
            &[("kind", IncidentKind::AmountMismatch.as_str())],
            &[("kind", IncidentKind::PaidWhileClosed.as_str())],
        ],
        ..counter(
            "payswitch_notify_incidents_total",
            "Verified notifications journaled as incidents, by kind.",
        )
    },
    gauge(
        "payswitch_recon_bill_rows",
        "Rows of the bill of the last reconciliation run, by date.",
    ),
    gauge(
        "payswitch_recon_differences",
        "Differences of the last reconciliation run, by class and resolved.",
    ),
    counter0(
        "payswitch_recon_failures_total",
        "Scheduled reconciliation runs that failed (retried every 10 minutes).",
    ),
    gauge(
        "payswitch_recon_last_run_timestamp_seconds",
        "When the last reconciliation run was recorded, as Unix seconds.",
    ),
    gauge(
        "payswitch_recon_matched",
        "Trades matched by the last reconciliation run, by date.",
    ),
    gauge(
        "payswitch_recon_open",
        "Differences left open by the last reconciliation run, by date.",
    ),
    Family {
        zero: &[&[("result", "delivered")], &[("result", "refused")], &[("result", "gave_up")]],
        ..counter(
            "payswitch_relays_total",
            "Merchant notification relays by result (delivered, refused, gave_up).",
        )
    },
    histogram(
        "payswitch_request_seconds",
        "Latency of HTTP requests by endpoint, in seconds.",
        SECONDS,
    ),
    counter(
        "payswitch_requests_total",
        "HTTP requests answered, by endpoint and status.",
    ),
    gauge(
        "payswitch_trades",
        "Trades by status (the journal's count at start, kept since).",
    ),
];

fn family_of(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

struct Hist {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths of the unit.
    sum_micro: AtomicU64,
}

impl Hist {
    fn new(bounds: &'static [f64]) -> Hist {
        Hist {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }
    fn observe(&self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micro
            .fetch_add((v * 1e6).max(0.0) as u64, Ordering::Relaxed);
    }
}

/// The switch's metrics registry: one per switch, shared as `Arc<Metrics>`;
/// every call is a lock-free update of an atomic once the series exists.
/// Label values are escaped for the text format.
#[derive(Default)]
pub struct Metrics {
    counters: DashMap<(String, String), AtomicU64>,
    hists: DashMap<(String, String), Hist>,
    journal_batches: AtomicU64,
    journal_commits: AtomicU64,
    /// Gauges set as a group by a background job (the last reconciliation).
    groups: DashMap<&'static str, Vec<(String, String, f64)>>,
}

fn label_str(labels: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        for c in v.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s
}

impl Metrics {
    /// Adds one to a counter (the series `name{labels}` is made on first
    /// use).
    pub fn inc(&self, name: &str, labels: &[(&str, &str)]) {
        self.add(name, labels, 1);
    }

    /// Adds `n` to a counter.
    pub fn add(&self, name: &str, labels: &[(&str, &str)], n: u64) {
        let key = (name.to_owned(), label_str(labels));
        if let Some(c) = self.counters.get(&key) {
            c.fetch_add(n, Ordering::Relaxed);
            return;
        }
        self.counters
            .entry(key)
            .or_insert_with(|| AtomicU64::new(0))
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Replaces a group of gauges (name, labels, value), e.g. those of the
    /// last reconciliation run; [`Metrics::group_gauges`] reads them all.
    pub fn set_gauges(&self, group: &'static str, gauges: Vec<(String, String, f64)>) {
        self.groups.insert(group, gauges);
    }

    /// Every gauge set by [`Metrics::set_gauges`], groups in name order.
    pub fn group_gauges(&self) -> Vec<(String, String, f64)> {
        let mut groups: Vec<_> = self
            .groups
            .iter()
            .map(|e| (*e.key(), e.value().clone()))
            .collect();
        groups.sort_by_key(|g| g.0);
        groups.into_iter().flat_map(|g| g.1).collect()
    }

    /// The value of a counter (tests).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.counters
            .get(&(name.to_owned(), label_str(labels)))
            .map(|c| c.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    fn observe_in(&self, name: &str, labels: &[(&str, &str)], bounds: &'static [f64], v: f64) {
        let key = (name.to_owned(), label_str(labels));
        if let Some(h) = self.hists.get(&key) {
            h.observe(v);
            return;
        }
        self.hists
            .entry(key)
            .or_insert_with(|| Hist::new(bounds))
            .observe(v);
    }

    /// Records a latency in the histogram `name{labels}`, in seconds (bucket
    /// bounds from 0.5 ms to 60 s).
    pub fn observe(&self, name: &str, labels: &[(&str, &str)], d: Duration) {
        self.observe_in(name, labels, SECONDS, d.as_secs_f64());
    }

    /// Records one journal group commit of `commits` commits that took `d`
    /// (`payswitch_journal_batch_size` and `payswitch_journal_commit_seconds`).
    pub fn journal_batch(&self, commits: usize, d: Duration) {
        self.journal_batches.fetch_add(1, Ordering::Relaxed);
        self.journal_commits
            .fetch_add(commits as u64, Ordering::Relaxed);
        self.observe_in("payswitch_journal_batch_size", &[], SIZES, commits as f64);
        self.observe_in(
            "payswitch_journal_commit_seconds",
            &[],
            SECONDS,
            d.as_secs_f64(),
        );
    }

    /// (transactions, commits) the journal writer has done.
    pub fn journal_batches(&self) -> (u64, u64) {
        (
            self.journal_batches.load(Ordering::Relaxed),
            self.journal_commits.load(Ordering::Relaxed),
        )
    }

    /// The Prometheus text exposition; `gauges` are (name, labels, value).
    /// Every family of [`FAMILIES`] is printed (HELP and TYPE, then its
    /// series in label order), with its `zero` series when not yet recorded.
    pub fn render(&self, gauges: &[(String, String, f64)]) -> String {
        let mut blocks: BTreeMap<String, Block> = FAMILIES
            .iter()
            .map(|f| (f.name.to_owned(), Block::new(f.kind)))
            .collect();
        fn block<'a>(
            blocks: &'a mut BTreeMap<String, Block>,
            name: &str,
            kind: Kind,
        ) -> &'a mut Block {
            let b = blocks
                .entry(name.to_owned())
                .or_insert_with(|| Block::new(kind));
            debug_assert_eq!(b.kind, kind, "{name} recorded as two kinds");
            b
        }
        for e in self.counters.iter() {
            let (name, l) = e.key();
            let v = e.value().load(Ordering::Relaxed);
            block(&mut blocks, name, Kind::Counter)
                .series
                .insert(l.clone(), sample(name, "", l, v));
        }
        for e in self.hists.iter() {
            let (name, l) = e.key();
            block(&mut blocks, name, Kind::Histogram)
                .series
                .insert(l.clone(), hist_text(name, l, e.value()));
        }
        for (name, l, v) in gauges {
            block(&mut blocks, name, Kind::Gauge)
                .series
                .insert(l.clone(), sample(name, "", l, v));
        }
        for f in FAMILIES {
            let b = block(&mut blocks, f.name, f.kind);
            for z in f.zero {
                let l = label_str(z);
                if let std::collections::btree_map::Entry::Vacant(e) = b.series.entry(l) {
                    let text = match f.kind {
                        Kind::Histogram => hist_text(f.name, e.key(), &Hist::new(f.bounds)),
                        _ => sample(f.name, "", e.key(), 0),
                    };
                    e.insert(text);
                }
            }
        }
        let mut out = String::with_capacity(16384);
        for (name, b) in blocks {
            if let Some(f) = family_of(&name) {
                out.push_str(&format!("# HELP {name} {}\n", f.help));
            }
            out.push_str(&format!("# TYPE {name} {}\n", b.kind.as_str()));
            for text in b.series.into_values() {
                out.push_str(&text);
            }
        }
        out
    }

    /// Publishes [`KEY_EXPIRY`]`{key}`: the earliest notAfter of the
    /// certificates in the PEM file `path` (a leaf and its chain). Nothing
    /// is published, and a warning logged, when a certificate of the file
    /// cannot be read (the file itself was loaded by the caller).
    pub fn publish_cert_expiry(&self, key: &str, path: &Path) {
        let pem = std::fs::read(path).unwrap_or_default();
        let ders: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
            .filter_map(Result::ok)
            .collect();
        let dates: Vec<i64> = ders
            .iter()
            .filter_map(|d| cert_not_after_unix_secs(d))
            .collect();
        match dates.iter().min() {
            Some(t) if dates.len() == ders.len() => self.set_gauges(
                "key_expiry",
                vec![(KEY_EXPIRY.to_owned(), labels(&[("key", key)]), *t as f64)],
            ),
            _ => tracing::warn!(
                key,
                "the expiry of a certificate could not be read; {KEY_EXPIRY} not published"
            ),
        }
    }
}

/// The text of one family: its series by label string.
struct Block {
    kind: Kind,
    series: BTreeMap<String, String>,
}

impl Block {
    fn new(kind: Kind) -> Block {
        Block {
            kind,
            series: BTreeMap::new(),
        }
    }
}

fn sample(name: &str, suffix: &str, l: &str, v: impl std::fmt::Display) -> String {
    if l.is_empty() {
        format!("{name}{suffix} {v}\n")
    } else {
        format!("{name}{suffix}{{{l}}} {v}\n")
    }
}

fn hist_text(name: &str, l: &str, h: &Hist) -> String {
    let mut s = String::new();
    let sep = if l.is_empty() { "" } else { "," };
    for (i, b) in h.bounds.iter().enumerate() {
        s.push_str(&format!(
            "{name}_bucket{{{l}{sep}le=\"{b}\"}} {}\n",
            h.buckets[i].load(Ordering::Relaxed)
        ));
    }
    let count = h.count.load(Ordering::Relaxed);
    s.push_str(&format!("{name}_bucket{{{l}{sep}le=\"+Inf\"}} {count}\n"));
    let sum = h.sum_micro.load(Ordering::Relaxed) as f64 / 1e6;
    s.push_str(&sample(name, "_sum", l, sum));
    s.push_str(&sample(name, "_count", l, count));
    s
}

/// The notAfter of an X.509 certificate (DER), as Unix seconds: the
/// `validity` of its `tbsCertificate` (RFC 5280 4.1), UTCTime or
/// GeneralizedTime, `Z` and seconds as the RFC requires. None for anything
/// else.
pub fn cert_not_after_unix_secs(der: &[u8]) -> Option<i64> {
    let (cert, _) = der_take(der, 0x30)?;
    let (tbs, _) = der_take(cert, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_take(rest, 0xa0)?.1; // version
    }
    rest = der_take(rest, 0x02)?.1; // serialNumber
    rest = der_take(rest, 0x30)?.1; // signature
    rest = der_take(rest, 0x30)?.1; // issuer
    let (validity, _) = der_take(rest, 0x30)?;
    let tag = *validity.first()?;
    let (_, after) = der_take(validity, tag)?; // notBefore
    let (tag, digits) = match after.first()? {
        0x17 => (0x17, 2),
        0x18 => (0x18, 4),
        _ => return None,
    };
    let (t, _) = der_take(after, tag)?;
    let t = std::str::from_utf8(t).ok()?;
    let body = t.strip_suffix('Z')?;
    if body.len() != digits + 10 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| body[r].parse::<i32>().ok();
    let mut year = num(0..digits)?;
    if digits == 2 {
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let f = |k: usize| num(digits + 2 * k..digits + 2 * k + 2);
    let month = time::Month::try_from(u8::try_from(f(0)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(f(1)?).ok()?).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(f(2)?).ok()?,
        u8::try_from(f(3)?).ok()?,
        u8::try_from(f(4)?).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// One DER element of tag `tag` at the start of `b`: (its content, the rest).
fn der_take(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *b.first()? != tag {
        return None;
    }
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for k in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + k)?);
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((b.get(head..end)?, b.get(end..)?))
}

/// Formats gauge labels as the text format writes them, for
/// [`Metrics::set_gauges`] and [`Metrics::render`]: `k="v",...`, values
/// escaped (`"`, `\\`, newline).
pub fn labels(l: &[(&str, &str)]) -> String {
    label_str(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc(
            "payswitch_requests_total",
            &[("endpoint", "pay"), ("status", "200")],
        );
        m.inc(
            "payswitch_requests_total",
            &[("endpoint", "pay"), ("status", "200")],
        );
        m.observe(
            "payswitch_request_seconds",
            &[("endpoint", "pay")],
            Duration::from_millis(3),
        );
        m.journal_batch(3, Duration::from_millis(2));
        let t = m.render(&[(
            "payswitch_trades".into(),
            labels(&[("status", "SUCCESS")]),
            2.0,
        )]);
        assert!(
            t.contains("payswitch_requests_total{endpoint=\"pay\",status=\"200\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("payswitch_request_seconds_bucket{endpoint=\"pay\",le=\"0.005\"} 1"),
            "{t}"
        );
        assert!(t.contains("payswitch_journal_batch_size_count 1"), "{t}");
        assert!(t.contains("payswitch_trades{status=\"SUCCESS\"} 2"), "{t}");
        assert_eq!(m.journal_batches(), (1, 3));
    }

    /// Each family once, HELP and TYPE first; the zero series before the
    /// first event; a recorded series replaces its zero.
    #[test]
    fn every_family_is_printed_from_the_start() {
        let m = Metrics::default();
        let t = m.render(&[]);
        for f in FAMILIES {
            let help = format!("# HELP {} ", f.name);
            let ty = format!("# TYPE {} {}\n", f.name, f.kind.as_str());
            assert_eq!(t.matches(&help).count(), 1, "{}\n{t}", f.name);
            assert_eq!(t.matches(&ty).count(), 1, "{}\n{t}", f.name);
            assert!(t.find(&help) < t.find(&ty), "{}", f.name);
        }
        assert!(t.contains("\npayswitch_journal_failures_total 0\n"), "{t}");
        assert!(
            t.contains("\npayswitch_late_landings_total{undone_by=\"refund\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("\npayswitch_notify_incidents_total{kind=\"paid_while_closed\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("\npayswitch_journal_commit_seconds_bucket{le=\"+Inf\"} 0\n"),
            "{t}"
        );
        assert!(
            t.contains("\npayswitch_journal_commit_seconds_count 0\n"),
            "{t}"
        );
        m.inc("payswitch_journal_failures_total", &[]);
        m.inc("payswitch_late_landings_total", &[("undone_by", "refund")]);
        m.journal_batch(2, Duration::from_millis(1));
        let t = m.render(&[]);
        assert!(t.contains("\npayswitch_journal_failures_total 1\n"), "{t}");
        assert!(!t.contains("\npayswitch_journal_failures_total 0\n"), "{t}");
        assert!(
            t.contains("\npayswitch_late_landings_total{undone_by=\"refund\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("\npayswitch_late_landings_total{undone_by=\"cancel\"} 0\n"),
            "{t}"
        );
        assert_eq!(
            t.matches("payswitch_journal_commit_seconds_count").count(),
            1
        );
        assert!(
            t.contains("\npayswitch_journal_commit_seconds_count 1\n"),
            "{t}"
        );
        // Every sample line belongs to the family whose TYPE came last.
        let mut current = String::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_owned();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| *b == current))
                    .unwrap_or(name);
                assert_eq!(base, current, "{line}");
            }
        }
    }

    /// A family recorded outside the catalogue is still printed (TYPE only).
    #[test]
    fn an_uncatalogued_family_is_rendered() {
        let m = Metrics::default();
        m.inc("payswitch_test_only_total", &[("a", "b")]);
        let t = m.render(&[("payswitch_test_gauge".into(), String::new(), 2.5)]);
        assert!(
            t.contains(
                "# TYPE payswitch_test_only_total counter\npayswitch_test_only_total{a=\"b\"} 1\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("# TYPE payswitch_test_gauge gauge\npayswitch_test_gauge 2.5\n"),
            "{t}"
        );
        assert!(!t.contains("# HELP payswitch_test_only_total"), "{t}");
    }

    /// The catalogue and the code agree: every `"payswitch_..."` literal
    /// recorded under engine/src is catalogued, and every catalogued family
    /// is recorded somewhere (those recorded here by name: the journal's
    /// histograms and the certificate expiry).
    #[test]
    fn every_recorded_family_is_catalogued() {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut used = std::collections::BTreeSet::new();
        for f in files.iter().filter(|f| !f.ends_with("metrics.rs")) {
            let text = std::fs::read_to_string(f).unwrap();
            for (i, _) in text.match_indices("\"payswitch_") {
                let rest = &text[i + 1..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(rest.len());
                if rest[end..].starts_with('"') {
                    used.insert(rest[..end].to_owned());
                }
            }
        }
        assert!(used.len() > 20, "{used:?}");
        for name in &used {
            assert!(
                family_of(name).is_some(),
                "{name} is recorded but not in FAMILIES"
            );
        }
        let here = [
            "payswitch_journal_batch_size",
            "payswitch_journal_commit_seconds",
            KEY_EXPIRY,
        ];
        for f in FAMILIES {
            assert!(
                used.contains(f.name) || here.contains(&f.name),
                "{} is in FAMILIES but recorded nowhere",
                f.name
            );
        }
        let mut names: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len(), "a family listed twice");
        for f in FAMILIES {
            assert!(!f.help.contains(['\\', '\n']), "{}", f.name);
            assert_eq!(
                f.kind == Kind::Histogram,
                !f.bounds.is_empty(),
                "{}",
                f.name
            );
        }
    }

    /// Throw-away self-signed certificates (EC P-256, no key kept): notAfter
    /// 2036-11-29 07:47:07 UTC (UTCTime) and 2054-04-19 07:47:07 UTC
    /// (GeneralizedTime), as `openssl x509 -noout -enddate` prints them.
    const CERT_2036: &str = "-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUYcKyI9/MpJnvH1MOQw+oxeaQgwswCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWcGF5c3dpdGNoIG1ldHJpY3MgdGVzdDAeFw0yNjEyMDIwNzQ3
MDdaFw0zNjExMjkwNzQ3MDdaMCExHzAdBgNVBAMMFnBheXN3aXRjaCBtZXRyaWNz
IHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQfp2rwAa2dFB2bl7oHurar
QJN4Tmv06g2tU8aHzsioaZsdC0Cq+dpi1/P44kJHqFJhuDz7TGyVD7xKlNI287XM
o1MwUTAdBgNVHQ4EFgQUi7p/NEWTHydJ7+3X7RY48UhLJDkwHwYDVR0jBBgwFoAU
i7p/NEWTHydJ7+3X7RY48UhLJDkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEA677mBkqQgwN3ssL+tZ79DeUmFb8TUrRtaqJL1eHIeH8CIEk/Z5yr
I0OqX1kJpR6fL7sGpsMtt2iOb81pYKZd1hDf
-----END CERTIFICATE-----
";
    const CERT_2054: &str = "-----BEGIN CERTIFICATE-----
MIIBozCCAUmgAwIBAgIUDD0ia9jrAJmAqA7tIqtHWeI2q6IwCgYIKoZIzj0EAwIw
JjEkMCIGA1UEAwwbcGF5c3dpdGNoIG1ldHJpY3MgdGVzdCAyMDUwMCAXDTI2MTIw
MjA3NDcwN1oYDzIwNTQwNDE5MDc0NzA3WjAmMSQwIgYDVQQDDBtwYXlzd2l0Y2gg
bWV0cmljcyB0ZXN0IDIwNTAwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQEjUsT
eBk9JQ/RhcxtmrLKyJjBbSsQQjqQxf1kwhOte5bzVOKwUiu3dH1wPI1g4/gAEDK/
xbQ9rArzp8jdCiTqo1MwUTAdBgNVHQ4EFgQUAgo2mGaHv5bIHBN1C1R9LYaHRb8w
HwYDVR0jBBgwFoAUAgo2mGaHv5bIHBN1C1R9LYaHRb8wDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiBevjlArhGboZE3WBxeywvGjeS19+0+NN8quJWq
qlCW8QIhAJVLx95pCmVcHtXy3FWF4lFrC7cjJtG1Neb2131Yu6Af
-----END CERTIFICATE-----
";

    fn der(pem: &str) -> Vec<u8> {
        rustls_pemfile::certs(&mut pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn reads_a_certificates_not_after() {
        assert_eq!(
            cert_not_after_unix_secs(&der(CERT_2036)),
            Some(2_111_557_627)
        );
        assert_eq!(
            cert_not_after_unix_secs(&der(CERT_2054)),
            Some(2_660_197_627)
        );
        // Anything cut short or not a certificate: None, never a panic.
        let d = der(CERT_2036);
        for n in 0..d.len() {
            assert_eq!(cert_not_after_unix_secs(&d[..n]), None, "{n}");
        }
        assert_eq!(cert_not_after_unix_secs(b"not a certificate"), None);
        let mut bad = d.clone();
        let at = bad.windows(13).position(|w| w == b"361129074707Z").unwrap();
        bad[at + 2] = b'1';
        bad[at + 3] = b'3'; // month 13
        assert_eq!(cert_not_after_unix_secs(&bad), None);
    }

    /// A file with a leaf and its chain: the earliest date; a file whose
    /// certificate cannot be read publishes nothing.
    #[test]
    fn publishes_the_earliest_expiry_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chain.pem");
        std::fs::write(&p, format!("{CERT_2054}{CERT_2036}")).unwrap();
        let m = Metrics::default();
        m.publish_cert_expiry("server.tls_cert_file", &p);
        let t = m.render(&m.group_gauges());
        assert!(
            t.contains("\npayswitch_key_expiry_timestamp_seconds{key=\"server.tls_cert_file\"} 2111557627\n"),
            "{t}"
        );
        std::fs::write(
            &p,
            "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let m = Metrics::default();
        m.publish_cert_expiry("server.tls_cert_file", &p);
        assert!(m.group_gauges().is_empty());
    }
}
