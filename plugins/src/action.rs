//! What plugins decide. Actions are data: the executor journals each one before applying it,
//! tests compare them, and dry-run records them without touching the forge.

use crate::event::{ForgeKind, ItemRef, Login, RepoPath};
use crate::forge::{CommitStatus, MergeMethod};
use serde::{Deserialize, Serialize};

/// One change on the forge.
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
    /// notice is kept up to date instead of a new one per event.
    UpsertBotComment {
        item: ItemRef,
        marker: String,
        body: String,
    },
    /// Delete the bot's comment carrying `marker`, if there is one.
    DeleteBotComment {
        item: ItemRef,
        marker: String,
    },
    /// Create a repository label if it is missing.
    CreateLabel {
        forge: ForgeKind,
        repo: RepoPath,
        name: String,
        color: String,
    },
    Assign {
        item: ItemRef,
        users: Vec<Login>,
    },
    Unassign {
        item: ItemRef,
        users: Vec<Login>,
    },
    RequestReviewers {
        item: ItemRef,
        users: Vec<Login>,
        teams: Vec<String>,
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
    },
    SetStatus {
        forge: ForgeKind,
        repo: RepoPath,
        sha: String,
        status: CommitStatus,
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
            Action::Close { .. } => "close",
            Action::Reopen { .. } => "reopen",
            Action::Merge { .. } => "merge",
            Action::SetStatus { .. } => "set_status",
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
            | Action::Close { item, .. }
            | Action::Reopen { item }
            | Action::Merge { item, .. } => Some(item),
            Action::CreateLabel { .. } | Action::SetStatus { .. } => None,
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
            | Action::DeleteBotComment { item, marker } => {
                format!("{item} [{marker}]")
            }
            Action::CreateLabel { repo, name, .. } => format!("{repo} {name}"),
            Action::Assign { item, users } | Action::Unassign { item, users } => {
                format!("{item} {}", logins(users))
            }
            Action::RequestReviewers { item, users, teams }
            | Action::UnrequestReviewers { item, users, teams } => {
                format!("{item} {} {}", logins(users), teams.join(" "))
                    .trim_end()
                    .to_string()
            }
            Action::SetTitle { item, title } => format!("{item} {title:?}"),
            Action::SetStatus {
                repo, sha, status, ..
            } => format!("{repo}@{sha} {}", status.context),
            Action::Comment { item, .. }
            | Action::Close { item, .. }
            | Action::Reopen { item }
            | Action::Merge { item, .. } => item.to_string(),
        }
    }
}
