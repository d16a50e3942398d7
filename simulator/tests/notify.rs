//! Notifications: the retry schedule (time scale 3600), stopping on
//! `success`, the signed fields, duplicates and reordering.

mod common;

use std::time::Duration;

use common::*;
use protocol::{Method, Notification, Verifier};
use serde_json::json;

fn verify_all(r: &Receiver) -> Vec<Notification> {
    let v = Verifier::from_text(simulator::DEMO_ALIPAY_PUBLIC_KEY).unwrap();
    r.hits
        .lock()
        .iter()
        .map(|(_, f)| Notification::verify(f.clone(), &v).expect("notification verifies"))
        .collect()
}

async fn wait_hits(r: &Receiver, n: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while r.count() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} notifications arrived",
            r.count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_of_eight_attempts_at_time_scale_3600() {
    let sim = sim_with(|c| c.time_scale = 3600.0).await;
    let gw = Gw::new(&sim);
    let rx = Receiver::start(|_| "fail").await;
    let n = gw
        .call_opts(
            Method::TradePay,
            &pay_biz("N_SCHED", "9.99", "0000"),
            Some(&rx.url()),
        )
        .await
        .node();
    assert_eq!(n["code"], "10000");
    wait_hits(&rx, 8, Duration::from_secs(40)).await;
    // Offsets from the first attempt: 0, 4m, +10m, +10m, +1h, +2h, +6h, +15h, scaled by 3600.
    let expected_s = [0.0, 240.0, 840.0, 1440.0, 5040.0, 12240.0, 33840.0, 87840.0];
    let hits = rx.hits.lock().clone();
    let t0 = hits[0].0;
    for (i, (at, _)) in hits.iter().enumerate() {
        let actual = (*at - t0).as_secs_f64();
        let exp: f64 = expected_s[i] / 3600.0;
        let tol = (exp * 0.02).max(0.050);
        assert!(
            (actual - exp).abs() <= tol,
            "attempt {}: at {actual:.3}s, expected {exp:.3}s ± {tol:.3}",
            i + 1
        );
    }
    // The same notify_id every time, all signed.
    let notes = verify_all(&rx);
    assert!(notes.iter().all(|x| x.notify_id == notes[0].notify_id));
    // No ninth attempt.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.count(), 8);
    let (_, v) = gw.ctl_get("/_sim/notifications?out_trade_no=N_SCHED").await;
    let rec = &v["notifications"][0];
    assert_eq!(rec["state"], "failed");
    assert_eq!(rec["attempts"].as_array().unwrap().len(), 8);
    assert_eq!(rec["attempts"][7]["attempt"], 8);
    assert_eq!(rec["attempts"][0]["body"], "fail");
    assert_eq!(rec["attempts"][0]["http_status"], 200);
    assert_eq!(rec["fields"]["out_trade_no"], "N_SCHED");
    assert_eq!(rec["fields"]["trade_status"], "TRADE_SUCCESS");
    assert!(rec["fields"].get("sign").is_none());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_on_third_attempt_stops_retries() {
    let sim = sim_with(|c| c.time_scale = 3600.0).await;
    let gw = Gw::new(&sim);
    // Attempt 2 answers "success\n": not exactly `success`, so a failure.
    let rx = Receiver::start(|n| match n {
        1 => "fail",
        2 => "success\n",
        _ => "success",
    })
    .await;
    gw.call_opts(
        Method::TradePay,
        &pay_biz("N_OK3", "1.00", "0000"),
        Some(&rx.url()),
    )
    .await
    .node();
    wait_hits(&rx, 3, Duration::from_secs(5)).await;
    // Attempt 4 would come 0.4 s after the first; wait well past it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(rx.count(), 3);
    let (_, v) = gw.ctl_get("/_sim/notifications?out_trade_no=N_OK3").await;
    let rec = &v["notifications"][0];
    assert_eq!(rec["state"], "delivered");
    let attempts = rec["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[2]["success"], true);
    assert_eq!(attempts[1]["success"], false);
    assert!(
        attempts[2]["sent_at_ms"].as_i64().unwrap()
            >= attempts[2]["scheduled_at_ms"].as_i64().unwrap() - 5
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_fields_precreate_and_password_trades() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let rx = Receiver::start(|_| "success").await;
    gw.call_opts(
        Method::TradePrecreate,
        &json!({"out_trade_no": "N_QR", "total_amount": "66.60", "subject": "测试 & co"}),
        Some(&rx.url()),
    )
    .await
    .node();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.count(), 0, "WAIT_BUYER_PAY sends nothing");
    gw.ctl("POST", "/_sim/trades/N_QR/buyer-pay", "").await;
    wait_hits(&rx, 1, Duration::from_secs(5)).await;
    let n = &verify_all(&rx)[0];
    assert_eq!(n.notify_type, "trade_status_sync");
    assert_eq!(n.trade_status, Some(protocol::TradeStatus::TradeSuccess));
    assert_eq!(n.out_trade_no, "N_QR");
    assert_eq!(n.app_id, APP_ID);
    assert_eq!(n.total_amount.unwrap().fen(), 6660);
    assert_eq!(n.receipt_amount.unwrap().fen(), 6660);
    assert!(n.buyer_id.as_deref().unwrap().starts_with("2088"));
    assert!(n.gmt_payment.is_some() && n.gmt_create.is_some() && n.notify_time.is_some());
    assert_eq!(n.fund_bill_list[0].fund_channel, "ALIPAYACCOUNT");
    let raw = |k: &str| n.raw.iter().find(|(rk, _)| rk == k).map(|(_, v)| v.clone());
    assert_eq!(
        raw("fund_bill_list").unwrap(),
        r#"[{"fundChannel":"ALIPAYACCOUNT","amount":"66.60"}]"#
    );
    assert_eq!(raw("subject").unwrap(), "测试 & co");
    assert_eq!(raw("sign_type").unwrap(), "RSA2");
    assert_eq!(raw("charset").unwrap(), "utf-8");
    assert_eq!(raw("version").unwrap(), "1.0");
    assert_eq!(raw("notify_id").unwrap().len(), 34);
    for k in [
        "seller_id",
        "auth_app_id",
        "buyer_logon_id",
        "invoice_amount",
        "buyer_pay_amount",
        "point_amount",
        "trade_no",
    ] {
        assert!(raw(k).is_some(), "{k} missing");
    }
    // A 10003 trade notifies once the buyer enters the password.
    gw.call_opts(
        Method::TradePay,
        &pay_biz("N_PWD", "2.00", "1003"),
        Some(&rx.url()),
    )
    .await
    .node();
    wait_hits(&rx, 2, Duration::from_secs(5)).await;
    assert_eq!(verify_all(&rx)[1].out_trade_no, "N_PWD");
    // A refused connection is recorded as an error and retried.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sim2 = sim_with(|c| c.time_scale = 3600.0).await;
    let gw2 = Gw::new(&sim2);
    gw2.call_opts(
        Method::TradePay,
        &pay_biz("N_DEAD", "2.00", "0000"),
        Some(&format!("http://{dead}/n")),
    )
    .await
    .node();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, v) = gw2.ctl_get("/_sim/notifications?out_trade_no=N_DEAD").await;
    let a = v["notifications"][0]["attempts"]
        .as_array()
        .unwrap()
        .clone();
    assert!(a.len() >= 2, "{v}");
    assert!(
        a[0]["error"].is_string() && a[0]["http_status"].is_null(),
        "{v}"
    );
    sim2.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_reordering() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let (s, _) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            &json!({"notify": {"statuses": ["TRADE_SUCCESS", "TRADE_CLOSED"], "duplicate_share": 1.0, "duplicate_delay_ms": 50, "reorder_share": 1.0, "reorder_delay_ms": 300}}).to_string(),
        )
        .await;
    assert_eq!(s, 200);
    let rx = Receiver::start(|_| "success").await;
    gw.call_opts(
        Method::TradePay,
        &pay_biz("N_RE", "5.00", "0000"),
        Some(&rx.url()),
    )
    .await
    .node();
    gw.call(
        Method::TradeRefund,
        &json!({"out_trade_no": "N_RE", "refund_amount": "5.00"}),
    )
    .await
    .node();
    // CLOSED, its duplicate, then SUCCESS (held back), its duplicate.
    wait_hits(&rx, 4, Duration::from_secs(5)).await;
    let notes = verify_all(&rx);
    let st: Vec<_> = notes
        .iter()
        .map(|n| n.trade_status.unwrap().as_str())
        .collect();
    assert_eq!(
        st,
        [
            "TRADE_CLOSED",
            "TRADE_CLOSED",
            "TRADE_SUCCESS",
            "TRADE_SUCCESS"
        ]
    );
    assert_eq!(notes[0].notify_id, notes[1].notify_id);
    assert_eq!(notes[2].notify_id, notes[3].notify_id);
    assert_ne!(notes[0].notify_id, notes[2].notify_id);
    assert_eq!(notes[0].refund_fee.unwrap().fen(), 500);
    let (_, v) = gw.ctl_get("/_sim/notifications?out_trade_no=N_RE").await;
    let recs = v["notifications"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().any(|r| r["reordered"] == true));
    assert!(recs.iter().all(|r| r["attempts"][1]["duplicate"] == true));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refund_notification_when_enabled() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let rx = Receiver::start(|_| "success").await;
    gw.call_opts(
        Method::TradePay,
        &pay_biz("N_PR", "10.00", "0000"),
        Some(&rx.url()),
    )
    .await
    .node();
    wait_hits(&rx, 1, Duration::from_secs(5)).await;
    // Off by default: a partial refund changes no status, so nothing is sent.
    gw.call(
        Method::TradeRefund,
        &json!({"out_trade_no": "N_PR", "refund_amount": "1.00", "out_request_no": "a"}),
    )
    .await
    .node();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.count(), 1);
    gw.ctl(
        "PUT",
        "/_sim/profile",
        r#"{"notify": {"on_partial_refund": true}}"#,
    )
    .await;
    gw.call(
        Method::TradeRefund,
        &json!({"out_trade_no": "N_PR", "refund_amount": "2.00", "out_request_no": "b"}),
    )
    .await
    .node();
    wait_hits(&rx, 2, Duration::from_secs(5)).await;
    let n = &verify_all(&rx)[1];
    assert_eq!(n.trade_status, Some(protocol::TradeStatus::TradeSuccess));
    assert_eq!(n.refund_fee.unwrap().fen(), 300);
    assert!(n.raw.iter().any(|(k, v)| k == "out_biz_no" && v == "b"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_stops_retries() {
    let sim = sim_with(|c| c.time_scale = 3600.0).await;
    let gw = Gw::new(&sim);
    let rx = Receiver::start(|_| "fail").await;
    gw.call_opts(
        Method::TradePay,
        &pay_biz("N_RS", "1.00", "0000"),
        Some(&rx.url()),
    )
    .await
    .node();
    wait_hits(&rx, 2, Duration::from_secs(5)).await;
    gw.ctl("POST", "/_sim/reset", "").await;
    let seen = rx.count();
    // Attempts 3 and 4 would come at 0.23 s and 0.4 s.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(rx.count() <= seen + 1, "{} after {seen}", rx.count());
    let (_, v) = gw.ctl_get("/_sim/notifications").await;
    assert_eq!(v["notifications"].as_array().unwrap().len(), 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_notify_urls() {
    let dir = tempfile::tempdir().unwrap();
    let Some(acceptor) = self_signed_acceptor(dir.path()) else {
        eprintln!("openssl not found: https notification test skipped");
        return;
    };
    let rx = Receiver::start_with(Some(acceptor), |_| "success").await;
    // With notify_insecure_tls the self-signed receiver is reached.
    let sim = sim_with(|c| c.notify_insecure_tls = true).await;
    let gw = Gw::new(&sim);
    gw.call_opts(
        Method::TradePay,
        &pay_biz("N_TLS", "3.00", "0000"),
        Some(&rx.https_url()),
    )
    .await
    .node();
    wait_hits(&rx, 1, Duration::from_secs(5)).await;
    assert_eq!(verify_all(&rx)[0].out_trade_no, "N_TLS");
    sim.shutdown().await;
    // Without it the certificate is refused, and the attempt says so.
    let sim = sim_with(|c| c.time_scale = 3600.0).await;
    let gw = Gw::new(&sim);
    gw.call_opts(
        Method::TradePay,
        &pay_biz("N_TLS2", "3.00", "0000"),
        Some(&rx.https_url()),
    )
    .await
    .node();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.count(), 1);
    let (_, v) = gw.ctl_get("/_sim/notifications?out_trade_no=N_TLS2").await;
    let a = &v["notifications"][0]["attempts"][0];
    assert!(a["error"].is_string() && a["http_status"].is_null(), "{v}");
    sim.shutdown().await;
}
