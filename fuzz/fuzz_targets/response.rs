//! Fuzz target `response`: the check is `fuzz_checks::response` (fuzz/checks),
//! which `cargo test` also runs on the corpus and the regressions.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::response(data));
