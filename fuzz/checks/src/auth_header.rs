//! Target `auth_header`: the terminal's `Authorization` header (PSW1) and
//! the HMAC check behind it ([`engine::api::auth`]).
//!
//! Input: bytes read two ways: as a header value, and as the parts of a
//! request (method, path and query, body) that the target signs itself.
//!
//! Asserted:
//! - [`parse_header`]: an accepted header's key, nonce and signature are
//!   slices of the value; the nonce is 16 to 64 letters or digits; the key
//!   and the signature are not empty; the canonical form of the parsed
//!   header parses to the same; a refusal is `Malformed` or `BadNonce`;
//! - [`Authenticator`]: the raw value is refused with a documented error
//!   unless it is a complete, known-key, fresh header; a header the target
//!   signed for the request is accepted, and refused (`BadSignature`) for
//!   another body or another path; a nonce accepted once is a `Replay` the
//!   second time.

use std::time::Duration;

use engine::api::auth::{parse_header, AuthError, Authenticator};
use engine::config::TerminalConfig;
use sha2::{Digest, Sha256};

const KEY_ID: &str = "FUZZ1";
const SECRET: [u8; 32] = [7; 32];

fn authenticator() -> Authenticator {
    Authenticator::new(
        &[TerminalConfig {
            key_id: KEY_ID.into(),
            secret: SECRET,
            smid: None,
            store_id: None,
            terminal_id: None,
            rate_per_sec: 1_000.0,
            burst: 1_000.0,
        }],
        Duration::from_secs(300),
    )
}

fn unix_now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The fuzz target.
pub fn auth_header(data: &[u8]) {
    let a = authenticator();
    if let Ok(v) = std::str::from_utf8(data) {
        parsed(v);
        match a.precheck(Some(v)) {
            Ok(p) => {
                let h = parse_header(v).expect("prechecked, so parsed");
                assert_eq!(h.key, KEY_ID);
                assert!(unix_now().abs_diff(h.ts) <= 301);
                assert_eq!(p.terminal.cfg.key_id, KEY_ID);
            }
            Err(e) => assert!(
                matches!(
                    e,
                    AuthError::Malformed
                        | AuthError::BadNonce
                        | AuthError::UnknownKey
                        | AuthError::Skew
                        | AuthError::BadSignature
                ),
                "{e:?}"
            ),
        }
    }
    signed(&a, data);
}

fn parsed(v: &str) {
    match parse_header(v) {
        Ok(h) => {
            for part in [h.key, h.nonce, h.sig] {
                assert!(
                    crate::is_within(v, part),
                    "{part:?} is not a slice of the header"
                );
            }
            assert!(!h.key.is_empty() && !h.sig.is_empty());
            assert!((16..=64).contains(&h.nonce.len()));
            assert!(h.nonce.bytes().all(|c| c.is_ascii_alphanumeric()));
            // The canonical form parses to the same header (a key or a
            // signature with a comma or a leading space has no canonical
            // form: the parser splits on commas and trims).
            let clean = |s: &str| !s.contains(',') && s.trim() == s;
            if clean(h.key) && clean(h.sig) {
                let canonical = h.to_string();
                assert_eq!(parse_header(&canonical), Ok(h));
            }
        }
        Err(e) => assert!(
            matches!(e, AuthError::Malformed | AuthError::BadNonce),
            "{e:?}"
        ),
    }
}

/// The request parts: method (by the first byte), path and query (up to
/// the first newline, made to start with `/`), the body (the rest).
fn signed(a: &Authenticator, data: &[u8]) {
    let (sel, rest) = data.split_first().unwrap_or((&0, &[]));
    let method = ["POST", "GET", "PUT", "DELETE"][usize::from(*sel % 4)];
    let cut = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
    let path = format!("/{}", String::from_utf8_lossy(&rest[..cut]));
    let body = rest.get(cut + 1..).unwrap_or(&[]);
    let nonce: String = Sha256::digest(data)[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ts = unix_now();
    let header = terminal::header::authorization(KEY_ID, &SECRET, method, &path, ts, &nonce, body);
    let p = a
        .precheck(Some(&header))
        .unwrap_or_else(|e| panic!("a fresh signed header is refused: {e:?}"));
    assert_eq!(a.verify(&p, method, &path, body), Ok(()));
    let mut other_body = body.to_vec();
    other_body.push(b'x');
    assert_eq!(
        a.verify(&p, method, &path, &other_body),
        Err(AuthError::BadSignature)
    );
    assert_eq!(
        a.verify(&p, method, &format!("{path}x"), body),
        Err(AuthError::BadSignature)
    );
    assert_eq!(a.remember(&p), Ok(()));
    assert_eq!(a.remember(&p), Err(AuthError::Replay));
}
