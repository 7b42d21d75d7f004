//! The `bosun` binary: telemetry, the command line, and nothing else.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    bosun::telemetry::init_tracing();
    let cli = bosun::cli::Cli::parse();
    match bosun::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
