//! Moving an issue to another project of its group: `POST /projects/:id/issues/:iid/move`
//! with the destination's numeric `to_project_id` (read first). GitLab leaves the old issue
//! closed with `moved_to_id` set; an issue found that way was moved by an earlier attempt.

use super::GitLabForge;
use super::errors::unbuildable;
use bosun_plugins::{ForgeError, ItemKind, ItemRef, RepoPath};
use gitlab::api::Endpoint;
use gitlab::api::common::NameOrId;
use gitlab::api::endpoint_prelude::{BodyError, FormParams, Method};
use gitlab::api::projects;
use gitlab::api::projects::issues;
use serde::Deserialize;
use std::borrow::Cow;

/// `POST /projects/:id/issues/:iid/move` (the crate has no endpoint for it).
struct MoveIssue<'a> {
    project: &'a str,
    iid: u64,
    to_project_id: u64,
}

impl Endpoint for MoveIssue<'_> {
    fn method(&self) -> Method {
        Method::POST
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/issues/{}/move",
            NameOrId::from(self.project),
            self.iid
        )
        .into()
    }

    fn body(&self) -> Result<Option<(&'static str, Vec<u8>)>, BodyError> {
        let mut params = FormParams::default();
        params.push("to_project_id", self.to_project_id);
        params.into_body()
    }
}

#[derive(Deserialize)]
struct ProjectId {
    id: u64,
}

#[derive(Deserialize)]
struct MovedTo {
    #[serde(default)]
    moved_to_id: Option<u64>,
}

impl GitLabForge {
    /// The numeric id of the project at `repo`.
    async fn project_id(&self, repo: &RepoPath) -> Result<u64, ForgeError> {
        let ep = projects::Project::builder()
            .project(repo.as_str())
            .build()
            .map_err(unbuildable)?;
        let found: ProjectId = self.query(ep).await?;
        Ok(found.id)
    }

    /// Whether the project `repo` exists and bosun can see it.
    pub(super) async fn project_exists(&self, repo: &RepoPath) -> Result<bool, ForgeError> {
        match self.project_id(repo).await {
            Ok(_) => Ok(true),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Moves the issue `item` to the project `to`, unless it was moved already.
    pub(super) async fn move_issue(&self, item: &ItemRef, to: &RepoPath) -> Result<(), ForgeError> {
        if item.kind != ItemKind::Issue {
            return Err(ForgeError::Invalid(format!("{item} is not an issue")));
        }
        let project = super::project(item)?;
        let ep = issues::Issue::builder()
            .project(project)
            .issue(item.number)
            .build()
            .map_err(unbuildable)?;
        let current: MovedTo = self.query(ep).await?;
        if current.moved_to_id.is_some() {
            return Ok(());
        }
        let to_project_id = self.project_id(to).await?;
        let _: serde_json::Value = self
            .query(MoveIssue {
                project,
                iid: item.number,
                to_project_id,
            })
            .await?;
        Ok(())
    }
}
