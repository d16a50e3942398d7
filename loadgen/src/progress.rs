//! The live progress line on stderr: elapsed time, offered and achieved TPS,
//! p99 so far, errors, requests in flight.
//!
//! Guarantees: it writes only when stderr is a terminal (a log file or a CI
//! job sees nothing), rewrites one line in place, and clears it at the end.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::load::Live;
use crate::measure::Recorder;
use crate::report::fmt_us;

/// Spawns the progress task on the current tokio runtime, or returns `None`
/// when stderr is not a terminal. Once a second it reads `rec` (counts, p99,
/// the last full second's offered and achieved rates) and `live` (requests
/// in flight) and rewrites the line, prefixed by `label` (the stage's name);
/// it prints a final newline and ends after the first tick that sees
/// [`Live::done`]. Called by [`crate::run`] for each load phase.
pub fn spawn(
    rec: Arc<Recorder>,
    live: Arc<Live>,
    label: String,
) -> Option<tokio::task::JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let done = live.done.load(Ordering::Relaxed);
            let now = Instant::now();
            let (sent, completed, errors, p99) = rec.live();
            let (off, ach) = rec.last_second(now);
            let line = format!(
                "\r{label} {:>5.0}s | offered {off}/s achieved {ach}/s | sent {sent} done {completed} | p99 {} | errors {errors} | in flight {}   ",
                now.saturating_duration_since(rec.start()).as_secs_f64(),
                fmt_us(p99),
                live.in_flight.load(Ordering::Relaxed)
            );
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(line.as_bytes());
            let _ = e.flush();
            if done {
                let _ = e.write_all(b"\n");
                break;
            }
        }
    }))
}
