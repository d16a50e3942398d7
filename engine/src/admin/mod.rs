//! The admin API (docs/API.md §1.4) on its own listener (`[admin] listen`),
//! never on the terminal listener.
//!
//! Every `/admin/v1` request carries `Authorization: Bearer <token>`; the
//! token's sha256 is compared in constant time with each configured one
//! (`admin.token_sha256`, `admin.token_file`); missing or wrong answers 401.
//! JSON in and out with the terminal API's error shape (400 names the field).
//!
//! Every change runs under the registry's change lock: decide from the
//! current state, call the gateway when the change is the gateway's
//! (`ant.merchant.expand.indirect.create` / `.modify`), journal the new
//! rows together with an `admin_*` event (the token's id: the first 8 hex
//! digits of its sha256; what changed; never a secret), and only then
//! install the change in memory. A terminal secret is shown once, in the
//! answer that created it (create, rotate), and is journaled sealed only.
//!
//! `/healthz`, `/readyz` and `/metrics` are served here too.

mod merchants;
mod terminals;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method as HttpMethod, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::api::routes::{self, RouteMatch};
use crate::api::{json_response, Api, ApiError};
use crate::flow::Flows;
use crate::merchants::{Origin, Registry};
use crate::store::{Event, StoreError, Write};
use crate::trade::now_ms;

/// Every route of the admin listener (the router dispatches through it).
pub use crate::api::routes::ADMIN_ROUTES as ROUTES;

/// The `app_id` of admin events in the journal.
pub const ADMIN_APP_ID: &str = "admin";

/// The admin listener's handler: authenticates every `/admin/v1` request
/// by bearer token and routes it to the merchant, store and terminal
/// operations (see the module doc).
pub struct Admin {
    pub(crate) api: Arc<Api>,
    tokens: Vec<[u8; 32]>,
    console: crate::console::Console,
}

/// Who made a change: the token's id (first 8 hex digits of its sha256).
pub(crate) struct Caller {
    pub token_id: String,
}

/// Constant-time equality of two digests.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Admin {
    /// A handler over the switch's [`Api`] (its flows, registry and
    /// journal), accepting the bearer tokens whose sha256 is in `tokens`.
    pub fn new(api: Arc<Api>, tokens: Vec<[u8; 32]>) -> Admin {
        Admin {
            api,
            tokens,
            console: crate::console::Console::new(),
        }
    }

    pub(crate) fn flows(&self) -> &Arc<Flows> {
        &self.api.flows
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        self.api.flows.registry()
    }

    /// Whether `digest` is the sha256 of an accepted token (constant time).
    pub(crate) fn accepts_digest(&self, digest: &[u8; 32]) -> bool {
        let mut ok = false;
        for t in &self.tokens {
            ok |= same_digest(t, digest);
        }
        ok
    }

    /// The caller of a request by its `Authorization: Bearer` header.
    ///
    /// # Errors
    /// 401 ([`ApiError`] `auth_token`) when the header is missing, is not
    /// `Bearer <token>`, or the token is not accepted.
    pub(crate) fn authorize(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "auth_token", m);
        let h = header.ok_or_else(|| unauthorized("the Authorization header is missing"))?;
        let token = h
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header is not Bearer <token>"))?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut ok = false;
        for t in &self.tokens {
            ok |= same_digest(t, &digest);
        }
        if !ok {
            return Err(unauthorized("the token is not accepted"));
        }
        Ok(Caller {
            token_id: hex::encode(&digest[..4]),
        })
    }

    /// Serves one request; never fails (errors become JSON answers).
    ///
    /// # Errors
    /// None: the error type is [`Infallible`] (the shape hyper's services
    /// take).
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = req.uri().path().to_owned();
        let resp = match self.route(req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        Ok(routes::with_allow(resp, ROUTES, &path))
    }

    async fn route(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
        let path = req.uri().path().to_owned();
        let found = routes::find(ROUTES, req.method().as_str(), &path);
        match &found {
            RouteMatch::Found("/healthz", _) => {
                return Ok(json_response(StatusCode::OK, &json!({"status": "ok"})))
            }
            RouteMatch::Found("/readyz", _) => return Ok(self.api.readyz().await),
            RouteMatch::Found("/metrics", _) => return Ok(self.api.metrics().await),
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
        // The operator console: its own pages, routes and authentication
        // (docs/ENGINE.md, "The operator console").
        if crate::console::Console::owns(&path) {
            return Ok(self.console.handle(self, req).await);
        }
        if !path.starts_with("/admin/v1/") {
            return Err(match found {
                RouteMatch::WrongMethod => method_not_allowed(req.method()),
                _ => no_route(),
            });
        }
        let header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let caller = self.authorize(header.as_deref())?;
        let (parts, body) = self.api.read_body(req).await?;
        let (template, params) = match found {
            RouteMatch::Found(t, p) => (t, p),
            RouteMatch::WrongMethod => return Err(method_not_allowed(&parts.method)),
            RouteMatch::NoRoute => return Err(no_route()),
        };
        match (template, params.as_slice()) {
            ("/admin/v1/merchants", []) if parts.method == HttpMethod::POST => {
                self.create_merchant(&caller, &body).await
            }
            ("/admin/v1/merchants", []) => Ok(ok(json!({
                "merchants": self.registry().merchants().iter()
                    .map(|x| self.merchant_json(x)).collect::<Vec<_>>()
            }))),
            ("/admin/v1/merchants/{external_id}", [ext]) if parts.method == HttpMethod::PATCH => {
                self.patch_merchant(&caller, ext, &body).await
            }
            ("/admin/v1/merchants/{external_id}", [ext]) => {
                let mm = self.merchant(ext)?;
                Ok(ok(self.merchant_json(&mm)))
            }
            ("/admin/v1/merchants/{external_id}/suspend", [ext]) => {
                self.merchant_status(&caller, ext, true).await
            }
            ("/admin/v1/merchants/{external_id}/resume", [ext]) => {
                self.merchant_status(&caller, ext, false).await
            }
            ("/admin/v1/merchants/{external_id}/stores", [ext]) => {
                self.create_store(&caller, ext, &body).await
            }
            ("/admin/v1/merchants/{external_id}/terminals", [ext]) => {
                self.create_terminal(&caller, ext, &body).await
            }
            ("/admin/v1/terminals/{key_id}", [key]) => {
                let t = self.terminal(key)?;
                Ok(ok(self.terminal_json(&t)))
            }
            ("/admin/v1/terminals/{key_id}/suspend", [key]) => {
                self.terminal_status(&caller, key, true).await
            }
            ("/admin/v1/terminals/{key_id}/resume", [key]) => {
                self.terminal_status(&caller, key, false).await
            }
            ("/admin/v1/terminals/{key_id}/rotate", [key]) => {
                self.rotate(&caller, key, &body).await
            }
            // A row of the table without a handler (engine/tests/openapi.rs
            // finds it: every row must be served).
            _ => Err(no_route()),
        }
    }

    /// Journals `writes` plus the admin event; 503 when the journal fails
    /// (then nothing is installed).
    async fn journal(
        &self,
        caller: &Caller,
        subject: String,
        kind: &str,
        detail: Value,
        mut writes: Vec<Write>,
    ) -> Result<(), ApiError> {
        let mut d = detail;
        d["token"] = json!(caller.token_id);
        writes.push(Write::Event(Event {
            app_id: ADMIN_APP_ID.into(),
            out_trade_no: subject,
            at_ms: now_ms(),
            kind: kind.to_owned(),
            detail: d.to_string(),
        }));
        self.flows()
            .store()
            .commit(writes)
            .await
            .map_err(journal_error)
    }
}

fn ok(v: Value) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, &v)
}

fn created(v: Value) -> Response<Full<Bytes>> {
    json_response(StatusCode::CREATED, &v)
}

fn journal_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "admin change not journaled");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "journal_unavailable",
        "the switch cannot write its journal right now; nothing was changed, retry shortly",
    )
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such {what} {id}"),
    )
}

fn from_config(what: &str, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "declared_in_config",
        format!("{what} {id} is declared in the configuration file; change it there"),
    )
}

fn journal_only(origin: Origin, what: &str, id: &str) -> Result<(), ApiError> {
    match origin {
        Origin::Journal => Ok(()),
        Origin::Config => Err(from_config(what, id)),
    }
}

/// An unsigned integer field within `[min, max]`.
fn int_field(f: &crate::api::Fields, k: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
    match f.0.get(k) {
        None | Some(Value::Null) => Ok(None),
        // A whole number written with a fraction (`60.0`) is a whole number.
        Some(Value::Number(n)) => match n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                .map(|f| f as u64)
        }) {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::field(
                k,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
        Some(_) => Err(ApiError::field(k, "must be a number")),
    }
}

/// A positive number field within `(0, max]`.
fn num_field(f: &crate::api::Fields, k: &str, max: f64) -> Result<Option<f64>, ApiError> {
    match f.0.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v > 0.0 && v <= max => Ok(Some(v)),
            _ => Err(ApiError::field(
                k,
                format!("must be a number above 0 and at most {max}"),
            )),
        },
        Some(_) => Err(ApiError::field(k, "must be a number")),
    }
}

/// Letters, digits, `_` and `-`, 1 to `max` characters.
fn code_field(f: &crate::api::Fields, k: &str, max: usize) -> Result<Option<String>, ApiError> {
    match f.opt_str(k)? {
        None => Ok(None),
        Some(s)
            if !s.is_empty()
                && s.len() <= max
                && s.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-') =>
        {
            Ok(Some(s.to_owned()))
        }
        Some(_) => Err(ApiError::field(
            k,
            format!("must be 1 to {max} letters, digits, '_' or '-'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_with_a_fraction_are_whole_numbers() {
        let f = crate::api::Fields::parse(
            br#"{"a": 60, "b": 60.0, "c": 60.5, "d": -1, "e": 10001.0, "g": "6"}"#,
            &["a", "b", "c", "d", "e", "g"],
        )
        .unwrap();
        assert_eq!(int_field(&f, "a", 0, 10_000).unwrap(), Some(60));
        assert_eq!(int_field(&f, "b", 0, 10_000).unwrap(), Some(60));
        for k in ["c", "d", "e", "g"] {
            assert_eq!(
                int_field(&f, k, 0, 10_000).unwrap_err().field.as_deref(),
                Some(k)
            );
        }
        assert_eq!(int_field(&f, "z", 0, 10_000).unwrap(), None);
    }

    #[test]
    fn digest_comparison() {
        assert!(same_digest(&[1; 32], &[1; 32]));
        let mut b = [1; 32];
        b[31] = 0;
        assert!(!same_digest(&[1; 32], &b));
    }
}
