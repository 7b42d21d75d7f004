//! Cherry-picking a merged MR on GitLab without a clone: a new branch from the target, then
//! GitLab's own cherry-pick endpoint for each of the MR's commits, oldest first, then the MR.
//!
//! The MR's commits are picked rather than its merge or squash commit: they exist whatever the
//! project's merge method (merge commit, squash, fast-forward), and keep their messages and
//! authors. Merge commits inside the MR are skipped. GitLab answers a commit it cannot apply
//! with 400 and a message; the new branch is then deleted and the message reported.

use super::GitLabForge;
use super::errors::unbuildable;
use bosun_plugins::pick::{CherryPickOutcome, CherryPickRequest};
use bosun_plugins::{ForgeError, ForgeRead, ItemRef};
use gitlab::api::projects::merge_requests as mrs;
use gitlab::api::projects::repository::{branches, commits};
use serde::Deserialize;

#[derive(Deserialize)]
struct Created {
    iid: u64,
}

/// GitLab's error text without the status prefix `status_error` put before it.
fn forge_message(message: &str) -> String {
    message
        .split_once(": ")
        .filter(|(status, _)| status.chars().all(|c| c.is_ascii_digit()))
        .map_or(message, |(_, rest)| rest)
        .to_string()
}

impl GitLabForge {
    /// See the module documentation.
    pub(super) async fn cherry_pick_via_api(
        &self,
        item: &ItemRef,
        request: &CherryPickRequest,
    ) -> Result<CherryPickOutcome, ForgeError> {
        let project = item.repo.as_str();
        if let Some((number, _)) = self
            .open_pull_requests(&item.repo)
            .await?
            .into_iter()
            .find(|(_, mr)| mr.head_ref == request.branch && mr.base_ref == request.target)
        {
            return Ok(CherryPickOutcome::Exists { number });
        }
        let ep = branches::Branch::builder()
            .project(project)
            .branch(request.target.as_str())
            .build()
            .map_err(unbuildable)?;
        match self.query_bytes(ep).await {
            Ok(_) => {}
            Err(ForgeError::NotFound(_)) => return Ok(CherryPickOutcome::NoSuchBranch),
            Err(e) => return Err(e),
        }
        let picks: Vec<String> = self
            .pr_commits(item)
            .await?
            .into_iter()
            .filter(|c| !c.is_merge())
            .map(|c| c.sha)
            .collect();
        if picks.is_empty() {
            return Ok(CherryPickOutcome::Conflict {
                message: "the merge request has no commit to apply (merge commits are skipped)"
                    .to_string(),
            });
        }
        // A branch left by an attempt that stopped half-way is started again.
        self.delete_branch(project, &request.branch).await?;
        let ep = branches::CreateBranch::builder()
            .project(project)
            .branch(request.branch.as_str())
            .ref_(request.target.as_str())
            .build()
            .map_err(unbuildable)?;
        self.query_bytes(ep).await?;
        for sha in &picks {
            let ep = commits::CherryPick::builder()
                .project(project)
                .sha(sha.as_str())
                .branch(request.branch.as_str())
                .build()
                .map_err(unbuildable)?;
            match self.query_bytes(ep).await {
                Ok(_) => {}
                Err(ForgeError::Invalid(message) | ForgeError::Conflict(message)) => {
                    self.delete_branch(project, &request.branch).await?;
                    return Ok(CherryPickOutcome::Conflict {
                        message: forge_message(&message),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let ep = mrs::CreateMergeRequest::builder()
            .project(project)
            .source_branch(request.branch.as_str())
            .target_branch(request.target.as_str())
            .title(request.title.as_str())
            .description(request.body.as_str())
            .build()
            .map_err(unbuildable)?;
        let created: Created = self.query(ep).await?;
        Ok(CherryPickOutcome::Created {
            number: created.iid,
        })
    }

    /// Deletes a branch; one that is not there is fine.
    async fn delete_branch(&self, project: &str, branch: &str) -> Result<(), ForgeError> {
        let ep = branches::DeleteBranch::builder()
            .project(project)
            .branch(branch)
            .build()
            .map_err(unbuildable)?;
        match self.query_bytes(ep).await {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_prefix_is_dropped() {
        assert_eq!(
            forge_message("400: Sorry, we cannot cherry-pick this commit automatically."),
            "Sorry, we cannot cherry-pick this commit automatically."
        );
        assert_eq!(forge_message("no prefix: here"), "no prefix: here");
    }
}
