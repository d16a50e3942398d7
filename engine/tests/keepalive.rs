//! Kept-alive HTTP/1 connections on the plain-TCP terminal listener: the
//! switch serves each request on a fresh hyper connection and parks the
//! socket between requests (engine/src/server/park.rs). What a client sees
//! must be an ordinary kept-alive connection: request after request,
//! pipelined requests, `Connection: close` and HTTP/1.0 honoured, a body
//! left unread closing the connection, HTTP/2 with prior knowledge served.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One client socket and what it read past the last answer.
struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
}

/// One HTTP/1 answer: status code, header block (lower case), body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Wire {
    async fn connect(base: &str) -> Wire {
        let s = TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        Wire { s, buf: Vec::new() }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.unwrap();
    }

    /// Reads more within 5 s; 0 at the end of the stream.
    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), self.s.read(&mut chunk))
            .await
            .expect("the switch answers within 5 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The next answer (Content-Length bodies, as the switch sends).
    async fn answer(&mut self) -> Answer {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill().await > 0, "closed before an answer");
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_lowercase();
        let status = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while self.buf.len() < end + len {
            assert!(self.fill().await > 0, "closed inside a body");
        }
        let body = String::from_utf8_lossy(&self.buf[end..end + len]).into_owned();
        self.buf.drain(..end + len);
        Answer { status, head, body }
    }

    /// Whether the switch closes the connection (within 5 s).
    async fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill().await == 0
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_after_request_on_one_connection_pipelined_too() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new(&base);
    let mut w = Wire::connect(&base).await;
    for _ in 0..3 {
        w.send(HEALTHZ).await;
        let a = w.answer().await;
        assert_eq!(a.status, 200, "{}", a.head);
        assert!(!a.head.contains("connection: close"), "{}", a.head);
    }
    // A signed payment with a body, then a GET, on the same connection:
    // a body read to its end keeps the connection.
    let body = serde_json::json!({"out_trade_no": "KA_1", "auth_code": auth_code("0000"),
        "total_amount": "1.00", "subject": "test goods"})
    .to_string();
    let pq = "/v1/pay?wait=10";
    let auth = t.auth_header("POST", pq, body.as_bytes(), unix_now(), &nonce());
    let req = format!(
        "POST {pq} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nauthorization: {auth}\r\n\r\n{body}",
        body.len()
    );
    w.send(req.as_bytes()).await;
    let a = w.answer().await;
    assert_eq!(a.status, 200, "{} {}", a.head, a.body);
    assert!(a.body.contains("\"SUCCESS\""), "{}", a.body);
    let pq = "/v1/trades/KA_1";
    let auth = t.auth_header("GET", pq, b"", unix_now(), &nonce());
    w.send(format!("GET {pq} HTTP/1.1\r\nhost: x\r\nauthorization: {auth}\r\n\r\n").as_bytes())
        .await;
    let a = w.answer().await;
    assert_eq!(a.status, 200, "{} {}", a.head, a.body);
    assert!(a.body.contains("KA_1"), "{}", a.body);
    // Three requests in one write: three answers, in order.
    let mut three = Vec::new();
    for _ in 0..3 {
        three.extend_from_slice(HEALTHZ);
    }
    w.send(&three).await;
    for _ in 0..3 {
        assert_eq!(w.answer().await.status, 200);
    }
    // Still open for more.
    w.send(HEALTHZ).await;
    assert_eq!(w.answer().await.status, 200);
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_http_1_0_and_an_unread_body_end_the_connection() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    // The client says close.
    let mut w = Wire::connect(&base).await;
    w.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    assert_eq!(w.answer().await.status, 200);
    assert!(w.closed().await, "kept after Connection: close");
    // HTTP/1.0 without keep-alive.
    let mut w = Wire::connect(&base).await;
    w.send(b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(w.answer().await.status, 200);
    assert!(w.closed().await, "kept after an HTTP/1.0 request");
    // Refused before its body was read (an unknown key): the rest of the
    // body must never be read as a request, so the connection goes.
    let mut w = Wire::connect(&base).await;
    let ts = unix_now();
    w.send(format!("POST /v1/pay HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 40\r\nauthorization: PSW1-HMAC-SHA256 key=NOBODY, ts={ts}, nonce=abcdefghijklmnop, sig=AAAA\r\n\r\n").as_bytes()).await;
    let a = w.answer().await;
    assert_eq!(a.status, 401, "{}", a.body);
    // Told, so that a pooled client does not send its next request on it.
    assert!(
        a.head.to_ascii_lowercase().contains("connection: close"),
        "{}",
        a.head
    );
    w.send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n0123")
        .await;
    assert!(w.closed().await, "kept after a body left unread");
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_with_prior_knowledge_is_served() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_in_process(dir.path(), &sim).await;
    let t = Term::new_h2(&base);
    let (s, v) = t.call("GET", "/healthz", None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = t.pay("KA_H2", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // The preface in two writes (a part first): still HTTP/2, whose first
    // frame from the server is its SETTINGS.
    let mut w = Wire::connect(&base).await;
    w.send(b"PRI * HTTP/2.0\r\n").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    w.send(b"\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await;
    while w.buf.len() < 9 {
        assert!(w.fill().await > 0, "closed before SETTINGS");
    }
    assert_eq!(
        w.buf[3],
        0x04,
        "the first frame is not SETTINGS: {:?}",
        &w.buf[..9]
    );
    sw.shutdown().await.unwrap();
}
