//! GitHub's CI events as [`CiEvent`]s.
//!
//! | `X-GitHub-Event` | context | state from | run id |
//! |---|---|---|---|
//! | `check_run` | the check's name | `status`, then `conclusion` | the check run's id (none for GitHub Actions' jobs: their workflow run is re-run) |
//! | `status` | `context` | `state` | – |
//! | `workflow_run` | the workflow's name | `status`, then `conclusion` | the run's id |
//!
//! `check_suite` is ignored: its check runs report each context. Conclusions `success`,
//! `neutral` and `skipped` pass; `cancelled` is cancelled; `failure`, `timed_out`,
//! `action_required`, `startup_failure` and `stale` fail. The PR number is the first of the
//! payload's `pull_requests`, when there is one (a fork's PR has none: bosun maps the SHA).

use super::{NormalizeError, Normalized, need, null_as_default, parse};
use bosun_plugins::{CiEvent, CiState, CiSystem, Event, ForgeKind, RepoPath};
use serde::Deserialize;

#[derive(Deserialize)]
struct Repo {
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct PrRef {
    number: Option<u64>,
}

#[derive(Deserialize)]
struct CheckRun {
    id: Option<u64>,
    name: Option<String>,
    head_sha: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    details_url: Option<String>,
    html_url: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pull_requests: Vec<PrRef>,
    app: Option<App>,
}

#[derive(Deserialize)]
struct App {
    slug: Option<String>,
}

/// The app whose check runs are GitHub Actions jobs.
const ACTIONS_APP: &str = "github-actions";

/// Whether a check run is a GitHub Actions job, which is re-run through its workflow run
/// (GitHub refuses to re-request Actions' check runs).
pub fn is_actions_app(slug: Option<&str>) -> bool {
    slug == Some(ACTIONS_APP)
}

#[derive(Deserialize)]
struct CheckRunPayload {
    check_run: Option<CheckRun>,
    repository: Option<Repo>,
}

#[derive(Deserialize)]
struct StatusPayload {
    sha: Option<String>,
    context: Option<String>,
    state: Option<String>,
    target_url: Option<String>,
    repository: Option<Repo>,
}

#[derive(Deserialize)]
struct WorkflowRun {
    id: Option<u64>,
    name: Option<String>,
    head_sha: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    html_url: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pull_requests: Vec<PrRef>,
}

#[derive(Deserialize)]
struct WorkflowRunPayload {
    workflow_run: Option<WorkflowRun>,
    repository: Option<Repo>,
}

/// Normalizes a CI event, or `None` when `event` is not one.
pub fn normalize(event: &str, body: &[u8]) -> Option<Result<Normalized, NormalizeError>> {
    Some(match event {
        "check_run" => parse(event, body).and_then(check_run),
        "status" => parse(event, body).and_then(status),
        "workflow_run" => parse(event, body).and_then(workflow_run),
        "check_suite" => Ok(Normalized::Ignored(
            "check_suite: its check runs report each context".into(),
        )),
        _ => return None,
    })
}

/// A check's or workflow run's state from its `status` and `conclusion`.
pub fn run_state(status: Option<&str>, conclusion: Option<&str>) -> CiState {
    if status != Some("completed") {
        return CiState::Pending;
    }
    match conclusion {
        Some("success" | "neutral" | "skipped") => CiState::Success,
        Some("cancelled") => CiState::Cancelled,
        Some(_) => CiState::Failure,
        None => CiState::Pending,
    }
}

fn repo(ev: &str, r: Option<Repo>) -> Result<RepoPath, NormalizeError> {
    let name = need(r.and_then(|r| r.full_name), ev, "repository.full_name")?;
    RepoPath::parse(&name).ok_or_else(|| super::malformed(ev, "invalid repository.full_name"))
}

fn check_run(p: CheckRunPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "check_run";
    let run = need(p.check_run, EV, "check_run")?;
    Ok(Normalized::Events(vec![Event::Ci(CiEvent {
        forge: ForgeKind::GitHub,
        repo: repo(EV, p.repository)?,
        system: CiSystem::GithubChecks,
        sha: need(run.head_sha, EV, "check_run.head_sha")?,
        number: run.pull_requests.first().and_then(|p| p.number),
        context: need(run.name, EV, "check_run.name")?,
        state: run_state(run.status.as_deref(), run.conclusion.as_deref()),
        url: run.details_url.or(run.html_url),
        run_id: run
            .id
            .filter(|_| !is_actions_app(run.app.as_ref().and_then(|a| a.slug.as_deref())))
            .map(|id| id.to_string()),
    })]))
}

fn status(p: StatusPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "status";
    let state = match need(p.state.as_deref(), EV, "state")? {
        "pending" => CiState::Pending,
        "success" => CiState::Success,
        "failure" => CiState::Failure,
        "error" => CiState::Error,
        other => {
            return Ok(Normalized::Ignored(format!(
                "status state {:?} is not handled",
                super::clip(other)
            )));
        }
    };
    Ok(Normalized::Events(vec![Event::Ci(CiEvent {
        forge: ForgeKind::GitHub,
        repo: repo(EV, p.repository)?,
        system: CiSystem::GithubStatus,
        sha: need(p.sha, EV, "sha")?,
        number: None,
        context: need(p.context, EV, "context")?,
        state,
        url: p.target_url.filter(|u| !u.is_empty()),
        run_id: None,
    })]))
}

fn workflow_run(p: WorkflowRunPayload) -> Result<Normalized, NormalizeError> {
    const EV: &str = "workflow_run";
    let run = need(p.workflow_run, EV, "workflow_run")?;
    Ok(Normalized::Events(vec![Event::Ci(CiEvent {
        forge: ForgeKind::GitHub,
        repo: repo(EV, p.repository)?,
        system: CiSystem::GithubActions,
        sha: need(run.head_sha, EV, "workflow_run.head_sha")?,
        number: run.pull_requests.first().and_then(|p| p.number),
        context: need(run.name, EV, "workflow_run.name")?,
        state: run_state(run.status.as_deref(), run.conclusion.as_deref()),
        url: run.html_url,
        run_id: run.id.map(|id| id.to_string()),
    })]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_states_follow_status_then_conclusion() {
        assert_eq!(run_state(Some("queued"), None), CiState::Pending);
        assert_eq!(run_state(Some("in_progress"), None), CiState::Pending);
        for ok in ["success", "neutral", "skipped"] {
            assert_eq!(
                run_state(Some("completed"), Some(ok)),
                CiState::Success,
                "{ok}"
            );
        }
        for bad in [
            "failure",
            "timed_out",
            "action_required",
            "startup_failure",
            "stale",
        ] {
            assert_eq!(
                run_state(Some("completed"), Some(bad)),
                CiState::Failure,
                "{bad}"
            );
        }
        assert_eq!(
            run_state(Some("completed"), Some("cancelled")),
            CiState::Cancelled
        );
    }
}
