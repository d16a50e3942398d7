//! The `payswitch` command: `serve --config FILE`, `keygen --out DIR`, and
//! the admin API's clients `merchants|stores|terminals ...` ([`cli`]).
//! Thin: parsing, logging set-up, signals; the work is in the library.

mod cli;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// mimalloc: the request path allocates many small, short-lived buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "payswitch",
    version,
    about = "The payment switch between merchant terminals and the Alipay gateway"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the switch.
    Serve {
        /// The TOML configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Accept private key files (and a config with terminal secrets) readable by group or others.
        #[arg(long)]
        allow_insecure_key_permissions: bool,
        /// Log as JSON lines.
        #[arg(long)]
        log_json: bool,
    },
    /// Write a new RSA-2048 app key pair (PEM and bare base64 forms).
    Keygen {
        /// Directory for the key files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Merchants through the admin API: add, list, show, modify, suspend, resume.
    Merchants(cli::Merchants),
    /// A merchant's stores through the admin API: add, list.
    Stores(cli::Stores),
    /// Terminals through the admin API: add, list, show, suspend, resume, rotate.
    Terminals(cli::Terminals),
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Merchants(c) => std::process::exit(cli::run(cli::Group::Merchants(c))),
        Cmd::Stores(c) => std::process::exit(cli::run(cli::Group::Stores(c))),
        Cmd::Terminals(c) => std::process::exit(cli::run(cli::Group::Terminals(c))),
        Cmd::Keygen { out } => {
            for p in engine::keygen::keygen(&out)? {
                println!("{}", p.display());
            }
            Ok(())
        }
        Cmd::Serve {
            config,
            allow_insecure_key_permissions,
            log_json,
        } => {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            if log_json {
                tracing_subscriber::fmt()
                    .json()
                    .with_env_filter(filter)
                    .init();
            } else {
                tracing_subscriber::fmt().with_env_filter(filter).init();
            }
            // Test builds only: FAILPOINTS=<boundary>=return (never in release).
            #[cfg(feature = "failpoints")]
            let _failpoints = fail::FailScenario::setup();
            let cfg = engine::config::Config::load_with(&config, allow_insecure_key_permissions)
                .with_context(|| format!("configuration {}", config.display()))?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(engine::run(cfg, shutdown_signal()))?;
            Ok(())
        }
    }
}
