//! Tiny loopback HTTP servers for the loadgen tests: a fast endpoint, one
//! that stalls once, and a fake journal/ledger answering from maps.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the server answers.
#[derive(Clone)]
pub enum Behaviour {
    /// 200 "ok" at once.
    Fast,
    /// 200 "ok", but every request arriving during [after, after + stall)
    /// is held until the end of the stall.
    StallOnce { after: Duration, stall: Duration },
    /// JSON by path from the map; 404 for anything else.
    Map(Arc<Mutex<HashMap<String, String>>>),
}

/// Starts a server on 127.0.0.1:0 in the current runtime; returns its address.
pub async fn serve(b: Behaviour) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let start = Instant::now();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let _ = stream.set_nodelay(true);
            let b = b.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let b = b.clone();
                    async move { Ok::<_, Infallible>(answer(&b, start, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn answer(b: &Behaviour, start: Instant, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match b {
        Behaviour::Fast => Response::new(Full::new(Bytes::from_static(b"ok"))),
        Behaviour::StallOnce { after, stall } => {
            let now = start.elapsed();
            if now >= *after && now < *after + *stall {
                tokio::time::sleep(*after + *stall - now).await;
            }
            Response::new(Full::new(Bytes::from_static(b"ok")))
        }
        Behaviour::Map(m) => {
            let path = req.uri().path().to_string();
            let hit = m.lock().unwrap().get(&path).cloned();
            match hit {
                Some(body) => Response::new(Full::new(Bytes::from(body))),
                None => {
                    let mut r = Response::new(Full::new(Bytes::from_static(
                        b"{\"error\":{\"code\":\"not_found\"}}",
                    )));
                    *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                    r
                }
            }
        }
    }
}

/// Starts a server on its own thread and runtime (for tests that run the
/// loadgen binary as a child); returns its address.
pub fn serve_in_thread(b: Behaviour) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let addr = serve(b).await;
            tx.send(addr).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}
