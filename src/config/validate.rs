//! Checking the raw configuration once, at startup: every problem is reported with its key
//! path, and what passes becomes frozen [`Settings`].

use super::env::{MAX_KEY_FILE_BYTES, read_small};
use super::raw::one_line;
use super::*;
use std::path::PathBuf;

impl LimitsConfig {
    /// Checks each limit (pushing problems with their keys); `legacy_body` is
    /// `server.max_body_bytes`.
    pub(super) fn validate(
        &self,
        legacy_body: Option<usize>,
        errors: &mut Vec<ConfigError>,
    ) -> Limits {
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

impl RawConfig {
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
        let repo_config = self.repo_config.validate(&known, &mut errors);
        let chat = self.chat.validate(&lookup, &mut errors, &mut warnings);
        let drone = self
            .drone
            .map(|d| d.validate(&lookup, &mut errors, &mut warnings));
        let reconcile = self.reconcile.validate(
            &crate::reconcile::config::Forges {
                github: github.is_some(),
                github_app: github.as_ref().is_some_and(|g| g.app.is_some()),
                gitlab: gitlab.is_some(),
            },
            &mut errors,
        );
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
            merge: self.merge,
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
            repo_config,
            chat,
            drone,
            warnings,
            reconcile,
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
