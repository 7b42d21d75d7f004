//! `retitle`: `/retitle <new title>` renames an open issue or PR (Prow §3.20). Collaborators and
//! org members may use it. Empty titles and titles with issue-closing keywords are refused.

use crate::command::command_text;
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, ItemState, Plugin, PluginError,
    PluginHelp,
};
use async_trait::async_trait;
use regex::Regex;
use std::sync::LazyLock;

static RETITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?mi)^/retitle[\t\n\x0C\r ]*(.*)$").expect("static regex"));
static CLOSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"((?i)(clos(?:e[sd]?))|(fix(?:(es|ed)?))|(resolv(?:e[sd]?)))[\t\n\x0C\r :]+([0-9A-Za-z_]+/[0-9A-Za-z_]+)?#(\d+)")
        .expect("static regex")
});

/// The new title a comment asks for, trimmed.
pub fn parse(text: &str) -> Option<String> {
    RETITLE
        .captures(text)
        .map(|c| c.get(1).map_or("", |m| m.as_str()).trim().to_string())
}

/// The retitle plugin.
pub struct Retitle;

#[async_trait]
impl Plugin for Retitle {
    fn name(&self) -> &'static str {
        "retitle"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Edits the title of an issue or pull request.",
            commands: vec![CommandHelp {
                usage: "/retitle <title>",
                description: "Sets the title.",
                examples: vec!["/retitle Fix the flaky e2e test"],
                who_can_use: "Collaborators and org members.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::Comment(c) = event else {
            return Ok(vec![]);
        };
        if c.item.state != ItemState::Open || matches!(c.action, CommentAction::Deleted) {
            return Ok(vec![]);
        }
        let Some(title) = parse(&command_text(c)) else {
            return Ok(vec![]);
        };
        let item = c.item.reference.clone();
        let reply = |text: &str| Action::Comment {
            item: item.clone(),
            body: format_response(&c.author, text, &c.body, &c.html_url, cx.help_url),
        };
        let trusted = cx.forge.is_collaborator(&item.repo, &c.author).await?
            || cx.forge.is_org_member(item.repo.owner(), &c.author).await?;
        if !trusted {
            return Ok(vec![reply(
                "Re-titling can only be requested by trusted users, like repository collaborators.",
            )]);
        }
        if title.is_empty() {
            return Ok(vec![reply("Titles may not be empty.")]);
        }
        if CLOSING.is_match(&title) {
            return Ok(vec![reply(
                "Titles may not contain [keywords](https://help.github.com/articles/closing-issues-using-keywords) which can automatically close issues.",
            )]);
        }
        Ok(vec![Action::SetTitle {
            item: item.clone(),
            title,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};

    #[tokio::test]
    async fn retitle_rules() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["collab"]);
        let actions = forge
            .run(
                &Retitle,
                &comment_on_pr("collab", "/retitle  Better title "),
            )
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![Action::SetTitle {
                item: pr_ref(),
                title: "Better title".into()
            }]
        );
        let refused = |actions: Vec<Action>, text: &str| matches!(&actions[..], [Action::Comment { body, .. }] if body.contains(text));
        assert!(refused(
            forge
                .run(&Retitle, &comment_on_pr("stranger", "/retitle x"))
                .await
                .expect("handled"),
            "can only be requested by trusted users"
        ));
        assert!(refused(
            forge
                .run(&Retitle, &comment_on_pr("collab", "/retitle"))
                .await
                .expect("handled"),
            "Titles may not be empty."
        ));
        assert!(refused(
            forge
                .run(&Retitle, &comment_on_pr("collab", "/retitle Fixes #12"))
                .await
                .expect("handled"),
            "keywords"
        ));
        assert!(refused(
            forge
                .run(
                    &Retitle,
                    &comment_on_pr("collab", "/retitle closes org/repo#1")
                )
                .await
                .expect("handled"),
            "keywords"
        ));
    }
}
