//! The forge as plugins and the executor see it.
//!
//! Which error to use where: adapters (`src/forge/*`) classify every failure once into
//! [`ForgeError`]; the queue decides on retries from [`ForgeError::is_retryable`] and
//! [`ForgeError::retry_after`]; call sites never retry on their own.

use crate::action::CiRun;
use crate::event::{CiSystem, ItemRef, ItemState, Login, RepoPath, ReviewState};
use crate::plugin::CiContext;
use async_trait::async_trait;
use std::time::{Duration, SystemTime};

/// A failure talking to the forge, classified so the queue retries exactly the retryable ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A primary or secondary rate limit; no call may be made before `reset`.
    #[error("rate limited until {}", readable_instant(*reset))]
    RateLimited { reset: SystemTime },
    /// A 5xx, a timeout or a broken connection; `retry_after` when the forge said how long.
    #[error("transient: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{0}")]
    Permanent(String),
}

impl ForgeError {
    /// 5xx, timeouts and rate limits are worth another attempt; nothing else is.
    pub fn is_retryable(&self) -> bool {
        match self {
            ForgeError::RateLimited { .. } | ForgeError::Transient { .. } => true,
            ForgeError::NotFound(_)
            | ForgeError::Forbidden(_)
            | ForgeError::Conflict(_)
            | ForgeError::Invalid(_)
            | ForgeError::Permanent(_) => false,
        }
    }

    /// How long the forge asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ForgeError::RateLimited { reset } => {
                Some(reset.duration_since(SystemTime::now()).unwrap_or_default())
            }
            ForgeError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// An instant as operators read it in logs and pages: RFC 3339 in UTC, and how far ahead it
/// lies when it is in the future (`2026-12-04T13:05:00Z (in 12s)`), never `SystemTime { … }`.
pub fn readable_instant(at: SystemTime) -> String {
    let stamp = chrono::DateTime::<chrono::Utc>::from(at)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) if ahead.as_secs() > 0 => format!("{stamp} (in {}s)", ahead.as_secs()),
        _ => stamp,
    }
}

/// A comment on an item, as much as bosun needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotComment {
    pub id: u64,
    pub author: Login,
    pub body: String,
    /// When it was written, as the forge spells it (RFC 3339); orders comments among reviews.
    pub created_at: String,
}

/// A submitted review (GitHub) or a current native approval (GitLab, which has no time for
/// it: `submitted_at` is empty there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub author: Login,
    pub state: ReviewState,
    pub body: String,
    pub submitted_at: String,
}

/// A pull/merge request as the forge reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    pub author: Login,
    pub state: ItemState,
    pub draft: bool,
    pub title: String,
    /// The description (approve looks for the associated issue there).
    pub body: String,
    pub head_sha: String,
    pub base_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    pub labels: Vec<String>,
    pub assignees: Vec<Login>,
    pub requested_reviewers: Vec<Login>,
    /// Whether it merges cleanly into its base (GitHub `mergeable`, GitLab `!has_conflicts`);
    /// `None` while the forge is still computing it.
    pub mergeable: Option<bool>,
    /// What the forge's own rules say still stops the merge, beyond bosun's (GitLab's
    /// `detailed_merge_status`: approvals its rules require, unresolved threads, a blocking
    /// MR), in Tide's sentence form; `None` when nothing or when the forge does not say.
    pub forge_blocker: Option<String>,
    /// The milestone's title, if it has one (tide's `milestone` filter).
    pub milestone: Option<String>,
}

/// One file a pull request changes, with its line counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    pub path: String,
    /// The old path of a renamed file.
    pub previous_path: Option<String>,
    pub additions: u64,
    pub deletions: u64,
}

/// What a tree entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeEntryKind {
    Blob,
    Tree,
    /// A submodule.
    Commit,
}

/// One entry of a recursive tree listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub kind: TreeEntryKind,
    /// The blob or tree SHA: equal SHAs mean equal content (OWNERS files are cached by it).
    pub sha: String,
}

/// A repository tree at one ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The tree's own SHA.
    pub sha: String,
    pub entries: Vec<TreeEntry>,
    /// The forge cut the listing short (GitHub: over 100,000 entries).
    pub truncated: bool,
}

/// How one file differs between two commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffStatus {
    Added,
    Removed,
    /// Content or mode changed in place.
    Modified,
    /// Moved from `previous_path` (perhaps changed too); the old path is gone.
    Renamed,
    /// Copied from `previous_path`, which stays.
    Copied,
}

/// One file that differs between two commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    /// The file's path in the newer commit (for [`DiffStatus::Removed`], the path it had).
    pub path: String,
    /// Where a renamed or copied file came from.
    pub previous_path: Option<String>,
    pub status: DiffStatus,
    /// The blob SHA at the newer commit when the forge says it (GitHub does, GitLab does not);
    /// `None` for removed files.
    pub sha: Option<String>,
}

/// The difference between two commits from one compare call: lets the OWNERS loader update
/// an index it already has instead of listing the whole tree again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitDiff {
    pub files: Vec<DiffEntry>,
    /// True only when `files` is exactly the difference from the older to the newer commit:
    /// every file listed (GitHub cuts the list at 300 files, GitLab gives up on a timeout)
    /// and, on GitHub, the older commit an ancestor of the newer (its three-dot compare diffs
    /// from the merge base). Callers must not use an incomplete diff as the whole difference.
    pub complete: bool,
}

/// The commit message a merge writes (tide's `commit_title` and `commit_body` templates);
/// the forge's default when a merge carries none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitMessage {
    pub title: String,
    pub body: String,
}

/// One commit of a pull/merge request: what the commit checks (dco, invalidcommitmsg,
/// mergecommitblocker) read, and nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCommit {
    /// The commit's SHA, for links and lists.
    pub sha: String,
    /// The whole message: title line, body and trailers.
    pub message: String,
    /// The git author's name, as recorded in the commit.
    pub author_name: String,
    /// The git author's email, as recorded in the commit (a sign-off must name it).
    pub author_email: String,
    /// The forge account the author's email belongs to, when the forge says (GitHub does when
    /// it can match the email; GitLab's commit lists never do).
    pub author_login: Option<Login>,
    /// How many parents the commit has; more than one is a merge commit. GitLab's merge
    /// request commit list names no parents, so there the adapter asks for them only for
    /// commits whose title reads like a merge (`Merge …`) and counts one for the others.
    pub parents: usize,
}

impl PrCommit {
    /// A merge commit: more than one parent.
    pub fn is_merge(&self) -> bool {
        self.parents > 1
    }

    /// The first line of the message.
    pub fn title(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }
}

/// How to merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    Merge,
    Squash,
    Rebase,
}

/// Why an issue is closed, as GitHub records it (`state_reason`); GitLab records no reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Done: GitHub's default reason.
    Completed,
    /// Won't be done (`/close not-planned`).
    NotPlanned,
}

/// A commit status's state (GitHub's names; GitLab maps `failure` to `failed`, `error` to `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    Error,
}

/// Read access for plugins: everything they may look at, nothing they may change.
#[async_trait]
pub trait ForgeRead: Send + Sync {
    /// The labels on a PR/issue now.
    async fn labels(&self, item: &ItemRef) -> Result<Vec<String>, ForgeError>;
    /// All comments on a PR/issue, oldest first.
    async fn comments(&self, item: &ItemRef) -> Result<Vec<BotComment>, ForgeError>;
    /// A PR's reviews, oldest first (GitHub: submitted reviews; GitLab: current approvals).
    async fn reviews(&self, item: &ItemRef) -> Result<Vec<Review>, ForgeError>;
    /// The account bosun acts as.
    async fn bot_login(&self) -> Result<Login, ForgeError>;
    /// A pull/merge request now.
    async fn pull_request(&self, item: &ItemRef) -> Result<PullRequestInfo, ForgeError>;
    /// Up to `limit` pull/merge requests (any state) `author` opened in `repo`, by number:
    /// the welcome plugin's "is this their first?" (GitHub's issue search, GitLab's MR list).
    async fn pull_requests_by(
        &self,
        repo: &RepoPath,
        author: &Login,
        limit: u8,
    ) -> Result<Vec<u64>, ForgeError>;
    /// Every open pull/merge request of a repository, by number, from the list endpoint (all
    /// pages; GitHub's list does not say whether a PR is mergeable).
    async fn open_pull_requests(
        &self,
        repo: &RepoPath,
    ) -> Result<Vec<(u64, PullRequestInfo)>, ForgeError>;
    /// Every file a PR changes (all pages).
    async fn changed_files(&self, item: &ItemRef) -> Result<Vec<ChangedFile>, ForgeError>;
    /// A file's bytes at a ref; `None` when the file does not exist there.
    async fn file_content(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError>;
    /// The recursive tree at a ref (branch, tag or commit SHA).
    async fn tree(&self, repo: &RepoPath, git_ref: &str) -> Result<Tree, ForgeError>;
    /// The files that differ between commits `from` and `to`, in one call (GitHub
    /// `compare/{from}...{to}`, GitLab `repository/compare?straight=true`): a moved base
    /// costs the OWNERS loader this instead of a whole tree listing.
    async fn compare(
        &self,
        repo: &RepoPath,
        from: &str,
        to: &str,
    ) -> Result<CommitDiff, ForgeError>;
    /// How many commits of the base branch `base_ref` the head `head_sha` lacks: 0 when the
    /// head is up to date with its base (tide's `retest_before_merge`). One compare call.
    async fn commits_behind(
        &self,
        repo: &RepoPath,
        base_ref: &str,
        head_sha: &str,
    ) -> Result<u64, ForgeError>;
    /// The tree SHA of a commit: equal trees mean equal content (lgtm's `store_tree_hash`).
    async fn commit_tree_sha(&self, repo: &RepoPath, sha: &str) -> Result<String, ForgeError>;
    /// The labels that exist in a repository.
    async fn repo_labels(&self, repo: &RepoPath) -> Result<Vec<String>, ForgeError>;
    /// Prow's "collaborator": GitHub repo collaborator; GitLab project member with Developer
    /// access or more.
    async fn is_collaborator(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError>;
    /// GitHub org membership; GitLab group membership (inherited memberships count).
    async fn is_org_member(&self, org: &str, user: &Login) -> Result<bool, ForgeError>;
    /// GitHub team membership (`org/team-slug`); GitLab: membership of the subgroup `team`.
    async fn is_team_member(&self, org: &str, team: &str, user: &Login)
    -> Result<bool, ForgeError>;
    /// Whether the forge would assign `user` to issues and PRs in `repo`. GitHub answers this
    /// itself (`GET /repos/{o}/{r}/assignees/{user}`); the default, for forges that cannot,
    /// is a collaborator or a member of the repository's org or group.
    async fn can_be_assigned(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        Ok(self.is_collaborator(repo, user).await?
            || self.is_org_member(repo.owner(), user).await?)
    }
    /// Prow's "repo admin", who may `/override`: GitHub's `admin` permission on the
    /// repository; on GitLab a Maintainer or Owner of the project.
    async fn is_repo_admin(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError>;
    /// The CI contexts on `sha` as the forge itself reports them, for a PR bosun has heard no
    /// CI events about (it was down, or the PR predates it): GitHub's workflow runs, other
    /// apps' check runs and commit statuses; GitLab's MR pipelines. Newest run per context.
    async fn ci_contexts(&self, item: &ItemRef, sha: &str) -> Result<Vec<CiContext>, ForgeError>;
    /// Every commit of a pull/merge request, oldest first (GitHub `pulls/{n}/commits`, which
    /// lists at most 250; GitLab's merge request commits). A forge view that cannot list them
    /// (no API token) says so as a permanent error, the default.
    async fn pr_commits(&self, item: &ItemRef) -> Result<Vec<PrCommit>, ForgeError> {
        Err(ForgeError::Permanent(format!(
            "the commits of {item} cannot be read here"
        )))
    }
    /// The open milestones of a repository (GitLab: the project's active ones), so
    /// `/milestone` can name them by title. A forge view that cannot list them (no API
    /// token) says so as a permanent error, the default.
    async fn milestones(&self, repo: &RepoPath) -> Result<Vec<Milestone>, ForgeError> {
        Err(ForgeError::Permanent(format!(
            "the milestones of {repo} cannot be read here"
        )))
    }
    /// Whether a repository (GitLab: project) exists and bosun can see it, so
    /// `/transfer-issue` names a missing destination before asking to move anything. A forge
    /// view that cannot tell (no API token) says so as a permanent error, the default.
    async fn repo_exists(&self, repo: &RepoPath) -> Result<bool, ForgeError> {
        Err(ForgeError::Permanent(format!(
            "whether {repo} exists cannot be read here"
        )))
    }
}

/// A repository's milestone as the forge names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Milestone {
    /// What the forge's edit call takes: GitHub's per-repository milestone number, GitLab's
    /// global milestone id.
    pub id: u64,
    /// The title people name it by.
    pub title: String,
}

/// The users of `asked` that `answered` does not contain, once each, in the order asked
/// (logins compare ignoring case): what adapters return from [`Forge::assign`] and
/// [`Forge::request_reviewers`].
pub fn missing_from(asked: &[Login], answered: &[Login]) -> Vec<Login> {
    let mut missing: Vec<Login> = Vec::new();
    for u in asked {
        if !answered.contains(u) && !missing.contains(u) {
            missing.push(u.clone());
        }
    }
    missing
}

/// The writes, used only by the executor.
#[async_trait]
pub trait Forge: ForgeRead {
    /// Adds labels; labels already present are kept.
    async fn add_labels(&self, item: &ItemRef, labels: &[String]) -> Result<(), ForgeError>;
    /// Removes one label; an absent label is not an error.
    async fn remove_label(&self, item: &ItemRef, label: &str) -> Result<(), ForgeError>;
    /// Creates a repository label; an existing one is not an error.
    async fn create_label(
        &self,
        repo: &RepoPath,
        name: &str,
        color: &str,
    ) -> Result<(), ForgeError>;
    /// Posts a comment and returns its id.
    async fn create_comment(&self, item: &ItemRef, body: &str) -> Result<u64, ForgeError>;
    /// Replaces the body of one of the bot's comments.
    async fn edit_comment(&self, item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError>;
    /// Deletes one of the bot's comments; an already deleted one is not an error.
    async fn delete_comment(&self, item: &ItemRef, id: u64) -> Result<(), ForgeError>;
    /// Adds assignees (GitLab: read-modify-write of the id list) and returns those of `users`
    /// the forge's answer does not list as assigned: forges skip users they will not assign
    /// without failing the call, and this is how bosun learns whom to name in a reply.
    async fn assign(&self, item: &ItemRef, users: &[Login]) -> Result<Vec<Login>, ForgeError>;
    /// Removes assignees.
    async fn unassign(&self, item: &ItemRef, users: &[Login]) -> Result<(), ForgeError>;
    /// Requests reviews from users and (GitHub) teams, and returns those of `users` the
    /// forge's answer does not list as requested (teams are not checked), as [`Forge::assign`].
    async fn request_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        teams: &[String],
    ) -> Result<Vec<Login>, ForgeError>;
    /// Withdraws review requests.
    async fn unrequest_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        teams: &[String],
    ) -> Result<(), ForgeError>;
    /// Sets the title.
    async fn set_title(&self, item: &ItemRef, title: &str) -> Result<(), ForgeError>;
    /// Puts a PR/issue in a milestone ([`Milestone::id`]) or, with `None`, takes it out.
    /// Forges that cannot are a permanent error, the default.
    async fn set_milestone(
        &self,
        item: &ItemRef,
        milestone: Option<u64>,
    ) -> Result<(), ForgeError> {
        let _ = milestone;
        Err(ForgeError::Permanent(format!(
            "the milestone of {item} cannot be set here"
        )))
    }
    /// Closes a PR/issue, with `reason` where the forge records one (GitHub issues).
    async fn close(&self, item: &ItemRef, reason: Option<CloseReason>) -> Result<(), ForgeError>;
    /// Reopens a PR/issue.
    async fn reopen(&self, item: &ItemRef) -> Result<(), ForgeError>;
    /// Lets the forge merge once the head's pipeline succeeds (GitLab's merge when pipeline
    /// succeeds); refused (`Conflict`) if the head is no longer `expected_head`. Forges that
    /// cannot are a permanent error.
    async fn auto_merge(
        &self,
        item: &ItemRef,
        method: MergeMethod,
        expected_head: &str,
    ) -> Result<(), ForgeError> {
        let _ = (method, expected_head);
        Err(ForgeError::Permanent(format!(
            "{} has no merge-when-the-pipeline-succeeds through its REST API",
            item.forge.as_str()
        )))
    }
    /// Merges; with `expected_head` the forge refuses (`Conflict`) if the head moved.
    async fn merge(
        &self,
        item: &ItemRef,
        method: MergeMethod,
        expected_head: Option<&str>,
        commit: Option<&CommitMessage>,
    ) -> Result<(), ForgeError>;
    /// Brings a PR up to date with its base branch (GitHub: merges the base into the head;
    /// GitLab: rebases the MR), refused if the head is no longer `expected_head`. The new head
    /// runs CI again, against the current base.
    async fn update_branch(&self, item: &ItemRef, expected_head: &str) -> Result<(), ForgeError>;
    /// Sets a commit status.
    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError>;
    /// Runs the forge's own CI for a PR (GitHub Actions and checks, GitLab CI): re-runs a run
    /// (only its failed jobs when asked) or starts CI on the head. A system this forge does
    /// not run is a permanent error.
    async fn run_ci(&self, item: &ItemRef, system: CiSystem, run: &CiRun)
    -> Result<(), ForgeError>;
    /// Whether CI already started again after `run` was asked for: the executor's check
    /// before repeating a call that may have taken effect (a crash, a timeout).
    async fn ci_started(
        &self,
        item: &ItemRef,
        system: CiSystem,
        run: &CiRun,
    ) -> Result<bool, ForgeError>;
    /// Applies the commits of the merged PR `item` to `request.target` on a new branch and
    /// opens a PR from it, entirely through the API (no clone); an open PR already made for
    /// the same pick is reported instead of a second one. Forges that cannot are a permanent
    /// error, the default.
    async fn cherry_pick(
        &self,
        item: &ItemRef,
        request: &crate::pick::CherryPickRequest,
    ) -> Result<crate::pick::CherryPickOutcome, ForgeError> {
        let _ = request;
        Err(ForgeError::Permanent(format!(
            "{item} cannot be cherry-picked here"
        )))
    }
    /// Moves the issue `item` to the repository `to` of the same org (GitHub's GraphQL
    /// `transferIssue`; GitLab's issue move, which leaves the old issue closed). An issue that
    /// is already there counts as moved, so a repeated attempt is safe. Forges that cannot are
    /// a permanent error, the default.
    async fn transfer_issue(&self, item: &ItemRef, to: &RepoPath) -> Result<(), ForgeError> {
        Err(ForgeError::Permanent(format!(
            "{item} cannot be moved to {to} here"
        )))
    }
}

/// A commit status to set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitStatus {
    pub state: StatusState,
    pub context: String,
    pub description: String,
    pub target_url: Option<String>,
}
