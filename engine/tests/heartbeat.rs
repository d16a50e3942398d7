//! Heartbeats (交易保障) against the real simulator, at a shortened interval:
//! one `monitor.heartbeat.syn` per active terminal per interval, carrying
//! that terminal's barcode pays since its last heartbeat; a monitor that
//! fails every heartbeat does not stop payments, and the pays of a failed
//! heartbeat come with the next one.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const FAST: &str = "\n[heartbeat]\ninterval_secs = 1\n";

async fn heartbeats(sim: &simulator::SimHandle, equipment_id: &str) -> Vec<Value> {
    let (s, v) = sim_get(
        &sim.base_url(),
        &format!("/_sim/heartbeats?equipment_id={equipment_id}"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["heartbeats"].as_array().cloned().unwrap_or_default()
}

/// The out_trade_nos reported in a heartbeat's trade_info.
fn reported(h: &Value) -> Vec<String> {
    let Some(ti) = h["fields"]["trade_info"].as_str() else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(ti).expect("trade_info is a JSON array");
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(
                e["TC"].as_f64().is_some_and(|t| (0.0..=99.0).contains(&t)),
                "{e}"
            );
            assert!(
                matches!(e["STAT"].as_str(), Some("S" | "I" | "F" | "C")),
                "{e}"
            );
            e["OTN"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_heartbeat_per_terminal_per_interval_with_its_pays() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, FAST, |s| s).await;
    let t = Term::new(&base);
    let mut paid = Vec::new();
    for i in 0..3 {
        let no = format!("HB_{i}");
        let (s, v) = t.pay(&no, &auth_code("0000"), "1.00", 10).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
        paid.push(no);
    }
    // T1's terminal_id is POS_01 (common::config_text); T2 has none, so its
    // key id is its equipment_id.
    let hbs = eventually(Duration::from_secs(15), "heartbeats with the pays", || {
        let sim = &sim;
        let paid = paid.clone();
        async move {
            let hbs = heartbeats(sim, "POS_01").await;
            let all: Vec<String> = hbs.iter().flat_map(reported).collect();
            (hbs.len() >= 2 && paid.iter().all(|p| all.contains(p))).then_some(hbs)
        }
    })
    .await;
    for h in &hbs {
        assert_eq!(h["code"], "10000", "{h}");
        assert_eq!(h["fields"]["product"], "FP", "{h}");
        assert_eq!(h["fields"]["store_id"], "NJ_001", "{h}");
        assert!(h["fields"]["time"].as_str().is_some(), "{h}");
    }
    // Each pay is reported once.
    let all: Vec<String> = hbs.iter().flat_map(reported).collect();
    for p in &paid {
        assert_eq!(all.iter().filter(|x| *x == p).count(), 1, "{p}: {all:?}");
    }
    // No more than one per interval and terminal: in a bounded run the
    // count stays near elapsed seconds (never a storm).
    let t2 = heartbeats(&sim, "T2").await;
    assert!(!t2.is_empty(), "T2 has heartbeats too");
    let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
    assert!(
        sample_value(
            v.as_str().unwrap_or_default(),
            "payswitch_heartbeats_total{result=\"ok\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{v}"
    );
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_monitor_does_not_stop_payments() {
    let sim = sim().await;
    set_sim_profile(&sim, r#"{"behaviour": {"heartbeat_fail": true}}"#);
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, FAST, |s| s).await;
    let t = Term::new(&base);
    // Payments go on while every heartbeat fails.
    for i in 0..5 {
        let no = format!("HBF_{i}");
        let (s, v) = t.pay(&no, &auth_code("0000"), "1.00", 10).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eventually(Duration::from_secs(15), "failed heartbeats counted", || {
        let o = ops(&sw);
        async move {
            let (_, v) = o.raw("GET", "/metrics", vec![], None).await.ok()?;
            let text = v.as_str().unwrap_or_default().to_owned();
            sample_value(&text, "payswitch_heartbeats_total{result=\"failed\"}")
                .is_some_and(|n| n >= 1.0)
                .then_some(())
        }
    })
    .await;
    // The monitor recovers: the pays of the failed heartbeats come with the next one.
    set_sim_profile(&sim, r#"{"behaviour": {"heartbeat_fail": false}}"#);
    eventually(Duration::from_secs(15), "the held pays reported", || {
        let sim = &sim;
        async move {
            let hbs = heartbeats(sim, "POS_01").await;
            let ok: Vec<String> = hbs
                .iter()
                .filter(|h| h["code"] == "10000")
                .flat_map(reported)
                .collect();
            (0..5)
                .all(|i| ok.contains(&format!("HBF_{i}")))
                .then_some(())
        }
    })
    .await;
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// The real monitoring gateway answers heartbeats unsigned: such an answer
/// is taken as it stands (its code), not as a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unsigned_monitor_answer_is_accepted() {
    let sim = sim().await;
    set_sim_profile(&sim, r#"{"behaviour": {"heartbeat_unsigned": true}}"#);
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, FAST, |s| s).await;
    let t = Term::new(&base);
    let (s, v) = t.pay("HBU_1", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    eventually(
        Duration::from_secs(15),
        "heartbeats counted as delivered",
        || {
            let o = ops(&sw);
            async move {
                let (_, v) = o.raw("GET", "/metrics", vec![], None).await.ok()?;
                let text = v.as_str().unwrap_or_default().to_owned();
                sample_value(&text, "payswitch_heartbeats_total{result=\"ok\"}")
                    .is_some_and(|n| n >= 1.0)
                    .then_some(())
            }
        },
    )
    .await;
    let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
    assert_eq!(
        sample_value(
            v.as_str().unwrap_or_default(),
            "payswitch_heartbeats_total{result=\"failed\"}"
        )
        .unwrap_or(0.0),
        0.0,
        "{v}"
    );
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}
