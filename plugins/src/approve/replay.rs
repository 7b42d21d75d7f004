//! Replaying a PR's history into its current approvals (reference/prow.md §3.2 steps 2-5):
//! comments and reviews merged by time, each command and verdict applied in turn.

use super::ApproveSettings;
use crate::command::body_command_text;
use crate::forge::{BotComment, Review};
use crate::owners::normalize_login;
use crate::{ForgeKind, Login, ReviewState};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Prow's approval command reader: command = the word after `/`, args = the rest of the line.
static COMMAND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/([^\t\n\x0C\r ]+)[\t ]*([^\n\r]*)").expect("static regex"));

/// How someone came to be an approver (the notifier's `title`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    AuthorSelfApproved,
    Approved,
    Lgtm,
    ApprovingReview,
}

impl How {
    /// The notifier's `title` for it.
    pub fn text(self) -> &'static str {
        match self {
            How::AuthorSelfApproved => "Author self-approved",
            How::Approved => "Approved",
            How::Lgtm => "LGTM",
            How::ApprovingReview => "Approved",
        }
    }
}

/// One current approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The login as the forge spells it.
    pub login: String,
    pub how: How,
    pub no_issue: bool,
}

/// One entry of the PR's history, in time order.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub author: Login,
    pub body: String,
    pub review: Option<ReviewState>,
    /// A GitLab native approval (counts whatever `ignore_review_state` says).
    pub native_approval: bool,
}

/// Merges comments and reviews by time; reviews without a time (GitLab approvals) go last.
pub fn history(
    comments: Vec<BotComment>,
    reviews: Vec<Review>,
    forge: ForgeKind,
) -> Vec<HistoryEntry> {
    let mut timed: Vec<(String, HistoryEntry)> = comments
        .into_iter()
        .map(|c| {
            (
                c.created_at,
                HistoryEntry {
                    author: c.author,
                    body: c.body,
                    review: None,
                    native_approval: false,
                },
            )
        })
        .collect();
    let mut untimed = Vec::new();
    for r in reviews {
        let entry = HistoryEntry {
            author: r.author,
            body: r.body,
            review: Some(r.state),
            native_approval: forge == ForgeKind::GitLab && r.state == ReviewState::Approved,
        };
        if r.submitted_at.is_empty() {
            untimed.push(entry);
        } else {
            timed.push((r.submitted_at, entry));
        }
    }
    timed.sort_by(|a, b| a.0.cmp(&b.0));
    timed.into_iter().map(|(_, e)| e).chain(untimed).collect()
}

/// True when the text carries a command that approve acts on.
pub fn has_approval_command(text: &str, settings: &ApproveSettings) -> bool {
    COMMAND.captures_iter(text).any(|c| {
        let cmd = c[1].to_ascii_uppercase();
        cmd == "APPROVE"
            || cmd == "REMOVE-APPROVE"
            || (settings.lgtm_acts_as_approve && cmd == "LGTM")
    })
}

/// Replays the history into the current approvals, keyed by normalized login (§3.2 step 5).
pub fn replay(
    author: &Login,
    entries: &[HistoryEntry],
    settings: &ApproveSettings,
    forge: ForgeKind,
    is_bot: &dyn Fn(&Login) -> bool,
) -> BTreeMap<String, Approval> {
    let mut approvals: BTreeMap<String, Approval> = BTreeMap::new();
    let add =
        |approvals: &mut BTreeMap<String, Approval>, login: &Login, how: How, no_issue: bool| {
            let key = normalize_login(login.as_str());
            let keep_no_issue = approvals.get(&key).is_some_and(|a| a.no_issue) && !no_issue;
            approvals.insert(
                key,
                Approval {
                    login: login.as_str().to_string(),
                    how,
                    no_issue: no_issue || keep_no_issue,
                },
            );
        };
    if !settings.require_self_approval {
        add(&mut approvals, author, How::AuthorSelfApproved, false);
    }
    for entry in entries {
        if is_bot(&entry.author) {
            continue;
        }
        let key = normalize_login(entry.author.as_str());
        let counts_review = entry.native_approval || !settings.ignore_review_state;
        match entry.review {
            Some(ReviewState::Approved) if counts_review => {
                add(&mut approvals, &entry.author, How::ApprovingReview, false);
            }
            Some(ReviewState::ChangesRequested) if counts_review => {
                approvals.remove(&key);
            }
            _ => {}
        }
        let text = body_command_text(&entry.body, forge);
        for cap in COMMAND.captures_iter(&text) {
            let cmd = cap[1].to_ascii_uppercase();
            let args = cap[2].trim().to_lowercase();
            let is_lgtm = settings.lgtm_acts_as_approve && cmd == "LGTM";
            if cmd == "REMOVE-APPROVE" {
                approvals.remove(&key);
            } else if cmd == "APPROVE" || is_lgtm {
                if args.contains("cancel") {
                    approvals.remove(&key);
                    continue;
                }
                if entry.author == *author {
                    add(
                        &mut approvals,
                        &entry.author,
                        How::AuthorSelfApproved,
                        false,
                    );
                }
                let how = if is_lgtm { How::Lgtm } else { How::Approved };
                add(&mut approvals, &entry.author, how, args == "no-issue");
            }
        }
    }
    approvals
}

/// The issue a PR description references: `#N` or `<org>/<repo>/issues/N` (Prow's regex).
pub fn associated_issue(body: &str, org: &str) -> Option<u64> {
    let re = Regex::new(&format!(r"(?:{}/[^/]+/issues/|#)(\d+)", regex::escape(org))).ok()?;
    re.captures(body)
        .and_then(|c| c[1].parse().ok())
        .filter(|n| *n > 0)
}
