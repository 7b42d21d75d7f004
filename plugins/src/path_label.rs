//! `path-label`: labels a pull request by the paths it touches, from configured rules
//! (`docs/**` → `area/docs`), so areas are labelled without OWNERS files. A renamed file counts
//! by its old path too. Labels are only added, never removed: people may have reasons to keep
//! or drop them. A label the repository lacks is created, as `size` does.

use crate::forge::ChangedFile;
use crate::{Action, Context, Event, Plugin, PluginError, PluginHelp, PrAction};
use async_trait::async_trait;
use globset::GlobSet;
use serde::Deserialize;

/// The colour of labels created for rules that name none (GitHub's default).
pub const DEFAULT_COLOR: &str = "ededed";

/// One rule: any changed file matching any of `globs` gets the PR `label`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Path patterns, as `.gitattributes` writes them (`*.md` at any depth, `docs/**`).
    pub globs: Vec<String>,
    pub label: String,
    /// Six hex digits, used when the label has to be created. Default `ededed`.
    #[serde(default)]
    pub color: Option<String>,
}

/// `[settings.path-label."org/repo"]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathLabelSettings {
    pub rules: Vec<Rule>,
}

/// A rule with its patterns compiled.
pub struct CompiledRule {
    pub globs: GlobSet,
    pub label: String,
    pub color: String,
}

impl PathLabelSettings {
    /// Compiles every rule, or says which one is wrong and why.
    pub fn compile(&self) -> Result<Vec<CompiledRule>, String> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("rules[{i}] (label {:?})", r.label);
                if r.label.trim().is_empty() {
                    return Err(format!("rules[{i}]: label is empty"));
                }
                if r.globs.is_empty() {
                    return Err(format!("{at}: globs is empty"));
                }
                let color = r.color.as_deref().unwrap_or(DEFAULT_COLOR);
                let hex = color.trim_start_matches('#');
                if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("{at}: color {color:?} is not six hex digits"));
                }
                let globs = crate::pathglob::glob_set(&r.globs).map_err(|e| format!("{at}: {e}"))?;
                Ok(CompiledRule {
                    globs,
                    label: r.label.trim().to_string(),
                    color: hex.to_string(),
                })
            })
            .collect()
    }
}

/// The labels whose rules match a changed file (new or old path), first rule first, each once.
pub fn labels_for<'r>(rules: &'r [CompiledRule], files: &[ChangedFile]) -> Vec<&'r CompiledRule> {
    let mut out: Vec<&CompiledRule> = Vec::new();
    for rule in rules {
        let touched = files.iter().any(|f| {
            rule.globs.is_match(&f.path)
                || f.previous_path
                    .as_deref()
                    .is_some_and(|p| rule.globs.is_match(p))
        });
        if touched && !out.iter().any(|r| r.label.eq_ignore_ascii_case(&rule.label)) {
            out.push(rule);
        }
    }
    out
}

/// The path-label plugin.
pub struct PathLabel;

#[async_trait]
impl Plugin for PathLabel {
    fn name(&self) -> &'static str {
        "path-label"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Adds labels to pull requests by the files they touch, from configured rules (for example `docs/**` → `area/docs`); a renamed file counts by its old path too. Labels are added, never removed.",
            commands: vec![],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        if settings.is_null() {
            return Ok(());
        }
        serde_json::from_value::<PathLabelSettings>(settings.clone())
            .map_err(|e| e.to_string())?
            .compile()
            .map(|_| ())
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(pr) = event else {
            return Ok(vec![]);
        };
        let relevant = matches!(
            pr.action,
            PrAction::Opened | PrAction::Reopened | PrAction::Synchronized { .. }
        );
        if !relevant {
            return Ok(vec![]);
        }
        let settings: PathLabelSettings = cx.settings()?;
        let rules = settings.compile().map_err(PluginError::Config)?;
        if rules.is_empty() {
            return Ok(vec![]);
        }
        let item = &pr.pr.reference;
        let files = cx.forge.changed_files(item).await?;
        let wanted = labels_for(&rules, &files);
        if wanted.is_empty() {
            return Ok(vec![]);
        }
        let current = cx.forge.labels(item).await?;
        let missing: Vec<&CompiledRule> = wanted
            .into_iter()
            .filter(|r| !current.iter().any(|l| l.eq_ignore_ascii_case(&r.label)))
            .collect();
        if missing.is_empty() {
            return Ok(vec![]);
        }
        let in_repo = cx.forge.repo_labels(&item.repo).await?;
        let mut actions = Vec::new();
        for rule in missing {
            if !in_repo.iter().any(|l| l.eq_ignore_ascii_case(&rule.label)) {
                actions.push(Action::CreateLabel {
                    forge: item.forge,
                    repo: item.repo.clone(),
                    name: rule.label.clone(),
                    color: rule.color.clone(),
                });
            }
            actions.push(Action::AddLabel {
                item: item.clone(),
                label: rule.label.clone(),
            });
        }
        Ok(actions)
    }
}
