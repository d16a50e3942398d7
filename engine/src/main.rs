//! The `payswitch` command: `serve --config FILE`, `migrate --config FILE`,
//! `keygen --out DIR`,
//! `reconcile` and `settlement` (engine::recon, engine::settlement), and the
//! admin API's clients `merchants|stores|terminals ...` ([`cli`]).
//! Thin: parsing, logging set-up, signals; the work is in the library.

mod cli;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// mimalloc: the request path allocates many small, short-lived buffers.
/// (Feature `system-allocator`, for heap profilers: the system's malloc.)
#[cfg(not(feature = "system-allocator"))]
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
    /// Apply the journal's schema migrations (PostgreSQL) and print the
    /// schema version; `serve` applies them at start too.
    Migrate {
        /// The TOML configuration file (its `[store]`).
        #[arg(long)]
        config: PathBuf,
        /// Accept private key files (and a config with terminal secrets) readable by group or others.
        #[arg(long)]
        allow_insecure_key_permissions: bool,
    },
    /// Write a new RSA-2048 app key pair (PEM and bare base64 forms).
    Keygen {
        /// Directory for the key files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Reconcile a day against Alipay's trade bill (exit 0 all matched or
    /// resolved, 2 differences stay open, 1 error).
    Reconcile {
        /// The TOML configuration file (the journal, the gateway, the rates).
        #[arg(long)]
        config: PathBuf,
        /// The bill date, yyyy-MM-dd (gateway time; yesterday or earlier).
        #[arg(long)]
        date: String,
        /// The report's folder (default: `[recon] out_dir`, or `<store folder>/recon`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The summary's language: en or zh.
        #[arg(long, default_value = "en")]
        lang: String,
    },
    /// Write the settlement file of a reconciled day: per sub-merchant
    /// amounts, fees, net due and payout date (CSV and JSON).
    Settlement {
        #[arg(long)]
        config: PathBuf,
        /// The day, yyyy-MM-dd.
        #[arg(long)]
        date: String,
        /// The folder (default: `[settlement] out_dir`, or `<store folder>/settlement`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// From the journal alone when the day is not reconciled (or has open differences).
        #[arg(long)]
        unreconciled: bool,
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

/// Logs of the one-shot commands go to stderr (stdout carries the result).
fn init_stderr_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Merchants(c) => std::process::exit(cli::run(cli::Group::Merchants(c))),
        Cmd::Stores(c) => std::process::exit(cli::run(cli::Group::Stores(c))),
        Cmd::Terminals(c) => std::process::exit(cli::run(cli::Group::Terminals(c))),
        Cmd::Reconcile {
            config,
            date,
            out,
            lang,
        } => {
            init_stderr_logs();
            let Some(lang) = engine::recon::Lang::parse(&lang) else {
                eprintln!("error: --lang must be en or zh, not {lang:?}");
                std::process::exit(1);
            };
            let req = engine::recon::ReconRequest {
                config,
                date,
                out,
                lang,
            };
            match engine::recon::reconcile_blocking(&req) {
                Ok(o) => {
                    let s = &o.report.summary;
                    println!(
                        "{}: {} bill rows, {} matched, {} differences ({} resolved, {} open)",
                        o.report.date,
                        o.report.bill_rows,
                        o.report.matched,
                        s.differences,
                        s.resolved,
                        s.open
                    );
                    for f in &o.files {
                        println!("{}", f.display());
                    }
                    std::process::exit(o.exit_code)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1)
                }
            }
        }
        Cmd::Settlement {
            config,
            date,
            out,
            unreconciled,
        } => {
            init_stderr_logs();
            let req = engine::settlement::SettleRequest {
                config,
                date,
                out,
                unreconciled,
            };
            match engine::settlement::settle_blocking(&req) {
                Ok(o) => {
                    let t = &o.settlement.totals;
                    println!(
                        "{} ({}): {} merchants, {} trades {}, {} refunds {}, net due {}",
                        o.settlement.date,
                        o.settlement.source,
                        o.settlement.merchants.len(),
                        t.trade_count,
                        t.trade_amount,
                        t.refund_count,
                        t.refund_amount,
                        t.net_amount
                    );
                    println!("{}", o.json_path.display());
                    println!("{}", o.csv_path.display());
                    std::process::exit(o.exit_code)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1)
                }
            }
        }
        Cmd::Migrate {
            config,
            allow_insecure_key_permissions,
        } => {
            init_stderr_logs();
            let cfg =
                match engine::config::Config::load_with(&config, allow_insecure_key_permissions) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: configuration {}: {e}", config.display());
                        std::process::exit(1);
                    }
                };
            match engine::store::migrate(&cfg.store) {
                Ok(engine::store::Migrated::Postgres { from, to }) if from == to => {
                    println!("schema version {to} (up to date)");
                    Ok(())
                }
                Ok(engine::store::Migrated::Postgres { from, to }) => {
                    println!("schema version {to} (migrated from {from})");
                    Ok(())
                }
                Ok(engine::store::Migrated::Sqlite) => {
                    println!("sqlite journal {}: up to date", cfg.store.path.display());
                    Ok(())
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1)
                }
            }
        }
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
