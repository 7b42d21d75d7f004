//! Cherry-picking a merged PR on GitHub without a clone, through the Git Data and merges APIs.
//!
//! GitHub has no cherry-pick endpoint, but a merge whose base is the commit's own parent is a
//! cherry-pick. For each commit `C` of the PR (parent `P`), oldest first: a scratch commit is
//! made with the tree of the new branch's head and `P` as its only parent, a scratch branch is
//! pointed at it, and `POST /merges` merges `C` into that branch. The merge base is `P`, so
//! GitHub's three-way merge applies exactly `C`'s change to the new branch's files (409 when it
//! cannot). The merged tree then becomes a commit on the new branch with `C`'s message and
//! author. The scratch branch is deleted at the end, whatever happened; merge commits inside
//! the PR are skipped.

use super::{GitHubForge, Scope, Verb, encode_path, pull_route, repo_route};
use bosun_plugins::pick::{CherryPickOutcome, CherryPickRequest};
use bosun_plugins::{ForgeError, ForgeRead, ItemRef, RepoPath};
use serde::Deserialize;
use serde_json::{Value, json};

/// GitHub's `pulls/{n}/commits` stops at 250 commits.
const MAX_LISTED_COMMITS: usize = 250;

#[derive(Deserialize)]
struct Sha {
    sha: String,
}

#[derive(Deserialize)]
struct GitRef {
    object: Sha,
}

#[derive(Deserialize)]
struct Person {
    name: String,
    email: String,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
struct CommitData {
    message: String,
    author: Option<Person>,
}

#[derive(Deserialize)]
struct PullCommit {
    sha: String,
    commit: CommitData,
    parents: Vec<Sha>,
}

#[derive(Deserialize)]
struct GitCommit {
    sha: String,
    tree: Sha,
}

/// A merge's answer: the merge commit (`GET /repos/{o}/{r}/commits/{sha}` shape).
#[derive(Deserialize)]
struct MergeCommit {
    commit: MergeCommitData,
}

#[derive(Deserialize)]
struct MergeCommitData {
    tree: Sha,
}

#[derive(Deserialize)]
struct Created {
    number: u64,
}

impl GitHubForge {
    /// See the module documentation.
    pub(super) async fn cherry_pick_via_merges(
        &self,
        item: &ItemRef,
        request: &CherryPickRequest,
    ) -> Result<CherryPickOutcome, ForgeError> {
        let repo = &item.repo;
        let scope = Scope::Repo(repo);
        let base = repo_route(item)?;
        if let Some(number) = self.open_pick(repo, request).await? {
            return Ok(CherryPickOutcome::Exists { number });
        }
        let target_ref = format!("{base}/git/ref/heads/{}", encode_path(&request.target));
        let target: GitRef = match self.send_json(scope, Verb::Get, &target_ref).await {
            Ok(r) => r,
            Err(ForgeError::NotFound(_)) => return Ok(CherryPickOutcome::NoSuchBranch),
            Err(e) => return Err(e),
        };
        let commits: Vec<PullCommit> = self
            .get_all(scope, &format!("{}/commits", pull_route(item)?))
            .await?;
        if commits.len() >= MAX_LISTED_COMMITS {
            return Ok(CherryPickOutcome::Conflict {
                message: format!(
                    "GitHub lists at most {MAX_LISTED_COMMITS} commits of a pull request, so one this long cannot be cherry-picked through its API"
                ),
            });
        }
        if !commits.iter().any(|c| c.parents.len() == 1) {
            return Ok(CherryPickOutcome::Conflict {
                message: "the pull request has no commit to apply (merge commits are skipped)"
                    .to_string(),
            });
        }
        let scratch = format!("bosun-scratch-{}", request.branch);
        let mut head = target.object.sha;
        let mut tree = self.tree_of(&base, scope, &head).await?;
        let mut outcome = None;
        for c in commits.iter().filter(|c| c.parents.len() == 1) {
            let Some(parent) = c.parents.first() else {
                continue;
            };
            let onto: GitCommit = self
                .send_json(
                    scope,
                    Verb::Post(&json!({
                        "message": "bosun cherry-pick scratch commit",
                        "tree": tree,
                        "parents": [parent.sha],
                    })),
                    &format!("{base}/git/commits"),
                )
                .await?;
            self.point_branch(&base, scope, &scratch, &onto.sha).await?;
            let merge = json!({
                "base": scratch,
                "head": c.sha,
                "commit_message": format!("bosun cherry-pick of {}", c.sha),
            });
            let reply = match self
                .send(scope, Verb::Post(&merge), &format!("{base}/merges"))
                .await
            {
                Ok(reply) => reply,
                Err(ForgeError::Conflict(message)) => {
                    outcome = Some(CherryPickOutcome::Conflict { message });
                    break;
                }
                Err(e) => {
                    self.drop_branch(&base, scope, &scratch).await;
                    return Err(e);
                }
            };
            // 204: nothing to merge, the change is on the branch already.
            if reply.body.is_empty() {
                continue;
            }
            let merged: MergeCommit = super::transport::parse(&reply.body, "merges")?;
            let mut body = json!({
                "message": c.commit.message,
                "tree": merged.commit.tree.sha,
                "parents": [head],
            });
            if let (Some(author), Some(o)) = (&c.commit.author, body.as_object_mut()) {
                let mut person = json!({ "name": author.name, "email": author.email });
                if let (Some(date), Some(p)) = (&author.date, person.as_object_mut()) {
                    p.insert("date".into(), Value::from(date.clone()));
                }
                o.insert("author".into(), person);
            }
            let picked: GitCommit = self
                .send_json(scope, Verb::Post(&body), &format!("{base}/git/commits"))
                .await?;
            head = picked.sha;
            tree = picked.tree.sha;
        }
        self.drop_branch(&base, scope, &scratch).await;
        if let Some(outcome) = outcome {
            return Ok(outcome);
        }
        self.point_branch(&base, scope, &request.branch, &head)
            .await?;
        let created: Created = self
            .send_json(
                scope,
                Verb::Post(&json!({
                    "title": request.title,
                    "body": request.body,
                    "head": request.branch,
                    "base": request.target,
                })),
                &format!("{base}/pulls"),
            )
            .await?;
        Ok(CherryPickOutcome::Created {
            number: created.number,
        })
    }

    /// An open PR from the pick's branch into its target, made by an earlier attempt or
    /// request.
    async fn open_pick(
        &self,
        repo: &RepoPath,
        request: &CherryPickRequest,
    ) -> Result<Option<u64>, ForgeError> {
        Ok(self
            .open_pull_requests(repo)
            .await?
            .into_iter()
            .find(|(_, pr)| pr.head_ref == request.branch && pr.base_ref == request.target)
            .map(|(n, _)| n))
    }

    async fn tree_of(&self, base: &str, scope: Scope<'_>, sha: &str) -> Result<String, ForgeError> {
        let commit: GitCommit = self
            .send_json(scope, Verb::Get, &format!("{base}/git/commits/{sha}"))
            .await?;
        Ok(commit.tree.sha)
    }

    /// Points a branch at `sha`, creating it, or moving it (forced) when it exists already
    /// (left over from an attempt that stopped half-way).
    async fn point_branch(
        &self,
        base: &str,
        scope: Scope<'_>,
        branch: &str,
        sha: &str,
    ) -> Result<(), ForgeError> {
        let create = json!({ "ref": format!("refs/heads/{branch}"), "sha": sha });
        match self
            .send(scope, Verb::Post(&create), &format!("{base}/git/refs"))
            .await
        {
            Ok(_) => Ok(()),
            Err(ForgeError::Invalid(m)) if m.to_ascii_lowercase().contains("already exists") => {
                let update = json!({ "sha": sha, "force": true });
                self.send(
                    scope,
                    Verb::Patch(&update),
                    &format!("{base}/git/refs/heads/{}", encode_path(branch)),
                )
                .await
                .map(drop)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes the scratch branch; a failure only leaves it for the next attempt to reuse.
    async fn drop_branch(&self, base: &str, scope: Scope<'_>, branch: &str) {
        let route = format!("{base}/git/refs/heads/{}", encode_path(branch));
        if let Err(e) = self.send(scope, Verb::Delete, &route).await {
            tracing::debug!(branch, error = %e, "could not delete the cherry-pick scratch branch");
        }
    }
}
