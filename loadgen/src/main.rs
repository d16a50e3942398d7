//! `loadgen`: thin command line over the library.

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
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
    }
    Ok(())
}
