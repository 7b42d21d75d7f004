//! The forges' CI, as far as bosun reads and drives it: GitHub Actions workflow runs (and
//! `workflow_dispatch`), other apps' check runs, combined commit statuses and repository permissions; GitLab MR
//! pipelines. Runs keep their jobs, so a test can tell "re-ran the failed jobs" from "re-ran
//! everything" by the jobs' attempt counts as well as by the request log.

use crate::github::error as gh_error;
use crate::server::{Reply, Req, decode};
use crate::world::{World, access};
use bosun_plugins::{ForgeKind, ItemKind};
use serde_json::{Value, json};

/// One job of a workflow run or pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiJob {
    pub name: String,
    /// GitHub: `queued`/`in_progress`/`completed`; GitLab: the job status (`failed` …).
    pub status: String,
    /// GitHub's conclusion once completed (`success`, `failure` …); unused on GitLab.
    pub conclusion: Option<String>,
    /// How many times the job ran (1 when seeded; re-runs add one).
    pub attempts: u32,
}

impl CiJob {
    /// A finished GitHub job (`success`, `failure` …).
    pub fn github(name: &str, conclusion: &str) -> Self {
        CiJob {
            name: name.into(),
            status: "completed".into(),
            conclusion: Some(conclusion.into()),
            attempts: 1,
        }
    }

    /// A GitLab job in a status (`success`, `failed` …).
    pub fn gitlab(name: &str, status: &str) -> Self {
        CiJob {
            name: name.into(),
            status: status.into(),
            conclusion: None,
            attempts: 1,
        }
    }

    fn github_failed(&self) -> bool {
        self.status == "completed"
            && !matches!(
                self.conclusion.as_deref(),
                Some("success" | "neutral" | "skipped")
            )
    }
}

/// What a CI run is on its forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CiRunKind {
    /// A GitHub Actions workflow run.
    WorkflowRun,
    /// A check run of a GitHub App (`slug`).
    CheckRun { app: String },
    /// A GitLab pipeline, of an MR when `mr` is set.
    Pipeline { mr: Option<u64> },
}

/// A workflow run, check run or pipeline on a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiRun {
    pub id: u64,
    pub kind: CiRunKind,
    /// The workflow's or check's name (pipelines: unused).
    pub name: String,
    pub sha: String,
    /// GitHub: `queued`/`in_progress`/`completed`; GitLab: the pipeline status.
    pub status: String,
    /// GitHub's conclusion once completed (`action_required` waits for an approval).
    pub conclusion: Option<String>,
    /// GitHub's `run_attempt`; a re-run adds one.
    pub attempt: u32,
    pub jobs: Vec<CiJob>,
}

impl CiRun {
    fn github_json(&self, req: &Req<'_>, repo: &str) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "head_sha": self.sha,
            "status": self.status,
            "conclusion": self.conclusion,
            "run_attempt": self.attempt,
            "html_url": format!("{}/{repo}/actions/runs/{}", site_root(req), self.id),
        })
    }

    fn check_json(&self, req: &Req<'_>, repo: &str) -> Value {
        let app = match &self.kind {
            CiRunKind::CheckRun { app } => app.clone(),
            _ => "github-actions".into(),
        };
        json!({
            "id": self.id,
            "name": self.name,
            "head_sha": self.sha,
            "status": self.status,
            "conclusion": self.conclusion,
            "details_url": format!("{}/{repo}/runs/{}", site_root(req), self.id),
            "app": { "slug": app },
        })
    }

    fn pipeline_json(&self, req: &Req<'_>, repo: &str) -> Value {
        json!({
            "id": self.id,
            "iid": self.id,
            "sha": self.sha,
            "ref": "refs/merge-requests",
            "status": self.status,
            "source": "merge_request_event",
            "web_url": format!("{}/{repo}/-/pipelines/{}", site_root(req), self.id),
        })
    }
}

fn site_root(req: &Req<'_>) -> String {
    req.base.trim_end_matches("/api/v4").to_string()
}

/// `access` level → GitHub's `permission` word.
fn permission(level: Option<u32>) -> &'static str {
    match level {
        Some(l) if l >= access::MAINTAINER => "admin",
        Some(l) if l >= access::DEVELOPER => "write",
        Some(_) => "read",
        None => "none",
    }
}

/// GitHub routes under `/repos/{o}/{r}/…` that concern CI; `None` if none matches.
pub(crate) fn github_route(
    world: &mut World,
    req: &Req<'_>,
    repo: &str,
    rest: &[&str],
) -> Option<Reply> {
    let site = &world.github;
    let r = site.repo(repo)?;
    let reply = match (req.method, rest) {
        ("GET", ["collaborators", user, "permission"]) => {
            let level = r.member_level(site, &decode(user), true);
            Reply::json(200, json!({ "permission": permission(level) }))
        }
        ("GET", ["commits", sha, "status"]) => {
            let sha = decode(sha);
            let mut latest: Vec<&crate::world::Status> = Vec::new();
            for s in r.statuses.iter().rev().filter(|s| s.sha == sha) {
                if !latest.iter().any(|l| l.context == s.context) {
                    latest.push(s);
                }
            }
            let statuses: Vec<Value> = latest
                .iter()
                .map(|s| {
                    json!({
                        "context": s.context, "state": s.state,
                        "description": s.description, "target_url": s.target_url,
                    })
                })
                .collect();
            Reply::json(200, json!({ "sha": sha, "statuses": statuses }))
        }
        ("GET", ["commits", sha, "check-runs"]) => {
            let sha = decode(sha);
            let runs: Vec<Value> = r
                .ci_runs
                .iter()
                .rev()
                .filter(|c| c.sha == sha && matches!(c.kind, CiRunKind::CheckRun { .. }))
                .map(|c| c.check_json(req, repo))
                .collect();
            Reply::json(
                200,
                json!({ "total_count": runs.len(), "check_runs": runs }),
            )
        }
        ("GET", ["actions", "runs"]) => {
            let sha = req.query_param("head_sha");
            let status = req.query_param("status");
            let runs: Vec<Value> = r
                .ci_runs
                .iter()
                .rev()
                .filter(|c| c.kind == CiRunKind::WorkflowRun)
                .filter(|c| sha.is_none_or(|s| c.sha == s))
                .filter(|c| {
                    status.is_none_or(|s| c.status == s || c.conclusion.as_deref() == Some(s))
                })
                .map(|c| c.github_json(req, repo))
                .collect();
            Reply::json(
                200,
                json!({ "total_count": runs.len(), "workflow_runs": runs }),
            )
        }
        ("GET", ["actions", "runs", id]) => match find(world, ForgeKind::GitHub, repo, id) {
            Some(run) => Reply::json(200, run.github_json(req, repo)),
            None => gh_error(404, "Not Found"),
        },
        ("GET", ["check-runs", id]) => match find(world, ForgeKind::GitHub, repo, id) {
            Some(run) => Reply::json(200, run.check_json(req, repo)),
            None => gh_error(404, "Not Found"),
        },
        (
            "POST",
            [
                "actions",
                "runs",
                id,
                what @ ("rerun" | "rerun-failed-jobs" | "approve"),
            ],
        ) => {
            let failed_only = *what == "rerun-failed-jobs";
            let approve = *what == "approve";
            let Some(run) = find_mut(world, ForgeKind::GitHub, repo, id) else {
                return Some(gh_error(404, "Not Found"));
            };
            if approve {
                if run.conclusion.as_deref() != Some("action_required") {
                    return Some(gh_error(404, "Not Found"));
                }
                run.status = "queued".into();
                run.conclusion = None;
                return Some(Reply::empty(201));
            }
            if run.status != "completed" {
                return Some(gh_error(
                    403,
                    "This workflow run is not completed and cannot be re-run",
                ));
            }
            if failed_only && !run.jobs.iter().any(CiJob::github_failed) {
                return Some(gh_error(403, "This workflow run has no failed jobs"));
            }
            for job in &mut run.jobs {
                if !failed_only || job.github_failed() {
                    job.status = "queued".into();
                    job.conclusion = None;
                    job.attempts += 1;
                }
            }
            run.status = "queued".into();
            run.conclusion = None;
            run.attempt += 1;
            Reply::empty(201)
        }
        ("POST", ["actions", "workflows", workflow, "dispatches"]) => {
            let workflow = decode(workflow);
            let Some(git_ref) = req
                .json_body()
                .and_then(|b| b["ref"].as_str().map(str::to_string))
            else {
                return Some(gh_error(422, "Invalid request: ref is required"));
            };
            let sha = r.refs.get(&git_ref).cloned().or_else(|| {
                r.items
                    .iter()
                    .find(|i| i.head_ref == git_ref)
                    .map(|i| i.head_sha.clone())
            });
            let Some(sha) = sha else {
                return Some(gh_error(422, &format!("No ref found for: {git_ref}")));
            };
            let id = world.next_id();
            let r = world.github.repo_mut(repo)?;
            r.ci_runs.push(CiRun {
                id,
                kind: CiRunKind::WorkflowRun,
                name: workflow,
                sha,
                status: "queued".into(),
                conclusion: None,
                attempt: 1,
                jobs: Vec::new(),
            });
            Reply::empty(204)
        }
        ("POST", ["check-runs", id, "rerequest"]) => {
            let Some(run) = find_mut(world, ForgeKind::GitHub, repo, id) else {
                return Some(gh_error(404, "Not Found"));
            };
            run.status = "queued".into();
            run.conclusion = None;
            run.attempt += 1;
            Reply::empty(201)
        }
        _ => return None,
    };
    Some(reply)
}

/// GitLab routes under `/projects/:id/…` that concern CI; `None` if none matches.
pub(crate) fn gitlab_route(
    world: &mut World,
    req: &Req<'_>,
    repo: &str,
    rest: &[&str],
) -> Option<Reply> {
    let reply = match (req.method, rest) {
        ("GET", ["merge_requests", iid, "pipelines"]) => {
            let iid: u64 = iid.parse().ok()?;
            let r = world.gitlab.repo(repo)?;
            r.item_index(Some(ItemKind::PullRequest), iid)?;
            let list: Vec<Value> = r
                .ci_runs
                .iter()
                .rev()
                .filter(|c| c.kind == CiRunKind::Pipeline { mr: Some(iid) })
                .map(|c| c.pipeline_json(req, repo))
                .collect();
            Reply::json(200, Value::Array(list))
        }
        ("POST", ["merge_requests", iid, "pipelines"]) => {
            let iid: u64 = iid.parse().ok()?;
            let idx = world
                .gitlab
                .repo(repo)?
                .item_index(Some(ItemKind::PullRequest), iid)?;
            let id = world.next_id();
            let r = world.gitlab.repo_mut(repo)?;
            let sha = r.items[idx].head_sha.clone();
            let run = CiRun {
                id,
                kind: CiRunKind::Pipeline { mr: Some(iid) },
                name: String::new(),
                sha,
                status: "created".into(),
                conclusion: None,
                attempt: 1,
                jobs: Vec::new(),
            };
            let body = run.pipeline_json(req, repo);
            r.ci_runs.push(run);
            Reply::json(201, body)
        }
        ("GET", ["pipelines", id]) => match find(world, ForgeKind::GitLab, repo, id) {
            Some(run) => Reply::json(200, run.pipeline_json(req, repo)),
            None => Reply::json(404, json!({ "message": "404 Not found" })),
        },
        ("POST", ["pipelines", id, "retry"]) => {
            let Some(run) = find_mut(world, ForgeKind::GitLab, repo, id) else {
                return Some(Reply::json(404, json!({ "message": "404 Not found" })));
            };
            let mut retried = false;
            for job in &mut run.jobs {
                if matches!(job.status.as_str(), "failed" | "canceled") {
                    job.status = "pending".into();
                    job.attempts += 1;
                    retried = true;
                }
            }
            if retried {
                run.status = "running".into();
                run.attempt += 1;
            }
            let body = run.pipeline_json(req, repo);
            Reply::json(201, body)
        }
        _ => return None,
    };
    Some(reply)
}

fn find<'w>(world: &'w World, forge: ForgeKind, repo: &str, id: &str) -> Option<&'w CiRun> {
    let id: u64 = id.parse().ok()?;
    world
        .site(forge)
        .repo(repo)?
        .ci_runs
        .iter()
        .find(|c| c.id == id)
}

fn find_mut<'w>(
    world: &'w mut World,
    forge: ForgeKind,
    repo: &str,
    id: &str,
) -> Option<&'w mut CiRun> {
    let id: u64 = id.parse().ok()?;
    world
        .site_mut(forge)
        .repo_mut(repo)?
        .ci_runs
        .iter_mut()
        .find(|c| c.id == id)
}
