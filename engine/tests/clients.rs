//! The terminal client libraries of clients/ (Python, Java, Node) against a
//! live switch and simulator on loopback.
//!
//! For each language: its unit tests (the shared signing vectors of
//! clients/testdata, retries against a scripted server, typed errors), then
//! its example (pay, query, refund) twice with a terminal provisioned through
//! the admin API: once straight to the switch, once through a faulty front
//! ([`Front`]) that forwards the first pay and the first refund but drops
//! their answers (the connection is closed), and answers the first query
//! `503 switch_busy` with `Retry-After: 1` itself. The example must exit 0
//! both times; then the front's record must show every retry was the same
//! body under a fresh nonce (and the Retry-After waited), and the switch's
//! answer, the simulator's ledger and the journal must agree: one payment of
//! the amount at the gateway, one refund of the refund amount.
//!
//! A language whose runtime is missing (python3; javac and java; node 20+)
//! is skipped with the reason printed, except under CI=true, where that is
//! a failure (.ci/run checks for them and installs Debian's packages when
//! missing). `PAYSWITCH_CLIENTS_PYTHON` names a Python with the package
//! pip-installed (.ci/run makes one); then nothing is put on PYTHONPATH, so
//! the installed package is what runs. Every child process runs under a
//! time limit and is killed on drop; temporary files live in temp dirs.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::journal::{cents, read_journal};
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};

/// How long one child process (a compile, a unit test run, an example) may take.
const STEP_LIMIT: Duration = Duration::from_secs(180);
const AMOUNT: &str = "12.34";
const REFUND: &str = "2.30";

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients")
}

fn vectors_path() -> PathBuf {
    clients_dir().join("testdata/signing-vectors.json")
}

// ---------------------------------------------------------------- the vectors

/// The vectors every client's unit tests check their signer against are the
/// engine's own: its string to sign, its signature, a header its parser reads.
#[test]
fn the_signing_vectors_are_the_engines() {
    let doc: Value = serde_json::from_slice(&std::fs::read(vectors_path()).unwrap()).unwrap();
    let vectors = doc["vectors"].as_array().expect("a vectors array");
    assert!(vectors.len() >= 4, "{doc}");
    let mut names = BTreeSet::new();
    for v in vectors {
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"));
        assert!(names.insert(s("name")), "two vectors named {}", s("name"));
        let secret = hex::decode(s("secret_hex")).unwrap();
        let ts = v["ts"].as_i64().unwrap();
        let body = s("body").as_bytes();
        let (method, pq, nonce) = (s("method"), s("path_and_query"), s("nonce"));
        assert_eq!(
            engine::api::auth::string_to_sign(method, pq, ts, nonce, body),
            s("string_to_sign"),
            "{}",
            s("name")
        );
        let sig = engine::api::auth::sign(&secret, method, pq, ts, nonce, body);
        assert_eq!(sig, s("sig"), "{}", s("name"));
        let header =
            engine::api::auth::parse_header(s("authorization")).expect("the header parses");
        assert_eq!(
            (header.key, header.ts, header.nonce, header.sig),
            (s("key_id"), ts, nonce, sig.as_str())
        );
    }
}

// ---------------------------------------------------------------- child processes

/// Why a child process gave no result.
#[derive(Debug)]
enum RunError {
    Spawn {
        what: String,
        source: std::io::Error,
    },
    TimedOut {
        what: String,
        limit: Duration,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Spawn { what, source } => write!(f, "{what} did not start: {source}"),
            RunError::TimedOut { what, limit } => write!(f, "{what} ran over {limit:?}"),
        }
    }
}

impl std::error::Error for RunError {}

struct Ran {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// A command: program, arguments, environment, working directory.
#[derive(Clone)]
struct Cmd {
    what: String,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(String, OsString)>,
    cwd: PathBuf,
}

impl Cmd {
    fn new(what: &str, program: impl Into<OsString>, cwd: &Path) -> Cmd {
        Cmd {
            what: what.to_owned(),
            program: program.into(),
            args: vec![],
            env: vec![],
            cwd: cwd.to_owned(),
        }
    }

    fn arg(mut self, a: impl Into<OsString>) -> Cmd {
        self.args.push(a.into());
        self
    }

    fn args_from(mut self, args: &[&str]) -> Cmd {
        self.args.extend(args.iter().map(OsString::from));
        self
    }

    fn env(mut self, k: &str, v: impl Into<OsString>) -> Cmd {
        self.env.push((k.to_owned(), v.into()));
        self
    }

    async fn run(&self) -> Result<Ran, RunError> {
        let mut c = tokio::process::Command::new(&self.program);
        c.args(&self.args)
            .current_dir(&self.cwd)
            // What a developer's shell may carry must not reach the examples.
            .env_remove("PAYSWITCH_URL")
            .env_remove("PAYSWITCH_KEY_ID")
            .env_remove("PAYSWITCH_SECRET_HEX")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let t0 = Instant::now();
        let child = c.spawn().map_err(|source| RunError::Spawn {
            what: self.what.clone(),
            source,
        })?;
        let out = tokio::time::timeout(STEP_LIMIT, child.wait_with_output())
            .await
            .map_err(|_| RunError::TimedOut {
                what: self.what.clone(),
                limit: STEP_LIMIT,
            })?
            .map_err(|source| RunError::Spawn {
                what: self.what.clone(),
                source,
            })?;
        Ok(Ran {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: t0.elapsed(),
        })
    }

    /// Runs it and requires exit 0.
    async fn must_pass(&self) -> Ran {
        let r = self.run().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            r.ok,
            "{} failed (exit {:?}) in {:.1} s\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            r.code,
            r.took.as_secs_f64(),
            r.stdout,
            r.stderr
        );
        eprintln!("{}: ok in {:.1} s", self.what, r.took.as_secs_f64());
        r
    }
}

/// Whether `program args` runs and exits 0; its output.
fn probe(program: &OsString, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// None (and a printed reason) when a runtime is missing; under CI=true a
/// missing runtime fails the test instead.
fn require(lang: &str, missing: Vec<String>) -> Option<()> {
    if missing.is_empty() {
        return Some(());
    }
    let why = format!("the {lang} client needs {}", missing.join(" and "));
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why}: under CI=true the {lang} client must be tested (.ci/run installs it)"
    );
    eprintln!("skipped: {why}");
    None
}

// ---------------------------------------------------------------- the languages

/// One client library: how to run its unit tests and its example.
struct Client {
    name: &'static str,
    /// The out_trade_no prefix of its runs.
    prefix: &'static str,
    /// Compiles and unit tests, in order.
    checks: Vec<Cmd>,
    /// The example; the test appends --url, --key-id, --out-trade-no, ...
    example: Cmd,
    /// Build output (Java classes), removed on drop.
    _tmp: tempfile::TempDir,
}

fn python() -> Option<Client> {
    let tmp = tempfile::tempdir().unwrap();
    let installed = std::env::var_os("PAYSWITCH_CLIENTS_PYTHON");
    let py = installed.clone().unwrap_or_else(|| "python3".into());
    let version = probe(
        &py,
        &["-c", "import sys; print(sys.version_info >= (3, 8))"],
    );
    let missing = match version.as_deref().map(str::trim) {
        Some("True") => vec![],
        Some(_) => vec![format!("Python 3.8 or later ({py:?} is older)")],
        None => vec![format!("{py:?} (python3)")],
    };
    require("Python", missing)?;
    let dir = clients_dir().join("python");
    // From a temp dir, so that an installed package is what gets imported;
    // else the source tree is put on the path.
    let with_path = |c: Cmd| match &installed {
        Some(_) => c,
        None => c.env("PYTHONPATH", &dir),
    };
    let checks = vec![with_path(
        Cmd::new("python unit tests", &py, tmp.path())
            .args_from(&["-m", "unittest", "discover", "-v", "-s"])
            .arg(dir.join("tests"))
            .env("PAYSWITCH_SIGNING_VECTORS", vectors_path()),
    )];
    let example = with_path(
        Cmd::new("python example", &py, tmp.path()).arg(dir.join("examples/pay_query_refund.py")),
    );
    Some(Client {
        name: "python",
        prefix: "PY",
        checks,
        example,
        _tmp: tmp,
    })
}

fn java_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            java_sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "java") {
            out.push(p);
        }
    }
}

fn java() -> Option<Client> {
    let (javac, java): (OsString, OsString) = ("javac".into(), "java".into());
    let mut missing = vec![];
    if probe(&javac, &["-version"]).is_none() {
        missing.push("javac (a JDK 17)".to_owned());
    }
    match probe(&java, &["-version"]) {
        None => missing.push("java".to_owned()),
        Some(v) if !java_17_or_later(&v) => missing.push(format!("Java 17 or later (found {v:?})")),
        Some(_) => {}
    }
    require("Java", missing)?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = clients_dir().join("java");
    let classes = tmp.path().join("classes");
    let mut sources = vec![];
    java_sources(&dir.join("src"), &mut sources);
    java_sources(&dir.join("examples"), &mut sources);
    sources.sort();
    let mut compile = Cmd::new("javac", &javac, tmp.path())
        .args_from(&["-Xlint:all", "-Werror", "-encoding", "UTF-8", "-d"])
        .arg(&classes);
    for s in sources {
        compile = compile.arg(s);
    }
    let unit = Cmd::new("java unit tests", &java, tmp.path())
        .arg("-cp")
        .arg(&classes)
        .arg("com.payswitch.client.ClientTests")
        .arg(vectors_path());
    let example = Cmd::new("java example", &java, tmp.path())
        .arg("-cp")
        .arg(&classes)
        .arg("Example");
    Some(Client {
        name: "java",
        prefix: "JAVA",
        checks: vec![compile, unit],
        example,
        _tmp: tmp,
    })
}

/// `java -version` prints `openjdk version "17.0.15"` (or `"1.8.0_..."`).
fn java_17_or_later(version_text: &str) -> bool {
    let Some(v) = version_text.split('"').nth(1) else {
        return false;
    };
    let major = if let Some(rest) = v.strip_prefix("1.") {
        rest.split('.').next()
    } else {
        v.split(['.', '-', '+']).next()
    };
    major
        .and_then(|m| m.parse::<u32>().ok())
        .is_some_and(|m| m >= 17)
}

fn node() -> Option<Client> {
    let node: OsString = "node".into();
    let major = probe(&node, &["--version"]).and_then(|v| {
        v.trim()
            .trim_start_matches('v')
            .split('.')
            .next()?
            .parse::<u32>()
            .ok()
    });
    let missing = match major {
        Some(m) if m >= 20 => vec![],
        Some(m) => vec![format!("Node 20 or later (found {m})")],
        None => vec!["node (Node 20 or later)".to_owned()],
    };
    require("Node", missing)?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = clients_dir().join("node");
    let unit = Cmd::new("node unit tests", &node, tmp.path())
        .arg("--test")
        .arg(dir.join("test/signing.test.mjs"))
        .arg(dir.join("test/client.test.mjs"))
        .env("PAYSWITCH_SIGNING_VECTORS", vectors_path());
    let example =
        Cmd::new("node example", &node, tmp.path()).arg(dir.join("examples/pay-query-refund.mjs"));
    Some(Client {
        name: "node",
        prefix: "NODE",
        checks: vec![unit],
        example,
        _tmp: tmp,
    })
}

// ---------------------------------------------------------------- the faulty front

/// What the front did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Forwarded, answered as the switch answered.
    None,
    /// Forwarded; the switch's answer was dropped and the connection closed.
    AnswerDropped,
    /// Not forwarded: answered 503 `switch_busy`, `Retry-After: 1`.
    Busy,
}

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    pq: String,
    nonce: String,
    body: Bytes,
    at: Instant,
    fault: Fault,
}

/// The faults still to inject.
struct Budget {
    drop_pay_answers: u32,
    drop_refund_answers: u32,
    busy_queries: u32,
}

struct FrontState {
    upstream: String,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    budget: parking_lot::Mutex<Budget>,
    seen: parking_lot::Mutex<Vec<Seen>>,
}

/// The error that makes hyper close a connection without an answer.
#[derive(Debug)]
struct AnswerDropped;

impl std::fmt::Display for AnswerDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the front dropped the answer")
    }
}

impl std::error::Error for AnswerDropped {}

/// A reverse proxy on loopback in front of the switch, with faults.
struct Front {
    url: String,
    state: Arc<FrontState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn nonce_of(auth: &str) -> String {
    auth.split(',')
        .find_map(|p| p.trim().strip_prefix("nonce="))
        .unwrap_or_default()
        .to_owned()
}

/// `/v1/trades/{no}` exactly (a trade query, not a refund's).
fn is_trade_query(method: &str, pq: &str) -> bool {
    let path = pq.split('?').next().unwrap_or_default();
    method == "GET" && path.starts_with("/v1/trades/") && path.matches('/').count() == 3
}

async fn front_handle(
    st: Arc<FrontState>,
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, AnswerDropped> {
    let method = req.method().as_str().to_owned();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|_| AnswerDropped)?
        .to_bytes();
    let fault = {
        let mut b = st.budget.lock();
        let path = pq.split('?').next().unwrap_or_default();
        if method == "POST" && path == "/v1/pay" && b.drop_pay_answers > 0 {
            b.drop_pay_answers -= 1;
            Fault::AnswerDropped
        } else if method == "POST" && path.ends_with("/refunds") && b.drop_refund_answers > 0 {
            b.drop_refund_answers -= 1;
            Fault::AnswerDropped
        } else if is_trade_query(&method, &pq) && b.busy_queries > 0 {
            b.busy_queries -= 1;
            Fault::Busy
        } else {
            Fault::None
        }
    };
    st.seen.lock().push(Seen {
        method: method.clone(),
        pq: pq.clone(),
        nonce: auth.as_deref().map(nonce_of).unwrap_or_default(),
        body: body.clone(),
        at: Instant::now(),
        fault,
    });
    if fault == Fault::Busy {
        let answer = json!({"error": {"code": "switch_busy",
            "message": "the front stands in for a busy switch; nothing was sent, retry shortly"}});
        let mut r = http::Response::new(Full::new(Bytes::from(answer.to_string())));
        *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        r.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
        return Ok(r);
    }
    let mut up = http::Request::builder()
        .method(method.as_str())
        .uri(format!("{}{pq}", st.upstream))
        .header(http::header::CONTENT_TYPE, "application/json");
    if let Some(a) = &auth {
        up = up.header(http::header::AUTHORIZATION, a);
    }
    let up = up.body(Full::new(body)).map_err(|_| AnswerDropped)?;
    let resp = tokio::time::timeout(Duration::from_secs(90), st.client.request(up))
        .await
        .map_err(|_| AnswerDropped)?
        .map_err(|_| AnswerDropped)?;
    let status = resp.status();
    let ctype = resp.headers().get(http::header::CONTENT_TYPE).cloned();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| AnswerDropped)?
        .to_bytes();
    if fault == Fault::AnswerDropped {
        // The switch did the work; the terminal never hears of it.
        return Err(AnswerDropped);
    }
    let mut r = http::Response::new(Full::new(bytes));
    *r.status_mut() = status;
    if let Some(c) = ctype {
        r.headers_mut().insert(http::header::CONTENT_TYPE, c);
    }
    Ok(r)
}

async fn front(upstream: &str) -> Front {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(FrontState {
        upstream: upstream.to_owned(),
        client: http_client(),
        budget: parking_lot::Mutex::new(Budget {
            drop_pay_answers: 1,
            drop_refund_answers: 1,
            busy_queries: 1,
        }),
        seen: parking_lot::Mutex::new(Vec::new()),
    });
    let st = state.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let st = st.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| front_handle(st.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Front { url, state, task }
}

// ---------------------------------------------------------------- the lab

/// The simulator, the switch (in-process, with an admin listener and a
/// registry key) and the admin API as a [`Term`].
struct Lab {
    sim: simulator::SimHandle,
    sw: engine::Running,
    base: String,
    admin: Term,
    dir: tempfile::TempDir,
}

fn admin_section(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let key = dir.join("registry.key");
    std::fs::write(&key, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!(
        "\n[admin]\nlisten = \"127.0.0.1:{}\"\ntoken_sha256 = [\"{}\"]\nsecret_key_file = \"registry.key\"\n",
        free_port(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(OPS_TOKEN.as_bytes()))
    )
}

async fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let admin_text = admin_section(dir.path());
    let (sw, base) = switch_with(dir.path(), &sim, "", |t| t + &admin_text).await;
    let admin = ops(&sw);
    Lab {
        sim,
        sw,
        base,
        admin,
        dir,
    }
}

async fn admin_call(admin: &Term, method: &str, path: &str, body: &Value) -> (u16, Value) {
    admin
        .raw(
            method,
            path,
            body.to_string().into_bytes(),
            Some(format!("Bearer {OPS_TOKEN}")),
        )
        .await
        .expect("the admin API answers")
}

/// A merchant (onboarded at the simulator), a store and a terminal for
/// `lang`: (key id, secret hex, terminal id).
async fn provision(admin: &Term, lang: &str) -> (String, String, String) {
    let merchant = format!("CLIENTS_{}", lang.to_uppercase());
    let (s, m) = admin_call(
        admin,
        "POST",
        "/admin/v1/merchants",
        &json!({
            "external_id": merchant, "name": "客户端测试店", "alias_name": "测试店",
            "service_phone": "021-12345678", "category_id": "2015050700000000",
            "contact_info": [{"name": "张三", "type": "LEGAL_PERSON", "mobile": "13800000000"}],
            "service_codes": ["F2F"], "gateway_fee_bps": 60, "merchant_fee_bps": 60,
        }),
    )
    .await;
    assert_eq!(s, 201, "{m}");
    let (s, v) = admin_call(
        admin,
        "POST",
        &format!("/admin/v1/merchants/{merchant}/stores"),
        &json!({"store_id": "ST_CLIENTS", "name": "客户端测试门店"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let terminal_id = format!("POS_{}", lang.to_uppercase());
    let (s, t) = admin_call(
        admin,
        "POST",
        &format!("/admin/v1/merchants/{merchant}/terminals"),
        &json!({"store_id": "ST_CLIENTS", "terminal_id": terminal_id, "rate_per_sec": 1000}),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let key = t["key_id"].as_str().expect("key_id").to_owned();
    let secret = t["secret_hex"].as_str().expect("secret_hex").to_owned();
    assert_eq!(secret.len(), 64);
    (key, secret, terminal_id)
}

/// The example's JSON line (its last line on stdout).
fn summary(ran: &Ran) -> Value {
    let line = ran.stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "the example's last line is not JSON ({e}):\n{}\n{}",
            ran.stdout, ran.stderr
        )
    })
}

/// One example run: `no` paid AMOUNT, refunded REFUND as `{no}_R1`, as the
/// example says, as the switch says and as the gateway's ledger says.
async fn run_example(
    c: &Client,
    lab: &Lab,
    url: &str,
    key: &str,
    secret: &str,
    no: &str,
) -> (Value, Ran) {
    let cmd = c
        .example
        .clone()
        .arg("--url")
        .arg(url)
        .arg("--key-id")
        .arg(key)
        .arg("--out-trade-no")
        .arg(no)
        .arg("--amount")
        .arg(AMOUNT)
        .arg("--refund-amount")
        .arg(REFUND)
        .env("PAYSWITCH_SECRET_HEX", secret);
    let ran = cmd.must_pass().await;
    let all = format!("{}{}", ran.stdout, ran.stderr);
    assert!(
        !all.contains(secret),
        "{}: the secret appeared in the output",
        c.name
    );
    let s = summary(&ran);
    assert_eq!(s["client"], c.name, "{s}");
    assert_eq!(s["out_trade_no"], no, "{s}");
    assert_eq!(s["status"], "SUCCESS", "{s}");
    assert_eq!(s["total_amount"], AMOUNT, "{s}");
    assert_eq!(s["refunded_amount"], REFUND, "{s}");
    assert_eq!(s["refund"]["out_request_no"], format!("{no}_R1"), "{s}");
    assert_eq!(s["refund"]["status"], "SUCCESS", "{s}");
    assert_eq!(s["refund"]["refund_amount"], REFUND, "{s}");

    // The switch, asked by the harness's own signer with the same terminal.
    let mut t = Term::new(&lab.base);
    t.key = key.to_owned();
    t.secret = hex::decode(secret).unwrap().try_into().unwrap();
    let (st, trade) = t.get(no).await;
    assert_eq!(st, 200, "{trade}");
    assert_eq!(trade["status"], "SUCCESS", "{trade}");
    assert_eq!(trade["trade_no"], s["trade_no"], "{trade} vs {s}");
    assert_eq!(trade["refunded_amount"], REFUND, "{trade}");
    let gateway_no = trade["gateway_out_trade_no"]
        .as_str()
        .expect("an onboarded merchant's trade has its gateway number")
        .to_owned();
    assert_eq!(s["gateway_out_trade_no"], gateway_no.as_str(), "{s}");

    // The gateway's ledger: one payment, one refund.
    let (ls, ledger) = sim_trade(&lab.sim, &gateway_no).await;
    assert_eq!(ls, 200, "{ledger}");
    assert_eq!(ledger["status"], "TRADE_SUCCESS", "{ledger}");
    assert_eq!(
        ledger["pay_count"], 1,
        "one payment at the gateway: {ledger}"
    );
    assert_eq!(cents(&ledger["total_amount"]), cents(&json!(AMOUNT)));
    assert_eq!(cents(&ledger["refunded_amount"]), cents(&json!(REFUND)));
    let refunds = ledger["refunds"].as_array().expect("refunds");
    assert_eq!(refunds.len(), 1, "one refund at the gateway: {ledger}");
    assert_eq!(cents(&refunds[0]["refund_amount"]), cents(&json!(REFUND)));
    assert_eq!(
        ledger["trade_no"], s["trade_no"],
        "the example's trade_no is the gateway's"
    );
    (
        json!({"summary": s, "gateway_no": gateway_no, "ledger": ledger}),
        ran,
    )
}

/// What the front saw for `no`, in order.
fn seen_for(f: &Front, no: &str) -> Vec<Seen> {
    f.state
        .seen
        .lock()
        .iter()
        .filter(|s| s.pq.contains(no) || s.body.windows(no.len()).any(|w| w == no.as_bytes()))
        .cloned()
        .collect()
}

/// Every attempt of one request: the same bytes, a fresh nonce; at least one
/// repeat after the fault.
fn same_request_retried(seen: &[Seen], what: &str, field: &str, value: &str) {
    assert!(
        seen.len() >= 2,
        "{what}: the dropped answer was not retried: {seen:?}"
    );
    assert_eq!(
        seen[0].fault,
        Fault::AnswerDropped,
        "{what}: the first attempt's answer was dropped"
    );
    let bodies: BTreeSet<&[u8]> = seen.iter().map(|s| s.body.as_ref()).collect();
    assert_eq!(bodies.len(), 1, "{what}: every attempt sends the same body");
    let doc: Value = serde_json::from_slice(&seen[0].body).expect("a JSON body");
    assert_eq!(doc[field], value, "{what}: {doc}");
    let nonces: BTreeSet<&str> = seen.iter().map(|s| s.nonce.as_str()).collect();
    assert_eq!(
        nonces.len(),
        seen.len(),
        "{what}: every attempt has its own nonce"
    );
    assert!(nonces.iter().all(|n| n.len() >= 16), "{what}: {nonces:?}");
}

async fn exercise(c: Client) {
    for check in &c.checks {
        check.must_pass().await;
    }
    let lab = lab().await;
    let (key, secret, terminal_id) = provision(&lab.admin, c.name).await;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();

    // 1. Straight to the switch.
    let direct_no = format!("{}_{stamp}_1", c.prefix);
    let (direct, _) = run_example(&c, &lab, &lab.base, &key, &secret, &direct_no).await;
    assert_eq!(direct["ledger"]["terminal_id"], terminal_id.as_str());

    // 2. Through the faulty front: a lost pay answer, a lost refund answer,
    // a busy query.
    let f = front(&lab.base).await;
    let faulty_no = format!("{}_{stamp}_2", c.prefix);
    let (faulty, ran) = run_example(&c, &lab, &f.url, &key, &secret, &faulty_no).await;
    let seen = seen_for(&f, &faulty_no);
    let pays: Vec<Seen> = seen
        .iter()
        .filter(|s| s.method == "POST" && s.pq.starts_with("/v1/pay"))
        .cloned()
        .collect();
    same_request_retried(&pays, "pay", "out_trade_no", &faulty_no);
    let refunds: Vec<Seen> = seen
        .iter()
        .filter(|s| s.method == "POST" && s.pq.ends_with("/refunds"))
        .cloned()
        .collect();
    same_request_retried(
        &refunds,
        "refund",
        "out_request_no",
        &format!("{faulty_no}_R1"),
    );
    let queries: Vec<&Seen> = seen
        .iter()
        .filter(|s| is_trade_query(&s.method, &s.pq))
        .collect();
    let busy = queries
        .iter()
        .position(|s| s.fault == Fault::Busy)
        .expect("the first query was answered busy");
    let next = queries
        .get(busy + 1)
        .expect("the busy query was asked again");
    assert!(
        next.at.duration_since(queries[busy].at) >= Duration::from_millis(950),
        "Retry-After: 1 was not waited ({:?})",
        next.at.duration_since(queries[busy].at)
    );
    assert_ne!(next.nonce, queries[busy].nonce);
    eprintln!(
        "{}: through the faulty front: {} pay attempts, {} refund attempts, the busy query asked again after {:.2} s\n{}",
        c.name,
        pays.len(),
        refunds.len(),
        next.at.duration_since(queries[busy].at).as_secs_f64(),
        ran.stderr.trim_end()
    );
    drop(f);

    // The journal, once the switch has stopped: each trade once, paid and
    // refunded once.
    let Lab { sim, sw, dir, .. } = lab;
    sw.shutdown().await.unwrap();
    sim.shutdown().await;
    let (trades, refunds) = read_journal(&dir.path().join("journal.db"));
    for run in [&direct, &faulty] {
        let gw = run["gateway_no"].as_str().unwrap();
        let t = trades
            .get(gw)
            .unwrap_or_else(|| panic!("{gw} not in the journal: {trades:?}"));
        assert_eq!(t.status, "SUCCESS", "{t:?}");
        assert_eq!(t.total, cents(&json!(AMOUNT)), "{t:?}");
        assert_eq!(Some(t.refunded), cents(&json!(REFUND)), "{t:?}");
        let r = refunds
            .get(gw)
            .unwrap_or_else(|| panic!("no refund of {gw} in the journal: {refunds:?}"));
        assert_eq!(r.len(), 1, "one refund: {r:?}");
        assert_eq!(r[0].status, "SUCCESS", "{r:?}");
        assert_eq!(r[0].amount, cents(&json!(REFUND)), "{r:?}");
        assert!(
            r[0].req.ends_with("_R1"),
            "the refund's out_request_no: {r:?}"
        );
    }
    assert_eq!(trades.len(), 2, "only the example's two trades: {trades:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_pays_queries_and_refunds_against_the_switch() {
    let Some(c) = python() else { return };
    exercise(c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_client_pays_queries_and_refunds_against_the_switch() {
    let Some(c) = java() else { return };
    exercise(c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_client_pays_queries_and_refunds_against_the_switch() {
    let Some(c) = node() else { return };
    exercise(c).await;
}

#[test]
fn java_versions_are_read() {
    assert!(java_17_or_later("openjdk version \"17.0.15\" 2025-04-15"));
    assert!(java_17_or_later("openjdk version \"21\" 2023-09-19"));
    assert!(!java_17_or_later("java version \"1.8.0_392\""));
    assert!(!java_17_or_later("openjdk version \"11.0.2\""));
    assert!(!java_17_or_later("no version"));
}
