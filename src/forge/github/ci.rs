//! GitHub's CI as bosun reads and drives it: workflow runs (GitHub Actions), other apps'
//! check runs, and commit statuses.
//!
//! * Reading (when bosun heard no CI events for a head): `GET actions/runs?head_sha=`,
//!   `GET commits/{sha}/check-runs` and `GET commits/{sha}/status`, three reads. Check runs
//!   of the `github-actions` app are the jobs of those workflow runs and are left to them.
//! * Running: `/retest` re-runs a workflow run's failed jobs (`rerun-failed-jobs`, which also
//!   re-runs the jobs depending on them), `/test` the whole run (`rerun`); another app's
//!   check run is re-requested (`check-runs/{id}/rerequest`, which GitHub allows a GitHub App
//!   only). Starting CI on a head means approving the Actions runs that wait for a
//!   maintainer (`status=action_required`, a first-time contributor's fork PR), as Prow's
//!   `/ok-to-test` does. A workflow with a `workflow_dispatch` trigger is run on the PR's
//!   branch (`actions/workflows/{file}/dispatches`).
//! * After a crash mid-call, a re-run counts as done when the run (or check run) is no longer
//!   `completed`: GitHub queued it again.

use super::{GitHubForge, Scope, Verb, repo_route};
use crate::webhook::github_ci::{is_actions_app, run_state};
use bosun_plugins::{CiContext, CiRun, CiState, CiSystem, ForgeError, ItemRef};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeSet;

#[derive(Deserialize)]
struct WorkflowRuns {
    #[serde(default)]
    workflow_runs: Vec<WorkflowRun>,
}

#[derive(Deserialize)]
struct WorkflowRun {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

#[derive(Deserialize)]
struct CheckRuns {
    #[serde(default)]
    check_runs: Vec<CheckRun>,
}

#[derive(Deserialize)]
struct App {
    #[serde(default)]
    slug: Option<String>,
}

#[derive(Deserialize)]
struct CheckRun {
    id: u64,
    name: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    details_url: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
    #[serde(default)]
    app: Option<App>,
}

#[derive(Deserialize)]
struct Combined {
    #[serde(default)]
    statuses: Vec<StatusEntry>,
}

#[derive(Deserialize)]
struct StatusEntry {
    context: String,
    state: String,
    #[serde(default)]
    target_url: Option<String>,
}

fn status_state(state: &str) -> Option<CiState> {
    Some(match state {
        "pending" => CiState::Pending,
        "success" => CiState::Success,
        "failure" => CiState::Failure,
        "error" => CiState::Error,
        _ => return None,
    })
}

/// A run id from the journal, which must be GitHub's numeric id.
fn numeric(run_id: &str) -> Result<&str, ForgeError> {
    if !run_id.is_empty() && run_id.chars().all(|c| c.is_ascii_digit()) {
        Ok(run_id)
    } else {
        Err(ForgeError::Invalid(format!(
            "{run_id:?} is not a GitHub run id"
        )))
    }
}

impl GitHubForge {
    /// [`bosun_plugins::ForgeRead::ci_contexts`] for GitHub.
    pub(super) async fn read_ci_contexts(
        &self,
        item: &ItemRef,
        sha: &str,
    ) -> Result<Vec<CiContext>, ForgeError> {
        let repo = repo_route(item)?;
        let scope = Scope::Repo(&item.repo);
        let sha = crate::forge::encode_segment(sha);
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let runs: WorkflowRuns = self
            .send_json(
                scope,
                Verb::Get,
                &format!("{repo}/actions/runs?head_sha={sha}&per_page=100"),
            )
            .await?;
        // Newest first: the first run of each workflow is its current state.
        for run in runs.workflow_runs {
            let name = run.name.unwrap_or_else(|| format!("run {}", run.id));
            if seen.insert((CiSystem::GithubActions, name.clone())) {
                out.push(CiContext {
                    context: name,
                    system: CiSystem::GithubActions,
                    state: run_state(run.status.as_deref(), run.conclusion.as_deref()),
                    url: run.html_url,
                    run_id: Some(run.id.to_string()),
                });
            }
        }
        let checks: CheckRuns = self
            .send_json(
                scope,
                Verb::Get,
                &format!("{repo}/commits/{sha}/check-runs?per_page=100"),
            )
            .await?;
        for check in checks.check_runs {
            if is_actions_app(check.app.as_ref().and_then(|a| a.slug.as_deref())) {
                continue;
            }
            if seen.insert((CiSystem::GithubChecks, check.name.clone())) {
                out.push(CiContext {
                    context: check.name,
                    system: CiSystem::GithubChecks,
                    state: run_state(check.status.as_deref(), check.conclusion.as_deref()),
                    url: check.details_url.or(check.html_url),
                    run_id: Some(check.id.to_string()),
                });
            }
        }
        let combined: Combined = self
            .send_json(scope, Verb::Get, &format!("{repo}/commits/{sha}/status"))
            .await?;
        for status in combined.statuses {
            let Some(state) = status_state(&status.state) else {
                continue;
            };
            if seen.insert((CiSystem::GithubStatus, status.context.clone())) {
                out.push(CiContext {
                    context: status.context,
                    system: CiSystem::GithubStatus,
                    state,
                    url: status.target_url.filter(|u| !u.is_empty()),
                    run_id: None,
                });
            }
        }
        Ok(out)
    }

    /// [`bosun_plugins::Forge::run_ci`] for GitHub.
    pub(super) async fn start_ci(
        &self,
        item: &ItemRef,
        system: CiSystem,
        run: &CiRun,
    ) -> Result<(), ForgeError> {
        let repo = repo_route(item)?;
        let scope = Scope::Repo(&item.repo);
        let empty = json!({});
        let route = match (system, run) {
            (
                CiSystem::GithubActions,
                CiRun::Rerun {
                    run_id,
                    failed_only,
                },
            ) => {
                let what = if *failed_only {
                    "rerun-failed-jobs"
                } else {
                    "rerun"
                };
                format!("{repo}/actions/runs/{}/{what}", numeric(run_id)?)
            }
            (CiSystem::GithubChecks, CiRun::Rerun { run_id, .. }) => {
                format!("{repo}/check-runs/{}/rerequest", numeric(run_id)?)
            }
            (CiSystem::GithubActions, CiRun::Start { sha, .. }) => {
                return self.approve_waiting_runs(item, sha).await;
            }
            (CiSystem::GithubActions, CiRun::Dispatch { workflow, git_ref }) => {
                let body = json!({ "ref": git_ref });
                let route = format!(
                    "{repo}/actions/workflows/{}/dispatches",
                    crate::forge::encode_segment(workflow)
                );
                return self.send(scope, Verb::Post(&body), &route).await.map(drop);
            }
            (system, _) => {
                return Err(ForgeError::Permanent(format!(
                    "bosun cannot run {} contexts on GitHub: re-run them in the CI that reports them",
                    system.as_str()
                )));
            }
        };
        self.send(scope, Verb::Post(&empty), &route).await.map(drop)
    }

    /// Approves the Actions runs on `sha` that wait for a maintainer's approval.
    async fn approve_waiting_runs(&self, item: &ItemRef, sha: &str) -> Result<(), ForgeError> {
        let repo = repo_route(item)?;
        let scope = Scope::Repo(&item.repo);
        let waiting: WorkflowRuns = self
            .send_json(
                scope,
                Verb::Get,
                &format!(
                    "{repo}/actions/runs?head_sha={}&status=action_required&per_page=100",
                    crate::forge::encode_segment(sha)
                ),
            )
            .await?;
        let empty = json!({});
        for run in waiting.workflow_runs {
            let route = format!("{repo}/actions/runs/{}/approve", run.id);
            match self.send(scope, Verb::Post(&empty), &route).await {
                // No longer waiting (approved meanwhile): what was asked is done.
                Ok(_) | Err(ForgeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// [`bosun_plugins::Forge::ci_started`] for GitHub.
    pub(super) async fn ci_restarted(
        &self,
        item: &ItemRef,
        system: CiSystem,
        run: &CiRun,
    ) -> Result<bool, ForgeError> {
        let repo = repo_route(item)?;
        let route = match (system, run) {
            (CiSystem::GithubActions, CiRun::Rerun { run_id, .. }) => {
                format!("{repo}/actions/runs/{}", numeric(run_id)?)
            }
            (CiSystem::GithubChecks, CiRun::Rerun { run_id, .. }) => {
                format!("{repo}/check-runs/{}", numeric(run_id)?)
            }
            // Approving again is harmless: approved runs are no longer listed as waiting. A
            // dispatch cannot be told from another one, so it may run twice after a crash.
            _ => return Ok(false),
        };
        #[derive(Deserialize)]
        struct Run {
            #[serde(default)]
            status: Option<String>,
        }
        let now: Run = self
            .send_json(Scope::Repo(&item.repo), Verb::Get, &route)
            .await?;
        Ok(now.status.as_deref() != Some("completed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_must_be_numbers() {
        assert_eq!(numeric("42"), Ok("42"));
        for bad in ["", "4/2", "../x", "1 2"] {
            assert!(matches!(numeric(bad), Err(ForgeError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn status_states_map_and_unknown_ones_are_skipped() {
        assert_eq!(status_state("error"), Some(CiState::Error));
        assert_eq!(status_state("success"), Some(CiState::Success));
        assert_eq!(status_state("weird"), None);
    }
}
