//! The operator console in a real browser, with a trade paid by loadgen:
//! `loadgen run` (this crate's binary) pays through an in-process switch
//! against the real simulator on loopback; headless Chromium driven by
//! selenium (loadgen/tests/console_browser.py) then logs in through the
//! form, finds one of the trades loadgen paid by its out_trade_no and sees
//! the gateway's answers on its timeline; finds a 1004 trade cancelled
//! after polling and sees its 12 queries and the cancel; reconciles a day
//! whose bill has a row injected by the simulator, marks the difference
//! explained (the note is then in the journal); suspends a terminal (its
//! next payment is refused). Screenshots of these pages go to
//! `$PAYSWITCH_ARTIFACTS_DIR/console-screenshots` (default the test's
//! target tmp folder).
//!
//! Needs `chromium`, `chromedriver` (Debian's `chromium` and
//! `chromium-driver`) and a Python with selenium (`PAYSWITCH_BROWSER_PYTHON`,
//! default `python3`); .ci/run installs them. Without them the test prints why
//! and passes, except under CI=true, where it fails.
#![cfg(feature = "demo")]

#[path = "../../engine/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::console::*;
use common::*;
use serde_json::{json, Value};

/// The switch test config's app id (engine/tests/common `config_text`).
const APP_ID: &str = "2021000000000001";

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The browser's tools, or why they are missing.
fn tools() -> Result<(String, PathBuf, PathBuf), String> {
    let python = std::env::var("PAYSWITCH_BROWSER_PYTHON").unwrap_or_else(|_| "python3".into());
    let chromium = which("chromium")
        .or_else(|| which("chromium-browser"))
        .ok_or("no chromium on PATH (Debian: apt-get install chromium)")?;
    let driver = which("chromedriver")
        .ok_or("no chromedriver on PATH (Debian: apt-get install chromium-driver)")?;
    let ok = Command::new(&python)
        .args(["-c", "import selenium"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!(
            "{python} cannot import selenium (pip install selenium, or set PAYSWITCH_BROWSER_PYTHON)"
        ));
    }
    Ok((python, chromium, driver))
}

/// Runs `cmd` to its end, in a process group of its own that is killed
/// (the browser and its driver with it) after `limit`: its output, or why
/// not.
fn run_bounded(mut cmd: Command, limit: Duration) -> Result<Output, String> {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    // Drain the pipes meanwhile (a full pipe would stall the child).
    let out = child.stdout.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = std::io::Read::read_to_end(&mut o, &mut b);
            b
        })
    });
    let err = child.stderr.take().map(|mut o| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = std::io::Read::read_to_end(&mut o, &mut b);
            b
        })
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                // The group's id is the child's pid (process_group(0)).
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?} still ran after {limit:?}: killed"));
            }
            Err(e) => return Err(format!("{cmd:?}: {e}")),
        }
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok()).unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: join(out),
        stderr: join(err),
    })
}

/// `loadgen run` against the switch at `base`: a few plain payments signed
/// as terminal T1 of the test config, audited against the switch and the
/// simulator's ledger. Returns report.json.
async fn loadgen_pays(base: &str, sim: &simulator::SimHandle, dir: &Path) -> Value {
    let terminals = dir.join("loadgen-terminals.toml");
    std::fs::write(
        &terminals,
        format!(
            "[[terminals]]\nkey_id = \"T1\"\nsecret_hex = \"{}\"\n",
            hex::encode(SECRET)
        ),
    )
    .unwrap();
    let out = dir.join("loadgen-report");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.args([
        "run",
        "--target",
        "switch",
        "--url",
        base,
        "--sim",
        &sim.base_url(),
        "--mix",
        "pay",
        "--rate",
        "4",
        "--duration",
        "2s",
        "--requests",
        "6",
        "--pay-wait",
        "10",
        "--settle",
        "10s",
        // This machine is shared: a busy scheduler must not make the run
        // "invalid"; the lag check has tests of its own.
        "--max-lag",
        "1s",
    ])
    .arg("--terminals")
    .arg(&terminals)
    .arg("--out")
    .arg(&out)
    .current_dir(dir);
    let run = tokio::task::spawn_blocking(move || run_bounded(cmd, Duration::from_secs(120)))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("loadgen run: {e}"));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "loadgen run:\n{stdout}\n{stderr}"
    );
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.join("report.json")).expect("loadgen wrote report.json"),
    )
    .unwrap();
    assert_eq!(report["target"]["kind"], "switch", "{stdout}");
    assert_eq!(report["total"]["errors"], 0, "{}", report["total"]);
    assert_eq!(report["audit"]["passed"], true, "{}", report["audit"]);
    report
}

/// A trade that loadgen's run paid: the first of its out_trade_no (run id
/// and a 10-digit sequence number from 0) that the switch's journal holds
/// as SUCCESS and the simulator's ledger as paid. Returns the trade.
async fn paid_by_loadgen(
    sw: &engine::Running,
    sim: &simulator::SimHandle,
    report: &Value,
) -> engine::Trade {
    let run_id = report["run_id"]
        .as_str()
        .expect("report.json names its run");
    let requests = report["total"]["requests"].as_u64().unwrap_or(0);
    assert!(requests > 0, "loadgen sent nothing: {}", report["total"]);
    for seq in 0..requests {
        let no = format!("{run_id}{seq:010}");
        let store = sw.store();
        let n2 = no.clone();
        let t = tokio::task::spawn_blocking(move || store.trade(APP_ID, &n2))
            .await
            .unwrap()
            .unwrap();
        let Some(t) = t else { continue };
        if t.status != engine::Status::Success {
            continue;
        }
        let ledger = sim_trade(sim, &t.out_trade_no).await;
        assert_eq!(ledger.1["status"], "TRADE_SUCCESS", "{no}: {ledger:?}");
        return t;
    }
    panic!("no trade of loadgen's run {run_id} ({requests} requests) is SUCCESS in the journal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_headless_chromium_finds_a_trade_loadgen_paid() {
    let (python, chromium, driver) = match tools() {
        Ok(t) => t,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the browser test cannot run under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("console_browser skipped: {why}");
            return;
        }
    };
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base, admin) = console_switch(dir.path(), &sim).await;

    // The paid trade: loadgen's.
    let report = loadgen_pays(&base, &sim, dir.path()).await;
    let paid = paid_by_loadgen(&sw, &sim, &report).await;
    let paid_no = paid
        .terminal_no
        .clone()
        .unwrap_or(paid.out_trade_no.clone());
    let date = paid
        .gmt_payment
        .as_deref()
        .expect("a paid trade's gmt_payment")[..10]
        .to_owned();
    eprintln!(
        "loadgen run {} paid {paid_no} (gateway {}) on {date}",
        report["run_id"], paid.out_trade_no
    );

    // A merchant onboarded through the admin API, with a store and a
    // terminal (suspended from the console below).
    let term = onboard_terminal(&admin, &base, "BRM1", "BR_S1", "BR_POS1").await;
    let key = term.key.clone();

    // The 1004 trade: 12 queries, then the cancel.
    let t = Term::new(&base);
    let (s, v) = t.pay("BR_1004", &auth_code("1004"), "20.00", 30).await;
    assert_eq!(s, 200, "{v}");
    let v = t.until_final("BR_1004", Duration::from_secs(30)).await;
    assert_eq!(v["status"], "CLOSED", "{v}");
    let (s, v) = term.pay("BR_T_1", &auth_code("0000"), "9.90", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // The cancel's answer is journaled after the terminal saw CLOSED.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A row the switch never saw, in the day's bill; the day becomes yesterday.
    let sim_base = sim.base_url();
    let (s, v) = post_json(
        &format!("{sim_base}/_sim/bills/{date}/inject"),
        &json!({"kind": "add_row", "out_trade_no": "BR_NEVER_SEEN"}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = post_json(
        &format!("{sim_base}/_sim/clock"),
        &json!({"offset_secs": 86_400}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let out = std::env::var_os("PAYSWITCH_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
        .join("console-screenshots");
    let _ = std::fs::remove_dir_all(&out);
    let note = "explained in the browser test: injected row";
    let plan = json!({
        "admin": admin, "token": OPS_TOKEN, "out": out, "chromium": chromium,
        "chromedriver": driver, "paid": paid_no, "paid_gateway_no": paid.out_trade_no,
        "polled": "BR_1004", "polled_gateway_no": "BR_1004", "date": date,
        "never_seen": "BR_NEVER_SEEN", "note": note, "key_id": key,
    });
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console_browser.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).arg(plan_path);
    let run = tokio::task::spawn_blocking(move || run_bounded(cmd, Duration::from_secs(300)))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the browser run: {e}"));
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(
        run.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    let seen: Value =
        serde_json::from_str(stdout.trim().lines().last().unwrap_or("{}")).unwrap_or(Value::Null);
    assert_eq!(seen["queries"], 12, "{seen}");
    let shots = seen["screenshots"].as_array().cloned().unwrap_or_default();
    assert!(shots.len() >= 9, "{seen}");
    for s in &shots {
        let p = Path::new(s.as_str().unwrap());
        assert!(
            std::fs::metadata(p)
                .map(|m| m.len() > 1000)
                .unwrap_or(false),
            "{p:?}"
        );
    }
    eprintln!("console screenshots: {}", out.display());

    // The note is in the journal.
    let (d, _) = explained_note(&sw, &date).await;
    assert_eq!(
        (d["note"].as_str(), d["out_trade_no"].as_str()),
        (Some(note), Some("BR_NEVER_SEEN"))
    );
    // The suspended terminal's next payment is refused.
    let (s, v) = term.pay("BR_T_2", &auth_code("0000"), "9.90", 10).await;
    assert_eq!(s, 403, "{v}");
    sw.shutdown().await.unwrap();
}
