//! The GitLab v4 subset, in GitLab's response shapes. Request bodies may be form-encoded (as the
//! `gitlab` crate sends them) or JSON.

use crate::server::{Reply, Req, decode};
use crate::world::{Comment, Item, RepoLabel, Status, World, tree_listing};
use bosun_plugins::{ForgeKind, ItemKind, ItemState};
use serde_json::{Value, json};

const GL: ForgeKind = ForgeKind::GitLab;

/// Routes one request (path after `/api/v4`); `None` if no route matches.
pub(crate) fn route(world: &mut World, req: &Req<'_>) -> Option<Reply> {
    let reply = match (req.method, req.segments.as_slice()) {
        ("GET", ["user"]) => current_user(world, req),
        ("GET", ["users"]) => find_users(world, req),
        ("GET", ["groups", group, "members", "all"]) => group_members(world, req, &decode(group)),
        (_, ["projects", project, rest @ ..]) => {
            let Some(repo) = find_project(world, &decode(project)) else {
                return Some(error(404, "404 Project Not Found"));
            };
            return project_route(world, req, &repo, rest);
        }
        _ => return None,
    };
    Some(reply)
}

/// Routes under `/projects/:id`.
fn project_route(world: &mut World, req: &Req<'_>, repo: &str, rest: &[&str]) -> Option<Reply> {
    if let Some(reply) = crate::ci::gitlab_route(world, req, repo, rest) {
        return Some(reply);
    }
    if let Some(reply) = crate::git::gitlab_route(world, req, repo, rest) {
        return Some(reply);
    }
    if let Some(reply) = crate::issue_move::gitlab_route(world, req, repo, rest) {
        return Some(reply);
    }
    let reply = match (req.method, rest) {
        ("GET", ["labels"]) => list_labels(world, req, repo),
        ("GET", ["milestones"]) => list_milestones(world, req, repo),
        ("POST", ["labels"]) => create_label(world, req, repo),
        ("GET", ["members", "all", user]) => {
            project_member(world, req, repo, user.parse().ok()?, true)
        }
        ("GET", ["members", user]) => project_member(world, req, repo, user.parse().ok()?, false),
        ("GET", ["repository", "tree"]) => tree(world, req, repo),
        ("GET", ["repository", "compare"]) => compare(world, req, repo),
        ("GET", ["repository", "files", path, "raw"]) => raw_file(world, req, repo, &decode(path)),
        ("GET", ["repository", "commits", sha]) => single_commit(world, repo, &decode(sha)),
        ("POST", ["statuses", sha]) => create_status(world, req, repo, &decode(sha)),
        ("GET", ["merge_requests"]) => list_mrs(world, req, repo),
        (_, [kind, iid, rest @ ..]) => {
            let kind = match *kind {
                "merge_requests" => ItemKind::PullRequest,
                "issues" => ItemKind::Issue,
                _ => return None,
            };
            let iid: u64 = iid.parse().ok()?;
            let Some(idx) = world
                .gitlab
                .repo(repo)
                .and_then(|r| r.item_index(Some(kind), iid))
            else {
                let what = match kind {
                    ItemKind::PullRequest => "Merge Request",
                    ItemKind::Issue => "Issue",
                };
                return Some(error(404, &format!("404 {what} Not Found")));
            };
            let at = Target {
                repo: repo.to_string(),
                idx,
            };
            let mr = kind == ItemKind::PullRequest;
            match (req.method, rest) {
                ("GET", []) => get_item(world, req, &at),
                ("PUT", []) => edit_item(world, req, &at),
                ("GET", ["notes"]) => list_notes(world, req, &at),
                ("POST", ["notes"]) => create_note(world, req, &at),
                ("GET", ["notes", id]) => get_note(world, req, &at, id.parse().ok()?, 200),
                ("PUT", ["notes", id]) => edit_note(world, req, &at, id.parse().ok()?),
                ("DELETE", ["notes", id]) => delete_note(world, &at, id.parse().ok()?),
                ("GET", ["diffs"]) if mr => diffs(world, req, &at),
                ("GET", ["commits"]) if mr => mr_commits(world, req, &at),
                ("GET", ["approvals"]) if mr => approvals(world, req, &at),
                ("PUT", ["merge"]) if mr => merge(world, req, &at),
                ("PUT", ["rebase"]) if mr => rebase(world, &at),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(reply)
}

/// An item located by project path and index in that project.
struct Target {
    repo: String,
    idx: usize,
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({ "message": message }))
}

/// A project by URL-decoded path or numeric id.
fn find_project(world: &World, id: &str) -> Option<String> {
    let numeric: Option<u64> = id.parse().ok();
    world
        .gitlab
        .repos
        .iter()
        .find(|r| r.path == id || Some(r.id) == numeric)
        .map(|r| r.path.clone())
}

fn user_json(world: &mut World, req: &Req<'_>, login: &str) -> Value {
    let id = world.user_id(login);
    let host = req.base.trim_end_matches("/api/v4");
    json!({
        "id": id,
        "username": login,
        "name": login,
        "state": "active",
        "locked": false,
        "avatar_url": format!("{host}/uploads/-/system/user/avatar/{id}/avatar.png"),
        "web_url": format!("{host}/{login}"),
    })
}

fn current_user(world: &mut World, req: &Req<'_>) -> Reply {
    let login = world.gitlab.bot.clone();
    let mut user = user_json(world, req, &login);
    if let Some(u) = user.as_object_mut() {
        u.insert("bot".into(), json!(true));
        u.insert("created_at".into(), json!("2024-01-01T00:00:00.000Z"));
        u.insert("is_admin".into(), json!(false));
    }
    Reply::json(200, user)
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn item_json(world: &mut World, req: &Req<'_>, at: &Target) -> Option<Value> {
    let (project_id, item): (u64, Item) = {
        let repo = world.gitlab.repo(&at.repo)?;
        (repo.id, repo.items.get(at.idx)?.clone())
    };
    let author = user_json(world, req, &item.author);
    let assignees: Vec<Value> = item
        .assignees
        .iter()
        .map(|a| user_json(world, req, a))
        .collect();
    let host = req.base.trim_end_matches("/api/v4");
    let (state, path) = match (item.kind, item.state) {
        (_, ItemState::Open) => ("opened", item_path(item.kind)),
        (ItemKind::PullRequest, ItemState::Merged) => ("merged", "merge_requests"),
        (_, _) => ("closed", item_path(item.kind)),
    };
    let sigil = if item.kind == ItemKind::PullRequest {
        "!"
    } else {
        "#"
    };
    let mut v = json!({
        "id": item.id,
        "iid": item.number,
        "project_id": project_id,
        "title": item.title,
        "description": item.body,
        "state": state,
        "created_at": time(item.created_at),
        "updated_at": time(item.created_at),
        "closed_at": null,
        "labels": item.labels,
        "author": author,
        "assignee": assignees.first().cloned(),
        "assignees": assignees,
        "milestone": item.milestone.and_then(|id| {
            let repo = world.gitlab.repo(&at.repo)?;
            repo.milestones
                .iter()
                .find(|m| m.id == id)
                .map(|m| gitlab_milestone_json(repo.id, m))
        }),
        "user_notes_count": item.comments.len(),
        "moved_to_id": item.moved_to,
        "upvotes": 0,
        "downvotes": 0,
        "discussion_locked": null,
        "web_url": format!("{host}/{}/-/{path}/{}", at.repo, item.number),
        "references": {
            "short": format!("{sigil}{}", item.number),
            "relative": format!("{sigil}{}", item.number),
            "full": format!("{}{sigil}{}", at.repo, item.number),
        },
    });
    if item.kind == ItemKind::PullRequest {
        let reviewers: Vec<Value> = item
            .requested_reviewers
            .iter()
            .map(|r| user_json(world, req, r))
            .collect();
        let merged = item.state == ItemState::Merged;
        let mr = json!({
            "target_branch": item.base_ref,
            "source_branch": item.head_ref,
            "source_project_id": project_id,
            "target_project_id": project_id,
            "reviewers": reviewers,
            "draft": item.draft,
            "work_in_progress": item.draft,
            "merge_status": if item.mergeable { "can_be_merged" } else { "cannot_be_merged" },
            "detailed_merge_status": if !item.mergeable {
                "conflict"
            } else if item.approvals_left > 0 {
                "not_approved"
            } else {
                "mergeable"
            },
            "has_conflicts": !item.mergeable,
            "merge_when_pipeline_succeeds": item.auto_merge,
            "sha": item.head_sha,
            "diff_refs": {
                "base_sha": item.base_sha,
                "head_sha": item.head_sha,
                "start_sha": item.base_sha,
            },
            "squash": item.merged_with.as_deref() == Some("squash"),
            "merge_commit_sha": null,
            "squash_commit_sha": null,
            "merged_by": null,
            "merged_at": if merged { json!("2024-01-01T00:00:00.000Z") } else { Value::Null },
        });
        if let (Some(o), Some(extra)) = (v.as_object_mut(), mr.as_object()) {
            o.extend(extra.clone());
        }
    }
    Some(v)
}

fn item_path(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::PullRequest => "merge_requests",
        ItemKind::Issue => "issues",
    }
}

/// `GET /projects/:id/merge_requests`: the MRs, newest first, paged; `state=opened` keeps the
/// open ones and `author_username` one author's (GitLab's default is every state).
fn list_mrs(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let open_only = req.query_param("state") == Some("opened");
    let author = req.query_param("author_username").map(str::to_string);
    let indexes: Vec<usize> = world
        .gitlab
        .repo(repo)
        .map(|r| {
            r.items
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, i)| i.kind == ItemKind::PullRequest)
                .filter(|(_, i)| !open_only || i.state == ItemState::Open)
                .filter(|(_, i)| {
                    author
                        .as_deref()
                        .is_none_or(|a| i.author.eq_ignore_ascii_case(a))
                })
                .map(|(idx, _)| idx)
                .collect()
        })
        .unwrap_or_default();
    let all: Vec<Value> = indexes
        .into_iter()
        .filter_map(|idx| {
            let at = Target {
                repo: repo.to_string(),
                idx,
            };
            item_json(world, req, &at)
        })
        .collect();
    paged(req, all)
}

fn get_item(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    match item_json(world, req, at) {
        Some(v) => Reply::json(200, v),
        None => error(404, "404 Not found"),
    }
}

/// Splits GitLab's comma-separated label list.
fn label_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The edit parameters GitLab reads on `PUT` of an MR or issue; at least one is required.
const EDIT_PARAMS: [&str; 10] = [
    "labels",
    "milestone_id",
    "add_labels",
    "remove_labels",
    "title",
    "state_event",
    "assignee_ids",
    "assignee_id",
    "reviewer_ids",
    "description",
];

fn edit_item(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    if EDIT_PARAMS.iter().all(|p| req.body_list(p).is_none()) {
        return Reply::json(
            400,
            json!({"error": "assignee_id, assignee_ids, description, labels, add_labels, \
                   remove_labels, … are missing, at least one parameter must be provided"}),
        );
    }
    if let Some(all) = req.body_field("labels") {
        if let Some(r) = world.gitlab.repo_mut(&at.repo) {
            r.items[at.idx].labels.clear();
        }
        world.add_labels(GL, &at.repo, at.idx, &label_list(&all));
    }
    if let Some(add) = req.body_field("add_labels") {
        world.add_labels(GL, &at.repo, at.idx, &label_list(&add));
    }
    let assignees = req
        .body_list("assignee_ids")
        .or_else(|| req.body_list("assignee_id"))
        .map(|ids| logins(world, &ids));
    let reviewers = req.body_list("reviewer_ids").map(|ids| logins(world, &ids));
    let Some(repo) = world.gitlab.repo_mut(&at.repo) else {
        return error(404, "404 Not found");
    };
    // `milestone_id`: a milestone's global id, or 0 (or empty) to clear.
    let milestone = match req.body_field("milestone_id") {
        None => None,
        Some(v) if v.is_empty() || v == "0" => Some(None),
        Some(v) => match v.parse::<u64>() {
            Ok(id) if repo.milestones.iter().any(|m| m.id == id) => Some(Some(id)),
            _ => return Reply::json(400, json!({"message": {"milestone": ["is invalid"]}})),
        },
    };
    // Tests can make GitLab skip some users it is asked to add, without an error.
    let kept = |repo: &crate::world::Repo, now: &[String], new: Vec<String>| -> Vec<String> {
        new.into_iter()
            .filter(|u| now.contains(u) || !repo.drops_at_write(u))
            .collect()
    };
    let (assignees, reviewers) = match repo.items.get(at.idx) {
        Some(item) => (
            assignees.map(|a| kept(repo, &item.assignees, a)),
            reviewers.map(|r| kept(repo, &item.requested_reviewers, r)),
        ),
        None => return error(404, "404 Not found"),
    };
    let Some(item) = repo.items.get_mut(at.idx) else {
        return error(404, "404 Not found");
    };
    if let Some(remove) = req.body_field("remove_labels") {
        let gone = label_list(&remove);
        item.labels.retain(|l| !gone.iter().any(|g| g == l));
    }
    if let Some(title) = req.body_field("title") {
        item.title = title;
    }
    if let Some(m) = milestone {
        item.milestone = m;
    }
    match req.body_field("state_event").as_deref() {
        Some("close") if item.state == ItemState::Open => item.state = ItemState::Closed,
        Some("reopen") if item.state == ItemState::Closed => item.state = ItemState::Open,
        _ => {}
    }
    if let Some(assignees) = assignees {
        item.assignees = assignees;
    }
    if let (Some(reviewers), ItemKind::PullRequest) = (reviewers, item.kind) {
        item.requested_reviewers = reviewers;
    }
    get_item(world, req, at)
}

/// The logins of user ids (GitLab's `assignee_ids`/`reviewer_ids`); `0` and unknown ids
/// are dropped, so `[0]` clears the list.
fn logins(world: &World, ids: &[String]) -> Vec<String> {
    ids.iter()
        .flat_map(|v| v.split(','))
        .filter_map(|id| id.trim().parse::<u64>().ok())
        .filter_map(|id| world.login_of(id))
        .collect()
}

fn note_json(world: &mut World, req: &Req<'_>, at: &Target, c: &Comment) -> Option<Value> {
    let item = world.gitlab.repo(&at.repo)?.items.get(at.idx)?.clone();
    let author = user_json(world, req, &c.author);
    let noteable_type = match item.kind {
        ItemKind::PullRequest => "MergeRequest",
        ItemKind::Issue => "Issue",
    };
    Some(json!({
        "id": c.id,
        "type": null,
        "body": c.body,
        "attachment": null,
        "author": author,
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "system": c.system,
        "noteable_id": item.id,
        "noteable_type": noteable_type,
        "noteable_iid": item.number,
        "project_id": world.gitlab.repo(&at.repo).map(|r| r.id),
        "resolvable": false,
        "confidential": false,
        "internal": false,
        "commands_changes": {},
    }))
}

/// Notes sorted as GitLab does (`order_by` created_at|updated_at, `sort` desc by default),
/// paginated with `page`/`per_page` (default 20, max 100) and GitLab's `X-*` headers.
fn list_notes(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(mut notes) = world
        .gitlab
        .repo(&at.repo)
        .and_then(|r| r.items.get(at.idx))
        .map(|i| i.comments.clone())
    else {
        return error(404, "404 Not found");
    };
    let by_updated = req.query_param("order_by") == Some("updated_at");
    notes.sort_by_key(|c| {
        (
            if by_updated {
                c.updated_at
            } else {
                c.created_at
            },
            c.id,
        )
    });
    if req.query_param("sort") != Some("asc") {
        notes.reverse();
    }
    let items: Vec<Value> = notes
        .iter()
        .filter_map(|c| note_json(world, req, at, c))
        .collect();
    paged(req, items)
}

/// GitLab's offset pagination: `page`/`per_page` (default 20, max 100) and its `X-*` headers.
fn paged(req: &Req<'_>, all: Vec<Value>) -> Reply {
    let per_page = req
        .query_param("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let page = req
        .query_param("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = all.len();
    let pages = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = if page < pages { page + 1 } else { 0 };
    let prev = page.saturating_sub(1);
    let show = |p: usize| if p == 0 { String::new() } else { p.to_string() };
    Reply::json(200, Value::Array(items))
        .header("x-page", page)
        .header("x-per-page", per_page)
        .header("x-total", total)
        .header("x-total-pages", pages)
        .header("x-next-page", show(next))
        .header("x-prev-page", show(prev))
}

fn create_note(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(body) = req.body_field("body").filter(|b| !b.is_empty()) else {
        return Reply::json(400, json!({"error": "body is missing"}));
    };
    let bot = world.gitlab.bot.clone();
    match world.add_comment(GL, &at.repo, at.idx, &bot, &body) {
        Some(id) => get_note(world, req, at, id, 201),
        None => error(404, "404 Not found"),
    }
}

fn get_note(world: &mut World, req: &Req<'_>, at: &Target, id: u64, status: u16) -> Reply {
    let note = world
        .gitlab
        .repo(&at.repo)
        .and_then(|r| r.items.get(at.idx))
        .and_then(|i| i.comments.iter().find(|c| c.id == id).cloned());
    match note.and_then(|c| note_json(world, req, at, &c)) {
        Some(v) => Reply::json(status, v),
        None => error(404, "404 Note Not Found"),
    }
}

fn edit_note(world: &mut World, req: &Req<'_>, at: &Target, id: u64) -> Reply {
    let Some(body) = req.body_field("body") else {
        return Reply::json(400, json!({"error": "body is missing"}));
    };
    let now = world.tick();
    let Some(note) = world
        .gitlab
        .repo_mut(&at.repo)
        .and_then(|r| r.items.get_mut(at.idx))
        .and_then(|i| i.comments.iter_mut().find(|c| c.id == id))
    else {
        return error(404, "404 Note Not Found");
    };
    note.body = body;
    note.updated_at = now;
    get_note(world, req, at, id, 200)
}

// ---------------------------------------------------------------------------------------------
// Users and members
// ---------------------------------------------------------------------------------------------

/// `GET /users?username=…`: zero or one user; only users the world has seen exist.
fn find_users(world: &mut World, req: &Req<'_>) -> Reply {
    let found = req
        .query_param("username")
        .and_then(|name| world.known_user(name).and_then(|id| world.login_of(id)));
    let users: Vec<Value> = found
        .iter()
        .map(|login| user_json(world, req, login))
        .collect();
    Reply::json(200, Value::Array(users))
}

fn member_json(world: &mut World, req: &Req<'_>, login: &str, level: u32) -> Value {
    let mut v = user_json(world, req, login);
    if let Some(o) = v.as_object_mut() {
        o.insert("access_level".into(), json!(level));
        o.insert("created_at".into(), json!("2024-01-01T00:00:00.000Z"));
        o.insert("expires_at".into(), Value::Null);
        o.insert("membership_state".into(), json!("active"));
    }
    v
}

/// `GET /groups/:id/members/all`, with inherited members and the `user_ids[]` filter.
fn group_members(world: &mut World, req: &Req<'_>, group: &str) -> Reply {
    if !world.gitlab.groups.contains_key(group) {
        return error(404, "404 Group Not Found");
    }
    let wanted: Vec<u64> = req
        .query
        .iter()
        .filter(|(k, _)| k == "user_ids[]" || k == "user_ids")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let mut logins: Vec<String> = Vec::new();
    let mut scope = Some(group);
    while let Some(path) = scope {
        for login in world
            .gitlab
            .groups
            .get(path)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            if !logins.contains(login) {
                logins.push(login.clone());
            }
        }
        scope = path.rsplit_once('/').map(|(parent, _)| parent);
    }
    let mut members = Vec::new();
    for login in logins {
        let id = world.user_id(&login);
        if !wanted.is_empty() && !wanted.contains(&id) {
            continue;
        }
        if let Some(level) = world.gitlab.group_level(group, &login, true) {
            members.push(member_json(world, req, &login, level));
        }
    }
    paged(req, members)
}

/// `GET /projects/:id/members[/all]/:user_id`.
fn project_member(
    world: &mut World,
    req: &Req<'_>,
    repo: &str,
    user: u64,
    inherited: bool,
) -> Reply {
    let Some(login) = world.login_of(user) else {
        return error(404, "404 Not found");
    };
    let site = &world.gitlab;
    let level = site
        .repo(repo)
        .and_then(|r| r.member_level(site, &login, inherited));
    match level {
        Some(level) => Reply::json(200, member_json(world, req, &login, level)),
        None => error(404, "404 Not found"),
    }
}

// ---------------------------------------------------------------------------------------------
// Labels, repository, statuses
// ---------------------------------------------------------------------------------------------

fn gitlab_label_json(l: &RepoLabel) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "color": format!("#{}", l.color),
        "text_color": "#FFFFFF",
        "description": l.description,
        "open_issues_count": 0,
        "closed_issues_count": 0,
        "open_merge_requests_count": 0,
        "subscribed": false,
        "priority": null,
        "is_project_label": true,
    })
}

fn list_labels(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let labels = world
        .gitlab
        .repo(repo)
        .map(|r| r.labels.iter().map(gitlab_label_json).collect())
        .unwrap_or_default();
    paged(req, labels)
}

fn gitlab_milestone_json(project_id: u64, m: &crate::Milestone) -> Value {
    json!({
        "id": m.id,
        "iid": m.number,
        "project_id": project_id,
        "title": m.title,
        "state": if m.open { "active" } else { "closed" },
    })
}

/// `GET /projects/:id/milestones`: every milestone, or those in `state` (`active`,
/// `closed`), as GitLab.
fn list_milestones(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let state = req.query_param("state");
    let all = world
        .gitlab
        .repo(repo)
        .map(|r| {
            r.milestones
                .iter()
                .filter(|m| match state {
                    Some("active") => m.open,
                    Some("closed") => !m.open,
                    _ => true,
                })
                .map(|m| gitlab_milestone_json(r.id, m))
                .collect()
        })
        .unwrap_or_default();
    paged(req, all)
}

fn create_label(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let Some(name) = req.body_field("name").filter(|n| !n.is_empty()) else {
        return Reply::json(400, json!({"error": "name is missing"}));
    };
    let Some(color) = req.body_field("color").filter(|c| !c.is_empty()) else {
        return Reply::json(400, json!({"error": "color is missing"}));
    };
    let hex = color.trim_start_matches('#');
    if !color.starts_with('#') || hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Reply::json(
            400,
            json!({"message": {"color": ["must be a valid color code"]}}),
        );
    }
    let id = world.next_id();
    let description = req.body_field("description");
    let Some(r) = world.gitlab.repo_mut(repo) else {
        return error(404, "404 Project Not Found");
    };
    if r.label(&name).is_some() {
        return error(409, "Label already exists");
    }
    let label = RepoLabel {
        id,
        name,
        color: hex.to_ascii_lowercase(),
        description,
    };
    r.labels.push(label.clone());
    Reply::json(201, gitlab_label_json(&label))
}

/// `GET /projects/:id/repository/tree`: entries under `path` at `ref` (default `main`), all
/// levels with `recursive=true`; `id` is the blob or tree SHA.
fn tree(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let git_ref = req.query_param("ref").unwrap_or("main");
    let Some(files) = world.gitlab.repo(repo).and_then(|r| r.files_at(git_ref)) else {
        return error(404, "404 Tree Not Found");
    };
    let recursive = req.query_param("recursive") == Some("true");
    let dir = req
        .query_param("path")
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty());
    let (_, listing) = tree_listing(files);
    let entries: Vec<Value> = listing
        .iter()
        .filter(|e| {
            let rest = match dir {
                Some(d) => e.path.strip_prefix(&format!("{d}/")),
                None => Some(e.path.as_str()),
            };
            rest.is_some_and(|r| recursive || !r.contains('/'))
        })
        .map(|e| {
            json!({
                "id": e.sha,
                "name": e.path.rsplit('/').next().unwrap_or(&e.path),
                "type": e.kind,
                "path": e.path,
                "mode": e.mode,
            })
        })
        .collect();
    if entries.is_empty() && dir.is_some() {
        return error(404, "404 Tree Not Found");
    }
    paged(req, entries)
}

/// `GET /projects/:id/repository/compare?from=…&to=…&straight=…`: the files changed from
/// `from` to `to` (`straight=true`), or from their merge base to `to` (the default).
fn compare(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let Some(r) = world.gitlab.repo(repo) else {
        return error(404, "404 Project Not Found");
    };
    let (Some(from), Some(to)) = (
        req.query_param("from").and_then(|f| r.resolve(f)),
        req.query_param("to").and_then(|t| r.resolve(t)),
    ) else {
        return error(404, "404 Ref Not Found");
    };
    let commits: Vec<Value> = r
        .commits_between(&from, &to)
        .into_iter()
        .map(|id| json!({ "id": id, "short_id": id.get(..8).unwrap_or(&id) }))
        .collect();
    let from = if req.query_param("straight") == Some("true") {
        from
    } else {
        match r.merge_base(&from, &to) {
            Some(base) => base,
            None => return error(404, "404 Merge Base Not Found"),
        }
    };
    let empty = std::collections::BTreeMap::new();
    let old = r.commits.get(&from).map_or(&empty, |c| &c.files);
    let new = r.commits.get(&to).map_or(&empty, |c| &c.files);
    let diffs: Vec<Value> = crate::world::diff_snapshots(old, new)
        .into_iter()
        .map(|f| {
            let old_path = f.previous_path.clone().unwrap_or_else(|| f.path.clone());
            json!({
                "old_path": old_path, "new_path": f.path,
                "a_mode": if f.status == "added" { "0" } else { "100644" },
                "b_mode": if f.status == "removed" { "0" } else { "100644" },
                "new_file": f.status == "added",
                "renamed_file": f.status == "renamed",
                "deleted_file": f.status == "removed",
                "diff": "",
            })
        })
        .collect();
    Reply::json(
        200,
        json!({
            "commit": { "id": to },
            "commits": commits,
            "diffs": diffs,
            "compare_timeout": false,
            "compare_same_ref": from == to,
            "web_url": format!("{}/{repo}/-/compare/{from}...{to}", req.base.trim_end_matches("/api/v4")),
        }),
    )
}

/// `GET /projects/:id/repository/files/:path/raw?ref=…`.
fn raw_file(world: &mut World, req: &Req<'_>, repo: &str, path: &str) -> Reply {
    let git_ref = req.query_param("ref").unwrap_or("main");
    let Some(repo) = world.gitlab.repo(repo) else {
        return error(404, "404 Project Not Found");
    };
    let Some(content) = repo.files_at(git_ref).and_then(|f| f.get(path)) else {
        return error(404, "404 File Not Found");
    };
    let commit = repo.resolve(git_ref).unwrap_or_default();
    Reply::raw(200, "text/plain; charset=utf-8", content.clone())
        .header("X-Gitlab-File-Path", path)
        .header("X-Gitlab-Size", content.len())
        .header("X-Gitlab-Blob-Id", crate::world::blob_sha(content))
        .header("X-Gitlab-Commit-Id", commit)
        .header("X-Gitlab-Ref", git_ref)
}

/// `POST /projects/:id/statuses/:sha`.
fn create_status(world: &mut World, req: &Req<'_>, repo: &str, sha: &str) -> Reply {
    const STATES: [&str; 6] = [
        "pending", "running", "success", "failed", "canceled", "skipped",
    ];
    let Some(state) = req
        .body_field("state")
        .filter(|s| STATES.contains(&s.as_str()))
    else {
        return Reply::json(400, json!({"error": "state does not have a valid value"}));
    };
    let status = Status {
        sha: sha.to_string(),
        state,
        context: req
            .body_field("name")
            .or_else(|| req.body_field("context"))
            .unwrap_or_else(|| "default".into()),
        description: req.body_field("description"),
        target_url: req.body_field("target_url"),
    };
    let id = world.next_id();
    let bot = world.gitlab.bot.clone();
    let author = user_json(world, req, &bot);
    let Some(r) = world.gitlab.repo_mut(repo) else {
        return error(404, "404 Project Not Found");
    };
    r.statuses.push(status.clone());
    Reply::json(
        201,
        json!({
            "id": id, "sha": sha, "ref": req.body_field("ref"), "status": status.state,
            "name": status.context, "target_url": status.target_url,
            "description": status.description, "created_at": "2024-01-01T00:00:00.000Z",
            "started_at": null, "finished_at": null, "allow_failure": false,
            "coverage": null, "author": author,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Notes, diffs, merge
// ---------------------------------------------------------------------------------------------

fn delete_note(world: &mut World, at: &Target, id: u64) -> Reply {
    let Some(item) = world
        .gitlab
        .repo_mut(&at.repo)
        .and_then(|r| r.items.get_mut(at.idx))
    else {
        return error(404, "404 Not found");
    };
    let before = item.comments.len();
    item.comments.retain(|c| c.id != id);
    if item.comments.len() == before {
        return error(404, "404 Note Not Found");
    }
    Reply::empty(204)
}

/// `GET /merge_requests/:iid/approvals`: who approves now (each user's latest review state).
fn approvals(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(it) = world.gitlab.repo(&at.repo).map(|r| r.items[at.idx].clone()) else {
        return error(404, "404 Not Found");
    };
    let mut latest: Vec<(String, String)> = Vec::new();
    for r in &it.reviews {
        latest.retain(|(who, _)| who != &r.author);
        latest.push((r.author.clone(), r.state.clone()));
    }
    let approved_by: Vec<Value> = latest
        .iter()
        .filter(|(_, state)| state == "APPROVED")
        .map(|(who, _)| json!({ "user": user_json(world, req, who) }))
        .collect();
    Reply::json(
        200,
        json!({
            "id": it.id,
            "iid": it.number,
            "approved": !approved_by.is_empty(),
            "approved_by": approved_by,
        }),
    )
}

/// A commit as GitLab's commit APIs give it; `parents` false leaves `parent_ids` empty, as
/// GitLab's merge request commit list does.
fn commit_json(c: &crate::world::PrCommit, parents: bool) -> Value {
    let title = c.message.lines().next().unwrap_or_default();
    let parent_ids: Vec<&String> = if parents {
        c.parents.iter().collect()
    } else {
        vec![]
    };
    json!({
        "id": c.sha,
        "short_id": c.sha.chars().take(8).collect::<String>(),
        "created_at": "2024-01-01T00:00:00.000Z",
        "parent_ids": parent_ids,
        "title": title,
        "message": c.message,
        "author_name": c.author_name,
        "author_email": c.author_email,
        "authored_date": "2024-01-01T00:00:00.000Z",
        "committer_name": c.author_name,
        "committer_email": c.author_email,
        "committed_date": "2024-01-01T00:00:00.000Z",
        "trailers": {},
        "web_url": format!("https://gitlab.example/-/commit/{}", c.sha),
    })
}

/// `GET /merge_requests/:iid/commits`: the seeded commits newest first, without parents.
fn mr_commits(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(item) = world
        .gitlab
        .repo(&at.repo)
        .and_then(|r| r.items.get(at.idx))
    else {
        return error(404, "404 Not found");
    };
    let all: Vec<Value> = item
        .commits
        .iter()
        .rev()
        .map(|c| commit_json(c, false))
        .collect();
    paged(req, all)
}

/// `GET /projects/:id/repository/commits/:sha`: a commit some MR of the project lists, with
/// its parents.
fn single_commit(world: &World, repo: &str, sha: &str) -> Reply {
    let found = world.gitlab.repo(repo).and_then(|r| {
        r.items
            .iter()
            .flat_map(|i| i.commits.iter())
            .find(|c| c.sha == sha)
    });
    match found {
        Some(c) => Reply::json(200, commit_json(c, true)),
        None => error(404, "404 Commit Not Found"),
    }
}

/// `GET /merge_requests/:iid/diffs`: one unified hunk per file with as many `+`/`-` lines as
/// the file's counts, so clients counting lines get the seeded numbers back.
fn diffs(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(item) = world
        .gitlab
        .repo(&at.repo)
        .and_then(|r| r.items.get(at.idx))
    else {
        return error(404, "404 Not found");
    };
    let all: Vec<Value> = item
        .changed_files
        .iter()
        .map(|f| {
            let mut diff = format!("@@ -1,{} +1,{} @@\n", f.deletions, f.additions);
            diff.push_str(&"-old line\n".repeat(f.deletions as usize));
            diff.push_str(&"+new line\n".repeat(f.additions as usize));
            let renamed = f.previous_path.is_some();
            json!({
                "old_path": f.previous_path.clone().unwrap_or_else(|| f.path.clone()),
                "new_path": f.path,
                "a_mode": "100644",
                "b_mode": "100644",
                "diff": diff,
                "new_file": !renamed && f.deletions == 0 && f.additions > 0,
                "renamed_file": renamed,
                "deleted_file": !renamed && f.additions == 0 && f.deletions > 0,
                "generated_file": false,
            })
        })
        .collect();
    paged(req, all)
}

/// `PUT /merge_requests/:iid/merge` with GitLab's refusals: 405 when not open or a draft,
/// 406 on conflicts, 409 when `sha` is not the head.
fn merge(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let expected = req.body_field("sha");
    let squash = req.body_field("squash").as_deref() == Some("true");
    let when_pipeline_succeeds =
        req.body_field("merge_when_pipeline_succeeds").as_deref() == Some("true");
    let Some(repo) = world.gitlab.repo_mut(&at.repo) else {
        return error(404, "404 Not found");
    };
    // The MR's newest pipeline on its head, if it has not finished.
    let running = repo.items.get(at.idx).is_some_and(|item| {
        repo.ci_runs.iter().rev().any(|run| {
            run.kind
                == crate::ci::CiRunKind::Pipeline {
                    mr: Some(item.number),
                }
                && run.sha == item.head_sha
                && !matches!(
                    run.status.as_str(),
                    "success" | "failed" | "canceled" | "skipped"
                )
        })
    });
    let Some(item) = repo.items.get_mut(at.idx) else {
        return error(404, "404 Not found");
    };
    if item.state != ItemState::Open || item.draft {
        return error(405, "405 Method Not Allowed");
    }
    if !item.mergeable {
        return error(406, "Branch cannot be merged");
    }
    if item.approvals_left > 0 {
        return error(405, "405 Method Not Allowed");
    }
    if expected.is_some_and(|sha| sha != item.head_sha) {
        return error(409, "SHA does not match HEAD of source branch");
    }
    if when_pipeline_succeeds && running {
        item.auto_merge = true;
        item.merged_with = None;
        return get_item(world, req, at);
    }
    item.state = ItemState::Merged;
    item.merged_with = Some(if squash { "squash" } else { "merge" }.to_string());
    world.land_on_base(ForgeKind::GitLab, &at.repo, at.idx);
    get_item(world, req, at)
}

/// `PUT /merge_requests/:iid/rebase`: the MR's head becomes a commit on its target's tip.
fn rebase(world: &mut World, at: &Target) -> Reply {
    let open = world
        .gitlab
        .repo(&at.repo)
        .and_then(|r| r.items.get(at.idx))
        .is_some_and(|i| i.state == ItemState::Open);
    if !open {
        return error(405, "405 Method Not Allowed");
    }
    world.update_from_base(ForgeKind::GitLab, &at.repo, at.idx);
    Reply::json(202, json!({ "rebase_in_progress": true }))
}
