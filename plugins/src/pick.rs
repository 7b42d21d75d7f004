//! Cherry-picking through a forge's API, apart from the plugin that asks for it: what the
//! forge is asked ([`CherryPickRequest`]), how it ended ([`CherryPickOutcome`]), and the reply
//! the asking plugin worded for each ending ([`CherryPickReply`]), so the executor answers
//! without knowing which plugin asked or how it words things.

use crate::event::{ForgeKind, Login};
use serde::{Deserialize, Serialize};

/// What the forge is asked to do: apply a merged PR's commits to `target` on a new branch and
/// open a PR from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CherryPickRequest {
    /// The branch to apply the change to.
    pub target: String,
    /// The new branch.
    pub branch: String,
    /// The new PR's title.
    pub title: String,
    /// The new PR's description.
    pub body: String,
    /// Who asked; assigned to the new PR.
    pub requester: Login,
}

/// How a cherry-pick ended on the forge; each ending is answered on the source PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum CherryPickOutcome {
    /// The new PR/MR, by number.
    Created { number: u64 },
    /// An open PR/MR from the same branch into the same target already exists.
    Exists { number: u64 },
    /// The forge could not apply a commit; its message.
    Conflict { message: String },
    /// The target branch does not exist.
    NoSuchBranch,
}

/// Text around one value only known after the forge call (a PR reference, a message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Around {
    /// The text before the value.
    pub before: String,
    /// The text after the value.
    pub after: String,
}

impl Around {
    /// The text with `value` in its place.
    pub fn with(&self, value: &str) -> String {
        format!("{}{value}{}", self.before, self.after)
    }
}

/// The reply for each ending, as the asking plugin words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CherryPickReply {
    /// Around the new PR's reference (`#12`, `!12`).
    pub created: Around,
    /// Around the reference of the open PR made for the same pick before.
    pub exists: Around,
    /// Around the forge's conflict message.
    pub conflict: Around,
    /// When the target branch does not exist.
    pub no_branch: String,
}

impl CherryPickReply {
    /// The reply to post for `outcome`.
    pub fn body(&self, forge: ForgeKind, outcome: &CherryPickOutcome) -> String {
        match outcome {
            CherryPickOutcome::Created { number } => self.created.with(&reference(forge, *number)),
            CherryPickOutcome::Exists { number } => self.exists.with(&reference(forge, *number)),
            CherryPickOutcome::Conflict { message } => self.conflict.with(message),
            CherryPickOutcome::NoSuchBranch => self.no_branch.clone(),
        }
    }
}

/// How a PR/MR of this forge is referred to in text: `#n` or `!n`.
pub fn reference(forge: ForgeKind, number: u64) -> String {
    match forge {
        ForgeKind::GitHub => format!("#{number}"),
        ForgeKind::GitLab => format!("!{number}"),
    }
}
