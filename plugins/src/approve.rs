//! `approve`: `/approve`, `/approve no-issue`, `/approve cancel` and `/remove-approve`, counted
//! per file against OWNERS (reference/prow.md §3.2). Like Prow, the state is re-derived from
//! the PR's whole history on every event (comments, reviews, the author), so an edited or
//! missed event can never leave it wrong; the `approved` label and one notifier comment in
//! Prow's `[APPROVALNOTIFIER]` format follow from it.
//!
//! Differences from Prow: the notifier is one bot comment edited in place (found by a hidden
//! marker) instead of deleted and re-posted; on GitLab, where GitLab owns `/approve`, the
//! command is `/bosun-approve` and every native MR approval counts as an approval from that
//! user (GitLab reports approvals without a time, so they are applied after the comments).

use crate::command::body_command_text;
use crate::forge::{BotComment, Review};
use crate::owners::{ApprovalCheck, Logins, normalize_login};
use crate::{
    Action, CommandHelp, CommentAction, CommentEvent, CommentSource, Context, Event, ForgeKind,
    Item, ItemState, Login, Plugin, PluginError, PluginHelp, PrAction, PullRequestEvent,
    PullRequestInfo, ReviewState,
};
use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

/// The label.
pub const LABEL: &str = "approved";
/// Marker of the notifier comment.
pub const NOTIFIER_MARKER: &str = "approve-notifier";
const MANUAL_TEXT: &str = "Approval requirements bypassed by manually added approval.";

/// Prow's approval command reader: command = the word after `/`, args = the rest of the line.
static COMMAND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^/([^\t\n\x0C\r ]+)[\t ]*([^\n\r]*)").expect("static regex"));

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

/// How someone came to be an approver (the notifier's `title`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    AuthorSelfApproved,
    Approved,
    Lgtm,
    ApprovingReview,
}

impl How {
    fn text(self) -> &'static str {
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

/// bosun's own account (its notifier).
fn is_self(login: &Login, bot: &Login) -> bool {
    login
        .without_bot_suffix()
        .eq_ignore_ascii_case(bot.without_bot_suffix())
}

/// The issue a PR description references: `#N` or `<org>/<repo>/issues/N` (Prow's regex).
pub fn associated_issue(body: &str, org: &str) -> Option<u64> {
    let re = Regex::new(&format!(r"(?:{}/[^/]+/issues/|#)(\d+)", regex::escape(org))).ok()?;
    re.captures(body)
        .and_then(|c| c[1].parse().ok())
        .filter(|n| *n > 0)
}

/// Web links for the notifier, derived from the PR's own URL.
struct Links {
    /// `https://github.com` or `https://gitlab.example`.
    host: String,
    /// The repository's web page.
    repo: String,
    /// `blob` (GitHub) or `-/blob` (GitLab).
    blob: &'static str,
}

impl Links {
    fn new(item: &Item) -> Links {
        let url = item.html_url.as_str();
        let host_end = url
            .find("://")
            .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(url.len());
        let host = url[..host_end].to_string();
        let (repo, blob) = match item.reference.forge {
            ForgeKind::GitHub => (format!("{host}/{}", item.reference.repo.as_str()), "blob"),
            ForgeKind::GitLab => (format!("{host}/{}", item.reference.repo.as_str()), "-/blob"),
        };
        Links { host, repo, blob }
    }

    fn person(&self, login: &str) -> String {
        format!("[{login}]({}/{login})", self.host)
    }

    fn owners_file(&self, key: &str, branch: &str) -> (String, String) {
        let path = if key.is_empty() {
            "OWNERS".to_string()
        } else if key.ends_with(".md") {
            key.to_string()
        } else {
            format!("{key}/OWNERS")
        };
        let url = format!("{}/{}/{branch}/{path}", self.repo, self.blob);
        (path, url)
    }
}

/// Everything the notifier shows.
struct Notice<'a> {
    approved: bool,
    manual: bool,
    files_approved: bool,
    /// The change has more files than bosun looks at: this many were looked at.
    cut_at: Option<usize>,
    approvals: &'a BTreeMap<String, Approval>,
    pr_url: &'a str,
    assigned_ccs: Vec<String>,
    suggested_ccs: Vec<String>,
    all_ccs: Vec<String>,
    issue: IssueLine,
    help_url: &'a str,
    pr_process_link: &'a str,
    forge: ForgeKind,
    /// (OWNERS key, approvers of it among the current ones, partially approved).
    files: Vec<(String, Vec<String>, bool)>,
    branch: &'a str,
    links: Links,
    /// `org%2Frepo`, for the command-help link.
    repo_param: String,
}

enum IssueLine {
    NotRequired,
    Associated(u64),
    Bypassed,
    ManualBypass,
    Missing,
}

fn approval_list(
    approvals: &BTreeMap<String, Approval>,
    pr_url: &str,
    only_no_issue: bool,
) -> String {
    approvals
        .values()
        .filter(|a| !only_no_issue || a.no_issue)
        .map(|a| {
            format!(
                "*<a href=\"{pr_url}#\" title=\"{}\">{}</a>*",
                a.how.text(),
                a.login
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Notice<'_> {
    fn render(&self) -> String {
        let mut m = String::new();
        let title = if self.approved {
            "**APPROVED**"
        } else {
            "**NOT APPROVED**"
        };
        let _ = write!(m, "[APPROVALNOTIFIER] This PR is {title}\n\n");
        if self.manual && !self.files_approved {
            let _ = write!(m, "{MANUAL_TEXT}\n\n");
        }
        if let Some(n) = self.cut_at {
            let _ = write!(
                m,
                "This pull request changes more than {n} files, more than bosun examines (`[limits] max_changed_files`), so approvals cannot cover it; an `approved` label added by a person approves it.\n\n"
            );
        }
        let _ = write!(
            m,
            "This pull-request has been approved by: {}",
            approval_list(self.approvals, self.pr_url, false)
        );
        if !self.files_approved && !self.manual {
            let people = |v: &[String]| {
                v.iter()
                    .map(|p| self.links.person(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let process = format!(
                "For more information see [the Code Review Process]({}).",
                self.pr_process_link
            );
            let ask = match (self.assigned_ccs.is_empty(), self.suggested_ccs.is_empty()) {
                (true, false) => Some(format!(
                    "please assign {} for approval. {process}",
                    people(&self.suggested_ccs)
                )),
                (false, false) => Some(format!(
                    "please ask for approval from {} and additionally assign {} for approval. {process}",
                    people(&self.assigned_ccs),
                    people(&self.suggested_ccs)
                )),
                (false, true) => Some(format!(
                    "please ask for approval from {}. {process}",
                    people(&self.assigned_ccs)
                )),
                (true, true) => None,
            };
            if let Some(ask) = ask {
                let _ = write!(
                    m,
                    "\n\n**Once this PR has been reviewed and has the lgtm label**, {ask}"
                );
            }
        }
        m.push_str("\n\n");
        match self.issue {
            IssueLine::NotRequired => {}
            IssueLine::Associated(n) => {
                let _ = write!(m, "Associated issue: *#{n}*\n\n");
            }
            IssueLine::Bypassed => {
                let _ = write!(
                    m,
                    "Associated issue requirement bypassed by: {}\n\n",
                    approval_list(self.approvals, self.pr_url, true)
                );
            }
            IssueLine::ManualBypass => {
                m.push_str(
                    "*No associated issue*. Requirement bypassed by manually added approval.\n\n",
                );
            }
            IssueLine::Missing => {
                let verb = self.verb();
                let _ = write!(
                    m,
                    "*No associated issue*. Update pull-request body to add a reference to an issue, or get approval with `{verb} no-issue`\n\n"
                );
            }
        }
        let _ = write!(
            m,
            "The full list of commands accepted by this bot can be found [here]({}?repo={}).\n\n",
            self.help_url, self.repo_param
        );
        if self.files_approved || self.manual {
            let _ = writeln!(
                m,
                "The pull request process is described [here]({})",
                self.pr_process_link
            );
        }
        let open = if !self.files_approved && !self.manual {
            "open"
        } else {
            ""
        };
        let _ = write!(
            m,
            "\n<details {open}>\nNeeds approval from an approver in each of these files:\n\n"
        );
        for (key, approvers, partial) in &self.files {
            let (path, url) = self.links.owners_file(key, self.branch);
            if !approvers.is_empty() && !partial {
                let _ = writeln!(m, "- ~~[{path}]({url})~~ [{}]", approvers.join(","));
            } else if *partial {
                let _ = writeln!(
                    m,
                    "- **[{path}]({url})** [partial]\n  > Need more approvers for rest parts."
                );
            } else {
                let _ = writeln!(m, "- **[{path}]({url})**");
            }
        }
        let verb = self.verb();
        let _ = write!(
            m,
            "\nApprovers can indicate their approval by writing `{verb}` in a comment{}\nApprovers can cancel approval by writing `{verb} cancel` in a comment\n</details>\n",
            if self.forge == ForgeKind::GitLab {
                " or by approving the merge request"
            } else {
                ""
            }
        );
        let metas = serde_json::to_string(&self.all_ccs).unwrap_or_else(|_| "[]".into());
        let _ = write!(m, "<!-- META={{\"approvers\":{metas}}} -->");
        m
    }

    fn verb(&self) -> &'static str {
        match self.forge {
            ForgeKind::GitHub => "/approve",
            ForgeKind::GitLab => "/bosun-approve",
        }
    }
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
            .owners_for(cx.forge, &reference.repo, &pr.base_sha, &files)
            .await?;
        let comments = cx.forge.comments(reference).await?;
        let previous_notice = comments
            .iter()
            .rfind(|c| is_self(&c.author, cx.bot) && c.body.starts_with("[APPROVALNOTIFIER]"))
            .map(|c| c.body.clone());
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
        let unchanged = previous_notice
            .as_deref()
            .is_some_and(|old| old.starts_with(&notice));
        if !unchanged {
            actions.push(Action::UpsertBotComment {
                item: reference.clone(),
                marker: NOTIFIER_MARKER.into(),
                body: notice,
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
mod tests {
    use super::*;
    use crate::forge::ChangedFile;
    use crate::testing::{MemoryForge, comment_on_pr};
    use serde_json::json;

    /// A repo with a root OWNERS (alice), `a/` (bob) and `b/` (carol), and a PR touching
    /// `a/x.go` and `b/y.go`.
    fn forge() -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.files
                .insert("OWNERS".into(), b"approvers: [Alice]\n".to_vec());
            s.files
                .insert("a/OWNERS".into(), b"approvers: [bob]\n".to_vec());
            s.files
                .insert("b/OWNERS".into(), b"approvers: [carol]\n".to_vec());
            s.changed_files = ["a/x.go", "b/y.go"]
                .iter()
                .map(|p| ChangedFile {
                    path: p.to_string(),
                    previous_path: None,
                    additions: 1,
                    deletions: 0,
                })
                .collect();
        });
        forge
    }

    /// Writes a comment on the forge (history) and returns its event.
    fn say(forge: &MemoryForge, who: &str, body: &str) -> Event {
        forge.with(|s| {
            let id = s.comments.len() as u64 + 100;
            s.comments.push(BotComment {
                id,
                author: Login::new(who),
                body: body.into(),
                created_at: format!("2024-01-01T01:00:{:02}Z", id % 60),
            });
        });
        comment_on_pr(who, body)
    }

    fn notifier(actions: &[Action]) -> Option<&str> {
        actions.iter().find_map(|a| match a {
            Action::UpsertBotComment { marker, body, .. } if marker == NOTIFIER_MARKER => {
                Some(body.as_str())
            }
            _ => None,
        })
    }

    fn adds_label(actions: &[Action]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::AddLabel { label, .. } if label == LABEL))
    }

    fn removes_label(actions: &[Action]) -> bool {
        actions
            .iter()
            .any(|a| matches!(a, Action::RemoveLabel { label, .. } if label == LABEL))
    }

    /// Applies the notifier as the executor would, so the next run sees it.
    fn post_notifier(forge: &MemoryForge, actions: &[Action]) {
        if let Some(body) = notifier(actions) {
            forge.with(|s| {
                s.comments
                    .retain(|c| !c.body.starts_with("[APPROVALNOTIFIER]"));
                s.comments.push(BotComment {
                    id: 999,
                    author: Login::new("bosun-bot"),
                    body: crate::marker::append(body, &crate::marker::notice(NOTIFIER_MARKER)),
                    created_at: "2024-01-01T02:00:00Z".into(),
                });
            });
        }
    }

    #[tokio::test]
    async fn a_root_approver_approves_every_file() {
        let forge = forge();
        let actions = forge
            .run(&Approve, &say(&forge, "alice", "/approve"))
            .await
            .unwrap();
        assert!(adds_label(&actions), "{actions:?}");
        let body = notifier(&actions).unwrap();
        assert!(
            body.starts_with("[APPROVALNOTIFIER] This PR is **APPROVED**"),
            "{body}"
        );
        assert!(body.contains("title=\"Approved\">alice</a>"), "{body}");
        // The root approves everything, but the files' own OWNERS are the ones listed.
        for dir in ["a", "b"] {
            let line = format!(
                "- ~~[{dir}/OWNERS](https://github.com/org/repo/blob/main/{dir}/OWNERS)~~ [alice]"
            );
            assert!(body.contains(&line), "{body}");
        }
        assert!(body.contains("<details >"), "{body}");
        assert!(
            body.contains("The pull request process is described [here]("),
            "{body}"
        );
        assert!(body.ends_with("<!-- META={\"approvers\":[]} -->"), "{body}");
        assert!(body.contains("command-help?repo=org%2Frepo"), "{body}");
        let approvals = actions.iter().find_map(|a| match a {
            Action::Remember {
                fact: crate::Fact::Approvals { by },
                ..
            } => Some(by.clone()),
            _ => None,
        });
        assert_eq!(
            approvals,
            Some(vec![
                crate::Approver {
                    login: "alice".into(),
                    how: "Approved".into()
                },
                crate::Approver {
                    login: "pr-author".into(),
                    how: "Author self-approved".into()
                }
            ]),
            "who approves is reported as a fact with the notice"
        );
    }

    #[tokio::test]
    async fn coverage_is_per_owners_file() {
        let forge = forge();
        let actions = forge
            .run(&Approve, &say(&forge, "bob", "/approve"))
            .await
            .unwrap();
        assert!(!adds_label(&actions));
        let body = notifier(&actions).unwrap();
        assert!(
            body.starts_with("[APPROVALNOTIFIER] This PR is **NOT APPROVED**"),
            "{body}"
        );
        assert!(
            body.contains("- ~~[a/OWNERS](https://github.com/org/repo/blob/main/a/OWNERS)~~ [bob]"),
            "{body}"
        );
        assert!(
            body.contains("- **[b/OWNERS](https://github.com/org/repo/blob/main/b/OWNERS)**"),
            "{body}"
        );
        assert!(
            body.contains("please assign [carol](https://github.com/carol) for approval"),
            "{body}"
        );
        assert!(
            body.contains("<!-- META={\"approvers\":[\"carol\"]} -->"),
            "{body}"
        );
        assert!(body.contains("<details open>"), "{body}");
        assert!(
            !body.contains("The pull request process is described"),
            "{body}"
        );
        post_notifier(&forge, &actions);
        let actions = forge
            .run(&Approve, &say(&forge, "Carol", "/approve"))
            .await
            .unwrap();
        assert!(adds_label(&actions), "{actions:?}");
        let body = notifier(&actions).unwrap();
        assert!(
            body.contains("~~[b/OWNERS](https://github.com/org/repo/blob/main/b/OWNERS)~~ [Carol]"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn anyone_may_approve_but_it_covers_nothing_for_non_owners() {
        let forge = forge();
        let actions = forge
            .run(&Approve, &say(&forge, "mallory", "/approve"))
            .await
            .unwrap();
        let body = notifier(&actions).unwrap();
        assert!(body.contains("title=\"Approved\">mallory</a>"), "{body}");
        assert!(body.contains("**NOT APPROVED**"));
        assert!(!adds_label(&actions));
    }

    #[tokio::test]
    async fn cancel_and_remove_approve_withdraw_and_the_label_goes() {
        for cancel in [
            "/approve cancel",
            "/remove-approve",
            "/APPROVE   please cancel it",
        ] {
            let forge = forge();
            say(&forge, "alice", "/approve");
            forge.set_labels(&["approved"]);
            let actions = forge
                .run(&Approve, &say(&forge, "alice", cancel))
                .await
                .unwrap();
            assert!(removes_label(&actions), "{cancel}: {actions:?}");
            assert!(notifier(&actions).unwrap().contains("**NOT APPROVED**"));
        }
    }

    #[tokio::test]
    async fn the_author_approves_implicitly_unless_self_approval_is_required() {
        let forge = forge();
        forge.with(|s| s.pr.author = Login::new("alice"));
        let actions = forge
            .run(&Approve, &say(&forge, "someone", "/approve"))
            .await
            .unwrap();
        assert!(adds_label(&actions), "{actions:?}");
        assert!(
            notifier(&actions)
                .unwrap()
                .contains("title=\"Author self-approved\">alice</a>")
        );
        let strict = json!({ "require_self_approval": true });
        let actions = forge
            .run_with(&Approve, &say(&forge, "someone", "/approve"), &strict)
            .await
            .unwrap();
        assert!(!adds_label(&actions), "{actions:?}");
        let actions = forge
            .run_with(&Approve, &say(&forge, "alice", "/approve"), &strict)
            .await
            .unwrap();
        assert!(
            adds_label(&actions),
            "an explicit /approve by the author counts: {actions:?}"
        );
    }

    #[tokio::test]
    async fn lgtm_counts_only_when_configured() {
        let forge = forge();
        let event = say(&forge, "alice", "/lgtm");
        assert!(forge.run(&Approve, &event).await.unwrap().is_empty());
        let actions = forge
            .run_with(&Approve, &event, &json!({ "lgtm_acts_as_approve": true }))
            .await
            .unwrap();
        assert!(adds_label(&actions));
        assert!(
            notifier(&actions)
                .unwrap()
                .contains("title=\"LGTM\">alice</a>")
        );
    }

    #[tokio::test]
    async fn review_verdicts_count_in_time_order_unless_ignored() {
        let forge = forge();
        forge.with(|s| {
            s.reviews.push(Review {
                author: Login::new("alice"),
                state: ReviewState::Approved,
                body: String::new(),
                submitted_at: "2024-01-01T00:00:01Z".into(),
            });
        });
        let event = say(&forge, "x", "/approve");
        let actions = forge.run(&Approve, &event).await.unwrap();
        assert!(adds_label(&actions), "{actions:?}");
        let ignored = forge
            .run_with(&Approve, &event, &json!({ "ignore_review_state": true }))
            .await
            .unwrap();
        assert!(!adds_label(&ignored));
        forge.with(|s| {
            s.reviews.push(Review {
                author: Login::new("alice"),
                state: ReviewState::ChangesRequested,
                body: String::new(),
                submitted_at: "2024-01-01T00:00:02Z".into(),
            });
        });
        let actions = forge.run(&Approve, &event).await.unwrap();
        assert!(
            !adds_label(&actions),
            "changes requested withdraws: {actions:?}"
        );
    }

    #[tokio::test]
    async fn a_human_added_label_is_a_manual_approval_that_sticks() {
        let forge = forge();
        forge.set_labels(&["approved"]);
        let mut event = crate::testing::pr_event(PrAction::Labeled {
            label: LABEL.into(),
        });
        if let Event::PullRequest(pr) = &mut event {
            pr.sender = Login::new("maintainer");
        }
        let actions = forge.run(&Approve, &event).await.unwrap();
        assert!(!removes_label(&actions), "{actions:?}");
        let body = notifier(&actions).unwrap();
        assert!(body.contains(MANUAL_TEXT), "{body}");
        assert!(body.starts_with("[APPROVALNOTIFIER] This PR is **APPROVED**"));
        post_notifier(&forge, &actions);
        // A later comment keeps it; the unchanged notifier is not rewritten.
        let actions = forge
            .run(&Approve, &say(&forge, "x", "/approve"))
            .await
            .unwrap();
        assert!(!removes_label(&actions), "{actions:?}");
        // Without the human label event and without a manual notifier, the label goes.
        let fresh = crate::testing::MemoryForge::default();
        fresh.set_labels(&["approved"]);
        fresh.with(|s| s.changed_files = forge.snapshot().changed_files);
        let actions = fresh
            .run(&Approve, &say(&fresh, "x", "/approve"))
            .await
            .unwrap();
        assert!(removes_label(&actions), "{actions:?}");
    }

    #[tokio::test]
    async fn an_unchanged_notifier_is_not_rewritten() {
        let forge = forge();
        let actions = forge
            .run(&Approve, &say(&forge, "bob", "/approve"))
            .await
            .unwrap();
        post_notifier(&forge, &actions);
        let again = forge
            .run(&Approve, &say(&forge, "bob", "/approve"))
            .await
            .unwrap();
        assert!(notifier(&again).is_none(), "{again:?}");
    }

    #[tokio::test]
    async fn issue_requirement_and_no_issue_bypass() {
        let forge = forge();
        let required = json!({ "issue_required": true });
        let actions = forge
            .run_with(&Approve, &say(&forge, "alice", "/approve"), &required)
            .await
            .unwrap();
        assert!(!adds_label(&actions));
        assert!(
            notifier(&actions)
                .unwrap()
                .contains("*No associated issue*. Update pull-request body")
        );
        let actions = forge
            .run_with(
                &Approve,
                &say(&forge, "alice", "/approve no-issue"),
                &required,
            )
            .await
            .unwrap();
        assert!(adds_label(&actions), "{actions:?}");
        assert!(
            notifier(&actions)
                .unwrap()
                .contains("Associated issue requirement bypassed by:")
        );
        let with_issue = self::forge();
        with_issue.with(|s| s.pr.body = "Fixes #42".into());
        let actions = with_issue
            .run_with(&Approve, &say(&with_issue, "alice", "/approve"), &required)
            .await
            .unwrap();
        assert!(
            notifier(&actions)
                .unwrap()
                .contains("Associated issue: *#42*")
        );
        assert_eq!(
            associated_issue("see https://github.com/org/other/issues/7", "org"),
            Some(7)
        );
        assert_eq!(associated_issue("no issue here", "org"), None);
    }

    #[tokio::test]
    async fn more_files_than_bosun_examines_cannot_be_approved_by_comments() {
        let mut forge = forge();
        forge.limits.max_changed_files = 1;
        let actions = forge
            .run(&Approve, &say(&forge, "alice", "/approve"))
            .await
            .unwrap();
        assert!(!adds_label(&actions), "{actions:?}");
        let body = notifier(&actions).unwrap();
        assert!(body.contains("changes more than 1 files"), "{body}");
        assert!(body.contains("**NOT APPROVED**"), "{body}");
    }

    #[tokio::test]
    async fn bots_never_approve() {
        let forge = forge();
        say(&forge, "bosun-bot", "/approve");
        say(&forge, "dependabot[bot]", "/approve");
        say(&forge, "CI-Robot", "/approve");
        let actions = forge
            .run(&Approve, &say(&forge, "bob", "/approve"))
            .await
            .unwrap();
        let body = notifier(&actions).unwrap();
        assert!(
            !body.contains(">bosun-bot<") && !body.contains("dependabot"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn quoted_and_fenced_approvals_do_not_count() {
        let forge = forge();
        say(&forge, "alice", "> /approve\n```\n/approve\n```");
        let actions = forge
            .run(&Approve, &say(&forge, "bob", "/approve"))
            .await
            .unwrap();
        assert!(!adds_label(&actions));
    }

    #[tokio::test]
    async fn gitlab_native_approvals_count_and_the_verb_is_prefixed() {
        let forge = forge();
        forge.with(|s| {
            s.reviews.push(Review {
                author: Login::new("alice"),
                state: ReviewState::Approved,
                body: String::new(),
                submitted_at: String::new(),
            });
        });
        let mut event = crate::testing::pr_event(PrAction::Approved);
        if let Event::PullRequest(pr) = &mut event {
            pr.pr.reference.forge = ForgeKind::GitLab;
            pr.pr.html_url = "https://gitlab.example/org/repo/-/merge_requests/1".into();
        }
        let actions = forge
            .run_with(&Approve, &event, &json!({ "ignore_review_state": true }))
            .await
            .unwrap();
        assert!(adds_label(&actions), "{actions:?}");
        let body = notifier(&actions).unwrap();
        assert!(
            body.contains("https://gitlab.example/org/repo/-/blob/main/a/OWNERS"),
            "{body}"
        );
        assert!(body.contains("`/bosun-approve`"), "{body}");
        // A bare /approve on GitLab is GitLab's own quick action, not bosun's.
        let entries = vec![HistoryEntry {
            author: Login::new("alice"),
            body: "/approve".into(),
            review: None,
            native_approval: false,
        }];
        let settings = ApproveSettings {
            require_self_approval: true,
            ..Default::default()
        };
        let bot = |_: &Login| false;
        assert!(
            replay(
                &Login::new("x"),
                &entries,
                &settings,
                ForgeKind::GitLab,
                &bot
            )
            .is_empty()
        );
        assert_eq!(
            replay(
                &Login::new("x"),
                &entries,
                &settings,
                ForgeKind::GitHub,
                &bot
            )
            .len(),
            1
        );
    }
}
