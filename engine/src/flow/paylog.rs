//! The recent barcode pays of each terminal, for the heartbeat's
//! `trade_info` (交易保障, docs/PROTOCOL.md §5 `monitor.heartbeat.syn`): out_trade_no,
//! seconds the pay took, and its outcome letter. Bounded: at most
//! [`PAYS_PER_TERMINAL`] per terminal (the heartbeat's own limit), oldest
//! dropped first; taken (and emptied) by each heartbeat.

use std::collections::VecDeque;

use dashmap::DashMap;
use parking_lot::Mutex;

/// The heartbeat's limit of trade_info entries.
pub const PAYS_PER_TERMINAL: usize = 30;

/// The outcome letter of a pay in `trade_info.STAT` (docs/PROTOCOL.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayStat {
    /// S: success (10000).
    Success,
    /// I: in progress (10003).
    InProgress,
    /// F: failed (40004, 20000 or no answer).
    Failed,
    /// C: the cashier cancelled it.
    Cancelled,
}

impl PayStat {
    /// The letter the heartbeat sends: `S`, `I`, `F` or `C`.
    pub const fn letter(self) -> &'static str {
        match self {
            PayStat::Success => "S",
            PayStat::InProgress => "I",
            PayStat::Failed => "F",
            PayStat::Cancelled => "C",
        }
    }
}

/// One pay as the heartbeat reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PayRecord {
    /// The gateway's out_trade_no of the pay (`trade_info.OTN`).
    pub out_trade_no: String,
    /// Seconds from the terminal's request to the gateway's answer, capped at 99.
    /// (`trade_info.TC`).
    pub took_secs: f64,
    /// The pay's first outcome (`trade_info.STAT`).
    pub stat: PayStat,
}

/// Recent pays per terminal key id, at most [`PAYS_PER_TERMINAL`] each.
/// Written by the pay flow, emptied by the heartbeats; thread-safe.
#[derive(Default)]
pub struct PayLog {
    by_terminal: DashMap<String, Mutex<VecDeque<PayRecord>>>,
}

impl PayLog {
    /// Records a pay's first answer for `terminal` (its key id); `took_ms`
    /// from the terminal's request to that answer (negative counts as 0,
    /// capped at 99 s). The oldest entry is dropped when the terminal's 30
    /// are taken.
    pub fn record(&self, terminal: &str, out_trade_no: &str, took_ms: i64, stat: PayStat) {
        let took_secs = (took_ms.max(0) as f64 / 1000.0).min(99.0);
        let rec = PayRecord {
            out_trade_no: out_trade_no.to_owned(),
            took_secs,
            stat,
        };
        let entry = self.by_terminal.entry(terminal.to_owned()).or_default();
        let mut q = entry.lock();
        if q.len() == PAYS_PER_TERMINAL {
            q.pop_front();
        }
        q.push_back(rec);
        debug_assert!(q.len() <= PAYS_PER_TERMINAL);
    }

    /// Takes a terminal's pays since the last call (oldest first).
    pub fn take(&self, terminal: &str) -> Vec<PayRecord> {
        match self.by_terminal.get(terminal) {
            Some(q) => q.lock().drain(..).collect(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_taken_once() {
        let log = PayLog::default();
        for i in 0..40 {
            log.record("T1", &format!("o{i}"), 150_000, PayStat::Success);
        }
        log.record("T2", "x", 1200, PayStat::Failed);
        let t1 = log.take("T1");
        assert_eq!(t1.len(), PAYS_PER_TERMINAL);
        assert_eq!(t1[0].out_trade_no, "o10");
        assert_eq!(t1[0].took_secs, 99.0);
        assert!(log.take("T1").is_empty());
        let t2 = log.take("T2");
        assert_eq!(t2[0].took_secs, 1.2);
        assert_eq!(t2[0].stat.letter(), "F");
        assert!(log.take("nobody").is_empty());
    }
}
