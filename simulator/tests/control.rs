//! The seeded profile (same seed, same requests, same outcomes, whatever the
//! arrival order), latency, the control API and the bill download.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, Instant};

use common::*;
use protocol::Method;
use serde_json::json;

const PROFILE: &str = r#"
seed = 42
[pay]
wait_password = 0.2
wait_password_paid = 0.5
unknown_error = 0.1
business_failed = 0.1
business_failed_sub_codes = ["ACQ.BUYER_BALANCE_NOT_ENOUGH", "ACQ.PAYMENT_AUTH_CODE_INVALID"]
[faults]
hang = 0.05
reset = 0.05
"#;

async fn outcomes(order: &[usize]) -> BTreeMap<String, String> {
    let sim = sim_with(|c| {
        c.profile = simulator::Profile::parse(PROFILE).unwrap();
        c.client_timeout_hint = Duration::from_millis(50);
    })
    .await;
    let gw = Gw::new(&sim);
    let mut out = BTreeMap::new();
    for &i in order {
        let no = format!("D_{i}");
        let o = gw
            .call(Method::TradePay, &pay_biz(&no, "3.00", "0000"))
            .await;
        let s = match o {
            Outcome::Transport(_) => "transport".to_owned(),
            Outcome::Node(v) | Outcome::Unsigned(v) => {
                format!(
                    "{} {}",
                    v["code"].as_str().unwrap(),
                    v["sub_code"].as_str().unwrap_or("")
                )
            }
        };
        out.insert(no, s);
    }
    sim.shutdown().await;
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_outcomes_in_any_order() {
    let forward: Vec<usize> = (0..80).collect();
    let backward: Vec<usize> = (0..80).rev().collect();
    let a = outcomes(&forward).await;
    let b = outcomes(&backward).await;
    assert_eq!(a, b);
    let count = |p: &str| a.values().filter(|v| v.starts_with(p)).count();
    for p in ["10000", "10003", "20000", "40004", "transport"] {
        assert!(count(p) > 0, "no {p} in {a:?}");
    }
    assert!(count("10000") > 30, "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_api_latency_and_faults_of_other_methods() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let (s, p) = gw.ctl_get("/_sim/profile").await;
    assert_eq!(s, 200);
    assert_eq!(p["seed"], 0);
    let (s, e) = gw
        .ctl("PUT", "/_sim/profile", r#"{"pay": {"wait_password": 3}}"#)
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].is_string());
    let (s, _) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            "seed = 1\n[latency.\"alipay.trade.query\"]\nkind = \"fixed\"\nms = 150\n[faults]\nunknown_error = 1.0\n",
        )
        .await;
    assert_eq!(s, 200);
    let (_, p) = gw.ctl_get("/_sim/profile").await;
    assert_eq!(p["latency"]["alipay.trade.query"]["kind"], "fixed");
    // Every query answers 20000 without executing (pay is not affected by faults.unknown_error).
    let n = gw
        .call(Method::TradePay, &pay_biz("F_1", "1.00", "0000"))
        .await
        .node();
    assert_eq!(n["code"], "10000");
    let t0 = Instant::now();
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "F_1"}))
        .await
        .node();
    assert_eq!(
        (q["code"].as_str(), q["sub_code"].as_str()),
        (Some("20000"), Some("isp.unknow-error"))
    );
    // Unknown errors answer at once; latency applies to answers that are executed.
    let _ = t0;
    let (s, _) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            "seed = 1\n[latency.\"alipay.trade.query\"]\nkind = \"fixed\"\nms = 150\n",
        )
        .await;
    assert_eq!(s, 200);
    let t0 = Instant::now();
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "F_1"}))
        .await
        .node();
    assert_eq!(q["trade_status"], "TRADE_SUCCESS");
    assert!(
        t0.elapsed() >= Duration::from_millis(145),
        "{:?}",
        t0.elapsed()
    );
    // Resets of a method other than pay: the refund is not executed.
    gw.ctl("PUT", "/_sim/profile", "[faults]\nreset = 1.0\n")
        .await;
    let o = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "F_1", "refund_amount": "1.00"}),
        )
        .await;
    assert!(matches!(o, Outcome::Transport(_)), "{o:?}");
    gw.ctl("PUT", "/_sim/profile", "{}").await;
    let (_, v) = gw.ctl_get("/_sim/trades/F_1").await;
    assert_eq!(v["refunded_amount"], "0.00");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_listing_summary_reset() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    gw.call(Method::TradePay, &pay_biz("L_1", "10.00", "0000"))
        .await
        .node();
    gw.call(Method::TradePay, &pay_biz("L_2", "20.00", "1004"))
        .await
        .node();
    gw.call(
        Method::TradePrecreate,
        &json!({"out_trade_no": "L_3", "total_amount": "30.00", "subject": "s"}),
    )
    .await
    .node();
    let (s, v) = gw.ctl_get("/_sim/trades").await;
    assert_eq!(s, 200);
    let trades = v["trades"].as_array().unwrap();
    assert_eq!(trades.len(), 3);
    for t in trades {
        for k in [
            "app_id",
            "out_trade_no",
            "trade_no",
            "status",
            "total_amount",
            "receipt_amount",
            "refunded_amount",
            "pay_count",
            "refunds",
            "history",
        ] {
            assert!(t.get(k).is_some(), "{k} missing in {t}");
        }
    }
    let l2 = trades.iter().find(|t| t["out_trade_no"] == "L_2").unwrap();
    assert_eq!(
        (
            l2["status"].as_str(),
            l2["receipt_amount"].as_str(),
            l2["pay_count"].as_u64()
        ),
        (Some("WAIT_BUYER_PAY"), Some("0.00"), Some(0))
    );
    let (_, v) = gw
        .ctl_get("/_sim/trades?status=WAIT_BUYER_PAY&limit=1")
        .await;
    let page = v["trades"].as_array().unwrap();
    assert_eq!(page.len(), 1);
    let (_, v) = gw
        .ctl_get(&format!(
            "/_sim/trades?status=WAIT_BUYER_PAY&after={}",
            page[0]["trade_no"].as_str().unwrap()
        ))
        .await;
    assert_eq!(v["trades"].as_array().unwrap().len(), 1);
    let (s, _) = gw.ctl_get("/_sim/trades?limit=x").await;
    assert_eq!(s, 400);
    let (_, s) = gw.ctl_get("/_sim/ledger/summary").await;
    assert_eq!(s["trades"], 3);
    assert_eq!(s["by_status"]["WAIT_BUYER_PAY"]["count"], 2);
    assert_eq!(s["by_status"]["WAIT_BUYER_PAY"]["total_amount"], "50.00");
    assert_eq!(s["paid"]["amount"], "10.00");
    let (s, v) = gw.ctl("POST", "/_sim/reset", "").await;
    assert_eq!((s, v), (200, json!({"reset": true})));
    let (_, v) = gw.ctl_get("/_sim/trades").await;
    assert_eq!(v["trades"].as_array().unwrap().len(), 0);
    // The same out_trade_no is new again.
    let n = gw
        .call(Method::TradePay, &pay_biz("L_1", "11.00", "0000"))
        .await
        .node();
    assert_eq!(n["code"], "10000");
    let (s, _) = gw.ctl("POST", "/_sim/trades/NONE/buyer-pay", "").await;
    assert_eq!(s, 404);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bill_download_in_alipay_layout() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    gw.call(Method::TradePay, &pay_biz("B_1", "10.00", "0000"))
        .await
        .node();
    gw.call(Method::TradePay, &pay_biz("B_2", "20.00", "0000"))
        .await
        .node();
    gw.call(
        Method::TradeRefund,
        &json!({"out_trade_no": "B_2", "refund_amount": "5.00", "out_request_no": "RB"}),
    )
    .await
    .node();
    // Today's bill exists once gateway time has moved to tomorrow.
    let (st, _) = gw
        .ctl("POST", "/_sim/clock", r#"{"offset_secs": 86400}"#)
        .await;
    assert_eq!(st, 200);
    let today = protocol::clock::gateway_now()[..10].to_owned();
    let n = gw
        .call(
            Method::BillDownloadUrlQuery,
            &json!({"bill_type": "trade", "bill_date": today}),
        )
        .await
        .node();
    assert_eq!(n["code"], "10000");
    let url = n["bill_download_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&gw.base));
    let req = hyper::Request::get(&url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = gw.http.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body.to_vec())).unwrap();
    assert_eq!(zip.len(), 2);
    let mut detail = None;
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().to_owned();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
        assert!(!bad);
        if name.ends_with("_业务明细.csv") {
            detail = Some(text.into_owned());
        } else {
            assert!(name.ends_with("_业务明细(汇总).csv"), "{name}");
            assert!(text.starts_with("#支付宝业务汇总查询"));
        }
    }
    let detail = detail.expect("detail file");
    assert!(detail.starts_with("#支付宝业务明细查询\r\n#账号：[2088"));
    assert!(detail.contains("支付宝交易号,商户订单号,业务类型,商品名称"));
    assert!(detail.contains(",B_1\t,交易\t,"));
    assert!(detail.contains(",B_2\t,退款\t,"));
    assert!(detail.contains("\t,-5.00\t,"));
    assert!(detail.contains("#交易合计：2笔，商家实收共30.00元"));
    assert!(detail.contains("#退款合计：1笔，商家实收退款共-5.00元"));
    // A future date has no bill; a bad date is invalid.
    let n = gw
        .call(
            Method::BillDownloadUrlQuery,
            &json!({"bill_type": "trade", "bill_date": "2999-01-01"}),
        )
        .await
        .node();
    assert_eq!(n["sub_code"], "isp.bill_not_exist");
    let n = gw
        .call(
            Method::BillDownloadUrlQuery,
            &json!({"bill_type": "trade", "bill_date": "01/01/2026"}),
        )
        .await
        .node();
    assert_eq!(n["sub_code"], "ACQ.INVALID_PARAMETER");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_pay_draws_its_transport_fault_again() {
    let sim = sim_with(|c| {
        c.profile = simulator::Profile::parse("seed = 3\n[faults]\nreset = 0.5\n").unwrap();
    })
    .await;
    let gw = Gw::new(&sim);
    // Each out_trade_no is retried until it gets through; with a 50% reset
    // share every one of them does within a few attempts.
    let mut attempts_total = 0;
    for i in 0..20 {
        let no = format!("RT_{i}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts <= 20, "{no} never got through");
            match gw
                .call(Method::TradePay, &pay_biz(&no, "1.00", "0000"))
                .await
            {
                Outcome::Transport(_) => continue,
                o => {
                    let code = o.code();
                    assert!(code == "10000" || code == "40004", "{code}");
                    break;
                }
            }
        }
        attempts_total += attempts;
    }
    assert!(attempts_total > 20, "no reset at all");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_forgets_old_finished_trades_only() {
    let sim = sim_with(|c| c.retention = Some(Duration::from_millis(300))).await;
    let gw = Gw::new(&sim);
    gw.call(Method::TradePay, &pay_biz("K_PAID", "1.00", "0000"))
        .await
        .node();
    gw.call(Method::TradePay, &pay_biz("K_WAIT", "1.00", "1004"))
        .await
        .node();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (s, _) = gw.ctl_get("/_sim/trades/K_PAID").await;
    assert_eq!(s, 404);
    let (s, v) = gw.ctl_get("/_sim/trades/K_WAIT").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("WAIT_BUYER_PAY")));
    let q = gw
        .call(Method::TradeQuery, &json!({"out_trade_no": "K_PAID"}))
        .await
        .node();
    assert_eq!(q["sub_code"], "ACQ.TRADE_NOT_EXIST");
    sim.shutdown().await;
}
