//! `approve`: `/approve`, `/approve no-issue`, `/approve cancel` and `/remove-approve`, counted
//! per file against OWNERS (reference/prow.md §3.2). Like Prow, the state is re-derived from
//! the PR's whole history on every event (comments, reviews, the author), so an edited or
//! missed event can never leave it wrong; the `approved` label and one notifier comment in
//! Prow's `[APPROVALNOTIFIER]` format follow from it.
//!
//! Differences from Prow: the notifier is one bot comment edited in place (found by a hidden
//! marker) instead of deleted and re-posted, and Prow's own notifier on the same account is
//! taken over (edited into bosun's; further copies deleted), so there is never a second one; on GitLab, where GitLab owns `/approve`, the
//! command is `/bosun-approve` and every native MR approval counts as an approval from that
//! user (GitLab reports approvals without a time, so they are applied after the comments).

mod notifier;
mod replay;

pub use replay::{
    Approval, HistoryEntry, How, associated_issue, has_approval_command, history, replay,
};

use crate::command::body_command_text;
use crate::owners::{ApprovalCheck, Logins, normalize_login};
use crate::{
    Action, CommandHelp, CommentAction, CommentEvent, CommentSource, Context, Event, ForgeKind,
    Item, ItemState, Login, Plugin, PluginError, PluginHelp, PrAction, PullRequestEvent,
    PullRequestInfo, ReviewState,
};
use async_trait::async_trait;
use notifier::{IssueLine, Links, MANUAL_TEXT, Notice};
use serde::Deserialize;

/// The label.
pub const LABEL: &str = "approved";
/// Marker of the notifier comment.
pub const NOTIFIER_MARKER: &str = "approve-notifier";
/// How every notifier opens, bosun's and Prow's.
pub const NOTIFIER_PREFIX: &str = "[APPROVALNOTIFIER]";

/// `[settings.approve."org/repo"]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApproveSettings {
    /// The PR must reference an issue (`#123` or an issue URL in the description), or get
    /// `/approve no-issue`. Default false.
    pub issue_required: bool,
    /// The author's own PR is not implicitly approved by them. Default false (it is).
    pub require_self_approval: bool,
    /// `/lgtm` (and `/lgtm cancel`) also count as `/approve` (and its cancel). Default false.
    pub lgtm_acts_as_approve: bool,
    /// Review verdicts do not count (GitLab native approvals always do). Default false.
    pub ignore_review_state: bool,
    /// Linked from the notifier as "the Code Review Process".
    pub pr_process_link: String,
}

impl Default for ApproveSettings {
    fn default() -> Self {
        ApproveSettings {
            issue_required: false,
            require_self_approval: false,
            lgtm_acts_as_approve: false,
            ignore_review_state: false,
            pr_process_link:
                "https://git.k8s.io/community/contributors/guide/owners.md#the-code-review-process"
                    .into(),
        }
    }
}

/// bosun's own account (its notifier).
fn is_self(login: &Login, bot: &Login) -> bool {
    login
        .without_bot_suffix()
        .eq_ignore_ascii_case(bot.without_bot_suffix())
}

/// The plugin.
pub struct Approve;

/// What triggered a recompute, with the item it is about.
struct Trigger<'a> {
    item: &'a Item,
    /// A human just added the `approved` label.
    labeled_by_human: bool,
}

impl Approve {
    async fn recompute(
        &self,
        trigger: Trigger<'_>,
        settings: &ApproveSettings,
        cx: &Context<'_>,
    ) -> Result<Vec<Action>, PluginError> {
        let item = trigger.item;
        let reference = &item.reference;
        let pr: PullRequestInfo = cx.forge.pull_request(reference).await?;
        if pr.state != ItemState::Open {
            return Ok(vec![]);
        }
        let (changed, too_many) = cx.changed_files(reference).await?;
        let files: Vec<String> = changed.into_iter().map(|f| f.path).collect();
        let owners = cx
            .owners
            .owners_on_branch(
                cx.forge,
                &reference.repo,
                &pr.base_ref,
                &pr.base_sha,
                &files,
            )
            .await?;
        let comments = cx.forge.comments(reference).await?;
        // bosun's notifier, and Prow's if Prow ran here before (same account, no marker).
        let notifiers: Vec<&str> = comments
            .iter()
            .filter(|c| is_self(&c.author, cx.bot))
            .map(|c| c.body.as_str())
            .filter(|b| {
                b.contains(&crate::marker::notice(NOTIFIER_MARKER))
                    || crate::marker::is_unmarked_notice(b, NOTIFIER_PREFIX)
            })
            .collect();
        let previous_notice = notifiers.last().map(|b| b.to_string());
        // Only bosun's one marked notifier can be left as it is; Prow's is taken over, and
        // copies go.
        let sole_own_notifier =
            notifiers.len() == 1 && notifiers[0].contains(&crate::marker::notice(NOTIFIER_MARKER));
        let reviews = cx.forge.reviews(reference).await?;
        let entries = history(comments, reviews, reference.forge);
        let approvals = replay(&pr.author, &entries, settings, reference.forge, &|l| {
            cx.is_bot(l)
        });
        let approver_logins: Logins = approvals.keys().cloned().collect();
        let check = ApprovalCheck::new(&owners, &files);
        let files_approved = check.files_approved(&approver_logins);

        let org = reference.repo.owner();
        let issue = associated_issue(&pr.body, org);
        let no_issue_helps = approvals.values().any(|a| {
            a.no_issue
                && files
                    .iter()
                    .any(|f| owners.approvers(f).contains(&normalize_login(&a.login)))
        });
        // With more files than bosun looks at, unseen files might need other approvers.
        let files_approved = files_approved && !too_many;
        let requirements_met =
            files_approved && (!settings.issue_required || issue.is_some() || no_issue_helps);
        let has_label = pr.labels.iter().any(|l| l == LABEL);
        let manual = has_label
            && (trigger.labeled_by_human
                || previous_notice
                    .as_deref()
                    .is_some_and(|b| b.contains(MANUAL_TEXT)));
        let approved = requirements_met || manual;

        let assignees: Logins = pr
            .assignees
            .iter()
            .map(|a| normalize_login(a.as_str()))
            .collect();
        let ccs = check.suggest_approvers(&approver_logins, &assignees, reference.number);
        let (assigned_ccs, suggested_ccs): (Vec<String>, Vec<String>) =
            ccs.iter().cloned().partition(|c| assignees.contains(c));
        let by_owners = check.approvers_by_owners(&approver_logins);
        let unapproved_keys = check.unapproved(&approver_logins);
        let files_lines = by_owners
            .iter()
            .map(|(key, people)| {
                let mut typed: Vec<String> = people
                    .iter()
                    .map(|p| approvals.get(p).map_or(p.clone(), |a| a.login.clone()))
                    .collect();
                typed.sort();
                let partial = check.partially_approved(key, &approver_logins);
                let unapproved = unapproved_keys.contains(key);
                (
                    key.clone(),
                    if unapproved && !partial {
                        vec![]
                    } else {
                        typed
                    },
                    partial,
                )
            })
            .collect();
        let issue_line = if !settings.issue_required {
            IssueLine::NotRequired
        } else if let Some(n) = issue {
            IssueLine::Associated(n)
        } else if no_issue_helps {
            IssueLine::Bypassed
        } else if manual {
            IssueLine::ManualBypass
        } else {
            IssueLine::Missing
        };
        let notice = Notice {
            approved,
            manual,
            files_approved,
            cut_at: too_many.then_some(cx.limits.max_changed_files),
            approvals: &approvals,
            pr_url: &item.html_url,
            assigned_ccs,
            suggested_ccs,
            all_ccs: ccs,
            issue: issue_line,
            help_url: cx.help_url,
            pr_process_link: &settings.pr_process_link,
            forge: reference.forge,
            files: files_lines,
            branch: &pr.base_ref,
            links: Links::new(item),
            repo_param: reference.repo.as_str().replace('/', "%2F"),
        }
        .render();

        let mut actions = Vec::new();
        let unchanged = sole_own_notifier
            && previous_notice
                .as_deref()
                .is_some_and(|old| old.starts_with(&notice));
        if !unchanged {
            actions.push(Action::UpsertBotComment {
                item: reference.clone(),
                marker: NOTIFIER_MARKER.into(),
                body: notice,
                // Prow's notifier on the same account is this notifier (§1.9, §3.2).
                adopt: Some(NOTIFIER_PREFIX.into()),
            });
            // Who approves changed exactly when the notice did: bosun's record follows it.
            let by = approvals
                .values()
                .map(|a| crate::Approver {
                    login: a.login.clone(),
                    how: a.how.text().into(),
                })
                .collect();
            actions.push(Action::Remember {
                item: reference.clone(),
                fact: crate::Fact::Approvals { by },
            });
        }
        if approved && !has_label {
            actions.push(Action::AddLabel {
                item: reference.clone(),
                label: LABEL.into(),
            });
        } else if !approved && has_label {
            actions.push(Action::RemoveLabel {
                item: reference.clone(),
                label: LABEL.into(),
            });
        }
        Ok(actions)
    }

    fn comment_triggers(c: &CommentEvent, settings: &ApproveSettings) -> bool {
        if !c.item.is_pr() || c.item.state != ItemState::Open {
            return false;
        }
        if c.source == CommentSource::Review {
            // A review's verdict counts on its own; a GitLab approval always does.
            let verdict = matches!(
                c.review,
                Some(
                    ReviewState::Approved
                        | ReviewState::ChangesRequested
                        | ReviewState::Dismissed
                        | ReviewState::Unapproved
                )
            );
            let gitlab_native = c.item.reference.forge == ForgeKind::GitLab;
            if verdict && (gitlab_native || !settings.ignore_review_state) {
                return true;
            }
        }
        match &c.action {
            CommentAction::Created | CommentAction::Edited { .. } => {
                has_approval_command(&crate::command::command_text(c), settings)
            }
            // A deleted /approve no longer counts: recompute.
            CommentAction::Deleted => has_approval_command(
                &body_command_text(&c.body, c.item.reference.forge),
                settings,
            ),
        }
    }

    fn pr_triggers<'e>(pr: &'e PullRequestEvent, cx: &Context<'_>) -> Option<Trigger<'e>> {
        let labeled_by_human = matches!(&pr.action, PrAction::Labeled { label } if label == LABEL)
            && !cx.is_bot(&pr.sender);
        let relevant = matches!(
            pr.action,
            PrAction::Opened
                | PrAction::Reopened
                | PrAction::Synchronized { .. }
                | PrAction::Approved
                | PrAction::Unapproved
        ) || labeled_by_human;
        (relevant && pr.pr.state == ItemState::Open).then_some(Trigger {
            item: &pr.pr,
            labeled_by_human,
        })
    }
}

#[async_trait]
impl Plugin for Approve {
    fn name(&self) -> &'static str {
        "approve"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Approves pull requests per file from OWNERS approvers: the `approved` label is added once an approver of every touched OWNERS file has approved, and one notifier comment lists who approved and whom to ask.",
            commands: vec![CommandHelp {
                usage: "/[remove-]approve [no-issue|cancel]",
                description: "Approves the pull request for the files your OWNERS entries cover, or withdraws your approval. On GitLab write /bosun-approve or approve the merge request natively.",
                examples: vec![
                    "/approve",
                    "/approve no-issue",
                    "/approve cancel",
                    "/remove-approve",
                    "/bosun-approve",
                ],
                who_can_use: "Anyone; it only counts for files whose OWNERS approvers list you.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        crate::plugin::check_settings_as::<ApproveSettings>(settings)
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let settings: ApproveSettings = cx.settings()?;
        let trigger = match event {
            Event::Comment(c) if Self::comment_triggers(c, &settings) => Trigger {
                item: &c.item,
                labeled_by_human: false,
            },
            Event::PullRequest(pr) => match Self::pr_triggers(pr, cx) {
                Some(t) => t,
                None => return Ok(vec![]),
            },
            _ => return Ok(vec![]),
        };
        self.recompute(trigger, &settings, cx).await
    }
}

#[cfg(test)]
mod tests;
