//! The real `payswitch` binary against the real simulator: graceful shutdown
//! on SIGTERM, `keygen`, and the crash test (SIGKILL at random moments under a
//! stream of payments, restart on the same journal, then journal vs ledger).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use parking_lot::Mutex;
use rand::Rng;
use serde_json::json;

fn spawn_switch(dir: &Path, config: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("switch.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_payswitch"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("payswitch starts")
}

async fn wait_healthy(t: &Term) {
    for _ in 0..200 {
        if let Ok((200, _)) = t.raw("GET", "/healthz", vec![], None).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the switch did not come up");
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the switch did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (status, phase) of every trade in the journal file.
fn journal(path: &Path) -> BTreeMap<String, (String, String)> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut st = c
        .prepare("SELECT out_trade_no, status, phase FROM trades")
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get::<_, String>(1)?, r.get::<_, String>(2)?),
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binary_serves_then_drains_on_sigterm() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        "",
    );
    let cfg = write_config(dir.path(), &text);
    let mut child = spawn_switch(dir.path(), &cfg);
    let t = Term::new(&format!("http://127.0.0.1:{port}"));
    wait_healthy(&t).await;
    let (s, v) = t.pay("BIN_1", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // A 10003 trade in flight when SIGTERM arrives: the switch finishes or
    // leaves it to recovery; either way it exits cleanly and in time.
    let (_, v) = t.pay("BIN_2", &auth_code("1003"), "1.00", 0).await;
    assert_eq!(v["status"], "PAYING");
    sigterm(&child);
    let st = wait_exit(&mut child, Duration::from_secs(10));
    assert!(st.success(), "{st:?}");
    let j = journal(&dir.path().join("journal.db"));
    assert_eq!(j["BIN_1"].0, "SUCCESS");
    // Restart: recovery drives BIN_2 to its end.
    let mut child = spawn_switch(dir.path(), &cfg);
    wait_healthy(&t).await;
    let v = t.until_final("BIN_2", Duration::from_secs(20)).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/BIN_2").await;
    assert!(agrees("SUCCESS", &ledger), "{ledger:?}");
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());
    sim.shutdown().await;
}

#[test]
fn keygen_writes_alipay_key_tool_formats() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_payswitch"))
        .args(["keygen", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let m = std::fs::metadata(dir.path().join("app-private.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(m & 0o777, 0o600);
    for f in ["app-private.txt", "app-public.pem", "app-public.txt"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let again = Command::new(env!("CARGO_BIN_EXE_payswitch"))
        .args(["keygen", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!again.status.success(), "keygen must not overwrite keys");
}

#[test]
fn bad_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:1", "ftp://nowhere", "http://x/n", "");
    let cfg = write_config(dir.path(), &text);
    let out = Command::new(env!("CARGO_BIN_EXE_payswitch"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gateway.url"), "{err}");
}

/// SIGKILL the switch three times at random moments under a stream of
/// payments (10000, 10003 paid and unpaid, 20000 paid and not, 40004),
/// restart it on the same journal each time, then check: every SUCCESS a
/// terminal heard is SUCCESS in the journal, nothing was paid twice, every
/// trade is definite, and the journal agrees with the simulator's ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_test_sigkill_and_restart() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("{base}/notify/alipay"),
        "",
    );
    let cfg = write_config(dir.path(), &text);
    let mut child = spawn_switch(dir.path(), &cfg);
    let t = Term::new(&base);
    wait_healthy(&t).await;

    let told: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let attempted: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let endings = [
        "0000", "0000", "0000", "1003", "1004", "2000", "2001", "4004",
    ];
    let mut workers = Vec::new();
    for w in 0..6 {
        let (t, told, attempted, stop) = (
            Term::new(&base),
            told.clone(),
            attempted.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let no = format!("CR_{w}_{i}");
                let last4 = endings[rand::thread_rng().gen_range(0..endings.len())];
                let body = json!({"out_trade_no": no, "auth_code": auth_code(last4), "total_amount": "9.99", "subject": "crash"});
                attempted.lock().push(no.clone());
                // A terminal retries the same request until the switch answers.
                loop {
                    match t.try_call("POST", "/v1/pay?wait=5", Some(&body)).await {
                        Ok((200, v)) => {
                            told.lock().insert(no.clone(), v["status"].as_str().unwrap_or("?").to_owned());
                            break;
                        }
                        Ok((503, _)) | Err(_) => tokio::time::sleep(Duration::from_millis(30)).await,
                        Ok((s, v)) => panic!("{no}: unexpected {s} {v}"),
                    }
                }
            }
        }));
    }
    for _ in 0..3 {
        let ms = rand::thread_rng().gen_range(300..1500);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        child = spawn_switch(dir.path(), &cfg);
        wait_healthy(&t).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("workers finish")
            .unwrap();
    }
    // Let every trade become definite (recovery, polls, cancels).
    let attempted = attempted.lock().clone();
    for no in &attempted {
        let (s, v) = t.get(no).await;
        if s == 404 {
            continue;
        }
        if !matches!(v["status"].as_str(), Some("SUCCESS" | "FAILED" | "CLOSED")) {
            t.until_final(no, Duration::from_secs(30)).await;
        }
    }
    sigterm(&child);
    assert!(wait_exit(&mut child, Duration::from_secs(10)).success());

    let j = journal(&dir.path().join("journal.db"));
    let told = told.lock().clone();
    let mut differences = Vec::new();
    for (no, heard) in &told {
        if heard == "SUCCESS" && j.get(no).map(|x| x.0.as_str()) != Some("SUCCESS") {
            differences.push(format!(
                "{no}: terminal heard SUCCESS, journal {:?}",
                j.get(no)
            ));
        }
    }
    for no in &attempted {
        let ledger = sim_get(&sim.base_url(), &format!("/_sim/trades/{no}")).await;
        if ledger.0 == 200 && ledger.1["pay_count"].as_u64().unwrap_or(0) > 1 {
            differences.push(format!("{no}: paid {} times", ledger.1["pay_count"]));
        }
        match j.get(no) {
            None => {
                if ledger.0 != 404 {
                    differences.push(format!("{no}: not in the journal, simulator {ledger:?}"));
                }
            }
            Some((status, phase)) => {
                if !matches!(status.as_str(), "SUCCESS" | "FAILED" | "CLOSED") {
                    differences.push(format!("{no}: not definite ({status}, {phase})"));
                } else if !agrees(status, &ledger) {
                    differences.push(format!("{no}: journal {status}, simulator {ledger:?}"));
                }
            }
        }
    }
    let recovered = {
        let c = rusqlite::Connection::open_with_flags(
            dir.path().join("journal.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        c.query_row(
            "SELECT COUNT(DISTINCT out_trade_no) FROM events WHERE kind = 'recovery'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    eprintln!(
        "crash test: {} trades attempted, {} answered, {} in the journal, {recovered} picked up by recovery, 3 SIGKILLs",
        attempted.len(),
        told.len(),
        j.len()
    );
    assert!(attempted.len() > 20, "too few trades: {}", attempted.len());
    assert!(
        recovered > 0,
        "no kill hit a trade in flight; recovery was not exercised"
    );
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    sim.shutdown().await;
}
