//! `bosun-bench`: the benchmarks behind BENCHMARKS.md, in a binary of their own so the service
//! ships no benchmark harness and no test double. Each measures bosun against a baseline in
//! one run (ratios, not absolute times: the machines are noisy).

use bosun_bench::ingest;
use clap::Parser;

/// bosun's benchmarks; see BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "bosun-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: ingest::BenchCommand,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    bosun::telemetry::init_tracing();
    let cli = Cli::parse();
    match ingest::run(ingest::BenchArgs {
        command: cli.command,
    })
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
