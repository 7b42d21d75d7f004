//! `bosun-bench flow`: the whole path, measured from outside: a signed webhook in, the plugin
//! decision, the forge write out. `bosun serve` runs as a child process (its default worker
//! count, on SQLite or a fresh Postgres database) against the Rust fake forge, which runs in
//! this process and timestamps every request it receives.
//!
//! The load is open loop: event `i` of a step is due at `t0 + i / rate` and is sent then,
//! whether or not earlier ones were answered, so a slow bosun shows as latency instead of as a
//! lower offered rate. Each event is a comment on a PR of its own, alternating GitHub and
//! GitLab, so its forge write (the label it asks for) is told apart by the PR number. Latency
//! is from the event's due time to the moment the fake forge received that write.
//!
//! Mixes: `hold` (`/hold` → `do-not-merge/hold`), `lgtm` (`/lgtm` from a collaborator →
//! `lgtm`, after a collaborator check), `approve` (`/approve` from a root OWNERS approver on a
//! PR whose base holds OWNERS files → `approved`, with the approval notice). Rates are stepped
//! up until p99 passes the limit or bosun falls behind; the report gives, per step, p50, p99
//! and max, forge requests per event by kind, CPU per event (bosun, Postgres, this harness,
//! the rest of the machine) and bosun's resident memory. `--chatter N` follows each command
//! with N comments on its PR that ask for nothing, as most of a bot's webhooks do.

use crate::ingest::{CpuUse, PgAdmin, SECRET_ENV, Server, cpu_snapshot, free_port};
use anyhow::Context as _;
use bosun_plugins::ForgeKind;
use fake_forge::{FakeForge, Fault, RecordedRequest};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

const GITHUB_REPO: &str = "kubernetes/test-infra";
const GITLAB_REPO: &str = "gitlab-org/hello-world";
/// The PR author; never the commenter.
const AUTHOR: &str = "pr-author";
/// The commenter: a collaborator on both repositories and the root OWNERS approver.
const COMMENTER: &str = "alice";
const ROOT_OWNERS: &[u8] = b"approvers:\n- alice\nreviewers:\n- bob\n";

/// The store bosun journals to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowStore {
    Sqlite,
    Postgres,
}

/// What each event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    Hold,
    Lgtm,
    Approve,
}

impl Mix {
    /// The comment; GitLab runs its own `/approve`, so bosun's is `/bosun-approve` there.
    fn command(self, kind: ForgeKind) -> &'static str {
        match (self, kind) {
            (Mix::Hold, _) => "/hold",
            (Mix::Lgtm, _) => "/lgtm",
            (Mix::Approve, ForgeKind::GitHub) => "/approve",
            (Mix::Approve, ForgeKind::GitLab) => "/bosun-approve",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mix::Hold => "do-not-merge/hold",
            Mix::Lgtm => "lgtm",
            Mix::Approve => "approved",
        }
    }

    fn plugin(self) -> &'static str {
        match self {
            Mix::Hold => "hold",
            Mix::Lgtm => "lgtm",
            Mix::Approve => "approve",
        }
    }
}

/// Arguments of `bosun-bench flow`.
#[derive(Debug, clap::Args)]
pub struct FlowArgs {
    /// Stores to run on, in order.
    #[arg(long, value_delimiter = ',', default_value = "postgres,sqlite")]
    pub stores: Vec<FlowStore>,
    /// Mixes to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "hold,lgtm,approve")]
    pub mixes: Vec<Mix>,
    /// Offered rates in events per second, stepped up in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,200,400,600,800,1000,1200,1500"
    )]
    pub rates: Vec<f64>,
    /// Seconds each rate is offered for.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// A step whose p99 passes this (milliseconds) ends the mix's climb.
    #[arg(long, default_value_t = 50.0)]
    pub p99_limit_ms: f64,
    /// The Postgres server whose fresh databases the postgres store uses.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// `[queue] workers` for bosun; bosun's default when omitted.
    #[arg(long)]
    pub workers: Option<usize>,
    /// `[server] http_workers` for bosun (threads that answer HTTP); bosun's default when
    /// omitted.
    #[arg(long)]
    pub http_workers: Option<usize>,
    /// Where the child's config, log and SQLite file go (a temporary directory by default).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Seconds offered at the first rate before measuring, and not reported: the first
    /// connections, the bot's login and the new database's first checkpoint land there.
    #[arg(long, default_value_t = 1.0)]
    pub warmup_seconds: f64,
    /// Milliseconds the fake forge waits before answering each request, as a real forge's
    /// API takes tens to hundreds of milliseconds; 0 answers at once.
    #[arg(long, default_value_t = 0)]
    pub forge_latency_ms: u64,
    /// `[database] payload_compression` for bosun (`zstd`, `lz4` or `none`); bosun's default
    /// when omitted. Compare encodings on the whole path in one run.
    #[arg(long)]
    pub payload_compression: Option<String>,
    /// A `bosun-bench` built from another commit: each store and mix runs on its bosun first,
    /// then on this build's, in the same run, and both are reported. Each runs with its own
    /// default worker count unless `--workers` sets one for both.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Comments without a command sent after each command, on its PR: most webhooks a bot
    /// receives lead to nothing. They count towards the offered rate and the CPU per event;
    /// latency is the commands'.
    #[arg(long, default_value_t = 0)]
    pub chatter: usize,
}

/// One offered rate, measured.
#[derive(Debug)]
struct Step {
    rate: f64,
    events: usize,
    /// Events that ask for a forge write (the rest are chatter).
    commands: usize,
    /// Commands whose forge write arrived before the deadline.
    written: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Forge requests per event, by method and path shape.
    requests_per_event: BTreeMap<String, f64>,
    cpu: CpuUse,
    /// bosun's resident set at the end of the step, and its peak so far (kB).
    rss_kb: u64,
    peak_rss_kb: u64,
    /// Acknowledgements that were not 202.
    refused: usize,
}

impl Step {
    fn within(&self, limit_ms: f64) -> bool {
        self.written == self.commands && self.refused == 0 && self.p99_ms <= limit_ms
    }
}

/// Runs the benchmark and prints its report.
pub async fn run(args: FlowArgs) -> anyhow::Result<()> {
    let scratch = scratch_dir(args.dir.as_deref())?;
    let secret = format!("flow-{}", uuid::Uuid::new_v4().simple());
    let fixtures = crate::ingest::fixtures_dir(None)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    println!(
        "# bosun-bench flow: open loop, {} s per rate, p99 limit {} ms, workers {}, forge latency {} ms",
        args.seconds,
        args.p99_limit_ms,
        args.workers
            .map_or("default".to_string(), |w| w.to_string()),
        args.forge_latency_ms
    );
    let this_build = std::env::current_exe().context("finding this executable")?;
    let mut builds = vec![("this build", this_build)];
    if let Some(baseline) = &args.baseline {
        builds.insert(0, ("baseline", baseline.clone()));
    }
    for store in &args.stores {
        for mix in &args.mixes {
            let mut highest = Vec::new();
            for (label, exe) in &builds {
                let steps = run_mix(
                    &args, *store, *mix, exe, &scratch, &secret, &fixtures, &http,
                )
                .await?;
                if args.baseline.is_some() {
                    println!("\n### {label}: {}", exe.display());
                }
                highest.push((
                    label,
                    report(*store, *mix, args.chatter, &steps, args.p99_limit_ms),
                ));
            }
            if args.baseline.is_some() {
                let rate = |r: Option<f64>| r.map_or("none".to_string(), |r| format!("{r:.0}/s"));
                let line: Vec<String> = highest
                    .iter()
                    .map(|(label, r)| format!("{label} {}", rate(*r)))
                    .collect();
                println!(
                    "\n{store:?} {mix:?}, highest rate with p99 within the limit: {}",
                    line.join(", ")
                );
            }
        }
    }
    Ok(())
}

fn scratch_dir(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match explicit {
        Some(d) => d.to_path_buf(),
        None => std::env::temp_dir().join(format!("bosun-flow-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// One store and mix: a fresh database and bosun (run by `exe`), then every rate until one is
/// past the limit.
#[allow(clippy::too_many_arguments)]
async fn run_mix(
    args: &FlowArgs,
    store: FlowStore,
    mix: Mix,
    exe: &Path,
    dir: &Path,
    secret: &str,
    fixtures: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<Step>> {
    let name = format!("{store:?}-{mix:?}").to_lowercase();
    let mut pg = match store {
        FlowStore::Postgres => Some(PgAdmin::connect(&args.postgres).await?),
        FlowStore::Sqlite => None,
    };
    let (database, url) = match pg.as_mut() {
        Some(pg) => {
            let (db, url) = pg.create_database().await?;
            (Some(db), url)
        }
        None => {
            let file = dir.join(format!("{name}.db"));
            let _ = std::fs::remove_file(&file);
            (None, format!("sqlite://{}", file.display()))
        }
    };
    let result = async {
        let forge = FakeForge::start();
        if args.forge_latency_ms > 0 {
            let latency = Duration::from_millis(args.forge_latency_ms);
            forge.fail_every("/", 1, vec![Fault::Delay(latency)]);
        }
        let warmup = args
            .rates
            .first()
            .map_or(0, |r| (r * args.warmup_seconds).ceil() as usize);
        let total: usize = warmup
            + args
                .rates
                .iter()
                .map(|r| (r * args.seconds).ceil() as usize)
                .sum::<usize>();
        seed(&forge, mix, total);
        let port = free_port()?;
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            config_text(
                port,
                &url,
                &forge.url(),
                mix,
                Tuning {
                    workers: args.workers,
                    http_workers: args.http_workers,
                    payload_compression: args.payload_compression.as_deref(),
                },
            ),
        )?;
        let config = config.to_string_lossy().into_owned();
        let mut server = Server::spawn_exe(
            exe,
            &["bosun", "serve", "--config", &config],
            port,
            secret,
            dir.join(format!("{name}.log")),
        )?;
        server.wait_ready(http, Duration::from_secs(60)).await?;
        let bodies = Bodies::load(fixtures, mix, forge.ensure_user(COMMENTER))?;
        let mut steps = Vec::new();
        let mut next_pr = 1u64;
        if let (Some(&rate), true) = (args.rates.first(), warmup > 0) {
            crate::ingest::progress(&format!("flow {name}: warming up at {rate}/s"));
            offer(
                &forge,
                &server,
                &[],
                &bodies,
                secret,
                rate,
                (next_pr, warmup),
                (mix, args.chatter),
                http,
            )
            .await?;
            next_pr += commands_in(warmup, args.chatter) as u64;
        }
        for &rate in &args.rates {
            let events = (rate * args.seconds).ceil() as usize;
            let postgres_pids = match (pg.as_mut(), database.as_deref()) {
                (Some(pg), Some(db)) => pg.server_pids(db).await?,
                _ => Vec::new(),
            };
            crate::ingest::progress(&format!("flow {name}: {rate}/s for {} s", args.seconds));
            let step = offer(
                &forge,
                &server,
                &postgres_pids,
                &bodies,
                secret,
                rate,
                (next_pr, events),
                (mix, args.chatter),
                http,
            )
            .await?;
            next_pr += step.commands as u64;
            let within = step.within(args.p99_limit_ms);
            steps.push(step);
            if !within {
                break;
            }
        }
        server.stop().await?;
        Ok::<_, anyhow::Error>(steps)
    }
    .await;
    if let (Some(pg), Some(db)) = (pg.as_mut(), database.as_deref()) {
        pg.drop_database(db).await?;
    }
    result
}

/// What a run sets in bosun's configuration instead of its defaults.
struct Tuning<'a> {
    workers: Option<usize>,
    http_workers: Option<usize>,
    payload_compression: Option<&'a str>,
}

fn config_text(port: u16, db_url: &str, forge_url: &str, mix: Mix, tuning: Tuning) -> String {
    let compression = tuning
        .payload_compression
        .map(|c| format!("payload_compression = \"{c}\"\n"))
        .unwrap_or_default();
    let workers = tuning
        .workers
        .map(|w| format!("[queue]\nworkers = {w}\n"))
        .unwrap_or_default();
    let http_workers = tuning
        .http_workers
        .map(|w| format!("http_workers = {w}\n"))
        .unwrap_or_default();
    let plugin = mix.plugin();
    format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n{http_workers}\
         [database]\nurl = \"{db_url}\"\n{compression}{workers}\
         [github]\napi_url = \"{forge_url}\"\ntoken_env = \"{SECRET_ENV}\"\n\
         [github.webhook_secrets]\n\"*\" = [\"{SECRET_ENV}\"]\n\
         [gitlab]\nurl = \"{forge_url}\"\nallow_http = true\ntoken_env = \"{SECRET_ENV}\"\n\
         [gitlab.webhook_tokens]\n\"*\" = [\"{SECRET_ENV}\"]\n\
         [plugins.\"kubernetes\"]\nenabled = [\"{plugin}\"]\n\
         [plugins.\"gitlab-org\"]\nenabled = [\"{plugin}\"]\n"
    )
}

/// The PRs every step comments on, with the commenter a collaborator and (approve) OWNERS at
/// the PRs' base.
fn seed(forge: &FakeForge, mix: Mix, total: usize) {
    for (kind, repo) in [
        (ForgeKind::GitHub, GITHUB_REPO),
        (ForgeKind::GitLab, GITLAB_REPO),
    ] {
        forge.set_bot(kind, "bosun-bot");
        forge.add_member(kind, repo, COMMENTER, fake_forge::access::DEVELOPER);
        let base = (mix == Mix::Approve)
            .then(|| forge.seed_commit(kind, repo, &[("OWNERS", ROOT_OWNERS)]));
        for number in 1..=total as u64 {
            let pr = forge.seed_pr(kind, repo, number, AUTHOR);
            if let Some(base) = &base {
                // approve reads every comment on the PR, as Prow does: the forge holds the
                // comment the webhook announces.
                forge.seed_comment(&pr, COMMENTER, mix.command(kind));
                forge.update_item(&pr, |i| {
                    i.base_sha = base.clone();
                    i.changed_files = vec![fake_forge::ChangedFile {
                        path: "src/main.rs".into(),
                        previous_path: None,
                        additions: 3,
                        deletions: 1,
                    }];
                });
            }
        }
    }
}

/// The two comment payloads, parsed once; each event sets its PR number.
struct Bodies {
    github: serde_json::Value,
    gitlab: serde_json::Value,
    /// The same comments without a command.
    github_chatter: serde_json::Value,
    gitlab_chatter: serde_json::Value,
}

/// What a comment without a command says.
const CHATTER: &str = "Thanks, this looks good to me. One nit in the README, no need to block.";

impl Bodies {
    /// `commenter_id`: the fake forge's id for the commenter, which GitLab notes carry.
    fn load(fixtures: &Path, mix: Mix, commenter_id: u64) -> anyhow::Result<Bodies> {
        let read = |path: &str| -> anyhow::Result<serde_json::Value> {
            let text =
                std::fs::read(fixtures.join(path)).with_context(|| format!("fixture {path}"))?;
            Ok(serde_json::from_slice(&text)?)
        };
        let mut github = read("github/issue_comment/created.on-pull-request.lgtm.json")?;
        set(
            &mut github,
            "/comment/body",
            mix.command(ForgeKind::GitHub).into(),
        )?;
        set(&mut github, "/comment/user/login", COMMENTER.into())?;
        set(&mut github, "/issue/user/login", AUTHOR.into())?;
        set(&mut github, "/repository/full_name", GITHUB_REPO.into())?;
        let mut gitlab = read("gitlab/note/merge_request.json")?;
        set(
            &mut gitlab,
            "/object_attributes/note",
            mix.command(ForgeKind::GitLab).into(),
        )?;
        set(&mut gitlab, "/user/username", COMMENTER.into())?;
        // The MR names its author by id only: a note whose user has another id is not the
        // author's.
        if let Some(user) = gitlab.get_mut("user").and_then(|u| u.as_object_mut()) {
            user.insert("id".into(), commenter_id.into());
        }
        set(
            &mut gitlab,
            "/project/path_with_namespace",
            GITLAB_REPO.into(),
        )?;
        let mut github_chatter = github.clone();
        set(&mut github_chatter, "/comment/body", CHATTER.into())?;
        let mut gitlab_chatter = gitlab.clone();
        set(
            &mut gitlab_chatter,
            "/object_attributes/note",
            CHATTER.into(),
        )?;
        Ok(Bodies {
            github,
            gitlab,
            github_chatter,
            gitlab_chatter,
        })
    }

    /// The signed request for PR `number` on `kind`: the command, or a comment without one.
    fn request(
        &self,
        kind: ForgeKind,
        number: u64,
        secret: &str,
        chatter: bool,
    ) -> anyhow::Result<Prepared> {
        let id = uuid::Uuid::new_v4().to_string();
        match kind {
            ForgeKind::GitHub => {
                let mut v = match chatter {
                    true => self.github_chatter.clone(),
                    false => self.github.clone(),
                };
                set(&mut v, "/issue/number", number.into())?;
                let body = serde_json::to_vec(&v)?;
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
                mac.update(&body);
                let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                Ok(Prepared {
                    body,
                    headers: vec![
                        ("X-GitHub-Event", "issue_comment".into()),
                        ("X-GitHub-Delivery", id),
                        ("X-Hub-Signature-256", signature),
                    ],
                })
            }
            ForgeKind::GitLab => {
                let mut v = match chatter {
                    true => self.gitlab_chatter.clone(),
                    false => self.gitlab.clone(),
                };
                set(&mut v, "/merge_request/iid", number.into())?;
                Ok(Prepared {
                    body: serde_json::to_vec(&v)?,
                    headers: vec![
                        ("X-Gitlab-Event", "Note Hook".into()),
                        ("X-Gitlab-Event-UUID", id),
                        ("X-Gitlab-Token", secret.to_string()),
                    ],
                })
            }
        }
    }
}

fn set(v: &mut serde_json::Value, pointer: &str, new: serde_json::Value) -> anyhow::Result<()> {
    *v.pointer_mut(pointer)
        .with_context(|| format!("fixture has no {pointer}"))? = new;
    Ok(())
}

struct Prepared {
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

/// How many of a step's `events` are commands when `chatter` comments follow each.
fn commands_in(events: usize, chatter: usize) -> usize {
    events.div_ceil(chatter + 1)
}

/// Which forge and PR command `i` of a step is about: GitHub and GitLab take turns.
fn target(first_pr: u64, i: usize) -> (ForgeKind, u64) {
    let kind = if i.is_multiple_of(2) {
        ForgeKind::GitHub
    } else {
        ForgeKind::GitLab
    };
    (kind, first_pr + i as u64)
}

/// Offers `rate` events per second for `events` events, waits for their writes, measures.
#[allow(clippy::too_many_arguments)]
async fn offer(
    forge: &FakeForge,
    server: &Server,
    postgres_pids: &[i32],
    bodies: &Bodies,
    secret: &str,
    rate: f64,
    (first_pr, events): (u64, usize),
    (mix, chatter): (Mix, usize),
    http: &reqwest::Client,
) -> anyhow::Result<Step> {
    // Event `j` is command `j / (chatter + 1)`, or one of the comments after it.
    let per_command = chatter + 1;
    let commands = commands_in(events, chatter);
    let prepared: Vec<Prepared> = (0..events)
        .map(|j| {
            let (kind, number) = target(first_pr, j / per_command);
            bodies.request(kind, number, secret, !j.is_multiple_of(per_command))
        })
        .collect::<anyhow::Result<_>>()?;
    let requests_before = forge.requests().len();
    let url = format!("http://127.0.0.1:{}/hook", server.port);
    let before = cpu_snapshot(server.pid(), postgres_pids);
    let t0 = Instant::now();
    let t0_wall = SystemTime::now();
    let mut sends = tokio::task::JoinSet::new();
    for (i, request) in prepared.into_iter().enumerate() {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let http = http.clone();
        let url = url.clone();
        sends.spawn(async move {
            let mut post = http
                .post(url)
                .header("Content-Type", "application/json")
                .body(request.body);
            for (name, value) in request.headers {
                post = post.header(name, value);
            }
            post.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        });
    }
    let mut refused = 0;
    while let Some(status) = sends.join_next().await {
        if status.unwrap_or(0) != 202 {
            refused += 1;
        }
    }
    // Every write, or a deadline well past the step: a bosun that fell behind shows as
    // missing writes (and the climb stops).
    let deadline = Instant::now() + Duration::from_secs_f64(10.0 + events as f64 / rate);
    let all_written =
        |forge: &FakeForge| labelled(forge, mix.label(), first_pr, commands) == commands;
    let mut poll = tokio::time::interval(Duration::from_millis(100));
    while !all_written(forge) && Instant::now() < deadline {
        poll.tick().await;
    }
    let after = cpu_snapshot(server.pid(), postgres_pids);
    let log = forge.requests();
    let new = &log[requests_before.min(log.len())..];
    let mut latencies: Vec<u64> = Vec::with_capacity(commands);
    let writes = first_writes(new, first_pr, commands);
    for c in 0..commands {
        let (kind, number) = target(first_pr, c);
        let due = t0_wall + Duration::from_secs_f64((c * per_command) as f64 / rate);
        if let Some(at) = writes.get(&(kind, number)) {
            let nanos = at.duration_since(due).unwrap_or_default().as_nanos();
            latencies.push(u64::try_from(nanos).unwrap_or(u64::MAX));
        }
    }
    latencies.sort_unstable();
    let mut requests_per_event = BTreeMap::new();
    for r in new {
        *requests_per_event.entry(shape(r)).or_insert(0.0) += 1.0 / events as f64;
    }
    let (rss_kb, peak_rss_kb) = server.pid().map(memory_kb).unwrap_or((0, 0));
    Ok(Step {
        rate,
        events,
        commands,
        written: latencies.len(),
        p50_ms: crate::ingest::percentile(&latencies, 0.50),
        p99_ms: crate::ingest::percentile(&latencies, 0.99),
        max_ms: latencies.last().map_or(0.0, |n| *n as f64 / 1e6),
        requests_per_event,
        cpu: CpuUse::between(before, after),
        rss_kb,
        peak_rss_kb,
        refused,
    })
}

/// How many of the step's PRs carry `label` on the fake forge.
fn labelled(forge: &FakeForge, label: &str, first_pr: u64, events: usize) -> usize {
    let range = first_pr..first_pr + events as u64;
    forge.read(|w| {
        [
            (ForgeKind::GitHub, GITHUB_REPO),
            (ForgeKind::GitLab, GITLAB_REPO),
        ]
        .iter()
        .filter_map(|(kind, repo)| w.site(*kind).repo(repo))
        .flat_map(|r| r.items.iter())
        .filter(|i| range.contains(&i.number) && i.labels.iter().any(|l| l == label))
        .count()
    })
}

/// When the first label write for each of the step's PRs arrived: GitHub `POST
/// …/issues/N/labels`, GitLab `PUT …/merge_requests/N` with `add_labels`.
fn first_writes(
    log: &[RecordedRequest],
    first_pr: u64,
    events: usize,
) -> HashMap<(ForgeKind, u64), SystemTime> {
    let range = first_pr..first_pr + events as u64;
    let mut out = HashMap::new();
    for r in log {
        let found = if r.method == "POST" && r.path.ends_with("/labels") {
            number_after(&r.path, "/issues/").map(|n| (ForgeKind::GitHub, n))
        } else if r.method == "PUT" && r.body.contains("add_labels") {
            number_after(&r.path, "/merge_requests/").map(|n| (ForgeKind::GitLab, n))
        } else {
            None
        };
        if let Some(key) = found.filter(|(_, n)| range.contains(n)) {
            out.entry(key).or_insert(r.received);
        }
    }
    out
}

fn number_after(path: &str, marker: &str) -> Option<u64> {
    let rest = &path[path.find(marker)? + marker.len()..];
    rest.split('/').next()?.parse().ok()
}

/// A request's method and path with numbers and SHAs replaced, to count by kind.
fn shape(r: &RecordedRequest) -> String {
    let forge = if r.path.starts_with("/api/v4/") {
        "gitlab"
    } else {
        "github"
    };
    let path: Vec<String> = r
        .path
        .split('/')
        .map(|part| {
            let hexish = part.len() >= 20 && part.chars().all(|c| c.is_ascii_hexdigit());
            if !part.is_empty() && (part.chars().all(|c| c.is_ascii_digit()) || hexish) {
                "N".to_string()
            } else {
                part.to_string()
            }
        })
        .collect();
    format!("{forge} {} {}", r.method, path.join("/"))
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Prints one climb; returns its highest rate within the limit.
fn report(
    store: FlowStore,
    mix: Mix,
    chatter: usize,
    steps: &[Step],
    limit_ms: f64,
) -> Option<f64> {
    match chatter {
        0 => println!("\n## {store:?}, {mix:?}\n"),
        n => println!("\n## {store:?}, {mix:?}, {n} comments without a command after each\n"),
    }
    println!(
        "| offered/s | events | written | p50 ms | p99 ms | max ms | bosun CPU µs/event | Postgres µs/event | harness µs/event | other µs/event | machine busy | RSS MB (peak) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in steps {
        let per = |seconds: f64| seconds * 1e6 / s.events as f64;
        let busy = if s.cpu.machine_total > 0.0 {
            s.cpu.machine_busy / s.cpu.machine_total * 100.0
        } else {
            0.0
        };
        println!(
            "| {:.0} | {} | {}{} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {busy:.0}% | {:.0} ({:.0}) |",
            s.rate,
            s.events,
            s.written,
            if s.refused > 0 {
                format!(" ({} not 202)", s.refused)
            } else {
                String::new()
            },
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            per(s.cpu.server_s),
            per(s.cpu.postgres_s),
            per(s.cpu.client_s),
            per(s.cpu.other()),
            s.rss_kb as f64 / 1024.0,
            s.peak_rss_kb as f64 / 1024.0,
        );
    }
    let best = steps
        .iter()
        .filter(|s| s.within(limit_ms))
        .map(|s| s.rate)
        .fold(None, |best: Option<f64>, r| {
            Some(best.map_or(r, |b| b.max(r)))
        });
    match best {
        Some(rate) => println!("\nhighest rate with p99 <= {limit_ms} ms: {rate:.0}/s"),
        None => println!("\nno rate kept p99 <= {limit_ms} ms"),
    }
    if let Some(last) = steps.last() {
        println!("\nforge requests per event at {:.0}/s:", last.rate);
        for (shape, n) in &last.requests_per_event {
            println!("  {n:>5.2}  {shape}");
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatter_follows_each_command() {
        assert_eq!(commands_in(10, 0), 10);
        assert_eq!(commands_in(10, 3), 3, "commands at 0, 4 and 8");
        assert_eq!(commands_in(8, 3), 2);
    }

    #[test]
    fn events_alternate_forges_on_their_own_prs() {
        assert_eq!(target(10, 0), (ForgeKind::GitHub, 10));
        assert_eq!(target(10, 1), (ForgeKind::GitLab, 11));
        assert_eq!(
            number_after("/repos/o/r/issues/42/labels", "/issues/"),
            Some(42)
        );
        assert_eq!(
            number_after(
                "/api/v4/projects/g%2Fp/merge_requests/7",
                "/merge_requests/"
            ),
            Some(7)
        );
    }

    #[test]
    fn request_shapes_hide_numbers_and_shas() {
        let r = RecordedRequest {
            method: "GET".into(),
            path: "/repos/o/r/git/trees/0123456789abcdef0123456789abcdef01234567".into(),
            query: String::new(),
            body: String::new(),
            headers: Vec::new(),
            received: SystemTime::now(),
            answered: None,
            status: None,
            served_status: None,
            response_headers: Vec::new(),
            routed: true,
        };
        assert_eq!(shape(&r), "github GET /repos/o/r/git/trees/N");
    }

    #[test]
    fn the_tuning_options_reach_bosuns_config() {
        let env = vec![(SECRET_ENV.to_string(), "s".to_string())];
        for (option, expected, http_workers) in [
            (None, bosun::store::PayloadCompression::Zstd, None),
            (Some("lz4"), bosun::store::PayloadCompression::Lz4, Some(1)),
        ] {
            let text = config_text(
                4321,
                "sqlite:///tmp/x.db",
                "http://127.0.0.1:1",
                Mix::Hold,
                Tuning {
                    workers: Some(4),
                    http_workers,
                    payload_compression: option,
                },
            );
            let raw = bosun::config::RawConfig::parse(&text, &env).expect("parses");
            let settings = raw.validate(&env).expect("valid");
            assert_eq!(
                settings.database.payload_compression, expected,
                "{option:?}"
            );
            assert_eq!(settings.queue.workers, Some(4));
            assert_eq!(
                settings.http_workers,
                http_workers.unwrap_or(2),
                "{http_workers:?}"
            );
        }
    }

    #[test]
    fn a_step_is_within_the_limit_only_when_complete() {
        let step = Step {
            rate: 100.0,
            events: 10,
            commands: 10,
            written: 10,
            p50_ms: 2.0,
            p99_ms: 40.0,
            max_ms: 45.0,
            requests_per_event: BTreeMap::new(),
            cpu: CpuUse::default(),
            rss_kb: 0,
            peak_rss_kb: 0,
            refused: 0,
        };
        assert!(step.within(50.0));
        assert!(!Step { written: 9, ..step }.within(50.0));
    }
}
