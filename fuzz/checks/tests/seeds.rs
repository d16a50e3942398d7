//! Writes the generated part of the seed corpus (fuzz/corpus/): gateway
//! answers and notifications signed with the TEST-ONLY key, terminal
//! bodies, header values, field values. Run after a change of the wire
//! format, then commit the files:
//!
//! `cargo test -p payswitch-fuzz-checks --test seeds -- --ignored`
//!
//! The bill seeds (bill_csv/, bill_zip/) are the simulator's bill of the
//! engine's recon tests (`simulator::bill::build_zip`), committed as made.
//! The seeds in response/ named `vector-*` and notify/`vector-form` are the
//! openssl-signed protocol test vectors.

use std::path::{Path, PathBuf};

use fuzz_checks::keys::rsa_signer;
use protocol::notify::sign_notification;
use protocol::response::{
    build_signed, build_unsigned, serialize_node, BillUrlResponse, CancelResponse, FundBill,
    GatewayStatus, HeartbeatSynResponse, PayResponse, PrecreateResponse, QueryResponse,
    RefundQueryResponse, RefundResponse,
};
use protocol::Money;

fn corpus(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(name), bytes).unwrap();
}

fn with_selector(sel: u8, body: &str) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(body.as_bytes());
    v
}

fn m(s: &str) -> Option<Money> {
    Some(Money::parse_wire(s).unwrap())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

#[test]
#[ignore = "writes fuzz/corpus/; run by hand"]
fn write_seed_corpus() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol/tests/vectors");
    let read = |f: &str| std::fs::read_to_string(vectors.join(f)).unwrap();

    // ---- response: selector (node index) + body
    write(
        "response",
        "vector-pay-braces",
        &with_selector(0, &read("resp-pay-braces.body.json")),
    );
    write(
        "response",
        "vector-query-chinese",
        &with_selector(3, &read("resp-query-chinese.body.json")),
    );
    let signer = rsa_signer();
    let signed = |node: &str, json: &str| build_signed(node, json, signer).unwrap();
    let pay = PayResponse {
        code: "10000".into(),
        msg: "Success".into(),
        trade_no: s("2026112222001400000000000001"),
        out_trade_no: s("T20261122001"),
        buyer_logon_id: s("tes***@example.com"),
        buyer_user_id: s("2088102177846875"),
        total_amount: m("88.88"),
        receipt_amount: m("88.88"),
        buyer_pay_amount: m("88.88"),
        point_amount: m("0.00"),
        invoice_amount: m("88.88"),
        gmt_payment: s("2026-11-22 10:00:03"),
        fund_bill_list: Some(vec![FundBill {
            fund_channel: "ALIPAYACCOUNT".into(),
            amount: Money::parse_wire("88.88").unwrap(),
            real_amount: m("88.88"),
            fund_type: None,
        }]),
        store_name: s("南京/新街口 店"),
        ..PayResponse::default()
    };
    write(
        "response",
        "pay-success",
        &with_selector(
            0,
            &signed("alipay_trade_pay_response", &serialize_node(&pay)),
        ),
    );
    let failed = PayResponse {
        code: "40004".into(),
        msg: "Business Failed".into(),
        sub_code: s("ACQ.PAYMENT_AUTH_CODE_INVALID"),
        sub_msg: s("支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款"),
        out_trade_no: s("T20261122009"),
        ..PayResponse::default()
    };
    write(
        "response",
        "pay-failed",
        &with_selector(
            0,
            &signed("alipay_trade_pay_response", &serialize_node(&failed)),
        ),
    );
    // The unescaped-slash fallback: bit 4 of the selector.
    write(
        "response",
        "pay-node-fallback",
        &with_selector(0x10, &serialize_node(&pay)),
    );
    let precreate = PrecreateResponse {
        code: "10000".into(),
        msg: "Success".into(),
        out_trade_no: s("T20261122004"),
        qr_code: s("https://qr.alipay.com/bax08431yxyaa0bswvgk0064"),
        ..PrecreateResponse::default()
    };
    write(
        "response",
        "precreate",
        &with_selector(
            1,
            &signed(
                "alipay_trade_precreate_response",
                &serialize_node(&precreate),
            ),
        ),
    );
    let query = QueryResponse {
        code: "10000".into(),
        msg: "Success".into(),
        trade_no: s("2026112222001400000000000002"),
        out_trade_no: s("T20261122002"),
        trade_status: s("TRADE_SUCCESS"),
        total_amount: m("1000.00"),
        send_pay_date: s("2026-11-22 10:00:05"),
        store_id: s("NJ_01"),
        ..QueryResponse::default()
    };
    write(
        "response",
        "query-node",
        &with_selector(3, &serialize_node(&query)),
    );
    let cancel = CancelResponse {
        code: "10000".into(),
        msg: "Success".into(),
        out_trade_no: s("T20261122005"),
        retry_flag: s("N"),
        action: s("refund"),
        gmt_refund_pay: s("2026-11-22 10:05:00"),
        ..CancelResponse::default()
    };
    write(
        "response",
        "cancel",
        &with_selector(
            4,
            &signed("alipay_trade_cancel_response", &serialize_node(&cancel)),
        ),
    );
    let refund = RefundResponse {
        code: "10000".into(),
        msg: "Success".into(),
        trade_no: s("2026112222001400000000000001"),
        out_trade_no: s("T20261122001"),
        fund_change: s("Y"),
        refund_fee: m("10.00"),
        gmt_refund_pay: s("2026-11-22 11:00:00"),
        ..RefundResponse::default()
    };
    write(
        "response",
        "refund",
        &with_selector(
            6,
            &signed("alipay_trade_refund_response", &serialize_node(&refund)),
        ),
    );
    let rq = RefundQueryResponse {
        code: "10000".into(),
        msg: "Success".into(),
        out_trade_no: s("T20261122001"),
        out_request_no: s("R1"),
        total_amount: m("88.88"),
        refund_amount: m("10.00"),
        refund_status: s("REFUND_SUCCESS"),
        ..RefundQueryResponse::default()
    };
    write(
        "response",
        "refund-query-node",
        &with_selector(7, &serialize_node(&rq)),
    );
    let bill = BillUrlResponse {
        code: "10000".into(),
        msg: "Success".into(),
        bill_download_url: s("http://127.0.0.1:9000/bill/download?token=abc&x=1"),
        ..BillUrlResponse::default()
    };
    write(
        "response",
        "bill-url",
        &with_selector(
            8,
            &signed(
                "alipay_data_dataservice_bill_downloadurl_query_response",
                &serialize_node(&bill),
            ),
        ),
    );
    let hb = HeartbeatSynResponse {
        code: "10000".into(),
        msg: "Success".into(),
        pid: s("2088102177649450"),
        ..HeartbeatSynResponse::default()
    };
    write(
        "response",
        "heartbeat-unsigned",
        &with_selector(
            12,
            &build_unsigned("monitor_heartbeat_syn_response", &serialize_node(&hb)),
        ),
    );
    let err = GatewayStatus {
        code: "40001".into(),
        msg: "Missing Required Arguments".into(),
        sub_code: s("isv.missing-signature"),
        sub_msg: s("缺少签名参数"),
    };
    write(
        "response",
        "error-unsigned",
        &with_selector(0, &build_unsigned("error_response", &serialize_node(&err))),
    );

    // ---- notify: form bodies
    let mut form = read("notify-form.txt").trim_end().to_owned();
    let sig = read("msg-notify.sig.b64");
    let sig = sig
        .trim()
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    form.push_str("&sign=");
    form.push_str(&sig);
    let n = protocol::Notification::verify(
        protocol::request::decode_form(form.as_bytes()),
        fuzz_checks::keys::rsa_verifier(),
    );
    assert!(n.is_ok(), "the vector form verifies: {n:?}");
    write("notify", "vector-form", form.as_bytes());
    let refund_form = sign_notification(
        &[
            ("notify_time", "2026-11-22 11:00:02"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "2026112200222110000000000000000002"),
            ("app_id", "2021000000000001"),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("trade_no", "2026112222001400000000000001"),
            ("out_trade_no", "T20261122001"),
            ("out_biz_no", "R1"),
            ("trade_status", "TRADE_CLOSED"),
            ("total_amount", "88.88"),
            ("refund_fee", "88.88"),
            ("gmt_create", "2026-11-22 10:00:00"),
            ("gmt_payment", "2026-11-22 10:00:03"),
            ("gmt_refund", "2026-11-22 11:00:00.123"),
            ("gmt_close", "2026-11-22 11:00:00"),
            (
                "fund_bill_list",
                r#"[{"amount":"88.88","fundChannel":"ALIPAYACCOUNT"}]"#,
            ),
        ],
        signer,
    )
    .unwrap();
    write("notify", "refund-closed", refund_form.as_bytes());
    let wait_form = sign_notification(
        &[
            ("notify_type", "trade_status_sync"),
            ("notify_id", "2026112200222100000000000000000003"),
            ("app_id", "2021000000000001"),
            ("out_trade_no", "T20261122004"),
            ("trade_status", "WAIT_BUYER_PAY"),
            ("total_amount", "5.5"),
            ("subject", "咖啡 & 茶"),
        ],
        signer,
    )
    .unwrap();
    write("notify", "wait-buyer-pay", wait_form.as_bytes());

    // ---- terminal_json: selector (0 pay, 1 precreate, 2 refund) + body
    write(
        "terminal_json",
        "pay-full",
        &with_selector(
            0,
            r#"{"out_trade_no":"T20261122001","auth_code":"281234567890121003","total_amount":"88.88","subject":"咖啡","scene":"bar_code","body":"大杯 冰","operator_id":"op_01","timeout_express":"2h","goods_detail":[{"goods_id":"g1","goods_name":"咖啡","quantity":1,"price":"88.88"}]}"#,
        ),
    );
    write(
        "terminal_json",
        "pay-minimal",
        &with_selector(
            0,
            r#"{"out_trade_no":"a","auth_code":"2512345678901234","total_amount":"0.01","subject":"x"}"#,
        ),
    );
    write(
        "terminal_json",
        "pay-bad-amount",
        &with_selector(
            0,
            r#"{"out_trade_no":"a","auth_code":"281234567890121003","total_amount":"1.001","subject":"x","scene":"wave_code"}"#,
        ),
    );
    write(
        "terminal_json",
        "precreate",
        &with_selector(
            1,
            r#"{"out_trade_no":"Q20261122001","total_amount":"12.50","subject":"QR 咖啡","timeout_express":"1c","notify_url":"https://merchant.example/alipay/notify?x=1"}"#,
        ),
    );
    write(
        "terminal_json",
        "refund",
        &with_selector(
            2,
            r#"{"out_request_no":"R1","refund_amount":"10.00","refund_reason":"退货"}"#,
        ),
    );

    // ---- auth_header: header values, and request parts
    write("auth_header", "header", b"PSW1-HMAC-SHA256 key=FUZZ1, ts=1700000000, nonce=abcdefghijklmnop, sig=Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg=");
    write(
        "auth_header",
        "header-unknown-key",
        b"PSW1-HMAC-SHA256 key=T1,ts=-5,nonce=0123456789abcdef0123456789abcdef,sig=AAAA",
    );
    write("auth_header", "request-pay", b"\x00v1/pay?wait=5\n{\"out_trade_no\":\"a\",\"auth_code\":\"281234567890121003\",\"total_amount\":\"1.00\",\"subject\":\"x\"}");
    write(
        "auth_header",
        "request-query",
        b"\x01v1/trades/T20261122001?refresh=1\n",
    );

    // ---- fields: one value each
    for (name, v) in [
        ("money", "88.88"),
        ("money-max", "100000000.00"),
        ("money-zero", "0.00"),
        ("money-short", "0.5"),
        ("auth-code", "281234567890121003"),
        ("out-trade-no", "T_2026_abc"),
        ("store-id", "NJ-001_a"),
        ("timeout", "90m"),
        ("timeout-day", "1c"),
        ("time", "2026-11-22 10:00:05"),
        ("status", "TRADE_SUCCESS"),
        ("scene", "wave_code"),
        ("subject", "咖啡 大杯（冰）"),
    ] {
        write("fields", name, v.as_bytes());
    }
}
