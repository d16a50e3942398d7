//! The `Authorization` header of a terminal request (docs/API.md section 1):
//!
//! ```text
//! Authorization: PSW1-HMAC-SHA256 key=<id>, ts=<unix s>, nonce=<16-64 [A-Za-z0-9]>, sig=<base64>
//! ```
//!
//! [`AuthHeader::parse`] accepts the four parts in any order, each exactly
//! once, with optional spaces after the commas; [`AuthHeader`]'s `Display`
//! writes the canonical form, which `parse` reads back unchanged.

use std::fmt;

/// The scheme word that starts the header.
pub const SCHEME: &str = "PSW1-HMAC-SHA256";

/// The shortest nonce accepted.
pub const NONCE_MIN_LEN: usize = 16;
/// The longest nonce accepted.
pub const NONCE_MAX_LEN: usize = 64;

/// Why a header value is not a PSW1 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Not `PSW1-HMAC-SHA256 key=..., ts=..., nonce=..., sig=...`: another
    /// scheme, a part missing, repeated or unknown, an empty key or
    /// signature, or a timestamp that is not an integer.
    #[error(
        "the Authorization header is not PSW1-HMAC-SHA256 key=..., ts=..., nonce=..., sig=..."
    )]
    Malformed,
    /// The nonce is not 16 to 64 ASCII letters or digits.
    #[error("the nonce must be 16 to 64 letters or digits")]
    BadNonce,
}

/// A parsed (or to be written) header. Borrows from the header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthHeader<'a> {
    /// The terminal's key id.
    pub key: &'a str,
    /// Unix time of the request, seconds.
    pub ts: i64,
    /// A value never used before by this key inside the switch's window.
    pub nonce: &'a str,
    /// The signature, base64 (see [`crate::sign::sign`]).
    pub sig: &'a str,
}

/// Whether `nonce` has the accepted length and alphabet.
pub fn nonce_is_valid(nonce: &str) -> bool {
    (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len())
        && nonce.bytes().all(|c| c.is_ascii_alphanumeric())
}

impl<'a> AuthHeader<'a> {
    /// Parses a header value.
    ///
    /// # Errors
    /// [`HeaderError::BadNonce`] for a nonce of the wrong length or
    /// alphabet, [`HeaderError::Malformed`] for anything else that is not
    /// the header's shape.
    pub fn parse(v: &'a str) -> Result<AuthHeader<'a>, HeaderError> {
        let rest = v
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(HeaderError::Malformed)?;
        let (mut key, mut ts, mut nonce, mut sig) = (None, None, None, None);
        for part in rest.split(',') {
            let (k, val) = part.trim().split_once('=').ok_or(HeaderError::Malformed)?;
            let slot = match k {
                "key" => &mut key,
                "ts" => &mut ts,
                "nonce" => &mut nonce,
                "sig" => &mut sig,
                _ => return Err(HeaderError::Malformed),
            };
            if slot.is_some() {
                return Err(HeaderError::Malformed);
            }
            *slot = Some(val);
        }
        let (Some(key), Some(ts), Some(nonce), Some(sig)) = (key, ts, nonce, sig) else {
            return Err(HeaderError::Malformed);
        };
        if key.is_empty() || sig.is_empty() {
            return Err(HeaderError::Malformed);
        }
        let ts: i64 = ts.parse().map_err(|_| HeaderError::Malformed)?;
        if !nonce_is_valid(nonce) {
            return Err(HeaderError::BadNonce);
        }
        Ok(AuthHeader {
            key,
            ts,
            nonce,
            sig,
        })
    }
}

impl fmt::Display for AuthHeader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME} key={}, ts={}, nonce={}, sig={}",
            self.key, self.ts, self.nonce, self.sig
        )
    }
}

/// Signs a request and writes its header value: what a terminal does
/// before each attempt (a new `ts` and `nonce` every time; the body and
/// path stay the same).
pub fn authorization(
    key_id: &str,
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let sig = crate::sign::sign(secret, method, path_and_query, ts, nonce, body);
    AuthHeader {
        key: key_id,
        ts,
        nonce,
        sig: &sig,
    }
    .to_string()
}

/// A fresh nonce: 24 random letters and digits.
pub fn new_nonce() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let h = authorization(
            "k1",
            b"s",
            "GET",
            "/v1/trades/A",
            1_700_000_000,
            "abcdefghijklmnop",
            b"",
        );
        let p = AuthHeader::parse(&h).expect("parses");
        assert_eq!(
            (p.key, p.ts, p.nonce),
            ("k1", 1_700_000_000, "abcdefghijklmnop")
        );
        assert_eq!(p.to_string(), h);
        assert!(
            h.starts_with("PSW1-HMAC-SHA256 key=k1, ts=1700000000, nonce=abcdefghijklmnop, sig=")
        );
        // Any order, spaces optional.
        let q = format!(
            "{SCHEME} sig={},nonce={},ts={},key={}",
            p.sig, p.nonce, p.ts, p.key
        );
        assert_eq!(AuthHeader::parse(&q), Ok(p));
        for bad in [
            "",
            "Bearer x",
            "PSW1-HMAC-SHA256",
            "PSW1-HMAC-SHA256key=a, ts=1, nonce=abcdefghijklmnop, sig=x",
            "PSW1-HMAC-SHA256 key=a, ts=1, nonce=abcdefghijklmnop",
            "PSW1-HMAC-SHA256 key=a, key=a, ts=1, nonce=abcdefghijklmnop, sig=x",
            "PSW1-HMAC-SHA256 key=, ts=1, nonce=abcdefghijklmnop, sig=x",
            "PSW1-HMAC-SHA256 key=a, ts=x, nonce=abcdefghijklmnop, sig=x",
            "PSW1-HMAC-SHA256 key=a, ts=1, nonce=abcdefghijklmnop, sig=x, extra=1",
        ] {
            assert_eq!(AuthHeader::parse(bad), Err(HeaderError::Malformed), "{bad}");
        }
        for nonce in ["short", "abcdefghijklmno!", &"a".repeat(65)] {
            let v = format!("{SCHEME} key=a, ts=1, nonce={nonce}, sig=x");
            assert_eq!(AuthHeader::parse(&v), Err(HeaderError::BadNonce), "{nonce}");
        }
    }

    #[test]
    fn nonces_are_fresh_and_valid() {
        let (a, b) = (new_nonce(), new_nonce());
        assert!(nonce_is_valid(&a) && nonce_is_valid(&b));
        assert_ne!(a, b);
    }
}
