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
                let globs =
                    crate::pathglob::glob_set(&r.globs).map_err(|e| format!("{at}: {e}"))?;
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
        if touched
            && !out
                .iter()
                .any(|r| r.label.eq_ignore_ascii_case(&rule.label))
        {
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
        let (files, _) = cx.changed_files(item).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, pr_event, pr_ref};
    use serde_json::json;

    fn file(path: &str, previous: Option<&str>) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            previous_path: previous.map(str::to_string),
            additions: 1,
            deletions: 1,
        }
    }

    fn settings() -> serde_json::Value {
        json!({"rules": [
            {"globs": ["docs/**", "*.md"], "label": "area/docs"},
            {"globs": ["src/api/**"], "label": "area/api", "color": "#1d76db"},
            {"globs": ["README.md"], "label": "Area/Docs"},
        ]})
    }

    fn forge_with(files: Vec<ChangedFile>) -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.changed_files = files;
            s.repo_labels = vec!["area/docs".into(), "area/api".into()];
        });
        forge
    }

    fn added(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddLabel { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    async fn run(forge: &MemoryForge, action: PrAction) -> Vec<Action> {
        forge
            .run_with(&PathLabel, &pr_event(action), &settings())
            .await
            .expect("handled")
    }

    #[tokio::test]
    async fn matching_files_add_their_labels_once() {
        let forge = forge_with(vec![
            file("README.md", None),
            file("pkg/notes.md", None),
            file("src/api/v1.rs", None),
            file("src/main.rs", None),
        ]);
        let actions = run(&forge, PrAction::Opened).await;
        assert_eq!(added(&actions), vec!["area/docs", "area/api"]);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::CreateLabel { .. })),
            "both exist in the repo"
        );
    }

    #[tokio::test]
    async fn no_matching_file_no_label() {
        let forge = forge_with(vec![file("src/main.rs", None), file("docsx/a.txt", None)]);
        assert!(run(&forge, PrAction::Opened).await.is_empty());
    }

    /// A file moved out of `docs/` still touches `docs/`.
    #[tokio::test]
    async fn renames_count_by_their_old_path() {
        let forge = forge_with(vec![file("src/guide.txt", Some("docs/guide.txt"))]);
        let actions = run(&forge, PrAction::Synchronized { before: None }).await;
        assert_eq!(added(&actions), vec!["area/docs"]);
    }

    #[tokio::test]
    async fn present_labels_are_not_added_and_none_removed() {
        let forge = forge_with(vec![file("docs/a.md", None)]);
        forge.set_labels(&["Area/Docs", "area/other"]);
        assert!(run(&forge, PrAction::Reopened).await.is_empty());
    }

    #[tokio::test]
    async fn missing_repo_labels_are_created_first() {
        let forge = forge_with(vec![file("src/api/x.rs", None), file("docs/a", None)]);
        forge.with(|s| s.repo_labels = vec!["AREA/DOCS".into()]);
        let actions = run(&forge, PrAction::Opened).await;
        assert_eq!(
            actions,
            vec![
                Action::AddLabel {
                    item: pr_ref(),
                    label: "area/docs".into()
                },
                Action::CreateLabel {
                    forge: pr_ref().forge,
                    repo: pr_ref().repo,
                    name: "area/api".into(),
                    color: "1d76db".into()
                },
                Action::AddLabel {
                    item: pr_ref(),
                    label: "area/api".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn only_opened_reopened_and_new_commits() {
        let forge = forge_with(vec![file("docs/a.md", None)]);
        for action in [PrAction::Edited, PrAction::Closed, PrAction::ReadyForReview] {
            assert!(run(&forge, action.clone()).await.is_empty(), "{action:?}");
        }
        let none = forge
            .run(&PathLabel, &pr_event(PrAction::Opened))
            .await
            .expect("handled");
        assert!(none.is_empty(), "no rules configured");
    }

    #[test]
    fn settings_are_checked_with_the_rule_named() {
        let check = |v: serde_json::Value| PathLabel.check_settings(&v);
        assert!(check(serde_json::Value::Null).is_ok());
        assert!(check(settings()).is_ok());
        let e = check(json!({"rules": [{"globs": ["ok/**"], "label": "a"}, {"globs": ["src/[api"], "label": "area/api"}]}))
            .expect_err("bad glob");
        assert!(
            e.starts_with("rules[1] (label \"area/api\"): bad glob \"src/[api\""),
            "{e}"
        );
        let e = check(json!({"rules": [{"globs": [], "label": "a"}]})).expect_err("no globs");
        assert_eq!(e, "rules[0] (label \"a\"): globs is empty");
        let e = check(json!({"rules": [{"globs": ["x"], "label": " "}]})).expect_err("no label");
        assert_eq!(e, "rules[0]: label is empty");
        let e = check(json!({"rules": [{"globs": ["x"], "label": "a", "color": "red"}]}))
            .expect_err("bad color");
        assert_eq!(
            e,
            "rules[0] (label \"a\"): color \"red\" is not six hex digits"
        );
        assert!(check(json!({"rules": [{"glob": ["x"], "label": "a"}]})).is_err());
    }
}
