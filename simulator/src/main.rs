//! `alipay-sim`: runs the mock Alipay gateway. Parses the command line, loads
//! key files and the profile, starts the library and waits for Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use simulator::{AppRegistration, FileConfig, Profile, SimConfig};

/// A mock Alipay OpenAPI gateway (insecure demo keys unless --app / --alipay-private-key).
#[derive(Debug, Parser)]
#[command(name = "alipay-sim", version)]
struct Args {
    /// A configuration file (TOML: apps, keys, profile...); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9090].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Divides the password delay and notification intervals [default: 1].
    #[arg(long)]
    time_scale: Option<f64>,
    /// Random scenario profile (TOML or JSON).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// An app: APP_ID=PUBLIC_KEY_FILE (repeatable). Default: the demo app.
    #[arg(long = "app", value_name = "APP_ID=PUBLIC_KEY_FILE")]
    apps: Vec<String>,
    /// The key that signs responses and notifications. Default: the demo key.
    #[arg(long)]
    alipay_private_key: Option<PathBuf>,
    /// Password delay of 10003 trades, seconds, before scaling [default: 10].
    #[arg(long)]
    password_delay: Option<f64>,
    /// How long a hung request (9001) holds the connection, seconds [default: 20].
    #[arg(long)]
    client_timeout_hint: Option<f64>,
    /// How long after a 9003 pay's connection is dropped the payment lands,
    /// real milliseconds, not scaled [default: 3000].
    #[arg(long)]
    late_landing_ms: Option<u64>,
    /// Accepted timestamp skew, seconds [default: 900].
    #[arg(long)]
    timestamp_window: Option<u64>,
    /// Accept any certificate of an https:// notify_url (self-signed lab receivers).
    #[arg(long)]
    notify_insecure_tls: bool,
    /// Forget paid or closed trades unchanged for this many seconds (long load runs).
    #[arg(long)]
    retain_secs: Option<u64>,
    /// The gateway's fee rate of a sub-merchant, basis points (repeatable).
    #[arg(long = "fee-rate", value_name = "SMID=BPS")]
    fee_rates: Vec<String>,
    /// Days after payment a trade can be refunded; past them it is
    /// TRADE_FINISHED (ACQ.TRADE_HAS_FINISHED) [default: 90].
    #[arg(long)]
    refund_window_days: Option<u32>,
    /// The fee rate of other trades, basis points [default: 60].
    #[arg(long)]
    default_fee_bps: Option<u32>,
    /// An indirect app (repeatable): its pay/precreate/create must carry
    /// sub_merchant.merchant_id naming a sub-merchant it onboarded.
    #[arg(long = "app-indirect", value_name = "APP_ID")]
    indirect_apps: Vec<String>,
    /// Make the demo app indirect (same as --app-indirect 2021000000000001).
    /// The built-in demo app (served when neither --app nor the config file
    /// names an app) is indirect already, unless --demo-direct.
    #[arg(long)]
    demo_indirect: bool,
    /// Serve the built-in demo app as a direct app (no sub_merchant check).
    #[arg(long, conflicts_with = "demo_indirect")]
    demo_direct: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

fn secs(v: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v)
        .with_context(|| format!("--{name} must be a non-negative number"))
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut cfg = SimConfig::demo();
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], 9090));
    let mut demo_key = true;
    // Whether the file names its apps or its indirect apps itself.
    let mut file_names_apps = false;
    if let Some(path) = &args.config {
        let (file, base) = FileConfig::load(path)?;
        demo_key = file.alipay_private_key_file.is_none();
        file_names_apps = !file.apps.is_empty() || file.indirect_apps.is_some();
        cfg = file.apply(cfg, &base)?;
    }
    if let Some(v) = args.listen {
        cfg.listen = v;
    }
    if let Some(v) = args.time_scale {
        cfg.time_scale = v;
    }
    if let Some(v) = args.password_delay {
        cfg.password_delay = secs(v, "password-delay")?;
    }
    if let Some(v) = args.client_timeout_hint {
        cfg.client_timeout_hint = secs(v, "client-timeout-hint")?;
    }
    if let Some(v) = args.late_landing_ms {
        cfg.late_landing = Duration::from_millis(v);
    }
    if let Some(v) = args.timestamp_window {
        cfg.timestamp_window = Duration::from_secs(v);
    }
    if args.notify_insecure_tls {
        cfg.notify_insecure_tls = true;
    }
    for r in &args.fee_rates {
        let Some((smid, bps)) = r.split_once('=') else {
            bail!("--fee-rate must be SMID=BPS");
        };
        let bps: u32 = bps
            .parse()
            .context("--fee-rate: BPS must be a whole number")?;
        cfg.fee_rates.insert(smid.to_owned(), bps);
    }
    if let Some(v) = args.default_fee_bps {
        cfg.default_fee_bps = v;
    }
    if let Some(v) = args.refund_window_days {
        cfg.refund_window_days = v;
    }
    if let (Some(c), Some(k)) = (args.tls_cert.clone(), args.tls_key.clone()) {
        cfg.tls = Some((c, k));
    }
    if let Some(v) = args.retain_secs {
        cfg.retention = Some(Duration::from_secs(v));
    }
    if !args.apps.is_empty() {
        cfg.apps.clear();
        for a in &args.apps {
            let Some((id, file)) = a.split_once('=') else {
                bail!("--app must be APP_ID=PUBLIC_KEY_FILE");
            };
            let public_key = std::fs::read_to_string(file)
                .with_context(|| format!("reading the public key of app {id} from {file}"))?;
            cfg.apps.push(AppRegistration {
                app_id: id.to_owned(),
                public_key,
            });
        }
    }
    for a in &args.indirect_apps {
        if !cfg.indirect_apps.contains(a) {
            cfg.indirect_apps.push(a.clone());
        }
    }
    // The built-in demo app is an indirect acquirer's app, as an acquirer's
    // is (seed 002): its trades must name an onboarded sub-merchant.
    let builtin_demo = args.apps.is_empty() && !file_names_apps;
    if (args.demo_indirect || (builtin_demo && !args.demo_direct))
        && !cfg
            .indirect_apps
            .iter()
            .any(|a| a == simulator::DEMO_APP_ID)
    {
        cfg.indirect_apps.push(simulator::DEMO_APP_ID.to_owned());
    }
    if let Some(p) = &args.alipay_private_key {
        cfg.alipay_private_key =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    } else if demo_key {
        tracing::warn!("signing with the insecure demo key of deploy/keys");
    }
    if let Some(p) = &args.profile {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        cfg.profile = Profile::parse(&text).with_context(|| format!("profile {}", p.display()))?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let handle = simulator::start(cfg).await?;
        println!("alipay-sim listening on {}", handle.gateway_url());
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        handle.shutdown().await;
        Ok(())
    })
}
