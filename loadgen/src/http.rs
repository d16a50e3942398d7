//! A small HTTP/1.1 client for the load: a keep-alive pool over hyper-util,
//! a per-request timeout, and transport failures sorted into kinds.
//!
//! Guarantees: a request never waits longer than the client's timeout; a
//! failure is a [`TransportError`] with a short stable kind (`timeout`,
//! `connect`, `reset`, `closed`, `body`, `other`) that reports group by.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A request that got no HTTP answer (an HTTP error status is an
/// [`Answer`], not this).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct TransportError {
    /// The stable kind the report groups by: `timeout` (no whole answer
    /// within the client's timeout), `connect` (no connection), `reset`
    /// (connection reset by the peer), `closed` (connection closed or aborted
    /// mid-exchange), `body` (the answer's body could not be read),
    /// `request` (the request could not be built, e.g. a bad URL or header),
    /// `other`.
    pub kind: &'static str,
    /// The error and its chain of causes, for the log; not stable.
    pub detail: String,
}

/// A pooled HTTP/1.1 client (plain TCP, `TCP_NODELAY`, up to 4096 idle
/// keep-alive connections per host, idle ones dropped after 30 s). Cheap to
/// clone: the clones share the pool. One is shared by all the workers of a
/// run.
#[derive(Clone, Debug)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

/// An HTTP answer, whatever its status: status and whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The whole body, read to its end.
    pub body: Bytes,
}

impl Http {
    /// A client with `timeout` per request, covering connect, send and the
    /// whole body; it is also the connect timeout of a new connection.
    pub fn new(timeout: Duration) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4096)
            .build(conn);
        Http { client, timeout }
    }

    /// Sends one request (`url` absolute, `headers` as name and value) over a
    /// pooled connection and reads the whole answer.
    ///
    /// # Errors
    /// A [`TransportError`] of kind `request` when the request cannot be
    /// built, `timeout` when no whole answer came within the client's
    /// timeout, `body` when the body broke off, and `connect`, `reset`,
    /// `closed` or `other` from the connection.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, TransportError> {
        let mut b = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(body)).map_err(|e| TransportError {
            kind: "request",
            detail: e.to_string(),
        })?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(classify_client)?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| TransportError {
                    kind: "body",
                    detail: e.to_string(),
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(TransportError {
                kind: "timeout",
                detail: format!("no answer within {} ms", self.timeout.as_millis()),
            }),
        }
    }

    /// [`Http::send`] of a `GET` with no headers and no body.
    ///
    /// # Errors
    /// As [`Http::send`].
    pub async fn get(&self, url: &str) -> Result<Answer, TransportError> {
        self.send(Method::GET, url, &[], Bytes::new()).await
    }
}

fn classify_client(e: hyper_util::client::legacy::Error) -> TransportError {
    let detail = error_chain(&e);
    let kind = if e.is_connect() {
        "connect"
    } else if let Some(io) = find_io(&e) {
        match io.kind() {
            std::io::ErrorKind::ConnectionReset => "reset",
            std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::BrokenPipe => "closed",
            std::io::ErrorKind::TimedOut => "timeout",
            _ => "other",
        }
    } else if detail.contains("closed") || detail.contains("incomplete") {
        "closed"
    } else {
        "other"
    };
    TransportError { kind, detail }
}

fn find_io<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = c.source();
    }
    None
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
