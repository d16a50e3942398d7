//! Fuzz target `terminal_json`: the check is `fuzz_checks::terminal_json` (fuzz/checks),
//! which `cargo test` also runs on the corpus and the regressions.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::terminal_json(data));
