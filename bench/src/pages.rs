//! `bosun-bench pages`: how fast the dashboard's list answers with many deliveries stored.
//!
//! Seeds a fresh database (SQLite file, or a Postgres database created and dropped here) with
//! `--deliveries` rows in one `INSERT … SELECT` (Postgres `generate_series`, SQLite a recursive
//! CTE — not a round trip per row), starts bosun on it (receive-only), and times `GET` of the
//! first page, the filtered pages and a page deep in the keyset order, over HTTP as a browser
//! would. The e2e test `pages::list_page_is_fast_with_100k_deliveries` uses the same seeding.

use anyhow::Context as _;
use bosun::config::{RawConfig, Settings};
use bosun::startup::Application;
use std::time::{Duration, Instant};

/// Arguments of `bosun-bench pages`.
#[derive(Debug, clap::Args)]
pub struct PagesArgs {
    /// Deliveries to store before measuring.
    #[arg(long, default_value_t = 100_000)]
    pub deliveries: i64,
    /// Bytes of payload per delivery (GitHub's are ~25 KB).
    #[arg(long, default_value_t = 25_000)]
    pub payload_bytes: i64,
    /// Requests per page measured (the median is reported).
    #[arg(long, default_value_t = 21)]
    pub requests: usize,
    /// A Postgres URL the benchmark may create and drop a database with.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// Leave out Postgres (machines without it).
    #[arg(long)]
    pub skip_postgres: bool,
}

/// The repos seeded rows are spread over; `seed-org/repo-0` gets 1 row in 50.
pub const SEED_REPOS: i64 = 50;

/// Fills `deliveries` with `n` finished rows, newest last: 1 in 10 from GitLab, 1 in 100
/// failed (with an error), 2 in 100 ignored, the rest done; spread over `SEED_REPOS` repos and
/// one second apart. One statement, so 100,000 rows take about a second.
pub async fn seed(db_url: &str, n: i64, payload_bytes: i64) -> anyhow::Result<()> {
    if db_url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = db_url.parse()?;
        let pool = sqlx::SqlitePool::connect_with(options).await?;
        sqlx::query(
            "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $1)
             INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload,
                                     status, attempts, last_error, decided, received_at, run_after, started_at, finished_at)
             SELECT 'seed:' || x,
                    CASE WHEN x % 10 = 0 THEN 'gitlab' ELSE 'github' END,
                    CASE WHEN x % 10 = 0 THEN 'Note Hook' ELSE 'issue_comment' END,
                    'seed-org/repo-' || (x % $3), x % 2000 + 1,
                    'seed-org/repo-' || (x % $3) || '#' || (x % 2000 + 1), '{}', zeroblob($2),
                    CASE WHEN x % 100 = 0 THEN 'failed' WHEN x % 100 IN (1, 2) THEN 'ignored' ELSE 'done' END,
                    1,
                    CASE WHEN x % 100 = 0 THEN 'hold add_label: forge answered 500' END,
                    1, t, t, t, t + 40
             FROM (SELECT x, CAST(strftime('%s', 'now') AS INTEGER) * 1000 - ($1 - x) * 1000 AS t FROM g)",
        )
        .bind(n)
        .bind(payload_bytes)
        .bind(SEED_REPOS)
        .execute(&pool)
        .await
        .context("seeding SQLite")?;
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(db_url).await?;
        sqlx::query(
            "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload,
                                     status, attempts, last_error, decided, received_at, run_after, started_at, finished_at)
             SELECT 'seed:' || x,
                    CASE WHEN x % 10 = 0 THEN 'gitlab' ELSE 'github' END,
                    CASE WHEN x % 10 = 0 THEN 'Note Hook' ELSE 'issue_comment' END,
                    'seed-org/repo-' || (x % $3::BIGINT), x % 2000 + 1,
                    'seed-org/repo-' || (x % $3::BIGINT) || '#' || (x % 2000 + 1), '{}',
                    convert_to(repeat('x', ($2::BIGINT)::INTEGER), 'UTF8'),
                    CASE WHEN x % 100 = 0 THEN 'failed' WHEN x % 100 IN (1, 2) THEN 'ignored' ELSE 'done' END,
                    1,
                    CASE WHEN x % 100 = 0 THEN 'hold add_label: forge answered 500' END,
                    TRUE, t, t, t, t + interval '40 milliseconds'
             FROM (SELECT x, now() - ($1::BIGINT - x) * interval '1 second' AS t
                   FROM generate_series(1::BIGINT, $1::BIGINT) AS x) s",
        )
        .bind(n)
        .bind(payload_bytes)
        .bind(SEED_REPOS)
        .execute(&pool)
        .await
        .context("seeding Postgres")?;
        pool.close().await;
    }
    Ok(())
}

/// The pages timed, by name.
pub fn measured_paths() -> Vec<(&'static str, String)> {
    vec![
        ("first page", "/".to_string()),
        ("status=failed", "/?status=failed".to_string()),
        ("repo filter", "/?repo=seed-org%2Frepo-7".to_string()),
        ("forge=gitlab", "/?forge=gitlab".to_string()),
        (
            "repo + status=failed",
            "/?repo=seed-org%2Frepo-0&status=failed".to_string(),
        ),
    ]
}

/// Median time of `requests` GETs of `url` (after one unmeasured request), failing on any
/// answer other than 200.
pub async fn time_get(
    client: &reqwest::Client,
    url: &str,
    requests: usize,
) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(requests);
    for i in 0..=requests {
        let started = Instant::now();
        let response = client.get(url).send().await?;
        let status = response.status();
        response.bytes().await?;
        anyhow::ensure!(status == 200, "GET {url}: {status}");
        if i > 0 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Runs the benchmark and prints one line per backend and page.
pub async fn run(args: PagesArgs) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}", dir.join("bosun.db").display()),
        None,
    )];
    if !args.skip_postgres {
        let name = format!("bosun_bench_pages_{}", std::process::id());
        let admin = sqlx::PgPool::connect(&args.postgres)
            .await
            .context("connecting to --postgres")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await?;
        let url = match args.postgres.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => anyhow::bail!("--postgres must end in /DATABASE"),
        };
        targets.push(("postgres", url, Some((admin, name))));
    }
    println!(
        "bosun-bench pages: {} deliveries of {} bytes, median of {} requests",
        args.deliveries, args.payload_bytes, args.requests
    );
    for (backend, url, cleanup) in targets {
        let result = measure(backend, &url, &args).await;
        if let Some((admin, name)) = cleanup {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await;
        }
        result?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("bosun-bench-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn measure(backend: &str, url: &str, args: &PagesArgs) -> anyhow::Result<()> {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[database]\nurl = \"{url}\"\n[queue]\nworkers = 0\n"
    );
    let settings: Settings = RawConfig::parse(&text, &[])
        .and_then(|raw| raw.validate(&[]))
        .map_err(|e| anyhow::anyhow!("bench config: {e:?}"))?;
    // Build once to migrate, then seed, then serve.
    let app = Application::build(settings).await?;
    let started = Instant::now();
    seed(url, args.deliveries, args.payload_bytes).await?;
    println!(
        "{backend}: seeded {} deliveries in {:.1} s",
        args.deliveries,
        started.elapsed().as_secs_f64()
    );
    let port = app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut paths = measured_paths();
    paths.push(("page 100 (keyset)", deep_page(&client, &base, 100).await?));
    for (name, path) in paths {
        let median = time_get(&client, &format!("{base}{path}"), args.requests).await?;
        println!(
            "{backend}: {name:<22} {:>7.1} ms",
            median.as_secs_f64() * 1000.0
        );
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// Follows "older" links `pages` times and returns the last page's path.
pub async fn deep_page(
    client: &reqwest::Client,
    base: &str,
    pages: usize,
) -> anyhow::Result<String> {
    let mut path = "/".to_string();
    for _ in 0..pages {
        let body = client
            .get(format!("{base}{path}"))
            .send()
            .await?
            .text()
            .await?;
        let Some(next) = older_link(&body) else { break };
        path = next;
    }
    Ok(path)
}

/// The "Older" link of a rendered list page, unescaped.
pub fn older_link(body: &str) -> Option<String> {
    let at = body.find("class=\"older\" href=\"")?;
    let rest = &body[at + "class=\"older\" href=\"".len()..];
    let end = rest.find('"')?;
    Some(rest[..end].replace("&amp;", "&").replace("&#38;", "&"))
}
