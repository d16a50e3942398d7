//! The switch (library, in-process) against the real simulator on loopback,
//! time-scaled: every magic value ends in the state docs/PROTOCOL.md §9.7 and §10 prescribe and
//! the simulator's ledger agrees with the journal.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_magic_value_ends_as_the_seeds_say() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    // (auth code ending, amount, final status, sub_code)
    let cases = [
        ("0000", "10.00", "SUCCESS", None),
        ("0000", "1000.00", "SUCCESS", None),
        ("1003", "10.00", "SUCCESS", None),
        ("1004", "10.00", "CLOSED", None),
        ("2000", "10.00", "SUCCESS", None),
        ("2001", "10.00", "CLOSED", None),
        (
            "4004",
            "10.00",
            "FAILED",
            Some("ACQ.PAYMENT_AUTH_CODE_INVALID"),
        ),
        (
            "4005",
            "10.00",
            "FAILED",
            Some("ACQ.BUYER_BALANCE_NOT_ENOUGH"),
        ),
        ("9001", "10.00", "SUCCESS", None),
        ("9002", "10.00", "CLOSED", None),
    ];
    let mut tasks = Vec::new();
    for (i, (last4, amount, want, sub)) in cases.iter().enumerate() {
        let t = t.clone();
        let no = format!("MAGIC_{last4}_{i}");
        let (last4, amount, want, sub) = (*last4, *amount, *want, *sub);
        tasks.push(tokio::spawn(async move {
            let (s, v) = t.pay(&no, &auth_code(last4), amount, 30).await;
            assert_eq!(s, 200, "{no}: {v}");
            let v = if v["status"] == want {
                v
            } else {
                t.until_final(&no, Duration::from_secs(20)).await
            };
            assert_eq!(v["status"], want, "{no}: {v}");
            if let Some(sub) = sub {
                assert_eq!(v["sub_code"], sub, "{v}");
                assert_eq!(v["code"], "40004", "{v}");
                assert!(v["sub_msg"].as_str().is_some(), "{v}");
            }
            if want == "SUCCESS" {
                assert!(v["trade_no"].as_str().is_some(), "{v}");
            }
            (no, want)
        }));
    }
    let mut done = Vec::new();
    for task in tasks {
        done.push(task.await.unwrap());
    }
    for (no, want) in done {
        let ledger = sim_get(&sim.base_url(), &format!("/_sim/trades/{no}")).await;
        assert!(
            agrees(want, &ledger),
            "{no}: switch {want}, simulator {ledger:?}"
        );
        if ledger.0 == 200 {
            assert!(
                ledger.1["pay_count"].as_u64().unwrap_or(1) <= 1,
                "{ledger:?}"
            );
        }
        // The journal holds the same final state, with its event log.
        let tr = sw.store().trade("2021000000000001", &no).unwrap().unwrap();
        assert_eq!(tr.status.as_str(), want);
        let events = sw.store().events("2021000000000001", &no).unwrap();
        assert!(events.iter().any(|e| e.kind == "created"));
        // The gateway's answer, or its notification when that came first (9001).
        assert!(
            events
                .iter()
                .any(|e| e.kind == "gateway_answer" || e.kind == "notification"),
            "{no}: {events:?}"
        );
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_and_conflicts() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let code = auth_code("1003");
    let body = json!({"out_trade_no": "IDEM_1", "auth_code": code, "total_amount": "12.34", "subject": "x"});
    // Concurrent duplicates: one payment, every answer the same trade.
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (t, body) = (t.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            t.call("POST", "/v1/pay?wait=20", Some(&body)).await
        }));
    }
    for task in tasks {
        let (s, v) = task.await.unwrap();
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["status"], "SUCCESS", "{v}");
    }
    let (_, again) = t.call("POST", "/v1/pay?wait=0", Some(&body)).await;
    assert_eq!(again["status"], "SUCCESS");
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/IDEM_1").await;
    assert_eq!(ledger.1["pay_count"], 1, "{ledger:?}");
    // Different content: 409.
    let mut other = body.clone();
    other["total_amount"] = json!("12.35");
    let (s, v) = t.call("POST", "/v1/pay", Some(&other)).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "conflict");
    // Another terminal (other sub-merchant) neither sees nor reuses it.
    let mut t2 = t.clone();
    t2.key = "T2".into();
    t2.secret = SECRET2;
    let (s, _) = t2.get("IDEM_1").await;
    assert_eq!(s, 404);
    let (s, _) = t2.call("POST", "/v1/pay", Some(&body)).await;
    assert_eq!(s, 409);
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_zero_answers_at_once_then_polling_sees_the_end() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let (s, v) = t.pay("W0_1", &auth_code("1004"), "5.00", 0).await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "PAYING", "{v}");
    let v = t.until_final("W0_1", Duration::from_secs(20)).await;
    assert_eq!(v["status"], "CLOSED");
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/W0_1").await;
    assert!(agrees("CLOSED", &ledger), "{ledger:?}");
    // Refresh of a final trade answers from the journal.
    let (s, v) = t.call("GET", "/v1/trades/W0_1?refresh=1", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CLOSED")));
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminal_cancel_of_a_waiting_payment() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let (_, v) = t.pay("CX_1", &auth_code("1004"), "5.00", 0).await;
    assert_eq!(v["status"], "PAYING");
    let (s, v) = t.call("POST", "/v1/trades/CX_1/cancel", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "CLOSED", "{v}");
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/CX_1").await;
    assert!(agrees("CLOSED", &ledger), "{ledger:?}");
    // A paid trade is not cancelled: refund it.
    let (_, v) = t.pay("CX_2", &auth_code("0000"), "5.00", 10).await;
    assert_eq!(v["status"], "SUCCESS");
    let (s, v) = t.call("POST", "/v1/trades/CX_2/cancel", None).await;
    assert_eq!(s, 409, "{v}");
    let (s, _) = t.call("POST", "/v1/trades/NOPE/cancel", None).await;
    assert_eq!(s, 404);
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn precreate_buyer_pays_notification_arrives() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let body = json!({"out_trade_no": "QR_1", "total_amount": "88.88", "subject": "dinner"});
    let (s, v) = t.call("POST", "/v1/precreate", Some(&body)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "WAIT_BUYER_PAY", "{v}");
    assert!(v["qr_code"].as_str().unwrap().starts_with("http"), "{v}");
    let (s, _) = sim_post(&sim.base_url(), "/_sim/trades/QR_1/buyer-pay").await;
    assert_eq!(s, 200);
    // The notification (or a refresh) makes it SUCCESS.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = t.get("QR_1").await;
        if v["status"] == "SUCCESS" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = sw.store().events("2021000000000001", "QR_1").unwrap();
    assert!(
        events.iter().any(|e| e.kind == "notification"),
        "{events:?}"
    );
    // The notification was answered `success`.
    let (_, n) = sim_get(&sim.base_url(), "/_sim/notifications?out_trade_no=QR_1").await;
    assert!(n.to_string().contains("success"), "{n}");

    // A second QR trade, closed by the terminal.
    let body = json!({"out_trade_no": "QR_2", "total_amount": "1.00", "subject": "x"});
    let (_, v) = t.call("POST", "/v1/precreate", Some(&body)).await;
    assert_eq!(v["status"], "WAIT_BUYER_PAY");
    let (s, v) = t.call("POST", "/v1/trades/QR_2/close", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CLOSED")), "{v}");
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/QR_2").await;
    assert!(agrees("CLOSED", &ledger), "{ledger:?}");
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_are_idempotent() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let (_, v) = t.pay("RF_1", &auth_code("0000"), "100.00", 10).await;
    assert_eq!(v["status"], "SUCCESS");
    let r1 = json!({"out_request_no": "R1", "refund_amount": "30.00", "refund_reason": "damaged"});
    let (s, v) = t.call("POST", "/v1/trades/RF_1/refunds", Some(&r1)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "SUCCESS", "{v}");
    assert_eq!(v["refunded_amount"], "30.00", "{v}");
    // Same request again: same refund, no second refund.
    let (s, v) = t.call("POST", "/v1/trades/RF_1/refunds", Some(&r1)).await;
    assert_eq!(
        (s, v["refunded_amount"].as_str()),
        (200, Some("30.00")),
        "{v}"
    );
    // Same out_request_no, other amount: 409.
    let bad = json!({"out_request_no": "R1", "refund_amount": "31.00", "refund_reason": "damaged"});
    let (s, _) = t.call("POST", "/v1/trades/RF_1/refunds", Some(&bad)).await;
    assert_eq!(s, 409);
    // More than what is left: refused by the switch, never sent.
    let r2 = json!({"out_request_no": "R2", "refund_amount": "80.00"});
    let (s, v) = t.call("POST", "/v1/trades/RF_1/refunds", Some(&r2)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["field"], "refund_amount", "{v}");
    let (s, v) = t.call("GET", "/v1/trades/RF_1/refunds/R1", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (_, v) = t.get("RF_1").await;
    assert_eq!(v["refunded_amount"], "30.00");
    assert_eq!(v["status"], "SUCCESS");
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/RF_1").await;
    assert_eq!(ledger.1["refunded_amount"], "30.00", "{ledger:?}");
    // Refund of an unpaid trade: 409.
    let (_, v) = t.pay("RF_2", &auth_code("4004"), "1.00", 10).await;
    assert_eq!(v["status"], "FAILED");
    let (s, _) = t.call("POST", "/v1/trades/RF_2/refunds", Some(&r1)).await;
    assert_eq!(s, 409);
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authentication_limits_and_validation() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let body = json!({"out_trade_no": "AUTH_1", "auth_code": auth_code("0000"), "total_amount": "1.00", "subject": "x"});
    let bytes = body.to_string().into_bytes();
    // No header, bad signature, stale timestamp, replayed nonce, unknown key.
    let (s, v) = t.raw("POST", "/v1/pay", bytes.clone(), None).await.unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("auth_missing"))
    );
    let h = t.auth_header("POST", "/v1/pay?wait=1", &bytes, unix_now(), &nonce());
    let (s, v) = t
        .raw("POST", "/v1/pay", bytes.clone(), Some(h))
        .await
        .unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("auth_bad_signature"))
    );
    let h = t.auth_header("POST", "/v1/pay", &bytes, unix_now() - 301, &nonce());
    let (s, v) = t
        .raw("POST", "/v1/pay", bytes.clone(), Some(h))
        .await
        .unwrap();
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("auth_timestamp_skew"))
    );
    let h = t.auth_header("POST", "/v1/pay", &bytes, unix_now(), &nonce());
    let (s, v) = t
        .raw("POST", "/v1/pay", bytes.clone(), Some(h.clone()))
        .await
        .unwrap();
    assert_eq!(s, 200, "{v}");
    let (s, v) = t
        .raw("POST", "/v1/pay", bytes.clone(), Some(h))
        .await
        .unwrap();
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("auth_replay")));
    let mut ghost = t.clone();
    ghost.key = "NOBODY".into();
    let (s, _) = ghost.call("GET", "/v1/trades/AUTH_1", None).await;
    assert_eq!(s, 401);
    // Body too large.
    let big = json!({"out_trade_no": "AUTH_2", "subject": "x".repeat(10_000)});
    let (s, v) = t.call("POST", "/v1/pay", Some(&big)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );
    // Field validation names the field.
    let bad = json!({"out_trade_no": "AUTH_3", "auth_code": "123", "total_amount": "1.00", "subject": "x"});
    let (s, v) = t.call("POST", "/v1/pay", Some(&bad)).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("auth_code")),
        "{v}"
    );
    let bad = json!({"out_trade_no": "AUTH_3", "auth_code": auth_code("0000"), "total_amount": "-1", "subject": "x"});
    let (s, v) = t.call("POST", "/v1/pay", Some(&bad)).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("total_amount")),
        "{v}"
    );
    let (s, v) = t.call("POST", "/v1/pay?wait=99", Some(&body)).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("wait")),
        "{v}"
    );
    // Rate limit: T2 has a burst of 3.
    let mut t2 = t.clone();
    t2.key = "T2".into();
    t2.secret = SECRET2;
    let mut codes = Vec::new();
    for _ in 0..6 {
        codes.push(t2.get("NONE_1").await.0);
    }
    assert!(codes.contains(&429), "{codes:?}");
    assert_eq!(codes[0], 404);
    // Operator endpoints: on the operator (admin) listener only; the
    // terminal listener serves /v1 and /healthz.
    let (s, _) = t.raw("GET", "/healthz", vec![], None).await.unwrap();
    assert_eq!(s, 200);
    for p in ["/readyz", "/metrics"] {
        let (s, v) = t.raw("GET", p, vec![], None).await.unwrap();
        assert_eq!(s, 404, "{p} on the terminal listener: {v}");
    }
    let o = ops(&sw);
    let (s, v) = o.raw("GET", "/readyz", vec![], None).await.unwrap();
    assert_eq!(s, 200, "{v}");
    let (s, v) = o.raw("GET", "/metrics", vec![], None).await.unwrap();
    assert_eq!(s, 200);
    let m = v.as_str().unwrap();
    for needle in [
        "payswitch_requests_total{endpoint=\"pay\",status=\"200\"}",
        "payswitch_gateway_calls_total{method=\"alipay.trade.pay\",code=\"10000\"}",
        "payswitch_trades{status=\"SUCCESS\"} 1",
        "payswitch_auth_failures_total{reason=\"auth_replay\"} 1",
        "payswitch_gateway_seconds_bucket",
    ] {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    // The journal's histograms are printed from the start: they counted.
    for series in [
        "payswitch_journal_batch_size_count",
        "payswitch_journal_commit_seconds_count",
    ] {
        assert!(
            sample_value(m, series).is_some_and(|n| n >= 1.0),
            "{series} in\n{m}"
        );
    }
    // A notification with a bad signature answers `fail` and is counted.
    let (s, v) = t
        .raw("POST", "/notify/alipay", b"notify_id=1&app_id=2021000000000001&out_trade_no=AUTH_1&trade_status=TRADE_SUCCESS&sign_type=RSA2&sign=AAAA".to_vec(), None)
        .await
        .unwrap();
    assert_eq!((s, v.as_str()), (400, Some("fail")));
    let (_, v) = o.raw("GET", "/metrics", vec![], None).await.unwrap();
    assert!(v
        .as_str()
        .unwrap()
        .contains("payswitch_notifications_total{result=\"bad_signature\"} 1"));
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn http2_terminals_are_served() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new_h2(&base);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            t.pay(&format!("H2_{i}"), &auth_code("0000"), "3.00", 10)
                .await
        }));
    }
    for task in tasks {
        let (s, v) = task.await.unwrap();
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// The terminal API over TLS (rustls, ALPN h2 and http/1.1). Needs the
/// openssl command to make a throw-away certificate; skipped without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_terminal_api() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, _cert, key)) = make_test_certs(dir.path()) else {
        eprintln!("openssl not available: TLS test skipped");
        return;
    };
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let sim = sim().await;
    let port = free_port();
    let text = tls_config_text(&sim, port);
    let path = write_config(dir.path(), &text);
    let sw = engine::start(engine::Config::load(&path).unwrap())
        .await
        .unwrap();

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&ca).unwrap();
    for c in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_all_versions()
        .build();
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https);
    let t = Term::new("unused");
    let body = json!({"out_trade_no": "TLS_1", "auth_code": auth_code("0000"), "total_amount": "2.00", "subject": "x"})
        .to_string()
        .into_bytes();
    let h = t.auth_header("POST", "/v1/pay?wait=10", &body, unix_now(), &nonce());
    let req = http::Request::post(format!("https://localhost:{port}/v1/pay?wait=10"))
        .header("authorization", h)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.expect("TLS request");
    assert_eq!(resp.version(), http::Version::HTTP_2, "ALPN picks h2");
    assert_eq!(resp.status(), 200);
    use http_body_util::BodyExt;
    let v: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["status"], "SUCCESS", "{v}");
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// With the gateway down: the first payment ends UNKNOWN (pay, query, query,
/// cancel all without an answer), the circuit opens, new payments answer 503
/// with a clear message, while queries and cancels still go to the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn circuit_breaker_stops_new_payments_only() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let dead = free_port(); // nothing listens there
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &format!("http://127.0.0.1:{dead}/gateway.do"),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        "",
    )
    .replace("breaker_failures = 1000", "breaker_failures = 2")
    .replace("breaker_cooldown_ms = 500", "breaker_cooldown_ms = 60000")
    .replace("shutdown_grace_ms = 3000", "shutdown_grace_ms = 300");
    let path = write_config(dir.path(), &text);
    let sw = engine::start(engine::Config::load(&path).unwrap())
        .await
        .unwrap();
    let t = Term::new(&format!("http://127.0.0.1:{port}"));
    let o = ops(&sw);
    let (s, v) = t.pay("CB_1", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("UNKNOWN")), "{v}");
    let (s, v) = t.pay("CB_2", &auth_code("0000"), "1.00", 10).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "gateway_unavailable");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("queries and cancels still work"));
    let (s, _) = o.raw("GET", "/readyz", vec![], None).await.unwrap();
    assert_eq!(s, 503);
    // The UNKNOWN trade's cancel keeps going out in the background.
    let before = metric(&o, "alipay.trade.cancel").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        metric(&o, "alipay.trade.cancel").await > before,
        "cancels are not blocked"
    );
    let (s, v) = t.call("GET", "/v1/trades/CB_1?refresh=1", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("UNKNOWN")), "{v}");
    sw.shutdown().await.unwrap();
}

async fn metric(t: &Term, method: &str) -> u64 {
    let (_, v) = t.raw("GET", "/metrics", vec![], None).await.unwrap();
    let needle = format!("payswitch_gateway_calls_total{{method=\"{method}\",code=\"unknown\"}} ");
    v.as_str()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0)
}

/// After a restart the cache is empty: a repeated request meets the trade in
/// the journal (unique insert) and gets its state; nothing is paid twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeat_after_restart_is_answered_from_the_journal() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let code = auth_code("0000");
    let body =
        json!({"out_trade_no": "RS_1", "auth_code": code, "total_amount": "7.00", "subject": "x"});
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let (_, v) = Term::new(&base)
        .call("POST", "/v1/pay?wait=10", Some(&body))
        .await;
    assert_eq!(v["status"], "SUCCESS", "{v}");
    sw.shutdown().await.unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let (s, v) = t.call("POST", "/v1/pay?wait=10", Some(&body)).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let mut other = body.clone();
    other["subject"] = json!("y");
    let (s, _) = t.call("POST", "/v1/pay?wait=10", Some(&other)).await;
    assert_eq!(s, 409);
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/RS_1").await;
    assert_eq!(ledger.1["pay_count"], 1, "{ledger:?}");
    let created = sw
        .store()
        .events("2021000000000001", "RS_1")
        .unwrap()
        .iter()
        .filter(|e| e.kind == "created")
        .count();
    assert_eq!(created, 1);
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// A precreated trade that names the merchant's notify_url: once the buyer
/// pays, the switch POSTs the trade there, signed with the creating
/// terminal's secret (the terminal API's scheme, the other way round).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn precreate_result_is_relayed_to_the_merchant() {
    use http_body_util::BodyExt;
    type Seen = Vec<(String, String, Vec<u8>)>;
    let got: std::sync::Arc<parking_lot::Mutex<Seen>> = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let merchant = listener.local_addr().unwrap();
    {
        let got = got.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let got = got.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let got = got.clone();
                            async move {
                                let pq = req.uri().path_and_query().unwrap().as_str().to_owned();
                                let auth =
                                    req.headers()["authorization"].to_str().unwrap().to_owned();
                                let body =
                                    req.into_body().collect().await.unwrap().to_bytes().to_vec();
                                got.lock().push((pq, auth, body));
                                Ok::<_, std::convert::Infallible>(http::Response::new(
                                    http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                                ))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    }
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let registered = format!("http://{merchant}/shop/notify");
    let (sw, base) = switch_with(dir.path(), &sim, "", with_relay_url(&registered)).await;
    let t = Term::new(&base);
    // A URL that is not under the merchant's registered one is refused.
    let elsewhere = json!({"out_trade_no": "RL_0", "total_amount": "6.60", "subject": "x",
                           "notify_url": format!("http://{merchant}/other")});
    let (s, v) = t.call("POST", "/v1/precreate", Some(&elsewhere)).await;
    assert_eq!(
        (s, v["error"]["field"].as_str()),
        (400, Some("notify_url")),
        "{v}"
    );
    let url = format!("http://{merchant}/shop/notify?id=7");
    let body =
        json!({"out_trade_no": "RL_1", "total_amount": "6.60", "subject": "x", "notify_url": url});
    let (_, v) = t.call("POST", "/v1/precreate", Some(&body)).await;
    assert_eq!(v["status"], "WAIT_BUYER_PAY", "{v}");
    sim_post(&sim.base_url(), "/_sim/trades/RL_1/buyer-pay").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.lock().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no relay");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (pq, auth, body) = got.lock()[0].clone();
    assert_eq!(pq, "/shop/notify?id=7");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["out_trade_no"].as_str(), v["status"].as_str()),
        (Some("RL_1"), Some("SUCCESS"))
    );
    // The merchant checks the signature exactly as the switch checks terminals.
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
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// The cashier cancels while the pay request is still without an answer
/// (9001: the gateway holds it): the cancel decides, the late pay outcome is
/// only journaled, and the ledger agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_while_the_pay_is_in_flight() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let (_, v) = t.pay("CF_1", &auth_code("9001"), "4.00", 0).await;
    assert_eq!(v["status"], "PAYING", "{v}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, v) = t.call("POST", "/v1/trades/CF_1/cancel", None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CLOSED")), "{v}");
    // The pay's own outcome (a time-out) arrives later and changes nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, v) = t.get("CF_1").await;
    assert_eq!(v["status"], "CLOSED", "{v}");
    let ledger = sim_get(&sim.base_url(), "/_sim/trades/CF_1").await;
    assert!(agrees("CLOSED", &ledger), "{ledger:?}");
    let events = sw.store().events("2021000000000001", "CF_1").unwrap();
    assert!(
        events.iter().any(|e| e.kind == "cancel_sending"),
        "{events:?}"
    );
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}

/// A cancel sent the instant after `pay?wait=0` must not overtake the
/// switch's own pay request: the gateway would then see the cancel first and
/// the late payment would stay open there. Every trade must end the same on
/// both sides (CLOSED, or SUCCESS when the payment won), nothing left
/// WAIT_BUYER_PAY at the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn immediate_cancels_never_overtake_the_payment() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = std::sync::Arc::new(Term::new(&base));
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let t = t.clone();
            tokio::spawn(async move {
                let no = format!("RACE_{i}");
                let (s, v) = t.pay(&no, &auth_code("0000"), "3.00", 0).await;
                assert_eq!(s, 200, "{v}");
                let (s, v) = t
                    .call("POST", &format!("/v1/trades/{no}/cancel"), None)
                    .await;
                // Either the cancel won (CLOSED) or the payment had already
                // succeeded (409: refund it instead). Never anything else.
                match s {
                    200 => assert_eq!(v["status"], "CLOSED", "{v}"),
                    409 => assert_eq!(v["error"]["code"], "trade_state", "{v}"),
                    _ => panic!("{s} {v}"),
                }
                no
            })
        })
        .collect();
    for task in tasks {
        let no = task.await.unwrap();
        let v = t.until_final(&no, Duration::from_secs(20)).await;
        let status = v["status"].as_str().unwrap_or("?").to_owned();
        assert!(matches!(status.as_str(), "CLOSED" | "SUCCESS"), "{no}: {v}");
        let ledger = sim_get(&sim.base_url(), &format!("/_sim/trades/{no}")).await;
        assert!(agrees(&status, &ledger), "{no}: {status} vs {ledger:?}");
    }
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
}
