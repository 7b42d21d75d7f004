//! `skip`: `/skip` on an open PR marks its optional CI contexts that have not passed as
//! skipped (a commit status `success` described as `Skipped`), so they stop holding up the
//! PR (Prow §3.17). Anyone may. Optional contexts are the trigger plugin's `optional` list
//! (one list for `/retest-required` and `/skip`, read from `[settings.trigger]`); required
//! contexts are never touched, nor contexts the same comment runs again (`/retest`,
//! `/test`).

use crate::command::command_text;
use crate::trigger::{TriggerCommand, TriggerSettings};
use crate::{
    Action, CommandHelp, CommentAction, CommitStatus, Context, Event, ForgeKind, ItemState, Plugin,
    PluginError, PluginHelp, StatusState,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

static SKIP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?mi)^/skip\s*$").expect("static regex"));

/// The skip plugin.
pub struct Skip;

#[async_trait]
impl Plugin for Skip {
    fn name(&self) -> &'static str {
        "skip"
    }

    fn settings_from(&self) -> &'static str {
        "trigger"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Marks optional CI contexts that did not pass as skipped, so they no longer hold up a pull request.",
            commands: vec![CommandHelp {
                usage: "/skip",
                description: "Sets the optional contexts (trigger's `optional`) that have not passed to success, described as skipped.",
                examples: vec!["/skip"],
                who_can_use: "Anyone",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<TriggerSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if !c.item.is_pr() || c.item.state != ItemState::Open || c.action != CommentAction::Created
        {
            return Ok(vec![]);
        }
        let text = command_text(c);
        if !SKIP.is_match(&text) {
            return Ok(vec![]);
        }
        let settings: TriggerSettings = cx.settings()?;
        // What the same comment runs again is not skipped.
        let mut rerun_all = false;
        let mut rerun: Vec<String> = Vec::new();
        for cmd in crate::trigger::parse(&text) {
            match cmd {
                TriggerCommand::Retest
                | TriggerCommand::RetestRequired
                | TriggerCommand::TestAll
                | TriggerCommand::OkToTest => rerun_all = true,
                TriggerCommand::Test(names) => rerun.extend(names),
                TriggerCommand::OkToTestCancel | TriggerCommand::Help(_) => {}
            }
        }
        if rerun_all {
            return Ok(vec![]);
        }
        let item = &c.item.reference;
        let pr = cx.forge.pull_request(item).await?;
        let mut contexts = cx
            .history
            .ci_contexts(item.forge, &item.repo, &pr.head_sha)
            .await;
        if contexts.is_empty() {
            contexts = cx.forge.ci_contexts(item, &pr.head_sha).await?;
        }
        Ok(contexts
            .iter()
            .filter(|ctx| ctx.state != crate::CiState::Success)
            .filter(|ctx| settings.optional.contains(&ctx.context))
            .filter(|ctx| !rerun.contains(&ctx.context))
            .map(|ctx| Action::SetStatus {
                forge: item.forge,
                repo: item.repo.clone(),
                sha: pr.head_sha.clone(),
                status: CommitStatus {
                    state: StatusState::Success,
                    context: ctx.context.clone(),
                    description: "Skipped".into(),
                    target_url: None,
                },
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr};
    use crate::{CiContext, CiState, CiSystem};

    fn ctx(name: &str, state: CiState) -> CiContext {
        CiContext {
            context: name.into(),
            system: CiSystem::GithubStatus,
            state,
            url: None,
            run_id: None,
        }
    }

    fn skipped(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::SetStatus { status, .. } if status.description == "Skipped" => {
                    Some(status.context.as_str())
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn skips_only_optional_contexts_that_did_not_pass() {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.ci = vec![
                ctx("required-e2e", CiState::Failure),
                ctx("optional-lint", CiState::Failure),
                ctx("optional-bench", CiState::Pending),
                ctx("optional-docs", CiState::Success),
            ]
        });
        let settings = serde_json::json!({
            "optional": ["optional-lint", "optional-bench", "optional-docs"]
        });
        let actions = forge
            .run_with(&Skip, &comment_on_pr("anyone", "/skip"), &settings)
            .await
            .expect("handled");
        assert_eq!(skipped(&actions), vec!["optional-lint", "optional-bench"]);
    }

    #[tokio::test]
    async fn what_the_comment_reruns_is_not_skipped() {
        let forge = MemoryForge::default();
        forge.with(|s| s.ci = vec![ctx("optional-lint", CiState::Failure)]);
        let settings = serde_json::json!({ "optional": ["optional-lint"] });
        for text in ["/skip\n/retest", "/skip\n/test optional-lint"] {
            let actions = forge
                .run_with(&Skip, &comment_on_pr("anyone", text), &settings)
                .await
                .expect("handled");
            assert!(skipped(&actions).is_empty(), "{text}: {actions:?}");
        }
        let none = forge
            .run_with(&Skip, &comment_on_pr("anyone", "please /skip"), &settings)
            .await
            .expect("handled");
        assert!(none.is_empty());
    }
}
