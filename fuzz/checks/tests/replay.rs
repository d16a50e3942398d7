//! Replays every committed fuzz input through its target's check, on a
//! stable toolchain: `fuzz/corpus/<target>/` (the seeds) and
//! `fuzz/regressions/<target>/` (each crash the fuzzer ever found, kept as
//! a test case once fixed). See docs/FUZZING.md.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (target, check) in fuzz_checks::TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).expect("a committed input reads");
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{target}: {} fails its check", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn every_seed_passes_its_target() {
    let n = replay("corpus");
    // Every target has seeds.
    for (target, _) in fuzz_checks::TARGETS {
        assert!(
            !inputs("corpus", target).is_empty(),
            "fuzz/corpus/{target}/ has no seed"
        );
    }
    assert!(n >= fuzz_checks::TARGETS.len());
}

#[test]
fn every_regression_input_passes_its_target() {
    replay("regressions");
}

#[test]
fn every_target_has_a_binary() {
    for (target, _) in fuzz_checks::TARGETS {
        let bin = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        assert!(bin.is_file(), "{} is missing", bin.display());
    }
}

/// The signed answers of the corpus really are signed (with the TEST-ONLY
/// key the target verifies with): the fuzzer starts past the signature.
#[test]
fn signed_response_seeds_verify() {
    let mut signed = 0;
    for path in inputs("corpus", "response") {
        let data = std::fs::read(&path).unwrap();
        let body = std::str::from_utf8(&data[1..]).unwrap();
        let Some(node) = [
            "alipay_trade_",
            "alipay_data_",
            "monitor_",
            "error_response",
        ]
        .iter()
        .find_map(|p| {
            let i = body.find(&format!("\"{p}"))?;
            let rest = &body[i + 1..];
            Some(&rest[..rest.find('"')?])
        }) else {
            continue;
        };
        let ex = protocol::response::extract(body, node).unwrap();
        if let Some(sign) = ex.sign.as_deref() {
            fuzz_checks::keys::rsa_verifier()
                .verify_base64(ex.content.as_bytes(), sign)
                .unwrap_or_else(|_| panic!("{} does not verify", path.display()));
            signed += 1;
        }
    }
    assert!(signed >= 5, "only {signed} signed answers");
}
