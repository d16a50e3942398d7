//! Every trade method, every magic value and every repeated-request rule,
//! through real sockets with a signing client; responses verified.

mod common;

use std::time::Duration;

use common::*;
use protocol::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_success_query_and_repeats() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let n = gw
        .call(Method::TradePay, &pay_biz("P_OK", "88.88", "0000"))
        .await
        .node();
    assert_eq!(n["code"], "10000");
    assert_eq!(n["msg"], "Success");
    assert_eq!(n["total_amount"], "88.88");
    assert_eq!(n["receipt_amount"], "88.88");
    assert_eq!(n["point_amount"], "0.00");
    let tn = n["trade_no"].as_str().unwrap();
    assert_eq!(tn.len(), 28);
    assert!(tn.bytes().all(|c| c.is_ascii_digit()));
    let buyer = n["buyer_user_id"].as_str().unwrap();
    assert!(buyer.starts_with("2088") && buyer.len() == 16);
    assert!(n["buyer_logon_id"].as_str().unwrap().contains('*'));
    assert_eq!(n["fund_bill_list"][0]["fund_channel"], "ALIPAYACCOUNT");
    assert!(n["gmt_payment"].as_str().unwrap().len() == 19);

    // Query by out_trade_no and by trade_no.
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "P_OK"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    assert_eq!(q["trade_no"], tn);
    let q = gw
        .call(Method::TradeQuery, &json!({"trade_no": tn}))
        .await
        .node();
    assert_eq!(q["out_trade_no"], "P_OK");

    // Repeated pay, same content: TRADE_HAS_SUCCESS; different amount: CONTEXT_INCONSISTENT.
    let r = gw
        .call(Method::TradePay, &pay_biz("P_OK", "88.88", "0000"))
        .await
        .node();
    assert_eq!(
        (r["code"].as_str(), r["sub_code"].as_str()),
        (Some("40004"), Some("ACQ.TRADE_HAS_SUCCESS"))
    );
    let r = gw
        .call(Method::TradePay, &pay_biz("P_OK", "1.00", "0000"))
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.CONTEXT_INCONSISTENT");

    // Not existing.
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "NOPE"}))
        .await
        .node();
    assert_eq!(q["sub_code"], "ACQ.TRADE_NOT_EXIST");
    assert_eq!(q["msg"], "Business Failed");

    let (s, v) = gw.ctl_get("/_sim/trades/P_OK").await;
    assert_eq!(s, 200);
    assert_eq!(v["pay_count"], 1);
    assert_eq!(v["status"], "TRADE_SUCCESS");
    assert_eq!(v["history"].as_array().unwrap().len(), 2);
    let (s, v) = gw.ctl_get("/_sim/trades/NOPE").await;
    assert_eq!((s, v), (404, json!({"error": "not found"})));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_values() {
    let sim = sim().await;
    let gw = Gw::new(&sim);

    // 1003: 10003, then paid after the (scaled) password delay.
    let n = gw
        .call(Method::TradePay, &pay_biz("M_1003", "10.00", "1003"))
        .await
        .node();
    assert_eq!(n["code"], "10003");
    assert_eq!(n["msg"], " order success pay inprocess");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "M_1003"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    // A repeated pay while waiting answers 10003 again, with no second charge.
    let r = gw
        .call(Method::TradePay, &pay_biz("M_1003", "10.00", "1003"))
        .await
        .node();
    assert_eq!(r["code"], "10003");
    let v = gw
        .wait_status("M_1003", "TRADE_SUCCESS", Duration::from_secs(3))
        .await;
    assert_eq!(v["pay_count"], 1);

    // 1004: 10003, never paid; cancel closes it.
    let n = gw
        .call(Method::TradePay, &pay_biz("M_1004", "10.00", "1004"))
        .await
        .node();
    assert_eq!(n["code"], "10003");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "M_1004"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "M_1004"}))
        .await
        .node();
    assert_eq!(
        (
            c["code"].as_str(),
            c["action"].as_str(),
            c["retry_flag"].as_str()
        ),
        (Some("10000"), Some("close"), Some("N"))
    );
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "M_1004"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_CLOSED");

    // Amount >= 1000.00: password, then paid.
    let n = gw
        .call(Method::TradePay, &pay_biz("M_BIG", "1000.00", "0000"))
        .await
        .node();
    assert_eq!(n["code"], "10003");
    gw.wait_status("M_BIG", "TRADE_SUCCESS", Duration::from_secs(3))
        .await;
    let n = gw
        .call(Method::TradePay, &pay_biz("M_SMALL", "999.99", "0000"))
        .await
        .node();
    assert_eq!(n["code"], "10000");

    // 2000: 20000 but paid; 2001: 20000, no trade.
    let n = gw
        .call(Method::TradePay, &pay_biz("M_2000", "5.00", "2000"))
        .await
        .node();
    assert_eq!(
        (n["code"].as_str(), n["sub_code"].as_str()),
        (Some("20000"), Some("isp.unknow-error"))
    );
    assert_eq!(n["msg"], "Service Currently Unavailable");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "M_2000"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    let n = gw
        .call(Method::TradePay, &pay_biz("M_2001", "5.00", "2001"))
        .await
        .node();
    assert_eq!(n["code"], "20000");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "M_2001"}))
        .await
        .node();
    assert_eq!(q["sub_code"], "ACQ.TRADE_NOT_EXIST");

    // 4004: auth code invalid, no trade; 4005: balance, closed trade.
    let n = gw
        .call(Method::TradePay, &pay_biz("M_4004", "5.00", "4004"))
        .await
        .node();
    assert_eq!(n["sub_code"], "ACQ.PAYMENT_AUTH_CODE_INVALID");
    assert_eq!(n["receipt_amount"], "0.00");
    assert_eq!(n["out_trade_no"], "M_4004");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "M_4004"}))
        .await
        .node();
    assert_eq!(q["sub_code"], "ACQ.TRADE_NOT_EXIST");
    let n = gw
        .call(Method::TradePay, &pay_biz("M_4005", "5.00", "4005"))
        .await
        .node();
    assert_eq!(n["sub_code"], "ACQ.BUYER_BALANCE_NOT_ENOUGH");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "M_4005"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_CLOSED");
    // Paying a closed trade again: TRADE_HAS_CLOSE.
    let n = gw
        .call(Method::TradePay, &pay_biz("M_4005", "5.00", "4005"))
        .await
        .node();
    assert_eq!(n["sub_code"], "ACQ.TRADE_HAS_CLOSE");

    // 9001: held past the client's time-out then dropped; paid.
    let t0 = std::time::Instant::now();
    let o = gw
        .call(Method::TradePay, &pay_biz("M_9001", "5.00", "9001"))
        .await;
    assert!(matches!(o, Outcome::Transport(_)), "{o:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t0.elapsed()
    );
    let (_, v) = gw.ctl_get("/_sim/trades/M_9001").await;
    assert_eq!(
        (v["status"].as_str(), v["pay_count"].as_u64()),
        (Some("TRADE_SUCCESS"), Some(1))
    );

    // 9002: reset at once, no trade.
    let t0 = std::time::Instant::now();
    let o = gw
        .call(Method::TradePay, &pay_biz("M_9002", "5.00", "9002"))
        .await;
    assert!(matches!(o, Outcome::Transport(_)), "{o:?}");
    assert!(t0.elapsed() < Duration::from_millis(250));
    let (s, _) = gw.ctl_get("/_sim/trades/M_9002").await;
    assert_eq!(s, 404);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precreate_create_buyer_pay_close() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let biz = json!({"out_trade_no": "Q_1", "total_amount": "12.50", "subject": "qr"});
    let n = gw.call(Method::TradePrecreate, &biz).await.node();
    assert_eq!(n["code"], "10000");
    let qr = n["qr_code"].as_str().unwrap().to_owned();
    assert!(qr.starts_with("https://qr.alipay.com/"), "{qr}");
    // The same precreate again: the same QR; different content: CONTEXT_INCONSISTENT.
    let again = gw.call(Method::TradePrecreate, &biz).await.node();
    assert_eq!(again["qr_code"], qr.as_str());
    let other = gw
        .call(
            Method::TradePrecreate,
            &json!({"out_trade_no": "Q_1", "total_amount": "12.51", "subject": "qr"}),
        )
        .await
        .node();
    assert_eq!(other["sub_code"], "ACQ.CONTEXT_INCONSISTENT");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "Q_1"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    let (s, v) = gw.ctl("POST", "/_sim/trades/Q_1/buyer-pay", "").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["trade"]["status"], "TRADE_SUCCESS");
    let (s, _) = gw.ctl("POST", "/_sim/trades/Q_1/buyer-pay", "").await;
    assert_eq!(s, 409);
    let again = gw.call(Method::TradePrecreate, &biz).await.node();
    assert_eq!(again["sub_code"], "ACQ.TRADE_HAS_SUCCESS");
    // Close only from WAIT_BUYER_PAY.
    let c = gw
        .call(Method::TradeClose, &json!({"out_trade_no": "Q_1"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.TRADE_STATUS_ERROR");
    let c = gw
        .call(Method::TradeClose, &json!({"out_trade_no": "Q_NONE"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.TRADE_NOT_EXIST");

    // create: requires a buyer; returns trade_no; close works while unpaid.
    let c = gw
        .call(
            Method::TradeCreate,
            &json!({"out_trade_no": "C_1", "total_amount": "3.00", "subject": "js"}),
        )
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.INVALID_PARAMETER");
    let c = gw
        .call(
            Method::TradeCreate,
            &json!({"out_trade_no": "C_1", "total_amount": "3.00", "subject": "js", "buyer_id": "2088101117955611"}),
        )
        .await
        .node();
    assert_eq!(c["code"], "10000");
    assert_eq!(c["trade_no"].as_str().unwrap().len(), 28);
    let cl = gw
        .call(Method::TradeClose, &json!({"trade_no": c["trade_no"]}))
        .await
        .node();
    assert_eq!(cl["code"], "10000");
    assert_eq!(cl["out_trade_no"], "C_1");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "C_1"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_CLOSED");
    let again = gw
        .call(
            Method::TradeCreate,
            &json!({"out_trade_no": "C_1", "total_amount": "3.00", "subject": "js", "buyer_id": "2088101117955611"}),
        )
        .await
        .node();
    assert_eq!(again["sub_code"], "ACQ.TRADE_HAS_CLOSE");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_and_refund_query() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    gw.call(Method::TradePay, &pay_biz("R_1", "100.00", "0000"))
        .await
        .node();
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_1", "refund_amount": "30.00", "out_request_no": "RQ1"}),
        )
        .await
        .node();
    assert_eq!(
        (
            r["code"].as_str(),
            r["fund_change"].as_str(),
            r["refund_fee"].as_str()
        ),
        (Some("10000"), Some("Y"), Some("30.00"))
    );
    // Repeat: fund_change N, same cumulative fee.
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_1", "refund_amount": "30.00", "out_request_no": "RQ1"}),
        )
        .await
        .node();
    assert_eq!(
        (r["fund_change"].as_str(), r["refund_fee"].as_str()),
        (Some("N"), Some("30.00"))
    );
    // Same out_request_no, different amount.
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_1", "refund_amount": "31.00", "out_request_no": "RQ1"}),
        )
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.DISCORDANT_REPEAT_REQUEST");
    // Over the paid amount.
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_1", "refund_amount": "70.01", "out_request_no": "RQ2"}),
        )
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL");
    // The rest: full refund closes the trade.
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_1", "refund_amount": "70.00", "out_request_no": "RQ2"}),
        )
        .await
        .node();
    assert_eq!(r["refund_fee"], "100.00");
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "R_1"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_CLOSED");
    // Refund query: found and not found.
    let rq = gw
        .call(
            Method::TradeFastpayRefundQuery,
            &json!({"out_trade_no": "R_1", "out_request_no": "RQ1"}),
        )
        .await
        .node();
    assert_eq!(
        (
            rq["refund_amount"].as_str(),
            rq["refund_status"].as_str(),
            rq["total_amount"].as_str()
        ),
        (Some("30.00"), Some("REFUND_SUCCESS"), Some("100.00"))
    );
    let rq = gw
        .call(
            Method::TradeFastpayRefundQuery,
            &json!({"out_trade_no": "R_1", "out_request_no": "RQ9"}),
        )
        .await
        .node();
    assert_eq!(rq["code"], "10000");
    assert!(rq.get("refund_status").is_none());
    let rq = gw
        .call(
            Method::TradeFastpayRefundQuery,
            &json!({"out_trade_no": "R_NONE", "out_request_no": "RQ9"}),
        )
        .await
        .node();
    assert_eq!(rq["sub_code"], "ACQ.TRADE_NOT_EXIST");
    // Unpaid trade: TRADE_STATUS_ERROR; unknown trade: TRADE_NOT_EXIST.
    gw.call(Method::TradePay, &pay_biz("R_2", "5.00", "1004"))
        .await
        .node();
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_2", "refund_amount": "1.00"}),
        )
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.TRADE_STATUS_ERROR");
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_NONE", "refund_amount": "1.00"}),
        )
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.TRADE_NOT_EXIST");
    // Without out_request_no: defaults to out_trade_no, so a repeat is the same request.
    gw.call(Method::TradePay, &pay_biz("R_3", "5.00", "0000"))
        .await
        .node();
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_3", "refund_amount": "1.00"}),
        )
        .await
        .node();
    assert_eq!(r["fund_change"], "Y");
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "R_3", "refund_amount": "1.00"}),
        )
        .await
        .node();
    assert_eq!(r["fund_change"], "N");
    let (_, v) = gw.ctl_get("/_sim/trades/R_1").await;
    assert_eq!(v["refunded_amount"], "100.00");
    assert_eq!(v["refunds"].as_array().unwrap().len(), 2);
    let (_, s) = gw.ctl_get("/_sim/ledger/summary").await;
    assert_eq!(s["refunds"]["amount"], "101.00");
    assert_eq!(s["max_pay_count"], 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_rules() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    // Paid within 24 h: refund.
    gw.call(Method::TradePay, &pay_biz("X_1", "8.00", "0000"))
        .await
        .node();
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "X_1"}))
        .await
        .node();
    assert_eq!(
        (c["action"].as_str(), c["retry_flag"].as_str()),
        (Some("refund"), Some("N"))
    );
    assert!(c["gmt_refund_pay"].is_string());
    let (_, v) = gw.ctl_get("/_sim/trades/X_1").await;
    assert_eq!(
        (v["status"].as_str(), v["refunded_amount"].as_str()),
        (Some("TRADE_CLOSED"), Some("8.00"))
    );
    // Cancel again: same answer.
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "X_1"}))
        .await
        .node();
    assert_eq!(c["action"], "refund");
    // Older than 24 h: TRADE_CANCEL_TIME_OUT.
    gw.call(Method::TradePay, &pay_biz("X_2", "8.00", "0000"))
        .await
        .node();
    let (s, _) = gw
        .ctl("POST", "/_sim/trades/X_2/backdate", r#"{"seconds": 90000}"#)
        .await;
    assert_eq!(s, 200);
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "X_2"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.TRADE_CANCEL_TIME_OUT");
    // Partly refunded: cannot cancel.
    gw.call(Method::TradePay, &pay_biz("X_3", "8.00", "0000"))
        .await
        .node();
    gw.call(
        Method::TradeRefund,
        &json!({"out_trade_no": "X_3", "refund_amount": "1.00", "out_request_no": "a"}),
    )
    .await
    .node();
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "X_3"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.REASON_TRADE_REFUND_FEE_ERR");
    // Unknown trade: by default 10000 without action or trade_no (SDK doc:
    // "未返回：未查询到交易"); with cancel_unknown = "trade_not_exist", 40004.
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "X_NONE"}))
        .await
        .node();
    assert_eq!(c["code"], "10000");
    assert_eq!(c["out_trade_no"], "X_NONE");
    assert_eq!(c["retry_flag"], "N");
    assert!(
        c.get("action").is_none() && c.get("trade_no").is_none(),
        "{c}"
    );
    let (st, _) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            r#"{"behaviour":{"cancel_unknown":"trade_not_exist"}}"#,
        )
        .await;
    assert_eq!(st, 200);
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "X_NONE"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.TRADE_NOT_EXIST");
    assert_eq!(c["sub_msg"], "交易不存在");
    // A 10003 trade cancelled before the password: never paid afterwards.
    gw.call(Method::TradePay, &pay_biz("X_4", "8.00", "1003"))
        .await
        .node();
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "X_4"}))
        .await
        .node();
    assert_eq!(c["action"], "close");
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (_, v) = gw.ctl_get("/_sim/trades/X_4").await;
    assert_eq!(
        (v["status"].as_str(), v["pay_count"].as_u64()),
        (Some("TRADE_CLOSED"), Some(0))
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn biz_content_validation() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let mut b = pay_biz("V_1", "5.00", "0000");
    b["auth_code"] = json!("241234567890121234");
    let n = gw.call(Method::TradePay, &b).await.node();
    assert_eq!(n["sub_code"], "ACQ.PAYMENT_AUTH_CODE_INVALID");
    let mut b = pay_biz("V_1", "5.00", "0000");
    b["total_amount"] = json!("5.001");
    assert_eq!(
        gw.call(Method::TradePay, &b).await.node()["sub_code"],
        "ACQ.INVALID_PARAMETER"
    );
    b["total_amount"] = json!("0.00");
    assert_eq!(
        gw.call(Method::TradePay, &b).await.node()["sub_code"],
        "ACQ.INVALID_PARAMETER"
    );
    b["total_amount"] = json!("100000000.01");
    assert_eq!(
        gw.call(Method::TradePay, &b).await.node()["sub_code"],
        "ACQ.TOTAL_FEE_EXCEED"
    );
    // A number is accepted as the SDKs' users send it.
    b["total_amount"] = json!(5.5);
    let n = gw.call(Method::TradePay, &b).await.node();
    assert_eq!(
        (n["code"].as_str(), n["total_amount"].as_str()),
        (Some("10000"), Some("5.50"))
    );
    let mut b = pay_biz(&"x".repeat(65), "5.00", "0000");
    assert_eq!(
        gw.call(Method::TradePay, &b).await.node()["sub_code"],
        "ACQ.INVALID_PARAMETER"
    );
    b = pay_biz("V_2", "5.00", "0000");
    b["subject"] = json!("s".repeat(257));
    assert_eq!(
        gw.call(Method::TradePay, &b).await.node()["sub_code"],
        "ACQ.INVALID_PARAMETER"
    );
    b = pay_biz("V_2", "5.00", "0000");
    b["scene"] = json!("qr_code");
    assert_eq!(
        gw.call(Method::TradePay, &b).await.node()["sub_code"],
        "ACQ.INVALID_PARAMETER"
    );
    b = pay_biz("V_2", "5.00", "0000");
    b["timeout_express"] = json!("16d");
    assert_eq!(
        gw.call(Method::TradePay, &b).await.node()["sub_code"],
        "ACQ.INVALID_PARAMETER"
    );
    let q = gw.call(Method::TradeQuery, &json!({})).await.node();
    assert_eq!(q["sub_code"], "ACQ.INVALID_PARAMETER");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trade_timeout_closes_unpaid_trades() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let biz = json!({"out_trade_no": "T_1", "total_amount": "1.00", "subject": "qr", "timeout_express": "1m"});
    gw.call(Method::TradePrecreate, &biz).await.node();
    gw.ctl("POST", "/_sim/trades/T_1/backdate", r#"{"seconds": 61}"#)
        .await;
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "T_1"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_CLOSED");
    let (s, _) = gw.ctl("POST", "/_sim/trades/T_1/buyer-pay", "").await;
    assert_eq!(s, 409);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_trades() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    gw.call(Method::TradePay, &pay_biz("FIN_1", "9.00", "0000"))
        .await
        .node();
    let (s, v) = gw.ctl("POST", "/_sim/trades/FIN_1/finish", "").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("TRADE_FINISHED")));
    let (s, _) = gw.ctl("POST", "/_sim/trades/FIN_1/finish", "").await;
    assert_eq!(s, 409);
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "FIN_1"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_FINISHED");
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "FIN_1", "refund_amount": "1.00"}),
        )
        .await
        .node();
    assert_eq!(r["sub_code"], "ACQ.TRADE_HAS_FINISHED");
    let c = gw
        .call(Method::TradeCancel, &json!({"out_trade_no": "FIN_1"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.TRADE_HAS_FINISHED");
    let p = gw
        .call(Method::TradePay, &pay_biz("FIN_1", "9.00", "0000"))
        .await
        .node();
    assert_eq!(p["sub_code"], "ACQ.TRADE_HAS_SUCCESS");
    let c = gw
        .call(Method::TradeClose, &json!({"out_trade_no": "FIN_1"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.TRADE_STATUS_ERROR");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precreate_hidden_until_scan_when_enabled() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let (s, _) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            "[behaviour]\nprecreate_hidden_until_scan = true\n",
        )
        .await;
    assert_eq!(s, 200);
    let biz = json!({"out_trade_no": "H_1", "total_amount": "1.00", "subject": "qr"});
    assert_eq!(
        gw.call(Method::TradePrecreate, &biz).await.node()["code"],
        "10000"
    );
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "H_1"}))
        .await
        .node();
    assert_eq!(q["sub_code"], "ACQ.TRADE_NOT_EXIST");
    let c = gw
        .call(Method::TradeClose, &json!({"out_trade_no": "H_1"}))
        .await
        .node();
    assert_eq!(c["sub_code"], "ACQ.TRADE_NOT_EXIST");
    let (s, v) = gw.ctl("POST", "/_sim/trades/H_1/buyer-scan", "").await;
    assert_eq!((s, v["visible"].as_bool()), (200, Some(true)));
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "H_1"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "WAIT_BUYER_PAY");
    // buyer-pay makes a hidden trade visible too.
    let biz = json!({"out_trade_no": "H_2", "total_amount": "1.00", "subject": "qr"});
    gw.call(Method::TradePrecreate, &biz).await.node();
    gw.ctl("POST", "/_sim/trades/H_2/buyer-pay", "").await;
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "H_2"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_pays_take_money_once() {
    let sim = sim().await;
    let gw = std::sync::Arc::new(Gw::new(&sim));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let gw = std::sync::Arc::clone(&gw);
        tasks.push(tokio::spawn(async move {
            gw.call(Method::TradePay, &pay_biz("CC_1", "7.00", "0000"))
                .await
                .node()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let n = t.await.unwrap();
        if n["code"] == "10000" {
            ok += 1;
        } else {
            assert_eq!(n["sub_code"], "ACQ.TRADE_HAS_SUCCESS", "{n}");
        }
    }
    assert_eq!(ok, 1);
    let (_, v) = gw.ctl_get("/_sim/trades/CC_1").await;
    assert_eq!(v["pay_count"], 1);
    let addr = sim.addr();
    sim.shutdown().await;
    // After shutdown nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
