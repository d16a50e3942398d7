//! # The fuzz targets' invariants (docs/FUZZING.md)
//!
//! One function per target, `fn(&[u8])`, that feeds the bytes to a parser
//! of the switch and **panics when an invariant breaks** (a parser that
//! panics by itself is caught the same way). libFuzzer calls these from
//! `fuzz/fuzz_targets/<target>.rs`; `tests/replay.rs` calls the very same
//! functions on every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` under a plain `cargo test`, so a crash
//! found once stays a test case without nightly flags.
//!
//! | target | parser |
//! | --- | --- |
//! | [`response`](mod@response) | gateway answer: node extraction, RSA2 verification, typed bodies |
//! | [`notify`](mod@notify) | notification form: decoding, verification, typed fields |
//! | [`terminal_json`](mod@terminal_json) | terminal JSON bodies: pay, precreate, refund |
//! | [`auth_header`](mod@auth_header) | the PSW1 `Authorization` header and its HMAC check |
//! | [`fields`](mod@fields) | `Money` and the field validators, gateway time |
//! | [`bill_csv`] | the bill's detail and summary CSVs (GBK) |
//! | [`bill_zip`] | the bill zip around them |
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(clippy::missing_errors_doc)]

pub mod auth_header;
pub mod bill;
pub mod digest_key;
pub mod fields;
pub mod keys;
pub mod notify;
pub mod response;
pub mod terminal_json;

pub use auth_header::auth_header;
pub use bill::{bill_csv, bill_zip};
pub use fields::fields;
pub use notify::notify;
pub use response::response;
pub use terminal_json::terminal_json;

/// A fuzz target's check.
pub type Check = fn(&[u8]);

/// Every target by name: the name is its folder under `fuzz/corpus/` and
/// `fuzz/regressions/`, and its binary in `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Check); 7] = [
    ("response", response),
    ("notify", notify),
    ("terminal_json", terminal_json),
    ("auth_header", auth_header),
    ("fields", fields),
    ("bill_csv", bill_csv),
    ("bill_zip", bill_zip),
];

/// Whether `part` lies inside `whole` (the same memory, not equal text):
/// what a parser returns as borrowed is a piece of its input.
pub fn is_within(whole: &str, part: &str) -> bool {
    let w = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    p >= w && p + part.len() <= w + whole.len()
}

/// A cheap deterministic choice from the input (FNV-1a), for what is too
/// slow to do on every execution (an RSA signature).
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
