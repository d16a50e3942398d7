//! `loadgen sign-bench`: RSA2 sign and verify throughput per thread and in
//! total, with the key prepared once (as the switch does), so an operator can
//! compare the switch's binding cost with `openssl speed rsa2048` on the same
//! machine.
//!
//! Each thread is pinned to its own core where the OS allows, signs a
//! realistic request sign string for `seconds`, then verifies for `seconds`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::crypto::{RsaSigner, RsaVerifier, SigningKey, VerifyingKey};
use serde::Serialize;

/// The demo app key (public, insecure): the benchmark needs a real 2048-bit key.
const DEMO_KEY: &str = include_str!("../../deploy/keys/demo-app-private.pem");

/// A sign string of the size the switch signs for alipay.trade.pay (about
/// 450 bytes: the common parameters and a biz_content with a sub-merchant).
pub const SAMPLE_SIGN_STRING: &str = "app_id=2021000000000001&biz_content={\"out_trade_no\":\"T20261122000001\",\"scene\":\"bar_code\",\"auth_code\":\"281234567890121234\",\"subject\":\"Store 1 counter 2\",\"total_amount\":\"88.88\",\"store_id\":\"NJ_001\",\"terminal_id\":\"POS_0001\",\"sub_merchant\":{\"merchant_id\":\"2088000000000001\"}}&charset=utf-8&format=JSON&method=alipay.trade.pay&sign_type=RSA2&timestamp=2026-11-22 10:00:00&version=1.0";

/// Which RSA backend to measure (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// aws-lc-rs, the switch's default backend.
    AwsLcRs,
    /// ring; only in a binary built with the `ring` feature.
    Ring,
}

/// One thread's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadResult {
    /// The thread's index, from 0.
    pub thread: usize,
    /// Signatures per second over the sign phase.
    pub sign_per_sec: f64,
    /// Verifications per second over the verify phase.
    pub verify_per_sec: f64,
}

/// The whole run (docs/LOADGEN.md, "Commands": `--json` prints this
/// object).
#[derive(Debug, Clone, Serialize)]
pub struct SignBenchResult {
    /// Threads run, each on its own core where possible.
    pub threads: usize,
    /// Length of each phase (sign, then verify), seconds.
    pub seconds: f64,
    /// The backend's name as the protocol crate reports it.
    pub backend: &'static str,
    /// Signatures per second, all threads together.
    pub sign_per_sec: f64,
    /// Verifications per second, all threads together.
    pub verify_per_sec: f64,
    /// Each thread's figures (a thread that panicked is left out).
    pub per_thread: Vec<ThreadResult>,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum SignBenchError {
    /// `threads` was 0.
    #[error("--threads must be at least 1")]
    NoThreads,
    /// `seconds` was 0, negative or NaN.
    #[error("--seconds must be greater than 0")]
    NoTime,
    /// The backend asked for is not compiled in (ring without the `ring`
    /// feature); the text says how to build it.
    #[error("the {0} backend is not compiled into this binary")]
    BackendMissing(&'static str),
    /// The built-in demo key could not be loaded by the backend.
    #[error("benchmark key: {0}")]
    Key(#[from] protocol::KeyError),
    /// The first signature (the one verified later) failed.
    #[error("signing failed: {0}")]
    Sign(#[from] protocol::SignError),
}

/// Runs the benchmark: `threads` threads sign [`SAMPLE_SIGN_STRING`] with
/// the demo app's 2048-bit key for `seconds`, then (after all have finished
/// signing) verify for `seconds`. Blocks for about twice `seconds`.
///
/// # Errors
/// [`SignBenchError::NoThreads`] or [`SignBenchError::NoTime`] for a bad
/// argument, [`SignBenchError::BackendMissing`] for ring in a build without
/// it, [`SignBenchError::Key`] or [`SignBenchError::Sign`] when the backend
/// cannot load the key or sign.
pub fn run(
    threads: usize,
    seconds: f64,
    backend: Backend,
) -> Result<SignBenchResult, SignBenchError> {
    if threads == 0 {
        return Err(SignBenchError::NoThreads);
    }
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(SignBenchError::NoTime);
    }
    match backend {
        Backend::AwsLcRs => run_with::<
            protocol::crypto::aws_lc::SigningKeyImpl,
            protocol::crypto::aws_lc::VerifyingKeyImpl,
        >(threads, seconds),
        Backend::Ring => run_ring(threads, seconds),
    }
}

#[cfg(feature = "ring")]
fn run_ring(threads: usize, seconds: f64) -> Result<SignBenchResult, SignBenchError> {
    run_with::<protocol::crypto::ring::SigningKeyImpl, protocol::crypto::ring::VerifyingKeyImpl>(
        threads, seconds,
    )
}

#[cfg(not(feature = "ring"))]
fn run_ring(_: usize, _: f64) -> Result<SignBenchResult, SignBenchError> {
    Err(SignBenchError::BackendMissing(
        "ring (build with --features ring)",
    ))
}

fn run_with<S: SigningKey + 'static, V: VerifyingKey + 'static>(
    threads: usize,
    seconds: f64,
) -> Result<SignBenchResult, SignBenchError> {
    let signer: Arc<RsaSigner<S>> = Arc::new(RsaSigner::from_text(DEMO_KEY)?);
    let verifier: Arc<RsaVerifier<V>> = Arc::new(signer.verifier()?);
    let sig = signer.sign(SAMPLE_SIGN_STRING.as_bytes())?;
    let dur = Duration::from_secs_f64(seconds);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let barrier = Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let signer = Arc::clone(&signer);
            let verifier = Arc::clone(&verifier);
            let sig = sig.clone();
            let core = cores.get(i % cores.len().max(1)).copied();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                let msg = SAMPLE_SIGN_STRING.as_bytes();
                barrier.wait();
                let mut n = 0u64;
                let start = Instant::now();
                while start.elapsed() < dur {
                    for _ in 0..16 {
                        let _ = std::hint::black_box(signer.sign(std::hint::black_box(msg)));
                    }
                    n += 16;
                }
                let sign_rate = n as f64 / start.elapsed().as_secs_f64();
                barrier.wait();
                let mut m = 0u64;
                let start = Instant::now();
                while start.elapsed() < dur {
                    for _ in 0..64 {
                        let ok = verifier.verify(std::hint::black_box(msg), &sig).is_ok();
                        std::hint::black_box(ok);
                    }
                    m += 64;
                }
                ThreadResult {
                    thread: i,
                    sign_per_sec: sign_rate,
                    verify_per_sec: m as f64 / start.elapsed().as_secs_f64(),
                }
            })
        })
        .collect();
    let per_thread: Vec<ThreadResult> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    Ok(SignBenchResult {
        threads,
        seconds,
        backend: signer.backend(),
        sign_per_sec: per_thread.iter().map(|t| t.sign_per_sec).sum(),
        verify_per_sec: per_thread.iter().map(|t| t.verify_per_sec).sum(),
        per_thread,
    })
}

/// The human-readable form: a header line, one line per thread, the total,
/// and the `openssl speed` command to compare with.
pub fn render_text(r: &SignBenchResult) -> String {
    let mut out = format!(
        "RSA2 (SHA256withRSA, 2048-bit), backend {}, {} thread(s), {:.1} s per phase\n",
        r.backend, r.threads, r.seconds
    );
    out.push_str("thread      sign/s    verify/s\n");
    for t in &r.per_thread {
        out.push_str(&format!(
            "{:>6} {:>11.0} {:>11.0}\n",
            t.thread, t.sign_per_sec, t.verify_per_sec
        ));
    }
    out.push_str(&format!(
        " total {:>11.0} {:>11.0}\n",
        r.sign_per_sec, r.verify_per_sec
    ));
    out.push_str("compare: openssl speed -seconds 5 rsa2048\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_run_counts_signatures() {
        let r = run(1, 0.05, Backend::AwsLcRs).unwrap();
        assert_eq!(r.per_thread.len(), 1);
        assert!(r.sign_per_sec > 0.0 && r.verify_per_sec > 0.0);
        let json = serde_json::to_value(&r).unwrap();
        for k in [
            "threads",
            "seconds",
            "backend",
            "sign_per_sec",
            "verify_per_sec",
            "per_thread",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
        assert!(run(0, 1.0, Backend::AwsLcRs).is_err());
        assert!(run(1, 0.0, Backend::AwsLcRs).is_err());
    }
}
