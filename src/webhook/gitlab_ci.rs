//! GitLab's `Pipeline Hook` as a [`CiEvent`]: the context is `gitlab-ci` (one pipeline per
//! commit and source; pipeline names change with the branch, so they are not used); `success` and `skipped` pass, `failed` fails, `canceled` is cancelled, every
//! other status (`created`, `pending`, `running`, `manual` …) is pending. The MR is the
//! payload's `merge_request.iid` when it is an MR pipeline (else bosun maps the SHA); the run id
//! is the pipeline's id, which `/retest` retries.

use super::{NormalizeError, Normalized, need, parse};
use bosun_plugins::{CiEvent, CiState, CiSystem, Event, ForgeKind, RepoPath};
use serde::Deserialize;

#[derive(Deserialize)]
struct Attributes {
    id: Option<u64>,
    sha: Option<String>,
    status: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: Option<u64>,
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: Option<String>,
    web_url: Option<String>,
}

#[derive(Deserialize)]
struct PipelinePayload {
    object_attributes: Option<Attributes>,
    merge_request: Option<MergeRequest>,
    project: Option<Project>,
}

/// The context of GitLab pipelines.
pub const DEFAULT_CONTEXT: &str = "gitlab-ci";

/// A pipeline status as a CI state.
pub fn pipeline_state(status: &str) -> CiState {
    match status {
        "success" | "skipped" => CiState::Success,
        "failed" => CiState::Failure,
        "canceled" | "cancelled" => CiState::Cancelled,
        _ => CiState::Pending,
    }
}

/// Normalizes a `Pipeline Hook` body.
pub fn pipeline(body: &[u8]) -> Result<Normalized, NormalizeError> {
    const EV: &str = "pipeline";
    let p: PipelinePayload = parse(EV, body)?;
    let attrs = need(p.object_attributes, EV, "object_attributes")?;
    let project = need(p.project, EV, "project")?;
    let path = need(
        project.path_with_namespace,
        EV,
        "project.path_with_namespace",
    )?;
    let repo = RepoPath::parse(&path)
        .ok_or_else(|| super::malformed(EV, "invalid project.path_with_namespace"))?;
    let id = attrs.id;
    let url = attrs.url.or_else(|| {
        project
            .web_url
            .zip(id)
            .map(|(web, id)| format!("{web}/-/pipelines/{id}"))
    });
    Ok(Normalized::Events(vec![Event::Ci(CiEvent {
        forge: ForgeKind::GitLab,
        repo,
        system: CiSystem::GitlabCi,
        sha: need(attrs.sha, EV, "object_attributes.sha")?,
        number: p.merge_request.and_then(|m| m.iid),
        context: DEFAULT_CONTEXT.into(),
        state: pipeline_state(&need(attrs.status, EV, "object_attributes.status")?),
        url,
        run_id: id.map(|id| id.to_string()),
    })]))
}
