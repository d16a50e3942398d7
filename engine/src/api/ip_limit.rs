//! Per source address limits of unauthenticated traffic (issue 12 item 2:
//! no client locks out the others).
//!
//! Two counts per source address, in one bounded table:
//!
//! - **authentication failures** per window (`server.per_ip_window_ms`):
//!   past `server.per_ip_auth_failures` a request from the address that does
//!   not authenticate answers 429 `ip_limited` (and its HTTP/1 connection is
//!   closed) for the rest of the window. A request that authenticates is
//!   served as ever, so terminals behind one NAT keep working while a
//!   neighbour guesses.
//! - **unauthenticated connections** open at once
//!   (`server.per_ip_unauthenticated_connections`): a connection counts from
//!   its accept until a request on it authenticates (or it closes); a new
//!   connection past the cap is closed at accept. A terminal's connection
//!   counts only for its first request's round trip, so one address cannot
//!   take the whole `server.max_connections` with connections that never
//!   authenticate.
//!
//! IPv6 sources count by their /64 (one host usually holds a whole /64).
//! The table holds at most `server.per_ip_table_max` addresses: when it is
//! full the addresses with nothing to remember are dropped first; if it is
//! still full a new address is not tracked (it is served unlimited, and
//! counted in `payswitch_ip_table_full_total`) while the tracked ones keep
//! their counts.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use dashmap::DashMap;

use crate::api::auth::AuthError;
use crate::config::PerIpLimits;
use crate::metrics::Metrics;

/// The table key of a source address: IPv4 as is (IPv4-mapped IPv6 too),
/// IPv6 by its /64.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Whether an authentication failure counts against its source: every
/// failure but a terminal over its own nonce budget (an authenticated
/// terminal's rate, not a guess).
pub fn counts_against_source(e: AuthError) -> bool {
    e != AuthError::NonceMemoryFull
}

/// What the table remembers of one source.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// The start of the failure window, ms on the limiter's clock.
    window_start: u64,
    /// Authentication failures inside the window.
    failures: u32,
    /// Open connections that have not carried an authenticated request.
    unproven: u32,
}

impl Entry {
    fn expired(&self, now: u64, window: u64) -> bool {
        now.saturating_sub(self.window_start) >= window
    }

    /// Counts a failure; whether the source is now past its limit.
    fn fail(&mut self, now: u64, window: u64, limit: u32) -> bool {
        if self.expired(now, window) {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.failures > limit
    }

    /// Takes an unauthenticated connection slot; false at the cap.
    fn open(&mut self, cap: u32) -> bool {
        if self.unproven >= cap {
            return false;
        }
        self.unproven += 1;
        true
    }

    /// Nothing worth remembering: no open slot, no failure in the window.
    fn forgettable(&self, now: u64, window: u64) -> bool {
        self.unproven == 0 && (self.failures == 0 || self.expired(now, window))
    }
}

/// The outcome of an accept.
pub enum Admission {
    /// Serve it; the slot (None when the table was full) is released when
    /// a request on the connection authenticates or the connection closes.
    Admitted(Option<Arc<ConnSlot>>),
    /// The source holds its cap of unauthenticated connections: close it.
    Refused,
}

/// The per-source table: authentication failures per window and
/// unauthenticated connections per source address, bounded by
/// `server.per_ip_table_max`. One per switch, shared by the accept loop and
/// the handlers; thread-safe.
pub struct IpLimiter {
    cfg: PerIpLimits,
    table: DashMap<IpAddr, Entry>,
    epoch: Instant,
    untracked: std::sync::atomic::AtomicU64,
    metrics: Option<Arc<Metrics>>,
}

impl IpLimiter {
    /// An empty table with these limits (no metrics until
    /// [`IpLimiter::with_metrics`]).
    pub fn new(cfg: PerIpLimits) -> IpLimiter {
        IpLimiter {
            cfg,
            table: DashMap::new(),
            epoch: Instant::now(),
            untracked: Default::default(),
            metrics: None,
        }
    }

    /// Counts the sources left untracked (`payswitch_ip_table_full_total`).
    pub fn with_metrics(mut self, m: Arc<Metrics>) -> IpLimiter {
        self.metrics = Some(m);
        self
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.cfg.window.as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs `f` on the entry of `key` (made when missing); None when the
    /// table is full of sources that are all worth remembering.
    fn with_entry<R>(&self, key: IpAddr, now: u64, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        if let Some(mut e) = self.table.get_mut(&key) {
            return Some(f(&mut e));
        }
        if self.table.len() >= self.cfg.table_max {
            self.purge_at(now);
            if self.table.len() >= self.cfg.table_max {
                self.untracked.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = &self.metrics {
                    m.inc("payswitch_ip_table_full_total", &[]);
                }
                return None;
            }
        }
        let mut e = self.table.entry(key).or_insert(Entry {
            window_start: now,
            ..Entry::default()
        });
        Some(f(&mut e))
    }

    /// Counts a request of `ip` that failed authentication; whether the
    /// source is past its limit for this window (answer 429, not 401).
    pub fn failed(&self, ip: IpAddr) -> bool {
        self.failed_at(ip, self.now())
    }

    fn failed_at(&self, ip: IpAddr, now: u64) -> bool {
        let (window, limit) = (self.window_ms(), self.cfg.auth_failures);
        self.with_entry(source_key(ip), now, |e| e.fail(now, window, limit))
            .unwrap_or(false)
    }

    /// A new connection from `ip` (called at accept): refused when its
    /// source holds `server.per_ip_unauthenticated_connections` connections
    /// that have not authenticated, admitted (untracked) when the table is
    /// full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let key = source_key(ip);
        let cap = self.cfg.unauthenticated_connections;
        match self.with_entry(key, self.now(), |e| e.open(cap)) {
            None => Admission::Admitted(None),
            Some(false) => Admission::Refused,
            Some(true) => Admission::Admitted(Some(Arc::new(ConnSlot {
                limiter: self.clone(),
                key,
                held: AtomicBool::new(true),
            }))),
        }
    }

    fn release(&self, key: IpAddr) {
        if let Some(mut e) = self.table.get_mut(&key) {
            e.unproven = e.unproven.saturating_sub(1);
        }
    }

    /// Drops the sources with nothing to remember (expired windows, no
    /// open unauthenticated connection).
    pub fn purge(&self) {
        self.purge_at(self.now());
    }

    fn purge_at(&self, now: u64) {
        let window = self.window_ms();
        self.table.retain(|_, e| !e.forgettable(now, window));
    }

    /// Sources tracked (tests, metrics).
    pub fn tracked(&self) -> usize {
        self.table.len()
    }

    /// Sources that could not be tracked because the table was full.
    pub fn untracked_total(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
    }

    /// Open unauthenticated connections of `ip`'s source (tests).
    pub fn unauthenticated_connections(&self, ip: IpAddr) -> u32 {
        self.table
            .get(&source_key(ip))
            .map(|e| e.unproven)
            .unwrap_or(0)
    }
}

/// A connection's unauthenticated slot of its source; put on each of the
/// connection's requests (request extension).
pub struct ConnSlot {
    limiter: Arc<IpLimiter>,
    key: IpAddr,
    held: AtomicBool,
}

impl ConnSlot {
    /// A request on the connection authenticated: the slot is given back
    /// (the connection no longer counts against its source).
    pub fn authenticated(&self) {
        if self.held.swap(false, Ordering::AcqRel) {
            self.limiter.release(self.key);
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.authenticated();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(failures: u32, conns: u32, table_max: usize) -> PerIpLimits {
        PerIpLimits {
            window: Duration::from_secs(10),
            auth_failures: failures,
            unauthenticated_connections: conns,
            table_max,
        }
    }

    #[test]
    fn an_entry_limits_failures_for_the_rest_of_its_window() {
        // 3 failures allowed per 10 s window starting at t=1000.
        let mut e = Entry {
            window_start: 1000,
            ..Entry::default()
        };
        for t in [1000, 2000, 3000] {
            assert!(!e.fail(t, 10_000, 3), "{t}");
        }
        assert!(e.fail(4000, 10_000, 3));
        assert!(e.fail(10_999, 10_000, 3));
        // The next window starts afresh.
        assert!(!e.fail(11_000, 10_000, 3));
        assert_eq!((e.window_start, e.failures), (11_000, 1));
        assert!(!e.forgettable(11_000, 10_000));
        assert!(e.forgettable(21_000, 10_000));
    }

    #[test]
    fn an_entry_caps_unproven_connections() {
        let mut e = Entry::default();
        assert!(e.open(2));
        assert!(e.open(2));
        assert!(!e.open(2));
        assert_eq!(e.unproven, 2);
        assert!(!e.forgettable(u64::MAX, 1));
    }

    #[test]
    fn failures_answer_429_past_the_limit_per_source() {
        let l = IpLimiter::new(limits(3, 10, 1024));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let verdicts: Vec<bool> = (0..5).map(|i| l.failed_at(a, 100 + i)).collect();
        assert_eq!(verdicts, [false, false, false, true, true]);
        assert!(!l.failed_at(b, 200), "another source keeps its own count");
        assert!(!l.failed_at(a, 10_100), "a new window");
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_v4_as_v4() {
        let x: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(source_key(x), source_key(y));
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_ne!(source_key(x), source_key(z));
        let m: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(source_key(m), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn unauthenticated_connections_are_capped_and_released() {
        let l = Arc::new(IpLimiter::new(limits(3, 2, 1024)));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let Admission::Admitted(Some(s1)) = l.admit(ip) else {
            panic!("first admitted")
        };
        let Admission::Admitted(Some(s2)) = l.admit(ip) else {
            panic!("second admitted")
        };
        assert!(matches!(l.admit(ip), Admission::Refused));
        // An authenticated request gives the slot back once; the
        // connection's close does not give it back twice.
        s1.authenticated();
        s1.authenticated();
        assert_eq!(l.unauthenticated_connections(ip), 1);
        drop(s1);
        assert_eq!(l.unauthenticated_connections(ip), 1);
        let Admission::Admitted(Some(s3)) = l.admit(ip) else {
            panic!("a slot again")
        };
        assert!(matches!(l.admit(ip), Admission::Refused));
        drop(s2);
        drop(s3);
        assert_eq!(l.unauthenticated_connections(ip), 0);
        l.purge();
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_what_matters() {
        let l = Arc::new(IpLimiter::new(limits(1, 10, 1024)));
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        // 1024 sources inside their window fill the table.
        for i in 0..1024 {
            l.failed_at(ip(i), 0);
        }
        assert_eq!(l.tracked(), 1024);
        // A new source is not tracked (served unlimited), the others keep
        // their counts.
        assert!(!l.failed_at(ip(5000), 1));
        assert!(!l.failed_at(ip(5000), 2));
        assert_eq!(l.untracked_total(), 2);
        assert!(l.failed_at(ip(7), 3), "a tracked source is still limited");
        // Once their windows expired, room is made.
        assert!(!l.failed_at(ip(5000), 10_000));
        assert_eq!(l.tracked(), 1);
    }
}
