//! Reconciliation end to end: the switch (in-process) pays through the real
//! simulator, the simulator's clock moves a day on, `payswitch reconcile`
//! (the binary) downloads the simulator's bill and compares it with the
//! journal. One test per situation; each checks the report's JSON, the exit
//! code and the journal.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

async fn sim_json(base: &str, path: &str, body: Value) -> (u16, Value) {
    let c = http_client();
    let req = http::Request::post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let resp = c.request(req).await.expect("simulator answers");
    let s = resp.status().as_u16();
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

async fn shift_clock(sim: &simulator::SimHandle, secs: i64) {
    let (s, v) = sim_json(&sim.base_url(), "/_sim/clock", json!({"offset_secs": secs})).await;
    assert_eq!(s, 200, "{v}");
}

async fn inject(sim: &simulator::SimHandle, date: &str, kind: &str, no: &str) {
    let (s, v) = sim_json(
        &sim.base_url(),
        &format!("/_sim/bills/{date}/inject"),
        json!({"kind": kind, "out_trade_no": no}),
    )
    .await;
    assert_eq!(s, 200, "{kind}: {v}");
}

/// Runs `payswitch reconcile`; returns the exit code and the report.
fn reconcile(dir: &Path, date: &str, lang: &str) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_payswitch"))
        .args(["reconcile", "--config"])
        .arg(dir.join("payswitch.toml"))
        .args(["--date", date, "--lang", lang, "--out"])
        .arg(dir.join("recon"))
        .output()
        .expect("payswitch runs");
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = std::fs::read_to_string(dir.join("recon").join(format!("recon-{date}.json")))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (code, json, stderr)
}

fn settlement(dir: &Path, date: &str, unreconciled: bool) -> (i32, Value, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_payswitch"));
    c.args(["settlement", "--config"])
        .arg(dir.join("payswitch.toml"))
        .args(["--date", date, "--out"])
        .arg(dir.join("settlement"));
    if unreconciled {
        c.arg("--unreconciled");
    }
    let out = c.output().expect("payswitch runs");
    let json = std::fs::read_to_string(
        dir.join("settlement")
            .join(format!("settlement-{date}.json")),
    )
    .ok()
    .and_then(|t| serde_json::from_str(&t).ok())
    .unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn day_of(trade: &Value) -> String {
    trade["gmt_payment"].as_str().expect("gmt_payment")[..10].to_owned()
}

fn diffs<'a>(r: &'a Value, class: &str) -> Vec<&'a Value> {
    r["differences"]
        .as_array()
        .map(|a| a.iter().filter(|d| d["class"] == class).collect())
        .unwrap_or_default()
}

fn events_of(dir: &Path, no: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(dir.join("journal.db")).unwrap();
    let mut st = c
        .prepare("SELECT kind FROM events WHERE out_trade_no = ?1 ORDER BY id")
        .unwrap();
    let v = st
        .query_map([no], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    v
}

async fn refund(t: &Term, no: &str, req: &str, amount: &str) -> Value {
    let (s, v) = t
        .call(
            "POST",
            &format!("/v1/trades/{no}/refunds"),
            Some(&json!({"out_request_no": req, "refund_amount": amount})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "SUCCESS", "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_day_matches_and_settles_to_the_bills_totals() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let mut date = String::new();
    for (i, amount) in ["12.34", "0.01", "100.00", "8.88"].iter().enumerate() {
        let no = format!("C{i}");
        let (s, v) = t.pay(&no, &auth_code("0000"), amount, 10).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "SUCCESS", "{v}");
        date = day_of(&v);
    }
    refund(&t, "C2", "r1", "30.00").await;
    refund(&t, "C2", "r2", "70.00").await;
    refund(&t, "C0", "r1", "2.34").await;

    // Today's bill does not exist yet: exit 1, nothing recorded.
    let (code, _, err) = reconcile(dir.path(), &date, "en");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no bill"), "{err}");
    let (code, _, err) = settlement(dir.path(), &date, false);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has not been reconciled"), "{err}");

    shift_clock(&sim, 86_400).await;
    let (code, r, err) = reconcile(dir.path(), &date, "zh");
    assert_eq!(code, 0, "{err} {r:#}");
    assert_eq!(r["version"], 1);
    assert_eq!(r["bill_rows"], 7, "{r:#}");
    assert_eq!(r["matched"], 7, "{r:#}");
    assert_eq!(r["summary"]["open"], 0);
    assert_eq!(r["differences"].as_array().unwrap().len(), 0, "{r:#}");
    let md =
        std::fs::read_to_string(dir.path().join("recon").join(format!("recon-{date}.md"))).unwrap();
    assert!(md.contains("对账报告"), "{md}");
    for ext in ["csv", "html"] {
        assert!(dir
            .path()
            .join("recon")
            .join(format!("recon-{date}.{ext}"))
            .exists());
    }

    // The running switch publishes the last run's gauges (within 10 s).
    eventually(
        Duration::from_secs(20),
        "recon gauges on /metrics",
        || async {
            let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
            let text = v.as_str().unwrap_or_default().to_owned();
            text.contains("payswitch_recon_differences{class=\"bill_only\",resolved=\"false\"} 0")
                .then_some(())
        },
    )
    .await;

    let (code, s, err) = settlement(dir.path(), &date, false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s["source"], "reconciled");
    let tot = &s["totals"];
    assert_eq!(tot["trade_count"], r["bill"]["trade_count"], "{s:#} {r:#}");
    assert_eq!(tot["trade_amount"], r["bill"]["trade_amount"]);
    assert_eq!(tot["refund_count"], r["bill"]["refund_count"]);
    assert_eq!(tot["refund_amount"], r["bill"]["refund_amount"]);
    assert_eq!(tot["gateway_fee"], r["bill"]["service_fee"]);
    assert_eq!(tot["trade_amount"], "121.23");
    assert_eq!(tot["refund_amount"], "102.34");
    // Fees at 60 bps: 12.34 -> 0.07, 0.01 -> 0 (under a fen), 100.00 -> 0.60,
    // 8.88 -> 0.05; C2 fully refunded returns its 0.60, C0's 2.34 returns 0.01.
    assert_eq!(tot["merchant_fee"], "0.11", "{s:#}");
    assert_eq!(tot["net_amount"], "18.78", "{s:#}");
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_class_is_found_classified_and_settled_where_a_query_can() {
    // A 9003 payment lands 1.5 s after the connection drops; the switch's
    // late-landing watch looks at 100 and 300 ms only, and notifications are
    // off: the watch misses it, the bill shows it.
    let sim = sim_with(|c| c.late_landing = Duration::from_millis(1500)).await;
    set_sim_profile(&sim, "[notify]\nenabled = false\n");
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "late_landing_checks_ms = [100, 300]",
        |s| s,
    )
    .await;
    let t = Term::new(&base);
    let mut date = String::new();
    for no in ["OK1", "GONE", "AMT", "FEE", "RFD"] {
        let (s, v) = t.pay(no, &auth_code("0000"), "50.00", 10).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
        date = day_of(&v);
    }
    refund(&t, "RFD", "part", "10.00").await;
    let (_, v) = t.pay("LATE", &auth_code("9003"), "20.00", 30).await;
    assert_eq!(v["status"], "CLOSED", "{v}");
    eventually(
        Duration::from_secs(10),
        "the late landing is booked",
        || async {
            let l = sim_trade(&sim, "LATE").await;
            sim_holds_money(&l).then_some(())
        },
    )
    .await;
    let k = events_of(dir.path(), "LATE");
    assert!(k.iter().any(|k| k == "late_landing_watch_done"), "{k:?}");
    assert!(!k.iter().any(|k| k == "late_landing_undone"), "{k:?}");

    inject(&sim, &date, "remove_row", "GONE").await;
    inject(&sim, &date, "amount_off", "AMT").await;
    inject(&sim, &date, "fee_off", "FEE").await;
    inject(&sim, &date, "remove_refund", "RFD").await;
    inject(&sim, &date, "add_row", "NEVER_SEEN").await;
    shift_clock(&sim, 86_400).await;
    // The next day has income of its own, so the undo refund is covered.
    let (_, v) = t.pay("NEXT_DAY", &auth_code("0000"), "30.00", 10).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");

    let (code, r, err) = reconcile(dir.path(), &date, "en");
    assert_eq!(code, 2, "{err} {r:#}");
    let one = |class: &str| -> Value {
        let d: Vec<&Value> = diffs(&r, class)
            .into_iter()
            .filter(|d| d["entry"] == "trade")
            .collect();
        assert_eq!(d.len(), 1, "{class}: {r:#}");
        d[0].clone()
    };
    let d = one("journal_only");
    assert_eq!(
        (d["out_trade_no"].as_str(), d["resolved"].as_bool()),
        (Some("GONE"), Some(false)),
        "{d:#}"
    );
    assert!(
        d["resolution"].as_str().unwrap().contains("bill lacks"),
        "{d:#}"
    );
    let d = one("amount_mismatch");
    assert_eq!(d["out_trade_no"], "AMT", "{d:#}");
    assert!(!d["resolved"].as_bool().unwrap());
    let d = one("fee_mismatch");
    assert_eq!(d["out_trade_no"], "FEE", "{d:#}");
    let d = one("bill_only");
    assert_eq!(d["out_trade_no"], "NEVER_SEEN", "{d:#}");
    assert!(!d["resolved"].as_bool().unwrap());
    let d = one("status_mismatch");
    assert_eq!(d["out_trade_no"], "LATE", "{d:#}");
    assert_eq!(d["resolved"], true, "{d:#}");
    assert!(
        d["resolution"].as_str().unwrap().contains("refunded"),
        "{d:#}"
    );
    // The refund row RFD/part removed from the bill: a journal-only refund.
    let refunds: Vec<&Value> = r["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["entry"] == "refund")
        .collect();
    assert_eq!(refunds.len(), 1, "{r:#}");
    assert_eq!(refunds[0]["class"], "journal_only");
    assert_eq!(refunds[0]["out_request_no"], "part");
    assert_eq!(r["summary"]["classes"]["status_mismatch"]["resolved"], 1);
    assert_eq!(r["summary"]["open"], 5, "{r:#}");

    // The repair is in the journal, and the buyer has the money back.
    let k = events_of(dir.path(), "LATE");
    assert!(k.iter().any(|k| k == "recon_repair_sending"), "{k:?}");
    assert!(k.iter().any(|k| k == "recon_repair_done"), "{k:?}");
    let l = sim_trade(&sim, "LATE").await;
    assert_eq!(l.1["status"], "TRADE_CLOSED", "{l:?}");
    let (_, v) = t.get("LATE").await;
    assert_eq!(
        v["status"], "CLOSED",
        "what the terminal was told stays true: {v}"
    );

    // A second run of the date finds nothing new and refunds nothing twice.
    let (code, r2, err) = reconcile(dir.path(), &date, "en");
    assert_eq!(code, 2, "{err}");
    assert_eq!(r2["run"], 2);
    assert_eq!(r2["changes"]["previous_run"], 1);
    assert_eq!(r2["changes"]["new"].as_array().unwrap().len(), 0, "{r2:#}");
    // The simulator books the undo on the bill's own day (its ledger keeps
    // real time; the clock shift moves only "today"): the payment and its
    // reversal now net out on the bill, so the difference is gone.
    assert_eq!(diffs(&r2, "status_mismatch").len(), 0, "{r2:#}");
    assert_eq!(
        r2["changes"]["gone"],
        json!(["status_mismatch|LATE|"]),
        "{r2:#}"
    );
    assert_eq!(r2["summary"]["open"], 5, "{r2:#}");
    let l = sim_trade(&sim, "LATE").await;
    assert_eq!(l.1["refunds"].as_array().map(Vec::len), Some(1), "{l:?}");

    // The open differences keep the day from settling, unless asked.
    let (code, _, err) = settlement(dir.path(), &date, false);
    assert_eq!(code, 1);
    assert!(err.contains("open"), "{err}");
    let (code, s, err) = settlement(dir.path(), &date, true);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s["source"], "unreconciled");
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bills_are_errors_that_change_nothing() {
    use engine::recon::compare::{Book, JournalView, RateBook};
    use engine::recon::run::{compare_file, ReconError};

    struct NoJournal;
    impl JournalView for NoJournal {
        fn trade(
            &self,
            _: &str,
        ) -> Result<Option<engine::trade::Trade>, engine::store::StoreError> {
            Ok(None)
        }
        fn refund(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<engine::trade::Refund>, engine::store::StoreError> {
            Ok(None)
        }
        fn refunds_of(
            &self,
            _: &str,
        ) -> Result<Vec<engine::trade::Refund>, engine::store::StoreError> {
            Ok(vec![])
        }
    }
    struct NoRates;
    impl RateBook for NoRates {
        fn terminal(&self, _: &str) -> Option<(Option<Arc<str>>, engine::fees::FeeRates)> {
            None
        }
        fn smid(&self, _: &str) -> Option<engine::fees::FeeRates> {
            None
        }
    }

    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let (_, v) = t.pay("B1", &auth_code("0000"), "1.00", 10).await;
    let date = day_of(&v);
    shift_clock(&sim, 86_400).await;
    let (code, r, err) = reconcile(dir.path(), &date, "en");
    assert_eq!(code, 0, "{err} {r:#}");
    let good = std::fs::read(dir.path().join("recon").join(format!("bill-{date}.zip"))).unwrap();

    // The binary, on bills the gateway serves broken: exit 1, a message that
    // says what is wrong, and nothing recorded.
    let count = |sql: &str| -> i64 {
        let c = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
        c.query_row(sql, [], |r| r.get(0)).unwrap()
    };
    let runs = count("SELECT COUNT(*) FROM recon_runs");
    let events = count("SELECT COUNT(*) FROM events");
    for (kind, want) in [
        ("not_gbk", "UTF-8, not GBK"),
        ("truncate", "zip"),
        ("corrupt_file", "zip"),
    ] {
        let (s, v) = sim_json(
            &sim.base_url(),
            &format!("/_sim/bills/{date}/inject"),
            json!({"kind": kind}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (code, _, err) = reconcile(dir.path(), &date, "en");
        assert_eq!(code, 1, "{kind}: {err}");
        assert!(err.contains(want), "{kind}: {err}");
        assert_eq!(count("SELECT COUNT(*) FROM recon_runs"), runs, "{kind}");
        assert_eq!(count("SELECT COUNT(*) FROM events"), events, "{kind}");
    }

    let check = |name: &str, bytes: &[u8], want: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        match compare_file(&p, Book::new(), &NoJournal, &NoRates) {
            Err(e @ ReconError::Bill { .. }) => {
                let m = e.to_string();
                assert!(m.contains(want), "{name}: {m}");
            }
            Err(e) => panic!("{name}: {e}"),
            Ok(_) => panic!("{name}: read as a good bill"),
        }
    };
    check("corrupt.zip", b"PK\x03\x04 this is not a zip", "zip");
    check("truncated.zip", &good[..good.len() / 2], "zip");
    // A detail CSV in UTF-8 (not GBK) with a broken byte.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file(
        "x_20260605_业务明细.csv",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    std::io::Write::write_all(&mut z, b"#\xff\xfe\xfd\n").unwrap();
    let bytes = z.finish().unwrap().into_inner();
    check("encoding.zip", &bytes, "GBK");

    // An expired URL: the download comes 31 s (gateway time) after the
    // answer. Exit 1 and nothing recorded for the date.
    let runs_before = {
        let c = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
        c.query_row("SELECT COUNT(*) FROM recon_runs", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
    };
    let base_url = sim.base_url();
    fail::cfg_callback("recon_before_download", move || {
        let url = format!("{base_url}/_sim/clock");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async { sim_json_abs(&url, json!({"offset_secs": 86_400 + 31})).await });
        })
        .join()
        .unwrap();
    })
    .unwrap();
    let cfg = engine::Config::load(&dir.path().join("payswitch.toml")).unwrap();
    let ctx = engine::recon::run::context(cfg).await.unwrap();
    let e = engine::recon::reconcile(
        &ctx,
        &date,
        &dir.path().join("recon2"),
        engine::recon::Lang::En,
    )
    .await
    .unwrap_err();
    fail::remove("recon_before_download");
    ctx.store.close();
    assert!(matches!(e, ReconError::Download(_)), "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
    let c = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
    let runs_after: i64 = c
        .query_row("SELECT COUNT(*) FROM recon_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs_after, runs_before);
    sw.shutdown().await.unwrap();
}

async fn sim_json_abs(url: &str, body: Value) -> u16 {
    let c = http_client();
    let req = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    c.request(req)
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}
