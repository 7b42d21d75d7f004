//! `/pr/{forge}/{repo…}/{number}`: a pull request's (or issue's) audit trail. Oldest first:
//! who did what (which command, on which head SHA), and what bosun did about it — each
//! plugin's actions with outcome and error — then the state bosun holds now: labels and head
//! from the `pull_requests` table, and the facts plugins reported (who LGTM'd, who approves …).
//!
//! The head SHA of a comment is read from the payload when the forge sends it (GitLab notes,
//! GitHub PR and review events); a GitHub issue comment does not carry it, so the page shows the
//! head last seen earlier on the page, marked as such.

use super::auth::require_reader;
use super::delivery::ActionView;
use super::{Chrome, PageError, delivery_href, excerpt, html, item_label, time};
use crate::server::AppState;
use crate::store::{ActionRecord, Cursor, DeliveryDetail};
use crate::webhook::{self, Normalized};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use bosun_plugins::{CommentAction, CommentSource, Event, ForgeKind, PrAction, RepoPath};
use serde::Deserialize;
use std::collections::HashMap;

/// Entries per page.
const PAGE_SIZE: i64 = 100;

/// `?after=` continues the trail after an entry.
#[derive(Debug, Deserialize)]
pub struct PullQuery {
    after: Option<String>,
}

/// One delivery in the trail.
pub struct Entry {
    pub when: String,
    pub actor: String,
    pub what: String,
    pub commands: Vec<String>,
    pub body: Option<String>,
    pub head_sha: String,
    /// The first 12 characters, as people quote a SHA.
    pub head_short: String,
    pub head_carried: bool,
    pub status: String,
    pub href: String,
    pub error: Option<String>,
    pub actions: Vec<ActionView>,
}

/// The current state panel.
pub struct Current {
    pub state: String,
    pub head_sha: String,
    pub labels: Vec<String>,
    /// What plugins reported (who LGTM'd, who approves …), whatever plugin reported it.
    pub facts: Vec<FactView>,
    /// The CI contexts on the head, as bosun last heard of them.
    pub ci: Vec<bosun_plugins::CiContext>,
    pub updated: String,
}

/// One reported fact: its title, its values, and the plugin that reported it.
pub struct FactView {
    pub title: String,
    pub values: Vec<String>,
    pub plugin: String,
}

#[derive(Template)]
#[template(path = "pull.html")]
struct PullPage {
    chrome: Chrome,
    title: String,
    forge: String,
    current: Option<Current>,
    entries: Vec<Entry>,
    later: Option<String>,
    list_href: String,
    /// Where the "look again" button posts.
    resync_action: String,
}

/// A PR named by a page path: `{forge}` and `{repo path}/{number}`.
pub fn pr_path(forge: &str, rest: &str) -> Result<(ForgeKind, RepoPath, i64), PageError> {
    let forge = ForgeKind::parse(forge)
        .ok_or_else(|| PageError::NotFound("forge must be github or gitlab".into()))?;
    let bad = || PageError::NotFound("expected {forge}/{repo path}/{number}".into());
    let (repo_text, number_text) = rest.rsplit_once('/').ok_or_else(bad)?;
    let repo = RepoPath::parse(repo_text).ok_or_else(bad)?;
    let number: i64 = number_text
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(bad)?;
    Ok((forge, repo, number))
}

fn pr_action_text(a: &PrAction) -> String {
    match a {
        PrAction::Opened => "opened it".into(),
        PrAction::Reopened => "reopened it".into(),
        PrAction::Closed => "closed it".into(),
        PrAction::Merged => "merged it".into(),
        PrAction::Synchronized { .. } => "pushed new commits".into(),
        PrAction::Labeled { label } => format!("added the label {label}"),
        PrAction::Unlabeled { label } => format!("removed the label {label}"),
        PrAction::Edited => "edited it".into(),
        PrAction::ReadyForReview => "marked it ready for review".into(),
        PrAction::ConvertedToDraft => "converted it to a draft".into(),
        PrAction::Assigned => "assigned someone".into(),
        PrAction::Unassigned => "unassigned someone".into(),
        PrAction::ReviewRequested { reviewers } if reviewers.is_empty() => {
            "requested a review".into()
        }
        PrAction::ReviewRequested { reviewers } => format!(
            "requested a review from {}",
            reviewers
                .iter()
                .map(|r| format!("@{r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PrAction::ReviewRequestRemoved => "withdrew a review request".into(),
        PrAction::Approved => "approved it".into(),
        PrAction::Unapproved => "withdrew an approval".into(),
        PrAction::Updated => "updated it".into(),
        PrAction::Resync => "looked at it again (resync)".into(),
    }
}

fn comment_text(source: CommentSource, action: &CommentAction) -> &'static str {
    match (action, source) {
        (CommentAction::Edited { .. }, _) => "edited a comment",
        (CommentAction::Deleted, _) => "deleted a comment",
        (_, CommentSource::Comment) => "commented",
        (_, CommentSource::ReviewComment) => "commented on the diff",
        (_, CommentSource::Review) => "reviewed",
        (_, CommentSource::Description) => "wrote the description",
    }
}

/// The head SHA a payload names, where the forge sends one.
fn payload_head_sha(forge: ForgeKind, payload: &serde_json::Value) -> Option<String> {
    let pointers: &[&str] = match forge {
        ForgeKind::GitHub => &["/pull_request/head/sha"],
        ForgeKind::GitLab => &[
            "/object_attributes/last_commit/id",
            "/merge_request/last_commit/id",
        ],
    };
    pointers
        .iter()
        .find_map(|p| payload.pointer(p).and_then(|v| v.as_str()))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Describes one delivery; `last_head` carries the head SHA forward between entries.
fn entry(
    forge: ForgeKind,
    d: &DeliveryDetail,
    actions: &[&ActionRecord],
    last_head: &mut Option<String>,
) -> Entry {
    let r = &d.record;
    let normalized = webhook::normalize(forge, &r.event, &d.payload);
    let mut actor = String::new();
    let mut what = Vec::new();
    let mut commands = Vec::new();
    let mut body = None;
    let mut head = serde_json::from_slice::<serde_json::Value>(&d.payload)
        .ok()
        .and_then(|v| payload_head_sha(forge, &v));
    match normalized {
        Ok(Normalized::Events(events)) => {
            for e in &events {
                if actor.is_empty()
                    && let Some(a) = e.actor()
                {
                    actor = a.to_string();
                }
                match e {
                    Event::Comment(c) => {
                        what.push(comment_text(c.source, &c.action).to_string());
                        commands.extend(
                            c.body
                                .lines()
                                .map(str::trim)
                                .filter(|l| l.starts_with('/'))
                                .map(|l| excerpt(l, 200)),
                        );
                        body = Some(excerpt(&c.body, 2000));
                    }
                    Event::PullRequest(p) => {
                        what.push(pr_action_text(&p.action));
                        if !p.head_sha.is_empty() {
                            head = Some(p.head_sha.clone());
                        }
                    }
                    Event::Issue(i) => what.push(format!("issue event: {:?}", i.action)),
                    Event::Push(p) => what.push(format!("pushed to {}", p.git_ref)),
                    Event::Ping(_) => what.push("ping".into()),
                    Event::Ci(c) => {
                        what.push(format!("CI {} is {}", c.context, c.state.as_str()));
                        head = Some(c.sha.clone());
                    }
                    Event::DeliveryFailed(f) => what.push(format!(
                        "bosun gave up on delivery {} after {} attempts",
                        f.delivery_id, f.attempts
                    )),
                }
            }
        }
        Ok(Normalized::Ignored(reason)) => what.push(format!("{} (ignored: {reason})", r.event)),
        Err(e) => what.push(format!("{} (not normalized: {e})", r.event)),
    }
    let head_carried = head.is_none() && last_head.is_some();
    if head.is_some() {
        last_head.clone_from(&head);
    }
    let head_sha = head.or_else(|| last_head.clone()).unwrap_or_default();
    Entry {
        when: time(r.received_at),
        head_short: head_sha.chars().take(12).collect(),
        actor,
        what: what.join("; "),
        commands,
        body,
        head_sha,
        head_carried,
        status: r.status.clone(),
        href: delivery_href(&r.delivery_id),
        error: r.last_error.clone(),
        actions: actions.iter().map(|a| ActionView::of(a)).collect(),
    }
}

/// `GET /pr/{forge}/{repo…}/{number}`.
pub async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<PullQuery>,
) -> Result<HttpResponse, PageError> {
    require_reader(&req, &state.settings)?;
    let (forge_text, rest) = path.into_inner();
    let (forge, repo, number) = pr_path(&forge_text, &rest)?;
    let after = match super::filter_value(&query.after, "after")? {
        None => None,
        Some(c) => Some(Cursor::decode(&c).ok_or_else(|| {
            PageError::BadRequest("after must be a cursor from a 'later' link".into())
        })?),
    };
    let store = &state.store;
    let mut history = store
        .item_history(forge, repo.as_str(), number, after, PAGE_SIZE + 1)
        .await?;
    let more = history.len() as i64 > PAGE_SIZE;
    history.truncate(PAGE_SIZE as usize);
    let current = store
        .pull_request_view(forge, repo.as_str(), number)
        .await?;
    let facts = store.facts(forge, repo.as_str(), number).await?;
    let head = current.as_ref().and_then(|v| v.state.head_sha.clone());
    let ci = match &head {
        Some(sha) => store.ci_contexts(forge, repo.as_str(), sha).await?,
        None => Vec::new(),
    }
    .into_iter()
    // Only web links are links: a CI payload's URL never becomes a `javascript:` href.
    .map(|mut c| {
        c.url = c
            .url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"));
        c
    })
    .collect();
    if history.is_empty() && after.is_none() && current.is_none() {
        return Err(PageError::NotFound(format!(
            "bosun has no record of {repo}#{number} on {forge}"
        )));
    }
    let ids: Vec<i64> = history.iter().map(|d| d.record.id).collect();
    let actions = store.actions_of(&ids).await?;
    let mut by_delivery: HashMap<i64, Vec<&ActionRecord>> = HashMap::new();
    for a in &actions {
        by_delivery.entry(a.delivery).or_default().push(a);
    }
    let mut last_head = None;
    let entries = history
        .iter()
        .map(|d| {
            let acts = by_delivery
                .get(&d.record.id)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            entry(forge, d, acts, &mut last_head)
        })
        .collect();
    let later = history.last().filter(|_| more).map(|last| {
        format!(
            "{}?after={}",
            super::item_href(forge.as_str(), repo.as_str(), number),
            Cursor::of(&last.record).encode()
        )
    });
    let is_mr = current.is_some();
    html(&PullPage {
        chrome: Chrome {
            private_pages: state.settings.private_pages,
        },
        title: item_label(forge.as_str(), repo.as_str(), number, is_mr),
        forge: forge.as_str().to_string(),
        resync_action: format!("/admin/resync/{}/{}/{number}", forge.as_str(), repo),
        current: current.map(|v| Current {
            state: v.state.state,
            head_sha: v.state.head_sha.unwrap_or_default(),
            labels: v.state.labels,
            facts: facts
                .into_iter()
                .map(|f| FactView {
                    title: f.fact.title().to_string(),
                    values: f.fact.values(),
                    plugin: f.plugin,
                })
                .collect(),
            ci,
            updated: time(v.updated_at),
        }),
        entries,
        later,
        list_href: format!("/?repo={}", super::encode(repo.as_str())),
    })
}
