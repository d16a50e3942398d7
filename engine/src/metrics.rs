//! Prometheus metrics: counters and histograms kept in lock-free atomics,
//! rendered as the Prometheus text format by GET /metrics.
//!
//! Series: `payswitch_requests_total{endpoint,status}`,
//! `payswitch_request_seconds{endpoint}`, `payswitch_gateway_calls_total{method,code}`,
//! `payswitch_gateway_seconds{method}`, `payswitch_trades{status}` (from the
//! journal), `payswitch_journal_batch_size`, `payswitch_journal_commit_seconds`,
//! `payswitch_notifications_total{result}`, `payswitch_auth_failures_total{reason}`.
//! Labels never carry an order number or a secret.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];
const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

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

/// The switch's metrics registry.
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
    /// Adds one to a counter.
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

    /// Records a latency.
    pub fn observe(&self, name: &str, labels: &[(&str, &str)], d: Duration) {
        self.observe_in(name, labels, SECONDS, d.as_secs_f64());
    }

    /// Records one journal group commit of `commits` commits.
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
    pub fn render(&self, gauges: &[(String, String, f64)]) -> String {
        let mut out = String::with_capacity(8192);
        let mut counters: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for e in self.counters.iter() {
            counters
                .entry(e.key().0.clone())
                .or_default()
                .push((e.key().1.clone(), e.value().load(Ordering::Relaxed)));
        }
        for (name, mut series) in counters {
            series.sort();
            out.push_str(&format!("# TYPE {name} counter\n"));
            for (l, v) in series {
                if l.is_empty() {
                    out.push_str(&format!("{name} {v}\n"));
                } else {
                    out.push_str(&format!("{name}{{{l}}} {v}\n"));
                }
            }
        }
        let mut hists: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in self.hists.iter() {
            let (name, l) = e.key();
            let h = e.value();
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
            if l.is_empty() {
                s.push_str(&format!("{name}_sum {sum}\n{name}_count {count}\n"));
            } else {
                s.push_str(&format!(
                    "{name}_sum{{{l}}} {sum}\n{name}_count{{{l}}} {count}\n"
                ));
            }
            hists.entry(name.clone()).or_default().push(s);
        }
        for (name, mut parts) in hists {
            parts.sort();
            out.push_str(&format!("# TYPE {name} histogram\n"));
            for p in parts {
                out.push_str(&p);
            }
        }
        let mut last = String::new();
        for (name, l, v) in gauges {
            if *name != last {
                out.push_str(&format!("# TYPE {name} gauge\n"));
                last.clone_from(name);
            }
            if l.is_empty() {
                out.push_str(&format!("{name} {v}\n"));
            } else {
                out.push_str(&format!("{name}{{{l}}} {v}\n"));
            }
        }
        out
    }
}

/// Formats gauge labels.
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
}
