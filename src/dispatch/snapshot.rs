//! What plugins read when bosun has no API token (dry-run out of the box): the webhook itself.

use bosun_plugins::{ForgeError, ForgeRead, ItemRef, Login, RepoPath};

/// Without a token bosun cannot read the forge (dry-run out of the box): plugins then decide
/// from what the webhook itself carried.
pub(super) struct WebhookSnapshot {
    pub(super) labels: Vec<String>,
}

fn tokenless(what: &str) -> ForgeError {
    ForgeError::Permanent(format!(
        "no API token configured, so {what} cannot be read (dry-run decides from the webhook alone)"
    ))
}

#[async_trait::async_trait]
impl ForgeRead for WebhookSnapshot {
    async fn labels(&self, _item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        Ok(self.labels.clone())
    }
    async fn comments(
        &self,
        _item: &ItemRef,
    ) -> Result<Vec<bosun_plugins::BotComment>, ForgeError> {
        Ok(Vec::new())
    }
    async fn reviews(&self, _item: &ItemRef) -> Result<Vec<bosun_plugins::Review>, ForgeError> {
        Err(tokenless("the reviews"))
    }
    async fn bot_login(&self) -> Result<Login, ForgeError> {
        Ok(Login::new("bosun"))
    }
    async fn pull_request(
        &self,
        _item: &ItemRef,
    ) -> Result<bosun_plugins::PullRequestInfo, ForgeError> {
        Err(tokenless("the pull request"))
    }
    async fn pull_requests_by(
        &self,
        _repo: &RepoPath,
        _author: &Login,
        _limit: u8,
    ) -> Result<Vec<u64>, ForgeError> {
        Err(tokenless("an author's pull requests"))
    }
    async fn open_pull_requests(
        &self,
        _repo: &RepoPath,
    ) -> Result<Vec<(u64, bosun_plugins::PullRequestInfo)>, ForgeError> {
        Err(tokenless("the open pull requests"))
    }
    async fn changed_files(
        &self,
        _item: &ItemRef,
    ) -> Result<Vec<bosun_plugins::ChangedFile>, ForgeError> {
        Err(tokenless("the changed files"))
    }
    async fn file_content(
        &self,
        _repo: &RepoPath,
        _path: &str,
        _git_ref: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        Err(tokenless("a file"))
    }
    async fn tree(
        &self,
        _repo: &RepoPath,
        _git_ref: &str,
    ) -> Result<bosun_plugins::Tree, ForgeError> {
        Err(tokenless("the tree"))
    }
    async fn compare(
        &self,
        _repo: &RepoPath,
        _from: &str,
        _to: &str,
    ) -> Result<bosun_plugins::CommitDiff, ForgeError> {
        Err(tokenless("a comparison of two commits"))
    }
    async fn commits_behind(
        &self,
        _repo: &RepoPath,
        _base_ref: &str,
        _head_sha: &str,
    ) -> Result<u64, ForgeError> {
        Err(tokenless("how far a head is behind its base"))
    }
    async fn commit_tree_sha(&self, _repo: &RepoPath, _sha: &str) -> Result<String, ForgeError> {
        Err(tokenless("a commit"))
    }
    async fn repo_labels(&self, _repo: &RepoPath) -> Result<Vec<String>, ForgeError> {
        Err(tokenless("the repository's labels"))
    }
    async fn is_collaborator(&self, _repo: &RepoPath, _user: &Login) -> Result<bool, ForgeError> {
        Err(tokenless("collaborators"))
    }
    async fn is_org_member(&self, _org: &str, _user: &Login) -> Result<bool, ForgeError> {
        Err(tokenless("org membership"))
    }
    async fn is_team_member(
        &self,
        _org: &str,
        _team: &str,
        _user: &Login,
    ) -> Result<bool, ForgeError> {
        Err(tokenless("team membership"))
    }
    async fn is_repo_admin(&self, _repo: &RepoPath, _user: &Login) -> Result<bool, ForgeError> {
        Err(tokenless("repository permissions"))
    }
    async fn ci_contexts(
        &self,
        _item: &ItemRef,
        _sha: &str,
    ) -> Result<Vec<bosun_plugins::CiContext>, ForgeError> {
        Ok(Vec::new())
    }
}
