//! What plugins decide. Actions are data: the executor journals each one before applying it,
//! tests compare them, and dry-run records them without touching anything. Most change the
//! forge; [`Action::Remember`] changes bosun's own record of a PR and [`Action::Notify`] posts
//! to a chat channel, each applied with the same guarantees (see [`Action::destination`]).

use crate::event::{CiSystem, ForgeKind, ItemRef, Login, RepoPath};
use crate::fact::Fact;
use crate::forge::{CommitStatus, MergeMethod};
use serde::{Deserialize, Serialize};

/// Where an action takes effect; the executor has one target per destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// The forge's API.
    Forge(ForgeKind),
    /// bosun's own store (facts about a PR).
    Bosun,
    /// A chat channel configured under this name.
    Channel(&'a str),
    /// The chat conversation a command came from.
    Reply,
    /// A CI system's API (a forge's CI, or Drone).
    Ci(CiSystem),
    /// bosun's own queue, filled from what the forge lists (re-evaluating a branch's PRs).
    Requeue(ForgeKind),
}

/// What running CI means for one context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "how")]
pub enum CiRun {
    /// Run a finished run again: all of it, or only what failed (GitHub Actions' failed jobs,
    /// GitLab's failed jobs; Drone restarts the whole build).
    Rerun { run_id: String, failed_only: bool },
    /// Start CI afresh on the PR's head: a new MR pipeline, a new Drone build of the branch.
    Start { git_ref: String, sha: String },
    /// Run a GitHub Actions workflow that has a `workflow_dispatch` trigger on a branch.
    Dispatch { workflow: String, git_ref: String },
}

/// Where a reply to a chat command goes: the platform, its reply URL (DingTalk's
/// `sessionWebhook`, Slack's `response_url`, both short-lived) and the chat user to @. A Slack
/// app mention has no reply URL: it names the `channel` (and the `thread` to answer in), and
/// the reply is posted there with the app's bot token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub platform: String,
    pub url: String,
    pub user: String,
    /// A Slack app mention's channel id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The thread to answer in (the mention's `thread_ts`, else its own `ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

/// A button under a chat message that opens a link (a deploy or promote page); platforms
/// without buttons show it as a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// What the button says ("Deploy", "部署").
    pub title: String,
    /// What it opens.
    pub url: String,
}

/// A message for a chat channel: a title, Markdown text, an optional link to open, and the
/// forge users to @ (the channel maps them to chat accounts; unknown ones are not mentioned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub title: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Login>,
    /// More links as buttons, after the one to `link`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
}

/// The reply the executor posts when the forge's answer leaves out users an action asked for
/// (Prow's "GitHub didn't allow me to assign the following users: a, b."): the text before the
/// names and the text after them. The plugin words it, since only it knows the command it
/// answers; only the executor knows, after the call, whom the forge left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingUsersReply {
    pub before: String,
    pub after: String,
}

impl MissingUsersReply {
    /// The reply naming `names`, joined with ", " as Prow does.
    pub fn body<S: AsRef<str>>(&self, names: &[S]) -> String {
        let names: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        format!("{}{}{}", self.before, names.join(", "), self.after)
    }
}

/// One change on the forge, in bosun's record, or in a chat channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// Add a label (a no-op when it is already there).
    AddLabel {
        item: ItemRef,
        label: String,
    },
    /// Remove a label (a no-op when it is absent).
    RemoveLabel {
        item: ItemRef,
        label: String,
    },
    /// Post a new comment.
    Comment {
        item: ItemRef,
        body: String,
    },
    /// Create the bot's comment carrying `marker`, or edit it in place when it exists, so one
    /// notice is kept up to date instead of a new one per event. With `adopt`, a bot comment
    /// without any bosun marker that starts with that text (the same notice as Prow wrote it
    /// on the same account) is this notice too: it is edited into bosun's, and any further
    /// copies are deleted, so the item ends with exactly one.
    UpsertBotComment {
        item: ItemRef,
        marker: String,
        body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adopt: Option<String>,
    },
    /// Delete the bot's comments carrying `marker` (and, with `adopt`, those without a bosun
    /// marker starting with that text), if there are any.
    DeleteBotComment {
        item: ItemRef,
        marker: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        adopt: Option<String>,
    },
    /// Create a repository label if it is missing.
    CreateLabel {
        forge: ForgeKind,
        repo: RepoPath,
        name: String,
        color: String,
    },
    /// Add assignees. With `report`, users the forge's answer does not list as assigned are
    /// named in a reply (absent in actions journaled before it existed: nothing is said).
    Assign {
        item: ItemRef,
        users: Vec<Login>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<MissingUsersReply>,
    },
    Unassign {
        item: ItemRef,
        users: Vec<Login>,
    },
    /// Request reviews. With `report`, users the forge's answer does not list as requested
    /// are named in a reply (teams are not checked).
    RequestReviewers {
        item: ItemRef,
        users: Vec<Login>,
        teams: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<MissingUsersReply>,
    },
    UnrequestReviewers {
        item: ItemRef,
        users: Vec<Login>,
        teams: Vec<String>,
    },
    SetTitle {
        item: ItemRef,
        title: String,
    },
    /// Puts the item in a milestone, or takes it out of its milestone (`None`).
    SetMilestone {
        item: ItemRef,
        milestone: Option<crate::forge::Milestone>,
    },
    /// Close; `reason` is GitHub's `state_reason` (absent in actions journaled before it
    /// existed, which close with the forge's default).
    Close {
        item: ItemRef,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<crate::forge::CloseReason>,
    },
    Reopen {
        item: ItemRef,
    },
    /// Merge, refusing if the head is no longer `sha`.
    Merge {
        item: ItemRef,
        method: MergeMethod,
        sha: Option<String>,
        /// The base branch. Merges into one branch go one at a time, in the order they became
        /// ready (bosun's merge queue); `None` merges at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<String>,
        /// Merge only while the head contains its base branch's tip (tide's
        /// `retest_before_merge`): checked again when the merge's turn comes.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        up_to_date: bool,
        /// The commit message to write (tide's templates); the forge's default when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        commit: Option<crate::CommitMessage>,
    },
    /// Bring a PR up to date with its base branch, so its CI runs against the current base
    /// (GitHub's update-branch, GitLab's rebase), refused by the forge if the head is no
    /// longer `sha`.
    UpdateBranch {
        item: ItemRef,
        sha: String,
    },
    /// Look again at every open PR into `branch` after it moved to `sha`: each one whose
    /// readiness or conflicts may have changed is queued as a `bosun/resync` delivery.
    RecheckBranch {
        forge: ForgeKind,
        repo: RepoPath,
        branch: String,
        sha: String,
    },
    /// Ask the forge to merge once its pipeline succeeds (GitLab's merge when pipeline
    /// succeeds), refused by the forge if the head is no longer `sha`.
    AutoMerge {
        item: ItemRef,
        method: MergeMethod,
        sha: String,
    },
    SetStatus {
        forge: ForgeKind,
        repo: RepoPath,
        sha: String,
        status: CommitStatus,
    },
    /// Keep a fact about a PR in bosun's store (the newest of each key wins).
    Remember {
        item: ItemRef,
        fact: Fact,
    },
    /// Post a message to the chat channel configured as `channel`.
    Notify {
        channel: String,
        message: ChatMessage,
    },
    /// Answer a command that came from chat, in the conversation it came from.
    ChatReply {
        to: ReplyTo,
        text: String,
    },
    /// Run a PR's CI context again (or for the first time) on its CI system.
    RunCi {
        item: ItemRef,
        system: CiSystem,
        context: String,
        run: CiRun,
    },
    /// Bind a chat account to a forge account, redeeming the one-time code (by its SHA-256,
    /// hex) the chat user was given; `item` is where the forge user confirmed it. Decided by
    /// bosun's chat commands, never by a plugin.
    BindChatUser {
        item: ItemRef,
        chat_user: String,
        login: Login,
        code_hash: String,
    },
    /// Look at an item again no earlier than `after_ms` from now (a grace period for other
    /// automation to act first): queued as a `bosun/resync` delivery of its own that waits
    /// in the queue, holding no worker.
    LookAgain {
        item: ItemRef,
        after_ms: u64,
    },
    /// Apply the merged PR `item`'s change to another branch in a new PR, and answer on `item`
    /// with the reply worded for how it ended.
    CherryPick {
        item: ItemRef,
        request: crate::pick::CherryPickRequest,
        reply: crate::pick::CherryPickReply,
    },
    /// Move the issue `item` to the repository `to` of the same org (`/transfer-issue`).
    TransferIssue {
        item: ItemRef,
        to: RepoPath,
    },
}

impl Action {
    /// The short name stored in the `actions` table and used in metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::AddLabel { .. } => "add_label",
            Action::RemoveLabel { .. } => "remove_label",
            Action::Comment { .. } => "comment",
            Action::UpsertBotComment { .. } => "upsert_bot_comment",
            Action::DeleteBotComment { .. } => "delete_bot_comment",
            Action::CreateLabel { .. } => "create_label",
            Action::Assign { .. } => "assign",
            Action::Unassign { .. } => "unassign",
            Action::RequestReviewers { .. } => "request_reviewers",
            Action::UnrequestReviewers { .. } => "unrequest_reviewers",
            Action::SetTitle { .. } => "set_title",
            Action::SetMilestone { .. } => "set_milestone",
            Action::Close { .. } => "close",
            Action::Reopen { .. } => "reopen",
            Action::Merge { .. } => "merge",
            Action::AutoMerge { .. } => "auto_merge",
            Action::UpdateBranch { .. } => "update_branch",
            Action::RecheckBranch { .. } => "recheck_branch",
            Action::SetStatus { .. } => "set_status",
            Action::Remember { .. } => "remember",
            Action::Notify { .. } => "notify",
            Action::ChatReply { .. } => "chat_reply",
            Action::RunCi { .. } => "run_ci",
            Action::BindChatUser { .. } => "bind_chat_user",
            Action::LookAgain { .. } => "look_again",
            Action::CherryPick { .. } => "cherry_pick",
            Action::TransferIssue { .. } => "transfer_issue",
        }
    }

    /// The system the action changes.
    pub fn destination(&self) -> Destination<'_> {
        match self {
            Action::Remember { .. } | Action::BindChatUser { .. } => Destination::Bosun,
            Action::Notify { channel, .. } => Destination::Channel(channel),
            Action::ChatReply { .. } => Destination::Reply,
            Action::RunCi { system, .. } => Destination::Ci(*system),
            Action::RecheckBranch { forge, .. } => Destination::Requeue(*forge),
            Action::LookAgain { item, .. } => Destination::Requeue(item.forge),
            Action::CreateLabel { forge, .. } | Action::SetStatus { forge, .. } => {
                Destination::Forge(*forge)
            }
            Action::AddLabel { item, .. }
            | Action::RemoveLabel { item, .. }
            | Action::Comment { item, .. }
            | Action::UpsertBotComment { item, .. }
            | Action::DeleteBotComment { item, .. }
            | Action::Assign { item, .. }
            | Action::Unassign { item, .. }
            | Action::RequestReviewers { item, .. }
            | Action::UnrequestReviewers { item, .. }
            | Action::SetTitle { item, .. }
            | Action::SetMilestone { item, .. }
            | Action::Close { item, .. }
            | Action::Reopen { item }
            | Action::Merge { item, .. }
            | Action::UpdateBranch { item, .. }
            | Action::AutoMerge { item, .. }
            | Action::CherryPick { item, .. }
            | Action::TransferIssue { item, .. } => Destination::Forge(item.forge),
        }
    }

    /// The item the action changes, when it changes one (not labels or statuses of a repo).
    pub fn item(&self) -> Option<&ItemRef> {
        match self {
            Action::AddLabel { item, .. }
            | Action::RemoveLabel { item, .. }
            | Action::Comment { item, .. }
            | Action::UpsertBotComment { item, .. }
            | Action::DeleteBotComment { item, .. }
            | Action::Assign { item, .. }
            | Action::Unassign { item, .. }
            | Action::RequestReviewers { item, .. }
            | Action::UnrequestReviewers { item, .. }
            | Action::SetTitle { item, .. }
            | Action::SetMilestone { item, .. }
            | Action::Close { item, .. }
            | Action::Reopen { item }
            | Action::Merge { item, .. }
            | Action::UpdateBranch { item, .. }
            | Action::AutoMerge { item, .. }
            | Action::CherryPick { item, .. }
            | Action::TransferIssue { item, .. } => Some(item),
            Action::Remember { item, .. }
            | Action::RunCi { item, .. }
            | Action::BindChatUser { item, .. }
            | Action::LookAgain { item, .. } => Some(item),
            Action::CreateLabel { .. }
            | Action::RecheckBranch { .. }
            | Action::SetStatus { .. }
            | Action::Notify { .. }
            | Action::ChatReply { .. } => None,
        }
    }

    /// A one-line human description of the target, for the audit log.
    pub fn target(&self) -> String {
        let logins = |users: &[Login]| {
            users
                .iter()
                .map(|u| format!("@{u}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Action::AddLabel { item, label } | Action::RemoveLabel { item, label } => {
                format!("{item} {label}")
            }
            Action::UpsertBotComment { item, marker, .. }
            | Action::DeleteBotComment { item, marker, .. } => {
                format!("{item} [{marker}]")
            }
            Action::CreateLabel { repo, name, .. } => format!("{repo} {name}"),
            Action::Assign { item, users, .. } | Action::Unassign { item, users } => {
                format!("{item} {}", logins(users))
            }
            Action::RequestReviewers {
                item, users, teams, ..
            }
            | Action::UnrequestReviewers { item, users, teams } => {
                format!("{item} {} {}", logins(users), teams.join(" "))
                    .trim_end()
                    .to_string()
            }
            Action::SetTitle { item, title } => format!("{item} {title:?}"),
            Action::SetMilestone { item, milestone } => match milestone {
                Some(m) => format!("{item} {:?}", m.title),
                None => format!("{item} no milestone"),
            },
            Action::SetStatus {
                repo, sha, status, ..
            } => format!("{repo}@{sha} {}", status.context),
            Action::Remember { item, fact } => format!("{item} {fact}"),
            Action::Notify { channel, message } => format!("#{channel} {:?}", message.title),
            Action::ChatReply { to, .. } => format!("{} reply to {}", to.platform, to.user),
            Action::BindChatUser {
                item,
                chat_user,
                login,
                ..
            } => format!("{chat_user} as {} {login} (on {item})", item.forge),
            Action::RunCi {
                item, context, run, ..
            } => match run {
                CiRun::Rerun {
                    run_id,
                    failed_only: true,
                } => format!("{item} {context} (failed jobs of run {run_id})"),
                CiRun::Rerun { run_id, .. } => format!("{item} {context} (run {run_id})"),
                CiRun::Start { git_ref, .. } => format!("{item} {context} (new on {git_ref})"),
                CiRun::Dispatch { workflow, git_ref } => {
                    format!("{item} {context} (dispatch {workflow} on {git_ref})")
                }
            },
            Action::RecheckBranch {
                repo, branch, sha, ..
            } => format!("{repo} {branch}@{sha}"),
            Action::UpdateBranch { item, sha } => format!("{item} at {sha}"),
            Action::LookAgain { item, after_ms } => format!("{item} in {after_ms} ms"),
            Action::CherryPick { item, request, .. } => {
                format!("{item} onto {} as {}", request.target, request.branch)
            }
            Action::TransferIssue { item, to } => format!("{item} to {to}"),
            Action::Comment { item, .. }
            | Action::Close { item, .. }
            | Action::Reopen { item }
            | Action::Merge { item, .. }
            | Action::AutoMerge { item, .. } => item.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pr_ref;

    /// Actions journaled before `report` existed still read, as actions that say nothing; and
    /// one without a report is journaled as before.
    #[test]
    fn assign_and_review_requests_journaled_without_a_report_still_read() {
        let old = Action::Assign {
            item: pr_ref(),
            users: vec![Login::new("alice")],
            report: None,
        };
        let json = serde_json::to_value(&old).expect("serializes");
        assert!(json.get("report").is_none(), "{json}");
        assert_eq!(serde_json::from_value::<Action>(json).expect("reads"), old);

        let mut json = serde_json::to_value(Action::RequestReviewers {
            item: pr_ref(),
            users: vec![Login::new("bob")],
            teams: vec![],
            report: None,
        })
        .expect("serializes");
        assert!(json.get("report").is_none(), "{json}");
        json["report"] = serde_json::json!({"before": "@carol: no ", "after": "."});
        let Action::RequestReviewers {
            report: Some(report),
            ..
        } = serde_json::from_value::<Action>(json).expect("reads")
        else {
            panic!("a review request with its report")
        };
        assert_eq!(report.body(&["a", "b"]), "@carol: no a, b.");
    }
}
