//! Refund rules of docs/PROTOCOL.md §9.6 (退款条件、顺序): the sub-merchant's
//! income of the gateway day must cover a refund (ACQ.SELLER_BALANCE_NOT_ENOUGH),
//! refunds are possible for the refund window only (TRADE_FINISHED,
//! ACQ.TRADE_HAS_FINISHED), and a refund takes from the payment's funding
//! tools in that section's priority order (`refund_detail_item_list`).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use protocol::Method;
use serde_json::{json, Value};

const DAY: i64 = 86_400;

async fn shift(gw: &Gw, secs: i64) {
    let (st, v) = gw
        .ctl(
            "POST",
            "/_sim/clock",
            &json!({ "offset_secs": secs }).to_string(),
        )
        .await;
    assert_eq!(st, 200, "{v}");
}

async fn pay(gw: &Gw, out: &str, amount: &str) -> Value {
    let n = gw
        .call(Method::TradePay, &pay_biz(out, amount, "0000"))
        .await
        .node();
    assert_eq!(n["code"], "10000", "{n}");
    n
}

async fn pay_smid(gw: &Gw, out: &str, amount: &str, smid: &str) -> Value {
    let mut biz = pay_biz(out, amount, "0000");
    biz["sub_merchant"] = json!({ "merchant_id": smid });
    let n = gw.call(Method::TradePay, &biz).await.node();
    assert_eq!(n["code"], "10000", "{n}");
    n
}

async fn refund(gw: &Gw, out: &str, amount: &str, orn: &str) -> Value {
    gw.call(
        Method::TradeRefund,
        &json!({"out_trade_no": out, "refund_amount": amount, "out_request_no": orn}),
    )
    .await
    .node()
}

async fn query(gw: &Gw, out: &str) -> Value {
    gw.call(Method::TradeQuery, &json!({ "out_trade_no": out }))
        .await
        .node()
}

async fn put_profile(gw: &Gw, p: &str) {
    let (st, v) = gw.ctl("PUT", "/_sim/profile", p).await;
    assert_eq!(st, 200, "{v}");
}

fn detail(n: &Value) -> Vec<(String, String)> {
    // The refund answer shows its tools under both names (fastpay.refund.query
    // under refund_detail_item_list only).
    if n.get("refund_status").is_none() {
        assert_eq!(n["fund_bill_list"], n["refund_detail_item_list"], "{n}");
    }
    n["refund_detail_item_list"]
        .as_array()
        .unwrap_or_else(|| panic!("no refund_detail_item_list: {n}"))
        .iter()
        .map(|d| {
            (
                d["fund_channel"].as_str().unwrap().to_owned(),
                d["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn assert_short(n: &Value) {
    assert_eq!(n["code"], "40004", "{n}");
    assert_eq!(n["msg"], "Business Failed", "{n}");
    assert_eq!(n["sub_code"], "ACQ.SELLER_BALANCE_NOT_ENOUGH", "{n}");
    assert_eq!(n["sub_msg"], "卖家余额不足", "{n}");
}

#[tokio::test]
async fn the_day_income_must_cover_the_refund() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    // Same day: the payment covers its refund.
    pay(&gw, "RI_0", "5.00").await;
    assert_eq!(refund(&gw, "RI_0", "5.00", "Q0").await["code"], "10000");
    pay(&gw, "RI_1", "10.00").await;
    // One gateway day later nothing was paid yet: the refund is refused, books nothing.
    shift(&gw, DAY).await;
    assert_short(&refund(&gw, "RI_1", "10.00", "Q1").await);
    let (_, t) = gw.ctl_get("/_sim/trades/RI_1").await;
    assert_eq!(t["refunded_amount"], "0.00", "{t}");
    assert_eq!(t["refunds"].as_array().unwrap().len(), 0);
    assert_eq!(t["status"], "TRADE_SUCCESS");
    let q = gw
        .call(
            Method::TradeFastpayRefundQuery,
            &json!({"out_trade_no": "RI_1", "out_request_no": "Q1"}),
        )
        .await
        .node();
    assert!(q.get("refund_status").is_none(), "{q}");
    // Another sub-merchant's income does not count.
    pay_smid(&gw, "RI_S", "50.00", "2088000000000077").await;
    assert_short(&refund(&gw, "RI_1", "10.00", "Q1").await);
    // 20.00 paid that day covers the 10.00 refund (the same out_request_no, retried).
    pay(&gw, "RI_2", "20.00").await;
    let n = refund(&gw, "RI_1", "10.00", "Q1").await;
    assert_eq!(n["code"], "10000", "{n}");
    assert_eq!(n["fund_change"], "Y");
    assert_eq!(n["refund_fee"], "10.00");
    // 10.00 left: 20.00 is too much, 10.00 fits.
    assert_short(&refund(&gw, "RI_2", "20.00", "Q2").await);
    assert_short(&refund(&gw, "RI_2", "10.01", "Q2").await);
    assert_eq!(refund(&gw, "RI_2", "10.00", "Q2").await["code"], "10000");
    // A repeat of a booked refund is answered as before, not checked again.
    let again = refund(&gw, "RI_2", "10.00", "Q2").await;
    assert_eq!(again["code"], "10000", "{again}");
    assert_eq!(again["fund_change"], "N");
    let (st, inc) = gw.ctl_get("/_sim/income").await;
    assert_eq!(st, 200);
    let list = inc["income"].as_array().unwrap();
    let tomorrow = list
        .iter()
        .find(|d| d["sub_merchant_id"].is_null() && d["paid"] == "20.00")
        .unwrap_or_else(|| panic!("{inc}"));
    assert_eq!(tomorrow["refunded"], "20.00");
    assert_eq!(tomorrow["balance"], "0.00");
    assert!(list
        .iter()
        .any(|d| d["sub_merchant_id"] == "2088000000000077" && d["balance"] == "50.00"));
    // Reset forgets the counters.
    gw.ctl("POST", "/_sim/reset", "").await;
    let (_, inc) = gw.ctl_get("/_sim/income").await;
    assert_eq!(inc["income"], json!([]));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cancel_refunds_without_the_check_but_takes_from_the_income() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    pay(&gw, "RC_1", "10.00").await;
    shift(&gw, DAY).await;
    // Within 24 h of its creation: refunded by the cancel, whatever the day's income.
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "RC_1"}))
        .await
        .node();
    assert_eq!(c["code"], "10000", "{c}");
    assert_eq!(c["action"], "refund");
    // The day's balance is now -10.00: 15.00 paid leaves 5.00 to refund.
    pay(&gw, "RC_2", "15.00").await;
    assert_short(&refund(&gw, "RC_2", "10.00", "Q1").await);
    assert_eq!(refund(&gw, "RC_2", "5.00", "Q1").await["code"], "10000");
    let (_, inc) = gw.ctl_get("/_sim/income").await;
    assert!(
        inc["income"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["paid"] == "15.00" && d["refunded"] == "15.00" && d["balance"] == "0.00"),
        "{inc}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_income_check_can_be_switched_off() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    pay(&gw, "RO_1", "10.00").await;
    shift(&gw, DAY).await;
    assert_short(&refund(&gw, "RO_1", "4.00", "Q1").await);
    put_profile(&gw, r#"{"behaviour": {"refund_needs_day_income": false}}"#).await;
    let n = refund(&gw, "RO_1", "4.00", "Q1").await;
    assert_eq!(n["code"], "10000", "{n}");
    // Switched on again, the day's balance (-4.00) refuses the rest.
    put_profile(&gw, "{}").await;
    assert_short(&refund(&gw, "RO_1", "6.00", "Q2").await);
    let (_, p) = gw.ctl_get("/_sim/profile").await;
    assert_eq!(p["behaviour"]["refund_needs_day_income"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn refunds_end_with_the_window() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    pay(&gw, "RW_1", "10.00").await;
    pay(&gw, "RW_2", "10.00").await;
    // Without the income rule, to see the window alone.
    put_profile(&gw, r#"{"behaviour": {"refund_needs_day_income": false}}"#).await;
    shift(&gw, 89 * DAY).await;
    assert_eq!(query(&gw, "RW_1").await["trade_status"], "TRADE_SUCCESS");
    assert_eq!(refund(&gw, "RW_2", "1.00", "Q1").await["code"], "10000");
    shift(&gw, 91 * DAY).await;
    let q = query(&gw, "RW_1").await;
    assert_eq!(q["code"], "10000", "{q}");
    assert_eq!(q["trade_status"], "TRADE_FINISHED", "{q}");
    let n = refund(&gw, "RW_1", "1.00", "Q1").await;
    assert_eq!(n["code"], "40004", "{n}");
    assert_eq!(n["sub_code"], "ACQ.TRADE_HAS_FINISHED", "{n}");
    assert_eq!(n["sub_msg"], "交易已完结", "{n}");
    // A partly refunded trade finishes too; its booked refund is still answered.
    let n = refund(&gw, "RW_2", "2.00", "Q2").await;
    assert_eq!(n["sub_code"], "ACQ.TRADE_HAS_FINISHED", "{n}");
    let again = refund(&gw, "RW_2", "1.00", "Q1").await;
    assert_eq!(again["code"], "10000", "{again}");
    assert_eq!(again["fund_change"], "N");
    let (_, t) = gw.ctl_get("/_sim/trades/RW_2").await;
    assert_eq!(t["status"], "TRADE_FINISHED", "{t}");
    assert_eq!(
        t["history"].as_array().unwrap().last().unwrap()["status"],
        "TRADE_FINISHED"
    );
    // Going back in time does not undo it.
    shift(&gw, 0).await;
    assert_eq!(query(&gw, "RW_1").await["trade_status"], "TRADE_FINISHED");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_window_is_configurable() {
    let sim = sim_with(|c| c.refund_window_days = 30).await;
    let gw = Gw::new(&sim);
    pay(&gw, "RW_30", "10.00").await;
    shift(&gw, 29 * DAY).await;
    assert_eq!(query(&gw, "RW_30").await["trade_status"], "TRADE_SUCCESS");
    shift(&gw, 31 * DAY).await;
    assert_eq!(query(&gw, "RW_30").await["trade_status"], "TRADE_FINISHED");
    sim.shutdown().await;
    let bad = simulator::start({
        let mut c = simulator::SimConfig::demo();
        c.refund_window_days = 0;
        c
    })
    .await;
    let e = bad.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("refund_window_days"), "{e}");
}

#[tokio::test]
async fn refunds_take_from_the_funding_tools_in_the_seed_order() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    // docs/PROTOCOL.md §9.6: order 100, paid 70, merchant coupon 20, points 10.
    put_profile(
        &gw,
        r#"{"behaviour": {"fund_mix": [
            {"fund_channel": "ALIPAYACCOUNT", "percent": 70},
            {"fund_channel": "MDISCOUNT", "percent": 20},
            {"fund_channel": "POINT", "percent": 10}]}}"#,
    )
    .await;
    let p = pay(&gw, "RF_1", "100.00").await;
    let paid = json!([
        {"fund_channel": "ALIPAYACCOUNT", "amount": "70.00"},
        {"fund_channel": "MDISCOUNT", "amount": "20.00"},
        {"fund_channel": "POINT", "amount": "10.00"}
    ]);
    assert_eq!(p["fund_bill_list"], paid, "{p}");
    assert_eq!(p["receipt_amount"], "100.00", "{p}");
    assert_eq!(query(&gw, "RF_1").await["fund_bill_list"], paid);
    pay(&gw, "RF_2", "100.00").await;
    pay(&gw, "RF_3", "100.00").await;
    // 1. A refund of 75: ALIPAYACCOUNT 70, POINT 5.
    let n = refund(&gw, "RF_1", "75.00", "A").await;
    assert_eq!(n["code"], "10000", "{n}");
    assert_eq!(
        detail(&n),
        pairs(&[("ALIPAYACCOUNT", "70.00"), ("POINT", "5.00")])
    );
    // 2. A refund of 85: ALIPAYACCOUNT 70, POINT 10, MDISCOUNT 5.
    let n = refund(&gw, "RF_2", "85.00", "A").await;
    assert_eq!(
        detail(&n),
        pairs(&[
            ("ALIPAYACCOUNT", "70.00"),
            ("POINT", "10.00"),
            ("MDISCOUNT", "5.00")
        ])
    );
    // 75 then 10 on one trade: the second continues where the first left off.
    let first = refund(&gw, "RF_3", "75.00", "A").await;
    assert_eq!(
        detail(&first),
        pairs(&[("ALIPAYACCOUNT", "70.00"), ("POINT", "5.00")])
    );
    let second = refund(&gw, "RF_3", "10.00", "B").await;
    assert_eq!(second["refund_fee"], "85.00", "{second}");
    assert_eq!(
        detail(&second),
        pairs(&[("POINT", "5.00"), ("MDISCOUNT", "5.00")])
    );
    // A repeat answers the same tools; fastpay.refund.query shows them too.
    let again = refund(&gw, "RF_3", "75.00", "A").await;
    assert_eq!(again["fund_change"], "N");
    assert_eq!(detail(&again), detail(&first));
    let q = gw
        .call(
            Method::TradeFastpayRefundQuery,
            &json!({"out_trade_no": "RF_3", "out_request_no": "B"}),
        )
        .await
        .node();
    assert_eq!(q["refund_status"], "REFUND_SUCCESS", "{q}");
    assert_eq!(detail(&q), detail(&second));
    let (_, t) = gw.ctl_get("/_sim/trades/RF_3").await;
    assert_eq!(t["funds"], paid, "{t}");
    assert_eq!(
        t["refunds"][1]["refund_detail_item_list"],
        json!([{"fund_channel": "POINT", "amount": "5.00"},
               {"fund_channel": "MDISCOUNT", "amount": "5.00"}])
    );
    // The last 15 come from MDISCOUNT, and the trade closes.
    let last = refund(&gw, "RF_3", "15.00", "C").await;
    assert_eq!(detail(&last), pairs(&[("MDISCOUNT", "15.00")]));
    assert_eq!(query(&gw, "RF_3").await["trade_status"], "TRADE_CLOSED");
    // The split is fixed at payment: a later profile does not change it.
    put_profile(&gw, "{}").await;
    assert_eq!(query(&gw, "RF_1").await["fund_bill_list"], paid);
    let p = pay(&gw, "RF_4", "12.34").await;
    assert_eq!(
        p["fund_bill_list"],
        json!([{"fund_channel": "ALIPAYACCOUNT", "amount": "12.34"}])
    );
    let n = refund(&gw, "RF_4", "2.00", "A").await;
    assert_eq!(detail(&n), pairs(&[("ALIPAYACCOUNT", "2.00")]));
    // Remainder of the fen split to the first tool.
    put_profile(
        &gw,
        r#"{"behaviour": {"fund_mix": [
            {"fund_channel": "BANKCARD", "percent": 50},
            {"fund_channel": "COUPON", "percent": 25},
            {"fund_channel": "PCREDIT", "percent": 25}]}}"#,
    )
    .await;
    let p = pay(&gw, "RF_5", "0.07").await;
    assert_eq!(
        p["fund_bill_list"],
        json!([{"fund_channel": "BANKCARD", "amount": "0.05"},
               {"fund_channel": "COUPON", "amount": "0.01"},
               {"fund_channel": "PCREDIT", "amount": "0.01"}])
    );
    // PCREDIT first, then BANKCARD, COUPON last.
    let n = refund(&gw, "RF_5", "0.03", "A").await;
    assert_eq!(
        detail(&n),
        pairs(&[("PCREDIT", "0.01"), ("BANKCARD", "0.02")])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_fund_mix_is_refused_naming_the_field() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let (st, v) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            r#"{"behaviour": {"fund_mix": [{"fund_channel": "ALIPAYACCOUNT", "percent": 60},
                {"fund_channel": "POINT", "percent": 30}]}}"#,
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("behaviour.fund_mix") && e.contains("100"), "{e}");
    let (st, v) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            "[[behaviour.fund_mix]]\nfund_channel = \"HUABEI\"\npercent = 100\n",
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("fund_channel"), "{v}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_takes_refund_window_days() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_alipay-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--demo-direct",
            "--refund-window-days",
            "5",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut l = String::new();
        BufReader::new(stdout).read_line(&mut l).map(|_| l)
    });
    let url = match tokio::time::timeout(Duration::from_secs(10), line).await {
        Ok(Ok(Ok(l))) => l.trim().rsplit(' ').next().unwrap_or("").to_owned(),
        other => {
            let _ = child.kill();
            panic!("no startup line: {other:?}");
        }
    };
    let gw = Gw {
        http: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
        url: url.clone(),
        base: url.trim_end_matches("/gateway.do").to_owned(),
        signer: protocol::Signer::from_text(simulator::DEMO_APP_PRIVATE_KEY).unwrap(),
        verifier: protocol::Verifier::from_text(simulator::DEMO_ALIPAY_PUBLIC_KEY).unwrap(),
    };
    let p = gw
        .call(Method::TradePay, &pay_biz("RB_1", "10.00", "0000"))
        .await;
    shift(&gw, 4 * DAY).await;
    let before = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "RB_1"}))
        .await;
    shift(&gw, 6 * DAY).await;
    let after = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "RB_1"}))
        .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(p.node()["code"], "10000");
    assert_eq!(before.node()["trade_status"], "TRADE_SUCCESS");
    assert_eq!(after.node()["trade_status"], "TRADE_FINISHED");
    let out = Command::new(env!("CARGO_BIN_EXE_alipay-sim"))
        .args(["--listen", "127.0.0.1:0", "--refund-window-days", "0"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refund_window_days"), "{err}");
}
