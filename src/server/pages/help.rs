//! `/command-help` (HTML) and `/plugin-help` (JSON): every plugin's commands from the plugins'
//! own help data, and where each plugin is enabled. Public even with private pages, because
//! every reply bosun posts links here.
//!
//! `/plugin-help` has the shape of Prow hook's `/plugin-help` (Go field names: `AllRepos`,
//! `RepoPlugins`, `PluginHelp`, …) so tooling written for Prow reads it; each command also
//! says which forges it works on (`Forges`). `AllRepos` lists the configured scopes (orgs,
//! groups and repos): bosun does not list an org's repositories from the forge.

use super::{Chrome, PageError, Span, html, spans};
use crate::config::PluginMatrix;
use crate::server::AppState;
use actix_web::{HttpResponse, web};
use askama::Template;
use bosun_plugins::{ForgeKind, Plugin, RepoPath};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `?repo=org%2Frepo` narrows the page to the plugins enabled for that repo.
#[derive(Debug, Deserialize)]
pub struct HelpQuery {
    repo: Option<String>,
}

struct CommandView {
    plugin: &'static str,
    usage: &'static str,
    description: Vec<Span>,
    examples: Vec<&'static str>,
    who_can_use: Vec<Span>,
    forges: String,
}

struct PluginView {
    name: &'static str,
    description: Vec<Span>,
    enabled_in: Vec<String>,
}

#[derive(Template)]
#[template(path = "command_help.html")]
struct CommandHelpPage {
    chrome: Chrome,
    repo: String,
    filtered: bool,
    commands: Vec<CommandView>,
    plugins: Vec<PluginView>,
}

fn forge_names(forges: &[ForgeKind]) -> String {
    forges
        .iter()
        .map(|f| match f {
            ForgeKind::GitHub => "GitHub",
            ForgeKind::GitLab => "GitLab",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a plugin is enabled, as people read it: `my-org (except legacy)`, `my-org/repo`.
fn enabled_in(matrix: &PluginMatrix, plugin: &str) -> Vec<String> {
    matrix
        .scope_entries()
        .filter(|(_, entry)| entry.enabled.iter().any(|p| p == plugin))
        .map(|(scope, entry)| {
            if entry.excluded_repos.is_empty() {
                scope.clone()
            } else {
                format!("{scope} (except {})", entry.excluded_repos.join(", "))
            }
        })
        .collect()
}

/// The plugins to show: all of them, or those enabled for the filter repo, in config order.
fn selected<'a>(
    all: &'a [Box<dyn Plugin>],
    matrix: &PluginMatrix,
    repo: Option<&RepoPath>,
) -> Vec<&'a dyn Plugin> {
    match repo {
        None => all.iter().map(|p| p.as_ref()).collect(),
        Some(repo) => matrix
            .enabled_for(repo)
            .iter()
            .filter_map(|name| all.iter().find(|p| p.name() == name))
            .map(|p| p.as_ref())
            .collect(),
    }
}

/// `GET /command-help`.
pub async fn command_help(
    state: web::Data<AppState>,
    query: web::Query<HelpQuery>,
) -> Result<HttpResponse, PageError> {
    let repo_text = super::filter_value(&query.repo, "repo")?;
    let repo = match &repo_text {
        None => None,
        Some(text) => Some(RepoPath::parse(text).ok_or_else(|| {
            PageError::BadRequest("repo must be a repository path like org/repo".into())
        })?),
    };
    let live = state.live.get();
    let matrix = &live.plugins;
    let all = bosun_plugins::all_plugins();
    let chosen = selected(&all, matrix, repo.as_ref());
    let mut commands = Vec::new();
    let mut plugins = Vec::new();
    for plugin in &chosen {
        let help = plugin.help();
        for c in help.commands {
            commands.push(CommandView {
                plugin: plugin.name(),
                usage: c.usage,
                description: spans(c.description),
                examples: c.examples,
                who_can_use: spans(c.who_can_use),
                forges: forge_names(&c.forges),
            });
        }
        plugins.push(PluginView {
            name: plugin.name(),
            description: spans(help.description),
            enabled_in: enabled_in(matrix, plugin.name()),
        });
    }
    html(&CommandHelpPage {
        chrome: Chrome {
            private_pages: state.settings.private_pages,
        },
        repo: repo_text.unwrap_or_default(),
        filtered: repo.is_some(),
        commands,
        plugins,
    })
}

/// Prow's `pluginhelp.Help`, field for field, plus bosun's forges per command.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HelpJson {
    pub all_repos: Vec<String>,
    pub repo_plugins: BTreeMap<String, Vec<String>>,
    pub repo_external_plugins: BTreeMap<String, Vec<String>>,
    pub plugin_help: BTreeMap<String, PluginHelpJson>,
    pub external_plugin_help: BTreeMap<String, PluginHelpJson>,
}

/// One plugin's help in Prow's shape.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginHelpJson {
    pub description: String,
    /// Scope → that scope's settings for this plugin, as JSON text.
    pub config: BTreeMap<String, String>,
    pub events: Vec<String>,
    pub commands: Vec<CommandJson>,
}

/// One command in Prow's shape, plus `Forges`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommandJson {
    pub usage: String,
    pub featured: bool,
    pub description: String,
    pub examples: Vec<String>,
    pub who_can_use: String,
    pub forges: Vec<ForgeKind>,
}

/// Builds the JSON from the plugins' help and the configuration.
pub fn help_json(matrix: &PluginMatrix) -> HelpJson {
    let plugins = bosun_plugins::all_plugins();
    let mut repo_plugins = BTreeMap::new();
    repo_plugins.insert(
        String::new(),
        plugins.iter().map(|p| p.name().to_string()).collect(),
    );
    for (scope, entry) in matrix.scope_entries() {
        repo_plugins.insert(scope.clone(), entry.enabled.clone());
    }
    let plugin_help = plugins
        .iter()
        .map(|p| {
            let help = p.help();
            let config = matrix
                .settings_by_scope(p.name())
                .map(|by_scope| {
                    by_scope
                        .iter()
                        .map(|(scope, v)| (scope.clone(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let json = PluginHelpJson {
                description: help.description.to_string(),
                config,
                events: Vec::new(),
                commands: help
                    .commands
                    .into_iter()
                    .map(|c| CommandJson {
                        usage: c.usage.to_string(),
                        featured: false,
                        description: c.description.to_string(),
                        examples: c.examples.iter().map(|e| e.to_string()).collect(),
                        who_can_use: c.who_can_use.to_string(),
                        forges: c.forges,
                    })
                    .collect(),
            };
            (p.name().to_string(), json)
        })
        .collect();
    HelpJson {
        all_repos: matrix.scope_entries().map(|(s, _)| s.clone()).collect(),
        repo_plugins,
        repo_external_plugins: BTreeMap::new(),
        plugin_help,
        external_plugin_help: BTreeMap::new(),
    }
}

/// `GET /plugin-help`.
pub async fn plugin_help(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(help_json(&state.live.get().plugins))
}
