//! The scenarios that let the switch be proven against an uncertain gateway:
//! a 9003 late landing, the two answers to a cancel of an unbooked trade and
//! whether a pay after it lands, every sub-code of the pay table, answers
//! that disagree with their request (9004, 9005) and notifications turned off.

mod common;

use std::time::Duration;

use common::*;
use protocol::codes::PAY_SUB_CODES;
use protocol::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

/// Hold 300 ms (the common default), land 400 ms after the drop.
async fn late_sim() -> simulator::SimHandle {
    sim_with(|c| c.late_landing = Duration::from_millis(400)).await
}

async fn put_profile(gw: &Gw, body: &Value) {
    let (s, v) = gw.ctl("PUT", "/_sim/profile", &body.to_string()).await;
    assert_eq!(s, 200, "{v}");
}

async fn query(gw: &Gw, out: &str) -> Value {
    gw.call(Method::TradeQuery, &json!({ "out_trade_no": out }))
        .await
        .node()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_landing_9003_lands_after_the_delay_and_not_before() {
    let sim = late_sim().await;
    let gw = Gw::new(&sim);
    let start = Instant::now();
    let o = gw
        .call(Method::TradePay, &pay_biz("L_1", "12.34", "9003"))
        .await;
    let dropped = start.elapsed();
    assert!(matches!(o, Outcome::Transport(_)), "{o:?}");
    assert!(dropped >= Duration::from_millis(300), "{dropped:?}");
    // Dropped, not booked yet: query and ledger know no trade; the ledger
    // shows the pending landing.
    let q = query(&gw, "L_1").await;
    assert_eq!(q["sub_code"], "ACQ.TRADE_NOT_EXIST", "{q}");
    let (s, v) = gw.ctl_get("/_sim/trades/L_1").await;
    assert_eq!(s, 404, "{v}");
    assert!(v["pending_late_landing"]["lands_at_ms"].is_i64(), "{v}");
    // Polls until booked; never booked before hold + late_landing (700 ms).
    let deadline = start + Duration::from_secs(5);
    let v = loop {
        let (s, v) = gw.ctl_get("/_sim/trades/L_1").await;
        if s == 200 {
            break v;
        }
        assert!(Instant::now() < deadline, "never landed: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let seen = start.elapsed();
    assert!(seen >= Duration::from_millis(700), "landed early: {seen:?}");
    assert_eq!(v["status"], "TRADE_SUCCESS");
    assert_eq!(v["pay_count"], 1);
    assert_eq!(v["landed_late"], true);
    assert_eq!(v["total_amount"], "12.34");
    assert!(v.get("pending_late_landing").is_none());
    let q = query(&gw, "L_1").await;
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    // A repeat of the pay now meets the booked trade.
    let r = gw
        .call(Method::TradePay, &pay_biz("L_1", "12.34", "9003"))
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.TRADE_HAS_SUCCESS");
    // A reset forgets a pending landing: it never books.
    let o = gw
        .call(Method::TradePay, &pay_biz("L_2", "1.00", "9003"))
        .await;
    assert!(matches!(o, Outcome::Transport(_)), "{o:?}");
    let (s, _) = gw.ctl("POST", "/_sim/reset", "").await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (s, v) = gw.ctl_get("/_sim/trades/L_2").await;
    assert_eq!(s, 404, "{v}");
    assert!(v.get("pending_late_landing").is_none(), "{v}");
    sim.shutdown().await;
}

/// A cancel of an unbooked out_trade_no, answered as `cancel_unknown` says.
fn assert_unknown_cancel(c: &Value, cancel_unknown: &str, out: &str) {
    if cancel_unknown == "trade_not_exist" {
        assert_eq!(c["code"], "40004", "{c}");
        assert_eq!(c["sub_code"], "ACQ.TRADE_NOT_EXIST");
        assert_eq!(c["sub_msg"], "交易不存在");
    } else {
        assert_eq!(c["code"], "10000", "{c}");
        assert_eq!(c["msg"], "Success");
        assert_eq!(c["retry_flag"], "N");
        assert!(c.get("action").is_none(), "{c}");
        assert!(c.get("trade_no").is_none(), "{c}");
        assert!(c.get("sub_code").is_none(), "{c}");
    }
    assert_eq!(c["out_trade_no"], out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_unknown_times_late_pay_after_cancel() {
    let sim = late_sim().await;
    let gw = Gw::new(&sim);
    // The default: success, and a later pay lands.
    let (_, p) = gw.ctl_get("/_sim/profile").await;
    assert_eq!(p["behaviour"]["cancel_unknown"], "success");
    assert_eq!(p["behaviour"]["late_pay_after_cancel"], "lands");
    for (i, cu) in ["success", "trade_not_exist", "close_and_block"]
        .into_iter()
        .enumerate()
    {
        for (j, late) in ["lands", "refused"].into_iter().enumerate() {
            put_profile(
                &gw,
                &json!({"behaviour": {"cancel_unknown": cu, "late_pay_after_cancel": late}}),
            )
            .await;
            let refused = late == "refused" || cu == "close_and_block";
            let ctx = format!("cancel_unknown={cu} late_pay_after_cancel={late}");

            // A pay that reaches the gateway after the cancel.
            let a = format!("CU_{i}{j}_A");
            let c = gw
                .call(Method::TradeCancel, &json!({ "out_trade_no": a }))
                .await
                .node();
            assert_unknown_cancel(&c, cu, &a);
            let r = gw
                .call(Method::TradePay, &pay_biz(&a, "5.00", "0000"))
                .await
                .node();
            let (s, v) = gw.ctl_get(&format!("/_sim/trades/{a}")).await;
            if refused {
                assert_eq!(r["code"], "40004", "{ctx}: {r}");
                assert_eq!(r["sub_code"], "ACQ.TRADE_HAS_CLOSE", "{ctx}");
                assert_eq!(r["sub_msg"], "交易已经关闭", "{ctx}");
                assert_eq!(s, 404, "{ctx}: {v}");
                assert_eq!(v["cancelled_unknown"]["refused_pays"], 1, "{ctx}: {v}");
                assert_eq!(
                    query(&gw, &a).await["sub_code"],
                    "ACQ.TRADE_NOT_EXIST",
                    "{ctx}"
                );
            } else {
                assert_eq!(r["code"], "10000", "{ctx}: {r}");
                assert_eq!(s, 200, "{ctx}: {v}");
                assert_eq!(v["status"], "TRADE_SUCCESS", "{ctx}");
                assert_eq!(v["pay_count"], 1, "{ctx}");
                // Now booked, a cancel refunds it.
                let c = gw
                    .call(Method::TradeCancel, &json!({ "out_trade_no": a }))
                    .await
                    .node();
                assert_eq!(c["action"], "refund", "{ctx}: {c}");
            }

            // A 9003 payment cancelled while it is in flight, landing after.
            let b = format!("CU_{i}{j}_B");
            let pay = {
                let gw = Gw::new(&sim);
                let b = b.clone();
                tokio::spawn(async move {
                    gw.call(Method::TradePay, &pay_biz(&b, "6.00", "9003"))
                        .await
                })
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            let c = gw
                .call(Method::TradeCancel, &json!({ "out_trade_no": b }))
                .await
                .node();
            assert_unknown_cancel(&c, cu, &b);
            let o = pay.await.unwrap();
            assert!(matches!(o, Outcome::Transport(_)), "{ctx}: {o:?}");
            // Landing at 700 ms after receipt; look after 1.2 s.
            tokio::time::sleep(Duration::from_millis(900)).await;
            let (s, v) = gw.ctl_get(&format!("/_sim/trades/{b}")).await;
            if refused {
                assert_eq!(s, 404, "{ctx}: {v}");
                assert_eq!(v["cancelled_unknown"]["blocked_landings"], 1, "{ctx}: {v}");
                assert!(v.get("pending_late_landing").is_none(), "{ctx}: {v}");
            } else {
                assert_eq!(s, 200, "{ctx}: {v}");
                assert_eq!(v["status"], "TRADE_SUCCESS", "{ctx}");
                assert_eq!(v["landed_late"], true, "{ctx}");
            }
        }
    }
    // close_and_block blocks that out_trade_no even when the profile later says "lands".
    put_profile(
        &gw,
        &json!({"behaviour": {"cancel_unknown": "close_and_block"}}),
    )
    .await;
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "CU_BLOCK"}))
        .await
        .node();
    assert_unknown_cancel(&c, "close_and_block", "CU_BLOCK");
    put_profile(&gw, &json!({})).await;
    let r = gw
        .call(Method::TradePay, &pay_biz("CU_BLOCK", "1.00", "0000"))
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.TRADE_HAS_CLOSE", "{r}");
    let (s, v) = gw.ctl_get("/_sim/trades/CU_BLOCK").await;
    assert_eq!((s, &v["cancelled_unknown"]["block"]), (404, &json!(true)));
    let (_, sum) = gw.ctl_get("/_sim/ledger/summary").await;
    assert_eq!(sum["max_pay_count"], 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pay_sub_code_by_magic_value_and_profile() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    for (i, doc) in PAY_SUB_CODES.iter().enumerate() {
        let last4 = format!("41{:02}", i + 1);
        let out = format!("SC_{last4}");
        let r = gw
            .call(Method::TradePay, &pay_biz(&out, "3.00", &last4))
            .await
            .node();
        assert_eq!(r["code"], "40004", "{last4}: {r}");
        assert_eq!(r["msg"], "Business Failed");
        assert_eq!(r["sub_code"], doc.sub_code, "{last4}");
        assert_eq!(r["sub_msg"], doc.description, "{last4}");
        assert_eq!(r["out_trade_no"], out.as_str());
        let (s, v) = gw.ctl_get(&format!("/_sim/trades/{out}")).await;
        match doc.sub_code {
            "ACQ.TRADE_HAS_SUCCESS" => {
                assert_eq!(last4, "4109");
                assert_eq!((s, &v["status"]), (200, &json!("TRADE_SUCCESS")), "{v}");
                assert_eq!(v["pay_count"], 1);
                assert_eq!(query(&gw, &out).await["trade_status"], "TRADE_SUCCESS");
            }
            "ACQ.TRADE_HAS_CLOSE" => {
                assert_eq!(last4, "4110");
                assert_eq!((s, &v["status"]), (200, &json!("TRADE_CLOSED")), "{v}");
                assert_eq!(v["pay_count"], 0);
            }
            _ => assert_eq!(s, 404, "{last4} booked a trade: {v}"),
        }
    }
    // 4100 and 4138 are no magic values: plain success.
    for last4 in ["4100", "4138"] {
        let r = gw
            .call(
                Method::TradePay,
                &pay_biz(&format!("SC_{last4}"), "1.00", last4),
            )
            .await
            .node();
        assert_eq!(r["code"], "10000", "{last4}");
    }
    // 4004 and 4005 as before (the sub_msg is the description of docs/PROTOCOL.md §10).
    let r = gw
        .call(Method::TradePay, &pay_biz("SC_4004", "1.00", "4004"))
        .await
        .node();
    assert_eq!(
        (r["sub_code"].as_str(), r["sub_msg"].as_str()),
        (
            Some("ACQ.PAYMENT_AUTH_CODE_INVALID"),
            Some("支付授权码无效")
        )
    );
    assert_eq!(gw.ctl_get("/_sim/trades/SC_4004").await.0, 404);
    let r = gw
        .call(Method::TradePay, &pay_biz("SC_4005", "1.00", "4005"))
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.BUYER_BALANCE_NOT_ENOUGH");
    assert_eq!(r["sub_msg"], "买家余额不足");
    assert_eq!(
        gw.ctl_get("/_sim/trades/SC_4005").await.1["status"],
        "TRADE_CLOSED"
    );

    // The profile accepts every sub-code of the table and sends its description.
    for (i, doc) in PAY_SUB_CODES.iter().enumerate() {
        put_profile(
            &gw,
            &json!({"pay": {"business_failed": 1.0, "business_failed_sub_codes": [doc.sub_code]}}),
        )
        .await;
        let out = format!("SP_{i}");
        let r = gw
            .call(Method::TradePay, &pay_biz(&out, "2.00", "0000"))
            .await
            .node();
        assert_eq!(r["sub_code"], doc.sub_code, "{r}");
        assert_eq!(r["sub_msg"], doc.description, "{r}");
    }
    // An unknown sub-code is refused, naming the field.
    let (s, v) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            r#"{"pay": {"business_failed_sub_codes": ["ACQ.NO_SUCH_CODE"]}}"#,
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("pay.business_failed_sub_codes") && e.contains("ACQ.NO_SUCH_CODE"),
        "{e}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_disagree_with_the_request() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    // 9004: total_amount 0.01 too high in a signed 10000 answer.
    let r = gw
        .call(Method::TradePay, &pay_biz("AF_4", "10.00", "9004"))
        .await
        .node();
    assert_eq!(r["code"], "10000", "{r}");
    assert_eq!(r["total_amount"], "10.01");
    assert_eq!(r["out_trade_no"], "AF_4");
    let (_, v) = gw.ctl_get("/_sim/trades/AF_4").await;
    assert_eq!(v["status"], "TRADE_SUCCESS");
    assert_eq!(v["total_amount"], "10.00");
    assert_eq!(v["pay_count"], 1);
    let q = query(&gw, "AF_4").await;
    assert_eq!(
        (q["trade_status"].as_str(), q["total_amount"].as_str()),
        (Some("TRADE_SUCCESS"), Some("10.00"))
    );
    // 9005: the answer names another out_trade_no.
    let r = gw
        .call(Method::TradePay, &pay_biz("AF_5", "7.00", "9005"))
        .await
        .node();
    assert_eq!(r["code"], "10000", "{r}");
    assert_eq!(r["out_trade_no"], "AF_5X");
    assert_eq!(r["total_amount"], "7.00");
    let (_, v) = gw.ctl_get("/_sim/trades/AF_5").await;
    assert_eq!(v["status"], "TRADE_SUCCESS");
    assert_eq!(v["out_trade_no"], "AF_5");
    let q = query(&gw, "AF_5").await;
    assert_eq!(
        (q["trade_status"].as_str(), q["out_trade_no"].as_str()),
        (Some("TRADE_SUCCESS"), Some("AF_5"))
    );
    assert_eq!(query(&gw, "AF_5X").await["sub_code"], "ACQ.TRADE_NOT_EXIST");
    assert_eq!(gw.ctl_get("/_sim/trades/AF_5X").await.0, 404);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_turned_off() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let rx = Receiver::start(|_| "success").await;
    let (_, p) = gw.ctl_get("/_sim/profile").await;
    assert_eq!(p["notify"]["enabled"], true);
    put_profile(&gw, &json!({"notify": {"enabled": false}})).await;
    let biz = json!({"out_trade_no": "NO_1", "total_amount": "9.00", "subject": "qr"});
    let url = rx.url();
    let r = gw
        .call_opts(Method::TradePrecreate, &biz, Some(url.as_str()))
        .await
        .node();
    assert_eq!(r["code"], "10000");
    let (s, v) = gw.ctl("POST", "/_sim/trades/NO_1/buyer-pay", "").await;
    assert_eq!(
        (s, &v["trade"]["status"]),
        (200, &json!("TRADE_SUCCESS")),
        "{v}"
    );
    // The first attempt would come at once and retries after 4m / 100 = 2.4 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.count(), 0);
    let (_, n) = gw.ctl_get("/_sim/notifications?out_trade_no=NO_1").await;
    assert_eq!(n["notifications"], json!([]), "{n}");
    assert_eq!(query(&gw, "NO_1").await["trade_status"], "TRADE_SUCCESS");
    // Turned on again, the next paid trade is notified.
    put_profile(&gw, &json!({})).await;
    let biz = json!({"out_trade_no": "NO_2", "total_amount": "9.00", "subject": "qr"});
    gw.call_opts(Method::TradePrecreate, &biz, Some(url.as_str()))
        .await
        .node();
    gw.ctl("POST", "/_sim/trades/NO_2/buyer-pay", "").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while rx.count() == 0 {
        assert!(Instant::now() < deadline, "no notification for NO_2");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rx.count(), 1);
    sim.shutdown().await;
}
