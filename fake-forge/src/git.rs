//! A small git object model on top of the world's commits (`Repo::commits`, full snapshots of
//! path → content, with one parent each) and refs (`Repo::refs`, branch → SHA), enough for a
//! cherry-pick made through the API: GitHub's Git Data refs and commits, its merges endpoint,
//! and PR creation; GitLab's branches, its cherry-pick endpoint, and MR creation.
//!
//! Merges are per-file three-way merges against the merge base (the nearest commit on the
//! first-parent chain of the head that the base reaches): a file both sides changed
//! differently is a conflict. A merge commit keeps only its first parent, which is all the
//! model needs.
//!
//! Served under `/repos/{o}/{r}`: `GET /git/ref/heads/{b}`, `POST /git/refs`,
//! `PATCH|DELETE /git/refs/heads/{b}`, `POST /git/commits`, `POST /merges`, `POST /pulls`.
//! Under `/api/v4/projects/{id}`: `GET|DELETE /repository/branches/{b}`,
//! `POST /repository/branches`, `POST /repository/commits/{sha}/cherry_pick`,
//! `POST /merge_requests`.

use crate::server::{Reply, Req, decode};
use crate::world::{Commit, PrCommit, World, tree_sha};
use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ItemState, RepoPath};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A snapshot: path → content.
pub type Files = BTreeMap<String, Vec<u8>>;

/// One commit to seed: its message and its changes, a path written (`Some`) or removed (`None`).
pub type SeedCommit<'a> = (&'a str, &'a [(&'a str, Option<&'a str>)]);

/// The message GitLab answers a cherry-pick it cannot apply with.
pub const GITLAB_CHERRY_PICK_CONFLICT: &str = "Sorry, we cannot cherry-pick this commit automatically. This commit may already have been cherry-picked, or a more recent commit may have updated some of its content.";

/// Merges `theirs` into `ours` file by file against `base`; `Err` names the conflicting paths.
pub fn three_way(base: &Files, ours: &Files, theirs: &Files) -> Result<Files, Vec<String>> {
    let paths: BTreeSet<&String> = base
        .keys()
        .chain(ours.keys())
        .chain(theirs.keys())
        .collect();
    let mut out = Files::new();
    let mut conflicts = Vec::new();
    for path in paths {
        let (b, o, t) = (base.get(path), ours.get(path), theirs.get(path));
        let merged = if o == t || t == b {
            o
        } else if o == b {
            t
        } else {
            conflicts.push(path.clone());
            continue;
        };
        if let Some(content) = merged {
            out.insert(path.clone(), content.clone());
        }
    }
    if conflicts.is_empty() {
        Ok(out)
    } else {
        Err(conflicts)
    }
}

impl World {
    /// Points `branch` at a new commit with these files, made on the branch's current tip (a
    /// root commit for a new branch), and returns its SHA.
    pub fn seed_branch(
        &mut self,
        kind: ForgeKind,
        repo: &str,
        branch: &str,
        files: &[(&str, &str)],
    ) -> String {
        let tip = self
            .site(kind)
            .repo(repo)
            .and_then(|r| r.refs.get(branch).cloned());
        let files: Files = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect();
        let sha = self.add_child_commit(kind, repo, tip.as_deref(), files);
        self.ensure_repo(kind, repo)
            .refs
            .insert(branch.to_string(), sha.clone());
        sha
    }

    /// Gives a seeded PR real commits: each `(message, changes)` is a commit on the previous
    /// one, starting from the tip of the PR's base branch, where a change writes a file
    /// (`Some`) or removes it (`None`). The PR's commit list, head and base follow.
    pub fn seed_pr_commits(&mut self, item: &ItemRef, commits: &[SeedCommit<'_>]) {
        let repo = item.repo.as_str();
        let base_ref = self
            .item(item)
            .map(|i| i.base_ref.clone())
            .unwrap_or_default();
        let base = self
            .site(item.forge)
            .repo(repo)
            .and_then(|r| r.refs.get(&base_ref).cloned());
        let mut files = base
            .as_ref()
            .and_then(|b| self.site(item.forge).repo(repo)?.commits.get(b))
            .map(|c| c.files.clone())
            .unwrap_or_default();
        let author = self
            .item(item)
            .map(|i| i.author.clone())
            .unwrap_or_default();
        let mut parent = base.clone();
        let mut listed = Vec::new();
        for (message, changes) in commits {
            for (path, content) in *changes {
                match content {
                    Some(c) => files.insert(path.to_string(), c.as_bytes().to_vec()),
                    None => files.remove(*path),
                };
            }
            let sha = self.add_child_commit(item.forge, repo, parent.as_deref(), files.clone());
            let mut c = PrCommit::new(&author, message);
            c.sha = sha.clone();
            c.parents = parent.iter().cloned().collect();
            listed.push(c);
            parent = Some(sha);
        }
        let it = self.item_mut(item);
        if let Some(head) = parent {
            it.head_sha = head;
        }
        if let Some(base) = base {
            it.base_sha = base;
        }
        it.commits = listed;
    }

    /// The files on a branch now, if the branch exists.
    pub fn branch_files(&self, kind: ForgeKind, repo: &str, branch: &str) -> Option<Files> {
        let r = self.site(kind).repo(repo)?;
        r.commits.get(r.refs.get(branch)?).map(|c| c.files.clone())
    }
}

/// A repository's commits and refs, by forge and path.
fn commits_of<'w>(world: &'w World, kind: ForgeKind, repo: &str) -> Option<&'w crate::Repo> {
    world.site(kind).repo(repo)
}

/// A branch name or a commit SHA, resolved to a commit SHA.
fn resolve(r: &crate::Repo, name: &str) -> Option<String> {
    r.refs
        .get(name)
        .cloned()
        .or_else(|| r.commits.contains_key(name).then(|| name.to_string()))
}

/// The commit and all its ancestors, nearest first.
fn ancestry(r: &crate::Repo, sha: &str) -> Vec<String> {
    let mut out = vec![sha.to_string()];
    let mut at = r.commits.get(sha).and_then(|c| c.parent.clone());
    while let Some(p) = at {
        if out.contains(&p) || out.len() > 10_000 {
            break;
        }
        at = r.commits.get(&p).and_then(|c| c.parent.clone());
        out.push(p);
    }
    out
}

/// The nearest ancestor of `head` that `base` also has.
fn merge_base(r: &crate::Repo, base: &str, head: &str) -> Option<String> {
    let reach: BTreeSet<String> = ancestry(r, base).into_iter().collect();
    ancestry(r, head).into_iter().find(|c| reach.contains(c))
}

/// Stores a commit with `files` made on `parent` and returns its SHA.
fn commit(world: &mut World, kind: ForgeKind, repo: &str, parent: &str, files: Files) -> String {
    world.add_child_commit(kind, repo, Some(parent), files)
}

/// What merging `head` into `base` gives: `Ok(None)` when `base` has it already.
fn merged(r: &crate::Repo, base: &str, head: &str) -> Result<Option<Files>, Vec<String>> {
    if ancestry(r, base).iter().any(|c| c == head) {
        return Ok(None);
    }
    let empty = Files::new();
    let files = |sha: &str| r.commits.get(sha).map_or(&empty, |c: &Commit| &c.files);
    let ancestor = merge_base(r, base, head);
    let common = ancestor.as_deref().map_or(&empty, files);
    three_way(common, files(base), files(head)).map(Some)
}

/// Adds a PR/MR from `head` into `base` opened by the bot and returns its number.
fn open_pr(world: &mut World, kind: ForgeKind, repo: &str, fields: PrFields) -> Option<u64> {
    let r = world.site(kind).repo(repo)?;
    let head_sha = r.refs.get(&fields.head)?.clone();
    let base_sha = r.refs.get(&fields.base)?.clone();
    let number = r
        .items
        .iter()
        .filter(|i| kind == ForgeKind::GitHub || i.kind == ItemKind::PullRequest)
        .map(|i| i.number)
        .max()
        .unwrap_or(0)
        + 1;
    let item = ItemRef {
        forge: kind,
        repo: RepoPath::parse(repo)?,
        number,
        kind: ItemKind::PullRequest,
    };
    let bot = world.site(kind).bot.clone();
    world.seed_item(&item, &bot);
    let it = world.item_mut(&item);
    it.title = fields.title;
    it.body = fields.body;
    it.head_ref = fields.head;
    it.base_ref = fields.base;
    it.head_sha = head_sha;
    it.base_sha = base_sha;
    Some(number)
}

struct PrFields {
    head: String,
    base: String,
    title: String,
    body: String,
}

/// An open PR/MR from `head` into `base`, if there is one.
fn open_from(world: &World, kind: ForgeKind, repo: &str, head: &str, base: &str) -> bool {
    world.site(kind).repo(repo).is_some_and(|r| {
        r.items.iter().any(|i| {
            i.kind == ItemKind::PullRequest
                && i.state == ItemState::Open
                && i.head_ref == head
                && i.base_ref == base
        })
    })
}

fn gh_error(status: u16, message: &str) -> Reply {
    crate::github::error(status, message)
}

fn gl_error(status: u16, message: &str) -> Reply {
    Reply::json(status, json!({ "message": message }))
}

fn str_field(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

/// The GitHub routes above, under `/repos/{o}/{r}`; `None` for every other request.
pub(crate) fn github_route(
    world: &mut World,
    req: &Req<'_>,
    repo: &str,
    rest: &[&str],
) -> Option<Reply> {
    const GH: ForgeKind = ForgeKind::GitHub;
    let joined = |parts: &[&str]| {
        parts
            .iter()
            .map(|p| decode(p))
            .collect::<Vec<_>>()
            .join("/")
    };
    let route = match (req.method, rest) {
        ("GET", ["git", "ref", "heads", b @ ..]) if !b.is_empty() => 0,
        ("POST", ["git", "refs"]) => 1,
        ("PATCH" | "DELETE", ["git", "refs", "heads", b @ ..]) if !b.is_empty() => 2,
        ("POST", ["git", "commits"]) => 3,
        ("POST", ["merges"]) => 4,
        ("POST", ["pulls"]) => 5,
        _ => return None,
    };
    let Some(r) = commits_of(world, GH, repo) else {
        return Some(gh_error(404, "Not Found"));
    };
    let body = req.json_body().unwrap_or(Value::Null);
    let ref_json = |name: &str, sha: &str| {
        json!({
            "ref": format!("refs/heads/{name}"),
            "node_id": format!("REF_{name}"),
            "url": format!("{}/repos/{repo}/git/refs/heads/{name}", req.base),
            "object": { "sha": sha, "type": "commit", "url": format!("{}/repos/{repo}/git/commits/{sha}", req.base) },
        })
    };
    let commit_json = |sha: &str, files: &Files, parent: Option<&str>, message: &str| {
        let tree = tree_sha(files);
        json!({
            "sha": sha,
            "node_id": format!("C_{sha}"),
            "url": format!("{}/repos/{repo}/git/commits/{sha}", req.base),
            "message": message,
            "tree": { "sha": tree, "url": format!("{}/repos/{repo}/git/trees/{tree}", req.base) },
            "parents": parent.iter().map(|p| json!({ "sha": p })).collect::<Vec<_>>(),
        })
    };
    Some(match (route, rest) {
        (0, [_, _, _, b @ ..]) => {
            let name = joined(b);
            match r.refs.get(&name) {
                Some(sha) => Reply::json(200, ref_json(&name, sha)),
                None => gh_error(404, "Not Found"),
            }
        }
        (1, _) => {
            let (Some(full), Some(sha)) = (str_field(&body, "ref"), str_field(&body, "sha")) else {
                return Some(gh_error(422, "Invalid request."));
            };
            let Some(name) = full.strip_prefix("refs/heads/").map(str::to_string) else {
                return Some(gh_error(422, "Reference name must start with refs/heads/"));
            };
            if r.refs.contains_key(&name) {
                return Some(gh_error(422, "Reference already exists"));
            }
            if !r.commits.contains_key(&sha) {
                return Some(gh_error(422, "Object does not exist"));
            }
            world
                .ensure_repo(GH, repo)
                .refs
                .insert(name.clone(), sha.clone());
            Reply::json(201, ref_json(&name, &sha))
        }
        (2, [_, _, _, b @ ..]) => {
            let name = joined(b);
            if !r.refs.contains_key(&name) {
                return Some(gh_error(422, "Reference does not exist"));
            }
            if req.method == "DELETE" {
                world.ensure_repo(GH, repo).refs.remove(&name);
                return Some(Reply::empty(204));
            }
            let Some(sha) = str_field(&body, "sha").filter(|s| r.commits.contains_key(s)) else {
                return Some(gh_error(422, "Object does not exist"));
            };
            world
                .ensure_repo(GH, repo)
                .refs
                .insert(name.clone(), sha.clone());
            Reply::json(200, ref_json(&name, &sha))
        }
        (3, _) => {
            let tree = str_field(&body, "tree").unwrap_or_default();
            let Some(files) = r
                .commits
                .values()
                .find(|c| tree_sha(&c.files) == tree)
                .map(|c| c.files.clone())
            else {
                return Some(gh_error(422, "Tree SHA does not exist"));
            };
            let parents: Vec<String> = body
                .get("parents")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if parents.iter().any(|p| !r.commits.contains_key(p)) {
                return Some(gh_error(422, "Parent SHA does not exist"));
            }
            let message = str_field(&body, "message").unwrap_or_default();
            let sha = world.add_child_commit(
                GH,
                repo,
                parents.first().map(String::as_str),
                files.clone(),
            );
            Reply::json(
                201,
                commit_json(&sha, &files, parents.first().map(String::as_str), &message),
            )
        }
        (4, _) => {
            let base_name = str_field(&body, "base").unwrap_or_default();
            let Some(base) = r.refs.get(&base_name).cloned() else {
                return Some(gh_error(404, "Base does not exist"));
            };
            let Some(head) = str_field(&body, "head").and_then(|h| resolve(r, &h)) else {
                return Some(gh_error(404, "Head does not exist"));
            };
            match merged(r, &base, &head) {
                Ok(None) => Reply::empty(204),
                Err(_) => gh_error(409, "Merge conflict"),
                Ok(Some(files)) => {
                    let message = str_field(&body, "commit_message").unwrap_or_default();
                    let sha = commit(world, GH, repo, &base, files.clone());
                    world
                        .ensure_repo(GH, repo)
                        .refs
                        .insert(base_name, sha.clone());
                    let tree = tree_sha(&files);
                    Reply::json(
                        201,
                        json!({
                            "sha": sha,
                            "node_id": format!("C_{sha}"),
                            "url": format!("{}/repos/{repo}/commits/{sha}", req.base),
                            "commit": {
                                "message": message,
                                "tree": { "sha": tree, "url": format!("{}/repos/{repo}/git/trees/{tree}", req.base) },
                            },
                            "parents": [{ "sha": base }, { "sha": head }],
                        }),
                    )
                }
            }
        }
        (5, _) => {
            let fields = PrFields {
                head: str_field(&body, "head").unwrap_or_default(),
                base: str_field(&body, "base").unwrap_or_default(),
                title: str_field(&body, "title").unwrap_or_default(),
                body: str_field(&body, "body").unwrap_or_default(),
            };
            if open_from(world, GH, repo, &fields.head, &fields.base) {
                return Some(gh_error(
                    422,
                    &format!("A pull request already exists for {}.", fields.head),
                ));
            }
            let Some(number) = open_pr(world, GH, repo, fields) else {
                return Some(gh_error(422, "Validation Failed"));
            };
            Reply::json(
                201,
                json!({
                    "number": number,
                    "url": format!("{}/repos/{repo}/pulls/{number}", req.base),
                    "html_url": format!("{}/{repo}/pull/{number}", req.base),
                    "state": "open",
                }),
            )
        }
        _ => return None,
    })
}

/// The GitLab routes above, under `/projects/{id}`; `None` for every other request.
pub(crate) fn gitlab_route(
    world: &mut World,
    req: &Req<'_>,
    repo: &str,
    rest: &[&str],
) -> Option<Reply> {
    const GL: ForgeKind = ForgeKind::GitLab;
    let r = commits_of(world, GL, repo)?;
    let branch_json = |name: &str, sha: &str| json!({ "name": name, "commit": { "id": sha }, "protected": false, "merged": false, "default": false });
    Some(match (req.method, rest) {
        ("GET", ["repository", "branches", b]) => match r.refs.get(&decode(b)) {
            Some(sha) => Reply::json(200, branch_json(&decode(b), sha)),
            None => gl_error(404, "404 Branch Not Found"),
        },
        ("DELETE", ["repository", "branches", b]) => {
            if r.refs.contains_key(&decode(b)) {
                world.ensure_repo(GL, repo).refs.remove(&decode(b));
                Reply::empty(204)
            } else {
                gl_error(404, "404 Branch Not Found")
            }
        }
        ("POST", ["repository", "branches"]) => {
            let name = req.body_field("branch").unwrap_or_default();
            let from = req.body_field("ref").unwrap_or_default();
            if r.refs.contains_key(&name) {
                return Some(gl_error(400, "Branch already exists"));
            }
            let Some(sha) = resolve(r, &from) else {
                return Some(gl_error(400, "Invalid reference name"));
            };
            world
                .ensure_repo(GL, repo)
                .refs
                .insert(name.clone(), sha.clone());
            Reply::json(201, branch_json(&name, &sha))
        }
        ("POST", ["repository", "commits", sha, "cherry_pick"]) => {
            let sha = decode(sha);
            let branch = req.body_field("branch").unwrap_or_default();
            let Some(picked) = r.commits.get(&sha) else {
                return Some(gl_error(404, "404 Commit Not Found"));
            };
            let Some(tip) = r.refs.get(&branch).cloned() else {
                return Some(gl_error(404, "404 Branch Not Found"));
            };
            let empty = Files::new();
            let parent = picked
                .parent
                .as_ref()
                .and_then(|p| r.commits.get(p))
                .map_or(&empty, |c| &c.files);
            let ours = r.commits.get(&tip).map_or(&empty, |c| &c.files);
            let files = match three_way(parent, ours, &picked.files) {
                Ok(files) if files != *ours => files,
                Ok(_) | Err(_) => {
                    return Some(Reply::json(
                        400,
                        json!({ "message": GITLAB_CHERRY_PICK_CONFLICT, "error_code": "conflict" }),
                    ));
                }
            };
            let message = r
                .items
                .iter()
                .flat_map(|i| i.commits.iter())
                .find(|c| c.sha == sha)
                .map(|c| c.message.clone())
                .unwrap_or_else(|| format!("cherry-pick {sha}"));
            let new = commit(world, GL, repo, &tip, files);
            world.ensure_repo(GL, repo).refs.insert(branch, new.clone());
            Reply::json(
                201,
                json!({
                    "id": new,
                    "short_id": new.get(..8).unwrap_or(&new),
                    "title": message.lines().next().unwrap_or_default(),
                    "message": message,
                    "parent_ids": [tip],
                }),
            )
        }
        ("POST", ["merge_requests"]) => {
            let fields = PrFields {
                head: req.body_field("source_branch").unwrap_or_default(),
                base: req.body_field("target_branch").unwrap_or_default(),
                title: req.body_field("title").unwrap_or_default(),
                body: req.body_field("description").unwrap_or_default(),
            };
            if open_from(world, GL, repo, &fields.head, &fields.base) {
                return Some(gl_error(
                    409,
                    "Another open merge request already exists for this source branch",
                ));
            }
            let title = fields.title.clone();
            let Some(iid) = open_pr(world, GL, repo, fields) else {
                return Some(gl_error(400, "Invalid source or target branch"));
            };
            Reply::json(
                201,
                json!({ "id": iid + 10_000, "iid": iid, "title": title, "state": "opened" }),
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Files {
        pairs
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn three_way_takes_each_sides_changes_and_finds_conflicts() {
        let base = files(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let ours = files(&[("a", "2"), ("b", "1"), ("c", "1"), ("o", "new")]);
        let theirs = files(&[("a", "1"), ("b", "3"), ("t", "new")]);
        assert_eq!(
            three_way(&base, &ours, &theirs),
            Ok(files(&[("a", "2"), ("b", "3"), ("o", "new"), ("t", "new")]))
        );
        let theirs = files(&[("a", "9"), ("b", "1"), ("c", "1")]);
        assert_eq!(three_way(&base, &ours, &theirs), Err(vec!["a".to_string()]));
    }
}
