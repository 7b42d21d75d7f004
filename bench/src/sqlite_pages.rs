//! `bosun-bench sqlite-pages`: what a SQLite commit of deliveries writes, b-tree by b-tree, for
//! each page size compared. A commit appends every page it changed, whole, to the WAL, and a
//! checkpoint later writes each of those pages once more into the database file; so the bytes a
//! delivery costs depend on how many pages its commit dirties, not on how many bytes it adds.
//!
//! Each page size gets a fresh file in a temporary directory, created with that size, migrated
//! and journaled by bosun's own store (`insert_deliveries`, payloads compressed as bosun
//! compresses them), while a reader holds the file as it was before, so no checkpoint copies a
//! frame and the WAL never starts over: it holds every frame written. The
//! WAL's frame headers name the page each frame wrote; SQLite's `dbstat` table names the b-tree
//! each page belongs to.

use anyhow::Context as _;
use bosun::store::sqlite::{Checkpoints, SqliteStore, SqliteTuning};
use bosun::store::{NewDelivery, Payload, PayloadCompression, Store as _};
use bosun_plugins::ForgeKind;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions as _, Connection as _};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Arguments of `bosun-bench sqlite-pages`.
#[derive(Debug, clap::Args)]
pub struct SqlitePagesArgs {
    /// Page sizes to compare, in bytes (repeatable).
    #[arg(long = "page-size", default_values_t = [4096u32, 2048, 1024])]
    pub page_sizes: Vec<u32>,
    /// Deliveries journaled in each commit (the ingest benchmark's batches hold 6–15).
    #[arg(long, default_value_t = 7)]
    pub batch: usize,
    /// Deliveries journaled in all, per page size.
    #[arg(long, default_value_t = 7_000)]
    pub deliveries: usize,
    /// Pull requests the deliveries are spread over, in turn (the ingest benchmark's two
    /// fixtures are two).
    #[arg(long, default_value_t = 2)]
    pub items: usize,
    /// Payload files (repeatable), used in turn; default the ingest benchmark's two fixtures.
    #[arg(long = "payload")]
    pub payloads: Vec<PathBuf>,
}

/// The size of the WAL file's header, and of each frame's header before its page.
const WAL_HEADER: usize = 32;
const FRAME_HEADER: usize = 24;

/// Runs `bosun-bench sqlite-pages`.
pub async fn run(args: SqlitePagesArgs) -> anyhow::Result<()> {
    let files = crate::route::payload_files_or_fixtures(&args.payloads);
    let mut payloads = Vec::new();
    for file in &files {
        let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let payload = Payload::encode(body.into(), PayloadCompression::default());
        println!(
            "payload {}: {} B stored ({})",
            file.display(),
            payload.stored().len(),
            payload.encoding().as_str()
        );
        payloads.push(payload);
    }
    let batch = args.batch.max(1);
    let commits = (args.deliveries / batch).max(1);
    let deliveries = commits * batch;
    println!(
        "{deliveries} deliveries in commits of {batch}, over {} PRs; bytes per delivery: \
         WAL = frames appended, checkpoint = distinct pages (what one checkpoint at the end writes)",
        args.items.max(1)
    );
    for &page_size in &args.page_sizes {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pages.db");
        let counts = journal_and_count(&path, page_size, &payloads, batch, commits, args.items)
            .await
            .with_context(|| format!("page size {page_size}"))?;
        print_counts(page_size, deliveries, &counts);
    }
    Ok(())
}

/// Frames in the WAL and distinct pages, by b-tree.
#[derive(Debug, Default)]
struct Written {
    frames: usize,
    pages: BTreeSet<u32>,
}

/// Creates a database of `page_size` pages at `path`, journals `commits` batches into it with
/// no checkpoint able to copy a frame, and counts the WAL's frames by b-tree.
async fn journal_and_count(
    path: &Path,
    page_size: u32,
    payloads: &[Payload],
    batch: usize,
    commits: usize,
    items: usize,
) -> anyhow::Result<BTreeMap<String, Written>> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(page_size)
        .journal_mode(SqliteJournalMode::Wal);
    let mut reader = options.connect().await?;
    let url = format!("sqlite:{}", path.display());
    let store = SqliteStore::connect_with(
        &url,
        1,
        SqliteTuning {
            checkpoints: Checkpoints::Inline,
            ..SqliteTuning::default()
        },
    )
    .await?;
    store.migrate().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await?;
    // A read transaction on the file as it is now: while it lasts, a checkpoint (the store's
    // connections checkpoint inside their commits) may copy no frame, and the WAL keeps them all.
    sqlx::query("BEGIN").execute(&mut reader).await?;
    sqlx::query("SELECT count(*) FROM sqlite_schema")
        .execute(&mut reader)
        .await?;
    let items = items.max(1);
    let mut n = 0usize;
    for _ in 0..commits {
        let deliveries: Vec<NewDelivery> = (0..batch)
            .map(|_| {
                n += 1;
                let pr = (n % items) as i64 + 1;
                let id = uuid::Uuid::new_v4().to_string();
                NewDelivery {
                    headers: format!(
                        r#"{{"user-agent":"GitHub-Hookshot/8f1b2c3","x-github-delivery":"{id}","x-github-event":"pull_request","x-github-hook-id":"123456789"}}"#
                    ),
                    delivery_id: format!("github:{id}"),
                    forge: ForgeKind::GitHub,
                    event: "pull_request".into(),
                    repo: Some("kubernetes/test-infra".into()),
                    number: Some(pr),
                    item_key: format!("github:kubernetes/test-infra#{pr}"),
                    payload: payloads[n % payloads.len()].clone(),
                }
            })
            .collect();
        store.insert_deliveries(&deliveries).await?;
    }
    let names: HashMap<i64, String> = sqlx::query_as("SELECT pageno, name FROM dbstat")
        .fetch_all(store.pool())
        .await?
        .into_iter()
        .collect();
    let wal = std::fs::read(path.with_extension("db-wal")).context("reading the WAL")?;
    sqlx::query("ROLLBACK").execute(&mut reader).await?;
    reader.close().await?;
    drop(store);
    let frame = FRAME_HEADER + page_size as usize;
    let mut written: BTreeMap<String, Written> = BTreeMap::new();
    for header in wal
        .get(WAL_HEADER..)
        .unwrap_or_default()
        .chunks_exact(frame)
        .map(|f| &f[..FRAME_HEADER])
    {
        let page = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let name = names
            .get(&i64::from(page))
            .cloned()
            .unwrap_or_else(|| "(free)".into());
        let entry = written.entry(name).or_default();
        entry.frames += 1;
        entry.pages.insert(page);
    }
    Ok(written)
}

/// One page size's table: bytes per delivery by b-tree, most written first.
fn print_counts(page_size: u32, deliveries: usize, counts: &BTreeMap<String, Written>) {
    let per = |pages: usize| (pages * page_size as usize) as f64 / deliveries as f64;
    let wal: usize = counts.values().map(|w| w.frames).sum();
    let checkpoint: usize = counts.values().map(|w| w.pages.len()).sum();
    println!(
        "\npage size {page_size}: WAL {:.0} B, checkpoint {:.0} B, both {:.0} B per delivery",
        per(wal),
        per(checkpoint),
        per(wal + checkpoint)
    );
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by_key(|(_, w)| std::cmp::Reverse(w.frames));
    for (name, w) in rows {
        println!(
            "  {name:<34} WAL {:>7.0}  checkpoint {:>7.0}",
            per(w.frames),
            per(w.pages.len())
        );
    }
}
