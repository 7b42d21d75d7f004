//! Configuration: a TOML file, `BOSUN_…__…` environment overrides, secrets from the
//! environment. [`RawConfig::validate`] checks everything once at startup and reports every
//! problem with its key path; `bosun check-config` runs the same function.

use bosun_plugins::{ForgeKind, RepoPath};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Chat channels (`[chat.channels.<name>]`) the notify plugin's routes post to.
    #[serde(default)]
    pub chat: crate::chat::config::ChatConfig,
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
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: "sqlite://bosun.db".into(),
            max_connections: 10,
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
    fn validate(&self, errors: &mut Vec<ConfigError>) {
        for (key, list) in [
            (
                "markdown_front_matter_repos",
                &self.markdown_front_matter_repos,
            ),
            ("skip_collaborators", &self.skip_collaborators),
        ] {
            for scope in list {
                if RepoPath::parse(&format!("{scope}/x")).is_none() {
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Deliveries processed at once by this process. Default 4; 0 only receives.
    pub workers: usize,
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
            workers: 4,
            lease_seconds: 120,
            max_attempts: 8,
            backoff_base_ms: 1000,
            backoff_max_seconds: 600,
            poll_interval_ms: 500,
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

/// The default `limits.max_body_bytes`: 25 MiB, GitHub's own cap on webhook payloads.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Validated limits, as bosun applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_comment_bytes: usize,
    pub max_commands_per_comment: usize,
    pub max_changed_files: usize,
    pub forge_timeout: Duration,
    pub max_concurrent_forge_calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let raw = LimitsConfig::default();
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_comment_bytes: raw.max_comment_bytes,
            max_commands_per_comment: raw.max_commands_per_comment,
            max_changed_files: raw.max_changed_files,
            forge_timeout: Duration::from_secs(raw.forge_timeout_seconds),
            max_concurrent_forge_calls: raw.max_concurrent_forge_calls,
        }
    }
}

impl Limits {
    /// The limits plugins must respect, as the plugin [`bosun_plugins::Context`] carries them.
    pub fn for_plugins(&self) -> bosun_plugins::PluginLimits {
        bosun_plugins::PluginLimits {
            max_changed_files: self.max_changed_files,
        }
    }
}

impl LimitsConfig {
    /// Checks each limit (pushing problems with their keys); `legacy_body` is
    /// `server.max_body_bytes`.
    fn validate(&self, legacy_body: Option<usize>, errors: &mut Vec<ConfigError>) -> Limits {
        let max_body_bytes = match (self.max_body_bytes, legacy_body) {
            (Some(a), Some(b)) if a != b => {
                errors.push(problem(
                    "limits.max_body_bytes",
                    "differs from server.max_body_bytes (its older name); set only one",
                ));
                a
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => DEFAULT_MAX_BODY_BYTES,
        };
        if max_body_bytes < 1024 {
            let key = if self.max_body_bytes.is_some() {
                "limits.max_body_bytes"
            } else {
                "server.max_body_bytes"
            };
            errors.push(problem(key, "must be at least 1024"));
        }
        let mut at_least = |key: &str, value: u64, min: u64| {
            if value < min {
                errors.push(problem(
                    format!("limits.{key}"),
                    format!("must be at least {min}"),
                ));
            }
        };
        at_least("max_comment_bytes", self.max_comment_bytes as u64, 1024);
        at_least(
            "max_commands_per_comment",
            self.max_commands_per_comment as u64,
            1,
        );
        at_least("max_changed_files", self.max_changed_files as u64, 1);
        at_least("forge_timeout_seconds", self.forge_timeout_seconds, 1);
        at_least(
            "max_concurrent_forge_calls",
            self.max_concurrent_forge_calls as u64,
            1,
        );
        if self.forge_timeout_seconds > 600 {
            errors.push(problem(
                "limits.forge_timeout_seconds",
                "must be at most 600",
            ));
        }
        Limits {
            max_body_bytes,
            max_comment_bytes: self.max_comment_bytes,
            max_commands_per_comment: self.max_commands_per_comment,
            max_changed_files: self.max_changed_files,
            forge_timeout: Duration::from_secs(self.forge_timeout_seconds),
            max_concurrent_forge_calls: self.max_concurrent_forge_calls,
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

/// One configuration problem, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

/// Validated, frozen settings; every value here is usable as is.
#[derive(Debug)]
pub struct Settings {
    pub listen: String,
    pub http_workers: usize,
    pub shutdown_grace: Duration,
    /// `<public_url>/command-help`, linked from every reply.
    pub help_url: String,
    /// The token replay and private pages require; none means the pages cannot replay.
    pub admin_token: Option<SecretString>,
    /// Whether reading the dashboard needs the admin token.
    pub private_pages: bool,
    pub database: DatabaseConfig,
    pub queue: QueueConfig,
    /// `[limits]`, validated.
    pub limits: Limits,
    pub owners: OwnersConfig,
    pub dry_run: bool,
    pub dry_run_repos: Vec<String>,
    pub bot_accounts: Vec<String>,
    pub github: Option<ForgeSettings>,
    pub gitlab: Option<ForgeSettings>,
    pub plugins: PluginMatrix,
    /// Chat channels, commands from chat, and who is who there.
    pub chat: crate::chat::config::ChatSettings,
    /// Problems that do not stop bosun (an unset secret variable): logged at start and printed
    /// by `check-config`.
    pub warnings: Vec<ConfigError>,
}

/// One forge's API access and webhook secrets.
#[derive(Debug)]
pub struct ForgeSettings {
    pub api_url: String,
    /// GitLab only: a plain-http instance URL was explicitly allowed.
    pub allow_http: bool,
    pub token: Option<SecretString>,
    /// GitHub only: act as this App; takes precedence over `token`.
    pub app: Option<GitHubAppSettings>,
    pub webhook_secrets: ScopedSecrets,
}

impl ForgeSettings {
    /// Whether bosun can act on this forge (a token or an App); without, it only dry-runs.
    pub fn has_credentials(&self) -> bool {
        self.token.is_some() || self.app.is_some()
    }
}

/// A GitHub App's identity, with its key already read and checked at startup.
#[derive(Debug)]
pub struct GitHubAppSettings {
    pub app_id: u64,
    /// The PEM key file's contents.
    pub private_key: SecretString,
}

/// Secrets by scope; lookup uses only the most specific configured scope (Prow's rule).
#[derive(Debug, Default)]
pub struct ScopedSecrets(HashMap<String, Vec<SecretString>>);

impl ScopedSecrets {
    /// Builds from scope → secrets.
    pub fn new(map: HashMap<String, Vec<SecretString>>) -> Self {
        ScopedSecrets(map)
    }

    /// The secrets to try for a delivery about `scope_path` (`org/repo`, `group/sub/proj`, or
    /// just an org), or none when nothing is configured for it.
    pub fn for_path(&self, scope_path: Option<&str>) -> &[SecretString] {
        if let Some(path) = scope_path {
            let mut rest = path;
            loop {
                if let Some(s) = self.0.get(rest) {
                    return s;
                }
                match rest.rsplit_once('/') {
                    Some((parent, _)) => rest = parent,
                    None => break,
                }
            }
        }
        self.0.get("*").map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Which plugins run where, and their settings, in Prow's model (§1.6).
#[derive(Debug, Default)]
pub struct PluginMatrix {
    scopes: BTreeMap<String, PluginScopeConfig>,
    settings: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

impl PluginMatrix {
    /// Plugins for a repo: the org's (unless the repo is excluded there) then the repo's own.
    /// Nested GitLab groups: every parent group's list applies.
    pub fn enabled_for(&self, repo: &RepoPath) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let scopes = repo.scopes();
        for scope in scopes.iter().rev() {
            let Some(entry) = self.scopes.get(*scope) else {
                continue;
            };
            let is_repo_entry = *scope == repo.as_str();
            let excluded = !is_repo_entry
                && entry
                    .excluded_repos
                    .iter()
                    .any(|r| r == repo.name() || r == repo.as_str());
            if excluded {
                continue;
            }
            for p in &entry.enabled {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
        out
    }

    /// A plugin's settings for a repo: the most specific entry wins, no merging.
    pub fn settings_for(&self, plugin: &str, repo: &RepoPath) -> serde_json::Value {
        let Some(by_scope) = self.settings.get(plugin) else {
            return serde_json::Value::Null;
        };
        repo.scopes()
            .into_iter()
            .find_map(|s| by_scope.get(s))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    /// Every configured scope and its plugins, for the help page.
    pub fn scopes(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.scopes.iter().map(|(k, v)| (k, &v.enabled))
    }

    /// Every configured scope with its plugins and excluded repos, for the command-help page.
    pub fn scope_entries(&self) -> impl Iterator<Item = (&String, &PluginScopeConfig)> {
        self.scopes.iter()
    }

    /// Every plugin's settings by scope, for `/plugin-help`'s per-scope configuration.
    pub fn settings_by_scope(&self, plugin: &str) -> Option<&BTreeMap<String, serde_json::Value>> {
        self.settings.get(plugin)
    }
}

impl Settings {
    /// Loads a file, applies environment overrides and validates.
    pub fn load(path: &Path) -> Result<Settings, Vec<ConfigError>> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// As [`Settings::load`] with an explicit environment, so tests need not touch the process's.
    pub fn load_with_env(
        path: &Path,
        env: &[(String, String)],
    ) -> Result<Settings, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![problem(
                path.display().to_string(),
                format!("cannot read: {e}"),
            )]
        })?;
        let mut raw = RawConfig::parse(&text, env)?;
        raw.config_dir = path.parent().map(Path::to_path_buf);
        raw.validate(env)
    }

    /// Whether actions for this forge and repo are only recorded.
    pub fn is_dry_run(&self, forge: ForgeKind, repo: Option<&RepoPath>) -> bool {
        let forge_settings = match forge {
            ForgeKind::GitHub => &self.github,
            ForgeKind::GitLab => &self.gitlab,
        };
        let no_token = forge_settings.as_ref().is_none_or(|f| !f.has_credentials());
        let repo_listed = repo.is_some_and(|r| {
            r.scopes()
                .iter()
                .any(|s| self.dry_run_repos.iter().any(|d| d == s))
        });
        self.dry_run || no_token || repo_listed
    }

    /// Settings for one forge, if configured.
    pub fn forge(&self, forge: ForgeKind) -> Option<&ForgeSettings> {
        match forge {
            ForgeKind::GitHub => self.github.as_ref(),
            ForgeKind::GitLab => self.gitlab.as_ref(),
        }
    }
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

    /// Checks every value and resolves secrets; returns all problems at once.
    pub fn validate(self, env: &[(String, String)]) -> Result<Settings, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(problem(
                "server.listen",
                "must be an address like 127.0.0.1:8888",
            ));
        }
        if !(self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            errors.push(problem("server.public_url", "must be an http(s) URL"));
        }
        if self.server.http_workers == 0 {
            errors.push(problem("server.http_workers", "must be at least 1"));
        }
        let limits = self
            .limits
            .validate(self.server.max_body_bytes, &mut errors);
        let db = &self.database.url;
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            errors.push(problem(
                "database.url",
                "must start with sqlite: or postgres://",
            ));
        }
        if self.database.max_connections == 0 {
            errors.push(problem("database.max_connections", "must be at least 1"));
        }
        if self.queue.max_attempts < 1 {
            errors.push(problem("queue.max_attempts", "must be at least 1"));
        }
        if self.queue.lease_seconds < 5 {
            errors.push(problem("queue.lease_seconds", "must be at least 5"));
        }
        let mut forge = |name: &str,
                         url: &str,
                         token_env: &str,
                         secrets: &BTreeMap<String, Vec<String>>| {
            let url_key = if name == "github" { "api_url" } else { "url" };
            let secrets_key = if name == "github" {
                "webhook_secrets"
            } else {
                "webhook_tokens"
            };
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                errors.push(problem(
                    format!("{name}.{url_key}"),
                    "must be an http(s) URL",
                ));
            }
            let mut resolved = HashMap::new();
            for (scope, vars) in secrets {
                if scope != "*" && RepoPath::parse(&format!("{scope}/x")).is_none() {
                    errors.push(problem(
                        format!("{name}.{secrets_key}.\"{scope}\""),
                        "scope must be \"*\", an org/group or a repo path",
                    ));
                }
                if vars.is_empty() {
                    errors.push(problem(
                        format!("{name}.{secrets_key}.\"{scope}\""),
                        "lists no environment variable",
                    ));
                }
                let mut values = Vec::new();
                for var in vars {
                    match lookup(var) {
                        Some(v) if !v.is_empty() => values.push(SecretString::from(v)),
                        _ => warnings.push(problem(format!("{name}.{secrets_key}.\"{scope}\""), format!("environment variable {var} is not set; webhooks in this scope will be refused"))),
                    }
                }
                resolved.insert(scope.clone(), values);
            }
            ForgeSettings {
                allow_http: false,
                api_url: url.trim_end_matches('/').to_string(),
                token: lookup(token_env)
                    .filter(|t| !t.is_empty())
                    .map(SecretString::from),
                app: None,
                webhook_secrets: ScopedSecrets::new(resolved),
            }
        };
        let github = self
            .github
            .as_ref()
            .map(|g| forge("github", &g.api_url, &g.token_env, &g.webhook_secrets));
        let gitlab = self.gitlab.as_ref().map(|g| ForgeSettings {
            allow_http: g.allow_http,
            ..forge("gitlab", &g.url, &g.token_env, &g.webhook_tokens)
        });
        let github = match (github, &self.github) {
            (Some(mut settings), Some(g)) => {
                settings.app = github_app(g, self.config_dir.as_deref(), &mut errors);
                if settings.app.is_some() && settings.token.is_some() {
                    warnings.push(problem(
                        "github.app_id",
                        format!(
                            "both an App and a token ({}) are configured; the App is used",
                            g.token_env
                        ),
                    ));
                }
                Some(settings)
            }
            (settings, _) => settings,
        };
        if let Some(g) = &self.gitlab
            && g.url.starts_with("http://")
            && !g.allow_http
        {
            errors.push(problem(
                "gitlab.url",
                "is plain http; set gitlab.allow_http = true to allow it",
            ));
        }
        let known: Vec<&'static str> = bosun_plugins::all_plugins()
            .iter()
            .map(|p| p.name())
            .collect();
        for (scope, entry) in &self.plugins {
            if RepoPath::parse(&format!("{scope}/x")).is_none() {
                errors.push(problem(
                    format!("plugins.\"{scope}\""),
                    "must be an org/group or a repo path",
                ));
            }
            for p in &entry.enabled {
                if !known.contains(&p.as_str()) {
                    errors.push(problem(
                        format!("plugins.\"{scope}\".enabled"),
                        format!("unknown plugin {p:?} (known: {})", known.join(", ")),
                    ));
                }
            }
            // Prow refuses a plugin enabled at both the org and the repo level.
            if let Some((org, repo)) = scope.rsplit_once('/')
                && let Some(parent) = self.plugins.get(org)
                && !parent
                    .excluded_repos
                    .iter()
                    .any(|r| r == repo || r == scope)
            {
                for p in entry.enabled.iter().filter(|p| parent.enabled.contains(p)) {
                    errors.push(problem(
                        format!("plugins.\"{scope}\".enabled"),
                        format!("{p} is already enabled for {org}"),
                    ));
                }
            }
        }
        let mut settings = BTreeMap::new();
        let plugins = bosun_plugins::all_plugins();
        for (plugin, by_scope) in self.settings {
            let Some(owner) = plugins.iter().find(|p| p.name() == plugin) else {
                errors.push(problem(format!("settings.{plugin}"), "unknown plugin"));
                continue;
            };
            let mut converted = BTreeMap::new();
            for (scope, value) in by_scope {
                match serde_json::to_value(&value) {
                    Ok(v) => {
                        if let Err(e) = owner.check_settings(&v) {
                            errors.push(problem(
                                format!("settings.{plugin}.\"{scope}\""),
                                one_line(&e),
                            ));
                        }
                        for w in owner.settings_warnings(&v) {
                            warnings.push(problem(format!("settings.{plugin}.\"{scope}\""), w));
                        }
                        converted.insert(scope, v);
                    }
                    Err(e) => errors.push(problem(
                        format!("settings.{plugin}.\"{scope}\""),
                        e.to_string(),
                    )),
                }
            }
            settings.insert(plugin, converted);
        }
        let admin_token = lookup(&self.server.admin_token_env)
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        if self.server.private_pages && admin_token.is_none() {
            warnings.push(problem(
                "server.private_pages",
                format!(
                    "environment variable {} is not set; the dashboard will refuse everyone",
                    self.server.admin_token_env
                ),
            ));
        }
        self.owners.validate(&mut errors);
        let chat = self.chat.validate(&lookup, &mut errors, &mut warnings);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Settings {
            listen: self.server.listen,
            http_workers: self.server.http_workers,
            shutdown_grace: Duration::from_secs(self.server.shutdown_grace_seconds),
            help_url: format!(
                "{}/command-help",
                self.server.public_url.trim_end_matches('/')
            ),
            admin_token,
            private_pages: self.server.private_pages,
            database: self.database,
            queue: self.queue,
            limits,
            owners: self.owners,
            dry_run: self.dry_run,
            dry_run_repos: self.dry_run_repos,
            bot_accounts: self.bot_accounts,
            github,
            gitlab,
            plugins: PluginMatrix {
                scopes: self.plugins,
                settings,
            },
            chat,
            warnings,
        })
    }
}

/// Reads and checks the GitHub App settings: `app_id` and `private_key_file` go together, and
/// the key must be a readable RSA PEM key, so a bad key stops startup instead of the first call.
fn github_app(
    g: &GitHubConfig,
    config_dir: Option<&Path>,
    errors: &mut Vec<ConfigError>,
) -> Option<GitHubAppSettings> {
    let (app_id, file) = match (g.app_id, g.private_key_file.as_deref()) {
        (None, None) => return None,
        (Some(id), Some(file)) => (id, file),
        (Some(_), None) => {
            errors.push(problem(
                "github.private_key_file",
                "is required with github.app_id",
            ));
            return None;
        }
        (None, Some(_)) => {
            errors.push(problem(
                "github.app_id",
                "is required with github.private_key_file",
            ));
            return None;
        }
    };
    let path = match config_dir {
        Some(dir) if Path::new(file).is_relative() => dir.join(file),
        _ => PathBuf::from(file),
    };
    let pem = match read_small(&path, MAX_KEY_FILE_BYTES) {
        Ok(pem) => pem,
        Err(e) => {
            errors.push(problem(
                "github.private_key_file",
                format!("cannot read {}: {e}", path.display()),
            ));
            return None;
        }
    };
    if let Err(e) = octocrab::EncodingKey::from_rsa_pem(pem.as_bytes()) {
        errors.push(problem(
            "github.private_key_file",
            format!(
                "{} is not an RSA private key in PEM form: {e}",
                path.display()
            ),
        ));
        return None;
    }
    Some(GitHubAppSettings {
        app_id,
        private_key: SecretString::from(pem),
    })
}

/// The largest private key file read; an RSA PEM key is a few KiB. Bounds what a wrong path
/// (`/dev/zero`, a log file) can make bosun read at startup.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads a text file of at most `limit` bytes; a longer one is an error, not a truncation.
fn read_small(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {limit} bytes, so not a private key"
        )));
    }
    Ok(text)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `BOSUN_DATABASE__URL=…` sets `database.url`: `BOSUN_`, then the key path in upper case
/// with `__` between levels. Values are read as TOML when they parse (numbers, booleans),
/// else as strings. Variables without `__` (like the token variables) are not overrides.
fn apply_env_overrides(table: &mut toml::Table, env: &[(String, String)]) {
    for (name, value) in env {
        let Some(path) = name.strip_prefix("BOSUN_") else {
            continue;
        };
        if !path.contains("__") {
            continue;
        }
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        let mut cursor = &mut *table;
        for key in &keys[..keys.len() - 1] {
            let entry = cursor
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            let toml::Value::Table(next) = entry else {
                return;
            };
            cursor = next;
        }
        if let Some(last) = keys.last() {
            cursor.insert(last.clone(), parsed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
            [server]
            listen = "nowhere"
            [database]
            url = "mysql://x"
            [github]
            webhook_secrets = { "*" = ["MISSING_SECRET"] }
            [plugins."org"]
            enabled = ["hold", "nope"]
        "#;
        let errors = RawConfig::parse(text, &[])
            .expect("parses")
            .validate(&[])
            .expect_err("invalid");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert!(keys.contains(&"server.listen"), "{keys:?}");
        assert!(keys.contains(&"database.url"), "{keys:?}");
        assert!(keys.contains(&"plugins.\"org\".enabled"), "{keys:?}");
        assert_eq!(errors.len(), 3, "{errors:?}");
    }

    #[test]
    fn unset_secret_variable_is_a_warning() {
        let text = "[github.webhook_secrets]\n\"*\" = [\"MISSING_SECRET\"]";
        let s = RawConfig::parse(text, &[])
            .expect("parses")
            .validate(&[])
            .expect("valid");
        assert_eq!(s.warnings.len(), 1);
        assert!(s.warnings[0].message.contains("MISSING_SECRET"));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let errors = RawConfig::parse("[server]\nlisten_on = 1", &[]).expect_err("unknown key");
        assert!(errors[0].message.contains("listen_on"), "{errors:?}");
    }

    #[test]
    fn env_overrides_nest_with_double_underscore() {
        let e = env(&[
            ("BOSUN_DATABASE__URL", "postgres://h/db"),
            ("BOSUN_QUEUE__WORKERS", "7"),
        ]);
        let raw = RawConfig::parse("", &e).expect("parses");
        assert_eq!(raw.database.url, "postgres://h/db");
        assert_eq!(raw.queue.workers, 7);
    }

    #[test]
    fn most_specific_secret_scope_wins() {
        let text = r#"
            [github.webhook_secrets]
            "*" = ["G"]
            "org" = ["O1", "O2"]
            "org/special" = ["R"]
        "#;
        let e = env(&[("G", "g"), ("O1", "o1"), ("O2", "o2"), ("R", "r")]);
        let s = RawConfig::parse(text, &e)
            .expect("parses")
            .validate(&e)
            .expect("valid");
        let secrets = &s.github.as_ref().expect("github").webhook_secrets;
        use secrecy::ExposeSecret;
        let got = |p: Option<&str>| {
            secrets
                .for_path(p)
                .iter()
                .map(|s| s.expose_secret().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(got(Some("org/special")), vec!["r"]);
        assert_eq!(got(Some("org/other")), vec!["o1", "o2"]);
        assert_eq!(got(Some("org")), vec!["o1", "o2"]);
        assert_eq!(got(Some("else/repo")), vec!["g"]);
        assert_eq!(got(None), vec!["g"]);
    }

    #[test]
    fn plugins_follow_prows_org_and_repo_model() {
        let text = r#"
            [plugins."org"]
            enabled = ["hold"]
            excluded_repos = ["legacy"]
        "#;
        let s = RawConfig::parse(text, &[])
            .expect("parses")
            .validate(&[])
            .expect("valid");
        let repo = |p: &str| RepoPath::parse(p).expect("repo");
        assert_eq!(s.plugins.enabled_for(&repo("org/app")), vec!["hold"]);
        assert!(s.plugins.enabled_for(&repo("org/legacy")).is_empty());
        assert!(s.plugins.enabled_for(&repo("other/app")).is_empty());
        let both =
            "[plugins.\"org\"]\nenabled=[\"hold\"]\n[plugins.\"org/app\"]\nenabled=[\"hold\"]";
        let errors = RawConfig::parse(both, &[])
            .expect("parses")
            .validate(&[])
            .expect_err("dup");
        assert_eq!(errors[0].key, "plugins.\"org/app\".enabled");
    }

    #[test]
    fn plugin_settings_are_checked_at_startup() {
        let text = "[settings.lgtm.\"org\"]\nreview_acts_as_lgtm = \"yes\"\n[settings.hold.\"org\"]\nx = 1\n[settings.label.\"org/r\"]\nprefixes = [\"kind\"]";
        let errors = RawConfig::parse(text, &[])
            .expect("parses")
            .validate(&[])
            .expect_err("invalid");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["settings.hold.\"org\"", "settings.lgtm.\"org\""],
            "{errors:?}"
        );
    }

    #[test]
    fn github_app_needs_id_and_a_readable_rsa_key() {
        let errors = RawConfig::parse("[github]\napp_id = 7", &[])
            .expect("parses")
            .validate(&[])
            .expect_err("no key");
        assert_eq!(errors[0].key, "github.private_key_file");
        let errors = RawConfig::parse("[github]\nprivate_key_file = \"k.pem\"", &[])
            .expect("parses")
            .validate(&[])
            .expect_err("no id");
        assert_eq!(errors[0].key, "github.app_id");
        let errors = RawConfig::parse(
            "[github]\napp_id = 7\nprivate_key_file = \"/nonexistent/k.pem\"",
            &[],
        )
        .expect("parses")
        .validate(&[])
        .expect_err("unreadable");
        assert_eq!(errors[0].key, "github.private_key_file");
        assert!(
            errors[0].message.contains("/nonexistent/k.pem"),
            "{errors:?}"
        );

        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("not-a-key.pem"), "hello").expect("write");
        std::fs::write(
            dir.path().join("app.pem"),
            fake_forge::TEST_APP_PRIVATE_KEY_PEM,
        )
        .expect("write");
        let mut raw = RawConfig::parse(
            "[github]\napp_id = 7\nprivate_key_file = \"not-a-key.pem\"",
            &[],
        )
        .expect("parses");
        raw.config_dir = Some(dir.path().to_path_buf());
        let errors = raw.validate(&[]).expect_err("not a key");
        assert!(
            errors[0].message.contains("not an RSA private key"),
            "{errors:?}"
        );

        let mut raw = RawConfig::parse("[github]\napp_id = 7\nprivate_key_file = \"app.pem\"", &[])
            .expect("parses");
        raw.config_dir = Some(dir.path().to_path_buf());
        let s = raw.validate(&[]).expect("valid");
        let gh = s.github.as_ref().expect("github");
        assert_eq!(gh.app.as_ref().map(|a| a.app_id), Some(7));
        assert!(
            !s.is_dry_run(ForgeKind::GitHub, None),
            "an App can act without a token"
        );
    }

    #[test]
    fn limits_have_safe_defaults_and_are_checked() {
        let s = RawConfig::parse("", &[])
            .expect("parses")
            .validate(&[])
            .expect("valid");
        assert_eq!(s.limits, Limits::default());
        assert_eq!(s.limits.max_body_bytes, 25 * 1024 * 1024);
        assert_eq!(s.limits.forge_timeout, Duration::from_secs(30));

        let e = env(&[("BOSUN_LIMITS__MAX_COMMANDS_PER_COMMENT", "3")]);
        let text = "[limits]\nmax_comment_bytes = 4096\nmax_changed_files = 50\nforge_timeout_seconds = 5\nmax_concurrent_forge_calls = 2";
        let s = RawConfig::parse(text, &e)
            .expect("parses")
            .validate(&e)
            .expect("valid");
        assert_eq!(s.limits.max_comment_bytes, 4096);
        assert_eq!(s.limits.max_commands_per_comment, 3);
        assert_eq!(s.limits.max_changed_files, 50);
        assert_eq!(s.limits.for_plugins().max_changed_files, 50);
        assert_eq!(s.limits.forge_timeout, Duration::from_secs(5));
        assert_eq!(s.limits.max_concurrent_forge_calls, 2);

        let text = "[limits]\nmax_comment_bytes = 10\nmax_commands_per_comment = 0\nmax_changed_files = 0\nforge_timeout_seconds = 0\nmax_concurrent_forge_calls = 0\nmax_body_bytes = 1";
        let errors = RawConfig::parse(text, &[])
            .expect("parses")
            .validate(&[])
            .expect_err("invalid");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "limits.max_body_bytes",
                "limits.max_comment_bytes",
                "limits.max_commands_per_comment",
                "limits.max_changed_files",
                "limits.forge_timeout_seconds",
                "limits.max_concurrent_forge_calls"
            ],
            "{errors:?}"
        );
    }

    #[test]
    fn the_older_body_limit_key_still_works() {
        let s = RawConfig::parse("[server]\nmax_body_bytes = 2048", &[])
            .expect("parses")
            .validate(&[])
            .expect("valid");
        assert_eq!(s.limits.max_body_bytes, 2048);
        let s = RawConfig::parse(
            "[server]\nmax_body_bytes = 2048\n[limits]\nmax_body_bytes = 2048",
            &[],
        )
        .expect("parses")
        .validate(&[])
        .expect("the same value twice is fine");
        assert_eq!(s.limits.max_body_bytes, 2048);
        let errors = RawConfig::parse(
            "[server]\nmax_body_bytes = 2048\n[limits]\nmax_body_bytes = 4096",
            &[],
        )
        .expect("parses")
        .validate(&[])
        .expect_err("two different values");
        assert_eq!(errors[0].key, "limits.max_body_bytes");
        let errors = RawConfig::parse("[server]\nmax_body_bytes = 10", &[])
            .expect("parses")
            .validate(&[])
            .expect_err("too small");
        assert_eq!(errors[0].key, "server.max_body_bytes");
    }

    #[test]
    fn an_oversized_key_file_is_refused_without_reading_it_all() {
        let mut raw = RawConfig::parse(
            "[github]\napp_id = 7\nprivate_key_file = \"/dev/zero\"",
            &[],
        )
        .expect("parses");
        raw.config_dir = None;
        let errors = raw.validate(&[]).expect_err("not a key");
        assert_eq!(errors[0].key, "github.private_key_file");
        assert!(errors[0].message.contains("larger than"), "{errors:?}");
    }

    #[test]
    fn no_token_means_dry_run() {
        let s = RawConfig::parse("[github]\n", &[])
            .expect("parses")
            .validate(&[])
            .expect("valid");
        assert!(s.is_dry_run(ForgeKind::GitHub, None));
        let e = env(&[("BOSUN_GITHUB_TOKEN", "t")]);
        let s = RawConfig::parse("[github]\n", &e)
            .expect("parses")
            .validate(&e)
            .expect("valid");
        assert!(!s.is_dry_run(ForgeKind::GitHub, None));
    }
}
