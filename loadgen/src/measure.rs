//! Measurement: what one request came to ([`Outcome`]) and the recorder that
//! turns completions into histograms and a per-second series.
//!
//! Guarantees: every completed request is counted exactly once, in the total,
//! in its operation and in its outcome; latencies are kept in microseconds in
//! HdrHistograms (3 significant digits, auto-resizing, so no value is ever
//! clamped or dropped). In the open model a latency runs from the request's
//! *intended* send time, so a stall of the target shows up in full
//! (coordinated omission corrected); the service time (from the actual send)
//! is kept next to it. The send lag (actual minus intended) is recorded to
//! judge the generator's own health.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::spec::OpKind;

/// The family of an outcome: how far the request got.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// A trade status (`SUCCESS`, `PAYING`, `FAILED`, ...), from the switch or
    /// derived from a gateway answer.
    Status,
    /// A gateway code and sub_code (`40004 ACQ.PAYMENT_AUTH_CODE_INVALID`).
    Gateway,
    /// An HTTP status the target gave instead of an answer (`HTTP 503`).
    Http,
    /// A transport failure (`timeout`, `connect`, `reset`, `closed`).
    Transport,
    /// An answer that could not be read or verified.
    Invalid,
}

/// What one request came to, as a [`crate::target::Target`] reports it to
/// the [`Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The outcome's family.
    pub kind: OutcomeKind,
    /// The label reports group by, e.g. `SUCCESS`, `10003`, `HTTP 409`.
    pub label: String,
    /// Whether this counts as an error of the system under test.
    pub error: bool,
    /// Time the operation spent deliberately waiting on the client side (a
    /// cashier's reaction time), subtracted from its latency.
    pub pause: Duration,
}

/// The label of a transport timeout: the generator's own request timeout
/// fired before a whole answer came.
pub const TRANSPORT_TIMEOUT: &str = "transport timeout";

impl Outcome {
    /// A [`OutcomeKind::Status`] outcome labelled `s` (`SUCCESS`,
    /// `REFUND SUCCESS`, ...), not an error.
    pub fn status(s: impl Into<String>) -> Self {
        Outcome {
            kind: OutcomeKind::Status,
            label: s.into(),
            error: false,
            pause: Duration::ZERO,
        }
    }
    /// A [`OutcomeKind::Gateway`] outcome labelled `code sub_code` (just
    /// `code` without a sub_code); `error` says whether it counts against
    /// the target (an expected business refusal does not).
    pub fn gateway(code: &str, sub_code: Option<&str>, error: bool) -> Self {
        let label = match sub_code {
            Some(s) if !s.is_empty() => format!("{code} {s}"),
            _ => code.to_string(),
        };
        Outcome {
            kind: OutcomeKind::Gateway,
            label,
            error,
            pause: Duration::ZERO,
        }
    }
    /// A [`OutcomeKind::Http`] outcome labelled `HTTP status`; `error` as
    /// in [`Outcome::gateway`].
    pub fn http(status: u16, error: bool) -> Self {
        Outcome {
            kind: OutcomeKind::Http,
            label: format!("HTTP {status}"),
            error,
            pause: Duration::ZERO,
        }
    }
    /// A [`OutcomeKind::Transport`] outcome labelled `transport kind` (a
    /// [`crate::http::TransportError::kind`]); always an error.
    pub fn transport(kind: &str) -> Self {
        Outcome {
            kind: OutcomeKind::Transport,
            label: format!("transport {kind}"),
            error: true,
            pause: Duration::ZERO,
        }
    }
    /// A [`OutcomeKind::Invalid`] outcome labelled `invalid why` (e.g.
    /// `invalid signature`); always an error.
    pub fn invalid(why: &str) -> Self {
        Outcome {
            kind: OutcomeKind::Invalid,
            label: format!("invalid {why}"),
            error: true,
            pause: Duration::ZERO,
        }
    }
}

/// A new latency histogram: 3 significant digits, growing to whatever range
/// it is given (it starts small, so an unused one costs little).
pub fn new_hist() -> Histogram<u64> {
    hist_with(3)
}

/// The per-second histograms: 2 significant digits (1 %), to keep an hour of
/// seconds small.
fn new_second_hist() -> Histogram<u64> {
    hist_with(2)
}

fn hist_with(sigfig: u8) -> Histogram<u64> {
    // `new` only fails for sigfig > 5: a constant here.
    #[allow(clippy::expect_used)]
    let mut h = Histogram::<u64>::new(sigfig).expect("sigfig is at most 5");
    h.auto(true);
    h
}

/// Records `us` microseconds into `h` (0 counts as 1), saturating into the
/// histogram's range if it cannot grow: a value is never dropped.
pub fn record(h: &mut Histogram<u64>, us: u64) {
    let v = us.max(1);
    if h.record(v).is_err() {
        let _ = h.record(h.high().min(v));
    }
}

/// Counts and latencies of a set of requests (all of a run, or one
/// operation's).
#[derive(Debug, Clone)]
pub struct Stats {
    /// Requests completed.
    pub requests: u64,
    /// Of them, those whose [`Outcome::error`] was set.
    pub errors: u64,
    /// Latency (corrected in the open model), microseconds.
    pub hist: Histogram<u64>,
    /// Per outcome label: kind, error flag, count, latencies.
    pub outcomes: BTreeMap<String, OutcomeStats>,
}

/// One outcome's share of a [`Stats`]; its count is the histogram's length.
#[derive(Debug, Clone)]
pub struct OutcomeStats {
    /// The outcome's family.
    pub kind: OutcomeKind,
    /// Whether the outcome counts as an error (as its first occurrence said).
    pub error: bool,
    /// Latencies of the requests with this outcome, microseconds.
    pub hist: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: 0,
            errors: 0,
            hist: new_hist(),
            outcomes: BTreeMap::new(),
        }
    }
}

impl Stats {
    fn add(&mut self, lat_us: u64, o: &Outcome) {
        self.requests += 1;
        if o.error {
            self.errors += 1;
        }
        record(&mut self.hist, lat_us);
        // Look up before inserting: no allocation for a known outcome.
        if let Some(e) = self.outcomes.get_mut(&o.label) {
            record(&mut e.hist, lat_us);
            return;
        }
        let mut e = OutcomeStats {
            kind: o.kind,
            error: o.error,
            hist: new_hist(),
        };
        record(&mut e.hist, lat_us);
        self.outcomes.insert(o.label.clone(), e);
    }
}

/// One second of the run (by completion time; offered by intended time).
#[derive(Debug, Clone)]
pub struct Second {
    /// Requests whose intended send time fell in this second.
    pub offered: u64,
    /// Requests that completed in this second.
    pub completed: u64,
    /// Of them, the errors.
    pub errors: u64,
    /// Their latencies, microseconds, at 2 significant digits (1 %).
    pub hist: Histogram<u64>,
}

impl Default for Second {
    fn default() -> Self {
        Second {
            offered: 0,
            completed: 0,
            errors: 0,
            hist: new_second_hist(),
        }
    }
}

/// Everything measured during a run, as [`Recorder::snapshot`] returns it.
#[derive(Debug, Clone, Default)]
pub struct Measurements {
    /// All completed requests.
    pub total: Stats,
    /// Service time: from the actual send, microseconds (all requests).
    pub service: Option<Histogram<u64>>,
    /// Send lag: actual minus intended send time, microseconds.
    pub lag: Option<Histogram<u64>>,
    /// The completed requests per operation (the one the target reports it
    /// did, which may differ from the one drawn).
    pub per_op: BTreeMap<OpKind, Stats>,
    /// One entry per second since the start, index 0 the first second (at
    /// most 7 days; later seconds land in the last one).
    pub seconds: Vec<Second>,
    /// Requests the schedule intended (open model), counted as each is
    /// sent, so equal to `sent`: the rest of the schedule after a stop or
    /// the request bound is not counted.
    pub intended: u64,
    /// Requests sent so far.
    pub sent: u64,
    /// First actual send, relative to the start, seconds.
    pub first_send: Option<f64>,
    /// Last actual send, relative to the start, seconds.
    pub last_send: Option<f64>,
}

/// A thread-safe recorder shared by the scheduler and the request tasks:
/// one mutex over the [`Measurements`], held for a few histogram updates per
/// call (a poisoned lock is recovered, not a panic).
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    inner: Mutex<Measurements>,
}

impl Recorder {
    /// A recorder for a run that starts at `start` (second 0 of the series,
    /// the origin of the schedule).
    pub fn new(start: Instant) -> Self {
        Recorder {
            start,
            inner: Mutex::new(Measurements {
                service: Some(new_hist()),
                lag: Some(new_hist()),
                ..Default::default()
            }),
        }
    }

    /// The run's start, as given to [`Recorder::new`].
    pub fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Measurements> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn second_of(&self, t: Instant) -> usize {
        t.saturating_duration_since(self.start).as_secs() as usize
    }

    /// A request is sent: `intended` is its scheduled time, `actual` now.
    /// Counts it as offered in the second of `intended` and records the send
    /// lag.
    pub fn sent(&self, intended: Instant, actual: Instant) {
        let s = self.second_of(intended);
        let rel = actual.saturating_duration_since(self.start).as_secs_f64();
        let lag = micros(actual.saturating_duration_since(intended));
        let mut m = self.lock();
        m.intended += 1;
        m.sent += 1;
        if m.first_send.is_none() {
            m.first_send = Some(rel);
        }
        m.last_send = Some(rel);
        if let Some(h) = m.lag.as_mut() {
            record(h, lag);
        }
        grow(&mut m.seconds, s).offered += 1;
    }

    /// A request of operation `op` completed at `done` with `outcome`:
    /// records its latency from `intended` and its service time from
    /// `actual`, both less [`Outcome::pause`], in the total, in `op` and in
    /// the second of `done`.
    pub fn completed(
        &self,
        op: OpKind,
        intended: Instant,
        actual: Instant,
        done: Instant,
        outcome: &Outcome,
    ) {
        let lat =
            micros(done.saturating_duration_since(intended)).saturating_sub(micros(outcome.pause));
        let svc =
            micros(done.saturating_duration_since(actual)).saturating_sub(micros(outcome.pause));
        let s = self.second_of(done);
        let mut m = self.lock();
        m.total.add(lat, outcome);
        m.per_op.entry(op).or_default().add(lat, outcome);
        if let Some(h) = m.service.as_mut() {
            record(h, svc);
        }
        let sec = grow(&mut m.seconds, s);
        sec.completed += 1;
        if outcome.error {
            sec.errors += 1;
        }
        record(&mut sec.hist, lat);
    }

    /// A live view for the progress line: (sent, completed, errors, p99 of
    /// the latency in microseconds).
    pub fn live(&self) -> (u64, u64, u64, u64) {
        let m = self.lock();
        (
            m.sent,
            m.total.requests,
            m.total.errors,
            m.total.hist.value_at_quantile(0.99),
        )
    }

    /// The last whole second before `now`: (offered, completed); (0, 0)
    /// in the first second.
    pub fn last_second(&self, now: Instant) -> (u64, u64) {
        let s = self.second_of(now);
        let m = self.lock();
        match s.checked_sub(1).and_then(|i| m.seconds.get(i)) {
            Some(sec) => (sec.offered, sec.completed),
            None => (0, 0),
        }
    }

    /// A copy of the measurements so far (the lock is held while copying).
    pub fn snapshot(&self) -> Measurements {
        self.lock().clone()
    }
}

fn grow(v: &mut Vec<Second>, i: usize) -> &mut Second {
    let i = i.min(86_400 * 7);
    if v.len() <= i {
        v.resize_with(i + 1, Second::default);
    }
    &mut v[i]
}

/// A duration in whole microseconds (truncated), saturating at `u64::MAX`.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
