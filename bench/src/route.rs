//! `bosun-bench route`: the receiver's per-delivery work on the body, step by step, in one
//! process and one run: GitHub routing as the previous release did it (owned strings) and as
//! bosun does it now (borrowed), the validation-only floor (serde `IgnoredAny`), the body copy
//! the receiver no longer makes, and the payload's compression and decompression with LZ4 and
//! with zstd and the webhook dictionary.

use actix_web::web::{Bytes, BytesMut};
use anyhow::Context as _;
use bosun::store::{Payload, PayloadCompression};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `bosun-bench route`.
#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    /// Timed iterations per step (after as many warm-up iterations).
    #[arg(long, default_value_t = 20_000)]
    pub iterations: usize,
    /// Payload files (repeatable); default the ingest benchmark's two fixtures.
    #[arg(long = "payload")]
    pub payloads: Vec<PathBuf>,
}

/// The previous release's routing structs (owned strings), kept here to measure against.
mod before {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Named {
        pub full_name: Option<String>,
        pub login: Option<String>,
    }

    #[derive(Deserialize)]
    pub struct Numbered {
        pub number: Option<i64>,
    }

    #[derive(Deserialize)]
    pub struct GitHubRouting {
        pub repository: Option<Named>,
        pub organization: Option<Named>,
        pub number: Option<i64>,
        pub pull_request: Option<Numbered>,
        pub issue: Option<Numbered>,
    }

    /// Scope, repo and number, as `route_github` returned them.
    pub fn route(body: &[u8]) -> Option<(Option<String>, Option<String>, Option<i64>)> {
        let r: GitHubRouting = serde_json::from_slice(body).ok()?;
        let repo = r
            .repository
            .and_then(|x| x.full_name)
            .filter(|s| !s.is_empty());
        let org = r
            .organization
            .and_then(|x| x.login)
            .filter(|s| !s.is_empty());
        let number = r
            .number
            .or(r.pull_request.and_then(|p| p.number))
            .or(r.issue.and_then(|i| i.number));
        Some((repo.clone().or(org), repo, number))
    }
}

/// Mean nanoseconds of `f` over `iterations` (after as many warm-up calls).
fn time<T>(iterations: usize, mut f: impl FnMut() -> T) -> f64 {
    for _ in 0..iterations {
        std::hint::black_box(f());
    }
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(f());
    }
    started.elapsed().as_nanos() as f64 / iterations as f64
}

/// `payloads`, or when it is empty the ingest benchmark's two pull-request fixtures of the
/// source tree, which the benchmarks that take payload files default to.
pub(crate) fn payload_files_or_fixtures(payloads: &[PathBuf]) -> Vec<PathBuf> {
    if payloads.is_empty() {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/github/pull_request");
        vec![
            dir.join("edited.json"),
            dir.join("reopened.test-infra.json"),
        ]
    } else {
        payloads.to_vec()
    }
}

/// Runs `bosun-bench route`.
pub fn run(args: RouteArgs) -> anyhow::Result<()> {
    let files = payload_files_or_fixtures(&args.payloads);
    let n = args.iterations.max(1);
    println!(
        "bosun-bench route: {n} iterations per step, mean µs per delivery (one process, one run)"
    );
    println!(
        "{:<26} {:>8} {:>10} {:>10} {:>10} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>10}",
        "payload",
        "bytes",
        "route old",
        "route new",
        "validate",
        "copy",
        "lz4",
        "unlz4",
        "lz4 bytes",
        "zstd",
        "unzstd",
        "zstd bytes"
    );
    for file in files {
        let body = Bytes::from(
            std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
        );
        let old = before::route(&body).context("old routing failed")?;
        let new = bosun::server::hook::route_github(&body)
            .map_err(|e| anyhow::anyhow!("routing failed: {e}"))?;
        anyhow::ensure!(
            old.0.as_deref() == new.scope.as_deref()
                && old.1.as_deref() == new.repo.as_deref()
                && old.2 == new.number,
            "old and new routing disagree"
        );
        let route_old = time(n, || before::route(&body));
        let route_new = time(n, || bosun::server::hook::route_github(&body).is_ok());
        let validate = time(n, || {
            serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok()
        });
        let copy = time(n, || {
            let mut b = BytesMut::with_capacity(body.len());
            b.extend_from_slice(&body);
            b.freeze()
        });
        let packed = Payload::encode(body.clone(), PayloadCompression::Lz4);
        let lz4 = time(n, || Payload::encode(body.clone(), PayloadCompression::Lz4));
        let unlz4 = time(n, || packed.decoded().map(|v| v.len()));
        let zstd_packed = Payload::encode(body.clone(), PayloadCompression::Zstd);
        let zstd = time(n, || {
            Payload::encode(body.clone(), PayloadCompression::Zstd)
        });
        let unzstd = time(n, || zstd_packed.decoded().map(|v| v.len()));
        let name = file
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        println!(
            "{:<26} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>8.1} {:>8.1} {:>9.1} {:>9} {:>8.1} {:>8.1} {:>10}",
            name,
            body.len(),
            route_old / 1e3,
            route_new / 1e3,
            validate / 1e3,
            copy / 1e3,
            lz4 / 1e3,
            unlz4 / 1e3,
            packed.stored().len(),
            zstd / 1e3,
            unzstd / 1e3,
            zstd_packed.stored().len()
        );
    }
    println!(
        "columns: route old = the previous release's routing (owned strings); route new = \
         bosun::server::hook::route_github (borrowed); validate = serde_json into IgnoredAny (the \
         floor for any routing that checks the body is JSON); copy = the BytesMut copy read_body \
         made of every body; lz4 / unlz4 and zstd / unzstd = Payload::encode / decoded with \
         \"lz4\" and with \"zstd\" (the webhook dictionary)"
    );
    Ok(())
}
