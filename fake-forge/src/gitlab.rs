//! The GitLab v4 subset, in GitLab's response shapes. Request bodies may be form-encoded (as the
//! `gitlab` crate sends them) or JSON.

use crate::server::{Reply, Req, decode};
use crate::world::{Comment, Item, World};
use bosun_plugins::{ForgeKind, ItemKind, ItemState};
use serde_json::{Value, json};

const GL: ForgeKind = ForgeKind::GitLab;

/// Routes one request (path after `/api/v4`); `None` if no route matches.
pub(crate) fn route(world: &mut World, req: &Req<'_>) -> Option<Reply> {
    let s = &req.segments;
    if let ("GET", ["user"]) = (req.method, s.as_slice()) {
        return Some(current_user(world, req));
    }
    let ["projects", project, kind, iid, rest @ ..] = s.as_slice() else {
        return None;
    };
    let kind = match *kind {
        "merge_requests" => ItemKind::PullRequest,
        "issues" => ItemKind::Issue,
        _ => return None,
    };
    let iid: u64 = iid.parse().ok()?;
    let Some(repo) = find_project(world, &decode(project)) else {
        return Some(error(404, "404 Project Not Found"));
    };
    let Some(idx) = world
        .gitlab
        .repo(&repo)
        .and_then(|r| r.item_index(Some(kind), iid))
    else {
        let what = match kind {
            ItemKind::PullRequest => "Merge Request",
            ItemKind::Issue => "Issue",
        };
        return Some(error(404, &format!("404 {what} Not Found")));
    };
    let at = Target { repo, idx };
    let reply = match (req.method, rest) {
        ("GET", []) => get_item(world, req, &at),
        ("PUT", []) => edit_item(world, req, &at),
        ("GET", ["notes"]) => list_notes(world, req, &at),
        ("POST", ["notes"]) => create_note(world, req, &at),
        ("GET", ["notes", id]) => get_note(world, req, &at, id.parse().ok()?, 200),
        ("PUT", ["notes", id]) => edit_note(world, req, &at, id.parse().ok()?),
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
        "description": "",
        "state": state,
        "created_at": time(item.created_at),
        "updated_at": time(item.created_at),
        "closed_at": null,
        "labels": item.labels,
        "author": author,
        "assignees": [],
        "assignee": null,
        "milestone": null,
        "user_notes_count": item.comments.len(),
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
        let mr = json!({
            "target_branch": "main",
            "source_branch": format!("feature-{}", item.number),
            "source_project_id": project_id,
            "target_project_id": project_id,
            "reviewers": [],
            "draft": false,
            "work_in_progress": false,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable",
            "sha": format!("{:040x}", item.id),
            "merge_commit_sha": null,
            "squash_commit_sha": null,
            "merged_by": null,
            "merged_at": null,
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

fn edit_item(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let replace = req.body_field("labels");
    let add = req.body_field("add_labels");
    let remove = req.body_field("remove_labels");
    if replace.is_none() && add.is_none() && remove.is_none() {
        return Reply::json(
            400,
            json!({"error": "assignee_id, assignee_ids, description, labels, add_labels, \
                   remove_labels, … are missing, at least one parameter must be provided"}),
        );
    }
    if let Some(all) = replace {
        if let Some(r) = world.gitlab.repo_mut(&at.repo) {
            r.items[at.idx].labels.clear();
        }
        world.add_labels(GL, &at.repo, at.idx, &label_list(&all));
    }
    if let Some(add) = add {
        world.add_labels(GL, &at.repo, at.idx, &label_list(&add));
    }
    if let (Some(remove), Some(r)) = (remove, world.gitlab.repo_mut(&at.repo)) {
        let gone = label_list(&remove);
        r.items[at.idx]
            .labels
            .retain(|l| !gone.iter().any(|g| g == l));
    }
    get_item(world, req, at)
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
    let total = notes.len();
    let pages = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = notes
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .filter_map(|c| note_json(world, req, at, c))
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
