//! GitLab webhook normalizer: an `X-Gitlab-Event` header and its JSON body become bosun
//! [`Event`]s.
//!
//! | `X-Gitlab-Event` | `object_attributes.action` | events |
//! |---|---|---|
//! | `Merge Request Hook` | open, reopen, close, merge | one [`PullRequestEvent`]; `open` also a description [`CommentEvent`] |
//! | | update | one PR event per kind of change (see below) |
//! | | approved/approval, unapproved/unapproval | `Approved`/`Unapproved`, and a review comment event with that verdict, so a native approval counts where Prow counts an approving review |
//! | `Note Hook`, `Confidential Note Hook` | create (or none), update | one comment event on the MR or issue; notes on commits and snippets are ignored |
//! | `Issue Hook`, `Confidential Issue Hook` | open, close, reopen, update | [`IssueEvent`]s; `open` and description edits also a description comment event |
//! | `Push Hook` | – | one [`PushEvent`] |
//!
//! Everything else (`Tag Push Hook`, `Pipeline Hook`, `Job Hook`, system hooks, work items
//! other than issues …) is [`Normalized::Ignored`].
//!
//! GitLab sends one `update` for several changes at once, where GitHub sends one delivery per
//! change. An MR `update` therefore yields, in this order: `Synchronized` when `oldrev` is
//! present (new commits); `Edited` when the title, description or target branch changed;
//! `ReadyForReview`/`ConvertedToDraft` when the draft flag changed; one `Labeled`/`Unlabeled`
//! per label added or removed; `Assigned`/`Unassigned` and `ReviewRequested`/
//! `ReviewRequestRemoved` when those lists grew or shrank; and `Updated` only when none of these
//! applies. A description change also yields a description comment event whose previous body
//! is `changes.description.previous`.
//!
//! Authors: MR and issue payloads name their author only by `author_id`. The username is taken
//! from whichever user in the payload has that id (the acting user, assignees, reviewers; for a
//! note, the note's author). On `open` the acting user is the author unless the payload's ids
//! say otherwise. When nothing matches, the author is the empty login, which matches no one.

use bosun_plugins::{
    CommentAction, CommentEvent, CommentSource, Event, ForgeKind, IssueAction, IssueEvent, Item,
    ItemKind, ItemRef, ItemState, Login, PrAction, PullRequestEvent, PushEvent, RepoPath,
    ReviewState,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    NormalizeError, Normalized, clip, ignored_action, malformed, need, null_as_default, parse,
};

const MR_HOOK: &str = "Merge Request Hook";
const NOTE_HOOK: &str = "Note Hook";
const ISSUE_HOOK: &str = "Issue Hook";
const PUSH_HOOK: &str = "Push Hook";

/// Turns one GitLab delivery into events; `event` is the `X-Gitlab-Event` header.
///
/// Hooks bosun has no use for come back as `Ok(Ignored)`, never as errors: GitLab disables
/// hooks that keep failing.
///
/// # Errors
///
/// A handled hook whose body is not JSON, is cut short, or lacks what identifies its item
/// (project path, `iid`, note author …).
pub fn normalize(event: &str, body: &[u8]) -> Result<Normalized, NormalizeError> {
    match event {
        MR_HOOK => merge_request(parse(MR_HOOK, body)?),
        NOTE_HOOK | "Confidential Note Hook" => note(parse(NOTE_HOOK, body)?),
        ISSUE_HOOK | "Confidential Issue Hook" => issue(parse(ISSUE_HOOK, body)?),
        PUSH_HOOK => push(parse(PUSH_HOOK, body)?),
        "Pipeline Hook" => super::gitlab_ci::pipeline(body),
        other => Ok(Normalized::Ignored(format!(
            "GitLab event {:?} is not handled",
            clip(other)
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Payload shapes: only the fields bosun reads, all optional, so payloads from any era parse.

/// A merge request or issue hook.
#[derive(Deserialize)]
struct ItemHook {
    object_kind: Option<String>,
    user: Option<User>,
    project: Option<Project>,
    object_attributes: Option<Attrs>,
    labels: Option<Vec<Label>>,
    assignees: Option<Vec<User>>,
    /// Older issue hooks name a single assignee.
    assignee: Option<User>,
    reviewers: Option<Vec<User>>,
    #[serde(default, deserialize_with = "null_as_default")]
    changes: Changes,
}

#[derive(Deserialize)]
struct NoteHook {
    object_kind: Option<String>,
    user: Option<User>,
    project: Option<Project>,
    object_attributes: Option<NoteAttrs>,
    merge_request: Option<Attrs>,
    issue: Option<Attrs>,
}

#[derive(Deserialize)]
struct PushHook {
    object_kind: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    before: Option<String>,
    after: Option<String>,
    user_username: Option<String>,
    project: Option<Project>,
    /// The pushed commits (GitLab lists at most 20), with the paths each touched.
    commits: Option<Vec<super::github::PushedCommit>>,
    total_commits_count: Option<usize>,
}

/// A merge request or issue as GitLab describes it, in `object_attributes` or embedded in a note.
#[derive(Deserialize)]
struct Attrs {
    iid: Option<u64>,
    title: Option<String>,
    description: Option<String>,
    state: Option<String>,
    action: Option<String>,
    author_id: Option<u64>,
    url: Option<String>,
    labels: Option<Vec<Label>>,
    draft: Option<bool>,
    work_in_progress: Option<bool>,
    source_branch: Option<String>,
    target_branch: Option<String>,
    oldrev: Option<String>,
    last_commit: Option<Commit>,
    assignee: Option<User>,
}

#[derive(Deserialize)]
struct NoteAttrs {
    note: Option<String>,
    noteable_type: Option<String>,
    action: Option<String>,
    #[serde(rename = "type")]
    note_type: Option<String>,
    position: Option<IgnoredAny>,
    author_id: Option<u64>,
    system: Option<bool>,
    url: Option<String>,
}

/// `changes` lists what an `update` changed, each as `{previous, current}`.
#[derive(Deserialize, Default)]
struct Changes {
    title: Option<Change<String>>,
    description: Option<Change<String>>,
    target_branch: Option<Change<String>>,
    draft: Option<Change<bool>>,
    work_in_progress: Option<Change<bool>>,
    labels: Option<Change<Vec<Label>>>,
    assignees: Option<Change<Vec<User>>>,
    reviewers: Option<Change<Vec<User>>>,
}

#[derive(Deserialize)]
struct Change<T> {
    previous: Option<T>,
    current: Option<T>,
}

#[derive(Deserialize)]
struct User {
    id: Option<u64>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Label {
    title: Option<String>,
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: Option<String>,
    default_branch: Option<String>,
}

#[derive(Deserialize)]
struct Commit {
    id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// One function per handled hook.

fn merge_request(h: ItemHook) -> Result<Normalized, NormalizeError> {
    if let Some(ignored) = unexpected_kind(MR_HOOK, h.object_kind.as_deref(), "merge_request") {
        return Ok(ignored);
    }
    let attrs = need(h.object_attributes.as_ref(), MR_HOOK, "object_attributes")?;
    let Some(action) = attrs.action.as_deref() else {
        return Ok(Normalized::Ignored(
            "merge request hook without action".into(),
        ));
    };
    let actions = match action {
        "open" => vec![PrAction::Opened],
        "reopen" => vec![PrAction::Reopened],
        "close" => vec![PrAction::Closed],
        "merge" => vec![PrAction::Merged],
        "update" => update_actions(attrs, &summarize(&h.changes)),
        "approved" | "approval" => vec![PrAction::Approved],
        "unapproved" | "unapproval" => vec![PrAction::Unapproved],
        other => return Ok(ignored_action(MR_HOOK, other)),
    };
    let item = hook_item(MR_HOOK, ItemKind::PullRequest, &h, attrs)?;
    let sender = login(h.user.as_ref());
    let mut events: Vec<Event> = actions
        .into_iter()
        .map(|action| {
            Event::PullRequest(PullRequestEvent {
                pr: item.clone(),
                action,
                sender: sender.clone(),
                head_sha: attrs
                    .last_commit
                    .as_ref()
                    .and_then(|c| c.id.clone())
                    .unwrap_or_default(),
                base_sha: None,
                head_ref: attrs.source_branch.clone().unwrap_or_default(),
                base_ref: attrs.target_branch.clone().unwrap_or_default(),
            })
        })
        .collect();
    let verdict = match action {
        "approved" | "approval" => Some(ReviewState::Approved),
        "unapproved" | "unapproval" => Some(ReviewState::Unapproved),
        _ => None,
    };
    if let Some(verdict) = verdict {
        events.push(approval(item, sender, verdict));
    } else if let Some(c) = description_action(action, &h.changes) {
        let body = attrs.description.clone().unwrap_or_default();
        events.push(description(item, body, c));
    }
    Ok(Normalized::Events(events))
}

fn issue(h: ItemHook) -> Result<Normalized, NormalizeError> {
    if let Some(ignored) = unexpected_kind(ISSUE_HOOK, h.object_kind.as_deref(), "issue") {
        return Ok(ignored);
    }
    let attrs = need(
        h.object_attributes.as_ref(),
        ISSUE_HOOK,
        "object_attributes",
    )?;
    let Some(action) = attrs.action.as_deref() else {
        return Ok(Normalized::Ignored("issue hook without action".into()));
    };
    let actions = match action {
        "open" => vec![IssueAction::Opened],
        "close" => vec![IssueAction::Closed],
        "reopen" => vec![IssueAction::Reopened],
        "update" => issue_update_actions(&summarize(&h.changes)),
        _ => vec![IssueAction::Other],
    };
    let item = hook_item(ISSUE_HOOK, ItemKind::Issue, &h, attrs)?;
    let sender = login(h.user.as_ref());
    let mut events: Vec<Event> = actions
        .into_iter()
        .map(|action| {
            Event::Issue(IssueEvent {
                issue: item.clone(),
                action,
                sender: sender.clone(),
            })
        })
        .collect();
    if let Some(c) = description_action(action, &h.changes) {
        let body = attrs.description.clone().unwrap_or_default();
        events.push(description(item, body, c));
    }
    Ok(Normalized::Events(events))
}

fn note(h: NoteHook) -> Result<Normalized, NormalizeError> {
    if let Some(ignored) = unexpected_kind(NOTE_HOOK, h.object_kind.as_deref(), "note") {
        return Ok(ignored);
    }
    let attrs = need(h.object_attributes.as_ref(), NOTE_HOOK, "object_attributes")?;
    if attrs.system == Some(true) {
        return Ok(Normalized::Ignored("system note".into()));
    }
    let noteable = need(attrs.noteable_type.as_deref(), NOTE_HOOK, "noteable_type")?;
    let (kind, target, what) = match noteable {
        "MergeRequest" => (
            ItemKind::PullRequest,
            h.merge_request.as_ref(),
            "merge_request",
        ),
        "Issue" => (ItemKind::Issue, h.issue.as_ref(), "issue"),
        other => {
            return Ok(Normalized::Ignored(format!(
                "notes on {:?} are not handled",
                clip(other)
            )));
        }
    };
    let action = match attrs.action.as_deref() {
        None | Some("create") => CommentAction::Created,
        // GitLab does not send the note's previous text.
        Some("update") => CommentAction::Edited {
            previous_body: None,
        },
        Some(other) => return Ok(ignored_action(NOTE_HOOK, other)),
    };
    let target = need(target, NOTE_HOOK, what)?;
    let repo = repo_path(NOTE_HOOK, h.project.as_ref())?;
    let user = need(h.user.as_ref(), NOTE_HOOK, "user")?;
    let author = need(user.username.as_deref(), NOTE_HOOK, "user.username")?;
    // The note's author is the acting user; old payloads give their id only as `author_id`.
    let note_author = User {
        id: user.id.or(attrs.author_id),
        username: Some(author.to_string()),
    };
    let known = [&note_author];
    let item = Item {
        author: target
            .author_id
            .and_then(|id| find_login(id, known))
            .unwrap_or_else(|| Login::new("")),
        assignees: target.assignee.iter().map(|u| login(Some(u))).collect(),
        ..base_item(NOTE_HOOK, kind, repo, target)?
    };
    let source = if attrs.note_type.as_deref() == Some("DiffNote") || attrs.position.is_some() {
        CommentSource::ReviewComment
    } else {
        CommentSource::Comment
    };
    Ok(Normalized::Events(vec![Event::Comment(CommentEvent {
        item,
        author: Login::new(author),
        body: attrs.note.clone().unwrap_or_default(),
        action,
        source,
        review: None,
        html_url: attrs.url.clone().unwrap_or_default(),
    })]))
}

fn push(p: PushHook) -> Result<Normalized, NormalizeError> {
    if let Some(ignored) = unexpected_kind(PUSH_HOOK, p.object_kind.as_deref(), "push") {
        return Ok(ignored);
    }
    Ok(Normalized::Events(vec![Event::Push(PushEvent {
        forge: ForgeKind::GitLab,
        repo: repo_path(PUSH_HOOK, p.project.as_ref())?,
        git_ref: need(p.git_ref, PUSH_HOOK, "ref")?,
        before: need(p.before, PUSH_HOOK, "before")?,
        after: need(p.after, PUSH_HOOK, "after")?,
        // Payloads from before GitLab 10 have no `user_username`.
        pusher: Login::new(p.user_username.as_deref().unwrap_or_default()),
        default_branch: p.project.as_ref().and_then(|p| p.default_branch.clone()),
        changed_paths: super::github::pushed_paths(p.commits, p.total_commits_count),
    })]))
}

// ---------------------------------------------------------------------------------------------
// What an `update` changed.

/// The changes of one `update`, independent of whether it was an MR or an issue.
#[derive(Debug, Default, PartialEq)]
struct Changed {
    edited: bool,
    /// The new draft flag, when it changed.
    draft: Option<bool>,
    labels_added: Vec<String>,
    labels_removed: Vec<String>,
    assigned: bool,
    unassigned: bool,
    /// The reviewers added (usernames), when any were.
    reviewers_added: Vec<String>,
    review_request_removed: bool,
}

fn summarize(c: &Changes) -> Changed {
    let draft = c.draft.as_ref().or(c.work_in_progress.as_ref());
    let labels = c
        .labels
        .as_ref()
        .map(|ch| both(ch, |l: &Label| l.title.clone()));
    let (labels_before, labels_after) = labels.unwrap_or_default();
    let assignees = c.assignees.as_ref().map(|ch| both(ch, usernames));
    let (assignees_before, assignees_after) = assignees.unwrap_or_default();
    let reviewers = c.reviewers.as_ref().map(|ch| both(ch, usernames));
    let (reviewers_before, reviewers_after) = reviewers.unwrap_or_default();
    Changed {
        edited: c.title.is_some() || c.description.is_some() || c.target_branch.is_some(),
        draft: draft.and_then(|d| d.current),
        labels_added: added(&labels_before, &labels_after),
        labels_removed: added(&labels_after, &labels_before),
        assigned: !added(&assignees_before, &assignees_after).is_empty(),
        unassigned: !added(&assignees_after, &assignees_before).is_empty(),
        reviewers_added: added(&reviewers_before, &reviewers_after),
        review_request_removed: !added(&reviewers_after, &reviewers_before).is_empty(),
    }
}

fn update_actions(attrs: &Attrs, c: &Changed) -> Vec<PrAction> {
    let mut out = Vec::new();
    if let Some(before) = &attrs.oldrev {
        out.push(PrAction::Synchronized {
            before: Some(before.clone()),
        });
    }
    if c.edited {
        out.push(PrAction::Edited);
    }
    match c.draft {
        Some(true) => out.push(PrAction::ConvertedToDraft),
        Some(false) => out.push(PrAction::ReadyForReview),
        None => {}
    }
    out.extend(
        c.labels_added
            .iter()
            .map(|l| PrAction::Labeled { label: l.clone() }),
    );
    out.extend(
        c.labels_removed
            .iter()
            .map(|l| PrAction::Unlabeled { label: l.clone() }),
    );
    let flags = [
        (c.assigned, PrAction::Assigned),
        (c.unassigned, PrAction::Unassigned),
        (
            !c.reviewers_added.is_empty(),
            PrAction::ReviewRequested {
                reviewers: c.reviewers_added.iter().map(|r| Login::new(r)).collect(),
            },
        ),
        (c.review_request_removed, PrAction::ReviewRequestRemoved),
    ];
    out.extend(flags.into_iter().filter(|(on, _)| *on).map(|(_, a)| a));
    if out.is_empty() {
        out.push(PrAction::Updated);
    }
    out
}

fn issue_update_actions(c: &Changed) -> Vec<IssueAction> {
    let flags = [
        (c.edited, IssueAction::Edited),
        (!c.labels_added.is_empty(), IssueAction::Labeled),
        (!c.labels_removed.is_empty(), IssueAction::Unlabeled),
        (c.assigned, IssueAction::Assigned),
        (c.unassigned, IssueAction::Unassigned),
    ];
    let out: Vec<IssueAction> = flags
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, a)| a)
        .collect();
    if out.is_empty() {
        vec![IssueAction::Other]
    } else {
        out
    }
}

/// The description's comment action: created on `open`, edited when an `update` changed it.
fn description_action(action: &str, changes: &Changes) -> Option<CommentAction> {
    match (action, &changes.description) {
        ("open", _) => Some(CommentAction::Created),
        ("update", Some(d)) => Some(CommentAction::Edited {
            previous_body: d.previous.clone(),
        }),
        _ => None,
    }
}

fn both<T, F>(change: &Change<Vec<T>>, key: F) -> (Vec<String>, Vec<String>)
where
    F: Fn(&T) -> Option<String>,
{
    let keys = |v: &Option<Vec<T>>| v.iter().flatten().filter_map(&key).collect::<Vec<_>>();
    (keys(&change.previous), keys(&change.current))
}

fn usernames(u: &User) -> Option<String> {
    u.username.clone()
}

/// What `to` has that `from` lacks, in `to`'s order.
fn added(from: &[String], to: &[String]) -> Vec<String> {
    to.iter().filter(|x| !from.contains(x)).cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Items and comments.

/// The MR or issue of a hook, with its author resolved from the users the payload names.
fn hook_item(
    ev: &str,
    kind: ItemKind,
    h: &ItemHook,
    attrs: &Attrs,
) -> Result<Item, NormalizeError> {
    let repo = repo_path(ev, h.project.as_ref())?;
    let labels = h.labels.as_deref().or(attrs.labels.as_deref());
    let assignees: Vec<Login> = match (&h.assignees, &h.assignee) {
        (Some(list), _) => list.iter().map(|u| login(Some(u))).collect(),
        (None, one) => one.iter().map(|u| login(Some(u))).collect(),
    };
    Ok(Item {
        author: hook_author(h, attrs),
        labels: labels.map(label_titles).unwrap_or_default(),
        assignees,
        ..base_item(ev, kind, repo, attrs)?
    })
}

/// The item without author and assignees, which callers resolve from what their hook carries.
fn base_item(ev: &str, kind: ItemKind, repo: RepoPath, a: &Attrs) -> Result<Item, NormalizeError> {
    Ok(Item {
        reference: ItemRef {
            forge: ForgeKind::GitLab,
            repo,
            number: need(a.iid, ev, "iid")?,
            kind,
        },
        author: Login::new(""),
        state: item_state(a.state.as_deref()),
        title: a.title.clone().unwrap_or_default(),
        labels: a.labels.as_deref().map(label_titles).unwrap_or_default(),
        assignees: Vec::new(),
        draft: a.draft.unwrap_or(false) || a.work_in_progress.unwrap_or(false),
        html_url: a.url.clone().unwrap_or_default(),
    })
}

fn hook_author(h: &ItemHook, attrs: &Attrs) -> Login {
    let known = h
        .user
        .iter()
        .chain(h.assignees.iter().flatten())
        .chain(h.reviewers.iter().flatten())
        .chain(change_users(h.changes.assignees.as_ref()))
        .chain(change_users(h.changes.reviewers.as_ref()));
    if let Some(found) = attrs.author_id.and_then(|id| find_login(id, known)) {
        return found;
    }
    let actor_id = h.user.as_ref().and_then(|u| u.id);
    let contradicted = matches!((attrs.author_id, actor_id), (Some(a), Some(u)) if a != u);
    if attrs.action.as_deref() == Some("open") && !contradicted {
        return login(h.user.as_ref());
    }
    Login::new("")
}

fn change_users(change: Option<&Change<Vec<User>>>) -> impl Iterator<Item = &User> {
    change
        .into_iter()
        .flat_map(|c| c.previous.iter().chain(c.current.iter()))
        .flatten()
}

fn find_login<'a>(id: u64, users: impl IntoIterator<Item = &'a User>) -> Option<Login> {
    users
        .into_iter()
        .find(|u| u.id == Some(id))
        .and_then(|u| u.username.as_deref())
        .map(Login::new)
}

/// The description as a comment by the item's author, as Prow does for GitHub.
fn description(item: Item, body: String, action: CommentAction) -> Event {
    Event::Comment(CommentEvent {
        author: item.author.clone(),
        html_url: item.html_url.clone(),
        item,
        body,
        action,
        source: CommentSource::Description,
        review: None,
    })
}

/// A native approval as an empty review with a verdict, so plugins treat it like a GitHub
/// approving review.
fn approval(item: Item, approver: Login, verdict: ReviewState) -> Event {
    Event::Comment(CommentEvent {
        html_url: item.html_url.clone(),
        item,
        author: approver,
        body: String::new(),
        action: CommentAction::Created,
        source: CommentSource::Review,
        review: Some(verdict),
    })
}

fn item_state(state: Option<&str>) -> ItemState {
    match state {
        Some("merged") => ItemState::Merged,
        Some("closed" | "locked") => ItemState::Closed,
        _ => ItemState::Open,
    }
}

fn label_titles(labels: &[Label]) -> Vec<String> {
    labels.iter().filter_map(|l| l.title.clone()).collect()
}

fn login(user: Option<&User>) -> Login {
    Login::new(user.and_then(|u| u.username.as_deref()).unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A hook whose body is some other kind than its header says (GitLab sends work items such as
/// tasks as `Issue Hook` with `object_kind: work_item`) is ignored, not misread.
fn unexpected_kind(ev: &str, found: Option<&str>, expected: &str) -> Option<Normalized> {
    match found {
        Some(kind) if kind != expected => Some(Normalized::Ignored(format!(
            "{ev} with object_kind {:?} is not handled",
            clip(kind)
        ))),
        _ => None,
    }
}

fn repo_path(ev: &str, project: Option<&Project>) -> Result<RepoPath, NormalizeError> {
    let path = project.and_then(|p| p.path_with_namespace.as_deref());
    let path = need(path, ev, "project.path_with_namespace")?;
    RepoPath::parse(path).ok_or_else(|| malformed(ev, "invalid project.path_with_namespace"))
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

    fn pr_actions(events: &[Event]) -> Vec<PrAction> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::PullRequest(p) => Some(p.action.clone()),
                _ => None,
            })
            .collect()
    }

    const PROJECT: &str = r#""project":{"path_with_namespace":"grp/sub/proj"}"#;

    #[test]
    fn label_changes_become_one_event_per_label() {
        let json = format!(
            r#"{{"object_kind":"merge_request",{PROJECT},
                "object_attributes":{{"iid":4,"action":"update"}},
                "changes":{{"labels":{{"previous":[{{"title":"a"}},{{"title":"b"}}],
                                       "current":[{{"title":"b"}},{{"title":"c"}}]}}}}}}"#
        );
        assert_eq!(
            pr_actions(&events(MR_HOOK, &json)),
            vec![
                PrAction::Labeled { label: "c".into() },
                PrAction::Unlabeled { label: "a".into() }
            ]
        );
    }

    #[test]
    fn update_without_a_known_change_is_updated() {
        let json = format!(
            r#"{{{PROJECT},"object_attributes":{{"iid":4,"action":"update"}},"changes":null}}"#
        );
        assert_eq!(pr_actions(&events(MR_HOOK, &json)), vec![PrAction::Updated]);
    }

    #[test]
    fn author_is_found_among_payload_users_by_id() {
        let json = format!(
            r#"{{{PROJECT},"user":{{"id":1,"username":"approver"}},
                "assignees":[{{"id":7,"username":"Author"}}],
                "object_attributes":{{"iid":4,"action":"approved","author_id":7}}}}"#
        );
        let evs = events(MR_HOOK, &json);
        let Event::Comment(c) = &evs[1] else {
            panic!("approval comment expected")
        };
        assert_eq!(c.item.author, Login::new("author"));
        assert_eq!(c.author, Login::new("approver"));
        assert_eq!(c.review, Some(ReviewState::Approved));
    }

    #[test]
    fn opener_is_not_taken_as_author_when_ids_disagree() {
        let json = format!(
            r#"{{{PROJECT},"user":{{"id":1,"username":"someone"}},
                "object_attributes":{{"iid":4,"action":"open","author_id":7}}}}"#
        );
        let evs = events(MR_HOOK, &json);
        assert_eq!(evs[0].item().map(|i| i.author.as_str()), Some(""));
    }

    #[test]
    fn work_items_and_system_notes_are_ignored() {
        let work_item = r#"{"object_kind":"work_item","object_attributes":{"iid":1}}"#;
        assert!(matches!(
            normalize("Issue Hook", work_item.as_bytes()),
            Ok(Normalized::Ignored(_))
        ));
        let system = r#"{"object_kind":"note","object_attributes":{"system":true}}"#;
        assert!(matches!(
            normalize("Note Hook", system.as_bytes()),
            Ok(Normalized::Ignored(_))
        ));
    }

    #[test]
    fn confidential_hooks_are_read_like_the_others() {
        let json = format!(
            r#"{{{PROJECT},"user":{{"username":"u"}},
                "object_attributes":{{"noteable_type":"Issue","note":"/hold"}},
                "issue":{{"iid":9}}}}"#
        );
        let evs = events("Confidential Note Hook", &json);
        let Event::Comment(c) = &evs[0] else {
            panic!("comment expected")
        };
        assert_eq!(c.body, "/hold");
        assert_eq!(c.item.reference.to_string(), "grp/sub/proj#9");
    }

    #[test]
    fn missing_iid_is_malformed() {
        let json = format!(r#"{{{PROJECT},"object_attributes":{{"action":"open"}}}}"#);
        let err = normalize(MR_HOOK, json.as_bytes()).expect_err("no iid");
        assert!(err.reason.contains("iid"), "{err}");
    }
}
