//! [`ForgeRead`] for GitHub: labels, comments, reviews, pull requests, files, trees and
//! permissions, read into narrow structs of our own.

use super::{
    Auth, GitHubForge, Scope, Verb, encode_path, issue_route, pull_route, repo_path_route,
};
use crate::forge::encode_segment;
use async_trait::async_trait;
use bosun_plugins::{
    BotComment, ChangedFile, CommitDiff, DiffEntry, DiffStatus, ForgeError, ForgeRead, ItemRef,
    ItemState, Login, PrCommit, PullRequestInfo, RepoPath, Review, ReviewState, Tree, TreeEntry,
    TreeEntryKind,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct LabelName {
    name: String,
}

/// A milestone in a list of them: its number is what edits take.
#[derive(Deserialize)]
struct ListedMilestone {
    number: u64,
    title: String,
}

#[derive(Deserialize)]
struct User {
    login: String,
}

#[derive(Deserialize)]
struct RawComment {
    id: u64,
    /// `null` for comments by deleted accounts.
    user: Option<User>,
    body: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct RawReview {
    user: Option<User>,
    state: String,
    body: Option<String>,
    submitted_at: Option<String>,
}

#[derive(Deserialize)]
struct RawBranch {
    sha: String,
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct RawPull {
    #[serde(default)]
    number: u64,
    user: Option<User>,
    state: String,
    #[serde(default)]
    merged: bool,
    merged_at: Option<String>,
    #[serde(default)]
    draft: bool,
    title: String,
    #[serde(default)]
    body: Option<String>,
    head: RawBranch,
    base: RawBranch,
    #[serde(default)]
    labels: Vec<LabelName>,
    #[serde(default)]
    assignees: Vec<User>,
    #[serde(default)]
    requested_reviewers: Vec<User>,
    #[serde(default)]
    mergeable: Option<bool>,
    #[serde(default)]
    milestone: Option<RawMilestone>,
}

/// A milestone, by its title.
#[derive(Deserialize)]
struct RawMilestone {
    title: String,
}

#[derive(Deserialize)]
struct RawCompare {
    /// `ahead`, `identical`, `behind` or `diverged`: how the head relates to the base.
    status: String,
    #[serde(default)]
    files: Vec<RawCompareFile>,
}

/// How many commits a compare's head lacks from its base.
#[derive(Deserialize)]
struct RawBehind {
    behind_by: u64,
}

#[derive(Deserialize)]
struct RawCompareFile {
    filename: String,
    status: String,
    previous_filename: Option<String>,
    #[serde(default)]
    sha: Option<String>,
}

/// GitHub lists at most this many files in a comparison; a list this long may be cut.
const COMPARE_FILE_CAP: usize = 300;

#[derive(Deserialize)]
struct RawFile {
    filename: String,
    previous_filename: Option<String>,
    #[serde(default)]
    additions: u64,
    #[serde(default)]
    deletions: u64,
}

#[derive(Deserialize)]
struct RawTreeEntry {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    sha: String,
}

#[derive(Deserialize)]
struct RawTree {
    sha: String,
    #[serde(default)]
    truncated: bool,
    tree: Vec<RawTreeEntry>,
}

#[derive(Deserialize)]
struct Sha {
    sha: String,
}

#[derive(Deserialize)]
struct RawCommit {
    tree: Sha,
}

/// One entry of `GET …/pulls/{n}/commits`.
#[derive(Deserialize)]
struct RawPullCommit {
    sha: String,
    commit: RawGitCommit,
    /// The account GitHub matched the author's email to; `null` when it found none.
    #[serde(default)]
    author: Option<User>,
    #[serde(default)]
    parents: Vec<Sha>,
}

#[derive(Deserialize)]
struct RawGitCommit {
    #[serde(default)]
    message: String,
    #[serde(default)]
    author: Option<RawGitPerson>,
}

#[derive(Deserialize)]
struct RawGitPerson {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
struct TeamMembership {
    state: String,
}

#[derive(Deserialize)]
struct App {
    slug: String,
}

#[async_trait]
impl ForgeRead for GitHubForge {
    async fn labels(&self, item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        let route = format!("{}/labels", issue_route(item)?);
        let labels: Vec<LabelName> = self.get_all(Scope::Repo(&item.repo), &route).await?;
        Ok(labels.into_iter().map(|l| l.name).collect())
    }

    async fn comments(&self, item: &ItemRef) -> Result<Vec<BotComment>, ForgeError> {
        let route = format!("{}/comments", issue_route(item)?);
        let comments: Vec<RawComment> = self.get_all(Scope::Repo(&item.repo), &route).await?;
        Ok(comments
            .into_iter()
            .map(|c| BotComment {
                id: c.id,
                author: Login::new(c.user.as_ref().map_or("ghost", |u| u.login.as_str())),
                body: c.body.unwrap_or_default(),
                created_at: c.created_at.unwrap_or_default(),
            })
            .collect())
    }

    async fn reviews(&self, item: &ItemRef) -> Result<Vec<Review>, ForgeError> {
        let route = format!("{}/reviews", pull_route(item)?);
        let reviews: Vec<RawReview> = self.get_all(Scope::Repo(&item.repo), &route).await?;
        Ok(reviews
            .into_iter()
            .filter_map(|r| {
                let state = match r.state.as_str() {
                    "APPROVED" => ReviewState::Approved,
                    "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
                    "COMMENTED" => ReviewState::Commented,
                    "DISMISSED" => ReviewState::Dismissed,
                    // PENDING reviews are drafts nobody else can see.
                    _ => return None,
                };
                Some(Review {
                    author: Login::new(r.user.as_ref().map_or("ghost", |u| u.login.as_str())),
                    state,
                    body: r.body.unwrap_or_default(),
                    submitted_at: r.submitted_at.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// The token's user; for an App, `{slug}[bot]`, the login its comments carry.
    async fn bot_login(&self) -> Result<Login, ForgeError> {
        let login = self
            .bot
            .get_or_try_init(|| async {
                match &self.auth {
                    Auth::Token(_) => {
                        let user: User = self.send_json(Scope::App, Verb::Get, "/user").await?;
                        Ok::<_, ForgeError>(Login::new(&user.login))
                    }
                    Auth::App(_) => {
                        let app: App = self.send_json(Scope::App, Verb::Get, "/app").await?;
                        Ok(Login::new(&format!("{}[bot]", app.slug)))
                    }
                }
            })
            .await?;
        Ok(login.clone())
    }

    async fn pull_request(&self, item: &ItemRef) -> Result<PullRequestInfo, ForgeError> {
        let route = pull_route(item)?;
        let pr: RawPull = self
            .send_json(Scope::Repo(&item.repo), Verb::Get, &route)
            .await?;
        Ok(pull_info(pr))
    }

    /// `GET /search/issues?q=is:pr repo:{o}/{r} author:{login}`, one page of `limit`.
    async fn pull_requests_by(
        &self,
        repo: &RepoPath,
        author: &Login,
        limit: u8,
    ) -> Result<Vec<u64>, ForgeError> {
        #[derive(Deserialize)]
        struct Found {
            number: u64,
        }
        #[derive(Deserialize)]
        struct Search {
            #[serde(default)]
            items: Vec<Found>,
        }
        repo_path_route(repo)?;
        let query = format!("is:pr repo:{} author:{}", repo.as_str(), author.as_str());
        let route = format!(
            "/search/issues?q={}&per_page={}",
            percent_encoding::utf8_percent_encode(&query, percent_encoding::NON_ALPHANUMERIC),
            limit.max(1)
        );
        let found: Search = self.send_json(Scope::Repo(repo), Verb::Get, &route).await?;
        Ok(found.items.into_iter().map(|f| f.number).collect())
    }

    /// `GET /repos/{o}/{r}/pulls` (open ones, every page); the list carries no `mergeable`.
    async fn open_pull_requests(
        &self,
        repo: &RepoPath,
    ) -> Result<Vec<(u64, PullRequestInfo)>, ForgeError> {
        let route = format!("{}/pulls", repo_path_route(repo)?);
        let pulls: Vec<RawPull> = self.get_all(Scope::Repo(repo), &route).await?;
        Ok(pulls
            .into_iter()
            .map(|p| (p.number, pull_info(p)))
            .collect())
    }

    /// Pages through `/pulls/{n}/files` (GitHub lists up to 3,000 files this way).
    async fn changed_files(&self, item: &ItemRef) -> Result<Vec<ChangedFile>, ForgeError> {
        let route = format!("{}/files", pull_route(item)?);
        let files: Vec<RawFile> = self.get_all(Scope::Repo(&item.repo), &route).await?;
        Ok(files
            .into_iter()
            .map(|f| ChangedFile {
                path: f.filename,
                previous_path: f.previous_filename,
                additions: f.additions,
                deletions: f.deletions,
            })
            .collect())
    }

    async fn file_content(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        let route = format!(
            "{}/contents/{}?ref={}",
            repo_path_route(repo)?,
            encode_path(path.trim_start_matches('/')),
            encode_segment(git_ref)
        );
        match self.send(Scope::Repo(repo), Verb::GetRaw, &route).await {
            Ok(reply) => Ok(Some(reply.body)),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tree(&self, repo: &RepoPath, git_ref: &str) -> Result<Tree, ForgeError> {
        let route = format!(
            "{}/git/trees/{}?recursive=1",
            repo_path_route(repo)?,
            encode_path(git_ref)
        );
        let tree: RawTree = self.send_json(Scope::Repo(repo), Verb::Get, &route).await?;
        Ok(Tree {
            sha: tree.sha,
            truncated: tree.truncated,
            entries: tree
                .tree
                .into_iter()
                .map(|e| TreeEntry {
                    kind: match e.kind.as_str() {
                        "tree" => TreeEntryKind::Tree,
                        "commit" => TreeEntryKind::Commit,
                        _ => TreeEntryKind::Blob,
                    },
                    path: e.path,
                    sha: e.sha,
                })
                .collect(),
        })
    }

    /// `GET /repos/{o}/{r}/compare/{from}...{to}`. GitHub diffs from the merge base, which is
    /// `from` itself only when `to` is `ahead` of it or `identical`: anything else, or a list
    /// at GitHub's 300-file cap, is marked incomplete. `per_page=1` keeps the commit list
    /// short; the files come with the first page regardless.
    async fn compare(
        &self,
        repo: &RepoPath,
        from: &str,
        to: &str,
    ) -> Result<CommitDiff, ForgeError> {
        let route = format!(
            "{}/compare/{}...{}?per_page=1",
            repo_path_route(repo)?,
            encode_segment(from),
            encode_segment(to)
        );
        let raw: RawCompare = self.send_json(Scope::Repo(repo), Verb::Get, &route).await?;
        let complete = matches!(raw.status.as_str(), "ahead" | "identical")
            && raw.files.len() < COMPARE_FILE_CAP;
        let files = raw
            .files
            .into_iter()
            .map(|f| {
                let status = match f.status.as_str() {
                    "added" => DiffStatus::Added,
                    "removed" => DiffStatus::Removed,
                    "renamed" => DiffStatus::Renamed,
                    "copied" => DiffStatus::Copied,
                    // `modified`, `changed` (mode only), `unchanged`.
                    _ => DiffStatus::Modified,
                };
                DiffEntry {
                    path: f.filename,
                    previous_path: f.previous_filename,
                    sha: f.sha.filter(|_| status != DiffStatus::Removed),
                    status,
                }
            })
            .collect();
        Ok(CommitDiff { files, complete })
    }

    /// `GET /compare/{base}...{head}`: `behind_by` counts the base's commits the head lacks.
    async fn commits_behind(
        &self,
        repo: &RepoPath,
        base_ref: &str,
        head_sha: &str,
    ) -> Result<u64, ForgeError> {
        let route = format!(
            "{}/compare/{}...{}?per_page=1",
            repo_path_route(repo)?,
            encode_segment(base_ref),
            encode_segment(head_sha)
        );
        let raw: RawBehind = self.send_json(Scope::Repo(repo), Verb::Get, &route).await?;
        Ok(raw.behind_by)
    }

    async fn commit_tree_sha(&self, repo: &RepoPath, sha: &str) -> Result<String, ForgeError> {
        let route = format!(
            "{}/git/commits/{}",
            repo_path_route(repo)?,
            encode_segment(sha)
        );
        let commit: RawCommit = self.send_json(Scope::Repo(repo), Verb::Get, &route).await?;
        Ok(commit.tree.sha)
    }

    /// Every page of `pulls/{n}/commits` (GitHub lists at most 250 commits there), oldest
    /// first as GitHub orders them.
    async fn pr_commits(&self, item: &ItemRef) -> Result<Vec<PrCommit>, ForgeError> {
        let route = format!("{}/commits", pull_route(item)?);
        let commits: Vec<RawPullCommit> = self.get_all(Scope::Repo(&item.repo), &route).await?;
        Ok(commits
            .into_iter()
            .map(|c| {
                let (author_name, author_email) = c
                    .commit
                    .author
                    .map(|a| (a.name, a.email))
                    .unwrap_or_default();
                PrCommit {
                    sha: c.sha,
                    message: c.commit.message,
                    author_name,
                    author_email,
                    author_login: c.author.map(|u| Login::new(&u.login)),
                    parents: c.parents.len(),
                }
            })
            .collect())
    }

    async fn repo_labels(&self, repo: &RepoPath) -> Result<Vec<String>, ForgeError> {
        let route = format!("{}/labels", repo_path_route(repo)?);
        let labels: Vec<LabelName> = self.get_all(Scope::Repo(repo), &route).await?;
        Ok(labels.into_iter().map(|l| l.name).collect())
    }

    /// `GET /repos/{o}/{r}/milestones`: the open ones, which GitHub lists by default.
    async fn milestones(
        &self,
        repo: &RepoPath,
    ) -> Result<Vec<bosun_plugins::Milestone>, ForgeError> {
        let route = format!("{}/milestones", repo_path_route(repo)?);
        let listed: Vec<ListedMilestone> = self.get_all(Scope::Repo(repo), &route).await?;
        Ok(listed
            .into_iter()
            .map(|m| bosun_plugins::Milestone {
                id: m.number,
                title: m.title,
            })
            .collect())
    }

    /// GraphQL `repository`: whether it exists and bosun can see it.
    async fn repo_exists(&self, repo: &RepoPath) -> Result<bool, ForgeError> {
        self.repository_exists(repo).await
    }

    /// `GET /repos/{o}/{r}/collaborators/{user}`: 204 yes, 404 no (any permission counts).
    async fn is_collaborator(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        let route = format!(
            "{}/collaborators/{}",
            repo_path_route(repo)?,
            encode_segment(user.as_str())
        );
        self.exists(Scope::Repo(repo), &route).await
    }

    /// `GET /repos/{o}/{r}/assignees/{user}`: 204 yes, 404 no: GitHub's own answer.
    async fn can_be_assigned(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        let route = format!(
            "{}/assignees/{}",
            repo_path_route(repo)?,
            encode_segment(user.as_str())
        );
        self.exists(Scope::Repo(repo), &route).await
    }

    /// `GET /repos/{o}/{r}/collaborators/{user}/permission`: `admin`, or not; an unknown user
    /// (404) is not an admin.
    async fn is_repo_admin(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        #[derive(serde::Deserialize)]
        struct Permission {
            #[serde(default)]
            permission: String,
        }
        let route = format!(
            "{}/collaborators/{}/permission",
            repo_path_route(repo)?,
            encode_segment(user.as_str())
        );
        match self
            .send_json::<Permission>(Scope::Repo(repo), Verb::Get, &route)
            .await
        {
            Ok(p) => Ok(p.permission == "admin"),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn ci_contexts(
        &self,
        item: &ItemRef,
        sha: &str,
    ) -> Result<Vec<bosun_plugins::CiContext>, ForgeError> {
        self.read_ci_contexts(item, sha).await
    }

    /// `GET /orgs/{org}/members/{user}`: 204 yes, 404 no. (A caller outside the org is
    /// redirected to the public-members check, which octocrab follows.)
    async fn is_org_member(&self, org: &str, user: &Login) -> Result<bool, ForgeError> {
        let route = format!(
            "/orgs/{}/members/{}",
            encode_segment(org),
            encode_segment(user.as_str())
        );
        self.exists(Scope::Account(org), &route).await
    }

    /// An `active` team membership counts; a `pending` invitation does not.
    async fn is_team_member(
        &self,
        org: &str,
        team: &str,
        user: &Login,
    ) -> Result<bool, ForgeError> {
        let route = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            encode_segment(org),
            encode_segment(team),
            encode_segment(user.as_str())
        );
        match self
            .send_json::<TeamMembership>(Scope::Account(org), Verb::Get, &route)
            .await
        {
            Ok(m) => Ok(m.state == "active"),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A pull request as GitHub answers it (one, or in a list), in bosun's terms.
fn pull_info(pr: RawPull) -> PullRequestInfo {
    let state = match pr.state.as_str() {
        "open" => ItemState::Open,
        _ if pr.merged || pr.merged_at.is_some() => ItemState::Merged,
        _ => ItemState::Closed,
    };
    PullRequestInfo {
        author: Login::new(pr.user.as_ref().map_or("ghost", |u| u.login.as_str())),
        state,
        draft: pr.draft,
        title: pr.title,
        body: pr.body.unwrap_or_default(),
        head_sha: pr.head.sha,
        base_sha: pr.base.sha,
        head_ref: pr.head.name,
        base_ref: pr.base.name,
        labels: pr.labels.into_iter().map(|l| l.name).collect(),
        assignees: pr.assignees.iter().map(|u| Login::new(&u.login)).collect(),
        requested_reviewers: pr
            .requested_reviewers
            .iter()
            .map(|u| Login::new(&u.login))
            .collect(),
        mergeable: pr.mergeable,
        forge_blocker: None,
        milestone: pr.milestone.map(|m| m.title),
    }
}
