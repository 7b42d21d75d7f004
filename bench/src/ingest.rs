//! `bosun-bench …`: benchmarks that are code in the repo (results in BENCHMARKS.md).
//!
//! `bosun-bench ingest` measures webhook acknowledgement: how many signed ~25 KB GitHub
//! deliveries per second bosun answers with 202 (each one committed to its journal), and how
//! long each answer takes, against three targets started as child processes of this binary:
//!
//! * (c) `baseline` — the hidden `bosun-bench baseline` server: actix-web with bosun's worker
//!   count, reads the body, verifies the HMAC and stores nothing. It is the ceiling.
//! * (b) `sqlite` — `bosun serve` on a fresh SQLite file.
//! * (a) `postgres` — `bosun serve` on a fresh Postgres database, dropped afterwards.
//!
//! The load generator runs in this process with exactly `--concurrency` requests in flight.
//! bosun runs receive-only (`[queue] workers = 0`): the benchmark measures the receiver and the
//! journal, not plugin work.

use actix_web::web::Bytes;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context as _, bail};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::{ConnectOptions as _, Connection as _};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The environment variable that carries the webhook secret to the child servers.
pub(crate) const SECRET_ENV: &str = "BOSUN_BENCH_SECRET";
/// The `X-GitHub-Event` of every delivery.
const EVENT: &str = "pull_request";
/// Fixture files of about this size are picked when no `--payload` is given.
const FIXTURE_SIZES: std::ops::RangeInclusive<u64> = 24_000..=27_000;
/// The longest a request may wait for its response before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The Linux `USER_HZ` that `/proc/*/stat` CPU times are counted in (fixed at 100 on x86_64).
const TICKS_PER_SECOND: f64 = 100.0;

/// Arguments of `bosun bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Which benchmark.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Webhook acknowledgement throughput and latency: bosun on Postgres and on SQLite against
    /// a baseline endpoint that verifies the signature and stores nothing.
    Ingest(IngestArgs),
    /// OWNERS on a synthetic monorepo served by the fake forge: API calls and time to the
    /// approve and blunderbuss decisions, cold, warm and on a new base SHA.
    Owners(crate::owners::OwnersBenchArgs),
    /// The baseline endpoint; `ingest` starts it as a child process.
    #[command(hide = true)]
    Baseline(BaselineArgs),
    /// The dashboard's list page with many deliveries stored, on SQLite and Postgres.
    Pages(crate::pages::PagesArgs),
    /// The receiver's work on one body, step by step: routing before and after, the copy it
    /// no longer makes, LZ4 and zstd both ways.
    Route(crate::route::RouteArgs),
    /// Trains the zstd dictionary bosun compresses payloads with, and reports its ratios on
    /// held-out payloads.
    Dictionary(crate::dictionary::DictionaryArgs),
    /// Start-to-ready time and idle memory on an empty and on a large database.
    Startup(crate::startup::StartupArgs),
    /// The whole path at fixed offered rates (open loop): signed webhook in, plugin decision,
    /// forge write out, with the `hold`, `lgtm` and `approve` mixes, on both stores.
    Flow(crate::flow::FlowArgs),
    /// What a SQLite commit of deliveries writes, b-tree by b-tree, for each page size.
    SqlitePages(crate::sqlite_pages::SqlitePagesArgs),
    /// Runs bosun itself (`bosun-bench bosun serve …`): the servers and the `owners` command
    /// the benchmarks measure, from the same library as the `bosun` binary.
    #[command(hide = true)]
    Bosun {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// One server the load is aimed at. The `-before` targets run today's binary configured as
/// the previous release journaled (payloads as received, Postgres compressing them with lz4
/// TOAST, SQLite checkpointing inside commits); the `-only` targets make one change each, so
/// every change is measured on its own, in the same run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Target {
    /// (c) Reads the body, verifies the HMAC, stores nothing.
    Baseline,
    /// (b) SQLite, as the previous release journaled: no compression, inline checkpoints.
    SqliteBefore,
    /// SQLite with bosun's lz4 compression only (inline checkpoints).
    SqliteLz4Only,
    /// SQLite with background checkpoints only (no compression).
    SqliteCheckpointOnly,
    /// SQLite as the release before zstd: lz4 in bosun, background checkpoints.
    SqliteLz4,
    /// SQLite as configured by default but for `sqlite_sync = "os"`: commits not waiting for
    /// the disk, as every release before session 16's.
    SqliteOs,
    /// (b) `bosun serve` on SQLite, as configured by default.
    Sqlite,
    /// (a) Postgres, as the previous release journaled: no compression in bosun, lz4 TOAST.
    PostgresBefore,
    /// Postgres as the release before zstd: lz4 in bosun, the column `STORAGE EXTERNAL`.
    PostgresLz4,
    /// (a) `bosun serve` on Postgres, as configured by default.
    Postgres,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Baseline => "baseline",
            Target::SqliteBefore => "sqlite-before",
            Target::SqliteLz4Only => "sqlite-lz4-only",
            Target::SqliteCheckpointOnly => "sqlite-checkpoint-only",
            Target::SqliteLz4 => "sqlite-lz4",
            Target::SqliteOs => "sqlite-os",
            Target::Sqlite => "sqlite",
            Target::PostgresBefore => "postgres-before",
            Target::PostgresLz4 => "postgres-lz4",
            Target::Postgres => "postgres",
        }
    }

    fn is_sqlite(self) -> bool {
        matches!(
            self,
            Target::SqliteBefore
                | Target::SqliteLz4Only
                | Target::SqliteCheckpointOnly
                | Target::SqliteLz4
                | Target::SqliteOs
                | Target::Sqlite
        )
    }

    fn is_postgres(self) -> bool {
        matches!(
            self,
            Target::PostgresBefore | Target::PostgresLz4 | Target::Postgres
        )
    }

    /// The `[database]` settings that select the target's behaviour. The SQLite targets that
    /// stand for earlier releases do not wait for the disk, as those releases did not.
    fn database_settings(self) -> String {
        let compression_and_checkpoints = match self {
            Target::SqliteBefore => {
                "payload_compression = \"none\"\nsqlite_checkpoints = \"inline\"\n"
            }
            Target::SqliteLz4Only => {
                "payload_compression = \"lz4\"\nsqlite_checkpoints = \"inline\"\n"
            }
            Target::SqliteCheckpointOnly => {
                "payload_compression = \"none\"\nsqlite_checkpoints = \"background\"\n"
            }
            Target::SqliteLz4 => {
                "payload_compression = \"lz4\"\nsqlite_checkpoints = \"background\"\n"
            }
            Target::PostgresBefore => "payload_compression = \"none\"\n",
            Target::PostgresLz4 => "payload_compression = \"lz4\"\n",
            Target::Baseline | Target::SqliteOs | Target::Sqlite | Target::Postgres => "",
        };
        let sync = if self.is_earlier_sqlite() || self == Target::SqliteOs {
            "sqlite_sync = \"os\"\n"
        } else {
            ""
        };
        format!("{compression_and_checkpoints}{sync}")
    }

    /// SQL run in the target's Postgres database after bosun migrated it: the previous release
    /// let TOAST compress the payload column (lz4, `…0002_payload_lz4.sql`).
    fn postgres_setup(self) -> Option<&'static str> {
        match self {
            Target::PostgresBefore => {
                Some("ALTER TABLE deliveries ALTER COLUMN payload SET STORAGE EXTENDED")
            }
            _ => None,
        }
    }

    /// Whether the target stands for a release before today's SQLite schema and file: such a
    /// file is created with SQLite's default 4 KiB pages (bosun creates 2 KiB ones since
    /// BENCHMARKS §17, and keeps an existing file's) and keeps the index by time that those
    /// releases wrote on every insert (dropped by `…drop_deliveries_received.sql`), so each
    /// compares as it did.
    fn is_earlier_sqlite(self) -> bool {
        self.is_sqlite() && !matches!(self, Target::Sqlite | Target::SqliteOs)
    }
}

/// What an earlier release's SQLite file had beyond today's (`Target::is_earlier_sqlite`),
/// run after bosun migrated it.
const EARLIER_SQLITE_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries (received_at DESC, id DESC)";

/// The page size SQLite gave new files before bosun chose its own.
const EARLIER_SQLITE_PAGE_SIZE: u32 = 4096;

/// Creates the SQLite file at `url` as an earlier release did: 4 KiB pages, fixed by putting
/// it in WAL mode before bosun opens it.
async fn create_earlier_sqlite_file(url: &str) -> anyhow::Result<()> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .page_size(EARLIER_SQLITE_PAGE_SIZE)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    options
        .connect()
        .await
        .with_context(|| format!("creating {url}"))?
        .close()
        .await?;
    // Read back on a connection of its own: the one that set the size reports it either way.
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    if page_size != i64::from(EARLIER_SQLITE_PAGE_SIZE) {
        bail!("{url} has pages of {page_size} bytes, not {EARLIER_SQLITE_PAGE_SIZE}");
    }
    Ok(())
}

/// How the load generator speaks HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// Pre-serialized HTTP/1.1 requests on one keep-alive TCP connection per slot: the load
    /// generator costs almost no CPU, which matters when it shares two cores with the server.
    Raw,
    /// reqwest (hyper), for comparison.
    Reqwest,
}

impl ClientKind {
    fn name(self) -> &'static str {
        match self {
            ClientKind::Raw => "raw",
            ClientKind::Reqwest => "reqwest",
        }
    }
}

/// Arguments of `bosun-bench ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Measured deliveries per target and round.
    #[arg(long = "n", short = 'n', default_value_t = 20_000)]
    pub n: usize,
    /// Requests in flight at any time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Deliveries sent to each server before measuring (not counted).
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,
    /// Rounds; each runs baseline, SQLite and Postgres in turn on fresh servers and databases.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// The fixtures directory; payloads are the `github/pull_request/*.json` files of 24–27 KB.
    /// Default `tests/fixtures` of the source tree.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// Payload files to send instead (repeatable); used in turn.
    #[arg(long = "payload")]
    pub payloads: Vec<PathBuf>,
    /// A Postgres URL the benchmark may create and drop databases with.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// Leave out the Postgres target (machines without Postgres).
    #[arg(long)]
    pub skip_postgres: bool,
    /// Run only these targets (repeatable); default all.
    #[arg(long = "only", value_enum)]
    pub only: Vec<Target>,
    /// The load generator's HTTP client.
    #[arg(long, value_enum, default_value_t = ClientKind::Raw)]
    pub client: ClientKind,
    /// How long a server may take to answer GET /healthz after it is started.
    #[arg(long, default_value_t = 60)]
    pub startup_timeout_seconds: u64,
    /// SQL run in each Postgres bench database after bosun migrated it and before the warm-up
    /// (experiments, e.g. a different TOAST compression; see BENCHMARKS.md).
    #[arg(long, hide = true)]
    pub postgres_sql: Option<String>,
    /// Open loop: send this many requests per second on a fixed schedule, whatever the
    /// answers (latency counts from each request's scheduled time, so queueing shows), with up
    /// to `--concurrency` in flight. Default: closed loop, `--concurrency` always in flight.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Print the results as one JSON object on stdout (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of the hidden `bosun-bench baseline`.
#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: String,
    /// The webhook secret.
    #[arg(long, env = SECRET_ENV, hide_env_values = true)]
    pub secret: String,
    /// HTTP worker threads (bosun's `http_workers` default).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

/// Runs a benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Ingest(args) => ingest(args).await,
        BenchCommand::Owners(args) => crate::owners::run(args).await,
        BenchCommand::Baseline(args) => baseline(args).await,
        BenchCommand::Pages(args) => crate::pages::run(args).await,
        BenchCommand::Route(args) => crate::route::run(args),
        BenchCommand::Startup(args) => crate::startup::run(args).await,
        BenchCommand::Dictionary(args) => crate::dictionary::run(args),
        BenchCommand::Flow(args) => crate::flow::run(args).await,
        BenchCommand::SqlitePages(args) => crate::sqlite_pages::run(args).await,
        BenchCommand::Bosun { args } => {
            use clap::Parser as _;
            let cli = bosun::cli::Cli::parse_from(std::iter::once("bosun".to_string()).chain(args));
            bosun::cli::run(cli).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline server.

struct BaselineSecret(Vec<u8>);

async fn baseline(args: BaselineArgs) -> anyhow::Result<()> {
    let secret = web::Data::new(BaselineSecret(args.secret.into_bytes()));
    HttpServer::new(move || {
        App::new()
            .app_data(secret.clone())
            .app_data(web::PayloadConfig::new(25 * 1024 * 1024))
            .route("/hook", web::post().to(baseline_hook))
            .route(
                "/healthz",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("text/plain; charset=utf-8")
                        .body("ok\n")
                }),
            )
    })
    .workers(args.workers.max(1))
    .backlog(2048)
    .bind(&args.listen)
    .with_context(|| format!("binding {}", args.listen))?
    .run()
    .await
    .context("baseline server")
}

async fn baseline_hook(
    req: HttpRequest,
    body: web::Bytes,
    secret: web::Data<BaselineSecret>,
) -> HttpResponse {
    let expected = req
        .headers()
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("sha256="))
        .and_then(|h| hex::decode(h).ok());
    let authentic = expected.is_some_and(|tag| {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&secret.0).is_ok_and(|mut mac| {
            mac.update(&body);
            mac.verify_slice(&tag).is_ok()
        })
    });
    if authentic {
        HttpResponse::Accepted()
            .content_type("text/plain; charset=utf-8")
            .body("accepted\n")
    } else {
        HttpResponse::Unauthorized()
            .content_type("text/plain; charset=utf-8")
            .body("invalid X-Hub-Signature-256\n")
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads and requests.

/// One fixture, signed once (the signature covers only the body).
struct Payload {
    name: String,
    body: Bytes,
    signature: String,
}

/// One request, serialized up to the body before timing starts.
struct Prepared {
    delivery: String,
    payload: usize,
    /// The request line and headers, for the raw client.
    head: Vec<u8>,
}

pub(crate) fn fixtures_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let candidates = [
        PathBuf::from("tests/fixtures"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures"),
    ];
    candidates
        .iter()
        .find(|c| c.is_dir())
        .cloned()
        .with_context(|| {
            format!(
                "no fixtures directory at {}; pass --fixtures",
                candidates[0].display()
            )
        })
}

fn load_payloads(args: &IngestArgs, secret: &str) -> anyhow::Result<Vec<Payload>> {
    let files = if args.payloads.is_empty() {
        let dir = fixtures_dir(args.fixtures.as_deref())?
            .join("github")
            .join(EVENT);
        let mut files = Vec::new();
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let size = entry.metadata()?.len();
            if path.extension().is_some_and(|e| e == "json") && FIXTURE_SIZES.contains(&size) {
                files.push(path);
            }
        }
        files.sort();
        if files.is_empty() {
            bail!(
                "no {}–{} byte .json fixtures in {}",
                FIXTURE_SIZES.start(),
                FIXTURE_SIZES.end(),
                dir.display()
            );
        }
        files
    } else {
        args.payloads.clone()
    };
    files
        .iter()
        .map(|path| {
            let body =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice::<serde::de::IgnoredAny>(&body)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let mut mac =
                <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).context("HMAC key")?;
            mac.update(&body);
            let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Payload {
                name,
                body: Bytes::from(body),
                signature,
            })
        })
        .collect()
}

/// `count` requests with fresh delivery ids, cycling through the payloads.
fn prepare(payloads: &[Payload], port: u16, count: usize) -> Vec<Prepared> {
    (0..count)
        .map(|i| {
            let payload = i % payloads.len();
            let p = &payloads[payload];
            let delivery = uuid::Uuid::new_v4().to_string();
            let head = format!(
                "POST /hook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: GitHub-Hookshot/bosun-bench\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nX-GitHub-Event: {EVENT}\r\n\
                 X-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {}\r\n\r\n",
                p.body.len(),
                p.signature
            );
            Prepared { delivery, payload, head: head.into_bytes() }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The load generator.

/// What one batch of requests did.
#[derive(Default)]
struct Phase {
    wall: Duration,
    /// Per completed request, in nanoseconds.
    latencies: Vec<u64>,
    statuses: BTreeMap<u16, usize>,
    /// Requests without a 202: other statuses and transport failures.
    errors: usize,
    first_error: Option<String>,
}

impl Phase {
    fn merge(&mut self, other: Phase) {
        self.latencies.extend(other.latencies);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn record(&mut self, started: Instant, result: anyhow::Result<u16>) {
        match result {
            Ok(status) => {
                self.latencies
                    .push(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
                *self.statuses.entry(status).or_default() += 1;
                if status != 202 {
                    self.errors += 1;
                    self.first_error
                        .get_or_insert_with(|| format!("HTTP {status}"));
                }
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}

/// Everything the load tasks share.
struct Load {
    client: ClientKind,
    port: u16,
    payloads: Arc<Vec<Payload>>,
    plan: Vec<Prepared>,
    next: AtomicUsize,
    start_line: tokio::sync::Barrier,
    http: reqwest::Client,
    /// Open loop: requests per second.
    rate: Option<f64>,
    /// When the measured phase started (set by the first slot past the start line).
    t0: std::sync::OnceLock<Instant>,
}

impl Load {
    /// The next request and when its clock starts: now (closed loop), or its slot in the
    /// schedule, after waiting for it (open loop).
    async fn next_request(&self) -> Option<(&Prepared, Instant)> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let request = self.plan.get(index)?;
        let Some(rate) = self.rate else {
            return Some((request, Instant::now()));
        };
        let t0 = *self.t0.get_or_init(Instant::now);
        let due = t0 + Duration::from_secs_f64(index as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        Some((request, due))
    }
}

/// Sends every request of `plan` with exactly `concurrency` in flight; the clock starts once
/// every slot has its connection.
async fn drive(load: Load, concurrency: usize) -> anyhow::Result<Phase> {
    let load = Arc::new(load);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let load = load.clone();
        tasks.spawn(async move {
            match load.client {
                ClientKind::Raw => raw_slot(&load).await,
                ClientKind::Reqwest => reqwest_slot(&load).await,
            }
        });
    }
    load.start_line.wait().await;
    let started = Instant::now();
    let mut phase = Phase::default();
    while let Some(slot) = tasks.join_next().await {
        phase.merge(slot.context("a load task failed")?);
    }
    phase.wall = started.elapsed();
    Ok(phase)
}

async fn connect(port: u16) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn raw_slot(load: &Load) -> Phase {
    let mut conn = connect(load.port).await.ok();
    load.start_line.wait().await;
    let mut phase = Phase::default();
    let mut out = Vec::with_capacity(64 * 1024);
    let mut inbuf = Vec::with_capacity(4096);
    while let Some((request, started)) = load.next_request().await {
        out.clear();
        out.extend_from_slice(&request.head);
        out.extend_from_slice(&load.payloads[request.payload].body);
        let result = raw_exchange(&mut conn, load.port, &out, &mut inbuf).await;
        phase.record(started, result);
    }
    phase
}

/// One request/response on the slot's keep-alive connection, (re)connecting when needed.
async fn raw_exchange(
    conn: &mut Option<TcpStream>,
    port: u16,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> anyhow::Result<u16> {
    let stream = match conn {
        Some(stream) => stream,
        None => conn.insert(connect(port).await?),
    };
    let result = match tokio::time::timeout(REQUEST_TIMEOUT, exchange(stream, request, buf)).await {
        Ok(result) => result,
        Err(_) => Err(anyhow::anyhow!("no response within {REQUEST_TIMEOUT:?}")),
    };
    match result {
        Ok((status, keep_alive)) => {
            if !keep_alive {
                *conn = None;
            }
            Ok(status)
        }
        Err(e) => {
            *conn = None;
            Err(e)
        }
    }
}

/// Writes a whole request and reads one response; returns its status and whether the
/// connection may be reused.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> anyhow::Result<(u16, bool)> {
    stream
        .write_all(request)
        .await
        .context("sending the request")?;
    buf.clear();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > 64 * 1024 {
            bail!("response head larger than 64 KiB");
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await.context("reading the response")? == 0 {
            bail!("connection closed before a response");
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut length = 0usize;
    let mut keep_alive = status_line.starts_with("HTTP/1.1");
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value
                .parse()
                .with_context(|| format!("bad content-length {value:?}"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("transfer-encoding {value} is not supported by the raw client");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    let end = head_end + length;
    while buf.len() < end {
        buf.reserve(end - buf.len());
        if stream
            .read_buf(buf)
            .await
            .context("reading the response body")?
            == 0
        {
            bail!("connection closed inside a response body");
        }
    }
    if buf.len() > end {
        bail!("{} unexpected bytes after the response", buf.len() - end);
    }
    Ok((status, keep_alive))
}

async fn reqwest_slot(load: &Load) -> Phase {
    load.start_line.wait().await;
    let url = format!("http://127.0.0.1:{}/hook", load.port);
    let mut phase = Phase::default();
    while let Some((request, started)) = load.next_request().await {
        let payload = &load.payloads[request.payload];
        let result = async {
            let response = load
                .http
                .post(&url)
                .header("user-agent", "GitHub-Hookshot/bosun-bench")
                .header("content-type", "application/json")
                .header("x-github-event", EVENT)
                .header("x-github-delivery", &request.delivery)
                .header("x-hub-signature-256", &payload.signature)
                .body(payload.body.clone())
                .send()
                .await?;
            let status = response.status().as_u16();
            response.bytes().await?;
            anyhow::Ok(status)
        }
        .await;
        phase.record(started, result);
    }
    phase
}

// ---------------------------------------------------------------------------------------------
// Where the CPU went, from /proc (Linux; zero elsewhere).

/// CPU ticks (1/100 s) used so far by the server child, Postgres, and this process, and the
/// machine's `/proc/stat` totals.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CpuSnapshot {
    server: u64,
    postgres: u64,
    client: u64,
    machine_total: u64,
    machine_idle: u64,
    machine_iowait: u64,
    /// `/proc/PID/io` `write_bytes` of the server child and of the Postgres processes.
    server_written: u64,
    postgres_written: u64,
    /// Sectors written to the machine's disks (`/sys/block/*/stat`), all processes.
    disk_sectors: u64,
}

/// Bytes a process caused to be written to storage (`write_bytes` in `/proc/PID/io`).
fn process_written(pid: &str) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Sectors written to physical disks (virtio, SCSI/SATA, NVMe, Xen), partitions excluded.
fn disk_sectors_written() -> u64 {
    let Ok(dir) = std::fs::read_dir("/sys/block") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            ["vd", "sd", "nvme", "xvd"]
                .iter()
                .any(|p| name.starts_with(p))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| {
            stat.split_whitespace()
                .nth(6)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// utime + stime of a process, all threads.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `postgres` holds the pids of bosun's backends and of Postgres's own background processes
/// (WAL writer, checkpointer …), not other clients' backends.
pub(crate) fn cpu_snapshot(server_pid: Option<u32>, postgres: &[i32]) -> CpuSnapshot {
    let mut snap = CpuSnapshot {
        server: server_pid
            .and_then(|p| process_ticks(&p.to_string()))
            .unwrap_or(0),
        postgres: postgres
            .iter()
            .filter_map(|pid| process_ticks(&pid.to_string()))
            .sum(),
        client: process_ticks("self").unwrap_or(0),
        server_written: server_pid
            .and_then(|p| process_written(&p.to_string()))
            .unwrap_or(0),
        postgres_written: postgres
            .iter()
            .filter_map(|pid| process_written(&pid.to_string()))
            .sum(),
        disk_sectors: disk_sectors_written(),
        ..CpuSnapshot::default()
    };
    if let Some(line) = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
    {
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        snap.machine_total = values.iter().take(8).sum();
        snap.machine_idle = values.get(3).copied().unwrap_or(0);
        snap.machine_iowait = values.get(4).copied().unwrap_or(0);
    }
    snap
}

/// CPU used during the measured phase.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CpuUse {
    pub(crate) server_s: f64,
    pub(crate) postgres_s: f64,
    pub(crate) client_s: f64,
    pub(crate) machine_busy: f64,
    machine_iowait: f64,
    pub(crate) machine_total: f64,
    server_written: f64,
    postgres_written: f64,
    disk_written: f64,
}

impl CpuUse {
    pub(crate) fn between(a: CpuSnapshot, b: CpuSnapshot) -> CpuUse {
        let t = |x: u64, y: u64| y.saturating_sub(x) as f64 / TICKS_PER_SECOND;
        let total = t(a.machine_total, b.machine_total);
        let idle = t(a.machine_idle, b.machine_idle);
        let iowait = t(a.machine_iowait, b.machine_iowait);
        CpuUse {
            server_s: t(a.server, b.server),
            postgres_s: t(a.postgres, b.postgres),
            client_s: t(a.client, b.client),
            machine_busy: total - idle - iowait,
            machine_iowait: iowait,
            machine_total: total,
            server_written: b.server_written.saturating_sub(a.server_written) as f64,
            postgres_written: b.postgres_written.saturating_sub(a.postgres_written) as f64,
            disk_written: b.disk_sectors.saturating_sub(a.disk_sectors) as f64 * 512.0,
        }
    }

    /// Machine CPU used by processes outside the benchmark (other builds and tests): noise.
    pub(crate) fn other(&self) -> f64 {
        (self.machine_busy - self.server_s - self.postgres_s - self.client_s).max(0.0)
    }

    fn add(&mut self, o: CpuUse) {
        self.server_s += o.server_s;
        self.postgres_s += o.postgres_s;
        self.client_s += o.client_s;
        self.machine_busy += o.machine_busy;
        self.machine_iowait += o.machine_iowait;
        self.machine_total += o.machine_total;
        self.server_written += o.server_written;
        self.postgres_written += o.postgres_written;
        self.disk_written += o.disk_written;
    }
}

// ---------------------------------------------------------------------------------------------
// Child servers.

/// A server child process; killed when dropped.
pub(crate) struct Server {
    pub(crate) child: tokio::process::Child,
    pub(crate) port: u16,
    log: PathBuf,
}

impl Server {
    pub(crate) fn spawn(
        args: &[&str],
        port: u16,
        secret: &str,
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("finding this executable")?;
        Server::spawn_exe(&exe, args, port, secret, log)
    }

    /// Like [`Server::spawn`], with `exe` (a `bosun-bench` built from another commit, say)
    /// running the server instead of this executable.
    pub(crate) fn spawn_exe(
        exe: &Path,
        args: &[&str],
        port: u16,
        secret: &str,
        log: PathBuf,
    ) -> anyhow::Result<Server> {
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = tokio::process::Command::new(exe);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        // No BOSUN_* override from this shell may redirect the child (e.g. to another database).
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("BOSUN_") {
                command.env_remove(&name);
            }
        }
        command.env("RUST_LOG", "warn").env(SECRET_ENV, secret);
        let child = command.spawn().context("starting a server child process")?;
        Ok(Server { child, port, log })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls GET /healthz until it answers 200, the child exits, or the deadline passes.
    pub(crate) async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            let answer = http.get(&url).timeout(Duration::from_secs(1)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not answer {url} within {timeout:?}:\n{}",
                    self.log_tail()
                );
            }
        }
    }

    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.child.start_kill();
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .context("the server did not exit after SIGKILL")??;
        Ok(())
    }
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn bosun_config(port: u16, database_url: &str, database_settings: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nhttp_workers = 2\n\n\
         [database]\nurl = \"{database_url}\"\n{database_settings}\n\
         [queue]\nworkers = 0\n\n\
         [github]\napi_url = \"http://127.0.0.1:9\"\ntoken_env = \"BOSUN_BENCH_NO_TOKEN\"\n\n\
         [github.webhook_secrets]\n\"*\" = [\"{SECRET_ENV}\"]\n"
    )
}

/// Adds the values of every sample of a Prometheus metric (all label sets).
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

async fn scrape(http: &reqwest::Client, port: u16) -> anyhow::Result<String> {
    let url = format!("http://127.0.0.1:{port}/metrics");
    Ok(http
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

// ---------------------------------------------------------------------------------------------
// Postgres: a fresh database per run, and the WAL it wrote.

pub(crate) struct PgAdmin {
    conn: sqlx::PgConnection,
    base: reqwest::Url,
}

/// Cumulative `pg_stat_wal` counters.
#[derive(Debug, Default, Clone, Copy)]
struct WalCounters {
    records: i64,
    fpi: i64,
    bytes: f64,
    writes: i64,
    syncs: i64,
}

/// WAL written while bosun ran against Postgres.
#[derive(Debug, Default, Clone, Copy)]
struct WalUse {
    /// Bytes of WAL during the measured phase (LSN difference; exact, cluster-wide).
    measured_bytes: f64,
    /// `pg_stat_wal` differences over the child's whole life (warm-up included).
    lifetime: WalCounters,
    /// Deliveries sent during the child's life (warm-up + measured).
    lifetime_deliveries: usize,
}

impl PgAdmin {
    pub(crate) async fn connect(url: &str) -> anyhow::Result<PgAdmin> {
        let base = reqwest::Url::parse(url).context("--postgres is not a URL")?;
        let options = sqlx::postgres::PgConnectOptions::from_str(url)
            .context("--postgres is not a Postgres URL")?
            .disable_statement_logging();
        let conn = sqlx::PgConnection::connect_with(&options)
            .await
            .with_context(|| format!("connecting to {}", bosun::cli::redact_url(url)))?;
        Ok(PgAdmin { conn, base })
    }

    /// Creates an empty database; returns its name and URL.
    pub(crate) async fn create_database(&mut self) -> anyhow::Result<(String, String)> {
        let name = format!("bosun_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut self.conn)
            .await?;
        let mut url = self.base.clone();
        url.set_path(&format!("/{name}"));
        Ok((name, url.to_string()))
    }

    /// Waits (bounded) for bosun's connections to go, so their statistics are flushed, then
    /// drops the database.
    pub(crate) async fn drop_database(&mut self, name: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut poll = tokio::time::interval(Duration::from_millis(20));
        loop {
            poll.tick().await;
            let open: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                    .bind(name)
                    .fetch_one(&mut self.conn)
                    .await?;
            if open == 0 || Instant::now() > deadline {
                break;
            }
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut self.conn)
        .await?;
        Ok(())
    }

    /// Runs `sql` in `database`.
    async fn run_in(&self, database: &str, sql: &str) -> anyhow::Result<()> {
        let mut url = self.base.clone();
        url.set_path(&format!("/{database}"));
        let options =
            sqlx::postgres::PgConnectOptions::from_str(url.as_str())?.disable_statement_logging();
        let mut conn = sqlx::PgConnection::connect_with(&options).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .context("--postgres-sql")?;
        conn.close().await?;
        Ok(())
    }

    /// `deliveries` on disk in `database`: heap, TOAST and indexes.
    async fn table_bytes(&self, database: &str) -> anyhow::Result<f64> {
        let mut url = self.base.clone();
        url.set_path(&format!("/{database}"));
        let options =
            sqlx::postgres::PgConnectOptions::from_str(url.as_str())?.disable_statement_logging();
        let mut conn = sqlx::PgConnection::connect_with(&options).await?;
        let bytes: f64 = sqlx::query_scalar("SELECT pg_total_relation_size('deliveries')::float8")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        Ok(bytes)
    }

    /// Backends connected to `database` plus Postgres's background processes.
    pub(crate) async fn server_pids(&mut self, database: &str) -> anyhow::Result<Vec<i32>> {
        Ok(sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type <> 'client backend'",
        )
        .bind(database)
        .fetch_all(&mut self.conn)
        .await?)
    }

    async fn lsn(&mut self) -> anyhow::Result<String> {
        Ok(sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut self.conn)
            .await?)
    }

    async fn lsn_diff(&mut self, from: &str, to: &str) -> anyhow::Result<f64> {
        Ok(
            sqlx::query_scalar(
                "SELECT pg_wal_lsn_diff($2::text::pg_lsn, $1::text::pg_lsn)::float8",
            )
            .bind(from)
            .bind(to)
            .fetch_one(&mut self.conn)
            .await?,
        )
    }

    async fn wal_counters(&mut self) -> anyhow::Result<WalCounters> {
        let (records, fpi, bytes, writes, syncs): (i64, i64, f64, i64, i64) = sqlx::query_as(
            "SELECT wal_records, wal_fpi, wal_bytes::float8, wal_write, wal_sync FROM pg_stat_wal",
        )
        .fetch_one(&mut self.conn)
        .await?;
        Ok(WalCounters {
            records,
            fpi,
            bytes,
            writes,
            syncs,
        })
    }

    async fn settings(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT name, setting || coalesce(unit, '') FROM pg_settings
             WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'wal_compression',
                            'default_toast_compression', 'shared_buffers', 'wal_buffers', 'max_wal_size', 'commit_delay',
                            'wal_writer_delay', 'checkpoint_timeout')
             ORDER BY name",
        )
        .fetch_all(&mut self.conn)
        .await?)
    }
}

// ---------------------------------------------------------------------------------------------
// One target, one round.

/// The results of one target in one round.
struct Run {
    n: usize,
    phase: Phase,
    cpu: CpuUse,
    /// Δ`bosun_intake_batch_size` count and sum over the measured phase (bosun only).
    commits: Option<(f64, f64)>,
    /// Δ`bosun_ack_latency_seconds` sum and count for accepted deliveries (bosun only).
    server_ack: Option<(f64, f64)>,
    wal: Option<WalUse>,
    /// Bytes stored per the measured phase: SQLite, what the server wrote (WAL and database
    /// file, checkpoints included, after a settling second); Postgres, the WAL plus the growth
    /// of `deliveries` (heap, TOAST and indexes).
    stored_bytes: Option<f64>,
    /// The server's resident memory (KiB): idle after start, and its peak (VmHWM) by the end.
    rss_idle_kb: Option<u64>,
    rss_peak_kb: Option<u64>,
}

/// A `/proc/PID/status` value in KiB (`VmRSS`, `VmHWM`).
pub(crate) fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Context {
    args: IngestArgs,
    secret: String,
    payloads: Arc<Vec<Payload>>,
    dir: PathBuf,
    http: reqwest::Client,
    pg: Option<PgAdmin>,
}

pub(crate) fn progress(message: &str) {
    eprintln!("bench: {message}");
}

/// Starts the target's server (on a fresh database), measures it, stops it, and drops the
/// Postgres database whatever happened.
async fn run_target(ctx: &mut Context, target: Target, round: usize) -> anyhow::Result<Run> {
    let (database, url) = if target.is_sqlite() {
        let file = ctx.dir.join(format!("bench-{}-{round}.db", target.name()));
        let url = format!("sqlite://{}", file.display());
        if target.is_earlier_sqlite() {
            create_earlier_sqlite_file(&url).await?;
        }
        (None, Some(url))
    } else if target.is_postgres() {
        let pg = ctx.pg.as_mut().context("no Postgres connection")?;
        let (name, url) = pg.create_database().await?;
        (Some(name), Some(url))
    } else {
        (None, None)
    };
    let measured = start_and_measure(ctx, target, round, url.as_deref(), database.as_deref()).await;
    let Some(name) = database else {
        return measured.map(|(run, _)| run);
    };
    let pg = ctx.pg.as_mut().context("no Postgres connection")?;
    let dropped = pg.drop_database(&name).await;
    let wal_after = pg.wal_counters().await;
    dropped.with_context(|| format!("dropping database {name}"))?;
    let (mut run, wal_before) = measured?;
    if let (Some(before), Some(wal)) = (wal_before, run.wal.as_mut()) {
        let after = wal_after?;
        wal.lifetime = WalCounters {
            records: after.records - before.records,
            fpi: after.fpi - before.fpi,
            bytes: after.bytes - before.bytes,
            writes: after.writes - before.writes,
            syncs: after.syncs - before.syncs,
        };
        wal.lifetime_deliveries = ctx.args.warmup + ctx.args.n;
    }
    Ok(run)
}

/// Spawns the server child and measures it; also returns the `pg_stat_wal` counters from
/// before the child started (Postgres only).
async fn start_and_measure(
    ctx: &mut Context,
    target: Target,
    round: usize,
    database_url: Option<&str>,
    database: Option<&str>,
) -> anyhow::Result<(Run, Option<WalCounters>)> {
    let port = free_port()?;
    let log = ctx.dir.join(format!("{}-{round}.log", target.name()));
    let server = match database_url {
        None => {
            let listen = format!("127.0.0.1:{port}");
            let args = ["baseline", "--listen", &listen, "--workers", "2"];
            Server::spawn(&args, port, &ctx.secret, log)?
        }
        Some(url) => {
            let config = ctx.dir.join(format!("{}-{round}.toml", target.name()));
            std::fs::write(
                &config,
                bosun_config(port, url, &target.database_settings()),
            )
            .with_context(|| format!("writing {}", config.display()))?;
            let config = config.to_string_lossy().into_owned();
            Server::spawn(
                &["bosun", "serve", "--config", &config],
                port,
                &ctx.secret,
                log,
            )?
        }
    };
    let wal_before = match (ctx.pg.as_mut(), database) {
        (Some(pg), Some(_)) => Some(pg.wal_counters().await?),
        _ => None,
    };
    let run = measure(ctx, target, server, database_url, database).await?;
    Ok((run, wal_before))
}

/// Warm-up, then the measured phase, against a started server; stops it in every case.
async fn measure(
    ctx: &mut Context,
    target: Target,
    mut server: Server,
    database_url: Option<&str>,
    database: Option<&str>,
) -> anyhow::Result<Run> {
    let result = async {
        server
            .wait_ready(
                &ctx.http,
                Duration::from_secs(ctx.args.startup_timeout_seconds),
            )
            .await?;
        if let (Some(pg), Some(name), Some(sql)) = (&ctx.pg, database, target.postgres_setup()) {
            pg.run_in(name, sql).await?;
        }
        if let (Some(pg), Some(name), Some(sql)) = (&ctx.pg, database, &ctx.args.postgres_sql) {
            pg.run_in(name, sql).await?;
        }
        if let (Some(url), true) = (database_url, target.is_earlier_sqlite()) {
            let mut conn = sqlx::SqliteConnection::connect(url)
                .await
                .with_context(|| format!("opening {url}"))?;
            sqlx::query(EARLIER_SQLITE_INDEX).execute(&mut conn).await?;
            conn.close().await?;
        }
        let is_bosun = target != Target::Baseline;
        // Idle memory: after start, before any delivery, once the server has settled.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_idle_kb = server.pid().and_then(|p| proc_status_kb(p, "VmRSS"));
        // One client per server, so the reqwest pool opened in the warm-up is reused.
        let http = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(ctx.args.concurrency)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let load = |plan| Load {
            client: ctx.args.client,
            port: server.port,
            payloads: ctx.payloads.clone(),
            plan,
            next: AtomicUsize::new(0),
            start_line: tokio::sync::Barrier::new(ctx.args.concurrency + 1),
            http: http.clone(),
            rate: None,
            t0: std::sync::OnceLock::new(),
        };
        if ctx.args.warmup > 0 {
            let warm = drive(
                load(prepare(&ctx.payloads, server.port, ctx.args.warmup)),
                ctx.args.concurrency,
            )
            .await?;
            if warm.errors > 0 {
                bail!(
                    "{} of {} warm-up requests failed; first: {}",
                    warm.errors,
                    ctx.args.warmup,
                    warm.first_error.unwrap_or_default()
                );
            }
        }
        let metrics_before = if is_bosun {
            Some(scrape(&ctx.http, server.port).await?)
        } else {
            None
        };
        let plan = prepare(&ctx.payloads, server.port, ctx.args.n);
        let (lsn_before, pg_pids) = match (&mut ctx.pg, database) {
            (Some(pg), Some(name)) => (Some(pg.lsn().await?), pg.server_pids(name).await?),
            _ => (None, Vec::new()),
        };
        let table_before = match (&ctx.pg, database) {
            (Some(pg), Some(name)) => Some(pg.table_bytes(name).await?),
            _ => None,
        };
        let cpu_before = cpu_snapshot(server.pid(), &pg_pids);
        let mut measured = load(plan);
        measured.rate = ctx.args.rate;
        let phase = drive(measured, ctx.args.concurrency).await?;
        let cpu_after = cpu_snapshot(server.pid(), &pg_pids);
        let rss_peak_kb = server.pid().and_then(|p| proc_status_kb(p, "VmHWM"));
        let wal = match (&mut ctx.pg, lsn_before) {
            (Some(pg), Some(before)) => {
                let after = pg.lsn().await?;
                Some(WalUse {
                    measured_bytes: pg.lsn_diff(&before, &after).await?,
                    ..WalUse::default()
                })
            }
            _ => None,
        };
        let mut stored_bytes = None;
        if target.is_sqlite() {
            // Background checkpoints land within a second of the last commit.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let settled = cpu_snapshot(server.pid(), &[]);
            stored_bytes = Some(
                settled
                    .server_written
                    .saturating_sub(cpu_before.server_written) as f64,
            );
        }
        if let (Some(pg), Some(name), Some(before), Some(w)) =
            (&ctx.pg, database, table_before, wal.as_ref())
        {
            stored_bytes = Some(w.measured_bytes + pg.table_bytes(name).await? - before);
        }
        let (mut commits, mut server_ack) = (None, None);
        if let Some(before) = metrics_before {
            let after = scrape(&ctx.http, server.port).await?;
            let delta = |name: &str| metric_sum(&after, name) - metric_sum(&before, name);
            commits = Some((
                delta("bosun_intake_batch_size_count"),
                delta("bosun_intake_batch_size_sum"),
            ));
            server_ack = Some((
                delta("bosun_ack_latency_seconds_sum"),
                delta("bosun_ack_latency_seconds_count"),
            ));
        }
        Ok(Run {
            n: ctx.args.n,
            phase,
            cpu: CpuUse::between(cpu_before, cpu_after),
            commits,
            server_ack,
            wal,
            stored_bytes,
            rss_idle_kb,
            rss_peak_kb,
        })
    }
    .await;
    let stopped = server.stop().await;
    let run = result?;
    stopped?;
    Ok(run)
}

// ---------------------------------------------------------------------------------------------
// Summaries.

/// One round of one target.
#[derive(Debug, Clone, Copy)]
struct RoundStat {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Machine CPU taken by processes outside the benchmark, in % of all cores.
    other_pct: f64,
}

impl RoundStat {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "rps": round_to(self.rps, 1),
            "p50_ms": round_to(self.p50_ms, 3),
            "p99_ms": round_to(self.p99_ms, 3),
            "other_load_pct": round_to(self.other_pct, 1),
        })
    }
}

/// All rounds of one target.
struct Summary {
    target: Target,
    n: usize,
    wall: f64,
    rps: f64,
    rounds: Vec<RoundStat>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: usize,
    statuses: BTreeMap<u16, usize>,
    first_error: Option<String>,
    cpu: CpuUse,
    commits: Option<(f64, f64)>,
    server_ack: Option<(f64, f64)>,
    wal: Option<WalUse>,
    stored_bytes: Option<f64>,
    rss_idle_kb: Option<u64>,
    rss_peak_kb: Option<u64>,
}

pub(crate) fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

fn summarize(target: Target, runs: Vec<Run>) -> Summary {
    let mut s = Summary {
        target,
        n: 0,
        wall: 0.0,
        rps: 0.0,
        rounds: Vec::new(),
        p50_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        errors: 0,
        statuses: BTreeMap::new(),
        first_error: None,
        cpu: CpuUse::default(),
        commits: None,
        server_ack: None,
        wal: None,
        stored_bytes: None,
        rss_idle_kb: None,
        rss_peak_kb: None,
    };
    let mut latencies = Vec::new();
    for run in runs {
        let wall = run.phase.wall.as_secs_f64();
        s.n += run.n;
        s.wall += wall;
        let mut phase = run.phase;
        phase.latencies.sort_unstable();
        s.rounds.push(RoundStat {
            rps: run.n as f64 / wall.max(1e-9),
            p50_ms: percentile(&phase.latencies, 0.50),
            p99_ms: percentile(&phase.latencies, 0.99),
            other_pct: 100.0 * run.cpu.other() / run.cpu.machine_total.max(1e-9),
        });
        s.errors += phase.errors;
        for (status, count) in &phase.statuses {
            *s.statuses.entry(*status).or_default() += count;
        }
        if s.first_error.is_none() {
            s.first_error = phase.first_error;
        }
        latencies.extend(phase.latencies);
        s.cpu.add(run.cpu);
        let add = |acc: Option<(f64, f64)>, x: Option<(f64, f64)>| match (acc, x) {
            (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1)),
            (None, x) => x,
            (a, None) => a,
        };
        if let Some(b) = run.stored_bytes {
            *s.stored_bytes.get_or_insert(0.0) += b;
        }
        s.rss_idle_kb = s.rss_idle_kb.max(run.rss_idle_kb);
        s.rss_peak_kb = s.rss_peak_kb.max(run.rss_peak_kb);
        s.commits = add(s.commits, run.commits);
        s.server_ack = add(s.server_ack, run.server_ack);
        if let Some(w) = run.wal {
            let acc = s.wal.get_or_insert_with(WalUse::default);
            acc.measured_bytes += w.measured_bytes;
            acc.lifetime.records += w.lifetime.records;
            acc.lifetime.fpi += w.lifetime.fpi;
            acc.lifetime.bytes += w.lifetime.bytes;
            acc.lifetime.writes += w.lifetime.writes;
            acc.lifetime.syncs += w.lifetime.syncs;
            acc.lifetime_deliveries += w.lifetime_deliveries;
        }
    }
    latencies.sort_unstable();
    s.rps = s.n as f64 / s.wall.max(1e-9);
    s.p50_ms = percentile(&latencies, 0.50);
    s.p99_ms = percentile(&latencies, 0.99);
    s.max_ms = latencies.last().map_or(0.0, |&l| l as f64 / 1e6);
    s
}

fn round_to(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

impl Summary {
    /// The round with the least foreign CPU load: the least disturbed measurement.
    fn quietest(&self) -> Option<RoundStat> {
        self.rounds
            .iter()
            .copied()
            .min_by(|a, b| a.other_pct.total_cmp(&b.other_pct))
    }

    fn per_delivery_us(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.n.max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        let cpu = &self.cpu;
        let machine = cpu.machine_total.max(1e-9);
        let mut v = serde_json::json!({
            "rps": round_to(self.rps, 1),
            "p50_ms": round_to(self.p50_ms, 3),
            "p99_ms": round_to(self.p99_ms, 3),
            "max_ms": round_to(self.max_ms, 3),
            "n": self.n,
            "wall_s": round_to(self.wall, 3),
            "rounds": self.rounds.iter().map(RoundStat::json).collect::<Vec<_>>(),
            "errors": self.errors,
            "statuses": self.statuses.iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "cpu_us_per_delivery": {
                "server": round_to(self.per_delivery_us(cpu.server_s), 1),
                "postgres": round_to(self.per_delivery_us(cpu.postgres_s), 1),
                "load_generator": round_to(self.per_delivery_us(cpu.client_s), 1),
            },
            "machine_busy_pct": round_to(100.0 * cpu.machine_busy / machine, 1),
            "machine_other_pct": round_to(100.0 * cpu.other() / machine, 1),
            "machine_iowait_pct": round_to(100.0 * cpu.machine_iowait / machine, 1),
            "written_kb_per_delivery": {
                "server": round_to(cpu.server_written / 1e3 / self.n.max(1) as f64, 1),
                "postgres": round_to(cpu.postgres_written / 1e3 / self.n.max(1) as f64, 1),
                "disk_all_processes": round_to(cpu.disk_written / 1e3 / self.n.max(1) as f64, 1),
            },
            "disk_write_mb_per_s": round_to(cpu.disk_written / 1e6 / self.wall.max(1e-9), 1),
        });
        if let Some(e) = &self.first_error {
            v["first_error"] = serde_json::json!(e);
        }
        if let Some(b) = self.stored_bytes {
            v["stored_bytes_per_delivery"] =
                serde_json::json!(round_to(b / self.n.max(1) as f64, 0));
        }
        v["rss_mb"] = serde_json::json!({
            "idle": self.rss_idle_kb.map(|k| round_to(k as f64 / 1024.0, 1)),
            "peak": self.rss_peak_kb.map(|k| round_to(k as f64 / 1024.0, 1)),
        });
        if let Some((count, sum)) = self.commits {
            v["intake"] = serde_json::json!({
                "commits": count,
                "mean_batch": round_to(sum / count.max(1.0), 2),
                "commits_per_s": round_to(count / self.wall.max(1e-9), 1),
            });
        }
        if let Some((sum, count)) = self.server_ack {
            v["server_ack_mean_ms"] = serde_json::json!(round_to(1e3 * sum / count.max(1.0), 3));
        }
        if let Some(w) = &self.wal {
            let lifetime = w.lifetime_deliveries.max(1) as f64;
            v["wal"] = serde_json::json!({
                "bytes_per_delivery": round_to(w.measured_bytes / self.n.max(1) as f64, 0),
                "mb_per_s": round_to(w.measured_bytes / self.wall.max(1e-9) / 1e6, 1),
                "syncs_per_delivery": round_to(w.lifetime.syncs as f64 / lifetime, 4),
                "syncs_per_s": round_to(w.lifetime.syncs as f64 / lifetime * self.rps, 1),
                "writes_per_delivery": round_to(w.lifetime.writes as f64 / lifetime, 4),
                "records_per_delivery": round_to(w.lifetime.records as f64 / lifetime, 2),
                "fpi_per_delivery": round_to(w.lifetime.fpi as f64 / lifetime, 3),
            });
        }
        v
    }
}

// ---------------------------------------------------------------------------------------------
// `bosun-bench ingest`.

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    if args.n == 0 || args.concurrency == 0 || args.rounds == 0 {
        bail!("--n, --concurrency and --rounds must be at least 1");
    }
    let mut targets: Vec<Target> = if args.only.is_empty() {
        vec![
            Target::Baseline,
            Target::SqliteBefore,
            Target::Sqlite,
            Target::PostgresBefore,
            Target::Postgres,
        ]
    } else {
        args.only.clone()
    };
    targets.sort();
    targets.dedup();
    if args.skip_postgres {
        targets.retain(|t| !t.is_postgres());
    }
    if targets.is_empty() {
        bail!("no target left to run");
    }
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let payloads = Arc::new(load_payloads(&args, &secret)?);
    let pg = if targets.iter().any(|t| t.is_postgres()) {
        Some(PgAdmin::connect(&args.postgres).await?)
    } else {
        None
    };
    let dir = std::env::temp_dir().join(format!("bosun-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut ctx = Context {
        args,
        secret,
        payloads,
        dir,
        http,
        pg,
    };
    let outcome = run_all(&mut ctx, &targets).await;
    if outcome.is_ok() {
        let _ = std::fs::remove_dir_all(&ctx.dir);
    } else {
        eprintln!("bench: server logs kept in {}", ctx.dir.display());
    }
    let summaries = outcome?;
    let pg_settings = match ctx.pg.as_mut() {
        Some(pg) => pg.settings().await.unwrap_or_default(),
        None => Vec::new(),
    };
    report(&ctx, &summaries, &pg_settings)?;
    let failed: Vec<String> = summaries
        .iter()
        .filter(|s| s.errors > 0)
        .map(|s| {
            format!(
                "{}: {} failed (first: {})",
                s.target.name(),
                s.errors,
                s.first_error.as_deref().unwrap_or("?")
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!("requests without a 202: {}", failed.join("; "));
    }
    Ok(())
}

async fn run_all(ctx: &mut Context, targets: &[Target]) -> anyhow::Result<Vec<Summary>> {
    let mut runs: BTreeMap<Target, Vec<Run>> = BTreeMap::new();
    for round in 1..=ctx.args.rounds {
        for &target in targets {
            progress(&format!(
                "round {round}/{}: {} …",
                ctx.args.rounds,
                target.name()
            ));
            let run = run_target(ctx, target, round)
                .await
                .with_context(|| format!("target {}", target.name()))?;
            let wall = run.phase.wall.as_secs_f64();
            progress(&format!(
                "round {round}/{}: {}: {} deliveries in {wall:.2} s = {:.0}/s, {} errors",
                ctx.args.rounds,
                target.name(),
                run.n,
                run.n as f64 / wall.max(1e-9),
                run.phase.errors
            ));
            runs.entry(target).or_default().push(run);
        }
    }
    Ok(runs.into_iter().map(|(t, r)| summarize(t, r)).collect())
}

fn report(
    ctx: &Context,
    summaries: &[Summary],
    pg_settings: &[(String, String)],
) -> anyhow::Result<()> {
    let find = |t: Target| summaries.iter().find(|s| s.target == t);
    let baseline = find(Target::Baseline);
    let ratio = |t: Target| match (find(t), baseline) {
        (Some(s), Some(b)) if b.rps > 0.0 => Some(s.rps / b.rps),
        _ => None,
    };
    let quiet_ratio = |t: Target| match (
        find(t).and_then(Summary::quietest),
        baseline.and_then(Summary::quietest),
    ) {
        (Some(s), Some(b)) if b.rps > 0.0 => Some(s.rps / b.rps),
        _ => None,
    };
    // bosun's receive CPU per delivery against the baseline server's.
    let cpu_ratio = |t: Target| match (find(t), baseline) {
        (Some(s), Some(b)) if b.cpu.server_s > 0.0 => {
            Some(s.per_delivery_us(s.cpu.server_s) / b.per_delivery_us(b.cpu.server_s))
        }
        _ => None,
    };
    let stored = |t: Target| find(t).and_then(|s| s.stored_bytes.map(|b| b / s.n.max(1) as f64));
    let stored_ratio = |after: Target, before: Target| match (stored(after), stored(before)) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let open_loop = ctx.args.rate.is_some();
    let p99_ok = |t: Target| find(t).map(|s| s.p99_ms <= 10.0);
    if ctx.args.json {
        let mut out = serde_json::json!({
            "n": ctx.args.n,
            "concurrency": ctx.args.concurrency,
            "rate": ctx.args.rate,
            "warmup": ctx.args.warmup,
            "rounds": ctx.args.rounds,
            "client": ctx.args.client.name(),
            "payloads": ctx.payloads.iter().map(|p| serde_json::json!({"file": p.name, "bytes": p.body.len()})).collect::<Vec<_>>(),
            "targets": summaries.iter().map(|s| (s.target.name().to_string(), s.json())).collect::<serde_json::Map<_, _>>(),
            "ratio_postgres": ratio(Target::Postgres).map(|r| round_to(r, 3)),
            "ratio_sqlite": ratio(Target::Sqlite).map(|r| round_to(r, 3)),
            "quietest_rounds": {
                "ratio_postgres": quiet_ratio(Target::Postgres).map(|r| round_to(r, 3)),
                "ratio_sqlite": quiet_ratio(Target::Sqlite).map(|r| round_to(r, 3)),
            },
            "cpu_vs_baseline": {
                "postgres": cpu_ratio(Target::Postgres).map(|r| round_to(r, 2)),
                "sqlite": cpu_ratio(Target::Sqlite).map(|r| round_to(r, 2)),
            },
            "stored_after_vs_before": {
                "postgres": stored_ratio(Target::Postgres, Target::PostgresBefore).map(|r| round_to(r, 3)),
                "sqlite": stored_ratio(Target::Sqlite, Target::SqliteBefore).map(|r| round_to(r, 3)),
            },
        });
        if !pg_settings.is_empty() {
            out["postgres_settings"] = pg_settings
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let a = &ctx.args;
    let files: Vec<String> = ctx
        .payloads
        .iter()
        .map(|p| format!("{} ({} B)", p.name, p.body.len()))
        .collect();
    let load = match a.rate {
        Some(rate) => format!(
            "open loop at {rate:.0}/s, up to {} in flight",
            a.concurrency
        ),
        None => format!("concurrency {}", a.concurrency),
    };
    println!(
        "bosun-bench ingest: {} deliveries x {} round(s) per target, {load}, warm-up {}, client {}",
        a.n,
        a.rounds,
        a.warmup,
        a.client.name()
    );
    println!("payloads: {}", files.join(", "));
    println!();
    println!(
        "{:<22} {:>12} {:>8} {:>8} {:>8} {:>7} {:>10} {:>14}",
        "target",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "stored KB",
        "RSS MB idle/pk"
    );
    for s in summaries {
        let stored = s.stored_bytes.map_or("-".into(), |b| {
            format!("{:.1}", b / 1e3 / s.n.max(1) as f64)
        });
        let mb = |k: Option<u64>| k.map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        println!(
            "{:<22} {:>12.0} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>10} {:>14}",
            s.target.name(),
            s.rps,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            s.errors,
            stored,
            format!("{}/{}", mb(s.rss_idle_kb), mb(s.rss_peak_kb))
        );
    }
    println!();
    println!("where the time goes (per measured delivery unless noted):");
    println!(
        "{:<22} {:>9} {:>6} {:>7} {:>16} {:>16} {:>14} {:>10}",
        "target",
        "commits/s",
        "batch",
        "ack ms",
        "CPU µs srv/pg/lg",
        "busy/other/iow %",
        "wrote KB srv/pg",
        "disk MB/s"
    );
    for s in summaries {
        let (commits_s, batch) = match s.commits {
            Some((count, sum)) => (
                format!("{:.0}", count / s.wall.max(1e-9)),
                format!("{:.1}", sum / count.max(1.0)),
            ),
            None => ("-".into(), "-".into()),
        };
        let ack = s.server_ack.map_or("-".into(), |(sum, count)| {
            format!("{:.2}", 1e3 * sum / count.max(1.0))
        });
        let cpu = format!(
            "{:.0}/{:.0}/{:.0}",
            s.per_delivery_us(s.cpu.server_s),
            s.per_delivery_us(s.cpu.postgres_s),
            s.per_delivery_us(s.cpu.client_s)
        );
        let machine = s.cpu.machine_total.max(1e-9);
        let busy = format!(
            "{:.0}/{:.0}/{:.0}",
            100.0 * s.cpu.machine_busy / machine,
            100.0 * s.cpu.other() / machine,
            100.0 * s.cpu.machine_iowait / machine
        );
        let n = s.n.max(1) as f64;
        let written = format!(
            "{:.1}/{:.1}",
            s.cpu.server_written / 1e3 / n,
            s.cpu.postgres_written / 1e3 / n
        );
        println!(
            "{:<22} {:>9} {:>6} {:>7} {:>16} {:>16} {:>14} {:>10.1}",
            s.target.name(),
            commits_s,
            batch,
            ack,
            cpu,
            busy,
            written,
            s.cpu.disk_written / 1e6 / s.wall.max(1e-9)
        );
    }
    if ctx.args.rounds > 1 {
        for s in summaries {
            let rounds: Vec<String> = s
                .rounds
                .iter()
                .map(|r| {
                    format!(
                        "{:.0}/s p50 {:.1} p99 {:.1} ms (other load {:.0} %)",
                        r.rps, r.p50_ms, r.p99_ms, r.other_pct
                    )
                })
                .collect();
            println!("  {} per round: {}", s.target.name(), rounds.join("; "));
        }
    }
    println!();
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    for t in [
        Target::SqliteBefore,
        Target::SqliteLz4Only,
        Target::SqliteCheckpointOnly,
        Target::SqliteLz4,
        Target::SqliteOs,
        Target::Sqlite,
        Target::PostgresBefore,
        Target::PostgresLz4,
        Target::Postgres,
    ] {
        let (Some(r), Some(q)) = (ratio(t), quiet_ratio(t)) else {
            continue;
        };
        let target = if open_loop || !matches!(t, Target::Sqlite | Target::Postgres) {
            String::new()
        } else {
            format!("  (target >= 0.3: {})", verdict(r >= 0.3))
        };
        println!(
            "{:<22} / baseline = {r:.3}, quietest round {q:.3}{target}",
            t.name()
        );
    }
    for t in [Target::Postgres, Target::SqliteOs, Target::Sqlite] {
        if let Some(r) = cpu_ratio(t) {
            println!(
                "receive CPU {:<8} = {r:.2}x the baseline server's (target <= 2: {})",
                t.name(),
                verdict(r <= 2.0)
            );
        }
    }
    for (after, before) in [
        (Target::Postgres, Target::PostgresBefore),
        (Target::Sqlite, Target::SqliteBefore),
        (Target::PostgresLz4, Target::PostgresBefore),
        (Target::SqliteLz4, Target::SqliteBefore),
        (Target::SqliteOs, Target::SqliteBefore),
    ] {
        if let (Some(r), Some(a), Some(b)) =
            (stored_ratio(after, before), stored(after), stored(before))
        {
            // The target is the default's; the -lz4 lines are for comparison.
            let target = if matches!(after, Target::Postgres | Target::Sqlite) {
                format!(" (target <= 1/3: {})", verdict(r <= 1.0 / 3.0))
            } else {
                String::new()
            };
            println!(
                "stored bytes {:<8} = {:.0} B/delivery against {:.0} before = {r:.3}{target}",
                after.name(),
                a,
                b
            );
        }
    }
    if open_loop {
        for t in [Target::Postgres, Target::SqliteOs, Target::Sqlite] {
            if let (Some(ok), Some(s)) = (p99_ok(t), find(t)) {
                println!(
                    "p99 {:<8} = {:.2} ms at {:.0}/s offered (target <= 10 ms: {})",
                    t.name(),
                    s.p99_ms,
                    ctx.args.rate.unwrap_or_default(),
                    verdict(ok)
                );
            }
        }
    }
    for t in [Target::PostgresBefore, Target::Postgres] {
        let Some((s, w)) = find(t).and_then(|s| s.wal.map(|w| (s, w))) else {
            continue;
        };
        let lifetime = w.lifetime_deliveries.max(1) as f64;
        println!(
            "{} WAL: {:.0} B/delivery, {:.1} MB/s; {:.3} fsyncs/delivery (about {:.0}/s), {:.2} records/delivery, {:.3} FPIs/delivery",
            t.name(),
            w.measured_bytes / s.n.max(1) as f64,
            w.measured_bytes / s.wall.max(1e-9) / 1e6,
            w.lifetime.syncs as f64 / lifetime,
            w.lifetime.syncs as f64 / lifetime * s.rps,
            w.lifetime.records as f64 / lifetime,
            w.lifetime.fpi as f64 / lifetime
        );
    }
    if !pg_settings.is_empty() {
        let kv: Vec<String> = pg_settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("postgres settings: {}", kv.join(" "));
    }
    println!(
        "columns: stored = bytes stored per delivery (SQLite: the server's write_bytes over the phase and a settling \
         second, WAL and checkpoints; Postgres: WAL (LSN difference) + growth of deliveries with TOAST and indexes); \
         RSS = the server's VmRSS idle after start and VmHWM at the end; ack ms = bosun's own mean time in its handler \
         (bosun_ack_latency_seconds); CPU = /proc utime+stime of the server child (srv), bosun's Postgres backends plus \
         Postgres's background processes (pg) and this load generator (lg); busy/other/iow = machine CPU busy, busy in \
         processes outside the benchmark (noise), and iowait, in % of all cores; wrote = /proc/PID/io write_bytes; \
         disk = sectors written to the disks by every process"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).map(|ms| ms * 1_000_000).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }

    #[test]
    fn metric_sum_adds_label_sets_and_skips_other_names() {
        let text = "# TYPE x histogram\nx_sum{result=\"a\"} 1.5\nx_sum{result=\"b\"} 2\nx_sum_other 9\nx_count 3\n";
        assert_eq!(metric_sum(text, "x_sum"), 3.5);
        assert_eq!(metric_sum(text, "x_count"), 3.0);
    }

    #[test]
    fn generated_config_is_valid() {
        let text = bosun_config(
            4321,
            "sqlite:///tmp/x.db",
            &Target::SqliteBefore.database_settings(),
        );
        let env = vec![(SECRET_ENV.to_string(), "s".to_string())];
        let raw = bosun::config::RawConfig::parse(&text, &env).expect("parses");
        let settings = raw.validate(&env).expect("valid");
        assert_eq!(settings.queue.workers, Some(0));
        assert_eq!(settings.listen, "127.0.0.1:4321");
        assert_eq!(
            settings.database.sqlite_sync,
            bosun::store::sqlite::SqliteSync::Os,
            "an earlier release did not wait for the disk"
        );
    }

    #[tokio::test]
    async fn raw_client_reads_one_response_per_request() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 9\r\n\r\naccepted\n")
                .await;
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(
                    b"HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                )
                .await;
        });
        let mut conn = Some(connect(port).await.expect("connect"));
        let mut buf = Vec::new();
        assert_eq!(
            raw_exchange(&mut conn, port, b"x", &mut buf)
                .await
                .expect("first"),
            202
        );
        assert!(conn.is_some());
        assert_eq!(
            raw_exchange(&mut conn, port, b"y", &mut buf)
                .await
                .expect("second"),
            401
        );
        assert!(conn.is_none(), "connection: close drops the connection");
    }
}
