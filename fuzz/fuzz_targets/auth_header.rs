//! Fuzz target `auth_header`: the check is `fuzz_checks::auth_header` (fuzz/checks),
//! which `cargo test` also runs on the corpus and the regressions.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::auth_header(data));
