//! Fuzz target `bill_csv`: the check is `fuzz_checks::bill_csv` (fuzz/checks),
//! which `cargo test` also runs on the corpus and the regressions.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::bill_csv(data));
