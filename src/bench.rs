//! `bosun bench …`: benchmarks that are code in the repo (results in BENCHMARKS.md).

/// Arguments of `bosun bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which benchmark.
    pub which: String,
}

/// Runs a benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("unknown benchmark {:?}", args.which)
}
