//! Who may do what, asked once per delivery: a [`ForgeRead`] wrapper that remembers the
//! answers to membership questions, so several plugins checking the same commenter cost one
//! API call. A PR's details and changed files are remembered the same way: size, path-label,
//! owners-label, approve and blunderbuss all read them for one opened PR. A PR's commits too:
//! dco, invalidcommitmsg and mergecommitblocker share one commit list per delivery.

use crate::event::{ItemRef, Login, RepoPath};
use crate::forge::{
    BotComment, ChangedFile, ForgeError, ForgeRead, PrCommit, PullRequestInfo, Review, Tree,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// Caches `is_collaborator`, `is_org_member` and `is_team_member` for one delivery.
pub struct CachedForgeRead<'a> {
    inner: &'a dyn ForgeRead,
    answers: Mutex<HashMap<String, bool>>,
    pulls: Mutex<HashMap<ItemRef, PullRequestInfo>>,
    files: Mutex<HashMap<ItemRef, Vec<ChangedFile>>>,
    commits: Mutex<HashMap<ItemRef, Vec<PrCommit>>>,
}

impl<'a> CachedForgeRead<'a> {
    /// Wraps a forge for the length of one delivery.
    pub fn new(inner: &'a dyn ForgeRead) -> Self {
        CachedForgeRead {
            inner,
            answers: Mutex::new(HashMap::new()),
            pulls: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            commits: Mutex::new(HashMap::new()),
        }
    }

    async fn remembered<F>(&self, key: String, ask: F) -> Result<bool, ForgeError>
    where
        F: std::future::Future<Output = Result<bool, ForgeError>>,
    {
        if let Some(v) = self
            .answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(*v);
        }
        let v = ask.await?;
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, v);
        Ok(v)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl ForgeRead for CachedForgeRead<'_> {
    async fn labels(&self, item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        self.inner.labels(item).await
    }
    async fn comments(&self, item: &ItemRef) -> Result<Vec<BotComment>, ForgeError> {
        self.inner.comments(item).await
    }
    async fn reviews(&self, item: &ItemRef) -> Result<Vec<Review>, ForgeError> {
        self.inner.reviews(item).await
    }
    async fn bot_login(&self) -> Result<Login, ForgeError> {
        self.inner.bot_login().await
    }
    async fn pull_request(&self, item: &ItemRef) -> Result<PullRequestInfo, ForgeError> {
        if let Some(pr) = lock(&self.pulls).get(item) {
            return Ok(pr.clone());
        }
        let pr = self.inner.pull_request(item).await?;
        lock(&self.pulls).insert(item.clone(), pr.clone());
        Ok(pr)
    }
    async fn pull_requests_by(
        &self,
        repo: &RepoPath,
        author: &Login,
        limit: u8,
    ) -> Result<Vec<u64>, ForgeError> {
        self.inner.pull_requests_by(repo, author, limit).await
    }
    async fn open_pull_requests(
        &self,
        repo: &RepoPath,
    ) -> Result<Vec<(u64, PullRequestInfo)>, ForgeError> {
        self.inner.open_pull_requests(repo).await
    }
    async fn changed_files(&self, item: &ItemRef) -> Result<Vec<ChangedFile>, ForgeError> {
        if let Some(files) = lock(&self.files).get(item) {
            return Ok(files.clone());
        }
        let files = self.inner.changed_files(item).await?;
        lock(&self.files).insert(item.clone(), files.clone());
        Ok(files)
    }
    async fn file_content(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        self.inner.file_content(repo, path, git_ref).await
    }
    async fn tree(&self, repo: &RepoPath, git_ref: &str) -> Result<Tree, ForgeError> {
        self.inner.tree(repo, git_ref).await
    }
    async fn compare(
        &self,
        repo: &RepoPath,
        from: &str,
        to: &str,
    ) -> Result<crate::CommitDiff, ForgeError> {
        self.inner.compare(repo, from, to).await
    }
    async fn commits_behind(
        &self,
        repo: &RepoPath,
        base_ref: &str,
        head_sha: &str,
    ) -> Result<u64, ForgeError> {
        self.inner.commits_behind(repo, base_ref, head_sha).await
    }
    async fn commit_tree_sha(&self, repo: &RepoPath, sha: &str) -> Result<String, ForgeError> {
        self.inner.commit_tree_sha(repo, sha).await
    }
    async fn repo_labels(&self, repo: &RepoPath) -> Result<Vec<String>, ForgeError> {
        self.inner.repo_labels(repo).await
    }
    async fn is_collaborator(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        let key = format!("collaborator {repo} {}", user.as_str().to_ascii_lowercase());
        self.remembered(key, self.inner.is_collaborator(repo, user))
            .await
    }
    async fn is_org_member(&self, org: &str, user: &Login) -> Result<bool, ForgeError> {
        let key = format!("member {org} {}", user.as_str().to_ascii_lowercase());
        self.remembered(key, self.inner.is_org_member(org, user))
            .await
    }
    async fn is_team_member(
        &self,
        org: &str,
        team: &str,
        user: &Login,
    ) -> Result<bool, ForgeError> {
        let key = format!("team {org}/{team} {}", user.as_str().to_ascii_lowercase());
        self.remembered(key, self.inner.is_team_member(org, team, user))
            .await
    }
    async fn can_be_assigned(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        let key = format!("assignable {repo} {}", user.as_str().to_ascii_lowercase());
        self.remembered(key, self.inner.can_be_assigned(repo, user))
            .await
    }
    async fn is_repo_admin(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        let key = format!("admin {repo} {}", user.as_str().to_ascii_lowercase());
        self.remembered(key, self.inner.is_repo_admin(repo, user))
            .await
    }
    async fn ci_contexts(
        &self,
        item: &ItemRef,
        sha: &str,
    ) -> Result<Vec<crate::CiContext>, ForgeError> {
        self.inner.ci_contexts(item, sha).await
    }
    async fn milestones(
        &self,
        repo: &RepoPath,
    ) -> Result<Vec<crate::forge::Milestone>, ForgeError> {
        self.inner.milestones(repo).await
    }
    async fn repo_exists(&self, repo: &RepoPath) -> Result<bool, ForgeError> {
        self.inner.repo_exists(repo).await
    }
    async fn pr_commits(&self, item: &ItemRef) -> Result<Vec<PrCommit>, ForgeError> {
        if let Some(commits) = lock(&self.commits).get(item) {
            return Ok(commits.clone());
        }
        let commits = self.inner.pr_commits(item).await?;
        lock(&self.commits).insert(item.clone(), commits.clone());
        Ok(commits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryForge;

    #[tokio::test]
    async fn membership_is_asked_once_per_delivery() {
        let forge = MemoryForge::default();
        forge.add_collaborators(&["alice"]);
        let cached = CachedForgeRead::new(&forge);
        let repo = RepoPath::parse("org/repo").expect("repo");
        let before = forge.snapshot().calls;
        for _ in 0..3 {
            assert!(
                cached
                    .is_collaborator(&repo, &Login::new("Alice"))
                    .await
                    .expect("answer")
            );
        }
        assert_eq!(
            forge.snapshot().calls - before,
            2,
            "one question plus the snapshot itself"
        );
    }

    #[tokio::test]
    async fn a_prs_commits_are_listed_once_per_delivery() {
        let forge = MemoryForge::default();
        let cached = CachedForgeRead::new(&forge);
        let before = forge.snapshot().calls;
        for _ in 0..3 {
            cached.pr_commits(&forge.pr_ref()).await.expect("commits");
        }
        assert_eq!(
            forge.snapshot().calls - before,
            2,
            "one listing plus the snapshot itself"
        );
    }
}
