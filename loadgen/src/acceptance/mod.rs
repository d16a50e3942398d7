//! `loadgen acceptance`: the business acceptance self-check of the bank
//! indirect-acquiring guide (银行间连业务接入指南, 业务验收; docs/PROTOCOL.md
//! §9.8) against a running switch and gateway simulator, through their
//! documented interfaces only (the terminal API, the admin API of
//! docs/API.md §1.4, the simulator's control API), as an outside integrator
//! would. The command line and the JSON checklist are described in
//! docs/API.md §7 and docs/LOADGEN.md, "Business acceptance".
//!
//! One scenario per point: (1) onboarding sends the merchant's real name
//! and normative fields, (2) smid, store_id and terminal_id reach the
//! gateway on every trade, (3) the password (10003) case, (4) network
//! errors and the gateway's error codes, (5) payouts and reconciliation.
//! The result is a checklist (JSON, Markdown, HTML; English and Chinese)
//! with PASS or FAIL and the evidence of each point.
//!
//! Guarantees: nothing but loopback-or-given URLs is contacted; every
//! out_trade_no and external_id carries the run id, so a run never touches
//! another run's trades; the evidence is redacted before it is kept (auth
//! codes show their last four digits, terminal secrets and the admin token
//! never appear in the report, on stdout or in an error); exit 0 when every
//! selected point passed, 2 when one failed, 1 on an error (unreachable
//! target, bad argument).
//!
//! Called by the `loadgen acceptance` subcommand through [`run_acceptance`];
//! the pieces ([`TermClient`], [`Ctx`], [`redact`], [`evidence`]) are public
//! for the scenarios in [`points`] and for tests.

pub mod points;
#[cfg(feature = "demo")]
pub mod recon;
pub mod report;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use rand::Rng;
use serde_json::Value;

use crate::demo::Admin;
use crate::error::{LoadgenError, Result};
use crate::http::Http;
use report::{AcceptanceReport, Evidence, LangChoice, Point, Status, TargetInfo};

/// The environment variable holding the admin token (as for `payswitch`'s admin clients).
pub const TOKEN_ENV: &str = "PAYSWITCH_ADMIN_TOKEN";

/// The arguments of `loadgen acceptance` (docs/API.md §7 lists them with
/// their defaults); checked by [`run_acceptance`] before anything is sent.
#[derive(Debug, Clone, clap::Args)]
pub struct AcceptanceArgs {
    /// The switch's terminal API, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub url: String,
    /// The switch's admin API, e.g. http://127.0.0.1:8081.
    #[arg(long)]
    pub admin: String,
    /// A file holding the admin token (else the environment variable PAYSWITCH_ADMIN_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The gateway simulator's base URL (control API), e.g. http://127.0.0.1:9090.
    #[arg(long)]
    pub sim: String,
    /// An existing terminal to test (e.g. one of the switch's `[[terminals]]`);
    /// without it the acceptance creates one for the point-1 merchant.
    #[arg(long, requires = "secret_hex")]
    pub key_id: Option<String>,
    /// The secret of `--key-id`, 64 hex digits (or the environment variable
    /// LOADGEN_TERMINAL_SECRET_HEX).
    #[arg(long, env = "LOADGEN_TERMINAL_SECRET_HEX", hide_env_values = true)]
    pub secret_hex: Option<String>,
    /// The switch's configuration file, for point 5 (reconciliation and settlement).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The points to run, e.g. `1,2,3,4` (the others are reported as skipped).
    #[arg(long, default_value = "1,2,3,4,5")]
    pub points: String,
    /// Where the checklist goes.
    #[arg(long, default_value = "acceptance")]
    pub out: PathBuf,
    /// The checklist's language: en, zh, or both (two sets of files).
    #[arg(long, value_enum, default_value = "both")]
    pub lang: LangChoice,
    /// The gateway's fee rate of point 1's merchant, basis points (the rate
    /// in the acquirer's contract with Alipay: the bill's fees are checked
    /// against it by the reconciliation; the simulator's default is 60).
    #[arg(long, default_value_t = 60)]
    pub gateway_fee_bps: u32,
    /// The acquirer's rate to point 1's merchant, basis points.
    #[arg(long, default_value_t = 60)]
    pub merchant_fee_bps: u32,
    /// `wait` of POST /v1/pay, seconds (0 to 60).
    #[arg(long, default_value_t = 60)]
    pub pay_wait: u32,
    /// How long a trade may take to reach a final state (after the pay answer).
    #[arg(long, default_value = "120s")]
    pub settle: String,
}

/// A terminal of the switch: sends requests to the terminal API signed
/// `PSW1-HMAC-SHA256` with its key (docs/API.md §1), each with a fresh
/// timestamp and a nonce made of the run id, a counter and a random part.
///
/// Its `Debug` shows the base URL and key id only, never the secret.
pub struct TermClient {
    base: String,
    key_id: String,
    secret: Vec<u8>,
    http: Http,
    nonce: AtomicU64,
    run_id: String,
}

impl std::fmt::Debug for TermClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermClient")
            .field("base", &self.base)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// One HTTP exchange as the scenarios see it: the status and the body.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The answer's HTTP status; `None` when no answer came (connection
    /// refused or reset, time-out), the error then being in `body`.
    pub status: Option<u16>,
    /// The answer's body as JSON; a body that is not JSON is kept as a JSON
    /// string of its text, and a transport failure as a string naming it.
    pub body: Value,
}

impl Exchange {
    fn failed(e: impl std::fmt::Display) -> Self {
        Exchange {
            status: None,
            body: Value::String(e.to_string()),
        }
    }

    /// Whether an answer came with a 2xx status.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// The top-level string field `k` of the body; `None` when it is
    /// missing or not a string.
    pub fn str(&self, k: &str) -> Option<&str> {
        self.body.get(k).and_then(Value::as_str)
    }
}

impl TermClient {
    /// The terminal `key_id` of the switch at `base` (the terminal API, e.g.
    /// `http://127.0.0.1:8080`; a trailing `/` is dropped), signing with
    /// `secret_hex` (its 32-byte secret as 64 hex digits, surrounding
    /// white space ignored); `run_id` starts every nonce it sends.
    ///
    /// # Errors
    /// [`LoadgenError::Arg`] (for `--secret-hex`, the value not shown) when
    /// the secret is not 64 hex digits.
    pub fn new(
        base: &str,
        key_id: &str,
        secret_hex: &str,
        http: Http,
        run_id: &str,
    ) -> Result<Self> {
        let secret = hex::decode(secret_hex.trim())
            .ok()
            .filter(|s| s.len() == 32)
            .ok_or_else(|| {
                LoadgenError::arg(
                    "--secret-hex",
                    "(not shown)",
                    "must be 32 bytes as 64 hex digits",
                )
            })?;
        Ok(TermClient {
            base: base.trim_end_matches('/').to_string(),
            key_id: key_id.to_string(),
            secret,
            http,
            nonce: AtomicU64::new(0),
            run_id: run_id.to_string(),
        })
    }

    /// The terminal's key id (the `key_id` of its `Authorization` header).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Sends one signed request: `method` on `pq` (path and query, e.g.
    /// `/v1/pay?wait=30`) with `body` as JSON (none: an empty body), and
    /// never retries. Every outcome is an [`Exchange`]: a transport failure
    /// is one with no status.
    pub async fn call(&self, method: Method, pq: &str, body: Option<&Value>) -> Exchange {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        let r: u64 = rand::thread_rng().gen();
        let nonce = format!("{}n{n:x}r{r:016x}", self.run_id);
        let auth = terminal::header::authorization(
            &self.key_id,
            &self.secret,
            method.as_str(),
            pq,
            ts,
            &nonce,
            &bytes,
        );
        let url = format!("{}{pq}", self.base);
        match self
            .http
            .send(
                method,
                &url,
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ],
                Bytes::from(bytes),
            )
            .await
        {
            Ok(a) => Exchange {
                status: Some(a.status.as_u16()),
                body: serde_json::from_slice(&a.body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&a.body).into())),
            },
            Err(e) => Exchange::failed(e),
        }
    }
}

/// Masks an auth code for the report: every character but the last four
/// becomes `*` (`281234567890121003` → `**************1003`); a code of four
/// characters or fewer is unchanged.
pub fn mask_code(code: &str) -> String {
    let n = code.chars().count();
    let tail: String = code.chars().skip(n.saturating_sub(4)).collect();
    format!("{}{tail}", "*".repeat(n.saturating_sub(4)))
}

/// A copy of `v` fit for the report, at every depth: `auth_code` strings
/// masked by [`mask_code`], and the values of `secret_hex`,
/// `previous_secret_hex`, `token` and `password` replaced by
/// `"(not reported)"`.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match (k.as_str(), x) {
                        ("auth_code", Value::String(s)) => Value::String(mask_code(s)),
                        ("secret_hex" | "previous_secret_hex" | "token" | "password", _) => {
                            Value::String("(not reported)".into())
                        }
                        _ => redact(x),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// What every point shares: the targets, the run id and the run's limits,
/// made once by [`run_acceptance`] from the checked arguments.
pub struct Ctx {
    /// The HTTP client of every exchange (its time-out allows `pay_wait`
    /// plus 20 seconds).
    pub http: Http,
    /// The switch's terminal API, without a trailing `/`.
    pub url: String,
    /// The switch's admin API and its bearer token.
    pub admin: Admin,
    /// The simulator's base URL (its control API is under `/_sim/`).
    pub sim: String,
    /// `AC` and the start time in hexadecimal milliseconds: the external_id
    /// of point 1's merchant and the prefix of every out_trade_no, nonce and
    /// out_request_no of the run.
    pub run_id: String,
    /// `wait` of `POST /v1/pay`, seconds (0 to 60).
    pub pay_wait: u32,
    /// How long a trade may take to reach a final state after the pay
    /// answer (`--settle`).
    pub settle: Duration,
    /// The switch's configuration file, for point 5 (`--config`).
    pub config: Option<PathBuf>,
    /// The checklist's directory (point 5 writes the reconciliation there).
    pub out: PathBuf,
    /// Point 1's merchant's rates: gateway, merchant (basis points).
    pub fee_bps: (u32, u32),
}

impl Ctx {
    /// Calls the admin API (`method` on `path`, bearer token attached) and
    /// returns the redacted evidence of the exchange, labelled `step` and
    /// sourced `admin`, with the exchange itself (unredacted, for checks).
    pub async fn admin_call(
        &self,
        step: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Evidence, Exchange) {
        let x = match self
            .admin
            .call(&self.http, method.clone(), path, body)
            .await
        {
            Ok((st, v)) => Exchange {
                status: Some(st),
                body: v,
            },
            Err(e) => Exchange::failed(e),
        };
        (evidence("admin", step, &method, path, body, &x), x)
    }

    /// Calls the simulator's control API (`method` on `path` under
    /// [`Ctx::sim`], `body` as JSON): the redacted evidence (source
    /// `simulator`) and the exchange. A body that is not JSON reads as null.
    pub async fn sim_call(
        &self,
        step: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Evidence, Exchange) {
        let url = format!("{}{path}", self.sim);
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let x = match self
            .http
            .send(
                method.clone(),
                &url,
                &[("content-type", "application/json")],
                bytes,
            )
            .await
        {
            Ok(a) => Exchange {
                status: Some(a.status.as_u16()),
                body: serde_json::from_slice(&a.body).unwrap_or(Value::Null),
            },
            Err(e) => Exchange::failed(e),
        };
        (evidence("simulator", step, &method, path, body, &x), x)
    }

    /// A signed terminal API call by `t` (see [`TermClient::call`]): the
    /// redacted evidence (source `switch`) and the exchange.
    pub async fn term_call(
        &self,
        t: &TermClient,
        step: &str,
        method: Method,
        pq: &str,
        body: Option<&Value>,
    ) -> (Evidence, Exchange) {
        let x = t.call(method.clone(), pq, body).await;
        (evidence("switch", step, &method, pq, body, &x), x)
    }
}

/// The evidence of one exchange for the report: `source` (`switch`,
/// `admin`, `simulator`), what the `step` was for, the method, the path, and
/// the request and answer bodies passed through [`redact`].
pub fn evidence(
    source: &str,
    step: &str,
    method: &Method,
    path: &str,
    body: Option<&Value>,
    x: &Exchange,
) -> Evidence {
    Evidence {
        source: source.into(),
        step: step.into(),
        method: Some(method.to_string()),
        path: Some(path.into()),
        request: body.map(redact),
        status: x.status,
        answer: Some(redact(&x.body)),
    }
}

/// The points `--points` selects (e.g. `"4, 1,2"`), sorted: numbers 1 to 5
/// separated by commas, blanks and empty parts ignored.
///
/// # Errors
/// [`LoadgenError::Arg`] when a part is not a number from 1 to 5, a point
/// is given twice, or no point is given.
pub fn parse_points(s: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u8>() {
            Ok(n @ 1..=5) if !v.contains(&n) => v.push(n),
            _ => {
                return Err(LoadgenError::arg(
                    "--points",
                    s,
                    "a comma-separated list of the points 1 to 5",
                ))
            }
        }
    }
    if v.is_empty() {
        return Err(LoadgenError::arg("--points", s, "no point selected"));
    }
    v.sort_unstable();
    Ok(v)
}

fn read_token(a: &AcceptanceArgs) -> Result<String> {
    let t = match &a.token_file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| LoadgenError::io("cannot read the admin token file", p, e))?,
        None => std::env::var(TOKEN_ENV).map_err(|_| {
            LoadgenError::arg(
                "--token-file",
                "",
                "no admin token: give --token-file or set PAYSWITCH_ADMIN_TOKEN",
            )
        })?,
    };
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(LoadgenError::arg(
            "--token-file",
            "",
            "the admin token is empty",
        ));
    }
    Ok(t)
}

/// Fails with an error (exit 1) when a base URL does not answer `path`.
async fn reachable(http: &Http, base: &str, path: &str, what: &str) -> Result<()> {
    let url = format!("{base}{path}");
    match http.get(&url).await {
        Ok(a) if a.status.is_success() => Ok(()),
        Ok(a) => Err(LoadgenError::Target {
            url,
            reason: format!("{what}: HTTP {}", a.status.as_u16()),
        }),
        Err(e) => Err(LoadgenError::Target {
            url,
            reason: format!("{what} unreachable: {e}"),
        }),
    }
}

fn check_url(arg: &'static str, u: &str) -> Result<String> {
    let t = u.trim_end_matches('/');
    if !(t.starts_with("http://") || t.starts_with("https://")) || t.parse::<http::Uri>().is_err() {
        return Err(LoadgenError::arg(arg, u, "expected an http:// URL"));
    }
    Ok(t.to_string())
}

fn skipped(id: u8) -> Point {
    Point {
        id,
        key: points::key_of(id).into(),
        status: Status::Skipped,
        summary: "not selected (--points)".into(),
        summary_zh: "未选择（--points）".into(),
        checks: vec![],
        evidence: vec![],
        seconds: 0.0,
    }
}

/// `loadgen acceptance`: checks the arguments, checks that the switch's
/// terminal and admin APIs and the simulator answer, runs the selected
/// points in order (the others are reported as skipped), and writes the
/// checklist into `--out` (see [`report::write_all`]); prints one line per
/// point and the files written. `Ok(true)` when no selected point failed
/// and at least one passed (exit 0), `Ok(false)` otherwise (exit 2).
///
/// # Errors
/// - [`LoadgenError::Arg`]: a bad `--points`, `--settle`, fee rate (above
///   10000 bps) or `--pay-wait` (above 60); a URL that is not `http(s)://`;
///   no admin token, or an empty one; point 5 selected without `--config`;
///   `--key-id` without a valid `--secret-hex`.
/// - [`LoadgenError::Io`]: the token file cannot be read, or the checklist
///   cannot be written.
/// - [`LoadgenError::Target`]: the terminal API, the admin API or the
///   simulator does not answer its health check with a 2xx.
/// - [`LoadgenError::Format`]: the checklist cannot be serialised.
///
/// A point that fails is not an error: it is a FAIL in the checklist.
pub async fn run_acceptance(a: &AcceptanceArgs) -> Result<bool> {
    let selected = parse_points(&a.points)?;
    let settle = crate::spec::parse_duration("--settle", &a.settle)?;
    for (arg, v) in [
        ("--gateway-fee-bps", a.gateway_fee_bps),
        ("--merchant-fee-bps", a.merchant_fee_bps),
    ] {
        if v > 10_000 {
            return Err(LoadgenError::arg(arg, v.to_string(), "0 to 10000"));
        }
    }
    if a.pay_wait > 60 {
        return Err(LoadgenError::arg(
            "--pay-wait",
            a.pay_wait.to_string(),
            "0 to 60",
        ));
    }
    let url = check_url("--url", &a.url)?;
    let admin_url = check_url("--admin", &a.admin)?;
    let sim = check_url("--sim", &a.sim)?;
    let token = read_token(a)?;
    if selected.contains(&5) && a.config.is_none() {
        return Err(LoadgenError::arg(
            "--config",
            "",
            "point 5 runs the switch's reconciliation and settlement: give the switch's configuration file (or leave 5 out of --points)",
        ));
    }
    let run_id = crate::run::new_run_id().replacen("LG", "AC", 1);
    let http = Http::new(Duration::from_secs(u64::from(a.pay_wait) + 20));
    let quick = Http::new(Duration::from_secs(5));
    reachable(&quick, &url, "/healthz", "the switch's terminal API").await?;
    reachable(&quick, &admin_url, "/healthz", "the switch's admin API").await?;
    reachable(&quick, &sim, "/_sim/health", "the simulator's control API").await?;
    let given = match (&a.key_id, &a.secret_hex) {
        (Some(k), Some(s)) => Some(TermClient::new(&url, k, s, http.clone(), &run_id)?),
        (None, _) => None,
        (Some(_), None) => {
            return Err(LoadgenError::arg(
                "--secret-hex",
                "",
                "--key-id needs the terminal's secret",
            ))
        }
    };
    let ctx = Ctx {
        http,
        url: url.clone(),
        admin: Admin::new(admin_url.clone(), token),
        sim: sim.clone(),
        run_id: run_id.clone(),
        pay_wait: a.pay_wait,
        settle,
        config: a.config.clone(),
        out: a.out.clone(),
        fee_bps: (a.gateway_fee_bps, a.merchant_fee_bps),
    };
    let started = Instant::now();
    let started_at = crate::run::now_rfc3339();
    eprintln!(
        "loadgen acceptance: run {run_id} against {url} (admin {admin_url}, simulator {sim})"
    );
    let mut st = points::State::new(given);
    let mut out = Vec::new();
    for id in 1..=5u8 {
        if !selected.contains(&id) {
            out.push(skipped(id));
            continue;
        }
        let t0 = Instant::now();
        let mut p = points::run_point(&ctx, &mut st, id).await;
        p.seconds = (t0.elapsed().as_secs_f64() * 100.0).round() / 100.0;
        eprintln!(
            "loadgen acceptance: point {id} ({}) {:?}: {}",
            p.key, p.status, p.summary
        );
        out.push(p);
    }
    let passed = out.iter().all(|p| p.status != Status::Fail)
        && out.iter().any(|p| p.status == Status::Pass);
    let r = AcceptanceReport {
        schema: report::SCHEMA.into(),
        tool: "loadgen".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        run_id,
        started_at,
        duration_secs: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        target: TargetInfo {
            url,
            admin: admin_url,
            sim,
            config: a.config.as_ref().map(|p| p.display().to_string()),
            terminal: st.terminal_info(),
            merchant: st.merchant.clone(),
        },
        passed,
        points: out,
        notes: st.notes.clone(),
    };
    let w = report::write_all(&r, &a.out, a.lang)?;
    for p in &r.points {
        println!("point {} {:<15} {:?}", p.id, p.key, p.status);
    }
    println!(
        "acceptance {}: {}",
        if r.passed { "PASSED" } else { "NOT PASSED" },
        w.json.display()
    );
    for f in &w.rendered {
        println!("{}", f.display());
    }
    Ok(r.passed)
}

/// The evidence of a step that is not an HTTP exchange (a comparison, a
/// reconciliation's result): `answer` (redacted) under `source` and `step`,
/// with no method, path, request or status.
pub fn note_evidence(source: &str, step: &str, answer: Value) -> Evidence {
    Evidence {
        source: source.into(),
        step: step.into(),
        method: None,
        path: None,
        request: None,
        status: None,
        answer: Some(redact(&answer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_and_points() {
        let v = json!({"auth_code": "281234567890121003", "x": [{"secret_hex": "ab"}],
                       "nested": {"auth_code": "1004"}});
        let r = redact(&v);
        assert_eq!(r["auth_code"], "**************1003");
        assert_eq!(r["x"][0]["secret_hex"], "(not reported)");
        assert_eq!(r["nested"]["auth_code"], "1004");
        assert!(!r.to_string().contains("2812345678"));
        assert_eq!(parse_points("4, 1,2").unwrap(), vec![1, 2, 4]);
        assert!(parse_points("0").is_err());
        assert!(parse_points("1,1").is_err());
        assert!(parse_points("").is_err());
        assert!(check_url("--url", "localhost:1").is_err());
        assert_eq!(
            check_url("--url", "http://127.0.0.1:1/").unwrap(),
            "http://127.0.0.1:1"
        );
    }
}
