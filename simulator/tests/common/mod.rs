//! Test harness: a simulator on 127.0.0.1, a signing client built on the
//! `protocol` crate (demo app key; responses verified with the demo Alipay
//! public key), raw HTTP helpers and a notification receiver.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use protocol::request::{sign_request, CommonOptions};
use protocol::response::{verify_response, ResponseError, Verified};
use protocol::{Method, Signer, Verifier};
use serde_json::Value;
use simulator::{SimConfig, SimHandle};
use tokio::time::Instant;

pub const APP_ID: &str = simulator::DEMO_APP_ID;

/// A simulator for tests: time scale 100 (password delay 100 ms), 300 ms hold for 9001.
pub async fn sim() -> SimHandle {
    sim_with(|_| {}).await
}

pub async fn sim_with(f: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut c = SimConfig::demo();
    c.time_scale = 100.0;
    c.client_timeout_hint = Duration::from_millis(300);
    f(&mut c);
    simulator::start(c).await.expect("simulator starts")
}

/// A signing gateway client.
pub struct Gw {
    pub http: Client<HttpConnector, Full<Bytes>>,
    pub url: String,
    pub base: String,
    pub signer: Signer,
    pub verifier: Verifier,
}

/// What a call gave.
#[derive(Debug)]
pub enum Outcome {
    /// A verified body (the node as JSON).
    Node(Value),
    /// An unsigned body.
    Unsigned(Value),
    /// The transport failed (reset, dropped).
    Transport(String),
}

impl Outcome {
    pub fn node(self) -> Value {
        match self {
            Outcome::Node(v) => v,
            other => panic!("expected a signed node, got {other:?}"),
        }
    }
    pub fn code(&self) -> String {
        match self {
            Outcome::Node(v) | Outcome::Unsigned(v) => v["code"].as_str().unwrap_or("").to_owned(),
            Outcome::Transport(e) => format!("transport: {e}"),
        }
    }
}

impl Gw {
    pub fn new(sim: &SimHandle) -> Gw {
        Gw {
            http: Client::builder(TokioExecutor::new()).build_http(),
            url: sim.gateway_url(),
            base: sim.base_url(),
            signer: Signer::from_text(simulator::DEMO_APP_PRIVATE_KEY).unwrap(),
            verifier: Verifier::from_text(simulator::DEMO_ALIPAY_PUBLIC_KEY).unwrap(),
        }
    }

    /// Signs and sends a method call; verifies the answer.
    pub async fn call(&self, method: Method, biz: &Value) -> Outcome {
        self.call_opts(method, biz, None).await
    }

    pub async fn call_opts(
        &self,
        method: Method,
        biz: &Value,
        notify_url: Option<&str>,
    ) -> Outcome {
        let req = sign_request(
            &self.signer,
            APP_ID,
            method.as_str(),
            &biz.to_string(),
            &protocol::clock::gateway_now(),
            CommonOptions {
                notify_url,
                app_auth_token: None,
            },
        )
        .unwrap();
        match self.post_form(&self.url, "", &req.body).await {
            Err(e) => Outcome::Transport(e),
            Ok((status, body)) => {
                assert_eq!(status, 200, "{body}");
                self.verify(&body, method.response_node())
            }
        }
    }

    /// Signs and sends a call of any method name (methods outside
    /// `protocol::Method`, e.g. `monitor.heartbeat.syn`); verifies the answer.
    pub async fn call_name(&self, method: &str, biz: &Value) -> Outcome {
        let req = sign_request(
            &self.signer,
            APP_ID,
            method,
            &biz.to_string(),
            &protocol::clock::gateway_now(),
            CommonOptions {
                notify_url: None,
                app_auth_token: None,
            },
        )
        .unwrap();
        match self.post_form(&self.url, "", &req.body).await {
            Err(e) => Outcome::Transport(e),
            Ok((status, body)) => {
                assert_eq!(status, 200, "{body}");
                self.verify(&body, &protocol::method::response_node_of(method))
            }
        }
    }

    pub fn verify(&self, body: &str, node: &str) -> Outcome {
        match verify_response::<Value, _>(body, node, &self.verifier) {
            Ok(Verified { body, .. }) => Outcome::Node(body),
            Err(ResponseError::Unsigned(_)) => {
                let v: Value = serde_json::from_str(body).unwrap();
                let inner = v
                    .as_object()
                    .and_then(|o| o.values().next().cloned())
                    .unwrap_or(Value::Null);
                Outcome::Unsigned(inner)
            }
            Err(e) => panic!("response does not verify: {e}: {body}"),
        }
    }

    /// POSTs a form body to `url` + `?query`.
    pub async fn post_form(
        &self,
        url: &str,
        query: &str,
        body: &str,
    ) -> Result<(u16, String), String> {
        let uri = if query.is_empty() {
            url.to_owned()
        } else {
            format!("{url}?{query}")
        };
        let req = hyper::Request::post(uri)
            .header(
                "content-type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        self.send(req).await
    }

    pub async fn send(&self, req: hyper::Request<Full<Bytes>>) -> Result<(u16, String), String> {
        let fut = async {
            let resp = self.http.request(req).await.map_err(|e| {
                use std::error::Error;
                format!("{e}: {:?}", e.source())
            })?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, String::from_utf8_lossy(&body).into_owned()))
        };
        tokio::time::timeout(Duration::from_secs(20), fut)
            .await
            .map_err(|_| "test client time-out".to_string())?
    }

    /// GET on the control API; returns status and JSON.
    pub async fn ctl_get(&self, path: &str) -> (u16, Value) {
        let req = hyper::Request::get(format!("{}{path}", self.base))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (s, b) = self.send(req).await.unwrap();
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    pub async fn ctl(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let (s, b) = self.send(req).await.unwrap();
        (s, serde_json::from_str(&b).unwrap_or(Value::String(b)))
    }

    /// Polls the ledger until the trade has `status` (or fails after `within`).
    pub async fn wait_status(&self, out_trade_no: &str, status: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let (_, v) = self.ctl_get(&format!("/_sim/trades/{out_trade_no}")).await;
            if v["status"] == status {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{out_trade_no} never reached {status}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An auth code ending with `last4` (18 digits, prefix 28).
pub fn auth(last4: &str) -> String {
    format!("28{:012}{last4}", 345_678_901_234u64)
}

pub fn pay_biz(out: &str, amount: &str, last4: &str) -> Value {
    serde_json::json!({
        "out_trade_no": out,
        "scene": "bar_code",
        "auth_code": auth(last4),
        "subject": "test goods",
        "total_amount": amount,
    })
}

/// What a receiver saw: arrival time and form fields of each request.
pub type Hits = Arc<Mutex<Vec<(Instant, Vec<(String, String)>)>>>;

/// A notification receiver: records each request's arrival and form fields,
/// answers what `answer(n)` says for the n-th request (1-based).
pub struct Receiver {
    pub addr: SocketAddr,
    pub hits: Hits,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(answer: impl Fn(usize) -> &'static str + Send + Sync + 'static) -> Receiver {
        Receiver::start_with(None, answer).await
    }

    /// A receiver, over TLS when an acceptor is given.
    pub async fn start_with(
        tls: Option<tokio_rustls::TlsAcceptor>,
        answer: impl Fn(usize) -> &'static str + Send + Sync + 'static,
    ) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Hits = Arc::default();
        let answer = Arc::new(answer);
        let h2 = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let hits = Arc::clone(&h2);
                let answer = Arc::clone(&answer);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let hits = Arc::clone(&hits);
                        let answer = Arc::clone(&answer);
                        async move {
                            let at = Instant::now();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let fields = protocol::request::decode_form(&body);
                            let n = {
                                let mut h = hits.lock();
                                h.push((at, fields));
                                h.len()
                            };
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(answer(n).as_bytes()),
                            )))
                        }
                    });
                    match tls {
                        None => {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        }
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(s), svc)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        Receiver { addr, hits, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/notify", self.addr)
    }

    pub fn https_url(&self) -> String {
        format!("https://{}/notify", self.addr)
    }

    pub fn count(&self) -> usize {
        self.hits.lock().len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A throw-away self-signed certificate for 127.0.0.1, made with the openssl
/// command; `None` when openssl is not installed.
pub fn self_signed_acceptor(dir: &std::path::Path) -> Option<tokio_rustls::TlsAcceptor> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return None;
    }
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&cert).unwrap(),
    ))
    .collect::<Result<_, _>>()
    .unwrap();
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&key).unwrap(),
    ))
    .unwrap()
    .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}
