//! alipay.data.dataservice.bill.downloadurl.query (docs/PROTOCOL.md §5): T+1 in gateway
//! time (the shifted clock), `isp.bill_not_exist` for today, the future and
//! days before the app existed, `EMPTY_DATA_WITH_BILL_FILE` for a past day
//! without rows, `smid` not filtering a trade bill, the 30-second URL.

mod common;

use common::*;
use protocol::Method;
use serde_json::{json, Value};

fn day(offset_days: i64) -> String {
    let d = time::OffsetDateTime::now_utc().to_offset(protocol::clock::BEIJING)
        + time::Duration::days(offset_days);
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

async fn bill_url(gw: &Gw, biz: Value) -> Value {
    gw.call(Method::BillDownloadUrlQuery, &biz).await.node()
}

async fn get(gw: &Gw, url: &str) -> (u16, Vec<u8>) {
    let req = hyper::Request::get(url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(std::time::Duration::from_secs(10), gw.http.request(req))
        .await
        .expect("bounded")
        .unwrap();
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, body.to_vec())
}

async fn shift(gw: &Gw, secs: i64) {
    let (st, v) = gw
        .ctl(
            "POST",
            "/_sim/clock",
            &json!({ "offset_secs": secs }).to_string(),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["offset_secs"], secs);
}

#[tokio::test]
async fn availability_follows_gateway_time() {
    let sim = sim_with(|c| c.indirect_apps.clear()).await;
    let gw = Gw::new(&sim);
    gw.call(Method::TradePay, &pay_biz("BL_1", "10.00", "0000"))
        .await
        .node();
    let today = day(0);
    for d in [day(0), day(1), day(-1)] {
        for bt in ["trade", "signcustomer"] {
            let n = bill_url(&gw, json!({"bill_type": bt, "bill_date": d})).await;
            assert_eq!(n["code"], "40004", "{d} {bt}: {n}");
            assert_eq!(n["sub_code"], "isp.bill_not_exist");
        }
    }
    // One day later in gateway time, today's bill is yesterday's.
    shift(&gw, 86_400).await;
    let (st, v) = gw.ctl_get("/_sim/clock").await;
    assert_eq!(st, 200);
    assert_eq!(v["offset_secs"], 86_400);
    assert!(v["gateway_time"].as_str().unwrap().starts_with(&day(1)));
    for bt in ["trade", "signcustomer"] {
        let n = bill_url(&gw, json!({"bill_type": bt, "bill_date": today})).await;
        assert_eq!(n["code"], "10000", "{n}");
        assert!(n.get("bill_file_code").is_none(), "{n}");
    }
    // smid is accepted and does not filter a trade bill.
    let n = bill_url(
        &gw,
        json!({"bill_type": "trade", "bill_date": today, "smid": "2088000000000000"}),
    )
    .await;
    assert_eq!(n["code"], "10000", "{n}");
    let (st, zip) = get(&gw, n["bill_download_url"].as_str().unwrap()).await;
    assert_eq!(st, 200);
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut found = false;
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut b).unwrap();
        let (text, _, _) = encoding_rs::GBK.decode(&b);
        found |= text.contains(",BL_1\t,交易\t,");
    }
    assert!(found, "the smid filtered the trade bill");
    // The new gateway day is still not billed.
    let n = bill_url(&gw, json!({"bill_type": "trade", "bill_date": day(1)})).await;
    assert_eq!(n["sub_code"], "isp.bill_not_exist");
}

#[tokio::test]
async fn empty_past_day_and_url_expiry() {
    let sim = sim_with(|c| c.indirect_apps.clear()).await;
    let gw = Gw::new(&sim);
    shift(&gw, 2 * 86_400).await;
    // The day after start-up had no trades: a file with no rows.
    let n = bill_url(&gw, json!({"bill_type": "trade", "bill_date": day(1)})).await;
    assert_eq!(n["code"], "10000", "{n}");
    assert_eq!(n["bill_file_code"], "EMPTY_DATA_WITH_BILL_FILE");
    let url = n["bill_download_url"].as_str().unwrap().to_owned();
    let (st, zip) = get(&gw, &url).await;
    assert_eq!(st, 200);
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut b).unwrap();
        let (text, _, _) = encoding_rs::GBK.decode(&b);
        if f.name().ends_with("_业务明细.csv") {
            assert!(text.contains("#交易合计：0笔"), "{text}");
        }
    }
    // A day before the app existed (the simulator started) has no bill.
    let n = bill_url(&gw, json!({"bill_type": "trade", "bill_date": day(-1)})).await;
    assert_eq!(n["sub_code"], "isp.bill_not_exist");
    // 31 s later in gateway time the URL has expired.
    shift(&gw, 2 * 86_400 + 31).await;
    let (st, _) = get(&gw, &url).await;
    assert!(st >= 400, "expired URL answered {st}");
}

#[tokio::test]
async fn fee_column_per_trade_and_refund() {
    let sim = sim_with(|c| {
        c.indirect_apps.clear();
        c.default_fee_bps = 60;
    })
    .await;
    let gw = Gw::new(&sim);
    gw.call(Method::TradePay, &pay_biz("BF_1", "10.00", "0000"))
        .await
        .node();
    for (no, amt) in [("R1", "3.33"), ("R2", "6.67")] {
        gw.call(
            Method::TradeRefund,
            &json!({"out_trade_no": "BF_1", "refund_amount": amt, "out_request_no": no}),
        )
        .await
        .node();
    }
    shift(&gw, 86_400).await;
    let n = bill_url(&gw, json!({"bill_type": "trade", "bill_date": day(0)})).await;
    let (st, zip) = get(&gw, n["bill_download_url"].as_str().unwrap()).await;
    assert_eq!(st, 200);
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut detail = String::new();
    let mut summary = String::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut b).unwrap();
        let (text, _, _) = encoding_rs::GBK.decode(&b);
        if f.name().ends_with("_业务明细.csv") {
            detail = text.into_owned();
        } else {
            summary = text.into_owned();
        }
    }
    let fee_of = |marker: &str| -> String {
        let line = detail.lines().find(|l| l.contains(marker)).unwrap();
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 25, "{line}");
        cells[22].trim_end_matches('\t').to_owned()
    };
    // 10.00 x 0.6% = 0.06 charged; 3.33 returns 0.02 (1.998 fen); the last returns the rest.
    assert_eq!(fee_of(",交易\t,"), "-0.06");
    assert_eq!(fee_of(",R1\t,"), "0.02");
    assert_eq!(fee_of(",R2\t,"), "0.04");
    assert!(summary.contains(",0.00,"), "{summary}");
}

#[tokio::test]
async fn injections_change_the_bill() {
    let sim = sim_with(|c| c.indirect_apps.clear()).await;
    let gw = Gw::new(&sim);
    for (o, a) in [("BI_1", "10.00"), ("BI_2", "20.00"), ("BI_3", "30.00")] {
        gw.call(Method::TradePay, &pay_biz(o, a, "0000"))
            .await
            .node();
    }
    gw.call(
        Method::TradeRefund,
        &json!({"out_trade_no": "BI_3", "refund_amount": "1.00", "out_request_no": "RI"}),
    )
    .await
    .node();
    let d = day(0);
    for (kind, otn) in [
        ("remove_row", "BI_1"),
        ("amount_off", "BI_2"),
        ("remove_refund", "BI_3"),
        ("fee_off", "BI_3"),
        ("add_row", "GHOST_1"),
    ] {
        let (st, v) = gw
            .ctl(
                "POST",
                &format!("/_sim/bills/{d}/inject"),
                &json!({"kind": kind, "out_trade_no": otn}).to_string(),
            )
            .await;
        assert_eq!(st, 200, "{v}");
    }
    let (st, _) = gw
        .ctl(
            "POST",
            &format!("/_sim/bills/{d}/inject"),
            r#"{"kind":"x","out_trade_no":"a"}"#,
        )
        .await;
    assert_eq!(st, 400);
    shift(&gw, 86_400).await;
    let n = bill_url(&gw, json!({"bill_type": "trade", "bill_date": d})).await;
    let (_, zip) = get(&gw, n["bill_download_url"].as_str().unwrap()).await;
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut detail = String::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut b).unwrap();
        if f.name().ends_with("_业务明细.csv") {
            detail = encoding_rs::GBK.decode(&b).0.into_owned();
        }
    }
    assert!(!detail.contains(",BI_1\t,"), "{detail}");
    assert!(detail.contains(",BI_2\t,交易\t,"));
    assert!(detail.contains("\t,20.01\t,20.01\t,"), "{detail}");
    assert!(!detail.contains(",BI_3\t,退款\t,"));
    assert!(detail.contains("\t,-0.19\t,"), "{detail}"); // 0.18 + 0.01
    assert!(detail.contains(",GHOST_1\t,交易\t,"));
    for l in detail.lines().filter(|l| !l.starts_with('#')) {
        assert_eq!(l.split(',').count(), 25, "{l}");
    }
    assert!(
        detail.contains("#交易合计：3笔，商家实收共51.01元"),
        "{detail}"
    );
}
