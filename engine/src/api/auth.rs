//! Terminal authentication (docs/API.md §1) and per-terminal rate limiting.
//!
//! `Authorization: PSW1-HMAC-SHA256 key=<id>, ts=<unix s>, nonce=<16-64 [A-Za-z0-9]>, sig=<b64>`
//! where `sig = base64(HMAC-SHA256(secret, METHOD "\n" PATH_AND_QUERY "\n" ts "\n" nonce "\n" hex(sha256(body))))`.
//!
//! Guarantees: the signature is compared in constant time; a nonce is
//! remembered (per key) only after its signature verified, for twice the
//! window, so a replay inside the window is refused; errors never echo the
//! secret or the expected signature.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use crate::config::TerminalConfig;
use crate::merchants::Registry;

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header (or one that is not text).
    #[error("the Authorization header is missing")]
    Missing,
    /// The header is not `PSW1-HMAC-SHA256 key=..., ts=..., nonce=..., sig=...`.
    #[error(
        "the Authorization header is not PSW1-HMAC-SHA256 key=..., ts=..., nonce=..., sig=..."
    )]
    Malformed,
    /// The nonce is not 16 to 64 ASCII letters or digits.
    #[error("the nonce must be 16 to 64 letters or digits")]
    BadNonce,
    /// The key id is not a terminal of the registry.
    #[error("unknown key id")]
    UnknownKey,
    /// `ts` is further than the window from the switch's clock.
    #[error("the timestamp is more than the allowed window away from the switch's clock")]
    Skew,
    /// The signature does not decode to 32 bytes or does not match (under
    /// the current secret, or the old one during a rotation's grace).
    #[error("the signature does not match")]
    BadSignature,
    /// The nonce was already used by this terminal inside the window (or on
    /// another node sharing the journal).
    #[error("this nonce was already used")]
    Replay,
    /// More nonces inside the window than the terminal's rate allows.
    #[error("the terminal used more nonces inside the window than its rate allows")]
    NonceMemoryFull,
}

impl AuthError {
    /// The snake_case code in error answers.
    pub fn code(self) -> &'static str {
        match self {
            AuthError::Missing => "auth_missing",
            AuthError::Malformed => "auth_malformed",
            AuthError::BadNonce => "auth_bad_nonce",
            AuthError::UnknownKey => "auth_unknown_key",
            AuthError::Skew => "auth_timestamp_skew",
            AuthError::BadSignature => "auth_bad_signature",
            AuthError::Replay => "auth_replay",
            AuthError::NonceMemoryFull => "auth_nonce_memory_full",
        }
    }
}

/// Parses the Authorization header value (the shape is the terminal
/// contract's, [`terminal::AuthHeader::parse`]).
///
/// # Errors
/// [`AuthError::Malformed`] when the value is not the header's shape;
/// [`AuthError::BadNonce`] when its nonce is not 16 to 64 letters or digits.
pub fn parse_header(v: &str) -> Result<AuthHeader<'_>, AuthError> {
    AuthHeader::parse(v).map_err(|e| match e {
        terminal::HeaderError::Malformed => AuthError::Malformed,
        terminal::HeaderError::BadNonce => AuthError::BadNonce,
    })
}

pub use terminal::sign::{sign, string_to_sign};
pub use terminal::AuthHeader;

pub use crate::merchants::Terminal;

/// The nonces one terminal used inside the window, oldest first. Bounded:
/// a terminal cannot send more than its rate admits, so `cap` is what its
/// rate lets it send in two windows (a clock at either edge); the nonces are
/// remembered only after the signature verified and the rate admitted the
/// request.
#[derive(Default)]
struct TerminalNonces {
    seen: std::collections::HashSet<Box<str>>,
    order: std::collections::VecDeque<(i64, Box<str>)>,
}

impl TerminalNonces {
    fn purge(&mut self, cutoff: i64) {
        while let Some((ts, _)) = self.order.front() {
            if *ts >= cutoff {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.seen.remove(&n);
            }
        }
    }
}

/// A request's Authorization header checked for what costs nothing (known
/// key, timestamp inside the window), before its body is read.
/// Made by [`Authenticator::precheck`], consumed by
/// [`Authenticator::verify`] and [`Authenticator::remember`].
pub struct Precheck {
    /// The terminal the header's key id names.
    pub terminal: Arc<Terminal>,
    ts: i64,
    nonce: String,
    sig: [u8; 32],
}

/// The terminal registry and the nonce memory: one per switch, used by
/// every `/v1` request. The clock window (`window`, e.g. 300 s) bounds how
/// far a timestamp may be from the switch's clock; nonces are remembered
/// for twice that.
pub struct Authenticator {
    registry: Arc<Registry>,
    nonces: DashMap<String, parking_lot::Mutex<TerminalNonces>>,
    window: Duration,
}

fn unix_now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Authenticator {
    /// An authenticator of these terminals only (in memory; tests and
    /// benches), with a clock window of `window`.
    pub fn new(terminals: &[TerminalConfig], window: Duration) -> Authenticator {
        Authenticator::with_registry(Arc::new(Registry::in_memory(terminals)), window)
    }

    /// An authenticator over the switch's registry: a terminal added or
    /// rotated there authenticates at once.
    pub fn with_registry(registry: Arc<Registry>, window: Duration) -> Authenticator {
        Authenticator {
            registry,
            nonces: DashMap::new(),
            window,
        }
    }

    /// The registry it reads.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Authenticates a request in one go (precheck, verify, remember, at
    /// the current clock); returns its terminal. The server runs the three
    /// steps apart so that no body is read for a bad header; this is for
    /// callers that hold the whole request.
    ///
    /// # Errors
    /// Every [`AuthError`], as [`Authenticator::precheck`],
    /// [`Authenticator::verify`] and [`Authenticator::remember`] give them.
    pub fn check(
        &self,
        header: Option<&str>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<Arc<Terminal>, AuthError> {
        let now_ms = crate::trade::now_ms();
        self.check_at_ms(
            header,
            method,
            path_and_query,
            body,
            now_ms.div_euclid(1000),
            now_ms,
        )
    }

    #[cfg(test)]
    fn check_at(
        &self,
        header: Option<&str>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Arc<Terminal>, AuthError> {
        self.check_at_ms(
            header,
            method,
            path_and_query,
            body,
            now,
            now.saturating_mul(1000),
        )
    }

    /// `now`: unix seconds (the window); `now_ms`: the clock for a
    /// rotation's grace.
    fn check_at_ms(
        &self,
        header: Option<&str>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: i64,
        now_ms: i64,
    ) -> Result<Arc<Terminal>, AuthError> {
        let p = self.precheck_at(header, now)?;
        self.verify_at(&p, method, path_and_query, body, now_ms)?;
        self.remember_at(&p, now)?;
        Ok(p.terminal)
    }

    /// The first step, before the body is read: the header's shape, a
    /// known key, a timestamp inside the window, a signature of the right
    /// length. Remembers nothing.
    ///
    /// # Errors
    /// [`AuthError::Missing`], [`AuthError::Malformed`],
    /// [`AuthError::BadNonce`], [`AuthError::UnknownKey`],
    /// [`AuthError::Skew`], or [`AuthError::BadSignature`] when `sig` does
    /// not decode to 32 bytes.
    pub fn precheck(&self, header: Option<&str>) -> Result<Precheck, AuthError> {
        self.precheck_at(header, crate::trade::now_ms().div_euclid(1000))
    }

    fn precheck_at(&self, header: Option<&str>, now: i64) -> Result<Precheck, AuthError> {
        let h = parse_header(header.ok_or(AuthError::Missing)?)?;
        let terminal = self.registry.terminal(h.key).ok_or(AuthError::UnknownKey)?;
        if now.abs_diff(h.ts) > self.window.as_secs() {
            return Err(AuthError::Skew);
        }
        let sig = terminal::sign::decode_sig(h.sig).ok_or(AuthError::BadSignature)?;
        Ok(Precheck {
            terminal,
            ts: h.ts,
            nonce: h.nonce.to_owned(),
            sig,
        })
    }

    /// The second step, once the body is in: the signature (constant time)
    /// over `method`, `path_and_query` (as sent), the header's ts and nonce,
    /// and the body's SHA-256.
    ///
    /// # Errors
    /// [`AuthError::BadSignature`] when no secret of the terminal (the old
    /// one included during a rotation's grace) gives this signature.
    pub fn verify(
        &self,
        p: &Precheck,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<(), AuthError> {
        self.verify_at(p, method, path_and_query, body, crate::trade::now_ms())
    }

    fn verify_at(
        &self,
        p: &Precheck,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_ms: i64,
    ) -> Result<(), AuthError> {
        // The old secret verifies too during a rotation's grace.
        let verified = terminal::sign::verify_any(
            p.terminal.secrets_at(now_ms).map(|s| s.as_slice()),
            method,
            path_and_query,
            p.ts,
            &p.nonce,
            body,
            &p.sig,
        );
        if verified {
            Ok(())
        } else {
            Err(AuthError::BadSignature)
        }
    }

    /// The last step, after the rate limit admitted the request: the nonce
    /// is refused when used before, else remembered (bounded per terminal).
    ///
    /// # Errors
    /// [`AuthError::Replay`] when this terminal used the nonce inside the
    /// last two windows; [`AuthError::NonceMemoryFull`] when the terminal
    /// holds as many nonces as its rate admits in two windows.
    pub fn remember(&self, p: &Precheck) -> Result<(), AuthError> {
        self.remember_at(p, crate::trade::now_ms().div_euclid(1000))
    }

    /// Where a nonce must be remembered for every node (a journal that
    /// several nodes share): the terminal's key id, the nonce, and until
    /// when (unix ms) it must be refused.
    pub fn shared_key<'a>(&self, p: &'a Precheck) -> (&'a str, &'a str, i64) {
        let w = i64::try_from(self.window.as_secs()).unwrap_or(300);
        (
            p.terminal.cfg.key_id.as_str(),
            p.nonce.as_str(),
            p.ts.saturating_add(2 * w).saturating_mul(1000),
        )
    }

    /// Nonces one terminal may have inside two windows at its rate.
    fn nonce_cap(&self, t: &Terminal) -> usize {
        let w = self.window.as_secs_f64() * 2.0;
        let cap = t.cfg.burst + t.cfg.rate_per_sec * w;
        (cap.ceil() as usize).clamp(64, 2_000_000)
    }

    fn remember_at(&self, p: &Precheck, now: i64) -> Result<(), AuthError> {
        let key = &p.terminal.cfg.key_id;
        let cap = self.nonce_cap(&p.terminal);
        let cutoff = now - 2 * i64::try_from(self.window.as_secs()).unwrap_or(300);
        let entry = self.nonces.entry(key.clone()).or_default();
        let mut n = entry.lock();
        if n.seen.contains(p.nonce.as_str()) {
            return Err(AuthError::Replay);
        }
        n.purge(cutoff);
        if n.order.len() >= cap {
            return Err(AuthError::NonceMemoryFull);
        }
        let nonce: Box<str> = p.nonce.as_str().into();
        n.seen.insert(nonce.clone());
        n.order.push_back((p.ts, nonce));
        Ok(())
    }

    /// Forgets nonces whose timestamp left the window (they would be refused
    /// for skew anyway).
    pub fn purge(&self) {
        let cutoff = unix_now() - 2 * i64::try_from(self.window.as_secs()).unwrap_or(300);
        self.nonces.retain(|_, n| {
            let mut n = n.lock();
            n.purge(cutoff);
            !n.order.is_empty()
        });
    }

    /// Remembered nonces (tests, metrics).
    pub fn nonce_count(&self) -> usize {
        self.nonces.iter().map(|n| n.lock().order.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(
            &[TerminalConfig {
                key_id: "T1".into(),
                secret: [7; 32],
                smid: None,
                store_id: None,
                terminal_id: None,
                rate_per_sec: 1.0,
                burst: 2.0,
            }],
            Duration::from_secs(300),
        )
    }

    fn header(ts: i64, nonce: &str, sig: &str) -> String {
        AuthHeader {
            key: "T1",
            ts,
            nonce,
            sig,
        }
        .to_string()
    }

    #[test]
    fn accepts_a_good_signature_once() {
        let a = auth();
        let now = 1_700_000_000;
        let nonce = "abcdefghijklmnop";
        let sig = sign(&[7; 32], "POST", "/v1/pay?wait=5", now, nonce, b"{}");
        let h = header(now, nonce, &sig);
        assert!(a
            .check_at(Some(&h), "POST", "/v1/pay?wait=5", b"{}", now + 10)
            .is_ok());
        assert_eq!(
            a.check_at(Some(&h), "POST", "/v1/pay?wait=5", b"{}", now + 10)
                .err(),
            Some(AuthError::Replay)
        );
    }

    #[test]
    fn refuses_the_wrong_things() {
        let a = auth();
        let now = 1_700_000_000;
        let nonce = "abcdefghijklmnop";
        let sig = sign(&[7; 32], "POST", "/v1/pay", now, nonce, b"{}");
        let h = header(now, nonce, &sig);
        assert_eq!(
            a.check_at(None, "POST", "/v1/pay", b"{}", now).err(),
            Some(AuthError::Missing)
        );
        assert_eq!(
            a.check_at(Some(&h), "POST", "/v1/pay", b"{ }", now).err(),
            Some(AuthError::BadSignature)
        );
        assert_eq!(
            a.check_at(Some(&h), "POST", "/v1/pay?x=1", b"{}", now)
                .err(),
            Some(AuthError::BadSignature)
        );
        assert_eq!(
            a.check_at(Some(&h), "POST", "/v1/pay", b"{}", now + 301)
                .err(),
            Some(AuthError::Skew)
        );
        assert_eq!(
            a.check_at(
                Some(&header(now, "short", &sig)),
                "POST",
                "/v1/pay",
                b"{}",
                now
            )
            .err(),
            Some(AuthError::BadNonce)
        );
        let other = h.replace("key=T1", "key=T2");
        assert_eq!(
            a.check_at(Some(&other), "POST", "/v1/pay", b"{}", now)
                .err(),
            Some(AuthError::UnknownKey)
        );
        assert_eq!(
            a.check_at(Some("Bearer x"), "POST", "/v1/pay", b"{}", now)
                .err(),
            Some(AuthError::Malformed)
        );
        // Extreme timestamps are refused, not overflowed.
        for ts in [i64::MIN, i64::MAX] {
            let h2 = header(ts, nonce, &sig);
            assert_eq!(
                a.check_at(Some(&h2), "POST", "/v1/pay", b"{}", now).err(),
                Some(AuthError::Skew)
            );
        }
        // A failed signature does not burn the nonce.
        assert!(a.check_at(Some(&h), "POST", "/v1/pay", b"{}", now).is_ok());
    }

    #[test]
    fn nonces_are_bounded_per_terminal_and_expire() {
        let a = auth();
        let now = 1_700_000_000;
        // T1: rate 1/s, burst 2, window 300 s: 2 + 600 nonces in two windows.
        let t = a.registry.terminal("T1").unwrap();
        let cap = a.nonce_cap(&t);
        assert_eq!(cap, 602);
        for i in 0..cap {
            let p = Precheck {
                terminal: t.clone(),
                ts: now,
                nonce: format!("nonce{i:012}"),
                sig: [0; 32],
            };
            assert!(a.remember_at(&p, now).is_ok(), "{i}");
        }
        let extra = Precheck {
            terminal: t.clone(),
            ts: now,
            nonce: "nonceextra000000".into(),
            sig: [0; 32],
        };
        assert_eq!(a.remember_at(&extra, now), Err(AuthError::NonceMemoryFull));
        assert_eq!(a.nonce_count(), cap);
        // Two windows later the old ones are gone and a new one fits.
        let later = Precheck {
            ts: now + 601,
            ..extra
        };
        assert!(a.remember_at(&later, now + 601).is_ok());
        assert_eq!(a.nonce_count(), 1);
    }

    #[test]
    fn rate_limit() {
        let a = auth();
        let t = a.registry.terminal("T1").unwrap();
        assert!(t.take_token());
        assert!(t.take_token());
        assert!(!t.take_token());
    }
}
