//! [`Forge`] for GitHub: every write bosun makes (labels, comments, assignees, reviewers,
//! title, state, merges and statuses).

use super::{GitHubForge, Scope, Verb, issue_route, pull_route, repo_path_route, repo_route};
use crate::forge::encode_segment;
use async_trait::async_trait;
use bosun_plugins::forge::{CloseReason, missing_from};
use bosun_plugins::{
    CommitMessage, CommitStatus, Forge, ForgeError, ItemRef, Login, MergeMethod, RepoPath,
    StatusState,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct Person {
    login: String,
}

/// The people on an issue or PR in GitHub's answer to an edit of its assignees or reviewers.
#[derive(Deserialize)]
struct People {
    #[serde(default)]
    assignees: Option<Vec<Person>>,
    #[serde(default)]
    requested_reviewers: Option<Vec<Person>>,
}

/// The logins of a list in GitHub's answer (absent or `null`: nobody).
fn answered(people: Option<Vec<Person>>) -> Vec<Login> {
    people
        .unwrap_or_default()
        .iter()
        .map(|p| Login::new(&p.login))
        .collect()
}

#[derive(Deserialize)]
struct MergeResult {
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    message: String,
}

/// The JSON body GitHub's issue edit takes for a new state.
fn state_body(state: &str) -> Value {
    json!({ "state": state })
}

fn logins(users: &[Login]) -> Vec<&str> {
    users.iter().map(Login::as_str).collect()
}

#[async_trait]
impl Forge for GitHubForge {
    async fn add_labels(&self, item: &ItemRef, labels: &[String]) -> Result<(), ForgeError> {
        let route = format!("{}/labels", issue_route(item)?);
        if labels.is_empty() {
            // GitHub reads an empty list as "remove every label".
            return Ok(());
        }
        let body = json!({ "labels": labels });
        self.send(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await
            .map(drop)
    }

    async fn remove_label(&self, item: &ItemRef, label: &str) -> Result<(), ForgeError> {
        let route = format!("{}/labels/{}", issue_route(item)?, encode_segment(label));
        match self
            .send(Scope::Repo(&item.repo), Verb::Delete, &route)
            .await
        {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GitHub answers 422 with `already_exists` for an existing label: that is success here.
    async fn create_label(
        &self,
        repo: &RepoPath,
        name: &str,
        color: &str,
    ) -> Result<(), ForgeError> {
        let route = format!("{}/labels", repo_path_route(repo)?);
        let body = json!({ "name": name, "color": color.trim_start_matches('#') });
        match self
            .send(Scope::Repo(repo), Verb::Post(&body), &route)
            .await
        {
            Ok(_) => Ok(()),
            Err(ForgeError::Invalid(m)) if m.contains("already_exists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create_comment(&self, item: &ItemRef, body: &str) -> Result<u64, ForgeError> {
        let route = format!("{}/comments", issue_route(item)?);
        let body = json!({ "body": body });
        let created: Created = self
            .send_json(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await?;
        Ok(created.id)
    }

    async fn edit_comment(&self, item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let route = format!("{}/issues/comments/{id}", repo_route(item)?);
        let body = json!({ "body": body });
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    async fn delete_comment(&self, item: &ItemRef, id: u64) -> Result<(), ForgeError> {
        let route = format!("{}/issues/comments/{id}", repo_route(item)?);
        match self
            .send(Scope::Repo(&item.repo), Verb::Delete, &route)
            .await
        {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GitHub adds to the existing assignees and silently skips users who cannot be assigned
    /// and everyone beyond its cap of 10; its answer (the issue) lists who is assigned now.
    async fn assign(&self, item: &ItemRef, users: &[Login]) -> Result<Vec<Login>, ForgeError> {
        let route = format!("{}/assignees", issue_route(item)?);
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ "assignees": logins(users) });
        let issue: People = self
            .send_json(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await?;
        Ok(missing_from(users, &answered(issue.assignees)))
    }

    async fn unassign(&self, item: &ItemRef, users: &[Login]) -> Result<(), ForgeError> {
        let route = format!("{}/assignees", issue_route(item)?);
        if users.is_empty() {
            return Ok(());
        }
        let body = json!({ "assignees": logins(users) });
        self.send(Scope::Repo(&item.repo), Verb::DeleteWith(&body), &route)
            .await
            .map(drop)
    }

    /// Its answer (the pull request) lists whose review is requested now.
    async fn request_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        teams: &[String],
    ) -> Result<Vec<Login>, ForgeError> {
        let route = format!("{}/requested_reviewers", pull_route(item)?);
        if users.is_empty() && teams.is_empty() {
            return Ok(Vec::new());
        }
        let body = json!({ "reviewers": logins(users), "team_reviewers": teams });
        match self
            .send_json::<People>(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await
        {
            Ok(pull) => Ok(missing_from(users, &answered(pull.requested_reviewers))),
            // GitHub refuses the whole request when one name is not a collaborator; ask for
            // each one alone, as Prow does, and report those refused.
            Err(ForgeError::Invalid(_)) if users.len() + teams.len() > 1 => {
                let mut refused = Vec::new();
                for user in users {
                    let one = json!({ "reviewers": [user.as_str()] });
                    match self
                        .send(Scope::Repo(&item.repo), Verb::Post(&one), &route)
                        .await
                    {
                        Ok(_) => {}
                        Err(ForgeError::Invalid(_)) => refused.push(user.clone()),
                        Err(e) => return Err(e),
                    }
                }
                for team in teams {
                    let one = json!({ "team_reviewers": [team] });
                    match self
                        .send(Scope::Repo(&item.repo), Verb::Post(&one), &route)
                        .await
                    {
                        Ok(_) | Err(ForgeError::Invalid(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(refused)
            }
            Err(e) => Err(e),
        }
    }

    async fn unrequest_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        teams: &[String],
    ) -> Result<(), ForgeError> {
        let route = format!("{}/requested_reviewers", pull_route(item)?);
        if users.is_empty() && teams.is_empty() {
            return Ok(());
        }
        let body = json!({ "reviewers": logins(users), "team_reviewers": teams });
        self.send(Scope::Repo(&item.repo), Verb::DeleteWith(&body), &route)
            .await
            .map(drop)
    }

    async fn set_title(&self, item: &ItemRef, title: &str) -> Result<(), ForgeError> {
        let route = issue_route(item)?;
        let body = json!({ "title": title });
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    /// `PATCH /issues/{n}` with the milestone's number, or null to clear; PRs are issues too.
    async fn set_milestone(
        &self,
        item: &ItemRef,
        milestone: Option<u64>,
    ) -> Result<(), ForgeError> {
        let route = issue_route(item)?;
        let body = json!({ "milestone": milestone });
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    /// Through the issues API, which closes pull requests too; a reason is sent as GitHub's
    /// `state_reason`.
    async fn close(&self, item: &ItemRef, reason: Option<CloseReason>) -> Result<(), ForgeError> {
        let route = issue_route(item)?;
        let mut body = state_body("closed");
        if let (Some(reason), Some(o)) = (reason, body.as_object_mut()) {
            let reason = match reason {
                CloseReason::Completed => "completed",
                CloseReason::NotPlanned => "not_planned",
            };
            o.insert("state_reason".into(), json!(reason));
        }
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    async fn reopen(&self, item: &ItemRef) -> Result<(), ForgeError> {
        let route = issue_route(item)?;
        let body = state_body("open");
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    /// `PUT /pulls/{n}/merge` with `merge_method` and, when given, `sha`: GitHub answers 405
    /// when the PR is not mergeable and 409 when the head moved (both `Conflict`), 422 for a
    /// request it cannot take (`Invalid`).
    async fn merge(
        &self,
        item: &ItemRef,
        method: MergeMethod,
        expected_head: Option<&str>,
        commit: Option<&CommitMessage>,
    ) -> Result<(), ForgeError> {
        let route = format!("{}/merge", pull_route(item)?);
        let method = match method {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        };
        let mut body = json!({ "merge_method": method });
        if let Some(o) = body.as_object_mut() {
            if let Some(sha) = expected_head {
                o.insert("sha".into(), json!(sha));
            }
            if let Some(commit) = commit {
                o.insert("commit_title".into(), json!(commit.title));
                o.insert("commit_message".into(), json!(commit.body));
            }
        }
        let result: MergeResult = self
            .send_json(Scope::Repo(&item.repo), Verb::Put(&body), &route)
            .await?;
        if result.merged {
            Ok(())
        } else {
            Err(ForgeError::Conflict(format!(
                "GitHub did not merge {item}: {}",
                result.message
            )))
        }
    }

    /// `PUT /pulls/{n}/update-branch` with `expected_head_sha`: GitHub merges the base into the
    /// head in the background (202) and the push runs the PR's workflows again.
    async fn update_branch(&self, item: &ItemRef, expected_head: &str) -> Result<(), ForgeError> {
        let route = format!("{}/update-branch", pull_route(item)?);
        let body = json!({ "expected_head_sha": expected_head });
        self.send(Scope::Repo(&item.repo), Verb::Put(&body), &route)
            .await
            .map(|_| ())
    }

    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let route = format!(
            "{}/statuses/{}",
            repo_path_route(repo)?,
            encode_segment(sha)
        );
        let state = match status.state {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        };
        let body = json!({
            "state": state,
            "context": status.context,
            "description": status.description,
            "target_url": status.target_url,
        });
        self.send(Scope::Repo(repo), Verb::Post(&body), &route)
            .await
            .map(drop)
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
        self.cherry_pick_via_merges(item, request).await
    }

    /// The GraphQL `transferIssue` mutation (GitHub's REST API has no transfer).
    async fn transfer_issue(&self, item: &ItemRef, to: &RepoPath) -> Result<(), ForgeError> {
        self.transfer_issue_via_graphql(item, to).await
    }
}
