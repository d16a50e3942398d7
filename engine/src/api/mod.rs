//! The terminal API (docs/API.md §1) and the gateway-facing and operator endpoints.
//!
//! A hyper server (HTTP/1.1 and HTTP/2 by the hyper-util auto builder; TLS by
//! rustls when configured) with a header read time-out and a body size limit.
//! For /v1 requests, in this order: the body is read (413 above the limit),
//! the HMAC authentication is checked (401), the terminal's rate (429), then
//! every field is validated with `protocol`'s validators (400 naming the
//! field). Handlers never touch the disk or the network themselves: they hand
//! the work to [`crate::flow::Flows`], whose tasks outlive a terminal that
//! hangs up.

pub mod auth;
pub mod ip_limit;
pub mod routes;

/// Every route of the terminal listener (the router dispatches through it).
pub use routes::TERMINAL_ROUTES as ROUTES;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method as HttpMethod, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use protocol::{AuthCode, Money, OutRequestNo, OutTradeNo, Scene, Subject, TimeoutExpress};
use serde_json::{json, Map, Value};

use crate::flow::{FlowError, Flows, PayOrder, PrecreateOrder, RefundOrder};
use auth::Authenticator;
use routes::RouteMatch;

/// The largest notification body read, in bytes (a real one is about 2 KiB).
pub const NOTIFY_MAX_BODY_BYTES: usize = 16 * 1024;
/// Unverifiable notifications a source may send per window before it is
/// refused (429, unread) for the rest of the window.
pub const NOTIFY_FAILURES_PER_WINDOW: u32 = 20;
/// The window of [`NOTIFY_FAILURES_PER_WINDOW`], milliseconds.
pub const NOTIFY_WINDOW_MS: i64 = 10_000;
/// Sources remembered at most (beyond it, the expired windows are dropped
/// first, then all).
const NOTIFY_SOURCES_MAX: usize = 10_000;

/// The connection's peer address, put in every request's extensions by the
/// server: what the per-source limits ([`ip_limit`], [`NotifyGuard`]) count
/// by.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Set once a request's body has been read to its end, for the server: an
/// HTTP/1 connection whose request body was left unread (refused before it
/// was read) is closed after the answer rather than kept for the next
/// request (what is left of the body would be read as one).
#[derive(Debug, Clone, Default)]
pub struct BodyRead(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl BodyRead {
    /// Whether the body was read to its end.
    pub fn is_read(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Unverifiable notifications per source address, per window of
/// [`NOTIFY_WINDOW_MS`]: a source past [`NOTIFY_FAILURES_PER_WINDOW`] is
/// answered 429 before its body is read. Remembers at most 10 000 sources
/// (expired windows dropped first, then all). Thread-safe.
#[derive(Default)]
pub struct NotifyGuard {
    failures: dashmap::DashMap<std::net::IpAddr, (u32, i64)>,
}

impl NotifyGuard {
    /// Whether `ip` used up its failures of the current window.
    pub fn blocked(&self, ip: std::net::IpAddr) -> bool {
        let now = crate::trade::now_ms();
        self.failures
            .get(&ip)
            .is_some_and(|e| now - e.1 < NOTIFY_WINDOW_MS && e.0 >= NOTIFY_FAILURES_PER_WINDOW)
    }

    /// Counts an unverifiable notification from `ip` (a new window starts
    /// when the last one has passed).
    pub fn failed(&self, ip: std::net::IpAddr) {
        let now = crate::trade::now_ms();
        if self.failures.len() >= NOTIFY_SOURCES_MAX {
            self.failures.retain(|_, e| now - e.1 < NOTIFY_WINDOW_MS);
            if self.failures.len() >= NOTIFY_SOURCES_MAX {
                self.failures.clear();
            }
        }
        let mut e = self.failures.entry(ip).or_insert((0, now));
        if now - e.1 >= NOTIFY_WINDOW_MS {
            *e = (0, now);
        }
        e.0 += 1;
    }
}

/// Shared state of the handlers of the terminal listener (`/v1`,
/// `/notify/alipay`, `/healthz`): built once by the server, shared as
/// `Arc<Api>` by every connection.
pub struct Api {
    /// The flows every `/v1` operation is handed to.
    pub flows: Arc<Flows>,
    /// Terminal authentication (keys, clock window, nonces).
    pub auth: Authenticator,
    /// Authentication failures and unauthenticated connections per source.
    pub ip_limit: Arc<ip_limit::IpLimiter>,
    /// Unverifiable notifications per source.
    pub notify_guard: NotifyGuard,
    /// The largest `/v1` body read, in bytes (413 above it;
    /// `server.max_body_bytes`).
    pub max_body: usize,
    /// A body must arrive within this (408 otherwise).
    pub body_timeout: Duration,
    /// How long a pay waits for its outcome when the request gives no
    /// `wait` (`policy.default_wait`; `wait` may ask 0 to 60 s).
    pub default_wait: Duration,
}

/// An error answer: `{"error": {"code", "message", "field"}}` (docs/API.md §1).
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status (400, 401, 404, 409, 413, 429, 503...).
    pub status: StatusCode,
    /// The error code (`invalid_field`, `missing_field`, `invalid_json`,
    /// `not_found`, `conflict`, `trade_state`, `journal_unavailable`...).
    pub code: &'static str,
    /// The sentence for a person.
    pub message: String,
    /// The request field at fault, when one is.
    pub field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }
    pub(crate) fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_field",
            message: format!("{field} {}", message.into()),
            field: Some(field.to_owned()),
        }
    }
    pub(crate) fn missing(field: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "missing_field",
            message: format!("{field} is required"),
            field: Some(field.to_owned()),
        }
    }
    pub(crate) fn into_response(self) -> Response<Full<Bytes>> {
        let e = terminal::ErrorAnswer::new(self.code, self.message, self.field);
        json_response(self.status, &e)
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> ApiError {
        match e {
            FlowError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such trade"),
            FlowError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            FlowError::NotAllowed(m) => ApiError::new(StatusCode::CONFLICT, "trade_state", m),
            FlowError::CircuitOpen(ms) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway_unavailable",
                format!("the Alipay gateway is failing; new payments are refused for the next {ms} ms (queries and cancels still work)"),
            ),
            FlowError::Busy(cap) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "switch_busy",
                format!("the switch holds its limit of {cap} trades in memory; nothing was sent, retry shortly"),
            ),
            FlowError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the switch is shutting down; retry on another node or later",
            ),
            FlowError::Invalid { field, message } => {
                let mut e = ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message);
                e.field = Some(field.into());
                e
            }
            FlowError::JournalUnavailable(e) => {
                tracing::error!(error = %e, "journal unavailable; request refused");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "journal_unavailable",
                    "the switch cannot write its journal right now; nothing was sent, retry shortly",
                )
            }
            FlowError::JournalBusy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal_busy",
                "the switch's journal is behind; nothing was sent, retry shortly",
            ),
            FlowError::Store(crate::store::StoreError::Busy) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal_busy",
                "the switch's journal is behind; nothing was sent, retry shortly",
            ),
            FlowError::Store(e) => {
                tracing::error!(error = %e, "journal failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "journal_unavailable",
                    "the switch cannot write its journal; nothing was sent",
                )
            }
        }
    }
}

/// A 200 answer of a typed body.
fn ok<T: serde::Serialize>(v: &T) -> Result<Response<Full<Bytes>>, ApiError> {
    Ok(json_response(StatusCode::OK, v))
}

/// A JSON answer: `v` serialised straight into the body (no intermediate
/// `Value` tree for typed answers).
pub(crate) fn json_response<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    v: &T,
) -> Response<Full<Bytes>> {
    // Plain data (answer structs, `Value`): serialisation cannot fail.
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn text_response(status: StatusCode, ctype: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(ctype),
    );
    r
}

/// The trade and the refund as terminals see them (docs/API.md §1).
pub use crate::contract::{refund_answer, trade_answer};

// ---------- validation ----------

pub(crate) struct Fields(pub(crate) Map<String, Value>);

impl Fields {
    pub(crate) fn parse(body: &[u8], allowed: &[&str]) -> Result<Fields, ApiError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            )
        })?;
        let Value::Object(m) = v else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "the body must be a JSON object",
            ));
        };
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::field(k, "is not a field of this request"));
            }
        }
        Ok(Fields(m))
    }

    pub(crate) fn opt_str(&self, k: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::field(k, "must be a string")),
        }
    }

    pub(crate) fn str(&self, k: &str) -> Result<&str, ApiError> {
        self.opt_str(k)?.ok_or_else(|| ApiError::missing(k))
    }

    pub(crate) fn text(&self, k: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Err(ApiError::field(k, "must not be empty")),
            Some(s) if s.chars().count() > max => Err(ApiError::field(
                k,
                format!("is longer than {max} characters"),
            )),
            Some(s) if s.chars().any(char::is_control) => {
                Err(ApiError::field(k, "may contain only printable characters"))
            }
            Some(s) => Ok(Some(s.to_owned())),
        }
    }

    fn amount(&self, k: &str) -> Result<Money, ApiError> {
        Money::parse_amount(self.str(k)?).map_err(|e| ApiError::field(k, e.to_string()))
    }
}

fn v<T, E: std::fmt::Display>(k: &str, r: Result<T, E>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::field(k, e.to_string()))
}

/// The parse entry of a `POST /v1/pay` body: the JSON object validated
/// field by field into a [`PayOrder`], or a 400 [`ApiError`] naming the
/// field. Public so that the fuzz target (fuzz/, docs/FUZZING.md) drives the
/// same code as the handler; the handler is its only other caller.
///
/// # Errors
/// An [`ApiError`] with status 400: `invalid_json` when the body is not a
/// JSON object; `missing_field` when `out_trade_no`, `auth_code`,
/// `total_amount` or `subject` is absent; `invalid_field` (with the field)
/// for a field that is not of this request, not a string, or refused by
/// its validator (`body` over 128 characters, `operator_id` not 1 to 28 of
/// `[A-Za-z0-9_-]`, `goods_detail` not an array of at most 100 objects...).
pub fn parse_pay(body: &[u8]) -> Result<PayOrder, ApiError> {
    let f = Fields::parse(body, terminal::wire::PayRequest::FIELDS)?;
    let operator_id = parse_operator_id(&f)?;
    let goods_detail = parse_goods_detail(&f)?;
    Ok(PayOrder {
        out_trade_no: v("out_trade_no", OutTradeNo::parse(f.str("out_trade_no")?))?,
        auth_code: v("auth_code", AuthCode::parse(f.str("auth_code")?))?,
        total_amount: f.amount("total_amount")?,
        subject: v("subject", Subject::parse(f.str("subject")?))?,
        scene: match f.opt_str("scene")? {
            None => Scene::BarCode,
            Some(s) => v("scene", Scene::parse(s))?,
        },
        body: f.text("body", 128)?,
        operator_id,
        timeout_express: f
            .opt_str("timeout_express")?
            .map(|s| v("timeout_express", TimeoutExpress::parse(s)))
            .transpose()?,
        goods_detail,
    })
}

/// `operator_id`: 1 to 28 letters, digits, '_' or '-' (pay, precreate).
fn parse_operator_id(f: &Fields) -> Result<Option<String>, ApiError> {
    match f.opt_str("operator_id")? {
        None => Ok(None),
        Some(s) => {
            if s.is_empty()
                || s.len() > 28
                || !s
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                return Err(ApiError::field(
                    "operator_id",
                    "must be 1 to 28 letters, digits, '_' or '-'",
                ));
            }
            Ok(Some(s.to_owned()))
        }
    }
}

/// `goods_detail`: an array of at most 100 objects (pay, precreate).
fn parse_goods_detail(f: &Fields) -> Result<Option<Value>, ApiError> {
    match f.0.get("goods_detail") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() <= 100 && a.iter().all(Value::is_object) => {
            Ok(Some(Value::Array(a.clone())))
        }
        Some(_) => Err(ApiError::field(
            "goods_detail",
            "must be an array of at most 100 objects",
        )),
    }
}

/// The parse entry of a `POST /v1/precreate` body (as [`parse_pay`]).
///
/// # Errors
/// As [`parse_pay`] (`auth_code` and `scene` are not fields here), and
/// `invalid_field` when `notify_url` is not an http(s) URL of at most 256
/// characters.
pub fn parse_precreate(body: &[u8]) -> Result<PrecreateOrder, ApiError> {
    let f = Fields::parse(body, terminal::wire::PrecreateRequest::FIELDS)?;
    let notify_url = match f.opt_str("notify_url")? {
        None => None,
        Some(u) => {
            if !(u.starts_with("https://") || u.starts_with("http://"))
                || u.len() > 256
                || u.parse::<http::Uri>().is_err()
            {
                return Err(ApiError::field(
                    "notify_url",
                    "must be an http(s) URL of at most 256 characters",
                ));
            }
            Some(u.to_owned())
        }
    };
    Ok(PrecreateOrder {
        out_trade_no: v("out_trade_no", OutTradeNo::parse(f.str("out_trade_no")?))?,
        total_amount: f.amount("total_amount")?,
        subject: v("subject", Subject::parse(f.str("subject")?))?,
        timeout_express: f
            .opt_str("timeout_express")?
            .map(|s| v("timeout_express", TimeoutExpress::parse(s)))
            .transpose()?,
        body: f.text("body", 128)?,
        operator_id: parse_operator_id(&f)?,
        goods_detail: parse_goods_detail(&f)?,
        notify_url,
    })
}

/// The parse entry of a `POST /v1/trades/{out_trade_no}/refunds` body (as
/// [`parse_pay`]).
///
/// # Errors
/// An [`ApiError`] with status 400: `invalid_json`, `missing_field`
/// (`out_request_no`, `refund_amount`) or `invalid_field` (an unknown
/// field, a refused out_request_no or amount, `refund_reason` empty, over
/// 256 characters or with control characters).
pub fn parse_refund(body: &[u8]) -> Result<RefundOrder, ApiError> {
    let f = Fields::parse(body, terminal::wire::RefundRequest::FIELDS)?;
    Ok(RefundOrder {
        out_request_no: v(
            "out_request_no",
            OutRequestNo::parse(f.str("out_request_no")?),
        )?,
        refund_amount: f.amount("refund_amount")?,
        refund_reason: f.text("refund_reason", 256)?,
    })
}

fn query_param<'a>(q: Option<&'a str>, key: &str) -> Option<&'a str> {
    q?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

fn parse_wait(q: Option<&str>, default: Duration) -> Result<Duration, ApiError> {
    match query_param(q, "wait") {
        None => Ok(default),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n <= 60 => Ok(Duration::from_secs(n)),
            _ => Err(ApiError::field(
                "wait",
                "must be a whole number of seconds from 0 to 60",
            )),
        },
    }
}

fn endpoint_label(method: &HttpMethod, path: &str) -> &'static str {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (&HttpMethod::POST, ["v1", "pay"]) => "pay",
        (&HttpMethod::POST, ["v1", "precreate"]) => "precreate",
        (&HttpMethod::GET, ["v1", "trades", _]) => "query",
        (&HttpMethod::POST, ["v1", "trades", _, "cancel"]) => "cancel",
        (&HttpMethod::POST, ["v1", "trades", _, "close"]) => "close",
        (&HttpMethod::POST, ["v1", "trades", _, "refunds"]) => "refund",
        (&HttpMethod::GET, ["v1", "trades", _, "refunds", _]) => "refund_query",
        (_, ["notify", "alipay"]) => "notify",
        (_, ["healthz"]) => "healthz",
        _ => "other",
    }
}

impl Api {
    /// Serves one request; never fails (errors become JSON answers). Counts
    /// it in `payswitch_requests_total{endpoint,status}` and
    /// `payswitch_request_seconds{endpoint}`, and adds `Allow` to a 405.
    ///
    /// # Errors
    /// None: the error type is [`Infallible`] (hyper's service signature).
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let t0 = Instant::now();
        let method = req.method().clone();
        let label = endpoint_label(&method, req.uri().path());
        let http1 = req.version() < http::Version::HTTP_2;
        let path = req.uri().path().to_owned();
        let resp = match self.route(req).await {
            Ok(r) => r,
            Err(e) => {
                // A source over its failures: its HTTP/1 connection goes too
                // (a new one passes the per-source connection cap).
                let close = http1 && e.code == "ip_limited";
                let mut r = e.into_response();
                if close {
                    r.headers_mut().insert(
                        http::header::CONNECTION,
                        http::HeaderValue::from_static("close"),
                    );
                }
                r
            }
        };
        let resp = routes::with_allow(resp, routes::TERMINAL_ROUTES, &path);
        let status = resp.status().as_u16().to_string();
        let m = self.flows.metrics();
        m.inc(
            "payswitch_requests_total",
            &[("endpoint", label), ("status", &status)],
        );
        m.observe(
            "payswitch_request_seconds",
            &[("endpoint", label)],
            t0.elapsed(),
        );
        Ok(resp)
    }

    pub(crate) async fn read_body(
        &self,
        req: Request<Incoming>,
    ) -> Result<(http::request::Parts, Bytes), ApiError> {
        self.read_body_up_to(req, self.max_body).await
    }

    async fn read_body_up_to(
        &self,
        req: Request<Incoming>,
        max_body: usize,
    ) -> Result<(http::request::Parts, Bytes), ApiError> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is larger than {max_body} bytes"),
            )
        };
        if let Some(len) = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > max_body as u64 {
                return Err(too_large());
            }
        }
        let (parts, body) = req.into_parts();
        let read = tokio::time::timeout(self.body_timeout, Limited::new(body, max_body).collect());
        let bytes = read
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    format!(
                        "the body did not arrive within {} ms",
                        self.body_timeout.as_millis()
                    ),
                )
            })?
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    too_large()
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "body_unreadable",
                        "the body could not be read",
                    )
                }
            })?
            .to_bytes();
        if let Some(r) = parts.extensions.get::<BodyRead>() {
            r.set();
        }
        Ok((parts, bytes))
    }

    async fn route(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
        let path = req.uri().path().to_owned();
        let found = routes::find(routes::TERMINAL_ROUTES, req.method().as_str(), &path);
        match &found {
            RouteMatch::Found("/healthz", _) => {
                return Ok(json_response(StatusCode::OK, &json!({"status": "ok"})))
            }
            // `/readyz` and `/metrics` are operator endpoints: on the admin
            // (operator) listener only, never here (they fall to 404 below).
            RouteMatch::Found("/notify/alipay", _) => {
                // Open to the internet: its own body limit, and a source that
                // sends unverifiable notifications (each costs an RSA verify)
                // is refused for a while before anything is read.
                let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
                if let Some(ip) = peer {
                    if self.notify_guard.blocked(ip) {
                        self.flows.metrics().inc(
                            "payswitch_notifications_total",
                            &[("result", "source_limited")],
                        );
                        return Ok(text_response(
                            StatusCode::TOO_MANY_REQUESTS,
                            "text/plain",
                            "fail".to_owned(),
                        ));
                    }
                }
                let (_, body) = self.read_body_up_to(req, NOTIFY_MAX_BODY_BYTES).await?;
                let answer = self.notify(&body).await;
                if answer.status() == StatusCode::BAD_REQUEST {
                    if let Some(ip) = peer {
                        self.notify_guard.failed(ip);
                    }
                }
                return Ok(answer);
            }
            _ => {}
        }
        let method_not_allowed = |m: &HttpMethod| {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{m} is not allowed on {path}"),
            )
        };
        let no_route = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_route",
                format!("no endpoint {path}"),
            )
        };
        if !path.starts_with("/v1/") {
            return Err(match found {
                RouteMatch::WrongMethod => method_not_allowed(req.method()),
                _ => no_route(),
            });
        }
        // The header first (known key, timestamp in the window), before a
        // byte of the body is read; then the body, within its deadline; then
        // the signature; then the rate; only then is the nonce remembered.
        // A source past its failures of the window is answered 429 for each
        // request that does not authenticate (its terminals that do are
        // served: a NAT's neighbours are not locked out).
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        let auth_failed = |e: auth::AuthError| {
            self.flows
                .metrics()
                .inc("payswitch_auth_failures_total", &[("reason", e.code())]);
            if let Some(ip) = peer.filter(|_| ip_limit::counts_against_source(e)) {
                if self.ip_limit.failed(ip) {
                    self.flows
                        .metrics()
                        .inc("payswitch_ip_limited_total", &[("what", "auth")]);
                    return ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "ip_limited",
                        "too many requests from this address failed authentication; retry later",
                    );
                }
            }
            let status = if e == auth::AuthError::NonceMemoryFull {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            ApiError::new(status, e.code(), e.to_string())
        };
        let pre = self
            .auth
            .precheck(
                req.headers()
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok()),
            )
            .map_err(auth_failed)?;
        let (parts, body) = self.read_body(req).await?;
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| path.clone());
        self.auth
            .verify(&pre, parts.method.as_str(), &pq, &body)
            .map_err(auth_failed)?;
        let term = pre.terminal.clone();
        if !term.take_token() {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "terminal {} is over its rate of {} requests per second",
                    term.cfg.key_id, term.cfg.rate_per_sec
                ),
            ));
        }
        self.auth.remember(&pre).map_err(auth_failed)?;
        let store = self.flows.store();
        if store.shared() {
            // Nodes sharing the journal share the nonces: a request replayed
            // to another node is refused there too.
            let (key, nonce, until_ms) = self.auth.shared_key(&pre);
            match store.claim_nonce(key, nonce, until_ms).await {
                Ok(()) => {}
                Err(crate::store::StoreError::Exists) => {
                    return Err(auth_failed(auth::AuthError::Replay));
                }
                Err(e) => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "journal_unavailable",
                        format!("the shared nonce memory cannot be reached: {e}"),
                    ));
                }
            }
        }
        // Authenticated: the connection no longer counts against its source.
        if let Some(slot) = parts.extensions.get::<Arc<ip_limit::ConnSlot>>() {
            slot.authenticated();
        }
        let tc = &term.cfg;
        let new_payment =
            parts.method == HttpMethod::POST && (path == "/v1/pay" || path == "/v1/precreate");
        if new_payment {
            if let Err(e) = self.auth.registry().admit_payment(&term) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    e.code(),
                    e.to_string(),
                ));
            }
        }
        let q = parts.uri.query();
        let flows = &self.flows;
        let no_arg = |no: &str| -> Result<String, ApiError> {
            OutTradeNo::parse(no)
                .map(|n| n.into_string())
                .map_err(|e| ApiError::field("out_trade_no", e.to_string()))
        };
        let (template, params) = match found {
            RouteMatch::Found(t, p) => (t, p),
            RouteMatch::WrongMethod => return Err(method_not_allowed(&parts.method)),
            RouteMatch::NoRoute => return Err(no_route()),
        };
        match (template, params.as_slice()) {
            ("/v1/pay", []) => {
                let wait = parse_wait(q, self.default_wait)?;
                let o = parse_pay(&body)?;
                // Nothing of the request is held across the wait (up to
                // `wait` seconds of 10003 polling): its head and body point
                // into the connection's read buffer.
                drop((parts, body));
                ok(&trade_answer(&flows.pay(tc, o, wait).await?))
            }
            ("/v1/precreate", []) => {
                let o = parse_precreate(&body)?;
                ok(&trade_answer(&flows.precreate(tc, o).await?))
            }
            ("/v1/trades/{out_trade_no}", [no]) => {
                let no = no_arg(no)?;
                let t = match query_param(q, "refresh") {
                    Some("1") | Some("true") => flows.refresh(tc, &no).await?,
                    None | Some("0") | Some("false") => flows.get(tc, &no).await?,
                    Some(_) => return Err(ApiError::field("refresh", "must be 0 or 1")),
                };
                ok(&trade_answer(&t))
            }
            ("/v1/trades/{out_trade_no}/cancel", [no]) => {
                let no = no_arg(no)?;
                ok(&trade_answer(&flows.cancel(tc, &no).await?))
            }
            ("/v1/trades/{out_trade_no}/close", [no]) => {
                let no = no_arg(no)?;
                ok(&trade_answer(&flows.close(tc, &no).await?))
            }
            ("/v1/trades/{out_trade_no}/refunds", [no]) => {
                let no = no_arg(no)?;
                let o = parse_refund(&body)?;
                let (r, total) = flows.refund(tc, &no, o).await?;
                ok(&refund_answer(&r, total))
            }
            ("/v1/trades/{out_trade_no}/refunds/{out_request_no}", [no, req_no]) => {
                let no = no_arg(no)?;
                let req_no = OutRequestNo::parse(req_no)
                    .map_err(|e| ApiError::field("out_request_no", e.to_string()))?;
                let (r, total) = flows.get_refund(tc, &no, req_no.as_str()).await?;
                ok(&refund_answer(&r, total))
            }
            // A row of the table without a handler (engine/tests/openapi.rs
            // finds it: every row must be served).
            _ => Err(no_route()),
        }
    }

    async fn notify(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let (status, text) = crate::notify::receive(&self.flows, body).await;
        text_response(status, "text/plain", text.to_owned())
    }

    pub(crate) async fn readyz(&self) -> Response<Full<Bytes>> {
        let store_ok = self.flows.journal_ready().await;
        let gw_ok = !self.flows.gateway_breaker_open();
        let status = if store_ok && gw_ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        json_response(
            status,
            &json!({"store_writable": store_ok, "journal": if store_ok {"ok"} else {"failing"},
                    "gateway_circuit": if gw_ok {"closed"} else {"open"}}),
        )
    }

    pub(crate) async fn metrics(&self) -> Response<Full<Bytes>> {
        let mut gauges: Vec<(String, String, f64)> = self
            .flows
            .status_counts()
            .into_iter()
            .map(|(s, n)| {
                (
                    "payswitch_trades".to_owned(),
                    crate::metrics::labels(&[("status", s.as_str())]),
                    n as f64,
                )
            })
            .collect();
        gauges.push((
            "payswitch_flows_in_flight".into(),
            String::new(),
            self.flows.in_flight() as f64,
        ));
        gauges.push((
            "payswitch_gateway_circuit_open".into(),
            String::new(),
            if self.flows.gateway_breaker_open() {
                1.0
            } else {
                0.0
            },
        ));
        if let Some(p) = self.flows.store().pool_state() {
            for (state, n) in [
                ("size", p.size),
                ("max", p.max_size),
                ("available", p.available),
                ("waiting", p.waiting),
            ] {
                gauges.push((
                    "payswitch_journal_pool_connections".into(),
                    crate::metrics::labels(&[("state", state)]),
                    n as f64,
                ));
            }
        }
        gauges.extend(self.flows.metrics().group_gauges());
        text_response(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            self.flows.metrics().render(&gauges),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pay_validation_names_fields() {
        let e = parse_pay(br#"{"out_trade_no":"a-b","auth_code":"281234567890121003","total_amount":"1.00","subject":"x"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("out_trade_no"));
        let e = parse_pay(
            br#"{"out_trade_no":"a","auth_code":"1234","total_amount":"1.00","subject":"x"}"#,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("auth_code"));
        assert!(!e.message.contains("1234"));
        let e = parse_pay(br#"{"out_trade_no":"a","auth_code":"281234567890121003","total_amount":"1.001","subject":"x"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("total_amount"));
        let e = parse_pay(br#"{"out_trade_no":"a","auth_code":"281234567890121003","total_amount":1,"subject":"x"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("total_amount"));
        let e = parse_pay(
            br#"{"out_trade_no":"a","auth_code":"281234567890121003","total_amount":"1.00"}"#,
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            ("missing_field", Some("subject"))
        );
        let e = parse_pay(br#"{"out_trade_no":"a","auth_code":"281234567890121003","total_amount":"1.00","subject":"x","store_id":"s"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("store_id"));
        let o = parse_pay(br#"{"out_trade_no":"a","auth_code":"281234567890121003","total_amount":"1.00","subject":"x","scene":"wave_code"}"#).unwrap();
        assert_eq!(o.scene, Scene::WaveCode);
    }

    #[test]
    fn wait_parameter() {
        let d = Duration::from_secs(60);
        assert_eq!(parse_wait(Some("wait=0"), d).unwrap(), Duration::ZERO);
        assert_eq!(parse_wait(None, d).unwrap(), d);
        assert!(parse_wait(Some("wait=61"), d).is_err());
        assert!(parse_wait(Some("wait=x"), d).is_err());
    }
}
