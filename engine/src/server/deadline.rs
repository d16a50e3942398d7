//! The connection deadlines hyper does not keep itself.
//!
//! - The first request: a new connection must start a request within the
//!   header deadline (`server.header_read_timeout_ms`). hyper's HTTP/1 header
//!   timer starts only once the protocol is known; the auto builder's
//!   protocol sniffing (the first 24 bytes) and HTTP/2's preface and first
//!   HEADERS have none.
//! - Idle: a connection with no request in flight for
//!   `server.idle_timeout_ms` is closed (HTTP/2: GOAWAY, then closed; a
//!   request that slipped in is finished first).
//!
//! A request is in flight from its head's arrival until its handler answers;
//! a response the client does not read counts as idle, so a client that
//! stops reading is closed at the idle time-out too.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The deadlines of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    pub first_request: Duration,
    pub idle: Duration,
}

/// What the watch does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Look again after this long.
    Wait(Duration),
    /// No request started within the first-request deadline.
    CloseNoRequest,
    /// No request in flight for the idle time-out.
    CloseIdle,
}

impl Check {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Check::Wait(_) => "none",
            Check::CloseNoRequest => "no_request",
            Check::CloseIdle => "idle",
        }
    }
}

/// The decision, from what the connection did (times since its start).
pub(crate) fn check(
    now: Duration,
    in_flight: u32,
    served: bool,
    last_done: Duration,
    d: Deadlines,
) -> Check {
    if in_flight > 0 {
        // Busy: the idle clock starts when the request is answered.
        return Check::Wait(d.idle);
    }
    let (deadline, close) = if served {
        (last_done.saturating_add(d.idle), Check::CloseIdle)
    } else {
        (d.first_request, Check::CloseNoRequest)
    };
    match deadline.checked_sub(now) {
        // Not served yet: a request may come and go before the first
        // deadline, and its idle deadline is at the earliest `idle` from now.
        Some(left) if !left.is_zero() && !served => Check::Wait(left.min(d.idle)),
        Some(left) if !left.is_zero() => Check::Wait(left),
        _ => close,
    }
}

/// What one connection did.
pub(crate) struct Activity {
    start: Instant,
    in_flight: AtomicU32,
    served: AtomicBool,
    /// When the last request was answered, ms since `start`.
    last_done_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            start: Instant::now(),
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            last_done_ms: AtomicU64::new(0),
        })
    }

    /// A request started; in flight until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.store(true, Ordering::SeqCst);
        InFlight(self.clone())
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub(crate) fn check(&self, d: Deadlines) -> Check {
        let served = self.served.load(Ordering::SeqCst);
        let in_flight = self.in_flight.load(Ordering::SeqCst);
        let last_done = Duration::from_millis(self.last_done_ms.load(Ordering::SeqCst));
        check(self.start.elapsed(), in_flight, served, last_done, d)
    }
}

/// A request in flight on a connection.
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let ms = u64::try_from(a.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.last_done_ms.fetch_max(ms, Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Deadlines = Deadlines {
        first_request: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_first_request_has_the_header_deadline() {
        assert_eq!(check(s(0), 0, false, s(0), D), Check::Wait(s(5)));
        assert_eq!(check(s(3), 0, false, s(0), D), Check::Wait(s(2)));
        assert_eq!(check(s(5), 0, false, s(0), D), Check::CloseNoRequest);
        assert_eq!(check(s(9), 0, false, s(0), D), Check::CloseNoRequest);
        // An idle time-out shorter than the first deadline: looked at
        // sooner (a request may have come and gone by then).
        let short = Deadlines {
            idle: Duration::from_millis(800),
            ..D
        };
        assert_eq!(
            check(s(0), 0, false, s(0), short),
            Check::Wait(Duration::from_millis(800))
        );
        assert_eq!(check(s(1), 0, true, s(0), short), Check::CloseIdle);
    }

    #[test]
    fn a_busy_connection_is_never_idle() {
        // A long poll (wait=60) past every deadline is not cut.
        assert_eq!(check(s(600), 1, true, s(0), D), Check::Wait(s(60)));
        assert_eq!(check(s(2), 3, true, s(0), D), Check::Wait(s(60)));
    }

    #[test]
    fn idle_counts_from_the_last_answer() {
        assert_eq!(check(s(100), 0, true, s(50), D), Check::Wait(s(10)));
        assert_eq!(check(s(110), 0, true, s(50), D), Check::CloseIdle);
        // Served before the first-request deadline: only idle applies.
        assert_eq!(check(s(7), 0, true, s(1), D), Check::Wait(s(54)));
    }

    #[test]
    fn activity_tracks_requests() {
        let a = Activity::new();
        match a.check(D) {
            Check::Wait(left) => assert!(left > s(4) && left <= s(5), "{left:?}"),
            c => panic!("{c:?}"),
        }
        let g = a.begin();
        assert_eq!(a.in_flight(), 1);
        assert_eq!(a.check(D), Check::Wait(s(60)));
        drop(g);
        assert_eq!(a.in_flight(), 0);
        match a.check(D) {
            Check::Wait(left) => assert!(left > s(59) && left <= s(60), "{left:?}"),
            c => panic!("{c:?}"),
        }
    }
}
