//! The front door: parameter placement (query, body, GET, absolute-form
//! targets), keep-alive, the gateway errors and which of them are signed.

mod common;

use common::*;
use protocol::sign_string::request_sign_content;
use protocol::{Method, Signer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The common parameters of a query call, with overrides (`None` removes a key).
fn params(overrides: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let now = protocol::clock::gateway_now();
    let mut p: Vec<(String, String)> = [
        ("app_id", APP_ID),
        ("method", "alipay.trade.query"),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", now.as_str()),
        ("version", "1.0"),
        ("biz_content", r#"{"out_trade_no":"G_NONE"}"#),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        p.retain(|(pk, _)| pk != k);
        if let Some(v) = v {
            p.push((k.to_string(), v.to_string()));
        }
    }
    p
}

fn signed_with(signer: &Signer, mut p: Vec<(String, String)>) -> Vec<(String, String)> {
    let content = request_sign_content(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    p.push((
        "sign".into(),
        signer.sign_base64(content.as_bytes()).unwrap(),
    ));
    p
}

fn encode(p: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in p {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn post(gw: &Gw, p: &[(String, String)]) -> String {
    let (s, b) = gw.post_form(&gw.url, "", &encode(p)).await.unwrap();
    assert_eq!(s, 200);
    b
}

fn inner(body: &str, node: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap();
    v[node].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_parameters_are_unsigned_40001() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    for (key, sub) in [
        ("app_id", "isv.missing-app-id"),
        ("method", "isv.missing-method"),
        ("sign_type", "isv.missing-signature-type"),
        ("timestamp", "isv.missing-timestamp"),
        ("version", "isv.missing-version"),
    ] {
        let p = signed_with(&gw.signer, params(&[(key, None)]));
        let body = post(&gw, &p).await;
        assert!(body.starts_with("{\"error_response\":{"), "{body}");
        assert!(!body.contains("\"sign\""), "{body}");
        let n = inner(&body, "error_response");
        assert_eq!(
            (n["code"].as_str(), n["sub_code"].as_str()),
            (Some("40001"), Some(sub)),
            "{body}"
        );
        assert_eq!(n["msg"], "Missing Required Arguments");
    }
    let body = post(&gw, &params(&[])).await;
    assert_eq!(
        inner(&body, "error_response")["sub_code"],
        "isv.missing-signature"
    );
    assert!(!body.contains("\"sign\""));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_app_method_sign_type() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let body = post(
        &gw,
        &signed_with(&gw.signer, params(&[("app_id", Some("2021999999999999"))])),
    )
    .await;
    let n = inner(&body, "alipay_trade_query_response");
    assert_eq!(
        (n["code"].as_str(), n["sub_code"].as_str()),
        (Some("40002"), Some("isv.invalid-app-id"))
    );
    assert!(!body.contains("\"sign\""));

    let body = post(
        &gw,
        &signed_with(&gw.signer, params(&[("method", Some("alipay.trade.nope"))])),
    )
    .await;
    let n = inner(&body, "error_response");
    assert_eq!(n["sub_code"], "isv.invalid-method");
    assert!(!body.contains("\"sign\""));

    let body = post(
        &gw,
        &signed_with(&gw.signer, params(&[("sign_type", Some("RSA"))])),
    )
    .await;
    let n = inner(&body, "alipay_trade_query_response");
    assert_eq!(
        (n["code"].as_str(), n["sub_code"].as_str()),
        (Some("40003"), Some("isv.missing-signature-config"))
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_gateway_errors() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let node = Method::TradeQuery.response_node();
    // A signature by another key: 40002 isv.invalid-signature, signed, with the verified string.
    let wrong = Signer::from_text(simulator::DEMO_ALIPAY_PRIVATE_KEY).unwrap();
    let body = post(&gw, &signed_with(&wrong, params(&[]))).await;
    let n = gw.verify(&body, node).node();
    assert_eq!(
        (n["code"].as_str(), n["sub_code"].as_str()),
        (Some("40002"), Some("isv.invalid-signature"))
    );
    assert!(
        n["sub_msg"]
            .as_str()
            .unwrap()
            .contains("app_id=2021000000000001&biz_content="),
        "{n}"
    );
    // A tampered parameter after signing.
    let mut p = signed_with(&gw.signer, params(&[]));
    p.retain(|(k, _)| k != "version");
    p.push(("version".into(), "1.1".into()));
    let n = gw.verify(&post(&gw, &p).await, node).node();
    assert_eq!(n["sub_code"], "isv.invalid-signature");

    // Timestamps: 20 minutes old, malformed.
    let old = protocol::clock::format_gateway_time(
        time::OffsetDateTime::now_utc() - time::Duration::minutes(20),
    );
    for ts in [old.as_str(), "2026/01/01 10:00:00", "now"] {
        let body = post(
            &gw,
            &signed_with(&gw.signer, params(&[("timestamp", Some(ts))])),
        )
        .await;
        let n = gw.verify(&body, node).node();
        assert_eq!(
            (n["code"].as_str(), n["sub_code"].as_str()),
            (Some("40002"), Some("isv.invalid-timestamp")),
            "{ts}"
        );
    }
    // Within the window: 10 minutes ahead is fine.
    let ahead = protocol::clock::format_gateway_time(
        time::OffsetDateTime::now_utc() + time::Duration::minutes(10),
    );
    let body = post(
        &gw,
        &signed_with(&gw.signer, params(&[("timestamp", Some(&ahead))])),
    )
    .await;
    assert_eq!(
        gw.verify(&body, node).node()["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );

    // Malformed biz_content.
    for bad in ["{not json", "[1,2]", "\"x\""] {
        let body = post(
            &gw,
            &signed_with(&gw.signer, params(&[("biz_content", Some(bad))])),
        )
        .await;
        let n = gw.verify(&body, node).node();
        assert_eq!(
            (n["code"].as_str(), n["sub_code"].as_str()),
            (Some("40002"), Some("isv.invalid-parameter"))
        );
    }
    let body = post(
        &gw,
        &signed_with(&gw.signer, params(&[("biz_content", None)])),
    )
    .await;
    assert_eq!(
        gw.verify(&body, node).node()["sub_code"],
        "isv.invalid-parameter"
    );
    // format and charset.
    let body = post(
        &gw,
        &signed_with(&gw.signer, params(&[("format", Some("xml"))])),
    )
    .await;
    assert_eq!(
        gw.verify(&body, node).node()["sub_code"],
        "isv.invalid-format"
    );
    let body = post(
        &gw,
        &signed_with(&gw.signer, params(&[("charset", Some("latin1"))])),
    )
    .await;
    assert_eq!(
        gw.verify(&body, node).node()["sub_code"],
        "isv.invalid-charset"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_placement_get_and_formats() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let node = Method::TradeQuery.response_node();
    // Java SDK style: protocol parameters in the query, biz_content in the body; format absent; UTF-8.
    let p = signed_with(
        &gw.signer,
        params(&[("format", None), ("charset", Some("UTF-8"))]),
    );
    let (q, b): (Vec<_>, Vec<_>) = p.into_iter().partition(|(k, _)| k != "biz_content");
    let (s, body) = gw
        .post_form(&gw.url, &encode(&q), &encode(&b))
        .await
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        gw.verify(&body, node).node()["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );
    // python-alipay-sdk style: everything in the query string of a GET.
    let p = signed_with(&gw.signer, params(&[]));
    let req = hyper::Request::get(format!("{}?{}", gw.url, encode(&p)))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let (s, body) = gw.send(req).await.unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        gw.verify(&body, node).node()["sub_code"],
        "ACQ.TRADE_NOT_EXIST"
    );
    // Compact JSON with escaped slashes, node first, sign last.
    let n = gw
        .call(
            Method::TradePrecreate,
            &json!({"out_trade_no": "G_QR", "total_amount": "1.00", "subject": "s"}),
        )
        .await
        .node();
    assert_eq!(n["code"], "10000");
    let p = signed_with(
        &gw.signer,
        params(&[
            ("method", Some("alipay.trade.precreate")),
            (
                "biz_content",
                Some(r#"{"out_trade_no":"G_QR","total_amount":"1.00","subject":"s"}"#),
            ),
        ]),
    );
    let body = post(&gw, &p).await;
    assert!(
        body.starts_with("{\"alipay_trade_precreate_response\":{\"code\":\"10000\""),
        "{body}"
    );
    assert!(body.contains("https:\\/\\/qr.alipay.com\\/"), "{body}");
    assert!(!body.contains(": "));
    let sign_pos = body.find(",\"sign\":\"").unwrap();
    assert!(body[sign_pos..].ends_with("\"}"));
    // Body too large.
    let big = "a=".to_owned() + &"x".repeat(2 << 20);
    let (s, _) = gw.post_form(&gw.url, "", &big).await.unwrap();
    assert_eq!(s, 413);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_form_target_and_keep_alive() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let addr = sim.addr();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    for i in 0..2 {
        let p = signed_with(&gw.signer, params(&[]));
        let (q, b): (Vec<_>, Vec<_>) = p.into_iter().partition(|(k, _)| k != "biz_content");
        let body = encode(&b);
        let req = format!(
            "POST http://{addr}/gateway.do?{} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            encode(&q),
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        // Read one response (Content-Length framed).
        let text = loop {
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "connection closed on request {i}");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(h) = text.find("\r\n\r\n") {
                let len: usize = text[..h]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap();
                if text.len() >= h + 4 + len {
                    buf.drain(..h + 4 + len);
                    break text[h + 4..h + 4 + len].to_owned();
                }
            }
        };
        assert_eq!(
            gw.verify(&text, Method::TradeQuery.response_node()).node()["sub_code"],
            "ACQ.TRADE_NOT_EXIST"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_key_endpoint_and_unknown_paths() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let req = hyper::Request::get(format!("{}/_sim/alipay-public-key", gw.base))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let (s, pem) = gw.send(req).await.unwrap();
    assert_eq!(s, 200);
    let served = protocol::Verifier::from_text(&pem).unwrap();
    let demo = protocol::Verifier::from_text(simulator::DEMO_ALIPAY_PUBLIC_KEY).unwrap();
    assert_eq!(served.public_key_pem(), demo.public_key_pem());
    assert_eq!(sim.alipay_public_key_pem(), demo.public_key_pem());
    let (s, _) = gw.ctl_get("/nowhere").await;
    assert_eq!(s, 404);
    let (s, _) = gw.ctl("PUT", "/gateway.do", "").await;
    assert_eq!(s, 405);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_requests_and_responses() {
    let sim = sim().await;
    let gw = Gw::new(&sim);
    let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
    let call = |method: &'static str, biz: &'static str| {
        let mut p = params(&[
            ("charset", Some("GBK")),
            ("method", Some(method)),
            ("biz_content", Some(biz)),
        ]);
        let content = request_sign_content(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        p.push((
            "sign".into(),
            gw.signer.sign_base64(&gbk(&content)).unwrap(),
        ));
        let mut ser = form_urlencoded::Serializer::new(String::new());
        fn enc(s: &str) -> std::borrow::Cow<'_, [u8]> {
            encoding_rs::GBK.encode(s).0
        }
        ser.encoding_override(Some(&enc));
        for (k, v) in &p {
            ser.append_pair(k, v);
        }
        ser.finish()
    };
    let body = call(
        "alipay.trade.precreate",
        r#"{"out_trade_no":"GBK_1","total_amount":"1.00","subject":"测试商品"}"#,
    );
    let req = hyper::Request::post(&gw.url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=GBK",
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = gw.http.request(req).await.unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;charset=GBK"
    );
    let raw = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = encoding_rs::GBK.decode(&raw).0.into_owned();
    let ex = protocol::response::extract(&text, "alipay_trade_precreate_response").unwrap();
    gw.verifier
        .verify_base64(&gbk(ex.content), ex.sign.as_deref().unwrap())
        .unwrap();
    let n: Value = serde_json::from_str(ex.content).unwrap();
    assert_eq!(n["code"], "10000", "{text}");
    let (_, v) = gw.ctl_get("/_sim/trades/GBK_1").await;
    assert_eq!(v["subject"], "测试商品");
    // A Chinese sub_msg comes back in GBK, signed over its GBK bytes.
    let body = call("alipay.trade.query", r#"{"out_trade_no":"GBK_NONE"}"#);
    let req = hyper::Request::post(&gw.url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=GBK",
        )
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = gw.http.request(req).await.unwrap();
    let raw = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = encoding_rs::GBK.decode(&raw).0.into_owned();
    let ex = protocol::response::extract(&text, "alipay_trade_query_response").unwrap();
    gw.verifier
        .verify_base64(&gbk(ex.content), ex.sign.as_deref().unwrap())
        .unwrap();
    let n: Value = serde_json::from_str(ex.content).unwrap();
    assert_eq!(n["sub_msg"], "交易不存在");
    sim.shutdown().await;
}
