//! The command line: `serve`, `migrate`, `check-config`, `import-prow`, `send`, `replay`,
//! `resync`, `owners`, `reconcile`.

use crate::config::Settings;
use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};

/// bosun: Prow's commands for GitHub and GitLab.
#[derive(Debug, Parser)]
#[command(name = "bosun", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive webhooks and act on them.
    Serve {
        /// The configuration file.
        #[arg(long, short, default_value = "config.example.toml")]
        config: PathBuf,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, short, default_value = "config.example.toml")]
        config: PathBuf,
    },
    /// Validate a configuration file; every problem is printed with its key.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
        /// Also check a repository's own file (`.bosun.toml`) against this configuration's
        /// `[repo_config]` rules, as bosun checks it on a PR.
        #[arg(long, requires = "repo")]
        repo_file: Option<PathBuf>,
        /// The repository the file belongs to (`org/repo`), whose central settings it is
        /// laid over.
        #[arg(long)]
        repo: Option<String>,
    },
    /// Write the bosun configuration equivalent to a Prow plugins.yaml (to stdout, or
    /// `--output`), listing what cannot carry over and why.
    ImportProw {
        /// Prow's plugins.yaml.
        plugins: PathBuf,
        /// Prow's config.yaml, for its OWNERS settings (owners_dir_denylist).
        #[arg(long)]
        owners_config: Option<PathBuf>,
        /// Write the configuration here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Post a payload file to a running bosun as the forge would (like Prow's phony).
    Send(SendArgs),
    /// Queue deliveries again: one by id, or every failed one.
    Replay {
        #[arg(long, short, default_value = "config.example.toml")]
        config: PathBuf,
        /// The delivery id as stored (e.g. `github:72d3162e-…`).
        delivery_id: Option<String>,
        /// Every failed delivery.
        #[arg(long, conflicts_with = "delivery_id")]
        failed: bool,
    },
    /// After downtime: look again at the open PRs of a repository whose head or labels
    /// bosun has not seen (one list call per 100 PRs); the running bosun processes them.
    Resync {
        /// The configuration file.
        #[arg(long, default_value = "config.example.toml")]
        config: PathBuf,
        /// The forge.
        #[arg(value_enum)]
        forge: SendForge,
        /// The repository (`org/repo`, or a GitLab project path).
        repo: String,
    },
    /// Who owns these paths in a checkout: approvers, reviewers and labels per path, the OWNERS
    /// files a PR touching them needs approval from, and whom bosun would ask to review.
    Owners(crate::owners_cli::OwnersArgs),
    /// Catch up on webhook deliveries bosun never got: list the forge's recent deliveries of
    /// the hooks pointing at bosun and have the forge send again those the journal lacks.
    Reconcile(ReconcileArgs),
}

/// Arguments of `bosun reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// The configuration file.
    #[arg(long, default_value = "config.example.toml")]
    pub config: PathBuf,
    /// The forge.
    #[arg(value_enum)]
    pub forge: SendForge,
    /// Repositories (`org/repo`) or GitLab project paths whose hooks to read; with none of
    /// these, `--org` or `--app`, those listed under `[reconcile]`.
    pub repos: Vec<String>,
    /// GitHub organisations whose hooks to read.
    #[arg(long = "org")]
    pub orgs: Vec<String>,
    /// Read the GitHub App's own webhook (needs `[github] app_id`).
    #[arg(long)]
    pub app: bool,
    /// How far back: `90m`, `24h`, `3d` … (github.com redelivers 3 days back, GitLab lists
    /// about 7 days).
    #[arg(long, default_value = "24h", value_parser = crate::reconcile::parse_window)]
    pub since: std::time::Duration,
    /// The most log entries read per hook.
    #[arg(long, default_value_t = crate::reconcile::DEFAULT_MAX)]
    pub max: usize,
    /// Only hooks whose URL starts with this; default `[reconcile] hook_url`, else
    /// `[server] public_url`.
    #[arg(long, conflicts_with = "all_hooks")]
    pub hook_url: Option<String>,
    /// Every hook of the named owners, whatever its URL.
    #[arg(long)]
    pub all_hooks: bool,
    /// Report what is missing; ask the forge for nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Which forge `send` imitates, or `resync` lists from.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SendForge {
    Github,
    Gitlab,
}

/// Arguments of `bosun send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The payload file (e.g. one of tests/fixtures).
    pub payload: PathBuf,
    /// Where bosun listens.
    #[arg(long, default_value = "http://127.0.0.1:8888/hook")]
    pub url: String,
    /// The forge; guessed from the path (`…/github/…`, `…/gitlab/…`) when omitted.
    #[arg(long, value_enum)]
    pub forge: Option<SendForge>,
    /// The event header value (`issue_comment`, `Note Hook` …); guessed from the fixture
    /// directory when omitted.
    #[arg(long)]
    pub event: Option<String>,
    /// The webhook secret (GitHub HMAC key or GitLab token).
    #[arg(long, env = "BOSUN_SEND_SECRET", hide_env_values = true)]
    pub secret: String,
    /// The delivery id; a fresh UUID when omitted.
    #[arg(long)]
    pub delivery_id: Option<String>,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let settings = load(&config)?;
            for w in &settings.warnings {
                tracing::warn!(problem = %w, "configuration");
            }
            for forge in [
                bosun_plugins::ForgeKind::GitHub,
                bosun_plugins::ForgeKind::GitLab,
            ] {
                if settings.forge(forge).is_some() && settings.is_dry_run(forge, None) {
                    tracing::warn!(%forge, "dry-run: actions are recorded, not applied (no token, or dry_run set)");
                }
            }
            let app = crate::startup::Application::build(settings)
                .await?
                .reload_from(crate::reload::ConfigSource {
                    path: config.clone(),
                    env: None,
                });
            tracing::info!(port = app.port(), "bosun listening");
            app.run_until_stopped().await
        }
        Command::Migrate { config } => {
            let settings = load(&config)?;
            let store = crate::store::connect(&settings.database.url, 2).await?;
            store.migrate().await?;
            println!(
                "migrations applied to {}",
                redact_url(&settings.database.url)
            );
            Ok(())
        }
        Command::CheckConfig {
            file,
            repo_file,
            repo,
        } => match Settings::load(&file) {
            Ok(settings) => {
                for w in &settings.warnings {
                    eprintln!("{}: warning: {w}", file.display());
                }
                println!("{}: ok", file.display());
                match (repo_file, repo) {
                    (Some(repo_file), Some(repo)) => check_repo_file(&settings, &repo_file, &repo),
                    _ => Ok(()),
                }
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{}: {e}", file.display());
                }
                bail!("{} problem(s) in {}", errors.len(), file.display())
            }
        },
        Command::ImportProw {
            plugins,
            owners_config,
            output,
        } => import_prow(&plugins, owners_config.as_deref(), output.as_deref()),
        Command::Send(args) => send(args).await,
        Command::Replay {
            config,
            delivery_id,
            failed,
        } => {
            let settings = load(&config)?;
            let store = crate::store::connect(&settings.database.url, 2).await?;
            store.migrate().await?;
            if failed {
                let n = store.requeue_failed().await?;
                println!("queued {n} failed deliveries again");
            } else if let Some(id) = delivery_id {
                if !store.requeue(&id).await? {
                    bail!("no delivery {id} that is not running");
                }
                println!("queued {id} again");
            } else {
                bail!("name a delivery id or pass --failed");
            }
            Ok(())
        }
        Command::Resync {
            config,
            forge,
            repo,
        } => {
            let settings = std::sync::Arc::new(load(&config)?);
            let path = bosun_plugins::RepoPath::parse(&repo)
                .with_context(|| format!("{repo:?} is not a repository path (org/repo)"))?;
            let store = crate::store::connect(&settings.database.url, 2).await?;
            store.migrate().await?;
            let kind = match forge {
                SendForge::Github => bosun_plugins::ForgeKind::GitHub,
                SendForge::Gitlab => bosun_plugins::ForgeKind::GitLab,
            };
            let resync = crate::resync::Resync {
                store,
                forges: crate::startup::build_forges(&settings)?,
                settings: settings.clone(),
                work: std::sync::Arc::new(tokio::sync::Notify::new()),
            };
            let report = resync.repo(kind, &path).await?;
            println!(
                "{kind} {path}: {} open PRs listed, {} queued to be looked at again",
                report.listed, report.queued
            );
            Ok(())
        }
        Command::Owners(args) => crate::owners_cli::run(args),
        Command::Reconcile(args) => reconcile(args).await,
    }
}

/// `bosun reconcile`: one run, its report printed; an error when anything failed.
async fn reconcile(args: ReconcileArgs) -> anyhow::Result<()> {
    use crate::forge::hooks::{HookOwner, Window};
    let settings = load(&args.config)?;
    let kind = match args.forge {
        SendForge::Github => bosun_plugins::ForgeKind::GitHub,
        SendForge::Gitlab => bosun_plugins::ForgeKind::GitLab,
    };
    let mut owners = Vec::new();
    for repo in &args.repos {
        let path = bosun_plugins::RepoPath::parse(repo)
            .with_context(|| format!("{repo:?} is not a repository path (org/repo)"))?;
        owners.push(HookOwner::Repo(path));
    }
    owners.extend(args.orgs.iter().cloned().map(HookOwner::Org));
    if args.app {
        owners.push(HookOwner::App);
    }
    if owners.is_empty() {
        owners = settings.reconcile.owners_on(kind);
    }
    if owners.is_empty() {
        bail!("name repositories, --org or --app (or list them under [reconcile] {kind})");
    }
    let since = chrono::Duration::from_std(args.since).context("--since is too long")?;
    let options = crate::reconcile::Options {
        owners,
        hook_url: match (args.all_hooks, args.hook_url) {
            (true, _) => None,
            (false, Some(url)) => Some(url),
            (false, None) => Some(
                settings
                    .reconcile
                    .hook_url
                    .clone()
                    .unwrap_or_else(|| crate::reconcile::public_url(&settings)),
            ),
        },
        window: Window {
            since: chrono::Utc::now() - since,
            max: args.max,
        },
        dry_run: args.dry_run,
    };
    let log = crate::reconcile::hook_log(&settings, kind)?;
    let store = crate::store::connect(&settings.database.url, 2).await?;
    store.migrate().await?;
    let report = crate::reconcile::run(log.as_ref(), store.as_ref(), &options).await;
    let verb = if args.dry_run {
        "missing"
    } else {
        "redelivery asked"
    };
    for id in &report.missing {
        println!("{verb}: {id}");
    }
    for failure in &report.failed {
        eprintln!("failed: {failure}");
    }
    println!("{kind}: {report}");
    if report.hooks == 0 && report.failed.is_empty() {
        eprintln!(
            "no hook matched {}; pass --hook-url or --all-hooks",
            options.hook_url.as_deref().unwrap_or("any URL")
        );
    }
    if !report.failed.is_empty() {
        bail!("{} step(s) failed", report.failed.len());
    }
    Ok(())
}

/// `bosun import-prow`: the TOML goes to stdout (or `output`), what was left behind to stderr.
fn import_prow(plugins: &Path, owners: Option<&Path>, output: Option<&Path>) -> anyhow::Result<()> {
    let read =
        |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let plugins_text = read(plugins)?;
    let owners_text = owners.map(read).transpose()?;
    let imported = crate::import_prow::import(&plugins_text, owners_text.as_deref())?;
    let text = imported.to_toml_text();
    match output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    for d in &imported.dropped {
        eprintln!("not carried over: {}: {}", d.key, d.reason);
    }
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<Settings> {
    Settings::load(path).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        anyhow::anyhow!(
            "invalid configuration {}:\n{}",
            path.display(),
            lines.join("\n")
        )
    })
}

/// Hides a password in a database URL for printing.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Maps a fixture directory to its GitLab event header.
pub fn gitlab_event_for_dir(dir: &str) -> Option<&'static str> {
    Some(match dir {
        "merge_request" => "Merge Request Hook",
        "note" => "Note Hook",
        "issue" => "Issue Hook",
        "push" => "Push Hook",
        "tag_push" => "Tag Push Hook",
        "pipeline" => "Pipeline Hook",
        _ => return None,
    })
}

/// The headers and body a forge would send for a payload.
pub fn signed_request(
    forge: SendForge,
    event: &str,
    secret: &str,
    delivery_id: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    match forge {
        SendForge::Github => {
            let signature = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
                .map(|mut mac| {
                    mac.update(body);
                    hex::encode(mac.finalize().into_bytes())
                })
                .unwrap_or_default();
            vec![
                ("content-type", "application/json".into()),
                ("x-github-event", event.into()),
                ("x-github-delivery", delivery_id.into()),
                ("x-hub-signature-256", format!("sha256={signature}")),
                ("user-agent", "bosun-send".into()),
            ]
        }
        SendForge::Gitlab => vec![
            ("content-type", "application/json".into()),
            ("x-gitlab-event", event.into()),
            ("x-gitlab-token", secret.into()),
            ("idempotency-key", delivery_id.into()),
            ("x-gitlab-event-uuid", delivery_id.into()),
            ("user-agent", "bosun-send".into()),
        ],
    }
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let body = std::fs::read(&args.payload)
        .with_context(|| format!("reading {}", args.payload.display()))?;
    let parts: Vec<String> = args
        .payload
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let forge = match args.forge {
        Some(f) => f,
        None if parts.iter().any(|p| p == "gitlab") => SendForge::Gitlab,
        None if parts.iter().any(|p| p == "github") => SendForge::Github,
        None => bail!("cannot tell the forge from the path; pass --forge"),
    };
    let dir = parts
        .len()
        .checked_sub(2)
        .and_then(|i| parts.get(i))
        .cloned()
        .unwrap_or_default();
    let event = match (&args.event, forge) {
        (Some(e), _) => e.clone(),
        (None, SendForge::Github) if !dir.is_empty() => dir,
        (None, SendForge::Gitlab) => gitlab_event_for_dir(&dir)
            .map(str::to_string)
            .context("pass --event")?,
        _ => bail!("pass --event"),
    };
    let delivery_id = args
        .delivery_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let client = reqwest::Client::new();
    let mut request = client.post(&args.url).body(body.clone());
    for (name, value) in signed_request(forge, &event, &args.secret, &delivery_id, &body) {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("posting to {}", args.url))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!(
        "{} {} (delivery {delivery_id}, event {event})",
        status.as_u16(),
        text.trim()
    );
    if !status.is_success() {
        bail!("bosun answered {status}");
    }
    Ok(())
}

/// `check-config --repo-file`: a repository's file checked as bosun checks it on a PR.
fn check_repo_file(settings: &Settings, path: &Path, repo: &str) -> anyhow::Result<()> {
    let repo = bosun_plugins::RepoPath::parse(repo)
        .ok_or_else(|| anyhow::anyhow!("--repo must be a repository path like org/repo"))?;
    if !settings.repo_config.enabled {
        bail!(
            "[repo_config] is not enabled in this configuration: bosun reads no repository's file"
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let plugins = bosun_plugins::all_plugins();
    match crate::repo_config::parse_overlay(
        &text,
        &settings.repo_config,
        &settings.plugins,
        &repo,
        &plugins,
    ) {
        Ok(_) => {
            println!("{}: ok", path.display());
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", path.display());
            }
            bail!("{} problem(s) in {}", errors.len(), path.display())
        }
    }
}
