//! `cherrypick`: `/cherry-pick <branch>` (or `/cherrypick <branch>`) on a merged pull/merge
//! request opens a new one with its change applied to `<branch>`, as Prow's cherrypicker. On a
//! PR that is still open the command is remembered by the comment itself: when the PR merges,
//! the plugin reads its comments again and acts on every request it finds there (Prow looks at
//! the comments on the "closed and merged" event the same way), so nothing is kept in bosun.
//!
//! Only members of the repository's org (GitLab: its group) may ask, unless `allow_all`. The
//! new PR is titled `[<branch>] <title>`, its body says which PR it picks and `/assign`s the
//! requester, and its branch is `cherry-pick-<n>-to-<branch>`. The work is one action,
//! [`Action::CherryPick`], which the executor carries out entirely through the forge's API (no
//! clone) and answers with the new PR, the one already opened for the same pick, the forge's
//! conflict message, or that the branch does not exist.
//!
//! Differences from Prow: the change is applied commit by commit through the forge's API
//! (GitHub: its Git Data and merges APIs; GitLab: its cherry-pick endpoint) instead of
//! `git am` of the patch; merge commits inside the PR are skipped; nothing is pushed to a fork.

use crate::command::{GO_SPACE, body_command_text, command_text};
use crate::pick::{Around, CherryPickReply, CherryPickRequest, reference};
use crate::reply::{format_response, response_tail};
use crate::{
    Action, CommandHelp, CommentAction, CommentSource, Context, Event, ForgeKind, ItemRef,
    ItemState, Login, Plugin, PluginError, PluginHelp, PrAction,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

static CHERRY_PICK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?m)^(?:/cherrypick|/cherry-pick){GO_SPACE}+(.+?){GO_SPACE}*$"
    ))
    .expect("static regex")
});

/// `[settings.cherrypick."org"]` or `."org/repo"`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CherryPickSettings {
    /// Let anyone ask for cherry-picks, not only org (GitLab: group) members (Prow's
    /// `--allow-all`). Default false.
    pub allow_all: bool,
}

/// The branch a cherry-pick of PR `number` onto `target` is made on.
pub fn branch_name(number: u64, target: &str) -> String {
    format!("cherry-pick-{number}-to-{target}")
}

/// The request for cherry-picking `item` (titled `title`) onto `target`, asked by `requester`.
pub fn request(item: &ItemRef, title: &str, target: &str, requester: &Login) -> CherryPickRequest {
    CherryPickRequest {
        target: target.to_string(),
        branch: branch_name(item.number, target),
        title: format!("[{target}] {title}"),
        body: format!(
            "This is an automated cherry-pick of {}\n\n/assign {requester}",
            reference(item.forge, item.number)
        ),
        requester: requester.clone(),
    }
}

/// The reply on the source PR for each ending (Prow's wording), mentioning the requester and
/// followed by `tail` (the quote of the asking comment and the footer).
pub fn reply(item: &ItemRef, target: &str, requester: &Login, tail: &str) -> CherryPickReply {
    let this = reference(item.forge, item.number);
    let around = |before: String, after: &str| Around {
        before: format!("@{requester}: {before}"),
        after: format!("{after}{tail}"),
    };
    CherryPickReply {
        created: around("new pull request created: ".into(), ""),
        exists: around(
            format!("Looks like {this} has already been cherry picked in "),
            "",
        ),
        conflict: around(
            format!("failed to apply {this} on top of branch {target:?}:\n```\n"),
            "\n```",
        ),
        no_branch: format!(
            "@{requester}: cannot cherry-pick {this} into `{target}`: the branch does not exist.{tail}"
        ),
    }
}

/// Every branch the text asks to cherry-pick into, in order, each once.
pub fn targets(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for caps in CHERRY_PICK.captures_iter(text) {
        if let Some(t) = caps.get(1).map(|m| m.as_str().trim().to_string())
            && !t.is_empty()
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

/// Prow's refusal for a requester outside the org.
pub fn refusal(forge: ForgeKind, org: &str, user: &Login) -> String {
    match forge {
        ForgeKind::GitHub => format!(
            "only [{org}](https://github.com/orgs/{org}/people) org members may request cherry-picks. If you are already part of the org, make sure to [change](https://github.com/orgs/{org}/people?query={user}) your membership to public. Otherwise you can still do the cherry-pick manually."
        ),
        ForgeKind::GitLab => format!(
            "only members of the `{org}` group may request cherry-picks. Otherwise you can still do the cherry-pick manually."
        ),
    }
}

/// The cherrypick plugin.
pub struct CherryPick;

impl CherryPick {
    async fn may_ask(
        &self,
        cx: &Context<'_>,
        settings: &CherryPickSettings,
        item: &ItemRef,
        user: &Login,
    ) -> Result<bool, PluginError> {
        Ok(settings.allow_all || cx.forge.is_org_member(item.repo.owner(), user).await?)
    }

    /// The cherry-pick action for one request; `tail` quotes the asking comment.
    fn pick(item: &ItemRef, title: &str, target: &str, requester: &Login, tail: &str) -> Action {
        Action::CherryPick {
            item: item.clone(),
            request: request(item, title, target, requester),
            reply: reply(item, target, requester, tail),
        }
    }
}

#[async_trait]
impl Plugin for CherryPick {
    fn name(&self) -> &'static str {
        "cherrypick"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Cherry-picks a merged pull request onto another branch, in a new pull request.",
            commands: vec![CommandHelp {
                usage: "/cherry-pick <branch> (or /cherrypick <branch>)",
                description: "Opens a PR with this PR's change applied to the branch, entirely through the forge's API, and answers with its link or the conflict. On a PR not merged yet, the cherry-pick is made when it merges.",
                examples: vec!["/cherry-pick release-1.2", "/cherrypick release-1.1"],
                who_can_use: "Members of the repository's org (GitLab: group), or anyone with `allow_all`.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<CherryPickSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let settings: CherryPickSettings = cx.settings()?;
        match event {
            Event::Comment(c) => {
                // Conversation comments only, as Prow (an `issue_comment` plugin): they are
                // also what is read again when the PR merges.
                if matches!(c.action, CommentAction::Deleted)
                    || c.source != CommentSource::Comment
                    || cx.is_bot(&c.author)
                    || !c.item.is_pr()
                {
                    return Ok(vec![]);
                }
                let targets = targets(&command_text(c));
                if targets.is_empty() {
                    return Ok(vec![]);
                }
                let item = &c.item.reference;
                let reply = |text: &str| Action::Comment {
                    item: item.clone(),
                    body: format_response(&c.author, text, &c.body, &c.html_url, cx.help_url),
                };
                if !self.may_ask(cx, &settings, item, &c.author).await? {
                    return Ok(vec![reply(&refusal(
                        item.forge,
                        item.repo.owner(),
                        &c.author,
                    ))]);
                }
                // The webhook's state may be stale; the forge says whether it merged.
                let pr = cx.forge.pull_request(item).await?;
                let mut actions = Vec::new();
                for target in targets {
                    if target == pr.base_ref {
                        actions.push(reply(&format!(
                            "base branch ({}) needs to differ from target branch ({target})",
                            pr.base_ref
                        )));
                        continue;
                    }
                    match pr.state {
                        ItemState::Merged => actions.push(Self::pick(
                            item,
                            &pr.title,
                            &target,
                            &c.author,
                            &response_tail(&c.body, &c.html_url, cx.help_url),
                        )),
                        ItemState::Open => actions.push(reply(&format!(
                            "once the present PR merges, I will cherry-pick it on top of {target} in a new PR and assign it to you."
                        ))),
                        ItemState::Closed => actions.push(reply(
                            "this PR was closed without merging: there is nothing to cherry-pick.",
                        )),
                    }
                }
                Ok(actions)
            }
            Event::PullRequest(p) if matches!(p.action, PrAction::Merged) => {
                let item = &p.pr.reference;
                let comments = cx.forge.comments(item).await?;
                let mut actions = Vec::new();
                let mut seen: Vec<String> = Vec::new();
                for comment in comments {
                    if cx.is_bot(&comment.author) {
                        continue;
                    }
                    let asked: Vec<String> = targets(&body_command_text(&comment.body, item.forge))
                        .into_iter()
                        .filter(|t| *t != p.base_ref && !seen.contains(t))
                        .collect();
                    if asked.is_empty()
                        || !self.may_ask(cx, &settings, item, &comment.author).await?
                    {
                        continue;
                    }
                    for target in asked {
                        actions.push(Self::pick(
                            item,
                            &p.pr.title,
                            &target,
                            &comment.author,
                            &response_tail(&comment.body, &p.pr.html_url, cx.help_url),
                        ));
                        seen.push(target);
                    }
                }
                Ok(actions)
            }
            _ => Ok(vec![]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pick::CherryPickOutcome;
    use crate::testing::{MemoryForge, comment_on_pr, pr_event, pr_ref};
    use crate::{BotComment, Login};
    use serde_json::json;

    fn forge(state: ItemState) -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.pr.state = state;
            s.pr.title = "Fix the thing".into();
            s.org_members.insert(Login::new("member"));
        });
        forge
    }

    fn picks(actions: &[Action]) -> Vec<(&str, &str)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::CherryPick { request, .. } => {
                    Some((request.target.as_str(), request.requester.as_str()))
                }
                _ => None,
            })
            .collect()
    }

    fn replied(actions: &[Action], text: &str) -> bool {
        matches!(actions, [Action::Comment { body, .. }] if body.contains(text))
    }

    #[test]
    fn parses_both_spellings_like_prow() {
        assert_eq!(targets("/cherry-pick release-1.2"), vec!["release-1.2"]);
        assert_eq!(
            targets(
                "hi\n/cherrypick   release-1.1  \n/cherry-pick release-1.2\n/cherrypick release-1.1"
            ),
            vec!["release-1.1", "release-1.2"]
        );
        assert!(targets("/cherry-pick").is_empty());
        assert!(targets("please /cherry-pick release-1.2").is_empty());
        assert!(targets("/CHERRY-PICK release-1.2").is_empty());
    }

    #[test]
    fn the_request_reads_like_prows() {
        let r = request(&pr_ref(), "Fix it", "release-1.2", &Login::new("alice"));
        assert_eq!(r.branch, "cherry-pick-1-to-release-1.2");
        assert_eq!(r.title, "[release-1.2] Fix it");
        assert_eq!(
            r.body,
            "This is an automated cherry-pick of #1\n\n/assign alice"
        );
        let alice = Login::new("alice");
        let reply = reply(&pr_ref(), "r", &alice, " [tail]");
        let body = |outcome| reply.body(ForgeKind::GitHub, &outcome);
        assert_eq!(
            body(CherryPickOutcome::Created { number: 9 }),
            "@alice: new pull request created: #9 [tail]"
        );
        assert_eq!(
            body(CherryPickOutcome::Conflict {
                message: "Merge conflict {pr}".into()
            }),
            "@alice: failed to apply #1 on top of branch \"r\":\n```\nMerge conflict {pr}\n``` [tail]"
        );
        assert_eq!(
            body(CherryPickOutcome::NoSuchBranch),
            "@alice: cannot cherry-pick #1 into `r`: the branch does not exist. [tail]"
        );
        let mut gitlab = pr_ref();
        gitlab.forge = ForgeKind::GitLab;
        assert_eq!(
            super::reply(&gitlab, "r", &alice, "")
                .body(ForgeKind::GitLab, &CherryPickOutcome::Exists { number: 4 }),
            "@alice: Looks like !1 has already been cherry picked in !4"
        );
    }

    #[tokio::test]
    async fn a_member_on_a_merged_pr_gets_a_cherry_pick() {
        let actions = forge(ItemState::Merged)
            .run(
                &CherryPick,
                &comment_on_pr("member", "/cherry-pick release-1.2"),
            )
            .await
            .expect("handled");
        let [
            Action::CherryPick {
                item,
                request,
                reply,
            },
        ] = &actions[..]
        else {
            panic!("one cherry-pick: {actions:?}")
        };
        assert_eq!(*item, pr_ref());
        assert_eq!(request.title, "[release-1.2] Fix the thing");
        assert_eq!(request.requester, Login::new("member"));
        let created = reply.body(ForgeKind::GitHub, &CherryPickOutcome::Created { number: 2 });
        assert!(
            created.starts_with("@member: new pull request created: #2\n\n<details>")
                && created.contains(">/cherry-pick release-1.2"),
            "{created}"
        );
    }

    #[tokio::test]
    async fn an_open_pr_is_promised_and_picked_when_it_merges() {
        let forge = forge(ItemState::Open);
        let actions = forge
            .run(
                &CherryPick,
                &comment_on_pr("member", "/cherrypick release-1.2"),
            )
            .await
            .expect("handled");
        assert!(replied(
            &actions,
            "@member: once the present PR merges, I will cherry-pick it on top of release-1.2 in a new PR and assign it to you."
        ));
        forge.with(|s| {
            s.pr.state = ItemState::Merged;
            for (id, (author, body)) in [
                ("member", "/cherrypick release-1.2"),
                ("stranger", "/cherrypick release-1.0"),
                ("member", "```\n/cherrypick release-0.9\n```"),
                ("bosun-bot", "/cherrypick release-0.8"),
                (
                    "member",
                    "/cherry-pick release-1.2\n/cherry-pick release-1.1",
                ),
            ]
            .into_iter()
            .enumerate()
            {
                s.comments.push(BotComment {
                    id: id as u64,
                    author: Login::new(author),
                    body: body.into(),
                    created_at: String::new(),
                });
            }
        });
        let actions = forge
            .run(&CherryPick, &pr_event(PrAction::Merged))
            .await
            .expect("handled");
        assert_eq!(
            picks(&actions),
            vec![("release-1.2", "member"), ("release-1.1", "member")]
        );
    }

    #[tokio::test]
    async fn non_members_are_refused_unless_allow_all() {
        let forge = forge(ItemState::Merged);
        let actions = forge
            .run(
                &CherryPick,
                &comment_on_pr("stranger", "/cherry-pick release-1.2"),
            )
            .await
            .expect("handled");
        assert!(replied(
            &actions,
            "@stranger: only [org](https://github.com/orgs/org/people) org members may request cherry-picks."
        ));
        let actions = forge
            .run_with(
                &CherryPick,
                &comment_on_pr("stranger", "/cherry-pick release-1.2"),
                &json!({ "allow_all": true }),
            )
            .await
            .expect("handled");
        assert_eq!(picks(&actions), vec![("release-1.2", "stranger")]);
    }

    #[tokio::test]
    async fn the_base_branch_and_closed_prs_are_answered() {
        let forge = forge(ItemState::Merged);
        forge.with(|s| s.pr.base_ref = "main".into());
        let actions = forge
            .run(&CherryPick, &comment_on_pr("member", "/cherry-pick main"))
            .await
            .expect("handled");
        assert!(replied(
            &actions,
            "base branch (main) needs to differ from target branch (main)"
        ));
        forge.with(|s| s.pr.state = ItemState::Closed);
        let actions = forge
            .run(&CherryPick, &comment_on_pr("member", "/cherry-pick r1"))
            .await
            .expect("handled");
        assert!(replied(&actions, "closed without merging"));
    }

    #[tokio::test]
    async fn only_conversation_comments_count() {
        let Event::Comment(mut c) = comment_on_pr("member", "/cherry-pick release-1.2") else {
            unreachable!("a comment")
        };
        c.source = CommentSource::Description;
        let actions = forge(ItemState::Merged)
            .run(&CherryPick, &Event::Comment(c))
            .await
            .expect("handled");
        assert!(actions.is_empty(), "{actions:?}");
    }

    #[test]
    fn settings_are_checked() {
        assert!(
            CherryPick
                .check_settings(&json!({ "allow_all": true }))
                .is_ok()
        );
        assert!(
            CherryPick
                .check_settings(&json!({ "allow": true }))
                .is_err()
        );
    }
}
