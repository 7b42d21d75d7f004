//! `bosun import-prow plugins.yaml [--owners-config config.yaml]`: turns a Prow plugin
//! configuration into bosun's TOML, so a team moving from Prow keeps its plugins per org and
//! repo and every option bosun knows, and learns in one list what does not carry over and why.
//!
//! The mapping follows reference/prow.md §1.6 (plugins per org/repo, `excluded_repos`, option
//! blocks as lists of entries with `repos`) and §3 (each plugin's options). Prow's global
//! blocks (`blunderbuss`, `size`, `label`, `help`) become settings for every scope where the
//! plugin is enabled, since bosun's settings are per scope and are not merged.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The bosun configuration built from a Prow one, and what could not carry over.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The configuration, as a TOML document.
    pub config: toml::Table,
    /// Every Prow setting left behind, with the reason.
    pub dropped: Vec<Dropped>,
}

/// One Prow setting bosun cannot carry over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Where it was in the Prow file (`plugins."kubernetes".plugins: trigger`).
    pub key: String,
    /// Why it cannot carry over.
    pub reason: String,
}

/// Why a file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not YAML, or not the shape of a Prow configuration.
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
}

/// Plugin name → settings scope → the scope's settings.
type Settings = BTreeMap<String, BTreeMap<String, toml::Table>>;

/// The import in progress.
struct Importer {
    /// Scope → (enabled plugins, excluded repos), as bosun will read them.
    scopes: BTreeMap<String, (Vec<String>, Vec<String>)>,
    settings: Settings,
    owners: toml::Table,
    dropped: Vec<Dropped>,
}

/// Parses YAML text into a JSON-like value (empty text is an empty map).
fn yaml(file: &str, text: &str) -> Result<Map<String, Value>, ImportError> {
    let unreadable = |message: String| ImportError::Unreadable {
        file: file.to_string(),
        message,
    };
    match serde_saphyr::from_str::<Option<Value>>(text) {
        Ok(None) | Ok(Some(Value::Null)) => Ok(Map::new()),
        Ok(Some(Value::Object(map))) => Ok(map),
        Ok(Some(_)) => Err(unreadable("the top level must be a mapping".into())),
        Err(e) => Err(unreadable(
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )),
    }
}

/// Imports `plugins.yaml` (and, when given, Prow's `config.yaml` for its OWNERS settings).
pub fn import(plugins_yaml: &str, prow_config: Option<&str>) -> Result<Imported, ImportError> {
    let plugins = yaml("plugins.yaml", plugins_yaml)?;
    let mut importer = Importer {
        scopes: BTreeMap::new(),
        settings: BTreeMap::new(),
        owners: toml::Table::new(),
        dropped: Vec::new(),
    };
    if let Some(v) = plugins.get("plugins") {
        importer.plugins(v);
    }
    for (key, value) in &plugins {
        match key.as_str() {
            "plugins" => {}
            "approve" => importer.entries("approve", value, approve_option),
            "lgtm" => importer.entries("lgtm", value, lgtm_option),
            "triggers" => importer.entries("trigger", value, trigger_option),
            "welcome" => importer.entries("welcome", value, welcome_option),
            "override" => importer.override_teams(value),
            "blunderbuss" => importer.global("blunderbuss", value, blunderbuss_option),
            "size" => importer.global("size", value, size_option),
            "help" => importer.global("help", value, help_option),
            "label" => importer.label(value),
            "owners" => importer.owners(value),
            "external_plugins" => importer.external_plugins(value),
            "dco" => importer.dco(value),
            "release_note" => importer.global("release-note", value, release_note_option),
            "repo_milestone" => importer.repo_milestone(value),
            "require_matching_label" => importer.require_matching_label(value),
            "sigmention" => importer.global("sigmention", value, sigmention_option),
            // bosun never retitles closed items, which is Prow's default too.
            "retitle" if value.get("allow_closed_issues") != Some(&Value::Bool(true)) => {}
            other => importer.drop(other, block_reason(other)),
        }
    }
    importer.prow_dco_rule();
    if let Some(text) = prow_config {
        let config = yaml("config.yaml", text)?;
        importer.owners_dirs(&config);
    }
    Ok(importer.finish())
}

/// Why a top-level block of plugins.yaml has no bosun equivalent.
fn block_reason(block: &str) -> String {
    match block {
        "retitle" => "bosun's retitle has no options; closed items cannot be retitled".into(),
        "milestone_applier" => "bosun does not set milestones on merge".into(),
        "config_updater" => "Prow's own deployment; bosun reads one TOML file".into(),
        "slack" => "bosun's chat notifications are configured under [chat] and notify".into(),
        _ => format!("bosun has no equivalent of Prow's `{block}` options"),
    }
}

/// Why a Prow plugin has no bosun equivalent.
fn plugin_reason(plugin: &str) -> String {
    match plugin {
        "cat" | "dog" | "pony" | "goose" | "yuks" | "heart" => {
            "a novelty reply bosun does not have".into()
        }
        "config-updater" => "Prow's own deployment; nothing to do for bosun".into(),
        _ => format!("bosun has no {plugin} plugin"),
    }
}

/// A Prow option mapped to bosun: the key and value to write, or why it is dropped.
enum Mapped {
    Keep(&'static str, Value),
    Drop(String),
    /// Already handled, or a Prow default bosun shares: nothing to write.
    Skip,
}

fn approve_option(key: &str, value: &Value) -> Mapped {
    let inverse = |name: &'static str| match value.as_bool() {
        Some(b) => Mapped::Keep(name, Value::Bool(!b)),
        None => Mapped::Drop("must be true or false".into()),
    };
    match key {
        "issue_required"
        | "require_self_approval"
        | "lgtm_acts_as_approve"
        | "ignore_review_state"
        | "pr_process_link" => Mapped::Keep(static_key(key), value.clone()),
        // Deprecated inverses of the two above, still read by Prow.
        "implicit_self_approve" => inverse("require_self_approval"),
        "review_acts_as_approve" => inverse("ignore_review_state"),
        "commandHelpLink" => Mapped::Drop(
            "the notifier links bosun's own /command-help page (server.public_url)".into(),
        ),
        _ => Mapped::Drop("bosun's approve has no such option".into()),
    }
}

fn lgtm_option(key: &str, value: &Value) -> Mapped {
    match key {
        "review_acts_as_lgtm" | "store_tree_hash" | "trusted_team_for_sticky_lgtm" => {
            Mapped::Keep(static_key(key), value.clone())
        }
        "sticky_lgtm_team" => Mapped::Keep("trusted_team_for_sticky_lgtm", value.clone()),
        _ => Mapped::Drop("bosun's lgtm has no such option".into()),
    }
}

fn trigger_option(key: &str, value: &Value) -> Mapped {
    match key {
        "only_org_members" | "ignore_ok_to_test" | "trusted_apps" => {
            Mapped::Keep(static_key(key), value.clone())
        }
        "join_org_url" => {
            Mapped::Drop("bosun's welcome links the org's people page and its command help".into())
        }
        "trusted_org" => {
            Mapped::Drop("deprecated in Prow; add the org's members as collaborators".into())
        }
        // bosun always re-runs failed GitHub Actions runs on /retest, as this asks.
        "trigger_github_workflows" if value.as_bool() == Some(true) => Mapped::Skip,
        "trigger_github_workflows" => Mapped::Drop(
            "bosun re-runs failed GitHub Actions runs on /retest whatever this says".into(),
        ),
        _ => Mapped::Drop("bosun's trigger has no such option".into()),
    }
}

/// Prow's welcome template is Go's text/template; bosun's takes `{author}`, `{org}`, `{repo}`.
fn welcome_option(key: &str, value: &Value) -> Mapped {
    match key {
        "always_post" => Mapped::Keep("always_post", value.clone()),
        "message_template" => match value.as_str() {
            Some(go) => {
                let mut text = go.to_string();
                for (from, to) in [
                    ("AuthorLogin", "{author}"),
                    ("AuthorName", "{author}"),
                    ("Org", "{org}"),
                    ("Repo", "{repo}"),
                ] {
                    for spelling in [format!("{{{{.{from}}}}}"), format!("{{{{ .{from} }}}}")] {
                        text = text.replace(&spelling, to);
                    }
                }
                if text.contains("{{") {
                    Mapped::Drop(
                        "the template uses Go template logic bosun's {author}/{org}/{repo} cannot express"
                            .into(),
                    )
                } else {
                    Mapped::Keep("message_template", Value::String(text))
                }
            }
            None => Mapped::Drop("must be text".into()),
        },
        _ => Mapped::Drop("bosun's welcome has no such option".into()),
    }
}

fn blunderbuss_option(key: &str, value: &Value) -> Mapped {
    match key {
        "request_count" | "max_request_count" | "exclude_approvers" | "ignore_drafts"
        | "ignore_authors" => Mapped::Keep(static_key(key), value.clone()),
        "use_status_availability" if value.as_bool() != Some(true) => Mapped::Skip,
        "use_status_availability" => Mapped::Drop(
            "bosun cannot read GitHub's busy status; list people on leave in `unavailable`".into(),
        ),
        "wait_for_status" => {
            Mapped::Drop("bosun requests reviews on open and ready-for-review only".into())
        }
        "file_weight_count" => Mapped::Drop("deprecated in Prow and unused there".into()),
        _ => Mapped::Drop("bosun's blunderbuss has no such option".into()),
    }
}

fn size_option(key: &str, value: &Value) -> Mapped {
    match key {
        "s" | "m" | "l" | "xl" | "xxl" => Mapped::Keep(static_key(key), value.clone()),
        _ => Mapped::Drop("bosun's size has no such option".into()),
    }
}

fn help_option(key: &str, value: &Value) -> Mapped {
    match key {
        "help_guidelines_url" | "help_guidelines_summary" => {
            Mapped::Keep(static_key(key), value.clone())
        }
        _ => Mapped::Drop("bosun's help has no such option".into()),
    }
}

/// Prow's `sigmention.regexp` is bosun's (Go's and Rust's regex syntax agree on it).
fn sigmention_option(key: &str, value: &Value) -> Mapped {
    match key {
        "regexp" => Mapped::Keep("regexp", value.clone()),
        _ => Mapped::Drop("bosun's sigmention has no such option".into()),
    }
}

fn dco_option(key: &str, value: &Value) -> Mapped {
    match key {
        "skip_dco_check_for_members" => Mapped::Keep("skip_dco_check_for_members", value.clone()),
        "skip_dco_check_for_collaborators" => {
            Mapped::Keep("skip_dco_check_for_collaborators", value.clone())
        }
        "trusted_org" => Mapped::Keep("trusted_org", value.clone()),
        "contributing_repo" => Mapped::Keep("contributing_repo", value.clone()),
        "contributing_branch" => Mapped::Keep("contributing_branch", value.clone()),
        "contributing_path" => Mapped::Keep("contributing_path", value.clone()),
        "trusted_apps" => Mapped::Drop("bosun's dco trusts no apps' commits".into()),
        _ => Mapped::Drop("bosun's dco has no such option".into()),
    }
}

fn release_note_option(key: &str, value: &Value) -> Mapped {
    match key {
        "url" => Mapped::Keep("url", value.clone()),
        _ => Mapped::Drop("bosun's release-note has no such option".into()),
    }
}

fn milestone_option(key: &str, value: &Value) -> Mapped {
    match key {
        "maintainers_team" => Mapped::Keep("maintainers_team", value.clone()),
        "maintainers_friendly_name" => Mapped::Keep("maintainers_friendly_name", value.clone()),
        "maintainers_id" => {
            Mapped::Drop("bosun names the team by its slug (`maintainers_team`), not its id".into())
        }
        _ => Mapped::Drop("bosun's milestone has no such option".into()),
    }
}

/// The bosun key for a Prow key written the same way.
fn static_key(key: &str) -> &'static str {
    const KEYS: [&str; 23] = [
        "issue_required",
        "require_self_approval",
        "lgtm_acts_as_approve",
        "ignore_review_state",
        "pr_process_link",
        "review_acts_as_lgtm",
        "store_tree_hash",
        "trusted_team_for_sticky_lgtm",
        "request_count",
        "max_request_count",
        "exclude_approvers",
        "ignore_drafts",
        "ignore_authors",
        "help_guidelines_url",
        "help_guidelines_summary",
        "s",
        "m",
        "l",
        "xl",
        "xxl",
        "only_org_members",
        "ignore_ok_to_test",
        "trusted_apps",
    ];
    KEYS.iter().find(|k| **k == key).copied().unwrap_or("")
}

/// A YAML value as TOML (null has no TOML form).
fn to_toml(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(to_toml).collect()),
        Value::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), to_toml(v)?)))
                .collect(),
        ),
    })
}

/// Strings of a YAML list; anything else is empty.
fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Importer {
    fn drop(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.dropped.push(Dropped {
            key: key.into(),
            reason: reason.into(),
        });
    }

    /// `plugins:` — per org or org/repo, the new form (`plugins`, `excluded_repos`) or the
    /// legacy plain list.
    fn plugins(&mut self, value: &Value) {
        let Some(map) = value.as_object() else {
            self.drop("plugins", "must be a mapping of org or org/repo to plugins");
            return;
        };
        let known: Vec<&'static str> = bosun_plugins::all_plugins()
            .iter()
            .map(|p| p.name())
            .collect();
        for (scope, entry) in map {
            let (names, excluded) = match entry {
                Value::Array(_) => (strings(Some(entry)), vec![]),
                Value::Object(o) => {
                    for k in o
                        .keys()
                        .filter(|k| *k != "plugins" && *k != "excluded_repos")
                    {
                        self.drop(
                            format!("plugins.\"{scope}\".{k}"),
                            "not a key of a plugins entry",
                        );
                    }
                    (strings(o.get("plugins")), strings(o.get("excluded_repos")))
                }
                _ => (vec![], vec![]),
            };
            let mut enabled = Vec::new();
            for name in names {
                if known.contains(&name.as_str()) {
                    if !enabled.contains(&name) {
                        enabled.push(name);
                    }
                } else {
                    let reason = plugin_reason(&name);
                    self.drop(format!("plugins.\"{scope}\".plugins: {name}"), reason);
                }
            }
            self.scopes.insert(scope.clone(), (enabled, excluded));
        }
    }

    /// The scopes where `plugin` is enabled.
    fn enabled_scopes(&self, plugin: &str) -> Vec<String> {
        self.scopes
            .iter()
            .filter(|(_, (enabled, _))| enabled.iter().any(|p| p == plugin))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Writes one option for one scope, or records why it is dropped.
    fn apply(
        &mut self,
        plugin: &str,
        scope: &str,
        (key, value): (&str, &Value),
        map: fn(&str, &Value) -> Mapped,
    ) {
        match map(key, value) {
            Mapped::Keep(bosun_key, value) => {
                if let Some(v) = to_toml(&value) {
                    self.settings
                        .entry(plugin.to_string())
                        .or_default()
                        .entry(scope.to_string())
                        .or_default()
                        .insert(bosun_key.to_string(), v);
                }
            }
            Mapped::Drop(reason) => self.drop(format!("{plugin}.{key}"), reason),
            Mapped::Skip => {}
        }
    }

    /// A list of entries with `repos` (approve, lgtm): each repo or org gets the entry's
    /// options; the first entry naming a scope wins, as in Prow's lookup.
    fn entries(&mut self, plugin: &str, value: &Value, map: fn(&str, &Value) -> Mapped) {
        let Some(list) = value.as_array() else {
            self.drop(plugin, "must be a list of entries with repos");
            return;
        };
        let mut taken = BTreeSet::new();
        for (i, entry) in list.iter().enumerate() {
            let Some(entry) = entry.as_object() else {
                continue;
            };
            let mut reported = false;
            for scope in strings(entry.get("repos")) {
                if !taken.insert(scope.clone()) {
                    self.drop(
                        format!("{plugin}[{i}].repos: {scope}"),
                        "an earlier entry already names it (Prow refuses this too)",
                    );
                    continue;
                }
                self.settings
                    .entry(plugin.to_string())
                    .or_default()
                    .entry(scope.clone())
                    .or_default();
                let before = self.dropped.len();
                for (key, v) in entry.iter().filter(|(k, _)| *k != "repos") {
                    self.apply(plugin, &scope, (key, v), map);
                }
                // One report per entry, not one per repo it names.
                if reported {
                    self.dropped.truncate(before);
                }
                reported = true;
            }
        }
    }

    /// `dco:` — options per org or org/repo; `"*"` gives them to every other scope where dco
    /// is enabled (Prow picks one entry per repository, so entries are not merged).
    fn dco(&mut self, value: &Value) {
        let Some(map) = value.as_object() else {
            self.drop("dco", "must be a mapping of org or org/repo to options");
            return;
        };
        let named: Vec<String> = map.keys().filter(|k| *k != "*").cloned().collect();
        for (scope, options) in map {
            let Some(options) = options.as_object() else {
                self.drop(format!("dco.\"{scope}\""), "must be a mapping");
                continue;
            };
            let targets: Vec<String> = if scope == "*" {
                self.enabled_scopes("dco")
                    .into_iter()
                    .filter(|s| !named.contains(s))
                    .collect()
            } else {
                vec![scope.clone()]
            };
            for (i, target) in targets.iter().enumerate() {
                let before = self.dropped.len();
                for (key, v) in options {
                    self.apply("dco", target, (key, v), dco_option);
                }
                if i > 0 {
                    self.dropped.truncate(before);
                }
            }
        }
    }

    /// `repo_milestone:` — per org/repo (`""`: every other scope with milestone or
    /// milestonestatus), who may set milestones and status labels. bosun keeps both plugins'
    /// settings under `milestone`; Prow picks one entry per repository, so none are merged.
    fn repo_milestone(&mut self, value: &Value) {
        let Some(map) = value.as_object() else {
            self.drop("repo_milestone", "must be a mapping of org/repo to options");
            return;
        };
        let named: Vec<String> = map.keys().filter(|k| !k.is_empty()).cloned().collect();
        for (scope, options) in map {
            let Some(options) = options.as_object() else {
                self.drop(format!("repo_milestone.\"{scope}\""), "must be a mapping");
                continue;
            };
            let targets: Vec<String> = if scope.is_empty() {
                let mut all = self.enabled_scopes("milestone");
                all.extend(self.enabled_scopes("milestonestatus"));
                all.sort();
                all.dedup();
                all.retain(|s| !named.contains(s));
                all
            } else {
                vec![scope.clone()]
            };
            for (i, target) in targets.iter().enumerate() {
                let before = self.dropped.len();
                for (key, v) in options {
                    self.apply("milestone", target, (key, v), milestone_option);
                }
                if i > 0 {
                    self.dropped.truncate(before);
                }
            }
        }
    }

    /// Prow's dco accepts any `Signed-off-by:` line, bosun's by default only the author's:
    /// every scope with dco keeps Prow's rule (`require_author_match = false`).
    fn prow_dco_rule(&mut self) {
        let mut scopes = self.enabled_scopes("dco");
        if let Some(by_scope) = self.settings.get("dco") {
            scopes.extend(by_scope.keys().cloned());
        }
        for scope in scopes {
            self.settings
                .entry("dco".to_string())
                .or_default()
                .entry(scope)
                .or_default()
                .insert("require_author_match".into(), toml::Value::Boolean(false));
        }
    }

    /// A global block (blunderbuss, size, help): its options go to every scope where the
    /// plugin is enabled.
    fn global(&mut self, plugin: &str, value: &Value, map: fn(&str, &Value) -> Mapped) {
        let Some(options) = value.as_object() else {
            self.drop(plugin, "must be a mapping");
            return;
        };
        let scopes = self.enabled_scopes(plugin);
        if scopes.is_empty() && !options.is_empty() {
            self.drop(plugin, format!("{plugin} is enabled nowhere"));
            return;
        }
        for (i, scope) in scopes.iter().enumerate() {
            let before = self.dropped.len();
            for (key, v) in options {
                self.apply(plugin, scope, (key, v), map);
            }
            if i > 0 {
                self.dropped.truncate(before);
            }
        }
    }

    /// `label:` — `additional_labels` for every scope with `label`, and `restricted_labels`
    /// (keyed `"*"`, org or org/repo, all applicable keys combined in Prow) per scope.
    fn label(&mut self, value: &Value) {
        let Some(options) = value.as_object() else {
            self.drop("label", "must be a mapping");
            return;
        };
        let additional = options.get("additional_labels").and_then(to_toml);
        let restricted = options
            .get("restricted_labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for k in options
            .keys()
            .filter(|k| *k != "additional_labels" && *k != "restricted_labels")
        {
            self.drop(format!("label.{k}"), "bosun's label has no such option");
        }
        let mut scopes: BTreeSet<String> = self.enabled_scopes("label").into_iter().collect();
        scopes.extend(restricted.keys().filter(|k| *k != "*").cloned());
        let mut assign_on_reported = false;
        for scope in scopes {
            let org = scope.split('/').next().unwrap_or(&scope).to_string();
            let mut list = Vec::new();
            let mut keys = vec!["*", org.as_str()];
            if scope != org {
                keys.push(scope.as_str());
            }
            for key in keys {
                let Some(entries) = restricted.get(key).and_then(Value::as_array) else {
                    continue;
                };
                for entry in entries.iter().filter_map(Value::as_object) {
                    let mut t = toml::Table::new();
                    for (k, v) in entry {
                        match k.as_str() {
                            "label" | "allowed_teams" | "allowed_users" => {
                                if let Some(v) = to_toml(v) {
                                    t.insert(k.clone(), v);
                                }
                            }
                            "assign_on" => {
                                if !assign_on_reported {
                                    assign_on_reported = true;
                                    self.drop(
                                        "label.restricted_labels[].assign_on",
                                        "bosun does not assign people when a label is added",
                                    );
                                }
                            }
                            _ => self.drop(
                                format!("label.restricted_labels.\"{key}\".{k}"),
                                "bosun's restricted labels have no such option",
                            ),
                        }
                    }
                    if !list.contains(&toml::Value::Table(t.clone())) {
                        list.push(toml::Value::Table(t));
                    }
                }
            }
            let table = self
                .settings
                .entry("label".into())
                .or_default()
                .entry(scope)
                .or_default();
            if let Some(a) = &additional {
                table.insert("additional_labels".into(), a.clone());
            }
            if !list.is_empty() {
                table.insert("restricted_labels".into(), toml::Value::Array(list));
            }
        }
    }

    /// `owners:` — md-yaml repos and skip_collaborators carry over; the rest is reported.
    fn owners(&mut self, value: &Value) {
        let Some(options) = value.as_object() else {
            self.drop("owners", "must be a mapping");
            return;
        };
        for (key, v) in options {
            match key.as_str() {
                "mdyamlrepos" => {
                    self.owners.insert(
                        "markdown_front_matter_repos".into(),
                        to_toml(v).unwrap_or(toml::Value::Array(vec![])),
                    );
                }
                "skip_collaborators" => {
                    self.owners.insert(
                        "skip_collaborators".into(),
                        to_toml(v).unwrap_or(toml::Value::Array(vec![])),
                    );
                }
                "labels_denylist" => self.labels_denylist(v),
                "filenames" => self.drop(
                    "owners.filenames",
                    "bosun reads only files named OWNERS and OWNERS_ALIASES",
                ),
                other => self.drop(format!("owners.{other}"), "bosun has no such option"),
            }
        }
    }

    /// `owners.labels_denylist` — verify-owners' `labels_denylist` wherever it is enabled.
    fn labels_denylist(&mut self, value: &Value) {
        let scopes = self.enabled_scopes("verify-owners");
        if scopes.is_empty() {
            self.drop("owners.labels_denylist", "verify-owners is enabled nowhere");
            return;
        }
        let Some(list) = to_toml(value) else {
            return;
        };
        for scope in scopes {
            self.settings
                .entry("verify-owners".to_string())
                .or_default()
                .entry(scope)
                .or_default()
                .insert("labels_denylist".into(), list.clone());
        }
    }

    /// `require_matching_label:` — each entry becomes a rule of its `org` or `org/repo` scope.
    /// bosun reads the most specific scope only, so a repository's rules also get its org's:
    /// every rule Prow would apply to it still applies.
    fn require_matching_label(&mut self, value: &Value) {
        let Some(list) = value.as_array() else {
            self.drop("require_matching_label", "must be a list of rules");
            return;
        };
        let mut by_scope: BTreeMap<String, Vec<toml::Value>> = BTreeMap::new();
        let mut org_rules: BTreeMap<String, Vec<toml::Value>> = BTreeMap::new();
        for (i, entry) in list.iter().enumerate() {
            let (Some(rule), Some(org)) =
                (entry.as_object(), entry.get("org").and_then(Value::as_str))
            else {
                self.drop(
                    format!("require_matching_label[{i}]"),
                    "a rule must be a mapping naming its org",
                );
                continue;
            };
            let mut table = toml::Table::new();
            for (key, v) in rule {
                match key.as_str() {
                    "org" | "repo" => {}
                    "branch" | "prs" | "issues" | "regexp" | "missing_label"
                    | "missing_comment" | "grace_period" => {
                        if let Some(v) = to_toml(v) {
                            table.insert(key.clone(), v);
                        }
                    }
                    other => self.drop(
                        format!("require_matching_label[{i}].{other}"),
                        "bosun has no such option",
                    ),
                }
            }
            let rule = toml::Value::Table(table);
            match entry.get("repo").and_then(Value::as_str) {
                Some(repo) if !repo.is_empty() => by_scope
                    .entry(format!("{org}/{repo}"))
                    .or_default()
                    .push(rule),
                _ => {
                    org_rules
                        .entry(org.to_string())
                        .or_default()
                        .push(rule.clone());
                    by_scope.entry(org.to_string()).or_default().push(rule);
                }
            }
        }
        for (scope, mut rules) in by_scope {
            if let Some((org, _)) = scope.split_once('/')
                && let Some(inherited) = org_rules.get(org)
            {
                rules.extend(inherited.iter().cloned());
            }
            self.settings
                .entry("require-matching-label".to_string())
                .or_default()
                .entry(scope)
                .or_default()
                .insert("rules".into(), toml::Value::Array(rules));
        }
    }

    /// `override:` — `allowed_github_teams` (per org or org/repo) become the scopes'
    /// `allowed_teams`.
    fn override_teams(&mut self, value: &Value) {
        let Some(options) = value.as_object() else {
            self.drop("override", "must be a mapping");
            return;
        };
        for (key, v) in options {
            match (key.as_str(), v.as_object()) {
                ("allowed_github_teams", Some(by_scope)) => {
                    for (scope, teams) in by_scope {
                        if let Some(t) = to_toml(&Value::Array(
                            strings(Some(teams))
                                .into_iter()
                                .map(Value::String)
                                .collect(),
                        )) {
                            self.settings
                                .entry("override".into())
                                .or_default()
                                .entry(scope.clone())
                                .or_default()
                                .insert("allowed_teams".into(), t);
                        }
                    }
                }
                _ => self.drop(
                    format!("override.{key}"),
                    "bosun's override allows repo admins, allowed_users and allowed_teams",
                ),
            }
        }
    }

    /// `external_plugins:` — bosun forwards no webhooks; Prow's needs-rebase and cherrypicker
    /// are built in (the latter as `cherrypick`).
    fn external_plugins(&mut self, value: &Value) {
        let Some(map) = value.as_object() else {
            return;
        };
        for (scope, list) in map {
            for entry in list.as_array().into_iter().flatten() {
                let name = entry.get("name").and_then(Value::as_str).unwrap_or("?");
                let built_in = match name {
                    "needs-rebase" => Some("needs-rebase"),
                    "cherrypicker" => Some("cherrypick"),
                    _ => None,
                };
                if let Some(name) = built_in {
                    let (enabled, _) = self.scopes.entry(scope.clone()).or_default();
                    if !enabled.iter().any(|p| p == name) {
                        enabled.push(name.to_string());
                    }
                    continue;
                }
                self.drop(
                    format!("external_plugins.\"{scope}\": {name}"),
                    "bosun forwards no webhooks to external plugins",
                );
            }
        }
    }

    /// Prow's `config.yaml`: only its OWNERS settings concern bosun.
    fn owners_dirs(&mut self, config: &Map<String, Value>) {
        for key in ["owners_dir_denylist", "owners_dir_blacklist"] {
            let Some(v) = config.get(key).and_then(Value::as_object) else {
                continue;
            };
            let custom = !strings(v.get("default")).is_empty()
                || v.get("repos")
                    .and_then(Value::as_object)
                    .is_some_and(|r| !r.is_empty())
                || v.get("ignore_preconfigured_defaults") == Some(&Value::Bool(true));
            if custom {
                self.drop(
                    key,
                    "bosun skips only Prow's preconfigured directories (.git, _output, vendor/*/*)",
                );
            }
        }
    }

    fn finish(self) -> Imported {
        let mut config = toml::Table::new();
        if !self.owners.is_empty() {
            config.insert("owners".into(), toml::Value::Table(self.owners));
        }
        let mut github = toml::Table::new();
        github.insert("token_env".into(), "BOSUN_GITHUB_TOKEN".into());
        let mut secrets = toml::Table::new();
        secrets.insert(
            "*".into(),
            toml::Value::Array(vec!["BOSUN_GITHUB_WEBHOOK_SECRET".into()]),
        );
        github.insert("webhook_secrets".into(), toml::Value::Table(secrets));
        config.insert("github".into(), toml::Value::Table(github));
        let mut plugins = toml::Table::new();
        for (scope, (enabled, excluded)) in self.scopes {
            let mut t = toml::Table::new();
            t.insert(
                "enabled".into(),
                toml::Value::Array(enabled.into_iter().map(Into::into).collect()),
            );
            if !excluded.is_empty() {
                t.insert(
                    "excluded_repos".into(),
                    toml::Value::Array(excluded.into_iter().map(Into::into).collect()),
                );
            }
            plugins.insert(scope, toml::Value::Table(t));
        }
        config.insert("plugins".into(), toml::Value::Table(plugins));
        let mut settings = toml::Table::new();
        for (plugin, by_scope) in self.settings {
            let by_scope: toml::Table = by_scope
                .into_iter()
                .map(|(s, t)| (s, toml::Value::Table(t)))
                .collect();
            settings.insert(plugin, toml::Value::Table(by_scope));
        }
        config.insert("settings".into(), toml::Value::Table(settings));
        Imported {
            config,
            dropped: self.dropped,
        }
    }
}

impl Imported {
    /// The TOML file: a header naming what did not carry over, then the configuration.
    pub fn to_toml_text(&self) -> String {
        let mut out = String::from(
            "# Imported from Prow's plugins.yaml by `bosun import-prow`; check it with\n\
             # `bosun check-config FILE`, then add [server], [database] and secrets as needed.\n",
        );
        if self.dropped.is_empty() {
            out.push_str("# Everything carried over.\n");
        } else {
            out.push_str("#\n# Not carried over:\n");
            for d in &self.dropped {
                out.push_str(&format!("#   {}: {}\n", d.key, d.reason));
            }
        }
        out.push('\n');
        out.push_str(&toml::to_string(&self.config).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imported(yaml: &str) -> Imported {
        import(yaml, None).expect("imports")
    }

    fn get<'a>(t: &'a toml::Table, path: &[&str]) -> Option<&'a toml::Value> {
        let (last, parents) = path.split_last()?;
        let mut cur = t;
        for p in parents {
            cur = cur.get(*p)?.as_table()?;
        }
        cur.get(*last)
    }

    #[test]
    fn plugins_per_org_and_repo_with_unknown_ones_reported() {
        let i = imported(
            "plugins:\n  org:\n    plugins: [lgtm, trigger, cat]\n    excluded_repos: [old]\n  org/repo:\n    plugins: [approve]\n  legacy: [hold, size]\n",
        );
        assert_eq!(
            get(&i.config, &["plugins", "org", "enabled"]),
            Some(&toml::Value::Array(vec!["lgtm".into(), "trigger".into()]))
        );
        assert_eq!(
            get(&i.config, &["plugins", "org", "excluded_repos"]),
            Some(&toml::Value::Array(vec!["old".into()]))
        );
        assert_eq!(
            get(&i.config, &["plugins", "legacy", "enabled"]),
            Some(&toml::Value::Array(vec!["hold".into(), "size".into()]))
        );
        let keys: Vec<&str> = i.dropped.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, vec!["plugins.\"org\".plugins: cat"]);
        assert!(i.dropped[0].reason.contains("novelty"));
    }

    #[test]
    fn entry_lists_map_per_repo_with_deprecated_keys_translated() {
        let i = imported(
            "approve:\n- repos: [org, other/x]\n  implicit_self_approve: false\n  lgtm_acts_as_approve: true\n  commandHelpLink: https://x\n- repos: [org]\n  issue_required: true\nlgtm:\n- repos: [org]\n  store_tree_hash: true\n  sticky_lgtm_team: leads\n",
        );
        let c = &i.config;
        for scope in ["org", "other/x"] {
            assert_eq!(
                get(c, &["settings", "approve", scope, "require_self_approval"]),
                Some(&toml::Value::Boolean(true))
            );
        }
        assert_eq!(
            get(c, &["settings", "approve", "org", "issue_required"]),
            None
        );
        assert_eq!(
            get(
                c,
                &["settings", "lgtm", "org", "trusted_team_for_sticky_lgtm"]
            ),
            Some(&toml::Value::String("leads".into()))
        );
        let keys: Vec<&str> = i.dropped.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["approve.commandHelpLink", "approve[1].repos: org"]
        );
    }

    #[test]
    fn repo_milestone_carries_the_team_to_milestone_settings() {
        let i = imported(
            "plugins:\n  a:\n    plugins: [milestone, milestonestatus]\n  b/r:\n    plugins: [milestonestatus]\nrepo_milestone:\n  '':\n    maintainers_team: release\n    maintainers_id: 12\n  a/x:\n    maintainers_team: x-leads\n    maintainers_friendly_name: X leads\n",
        );
        let c = &i.config;
        for scope in ["a", "b/r"] {
            assert_eq!(
                get(c, &["settings", "milestone", scope, "maintainers_team"]),
                Some(&toml::Value::String("release".into())),
                "{scope}"
            );
        }
        assert_eq!(
            get(
                c,
                &["settings", "milestone", "a/x", "maintainers_friendly_name"]
            ),
            Some(&toml::Value::String("X leads".into()))
        );
        assert!(
            i.dropped.iter().any(|d| d.key.contains("maintainers_id")),
            "{:?}",
            i.dropped
        );
    }

    #[test]
    fn dco_and_release_note_options_carry_over_with_prows_sign_off_rule() {
        let i = imported(
            "plugins:\n  a:\n    plugins: [dco, release-note, invalidcommitmsg, mergecommitblocker]\n  b:\n    plugins: [dco]\ndco:\n  '*':\n    skip_dco_check_for_members: true\n  a/x:\n    contributing_path: docs/CONTRIBUTING.md\n    trusted_apps: [dependabot]\nrelease_note:\n  url: https://example.com/notes\n",
        );
        let c = &i.config;
        assert_eq!(
            get(c, &["plugins", "a", "enabled"])
                .and_then(|v| v.as_array())
                .map(Vec::len),
            Some(4)
        );
        for scope in ["a", "b"] {
            assert_eq!(
                get(c, &["settings", "dco", scope, "skip_dco_check_for_members"]),
                Some(&toml::Value::Boolean(true))
            );
        }
        for scope in ["a", "b", "a/x"] {
            assert_eq!(
                get(c, &["settings", "dco", scope, "require_author_match"]),
                Some(&toml::Value::Boolean(false)),
                "{scope}"
            );
        }
        assert_eq!(
            get(c, &["settings", "dco", "a/x", "contributing_path"]),
            Some(&toml::Value::String("docs/CONTRIBUTING.md".into()))
        );
        assert_eq!(
            get(c, &["settings", "dco", "a/x", "skip_dco_check_for_members"]),
            None,
            "Prow does not merge entries"
        );
        assert_eq!(
            get(c, &["settings", "release-note", "a", "url"]),
            Some(&toml::Value::String("https://example.com/notes".into()))
        );
        assert!(
            i.dropped.iter().any(|d| d.key == "dco.trusted_apps"),
            "{:?}",
            i.dropped
        );
    }

    #[test]
    fn global_blocks_go_to_every_enabled_scope_and_restricted_labels_combine() {
        let i = imported(
            "plugins:\n  a:\n    plugins: [blunderbuss, label]\n  b/r:\n    plugins: [blunderbuss]\nblunderbuss:\n  request_count: 2\n  max_request_count: 1\n  use_status_availability: true\nlabel:\n  additional_labels: [tide/merge-method-squash]\n  restricted_labels:\n    '*':\n    - label: cherry-pick-approved\n      allowed_teams: [release]\n      assign_on:\n      - label: do-not-merge/cherry-pick-not-approved\n    a/x:\n    - label: lead-opted-in\n      allowed_users: [alice]\n",
        );
        let c = &i.config;
        for scope in ["a", "b/r"] {
            assert_eq!(
                get(c, &["settings", "blunderbuss", scope, "max_request_count"]),
                Some(&toml::Value::Integer(1))
            );
        }
        let restricted = |scope: &str| {
            get(c, &["settings", "label", scope, "restricted_labels"])
                .and_then(|v| v.as_array())
                .map(|a| a.len())
        };
        assert_eq!(restricted("a"), Some(1));
        assert_eq!(restricted("a/x"), Some(2));
        assert_eq!(
            get(c, &["settings", "label", "a/x", "additional_labels"]),
            Some(&toml::Value::Array(vec!["tide/merge-method-squash".into()]))
        );
        let keys: Vec<&str> = i.dropped.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "blunderbuss.use_status_availability",
                "label.restricted_labels[].assign_on"
            ]
        );
    }

    #[test]
    fn shrug_and_sigmention_are_carried_over_with_the_regexp() {
        let i = imported(
            "plugins:\n  a:\n    plugins: [shrug, sigmention]\nsigmention:\n  regexp: '(?m)@a/sig-([\\w-]*)-(bugs)'\n",
        );
        assert_eq!(
            get(&i.config, &["settings", "sigmention", "a", "regexp"]),
            Some(&toml::Value::String(r"(?m)@a/sig-([\w-]*)-(bugs)".into()))
        );
        assert!(i.dropped.is_empty(), "{:?}", i.dropped);
    }

    #[test]
    fn owners_and_prow_config_settings() {
        let i = import(
            "owners:\n  mdyamlrepos: [org/docs]\n  skip_collaborators: [org/big]\n  labels_denylist: [approved]\n",
            Some("owners_dir_denylist:\n  default: [\"^third_party$\"]\n"),
        )
        .expect("imports");
        assert_eq!(
            get(&i.config, &["owners", "skip_collaborators"]),
            Some(&toml::Value::Array(vec!["org/big".into()]))
        );
        assert_eq!(
            get(&i.config, &["owners", "markdown_front_matter_repos"]),
            Some(&toml::Value::Array(vec!["org/docs".into()]))
        );
        let keys: Vec<&str> = i.dropped.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, vec!["owners.labels_denylist", "owners_dir_denylist"]);
    }

    #[test]
    fn verify_owners_and_require_matching_label_carry_over() {
        let i = imported(
            "plugins:\n  org: [verify-owners, require-matching-label]\nowners:\n  labels_denylist: [approved]\nrequire_matching_label:\n- {org: org, repo: repo, prs: true, regexp: ^kind/, missing_label: needs-kind, grace_period: 10s}\n- {org: org, issues: true, regexp: ^sig/, missing_label: needs-sig, missing_comment: hi}\n",
        );
        assert!(i.dropped.is_empty(), "{:?}", i.dropped);
        assert_eq!(
            get(
                &i.config,
                &["settings", "verify-owners", "org", "labels_denylist"]
            ),
            Some(&toml::Value::Array(vec!["approved".into()]))
        );
        let rules = |scope: &str| {
            get(
                &i.config,
                &["settings", "require-matching-label", scope, "rules"],
            )
            .and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get("missing_label")?.as_str())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        };
        assert_eq!(rules("org/repo"), ["needs-kind", "needs-sig"]);
        assert_eq!(rules("org"), ["needs-sig"]);
    }

    #[test]
    fn not_yaml_is_an_error_with_the_file_name() {
        let e = import("plugins: [unclosed", None).expect_err("not yaml");
        assert!(e.to_string().starts_with("plugins.yaml:"), "{e}");
        let e = import("- a list", None).expect_err("not a mapping");
        assert!(e.to_string().contains("mapping"), "{e}");
    }
}
