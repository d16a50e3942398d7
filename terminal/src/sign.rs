//! The `PSW1-HMAC-SHA256` signature (docs/API.md section 1).
//!
//! ```text
//! string_to_sign = METHOD "\n" PATH_AND_QUERY "\n" ts "\n" nonce "\n" hex(sha256(body))
//! sig            = base64(HMAC-SHA256(secret, string_to_sign))
//! ```
//!
//! A terminal signs its requests with its secret; the switch signs the
//! results it relays to a merchant with the terminal's secret too
//! (docs/API.md section 2). Verification compares in constant time.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The string that is signed.
pub fn string_to_sign(
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    format!(
        "{method}\n{path_and_query}\n{ts}\n{nonce}\n{}",
        hex::encode(Sha256::digest(body))
    )
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC-SHA256 accepts keys of any length"))
}

fn mac_over(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(string_to_sign(method, path_and_query, ts, nonce, body).as_bytes());
    mac
}

/// The `sig` value: base64 (standard alphabet, padded) of the HMAC.
pub fn sign(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let mac = mac_over(secret, method, path_and_query, ts, nonce, body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Decodes a `sig` value into the 32 bytes it must be; `None` when it is not
/// standard base64 of 32 bytes.
pub fn decode_sig(sig: &str) -> Option<[u8; 32]> {
    let v = base64::engine::general_purpose::STANDARD.decode(sig).ok()?;
    v.try_into().ok()
}

/// Whether `sig` (decoded, see [`decode_sig`]) is the signature of the
/// request under `secret`. Constant time in the signature.
pub fn verify(
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
    sig: &[u8],
) -> bool {
    verify_any([secret], method, path_and_query, ts, nonce, body, sig)
}

/// Whether `sig` is the signature of the request under any of `secrets`
/// (a rotated terminal's new and old secret). The string to sign is built
/// once; every secret is tried, so the time does not tell which matched.
pub fn verify_any<'s>(
    secrets: impl IntoIterator<Item = &'s [u8]>,
    method: &str,
    path_and_query: &str,
    ts: i64,
    nonce: &str,
    body: &[u8],
    sig: &[u8],
) -> bool {
    let text = string_to_sign(method, path_and_query, ts, nonce, body);
    let mut verified = false;
    for secret in secrets {
        let mut mac = keyed(secret);
        mac.update(text.as_bytes());
        verified |= mac.verify_slice(sig).is_ok();
    }
    verified
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector the client libraries under clients/ check too.
    #[test]
    fn known_vector() {
        let s = string_to_sign(
            "POST",
            "/v1/pay?wait=5",
            1_700_000_000,
            "abcdefghijklmnop",
            b"{}",
        );
        assert_eq!(
            s,
            "POST\n/v1/pay?wait=5\n1700000000\nabcdefghijklmnop\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let sig = sign(
            b"secret",
            "POST",
            "/v1/pay?wait=5",
            1_700_000_000,
            "abcdefghijklmnop",
            b"{}",
        );
        let raw = decode_sig(&sig).expect("32 bytes");
        assert!(verify(
            b"secret",
            "POST",
            "/v1/pay?wait=5",
            1_700_000_000,
            "abcdefghijklmnop",
            b"{}",
            &raw
        ));
        assert!(!verify(
            b"secreT",
            "POST",
            "/v1/pay?wait=5",
            1_700_000_000,
            "abcdefghijklmnop",
            b"{}",
            &raw
        ));
        assert!(!verify(
            b"secret",
            "POST",
            "/v1/pay?wait=6",
            1_700_000_000,
            "abcdefghijklmnop",
            b"{}",
            &raw
        ));
        assert!(!verify(
            b"secret",
            "POST",
            "/v1/pay?wait=5",
            1_700_000_000,
            "abcdefghijklmnop",
            b"{ }",
            &raw
        ));
    }

    #[test]
    fn decode_sig_wants_32_bytes() {
        assert!(decode_sig("AAAA").is_none());
        assert!(decode_sig("not base64!").is_none());
        assert!(decode_sig(&sign(b"k", "GET", "/", 0, "n", b"")).is_some());
    }
}
