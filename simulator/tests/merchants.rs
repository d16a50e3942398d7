//! Sub-merchants (ant.merchant.expand.indirect.create / query / modify),
//! indirect apps (trades must name an onboarded smid), the ledger view's
//! store / terminal / operator / sub-merchant fields, and monitor.heartbeat.syn;
//! through real sockets with a signing client, responses verified.

mod common;

use common::*;
use protocol::Method;
use serde_json::{json, Value};

const CREATE: &str = "ant.merchant.expand.indirect.create";
const QUERY: &str = "ant.merchant.expand.indirect.query";
const MODIFY: &str = "ant.merchant.expand.indirect.modify";
const HEARTBEAT: &str = "monitor.heartbeat.syn";

/// A change to a request body, for the table-driven refusal tests.
type Edit = Box<dyn Fn(&mut Value)>;

fn merchant(external_id: &str) -> Value {
    json!({
        "external_id": external_id,
        "name": "上海测试便利店有限公司",
        "alias_name": "测试便利店",
        "service_phone": "021-12345678",
        "category_id": "2015050700000000",
        "source": "2088000000000009",
        "business_license": "91310000MA1FL0000X",
        "business_license_type": "NATIONAL_LEGAL_MERGE",
        "contact_info": [{"name": "张三", "type": "LEGAL_PERSON", "mobile": "13800000000",
                          "email": "a@b.cn", "tag": ["06", "08"]}],
        "address_info": [{"province_code": "310000", "city_code": "310100",
                          "district_code": "310104", "address": "漕溪北路1号",
                          "longitude": "121.437012", "latitude": "31.190123"}],
        "bankcard_info": [{"card_no": "6222020000000000", "card_name": "上海测试便利店有限公司"}],
        "logon_id": ["shop@example.com"],
        "pay_code_info": ["https://pay.example.com/qr/1"],
        "site_info": [{"site_type": "01", "site_url": "https://shop.example.com"}],
        "memo": "##310000##测试"
    })
}

fn failed_on(v: &Value, field: &str) {
    assert_eq!(v["code"], "40004", "{v}");
    assert_eq!(v["sub_code"], "ACQ.INVALID_PARAMETER", "{v}");
    let m = v["sub_msg"].as_str().unwrap();
    assert!(m.contains(field), "sub_msg {m:?} should name {field}");
}

async fn onboard(gw: &Gw, external_id: &str) -> String {
    let n = gw.call_name(CREATE, &merchant(external_id)).await.node();
    assert_eq!(n["code"], "10000", "{n}");
    n["sub_merchant_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_query_modify_duplicate_and_control_api() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let n = gw.call_name(CREATE, &merchant("M001")).await.node();
    assert_eq!(n["code"], "10000");
    assert_eq!(n["service_codes"], json!(["F2F"]));
    let smid = n["sub_merchant_id"].as_str().unwrap().to_owned();
    assert!(smid.len() == 16 && smid.starts_with("2088"), "{smid}");
    assert!(smid.bytes().all(|b| b.is_ascii_digit()));

    // The same external_id again: the existing smid, the record unchanged.
    let mut changed = merchant("M001");
    changed["name"] = "另一个名字".into();
    let d = gw.call_name(CREATE, &changed).await.node();
    assert_eq!(d["code"], "10000");
    assert_eq!(d["sub_merchant_id"], smid.as_str());
    let other = onboard(&gw, "M002").await;
    assert_ne!(other, smid);

    // Query by smid: every create field, the smid and the level.
    let q = gw
        .call_name(QUERY, &json!({"sub_merchant_id": smid}))
        .await
        .node();
    assert_eq!(q["code"], "10000");
    assert_eq!(q["indirect_level"], "INDIRECT_LEVEL_M1");
    let sent = merchant("M001");
    for k in [
        "external_id",
        "name",
        "alias_name",
        "service_phone",
        "category_id",
        "source",
        "business_license",
        "business_license_type",
        "contact_info",
        "bankcard_info",
        "logon_id",
        "pay_code_info",
        "site_info",
        "memo",
    ] {
        assert_eq!(q[k], sent[k], "field {k}");
    }
    assert_eq!(q["address_info"][0]["type"], "BUSINESS_ADDRESS");
    assert_eq!(q["address_info"][0]["latitude"], "31.190123");
    assert_eq!(q["service_codes"], json!(["F2F"]));
    // By external_id; with an org_pid that is not the record's: not found.
    let q = gw
        .call_name(QUERY, &json!({"external_id": "M001"}))
        .await
        .node();
    assert_eq!(q["sub_merchant_id"], smid.as_str());
    let q = gw
        .call_name(
            QUERY,
            &json!({"external_id": "M001", "org_pid": "2088000000000001"}),
        )
        .await
        .node();
    failed_on(&q, "external_id");
    let q = gw
        .call_name(QUERY, &json!({"sub_merchant_id": "2088999999999999"}))
        .await
        .node();
    failed_on(&q, "sub_merchant_id");
    let q = gw.call_name(QUERY, &json!({})).await.node();
    failed_on(&q, "sub_merchant_id");

    // Modify by external_id: service_codes replace the set; other fields stay.
    let m = gw
        .call_name(
            MODIFY,
            &json!({"external_id": "M001", "service_codes": ["PRE_F2F", "APP"], "alias_name": "新简称"}),
        )
        .await
        .node();
    assert_eq!(m["code"], "10000", "{m}");
    assert_eq!(m["sub_merchant_id"], smid.as_str());
    assert_eq!(m["service_codes"], json!(["PRE_F2F", "APP"]));
    let q = gw
        .call_name(QUERY, &json!({"sub_merchant_id": smid}))
        .await
        .node();
    assert_eq!(q["service_codes"], json!(["PRE_F2F", "APP"]));
    assert_eq!(q["alias_name"], "新简称");
    assert_eq!(q["name"], sent["name"]);
    // Modify by smid; a bad field names it; an unknown smid is refused.
    let m = gw
        .call_name(
            MODIFY,
            &json!({"sub_merchant_id": smid, "contact_info": [{"name": "李四", "type": "AGENT", "phone": "021-1"}]}),
        )
        .await
        .node();
    assert_eq!(m["code"], "10000", "{m}");
    let m = gw
        .call_name(
            MODIFY,
            &json!({"sub_merchant_id": smid, "business_license_type": "PASSPORT"}),
        )
        .await
        .node();
    failed_on(&m, "business_license_type");
    let m = gw
        .call_name(
            MODIFY,
            &json!({"sub_merchant_id": "2088999999999999", "name": "x"}),
        )
        .await
        .node();
    failed_on(&m, "sub_merchant_id");

    // The control API.
    let (s, list) = gw.ctl_get("/_sim/merchants").await;
    assert_eq!(s, 200);
    let list = list["merchants"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["sub_merchant_id"], smid.as_str());
    assert_eq!(list[0]["app_id"], APP_ID);
    assert_eq!(list[0]["contact_info"][0]["name"], "李四");
    assert_eq!(list[0]["modify_count"], 2);
    let (s, one) = gw.ctl_get(&format!("/_sim/merchants/{other}")).await;
    assert_eq!(s, 200);
    assert_eq!(one["external_id"], "M002");
    assert_eq!(one["indirect_level"], "INDIRECT_LEVEL_M1");
    let (s, _) = gw.ctl_get("/_sim/merchants/2088999999999999").await;
    assert_eq!(s, 404);
    gw.ctl("POST", "/_sim/reset", "").await;
    let (_, list) = gw.ctl_get("/_sim/merchants").await;
    assert_eq!(list["merchants"], json!([]));
    let (s, _) = gw.ctl_get(&format!("/_sim/merchants/{smid}")).await;
    assert_eq!(s, 404);
    // After a reset the smids go on (never reused).
    let again = onboard(&gw, "M001").await;
    assert_ne!(again, smid);
    assert_ne!(again, other);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_refuses_missing_and_bad_fields_naming_them() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let cases: Vec<(&str, Edit)> = vec![
        ("external_id", Box::new(|v| v["external_id"] = Value::Null)),
        ("name", Box::new(|v| v["name"] = "".into())),
        ("alias_name", Box::new(|v| v["alias_name"] = Value::Null)),
        (
            "service_phone",
            Box::new(|v| v["service_phone"] = "call me".into()),
        ),
        ("category_id", Box::new(|v| v["category_id"] = Value::Null)),
        (
            "contact_info",
            Box::new(|v| v["contact_info"] = Value::Null),
        ),
        (
            "contact_info[0].type",
            Box::new(|v| v["contact_info"][0]["type"] = "BOSS".into()),
        ),
        (
            "contact_info[0].mobile",
            Box::new(|v| v["contact_info"][0]["mobile"] = "123".into()),
        ),
        (
            "contact_info[0].name",
            Box::new(|v| v["contact_info"][0]["name"] = Value::Null),
        ),
        (
            "address_info[0].province_code",
            Box::new(|v| v["address_info"][0]["province_code"] = Value::Null),
        ),
        (
            "address_info[0].type",
            Box::new(|v| v["address_info"][0]["type"] = "HOME".into()),
        ),
        (
            "address_info[0].longitude",
            Box::new(|v| v["address_info"][0]["longitude"] = "121.1234567".into()),
        ),
        (
            "bankcard_info[0].card_no",
            Box::new(|v| v["bankcard_info"][0]["card_no"] = "12ab".into()),
        ),
        (
            "business_license_type",
            Box::new(|v| v["business_license_type"] = "X".into()),
        ),
        (
            "service_codes[1]",
            Box::new(|v| v["service_codes"] = json!(["F2F", "WAP"])),
        ),
        (
            "site_info[0].site_type",
            Box::new(|v| v["site_info"][0]["site_type"] = "07".into()),
        ),
        (
            "site_info[0].site_url",
            Box::new(|v| v["site_info"][0]["site_url"] = Value::Null),
        ),
        ("source", Box::new(|v| v["source"] = "12345".into())),
        (
            "mcc",
            Box::new(|v| {
                v["category_id"] = Value::Null;
                v["org_pid"] = "2088000000000001".into();
            }),
        ),
    ];
    for (i, (field, f)) in cases.iter().enumerate() {
        let mut b = merchant(&format!("BAD{i}"));
        f(&mut b);
        let n = gw.call_name(CREATE, &b).await.node();
        failed_on(&n, field);
    }
    // mcc + org_pid instead of category_id is accepted.
    let mut b = merchant("UNIONPAY1");
    b["category_id"] = Value::Null;
    b["mcc"] = "5976".into();
    b["org_pid"] = "2088000000000001".into();
    let n = gw.call_name(CREATE, &b).await.node();
    assert_eq!(n["code"], "10000", "{n}");
    // Nothing refused was onboarded.
    let (_, list) = gw.ctl_get("/_sim/merchants").await;
    assert_eq!(list["merchants"].as_array().unwrap().len(), 1);
    sim.shutdown().await;
}

fn with_smid(mut b: Value, smid: Option<&str>) -> Value {
    if let Some(s) = smid {
        b["sub_merchant"] = json!({ "merchant_id": s });
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indirect_app_trades_need_an_onboarded_smid() {
    let sim = sim_with(|c| c.indirect_apps = vec![APP_ID.to_owned()]).await;
    let gw = Gw::new(&sim);
    let smid = onboard(&gw, "M100").await;
    let unknown = "2088000000000000";
    let precreate =
        |out: &str| json!({"out_trade_no": out, "total_amount": "10.00", "subject": "s"});
    let create = |out: &str| json!({"out_trade_no": out, "total_amount": "10.00", "subject": "s", "buyer_id": "2088102146225135"});
    for (method, biz) in [
        (Method::TradePay, pay_biz("I_PAY", "10.00", "0000")),
        (Method::TradePrecreate, precreate("I_PRE")),
        (Method::TradeCreate, create("I_CRE")),
    ] {
        let out = biz["out_trade_no"].as_str().unwrap().to_owned();
        // Missing, unknown: refused naming sub_merchant.merchant_id, no trade.
        for s in [None, Some(unknown)] {
            let n = gw.call(method, &with_smid(biz.clone(), s)).await.node();
            failed_on(&n, "sub_merchant.merchant_id");
            let (st, _) = gw.ctl_get(&format!("/_sim/trades/{out}")).await;
            assert_eq!(st, 404, "{method:?} {s:?} booked a trade");
        }
        // sub_merchant without merchant_id.
        let mut b = biz.clone();
        b["sub_merchant"] = json!({});
        failed_on(
            &gw.call(method, &b).await.node(),
            "sub_merchant.merchant_id",
        );
        // Known: accepted and recorded.
        let n = gw
            .call(method, &with_smid(biz.clone(), Some(&smid)))
            .await
            .node();
        assert_eq!(n["code"], "10000", "{method:?}: {n}");
        let (_, v) = gw.ctl_get(&format!("/_sim/trades/{out}")).await;
        assert_eq!(v["sub_merchant_id"], smid.as_str());
    }
    // A pay answer of a missing smid keeps the pay shape (out_trade_no, zero amounts).
    let n = gw
        .call(Method::TradePay, &pay_biz("I_PAY2", "1.00", "0000"))
        .await
        .node();
    assert_eq!(n["out_trade_no"], "I_PAY2");
    assert_eq!(n["receipt_amount"], "0.00");
    // sub_merchant as a JSON string holding the object is taken too.
    let mut b = pay_biz("I_PAY3", "1.00", "0000");
    b["sub_merchant"] = json!({ "merchant_id": smid }).to_string().into();
    assert_eq!(gw.call(Method::TradePay, &b).await.node()["code"], "10000");
    // A sub-merchant whose services no longer include F2F: refused.
    let m = gw
        .call_name(
            MODIFY,
            &json!({"sub_merchant_id": smid, "service_codes": ["APP"]}),
        )
        .await
        .node();
    assert_eq!(m["code"], "10000");
    let n = gw
        .call(
            Method::TradePay,
            &with_smid(pay_biz("I_PAY4", "1.00", "0000"), Some(&smid)),
        )
        .await
        .node();
    assert_eq!(n["sub_code"], "ACQ.ACCESS_FORBIDDEN", "{n}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_app_records_what_the_request_carried() {
    // The demo app is direct by default: no smid needed, one sent is recorded.
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let n = gw
        .call(Method::TradePay, &pay_biz("D_PLAIN", "5.00", "0000"))
        .await
        .node();
    assert_eq!(n["code"], "10000");
    let (_, v) = gw.ctl_get("/_sim/trades/D_PLAIN").await;
    for k in ["sub_merchant_id", "store_id", "terminal_id", "operator_id"] {
        assert!(v[k].is_null(), "{k} should be null: {v}");
    }
    let mut b = pay_biz("D_FULL", "5.00", "0000");
    b["store_id"] = "SHKFC001".into();
    b["terminal_id"] = "T0001".into();
    b["operator_id"] = "op7".into();
    b["sub_merchant"] = json!({"merchant_id": "2088000000000042"});
    assert_eq!(gw.call(Method::TradePay, &b).await.node()["code"], "10000");
    let (_, v) = gw.ctl_get("/_sim/trades/D_FULL").await;
    assert_eq!(v["store_id"], "SHKFC001");
    assert_eq!(v["terminal_id"], "T0001");
    assert_eq!(v["operator_id"], "op7");
    assert_eq!(v["sub_merchant_id"], "2088000000000042");
    // Refunds record store_id / terminal_id / operator_id when sent.
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "D_FULL", "refund_amount": "1.00", "out_request_no": "R1",
                    "store_id": "SHKFC002", "terminal_id": "T0002", "operator_id": "op8"}),
        )
        .await
        .node();
    assert_eq!(r["code"], "10000");
    let r = gw
        .call(
            Method::TradeRefund,
            &json!({"out_trade_no": "D_FULL", "refund_amount": "1.00", "out_request_no": "R2"}),
        )
        .await
        .node();
    assert_eq!(r["code"], "10000");
    let (_, v) = gw.ctl_get("/_sim/trades/D_FULL").await;
    let refunds = v["refunds"].as_array().unwrap();
    assert_eq!(refunds[0]["store_id"], "SHKFC002");
    assert_eq!(refunds[0]["terminal_id"], "T0002");
    assert_eq!(refunds[0]["operator_id"], "op8");
    assert!(refunds[1]["store_id"].is_null());
    assert!(refunds[1]["operator_id"].is_null());
    // Precreate records them too.
    let p = json!({"out_trade_no": "D_PRE", "total_amount": "3.00", "subject": "s",
                   "store_id": "S9", "terminal_id": "T9", "operator_id": "o9"});
    assert_eq!(
        gw.call(Method::TradePrecreate, &p).await.node()["code"],
        "10000"
    );
    let (_, v) = gw.ctl_get("/_sim/trades/D_PRE").await;
    assert_eq!(
        (&v["store_id"], &v["terminal_id"], &v["operator_id"]),
        (&json!("S9"), &json!("T9"), &json!("o9"))
    );
    assert!(v["sub_merchant_id"].is_null());
    sim.shutdown().await;
}

fn heartbeat(equipment_id: &str) -> Value {
    json!({
        "product": "FP", "type": "CR", "equipment_id": equipment_id,
        "equipment_status": "10", "time": protocol::clock::gateway_now(),
        "store_id": "SHKFC001", "network_type": "LAN", "mac": "00:11:22:33:44:55",
        "ip": "10.0.0.8", "exception_info": "HE_PRINTER|HE_SCANER",
        "extend_info": {"SHOP_ID": "1", "TERMINAL_ID": "T0001"},
        "trade_info": [{"OTN": "P1", "TC": 1.25, "STAT": "S"}, {"OTN": "P2", "TC": 99, "STAT": "I"}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_valid_invalid_listed_and_failing() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let n = gw.call_name(HEARTBEAT, &heartbeat("EQ1")).await.node();
    assert_eq!(n["code"], "10000", "{n}");
    let pid = n["pid"].as_str().unwrap();
    assert!(pid.starts_with("2088") && pid.len() == 16);
    // equipment_status as a bare number is taken.
    let mut b = heartbeat("EQ2");
    b["equipment_status"] = json!(41);
    assert_eq!(gw.call_name(HEARTBEAT, &b).await.node()["code"], "10000");

    let too_many: Vec<Value> = (0..31)
        .map(|i| json!({"OTN": format!("P{i}"), "TC": 1, "STAT": "S"}))
        .collect();
    let cases: Vec<(&str, Edit)> = vec![
        ("product", Box::new(|v| v["product"] = "XX".into())),
        ("product", Box::new(|v| v["product"] = Value::Null)),
        ("type", Box::new(|v| v["type"] = "PHONE".into())),
        (
            "equipment_id",
            Box::new(|v| v["equipment_id"] = Value::Null),
        ),
        (
            "equipment_status",
            Box::new(|v| v["equipment_status"] = "50".into()),
        ),
        (
            "time",
            Box::new(|v| v["time"] = "2026/01/01 10:00:00".into()),
        ),
        ("time", Box::new(|v| v["time"] = Value::Null)),
        (
            "exception_info",
            Box::new(|v| v["exception_info"] = "HE_FIRE".into()),
        ),
        (
            "trade_info",
            Box::new(move |v| v["trade_info"] = json!(too_many.clone())),
        ),
        (
            "trade_info[0].STAT",
            Box::new(|v| v["trade_info"][0]["STAT"] = "Q".into()),
        ),
        (
            "trade_info[1].TC",
            Box::new(|v| v["trade_info"][1]["TC"] = json!(100)),
        ),
        (
            "trade_info[0].OTN",
            Box::new(|v| v["trade_info"][0]["OTN"] = Value::Null),
        ),
        (
            "trade_info",
            Box::new(|v| v["trade_info"] = "not json".into()),
        ),
    ];
    for (field, f) in &cases {
        let mut b = heartbeat("EQ_BAD");
        f(&mut b);
        let n = gw.call_name(HEARTBEAT, &b).await.node();
        failed_on(&n, field);
    }
    // trade_info as a JSON string holding the array is taken.
    let mut b = heartbeat("EQ1");
    b["trade_info"] = json!([{"OTN": "P3", "TC": "0.5", "STAT": "F"}])
        .to_string()
        .into();
    assert_eq!(gw.call_name(HEARTBEAT, &b).await.node()["code"], "10000");

    // Listed: every call with its fields and the answer, newest last.
    let (s, v) = gw.ctl_get("/_sim/heartbeats?equipment_id=EQ1").await;
    assert_eq!(s, 200);
    let list = v["heartbeats"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["fields"]["trade_info"][1]["OTN"], "P2");
    assert_eq!(list[0]["fields"]["extend_info"]["TERMINAL_ID"], "T0001");
    assert_eq!(list[0]["code"], "10000");
    assert_eq!(list[0]["app_id"], APP_ID);
    assert!(list[0]["received_at"].as_str().unwrap().len() == 19);
    assert!(list[0]["seq"].as_u64() < list[1]["seq"].as_u64());
    let (_, v) = gw.ctl_get("/_sim/heartbeats?equipment_id=EQ_BAD").await;
    let bad = v["heartbeats"].as_array().unwrap();
    assert_eq!(
        bad.len(),
        cases.len() - 1,
        "a heartbeat without equipment_id is not under EQ_BAD"
    );
    assert!(bad.iter().all(|h| h["code"] == "40004"));
    let (_, v) = gw.ctl_get("/_sim/heartbeats").await;
    assert_eq!(v["heartbeats"].as_array().unwrap().len(), 3 + cases.len());

    // A failing monitor: 20000, still recorded.
    let (s, _) = gw
        .ctl(
            "PUT",
            "/_sim/profile",
            r#"{"behaviour": {"heartbeat_fail": true}}"#,
        )
        .await;
    assert_eq!(s, 200);
    let n = gw.call_name(HEARTBEAT, &heartbeat("EQ3")).await.node();
    assert_eq!(n["code"], "20000");
    assert_eq!(n["sub_code"], "isp.unknow-error");
    let (_, v) = gw.ctl_get("/_sim/heartbeats?equipment_id=EQ3").await;
    assert_eq!(v["heartbeats"][0]["code"], "20000");
    // Unsigned answers, like the real monitoring gateway.
    gw.ctl(
        "PUT",
        "/_sim/profile",
        r#"{"behaviour": {"heartbeat_unsigned": true}}"#,
    )
    .await;
    match gw.call_name(HEARTBEAT, &heartbeat("EQ3")).await {
        Outcome::Unsigned(v) => assert_eq!(v["code"], "10000"),
        other => panic!("expected an unsigned answer, got {other:?}"),
    }
    // Reset forgets heartbeats.
    gw.ctl("POST", "/_sim/reset", "").await;
    let (_, v) = gw.ctl_get("/_sim/heartbeats").await;
    assert_eq!(v["heartbeats"], json!([]));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indirect_apps_must_be_known_apps() {
    let mut c = simulator::SimConfig::demo();
    c.indirect_apps = vec!["2021999999999999".into()];
    let e = simulator::start(c).await.unwrap_err().to_string();
    assert!(e.contains("indirect_apps"), "{e}");
    let c = simulator::SimConfig::demo_indirect();
    assert_eq!(c.indirect_apps, vec![APP_ID.to_owned()]);
}
