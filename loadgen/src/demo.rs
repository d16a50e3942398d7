//! `loadgen demo`: starts the simulator and the switch as child processes
//! (the `loadgen` binary itself, with hidden subcommands), runs a short mixed
//! open-model load through the switch, audits it and writes the report.
//!
//! The demo onboards its merchants the way an operator does: the switch gets
//! an `[admin]` section (a random bearer token, its sha256 in the config; a
//! generated registry key), and once it is healthy the demo creates
//! [`DEMO_MERCHANTS`] merchants through the admin API (each onboarded at the
//! simulator with `ant.merchant.expand.indirect.create`), [`STORES_PER_MERCHANT`]
//! stores each and its terminals spread over those stores; the load signs
//! with the secrets the admin API returned. The simulator runs with the demo
//! app indirect, so a trade without an onboarded smid would be refused.
//!
//! Guarantees: the children listen on free loopback ports only; keys, the
//! admin token and the journal live in a temporary directory (written 0600)
//! that is removed at the end; the children are killed at the end, on error
//! and on Ctrl-C (a child guard kills on drop).

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{LoadgenError, Result};
use crate::http::Http;
use crate::report;
use crate::run::{self, ModelKind, RunArgs, TargetKind};
use crate::target::{demo_keys, Terminal};

/// `loadgen demo` arguments (the field docs are the `--help` text); read by
/// [`run_demo`].
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Open-model rate, requests per second.
    #[arg(long, default_value = "100")]
    pub rate: String,
    /// Length of the load.
    #[arg(long, default_value = "30s")]
    pub duration: String,
    /// Operation mix (see `loadgen run --help`).
    #[arg(long, default_value = DEFAULT_MIX)]
    pub mix: String,
    /// Thresholds (repeatable); default `pay.p99<50ms`, `errors<0.1%`.
    #[arg(long = "threshold")]
    pub thresholds: Vec<String>,
    /// Where the report goes.
    #[arg(long, default_value = "report")]
    pub out: PathBuf,
    /// Report language.
    #[arg(long, value_enum, default_value = "en")]
    pub lang: report::Lang,
    /// The simulator's time scale (password delay and notification intervals divided by it).
    #[arg(long, default_value_t = 100.0)]
    pub time_scale: f64,
    /// Drive the gateway (simulator) directly instead of the switch.
    #[arg(long)]
    pub gateway_only: bool,
    /// `cancel`: the cashier's reaction time before cancelling a PAYING payment.
    #[arg(long, default_value = "200ms")]
    pub cancel_delay: String,
    /// The run is invalid when the generator's send lag p99 exceeds this.
    #[arg(long, default_value = "25ms")]
    pub max_lag: String,
    /// Registered terminals the load is spread over.
    #[arg(long, default_value_t = 8)]
    pub terminals: usize,
    /// A staircase instead of one rate (see `loadgen run --help`), e.g.
    /// `start=100,step=100,hold=10s,max=3000`: finds the highest rate that
    /// keeps the thresholds.
    #[arg(long)]
    pub staircase: Option<String>,
    /// Keep the temporary directory (journal, logs, config) and print where it is.
    #[arg(long)]
    pub keep_temp: bool,
}

/// The demo's default mix: ordinary payments, 10003 (password) and 20000
/// (unknown, but paid) cases, declined codes, QR payments and follow-ups.
pub const DEFAULT_MIX: &str =
    "pay=70,pay:1003=5,pay:2000=5,pay:4004=3,precreate=7,query=5,refund=3,cancel=2";

/// `loadgen internal-sim` arguments (a hidden subcommand: the demo's
/// simulator child, see [`internal_sim`]).
#[derive(Debug, Clone, clap::Args)]
pub struct InternalSimArgs {
    /// Where to listen, IP:PORT.
    #[arg(long)]
    pub listen: String,
    /// The simulator's time scale (password delay and notification intervals divided by it).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// An indirect app (repeatable): its trades need an onboarded sub-merchant.
    #[arg(long = "app-indirect")]
    pub app_indirect: Vec<String>,
}

/// `loadgen internal-switch` arguments (a hidden subcommand: the demo's
/// switch child, see [`internal_switch`]).
#[derive(Debug, Clone, clap::Args)]
pub struct InternalSwitchArgs {
    /// The switch's configuration file (payswitch.toml).
    #[arg(long)]
    pub config: PathBuf,
}

/// Resolves when the parent closes our stdin (it exited or wants us gone).
fn parent_gone() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    rx
}

async fn shutdown_signal() {
    let gone = parent_gone();
    tokio::select! {
        _ = gone => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs the simulator in this process (the demo app, its keys, `a`'s
/// listen address, time scale and indirect apps) until the parent goes away
/// (closes our stdin) or Ctrl-C; prints `LISTENING addr` on stdout once
/// bound.
///
/// # Errors
/// [`LoadgenError::Arg`] when `--listen` is not IP:PORT;
/// [`LoadgenError::Process`] (`simulator`) when it cannot start.
#[cfg(feature = "demo")]
pub async fn internal_sim(a: InternalSimArgs) -> Result<()> {
    let mut cfg = simulator::SimConfig::demo();
    cfg.listen = a
        .listen
        .parse()
        .map_err(|_| LoadgenError::arg("--listen", &a.listen, "expected IP:PORT"))?;
    cfg.time_scale = a.time_scale;
    cfg.indirect_apps = a.app_indirect;
    let h = simulator::start(cfg)
        .await
        .map_err(|e| LoadgenError::Process {
            what: "simulator",
            reason: e.to_string(),
        })?;
    println!("LISTENING {}", h.addr());
    shutdown_signal().await;
    h.shutdown().await;
    Ok(())
}

/// Runs the switch in this process with the configuration `a.config` until
/// the parent goes away (closes our stdin) or Ctrl-C.
///
/// # Errors
/// [`LoadgenError::Process`]: `switch config` when the configuration cannot
/// be loaded, `switch` when the switch fails to start or run.
#[cfg(feature = "demo")]
pub async fn internal_switch(a: InternalSwitchArgs) -> Result<()> {
    let cfg = engine::Config::load(&a.config).map_err(|e| LoadgenError::Process {
        what: "switch config",
        reason: e.to_string(),
    })?;
    engine::run(cfg, shutdown_signal())
        .await
        .map_err(|e| LoadgenError::Process {
            what: "switch",
            reason: e.to_string(),
        })
}

/// Without the `demo` feature there is no simulator in this binary.
///
/// # Errors
/// Always [`LoadgenError::Process`] (`simulator`).
#[cfg(not(feature = "demo"))]
pub async fn internal_sim(_a: InternalSimArgs) -> Result<()> {
    let _ = shutdown_signal;
    Err(LoadgenError::Process {
        what: "simulator",
        reason: "this loadgen was built without the `demo` feature".into(),
    })
}

/// Without the `demo` feature there is no switch in this binary.
///
/// # Errors
/// Always [`LoadgenError::Process`] (`switch`).
#[cfg(not(feature = "demo"))]
pub async fn internal_switch(_a: InternalSwitchArgs) -> Result<()> {
    Err(LoadgenError::Process {
        what: "switch",
        reason: "this loadgen was built without the `demo` feature".into(),
    })
}

/// A child process that is killed when dropped (after a 500 ms grace), made
/// by [`spawn_self`].
pub struct ChildGuard {
    /// What it is (`simulator`, `switch`), for messages.
    pub name: &'static str,
    child: Option<Child>,
    /// The file its stdout and stderr go to.
    pub log: PathBuf,
}

impl ChildGuard {
    /// The child's pid; 0 once it was stopped.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Its exit status if it has exited already; `None` while it runs (or
    /// once it was stopped).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Asks the child to stop (closes its stdin), waits up to `grace`, then
    /// kills it; blocks the thread meanwhile. Does nothing the second time.
    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let end = Instant::now() + grace;
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The last 15 lines of the child's log (empty if it cannot be read),
    /// for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop(Duration::from_millis(500));
    }
}

/// Starts `loadgen <args>` (this binary) as a child in its own process group
/// (a Ctrl-C reaches only the parent), its stdout and stderr in `log`
/// (created), its stdin a pipe whose closing tells it to exit. `name` is for
/// messages.
///
/// # Errors
/// [`LoadgenError::Process`] when this binary cannot be found or the child
/// cannot start; [`LoadgenError::Io`] when `log` cannot be created.
pub fn spawn_self(name: &'static str, args: &[&str], log: &Path) -> Result<ChildGuard> {
    let exe = std::env::current_exe().map_err(|e| LoadgenError::Process {
        what: name,
        reason: format!("cannot find the loadgen binary: {e}"),
    })?;
    let out = std::fs::File::create(log).map_err(|e| LoadgenError::io("cannot create", log, e))?;
    let err = out
        .try_clone()
        .map_err(|e| LoadgenError::io("cannot open", log, e))?;
    // Own process group: a Ctrl-C at the terminal reaches loadgen only,
    // which then finishes the report (the audit needs both processes) and
    // stops the children itself. If loadgen dies, the children see their
    // stdin close and exit.
    let child = Command::new(exe)
        .process_group(0)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| LoadgenError::Process {
            what: name,
            reason: format!("cannot start: {e}"),
        })?;
    Ok(ChildGuard {
        name,
        child: Some(child),
        log: log.to_owned(),
    })
}

/// A free loopback port for a process started next, below the kernel's
/// ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`) where that
/// leaves room: bind(0) hands out ports of that range, the same ports that
/// outgoing connections take as their source, so a process restarted on its
/// port could find it held by one of them (`Address already in use`).
/// Consecutive calls in one process give distinct ports (a counter from a
/// per-process start); each is checked free by binding it.
///
/// # Errors
/// [`LoadgenError::Process`] (`port`) when no port can be bound.
pub fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    /// The lowest port handed out (above the usual services' ports).
    const FLOOR: u32 = 10_000;
    let low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
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
                return Ok(port);
            }
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| LoadgenError::Process {
        what: "port",
        reason: format!("cannot bind 127.0.0.1:0: {e}"),
    })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LoadgenError::Process {
            what: "port",
            reason: e.to_string(),
        })
}

/// Waits until `url` answers 2xx (polled every 100 ms), the child exits, or
/// `limit` passes.
///
/// # Errors
/// [`LoadgenError::Process`] when the child exited first or `limit` passed,
/// with the tail of its log.
pub async fn wait_ready(child: &mut ChildGuard, url: &str, limit: Duration) -> Result<()> {
    let http = Http::new(Duration::from_secs(2));
    let end = Instant::now() + limit;
    loop {
        if let Ok(a) = http.get(url).await {
            if a.status.is_success() {
                return Ok(());
            }
        }
        if let Some(st) = child.exited() {
            return Err(LoadgenError::Process {
                what: child.name,
                reason: format!("exited ({st}) before it was ready:\n{}", child.log_tail()),
            });
        }
        if Instant::now() >= end {
            return Err(LoadgenError::Process {
                what: child.name,
                reason: format!(
                    "not ready at {url} after {} s:\n{}",
                    limit.as_secs(),
                    child.log_tail()
                ),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| LoadgenError::io("cannot create", path, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| LoadgenError::io("cannot write", path, e))
}

/// Writes the demo app private key and the demo Alipay public key into
/// `dir` as `app-private.pem` and `alipay-public.pem`, mode 0600 (the switch
/// refuses key files others can read).
///
/// # Errors
/// [`LoadgenError::Io`] when a file cannot be created or written.
pub fn write_demo_keys(dir: &Path) -> Result<()> {
    write_private(&dir.join("app-private.pem"), demo_keys::APP_PRIVATE)?;
    write_private(&dir.join("alipay-public.pem"), demo_keys::ALIPAY_PUBLIC)
}

/// Writes `text` to `path` with mode 0600 (created or truncated).
///
/// # Errors
/// [`LoadgenError::Io`] when the file cannot be created or written.
pub fn write_private_file(path: &Path, text: &str) -> Result<()> {
    write_private(path, text)
}

/// Makes `n` (at least 1) terminals `demo-term-001`.. with random 32-byte
/// secrets and no registration, for a switch config's `[[terminals]]` (see
/// [`switch_config`]).
pub fn make_terminals(n: usize) -> Vec<Terminal> {
    let mut rng = rand::thread_rng();
    (0..n.max(1))
        .map(|i| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            Terminal::new(format!("demo-term-{:03}", i + 1), hex::encode(s))
        })
        .collect()
}

fn base_config(sw_port: u16, sim_port: u16) -> String {
    format!(
        r#"# Written by `loadgen demo`: demo keys (INSECURE), loopback only.
allow_insecure_gateway = true   # alipay-sim speaks plain http

[server]
listen = ["127.0.0.1:{sw_port}"]
shutdown_grace_ms = 2000
# All the load comes from one address (loopback): a ramp of thousands of new
# connections must not meet the per-source cap of unauthenticated ones.
per_ip_unauthenticated_connections = 1000000

[gateway]
url = "http://127.0.0.1:{sim_port}/gateway.do"
app_id = "{app}"
app_private_key_file = "app-private.pem"
alipay_public_key_file = "alipay-public.pem"
notify_url = "http://127.0.0.1:{sw_port}/notify/alipay"
connect_timeout_ms = 1000
request_timeout_ms = 2000

[policy]
poll_interval_ms = 100
poll_count = 100
unknown_retry_initial_ms = 100
unknown_retry_max_ms = 1000
default_wait_secs = 10

[store]
path = "journal.sqlite"
"#,
        app = demo_keys::APP_ID
    )
}

/// A switch configuration with the terminals declared in `[[terminals]]`
/// (one lab sub-merchant `2088000000000001`, stores `S001`.., terminals
/// `T001`..), no admin API: for tests against a direct app.
pub fn switch_config(sw_port: u16, sim_port: u16, terminals: &[Terminal]) -> String {
    let mut s = base_config(sw_port, sim_port);
    for (i, t) in terminals.iter().enumerate() {
        s.push_str(&format!(
            "\n[[terminals]]\nkey_id = \"{}\"\nsecret_hex = \"{}\"\nsmid = \"2088000000000001\"\nstore_id = \"S{:03}\"\nterminal_id = \"T{:03}\"\nrate_per_sec = 100000.0\n",
            t.key_id,
            t.secret_hex,
            i + 1,
            i + 1
        ));
    }
    s
}

/// The switch configuration of the demo (the format of engine/src/config.rs): no
/// `[[terminals]]`; an `[admin]` listener on `admin_port` accepting the
/// token whose sha256 is `token_sha256` (hex), with the registry key in
/// `registry.key` next to the config (see [`write_admin_files`]).
pub fn demo_switch_config(
    sw_port: u16,
    admin_port: u16,
    sim_port: u16,
    token_sha256: &str,
) -> String {
    let mut s = base_config(sw_port, sim_port);
    s.push_str(&format!(
        "\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken_sha256 = [\"{token_sha256}\"]\nsecret_key_file = \"registry.key\"\n"
    ));
    s
}

/// The admin token of a demo switch and where the admin API listens.
#[derive(Clone)]
pub struct Admin {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    token: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The admin API at `base` with the bearer `token`.
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        Admin {
            base: base.into().trim_end_matches('/').to_string(),
            token: token.into(),
        }
    }

    /// The hex sha256 of the token (what `[admin] token_sha256` holds).
    pub fn token_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.token.as_bytes()))
    }

    /// One JSON request to `path` (e.g. `/admin/v1/merchants`) with the
    /// bearer token; the answer's HTTP status and JSON body (Null when it is
    /// empty or not JSON). Any status is `Ok`.
    ///
    /// # Errors
    /// [`LoadgenError::Target`] when there is no answer (a transport error).
    pub async fn call(
        &self,
        http: &Http,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let bytes = body.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
        let a = http
            .send(
                method.clone(),
                &url,
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ],
                bytes,
            )
            .await
            .map_err(|e| LoadgenError::Target {
                url: url.clone(),
                reason: format!("admin API {method} {path}: {e}"),
            })?;
        let v = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        Ok((a.status.as_u16(), v))
    }
}

/// Writes a random admin token (`admin.token`) and a random registry key
/// (`registry.key`, 64 hex digits) into `dir`, both mode 0600, and returns
/// the admin client for `base`.
///
/// # Errors
/// [`LoadgenError::Io`] when a file cannot be created or written.
pub fn write_admin_files(dir: &Path, base: &str) -> Result<Admin> {
    let mut rng = rand::thread_rng();
    let mut tok = [0u8; 32];
    rng.fill_bytes(&mut tok);
    let mut key = [0u8; 32];
    rng.fill_bytes(&mut key);
    let token = hex::encode(tok);
    write_private(&dir.join("admin.token"), &format!("{token}\n"))?;
    write_private(&dir.join("registry.key"), &hex::encode(key))?;
    Ok(Admin::new(base, token))
}

/// How many merchants the demo onboards.
pub const DEMO_MERCHANTS: usize = 2;
/// How many stores each demo merchant gets.
pub const STORES_PER_MERCHANT: usize = 3;

/// The `external_id` of the demo's `i`-th merchant (from 0).
pub fn demo_external_id(i: usize) -> String {
    format!("LGDEMO{:02}", i + 1)
}

/// What [`onboard`] created.
#[derive(Debug, Clone)]
pub struct Onboarded {
    /// `(external_id, smid)` per merchant, in creation order.
    pub merchants: Vec<(String, String)>,
    /// `(external_id, store_id)` per store.
    pub stores: Vec<(String, String)>,
    /// The terminals, with the secrets the admin API showed once and their
    /// registration (smid, store, terminal id) for the audit.
    pub terminals: Vec<Terminal>,
}

fn admin_err(what: &str, status: u16, v: &Value) -> LoadgenError {
    LoadgenError::Process {
        what: "onboarding",
        reason: format!("{what}: HTTP {status} {v}"),
    }
}

/// Onboards the demo's merchants through the admin API (docs/API.md §1.4):
/// [`DEMO_MERCHANTS`] merchants (the switch onboards each at the gateway
/// and gets its smid), [`STORES_PER_MERCHANT`] stores each, and `n`
/// terminals spread round-robin over the stores (consecutive terminals
/// alternate between the merchants). Repeatable on the same switch for the
/// merchants and stores (the admin API answers 200 with the existing one);
/// a terminal that exists already is an error (its secret is not shown again).
///
/// # Errors
/// [`LoadgenError::Target`] when the admin API does not answer;
/// [`LoadgenError::Process`] (`onboarding`) when it answers with another
/// status than 200/201 (201 for a terminal), or a merchant without a smid,
/// or a terminal without its key id and secret.
pub async fn onboard(http: &Http, admin: &Admin, n: usize) -> Result<Onboarded> {
    let mut merchants = Vec::new();
    for i in 0..DEMO_MERCHANTS {
        let ext = demo_external_id(i);
        let body = json!({
            "external_id": ext,
            "name": format!("压测演示便利店{}号", i + 1),
            "alias_name": format!("演示店{}", i + 1),
            "service_phone": "021-12345678",
            "category_id": "2015050700000000",
            "contact_info": [{"name": "张三", "type": "LEGAL_PERSON", "mobile": "13800000000"}],
            "service_codes": ["F2F"],
            // The simulator's default rate: the reconciliation checks the bill's fees against it.
            "gateway_fee_bps": 60,
            "merchant_fee_bps": 60,
        });
        let (st, v) = admin
            .call(http, Method::POST, "/admin/v1/merchants", Some(&body))
            .await?;
        if st != 201 && st != 200 {
            return Err(admin_err(
                &format!("POST /admin/v1/merchants {ext}"),
                st,
                &v,
            ));
        }
        let smid = v["smid"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| admin_err(&format!("merchant {ext} has no smid"), st, &v))?;
        merchants.push((ext, smid.to_string()));
    }
    // Stores, merchant-minor so that consecutive terminals alternate merchants.
    let mut stores = Vec::new();
    for s in 0..STORES_PER_MERCHANT {
        for (ext, smid) in &merchants {
            let store_id = format!("{ext}_S{:02}", s + 1);
            let body = json!({"store_id": store_id, "name": format!("演示门店{}", s + 1)});
            let path = format!("/admin/v1/merchants/{ext}/stores");
            let (st, v) = admin.call(http, Method::POST, &path, Some(&body)).await?;
            if st != 201 && st != 200 {
                return Err(admin_err(&format!("POST {path} {store_id}"), st, &v));
            }
            stores.push((ext.clone(), smid.clone(), store_id));
        }
    }
    let mut terminals = Vec::with_capacity(n.max(1));
    for i in 0..n.max(1) {
        let (ext, smid, store_id) = &stores[i % stores.len()];
        let terminal_id = format!("T{:03}", i + 1);
        let body = json!({
            "store_id": store_id, "terminal_id": terminal_id, "equipment_type": "CR",
            "rate_per_sec": 100000.0,
        });
        let path = format!("/admin/v1/merchants/{ext}/terminals");
        let (st, v) = admin.call(http, Method::POST, &path, Some(&body)).await?;
        let (Some(key_id), Some(secret_hex)) = (v["key_id"].as_str(), v["secret_hex"].as_str())
        else {
            return Err(admin_err(&format!("POST {path} {terminal_id}"), st, &v));
        };
        if st != 201 {
            return Err(admin_err(&format!("POST {path} {terminal_id}"), st, &v));
        }
        terminals.push(Terminal {
            key_id: key_id.to_string(),
            secret_hex: secret_hex.to_string(),
            smid: Some(smid.clone()),
            store_id: Some(store_id.clone()),
            terminal_id: Some(terminal_id),
        });
    }
    Ok(Onboarded {
        merchants,
        stores: stores.into_iter().map(|(e, _, s)| (e, s)).collect(),
        terminals,
    })
}

/// The smids `GET /_sim/merchants` of the simulator at `sim_base` lists,
/// in onboarding order.
///
/// # Errors
/// [`LoadgenError::Target`] when there is no answer, or the answer has no
/// `merchants` list.
pub async fn sim_merchants(http: &Http, sim_base: &str) -> Result<Vec<String>> {
    let url = format!("{}/_sim/merchants", sim_base.trim_end_matches('/'));
    let a = http.get(&url).await.map_err(|e| LoadgenError::Target {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    let list = v["merchants"]
        .as_array()
        .ok_or_else(|| LoadgenError::Target {
            url: url.clone(),
            reason: format!("HTTP {}: no merchants list", a.status.as_u16()),
        })?;
    Ok(list
        .iter()
        .filter_map(|m| m["sub_merchant_id"].as_str().map(str::to_string))
        .collect())
}

/// Starts the simulator child (the demo app indirect or not); the child,
/// its base URL and its port.
async fn start_sim(
    dir: &Path,
    time_scale: f64,
    indirect: bool,
    log: &str,
) -> Result<(ChildGuard, String, u16)> {
    let sim_port = free_port()?;
    let sim_listen = format!("127.0.0.1:{sim_port}");
    let ts = time_scale.to_string();
    let mut args = vec!["internal-sim", "--listen", &sim_listen, "--time-scale", &ts];
    if indirect {
        args.extend(["--app-indirect", demo_keys::APP_ID]);
    }
    let mut sim = spawn_self("simulator", &args, &dir.join(log))?;
    let sim_base = format!("http://{sim_listen}");
    wait_ready(
        &mut sim,
        &format!("{sim_base}/_sim/ledger/summary"),
        Duration::from_secs(30),
    )
    .await?;
    eprintln!("loadgen demo: simulator pid {} at {sim_base}", sim.pid());
    Ok((sim, sim_base, sim_port))
}

/// The switch child, started, healthy and with its merchants onboarded.
struct StartedSwitch {
    child: ChildGuard,
    url: String,
    terminals: Vec<Terminal>,
    note: String,
}

async fn start_switch(
    dir: &Path,
    sim_base: &str,
    sim_port: u16,
    n: usize,
) -> Result<StartedSwitch> {
    let sw_port = free_port()?;
    let admin_port = free_port()?;
    let admin = write_admin_files(dir, &format!("http://127.0.0.1:{admin_port}"))?;
    let cfg_path = dir.join("payswitch.toml");
    write_private(
        &cfg_path,
        &demo_switch_config(sw_port, admin_port, sim_port, &admin.token_sha256()),
    )?;
    let cfg_str = cfg_path.to_string_lossy().to_string();
    let mut sw = spawn_self(
        "switch",
        &["internal-switch", "--config", &cfg_str],
        &dir.join("switch.log"),
    )?;
    let url = format!("http://127.0.0.1:{sw_port}");
    wait_ready(&mut sw, &format!("{url}/healthz"), Duration::from_secs(30)).await?;
    wait_ready(
        &mut sw,
        &format!("{}/healthz", admin.base),
        Duration::from_secs(30),
    )
    .await?;
    eprintln!(
        "loadgen demo: switch pid {} at {url}, admin API at {}",
        sw.pid(),
        admin.base
    );
    let http = Http::new(Duration::from_secs(10));
    let on = onboard(&http, &admin, n)
        .await
        .map_err(|e| LoadgenError::Process {
            what: "onboarding",
            reason: format!("{e}\n{}", sw.log_tail()),
        })?;
    let listed = sim_merchants(&http, sim_base).await?;
    let missing: Vec<&str> = on
        .merchants
        .iter()
        .filter(|(_, smid)| !listed.contains(smid))
        .map(|(e, _)| e.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(LoadgenError::Process {
            what: "onboarding",
            reason: format!("GET /_sim/merchants does not list {missing:?}"),
        });
    }
    let merchants: Vec<String> = on
        .merchants
        .iter()
        .map(|(e, s)| format!("{e} (smid {s})"))
        .collect();
    let note = format!(
        "demo: onboarded through the switch's admin API: {} merchants {}, {} stores, {} terminals; the simulator (demo app indirect) lists the merchants in GET /_sim/merchants",
        on.merchants.len(),
        merchants.join(", "),
        on.stores.len(),
        on.terminals.len()
    );
    eprintln!("loadgen {note}");
    Ok(StartedSwitch {
        child: sw,
        url,
        terminals: on.terminals,
        note,
    })
}

/// The simulator's gateway day (yyyy-MM-dd), when it answers.
async fn day_of_gateway(http: &Http, sim_base: &str) -> Option<String> {
    #[cfg(feature = "demo")]
    return crate::reconcile::sim_clock(http, sim_base)
        .await
        .map(|c| c.1);
    #[cfg(not(feature = "demo"))]
    {
        let _ = (http, sim_base);
        None
    }
}

/// `loadgen demo`: starts the simulator and the switch (falling back to the
/// gateway directly, with a note, if the switch does not start or onboard),
/// runs the load, stops the switch and reconciles the run's gateway days
/// (feature `demo`), writes the report to `--out` and prints the summary.
/// The temporary directory is removed unless `--keep-temp`. Returns whether
/// the verdict passed.
///
/// # Errors
/// [`LoadgenError::Io`] when the temporary directory or a file in it cannot
/// be created, [`LoadgenError::Process`] when the simulator does not start,
/// errors of [`run::prepare`] for a bad `--rate`, `--mix`, ..., and those of
/// [`report::write_all`] when the report cannot be written.
pub async fn run_demo(a: &DemoArgs) -> Result<bool> {
    let tmp = tempfile::Builder::new()
        .prefix("loadgen-demo-")
        .tempdir()
        .map_err(|e| {
            LoadgenError::io(
                "cannot create a temporary directory in",
                std::env::temp_dir(),
                e,
            )
        })?;
    let dir = tmp.path().to_path_buf();
    eprintln!("loadgen demo: working directory {}", dir.display());
    let mut notes = vec![
        "demo: simulator and switch started by `loadgen demo` on loopback with the demo keys (INSECURE) and an embedded journal in a temporary directory".to_string(),
        format!("demo: simulator time scale {} (the 10 s password delay takes {:.2} s)", a.time_scale, 10.0 / a.time_scale.max(1e-9)),
    ];
    write_demo_keys(&dir)?;

    let (mut sim, mut sim_base, sim_port) =
        start_sim(&dir, a.time_scale, !a.gateway_only, "simulator.log").await?;

    let mut switch: Option<ChildGuard> = None;
    let mut sw_url = None;
    let mut terminals = None;
    if !a.gateway_only {
        match start_switch(&dir, &sim_base, sim_port, a.terminals).await {
            Ok(s) => {
                notes.push(s.note);
                sw_url = Some(s.url);
                terminals = Some(s.terminals);
                switch = Some(s.child);
            }
            Err(e) => {
                eprintln!("loadgen demo: the switch did not start or onboard, driving the gateway directly: {e}");
                notes.push(format!("the switch did not start or onboard its merchants ({e}); the load went to the simulator's gateway directly, so the switch was NOT measured"));
                // The gateway target sends no sub-merchant: a direct simulator.
                sim.stop(Duration::from_secs(5));
                (sim, sim_base, _) =
                    start_sim(&dir, a.time_scale, false, "simulator-direct.log").await?;
            }
        }
    } else {
        notes.push("--gateway-only: the switch was not started and not measured".into());
    }

    let mut pids = vec![
        format!("simulator={}", sim.pid()),
        format!("loadgen={}", std::process::id()),
    ];
    if let Some(sw) = &switch {
        pids.insert(0, format!("switch={}", sw.pid()));
    }
    let thresholds = if a.thresholds.is_empty() {
        vec!["pay.p99<50ms".to_string(), "errors<0.1%".to_string()]
    } else {
        a.thresholds.clone()
    };
    let args = RunArgs {
        target: if sw_url.is_some() {
            TargetKind::Switch
        } else {
            TargetKind::Gateway
        },
        url: vec![sw_url
            .clone()
            .unwrap_or_else(|| format!("{sim_base}/gateway.do"))],
        sim: Some(sim_base.clone()),
        terminals: None,
        app_id: demo_keys::APP_ID.into(),
        app_private_key: None,
        alipay_public_key: None,
        model: ModelKind::Open,
        rate: a.rate.clone(),
        duration: a.duration.clone(),
        ramp: None,
        stages: None,
        staircase: a.staircase.clone(),
        concurrency: 16,
        mix: a.mix.clone(),
        requests: 0,
        timeout: None,
        pay_wait: 10,
        cancel_delay: a.cancel_delay.clone(),
        max_in_flight: 1000,
        max_lag: a.max_lag.clone(),
        thresholds,
        out: a.out.clone(),
        lang: a.lang,
        seed: 1,
        no_audit: false,
        settle: "30s".into(),
        pids,
    };
    let http = Http::new(Duration::from_secs(10));
    let day_before = day_of_gateway(&http, &sim_base).await;
    let p = run::prepare(&args, terminals)?;
    let stop = run::stop_on_ctrl_c();
    #[allow(unused_mut)]
    let mut r = run::execute(&p, stop, notes).await;
    if let Some(sw) = switch.as_mut() {
        sw.stop(Duration::from_secs(5));
    }
    // The switch is stopped (its journal closed): reconcile the run's days.
    #[cfg(feature = "demo")]
    if switch.is_some() {
        let mut days: std::collections::BTreeSet<String> = day_before.into_iter().collect();
        days.extend(day_of_gateway(&http, &sim_base).await);
        eprintln!("loadgen demo: reconciling gateway day(s) {days:?}");
        let recon = crate::reconcile::reconcile_days(
            &http,
            &sim_base,
            &dir.join("payswitch.toml"),
            &days,
            &a.out.join("reconciliation"),
        )
        .await;
        report::add_reconciliation(&mut r, recon);
    }
    #[cfg(not(feature = "demo"))]
    let _ = day_before;
    sim.stop(Duration::from_secs(5));
    let w = report::write_all(&r, &a.out, a.lang)?;
    print!("{}", run::summary(&r, &w));
    if a.keep_temp {
        let kept = tmp.keep();
        eprintln!("loadgen demo: kept {}", kept.display());
    }
    Ok(r.verdict.passed)
}
