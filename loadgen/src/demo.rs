//! `loadgen demo`: starts the simulator and the switch as child processes
//! (the `loadgen` binary itself, with hidden subcommands), runs a short mixed
//! open-model load through the switch, audits it and writes the report.
//!
//! Guarantees: the children listen on free loopback ports only; keys and the
//! journal live in a temporary directory (keys written 0600) that is removed
//! at the end; the children are killed at the end, on error and on Ctrl-C
//! (a child guard kills on drop).

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::error::{LoadgenError, Result};
use crate::http::Http;
use crate::report;
use crate::run::{self, ModelKind, RunArgs, TargetKind};
use crate::target::{demo_keys, Terminal};

/// `loadgen demo` arguments.
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

/// `loadgen internal-sim` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct InternalSimArgs {
    #[arg(long)]
    pub listen: String,
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
}

/// `loadgen internal-switch` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct InternalSwitchArgs {
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

/// Runs the simulator in this process until the parent goes away.
#[cfg(feature = "demo")]
pub async fn internal_sim(a: InternalSimArgs) -> Result<()> {
    let mut cfg = simulator::SimConfig::demo();
    cfg.listen = a
        .listen
        .parse()
        .map_err(|_| LoadgenError::arg("--listen", &a.listen, "expected IP:PORT"))?;
    cfg.time_scale = a.time_scale;
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

/// Runs the switch in this process until the parent goes away.
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
#[cfg(not(feature = "demo"))]
pub async fn internal_sim(_a: InternalSimArgs) -> Result<()> {
    let _ = shutdown_signal;
    Err(LoadgenError::Process {
        what: "simulator",
        reason: "this loadgen was built without the `demo` feature".into(),
    })
}

/// Without the `demo` feature there is no switch in this binary.
#[cfg(not(feature = "demo"))]
pub async fn internal_switch(_a: InternalSwitchArgs) -> Result<()> {
    Err(LoadgenError::Process {
        what: "switch",
        reason: "this loadgen was built without the `demo` feature".into(),
    })
}

/// A child process that is killed when dropped.
pub struct ChildGuard {
    pub name: &'static str,
    child: Option<Child>,
    pub log: PathBuf,
}

impl ChildGuard {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Whether it exited already (with its status).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Asks the child to stop (closes its stdin), waits up to `grace`, then kills it.
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

    /// The last lines of the child's log.
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

/// Starts `loadgen <args>` (this binary) as a child, its output in `log`.
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

/// A free loopback port (bound and released; the child binds it right after).
pub fn free_port() -> Result<u16> {
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

/// Waits until `url` answers 2xx, the child exits, or `limit` passes.
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
pub fn write_demo_keys(dir: &Path) -> Result<()> {
    write_private(&dir.join("app-private.pem"), demo_keys::APP_PRIVATE)?;
    write_private(&dir.join("alipay-public.pem"), demo_keys::ALIPAY_PUBLIC)
}

/// Writes `text` to `path` with mode 0600.
pub fn write_private_file(path: &Path, text: &str) -> Result<()> {
    write_private(path, text)
}

/// Registers `n` terminals with random secrets.
pub fn make_terminals(n: usize) -> Vec<Terminal> {
    let mut rng = rand::thread_rng();
    (0..n.max(1))
        .map(|i| {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            Terminal {
                key_id: format!("demo-term-{:03}", i + 1),
                secret_hex: hex::encode(s),
            }
        })
        .collect()
}

/// The switch configuration of the demo (API of engine/src/config.rs).
pub fn switch_config(sw_port: u16, sim_port: u16, terminals: &[Terminal]) -> String {
    let mut s = format!(
        r#"# Written by `loadgen demo`: demo keys (INSECURE), loopback only.
[server]
listen = ["127.0.0.1:{sw_port}"]
shutdown_grace_ms = 2000

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
    );
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

/// `loadgen demo`. Returns whether the verdict passed.
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

    let sim_port = free_port()?;
    let sim_listen = format!("127.0.0.1:{sim_port}");
    let ts = a.time_scale.to_string();
    let mut sim = spawn_self(
        "simulator",
        &["internal-sim", "--listen", &sim_listen, "--time-scale", &ts],
        &dir.join("simulator.log"),
    )?;
    let sim_base = format!("http://{sim_listen}");
    wait_ready(
        &mut sim,
        &format!("{sim_base}/_sim/ledger/summary"),
        Duration::from_secs(30),
    )
    .await?;
    eprintln!("loadgen demo: simulator pid {} at {sim_base}", sim.pid());

    let terminals = make_terminals(a.terminals);
    let mut switch: Option<ChildGuard> = None;
    let mut sw_url = None;
    if !a.gateway_only {
        let sw_port = free_port()?;
        let cfg_path = dir.join("payswitch.toml");
        write_private(&cfg_path, &switch_config(sw_port, sim_port, &terminals))?;
        let cfg_str = cfg_path.to_string_lossy().to_string();
        match spawn_self(
            "switch",
            &["internal-switch", "--config", &cfg_str],
            &dir.join("switch.log"),
        ) {
            Ok(mut sw) => {
                let url = format!("http://127.0.0.1:{sw_port}");
                match wait_ready(&mut sw, &format!("{url}/healthz"), Duration::from_secs(30)).await
                {
                    Ok(()) => {
                        eprintln!("loadgen demo: switch pid {} at {url}", sw.pid());
                        sw_url = Some(url);
                        switch = Some(sw);
                    }
                    Err(e) => {
                        eprintln!("loadgen demo: the switch did not start, driving the gateway directly: {e}");
                        notes.push(format!("the switch did not start ({e}); the load went to the simulator's gateway directly, so the switch was NOT measured"));
                    }
                }
            }
            Err(e) => {
                notes.push(format!(
                    "the switch could not be started ({e}); the switch was NOT measured"
                ));
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
        url: Some(
            sw_url
                .clone()
                .unwrap_or_else(|| format!("{sim_base}/gateway.do")),
        ),
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
        timeout: "10s".into(),
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
    let p = run::prepare(&args, Some(terminals))?;
    let stop = run::stop_on_ctrl_c();
    let r = run::execute(&p, stop, notes).await;
    if let Some(sw) = switch.as_mut() {
        sw.stop(Duration::from_secs(5));
    }
    sim.stop(Duration::from_secs(5));
    let w = report::write_all(&r, &a.out, a.lang)?;
    print!("{}", run::summary(&r, &w));
    if a.keep_temp {
        let kept = tmp.keep();
        eprintln!("loadgen demo: kept {}", kept.display());
    }
    Ok(r.verdict.passed)
}
