//! Moving an issue to another repository of its org. GitHub's REST API has no call for it; the
//! GraphQL `transferIssue` mutation does it, and takes node ids: the issue's and the
//! destination repository's, read first with one query. GraphQL answers `200` with an
//! `errors` list; those are classified here (`NOT_FOUND`, `FORBIDDEN`, anything else
//! permanent), transport failures as every other call's.

use super::{GitHubForge, Scope, Verb};
use bosun_plugins::{ForgeError, ItemKind, ItemRef, RepoPath};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const REPOSITORY_ID: &str = "query RepositoryId($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { id } }";

const TRANSFER_IDS: &str = "query TransferIds($owner: String!, $name: String!, $number: Int!, $toOwner: String!, $toName: String!) { source: repository(owner: $owner, name: $name) { issue(number: $number) { id repository { id } } } target: repository(owner: $toOwner, name: $toName) { id } }";

const TRANSFER_ISSUE: &str = "mutation TransferIssue($issue: ID!, $repository: ID!) { transferIssue(input: {issueId: $issue, repositoryId: $repository}) { issue { number url } } }";

#[derive(Deserialize)]
struct Answer<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Deserialize)]
struct GraphQlError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct NodeId {
    id: String,
}

#[derive(Deserialize)]
struct RepositoryData {
    repository: Option<NodeId>,
}

#[derive(Deserialize)]
struct SourceIssue {
    id: String,
    repository: NodeId,
}

#[derive(Deserialize)]
struct SourceRepository {
    issue: Option<SourceIssue>,
}

#[derive(Deserialize)]
struct TransferIdsData {
    source: Option<SourceRepository>,
    target: Option<NodeId>,
}

/// The first error of a GraphQL answer, as the adapter's error.
fn classify(errors: &[GraphQlError], operation: &str) -> Option<ForgeError> {
    let first = errors.first()?;
    let what = format!("GitHub GraphQL {operation}: {}", first.message);
    Some(match first.kind.as_deref() {
        Some("NOT_FOUND") => ForgeError::NotFound(what),
        Some("FORBIDDEN") => ForgeError::Forbidden(what),
        _ => ForgeError::Permanent(what),
    })
}

impl GitHubForge {
    /// Posts one GraphQL operation for `repo` (its installation's credentials) and reads `data`.
    async fn graphql<T: DeserializeOwned>(
        &self,
        repo: &RepoPath,
        operation: &str,
        query: &str,
        variables: Value,
    ) -> Result<T, ForgeError> {
        let body = json!({ "query": query, "operationName": operation, "variables": variables });
        let answer: Answer<T> = self
            .send_json(Scope::Repo(repo), Verb::Post(&body), "/graphql")
            .await?;
        if let Some(e) = classify(&answer.errors, operation) {
            return Err(e);
        }
        answer
            .data
            .ok_or_else(|| ForgeError::Permanent(format!("GitHub GraphQL {operation}: no data")))
    }

    /// Whether `repo` exists and the credentials can see it (GraphQL `repository`).
    pub(super) async fn repository_exists(&self, repo: &RepoPath) -> Result<bool, ForgeError> {
        let variables = json!({ "owner": repo.owner(), "name": repo.name() });
        match self
            .graphql::<RepositoryData>(repo, "RepositoryId", REPOSITORY_ID, variables)
            .await
        {
            Ok(data) => Ok(data.repository.is_some()),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Moves the issue `item` to `to`; an issue already there is left alone.
    pub(super) async fn transfer_issue_via_graphql(
        &self,
        item: &ItemRef,
        to: &RepoPath,
    ) -> Result<(), ForgeError> {
        if item.kind != ItemKind::Issue {
            return Err(ForgeError::Invalid(format!("{item} is not an issue")));
        }
        let variables = json!({
            "owner": item.repo.owner(),
            "name": item.repo.name(),
            "number": item.number,
            "toOwner": to.owner(),
            "toName": to.name(),
        });
        let ids: TransferIdsData = self
            .graphql(&item.repo, "TransferIds", TRANSFER_IDS, variables)
            .await?;
        let issue = ids
            .source
            .and_then(|s| s.issue)
            .ok_or_else(|| ForgeError::NotFound(format!("{item}")))?;
        let target = ids
            .target
            .ok_or_else(|| ForgeError::NotFound(format!("repository {to}")))?;
        if issue.repository.id == target.id {
            return Ok(());
        }
        let variables = json!({ "issue": issue.id, "repository": target.id });
        let _: Value = self
            .graphql(&item.repo, "TransferIssue", TRANSFER_ISSUE, variables)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_errors_are_classified_by_type() {
        let errors = |kind: &str| {
            vec![GraphQlError {
                kind: Some(kind.into()),
                message: "m".into(),
            }]
        };
        assert!(matches!(
            classify(&errors("NOT_FOUND"), "Q"),
            Some(ForgeError::NotFound(_))
        ));
        assert!(matches!(
            classify(&errors("FORBIDDEN"), "Q"),
            Some(ForgeError::Forbidden(_))
        ));
        assert!(matches!(
            classify(&errors("UNPROCESSABLE"), "Q"),
            Some(ForgeError::Permanent(_))
        ));
        assert!(classify(&[], "Q").is_none());
    }
}
