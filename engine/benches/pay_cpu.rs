//! The switch's CPU time per successful barcode pay, divided by the time of
//! one RSA2 sign plus one verify on the same machine (the goal: at
//! most 1.25).
//!
//! The real `payswitch` binary (bench profile) runs as its own process with a
//! journal on disk (`synchronous = FULL`); the simulator and the terminals run
//! in this process. The switch's CPU time (user + system, all threads) comes
//! from /proc/<pid>/stat. Every pay answers 10000. Per pay the switch
//! authenticates the terminal (HMAC), validates, journals twice (about to
//! send; SUCCESS) with fsync (group commit), signs once, verifies once.
//!
//! Run: `cargo bench -p payswitch-engine --bench pay_cpu` (env
//! `PAY_BENCH_SECS`, default 8; `PAY_BENCH_TERMINALS`, default 32;
//! `PAY_BENCH_SYNC`, default full; `PAY_BENCH_NOTIFY=0` to leave notify_url unset).
//!
//! Instruction counts (docs/PERFORMANCE.md): `PAY_BENCH_CALLGRIND=FILE` runs
//! the switch under `valgrind --tool=callgrind`, zeroes its counters when the
//! measured window opens and dumps them when it closes (`callgrind_control`),
//! then prints the switch's instructions per successful pay; FILE.* is the
//! profile of the window for `callgrind_annotate`. Callgrind runs the switch
//! about 50 times slower: give it `PAY_BENCH_SECS=60` or more. Instructions
//! do not change with the machine's load; the CPU ratio printed beside them
//! is then meaningless.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use protocol::{Signer, Verifier};

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32, tck: f64) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat; index 11 and 12 after the command name.
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / tck
}

/// CPU time of this thread in seconds (/proc/thread-self/schedstat, ns),
/// so that a loaded machine does not inflate the sign and verify figures.
fn thread_cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1e9
}

/// (sign, verify) CPU seconds per operation, single thread, prepared keys.
fn sign_verify_seconds() -> (f64, f64) {
    let signer = Signer::from_text(
        &std::fs::read_to_string(keys_dir().join("demo-app-private.pem")).unwrap(),
    )
    .unwrap();
    let verifier: Verifier = signer.verifier().unwrap();
    let msg = "app_id=2021000000000001&biz_content={\"out_trade_no\":\"PB_1_123456\",\"scene\":\"bar_code\",\"auth_code\":\"281234567890120000\",\"subject\":\"bench\",\"total_amount\":\"9.99\",\"product_code\":\"FACE_TO_FACE_PAYMENT\",\"store_id\":\"NJ_001\",\"terminal_id\":\"POS_01\",\"sub_merchant\":{\"merchant_id\":\"2088000000000001\"}}&charset=utf-8&format=JSON&method=alipay.trade.pay&sign_type=RSA2&timestamp=2026-11-22 10:00:00&version=1.0";
    let n = 2000;
    let t0 = thread_cpu();
    let mut sig = String::new();
    for _ in 0..n {
        sig = signer.sign_base64(msg.as_bytes()).unwrap();
    }
    let sign = (thread_cpu() - t0) / n as f64;
    let t0 = thread_cpu();
    for _ in 0..n * 5 {
        verifier.verify_base64(msg.as_bytes(), &sig).unwrap();
    }
    let verify = (thread_cpu() - t0) / (n * 5) as f64;
    (sign, verify)
}

fn main() {
    let secs: f64 = std::env::var("PAY_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8.0);
    let terminals: usize = std::env::var("PAY_BENCH_TERMINALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    // PAY_BENCH_SYNC: journal synchronous mode (full, normal, off); PAY_BENCH_NOTIFY=0: no notify_url.
    let sync = std::env::var("PAY_BENCH_SYNC").unwrap_or_else(|_| "full".into());
    let notify = std::env::var("PAY_BENCH_NOTIFY")
        .map(|v| v != "0")
        .unwrap_or(true);
    let (sign0, verify0) = sign_verify_seconds();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sim = sim().await;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let text = config_text(&format!("127.0.0.1:{port}"), &sim.gateway_url(), &format!("{base}/notify/alipay"), "")
            .replace("request_timeout_ms = 1000", "request_timeout_ms = 10000")
            .replace("connect_timeout_ms = 500", "connect_timeout_ms = 3000")
            .replace("path = \"journal.db\"", &format!("path = \"journal.db\"\nsynchronous = \"{sync}\""));
        let text = if notify { text } else { text.replace(&format!("notify_url = \"{base}/notify/alipay\"\n"), "") };
        let cfg = write_config(dir.path(), &text);
        let callgrind = std::env::var("PAY_BENCH_CALLGRIND").ok().filter(|f| !f.is_empty());
        let mut cmd = match &callgrind {
            Some(out) => {
                let mut c = Command::new("valgrind");
                c.args(["--tool=callgrind", "--dump-instr=no", &format!("--callgrind-out-file={out}")])
                    .arg(env!("CARGO_BIN_EXE_payswitch"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_payswitch")),
        };
        let mut child = cmd
            .args(["serve", "--config"])
            .arg(&cfg)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Term::new(&base);
        // Under callgrind the start takes seconds.
        let tries = if callgrind.is_some() { 4000 } else { 400 };
        for _ in 0..tries {
            if let Ok((200, _)) = t.raw("GET", "/healthz", vec![], None).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let tck = clk_tck();
        let ok = Arc::new(AtomicU64::new(0));
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..terminals {
            let (t, ok, measuring, stop) = (Term::new(&base), ok.clone(), measuring.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let (s, v) = t.pay(&format!("PB_{w}_{i}"), &auth_code("0000"), "9.99", 10).await;
                    if s == 200 && v["status"] == "SUCCESS" && measuring.load(Ordering::Relaxed) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(2)).await; // warm-up: pools, page cache
        let callgrind_control = |flag: &str| {
            let st = Command::new("callgrind_control").args([flag, &child.id().to_string()]).stdout(Stdio::null()).status();
            assert!(st.map(|s| s.success()).unwrap_or(false), "callgrind_control {flag} failed");
        };
        if callgrind.is_some() {
            callgrind_control("-z");
        }
        let cpu0 = cpu_seconds(child.id(), tck);
        measuring.store(true, Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        measuring.store(false, Ordering::Relaxed);
        let cpu1 = cpu_seconds(child.id(), tck);
        let wall = t0.elapsed().as_secs_f64();
        if callgrind.is_some() {
            callgrind_control("-d");
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        // Measured before and after the run (CPU time, not wall time); the mean.
        let (sign1, verify1) = sign_verify_seconds();
        let (sign, verify) = ((sign0 + sign1) / 2.0, (verify0 + verify1) / 2.0);
        let n = ok.load(Ordering::Relaxed) as f64;
        let per_pay = (cpu1 - cpu0) / n;
        println!("sign (RSA2-2048, {}, thread CPU time): {:.1} us; verify: {:.1} us; sign+verify: {:.1} us",
            Signer::from_text(&std::fs::read_to_string(keys_dir().join("demo-app-private.pem")).unwrap()).unwrap().backend(),
            sign * 1e6, verify * 1e6, (sign + verify) * 1e6);
        println!("journal synchronous={sync}, notify_url {}", if notify { "set (precreate only: a barcode pay carries none, docs/PROTOCOL.md §9.7)" } else { "unset" });
        println!("switch: {n:.0} successful pays in {wall:.1} s ({:.0}/s) with {terminals} terminals; CPU {:.2} s", n / wall, cpu1 - cpu0);
        println!("switch CPU per successful pay: {:.1} us", per_pay * 1e6);
        println!("ratio CPU per pay / (sign + verify): {:.2}  (goal <= 1.25)", per_pay / (sign + verify));
        if let Some(out) = &callgrind {
            // The window's dump is FILE.1 (FILE itself holds what ran after it).
            let dump = format!("{out}.1");
            let text = std::fs::read_to_string(&dump).unwrap_or_else(|e| panic!("{dump}: {e}"));
            let total: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix("summary: ").or_else(|| l.strip_prefix("totals: ")))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{dump}: no summary line"));
            println!("callgrind: {total:.0} instructions in the window, {:.0} per successful pay ({dump})", total / n);
        }
        sim.shutdown().await;
    });
}
