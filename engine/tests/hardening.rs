//! Hardening of the terminal listener: the Authorization header is judged
//! before the body is read, a body has a deadline, open connections have a
//! cap (the operator listener keeps its own), memory holds the trades in
//! flight rather than every trade seen, and new payments past the in-memory
//! cap are refused before anything is sent.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw HTTP/1.1 bytes and reads what comes back within `within`.
async fn raw_exchange(addr: &str, head: &str, within: Duration) -> (String, Duration) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(within, s.read(&mut buf))
        .await
        .map(|r| r.unwrap_or(0))
        .unwrap_or(0);
    (
        String::from_utf8_lossy(&buf[..n]).into_owned(),
        t0.elapsed(),
    )
}

fn hardened(s: String) -> String {
    s.replace(
        "shutdown_grace_ms = 3000",
        "shutdown_grace_ms = 3000\nbody_read_timeout_ms = 700\nmax_connections = 16\nmax_trades_in_memory = 100",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_is_judged_before_the_body_and_the_body_has_a_deadline() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, "", hardened).await;
    let addr = base.trim_start_matches("http://").to_owned();
    let ts = unix_now();
    // An unknown key: 401 at once, although the announced body never comes.
    let head = format!(
        "POST /v1/pay HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\nauthorization: PSW1-HMAC-SHA256 key=NOBODY, ts={ts}, nonce=abcdefghijklmnop, sig=AAAA\r\n\r\n"
    );
    let (answer, took) = raw_exchange(&addr, &head, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("auth_unknown_key"), "{answer}");
    assert!(took < Duration::from_millis(600), "answered after {took:?}");
    // A signature that cannot be one (not 32 bytes): 401 at once too.
    let head = format!(
        "POST /v1/pay HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\nauthorization: PSW1-HMAC-SHA256 key=T1, ts={ts}, nonce=abcdefghijklmnor, sig=AAAA\r\n\r\n"
    );
    let (answer, took) = raw_exchange(&addr, &head, Duration::from_secs(5)).await;
    assert!(answer.contains("auth_bad_signature"), "{answer}");
    assert!(took < Duration::from_millis(600), "answered after {took:?}");
    // A known key whose body never comes: 408 at the body deadline.
    let head = format!(
        "POST /v1/pay HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\nauthorization: PSW1-HMAC-SHA256 key=T1, ts={ts}, nonce=abcdefghijklmnoq, sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n{{\"out"
    );
    let (answer, took) = raw_exchange(&addr, &head, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(
        took >= Duration::from_millis(650),
        "answered after {took:?}"
    );
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_have_a_cap_and_the_operators_keep_theirs() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, "", hardened).await;
    let addr = base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The 17th is closed at once.
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let _ = s
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
        .await
        .expect("closed, not left hanging")
        .unwrap_or(0);
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&buf[..n]));
    // The operator listener still answers.
    let o = ops(&sw);
    let (s, v) = o.raw("GET", "/metrics", vec![], None).await.unwrap();
    assert_eq!(s, 200);
    assert!(v
        .as_str()
        .unwrap()
        .contains("payswitch_connections_refused_total{listener=\"terminal\"}"));
    // Once connections close, new ones are served.
    drop(idle);
    eventually(Duration::from_secs(5), "served again", || async {
        let t = Term::new(&base);
        t.raw("GET", "/healthz", vec![], None)
            .await
            .ok()
            .filter(|x| x.0 == 200)
    })
    .await;
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_holds_the_trades_in_flight_and_has_a_cap() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    // 10003 trades that never get paid are polled for 200 x 50 ms.
    let (sw, base) = switch_with(dir.path(), &sim, "", |s| {
        hardened(s).replace("poll_count = 12", "poll_count = 200")
    })
    .await;
    let t = Term::new(&base);
    for i in 0..40 {
        let (s, v) = t
            .pay(&format!("EV{i}"), &auth_code("0000"), "1.00", 10)
            .await;
        assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    }
    // Final trades leave memory within seconds; the journal still answers.
    eventually(Duration::from_secs(6), "final trades evicted", || async {
        (sw.flows().cached_trades() == 0).then_some(())
    })
    .await;
    let (s, v) = t.get("EV7").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // The read brought EV7 back into memory for a while: let it leave
    // again, so that the 100 below are the only trades held.
    eventually(Duration::from_secs(6), "EV7 evicted again", || async {
        (sw.flows().cached_trades() == 0).then_some(())
    })
    .await;
    // 100 trades parked in 10003 polling fill the cap: the next is refused
    // with nothing sent.
    for i in 0..100 {
        let (s, v) = t
            .pay(&format!("PK{i}"), &auth_code("1004"), "1.00", 0)
            .await;
        assert_eq!(s, 200, "{i}: {v}");
    }
    let (s, v) = t.pay("PK_OVER", &auth_code("0000"), "1.00", 0).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "switch_busy", "{v}");
    let ledger = sim_trade(&sim, "PK_OVER").await;
    assert_eq!(ledger.0, 404, "nothing was sent: {ledger:?}");
    sw.shutdown().await.unwrap();
}

/// The switch talks to the gateway over HTTPS, trusting the gateway's CA
/// (`gateway.ca_file`): the simulator serves TLS with a test CA's
/// certificate (`--tls-cert`, `--tls-key`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_over_https_with_a_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = make_test_certs(dir.path()) else {
        eprintln!("openssl not available: HTTPS gateway test skipped");
        return;
    };
    let sim = sim_with(|c| c.tls = Some((cert.clone(), key.clone()))).await;
    let url = sim.gateway_url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let (sw, base) = switch_with(dir.path(), &sim, "", |s| {
        s.replace("allow_insecure_gateway = true\n", "").replace(
            "[gateway]\n",
            &format!("[gateway]\nca_file = \"{}\"\n", ca.display()),
        )
    })
    .await;
    let t = Term::new(&base);
    let (s, v) = t.pay("TLS_GW1", &auth_code("0000"), "3.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (s, v) = t
        .call(
            "POST",
            "/v1/trades/TLS_GW1/refunds",
            Some(&serde_json::json!({"out_request_no": "r1", "refund_amount": "1.00"})),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    sw.shutdown().await.unwrap();
}

/// `/notify/alipay` faces the internet: its own body limit, and a source
/// that keeps sending unverifiable notifications (each costs an RSA verify)
/// is refused unread for the rest of the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notify_endpoint_limits_unverifiable_sources() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let bad = b"notify_id=1&app_id=2021000000000001&out_trade_no=X&trade_status=TRADE_SUCCESS&sign_type=RSA2&sign=AAAA".to_vec();
    let mut statuses = Vec::new();
    for _ in 0..25 {
        let (s, _) = t
            .raw("POST", "/notify/alipay", bad.clone(), None)
            .await
            .unwrap();
        statuses.push(s);
    }
    assert!(statuses[..20].iter().all(|s| *s == 400), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
    assert!(v
        .as_str()
        .unwrap()
        .contains("payswitch_notifications_total{result=\"source_limited\"} 5"));
    sw.shutdown().await.unwrap();

    // A body past the notify limit: 413, whatever the terminal limit is.
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(dir.path(), &sim, "", |s| {
        s.replace("max_body_bytes = 8192", "max_body_bytes = 65536")
    })
    .await;
    let t = Term::new(&base);
    let big = vec![b'a'; 20 * 1024];
    let (s, _) = t.raw("POST", "/notify/alipay", big, None).await.unwrap();
    assert_eq!(s, 413);
    sw.shutdown().await.unwrap();
}
