//! Plain-TCP connections that hold nothing while they wait for a request.
//!
//! hyper keeps a connection's read buffer (8 KiB, hyper's minimum), its
//! write buffer (8 KiB, allocated when the connection starts) and its whole
//! connection state for as long as the connection is open: a kept-alive
//! terminal connection waiting for its next request cost about 22 KB, and
//! 10,000 of them about 220 MB (docs/ENGINE.md, "Memory per connection and
//! per parked payment"). Here a connection waits *parked*: the socket, a
//! few counters and the listener's shared handles, no buffer. Each request
//! is served by a fresh hyper HTTP/1 connection with keep-alive off, polled
//! without shutdown, so that hyper ends after its answer and hands the
//! socket back open; the socket is parked again when the exchange allows
//! the connection to be kept:
//!
//! - HTTP/1.1, and neither the request nor the answer says
//!   `Connection: close`;
//! - the request's body, when it had one, was read to its end (a request
//!   refused before its body was read closes the connection: what is left
//!   of the body would be read as the next request).
//!
//! Bytes hyper read past the request (a pipelined request) are served next,
//! before the socket is read again. hyper does not write `Connection: close`
//! when keep-alive is off, so the client sees the same kept-alive
//! connection as before; an answer after which the connection is closed
//! says `Connection: close` (added here), so that the client does not send
//! its next request on it.
//!
//! A connection that starts with the HTTP/2 preface (prior knowledge) is
//! served by hyper as a whole, as TLS connections are: HTTP/2 multiplexes
//! and its connections are few.
//!
//! The deadlines are those of [`super::deadline`]: the first request within
//! the header deadline, no request for the idle time-out closes, an answer
//! the client does not read counts as idle.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::Body;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::deadline::{self, Activity};
use super::{stopped, ConnLimit, Handle, CLOSE_GRACE};
use crate::api::ip_limit::ConnSlot;
use crate::api::{BodyRead, PeerAddr};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long to wait before looking again at a connection whose first bytes
/// are a part of the HTTP/2 preface (rare: a preface arrives whole).
const PARTIAL_PREFACE_RETRY: Duration = Duration::from_millis(5);

/// What the first bytes of a plain-TCP connection say.
#[derive(Debug, PartialEq, Eq)]
enum Sniffed {
    Http1,
    Http2,
    /// Closed before it sent anything.
    Closed,
}

/// The protocol, from the first bytes peeked (not consumed); `None`: a part
/// of the HTTP/2 preface, look again once more has arrived.
fn sniff(first: &[u8]) -> Option<Sniffed> {
    let n = first.len().min(H2_PREFACE.len());
    if first.is_empty() {
        Some(Sniffed::Closed)
    } else if first[..n] != H2_PREFACE[..n] {
        Some(Sniffed::Http1)
    } else if n == H2_PREFACE.len() {
        Some(Sniffed::Http2)
    } else {
        None
    }
}

/// Peeks at the first bytes until they say which protocol it is.
async fn peek_protocol(stream: &TcpStream) -> io::Result<Sniffed> {
    let mut buf = [0u8; 24];
    loop {
        let n = stream.peek(&mut buf).await?;
        match sniff(&buf[..n]) {
            Some(s) => return Ok(s),
            None => tokio::time::sleep(PARTIAL_PREFACE_RETRY).await,
        }
    }
}

/// The socket with the bytes already read from it in front; it tells the
/// exchange whether hyper's last output is flushed.
struct Rewind {
    pre: Bytes,
    io: TcpStream,
    exchange: Arc<Exchange>,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.exchange.flushed.store(false, Ordering::Release);
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.exchange.flushed.store(false, Ordering::Release);
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            // hyper flushes the socket once its own buffer is written out.
            self.exchange.flushed.store(true, Ordering::Release);
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Whether a `Connection` header asks to close (`close` among its tokens).
fn says_close(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("close"))
}

/// What one hyper connection did, for the decision to park its socket.
struct Exchange {
    /// Requests whose head arrived.
    started: AtomicU32,
    /// Requests answered by the handler.
    answered: AtomicU32,
    /// Every answered request allows the connection to be kept.
    keep: AtomicBool,
    /// hyper's output is written out and flushed (nothing of an answer
    /// would be lost with hyper's buffers).
    flushed: AtomicBool,
}

impl Exchange {
    fn new() -> Arc<Exchange> {
        Arc::new(Exchange {
            started: AtomicU32::new(0),
            answered: AtomicU32::new(0),
            keep: AtomicBool::new(true),
            flushed: AtomicBool::new(true),
        })
    }

    /// Answered, nothing in flight, output flushed: hyper's connection can
    /// end now without a word to the client (its next request finds the
    /// socket parked).
    fn between_requests(&self) -> bool {
        let answered = self.answered.load(Ordering::Acquire);
        answered > 0
            && self.started.load(Ordering::Acquire) == answered
            && self.flushed.load(Ordering::Acquire)
    }

    /// The connection may be parked after hyper's connection ended.
    fn may_keep(&self) -> bool {
        self.between_requests() && self.keep.load(Ordering::Acquire)
    }
}

/// How one exchange ended.
enum After {
    /// Kept: park the socket, then serve the bytes already read first.
    Park(TcpStream, Bytes),
    /// Closed (by the client, by a deadline, by the exchange's terms, or
    /// at shutdown).
    Close,
}

/// The shared handles of one connection, as the listener gives them.
pub(super) struct Conn {
    pub h1: Arc<hyper::server::conn::http1::Builder>,
    pub auto: Arc<hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>>,
    pub handle: Handle,
    pub stop: watch::Receiver<bool>,
    pub slot: Option<Arc<ConnSlot>>,
    pub peer: std::net::SocketAddr,
}

/// Serves a plain-TCP connection until it closes: HTTP/2 by hyper as a
/// whole, HTTP/1 one request at a time with the socket parked between.
pub(super) async fn serve_tcp(stream: TcpStream, mut c: Conn, limit: &ConnLimit) {
    let deadlines = limit.deadlines;
    let first = tokio::select! {
        r = tokio::time::timeout(deadlines.first_request, peek_protocol(&stream)) => r,
        _ = stopped(&mut c.stop) => return,
    };
    match first {
        Ok(Ok(Sniffed::Http1)) => {}
        Ok(Ok(Sniffed::Http2)) => {
            // Boxed: the parked connections' tasks stay small.
            Box::pin(super::serve_conn(
                stream, c.peer, c.auto, c.handle, c.stop, c.slot, limit,
            ))
            .await;
            return;
        }
        Ok(Ok(Sniffed::Closed)) | Ok(Err(_)) => return,
        Err(_) => {
            closed(limit, deadline::Check::CloseNoRequest);
            return;
        }
    }
    let activity = Activity::new();
    let mut stream = stream;
    let mut pending = Bytes::new();
    loop {
        if pending.is_empty() {
            // Parked: nothing but the socket until the next request's
            // first bytes (or the client's close) arrive.
            loop {
                let wait = match activity.check(deadlines) {
                    deadline::Check::Wait(d) => d,
                    close => {
                        closed(limit, close);
                        return;
                    }
                };
                tokio::select! {
                    r = stream.readable() => match r {
                        Ok(()) => break,
                        Err(_) => return,
                    },
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped(&mut c.stop) => return,
                }
            }
        }
        let pre = std::mem::take(&mut pending);
        match Box::pin(serve_one(stream, pre, &mut c, &activity, limit)).await {
            After::Park(s, rest) => {
                stream = s;
                pending = rest;
            }
            After::Close => return,
        }
    }
}

fn closed(limit: &ConnLimit, why: deadline::Check) {
    limit.metrics.inc(
        "payswitch_connections_closed_total",
        &[("listener", limit.listener), ("reason", why.reason())],
    );
}

/// Serves requests on a fresh hyper connection until it is between two
/// requests, then ends it without a word to the client and gives the socket
/// back (with what hyper read past the last request).
async fn serve_one(
    stream: TcpStream,
    pre: Bytes,
    c: &mut Conn,
    activity: &Arc<Activity>,
    limit: &ConnLimit,
) -> After {
    let deadlines = limit.deadlines;
    let exchange = Exchange::new();
    let svc = {
        let (act, ex) = (activity.clone(), exchange.clone());
        let (handle, slot, peer) = (c.handle.clone(), c.slot.clone(), c.peer);
        hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            let in_flight = act.begin();
            ex.started.fetch_add(1, Ordering::AcqRel);
            let keep = req.version() == http::Version::HTTP_11 && !says_close(req.headers());
            let body_read = if req.body().is_end_stream() {
                None
            } else {
                let r = BodyRead::default();
                req.extensions_mut().insert(r.clone());
                Some(r)
            };
            req.extensions_mut().insert(PeerAddr(peer));
            if let Some(s) = &slot {
                req.extensions_mut().insert(s.clone());
            }
            let answer = handle(req);
            let ex = ex.clone();
            // Boxed: hyper's connection is polled without shutdown, which
            // wants an Unpin answer.
            Box::pin(async move {
                let mut r = answer.await;
                let keep = keep
                    && body_read.map_or(true, |b| b.is_read())
                    && r.as_ref().is_ok_and(|resp| !says_close(resp.headers()));
                if !keep {
                    ex.keep.store(false, Ordering::Release);
                    // hyper, with keep-alive off, would not say so: a client
                    // that is not told reuses the connection for its next
                    // request and finds it closed under that request.
                    if let Ok(resp) = &mut r {
                        resp.headers_mut().insert(
                            http::header::CONNECTION,
                            http::HeaderValue::from_static("close"),
                        );
                    }
                }
                // hyper encodes the answer's head in the poll that sees this
                // future ready, before the connection is looked at again.
                ex.answered.fetch_add(1, Ordering::AcqRel);
                drop(in_flight);
                r
            })
        })
    };
    let io = Rewind {
        pre,
        io: stream,
        exchange: exchange.clone(),
    };
    let mut conn = c.h1.serve_connection(TokioIo::new(io), svc);
    // hyper's connection, ended (gracefully, so without a `Connection:
    // close` on an answer already encoded) as soon as it is between two
    // requests.
    let mut ending = false;
    let mut run = |cx: &mut Context<'_>,
                   conn: &mut hyper::server::conn::http1::Connection<_, _>| loop {
        let r = conn.poll_without_shutdown(cx);
        if r.is_ready() || ending || !exchange.between_requests() {
            return r;
        }
        ending = true;
        Pin::new(&mut *conn).graceful_shutdown();
    };
    let mut wait = match activity.check(deadlines) {
        deadline::Check::Wait(d) => d,
        _ => deadlines.idle,
    };
    let why = loop {
        tokio::select! {
            r = poll_fn(|cx| run(cx, &mut conn)) => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                    return After::Close;
                }
                if !exchange.may_keep() {
                    return After::Close;
                }
                let parts = conn.into_parts();
                let Rewind { pre, io, .. } = parts.io.into_inner();
                let rest = if pre.is_empty() {
                    parts.read_buf
                } else {
                    let mut b = BytesMut::with_capacity(pre.len() + parts.read_buf.len());
                    b.extend_from_slice(&pre);
                    b.extend_from_slice(&parts.read_buf);
                    b.freeze()
                };
                return After::Park(io, rest);
            }
            _ = stopped(&mut c.stop) => {
                Pin::new(&mut conn).graceful_shutdown();
                let _ = poll_fn(|cx| conn.poll_without_shutdown(cx)).await;
                return After::Close;
            }
            _ = tokio::time::sleep(wait) => match activity.check(deadlines) {
                deadline::Check::Wait(d) => wait = d,
                close => break close,
            },
        }
    };
    closed(limit, why);
    // A request that started meanwhile is finished; then the socket is
    // closed whatever the client does.
    Pin::new(&mut conn).graceful_shutdown();
    loop {
        tokio::select! {
            _ = poll_fn(|cx| conn.poll_without_shutdown(cx)) => return After::Close,
            _ = tokio::time::sleep(CLOSE_GRACE) => {
                if activity.in_flight() == 0 {
                    return After::Close;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_name_the_protocol() {
        assert_eq!(sniff(b""), Some(Sniffed::Closed));
        assert_eq!(sniff(b"POST /v1/pay"), Some(Sniffed::Http1));
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Some(Sniffed::Http1));
        assert_eq!(sniff(b"P"), None);
        assert_eq!(sniff(b"PRI * HTTP/2.0"), None);
        assert_eq!(sniff(H2_PREFACE), Some(Sniffed::Http2));
        assert_eq!(sniff(b"PRI * HTTP/1.1\r\n"), Some(Sniffed::Http1));
    }

    #[test]
    fn connection_close_is_found_among_the_tokens() {
        let mut h = http::HeaderMap::new();
        assert!(!says_close(&h));
        h.insert(http::header::CONNECTION, "keep-alive".parse().unwrap());
        assert!(!says_close(&h));
        h.append(http::header::CONNECTION, "Upgrade, Close".parse().unwrap());
        assert!(says_close(&h));
    }
}
