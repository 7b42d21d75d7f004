//! `lgtm`: `/lgtm` adds the `lgtm` label, `/lgtm cancel` (or `/remove-lgtm`) removes it
//! (Prow §3.1). Collaborators may use it; the PR author may only cancel. A collaborator who
//! LGTMs is assigned to the PR. With `review_acts_as_lgtm`, an approving review (GitHub) or a
//! native approval (GitLab) acts as `/lgtm` and a changes-requested review as a cancel. New
//! commits remove the label, unless `store_tree_hash` shows the same tree or the author is in
//! the sticky team.
//!
//! With `store_tree_hash`, when the label goes (`/lgtm cancel`, `/remove-lgtm`, a push that
//! resets it) the PR's current assignees are asked to review again (Prow §3.1). Where
//! `[owners] skip_collaborators` names the repo, who may `/lgtm` is decided by OWNERS (reviewers
//! and approvers of the changed files) and the commenter is not assigned.
//!
//! Differences from Prow: bosun's notices are found by a hidden marker; Prow's own notices
//! (written before bosun, on the same account) are recognised by their text and taken over.

use crate::command::{GO_SPACE, command_text};
use crate::reply::format_response;
use crate::{
    Action, CommandHelp, CommentAction, CommentEvent, CommentSource, Context, Event, ForgeKind,
    Login, Plugin, PluginError, PluginHelp, PrAction, PullRequestEvent, ReviewState,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

/// The label.
pub const LABEL: &str = "lgtm";
/// Marker of the notice recording the tree hash at LGTM time.
pub const TREE_HASH_MARKER: &str = "lgtm-tree-hash";
/// Marker of the notice saying new commits removed the label.
pub const REMOVED_MARKER: &str = "lgtm-removed";
/// How the tree-hash notice opens, bosun's and Prow's (§3.1): Prow's, written on the same
/// account before bosun ran, is read and taken over as bosun's.
pub const TREE_HASH_PREFIX: &str = "LGTM label has been added.";
/// The notice new commits leave when they remove the label, bosun's and Prow's.
pub const REMOVED_TEXT: &str = "New changes are detected. LGTM label has been removed.";

static ADD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?mi)^/lgtm(?: no-issue)?{GO_SPACE}*$")).expect("static regex")
});
static CANCEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?mi)^/(remove-lgtm|lgtm cancel){GO_SPACE}*$")).expect("static regex")
});
static TREE_HASH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"LGTM label has been added\.  <details>Git tree hash: ([^<\s]+)</details>")
        .expect("static regex")
});

/// `[settings.lgtm."org/repo"]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LgtmSettings {
    /// An approving review counts as `/lgtm`, a changes-requested review as a cancel. Default false.
    pub review_acts_as_lgtm: bool,
    /// Record the tree hash at LGTM time and keep the label when new commits have the same tree.
    /// Default false.
    pub store_tree_hash: bool,
    /// A team (slug, in the repo's org) whose members' PRs keep `lgtm` on new commits. Default none.
    pub trusted_team_for_sticky_lgtm: Option<String>,
}

/// What a comment or review asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LgtmCommand {
    Add,
    Cancel,
}

/// Finds the command in command text; an add wins, as in Prow (cancel is checked only if no add).
pub fn parse(text: &str) -> Option<LgtmCommand> {
    if ADD.is_match(text) {
        Some(LgtmCommand::Add)
    } else if CANCEL.is_match(text) {
        Some(LgtmCommand::Cancel)
    } else {
        None
    }
}

/// The command a comment event carries: its text first, then (when configured) the review verdict.
fn command_of(c: &CommentEvent, settings: &LgtmSettings) -> Option<LgtmCommand> {
    if let Some(cmd) = parse(&command_text(c)) {
        return Some(cmd);
    }
    if !settings.review_acts_as_lgtm
        || c.source != CommentSource::Review
        || c.action != CommentAction::Created
    {
        return None;
    }
    match c.review {
        Some(ReviewState::Approved) => Some(LgtmCommand::Add),
        Some(ReviewState::ChangesRequested) => Some(LgtmCommand::Cancel),
        _ => None,
    }
}

/// Prow's reply when `skip_collaborators` is on and the commenter is not in OWNERS.
pub const OWNERS_RESTRICTED: &str =
    "adding LGTM is restricted to approvers and reviewers in OWNERS files.";

/// What the plugin knows when deciding on a command.
pub struct Facts<'a> {
    pub cmd: LgtmCommand,
    pub comment: &'a CommentEvent,
    pub is_collaborator: bool,
    /// `[owners] skip_collaborators` names the repo: OWNERS decide, nobody is assigned.
    pub skip_collaborators: bool,
    /// The commenter is a reviewer or approver of a changed file (read only with
    /// `skip_collaborators`).
    pub in_owners: bool,
    /// The PR's current assignees, asked to review again when the label goes (read only then,
    /// with `store_tree_hash`).
    pub assignees: Vec<Login>,
    pub has_label: bool,
    pub sticky_author: bool,
    /// `store_tree_hash` is on: the tree-hash notice is kept with the label.
    pub store_tree_hash: bool,
    /// The PR head's tree SHA, read only when the label is about to be added.
    pub tree_sha: Option<String>,
    pub help_url: &'a str,
}

fn reply(f: &Facts<'_>, text: &str) -> Action {
    let c = f.comment;
    Action::Comment {
        item: c.item.reference.clone(),
        body: format_response(&c.author, text, &c.body, &c.html_url, f.help_url),
    }
}

/// Prow's comment flow, purely.
pub fn decide(f: &Facts<'_>) -> Vec<Action> {
    let c = f.comment;
    let item = c.item.reference.clone();
    let is_author = c.author == c.item.author;
    if is_author && f.cmd == LgtmCommand::Add {
        return vec![reply(f, "you cannot LGTM your own PR.")];
    }
    if !is_author && f.skip_collaborators && !f.in_owners {
        return vec![reply(f, OWNERS_RESTRICTED)];
    }
    if !is_author && !f.skip_collaborators && !f.is_collaborator {
        return vec![reply(f, "changing LGTM is restricted to collaborators")];
    }
    let mut actions = Vec::new();
    if !is_author && !f.skip_collaborators && !c.item.assignees.contains(&c.author) {
        actions.push(Action::Assign {
            item: item.clone(),
            users: vec![c.author.clone()],
            report: None,
        });
    }
    match (f.cmd, f.has_label) {
        (LgtmCommand::Cancel, true) => {
            actions.push(Action::RemoveLabel {
                item: item.clone(),
                label: LABEL.into(),
            });
            actions.push(remember_lgtm(&item, vec![]));
            if f.store_tree_hash {
                actions.extend(review_again(&item, &f.assignees, &c.item.author));
                actions.push(Action::DeleteBotComment {
                    item,
                    marker: TREE_HASH_MARKER.into(),
                    adopt: Some(TREE_HASH_PREFIX.into()),
                });
            }
        }
        (LgtmCommand::Add, false) => {
            actions.push(Action::AddLabel {
                item: item.clone(),
                label: LABEL.into(),
            });
            actions.push(remember_lgtm(&item, vec![c.author.clone()]));
            if !f.sticky_author {
                if let Some(tree) = &f.tree_sha {
                    actions.push(Action::UpsertBotComment {
                        item: item.clone(),
                        marker: TREE_HASH_MARKER.into(),
                        body: format!(
                            "{TREE_HASH_PREFIX}  <details>Git tree hash: {tree}</details>"
                        ),
                        adopt: Some(TREE_HASH_PREFIX.into()),
                    });
                }
                actions.push(Action::DeleteBotComment {
                    item,
                    marker: REMOVED_MARKER.into(),
                    adopt: Some(REMOVED_TEXT.into()),
                });
            }
        }
        _ => {}
    }
    actions
}

/// The fact of who LGTM'd, for bosun's record of the PR.
fn remember_lgtm(item: &crate::ItemRef, by: Vec<Login>) -> Action {
    Action::Remember {
        item: item.clone(),
        fact: crate::Fact::Lgtm { by },
    }
}

/// Prow (§3.1, with `store_tree_hash`): when `lgtm` goes, the assignees are asked to review
/// again. The author is left out: no forge lets authors review their own PR.
fn review_again(item: &crate::ItemRef, assignees: &[Login], author: &Login) -> Option<Action> {
    let users: Vec<Login> = assignees.iter().filter(|a| *a != author).cloned().collect();
    (!users.is_empty()).then(|| Action::RequestReviewers {
        item: item.clone(),
        users,
        teams: vec![],
        report: None,
    })
}

/// What is known on new commits.
pub struct PushFacts {
    pub has_label: bool,
    pub sticky_author: bool,
    /// `store_tree_hash` showed the same tree as at LGTM time.
    pub same_tree: bool,
    /// Assignees to ask for a review again (empty without `store_tree_hash`).
    pub review_again: Vec<Login>,
}

/// On new commits: keep or remove the label.
pub fn decide_on_push(pr: &PullRequestEvent, f: &PushFacts) -> Vec<Action> {
    if f.sticky_author || !f.has_label || f.same_tree {
        return vec![];
    }
    let item = pr.pr.reference.clone();
    let mut actions = vec![
        Action::RemoveLabel {
            item: item.clone(),
            label: LABEL.into(),
        },
        Action::UpsertBotComment {
            item: item.clone(),
            marker: REMOVED_MARKER.into(),
            body: REMOVED_TEXT.into(),
            adopt: Some(REMOVED_TEXT.into()),
        },
        remember_lgtm(&item, vec![]),
    ];
    actions.extend(review_again(&item, &f.review_again, &pr.pr.author));
    actions
}

/// The lgtm plugin.
pub struct Lgtm;

async fn is_sticky(
    cx: &Context<'_>,
    settings: &LgtmSettings,
    repo: &crate::RepoPath,
    author: &Login,
) -> Result<bool, PluginError> {
    match &settings.trusted_team_for_sticky_lgtm {
        Some(team) => Ok(cx.forge.is_team_member(repo.owner(), team, author).await?),
        None => Ok(false),
    }
}

impl Lgtm {
    async fn on_comment(
        &self,
        c: &CommentEvent,
        cx: &Context<'_>,
    ) -> Result<Vec<Action>, PluginError> {
        let settings: LgtmSettings = cx.settings()?;
        if !c.item.is_pr() || c.item.state != crate::ItemState::Open {
            return Ok(vec![]);
        }
        let Some(cmd) = command_of(c, &settings) else {
            return Ok(vec![]);
        };
        let item = &c.item.reference;
        let is_author = c.author == c.item.author;
        let skip_collaborators = cx.owners.policy().skip_collaborators(&item.repo);
        let is_collaborator =
            !skip_collaborators && cx.forge.is_collaborator(&item.repo, &c.author).await?;
        let in_owners = skip_collaborators && !is_author && in_owners(c, cx).await?;
        let has_label = cx
            .forge
            .labels(item)
            .await?
            .iter()
            .any(|l| l.eq_ignore_ascii_case(LABEL));
        let sticky_author = is_sticky(cx, &settings, &item.repo, &c.item.author).await?;
        let may_change = is_author || in_owners || is_collaborator;
        let tree_sha = if settings.store_tree_hash && cmd == LgtmCommand::Add && !has_label {
            let pr = cx.forge.pull_request(item).await?;
            Some(cx.forge.commit_tree_sha(&item.repo, &pr.head_sha).await?)
        } else {
            None
        };
        let assignees =
            if settings.store_tree_hash && cmd == LgtmCommand::Cancel && has_label && may_change {
                // The forge's word on who the author is (a GitLab note names them by id only).
                let info = cx.forge.pull_request(item).await?;
                info.assignees
                    .into_iter()
                    .filter(|a| *a != info.author)
                    .collect()
            } else {
                vec![]
            };
        Ok(decide(&Facts {
            cmd,
            comment: c,
            is_collaborator,
            skip_collaborators,
            in_owners,
            assignees,
            has_label,
            sticky_author,
            store_tree_hash: settings.store_tree_hash,
            tree_sha,
            help_url: cx.help_url,
        }))
    }

    async fn on_new_commits(
        &self,
        pr: &PullRequestEvent,
        cx: &Context<'_>,
    ) -> Result<Vec<Action>, PluginError> {
        let settings: LgtmSettings = cx.settings()?;
        let item = &pr.pr.reference;
        if is_sticky(cx, &settings, &item.repo, &pr.pr.author).await? {
            return Ok(vec![]);
        }
        let has_label = cx
            .forge
            .labels(item)
            .await?
            .iter()
            .any(|l| l.eq_ignore_ascii_case(LABEL));
        if !has_label {
            return Ok(vec![]);
        }
        let mut same_tree = false;
        if settings.store_tree_hash {
            let bot = cx.bot;
            let marker = crate::marker::notice(TREE_HASH_MARKER);
            let comments = cx.forge.comments(item).await?;
            let recorded = comments
                .iter()
                .rev()
                .filter(|c| {
                    &c.author == bot
                        && (c.body.contains(&marker)
                            || crate::marker::is_unmarked_notice(&c.body, TREE_HASH_PREFIX))
                })
                .find_map(|c| {
                    TREE_HASH
                        .captures(&c.body)
                        .and_then(|m| m.get(1))
                        .map(|m| m.as_str().to_string())
                });
            if let Some(recorded) = recorded {
                let now = cx.forge.commit_tree_sha(&item.repo, &pr.head_sha).await?;
                same_tree = recorded == now;
            }
        }
        let review_again = if settings.store_tree_hash && !same_tree {
            // The forge's word on who the author is, not only the event's.
            let info = cx.forge.pull_request(item).await?;
            info.assignees
                .into_iter()
                .filter(|a| *a != info.author)
                .collect()
        } else {
            vec![]
        };
        Ok(decide_on_push(
            pr,
            &PushFacts {
                has_label,
                sticky_author: false,
                same_tree,
                review_again,
            },
        ))
    }
}

/// Whether the commenter is a reviewer or approver, in OWNERS at the PR's base, of any changed
/// file (Prow's check with `skip_collaborators`).
async fn in_owners(c: &CommentEvent, cx: &Context<'_>) -> Result<bool, PluginError> {
    let item = &c.item.reference;
    let pr = cx.forge.pull_request(item).await?;
    let (changed, _) = cx.changed_files(item).await?;
    let files: Vec<String> = changed.into_iter().map(|f| f.path).collect();
    let owners = cx
        .owners
        .owners_on_branch(cx.forge, &item.repo, &pr.base_ref, &pr.base_sha, &files)
        .await?;
    let login = crate::owners::normalize_login(c.author.as_str());
    Ok(files
        .iter()
        .any(|f| owners.approvers(f).contains(&login) || owners.reviewers(f).contains(&login)))
}

#[async_trait]
impl Plugin for Lgtm {
    fn name(&self) -> &'static str {
        "lgtm"
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<LgtmSettings>(settings)
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Adds or removes the `lgtm` label, which marks a pull request as reviewed and ready to merge once approved.",
            commands: vec![CommandHelp {
                usage: "/[remove-]lgtm [cancel] or an approving review",
                description: "Adds or removes the `lgtm` label. The commenter is assigned to the PR (not with skip_collaborators). New commits remove the label; with store_tree_hash, the assignees are then asked to review again.",
                examples: vec!["/lgtm", "/lgtm cancel", "/remove-lgtm"],
                who_can_use: "Collaborators on the repository; where `[owners] skip_collaborators` names it, the OWNERS reviewers and approvers of the changed files instead. The PR author can only cancel.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        match event {
            Event::Comment(c) => self.on_comment(c, cx).await,
            Event::PullRequest(pr) if matches!(pr.action, PrAction::Synchronized { .. }) => {
                self.on_new_commits(pr, cx).await
            }
            _ => Ok(vec![]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, comment_on_pr, pr_ref};

    fn labels_added(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddLabel { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    fn reply_text(actions: &[Action]) -> Option<&str> {
        actions.iter().find_map(|a| match a {
            Action::Comment { body, .. } => Some(body.as_str()),
            _ => None,
        })
    }

    #[test]
    fn parses_prow_regexes() {
        assert_eq!(parse("/lgtm"), Some(LgtmCommand::Add));
        assert_eq!(parse("/LGTM  "), Some(LgtmCommand::Add));
        assert_eq!(parse("/lgtm no-issue"), Some(LgtmCommand::Add));
        assert_eq!(parse("/lgtm cancel"), Some(LgtmCommand::Cancel));
        assert_eq!(parse("/remove-lgtm"), Some(LgtmCommand::Cancel));
        assert_eq!(parse("/lgtm please"), None);
        assert_eq!(
            parse("/lgtm\r"),
            Some(LgtmCommand::Add),
            "\\s* swallows a trailing \\r"
        );
        assert_eq!(
            parse("/lgtm\n/lgtm cancel"),
            Some(LgtmCommand::Add),
            "add is checked first"
        );
    }

    /// Prow lgtm: a collaborator's /lgtm adds the label and assigns the commenter.
    #[tokio::test]
    async fn collaborator_lgtm_adds_label_and_assigns() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        let actions = forge
            .run(&Lgtm, &comment_on_pr("alice", "/lgtm"))
            .await
            .expect("handled");
        assert_eq!(labels_added(&actions), vec![LABEL]);
        assert!(actions.contains(&Action::Assign {
            item: pr_ref(),
            users: vec![Login::new("alice")],
            report: None,
        }));
        assert!(
            actions.contains(&Action::Remember {
                item: pr_ref(),
                fact: crate::Fact::Lgtm {
                    by: vec![Login::new("alice")]
                }
            }),
            "who LGTM'd is reported as a fact: {actions:?}"
        );
    }

    /// Prow lgtm: the author cannot LGTM their own PR.
    #[tokio::test]
    async fn author_lgtm_is_refused() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["pr-author"]);
        let actions = forge
            .run(&Lgtm, &comment_on_pr("pr-author", "/lgtm"))
            .await
            .expect("handled");
        assert_eq!(actions.len(), 1);
        assert!(
            reply_text(&actions)
                .expect("reply")
                .starts_with("@pr-author: you cannot LGTM your own PR.")
        );
    }

    /// Prow lgtm: the author may cancel.
    #[tokio::test]
    async fn author_may_cancel() {
        let forge = MemoryForge::default();
        forge.set_labels(&["lgtm"]);
        let actions = forge
            .run(&Lgtm, &comment_on_pr("pr-author", "/lgtm cancel"))
            .await
            .expect("handled");
        assert_eq!(
            actions,
            vec![
                Action::RemoveLabel {
                    item: pr_ref(),
                    label: LABEL.into()
                },
                Action::Remember {
                    item: pr_ref(),
                    fact: crate::Fact::Lgtm { by: vec![] }
                }
            ]
        );
    }

    /// Prow lgtm: non-collaborators cannot even cancel.
    #[tokio::test]
    async fn outsider_is_refused_even_to_cancel() {
        let forge = MemoryForge::default();
        forge.set_labels(&["lgtm"]);
        for body in ["/lgtm", "/lgtm cancel"] {
            let actions = forge
                .run(&Lgtm, &comment_on_pr("mallory", body))
                .await
                .expect("handled");
            assert!(
                reply_text(&actions)
                    .expect("reply")
                    .contains("changing LGTM is restricted to collaborators")
            );
            assert_eq!(actions.len(), 1);
        }
    }

    /// Already in the desired state: nothing but the assignment.
    #[tokio::test]
    async fn no_change_when_already_lgtm() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        forge.set_labels(&["LGTM"]);
        let actions = forge
            .run(&Lgtm, &comment_on_pr("alice", "/lgtm"))
            .await
            .expect("handled");
        assert!(labels_added(&actions).is_empty());
    }

    fn review(state: ReviewState, body: &str) -> Event {
        let Event::Comment(mut c) = comment_on_pr("alice", body) else {
            unreachable!()
        };
        c.source = CommentSource::Review;
        c.review = Some(state);
        Event::Comment(c)
    }

    /// Prow lgtm: with review_acts_as_lgtm, an approval adds and changes-requested removes.
    #[tokio::test]
    async fn reviews_act_as_lgtm_only_when_configured() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        assert!(
            forge
                .run(&Lgtm, &review(ReviewState::Approved, ""))
                .await
                .expect("handled")
                .is_empty()
        );
        let on = serde_json::json!({"review_acts_as_lgtm": true});
        let actions = forge
            .run_with(&Lgtm, &review(ReviewState::Approved, "looks fine"), &on)
            .await
            .expect("handled");
        assert_eq!(labels_added(&actions), vec![LABEL]);
        forge.set_labels(&["lgtm"]);
        let actions = forge
            .run_with(&Lgtm, &review(ReviewState::ChangesRequested, ""), &on)
            .await
            .expect("handled");
        assert!(actions.contains(&Action::RemoveLabel {
            item: pr_ref(),
            label: LABEL.into()
        }));
        assert!(
            forge
                .run_with(&Lgtm, &review(ReviewState::Commented, ""), &on)
                .await
                .expect("handled")
                .iter()
                .all(|a| !matches!(a, Action::AddLabel { .. } | Action::RemoveLabel { .. }))
        );
    }

    fn synchronize() -> Event {
        Event::PullRequest(PullRequestEvent {
            pr: match comment_on_pr("x", "") {
                Event::Comment(c) => c.item,
                _ => unreachable!(),
            },
            action: PrAction::Synchronized {
                before: Some("head0".into()),
            },
            sender: Login::new("pr-author"),
            head_sha: "head1".into(),
            base_sha: None,
            head_ref: "feature".into(),
            base_ref: "main".into(),
        })
    }

    /// Prow lgtm: new commits remove the label and say so.
    #[tokio::test]
    async fn new_commits_remove_lgtm() {
        let forge = MemoryForge::default();
        assert!(
            forge
                .run(&Lgtm, &synchronize())
                .await
                .expect("handled")
                .is_empty(),
            "no label, nothing to do"
        );
        forge.set_labels(&["lgtm"]);
        let actions = forge.run(&Lgtm, &synchronize()).await.expect("handled");
        assert_eq!(
            actions[0],
            Action::RemoveLabel {
                item: pr_ref(),
                label: LABEL.into()
            }
        );
        assert!(
            matches!(&actions[1], Action::UpsertBotComment { body, .. } if body == "New changes are detected. LGTM label has been removed.")
        );
        assert_eq!(
            actions[2],
            Action::Remember {
                item: pr_ref(),
                fact: crate::Fact::Lgtm { by: vec![] }
            },
            "bosun's record forgets who LGTM'd"
        );
    }

    /// Prow lgtm: with store_tree_hash, a push with the same tree keeps the label.
    #[tokio::test]
    async fn same_tree_keeps_lgtm() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        forge.with(|s| {
            s.commit_trees.insert("head0".into(), "tree-a".into());
            s.commit_trees.insert("head1".into(), "tree-a".into());
        });
        let on = serde_json::json!({"store_tree_hash": true});
        let actions = forge
            .run_with(&Lgtm, &comment_on_pr("alice", "/lgtm"), &on)
            .await
            .expect("handled");
        let notice = actions
            .iter()
            .find_map(|a| match a {
                Action::UpsertBotComment { body, .. } => Some(body.clone()),
                _ => None,
            })
            .expect("tree hash notice");
        assert_eq!(
            notice,
            "LGTM label has been added.  <details>Git tree hash: tree-a</details>"
        );
        forge.with(|s| {
            s.pr.labels = vec!["lgtm".into()];
            s.comments.push(crate::BotComment {
                id: 9,
                author: Login::new("bosun-bot"),
                body: crate::marker::append(&notice, &crate::marker::notice(TREE_HASH_MARKER)),
                created_at: "2024-01-01T00:00:09Z".into(),
            });
        });
        assert!(
            forge
                .run_with(&Lgtm, &synchronize(), &on)
                .await
                .expect("handled")
                .is_empty()
        );
        forge.with(|s| s.commit_trees.insert("head1".into(), "tree-b".into()));
        assert_eq!(
            forge
                .run_with(&Lgtm, &synchronize(), &on)
                .await
                .expect("handled")
                .len(),
            3,
            "label removed, notice posted, fact recorded"
        );
    }

    /// Prow lgtm: with store_tree_hash, a cancel also drops the tree-hash notice.
    #[tokio::test]
    async fn cancel_with_tree_hash_drops_the_notice() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        forge.set_labels(&["lgtm"]);
        let on = serde_json::json!({"store_tree_hash": true});
        let actions = forge
            .run_with(&Lgtm, &comment_on_pr("alice", "/lgtm cancel"), &on)
            .await
            .expect("handled");
        assert!(actions.contains(&Action::DeleteBotComment {
            item: pr_ref(),
            marker: TREE_HASH_MARKER.into(),
            adopt: Some(TREE_HASH_PREFIX.into()),
        }));
        let off = forge
            .run(&Lgtm, &comment_on_pr("alice", "/lgtm cancel"))
            .await
            .expect("handled");
        assert!(
            !off.iter()
                .any(|a| matches!(a, Action::DeleteBotComment { .. }))
        );
    }

    /// Prow lgtm (§3.1): with store_tree_hash, when the label goes the assignees are asked to
    /// review again (never the author).
    #[tokio::test]
    async fn when_lgtm_goes_the_assignees_are_asked_to_review_again() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        forge.set_labels(&["lgtm"]);
        forge.with(|s| {
            s.pr.assignees = vec![
                Login::new("alice"),
                Login::new("bob"),
                Login::new("pr-author"),
            ]
        });
        let on = serde_json::json!({"store_tree_hash": true});
        let asked = |actions: &[Action]| {
            actions.iter().find_map(|a| match a {
                Action::RequestReviewers { users, .. } => Some(users.clone()),
                _ => None,
            })
        };
        let cancel = forge
            .run_with(&Lgtm, &comment_on_pr("alice", "/lgtm cancel"), &on)
            .await
            .expect("handled");
        assert_eq!(
            asked(&cancel),
            Some(vec![Login::new("alice"), Login::new("bob")])
        );
        let pushed = forge
            .run_with(&Lgtm, &synchronize(), &on)
            .await
            .expect("handled");
        assert_eq!(
            asked(&pushed),
            Some(vec![Login::new("alice"), Login::new("bob")])
        );
        let off = forge
            .run(&Lgtm, &comment_on_pr("alice", "/lgtm cancel"))
            .await
            .expect("handled");
        assert_eq!(
            asked(&off),
            None,
            "Prow re-requests only with store_tree_hash"
        );
    }

    /// Prow lgtm with `owners.skip_collaborators`: OWNERS reviewers and approvers of the
    /// changed files may /lgtm (collaborators or not) and are not assigned; others get Prow's
    /// reply, even to cancel.
    #[tokio::test]
    async fn skip_collaborators_lets_owners_decide() {
        let forge = MemoryForge::default().with_owners_policy(crate::owners::OwnersPolicy {
            skip_collaborators: vec!["org".into()],
            ..Default::default()
        });
        forge.add_collaborators(&["collab"]);
        forge.with(|s| {
            s.files.insert(
                "OWNERS".into(),
                b"approvers: [root]\nreviewers: [Rev]\n".to_vec(),
            );
            s.changed_files = vec![crate::forge::ChangedFile {
                path: "a.go".into(),
                previous_path: None,
                additions: 1,
                deletions: 0,
            }];
        });
        for who in ["rev", "root"] {
            let actions = forge
                .run(&Lgtm, &comment_on_pr(who, "/lgtm"))
                .await
                .expect("handled");
            assert_eq!(labels_added(&actions), vec![LABEL], "{who}");
            assert!(
                !actions.iter().any(|a| matches!(a, Action::Assign { .. })),
                "{who}: {actions:?}"
            );
        }
        for cmd in ["/lgtm", "/lgtm cancel"] {
            let actions = forge
                .run(&Lgtm, &comment_on_pr("collab", cmd))
                .await
                .expect("handled");
            assert!(labels_added(&actions).is_empty());
            assert!(
                reply_text(&actions)
                    .expect("reply")
                    .starts_with(&format!("@collab: {OWNERS_RESTRICTED}")),
                "{actions:?}"
            );
        }
        // Elsewhere collaborators decide, as before.
        let elsewhere = MemoryForge::default();
        elsewhere.add_collaborators(&["collab"]);
        let actions = elsewhere
            .run(&Lgtm, &comment_on_pr("collab", "/lgtm"))
            .await
            .expect("handled");
        assert_eq!(labels_added(&actions), vec![LABEL]);
    }

    /// Prow lgtm: authors in the sticky team keep lgtm on new commits.
    #[tokio::test]
    async fn sticky_team_keeps_lgtm() {
        let forge = MemoryForge::default();
        forge.set_labels(&["lgtm"]);
        forge.with(|s| {
            s.teams.insert(
                "trusted".into(),
                [Login::new("pr-author")].into_iter().collect(),
            );
        });
        let on = serde_json::json!({"trusted_team_for_sticky_lgtm": "trusted"});
        assert!(
            forge
                .run_with(&Lgtm, &synchronize(), &on)
                .await
                .expect("handled")
                .is_empty()
        );
    }

    /// Closed PRs and issues are left alone.
    #[tokio::test]
    async fn only_open_prs() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        let Event::Comment(mut c) = comment_on_pr("alice", "/lgtm") else {
            unreachable!()
        };
        c.item.state = crate::ItemState::Closed;
        assert!(
            forge
                .run(&Lgtm, &Event::Comment(c.clone()))
                .await
                .expect("handled")
                .is_empty()
        );
        c.item.state = crate::ItemState::Open;
        c.item.reference.kind = crate::ItemKind::Issue;
        assert!(
            forge
                .run(&Lgtm, &Event::Comment(c))
                .await
                .expect("handled")
                .is_empty()
        );
    }
}
