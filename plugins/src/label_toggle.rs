//! Commands that put one label on an item or take it off again (`/hold` and `/hold cancel`,
//! `/shrug` and `/unshrug`): the same reading and the same decision, whatever the label.

use crate::{Action, ItemRef};
use regex::Regex;

/// What a comment asks of the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    /// Put the label on.
    Add,
    /// Take the label off.
    Remove,
}

/// Finds the command in a comment's command text; taking off wins over putting on in the
/// same comment, as in Prow.
pub fn parse(add: &Regex, remove: &Regex, text: &str) -> Option<Toggle> {
    if remove.is_match(text) {
        Some(Toggle::Remove)
    } else if add.is_match(text) {
        Some(Toggle::Add)
    } else {
        None
    }
}

/// Adds only if absent, removes only if present: a command that changes nothing writes
/// nothing.
pub fn decide(toggle: Toggle, item: &ItemRef, label: &str, has_label: bool) -> Vec<Action> {
    match (toggle, has_label) {
        (Toggle::Add, false) => vec![Action::AddLabel {
            item: item.clone(),
            label: label.to_string(),
        }],
        (Toggle::Remove, true) => vec![Action::RemoveLabel {
            item: item.clone(),
            label: label.to_string(),
        }],
        _ => vec![],
    }
}
