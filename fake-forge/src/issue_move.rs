//! Moving an issue between repositories, as both forges do it: GitHub's `transferIssue`
//! (through [`crate::graphql`]) takes the issue away from its old repository; GitLab's move
//! (`POST /projects/:id/issues/:iid/move`, routed here) copies it and leaves the old one
//! closed with `moved_to_id`. Either way the issue gets the next number of its new home and
//! keeps only the labels that home defines.

use crate::server::{Reply, Req};
use crate::world::World;
use bosun_plugins::{ForgeKind, ItemKind, ItemState};
use serde_json::json;

/// Where a moved issue ended up.
pub(crate) struct Moved {
    /// The repository's path.
    pub repo: String,
    /// Its number there.
    pub number: u64,
    /// Its global id there.
    pub id: u64,
}

/// Moves the issue at `idx` of `from` to `to` on `forge`. GitHub keeps the issue's id and takes
/// it away; GitLab gives the copy a new id and closes the original, pointing at the copy.
pub(crate) fn move_issue(
    world: &mut World,
    forge: ForgeKind,
    from: &str,
    idx: usize,
    to: &str,
) -> Option<Moved> {
    let new_id = world.next_id();
    let site = world.site_mut(forge);
    let original = site.repo(from)?.items.get(idx)?.clone();
    let target = site.repo(to)?;
    let number = target
        .items
        .iter()
        .filter(|i| forge == ForgeKind::GitHub || i.kind == ItemKind::Issue)
        .map(|i| i.number)
        .max()
        .unwrap_or(0)
        + 1;
    let mut moved = original.clone();
    moved.number = number;
    moved.milestone = None;
    moved
        .labels
        .retain(|l| target.labels.iter().any(|d| d.name.eq_ignore_ascii_case(l)));
    let github = forge == ForgeKind::GitHub;
    if !github {
        moved.id = new_id;
    }
    let id = moved.id;
    site.repo_mut(to)?.items.push(moved);
    let source = site.repo_mut(from)?;
    if github {
        source.items.remove(idx);
    } else {
        let old = source.items.get_mut(idx)?;
        old.state = ItemState::Closed;
        old.moved_to = Some(id);
    }
    Some(Moved {
        repo: to.to_string(),
        number,
        id,
    })
}

/// `POST /projects/:id/issues/:iid/move` (`to_project_id`) and `GET /projects/:id`.
pub(crate) fn gitlab_route(
    world: &mut World,
    req: &Req<'_>,
    repo: &str,
    rest: &[&str],
) -> Option<Reply> {
    match (req.method, rest) {
        ("GET", []) => {
            let r = world.gitlab.repo(repo)?;
            Some(Reply::json(
                200,
                json!({ "id": r.id, "path_with_namespace": r.path, "name": r.path.rsplit('/').next() }),
            ))
        }
        ("POST", ["issues", iid, "move"]) => {
            let iid: u64 = iid.parse().ok()?;
            let to_id: Option<u64> = req.body_field("to_project_id").and_then(|v| v.parse().ok());
            let Some(idx) = world
                .gitlab
                .repo(repo)
                .and_then(|r| r.item_index(Some(ItemKind::Issue), iid))
            else {
                return Some(error(404, "404 Issue Not Found"));
            };
            let Some(to) = to_id.and_then(|id| {
                world
                    .gitlab
                    .repos
                    .iter()
                    .find(|r| r.id == id)
                    .map(|r| r.path.clone())
            }) else {
                return Some(error(404, "404 Project Not Found"));
            };
            if to == repo {
                return Some(error(
                    400,
                    "Cannot move issue to project it originates from!",
                ));
            }
            if world.gitlab.repo(repo)?.items[idx].moved_to.is_some() {
                return Some(error(400, "Cannot move issue which was already moved"));
            }
            let moved = move_issue(world, ForgeKind::GitLab, repo, idx, &to)?;
            Some(Reply::json(
                201,
                json!({ "id": moved.id, "iid": moved.number, "project_id": to_id, "state": "opened" }),
            ))
        }
        _ => None,
    }
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({ "message": message }))
}
