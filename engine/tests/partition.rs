//! The network-partition acceptance test (issue 12).
//!
//! The real `alipay-sim` binary runs in its own network namespace behind a
//! veth pair; the switch runs in-process in the test's namespace. Under a
//! mixed load (pays of several magic values, cancels, queries, refunds) the
//! link is cut for 30 s by *dropping* every packet both ways (no reset: new
//! connections time out in SYN-SENT, kept-alive connections go half-open),
//! then restored. The cut is made with permanent neighbour entries that point
//! at a MAC address nobody has: frames still leave, the other end discards
//! them as addressed to another host. That needs only iproute2 (no netem, no
//! iptables, no kernel modules).
//!
//! Checked: the breaker opens during the cut (new pays answer 503
//! `gateway_unavailable`) and closes after it; queries and cancels still go
//! to the gateway during the cut; after the restore every trade is definite
//! within a minute, the journal agrees with the simulator's ledger trade by
//! trade (statuses, amounts, refunds), nothing is paid twice, and no trade a
//! terminal was told SUCCESS is missing at the gateway.
//!
//! The simulator's notifications reach the switch too: the switch also
//! listens on the host end of the veth pair and `gateway.notify_url` points
//! there (they are dropped during the cut and retried on the simulator's
//! schedule, like everything else).
//!
//! Needs root (`ip netns add`). Without it, or without the `alipay-sim`
//! binary next to the test's target directory, it prints "skipping: ..." and
//! passes; under `CI=true` it fails instead.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::journal::*;
use common::*;
use rand::Rng;
use serde_json::{json, Value};
use tokio::time::Instant;

const WARM: Duration = Duration::from_secs(10);
const CUT: Duration = Duration::from_secs(30);
const AFTER: Duration = Duration::from_secs(10);
/// Every trade must be definite this long after the restore.
const DEFINITE_WITHIN: Duration = Duration::from_secs(60);
const WORKERS: usize = 4;

// ---------------------------------------------------------------- the net

/// Skips (prints the reason) or, under CI=true, fails.
fn unavailable(reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the partition test cannot run under CI=true: {reason}");
    }
    println!("skipping: {reason}");
}

fn run(prog: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{prog} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{prog} {}: {} {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    run("ip", args)
}

/// The namespace, the veth pair and the simulator process in it; all of it
/// is removed on drop (also when the test panics).
struct Partition {
    ns: String,
    host_if: String,
    sim_if: String,
    host_ip: String,
    sim_ip: String,
    host_mac: String,
    sim_mac: String,
    sim: Option<Child>,
}

/// Frames to this address are discarded by the receiving veth end.
const NOBODY_MAC: &str = "02:00:00:de:ad:00";

impl Partition {
    /// Creates the namespace; Err(reason) when `ip netns` is not allowed.
    fn create() -> Result<Partition, String> {
        let mut rng = rand::thread_rng();
        let tag: u32 = rng.gen_range(0..0x10_0000);
        let x: u8 = rng.gen_range(1..=254);
        let k: u8 = rng.gen_range(0..64);
        let ns = format!("psw-part-{}-{tag:05x}", std::process::id());
        ip(&["netns", "add", &ns])?;
        let p = Partition {
            host_if: format!("pswp{tag:05x}h"),
            sim_if: format!("pswp{tag:05x}s"),
            host_ip: format!("10.213.{x}.{}", 4 * k + 1),
            sim_ip: format!("10.213.{x}.{}", 4 * k + 2),
            host_mac: format!("02:50:53:{:02x}:{:02x}:01", tag >> 12, (tag >> 4) & 0xff),
            sim_mac: format!("02:50:53:{:02x}:{:02x}:02", tag >> 12, (tag >> 4) & 0xff),
            ns,
            sim: None,
        };
        p.wire()?;
        Ok(p)
    }

    fn wire(&self) -> Result<(), String> {
        let (ns, h, s) = (
            self.ns.as_str(),
            self.host_if.as_str(),
            self.sim_if.as_str(),
        );
        ip(&[
            "link",
            "add",
            h,
            "address",
            &self.host_mac,
            "type",
            "veth",
            "peer",
            "name",
            s,
            "address",
            &self.sim_mac,
        ])?;
        ip(&["link", "set", s, "netns", ns])?;
        ip(&["addr", "add", &format!("{}/30", self.host_ip), "dev", h])?;
        ip(&["link", "set", h, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/30", self.sim_ip),
            "dev",
            s,
        ])?;
        ip(&["-n", ns, "link", "set", s, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // Static neighbours from the start: no ARP, so the cut is nothing
        // but frames addressed to nobody.
        self.neighbours(false)
    }

    /// Points both ends' neighbour entries at the real MACs, or (cut) at a
    /// MAC nobody has: every packet is silently dropped, both ways.
    fn neighbours(&self, cut: bool) -> Result<(), String> {
        let (to_sim, to_host) = if cut {
            (NOBODY_MAC, NOBODY_MAC)
        } else {
            (self.sim_mac.as_str(), self.host_mac.as_str())
        };
        ip(&[
            "neigh",
            "replace",
            &self.sim_ip,
            "dev",
            &self.host_if,
            "lladdr",
            to_sim,
            "nud",
            "permanent",
        ])?;
        ip(&[
            "-n",
            &self.ns,
            "neigh",
            "replace",
            &self.host_ip,
            "dev",
            &self.sim_if,
            "lladdr",
            to_host,
            "nud",
            "permanent",
        ])
    }

    fn start_sim(&mut self, bin: &Path, port: u16, log: &Path) -> Result<(), String> {
        let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(bin)
            .args([
                "--listen",
                &format!("{}:{port}", self.sim_ip),
                "--time-scale",
                "20",
                "--client-timeout-hint",
                "1.5",
                "--late-landing-ms",
                "1000",
                "--demo-direct",
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("ip netns exec {} {}: {e}", self.ns, bin.display()))?;
        self.sim = Some(child);
        Ok(())
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        if let Some(mut c) = self.sim.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = ip(&["netns", "del", &self.ns]) {
            eprintln!("cleanup: {e}");
        }
        // Deleting the namespace deletes its end and with it the pair; the
        // host end only remains if the move into the namespace failed.
        if Path::new("/sys/class/net").join(&self.host_if).exists() {
            if let Err(e) = ip(&["link", "del", &self.host_if]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// The `alipay-sim` binary of this build: `target/<profile>/alipay-sim`
/// beside `target/<profile>/deps/partition-*` (or `PAYSWITCH_ALIPAY_SIM`).
fn sim_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PAYSWITCH_ALIPAY_SIM") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let p = profile_dir.join("alipay-sim");
    p.is_file().then_some(p)
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// GET with a time-out; None on any error.
async fn try_get(url: &str, within: Duration) -> Option<(u16, Value)> {
    use http_body_util::{BodyExt, Full};
    let c = http_client();
    let req = http::Request::get(url)
        .body(Full::new(bytes::Bytes::new()))
        .ok()?;
    tokio::time::timeout(within, async {
        let resp = c.request(req).await.ok()?;
        let s = resp.status().as_u16();
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        Some((s, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    })
    .await
    .ok()?
}

// ---------------------------------------------------------------- metrics

/// The sum of metric `name`'s samples whose labels contain every one of `labels`.
async fn metric_with(t: &Term, name: &str, labels: &[&str]) -> f64 {
    let (_, v) = t.raw("GET", "/metrics", vec![], None).await.unwrap();
    v.as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, val) = l.rsplit_once(' ')?;
            let base = key.split('{').next()?;
            (base == name && labels.iter().all(|x| key.contains(x)))
                .then(|| val.trim().parse::<f64>().ok())?
        })
        .sum()
}

// ---------------------------------------------------------------- journal

/// The journal's events of one trade, oldest first.
fn events(path: &Path, no: &str) -> Vec<String> {
    let c = open_ro(path);
    let mut st = c
        .prepare("SELECT at_ms, kind, detail FROM events WHERE out_trade_no = ?1 ORDER BY id")
        .unwrap();
    let rows = st
        .query_map([no], |r| {
            Ok(format!(
                "{} {} {}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?.unwrap_or_default()
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

// ---------------------------------------------------------------- load

const PHASES: [&str; 3] = ["before", "cut", "after"];

/// What the terminals did and were told.
#[derive(Default)]
struct Told {
    /// Every out_trade_no a pay was sent for, with its magic value.
    attempted: BTreeMap<String, String>,
    /// The trades whose pay was answered 200 (queries and late cancels pick
    /// from these).
    accepted: Vec<String>,
    /// Definite statuses a terminal heard, per trade.
    heard: BTreeMap<String, BTreeSet<String>>,
    /// (operation, phase, answer) -> count; answer is "200 STATUS" or
    /// "CODE error_code" or "transport".
    answers: BTreeMap<(String, &'static str, String), usize>,
    refunded: BTreeSet<String>,
}

impl Told {
    fn note(&mut self, op: &str, phase: usize, no: &str, r: &Result<(u16, Value), String>) {
        let answer = match r {
            Ok((200, v)) => {
                if op == "pay" {
                    self.accepted.push(no.to_owned());
                }
                if op != "refund" {
                    if let Some(s) = v["status"].as_str() {
                        if DEFINITE.contains(&s) {
                            self.heard
                                .entry(no.to_owned())
                                .or_default()
                                .insert(s.to_owned());
                        }
                    }
                }
                format!("200 {}", v["status"].as_str().unwrap_or("?"))
            }
            Ok((s, v)) => format!("{s} {}", v["error"]["code"].as_str().unwrap_or("?")),
            Err(_) => "transport".to_owned(),
        };
        *self
            .answers
            .entry((op.to_owned(), PHASES[phase], answer))
            .or_default() += 1;
    }

    fn count(&self, op: &str, phase: &str, answer_prefix: &str) -> usize {
        self.answers
            .iter()
            .filter(|((o, p, a), _)| o == op && *p == phase && a.starts_with(answer_prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

type Shared = Arc<Mutex<Told>>;

fn pick_magic(rng: &mut impl Rng) -> &'static str {
    const MIX: [(&str, u32); 7] = [
        ("0000", 40),
        ("1003", 20),
        ("1004", 8),
        ("2000", 8),
        ("2001", 8),
        ("4005", 10),
        ("9001", 6),
    ];
    let total: u32 = MIX.iter().map(|m| m.1).sum();
    let mut r = rng.gen_range(0..total);
    for (m, w) in MIX {
        if r < w {
            return m;
        }
        r -= w;
    }
    "0000"
}

async fn worker(t: Term, told: Shared, phase: Arc<AtomicU8>, until: Instant, w: usize) {
    let mut n = 0usize;
    while Instant::now() < until {
        n += 1;
        let ph = phase.load(Ordering::SeqCst) as usize;
        let (roll, magic, pick): (f64, &str, f64) = {
            let mut rng = rand::thread_rng();
            (rng.gen(), pick_magic(&mut rng), rng.gen())
        };
        let earlier = {
            let g = told.lock().unwrap();
            let len = g.accepted.len();
            (len > 0).then(|| g.accepted[(pick * len as f64) as usize % len].clone())
        };
        if roll < 0.55 || earlier.is_none() {
            // A pay; some SUCCESS ones are partly refunded.
            let no = format!("P{w}x{n}x{}", nonce()[..6].to_owned());
            told.lock()
                .unwrap()
                .attempted
                .insert(no.clone(), magic.to_owned());
            let body = json!({"out_trade_no": no, "auth_code": auth_code(magic), "total_amount": "9.99", "subject": "partition"});
            let r = t.try_call("POST", "/v1/pay?wait=2", Some(&body)).await;
            told.lock().unwrap().note("pay", ph, &no, &r);
            if matches!(r, Ok((503, _))) {
                // The cashier waits a little before the next sale.
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if let Ok((200, v)) = &r {
                if v["status"] == "SUCCESS" && roll < 0.25 {
                    let ph = phase.load(Ordering::SeqCst) as usize;
                    let body = json!({"out_request_no": "R1", "refund_amount": "1.00"});
                    let r = t
                        .try_call("POST", &format!("/v1/trades/{no}/refunds"), Some(&body))
                        .await;
                    let mut g = told.lock().unwrap();
                    g.note("refund", ph, &no, &r);
                    g.refunded.insert(no.clone());
                }
            }
        } else if roll < 0.70 {
            // Pay and the cashier cancels at once.
            let no = format!("C{w}x{n}x{}", nonce()[..6].to_owned());
            told.lock()
                .unwrap()
                .attempted
                .insert(no.clone(), magic.to_owned());
            let body = json!({"out_trade_no": no, "auth_code": auth_code(magic), "total_amount": "9.99", "subject": "partition"});
            let r = t.try_call("POST", "/v1/pay?wait=0", Some(&body)).await;
            told.lock().unwrap().note("pay", ph, &no, &r);
            if matches!(r, Ok((503, _))) {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if matches!(r, Ok((200, _))) {
                let ph = phase.load(Ordering::SeqCst) as usize;
                let r = t
                    .try_call("POST", &format!("/v1/trades/{no}/cancel"), None)
                    .await;
                told.lock().unwrap().note("cancel", ph, &no, &r);
            }
        } else if let (true, Some(no)) = (roll < 0.88, earlier.as_ref()) {
            // A query of an earlier trade, asking the gateway.
            let r = t
                .try_call("GET", &format!("/v1/trades/{no}?refresh=1"), None)
                .await;
            told.lock().unwrap().note("query", ph, no, &r);
        } else if let Some(no) = earlier.as_ref() {
            // A late cancel of an earlier trade.
            let r = t
                .try_call("POST", &format!("/v1/trades/{no}/cancel"), None)
                .await;
            told.lock().unwrap().note("cancel", ph, no, &r);
        }
        let pause = rand::thread_rng().gen_range(20..80);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// Samples `payswitch_gateway_circuit_open` every 100 ms: (since start, open).
async fn sampler(ops: Term, t0: Instant, until: Instant) -> Vec<(Duration, bool)> {
    let mut out = vec![];
    while Instant::now() < until {
        let open = metric_with(&ops, "payswitch_gateway_circuit_open", &[]).await > 0.0;
        out.push((t0.elapsed(), open));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    out
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_of_the_gateway_link() {
    let Some(bin) = sim_binary() else {
        unavailable(
            "no alipay-sim binary beside the test's target directory \
             (cargo build -p alipay-sim, or set PAYSWITCH_ALIPAY_SIM)",
        );
        return;
    };
    let mut net = match Partition::create() {
        Ok(p) => p,
        Err(e) => {
            unavailable(&format!(
                "cannot make a network namespace ({e}); needs root"
            ));
            return;
        }
    };
    tokio::time::timeout(Duration::from_secs(150), scenario(&mut net, &bin))
        .await
        .expect("the partition test finishes within 150 s");
}

async fn scenario(net: &mut Partition, bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let sim_port = free_port();
    let sim_log = dir.path().join("alipay-sim.log");
    net.start_sim(bin, sim_port, &sim_log).unwrap();
    let sim_base = format!("http://{}:{sim_port}", net.sim_ip);
    let up = Instant::now() + Duration::from_secs(15);
    while try_get(
        &format!("{sim_base}/_sim/ledger/summary"),
        Duration::from_secs(1),
    )
    .await
    .is_none()
    {
        assert!(
            Instant::now() < up,
            "alipay-sim did not come up in {}:\n{}",
            net.ns,
            std::fs::read_to_string(&sim_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The switch: terminals on loopback; notifications on the veth's host end.
    let port = free_port();
    let notify_port = free_port();
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &format!("{sim_base}/gateway.do"),
        &format!("http://{}:{notify_port}/notify/alipay", net.host_ip),
        "late_landing_checks_ms = [300, 1000, 2000, 3500]",
    )
    .replace(
        &format!("listen = [\"127.0.0.1:{port}\"]"),
        &format!(
            "listen = [\"127.0.0.1:{port}\", \"{}:{notify_port}\"]",
            net.host_ip
        ),
    )
    .replace("breaker_failures = 1000", "breaker_failures = 5")
    .replace("breaker_cooldown_ms = 500", "breaker_cooldown_ms = 1000")
    .replace("unknown_retry_max_ms = 400", "unknown_retry_max_ms = 1000");
    let path = write_config(dir.path(), &text);
    let cfg = engine::Config::load(&path).expect("config loads");
    let running = engine::start(cfg).await.expect("switch starts");
    let journal = dir.path().join("journal.db");
    let t = Term::new(&format!("http://{}", running.local_addrs()[0]));
    let ops = ops(&running);
    let (s, v) = t.pay("warmup", &auth_code("0000"), "1.00", 5).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");

    // The load, the breaker sampler and the cut.
    let told: Shared = Arc::default();
    let phase = Arc::new(AtomicU8::new(0));
    let t0 = Instant::now();
    let load_until = t0 + WARM + CUT + AFTER;
    let mut tasks = vec![];
    for w in 0..WORKERS {
        tasks.push(tokio::spawn(worker(
            t.clone(),
            told.clone(),
            phase.clone(),
            load_until,
            w,
        )));
    }
    let samples = tokio::spawn(sampler(
        ops.clone(),
        t0,
        load_until + Duration::from_secs(15),
    ));
    let calls = |code: &'static str, method: &'static str| {
        let ops = ops.clone();
        async move {
            metric_with(
                &ops,
                "payswitch_gateway_calls_total",
                &[&format!("method=\"{method}\""), &format!("code=\"{code}\"")],
            )
            .await
        }
    };
    tokio::time::sleep_until(t0 + WARM).await;
    let q0 = calls("unknown", "alipay.trade.query").await;
    let c0 = calls("unknown", "alipay.trade.cancel").await;
    net.neighbours(true).expect("cut the link");
    phase.store(1, Ordering::SeqCst);
    let cut_at = t0.elapsed();
    println!(
        "partition: link cut at {:.1} s (unix ms {})",
        cut_at.as_secs_f64(),
        unix_ms()
    );
    tokio::time::sleep_until(t0 + WARM + CUT).await;
    let q_cut = calls("unknown", "alipay.trade.query").await - q0;
    let c_cut = calls("unknown", "alipay.trade.cancel").await - c0;
    net.neighbours(false).expect("restore the link");
    phase.store(2, Ordering::SeqCst);
    let restored = Instant::now();
    let restored_at = t0.elapsed();
    println!(
        "partition: link restored at {:.1} s (unix ms {})",
        restored_at.as_secs_f64(),
        unix_ms()
    );
    for h in tasks {
        h.await.unwrap();
    }

    // Every trade definite within a minute of the restore: the API for each
    // trade a terminal sent, and the journal (no watch, no UNKNOWN refund).
    let attempted: Vec<String> = told.lock().unwrap().attempted.keys().cloned().collect();
    let deadline = restored + DEFINITE_WITHIN;
    let mut open: Vec<String>;
    loop {
        open = vec![];
        for no in &attempted {
            let (s, v) = t.get(no).await;
            match s {
                404 => {}
                200 if DEFINITE.contains(&v["status"].as_str().unwrap_or("")) => {}
                _ => open.push(format!("{no}: {s} {v}")),
            }
        }
        if open.is_empty() {
            open = unsettled(&journal);
        }
        if open.is_empty() || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let definite_after = restored.elapsed();
    let samples = samples.await.unwrap();

    // The breaker: open during the cut, closed after it.
    let open_samples: Vec<Duration> = samples.iter().filter(|s| s.1).map(|s| s.0).collect();
    let first_open = open_samples.iter().find(|d| **d >= cut_at).copied();
    let last_open = open_samples.last().copied();
    let in_cut = samples
        .iter()
        .filter(|s| s.0 >= cut_at && s.0 < restored_at)
        .count()
        .max(1);
    let open_in_cut = samples
        .iter()
        .filter(|s| s.0 >= cut_at && s.0 < restored_at && s.1)
        .count();
    let open_after = samples.iter().filter(|s| s.0 >= restored_at && s.1).count();
    let closed_since = last_open.map_or(Duration::ZERO, |d| d.saturating_sub(restored_at));
    let (ready, ready_body) = ops.raw("GET", "/readyz", vec![], None).await.unwrap();

    // Journal against ledger, trade by trade.
    let (jtrades, jrefunds) = read_journal(&journal);
    let mut nos: BTreeSet<String> = attempted.iter().cloned().collect();
    nos.extend(jtrades.keys().cloned());
    let mut d: Vec<String> = vec![];
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let g = std::mem::take(&mut *told.lock().unwrap());
    for no in &nos {
        let l = try_get(
            &format!("{sim_base}/_sim/trades/{no}"),
            Duration::from_secs(5),
        )
        .await
        .expect("the simulator answers after the restore");
        let j = jtrades.get(no);
        check_trade(no, j, jrefunds.get(no).map_or(&[], |v| v), &l, &mut d);
        if let Some(j) = j {
            *by_status.entry(j.status.clone()).or_default() += 1;
            if DEFINITE.contains(&j.status.as_str()) && !agrees(&j.status, &l) {
                d.push(format!(
                    "{no}: switch {} disagrees with the ledger {}",
                    j.status, l.1
                ));
            }
        }
        if let Some(heard) = g.heard.get(no) {
            if heard.len() > 1 {
                d.push(format!("{no}: terminals were told {heard:?}"));
            }
            let final_status = j.map_or("NONE", |j| j.status.as_str());
            for h in heard {
                if h != final_status {
                    d.push(format!(
                        "{no}: a terminal was told {h}, the journal says {final_status}"
                    ));
                }
            }
            if heard.contains("SUCCESS") && !agrees("SUCCESS", &l) {
                d.push(format!(
                    "{no}: a terminal was told SUCCESS, the gateway has {}",
                    l.1
                ));
            }
        }
    }
    let (_, summary) = try_get(
        &format!("{sim_base}/_sim/ledger/summary"),
        Duration::from_secs(5),
    )
    .await
    .expect("the ledger summary");
    let max_pay_count = summary["max_pay_count"].as_u64().unwrap_or(0);
    if max_pay_count > 1 {
        d.push(format!(
            "the ledger has a trade paid {max_pay_count} times: {summary}"
        ));
    }

    // The summary.
    println!(
        "partition: {} trades sent ({} in the journal), by status {by_status:?}",
        attempted.len(),
        jtrades.len()
    );
    let mut answers: Vec<String> = g
        .answers
        .iter()
        .map(|((op, ph, a), n)| format!("{op}/{ph}/{a}: {n}"))
        .collect();
    answers.sort();
    println!("partition: terminal answers:\n  {}", answers.join("\n  "));
    println!(
        "partition: breaker first open {:?} after the cut, open in {open_in_cut} of {in_cut} samples of the cut ({:.0}%), last open {:.1} s after the restore ({open_after} open samples after it); readyz {ready} {ready_body}",
        first_open.map(|f| f.saturating_sub(cut_at)),
        100.0 * open_in_cut as f64 / in_cut as f64,
        closed_since.as_secs_f64(),
    );
    println!(
        "partition: during the cut the switch sent {q_cut} queries and {c_cut} cancels that got no answer"
    );
    println!(
        "partition: every trade definite {:.1} s after the restore; ledger summary {summary}",
        definite_after.as_secs_f64()
    );

    assert!(
        open.is_empty(),
        "not definite {:?} after the restore: {open:#?}",
        DEFINITE_WITHIN
    );
    if !d.is_empty() {
        let flagged: BTreeSet<&str> = d.iter().filter_map(|x| x.split(':').next()).collect();
        for no in flagged {
            println!(
                "partition: journal events of {no} (magic {:?}):\n  {}",
                g.attempted.get(no),
                events(&journal, no).join("\n  ")
            );
        }
    }
    assert!(d.is_empty(), "journal vs ledger: {d:#?}");
    assert!(
        first_open.is_some(),
        "the breaker never opened during the cut"
    );
    assert!(
        g.count("pay", "cut", "503 gateway_unavailable") > 0,
        "no pay was refused with 503 gateway_unavailable during the cut"
    );
    assert!(q_cut > 0.0, "no query went to the gateway during the cut");
    assert!(c_cut > 0.0, "no cancel went to the gateway during the cut");
    assert!(
        g.count("cancel", "cut", "503 gateway_unavailable") == 0,
        "a cancel was refused by the breaker"
    );
    assert!(
        g.count("query", "cut", "503 gateway_unavailable") == 0,
        "a query was refused by the breaker"
    );
    assert!(
        g.count("pay", "after", "200") > 0,
        "no pay was served after the restore"
    );
    assert_eq!(ready, 200, "readyz after the restore: {ready_body}");
    assert!(
        closed_since < Duration::from_secs(15),
        "the breaker was still open {closed_since:?} after the restore"
    );
    running.shutdown().await.unwrap();
}
