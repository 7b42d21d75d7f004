//! What plugins decide. Actions are data: the executor journals each one before applying it,
//! tests compare them, and dry-run records them without touching the forge.

use crate::event::ItemRef;
use serde::{Deserialize, Serialize};

/// One change on the forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    /// Add a label (a no-op when it is already there).
    AddLabel { item: ItemRef, label: String },
    /// Remove a label (a no-op when it is absent).
    RemoveLabel { item: ItemRef, label: String },
    /// Post a new comment.
    Comment { item: ItemRef, body: String },
    /// Create the bot's comment carrying `marker`, or edit it in place when it exists, so one
    /// notice is kept up to date instead of a new one per event.
    UpsertBotComment {
        item: ItemRef,
        marker: String,
        body: String,
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
        }
    }

    /// The item the action changes.
    pub fn item(&self) -> &ItemRef {
        match self {
            Action::AddLabel { item, .. }
            | Action::RemoveLabel { item, .. }
            | Action::Comment { item, .. }
            | Action::UpsertBotComment { item, .. } => item,
        }
    }

    /// A one-line human description of the target, for the audit log.
    pub fn target(&self) -> String {
        match self {
            Action::AddLabel { item, label } | Action::RemoveLabel { item, label } => {
                format!("{item} {label}")
            }
            Action::Comment { item, .. } => item.to_string(),
            Action::UpsertBotComment { item, marker, .. } => format!("{item} [{marker}]"),
        }
    }
}
