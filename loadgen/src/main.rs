//! `loadgen`: thin command line over the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc, as the payswitch binary: the demo's switch and simulator run in
/// this binary (`internal-switch`, `internal-sim`), and the generator's own
/// request path allocates many small, short-lived buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Load generator and pressure-test report for payswitch"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the simulator and the switch, run a short mixed load, audit, report into ./report/.
    Demo(loadgen::demo::DemoArgs),
    /// The business acceptance self-check (业务验收, docs/PROTOCOL.md §9.8): one scenario per point, a PASS/FAIL checklist.
    Acceptance(Box<loadgen::acceptance::AcceptanceArgs>),
    /// Run a load against the switch or the gateway and write the report.
    Run(Box<loadgen::run::RunArgs>),
    /// Re-render report.md and report.html from a report.json (e.g. in another language).
    Report {
        /// The JSON report.
        json: PathBuf,
        /// Output directory (default: the JSON's directory).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "en")]
        lang: loadgen::report::Lang,
    },
    /// Compare two JSON reports (B against A) and flag regressions.
    Compare {
        a: PathBuf,
        b: PathBuf,
        /// Tolerance in percent before a change counts as a regression.
        #[arg(long, default_value_t = 10.0)]
        tolerance: f64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// RSA2 sign and verify throughput, per thread and in total.
    SignBench {
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long, value_enum, default_value = "aws-lc-rs")]
        backend: loadgen::signbench::Backend,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// (internal) Run the simulator in this process, for `demo`.
    #[command(hide = true)]
    InternalSim(loadgen::demo::InternalSimArgs),
    /// (internal) A trivial `200 ok` endpoint, for measuring the generator itself.
    #[command(hide = true)]
    InternalEcho {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Worker threads of the endpoint.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// (internal) Run the switch in this process, for `demo`.
    #[command(hide = true)]
    InternalSwitch(loadgen::demo::InternalSwitchArgs),
}

/// Exit code of a run whose verdict failed (thresholds, audit, invalid).
const EXIT_FAILED: i32 = 2;

fn main() -> anyhow::Result<()> {
    // Usage errors exit 1 like every other error; 2 means "the run failed".
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match cli.cmd {
        Cmd::SignBench {
            threads,
            seconds,
            backend,
            json,
        } => {
            let r = loadgen::signbench::run(threads, seconds, backend)?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", loadgen::signbench::render_text(&r));
            }
        }
        Cmd::Run(args) => {
            let rt = runtime()?;
            let passed = rt.block_on(loadgen::run::run_cli(&args))?;
            if !passed {
                std::process::exit(EXIT_FAILED);
            }
        }
        Cmd::Acceptance(args) => {
            let rt = runtime()?;
            let passed = rt.block_on(loadgen::acceptance::run_acceptance(&args))?;
            if !passed {
                std::process::exit(EXIT_FAILED);
            }
        }
        Cmd::Demo(args) => {
            let rt = runtime()?;
            let passed = rt.block_on(loadgen::demo::run_demo(&args))?;
            if !passed {
                std::process::exit(EXIT_FAILED);
            }
        }
        Cmd::Report { json, out, lang } => {
            let r = loadgen::report::read(&json)?;
            let dir = out.unwrap_or_else(|| {
                json.parent()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."))
            });
            let w = loadgen::report::write_all(&r, &dir, lang)?;
            println!(
                "{}\n{}\n{}",
                w.json.display(),
                w.markdown.display(),
                w.html.display()
            );
        }
        Cmd::Compare {
            a,
            b,
            tolerance,
            json,
        } => {
            let ra = loadgen::report::read(&a)?;
            let rb = loadgen::report::read(&b)?;
            let c = loadgen::report::compare::compare(&ra, &rb, tolerance);
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print!("{}", loadgen::report::compare::render_text(&c));
            }
            if c.regressions > 0 {
                std::process::exit(EXIT_FAILED);
            }
        }
        Cmd::InternalEcho { listen, threads } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()?;
            rt.block_on(loadgen::echo::serve(&listen, |a| println!("LISTENING {a}")))?;
        }
        Cmd::InternalSim(args) => runtime()?.block_on(loadgen::demo::internal_sim(args))?,
        Cmd::InternalSwitch(args) => runtime()?.block_on(loadgen::demo::internal_switch(args))?,
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
