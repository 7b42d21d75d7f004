//! [`Forge`] for GitLab: every write bosun makes, with assignees and reviewers edited as whole
//! id lists (read-modify-write).

use super::errors::unbuildable;
use super::{GitLabForge, LabelName, Labeled, People, UserId, collection, project};
use async_trait::async_trait;
use bosun_plugins::forge::{CloseReason, missing_from};
use bosun_plugins::{
    CommitMessage, CommitStatus, Forge, ForgeError, ItemKind, ItemRef, Login, MergeMethod,
    RepoPath, StatusState,
};
use gitlab::api::Endpoint;
use gitlab::api::common::NameOrId;
use gitlab::api::endpoint_prelude::Method;
use gitlab::api::projects::repository::commits::{CommitStatusState, CreateCommitStatus};
use gitlab::api::projects::{issues, labels, merge_requests as mrs};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeSet;

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct MergedMr {
    state: String,
}

/// `DELETE /projects/:id/{merge_requests|issues}/:iid/notes/:note_id`. The crate has no
/// delete-note endpoint (notes offer create, edit, list and award emoji only), so this one is
/// ours.
struct DeleteNote<'a> {
    project: &'a str,
    collection: &'static str,
    iid: u64,
    note: u64,
}

impl Endpoint for DeleteNote<'_> {
    fn method(&self) -> Method {
        Method::DELETE
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/{}/{}/notes/{}",
            NameOrId::from(self.project),
            self.collection,
            self.iid,
            self.note
        )
        .into()
    }
}

/// One edit of an item's title or state.
#[derive(Clone, Copy)]
enum ItemEdit<'a> {
    Title(&'a str),
    /// A milestone's global id; 0 takes the item out of its milestone.
    Milestone(u64),
    Close,
    Reopen,
}

impl GitLabForge {
    /// The ids after adding `users` to (or removing them from) `current`; unknown users are
    /// skipped when adding.
    async fn edited_ids(
        &self,
        current: &[UserId],
        users: &[Login],
        add: bool,
    ) -> Result<BTreeSet<u64>, ForgeError> {
        let mut ids: BTreeSet<u64> = current.iter().map(|u| u.id).collect();
        for user in users {
            if add {
                if let Some(id) = self.user_id(user).await? {
                    ids.insert(id);
                }
            } else if let Some(u) = current
                .iter()
                .find(|u| u.username.eq_ignore_ascii_case(user.as_str()))
            {
                ids.remove(&u.id);
            }
        }
        Ok(ids)
    }

    /// Adds or removes assignees by writing the whole new id list; no write when nothing
    /// changes. Returns the assignees GitLab's answer lists (or, without a write, those read),
    /// which leaves out whoever GitLab skipped: unknown users, users who cannot see the item,
    /// all but one on tiers that allow a single assignee.
    async fn edit_assignees(
        &self,
        item: &ItemRef,
        users: &[Login],
        add: bool,
    ) -> Result<Vec<Login>, ForgeError> {
        let project = project(item)?;
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let current = self.people(item).await?.assignees;
        let ids = self.edited_ids(&current, users, add).await?;
        if ids == current.iter().map(|u| u.id).collect::<BTreeSet<_>>() {
            return Ok(usernames(&current));
        }
        let answer: People = match item.kind {
            ItemKind::PullRequest => {
                let mut b = mrs::EditMergeRequest::builder();
                b.project(project).merge_request(item.number);
                if ids.is_empty() {
                    b.unassigned();
                } else {
                    b.assignees(ids.into_iter());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
            ItemKind::Issue => {
                let mut b = issues::EditIssue::builder();
                b.project(project).issue(item.number);
                if ids.is_empty() {
                    b.unassign();
                } else {
                    b.assignee_ids(ids.into_iter());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
        };
        Ok(usernames(&answer.assignees))
    }

    /// Adds or removes MR reviewers by writing the whole new id list; returns the reviewers
    /// GitLab's answer lists (or, without a write, those read), as `edit_assignees`.
    async fn edit_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        add: bool,
    ) -> Result<Vec<Login>, ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request; only merge requests have reviewers"
            )));
        }
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let current = self.people(item).await?.reviewers;
        let ids = self.edited_ids(&current, users, add).await?;
        if ids == current.iter().map(|u| u.id).collect::<BTreeSet<_>>() {
            return Ok(usernames(&current));
        }
        let mut b = mrs::EditMergeRequest::builder();
        b.project(project).merge_request(item.number);
        if ids.is_empty() {
            b.without_reviewer();
        } else {
            b.reviewers(ids.into_iter());
        }
        let answer: People = self.query(b.build().map_err(unbuildable)?).await?;
        Ok(usernames(&answer.reviewers))
    }

    /// Sets the title or state of an MR or issue.
    async fn edit_item(&self, item: &ItemRef, edit: ItemEdit<'_>) -> Result<(), ForgeError> {
        let project = project(item)?;
        let _: People = match item.kind {
            ItemKind::PullRequest => {
                let mut b = mrs::EditMergeRequest::builder();
                b.project(project).merge_request(item.number);
                match edit {
                    ItemEdit::Title(t) => b.title(t),
                    ItemEdit::Milestone(id) => b.milestone_id(id),
                    ItemEdit::Close => b.state_event(mrs::MergeRequestStateEvent::Close),
                    ItemEdit::Reopen => b.state_event(mrs::MergeRequestStateEvent::Reopen),
                };
                self.query(b.build().map_err(unbuildable)?).await?
            }
            ItemKind::Issue => {
                let mut b = issues::EditIssue::builder();
                b.project(project).issue(item.number);
                match edit {
                    ItemEdit::Title(t) => b.title(t),
                    ItemEdit::Milestone(id) => b.milestone_id(id),
                    ItemEdit::Close => b.state_event(issues::IssueStateEvent::Close),
                    ItemEdit::Reopen => b.state_event(issues::IssueStateEvent::Reopen),
                };
                self.query(b.build().map_err(unbuildable)?).await?
            }
        };
        Ok(())
    }
}

/// The logins of users in one of GitLab's answers.
fn usernames(users: &[UserId]) -> Vec<Login> {
    users.iter().map(|u| Login::new(&u.username)).collect()
}

/// Parses `rrggbb` or `#rrggbb`.
fn rgb(color: &str) -> Option<(u8, u8, u8)> {
    let hex = color.trim_start_matches('#');
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let part = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((part(0)?, part(2)?, part(4)?))
}

#[async_trait]
impl Forge for GitLabForge {
    async fn add_labels(&self, item: &ItemRef, labels: &[String]) -> Result<(), ForgeError> {
        let project = project(item)?;
        if labels.is_empty() {
            // GitLab answers 400 to an edit without parameters.
            return Ok(());
        }
        let _: Labeled = match item.kind {
            ItemKind::PullRequest => {
                let mut b = mrs::EditMergeRequest::builder();
                b.project(project).merge_request(item.number);
                for l in labels {
                    b.add_label(l.as_str());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
            ItemKind::Issue => {
                let mut b = issues::EditIssue::builder();
                b.project(project).issue(item.number);
                for l in labels {
                    b.add_label(l.as_str());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
        };
        Ok(())
    }

    /// GitLab ignores the removal of a label the item does not have, as the trait asks.
    async fn remove_label(&self, item: &ItemRef, label: &str) -> Result<(), ForgeError> {
        let project = project(item)?;
        let _: Labeled = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::EditMergeRequest::builder()
                    .project(project)
                    .merge_request(item.number)
                    .remove_label(label)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::EditIssue::builder()
                    .project(project)
                    .issue(item.number)
                    .remove_label(label)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(())
    }

    async fn create_comment(&self, item: &ItemRef, body: &str) -> Result<u64, ForgeError> {
        let project = project(item)?;
        let created: Created = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::notes::CreateMergeRequestNote::builder()
                    .project(project)
                    .merge_request(item.number)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::notes::CreateIssueNote::builder()
                    .project(project)
                    .issue(item.number)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(created.id)
    }

    async fn edit_comment(&self, item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let project = project(item)?;
        let _: Created = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::notes::EditMergeRequestNote::builder()
                    .project(project)
                    .merge_request(item.number)
                    .note(id)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::notes::EditIssueNote::builder()
                    .project(project)
                    .issue(item.number)
                    .note(id)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(())
    }

    /// GitLab answers 409 for an existing label: that is success here.
    async fn create_label(
        &self,
        repo: &RepoPath,
        name: &str,
        color: &str,
    ) -> Result<(), ForgeError> {
        let Some(rgb) = rgb(color) else {
            return Err(ForgeError::Invalid(format!(
                "label color {color:?} is not six hex digits"
            )));
        };
        let ep = labels::CreateLabel::builder()
            .project(repo.as_str())
            .name(name)
            .color(rgb)
            .build()
            .map_err(unbuildable)?;
        match self.query::<_, LabelName>(ep).await {
            Ok(_) | Err(ForgeError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete_comment(&self, item: &ItemRef, id: u64) -> Result<(), ForgeError> {
        let ep = DeleteNote {
            project: project(item)?,
            collection: collection(item),
            iid: item.number,
            note: id,
        };
        match self.query_bytes(ep).await {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn assign(&self, item: &ItemRef, users: &[Login]) -> Result<Vec<Login>, ForgeError> {
        let assigned = self.edit_assignees(item, users, true).await?;
        Ok(missing_from(users, &assigned))
    }

    async fn unassign(&self, item: &ItemRef, users: &[Login]) -> Result<(), ForgeError> {
        self.edit_assignees(item, users, false).await.map(drop)
    }

    /// GitLab has no team reviewers; `teams` is ignored.
    async fn request_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        _teams: &[String],
    ) -> Result<Vec<Login>, ForgeError> {
        let requested = self.edit_reviewers(item, users, true).await?;
        Ok(missing_from(users, &requested))
    }

    async fn unrequest_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        _teams: &[String],
    ) -> Result<(), ForgeError> {
        self.edit_reviewers(item, users, false).await.map(drop)
    }

    async fn set_title(&self, item: &ItemRef, title: &str) -> Result<(), ForgeError> {
        self.edit_item(item, ItemEdit::Title(title)).await
    }

    /// `milestone_id`, 0 to clear (GitLab's documented way).
    async fn set_milestone(
        &self,
        item: &ItemRef,
        milestone: Option<u64>,
    ) -> Result<(), ForgeError> {
        self.edit_item(item, ItemEdit::Milestone(milestone.unwrap_or(0)))
            .await
    }

    /// GitLab records no close reason; `_reason` is dropped.
    async fn close(&self, item: &ItemRef, _reason: Option<CloseReason>) -> Result<(), ForgeError> {
        self.edit_item(item, ItemEdit::Close).await
    }

    async fn reopen(&self, item: &ItemRef) -> Result<(), ForgeError> {
        self.edit_item(item, ItemEdit::Reopen).await
    }

    /// `PUT …/merge` with `squash` and, when given, `sha`. GitLab answers 405 (draft, closed,
    /// pipeline), 406 (conflicts) and 409 (head moved), all `Conflict`; rebase is `Invalid`
    /// (see the module documentation).
    /// `PUT …/merge` with `merge_when_pipeline_succeeds=true` and the head's `sha`: GitLab
    /// merges now if the pipeline already passed, else when it does.
    async fn auto_merge(
        &self,
        item: &ItemRef,
        method: MergeMethod,
        expected_head: &str,
    ) -> Result<(), ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request"
            )));
        }
        let squash = squash_for(method)?;
        let mut b = mrs::MergeMergeRequest::builder();
        b.project(project)
            .merge_request(item.number)
            .squash(squash)
            .merge_when_pipeline_succeeds(true)
            .sha(expected_head);
        let _: MergedMr = self.query(b.build().map_err(unbuildable)?).await?;
        Ok(())
    }

    async fn merge(
        &self,
        item: &ItemRef,
        method: MergeMethod,
        expected_head: Option<&str>,
        commit: Option<&CommitMessage>,
    ) -> Result<(), ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request"
            )));
        }
        let squash = squash_for(method)?;
        let mut b = mrs::MergeMergeRequest::builder();
        b.project(project).merge_request(item.number).squash(squash);
        if let Some(sha) = expected_head {
            b.sha(sha);
        }
        let message = commit.map(|c| format!("{}\n\n{}", c.title, c.body).trim_end().to_string());
        if let Some(message) = &message {
            if squash {
                b.squash_commit_message(message.as_str());
            } else {
                b.merge_commit_message(message.as_str());
            }
        }
        let merged: MergedMr = self.query(b.build().map_err(unbuildable)?).await?;
        if merged.state == "merged" {
            Ok(())
        } else {
            // Merge-when-pipeline-succeeds and merge trains answer 200 without merging yet.
            Err(ForgeError::Conflict(format!(
                "GitLab did not merge {item} yet (state {})",
                merged.state
            )))
        }
    }

    /// `PUT /merge_requests/:iid/rebase`, after checking the head is still `expected_head`
    /// (GitLab's rebase takes no expected SHA). GitLab rebases in the background; the new head
    /// runs a pipeline.
    async fn update_branch(&self, item: &ItemRef, expected_head: &str) -> Result<(), ForgeError> {
        let head = bosun_plugins::ForgeRead::pull_request(self, item)
            .await?
            .head_sha;
        if head != expected_head {
            return Err(ForgeError::Conflict(format!(
                "the head of {item} moved to {head}; not rebasing {expected_head}"
            )));
        }
        let ep = mrs::RebaseMergeRequest::builder()
            .project(project(item)?)
            .merge_request(item.number)
            .build()
            .map_err(unbuildable)?;
        let _: serde::de::IgnoredAny = self.query(ep).await?;
        Ok(())
    }

    /// `POST /projects/:id/statuses/:sha`; `failure` and `error` are both GitLab's `failed`,
    /// and the context is the status `name`.
    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let state = match status.state {
            StatusState::Pending => CommitStatusState::Pending,
            StatusState::Success => CommitStatusState::Success,
            StatusState::Failure | StatusState::Error => CommitStatusState::Failed,
        };
        let mut b = CreateCommitStatus::builder();
        b.project(repo.as_str())
            .commit(sha)
            .state(state)
            .name(status.context.as_str())
            .description(status.description.as_str());
        if let Some(url) = &status.target_url {
            b.target_url(url.as_str());
        }
        match self
            .query::<_, Created>(b.build().map_err(unbuildable)?)
            .await
        {
            Ok(_) => Ok(()),
            // GitLab refuses to set a status to the state it already has (`Cannot transition
            // status via :success from :success`): the status already is what was asked, as
            // when `/check-dco` confirms a passing check.
            Err(ForgeError::Invalid(m)) if m.contains("Cannot transition status") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn run_ci(
        &self,
        item: &ItemRef,
        system: bosun_plugins::CiSystem,
        run: &bosun_plugins::CiRun,
    ) -> Result<(), ForgeError> {
        self.start_ci(item, system, run).await
    }

    async fn ci_started(
        &self,
        item: &ItemRef,
        system: bosun_plugins::CiSystem,
        run: &bosun_plugins::CiRun,
    ) -> Result<bool, ForgeError> {
        self.ci_restarted(item, system, run).await
    }

    async fn cherry_pick(
        &self,
        item: &ItemRef,
        request: &bosun_plugins::pick::CherryPickRequest,
    ) -> Result<bosun_plugins::pick::CherryPickOutcome, ForgeError> {
        self.cherry_pick_via_api(item, request).await
    }

    /// `POST /projects/:id/issues/:iid/move`; the old issue stays, closed.
    async fn transfer_issue(
        &self,
        item: &ItemRef,
        to: &bosun_plugins::RepoPath,
    ) -> Result<(), ForgeError> {
        self.move_issue(item, to).await
    }
}

/// Whether a merge method squashes; GitLab takes no per-merge rebase.
fn squash_for(method: MergeMethod) -> Result<bool, ForgeError> {
    match method {
        MergeMethod::Merge => Ok(false),
        MergeMethod::Squash => Ok(true),
        MergeMethod::Rebase => Err(ForgeError::Invalid(
            "GitLab merges by the project's merge method; rebase is not a per-merge choice".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_colours_parse_with_or_without_hash() {
        assert_eq!(rgb("#e11d21"), Some((0xe1, 0x1d, 0x21)));
        assert_eq!(rgb("EDEDED"), Some((0xed, 0xed, 0xed)));
        assert_eq!(rgb("red"), None);
        assert_eq!(rgb("#ééé"), None);
    }
}
