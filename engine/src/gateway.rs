//! The gateway client: signed `gateway.do` calls over a keep-alive pool.
//!
//! A hyper-util legacy client over hyper-rustls (aws-lc-rs provider; `https`
//! and, for the simulator, plain `http`), with connect and request time-outs.
//! Every request is signed once with the prepared [`protocol::Signer`]; every
//! answer is verified over its raw node ([`protocol::response::verify_response`])
//! before anything reads it. Anything that is not a verified answer (time-out,
//! connection error, HTTP error, unsigned or badly signed body) is an
//! [`Outcome::Unknown`]: the caller must treat the request's effect as unknown.
//!
//! The circuit breaker counts consecutive failures (unknown outcomes and
//! 20000 answers). Once open it refuses *new payments* only
//! ([`Gateway::admit_new_trade`]); queries, cancels and refunds always go out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use parking_lot::Mutex;
use protocol::method::ExtMethod;
use protocol::request::{sign_request, CommonOptions, FORM_CONTENT_TYPE};
use protocol::response::{
    verify_response, BillUrlResponse, CancelResponse, CloseResponse, IndirectMerchantResponse,
    PayResponse, PrecreateResponse, QueryResponse, RefundQueryResponse, RefundResponse,
};
use protocol::Method;
use serde::de::DeserializeOwned;

use crate::config::GatewayConfig;
use crate::metrics::Metrics;

/// Why the gateway client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// `gateway.url` does not parse as a URI (the parser's reason).
    #[error("gateway.url is not a valid URI: {0}")]
    Url(String),
    /// `gateway.ca_file` cannot be read, holds a certificate that does not
    /// parse or is refused, or holds no certificate at all.
    #[error("gateway.ca_file: {0}")]
    Ca(String),
    /// The rustls client configuration could not be built (no protocol
    /// version the aws-lc-rs provider supports).
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// The result of one gateway call.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    /// A verified answer (any code).
    Answer(T),
    /// No verified answer: the request may or may not have taken effect.
    Unknown(String),
}

/// Access to the common status fields of a typed response: what
/// [`Gateway::call`] needs to count a call and feed the circuit breaker.
/// Implemented for every `protocol::response` type the switch sends for.
pub trait Answer: DeserializeOwned + Send + 'static {
    /// The gateway code (`10000`, `10003`, `20000`, `40004`...).
    fn code(&self) -> &str;
    /// The business sub-code (`ACQ.TRADE_HAS_SUCCESS`...), when the answer
    /// carries one.
    fn sub_code(&self) -> Option<&str>;
}

macro_rules! answer {
    ($($t:ty),*) => {$(
        impl Answer for $t {
            fn code(&self) -> &str { &self.code }
            fn sub_code(&self) -> Option<&str> { self.sub_code.as_deref() }
        }
    )*};
}
answer!(
    BillUrlResponse,
    PayResponse,
    PrecreateResponse,
    QueryResponse,
    CancelResponse,
    CloseResponse,
    RefundResponse,
    RefundQueryResponse,
    IndirectMerchantResponse
);

struct BreakerState {
    consecutive: u32,
    open_until: Option<Instant>,
}

/// Consecutive-failure circuit breaker: after `threshold` failures in a row
/// it opens for `cooldown`, then lets traffic through again (half-open); one
/// success closes it. Thread-safe (one short lock per call).
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl Breaker {
    /// A closed breaker that opens after `threshold` consecutive failures
    /// and stays open `cooldown` each time.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold,
            cooldown,
            state: Mutex::new(BreakerState {
                consecutive: 0,
                open_until: None,
            }),
        }
    }

    /// `Err(remaining)` while open. After the cool-down it lets traffic
    /// through again (half-open); the next failure re-opens it.
    ///
    /// # Errors
    /// The time left before the cool-down ends, while the breaker is open.
    pub fn admit(&self) -> Result<(), Duration> {
        let s = self.state.lock();
        match s.open_until {
            Some(t) => {
                let now = Instant::now();
                if now < t {
                    Err(t - now)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Records one call's result: a success (`ok`) closes the breaker and
    /// resets the count; a failure counts and, at the threshold, (re-)opens
    /// it for the cool-down.
    pub fn record(&self, ok: bool) {
        let mut s = self.state.lock();
        if ok {
            s.consecutive = 0;
            s.open_until = None;
        } else {
            s.consecutive = s.consecutive.saturating_add(1);
            if s.consecutive >= self.threshold {
                s.open_until = Some(Instant::now() + self.cooldown);
            }
        }
    }

    /// Whether the breaker refuses traffic now (open and still cooling
    /// down).
    pub fn is_open(&self) -> bool {
        self.admit().is_err()
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The most of a merchant's answer to a relay that is read, in bytes
/// ([`Gateway::post_json`]; only the status matters).
pub const RELAY_ANSWER_MAX_BYTES: usize = 4096;

/// The gateway client: one per switch, shared by every flow. Holds the
/// keep-alive pool, the prepared signer and verifier (in its
/// [`GatewayConfig`]) and the circuit breaker.
pub struct Gateway {
    client: HttpsClient,
    uri: http::Uri,
    cfg: GatewayConfig,
    breaker: Breaker,
    metrics: Arc<Metrics>,
}

fn tls_config(cfg: &GatewayConfig) -> Result<rustls::ClientConfig, GatewayError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).map_err(|e| GatewayError::Ca(e.to_string()))?;
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            let c = c.map_err(|e| GatewayError::Ca(e.to_string()))?;
            roots.add(c).map_err(|e| GatewayError::Ca(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(GatewayError::Ca("no certificate in the file".into()));
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?;
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

impl Gateway {
    /// Builds the client (no connection is made yet). TLS trusts
    /// `gateway.ca_file` when set, the platform's roots otherwise.
    ///
    /// # Errors
    /// [`GatewayError::Url`] when `gateway.url` is not a URI;
    /// [`GatewayError::Ca`] when `gateway.ca_file` cannot be read or holds no
    /// usable certificate; [`GatewayError::Tls`] when rustls cannot be set up.
    pub fn new(cfg: GatewayConfig, metrics: Arc<Metrics>) -> Result<Gateway, GatewayError> {
        let uri: http::Uri = cfg
            .url
            .parse()
            .map_err(|e: http::uri::InvalidUri| GatewayError::Url(e.to_string()))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        // A request the switch has given up on (no answer within the
        // request time-out) must not be retransmitted by the kernel long
        // after: through a partition, TCP would deliver it when the link
        // comes back, possibly after the late-landing watch ended (found by
        // engine/tests/partition.rs). Unacknowledged data older than this
        // aborts the connection instead.
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        http.set_tcp_user_timeout(Some(cfg.request_timeout));
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if cfg.ca_file.is_some() {
            builder.with_tls_config(tls_config(&cfg)?)
        } else {
            match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(
                Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            ) {
                Ok(b) => b,
                Err(e) => {
                    if cfg.url.starts_with("https://") {
                        tracing::warn!(error = %e, "no system CA certificates found; set gateway.ca_file");
                    }
                    builder.with_tls_config(tls_config(&cfg)?)
                }
            }
        };
        let https = builder.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .build(https);
        let breaker = Breaker::new(cfg.breaker_failures, cfg.breaker_cooldown);
        Ok(Gateway {
            client,
            uri,
            cfg,
            breaker,
            metrics,
        })
    }

    /// The app id requests are signed for (`gateway.app_id`).
    pub fn app_id(&self) -> &str {
        &self.cfg.app_id
    }

    /// Whether a new trade may be started: `Err(remaining)` while the breaker is open.
    ///
    /// # Errors
    /// The time left before the breaker lets new trades through, while it
    /// is open.
    pub fn admit_new_trade(&self) -> Result<(), Duration> {
        self.breaker.admit()
    }

    /// Whether the breaker is open.
    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// The configured `gateway.notify_url` (sent with precreates), if any.
    pub fn notify_url(&self) -> Option<&str> {
        self.cfg.notify_url.as_deref()
    }

    /// The `sys_service_provider_id` for `extend_params` (the ISV's PID),
    /// when configured.
    pub fn sys_service_provider_id(&self) -> Option<&str> {
        self.cfg.sys_service_provider_id.as_deref()
    }

    /// POSTs a JSON body to any URL over the same pool (results relayed to
    /// a merchant's notify_url); returns the HTTP status. At most
    /// [`RELAY_ANSWER_MAX_BYTES`] of the answer are read; the whole exchange
    /// is bounded by `gateway.request_timeout`. Not counted by the breaker.
    ///
    /// # Errors
    /// The reason as text when the request cannot be built from `url`, the
    /// connection fails, or no answer comes within the time-out.
    pub async fn post_json(
        &self,
        url: &str,
        authorization: &str,
        body: String,
    ) -> Result<http::StatusCode, String> {
        let req = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, authorization)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("connection error: {e}"))?;
            let status = resp.status();
            // The merchant's answer matters only by its status: read at most
            // a small cap of it (a merchant cannot make the switch hold an
            // unbounded body), then drop the connection's rest.
            let _ = http_body_util::Limited::new(resp.into_body(), RELAY_ANSWER_MAX_BYTES)
                .collect()
                .await;
            Ok(status)
        };
        match tokio::time::timeout(self.cfg.request_timeout, fut).await {
            Err(_) => Err("no answer in time".into()),
            Ok(r) => r,
        }
    }

    /// Downloads a file (the bill at its `bill_download_url`) into `dest`,
    /// streaming: memory stays flat whatever the size. Refuses a body over
    /// `max_bytes` and an answer other than 200; the whole download must end
    /// within `deadline`. Returns the bytes written.
    ///
    /// # Errors
    /// The reason as text: a bad URL, a connection error, an HTTP status
    /// other than 200 (with the start of its body), a body over `max_bytes`,
    /// `dest` not created or written, or `deadline` passed.
    pub async fn download(
        &self,
        url: &str,
        dest: &std::path::Path,
        max_bytes: u64,
        deadline: Duration,
    ) -> Result<u64, String> {
        use tokio::io::AsyncWriteExt as _;
        let req = http::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad URL: {e}"))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("connection error: {e}"))?;
            let status = resp.status();
            if status != http::StatusCode::OK {
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                let text = body
                    .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                    .unwrap_or_default();
                return Err(format!("HTTP {status}: {}", text.trim()));
            }
            let mut file = tokio::fs::File::create(dest)
                .await
                .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
            let mut body = resp.into_body();
            let mut n: u64 = 0;
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| format!("connection error: {e}"))?;
                if let Some(data) = frame.data_ref() {
                    n += data.len() as u64;
                    if n > max_bytes {
                        return Err(format!("the file is larger than {max_bytes} bytes"));
                    }
                    file.write_all(data)
                        .await
                        .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
                }
            }
            file.sync_all()
                .await
                .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
            Ok(n)
        };
        match tokio::time::timeout(deadline, fut).await {
            Err(_) => Err(format!("not downloaded within {} s", deadline.as_secs())),
            Ok(r) => r,
        }
    }

    /// Signs and sends one request of the trade product, verifies the
    /// answer. With `with_notify_url` the configured notify_url goes in the
    /// common parameters. Every call feeds the circuit breaker (an unknown
    /// outcome or a 20000 is a failure) and is counted in
    /// `payswitch_gateway_calls_total{method,code}` and
    /// `payswitch_gateway_seconds{method}`. Never fails: anything but a
    /// verified answer is [`Outcome::Unknown`].
    pub async fn call<T: Answer>(
        &self,
        method: Method,
        biz_content: &str,
        with_notify_url: bool,
    ) -> Outcome<T> {
        let t0 = Instant::now();
        // Boxed: a trade's task (alive for its whole 10003 polling) holds a
        // pointer while a call is out, not the HTTP client's state inline.
        let out = Box::pin(self.send_verified::<T>(
            method.as_str(),
            method.response_node(),
            biz_content,
            with_notify_url,
        ))
        .await;
        let ok = matches!(&out, Outcome::Answer(a) if a.code() != protocol::Code::ServiceUnavailable.as_str());
        self.breaker.record(ok);
        self.count_call(method.as_str(), &out, t0);
        out
    }

    /// Signs and sends one request of a method outside the trade product
    /// (merchant onboarding), verifies the answer. It does not count
    /// towards the circuit breaker: onboarding must not stop payments.
    /// Counted as [`Gateway::call`] is.
    pub async fn call_ext<T: Answer>(&self, method: ExtMethod, biz_content: &str) -> Outcome<T> {
        let t0 = Instant::now();
        let out = Box::pin(self.send_verified::<T>(
            method.as_str(),
            method.response_node(),
            biz_content,
            false,
        ))
        .await;
        self.count_call(method.as_str(), &out, t0);
        out
    }

    /// `payswitch_gateway_calls_total{method,code}` and `payswitch_gateway_seconds{method}`.
    fn count_call<T: Answer>(&self, method: &str, out: &Outcome<T>, t0: Instant) {
        let label = match out {
            Outcome::Answer(a) => a.code(),
            Outcome::Unknown(_) => "unknown",
        };
        self.metrics.inc(
            "payswitch_gateway_calls_total",
            &[("method", method), ("code", label)],
        );
        self.metrics.observe(
            "payswitch_gateway_seconds",
            &[("method", method)],
            t0.elapsed(),
        );
    }

    async fn send_verified<T: Answer>(
        &self,
        method: &str,
        node: &str,
        biz_content: &str,
        with_notify_url: bool,
    ) -> Outcome<T> {
        let text = match self
            .post_signed(&self.uri, method, biz_content, with_notify_url)
            .await
        {
            Ok(t) => t,
            Err(reason) => return Outcome::Unknown(reason),
        };
        match verify_response::<T, _>(&text, node, &self.cfg.verifier) {
            Ok(v) => Outcome::Answer(v.body),
            Err(e) => Outcome::Unknown(format!("answer not trusted: {e}")),
        }
    }

    /// `monitor.heartbeat.syn` to `url` (the gateway's when None). The real
    /// monitoring gateway answers unsigned: an unsigned answer is taken as
    /// it stands, a signed one must verify. `Ok` with the answer's code.
    ///
    /// Not counted by the breaker.
    ///
    /// # Errors
    /// The reason as text when signing fails, no answer came (connection
    /// error, HTTP error status, time-out, not UTF-8), or a signed answer
    /// did not verify.
    pub async fn heartbeat(
        &self,
        url: Option<&http::Uri>,
        biz_content: &str,
    ) -> Result<String, String> {
        let method = protocol::method::ExtMethod::HeartbeatSyn;
        let text = self
            .post_signed(
                url.unwrap_or(&self.uri),
                method.as_str(),
                biz_content,
                false,
            )
            .await?;
        match verify_response::<protocol::response::HeartbeatSynResponse, _>(
            &text,
            method.response_node(),
            &self.cfg.verifier,
        ) {
            Ok(v) => Ok(v.body.code),
            Err(protocol::ResponseError::Unsigned(status)) => Ok(status.code),
            Err(e) => Err(format!("answer not trusted: {e}")),
        }
    }

    /// Signs and posts one request; the answer's text, or why there is none.
    async fn post_signed(
        &self,
        uri: &http::Uri,
        method: &str,
        biz_content: &str,
        with_notify_url: bool,
    ) -> Result<String, String> {
        let opts = CommonOptions {
            notify_url: if with_notify_url {
                self.cfg.notify_url.as_deref()
            } else {
                None
            },
            app_auth_token: self.cfg.app_auth_token.as_deref(),
        };
        let signed = sign_request(
            &self.cfg.signer,
            &self.cfg.app_id,
            method,
            biz_content,
            &protocol::clock::gateway_now(),
            opts,
        )
        .map_err(|e| format!("signing failed: {e}"))?;
        let req = http::Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, FORM_CONTENT_TYPE)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(signed.body)))
            .map_err(|e| format!("request build failed: {e}"))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("connection error: {e}"))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("error reading the answer: {e}"))?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("gateway HTTP status {status}"));
            }
            Ok(body)
        };
        let body = match tokio::time::timeout(self.cfg.request_timeout, fut).await {
            Err(_) => {
                return Err(format!(
                    "no answer within {} ms",
                    self.cfg.request_timeout.as_millis()
                ))
            }
            Ok(r) => r?,
        };
        String::from_utf8(body.to_vec()).map_err(|_| "the answer is not UTF-8".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_and_recovers() {
        let b = Breaker::new(3, Duration::from_millis(30));
        b.record(false);
        b.record(false);
        assert!(b.admit().is_ok());
        b.record(false);
        assert!(b.admit().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.admit().is_ok(), "half-open after the cool-down");
        b.record(false);
        assert!(b.admit().is_err(), "a failure while half-open re-opens");
        b.record(true);
        assert!(b.admit().is_ok());
    }
}
