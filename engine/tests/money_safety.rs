//! The findings of the money-safety review, one test each, against the real
//! simulator: what the switch tells a terminal stays true at the gateway,
//! whatever the race, the journal or the gateway does.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const APP: &str = "2021000000000001";

fn kinds(sw: &engine::Running, no: &str) -> Vec<String> {
    sw.store()
        .events(APP, no)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

fn incident_kinds(sw: &engine::Running, no: &str) -> Vec<String> {
    sw.store()
        .incidents(Some(no))
        .unwrap()
        .into_iter()
        .map(|i| i.kind)
        .collect()
}

/// The gateway methods whose answers the journal holds for `no`, in order.
fn answered_methods(sw: &engine::Running, no: &str) -> Vec<String> {
    sw.store()
        .events(APP, no)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "gateway_answer")
        .filter_map(|e| {
            let d: Value = serde_json::from_str(&e.detail).ok()?;
            d["method"].as_str().map(str::to_owned)
        })
        .collect()
}

fn is_final(s: &str) -> bool {
    matches!(s, "SUCCESS" | "FAILED" | "CLOSED")
}

/// Finding 1: a cancel sent the instant after `pay?wait=0` never overtakes
/// the switch's own pay request; before the send it stops it (nothing sent),
/// after it, it waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding1_cancel_cannot_overtake_the_pay() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Arc::new(Term::new(&base));
    let lasts = ["0000", "9001", "1003", "1004", "2000"];
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let t = t.clone();
            let last = lasts[i % lasts.len()];
            tokio::spawn(async move {
                let no = format!("F1_{last}_{i}");
                let (s, v) = t.pay(&no, &auth_code(last), "3.00", 0).await;
                assert_eq!(s, 200, "{no}: {v}");
                let (s, v) = t
                    .call("POST", &format!("/v1/trades/{no}/cancel"), None)
                    .await;
                let told = match s {
                    200 => {
                        assert_eq!(v["status"], "CLOSED", "{no}: {v}");
                        "CLOSED"
                    }
                    409 => {
                        assert_eq!(v["error"]["code"], "trade_state", "{no}: {v}");
                        "SUCCESS"
                    }
                    _ => panic!("{no}: cancel answered {s} {v}"),
                };
                (no, told)
            })
        })
        .collect();
    let mut done = Vec::new();
    for task in tasks {
        done.push(task.await.unwrap());
    }
    let check = |no: &str, told: &str, status: &str, ledger: &(u16, Value)| {
        assert_eq!(status, told, "{no}: the terminal was told {told}");
        assert!(
            !(status == "CLOSED"
                && matches!(
                    ledger.1["status"].as_str(),
                    Some("TRADE_SUCCESS" | "TRADE_FINISHED" | "WAIT_BUYER_PAY")
                )),
            "{no}: the switch says CLOSED, the gateway {ledger:?}"
        );
        assert!(agrees(status, ledger), "{no}: {status} vs {ledger:?}");
    };
    let mut stopped = 0;
    for (no, told) in &done {
        let v = t.until_final(no, Duration::from_secs(20)).await;
        let status = v["status"].as_str().unwrap().to_owned();
        let ledger = sim_trade(&sim, no).await;
        check(no, told, &status, &ledger);
        let k = kinds(&sw, no);
        if k.iter().any(|k| k == "stopped_before_send") {
            // Stopped before the send: no pay ever reached the gateway.
            stopped += 1;
            assert_eq!(status, "CLOSED", "{no}");
            assert_eq!(ledger.0, 404, "{no}: {ledger:?}");
            assert!(ledger.1.get("pending_late_landing").is_none(), "{ledger:?}");
            assert!(
                !answered_methods(&sw, no).contains(&"alipay.trade.pay".to_owned()),
                "{no}: {k:?}"
            );
        }
    }
    eprintln!(
        "finding1: {stopped} of {} stopped before the send",
        done.len()
    );
    // The same race without the HTTP round trip between the two requests:
    // the cancel comes before the pay task has sent anything, so it stops
    // the send (CLOSED, `stopped_before_send`, nothing at the gateway).
    let flows = sw.flows();
    let term = flows.config().terminals[0].clone();
    let mut direct = Vec::new();
    for i in 0..30 {
        let last = lasts[i % lasts.len()];
        let no = format!("F1D_{last}_{i}");
        let order = engine::flow::PayOrder {
            out_trade_no: protocol::OutTradeNo::parse(&no).unwrap(),
            auth_code: protocol::AuthCode::parse(&auth_code(last)).unwrap(),
            total_amount: protocol::Money::parse_amount("3.00").unwrap(),
            subject: protocol::Subject::parse("test goods").unwrap(),
            scene: protocol::Scene::BarCode,
            body: None,
            operator_id: None,
            timeout_express: None,
            goods_detail: None,
        };
        let paid = flows.pay(&term, order, Duration::ZERO).await.unwrap();
        let told = match flows.cancel(&term, &no).await {
            Ok(tr) => {
                assert_eq!(tr.status.as_str(), "CLOSED", "{no}");
                "CLOSED"
            }
            Err(engine::flow::FlowError::NotAllowed(_)) => "SUCCESS",
            Err(e) => panic!("{no}: {e} (pay answered {})", paid.status.as_str()),
        };
        direct.push((no, told));
    }
    let mut direct_stopped = 0;
    for (no, told) in &direct {
        let v = t.until_final(no, Duration::from_secs(20)).await;
        let status = v["status"].as_str().unwrap().to_owned();
        let ledger = sim_trade(&sim, no).await;
        check(no, told, &status, &ledger);
        if kinds(&sw, no).iter().any(|k| k == "stopped_before_send") {
            direct_stopped += 1;
            assert_eq!(status, "CLOSED", "{no}");
            assert!(
                answered_methods(&sw, no).is_empty(),
                "{no}: stopped before the send, yet the gateway was called"
            );
        }
    }
    eprintln!(
        "finding1: {direct_stopped} of {} direct cancels stopped the send",
        direct.len()
    );
    assert!(
        direct_stopped > 0,
        "no cancel ever came before the send: the stop-before-send path is not exercised"
    );
    done.extend(direct);
    // Past the simulator's hold (1.5 s): nothing the switch sent lands later.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    for (no, told) in &done {
        let (_, v) = t.get(no).await;
        let ledger = sim_trade(&sim, no).await;
        check(no, told, v["status"].as_str().unwrap(), &ledger);
        if ledger.0 == 200 {
            assert!(
                ledger.1["pay_count"].as_u64().unwrap_or(0) <= 1,
                "{ledger:?}"
            );
        }
        if kinds(&sw, no).iter().any(|k| k == "stopped_before_send") {
            // Neither a pay nor a cancel ever reached the gateway.
            assert_eq!(ledger.0, 404, "{no}: {ledger:?}");
            assert!(
                ledger.1.get("pending_late_landing").is_none()
                    && ledger.1.get("cancelled_unknown").is_none(),
                "{no}: {ledger:?}"
            );
        }
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// One combination of finding 2, on its own simulator and switch.
async fn late_landing_case(cancel_unknown: &'static str, late_pay: &'static str) {
    let sim = sim_with(|c| c.late_landing = Duration::from_millis(1500)).await;
    set_sim_profile(
        &sim,
        &json!({"behaviour": {"cancel_unknown": cancel_unknown, "late_pay_after_cancel": late_pay}})
            .to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "late_landing_checks_ms = [500, 1500, 3000, 5000]",
        |s| s,
    )
    .await;
    let t = Term::new(&base);
    let no = format!("F2_{cancel_unknown}_{late_pay}");
    let case = format!("{cancel_unknown} x {late_pay}");
    let (s, v) = t.pay(&no, &auth_code("9003"), "9.00", 30).await;
    assert_eq!(s, 200, "{case}: {v}");
    let v = if is_final(v["status"].as_str().unwrap_or("")) {
        v
    } else {
        t.until_final(&no, Duration::from_secs(15)).await
    };
    assert_eq!(v["status"], "CLOSED", "{case}: {v}");
    // The watch runs its window out (or ends when it sees TRADE_CLOSED).
    eventually(
        Duration::from_secs(20),
        &format!("{case}: watch done"),
        || {
            let k = kinds(&sw, &no);
            async move {
                k.iter()
                    .any(|k| k == "late_landing_watch_done")
                    .then_some(())
            }
        },
    )
    .await;
    let ledger = sim_trade(&sim, &no).await;
    let k = kinds(&sw, &no);
    let undone = k.iter().any(|k| k == "late_landing_undone");
    let landings = metric_sum(&ops(&sw), "payswitch_late_landings_total").await;
    match late_pay {
        "lands" => {
            assert_eq!(ledger.0, 200, "{case}: {ledger:?}");
            assert_eq!(ledger.1["landed_late"], true, "{case}: {ledger:?}");
            assert_eq!(ledger.1["status"], "TRADE_CLOSED", "{case}: {ledger:?}");
            assert!(undone, "{case}: {k:?}");
            assert!(landings >= 1.0, "{case}: late landings {landings}");
        }
        _ => {
            assert_eq!(ledger.0, 404, "{case}: {ledger:?}");
            assert!(ledger.1.get("pending_late_landing").is_none(), "{ledger:?}");
            assert!(!undone, "{case}: {k:?}");
            assert_eq!(landings, 0.0, "{case}");
        }
    }
    assert!(agrees("CLOSED", &ledger), "{case}: {ledger:?}");
    let (_, v) = t.get(&no).await;
    assert_eq!(
        v["status"], "CLOSED",
        "{case}: what the terminal was told: {v}"
    );
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Finding 2: a 9003 payment that lands after the switch told the terminal
/// CLOSED is undone, whatever the gateway answers to the cancel of an
/// unbooked trade and whether it books a pay after such a cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding2_late_landing_is_undone() {
    let mut tasks = Vec::new();
    for cancel_unknown in ["success", "trade_not_exist"] {
        for late_pay in ["lands", "refused"] {
            tasks.push(tokio::spawn(late_landing_case(cancel_unknown, late_pay)));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Finding 3: with the journal failing for real (SQLITE_FULL), no answer
/// loses a trade: 503 `journal_unavailable` (nothing sent) or a 200 whose
/// trade ends definite and as the gateway's ledger says once the journal
/// works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding3_journal_outage_strands_nothing() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "journal_retry_initial_ms = 20\njournal_retry_max_ms = 200",
        |s| s,
    )
    .await;
    let t = Arc::new(Term::new(&base));
    let mut accepted: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for i in 0..5 {
        let no = format!("F3_WARM_{i}");
        let (s, v) = t.pay(&no, &auth_code("0000"), "2.00", 10).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
        accepted.push(no);
    }
    // Payments on the wire when the journal fills up: their answers cannot
    // be journaled until it works again.
    for (i, last) in ["9001", "9001", "1003", "1003", "2000", "1004", "0000"]
        .iter()
        .enumerate()
    {
        let no = format!("F3_FLIGHT_{last}_{i}");
        let (s, v) = t.pay(&no, &auth_code(last), "2.00", 0).await;
        assert_eq!(s, 200, "{no}: {v}");
        accepted.push(no);
    }
    let cap = sw.set_journal_max_pages(1).await.unwrap();
    eprintln!("finding3: journal capped at {cap} pages");
    let classify = |no: &str, s: u16, v: &Value| -> bool {
        match s {
            200 => true,
            503 => {
                assert_eq!(v["error"]["code"], "journal_unavailable", "{no}: {v}");
                false
            }
            _ => panic!("{no}: {s} {v}"),
        }
    };
    // Fill what room is left until the journal refuses.
    let mut full = false;
    for i in 0..200 {
        let no = format!("F3_FILL_{i}");
        let (s, v) = t.pay(&no, &auth_code("0000"), "2.00", 2).await;
        if classify(&no, s, &v) {
            accepted.push(no);
        } else {
            refused.push(no);
            full = true;
            break;
        }
    }
    assert!(full, "the capped journal never refused a payment");
    // During the outage: several kinds of payment at once.
    let mut tasks = Vec::new();
    for last in ["0000", "1003", "2000", "9001"] {
        for j in 0..3 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let no = format!("F3_OUT_{last}_{j}");
                let (s, v) = t.pay(&no, &auth_code(last), "2.00", 3).await;
                (no, s, v)
            }));
        }
    }
    for task in tasks {
        let (no, s, v) = task.await.unwrap();
        if classify(&no, s, &v) {
            accepted.push(no);
        } else {
            refused.push(no);
        }
    }
    // /readyz says the journal fails (a refused payment refreshes it).
    let o = Arc::new(ops(&sw));
    let mut probe = 0;
    let ready = eventually(
        Duration::from_secs(10),
        "readyz reports the journal",
        || {
            probe += 1;
            let t = t.clone();
            let o = o.clone();
            async move {
                let no = format!("F3_PROBE_{probe}");
                let (s, v) = t.pay(&no, &auth_code("0000"), "2.00", 1).await;
                let (rs, rv) = o.raw("GET", "/readyz", vec![], None).await.unwrap();
                Some((no, s, v, rs, rv)).filter(|x| x.3 == 503 && x.4["journal"] == "failing")
            }
        },
    )
    .await;
    let (no, s, v, _, rv) = ready;
    eprintln!("finding3: readyz {rv}");
    if classify(&no, s, &v) {
        accepted.push(no);
    } else {
        refused.push(no);
    }
    assert!(
        metric_sum(&ops(&sw), "payswitch_journal_failures_total").await > 0.0,
        "journal failures not counted"
    );
    // Past the 9001 hold and the switch's time-out, still failing: the
    // answers of the payments in flight are held, unpublished.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (rs, rv) = ops(&sw).raw("GET", "/readyz", vec![], None).await.unwrap();
    assert_eq!((rs, rv["journal"].as_str()), (503, Some("failing")), "{rv}");
    // The journal works again.
    sw.set_journal_max_pages(0).await.unwrap();
    for no in &accepted {
        let v = t.until_final(no, Duration::from_secs(25)).await;
        let status = v["status"].as_str().unwrap();
        let ledger = sim_trade(&sim, no).await;
        assert!(agrees(status, &ledger), "{no}: {status} vs {ledger:?}");
        let tr = sw.store().trade(APP, no).unwrap().expect("journaled");
        assert_eq!(tr.status.as_str(), status, "{no}");
    }
    for no in &refused {
        let ledger = sim_trade(&sim, no).await;
        assert_eq!(
            ledger.0, 404,
            "{no} was refused but reached the gateway: {ledger:?}"
        );
        assert!(ledger.1.get("pending_late_landing").is_none(), "{ledger:?}");
        let (s, v) = t.get(no).await;
        assert_eq!(s, 404, "{no}: {v}");
    }
    eprintln!(
        "finding3: {} accepted, {} refused",
        accepted.len(),
        refused.len()
    );
    eventually(Duration::from_secs(10), "readyz recovers", || {
        let o = o.clone();
        async move {
            let (s, _) = o.raw("GET", "/readyz", vec![], None).await.unwrap();
            (s == 200).then_some(())
        }
    })
    .await;
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// A notification signed with the simulator's (demo) Alipay private key.
fn signed_notification(fields: &[(&str, String)]) -> Vec<u8> {
    let signer = protocol::Signer::from_text(simulator::DEMO_ALIPAY_PRIVATE_KEY).unwrap();
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    protocol::notify::sign_notification(&pairs, &signer)
        .unwrap()
        .into_bytes()
}

fn notify_fields(
    no: &str,
    trade_no: &str,
    status: &str,
    amount: Option<&str>,
    app_id: &str,
    seller: &str,
) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("notify_type", "trade_status_sync".to_owned()),
        ("notify_id", format!("N{}", nonce())),
        ("notify_time", protocol::clock::gateway_now()),
        ("charset", "utf-8".into()),
        ("version", "1.0".into()),
        ("app_id", app_id.into()),
        ("auth_app_id", app_id.into()),
        ("trade_no", trade_no.into()),
        ("out_trade_no", no.into()),
        ("trade_status", status.into()),
        ("subject", "x".into()),
        ("seller_id", seller.into()),
        ("buyer_id", "2088000011112222".into()),
    ];
    if let Some(a) = amount {
        f.push(("total_amount", a.into()));
        f.push(("receipt_amount", a.into()));
    }
    f
}

async fn post_notification(t: &Term, fields: &[(&str, String)]) -> (u16, Value) {
    t.raw("POST", "/notify/alipay", signed_notification(fields), None)
        .await
        .unwrap()
}

/// Finding 4: a verified notification moves a trade only when app_id,
/// seller_id, out_trade_no and total_amount match; anything else is an
/// incident. Paid while CLOSED is undone; an unknown trade is an orphan.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding4_notifications_must_match() {
    let sim = sim_with(|c| c.late_landing = Duration::from_millis(300)).await;
    let seller = simulator::ledger::seller_id(APP);
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, "late_landing_checks_ms = [60000]", |s| {
        s.replace(
            "[gateway]\n",
            &format!("[gateway]\nseller_id = \"{seller}\"\n"),
        )
        .replace("shutdown_grace_ms = 3000", "shutdown_grace_ms = 300")
    })
    .await;
    let t = Term::new(&base);
    let no = "F4_QR";
    let body = json!({"out_trade_no": no, "total_amount": "20.00", "subject": "x"});
    let (s, v) = t.call("POST", "/v1/precreate", Some(&body)).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (200, Some("WAIT_BUYER_PAY")),
        "{v}"
    );
    let ledger = sim_trade(&sim, no).await;
    let trade_no = ledger.1["trade_no"].as_str().unwrap_or("").to_owned();
    let states_before = kinds(&sw, no).iter().filter(|k| *k == "state").count();
    let cases: [(&str, Vec<(&str, String)>); 4] = [
        (
            "amount_mismatch",
            notify_fields(no, &trade_no, "TRADE_SUCCESS", Some("20.01"), APP, &seller),
        ),
        (
            "amount_mismatch",
            notify_fields(no, &trade_no, "TRADE_SUCCESS", None, APP, &seller),
        ),
        (
            "wrong_app_id",
            notify_fields(
                no,
                &trade_no,
                "TRADE_SUCCESS",
                Some("20.00"),
                "2021000000009999",
                &seller,
            ),
        ),
        (
            "wrong_seller_id",
            notify_fields(
                no,
                &trade_no,
                "TRADE_SUCCESS",
                Some("20.00"),
                APP,
                "2088999999999999",
            ),
        ),
    ];
    for (i, (kind, fields)) in cases.iter().enumerate() {
        let (s, v) = post_notification(&t, fields).await;
        assert_eq!((s, v.as_str()), (200, Some("success")), "case {i} {kind}");
        let (_, v) = t.get(no).await;
        assert_eq!(v["status"], "WAIT_BUYER_PAY", "case {i} {kind}: moved: {v}");
        let inc = incident_kinds(&sw, no);
        let n = inc.iter().filter(|k| k == kind).count();
        let want = cases[..=i].iter().filter(|(k, _)| k == kind).count();
        assert_eq!(n, want, "case {i} {kind}: incidents {inc:?}");
    }
    let k = kinds(&sw, no);
    let states = k.iter().filter(|k| *k == "state").count();
    assert_eq!(
        states, states_before,
        "the notifications moved the trade: {k:?}"
    );
    let tr = sw.store().trade(APP, no).unwrap().unwrap();
    assert_eq!(tr.status.as_str(), "WAIT_BUYER_PAY");
    let m = metric_sum(&ops(&sw), "payswitch_notify_incidents_total").await;
    assert!(m >= 4.0, "notify incidents counted {m}");

    // TRADE_SUCCESS for a trade the switch holds CLOSED, the gateway too.
    let (s, v) = t
        .call("POST", &format!("/v1/trades/{no}/close"), None)
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CLOSED")), "{v}");
    let fields = notify_fields(no, &trade_no, "TRADE_SUCCESS", Some("20.00"), APP, &seller);
    let (s, v) = post_notification(&t, &fields).await;
    assert_eq!((s, v.as_str()), (200, Some("success")));
    assert!(
        incident_kinds(&sw, no).contains(&"paid_while_closed".to_owned()),
        "{:?}",
        incident_kinds(&sw, no)
    );
    eventually(
        Duration::from_secs(10),
        "the undo looks at the gateway",
        || {
            let k = kinds(&sw, no);
            async move {
                k.iter()
                    .any(|k| k == "late_landing_watch_done")
                    .then_some(())
            }
        },
    )
    .await;
    let (_, v) = t.get(no).await;
    assert_eq!(v["status"], "CLOSED", "{v}");
    assert!(agrees("CLOSED", &sim_trade(&sim, no).await));

    // An out_trade_no the switch never saw: an orphan, answered success.
    let fields = notify_fields(
        "F4_NOBODY",
        "2026",
        "TRADE_SUCCESS",
        Some("1.00"),
        APP,
        &seller,
    );
    let (s, v) = post_notification(&t, &fields).await;
    assert_eq!((s, v.as_str()), (200, Some("success")));
    assert_eq!(incident_kinds(&sw, "F4_NOBODY"), vec!["orphan".to_owned()]);
    let (s, _) = t.get("F4_NOBODY").await;
    assert_eq!(s, 404);
    let m = metric_sum(&ops(&sw), "payswitch_notify_incidents_total").await;
    assert!(m >= 5.0, "notify incidents counted {m}");
    // TRADE_SUCCESS for a CLOSED trade whose late payment the gateway did
    // book (9003, not caught yet by the watch's first check at 60 s): the
    // notification starts the undo at once.
    let no2 = "F4_LATE";
    let (s, v) = t.pay(no2, &auth_code("9003"), "7.00", 30).await;
    assert_eq!(s, 200, "{v}");
    let v = if is_final(v["status"].as_str().unwrap_or("")) {
        v
    } else {
        t.until_final(no2, Duration::from_secs(15)).await
    };
    assert_eq!(v["status"], "CLOSED", "{v}");
    let ledger = eventually(Duration::from_secs(10), "the 9003 payment lands", || {
        let sim = &sim;
        async move {
            let l = sim_trade(sim, no2).await;
            (l.1["status"] == "TRADE_SUCCESS").then_some(l)
        }
    })
    .await;
    let trade_no2 = ledger.1["trade_no"].as_str().unwrap().to_owned();
    let fields = notify_fields(no2, &trade_no2, "TRADE_SUCCESS", Some("7.00"), APP, &seller);
    let (s, v) = post_notification(&t, &fields).await;
    assert_eq!((s, v.as_str()), (200, Some("success")));
    assert!(
        incident_kinds(&sw, no2).contains(&"paid_while_closed".to_owned()),
        "{:?}",
        incident_kinds(&sw, no2)
    );
    eventually(
        Duration::from_secs(10),
        "the late payment is undone after its paid_while_closed notification \
         (the gateway still holds the buyer's money for a trade the terminal was told CLOSED)",
        || {
            let k = kinds(&sw, no2);
            async move { k.iter().any(|k| k == "late_landing_undone").then_some(()) }
        },
    )
    .await;
    let ledger = sim_trade(&sim, no2).await;
    assert_eq!(ledger.1["status"], "TRADE_CLOSED", "{ledger:?}");
    let (_, v) = t.get(no2).await;
    assert_eq!(v["status"], "CLOSED", "{v}");
    let m = metric_sum(&ops(&sw), "payswitch_notify_incidents_total").await;
    assert!(m >= 6.0, "notify incidents counted {m}");

    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Finding 5: a signed 10000 that names another amount (9004) or another
/// out_trade_no (9005) is not believed: the switch queries and ends SUCCESS
/// by the query only, journaling an `answer_mismatch` incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding5_answers_tied_to_request() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    for last in ["9004", "9005"] {
        let no = format!("F5_{last}");
        let (s, v) = t.pay(&no, &auth_code(last), "12.34", 10).await;
        assert_eq!(s, 200, "{v}");
        let v = if is_final(v["status"].as_str().unwrap_or("")) {
            v
        } else {
            t.until_final(&no, Duration::from_secs(15)).await
        };
        assert_eq!(v["status"], "SUCCESS", "{no}: {v}");
        assert_eq!(v["total_amount"], "12.34", "{no}: {v}");
        let methods = answered_methods(&sw, &no);
        let pay_at = methods
            .iter()
            .position(|m| m == "alipay.trade.pay")
            .expect("pay answer journaled");
        assert!(
            methods[pay_at..].iter().any(|m| m == "alipay.trade.query"),
            "{no}: SUCCESS without a query: {methods:?}"
        );
        let inc = eventually(Duration::from_secs(5), "answer_mismatch journaled", || {
            let k = incident_kinds(&sw, &no);
            async move { k.iter().any(|k| k == "answer_mismatch").then_some(k) }
        })
        .await;
        assert!(inc.contains(&"answer_mismatch".to_owned()));
        let ledger = sim_trade(&sim, &no).await;
        assert!(agrees("SUCCESS", &ledger), "{ledger:?}");
        assert_eq!(ledger.1["pay_count"], 1, "{ledger:?}");
        assert_eq!(ledger.1["total_amount"], "12.34", "{ledger:?}");
    }
    let m = metric_sum(&ops(&sw), "payswitch_answer_mismatches_total").await;
    assert!(m >= 2.0, "answer mismatches counted {m}");
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Finding 6: a refund above total - refunded - in flight is refused (400,
/// field refund_amount) and never sent; concurrent refunds never add up to
/// more than the total.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding6_refund_ceiling() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Arc::new(Term::new(&base));
    let (_, v) = t.pay("F6_1", &auth_code("0000"), "100.00", 10).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    let r = json!({"out_request_no": "R1", "refund_amount": "30.00"});
    let (s, v) = t.call("POST", "/v1/trades/F6_1/refunds", Some(&r)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    for (req, amount) in [("R2", "70.01"), ("R3", "80.00"), ("R4", "100.00")] {
        let r = json!({"out_request_no": req, "refund_amount": amount});
        let (s, v) = t.call("POST", "/v1/trades/F6_1/refunds", Some(&r)).await;
        assert_eq!(s, 400, "{req} {amount}: {v}");
        assert_eq!(v["error"]["field"], "refund_amount", "{v}");
        let (s, _) = t
            .call("GET", &format!("/v1/trades/F6_1/refunds/{req}"), None)
            .await;
        assert_eq!(s, 404, "{req} was remembered");
    }
    let ledger = sim_trade(&sim, "F6_1").await;
    assert_eq!(ledger.1["refunded_amount"], "30.00", "{ledger:?}");
    let reqs: Vec<String> = ledger.1["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["out_request_no"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(reqs, vec!["R1".to_owned()], "{ledger:?}");
    // Exactly the rest is fine.
    let r = json!({"out_request_no": "R5", "refund_amount": "70.00"});
    let (s, v) = t.call("POST", "/v1/trades/F6_1/refunds", Some(&r)).await;
    assert_eq!(
        (s, v["refunded_amount"].as_str()),
        (200, Some("100.00")),
        "{v}"
    );

    // Concurrent refunds that together exceed the total.
    let (_, v) = t.pay("F6_2", &auth_code("0000"), "100.00", 10).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move {
                let r = json!({"out_request_no": format!("C{i}"), "refund_amount": "15.00"});
                t.call("POST", "/v1/trades/F6_2/refunds", Some(&r)).await
            })
        })
        .collect();
    let mut ok = 0u32;
    for task in tasks {
        let (s, v) = task.await.unwrap();
        match s {
            200 => {
                assert_eq!(v["status"], "SUCCESS", "{v}");
                ok += 1;
            }
            400 => assert_eq!(v["error"]["field"], "refund_amount", "{v}"),
            _ => panic!("{s} {v}"),
        }
    }
    assert!(ok * 15 <= 100, "{ok} refunds of 15.00 on 100.00");
    let (_, v) = t.get("F6_2").await;
    let refunded = format!("{}.00", ok * 15);
    assert_eq!(v["refunded_amount"], refunded.as_str(), "{v}");
    let ledger = sim_trade(&sim, "F6_2").await;
    assert_eq!(ledger.1["refunded_amount"], refunded.as_str(), "{ledger:?}");
    assert_eq!(ledger.1["refunds"].as_array().unwrap().len() as u32, ok);
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Finding 7: every WAIT_BUYER_PAY trade has an owner: without any
/// notification the switch learns the payment by its own query, closes an
/// unpaid QR at expiry, and picks QR trades up again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding7_qr_trades_have_an_owner() {
    let sim = sim().await;
    set_sim_profile(&sim, r#"{"notify": {"enabled": false}}"#);
    let dir = tempfile::tempdir().unwrap();
    let policy = "qr_query_after_ms = [300, 800]\nqr_default_timeout_secs = 2";
    let grace = |s: String| s.replace("shutdown_grace_ms = 3000", "shutdown_grace_ms = 300");
    let (sw, base) = switch_with(dir.path(), &sim, policy, grace).await;
    let t = Term::new(&base);
    let precreate = |no: &'static str, timeout: Option<&'static str>| {
        let t = t.clone();
        async move {
            let mut body = json!({"out_trade_no": no, "total_amount": "5.00", "subject": "x"});
            if let Some(te) = timeout {
                body["timeout_express"] = json!(te);
            }
            let (s, v) = t.call("POST", "/v1/precreate", Some(&body)).await;
            assert_eq!(
                (s, v["status"].as_str()),
                (200, Some("WAIT_BUYER_PAY")),
                "{v}"
            );
        }
    };
    // Paid, no notification: the switch's own query finds it.
    precreate("F7_PAID", Some("1m")).await;
    let (s, _) = sim_post(&sim.base_url(), "/_sim/trades/F7_PAID/buyer-pay").await;
    assert_eq!(s, 200);
    // Never paid, default time-out 2 s: closed at expiry.
    precreate("F7_UNPAID", None).await;
    let v = t.until_final("F7_PAID", Duration::from_secs(10)).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    let v = t.until_final("F7_UNPAID", Duration::from_secs(10)).await;
    assert_eq!(v["status"], "CLOSED", "{v}");
    assert!(!kinds(&sw, "F7_PAID").contains(&"notification".to_owned()));
    let (_, n) = sim_get(&sim.base_url(), "/_sim/notifications?out_trade_no=F7_PAID").await;
    assert_eq!(n["notifications"].as_array().map(Vec::len), Some(0), "{n}");
    for (no, want) in [("F7_PAID", "SUCCESS"), ("F7_UNPAID", "CLOSED")] {
        let ledger = sim_trade(&sim, no).await;
        assert!(agrees(want, &ledger), "{no}: {ledger:?}");
    }
    assert_eq!(
        sim_trade(&sim, "F7_UNPAID").await.1["status"],
        "TRADE_CLOSED"
    );

    // Two QR trades across a restart: one paid while the switch is down.
    precreate("F7_R_PAID", None).await;
    precreate("F7_R_UNPAID", None).await;
    sw.shutdown().await.unwrap();
    let (s, v) = sim_post(&sim.base_url(), "/_sim/trades/F7_R_PAID/buyer-pay").await;
    assert_eq!(s, 200, "{v}");
    let (sw, base) = switch_with(dir.path(), &sim, policy, grace).await;
    let t = Term::new(&base);
    for (no, want) in [("F7_R_PAID", "SUCCESS"), ("F7_R_UNPAID", "CLOSED")] {
        let v = t.until_final(no, Duration::from_secs(15)).await;
        assert_eq!(v["status"], want, "{no}: {v}");
        let ledger = sim_trade(&sim, no).await;
        assert!(agrees(want, &ledger), "{no}: {ledger:?}");
        let k = kinds(&sw, no);
        assert!(k.contains(&"recovery".to_owned()), "{no}: {k:?}");
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

type Seen = Vec<(String, String, Vec<u8>, u16)>;

/// A merchant's notify_url on 127.0.0.1: answers 500 until `accept` is set,
/// then 200; records every request (path, Authorization, body, answer).
async fn merchant_receiver(
    accept: Arc<AtomicBool>,
) -> (std::net::SocketAddr, Arc<parking_lot::Mutex<Seen>>) {
    use http_body_util::BodyExt;
    let got: Arc<parking_lot::Mutex<Seen>> = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (got, accept) = (g.clone(), accept.clone());
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (got, accept) = (got.clone(), accept.clone());
                        async move {
                            let pq = req.uri().path_and_query().unwrap().as_str().to_owned();
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let status = if accept.load(Ordering::SeqCst) {
                                200
                            } else {
                                500
                            };
                            got.lock().push((pq, auth, body.to_vec(), status));
                            let mut resp = http::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from_static(b"ok"),
                            ));
                            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, got)
}

/// Finding 8: the relay of a QR result to the merchant's notify_url is
/// journaled and resumed after a restart: refused (500) before, delivered
/// after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finding8_relays_resume_after_restart() {
    let accept = Arc::new(AtomicBool::new(false));
    let (merchant, got) = merchant_receiver(accept.clone()).await;
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    // Slow relay back-off (300 ms doubling), so that the attempts are not
    // used up before the restart; a short grace.
    let edit = |s: String| {
        s.replace(
            "unknown_retry_initial_ms = 50",
            "unknown_retry_initial_ms = 300",
        )
        .replace("unknown_retry_max_ms = 400", "unknown_retry_max_ms = 2000")
        .replace("shutdown_grace_ms = 3000", "shutdown_grace_ms = 300")
    };
    let registered = format!("http://{merchant}/shop/notify");
    let relay = with_relay_url(&registered);
    let (sw, base) = switch_with(dir.path(), &sim, "", |s| relay(edit(s))).await;
    let t = Term::new(&base);
    let no = "F8_RL";
    let url = format!("http://{merchant}/shop/notify?id=8");
    let body =
        json!({"out_trade_no": no, "total_amount": "8.80", "subject": "x", "notify_url": url});
    let (s, v) = t.call("POST", "/v1/precreate", Some(&body)).await;
    assert_eq!(
        (s, v["status"].as_str()),
        (200, Some("WAIT_BUYER_PAY")),
        "{v}"
    );
    let (s, _) = sim_post(&sim.base_url(), &format!("/_sim/trades/{no}/buyer-pay")).await;
    assert_eq!(s, 200);
    let v = t.until_final(no, Duration::from_secs(10)).await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    eventually(Duration::from_secs(10), "a first (refused) relay", || {
        let n = got.lock().len();
        async move { (n >= 1).then_some(()) }
    })
    .await;
    sw.shutdown().await.unwrap();
    let before = got.lock().len();
    assert!(got.lock().iter().all(|r| r.3 == 500));
    accept.store(true, Ordering::SeqCst);
    let (sw, _) = switch_with(dir.path(), &sim, "", edit).await;
    let delivered = eventually(
        Duration::from_secs(15),
        "relay delivered after the restart",
        || {
            let r = got.lock().iter().find(|r| r.3 == 200).cloned();
            async move { r }
        },
    )
    .await;
    assert!(got.lock().len() > before);
    let (pq, auth, body, _) = delivered;
    assert_eq!(pq, "/shop/notify?id=8");
    assert!(auth.starts_with("PSW1-HMAC-SHA256"), "{auth}");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["out_trade_no"].as_str(), v["status"].as_str()),
        (Some(no), Some("SUCCESS")),
        "{v}"
    );
    let a = engine::api::auth::Authenticator::new(
        &[engine::config::TerminalConfig {
            key_id: "T1".into(),
            secret: SECRET,
            smid: None,
            store_id: None,
            terminal_id: None,
            rate_per_sec: 1.0,
            burst: 1.0,
        }],
        Duration::from_secs(300),
    );
    assert!(a.check(Some(&auth), "POST", &pq, &body).is_ok(), "{auth}");
    let relays: Vec<Value> = eventually(Duration::from_secs(5), "relay events", || {
        let evs: Vec<Value> = sw
            .store()
            .events(APP, no)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "relay")
            .map(|e| serde_json::from_str(&e.detail).unwrap())
            .collect();
        async move { evs.iter().any(|d| d["result"] == "200").then_some(evs) }
    })
    .await;
    assert!(relays.iter().any(|d| d["result"] == "500"), "{relays:?}");
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// Every pay sub-code of docs/PROTOCOL.md §10's table: the terminal gets the sub_code,
/// its exact description and the cashier action; ACQ.SYSTEM_ERROR ends
/// CLOSED (query, query, cancel; nothing booked) and ACQ.TRADE_HAS_SUCCESS
/// ends SUCCESS confirmed by query.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_pay_sub_code_has_its_cashier_action() {
    use protocol::codes::{sub, PAY_SUB_CODES};
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Arc::new(Term::new(&base));
    let tasks: Vec<_> = PAY_SUB_CODES
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let t = t.clone();
            tokio::spawn(async move {
                let last = format!("41{:02}", i + 1);
                let no = format!("F9_{last}");
                let (s, v) = t.pay(&no, &auth_code(&last), "6.00", 10).await;
                assert_eq!(s, 200, "{no}: {v}");
                let v = if is_final(v["status"].as_str().unwrap_or("")) {
                    v
                } else {
                    t.until_final(&no, Duration::from_secs(20)).await
                };
                (no, d, v)
            })
        })
        .collect();
    for task in tasks {
        let (no, d, v) = task.await.unwrap();
        let status = v["status"].as_str().unwrap().to_owned();
        let ledger = sim_trade(&sim, &no).await;
        assert!(agrees(&status, &ledger), "{no}: {status} vs {ledger:?}");
        let methods = answered_methods(&sw, &no);
        match d.sub_code {
            sub::ACQ_SYSTEM_ERROR => {
                assert_eq!(status, "CLOSED", "{no}: {v}");
                assert!(ledger.0 == 404, "{no}: booked: {ledger:?}");
                let q = methods
                    .iter()
                    .filter(|m| *m == "alipay.trade.query")
                    .count();
                assert!(q >= 2, "{no}: {methods:?}");
                assert!(
                    methods.iter().any(|m| m == "alipay.trade.cancel"),
                    "{no}: {methods:?}"
                );
                assert_eq!(v["cashier_action"], "new_out_trade_no", "{v}");
            }
            sub::ACQ_TRADE_HAS_SUCCESS => {
                assert_eq!(status, "SUCCESS", "{no}: {v}");
                assert!(
                    methods.iter().any(|m| m == "alipay.trade.query"),
                    "{no}: {methods:?}"
                );
                assert!(v.get("cashier_action").is_none(), "{v}");
            }
            _ => {
                assert_eq!(status, "FAILED", "{no} {}: {v}", d.sub_code);
                assert_eq!(v["code"], "40004", "{no}: {v}");
                assert_eq!(v["sub_code"], d.sub_code, "{no}: {v}");
                assert_eq!(v["sub_msg"], d.description, "{no}: {v}");
                let (_, action) = engine::flow::policy::pay_sub_code(d.sub_code);
                assert_eq!(v["cashier_action"], action.as_str(), "{no}: {v}");
            }
        }
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}
