//! Configuration: a TOML file, `BOSUN_…__…` environment overrides, secrets from the
//! environment. [`RawConfig::validate`] checks everything once at startup and reports every
//! problem with its key path; `bosun check-config` runs the same function.
//!
//! Layout: `raw.rs` (the file as written: serde structs and their defaults), `validate.rs`
//! (checking every value into [`Settings`]), `env.rs` (`BOSUN_…` overrides and reading
//! secrets). Everything is re-exported here, so `crate::config::X` paths stay as they were.

mod env;
mod live;
mod raw;
mod validate;

pub use live::LiveSettings;
pub use raw::*;

use bosun_plugins::{ForgeKind, RepoPath};
use secrecy::SecretString;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

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

/// One configuration problem, with the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

pub(crate) fn problem(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
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
    /// `[merge]`: the merge controller's resync.
    pub merge: MergeConfig,
    /// `[limits]`, validated.
    pub limits: Limits,
    pub owners: OwnersConfig,
    pub dry_run: bool,
    pub dry_run_repos: Vec<String>,
    pub bot_accounts: Vec<String>,
    pub github: Option<ForgeSettings>,
    pub gitlab: Option<ForgeSettings>,
    pub plugins: PluginMatrix,
    /// `[repo_config]`: what repositories may configure in a file of their own.
    pub repo_config: crate::repo_config::RepoConfigPolicy,
    /// Chat channels, commands from chat, and who is who there.
    pub chat: crate::chat::config::ChatSettings,
    /// The Drone server, when configured.
    pub drone: Option<crate::ci::config::DroneSettings>,
    /// Problems that do not stop bosun (an unset secret variable): logged at start and printed
    /// by `check-config`.
    pub warnings: Vec<ConfigError>,
    /// `[reconcile]`: the periodic catch-up on missed webhook deliveries (off by default).
    pub reconcile: crate::reconcile::config::ReconcileSettings,
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

#[cfg(test)]
mod tests;
