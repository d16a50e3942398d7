//! Throughput of the simulator for alipay.trade.pay and alipay.trade.query,
//! per core of the simulator, next to the RSA2 signing limit of this machine.
//!
//! The simulator runs on its own one-thread runtime (`sim-worker`); the client
//! runs on another (`bench-client`) and sends requests signed before the timed
//! phase, so the client's signing does not count. Requests per core = requests
//! answered / CPU seconds of the simulator thread (from /proc/self/task).
//!
//! Run: `cargo run --release -p alipay-sim --example sim_bench -- [SECONDS] [CONNECTIONS]`

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use protocol::request::{sign_request, CommonOptions};
use protocol::{Signer, Verifier};

/// Resident memory of this process, bytes.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn thread_cpu_secs(name: &str) -> f64 {
    let mut total = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            let (Some(l), Some(r)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            if &stat[l + 1..r] != name {
                continue;
            }
            let f: Vec<&str> = stat[r + 2..].split(' ').collect();
            // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the comm.
            let ut: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
            let st: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
            total += ut + st;
        }
    }
    total as f64 / 100.0
}

/// Signatures and verifications per CPU second of one thread (CPU time, not
/// wall time, so that other load on the machine does not skew the figure).
fn rsa_rates(secs: f64) -> (f64, f64) {
    std::thread::Builder::new()
        .name("rsa-bench".into())
        .spawn(move || {
            let signer = Signer::from_text(simulator::DEMO_ALIPAY_PRIVATE_KEY).expect("demo key");
            let verifier = Verifier::from_text(simulator::DEMO_ALIPAY_PUBLIC_KEY).expect("demo key");
            let msg = b"app_id=2021000000000001&biz_content={\"out_trade_no\":\"X\"}&charset=utf-8&method=alipay.trade.query&sign_type=RSA2&timestamp=2026-01-01 00:00:00&version=1.0";
            let cpu0 = thread_cpu_secs("rsa-bench");
            let t = Instant::now();
            let mut n = 0u64;
            let mut sig = String::new();
            while t.elapsed().as_secs_f64() < secs {
                sig = signer.sign_base64(msg).expect("sign");
                n += 1;
            }
            let cpu1 = thread_cpu_secs("rsa-bench");
            let t = Instant::now();
            let mut m = 0u64;
            while t.elapsed().as_secs_f64() < secs {
                verifier.verify_base64(msg, &sig).expect("verify");
                m += 1;
            }
            let cpu2 = thread_cpu_secs("rsa-bench");
            (
                n as f64 / (cpu1 - cpu0).max(0.01),
                m as f64 / (cpu2 - cpu1).max(0.01),
            )
        })
        .expect("thread")
        .join()
        .expect("rsa bench")
}

fn presign(method: &str, bizs: Vec<String>) -> Vec<Bytes> {
    let signer = Signer::from_text(simulator::DEMO_APP_PRIVATE_KEY).expect("demo key");
    let ts = protocol::clock::gateway_now();
    bizs.into_iter()
        .map(|b| {
            let r = sign_request(
                &signer,
                simulator::DEMO_APP_ID,
                method,
                &b,
                &ts,
                CommonOptions::default(),
            )
            .expect("sign");
            Bytes::from(r.body)
        })
        .collect()
}

fn drive(
    url: &str,
    bodies: Arc<Vec<Bytes>>,
    cycle: bool,
    secs: f64,
    conns: usize,
) -> (u64, u64, f64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("client runtime");
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let url = url.to_owned();
    let elapsed = rt.block_on(async {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(conns)
            .build_http();
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let (client, url, bodies, ok, bad, next) = (
                client.clone(),
                url.clone(),
                Arc::clone(&bodies),
                Arc::clone(&ok),
                Arc::clone(&bad),
                Arc::clone(&next),
            );
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if !cycle && i >= bodies.len() {
                        break;
                    }
                    let body = bodies[i % bodies.len()].clone();
                    let req = hyper::Request::post(url.as_str())
                        .header("content-type", protocol::request::FORM_CONTENT_TYPE)
                        .body(Full::new(body))
                        .expect("request");
                    match client.request(req).await {
                        Ok(resp) => {
                            let good = resp.status() == 200;
                            let b = resp
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let needle = b"\"code\":\"10000\"";
                            if good && b.windows(needle.len()).any(|w| w == needle) {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else if bad.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!(
                                    "first unexpected answer: {}",
                                    String::from_utf8_lossy(&b)
                                );
                            }
                        }
                        Err(_) => {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        start.elapsed().as_secs_f64()
    });
    (
        ok.load(Ordering::Relaxed),
        bad.load(Ordering::Relaxed),
        elapsed,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let conns: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);

    let (sign_rate, verify_rate) = rsa_rates(2.0);
    let limit = 1.0 / (1.0 / sign_rate + 1.0 / verify_rate);
    println!(
        "backend {}",
        Signer::from_text(simulator::DEMO_ALIPAY_PRIVATE_KEY)
            .expect("key")
            .backend()
    );
    println!("sign/s per core {sign_rate:.0}, verify/s per core {verify_rate:.0}");
    println!("signing limit per core (1 signature + 1 verification per request) {limit:.0} req/s");

    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sim-worker")
        .enable_all()
        .build()
        .expect("sim runtime");
    let handle = sim_rt
        .block_on(simulator::start(simulator::SimConfig::demo()))
        .expect("simulator starts");
    let url = handle.gateway_url();

    // Enough distinct pays for the run at up to 1.5x the signing limit.
    let n_pay = ((limit * 1.5 * secs) as usize).max(1000);
    let pays = presign(
        "alipay.trade.pay",
        (0..n_pay)
            .map(|i| {
                format!(
                    r#"{{"out_trade_no":"BENCH_{i}","scene":"bar_code","auth_code":"281234567890120000","subject":"bench","total_amount":"8.88"}}"#
                )
            })
            .collect(),
    );
    let queries = presign(
        "alipay.trade.query",
        (0..64)
            .map(|i| format!(r#"{{"out_trade_no":"BENCH_{i}"}}"#))
            .collect(),
    );

    for (name, bodies, cycle) in [
        ("alipay.trade.pay", pays, false),
        ("alipay.trade.query", queries, true),
    ] {
        let cpu0 = thread_cpu_secs("sim-worker");
        let rss0 = rss_bytes();
        let (ok, bad, elapsed) = drive(&url, Arc::new(bodies), cycle, secs, conns);
        let cpu = thread_cpu_secs("sim-worker") - cpu0;
        if name == "alipay.trade.pay" && ok > 0 {
            let grown = rss_bytes().saturating_sub(rss0);
            println!(
                "ledger memory: about {} bytes per paid trade (RSS growth over {ok} trades)",
                grown / ok
            );
        }
        let per_core = if cpu > 0.0 { ok as f64 / cpu } else { 0.0 };
        println!(
            "{name}: {ok} ok, {bad} other in {elapsed:.2} s = {:.0} req/s wall; simulator CPU {cpu:.2} s => {per_core:.0} req/s per core = {:.0}% of the signing limit",
            ok as f64 / elapsed,
            100.0 * per_core / limit
        );
    }
    sim_rt.block_on(handle.shutdown());
}
