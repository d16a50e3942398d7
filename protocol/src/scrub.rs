//! Scrubbing payment credentials out of gateway text before it is kept.
//!
//! The gateway can echo what it was sent: a signature error's `sub_msg`
//! carries the whole string it verified ("...网关生成的验签字符串为：app_id=...
//! &biz_content={...\"auth_code\":\"28...\"...}"), and a malformed answer's
//! parse error can quote a value. Before such text reaches the journal, a
//! log or a report, [`scrub`] cuts an echoed sign string at its marker and
//! masks every run of digits shaped like a buyer's payment code (付款码: 16
//! to 24 digits starting 25 to 30, docs/PROTOCOL.md §5) to its first two and last four
//! digits. Trade numbers (`20...`) and smids (`2088...`) are not in that shape
//! and stay as they are.

use std::borrow::Cow;

/// Where a gateway's echoed sign string starts (it runs to the end).
const SIGN_STRING_MARKERS: [&str; 4] =
    ["验签字符串为", "待签名字符串", "sign string", "signContent"];

/// The length of the shortest marker, bytes.
const SHORTEST_MARKER_BYTES: usize = shortest(&SIGN_STRING_MARKERS);

const fn shortest(markers: &[&str]) -> usize {
    let mut n = usize::MAX;
    let mut i = 0;
    while i < markers.len() {
        if markers[i].len() < n {
            n = markers[i].len();
        }
        i += 1;
    }
    n
}

/// What replaces an echoed sign string.
pub const SIGN_STRING_REMOVED: &str = "[echoed sign string removed]";

fn is_auth_code_run(d: &[u8]) -> bool {
    (16..=24).contains(&d.len()) && d[0] == b'2' && (b'5'..=b'9').contains(&d[1])
        || (16..=24).contains(&d.len()) && d[0] == b'3' && d[1] == b'0'
}

/// The text with echoed sign strings cut and payment-code-shaped digit runs
/// masked; borrowed when nothing had to change.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut cut = text.len();
    // Most values of an answer (codes, amounts, numbers) are shorter than
    // any marker: no searcher is built for them (about 65 values a pay).
    if text.len() >= SHORTEST_MARKER_BYTES {
        for m in SIGN_STRING_MARKERS {
            if let Some(i) = text.find(m) {
                cut = cut.min(i + m.len());
            }
        }
    }
    let head = &text[..cut];
    let b = head.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if is_auth_code_run(&b[start..i]) {
                runs.push((start, i));
            }
        } else {
            i += 1;
        }
    }
    if runs.is_empty() && cut == text.len() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(head.len() + SIGN_STRING_REMOVED.len());
    let mut at = 0;
    for (s, e) in runs {
        out.push_str(&head[at..s]);
        out.push_str(&head[s..s + 2]);
        out.extend(std::iter::repeat('*').take(e - s - 6));
        out.push_str(&head[e - 4..e]);
        at = e;
    }
    out.push_str(&head[at..]);
    if cut < text.len() {
        out.push_str(SIGN_STRING_REMOVED);
    }
    Cow::Owned(out)
}

/// Scrubs every string of a JSON value in place.
pub fn scrub_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            if let Cow::Owned(o) = scrub(s) {
                *s = o;
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub_json),
        serde_json::Value::Object(m) => m.values_mut().for_each(scrub_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_text_as_short_as_a_marker_is_still_searched() {
        assert_eq!(SHORTEST_MARKER_BYTES, "sign string".len());
        assert_eq!(scrub("sign string"), "sign string", "nothing after it");
        assert_eq!(
            scrub("sign string="),
            format!("sign string{SIGN_STRING_REMOVED}")
        );
        assert_eq!(scrub("sign strin="), "sign strin=");
    }

    #[test]
    fn echoed_sign_strings_and_codes_go() {
        let m = "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：app_id=2021&biz_content={\"auth_code\":\"281234567890123456\"}";
        let s = scrub(m);
        assert!(!s.contains("281234567890123456"), "{s}");
        assert!(
            s.ends_with(SIGN_STRING_REMOVED) && s.contains("验签字符串为"),
            "{s}"
        );
        assert_eq!(
            scrub("code 281234567890123456 x"),
            "code 28************3456 x"
        );
        // Trade numbers, smids, amounts and short numbers stay.
        for keep in [
            "2026060522001458860515315453",
            "2088000000000001",
            "100.00",
            "12345",
        ] {
            assert_eq!(scrub(keep), keep);
            assert!(matches!(scrub(keep), Cow::Borrowed(_)));
        }
        let mut v = serde_json::json!({"a": ["x 301234567890123456789"], "b": {"c": 1}});
        scrub_json(&mut v);
        assert_eq!(v["a"][0], "x 30***************6789");
    }

    proptest! {
        /// No payment code survives, wherever it sits in the text.
        #[test]
        fn no_code_survives(pre in "[^0-9]{0,20}", code in "2[5-9][0-9]{14,22}|30[0-9]{14,22}", post in "[^0-9]{0,20}") {
            let t = format!("{pre}{code}{post}");
            let s = scrub(&t);
            prop_assert!(!s.contains(&code));
            prop_assert!(s.starts_with(&pre) && s.ends_with(&post));
        }
    }
}
