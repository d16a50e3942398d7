//! Test harness: the real simulator in-process, the switch (library or the
//! real `payswitch` binary) on loopback, and a terminal client that signs
//! requests the way docs/API.md §1 says.
#![allow(dead_code)]

pub mod console;
pub mod journal;
pub mod pg;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::Value;

pub const SECRET: [u8; 32] = [0x5a; 32];
/// The admin token of the operator listener every test config carries
/// (`/metrics` and `/readyz` live there, not on the terminal listener).
pub const OPS_TOKEN: &str = "ops-token-for-the-tests";
pub const SECRET2: [u8; 32] = [0x33; 32];

/// Starts the simulator: time scale 100, a short hold for 9001.
pub async fn sim() -> simulator::SimHandle {
    let mut c = simulator::SimConfig::demo();
    c.time_scale = 100.0;
    c.client_timeout_hint = Duration::from_millis(1500);
    simulator::start(c).await.expect("simulator starts")
}

pub fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/keys")
}

/// Copies the demo keys into `dir` with mode 0600.
pub fn install_keys(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for f in ["demo-app-private.pem", "demo-alipay-public.pem"] {
        let to = dir.join(f);
        std::fs::copy(keys_dir().join(f), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// A free loopback port for a process started next, below the kernel's
/// ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`) where that
/// leaves room: bind(0) hands out ports of that range, the same ports that
/// outgoing connections take as their source, so a process restarted on its
/// port could find it held by one of them (`Address already in use`).
/// Consecutive calls in one process give distinct ports (a counter from a
/// per-process start); each is checked free by binding it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    const FLOOR: u32 = 10_000;
    if low >= FLOOR + 2_000 {
        let span = low - FLOOR;
        let _ = NEXT.compare_exchange(
            u32::MAX,
            std::process::id().wrapping_mul(7_919) % span,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        for _ in 0..span.min(2_000) {
            let port = FLOOR + NEXT.fetch_add(1, Ordering::SeqCst) % span;
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A config for tests: fast polls (50 ms), 1 s gateway time-out.
pub fn config_text(
    listen: &str,
    gateway_url: &str,
    notify_url: &str,
    extra_policy: &str,
) -> String {
    format!(
        r#"
allow_insecure_gateway = true

[server]
listen = ["{listen}"]
max_body_bytes = 8192
header_read_timeout_ms = 2000
shutdown_grace_ms = 3000
relay_allow_private_addresses = true

[gateway]
url = "{gateway_url}"
app_id = "2021000000000001"
app_private_key_file = "demo-app-private.pem"
alipay_public_key_file = "demo-alipay-public.pem"
notify_url = "{notify_url}"
connect_timeout_ms = 500
request_timeout_ms = 1000
breaker_failures = 1000
breaker_cooldown_ms = 500

[policy]
poll_interval_ms = 50
poll_count = 12
unknown_retry_initial_ms = 50
unknown_retry_max_ms = 400
{extra_policy}

[store]
path = "journal.db"

[[terminals]]
key_id = "T1"
secret_hex = "{}"
smid = "2088000000000001"
store_id = "NJ_001"
terminal_id = "POS_01"
rate_per_sec = 100000

[[terminals]]
key_id = "T2"
secret_hex = "{}"
store_id = "SH_001"
rate_per_sec = 1
burst = 3

[admin]
listen = "127.0.0.1:{ops_port}"
token_sha256 = ["{ops_token_sha}"]
"#,
        hex::encode(SECRET),
        hex::encode(SECRET2),
        ops_port = free_port(),
        ops_token_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(OPS_TOKEN.as_bytes())),
    )
}

/// The operator (admin) listener of an in-process switch, as a [`Term`].
pub fn ops(r: &engine::Running) -> Term {
    Term::new(&format!(
        "http://{}",
        r.admin_addr()
            .expect("the test config has an operator listener")
    ))
}

/// When a test appended its own `[admin]` section, the default operator
/// listener of [`config_text`] gives way to it.
fn own_admin_wins(text: &str) -> String {
    let marker = "\n[admin]\n";
    if text.matches(marker).count() < 2 {
        return text.to_owned();
    }
    let Some(i) = text.find(marker) else {
        return text.to_owned();
    };
    let rest = &text[i + marker.len()..];
    let end = rest
        .find("\n[")
        .map_or(text.len(), |j| i + marker.len() + j);
    format!("{}{}", &text[..i], &text[end..])
}

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let text = &own_admin_wins(text);
    install_keys(dir);
    let p = dir.join("payswitch.toml");
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// The switch in-process, against `sim`. Returns the running switch and its base URL.
pub async fn switch_in_process(
    dir: &Path,
    sim: &simulator::SimHandle,
) -> (engine::Running, String) {
    let port = free_port();
    let text = config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        "",
    );
    let path = write_config(dir, &text);
    let cfg = engine::Config::load(&path).expect("config loads");
    let r = engine::start(cfg).await.expect("switch starts");
    let addr: SocketAddr = r.local_addrs()[0];
    (r, format!("http://{addr}"))
}

/// A config whose terminal listener on `port` speaks TLS with the
/// `cert.pem` / `key.pem` that [`make_test_certs`] wrote beside it.
pub fn tls_config_text(sim: &simulator::SimHandle, port: u16) -> String {
    config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("https://localhost:{port}/notify/alipay"),
        "",
    )
    .replace(
        "[server]\n",
        "[server]\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n",
    )
}

pub fn http_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn nonce() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A terminal.
#[derive(Clone)]
pub struct Term {
    pub key: String,
    pub secret: [u8; 32],
    pub base: String,
    pub client: Client<HttpConnector, Full<Bytes>>,
}

impl Term {
    pub fn new(base: &str) -> Term {
        Term {
            key: "T1".into(),
            secret: SECRET,
            base: base.to_owned(),
            client: http_client(),
        }
    }

    /// The same terminal speaking HTTP/2 (h2c, prior knowledge).
    pub fn new_h2(base: &str) -> Term {
        let mut t = Term::new(base);
        t.client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        t
    }

    pub fn auth_header(&self, method: &str, pq: &str, body: &[u8], ts: i64, nonce: &str) -> String {
        terminal::header::authorization(&self.key, &self.secret, method, pq, ts, nonce, body)
    }

    /// A signed request; Err on a transport error.
    pub async fn try_call(
        &self,
        method: &str,
        pq: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let h = self.auth_header(method, pq, &bytes, unix_now(), &nonce());
        self.raw(method, pq, bytes, Some(h)).await
    }

    pub async fn call(&self, method: &str, pq: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, pq, body)
            .await
            .expect("switch answers")
    }

    pub async fn raw(
        &self,
        method: &str,
        pq: &str,
        bytes: Vec<u8>,
        auth: Option<String>,
    ) -> Result<(u16, Value), String> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{pq}", self.base))
            .header("content-type", "application/json");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        let req = b.body(Full::new(Bytes::from(bytes))).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(90), self.client.request(req))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let v = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, v))
    }

    pub async fn pay(&self, no: &str, auth_code: &str, amount: &str, wait: u32) -> (u16, Value) {
        let body = serde_json::json!({"out_trade_no": no, "auth_code": auth_code, "total_amount": amount, "subject": "test goods"});
        self.call("POST", &format!("/v1/pay?wait={wait}"), Some(&body))
            .await
    }

    pub async fn get(&self, no: &str) -> (u16, Value) {
        self.call("GET", &format!("/v1/trades/{no}"), None).await
    }

    /// Polls GET until the trade is final.
    pub async fn until_final(&self, no: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (s, v) = self.get(no).await;
            assert_eq!(s, 200, "{v}");
            if matches!(v["status"].as_str(), Some("SUCCESS" | "FAILED" | "CLOSED")) {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "trade {no} not final: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An auth code ending with `last4`.
pub fn auth_code(last4: &str) -> String {
    format!(
        "28{:012}{last4}",
        rand::thread_rng().gen_range(0..1_000_000_000_000u64)
    )
}

/// GET a simulator control URL.
pub async fn sim_get(base: &str, path: &str) -> (u16, Value) {
    let c = http_client();
    let req = http::Request::get(format!("{base}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = c.request(req).await.expect("simulator answers");
    let s = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (s, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub async fn sim_post(base: &str, path: &str) -> (u16, Value) {
    let c = http_client();
    let req = http::Request::post(format!("{base}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = c.request(req).await.expect("simulator answers");
    let s = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (s, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Whether the switch's final status agrees with the simulator's ledger entry.
pub fn agrees(switch_status: &str, sim: &(u16, Value)) -> bool {
    let sim_status = if sim.0 == 404 {
        "NONE"
    } else {
        sim.1["status"].as_str().unwrap_or("?")
    };
    match switch_status {
        "SUCCESS" => matches!(sim_status, "TRADE_SUCCESS" | "TRADE_FINISHED"),
        "CLOSED" | "FAILED" => matches!(sim_status, "NONE" | "TRADE_CLOSED"),
        "WAIT_BUYER_PAY" => sim_status == "WAIT_BUYER_PAY",
        _ => false,
    }
}

// ---------- helpers for money_safety.rs ----------

/// The simulator as [`sim`] starts it, with `edit` applied to its config
/// first (e.g. a short 9003 `late_landing`).
pub async fn sim_with(edit: impl FnOnce(&mut simulator::SimConfig)) -> simulator::SimHandle {
    let mut c = simulator::SimConfig::demo();
    c.time_scale = 100.0;
    c.client_timeout_hint = Duration::from_millis(1500);
    edit(&mut c);
    simulator::start(c).await.expect("simulator starts")
}

/// Replaces the simulator's profile with `text` (JSON or TOML, as
/// `PUT /_sim/profile` takes it).
pub fn set_sim_profile(sim: &simulator::SimHandle, text: &str) {
    let p = simulator::Profile::parse(text).expect("profile parses");
    sim.set_profile(p).expect("profile accepted");
}

/// The switch in-process, against `sim`, with `extra_policy` lines under
/// `[policy]` and `edit` applied to the whole config text. Returns the
/// running switch and its base URL.
pub async fn switch_with(
    dir: &Path,
    sim: &simulator::SimHandle,
    extra_policy: &str,
    edit: impl FnOnce(String) -> String,
) -> (engine::Running, String) {
    let port = free_port();
    let text = edit(config_text(
        &format!("127.0.0.1:{port}"),
        &sim.gateway_url(),
        &format!("http://127.0.0.1:{port}/notify/alipay"),
        extra_policy,
    ));
    let path = write_config(dir, &text);
    let cfg = engine::Config::load(&path).expect("config loads");
    let r = engine::start(cfg).await.expect("switch starts");
    let addr: SocketAddr = r.local_addrs()[0];
    (r, format!("http://{addr}"))
}

/// A config edit: terminal T1 belongs to a merchant `shop` of the file
/// whose registered relay URL is `relay_url` (a precreate's notify_url must
/// lie under it).
pub fn with_relay_url(relay_url: &str) -> impl Fn(String) -> String + '_ {
    move |text: String| {
        text.replacen(
            "key_id = \"T1\"\n",
            "key_id = \"T1\"\nmerchant = \"shop\"\n",
            1,
        ) + &format!(
            "\n[[merchants]]\nexternal_id = \"shop\"\nname = \"shop\"\nsmid = \"2088000000000001\"\nrelay_url = \"{relay_url}\"\n"
        )
    }
}

/// The sum of every sample of metric `name` (any labels) on GET /metrics.
pub async fn metric_sum(t: &Term, name: &str) -> f64 {
    let (_, v) = t.raw("GET", "/metrics", vec![], None).await.unwrap();
    v.as_str()
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, val) = l.rsplit_once(' ')?;
            let base = key.split('{').next()?;
            (base == name).then(|| val.trim().parse::<f64>().ok())?
        })
        .sum()
}

/// The value of the sample `series` (a name and its labels as /metrics
/// prints them, e.g. `payswitch_heartbeats_total{result="ok"}`) in a
/// /metrics text; None when it is not printed. Many series are printed at 0
/// from the start, so a test asks for a value, not for the name.
pub fn sample_value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The simulator's ledger entry of `no`.
pub async fn sim_trade(sim: &simulator::SimHandle, no: &str) -> (u16, Value) {
    sim_get(&sim.base_url(), &format!("/_sim/trades/{no}")).await
}

/// Whether the simulator holds money for `no` (paid and not fully refunded).
pub fn sim_holds_money(ledger: &(u16, Value)) -> bool {
    ledger.0 == 200
        && matches!(
            ledger.1["status"].as_str(),
            Some("TRADE_SUCCESS" | "TRADE_FINISHED" | "WAIT_BUYER_PAY")
        )
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what`
/// after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A throw-away CA and a leaf certificate for `localhost` and 127.0.0.1
/// (the openssl command; None without it): (CA, leaf cert, leaf key), in `dir`.
pub fn make_test_certs(dir: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let csr = dir.join("leaf.csr");
    let ext = dir.join("leaf.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let run = |args: Vec<&std::ffi::OsStr>| {
        std::process::Command::new("openssl")
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let made = run(vec![
        os("req"),
        os("-x509"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-days"),
        os("1"),
        os("-subj"),
        os("/CN=payswitch test CA"),
        os("-keyout"),
        ca_key.as_os_str(),
        os("-out"),
        ca.as_os_str(),
    ]) && run(vec![
        os("req"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-subj"),
        os("/CN=localhost"),
        os("-keyout"),
        key.as_os_str(),
        os("-out"),
        csr.as_os_str(),
    ]) && run(vec![
        os("x509"),
        os("-req"),
        os("-in"),
        csr.as_os_str(),
        os("-CA"),
        ca.as_os_str(),
        os("-CAkey"),
        ca_key.as_os_str(),
        os("-CAcreateserial"),
        os("-days"),
        os("1"),
        os("-extfile"),
        ext.as_os_str(),
        os("-out"),
        cert.as_os_str(),
    ]);
    if !made {
        return None;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).ok()?;
    Some((ca, cert, key))
}
