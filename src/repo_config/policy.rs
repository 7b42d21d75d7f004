//! `[repo_config]`: what the central file lets a repository configure for itself.

use crate::config::{ConfigError, problem};
use serde::Deserialize;
use std::time::Duration;

/// `[repo_config]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepoConfigSection {
    /// Read repositories' own files at all. Default false: only the central file counts.
    pub enabled: bool,
    /// The file's path in the repository. Default `.bosun.toml`.
    pub file: String,
    /// Plugins a repository may turn on in its file; `"*"` allows every plugin not in
    /// `forbidden`. Default none.
    pub may_enable: Vec<String>,
    /// Plugins no repository may turn on or configure, whatever `may_enable` and `may_set` say.
    pub forbidden: Vec<String>,
    /// Settings a repository may set: `"plugin"` for all of a plugin's settings,
    /// `"plugin.key"` for one key. Default none.
    pub may_set: Vec<String>,
    /// A repository's file is read again after this long even without a push that touched
    /// it (a push bosun missed). Default 3600 s.
    pub refresh_seconds: u64,
}

impl Default for RepoConfigSection {
    fn default() -> Self {
        RepoConfigSection {
            enabled: false,
            file: ".bosun.toml".into(),
            may_enable: Vec::new(),
            forbidden: Vec::new(),
            may_set: Vec::new(),
            refresh_seconds: 3600,
        }
    }
}

/// The validated `[repo_config]`, as bosun applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfigPolicy {
    pub enabled: bool,
    pub file: String,
    pub may_enable: Vec<String>,
    pub forbidden: Vec<String>,
    pub may_set: Vec<String>,
    pub refresh: Duration,
}

impl Default for RepoConfigPolicy {
    fn default() -> Self {
        RepoConfigSection::default().validate(&[], &mut Vec::new())
    }
}

impl RepoConfigSection {
    /// Checks plugin names against `known` and the file path; problems go to `errors`.
    pub fn validate(self, known: &[&str], errors: &mut Vec<ConfigError>) -> RepoConfigPolicy {
        let file = self.file.trim().trim_start_matches('/').to_string();
        if file.is_empty() || file.split('/').any(|part| part == "..") {
            errors.push(problem(
                "repo_config.file",
                "must be a path inside the repository, like .bosun.toml",
            ));
        }
        let is_known = |p: &str| known.is_empty() || known.contains(&p);
        for p in &self.may_enable {
            if p != "*" && !is_known(p) {
                errors.push(problem(
                    "repo_config.may_enable",
                    format!("unknown plugin {p:?}"),
                ));
            }
        }
        for p in &self.forbidden {
            if !is_known(p) {
                errors.push(problem(
                    "repo_config.forbidden",
                    format!("unknown plugin {p:?}"),
                ));
            }
        }
        for entry in &self.may_set {
            let plugin = entry.split_once('.').map_or(entry.as_str(), |(p, _)| p);
            if !is_known(plugin) || entry.ends_with('.') {
                errors.push(problem(
                    "repo_config.may_set",
                    format!("{entry:?} is not \"plugin\" or \"plugin.key\" of a known plugin"),
                ));
            }
        }
        if self.refresh_seconds == 0 {
            errors.push(problem("repo_config.refresh_seconds", "must be at least 1"));
        }
        RepoConfigPolicy {
            enabled: self.enabled,
            file,
            may_enable: self.may_enable,
            forbidden: self.forbidden,
            may_set: self.may_set,
            refresh: Duration::from_secs(self.refresh_seconds.max(1)),
        }
    }
}

impl RepoConfigPolicy {
    /// Why a repository may not turn `plugin` on, or `None` when it may.
    pub fn refuse_enable(&self, plugin: &str) -> Option<String> {
        if self.forbidden.iter().any(|p| p == plugin) {
            return Some(format!(
                "{plugin} is forbidden for repositories by the central configuration"
            ));
        }
        if self.may_enable.iter().any(|p| p == "*" || p == plugin) {
            return None;
        }
        Some(format!(
            "{plugin} may not be enabled here; the central configuration allows {}",
            listing(&self.may_enable)
        ))
    }

    /// Why a repository may not set `plugin.key`, or `None` when it may.
    pub fn refuse_setting(&self, plugin: &str, key: &str) -> Option<String> {
        if self.forbidden.iter().any(|p| p == plugin) {
            return Some(format!(
                "{plugin} is forbidden for repositories by the central configuration"
            ));
        }
        let allowed = self
            .may_set
            .iter()
            .any(|entry| entry == plugin || *entry == format!("{plugin}.{key}"));
        if allowed {
            return None;
        }
        Some(format!(
            "may not be set here; the central configuration allows {}",
            listing(&self.may_set)
        ))
    }
}

fn listing(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(may_enable: &[&str], forbidden: &[&str], may_set: &[&str]) -> RepoConfigPolicy {
        let section = RepoConfigSection {
            enabled: true,
            may_enable: may_enable.iter().map(|s| s.to_string()).collect(),
            forbidden: forbidden.iter().map(|s| s.to_string()).collect(),
            may_set: may_set.iter().map(|s| s.to_string()).collect(),
            ..RepoConfigSection::default()
        };
        let mut errors = Vec::new();
        let p = section.validate(&["size", "tide", "welcome"], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        p
    }

    #[test]
    fn forbidden_wins_over_a_wildcard() {
        let p = policy(&["*"], &["tide"], &["tide"]);
        assert!(p.refuse_enable("size").is_none());
        assert!(
            p.refuse_enable("tide")
                .is_some_and(|m| m.contains("forbidden"))
        );
        assert!(p.refuse_setting("tide", "merge_method").is_some());
    }

    #[test]
    fn settings_are_allowed_per_plugin_or_per_key() {
        let p = policy(&["size"], &[], &["size", "welcome.message_template"]);
        assert!(p.refuse_setting("size", "s").is_none());
        assert!(p.refuse_setting("welcome", "message_template").is_none());
        let refused = p.refuse_setting("welcome", "always_post");
        assert!(refused.is_some_and(|m| m.contains("size, welcome.message_template")));
        assert!(
            p.refuse_enable("welcome")
                .is_some_and(|m| m.contains("allows size"))
        );
    }

    #[test]
    fn unknown_plugins_and_bad_paths_are_problems() {
        let section = RepoConfigSection {
            file: "../x".into(),
            may_enable: vec!["nope".into()],
            may_set: vec!["size.".into(), "other.key".into()],
            ..RepoConfigSection::default()
        };
        let mut errors = Vec::new();
        section.validate(&["size"], &mut errors);
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "repo_config.file",
                "repo_config.may_enable",
                "repo_config.may_set",
                "repo_config.may_set"
            ]
        );
    }
}
