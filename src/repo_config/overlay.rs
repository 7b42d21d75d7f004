//! One repository's `.bosun.toml`, read against the central policy: either an [`Overlay`] to
//! layer over the central configuration, or every problem in it, as `check-config` reports
//! them (a key path and a message each).

use super::RepoConfigPolicy;
use crate::config::{ConfigError, PluginMatrix, problem};
use bosun_plugins::{Plugin, RepoPath};
use std::collections::BTreeMap;

/// What a repository's file adds to the central configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    /// Plugins turned on for this repository, beyond the central file's.
    pub plugins: Vec<String>,
    /// Settings by plugin, each laid key by key over the central settings for the repository.
    pub settings: BTreeMap<String, serde_json::Value>,
}

impl Overlay {
    /// The plugins enabled for the repository: the central ones, then the file's.
    pub fn enabled(&self, mut central: Vec<String>) -> Vec<String> {
        for p in &self.plugins {
            if !central.contains(p) {
                central.push(p.clone());
            }
        }
        central
    }

    /// A plugin's settings for the repository: the central value with the file's keys over it.
    pub fn settings_for(&self, plugin: &str, central: serde_json::Value) -> serde_json::Value {
        match self.settings.get(plugin) {
            Some(local) => laid_over(central, local),
            None => central,
        }
    }
}

/// `local`'s keys over `central`'s (a missing central value counts as no keys).
fn laid_over(central: serde_json::Value, local: &serde_json::Value) -> serde_json::Value {
    let mut merged = match central {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    if let Some(local) = local.as_object() {
        for (k, v) in local {
            merged.insert(k.clone(), v.clone());
        }
    }
    serde_json::Value::Object(merged)
}

/// Reads `text` (the file at `policy.file`) for `repo`: every key is checked against the
/// policy, and each plugin's settings, merged over the central ones, are checked as
/// `check-config` checks the central file.
pub fn parse_overlay(
    text: &str,
    policy: &RepoConfigPolicy,
    central: &PluginMatrix,
    repo: &RepoPath,
    plugins: &[Box<dyn Plugin>],
) -> Result<Overlay, Vec<ConfigError>> {
    let file = policy.file.as_str();
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let message = e.message().to_string();
        let at = e
            .span()
            .map(|s| {
                format!(
                    " (line {})",
                    text[..s.start.min(text.len())].lines().count().max(1)
                )
            })
            .unwrap_or_default();
        vec![problem(file, format!("not valid TOML{at}: {message}"))]
    })?;
    let known = |name: &str| plugins.iter().find(|p| p.name() == name);
    let mut errors = Vec::new();
    let mut overlay = Overlay::default();
    for (key, value) in &table {
        if key == "plugins" {
            let Some(list) = value.as_array() else {
                errors.push(problem("plugins", "must be a list of plugin names"));
                continue;
            };
            for item in list {
                let Some(name) = item.as_str() else {
                    errors.push(problem("plugins", "must be a list of plugin names"));
                    continue;
                };
                if known(name).is_none() {
                    errors.push(problem("plugins", format!("unknown plugin {name:?}")));
                } else if let Some(why) = policy.refuse_enable(name) {
                    errors.push(problem("plugins", why));
                } else if !overlay.plugins.iter().any(|p| p == name) {
                    overlay.plugins.push(name.to_string());
                }
            }
            continue;
        }
        let Some(owner) = known(key) else {
            errors.push(problem(
                key.as_str(),
                "unknown key: a plugin's name, or `plugins`",
            ));
            continue;
        };
        let Some(settings) = value.as_table() else {
            errors.push(problem(
                key.as_str(),
                "must be a table of the plugin's settings",
            ));
            continue;
        };
        let mut refused = false;
        for setting in settings.keys() {
            if let Some(why) = policy.refuse_setting(key, setting) {
                errors.push(problem(format!("{key}.{setting}"), why));
                refused = true;
            }
        }
        if refused {
            continue;
        }
        let local = match serde_json::to_value(settings) {
            Ok(v) => v,
            Err(e) => {
                errors.push(problem(key.as_str(), e.to_string()));
                continue;
            }
        };
        let merged = laid_over(central.settings_for(key, repo), &local);
        if let Err(e) = owner.check_settings(&merged) {
            errors.push(problem(key.as_str(), e.replace('\n', " ")));
            continue;
        }
        overlay.settings.insert(key.clone(), local);
    }
    if errors.is_empty() {
        Ok(overlay)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo_config::RepoConfigSection;

    fn policy() -> RepoConfigPolicy {
        RepoConfigSection {
            enabled: true,
            may_enable: vec!["size".into(), "welcome".into()],
            forbidden: vec!["tide".into()],
            may_set: vec!["size".into(), "welcome.message_template".into()],
            ..RepoConfigSection::default()
        }
        .validate(&[], &mut Vec::new())
    }

    fn parse(text: &str) -> Result<Overlay, Vec<String>> {
        let repo = RepoPath::parse("org/repo").expect("repo path");
        parse_overlay(
            text,
            &policy(),
            &PluginMatrix::default(),
            &repo,
            &bosun_plugins::all_plugins(),
        )
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_repository_enables_an_allowed_plugin_and_sets_its_settings() {
        let overlay = parse("plugins = [\"size\"]\n[size]\ns = 5\n").expect("valid");
        assert_eq!(overlay.plugins, ["size"]);
        assert_eq!(overlay.enabled(vec!["hold".into()]), ["hold", "size"]);
        let merged = overlay.settings_for("size", serde_json::json!({"s": 10, "m": 30}));
        assert_eq!(merged, serde_json::json!({"s": 5, "m": 30}));
        assert_eq!(
            overlay.settings_for("hold", serde_json::Value::Null),
            serde_json::Value::Null
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_key() {
        let problems = parse(
            "colour = 3\n\
             plugins = [\"tide\", \"nope\", \"lgtm\"]\n\
             [welcome]\nalways_post = true\n\
             [size]\ns = \"big\"\n",
        )
        .expect_err("invalid");
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems[0].starts_with("colour: unknown key"));
        assert!(problems[1].starts_with("plugins: tide is forbidden"));
        assert!(problems[2].starts_with("plugins: unknown plugin \"nope\""));
        assert!(problems[3].starts_with("plugins: lgtm may not be enabled here"));
        assert!(problems.iter().any(|p| p.starts_with("size: ")));
        assert!(problems.iter().any(|p| p.starts_with(
            "welcome.always_post: may not be set here; the central configuration allows size, welcome.message_template"
        )));
    }

    #[test]
    fn broken_toml_is_one_problem_with_its_line() {
        let problems = parse("plugins = [\"size\"]\n[size\n").expect_err("invalid");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].starts_with(".bosun.toml: not valid TOML (line 2)"),
            "{problems:?}"
        );
    }
}
