//! GitHub webhook normalizer: an `X-GitHub-Event` header and its JSON body become bosun
//! [`Event`]s.
//!
//! | `X-GitHub-Event` | actions | events |
//! |---|---|---|
//! | `pull_request` | opened, reopened, closed, synchronize, labeled, unlabeled, edited, ready_for_review, converted_to_draft, assigned, unassigned, review_requested, review_request_removed | one [`PullRequestEvent`]; `opened`/`edited` also a description [`CommentEvent`] (Prow §2) |
//! | `issue_comment` | created, edited, deleted | one comment event (on a PR iff `issue.pull_request` is present) |
//! | `issues` | every action | one [`IssueEvent`]; `opened`/`edited`/`deleted` also a description comment event |
//! | `pull_request_review` | submitted, edited, dismissed | one comment event with the review's verdict |
//! | `pull_request_review_comment` | created, edited, deleted | one review-comment event |
//! | `push` | – | one [`PushEvent`] |
//! | `ping` | – | one [`PingEvent`] |
//! | `check_run`, `status`, `workflow_run` | – | one CI event (see `github_ci`) |
//!
//! Any other event or action is [`Normalized::Ignored`]. A pull-request action not listed above
//! (`locked`, `milestoned`, `auto_merge_enabled`, `enqueued` …) is ignored rather than reported as
//! `Updated`: no plugin acts on it, and the recorded reason says which action it was.
//!
//! Comment actions follow Prow's `GeneralizeCommentAction`: created/opened/submitted → created,
//! edited → edited, deleted/dismissed → deleted. The repository of a PR event is the **base**
//! repository, so a PR from a fork is handled where it will merge.

use bosun_plugins::{
    CommentAction, CommentEvent, CommentSource, Event, ForgeKind, IssueAction, IssueEvent, Item,
    ItemKind, ItemRef, ItemState, Login, PingEvent, PrAction, PullRequestEvent, PushEvent,
    RepoPath, ReviewState,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    NormalizeError, Normalized, clip, ignored_action, malformed, need, null_as_default, parse,
};

/// Turns one GitHub delivery into events; `event` is the `X-GitHub-Event` header.
///
/// Events bosun has no use for come back as `Ok(Ignored)`, never as errors, so GitHub does not
/// see failures for hooks it was merely configured to send.
///
/// # Errors
///
/// A handled event whose body is not JSON, is cut short, or lacks what identifies its item
/// (repository, number, comment author, head SHA …).
pub fn normalize(event: &str, body: &[u8]) -> Result<Normalized, NormalizeError> {
    if let Some(ci) = super::github_ci::normalize(event, body) {
        return ci;
    }
    match event {
        "pull_request" => pull_request(parse(event, body)?),
        "issue_comment" => issue_comment(parse(event, body)?),
        "issues" => issues(parse(event, body)?),
        "pull_request_review" => review(parse(event, body)?),
        "pull_request_review_comment" => review_comment(parse(event, body)?),
        "push" => push(parse(event, body)?),
        "ping" => ping(parse(event, body)?),
        other => Ok(Normalized::Ignored(format!(
            "GitHub event {:?} is not handled",
            clip(other)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Payload shapes: only the fields bosun reads, all optional, so payloads from any era parse.

/// The common shape of the five item events (`pull_request`, `issues`, `issue_comment`,
/// `pull_request_review`, `pull_request_review_comment`).
#[derive(Deserialize)]
struct ItemPayload {
    action: Option<String>,
    number: Option<u64>,
    pull_request: Option<PullRequest>,
    issue: Option<Issue>,
    comment: Option<Comment>,
    review: Option<Review>,
    label: Option<Label>,
    changes: Option<Changes>,
    before: Option<String>,
    repository: Option<Repo>,
    sender: Option<User>,
    /// `review_requested`: the user asked (absent when a team was).
    requested_reviewer: Option<User>,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    before: Option<String>,
    after: Option<String>,
    pusher: Option<Pusher>,
    repository: Option<Repo>,
    sender: Option<User>,
    /// The pushed commits (at most 20 of them), with the paths each touched.
    commits: Option<Vec<PushedCommit>>,
    /// How many commits the push had; more than `commits` lists means the paths are unknown.
    size: Option<usize>,
}

/// One pushed commit as a push payload lists it (both forges use these names).
#[derive(Deserialize)]
pub(super) struct PushedCommit {
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
}

/// Every path the listed commits touched, or `None` when the payload lists fewer commits than
/// the push had.
pub(super) fn pushed_paths(
    commits: Option<Vec<PushedCommit>>,
    total: Option<usize>,
) -> Option<Vec<String>> {
    let commits = commits?;
    if total.is_some_and(|n| n > commits.len()) {
        return None;
    }
    let mut paths: Vec<String> = commits
        .into_iter()
        .flat_map(|c| c.added.into_iter().chain(c.modified).chain(c.removed))
        .collect();
    paths.sort();
    paths.dedup();
    Some(paths)
}

#[derive(Deserialize)]
struct PingPayload {
    hook_id: Option<u64>,
    hook: Option<Hook>,
    repository: Option<Repo>,
}

#[derive(Deserialize)]
struct PullRequest {
    number: Option<u64>,
    state: Option<String>,
    title: Option<String>,
    body: Option<String>,
    user: Option<User>,
    #[serde(default, deserialize_with = "null_as_default")]
    labels: Vec<Label>,
    #[serde(default, deserialize_with = "null_as_default")]
    assignees: Vec<User>,
    draft: Option<bool>,
    merged: Option<bool>,
    merged_at: Option<String>,
    html_url: Option<String>,
    head: Option<Branch>,
    base: Option<Branch>,
}

impl PullRequest {
    /// Review payloads carry no `merged` flag, only `merged_at`.
    fn is_merged(&self) -> bool {
        self.merged.unwrap_or(false) || self.merged_at.is_some()
    }
}

#[derive(Deserialize)]
struct Issue {
    number: Option<u64>,
    state: Option<String>,
    title: Option<String>,
    body: Option<String>,
    user: Option<User>,
    #[serde(default, deserialize_with = "null_as_default")]
    labels: Vec<Label>,
    #[serde(default, deserialize_with = "null_as_default")]
    assignees: Vec<User>,
    draft: Option<bool>,
    html_url: Option<String>,
    /// Present (with links) only when the issue is a pull request.
    pull_request: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Comment {
    body: Option<String>,
    user: Option<User>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Review {
    body: Option<String>,
    state: Option<String>,
    user: Option<User>,
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct Changes {
    body: Option<BodyChange>,
}

#[derive(Deserialize)]
struct BodyChange {
    from: Option<String>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    sha: Option<String>,
    repo: Option<Repo>,
}

#[derive(Deserialize)]
struct Repo {
    full_name: Option<String>,
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct User {
    login: Option<String>,
}

#[derive(Deserialize)]
struct Label {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Pusher {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Hook {
    id: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// One function per handled event.

fn pull_request(p: ItemPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "pull_request";
    let action = need(p.action.as_deref(), EV, "action")?;
    let pr = need(p.pull_request.as_ref(), EV, "pull_request")?;
    let pr_action = match action {
        "opened" => PrAction::Opened,
        "reopened" => PrAction::Reopened,
        "closed" if pr.is_merged() => PrAction::Merged,
        "closed" => PrAction::Closed,
        "synchronize" => PrAction::Synchronized {
            before: p.before.clone(),
        },
        "labeled" => PrAction::Labeled {
            label: label_name(p.label.as_ref(), EV)?,
        },
        "unlabeled" => PrAction::Unlabeled {
            label: label_name(p.label.as_ref(), EV)?,
        },
        "edited" => PrAction::Edited,
        "ready_for_review" => PrAction::ReadyForReview,
        "converted_to_draft" => PrAction::ConvertedToDraft,
        "assigned" => PrAction::Assigned,
        "unassigned" => PrAction::Unassigned,
        "review_requested" => PrAction::ReviewRequested {
            reviewers: p
                .requested_reviewer
                .as_ref()
                .and_then(|u| u.login.as_deref())
                .map(Login::new)
                .into_iter()
                .collect(),
        },
        "review_request_removed" => PrAction::ReviewRequestRemoved,
        other => return Ok(ignored_action(EV, other)),
    };
    let item = pr_item(EV, pr, &p)?;
    let head = need(pr.head.as_ref(), EV, "pull_request.head")?;
    let base = need(pr.base.as_ref(), EV, "pull_request.base")?;
    let pr_event = PullRequestEvent {
        pr: item.clone(),
        action: pr_action,
        sender: login(p.sender.as_ref()),
        head_sha: need(head.sha.clone(), EV, "pull_request.head.sha")?,
        base_sha: base.sha.clone(),
        head_ref: head.git_ref.clone().unwrap_or_default(),
        base_ref: base.git_ref.clone().unwrap_or_default(),
    };
    let mut events = vec![Event::PullRequest(pr_event)];
    // Prow §2: the description carries commands when the PR is opened or edited.
    if matches!(action, "opened" | "edited") {
        let body = pr.body.as_deref().unwrap_or_default();
        if let Some(c) = comment_action(action, p.changes.as_ref(), body) {
            events.push(description(item, body, c));
        }
    }
    Ok(Normalized::Events(events))
}

fn issue_comment(p: ItemPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "issue_comment";
    let action = need(p.action.as_deref(), EV, "action")?;
    let issue = need(p.issue.as_ref(), EV, "issue")?;
    let comment = need(p.comment.as_ref(), EV, "comment")?;
    let body = comment.body.as_deref().unwrap_or_default();
    let Some(c) = comment_action(action, p.changes.as_ref(), body) else {
        return Ok(ignored_action(EV, action));
    };
    let event = CommentEvent {
        item: issue_item(EV, issue, p.repository.as_ref())?,
        author: required_login(comment.user.as_ref(), EV, "comment.user.login")?,
        body: body.to_string(),
        action: c,
        source: CommentSource::Comment,
        review: None,
        html_url: comment.html_url.clone().unwrap_or_default(),
    };
    Ok(Normalized::Events(vec![Event::Comment(event)]))
}

fn issues(p: ItemPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "issues";
    let action = need(p.action.as_deref(), EV, "action")?;
    let issue = need(p.issue.as_ref(), EV, "issue")?;
    let item = issue_item(EV, issue, p.repository.as_ref())?;
    let issue_action = match action {
        "opened" => IssueAction::Opened,
        "edited" => IssueAction::Edited,
        "closed" => IssueAction::Closed,
        "reopened" => IssueAction::Reopened,
        "labeled" => IssueAction::Labeled,
        "unlabeled" => IssueAction::Unlabeled,
        "assigned" => IssueAction::Assigned,
        "unassigned" => IssueAction::Unassigned,
        "deleted" => IssueAction::Deleted,
        _ => IssueAction::Other,
    };
    let mut events = vec![Event::Issue(IssueEvent {
        issue: item.clone(),
        action: issue_action,
        sender: login(p.sender.as_ref()),
    })];
    if matches!(action, "opened" | "edited" | "deleted") {
        let body = issue.body.as_deref().unwrap_or_default();
        if let Some(c) = comment_action(action, p.changes.as_ref(), body) {
            events.push(description(item, body, c));
        }
    }
    Ok(Normalized::Events(events))
}

fn review(p: ItemPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "pull_request_review";
    let action = need(p.action.as_deref(), EV, "action")?;
    let pr = need(p.pull_request.as_ref(), EV, "pull_request")?;
    let review = need(p.review.as_ref(), EV, "review")?;
    let body = review.body.as_deref().unwrap_or_default();
    let Some(c) = comment_action(action, p.changes.as_ref(), body) else {
        return Ok(ignored_action(EV, action));
    };
    let event = CommentEvent {
        item: pr_item(EV, pr, &p)?,
        author: required_login(review.user.as_ref(), EV, "review.user.login")?,
        body: body.to_string(),
        action: c,
        source: CommentSource::Review,
        review: review.state.as_deref().and_then(review_state),
        html_url: review.html_url.clone().unwrap_or_default(),
    };
    Ok(Normalized::Events(vec![Event::Comment(event)]))
}

fn review_comment(p: ItemPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "pull_request_review_comment";
    let action = need(p.action.as_deref(), EV, "action")?;
    let pr = need(p.pull_request.as_ref(), EV, "pull_request")?;
    let comment = need(p.comment.as_ref(), EV, "comment")?;
    let body = comment.body.as_deref().unwrap_or_default();
    let Some(c) = comment_action(action, p.changes.as_ref(), body) else {
        return Ok(ignored_action(EV, action));
    };
    let event = CommentEvent {
        item: pr_item(EV, pr, &p)?,
        author: required_login(comment.user.as_ref(), EV, "comment.user.login")?,
        body: body.to_string(),
        action: c,
        source: CommentSource::ReviewComment,
        review: None,
        html_url: comment.html_url.clone().unwrap_or_default(),
    };
    Ok(Normalized::Events(vec![Event::Comment(event)]))
}

fn push(p: PushPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "push";
    let repo_name = p.repository.as_ref().and_then(|r| r.full_name.as_deref());
    let default_branch = p.repository.as_ref().and_then(|r| r.default_branch.clone());
    let pusher = p
        .pusher
        .and_then(|u| u.name)
        .or_else(|| p.sender.and_then(|u| u.login));
    Ok(Normalized::Events(vec![Event::Push(PushEvent {
        forge: ForgeKind::GitHub,
        repo: repo_path(EV, repo_name)?,
        git_ref: need(p.git_ref, EV, "ref")?,
        before: need(p.before, EV, "before")?,
        after: need(p.after, EV, "after")?,
        pusher: Login::new(&need(pusher, EV, "pusher.name")?),
        default_branch,
        changed_paths: pushed_paths(p.commits, p.size),
    })]))
}

fn ping(p: PingPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "ping";
    let hook_id = p.hook_id.or_else(|| p.hook.and_then(|h| h.id));
    // An organization hook's ping has no repository; a repository that is there must be valid.
    let repo = match p.repository {
        Some(r) => Some(repo_path(EV, r.full_name.as_deref())?),
        None => None,
    };
    Ok(Normalized::Events(vec![Event::Ping(PingEvent {
        forge: ForgeKind::GitHub,
        repo,
        hook_id: Some(need(hook_id, EV, "hook_id")?),
    })]))
}

// ---------------------------------------------------------------------------------------------
// Items and comments.

/// The PR as an item, in the top-level `repository` (its base repository, which GitHub
/// delivers PR events to), read first as the receiver reads it: its secret is the one the
/// delivery was checked with. `base.repo` answers only when `repository` is missing.
fn pr_item(ev: &str, pr: &PullRequest, p: &ItemPayload) -> Result<Item, NormalizeError> {
    let base_repo = pr.base.as_ref().and_then(|b| b.repo.as_ref());
    let repo_name = p
        .repository
        .as_ref()
        .and_then(|r| r.full_name.as_deref())
        .or_else(|| base_repo.and_then(|r| r.full_name.as_deref()));
    let merged = pr.is_merged();
    Ok(Item {
        reference: ItemRef {
            forge: ForgeKind::GitHub,
            repo: repo_path(ev, repo_name)?,
            // The receiver's order too: the number keys the delivery's turn among its PR's.
            number: need(p.number.or(pr.number), ev, "pull_request.number")?,
            kind: ItemKind::PullRequest,
        },
        author: login(pr.user.as_ref()),
        state: item_state(pr.state.as_deref(), merged),
        title: pr.title.clone().unwrap_or_default(),
        labels: label_names(&pr.labels),
        assignees: pr.assignees.iter().map(|u| login(Some(u))).collect(),
        draft: pr.draft.unwrap_or(false),
        html_url: pr.html_url.clone().unwrap_or_default(),
    })
}

fn issue_item(ev: &str, issue: &Issue, repository: Option<&Repo>) -> Result<Item, NormalizeError> {
    let kind = match issue.pull_request {
        Some(_) => ItemKind::PullRequest,
        None => ItemKind::Issue,
    };
    Ok(Item {
        reference: ItemRef {
            forge: ForgeKind::GitHub,
            repo: repo_path(ev, repository.and_then(|r| r.full_name.as_deref()))?,
            number: need(issue.number, ev, "issue.number")?,
            kind,
        },
        author: login(issue.user.as_ref()),
        state: item_state(issue.state.as_deref(), false),
        title: issue.title.clone().unwrap_or_default(),
        labels: label_names(&issue.labels),
        assignees: issue.assignees.iter().map(|u| login(Some(u))).collect(),
        draft: issue.draft.unwrap_or(false),
        html_url: issue.html_url.clone().unwrap_or_default(),
    })
}

/// The description of a PR or issue as a comment by the item's author (Prow §2: `User` is the
/// PR/issue author, whoever edited it).
fn description(item: Item, body: &str, action: CommentAction) -> Event {
    Event::Comment(CommentEvent {
        author: item.author.clone(),
        html_url: item.html_url.clone(),
        item,
        body: body.to_string(),
        action,
        source: CommentSource::Description,
        review: None,
    })
}

/// Prow's `GeneralizeCommentAction`; `None` for actions that carry no command text.
fn comment_action(action: &str, changes: Option<&Changes>, current: &str) -> Option<CommentAction> {
    match action {
        "created" | "opened" | "submitted" => Some(CommentAction::Created),
        "edited" => Some(CommentAction::Edited {
            previous_body: previous_body(changes, current),
        }),
        "deleted" | "dismissed" => Some(CommentAction::Deleted),
        _ => None,
    }
}

/// GitHub lists the old body under `changes.body.from` only when the body changed; when
/// `changes` is there without it (a title edit), the body is unchanged. Without `changes` at all
/// the old body is unknown.
fn previous_body(changes: Option<&Changes>, current: &str) -> Option<String> {
    let changes = changes?;
    match &changes.body {
        Some(b) => b.from.clone(),
        None => Some(current.to_string()),
    }
}

fn review_state(state: &str) -> Option<ReviewState> {
    match state.to_ascii_lowercase().as_str() {
        "approved" => Some(ReviewState::Approved),
        "changes_requested" => Some(ReviewState::ChangesRequested),
        "commented" => Some(ReviewState::Commented),
        "dismissed" => Some(ReviewState::Dismissed),
        _ => None,
    }
}

/// Merged wins over the `closed` state, as the item must tell a merge from a plain close.
fn item_state(state: Option<&str>, merged: bool) -> ItemState {
    match state {
        _ if merged => ItemState::Merged,
        Some("closed") => ItemState::Closed,
        _ => ItemState::Open,
    }
}

fn label_names(labels: &[Label]) -> Vec<String> {
    labels.iter().filter_map(|l| l.name.clone()).collect()
}

fn label_name(label: Option<&Label>, ev: &str) -> Result<String, NormalizeError> {
    need(label.and_then(|l| l.name.clone()), ev, "label.name")
}

/// A user's login, or an empty login when GitHub sent none (a deleted account is `ghost`, so this
/// only happens with truncated or hand-made payloads).
fn login(user: Option<&User>) -> Login {
    Login::new(user.and_then(|u| u.login.as_deref()).unwrap_or_default())
}

fn required_login(user: Option<&User>, ev: &str, what: &str) -> Result<Login, NormalizeError> {
    let name = need(user.and_then(|u| u.login.as_deref()), ev, what)?;
    Ok(Login::new(name))
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn repo_path(ev: &str, full_name: Option<&str>) -> Result<RepoPath, NormalizeError> {
    let name = need(full_name, ev, "repository.full_name")?;
    RepoPath::parse(name).ok_or_else(|| malformed(ev, "invalid repository.full_name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(event: &str, json: &str) -> Vec<Event> {
        match normalize(event, json.as_bytes()) {
            Ok(Normalized::Events(e)) => e,
            other => panic!("expected events, got {other:?}"),
        }
    }

    #[test]
    fn edited_title_only_keeps_the_body_as_previous() {
        let changes = Changes { body: None };
        assert_eq!(previous_body(Some(&changes), "b"), Some("b".into()));
        assert_eq!(previous_body(None, "b"), None);
        let changes = Changes {
            body: Some(BodyChange {
                from: Some("old".into()),
            }),
        };
        assert_eq!(previous_body(Some(&changes), "b"), Some("old".into()));
    }

    #[test]
    fn merged_beats_closed_state() {
        assert_eq!(item_state(Some("closed"), true), ItemState::Merged);
        assert_eq!(item_state(Some("closed"), false), ItemState::Closed);
        assert_eq!(item_state(None, false), ItemState::Open);
    }

    #[test]
    fn review_state_ignores_case_and_unknowns() {
        assert_eq!(review_state("APPROVED"), Some(ReviewState::Approved));
        assert_eq!(review_state("pending"), None);
    }

    #[test]
    fn serde_errors_do_not_quote_the_payload() {
        let err = normalize("push", br#"{"ref": 12345678, "before": "s3cr3t"}"#)
            .expect_err("wrong type must fail");
        assert!(!err.to_string().contains("12345678"), "{err}");
        let err = normalize("push", br#"{"ref": "s3cr3t-ref""#).expect_err("truncated");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn null_lists_parse_as_empty() {
        let ev = events(
            "issue_comment",
            r#"{"action":"created","issue":{"number":3,"labels":null,"assignees":null},
               "comment":{"body":"/lgtm","user":{"login":"a"}},
               "repository":{"full_name":"o/r"}}"#,
        );
        let Event::Comment(c) = &ev[0] else {
            panic!("comment expected")
        };
        assert!(c.item.labels.is_empty() && c.item.assignees.is_empty());
        assert_eq!(c.item.reference.kind, ItemKind::Issue);
    }

    #[test]
    fn unknown_actions_and_events_are_ignored() {
        let locked = r#"{"action":"locked","pull_request":{"number":1}}"#;
        assert!(matches!(
            normalize("pull_request", locked.as_bytes()),
            Ok(Normalized::Ignored(_))
        ));
        assert!(matches!(
            normalize("check_suite", b"not even json"),
            Ok(Normalized::Ignored(_))
        ));
        assert!(matches!(
            normalize("installation", b"not even json"),
            Ok(Normalized::Ignored(_))
        ));
    }

    #[test]
    fn long_values_are_clipped_in_reasons() {
        let long = "x".repeat(1000);
        let Ok(Normalized::Ignored(reason)) = normalize(&long, b"{}") else {
            panic!("ignored expected")
        };
        assert!(reason.len() < 120, "{reason}");
    }
}
