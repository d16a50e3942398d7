//! A trivial HTTP endpoint (`200 ok` to everything), for measuring the
//! generator's own limit next to other tools (`loadgen internal-echo`).
//!
//! Guarantees: HTTP/1.1 keep-alive, no work per request beyond parsing and a
//! fixed two-byte body, so that the figure measured against it is the
//! client's.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::error::{LoadgenError, Result};

/// Binds `listen` (`host:port`, port 0 for any free one) and answers `200 ok`
/// on every connection until the future is dropped. `on_bound` is called
/// once with the bound address before the first accept (`loadgen
/// internal-echo` prints it as `LISTENING addr`); a failed accept is skipped,
/// never fatal.
///
/// # Errors
/// [`LoadgenError::Arg`] (for `--listen`) when the address does not parse or
/// cannot be bound. Once bound it does not return.
pub async fn serve(listen: &str, on_bound: impl FnOnce(SocketAddr)) -> Result<()> {
    let l = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| LoadgenError::arg("--listen", listen, e.to_string()))?;
    let addr = l
        .local_addr()
        .map_err(|e| LoadgenError::arg("--listen", listen, e.to_string()))?;
    on_bound(addr);
    loop {
        let Ok((stream, _)) = l.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
