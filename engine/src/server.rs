//! Start-up, the accept loops and graceful shutdown.
//!
//! [`start`] opens the journal, builds the gateway client, starts recovery
//! (every unfinished trade is driven to a definite state in the background),
//! binds every listen address, and serves. [`Running::shutdown`] stops
//! accepting, lets open connections finish their requests, gives in-flight
//! flows up to `server.shutdown_grace` (background retry loops stop at their
//! next wait; recovery picks them up at the next start), then drains and
//! closes the journal.

mod deadline;
mod park;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::Admin;
use crate::api::auth::Authenticator;
use crate::api::ip_limit::{Admission, ConnSlot, IpLimiter};
use crate::api::Api;
use crate::config::Config;
use crate::flow::Flows;
use crate::gateway::Gateway;
use crate::merchants::Registry;
use crate::metrics::Metrics;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use crate::{EngineError, StoreError};

/// A running switch, as [`start`] returns it: its bound addresses, its
/// journal and flows, and [`Running::shutdown`], which a caller should
/// always await (it is what flushes and closes the journal).
pub struct Running {
    addrs: Vec<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    accept_loops: Vec<JoinHandle<()>>,
    conns: Arc<AtomicUsize>,
    flows: Arc<Flows>,
    store: Arc<dyn Store>,
    /// The SQLite journal, when it is SQLite (its page cap).
    sqlite: Option<Arc<SqliteStore>>,
    grace: Duration,
}

fn load_tls(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, EngineError> {
    let certs = {
        let pem = std::fs::read(cert)
            .map_err(|e| EngineError::Tls(format!("server.tls_cert_file: {e}")))?;
        rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| EngineError::Tls(format!("server.tls_cert_file: {e}")))?
    };
    if certs.is_empty() {
        return Err(EngineError::Tls(
            "server.tls_cert_file: no certificate found".into(),
        ));
    }
    let key = {
        let pem = std::fs::read(key)
            .map_err(|e| EngineError::Tls(format!("server.tls_key_file: {e}")))?;
        rustls_pemfile::private_key(&mut pem.as_slice())
            .map_err(|e| EngineError::Tls(format!("server.tls_key_file: {e}")))?
            .ok_or_else(|| EngineError::Tls("server.tls_key_file: no private key found".into()))?
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| EngineError::Tls(format!("server.tls_key_file: {e}")))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Resolves once the stop flag is set (the watch guard is not held across an await).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}

/// A request handler of one listener (the terminal API or the admin API).
type Handle = Arc<
    dyn Fn(
            http::Request<hyper::body::Incoming>,
        ) -> std::pin::Pin<
            Box<
                dyn Future<
                        Output = Result<
                            http::Response<http_body_util::Full<bytes::Bytes>>,
                            std::convert::Infallible,
                        >,
                    > + Send,
            >,
        > + Send
        + Sync,
>;

/// How long a connection closed by its deadline may take to go (a request
/// that slipped in is finished first).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

async fn serve_conn<I>(
    io: I,
    peer: std::net::SocketAddr,
    builder: Arc<Builder<TokioExecutor>>,
    handle: Handle,
    mut stop: watch::Receiver<bool>,
    slot: Option<Arc<ConnSlot>>,
    limit: &ConnLimit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let deadlines = limit.deadlines;
    let activity = deadline::Activity::new();
    let act = activity.clone();
    let svc = hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        let in_flight = act.begin();
        req.extensions_mut().insert(crate::api::PeerAddr(peer));
        if let Some(s) = &slot {
            req.extensions_mut().insert(s.clone());
        }
        let answer = handle(req);
        async move {
            let r = answer.await;
            drop(in_flight);
            r
        }
    });
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let mut wait = deadlines.first_request.min(deadlines.idle);
    let why = loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopped(&mut stop) => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
                return;
            }
            _ = tokio::time::sleep(wait) => match activity.check(deadlines) {
                deadline::Check::Wait(d) => wait = d,
                close => break close,
            },
        }
    };
    limit.metrics.inc(
        "payswitch_connections_closed_total",
        &[("listener", limit.listener), ("reason", why.reason())],
    );
    // HTTP/1: closed now when idle; HTTP/2: GOAWAY. A request that started
    // meanwhile is finished; then the socket is closed whatever the client
    // does.
    conn.as_mut().graceful_shutdown();
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tokio::time::sleep(CLOSE_GRACE) => {
                if activity.in_flight() == 0 {
                    return;
                }
            }
        }
    }
}

/// The limits of a listener group: open connections, the TLS handshake,
/// the connection deadlines, the per-source limits (terminal listeners).
struct ConnLimit {
    max: usize,
    handshake: Duration,
    deadlines: deadline::Deadlines,
    per_ip: Option<Arc<IpLimiter>>,
    metrics: Arc<Metrics>,
    listener: &'static str,
}

/// Open connections of the admin listener at most (its own count: terminals
/// at their cap never lock the operators out).
const ADMIN_MAX_CONNECTIONS: usize = 256;

/// One listener's accept loop: a task per connection, TLS when given.
fn accept_loop(
    l: TcpListener,
    handle: Handle,
    (builder, h1): (
        Arc<Builder<TokioExecutor>>,
        Arc<hyper::server::conn::http1::Builder>,
    ),
    tls: Option<tokio_rustls::TlsAcceptor>,
    conns: Arc<AtomicUsize>,
    mut stop_rx: watch::Receiver<bool>,
    limit: ConnLimit,
) -> JoinHandle<()> {
    let hs_timeout = limit.handshake;
    let limit = Arc::new(limit);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tokio::select! {
                r = l.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stopped(&mut stop_rx) => break,
            };
            if conns.load(Ordering::Acquire) >= limit.max {
                // Over the cap: closed at once, so one client cannot take
                // every file descriptor (the others keep theirs).
                drop(stream);
                limit.metrics.inc(
                    "payswitch_connections_refused_total",
                    &[("listener", limit.listener)],
                );
                continue;
            }
            // A source holding its cap of connections that never
            // authenticated: closed at once (terminals behind the same NAT
            // hold a slot only until their first request authenticates).
            let slot = match &limit.per_ip {
                None => None,
                Some(l) => match l.admit(peer.ip()) {
                    Admission::Admitted(slot) => slot,
                    Admission::Refused => {
                        drop(stream);
                        limit
                            .metrics
                            .inc("payswitch_ip_limited_total", &[("what", "connection")]);
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let (handle, builder, h1, tls, conns) = (
                handle.clone(),
                builder.clone(),
                h1.clone(),
                tls.clone(),
                conns.clone(),
            );
            let stop_rx = stop_rx.clone();
            let limit = limit.clone();
            conns.fetch_add(1, Ordering::AcqRel);
            tokio::spawn(async move {
                match tls {
                    // Plain TCP: HTTP/1 connections parked between requests.
                    None => {
                        let c = park::Conn {
                            h1,
                            auto: builder,
                            handle,
                            stop: stop_rx,
                            slot,
                            peer,
                        };
                        park::serve_tcp(stream, c, &limit).await
                    }
                    // TLS: hyper serves the whole connection (boxed: the
                    // task of a parked plain-TCP connection stays small).
                    Some(acc) => {
                        Box::pin(async {
                            match tokio::time::timeout(hs_timeout, acc.accept(stream)).await {
                                Ok(Ok(s)) => {
                                    serve_conn(s, peer, builder, handle, stop_rx, slot, &limit)
                                        .await
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        })
                        .await
                    }
                }
                conns.fetch_sub(1, Ordering::AcqRel);
            });
        }
    })
}

/// How often a node sharing the journal reads the registry again, so that
/// an admin change made at another node holds here too.
const REGISTRY_SYNC: Duration = Duration::from_secs(2);

/// Keeps the registry in memory up to the shared journal's, until the
/// switch stops.
async fn sync_registry(flows: Arc<Flows>) {
    while flows.pause(REGISTRY_SYNC).await {
        let registry = flows.registry().clone();
        let _change = registry.change().await;
        let store = flows.store().clone();
        match tokio::task::spawn_blocking(move || store.registry()).await {
            Ok(Ok(recs)) => match registry.sync(recs) {
                Ok(0) => {}
                Ok(n) => tracing::info!(changed = n, "registry changes from the shared journal"),
                Err(e) => tracing::error!(error = %e, "registry sync failed"),
            },
            Ok(Err(e)) => tracing::warn!(error = %e, "registry sync: journal unreachable"),
            Err(e) => tracing::error!(error = %e, "registry sync task failed"),
        }
    }
}

/// The HTTP/1 + HTTP/2 connection builder of the listeners, with the
/// `[server]` limits.
fn http_builder(s: &crate::config::ServerConfig) -> Builder<TokioExecutor> {
    let h = &s.http;
    let mut builder = Builder::new(TokioExecutor::new());
    // HTTP/1: the header deadline (hyper closes the connection, no answer;
    // it also runs while a kept-alive connection waits for its next
    // request), the header size (hyper's read buffer: 431 past it).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(s.header_read_timeout)
        .max_buf_size(h.max_header_bytes)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(h.h2_max_concurrent_streams)
        .initial_stream_window_size(h.h2_initial_stream_window)
        .initial_connection_window_size(h.h2_initial_connection_window)
        .max_header_list_size(u32::try_from(h.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(h.h2_keep_alive_interval)
        .keep_alive_timeout(h.h2_keep_alive_timeout);
    builder
}

/// The HTTP/1 builder of the plain-TCP connections (a hyper connection from
/// a request's first bytes until the connection is between two requests:
/// the socket is then parked by [`park`]), with the same limits as
/// [`http_builder`]'s HTTP/1.
fn http1_per_request(s: &crate::config::ServerConfig) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(s.header_read_timeout)
        .max_buf_size(s.http.max_header_bytes)
        // Not reading while an answer is pending: hyper otherwise reads to
        // see a client's close mid-request, which reserves a second read
        // buffer (8 KiB) for every payment parked in its wait. A client
        // that closes is seen when its answer is written.
        .half_close(true)
        .keep_alive(true);
    b
}

/// Starts the switch: journal, gateway client, registry, recovery (the
/// unfinished trades are driven on in the background), the heartbeats, the
/// daily reconciliation, then every listener (`server.listen`, and
/// `[admin]`'s when configured). Returns once all are bound and serving.
///
/// # Errors
/// [`EngineError::Store`] when the journal cannot be opened or its
/// registry or status counts read; [`EngineError::Gateway`] when the
/// gateway client cannot be built; [`EngineError::Registry`] when the
/// admin secret key or the registry's records are refused;
/// [`EngineError::Flow`] when recovery cannot list the unfinished work;
/// [`EngineError::Tls`] when `server.tls_cert_file` or `server.tls_key_file`
/// cannot be read or used; [`EngineError::Bind`] when an address cannot be
/// listened on; [`EngineError::Io`] when a bound address cannot be read.
pub async fn start(config: Config) -> Result<Running, EngineError> {
    let cfg = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let opened = {
        let (c, m) = (cfg.clone(), metrics.clone());
        // PostgreSQL connects and migrates: off the async worker.
        tokio::task::spawn_blocking(move || crate::store::open_parts(&c.store, m))
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??
    };
    let store: Arc<dyn Store> = opened.store;
    let sqlite = opened.sqlite;
    let gw = Arc::new(Gateway::new(cfg.gateway.clone(), metrics.clone())?);
    let registry = {
        let sealer = match cfg.admin.as_ref().and_then(|a| a.secret_key.as_ref()) {
            Some(k) => Some(
                crate::merchants::seal::Sealer::new(k)
                    .map_err(crate::merchants::RegistryError::from)?,
            ),
            None => None,
        };
        let s2 = store.clone();
        let recs = tokio::task::spawn_blocking(move || s2.registry())
            .await
            .map_err(|e| StoreError::Db(e.to_string()))??;
        Arc::new(Registry::load(&cfg, sealer, recs)?)
    };
    let flows = Flows::new(cfg.clone(), store.clone(), gw, metrics, registry.clone());
    flows.init_counts().await?;
    let (nt, nr) = flows.recover().await?;
    if let Some(p) = &cfg.store.postgres {
        flows.start_lease_keeper(Duration::from_millis(p.lease_ms));
        tokio::spawn(sync_registry(flows.clone()));
    }
    tokio::spawn(crate::heartbeat::run(flows.clone()));
    if nt + nr > 0 {
        tracing::info!(
            trades = nt,
            refunds = nr,
            "recovery started for unfinished trades"
        );
    }
    let per_ip =
        Arc::new(IpLimiter::new(cfg.server.per_ip.clone()).with_metrics(flows.metrics_arc()));
    let api = Arc::new(Api {
        flows: flows.clone(),
        ip_limit: per_ip.clone(),
        auth: Authenticator::with_registry(registry.clone(), cfg.server.auth_window),
        notify_guard: crate::api::NotifyGuard::default(),
        max_body: cfg.server.max_body_bytes,
        body_timeout: cfg.server.body_read_timeout,
        default_wait: cfg.policy.default_wait,
    });
    let tls = match &cfg.server.tls {
        Some((c, k)) => {
            let tls = load_tls(c, k)?;
            flows
                .metrics()
                .publish_cert_expiry("server.tls_cert_file", c);
            Some(tls)
        }
        None => None,
    };
    let builder = Arc::new(http_builder(&cfg.server));
    let h1 = Arc::new(http1_per_request(&cfg.server));
    let deadlines = deadline::Deadlines {
        first_request: cfg.server.header_read_timeout,
        idle: cfg.server.http.idle_timeout,
    };
    let (stop, _) = watch::channel(false);
    // The daily reconciliation ([recon] at) and the last run's gauges.
    tokio::spawn(crate::recon::run::schedule(
        crate::recon::ReconContext {
            cfg: cfg.clone(),
            store: store.clone(),
            gw: flows.gateway().clone(),
            registry: registry.clone(),
            metrics: flows.metrics_arc(),
        },
        stop.subscribe(),
    ));
    let conns = Arc::new(AtomicUsize::new(0));
    let admin_conns = Arc::new(AtomicUsize::new(0));
    let mut addrs = Vec::new();
    let mut accept_loops = Vec::new();
    for addr in &cfg.server.listen {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| EngineError::Bind {
                addr: *addr,
                source: e,
            })?;
        let local = l.local_addr()?;
        addrs.push(local);
        tracing::info!(addr = %local, tls = tls.is_some(), "listening");
        let api2 = api.clone();
        let handle: Handle = Arc::new(move |req| Box::pin(api2.clone().handle(req)));
        accept_loops.push(accept_loop(
            l,
            handle,
            (builder.clone(), h1.clone()),
            tls.clone(),
            conns.clone(),
            stop.subscribe(),
            ConnLimit {
                handshake: cfg.server.header_read_timeout,
                deadlines,
                per_ip: Some(per_ip.clone()),
                max: cfg.server.max_connections,
                metrics: flows.metrics_arc(),
                listener: "terminal",
            },
        ));
    }
    // The admin API: its own listener (plain HTTP; bind it to loopback or
    // a management network), never on the terminal listener.
    let mut admin_addr = None;
    if let Some(a) = &cfg.admin {
        let l = TcpListener::bind(a.listen)
            .await
            .map_err(|e| EngineError::Bind {
                addr: a.listen,
                source: e,
            })?;
        let local = l.local_addr()?;
        admin_addr = Some(local);
        tracing::info!(addr = %local, "admin API listening");
        let admin = Arc::new(Admin::new(api.clone(), a.token_sha256.clone()));
        let handle: Handle = Arc::new(move |req| Box::pin(admin.clone().handle(req)));
        accept_loops.push(accept_loop(
            l,
            handle,
            (builder.clone(), h1.clone()),
            None,
            admin_conns.clone(),
            stop.subscribe(),
            ConnLimit {
                handshake: cfg.server.header_read_timeout,
                deadlines,
                per_ip: None,
                max: ADMIN_MAX_CONNECTIONS,
                metrics: flows.metrics_arc(),
                listener: "admin",
            },
        ));
    }
    // Final trades leave memory as soon as nobody holds them (after a 2 s
    // grace for the terminal's next GET); nonces that left the window go
    // every 30 s. Memory follows the trades in flight, not the traffic.
    {
        let api = api.clone();
        let mut stop_rx = stop.subscribe();
        tokio::spawn(async move {
            let mut tick: u64 = 0;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        tick += 1;
                        api.flows.evict(Duration::from_secs(2));
                        if tick % 10 == 0 {
                            api.ip_limit.purge();
                        }
                        if tick % 30 == 0 {
                            api.auth.purge();
                        }
                    }
                    _ = stopped(&mut stop_rx) => break,
                }
            }
        });
    }
    Ok(Running {
        addrs,
        admin_addr,
        stop,
        accept_loops,
        conns,
        flows,
        store,
        sqlite,
        grace: cfg.server.shutdown_grace,
    })
}

impl Running {
    /// The bound addresses (useful with port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The admin listener's bound address, when `[admin]` is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The journal (audits, tests).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Caps the journal at `pages` pages (0: no cap), as `[store] max_pages`
    /// does: past the cap every commit fails with SQLITE_FULL ("database or
    /// disk is full"), as a full disk does. Returns the cap in force.
    /// SQLite only: a PostgreSQL journal answers an error.
    ///
    /// # Errors
    /// [`StoreError::Db`] when the journal is not SQLite;
    /// [`StoreError::Closed`] when the journal is closed; [`StoreError::Busy`]
    /// when its queue is full; the SQLite error when the cap cannot be set.
    pub async fn set_journal_max_pages(&self, pages: u64) -> Result<u64, crate::StoreError> {
        match &self.sqlite {
            Some(s) => s.set_max_pages(pages).await,
            None => Err(crate::StoreError::Db(
                "max_pages applies to the SQLite journal only".into(),
            )),
        }
    }

    /// The flows (tests, embedding).
    pub fn flows(&self) -> Arc<Flows> {
        self.flows.clone()
    }

    /// Graceful shutdown: stop accepting, finish requests and flows up to the
    /// grace period, flush and close the journal. Flows still running at
    /// the end of `server.shutdown_grace` are left to recovery at the next
    /// start.
    ///
    /// # Errors
    /// [`EngineError::Io`] when the task that closes the journal fails.
    pub async fn shutdown(self) -> Result<(), EngineError> {
        tracing::info!("shutting down: no new connections");
        let _ = self.stop.send(true);
        for l in self.accept_loops {
            let _ = l.await;
        }
        let deadline = tokio::time::Instant::now() + self.grace;
        let left = self.flows.drain(self.grace).await;
        if left > 0 {
            tracing::warn!(
                flows = left,
                "flows still running at the deadline; recovery resumes them at the next start"
            );
        }
        while self.conns.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.close())
            .await
            .map_err(|e| EngineError::Io(std::io::Error::other(e.to_string())))?;
        tracing::info!("journal flushed and closed");
        Ok(())
    }
}

/// Runs the switch until `shutdown` completes, then shuts down gracefully
/// (what the `payswitch` binary does, with Ctrl-C and SIGTERM as
/// `shutdown`).
///
/// # Errors
/// Those of [`start`] and of [`Running::shutdown`].
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
    let r = start(config).await?;
    shutdown.await;
    r.shutdown().await
}
