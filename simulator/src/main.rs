//! `alipay-sim`: runs the mock Alipay gateway. Thin: parses the command
//! line, lets the library merge it over the configuration file
//! ([`simulator::config::resolve`]), starts the simulator and waits for
//! Ctrl-C. Exit codes: 0 after Ctrl-C, 1 on an error (a refused value, a
//! file that cannot be read, a port in use), 2 on a command-line usage error.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use simulator::config::{self, Flags};

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
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl Args {
    /// The library's flags (every field moved over, none left behind).
    fn into_flags(self) -> Flags {
        let Args {
            config,
            listen,
            time_scale,
            profile,
            apps,
            alipay_private_key,
            password_delay,
            client_timeout_hint,
            late_landing_ms,
            timestamp_window,
            notify_insecure_tls,
            retain_secs,
            fee_rates,
            refund_window_days,
            default_fee_bps,
            indirect_apps,
            demo_indirect,
            demo_direct,
            tls_cert,
            tls_key,
        } = self;
        Flags {
            config,
            listen,
            time_scale,
            profile,
            apps,
            alipay_private_key,
            password_delay_secs: password_delay,
            client_timeout_hint_secs: client_timeout_hint,
            late_landing_ms,
            timestamp_window_secs: timestamp_window,
            notify_insecure_tls,
            retain_secs,
            fee_rates,
            refund_window_days,
            default_fee_bps,
            indirect_apps,
            demo_indirect,
            demo_direct,
            tls_cert,
            tls_key,
        }
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    // A usage error exits 2 (clap), any other error 1 (returned here).
    let resolved = config::resolve(&Args::parse().into_flags())?;
    if resolved.insecure_demo_key {
        tracing::warn!("signing with the insecure demo key of deploy/keys");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let handle = simulator::start(resolved.config).await?;
        println!("alipay-sim listening on {}", handle.gateway_url());
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        handle.shutdown().await;
        Ok(())
    })
}
