//! [`TerminalClient`]: the `/v1` API from a terminal's side, over HTTP/1.1
//! or HTTP/2, plain or TLS.
//!
//! Retries are safe by construction: a call serialises its body once and
//! every attempt sends those same bytes to the same path (so the same
//! `out_trade_no` / `out_request_no` and the same content), with a fresh
//! timestamp and nonce. The switch answers a repeated pay with the trade it
//! already has, never a second payment (docs/API.md section 1). A call is
//! retried after a transport failure, a time-out, a 503 (journal busy or
//! unavailable, not ready) or a 429 (rate limited), up to
//! [`RetryPolicy::attempts`], waiting `Retry-After` when the switch gives
//! one and an exponential backoff otherwise. Every other answer is final.
//!
//! The secret is never printed: `TerminalClient`'s `Debug` shows the base
//! URL and the key id only, and no error carries a header or a body sent.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use protocol::Money;
use serde::de::DeserializeOwned;

use crate::header;
use crate::wire::{ErrorAnswer, PayRequest, PrecreateRequest, Refund, RefundRequest, Trade};

/// How a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; doubled after each failure.
    pub backoff_initial: Duration,
    /// The longest wait between attempts (also caps `Retry-After`).
    pub backoff_max: Duration,
    /// How long one attempt may take, answer included (`wait` of a pay is
    /// added to it).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            backoff_initial: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a call did not return its answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The switch answered with an error (`{"error": {...}}`).
    #[error("the switch answered {status}: {code}{}: {message}", field.as_deref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error code (`invalid_field`, `trade_state`, `not_found`...).
        code: String,
        /// The switch's sentence.
        message: String,
        /// The request field at fault, when one is.
        field: Option<String>,
    },
    /// No answer: connection refused or reset, TLS failure, time-out. The
    /// call's outcome is not known: repeat it (same request) or query.
    #[error("no answer from the switch after {attempts} attempt(s): {reason}")]
    Transport {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },
    /// An answer that is not the documented shape.
    #[error("the switch's answer ({status}) is not the documented JSON: {reason}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What did not parse.
        reason: String,
    },
    /// The base URL or an argument cannot make a request.
    #[error("cannot make the request: {0}")]
    Request(String),
}

impl ClientError {
    /// Whether the outcome of the call is not known (repeat or query it).
    pub fn is_unknown_outcome(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Api { status, .. } => *status == 503 || *status == 429,
            _ => false,
        }
    }
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A terminal's client of the switch. Cheap to clone (shares its pool).
#[derive(Clone)]
pub struct TerminalClient {
    base: String,
    key_id: String,
    secret: std::sync::Arc<[u8]>,
    policy: RetryPolicy,
    http: Client<Https, Full<Bytes>>,
}

impl std::fmt::Debug for TerminalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalClient")
            .field("base", &self.base)
            .field("key_id", &self.key_id)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn unix_now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Escapes a path segment (out_trade_no, out_request_no): letters, digits
/// and `-_.~` pass, anything else is percent-encoded.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TerminalClient {
    /// A client of the switch at `base` (`http://host:port` or
    /// `https://...`), signing with the terminal's key id and secret (the
    /// secret as bytes: the hex of `secret_hex` decoded). TLS trusts the
    /// platform's roots; see [`TerminalClient::with_tls`] for others.
    ///
    /// # Errors
    /// [`ClientError::Request`] when `base` is not an http(s) URL or the
    /// platform's root certificates cannot be read.
    pub fn new(
        base: &str,
        key_id: impl Into<String>,
        secret: &[u8],
    ) -> Result<TerminalClient, ClientError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| ClientError::Request(format!("platform root certificates: {e}")))?
            .https_or_http()
            .enable_all_versions()
            .build();
        Self::with_connector(base, key_id.into(), secret, connector)
    }

    /// A client that trusts what `tls` trusts (a private CA, say).
    ///
    /// # Errors
    /// [`ClientError::Request`] when `base` is not an http(s) URL.
    pub fn with_tls(
        base: &str,
        key_id: impl Into<String>,
        secret: &[u8],
        tls: rustls::ClientConfig,
    ) -> Result<TerminalClient, ClientError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .build();
        Self::with_connector(base, key_id.into(), secret, connector)
    }

    fn with_connector(
        base: &str,
        key_id: String,
        secret: &[u8],
        connector: Https,
    ) -> Result<TerminalClient, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: http::Uri = base
            .parse()
            .map_err(|_| ClientError::Request("base is not a URL".into()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ClientError::Request(
                "base must be http://host[:port] or https://host[:port]".into(),
            ));
        }
        if key_id.is_empty() {
            return Err(ClientError::Request("key_id must not be empty".into()));
        }
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(TerminalClient {
            base,
            key_id,
            secret: secret.into(),
            policy: RetryPolicy::default(),
            http,
        })
    }

    /// The same client with another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> TerminalClient {
        self.policy = RetryPolicy {
            attempts: policy.attempts.max(1),
            ..policy
        };
        self
    }

    /// `POST /v1/pay?wait=S`: pays, waiting up to `wait_s` seconds for a
    /// definite answer (PAYING after that: query it).
    ///
    /// # Errors
    /// [`ClientError`]: an error answer, no answer after the retries, or an
    /// answer that does not parse.
    pub async fn pay(&self, req: &PayRequest, wait_s: u32) -> Result<Trade, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Request(e.to_string()))?;
        let extra = Duration::from_secs(u64::from(wait_s));
        self.call(Method::POST, &format!("/v1/pay?wait={wait_s}"), body, extra)
            .await
    }

    /// `POST /v1/precreate`: a QR trade (`qr_code` in the answer).
    ///
    /// # Errors
    /// As [`TerminalClient::pay`].
    pub async fn precreate(&self, req: &PrecreateRequest) -> Result<Trade, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Request(e.to_string()))?;
        self.call(Method::POST, "/v1/precreate", body, Duration::ZERO)
            .await
    }

    /// `GET /v1/trades/{out_trade_no}`; `refresh` asks the switch to query
    /// the gateway first.
    ///
    /// # Errors
    /// As [`TerminalClient::pay`]; 404 `not_found` for an unknown trade.
    pub async fn query(&self, out_trade_no: &str, refresh: bool) -> Result<Trade, ClientError> {
        let mut pq = format!("/v1/trades/{}", segment(out_trade_no));
        if refresh {
            pq.push_str("?refresh=1");
        }
        self.call(Method::GET, &pq, Vec::new(), Duration::ZERO)
            .await
    }

    /// `POST /v1/trades/{out_trade_no}/cancel`.
    ///
    /// # Errors
    /// As [`TerminalClient::pay`]; 409 `trade_state` when it is paid.
    pub async fn cancel(&self, out_trade_no: &str) -> Result<Trade, ClientError> {
        let pq = format!("/v1/trades/{}/cancel", segment(out_trade_no));
        self.call(Method::POST, &pq, Vec::new(), Duration::ZERO)
            .await
    }

    /// `POST /v1/trades/{out_trade_no}/close` (a QR trade not paid yet).
    ///
    /// # Errors
    /// As [`TerminalClient::cancel`].
    pub async fn close(&self, out_trade_no: &str) -> Result<Trade, ClientError> {
        let pq = format!("/v1/trades/{}/close", segment(out_trade_no));
        self.call(Method::POST, &pq, Vec::new(), Duration::ZERO)
            .await
    }

    /// `POST /v1/trades/{out_trade_no}/refunds`.
    ///
    /// # Errors
    /// As [`TerminalClient::pay`]; 400 `invalid_field` (`refund_amount`)
    /// above what is left of the trade.
    pub async fn refund(
        &self,
        out_trade_no: &str,
        req: &RefundRequest,
    ) -> Result<Refund, ClientError> {
        let body = serde_json::to_vec(req).map_err(|e| ClientError::Request(e.to_string()))?;
        let pq = format!("/v1/trades/{}/refunds", segment(out_trade_no));
        self.call(Method::POST, &pq, body, Duration::ZERO).await
    }

    /// A refund of `amount` without a reason: shorthand for
    /// [`TerminalClient::refund`].
    ///
    /// # Errors
    /// As [`TerminalClient::refund`].
    pub async fn refund_amount(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
        amount: Money,
    ) -> Result<Refund, ClientError> {
        self.refund(out_trade_no, &RefundRequest::new(out_request_no, amount))
            .await
    }

    /// `GET /v1/trades/{out_trade_no}/refunds/{out_request_no}`.
    ///
    /// # Errors
    /// As [`TerminalClient::query`].
    pub async fn refund_status(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
    ) -> Result<Refund, ClientError> {
        let pq = format!(
            "/v1/trades/{}/refunds/{}",
            segment(out_trade_no),
            segment(out_request_no)
        );
        self.call(Method::GET, &pq, Vec::new(), Duration::ZERO)
            .await
    }

    /// One call: the same bytes every attempt, a new ts and nonce each.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        body: Vec<u8>,
        extra: Duration,
    ) -> Result<T, ClientError> {
        let body = Bytes::from(body);
        let url = format!("{}{path_and_query}", self.base);
        let mut backoff = self.policy.backoff_initial;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.attempts;
            let auth = header::authorization(
                &self.key_id,
                &self.secret,
                method.as_str(),
                path_and_query,
                unix_now_s(),
                &header::new_nonce(),
                &body,
            );
            let mut rb = Request::builder()
                .method(method.clone())
                .uri(&url)
                .header(http::header::AUTHORIZATION, auth);
            if !body.is_empty() {
                rb = rb.header(http::header::CONTENT_TYPE, "application/json");
            }
            let req = rb
                .body(Full::new(body.clone()))
                .map_err(|e| ClientError::Request(e.to_string()))?;
            let sent = tokio::time::timeout(self.policy.attempt_timeout + extra, async {
                let resp = self.http.request(req).await.map_err(|e| e.to_string())?;
                let (parts, b) = resp.into_parts();
                let bytes = b.collect().await.map_err(|e| e.to_string())?.to_bytes();
                Ok::<_, String>((parts, bytes))
            })
            .await;
            let (parts, bytes) = match sent {
                Err(_) if !last => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.policy.backoff_max);
                    continue;
                }
                Ok(Err(_)) if !last => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.policy.backoff_max);
                    continue;
                }
                Err(_) => {
                    return Err(ClientError::Transport {
                        attempts: attempt,
                        reason: "timed out".into(),
                    })
                }
                Ok(Err(reason)) => {
                    return Err(ClientError::Transport {
                        attempts: attempt,
                        reason,
                    })
                }
                Ok(Ok(r)) => r,
            };
            let status = parts.status;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
                    status: status.as_u16(),
                    reason: e.to_string(),
                });
            }
            let retryable = status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::TOO_MANY_REQUESTS;
            if retryable && !last {
                let wait = parts
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(backoff)
                    .min(self.policy.backoff_max);
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(self.policy.backoff_max);
                continue;
            }
            return Err(match serde_json::from_slice::<ErrorAnswer>(&bytes) {
                Ok(e) => ClientError::Api {
                    status: status.as_u16(),
                    code: e.error.code,
                    message: e.error.message,
                    field: e.error.field,
                },
                Err(e) => ClientError::Decode {
                    status: status.as_u16(),
                    reason: e.to_string(),
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("A-1_b.c~"), "A-1_b.c~");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn bad_bases_are_refused_and_the_secret_is_not_shown() {
        for b in ["", "ftp://x", "localhost:8080", "http://"] {
            assert!(TerminalClient::new(b, "k", b"s").is_err(), "{b}");
        }
        assert!(TerminalClient::new("http://127.0.0.1:1", "", b"s").is_err());
        let c = TerminalClient::new("http://127.0.0.1:1/", "k1", b"topsecret").unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("k1") && !d.contains("topsecret"));
    }

    #[tokio::test]
    async fn no_answer_is_a_transport_error_after_the_attempts() {
        // A port nobody listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = TerminalClient::new(&format!("http://127.0.0.1:{port}"), "k1", b"s")
            .unwrap()
            .with_policy(RetryPolicy {
                attempts: 3,
                backoff_initial: Duration::from_millis(1),
                backoff_max: Duration::from_millis(2),
                attempt_timeout: Duration::from_secs(2),
            });
        match c.query("A1", false).await {
            Err(ClientError::Transport { attempts, .. }) => assert_eq!(attempts, 3),
            other => panic!("{other:?}"),
        }
    }
}
