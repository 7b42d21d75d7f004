//! The configuration file as written: serde structs with `deny_unknown_fields`, each field's
//! default documented, parsed from TOML with the environment's overrides applied.

use super::env::apply_env_overrides;
use super::{ConfigError, problem};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub queue: QueueConfig,
    /// `[merge]`: the merge controller (the `tide` plugin's periodic resync).
    #[serde(default)]
    pub merge: MergeConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub owners: OwnersConfig,
    /// Record actions without applying them, everywhere. Default false; a forge without a
    /// token is always dry-run.
    #[serde(default)]
    pub dry_run: bool,
    /// Repos (`org/repo`) or orgs whose actions are only recorded. Default none.
    #[serde(default)]
    pub dry_run_repos: Vec<String>,
    /// Accounts whose comments are never acted on (other bots). bosun's own account is always
    /// ignored. Default none.
    #[serde(default)]
    pub bot_accounts: Vec<String>,
    pub github: Option<GitHubConfig>,
    pub gitlab: Option<GitLabConfig>,
    /// Plugins enabled per org/group (`"my-org"`) or repo (`"my-org/repo"`).
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginScopeConfig>,
    /// Per-plugin settings keyed by plugin, then by org or org/repo (the repo entry wins).
    #[serde(default)]
    pub settings: BTreeMap<String, BTreeMap<String, toml::Value>>,
    /// Chat channels (`[chat.channels.<name>]`) the notify plugin's routes post to, commands
    /// from chat and who is who there.
    #[serde(default)]
    pub chat: crate::chat::config::ChatConfig,
    /// The Drone server, when builds run on Drone.
    pub drone: Option<crate::ci::config::DroneConfig>,
    /// `[reconcile]`: catching up on missed webhook deliveries by itself (off by default).
    #[serde(default)]
    pub reconcile: crate::reconcile::config::ReconcileConfig,
    /// Whether repositories may enable plugins and set settings in a file of their own.
    #[serde(default)]
    pub repo_config: crate::repo_config::RepoConfigSection,
    /// The directory of the file this was read from; relative paths in it (the GitHub App
    /// key) are read from there, never from the working directory. Not a key of the file.
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8888`.
    pub listen: String,
    /// HTTP worker threads. Default 2.
    pub http_workers: usize,
    /// The older name of `limits.max_body_bytes`, still accepted. Default unset.
    pub max_body_bytes: Option<usize>,
    /// On SIGTERM, how long in-flight work may take before it is released. Default 30 s.
    pub shutdown_grace_seconds: u64,
    /// The URL people reach bosun's pages at; reply footers link to `<public_url>/command-help`.
    /// Default `http://127.0.0.1:8888`.
    pub public_url: String,
    /// Environment variable holding the admin token that replay (and private pages) require.
    /// Default `BOSUN_ADMIN_TOKEN`; unset means the web pages cannot replay.
    pub admin_token_env: String,
    /// Require the admin token to read the dashboard, delivery and PR pages too (the
    /// command-help page stays public: replies link to it). Default false.
    pub private_pages: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8888".into(),
            http_workers: 2,
            max_body_bytes: None,
            shutdown_grace_seconds: 30,
            public_url: "http://127.0.0.1:8888".into(),
            admin_token_env: "BOSUN_ADMIN_TOKEN".into(),
            private_pages: false,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://FILE` (created when missing) or `postgres://…`. Default `sqlite://bosun.db`.
    pub url: String,
    /// Pool size. Default 10.
    pub max_connections: u32,
    /// How webhook payloads are journaled: `"zstd"` compressed by bosun with a dictionary
    /// trained on webhooks (about a tenth of the bytes), `"lz4"` (a fifth, a little less CPU),
    /// or `"none"` as received. Rows of every kind are always readable. Default `"zstd"`.
    pub payload_compression: crate::store::PayloadCompression,
    /// SQLite only: who checkpoints the WAL: `"background"` (a task of its own, off the commit
    /// path) or `"inline"` (SQLite's automatic checkpoint inside a commit). Default
    /// `"background"`.
    pub sqlite_checkpoints: crate::store::sqlite::Checkpoints,
    /// SQLite only: when the journal's inserts and decisions count as done: `"disk"` once the
    /// WAL is synced, so a 202 survives the machine losing power, or `"os"` once SQLite has
    /// written it (survives bosun crashing, not a power loss; faster above a few hundred
    /// deliveries a second). Default `"disk"`.
    pub sqlite_sync: crate::store::sqlite::SqliteSync,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://bosun.db".into(),
            max_connections: 10,
            payload_compression: Default::default(),
            sqlite_checkpoints: Default::default(),
            sqlite_sync: Default::default(),
        }
    }
}

/// `[owners]`: how OWNERS files are read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OwnersConfig {
    /// `.md` files may carry OWNERS front matter (`---` YAML `---`) that owns that one file, as
    /// Prow's opt-in md-yaml. Default false.
    pub markdown_front_matter: bool,
    /// Orgs/groups or repos where `.md` front matter is read even when `markdown_front_matter`
    /// is off (Prow's per-repo `owners.mdyamlrepos`). Default none.
    pub markdown_front_matter_repos: Vec<String>,
    /// Orgs/groups or repos where who may `/lgtm` is decided by OWNERS (reviewers and
    /// approvers of the changed files) instead of repository collaborators, and the commenter
    /// is not assigned (Prow's `owners.skip_collaborators`). Default none.
    pub skip_collaborators: Vec<String>,
}

impl OwnersConfig {
    /// The policy the OWNERS loader applies per org/repo.
    pub fn policy(&self) -> bosun_plugins::owners::OwnersPolicy {
        bosun_plugins::owners::OwnersPolicy {
            markdown_front_matter: self.markdown_front_matter,
            markdown_front_matter_repos: self.markdown_front_matter_repos.clone(),
            skip_collaborators: self.skip_collaborators.clone(),
        }
    }

    /// Every listed scope must be an org/group or a repo path.
    pub(super) fn validate(&self, errors: &mut Vec<ConfigError>) {
        for (key, list) in [
            (
                "markdown_front_matter_repos",
                &self.markdown_front_matter_repos,
            ),
            ("skip_collaborators", &self.skip_collaborators),
        ] {
            for scope in list {
                if bosun_plugins::RepoPath::parse(&format!("{scope}/x")).is_none() {
                    errors.push(problem(
                        format!("owners.{key}"),
                        format!("{scope:?} is not an org/group or a repo path"),
                    ));
                }
            }
        }
    }
}

/// `[queue]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Deliveries processed at once by this process; 0 only receives. Default: 16 on
    /// Postgres, 4 on SQLite ([`QueueConfig::workers_for`]).
    pub workers: Option<usize>,
    /// How long a claimed delivery stays with its worker before another may take it. Default 120 s.
    pub lease_seconds: u64,
    /// Attempts before a delivery is `failed`. Default 8.
    pub max_attempts: i32,
    /// First retry delay; doubled each attempt, with jitter. Default 1000 ms.
    pub backoff_base_ms: u64,
    /// Longest retry delay. Default 600 s.
    pub backoff_max_seconds: u64,
    /// How often idle workers look for work another process queued. Default 500 ms.
    pub poll_interval_ms: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            workers: None,
            lease_seconds: 120,
            max_attempts: 8,
            backoff_base_ms: 1000,
            backoff_max_seconds: 600,
            poll_interval_ms: 500,
        }
    }
}

impl QueueConfig {
    /// The workers this process runs on the store at `database_url`: the configured number,
    /// or the store's default. A worker mostly waits on the forge's answers (tens to hundreds
    /// of milliseconds a call), so Postgres, which takes writes from many connections at once,
    /// gets 16 (BENCHMARKS.md §8: four workers cap a 20 ms forge at 50 events/s); SQLite has
    /// one writer, which the webhook intake shares with every worker, so it keeps 4.
    pub fn workers_for(&self, database_url: &str) -> usize {
        self.workers
            .unwrap_or(if database_url.starts_with("sqlite:") {
                4
            } else {
                16
            })
    }
}

/// `[merge]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MergeConfig {
    /// How often the merge controller lists the open PRs of repositories with `tide` enabled,
    /// to catch what events missed. Default 300 s; 0 turns the resync off.
    pub resync_seconds: u64,
    /// When a branch moves, at most this many open PRs into it are looked at again (their
    /// conflicts and readiness). Default 100.
    pub recheck_limit: usize,
}

impl Default for MergeConfig {
    fn default() -> Self {
        MergeConfig {
            resync_seconds: 300,
            recheck_limit: 100,
        }
    }
}

/// `[limits]`: bounds on what one delivery, comment or forge call may cost. Every limit has
/// a safe default; the README's "Limits" section lists them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest webhook body accepted, in bytes; larger bodies get 413. Default 25 MiB
    /// (GitHub's cap). `server.max_body_bytes` is the older name of this key.
    pub max_body_bytes: Option<usize>,
    /// A comment, review body or description longer than this many bytes is not read for
    /// commands at all (no partial reading that could cut a command's arguments). Default
    /// 256 KiB, more than any GitHub comment (65,536 characters) can take in practice.
    pub max_comment_bytes: usize,
    /// Only the first this many command lines (`/…` outside code and quotes) of one comment
    /// are acted on; the rest of the comment is not read. Default 20.
    pub max_commands_per_comment: usize,
    /// Most changed files of one pull request that plugins consider (size, OWNERS). Default
    /// 3000, the most GitHub's files API lists.
    pub max_changed_files: usize,
    /// How long one forge API call may take before it fails as transient (and the delivery is
    /// retried). Default 30 s.
    pub forge_timeout_seconds: u64,
    /// Forge API calls in flight at once per credential: the token, or each GitHub App
    /// installation. Default 8.
    pub max_concurrent_forge_calls: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: None,
            max_comment_bytes: 256 * 1024,
            max_commands_per_comment: 20,
            max_changed_files: 3000,
            forge_timeout_seconds: 30,
            max_concurrent_forge_calls: 8,
        }
    }
}

/// `[github]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// API base URL. Default `https://api.github.com`; GitHub Enterprise: `https://HOST/api/v3`.
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// Environment variable holding the API token. Default `BOSUN_GITHUB_TOKEN`; unset means dry-run.
    #[serde(default = "default_github_token_env")]
    pub token_env: String,
    /// Webhook secrets: scope (`"*"`, `"org"`, `"org/repo"`) → environment variables holding
    /// secrets; several per scope allow rotation; only the most specific scope is tried.
    #[serde(default)]
    pub webhook_secrets: BTreeMap<String, Vec<String>>,
    /// Act as this GitHub App (its numeric id) instead of with a token; needs
    /// `private_key_file`. Default none (token authentication).
    #[serde(default)]
    pub app_id: Option<u64>,
    /// The GitHub App's private key, a PEM file as GitHub issues it; a relative path is read
    /// from the config file's directory. Default none; required with `app_id`.
    #[serde(default)]
    pub private_key_file: Option<String>,
}

/// `[gitlab]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitLabConfig {
    /// Instance URL. Default `https://gitlab.com`.
    #[serde(default = "default_gitlab_url")]
    pub url: String,
    /// Environment variable holding the API token. Default `BOSUN_GITLAB_TOKEN`; unset means dry-run.
    #[serde(default = "default_gitlab_token_env")]
    pub token_env: String,
    /// Allow a plain `http://` instance URL (tests, a local instance). Default false.
    #[serde(default)]
    pub allow_http: bool,
    /// Webhook tokens: scope (`"*"`, `"group"`, `"group/sub/project"`) → environment variables.
    #[serde(default)]
    pub webhook_tokens: BTreeMap<String, Vec<String>>,
}

fn default_github_api() -> String {
    "https://api.github.com".into()
}
fn default_github_token_env() -> String {
    "BOSUN_GITHUB_TOKEN".into()
}
fn default_gitlab_url() -> String {
    "https://gitlab.com".into()
}
fn default_gitlab_token_env() -> String {
    "BOSUN_GITLAB_TOKEN".into()
}

/// `[plugins."scope"]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginScopeConfig {
    /// Plugins enabled here.
    #[serde(default)]
    pub enabled: Vec<String>,
    /// On an org entry: repos (by name or full path) the org's list does not apply to.
    #[serde(default)]
    pub excluded_repos: Vec<String>,
}

impl RawConfig {
    /// Parses TOML text and applies `BOSUN_SECTION__KEY=value` overrides from `env`.
    pub fn parse(text: &str, env: &[(String, String)]) -> Result<RawConfig, Vec<ConfigError>> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| vec![problem("(file)", one_line(&e.to_string()))])?;
        apply_env_overrides(&mut table, env);
        RawConfig::deserialize(toml::Value::Table(table))
            .map_err(|e| vec![problem("(file)", one_line(&e.to_string()))])
    }
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
