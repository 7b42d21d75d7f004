//! Facts: what a plugin learned about a pull request that bosun should remember, reported as
//! data (an [`Action::Remember`](crate::Action::Remember)) rather than read back from labels or
//! comment text. The store keeps the latest fact of each [`Fact::key`] per PR, the PR page shows
//! them, and later deciders (merge automation, chat `status`) read them, so the queue never
//! needs to know which plugin knows what.

use crate::event::Login;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One thing known about a PR now; a newer fact with the same key replaces the older.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "fact")]
pub enum Fact {
    /// Who gave the PR its `lgtm` (empty: nobody, the label is gone).
    Lgtm { by: Vec<Login> },
    /// Who approves the PR now, as the approve plugin computed it (empty: nobody).
    Approvals { by: Vec<Approver> },
    /// CI contexts on a head as the forge reported them when bosun had heard of none: kept
    /// as CI state (as if their events had arrived), not as a fact of their own.
    Ci {
        sha: String,
        contexts: Vec<crate::CiContext>,
    },
    /// Where the PR stands for merging, as the tide plugin last said it on the forge (its
    /// status is set again only when this changes).
    Merge {
        sha: String,
        ready: bool,
        description: String,
    },
    /// The forge refused to merge this head for good (a conflict, a protected branch, a head
    /// that moved): tide says so and does not try this head again.
    MergeRefused { sha: String, reason: String },
}

/// One approver and how they came to approve ("Approved", "LGTM", "Author self-approved" …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ApproverForm")]
pub struct Approver {
    pub login: String,
    pub how: String,
}

/// The forms an approver is stored in: the struct, or the `login (how)` text that databases
/// written before facts existed hold (carried over by the `pr_facts` migration).
#[derive(Deserialize)]
#[serde(untagged)]
enum ApproverForm {
    Fields { login: String, how: String },
    Text(String),
}

impl From<ApproverForm> for Approver {
    fn from(form: ApproverForm) -> Self {
        match form {
            ApproverForm::Fields { login, how } => Approver { login, how },
            ApproverForm::Text(text) => {
                match text.strip_suffix(')').and_then(|t| t.split_once(" (")) {
                    Some((login, how)) => Approver {
                        login: login.into(),
                        how: how.into(),
                    },
                    None => Approver {
                        login: text,
                        how: String::new(),
                    },
                }
            }
        }
    }
}

impl Fact {
    /// What a fact is about; the store keeps one fact per key and PR.
    pub fn key(&self) -> String {
        match self {
            Fact::Lgtm { .. } => "lgtm".into(),
            Fact::Approvals { .. } => "approvals".into(),
            Fact::Ci { sha, .. } => format!("ci {sha}"),
            Fact::Merge { .. } => "merge".into(),
            Fact::MergeRefused { .. } => "merge-refused".into(),
        }
    }

    /// A short title for pages and the audit log.
    pub fn title(&self) -> &'static str {
        match self {
            Fact::Lgtm { .. } => "LGTM",
            Fact::Approvals { .. } => "Approvals",
            Fact::Ci { .. } => "CI",
            Fact::Merge { .. } => "Merge",
            Fact::MergeRefused { .. } => "Merge refused",
        }
    }

    /// The fact's values as separate short texts (one per person), for pages.
    pub fn values(&self) -> Vec<String> {
        match self {
            Fact::Lgtm { by } => by.iter().map(ToString::to_string).collect(),
            Fact::Approvals { by } => by
                .iter()
                .map(|a| match a.how.as_str() {
                    "" => a.login.clone(),
                    how => format!("{} ({how})", a.login),
                })
                .collect(),
            Fact::Ci { contexts, .. } => contexts
                .iter()
                .map(|c| format!("{}: {}", c.context, c.state.as_str()))
                .collect(),
            Fact::Merge { description, .. } => vec![description.clone()],
            Fact::MergeRefused { sha, reason } => vec![format!("{sha}: {reason}")],
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values();
        if values.is_empty() {
            write!(f, "{}: none", self.title())
        } else {
            write!(f, "{}: {}", self.title(), values.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_round_trip_and_describe_themselves() {
        let fact = Fact::Approvals {
            by: vec![Approver {
                login: "alice".into(),
                how: "Approved".into(),
            }],
        };
        let json = serde_json::to_string(&fact).expect("encode");
        assert_eq!(
            json,
            r#"{"fact":"approvals","by":[{"login":"alice","how":"Approved"}]}"#
        );
        assert_eq!(serde_json::from_str::<Fact>(&json).expect("decode"), fact);
        assert_eq!(fact.to_string(), "Approvals: alice (Approved)");
        assert_eq!(Fact::Lgtm { by: vec![] }.to_string(), "LGTM: none");
        assert_eq!(Fact::Lgtm { by: vec![] }.key(), "lgtm");
    }

    #[test]
    fn approvals_from_before_facts_decode() {
        let old: Fact =
            serde_json::from_str(r#"{"fact":"approvals","by":["alice (Approved)","bob"]}"#)
                .expect("decode the migrated form");
        assert_eq!(old.to_string(), "Approvals: alice (Approved), bob");
    }
}
