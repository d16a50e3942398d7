//! A benchmark (ignored; run by hand): the `payswitch` process's memory
//! with 10,000 open terminal connections, 5,000 of them holding a payment
//! parked in 10003 polling (the buyer never types the password within the
//! wait), against the simulator. Prints the switch's peak and current RSS
//! and the errors seen; asserts 0 errors. Issue "Hardening" wants at most
//! 150 MB.
//!
//! ```sh
//! cargo test --release -p payswitch-engine --test memory_bench -- --ignored --nocapture
//! ```

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Open terminal connections (`MEMORY_BENCH_CONNECTIONS` overrides).
const CONNECTIONS: usize = 10_000;
/// Of them, payments parked in 10003 polling (`MEMORY_BENCH_PARKED`).
const PARKED: usize = 5_000;

/// `var` as a count, `default` when it is unset; a value that is not a
/// count stops the bench with the variable's name (never a silent default).
fn count(var: &str, default: usize) -> usize {
    match std::env::var(var) {
        Err(_) => default,
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v:?} is not a count of connections")),
    }
}

fn kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: 10,000 connections for a minute; run it by hand (see the doc comment)"]
async fn ten_thousand_connections_and_five_thousand_parked_payments() {
    let connections = count("MEMORY_BENCH_CONNECTIONS", CONNECTIONS);
    let parked = count("MEMORY_BENCH_PARKED", PARKED).min(connections);
    let sim = sim_with(|c| {
        c.time_scale = 1.0;
        // The buyer types the password after 10 minutes: every 1003 pay
        // stays in 10003 polling for the whole run.
        c.password_delay = Duration::from_secs(600);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    install_keys(dir.path());
    let port = free_port();
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        "",
    )
    // Polls every 10 s for 2 minutes; idle connections are kept a while.
    .replace("poll_interval_ms = 50", "poll_interval_ms = 10000")
    .replace("header_read_timeout_ms = 2000", "header_read_timeout_ms = 120000\nidle_timeout_ms = 120000\nper_ip_unauthenticated_connections = 100000\nmax_connections = 15000")
    .replace("request_timeout_ms = 1000", "request_timeout_ms = 5000")
    .replace("max_body_bytes = 8192", "max_body_bytes = 8192\nbody_read_timeout_ms = 60000");
    let cfg = write_config(dir.path(), &text);
    // MEMORY_BENCH_WRAPPER (e.g. `heaptrack`) runs the switch under a
    // profiler; the RSS figures are then the wrapper's, not the switch's.
    let mut cmd = match std::env::var("MEMORY_BENCH_WRAPPER") {
        Ok(w) if !w.is_empty() => {
            let mut c = Command::new(w);
            c.arg(env!("CARGO_BIN_EXE_payswitch"));
            c
        }
        _ => Command::new(env!("CARGO_BIN_EXE_payswitch")),
    };
    let mut child = cmd
        .args(["serve", "--config"])
        .arg(&cfg)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the switch starts");
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the switch did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = kib(pid, "VmRSS:");
    // 10,000 connections, each its own client (one connection each).
    let mut terms = Vec::with_capacity(connections);
    for _ in 0..connections {
        terms.push(Term::new(&base));
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, t) in terms.iter().enumerate() {
        let t = t.clone();
        set.spawn(async move {
            if i < parked {
                // A payment parked: 10003 polling for the whole wait.
                let (s, v) = t
                    .pay(&format!("MB_{i:05}"), &auth_code("1003"), "1.00", 50)
                    .await;
                (i, s, v["status"].as_str().unwrap_or("").to_owned())
            } else {
                // An open terminal connection that asked once and idles.
                let (s, _) = t
                    .raw("GET", "/healthz", vec![], None)
                    .await
                    .unwrap_or((0, serde_json::Value::Null));
                (i, s, String::new())
            }
        });
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Let every parked payment be polled a few times with all connections open.
    tokio::time::sleep(Duration::from_secs(35)).await;
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let rss_loaded = kib(pid, "VmRSS:");
    let mut errors = 0;
    let mut by_status = std::collections::BTreeMap::new();
    while let Some(r) = set.join_next().await {
        let (i, s, st) = r.unwrap();
        let ok = if i < parked {
            s == 200 && st == "PAYING"
        } else {
            s == 200
        };
        if !ok {
            errors += 1;
        }
        *by_status.entry(format!("{s} {st}")).or_insert(0u32) += 1;
    }
    let hwm = kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "switch RSS: idle {:.1} MB, with {connections} connections and {parked} parked pays {:.1} MB, peak (VmHWM) {:.1} MB; {open} open files; answers {by_status:?}; {errors} errors",
        idle_rss as f64 / 1024.0,
        rss_loaded as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    assert_eq!(errors, 0, "{by_status:?}");
}
