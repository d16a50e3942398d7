//! The out_trade_no the gateway sees (docs/API.md §1.4, and docs/ENGINE.md,
//! "Each merchant owns its out_trade_no space": a terminal's out_trade_no is
//! unique within its merchant only).
//!
//! All merchants of an acquirer share one app, and the gateway keeps one
//! out_trade_no space per app; so the switch makes each merchant's numbers
//! its own. The scheme, for a merchant onboarded through the admin API (its
//! smid is unique, the registry refuses a smid twice):
//!
//! the letter `S`, the smid in base 36 (lower case, 11 characters,
//! zero-padded), `_`, then the terminal's own out_trade_no. When that passes
//! 64 characters, the terminal's number is cut to its first 31 characters
//! and followed by 20 base-36 characters of its SHA-256 (so the whole stays
//! 64, in the gateway's alphabet of letters, digits and `_`).
//!
//! A merchant declared in the configuration (labs, the TOML bootstrap) keeps
//! the terminal's number as it is; a terminal of such a merchant may not use
//! a number of the onboarded shape (`S` + 11 lower-case base-36 characters +
//! `_` at the start), which is refused naming `out_trade_no`. The journal and
//! every answer keep the terminal's own number; the gateway's is the trade's
//! key and is shown as `gateway_out_trade_no` when it differs.

use sha2::{Digest, Sha256};

/// The gateway's limit on out_trade_no, characters.
pub const MAX_LEN: usize = 64;
const CODE_LEN: usize = 11;
const KEEP_WHEN_LONG: usize = 31;
const HASH_LEN: usize = 20;

/// Why a number cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// A terminal of a merchant of the configuration used a number of the
    /// onboarded shape ([`is_reserved`]); the number.
    #[error("out_trade_no {0} has the shape reserved for onboarded merchants' numbers (S + 11 lower-case base-36 characters + _); choose another")]
    Reserved(String),
    /// The merchant's smid is not 1 to 16 decimal digits, so it has no
    /// prefix; the smid.
    #[error("the merchant's smid {0} is not a number of at most 16 digits")]
    BadSmid(String),
}

fn base36(mut v: u128, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v % 36) as usize];
        v /= 36;
    }
    debug_assert_eq!(v, 0, "value wider than {width} base-36 digits");
    String::from_utf8(out).unwrap_or_default()
}

/// The merchant's prefix: `S` + smid in base 36 + `_` (13 characters).
///
/// # Errors
/// [`NumberError::BadSmid`] when `smid` is not 1 to 16 decimal digits.
pub fn prefix(smid: &str) -> Result<String, NumberError> {
    if smid.is_empty() || smid.len() > 16 || !smid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::BadSmid(smid.to_owned()));
    }
    let v: u128 = smid
        .parse()
        .map_err(|_| NumberError::BadSmid(smid.to_owned()))?;
    Ok(format!("S{}_", base36(v, CODE_LEN)))
}

/// Whether a number has the onboarded merchants' shape.
pub fn is_reserved(no: &str) -> bool {
    let b = no.as_bytes();
    b.len() > CODE_LEN + 1
        && b[0] == b'S'
        && b[1..=CODE_LEN]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        && b[CODE_LEN + 1] == b'_'
}

/// The smid encoded in a number of the onboarded shape (the inverse of
/// [`prefix`]); None for any other number. Reconciliation attributes a bill
/// row the journal does not know by it.
pub fn smid_of(no: &str) -> Option<String> {
    if !is_reserved(no) {
        return None;
    }
    let mut v: u128 = 0;
    for c in no.as_bytes()[1..=CODE_LEN].iter() {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' => c - b'a' + 10,
            _ => return None,
        };
        v = v.checked_mul(36)?.checked_add(u128::from(d))?;
    }
    (v > 0 && v < 10u128.pow(16)).then(|| v.to_string())
}

/// The gateway's out_trade_no for a terminal's number: `smid` is the
/// merchant's when it was onboarded (then the number is prefixed), `None`
/// for a merchant of the configuration (then it is kept, unless reserved).
/// With a smid the result is at most [`MAX_LEN`] characters, whatever the
/// length of `no`.
///
/// # Errors
/// [`NumberError::Reserved`] when there is no smid and `no` has the
/// onboarded shape; [`NumberError::BadSmid`] when the smid is not 1 to 16
/// decimal digits.
pub fn gateway_out_trade_no(onboarded_smid: Option<&str>, no: &str) -> Result<String, NumberError> {
    let Some(smid) = onboarded_smid else {
        if is_reserved(no) {
            return Err(NumberError::Reserved(no.to_owned()));
        }
        return Ok(no.to_owned());
    };
    let p = prefix(smid)?;
    if p.len() + no.len() <= MAX_LEN {
        return Ok(format!("{p}{no}"));
    }
    let digest = Sha256::digest(no.as_bytes());
    let mut v: u128 = 0;
    for b in &digest[..16] {
        v = (v << 8) | u128::from(*b);
    }
    let hash = base36(v % 36u128.pow(HASH_LEN as u32), HASH_LEN);
    let head: String = no.chars().take(KEEP_WHEN_LONG).collect();
    let out = format!("{p}{head}{hash}");
    debug_assert!(out.len() <= MAX_LEN, "{out}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_smid_comes_back() {
        let no = gateway_out_trade_no(Some("2088000000000001"), "A1").unwrap();
        assert_eq!(smid_of(&no).as_deref(), Some("2088000000000001"));
        assert_eq!(smid_of("A1"), None);
        assert_eq!(smid_of("Szzzzzzzzzzz_1"), None);
    }

    #[test]
    fn the_scheme() {
        let p = prefix("2088000000000001").unwrap();
        assert_eq!(p.len(), 13);
        assert!(p.starts_with('S') && p.ends_with('_'));
        assert_eq!(
            gateway_out_trade_no(Some("2088000000000001"), "A1").unwrap(),
            format!("{p}A1")
        );
        // Two merchants, one terminal number: two gateway numbers.
        assert_ne!(
            gateway_out_trade_no(Some("2088000000000001"), "A1").unwrap(),
            gateway_out_trade_no(Some("2088000000000002"), "A1").unwrap()
        );
        // Labs keep their numbers; the onboarded shape is refused there.
        assert_eq!(gateway_out_trade_no(None, "A1").unwrap(), "A1");
        let onboarded = gateway_out_trade_no(Some("2088000000000001"), "A1").unwrap();
        assert!(is_reserved(&onboarded));
        assert!(matches!(
            gateway_out_trade_no(None, &onboarded),
            Err(NumberError::Reserved(_))
        ));
        assert!(!is_reserved("SHOP_0001"));
        assert!(prefix("20880000000000011").is_err());
        assert!(prefix("2088x").is_err());
        let long = "9".repeat(64);
        let g = gateway_out_trade_no(Some("2088000000000001"), &long).unwrap();
        assert_eq!(g.len(), 64);
    }

    proptest! {
        #[test]
        fn within_the_gateway_alphabet_and_length(
            smid in 2_088_000_000_000_000u64..2_088_999_999_999_999,
            no in "[A-Za-z0-9_]{1,64}",
        ) {
            let g = gateway_out_trade_no(Some(&smid.to_string()), &no).unwrap();
            prop_assert!(g.len() <= MAX_LEN);
            prop_assert!(g.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
            prop_assert!(is_reserved(&g));
            // Deterministic.
            prop_assert_eq!(g.clone(), gateway_out_trade_no(Some(&smid.to_string()), &no).unwrap());
        }

        #[test]
        fn different_numbers_stay_different(
            smid in 2_088_000_000_000_000u64..2_088_999_999_999_999,
            a in "[A-Za-z0-9_]{1,64}",
            b in "[A-Za-z0-9_]{1,64}",
        ) {
            prop_assume!(a != b);
            let s = smid.to_string();
            prop_assert_ne!(gateway_out_trade_no(Some(&s), &a).unwrap(), gateway_out_trade_no(Some(&s), &b).unwrap());
        }
    }
}
