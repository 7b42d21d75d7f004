//! `[reconcile]`: bosun catching up on missed webhook deliveries by itself, every
//! `interval_seconds` (off by default), on the hooks it names.

use crate::config::{ConfigError, problem};
use crate::forge::hooks::HookOwner;
use bosun_plugins::{ForgeKind, RepoPath};
use serde::Deserialize;
use std::time::Duration;

/// `[reconcile]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// How often bosun reads the hooks' delivery logs and has the forge redeliver what it
    /// missed. Default 0: off (run `bosun reconcile` by hand or from cron instead).
    pub interval_seconds: u64,
    /// How far back each pass reads. Default 3600 s.
    pub window_seconds: u64,
    /// The most log entries read per hook and pass. Default 1000.
    pub max_per_hook: usize,
    /// GitHub hooks to read: `"org/repo"` (a repository's hooks), `"org:my-org"` (an
    /// organisation's), `"app"` (the GitHub App's own hook). Default none.
    pub github: Vec<String>,
    /// GitLab projects whose hooks to read (`"group/project"`). Default none.
    pub gitlab: Vec<String>,
    /// Only hooks whose URL starts with this. Default `[server] public_url`.
    pub hook_url: Option<String>,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            interval_seconds: 0,
            window_seconds: 3600,
            max_per_hook: crate::reconcile::DEFAULT_MAX,
            github: Vec::new(),
            gitlab: Vec::new(),
            hook_url: None,
        }
    }
}

/// `[reconcile]`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// `None`: no periodic pass.
    pub interval: Option<Duration>,
    /// How far back each pass reads.
    pub window: Duration,
    /// The most log entries read per hook and pass.
    pub max_per_hook: usize,
    /// Whose hooks, per forge.
    pub owners: Vec<(ForgeKind, HookOwner)>,
    /// Only hooks whose URL starts with this; `None`: `[server] public_url`.
    pub hook_url: Option<String>,
}

impl ReconcileSettings {
    /// The owners on one forge.
    pub fn owners_on(&self, kind: ForgeKind) -> Vec<HookOwner> {
        self.owners
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, o)| o.clone())
            .collect()
    }
}

/// Reads one `[reconcile] github` entry.
pub fn parse_github_owner(entry: &str) -> Option<HookOwner> {
    match entry.trim() {
        "app" => Some(HookOwner::App),
        e => match e.strip_prefix("org:") {
            Some(org) if !org.is_empty() && !org.contains('/') => {
                Some(HookOwner::Org(org.to_string()))
            }
            Some(_) => None,
            None => RepoPath::parse(e).map(HookOwner::Repo),
        },
    }
}

/// What the rest of the configuration says about the forges.
pub struct Forges {
    /// `[github]` is configured.
    pub github: bool,
    /// With App credentials.
    pub github_app: bool,
    /// `[gitlab]` is configured.
    pub gitlab: bool,
}

impl ReconcileConfig {
    /// Checks every entry; each problem is reported with its key.
    pub fn validate(self, forges: &Forges, errors: &mut Vec<ConfigError>) -> ReconcileSettings {
        let mut owners = Vec::new();
        for (i, entry) in self.github.iter().enumerate() {
            let key = format!("reconcile.github[{i}]");
            match parse_github_owner(entry) {
                None => errors.push(problem(
                    key,
                    format!("{entry:?} is not \"org/repo\", \"org:ORG\" or \"app\""),
                )),
                Some(_) if !forges.github => {
                    errors.push(problem(key, "[github] is not configured"))
                }
                Some(HookOwner::App) if !forges.github_app => errors.push(problem(
                    key,
                    "the App's hook needs the App's credentials ([github] app_id)",
                )),
                Some(owner) => owners.push((ForgeKind::GitHub, owner)),
            }
        }
        for (i, entry) in self.gitlab.iter().enumerate() {
            let key = format!("reconcile.gitlab[{i}]");
            match RepoPath::parse(entry.trim()) {
                None => errors.push(problem(key, format!("{entry:?} is not a project path"))),
                Some(_) if !forges.gitlab => {
                    errors.push(problem(key, "[gitlab] is not configured"))
                }
                Some(path) => owners.push((ForgeKind::GitLab, HookOwner::Repo(path))),
            }
        }
        if self.window_seconds == 0 {
            errors.push(problem("reconcile.window_seconds", "must be more than 0"));
        }
        if self.max_per_hook == 0 {
            errors.push(problem("reconcile.max_per_hook", "must be more than 0"));
        }
        if self.interval_seconds > 0 && self.github.is_empty() && self.gitlab.is_empty() {
            errors.push(problem(
                "reconcile.interval_seconds",
                "names no hooks to read: set reconcile.github or reconcile.gitlab",
            ));
        }
        if let Some(url) = &self.hook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(problem("reconcile.hook_url", "must be an http(s) URL"));
        }
        ReconcileSettings {
            interval: (self.interval_seconds > 0)
                .then(|| Duration::from_secs(self.interval_seconds)),
            window: Duration::from_secs(self.window_seconds),
            max_per_hook: self.max_per_hook,
            owners,
            hook_url: self.hook_url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_entries_name_repos_orgs_or_the_app() {
        assert_eq!(parse_github_owner("app"), Some(HookOwner::App));
        assert_eq!(
            parse_github_owner("org:my-org"),
            Some(HookOwner::Org("my-org".into()))
        );
        assert!(matches!(
            parse_github_owner("my-org/app"),
            Some(HookOwner::Repo(_))
        ));
        assert_eq!(parse_github_owner("org:"), None);
        assert_eq!(parse_github_owner("nope"), None);
    }

    #[test]
    fn every_problem_has_its_key() {
        let config = ReconcileConfig {
            interval_seconds: 60,
            window_seconds: 0,
            github: vec!["app".into(), "x".into()],
            gitlab: vec!["g/p".into()],
            ..ReconcileConfig::default()
        };
        let mut errors = Vec::new();
        let forges = Forges {
            github: true,
            github_app: false,
            gitlab: false,
        };
        config.validate(&forges, &mut errors);
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "reconcile.github[0]",
                "reconcile.github[1]",
                "reconcile.gitlab[0]",
                "reconcile.window_seconds"
            ]
        );
    }
}
