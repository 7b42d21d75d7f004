//! `bosun-bench startup`: how long `bosun serve` takes from being started to answering
//! `GET /readyz` with 200, and how much memory it holds idle, on an empty database and on one
//! with `--deliveries` stored (SQLite and Postgres).
//!
//! Per store: a fresh database; the first start (it applies every migration); `--starts` more
//! starts on the migrated, empty database; then `--deliveries` finished rows are seeded in one
//! statement (the page benchmark's seeding, payloads of `--payload-bytes`) and the server is
//! started `--starts` times again. Each start is a new process of this binary (`bosun-bench
//! bosun serve`, the same library as `bosun`), with the queue's default 4 workers and a forge
//! that is never called; the clock runs from spawning it to the first 200 from `/readyz`
//! (polled every 2 ms). RSS is `VmRSS` one second after ready.

use crate::ingest::{PgAdmin, SECRET_ENV, Server, free_port, proc_status_kb};
use anyhow::{Context as _, bail};
use std::path::Path;
use std::time::{Duration, Instant};

/// Arguments of `bosun-bench startup`.
#[derive(Debug, clap::Args)]
pub struct StartupArgs {
    /// Deliveries in the large database.
    #[arg(long, default_value_t = 1_000_000)]
    pub deliveries: i64,
    /// Bytes of payload per seeded delivery (start-up reads no payload; small rows keep the
    /// seeding quick).
    #[arg(long, default_value_t = 512)]
    pub payload_bytes: i64,
    /// Starts timed per database state (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub starts: usize,
    /// A Postgres URL the benchmark may create and drop a database with.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// Leave out Postgres.
    #[arg(long)]
    pub skip_postgres: bool,
}

/// One start: time to ready and idle memory.
struct Start {
    ready: Duration,
    rss_kb: Option<u64>,
}

fn config(port: u16, url: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nhttp_workers = 2\n\n\
         [database]\nurl = \"{url}\"\n\n\
         [github]\napi_url = \"http://127.0.0.1:9\"\ntoken_env = \"BOSUN_BENCH_NO_TOKEN\"\n\n\
         [github.webhook_secrets]\n\"*\" = [\"{SECRET_ENV}\"]\n"
    )
}

/// Starts bosun on `url`, times it to ready, reads its idle RSS, stops it.
async fn start_once(dir: &Path, url: &str, tag: &str) -> anyhow::Result<Start> {
    let port = free_port()?;
    let config_path = dir.join(format!("{tag}.toml"));
    std::fs::write(&config_path, config(port, url))?;
    let config_path = config_path.to_string_lossy().into_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let ready_url = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    let mut server = Server::spawn(
        &["bosun", "serve", "--config", &config_path],
        port,
        "bench-secret",
        dir.join(format!("{tag}.log")),
    )?;
    let result = async {
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("bosun exited ({status}):\n{}", server.log_tail());
            }
            if http
                .get(&ready_url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("not ready after 120 s:\n{}", server.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let ready = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_kb = server.pid().and_then(|p| proc_status_kb(p, "VmRSS"));
        anyhow::Ok(Start { ready, rss_kb })
    }
    .await;
    let stopped = server.stop().await;
    let start = result?;
    stopped?;
    Ok(start)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

fn line(store: &str, state: &str, starts: &[Start]) {
    let ms: Vec<f64> = starts.iter().map(|s| s.ready.as_secs_f64() * 1e3).collect();
    let rss: Vec<f64> = starts
        .iter()
        .filter_map(|s| s.rss_kb)
        .map(|k| k as f64 / 1024.0)
        .collect();
    let each: Vec<String> = ms.iter().map(|m| format!("{m:.0}")).collect();
    println!(
        "{store:<9} {state:<34} {:>9.0} {:>10.1}   ({} ms)",
        median(ms),
        median(rss),
        each.join(", ")
    );
}

/// Runs the start-up benchmark on one store.
async fn measure_store(
    args: &StartupArgs,
    dir: &Path,
    store: &str,
    url: &str,
) -> anyhow::Result<()> {
    let first = start_once(dir, url, &format!("{store}-first")).await?;
    line(store, "empty, first start (migrates)", &[first]);
    let mut empty = Vec::new();
    for i in 0..args.starts {
        empty.push(start_once(dir, url, &format!("{store}-empty-{i}")).await?);
    }
    line(store, "empty", &empty);
    let seeding = Instant::now();
    crate::pages::seed(url, args.deliveries, args.payload_bytes)
        .await
        .context("seeding")?;
    eprintln!(
        "bench: {store}: seeded {} deliveries in {:.1} s",
        args.deliveries,
        seeding.elapsed().as_secs_f64()
    );
    let mut large = Vec::new();
    for i in 0..args.starts {
        large.push(start_once(dir, url, &format!("{store}-large-{i}")).await?);
    }
    line(store, &format!("{} deliveries", args.deliveries), &large);
    Ok(())
}

/// Runs `bosun-bench startup`.
pub async fn run(args: StartupArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "bosun-bench-startup-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    println!(
        "bosun-bench startup: {} start(s) per state, median; ready = spawn to first 200 from /readyz",
        args.starts
    );
    println!(
        "{:<9} {:<34} {:>9} {:>10}",
        "store", "database", "ready ms", "idle RSS MB"
    );
    let url = format!("sqlite://{}", dir.join("startup.db").display());
    let sqlite = measure_store(&args, &dir, "sqlite", &url).await;
    let postgres = if args.skip_postgres {
        Ok(())
    } else {
        let mut pg = PgAdmin::connect(&args.postgres).await?;
        let (name, url) = pg.create_database().await?;
        let measured = measure_store(&args, &dir, "postgres", &url).await;
        pg.drop_database(&name).await?;
        measured
    };
    if sqlite.is_ok() && postgres.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("bench: logs kept in {}", dir.display());
    }
    sqlite?;
    postgres
}
