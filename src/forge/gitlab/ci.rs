//! GitLab CI as bosun reads and drives it: an MR's pipelines.
//!
//! * Reading (when bosun heard no pipeline events for a head): `GET merge_requests/:iid/pipelines`,
//!   one read; the newest pipeline on the head is the `gitlab-ci` context.
//! * Running: `/retest` retries a pipeline (`POST pipelines/:id/retry`, which restarts its
//!   failed and canceled jobs only); starting CI on a head creates a new MR pipeline
//!   (`POST merge_requests/:iid/pipelines`).
//! * After a crash mid-call, a retry counts as done when the pipeline is running again, and
//!   a creation when a pipeline on the head has not finished yet.

use super::errors::unbuildable;
use super::{GitLabForge, project};
use crate::webhook::gitlab_ci::{DEFAULT_CONTEXT, pipeline_state};
use bosun_plugins::{CiContext, CiRun, CiState, CiSystem, ForgeError, ItemRef};
use gitlab::api::projects::merge_requests::pipelines::{
    CreateMergeRequestPipelines, MergeRequestPipelines,
};
use gitlab::api::projects::pipelines::{Pipeline as GetPipeline, RetryPipeline};
use serde::Deserialize;

#[derive(Deserialize)]
struct Pipeline {
    id: u64,
    #[serde(default)]
    sha: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    web_url: Option<String>,
}

/// A pipeline id from the journal, which must be GitLab's numeric id.
fn pipeline_id(run_id: &str) -> Result<u64, ForgeError> {
    run_id
        .parse()
        .map_err(|_| ForgeError::Invalid(format!("{run_id:?} is not a GitLab pipeline id")))
}

impl GitLabForge {
    async fn mr_pipelines(&self, item: &ItemRef) -> Result<Vec<Pipeline>, ForgeError> {
        let ep = MergeRequestPipelines::builder()
            .project(project(item)?)
            .merge_request(item.number)
            .build()
            .map_err(unbuildable)?;
        self.query(ep).await
    }

    /// [`bosun_plugins::ForgeRead::ci_contexts`] for GitLab.
    pub(super) async fn read_ci_contexts(
        &self,
        item: &ItemRef,
        sha: &str,
    ) -> Result<Vec<CiContext>, ForgeError> {
        // Newest first: the first pipeline on the head is its current state.
        Ok(self
            .mr_pipelines(item)
            .await?
            .into_iter()
            .find(|p| p.sha == sha)
            .map(|p| CiContext {
                context: DEFAULT_CONTEXT.into(),
                system: CiSystem::GitlabCi,
                state: pipeline_state(&p.status),
                url: p.web_url,
                run_id: Some(p.id.to_string()),
            })
            .into_iter()
            .collect())
    }

    /// [`bosun_plugins::Forge::run_ci`] for GitLab.
    pub(super) async fn start_ci(
        &self,
        item: &ItemRef,
        system: CiSystem,
        run: &CiRun,
    ) -> Result<(), ForgeError> {
        if system != CiSystem::GitlabCi {
            return Err(ForgeError::Permanent(format!(
                "bosun cannot run {} contexts on GitLab",
                system.as_str()
            )));
        }
        let _: serde_json::Value = match run {
            CiRun::Rerun { run_id, .. } => {
                let ep = RetryPipeline::builder()
                    .project(project(item)?)
                    .pipeline(pipeline_id(run_id)?)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            CiRun::Dispatch { .. } => {
                return Err(ForgeError::Permanent(
                    "workflow dispatch is GitHub Actions'; GitLab CI starts MR pipelines".into(),
                ));
            }
            CiRun::Start { .. } => {
                let ep = CreateMergeRequestPipelines::builder()
                    .project(project(item)?)
                    .merge_request(item.number)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(())
    }

    /// [`bosun_plugins::Forge::ci_started`] for GitLab.
    pub(super) async fn ci_restarted(
        &self,
        item: &ItemRef,
        system: CiSystem,
        run: &CiRun,
    ) -> Result<bool, ForgeError> {
        if system != CiSystem::GitlabCi {
            return Ok(false);
        }
        match run {
            CiRun::Rerun { run_id, .. } => {
                let ep = GetPipeline::builder()
                    .project(project(item)?)
                    .pipeline(pipeline_id(run_id)?)
                    .build()
                    .map_err(unbuildable)?;
                let now: Pipeline = self.query(ep).await?;
                Ok(pipeline_state(&now.status) == CiState::Pending)
            }
            CiRun::Dispatch { .. } => Ok(false),
            CiRun::Start { sha, .. } => Ok(self
                .mr_pipelines(item)
                .await?
                .iter()
                .any(|p| p.sha == *sha && pipeline_state(&p.status) == CiState::Pending)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_ids_must_be_numbers() {
        assert_eq!(pipeline_id("77"), Ok(77));
        assert!(matches!(pipeline_id("x"), Err(ForgeError::Invalid(_))));
        assert!(matches!(pipeline_id(""), Err(ForgeError::Invalid(_))));
    }
}
