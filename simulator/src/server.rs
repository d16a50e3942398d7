//! The HTTP server: a tokio listener, one hyper HTTP/1.1 keep-alive
//! connection task per client, routing to `/gateway.do` and `/_sim/...`, and
//! the two deliberate transport faults (a held-then-dropped connection and a
//! TCP reset).
//!
//! Guarantees: [`start`] returns as soon as the listener is bound; request
//! bodies are bounded by `max_body_bytes`; absolute-form request targets
//! (`POST http://host/gateway.do?...`) are routed by their path;
//! [`SimHandle::shutdown`] stops accepting, aborts every connection and stops
//! every background task (password payments, notifications).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::gateway::{self, GatewayReply};
use crate::state::Sim;
use crate::{control, SimConfig, SimError};

/// A running simulator, as [`crate::start`] returns it;
/// [`SimHandle::shutdown`] stops it and waits until it has stopped.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    sim: Arc<Sim>,
}

impl SimHandle {
    /// The bound address (the real port when [`crate::SimConfig::listen`]
    /// asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/gateway.do` (`https://` with TLS): the gateway
    /// URL to give a client.
    pub fn gateway_url(&self) -> String {
        format!("{}/gateway.do", self.base_url())
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS; `127.0.0.1` when
    /// listening on an unspecified address): the base of `/_sim/...`.
    pub fn base_url(&self) -> String {
        self.sim.base_url.clone()
    }

    /// The simulator's public key (PEM), to verify its responses and notifications.
    pub fn alipay_public_key_pem(&self) -> &str {
        &self.sim.public_key_pem
    }

    /// Replaces the random scenario profile for the requests that follow
    /// (as `PUT /_sim/profile` does).
    ///
    /// # Errors
    ///
    /// [`ProfileError::Invalid`](crate::ProfileError::Invalid) when
    /// [`Profile::validate`](crate::Profile::validate) refuses `p`; the
    /// current profile stays.
    pub fn set_profile(&self, p: crate::Profile) -> Result<(), crate::ProfileError> {
        p.validate()?;
        *self.sim.profile.write() = Arc::new(p);
        Ok(())
    }

    /// Stops the simulator: no new connections, every connection and
    /// background task ended.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Binds and spawns (see [`crate::start`]).
///
/// # Errors
///
/// As [`crate::start`].
pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
    let listen = cfg.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: listen,
        source,
    })?;
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let (tx, rx) = watch::channel(false);
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let sim = Arc::new(Sim::new(cfg, format!("{scheme}://{shown}"), rx.clone())?);
    if let Some(retention) = sim.cfg.retention {
        tokio::spawn(sweeper(Arc::clone(&sim), retention));
    }
    let task = tokio::spawn(accept_loop(listener, Arc::clone(&sim), rx, tls));
    tracing::info!(%addr, "alipay-sim listening");
    Ok(SimHandle {
        addr,
        shutdown: tx,
        task,
        sim,
    })
}

/// Forgets old finished trades every so often (see `SimConfig::retention`).
async fn sweeper(sim: Arc<Sim>, retention: Duration) {
    let every = (retention / 4).clamp(Duration::from_millis(100), Duration::from_secs(10));
    let keep = time::Duration::try_from(retention).unwrap_or(time::Duration::MAX);
    while sim.sleep(every).await {
        let gone = sim.ledger.sweep(time::OffsetDateTime::now_utc(), keep);
        if !gone.is_empty() {
            sim.notifier.forget(&gone);
            tracing::debug!(trades = gone.len(), "forgot old trades");
        }
    }
}

/// The TLS acceptor of `--tls-cert`/`--tls-key` (ALPN http/1.1).
fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, SimError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| SimError::Tls(format!("{}: {e}", p.display())))
    };
    let certs = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SimError::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(SimError::Tls(format!("{}: no certificate", cert.display())));
    }
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| SimError::Tls(format!("{}: {e}", key.display())))?
        .ok_or_else(|| SimError::Tls(format!("{}: no private key", key.display())))?;
    let mut c = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SimError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| SimError::Tls(e.to_string()))?;
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(c)))
}

async fn accept_loop(
    listener: TcpListener,
    sim: Arc<Sim>,
    mut shutdown: watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|v| *v) => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                conns.spawn(serve_conn(stream, Arc::clone(&sim), tls.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// A TCP stream that ends with a reset (SO_LINGER 0) instead of a FIN when
/// its flag is set.
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.load(Ordering::Relaxed) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Why a request ends the connection without an answer.
#[derive(Debug, thiserror::Error)]
enum Dropped {
    #[error("connection reset on purpose")]
    Reset,
    #[error("connection dropped after holding it")]
    Hang,
}

async fn serve_conn(stream: TcpStream, sim: Arc<Sim>, tls: Option<tokio_rustls::TlsAcceptor>) {
    let reset = Arc::new(AtomicBool::new(false));
    let inner = ResettableStream {
        inner: stream,
        reset: Arc::clone(&reset),
    };
    let svc = service_fn(move |req| {
        let sim = Arc::clone(&sim);
        let reset = Arc::clone(&reset);
        async move { route(sim, req, reset).await }
    });
    match tls {
        None => {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(inner), svc)
                .await;
        }
        Some(acc) => {
            let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(10), acc.accept(inner)).await
            else {
                return;
            };
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(s), svc)
                .await;
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

fn json_error(status: StatusCode, msg: &str) -> Resp {
    respond(
        status,
        "application/json",
        serde_json::json!({ "error": msg }).to_string(),
    )
}

async fn route(
    sim: Arc<Sim>,
    req: Request<Incoming>,
    reset: Arc<AtomicBool>,
) -> Result<Resp, Dropped> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = match Limited::new(req.into_body(), sim.cfg.max_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Ok(json_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
            }
            return Err(Dropped::Reset);
        }
    };
    if path == "/gateway.do" {
        if method != hyper::Method::POST && method != hyper::Method::GET {
            return Ok(json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET or POST",
            ));
        }
        return match gateway::handle(&sim, query.as_bytes(), &body) {
            GatewayReply::Body {
                body,
                content_type,
                delay,
            } => {
                if !delay.is_zero() && !sim.sleep(delay).await {
                    return Err(Dropped::Hang);
                }
                Ok(respond(StatusCode::OK, content_type, body))
            }
            GatewayReply::Reset => {
                reset.store(true, Ordering::Relaxed);
                Err(Dropped::Reset)
            }
            GatewayReply::Hang => {
                sim.sleep(sim.cfg.client_timeout_hint).await;
                Err(Dropped::Hang)
            }
        };
    }
    if let Some(rest) = path.strip_prefix("/_sim/") {
        let r = control::handle(&sim, &method, rest, &query, &body);
        return Ok(respond(r.status, r.content_type, r.body));
    }
    Ok(json_error(StatusCode::NOT_FOUND, "not found"))
}
