//! `bosun-bench dictionary`: trains the zstd dictionary bosun compresses payloads with
//! (`src/store/webhooks-1.zdict`, the `zstd-d1` encoding) from the webhook fixtures, and
//! reports how much it saves on the payloads it did not see.
//!
//! The benchmarks' payloads (ingest: `github/pull_request/`; flow: one GitHub comment and one
//! GitLab note) are held out of training, so the ratios they measure are the ones a deployment
//! would get on payloads the dictionary never saw.
//! A trained dictionary is part of the journal's format: once rows use it, it must not change.
//! Retraining is for a new encoding (`zstd-d2`, …), with the old dictionary kept.

use anyhow::Context as _;
use bosun::store::{Payload, PayloadCompression, WEBHOOK_DICTIONARY};
use std::path::{Path, PathBuf};

/// Arguments of `bosun-bench dictionary`.
#[derive(Debug, clap::Args)]
pub struct DictionaryArgs {
    /// The fixtures directory whose `*.json` files are the training samples.
    #[arg(long, default_value = "tests/fixtures")]
    pub fixtures: PathBuf,
    /// Write the trained dictionary here (default: only report on the compiled-in one).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The dictionary's size in bytes.
    #[arg(long, default_value_t = 16 * 1024)]
    pub size: usize,
}

/// Fixtures at or under these paths (relative to `--fixtures`) are held out of training: the
/// payloads `bosun-bench ingest` and `bosun-bench flow` send.
const HELD_OUT: [&str; 3] = [
    "github/pull_request",
    "github/issue_comment/created.on-pull-request.lgtm.json",
    "gitlab/note/merge_request.json",
];

/// Trains (with `--out`) and reports the compiled-in dictionary's ratios on the held-out files.
pub fn run(args: DictionaryArgs) -> anyhow::Result<()> {
    let mut files = Vec::new();
    collect_json(&args.fixtures, &mut files)?;
    files.sort();
    let held_out: Vec<PathBuf> = HELD_OUT.iter().map(|p| args.fixtures.join(p)).collect();
    let (tested, trained): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|f| held_out.iter().any(|h| f.starts_with(h)));
    anyhow::ensure!(
        !trained.is_empty() && !tested.is_empty(),
        "no fixtures to train on or to test with under {}",
        args.fixtures.display()
    );
    if let Some(out) = &args.out {
        let samples = trained
            .iter()
            .map(|f| std::fs::read(f).with_context(|| format!("reading {}", f.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let dictionary =
            zstd::dict::from_samples(&samples, args.size).context("training the dictionary")?;
        std::fs::write(out, &dictionary).with_context(|| format!("writing {}", out.display()))?;
        println!(
            "trained a {} B dictionary on {} fixtures ({} B), holding out {}; wrote {}",
            dictionary.len(),
            samples.len(),
            samples.iter().map(Vec::len).sum::<usize>(),
            HELD_OUT.join(", "),
            out.display()
        );
        println!(
            "(the numbers below are the compiled-in dictionary's: rebuild to see the new one)"
        );
    }
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8}",
        "held-out payload", "bytes", "lz4", "zstd-d1", "ratio"
    );
    let (mut raw, mut packed) = (0usize, 0usize);
    for file in &tested {
        let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let lz4 = Payload::encode(body.clone().into(), PayloadCompression::Lz4);
        let zstd = Payload::encode(body.clone().into(), PayloadCompression::Zstd);
        raw += body.len();
        packed += zstd.stored().len();
        println!(
            "{:<40} {:>8} {:>8} {:>8} {:>8.1}",
            file.strip_prefix(&args.fixtures).unwrap_or(file).display(),
            body.len(),
            lz4.stored().len(),
            zstd.stored().len(),
            body.len() as f64 / zstd.stored().len() as f64
        );
    }
    println!(
        "all {} held-out payloads: {raw} B -> {packed} B with zstd-d1 ({:.1}x); dictionary {} B",
        tested.len(),
        raw as f64 / packed.max(1) as f64,
        WEBHOOK_DICTIONARY.len()
    );
    Ok(())
}

/// Every `*.json` file under `dir`.
fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}
