//! [`ForgeRead`] for GitLab: labels, notes, approvals, merge requests, diffs, trees and
//! memberships, with users resolved to ids once.

use super::errors::unbuildable;
use super::{GitLabForge, LabelName, Labeled, People, UserId, lock, project};
use async_trait::async_trait;
use bosun_plugins::{
    BotComment, ChangedFile, CommitDiff, DiffEntry, DiffStatus, ForgeError, ForgeRead, ItemKind,
    ItemRef, ItemState, Login, PrCommit, PullRequestInfo, RepoPath, Review, ReviewState, Tree,
    TreeEntry, TreeEntryKind,
};
use gitlab::api::Endpoint;
use gitlab::api::common::{NameOrId, SortOrder};
use gitlab::api::endpoint_prelude::{Method, QueryParams};
use gitlab::api::projects::{issues, labels, members, merge_requests as mrs, repository};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// The least access level that makes a project member a collaborator (Developer).
const COLLABORATOR_LEVEL: u64 = 30;
/// The least access level that makes a group member an org/team member (Guest).
const MEMBER_LEVEL: u64 = 10;
/// The least access level that makes a project member a repo admin (Maintainer).
const ADMIN_LEVEL: u64 = 40;

#[derive(Deserialize)]
struct User {
    username: String,
}

#[derive(Deserialize)]
struct Note {
    id: u64,
    author: User,
    body: String,
    #[serde(default)]
    system: bool,
    #[serde(default)]
    created_at: String,
}

#[derive(Deserialize)]
struct Approvals {
    #[serde(default)]
    approved_by: Vec<Approver>,
}

#[derive(Deserialize)]
struct Approver {
    user: User,
}

#[derive(Deserialize)]
struct DiffRefs {
    base_sha: Option<String>,
    head_sha: Option<String>,
}

#[derive(Deserialize)]
struct RawMr {
    #[serde(default)]
    iid: u64,
    author: User,
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    work_in_progress: bool,
    title: String,
    #[serde(default)]
    description: Option<String>,
    sha: Option<String>,
    diff_refs: Option<DiffRefs>,
    source_branch: String,
    target_branch: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    assignees: Vec<UserId>,
    #[serde(default)]
    reviewers: Vec<UserId>,
    #[serde(default)]
    has_conflicts: Option<bool>,
    #[serde(default)]
    detailed_merge_status: Option<String>,
    #[serde(default)]
    milestone: Option<RawMilestone>,
}

/// A milestone, by its title.
#[derive(Deserialize)]
struct RawMilestone {
    title: String,
}

/// A milestone in a list of them: its global id is what edits take.
#[derive(Deserialize)]
struct RawListedMilestone {
    id: u64,
    title: String,
}

/// `GET /projects/:id/milestones?state=active` (the crate has no list endpoint).
struct ProjectMilestones<'a> {
    project: &'a str,
}

impl Endpoint for ProjectMilestones<'_> {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("projects/{}/milestones", NameOrId::from(self.project)).into()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = QueryParams::default();
        params.push("state", "active");
        params
    }
}

#[derive(Deserialize)]
struct RawDiff {
    old_path: String,
    new_path: String,
    #[serde(default)]
    diff: String,
    #[serde(default)]
    renamed_file: bool,
}

#[derive(Deserialize)]
struct RawTreeEntry {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    path: String,
    mode: String,
}

#[derive(Deserialize)]
struct Member {
    access_level: u64,
}

/// A commit as GitLab's commit lists and single-commit reads give it.
#[derive(Deserialize)]
struct RawCommit {
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    author_name: String,
    #[serde(default)]
    author_email: String,
    /// Empty in a merge request's commit list (GitLab keeps no parents there).
    #[serde(default)]
    parent_ids: Vec<String>,
}

/// Whether a commit's title reads like one git or GitLab writes for a merge: the only commits
/// of a merge request whose parents bosun asks GitLab for.
fn looks_like_merge(title: &str) -> bool {
    title.starts_with("Merge ")
}

/// `GET /projects/:id/repository/tree?ref=…&recursive=…`. The crate's `repository::Tree`
/// sends these parameters as a form body on the GET, which GitLab's documented API and
/// intermediaries need not honour, so the query string is built here instead.
struct TreeListing<'a> {
    project: &'a str,
    git_ref: &'a str,
    recursive: bool,
}

impl Endpoint for TreeListing<'_> {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("projects/{}/repository/tree", NameOrId::from(self.project)).into()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = QueryParams::default();
        params
            .push("ref", self.git_ref)
            .push("recursive", self.recursive);
        params
    }
}

/// `GET /projects/:id/repository/compare?from=…&to=…&straight=true`: the direct difference
/// between two commits (`straight=false`, the default, would diff from their merge base).
struct Compare<'a> {
    project: &'a str,
    from: &'a str,
    to: &'a str,
    /// `true`: `from..to` (the OWNERS diff between two base commits); `false`: from the merge
    /// base, so `commits` are the ones `to` has and `from` lacks.
    straight: bool,
}

impl Endpoint for Compare<'_> {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/repository/compare",
            NameOrId::from(self.project)
        )
        .into()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = QueryParams::default();
        params
            .push("from", self.from)
            .push("to", self.to)
            .push("straight", self.straight);
        params
    }
}

#[derive(Deserialize)]
struct RawCompare {
    #[serde(default)]
    diffs: Vec<RawCompareDiff>,
    /// The commits compared (their content is not read, only counted).
    #[serde(default)]
    commits: Vec<serde::de::IgnoredAny>,
    /// GitLab stopped computing the comparison.
    #[serde(default)]
    compare_timeout: bool,
}

#[derive(Deserialize)]
struct RawCompareDiff {
    old_path: String,
    new_path: String,
    #[serde(default)]
    new_file: bool,
    #[serde(default)]
    renamed_file: bool,
    #[serde(default)]
    deleted_file: bool,
}

/// GitLab's default diff limit (`diff_max_files`): a comparison listing this many files may
/// have been cut short.
const COMPARE_FILE_CAP: usize = 1_000;

impl GitLabForge {
    /// Whether `user` is a member of the project (directly or through its groups) with at
    /// least `level`.
    async fn in_project(
        &self,
        repo: &RepoPath,
        user: &Login,
        level: u64,
    ) -> Result<bool, ForgeError> {
        let Some(id) = self.user_id(user).await? else {
            return Ok(false);
        };
        let ep = members::AllProjectMember::builder()
            .project(repo.as_str())
            .user(id)
            .build()
            .map_err(unbuildable)?;
        match self.query::<_, Member>(ep).await {
            Ok(m) => Ok(m.access_level >= level),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
    /// A user's id, resolved through `GET /users?username=` once; `None` for an unknown user.
    pub(super) async fn user_id(&self, login: &Login) -> Result<Option<u64>, ForgeError> {
        let key = login.as_str().to_ascii_lowercase();
        if let Some(id) = lock(&self.user_ids).get(&key) {
            return Ok(Some(*id));
        }
        let ep = gitlab::api::users::Users::builder()
            .username(login.as_str())
            .build()
            .map_err(unbuildable)?;
        let users: Vec<UserId> = self.query(ep).await?;
        let Some(user) = users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(login.as_str()))
        else {
            return Ok(None);
        };
        lock(&self.user_ids).insert(key, user.id);
        Ok(Some(user.id))
    }

    /// The MR or issue's current assignees and reviewers.
    pub(super) async fn people(&self, item: &ItemRef) -> Result<People, ForgeError> {
        let project = project(item)?;
        match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::MergeRequest::builder()
                    .project(project)
                    .merge_request(item.number)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await
            }
            ItemKind::Issue => {
                let ep = issues::Issue::builder()
                    .project(project)
                    .issue(item.number)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await
            }
        }
    }

    /// The whole repository tree at a ref, every page.
    async fn tree_entries(
        &self,
        repo: &RepoPath,
        git_ref: &str,
        recursive: bool,
    ) -> Result<Vec<RawTreeEntry>, ForgeError> {
        let ep = TreeListing {
            project: repo.as_str(),
            git_ref,
            recursive,
        };
        self.query_all(ep).await
    }

    /// Whether `user` is in `group` (inherited memberships count) with at least `level`.
    async fn in_group(&self, group: &str, user: &Login, level: u64) -> Result<bool, ForgeError> {
        let Some(id) = self.user_id(user).await? else {
            return Ok(false);
        };
        let ep = gitlab::api::groups::members::AllGroupMembers::builder()
            .group(group)
            .user_id(id)
            .build()
            .map_err(unbuildable)?;
        match self.query::<_, Vec<Member>>(ep).await {
            Ok(members) => Ok(members.iter().any(|m| m.access_level >= level)),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A digest standing for a tree's content: SHA-256 over each root entry's mode, kind, id and
/// name, sorted by name. Subtree ids already hash their own content, so equal digests mean
/// equal trees (see the module documentation).
fn tree_digest<'a>(root: impl Iterator<Item = &'a RawTreeEntry>) -> String {
    let mut entries: Vec<&RawTreeEntry> = root.collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hasher = Sha256::new();
    for e in entries {
        hasher.update(format!("{} {} {} {}\n", e.mode, e.kind, e.id, e.name).as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Counts the added and removed lines of a diff as GitLab's `/diffs` gives it: hunks without
/// the `---`/`+++` file header, so every line starting with `+` or `-` is a changed line (an
/// added line `++i` reads `+++i`).
fn count_lines(diff: &str) -> (u64, u64) {
    let mut counts = (0, 0);
    for line in diff.lines() {
        if line.starts_with('+') {
            counts.0 += 1;
        } else if line.starts_with('-') {
            counts.1 += 1;
        }
    }
    counts
}

#[async_trait]
impl ForgeRead for GitLabForge {
    async fn labels(&self, item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        let project = project(item)?;
        let labeled: Labeled = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::MergeRequest::builder()
                    .project(project)
                    .merge_request(item.number)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::Issue::builder()
                    .project(project)
                    .issue(item.number)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(labeled.labels)
    }

    /// User notes only: GitLab's system notes ("added ~lgtm label") are not comments.
    async fn comments(&self, item: &ItemRef) -> Result<Vec<BotComment>, ForgeError> {
        let project = project(item)?;
        let notes: Vec<Note> = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::notes::MergeRequestNotes::builder()
                    .project(project)
                    .merge_request(item.number)
                    .order_by(mrs::notes::NoteOrderBy::CreatedAt)
                    .sort(SortOrder::Ascending)
                    .build()
                    .map_err(unbuildable)?;
                self.query_all(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::notes::IssueNotes::builder()
                    .project(project)
                    .issue(item.number)
                    .order_by(issues::notes::NoteOrderBy::CreatedAt)
                    .sort(SortOrder::Ascending)
                    .build()
                    .map_err(unbuildable)?;
                self.query_all(ep).await?
            }
        };
        Ok(notes
            .into_iter()
            .filter(|n| !n.system)
            .map(|n| BotComment {
                id: n.id,
                author: Login::new(&n.author.username),
                body: n.body,
                created_at: n.created_at,
            })
            .collect())
    }

    /// GitLab keeps no review history, only who approves now; each is an approving review.
    async fn reviews(&self, item: &ItemRef) -> Result<Vec<Review>, ForgeError> {
        let project = project(item)?;
        let ep = mrs::approvals::MergeRequestApprovals::builder()
            .project(project)
            .merge_request(item.number)
            .build()
            .map_err(unbuildable)?;
        let approvals: Approvals = self.query(ep).await?;
        Ok(approvals
            .approved_by
            .into_iter()
            .map(|a| Review {
                author: Login::new(&a.user.username),
                state: ReviewState::Approved,
                body: String::new(),
                submitted_at: String::new(),
            })
            .collect())
    }

    async fn bot_login(&self) -> Result<Login, ForgeError> {
        let login = self
            .bot
            .get_or_try_init(|| async {
                let ep = gitlab::api::users::CurrentUser::builder()
                    .build()
                    .map_err(unbuildable)?;
                let user: User = self.query(ep).await?;
                Ok::<_, ForgeError>(Login::new(&user.username))
            })
            .await?;
        Ok(login.clone())
    }

    async fn pull_request(&self, item: &ItemRef) -> Result<PullRequestInfo, ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request"
            )));
        }
        let ep = mrs::MergeRequest::builder()
            .project(project)
            .merge_request(item.number)
            .build()
            .map_err(unbuildable)?;
        let mr: RawMr = self.query(ep).await?;
        Ok(mr_info(mr))
    }

    /// `GET /projects/:id/merge_requests?author_username=…` (any state), one page.
    async fn pull_requests_by(
        &self,
        repo: &RepoPath,
        author: &Login,
        limit: u8,
    ) -> Result<Vec<u64>, ForgeError> {
        #[derive(Deserialize)]
        struct Found {
            iid: u64,
        }
        let ep = mrs::MergeRequests::builder()
            .project(repo.as_str())
            .author(author.as_str())
            .build()
            .map_err(unbuildable)?;
        let found: Vec<Found> = self.query(ep).await?;
        Ok(found
            .into_iter()
            .take(limit.max(1) as usize)
            .map(|f| f.iid)
            .collect())
    }

    /// `GET /projects/:id/merge_requests?state=opened`, every page.
    async fn open_pull_requests(
        &self,
        repo: &RepoPath,
    ) -> Result<Vec<(u64, PullRequestInfo)>, ForgeError> {
        let ep = mrs::MergeRequests::builder()
            .project(repo.as_str())
            .state(mrs::MergeRequestState::Opened)
            .build()
            .map_err(unbuildable)?;
        let list: Vec<RawMr> = self.query_all(ep).await?;
        Ok(list.into_iter().map(|m| (m.iid, mr_info(m))).collect())
    }

    /// Every page of `/diffs`; GitLab gives no line counts, so they are counted from the diff
    /// text (a diff GitLab left out as too large counts as zero lines).
    async fn changed_files(&self, item: &ItemRef) -> Result<Vec<ChangedFile>, ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request"
            )));
        }
        let ep = mrs::MergeRequestDiffs::builder()
            .project(project)
            .merge_request(item.number)
            .build()
            .map_err(unbuildable)?;
        let diffs: Vec<RawDiff> = self.query_all(ep).await?;
        Ok(diffs
            .into_iter()
            .map(|d| {
                let (additions, deletions) = count_lines(&d.diff);
                ChangedFile {
                    previous_path: d.renamed_file.then_some(d.old_path),
                    path: d.new_path,
                    additions,
                    deletions,
                }
            })
            .collect())
    }

    async fn file_content(
        &self,
        repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        let ep = repository::files::FileRaw::builder()
            .project(repo.as_str())
            .file_path(path.trim_start_matches('/'))
            .ref_(git_ref)
            .build()
            .map_err(unbuildable)?;
        match self.query_bytes(ep).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(ForgeError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The recursive listing (every page); `sha` is the content digest described in the
    /// module documentation, equal to [`ForgeRead::commit_tree_sha`] of the same commit.
    async fn tree(&self, repo: &RepoPath, git_ref: &str) -> Result<Tree, ForgeError> {
        let entries = self.tree_entries(repo, git_ref, true).await?;
        let sha = tree_digest(entries.iter().filter(|e| !e.path.contains('/')));
        Ok(Tree {
            sha,
            truncated: false,
            entries: entries
                .into_iter()
                .map(|e| TreeEntry {
                    kind: match e.kind.as_str() {
                        "tree" => TreeEntryKind::Tree,
                        "commit" => TreeEntryKind::Commit,
                        _ => TreeEntryKind::Blob,
                    },
                    path: e.path,
                    sha: e.id,
                })
                .collect(),
        })
    }

    /// One compare call; GitLab names no blob SHAs in it, so every entry's `sha` is `None`.
    async fn compare(
        &self,
        repo: &RepoPath,
        from: &str,
        to: &str,
    ) -> Result<CommitDiff, ForgeError> {
        let ep = Compare {
            project: repo.as_str(),
            from,
            to,
            straight: true,
        };
        let raw: RawCompare = self.query(ep).await?;
        let complete = !raw.compare_timeout && raw.diffs.len() < COMPARE_FILE_CAP;
        let files = raw
            .diffs
            .into_iter()
            .map(|d| {
                let (status, path, previous_path) = if d.deleted_file {
                    (DiffStatus::Removed, d.old_path, None)
                } else if d.new_file {
                    (DiffStatus::Added, d.new_path, None)
                } else if d.renamed_file {
                    (DiffStatus::Renamed, d.new_path, Some(d.old_path))
                } else {
                    (DiffStatus::Modified, d.new_path, None)
                };
                DiffEntry {
                    path,
                    previous_path,
                    status,
                    sha: None,
                }
            })
            .collect();
        Ok(CommitDiff { files, complete })
    }

    /// `GET /repository/compare?from={head}&to={base}&straight=false`: the commits the base
    /// has since the merge base are the ones the head lacks.
    async fn commits_behind(
        &self,
        repo: &RepoPath,
        base_ref: &str,
        head_sha: &str,
    ) -> Result<u64, ForgeError> {
        let ep = Compare {
            project: repo.as_str(),
            from: head_sha,
            to: base_ref,
            straight: false,
        };
        let raw: RawCompare = self.query(ep).await?;
        Ok(raw.commits.len() as u64)
    }

    /// The content digest of the commit's root listing (one request for a root of up to 100
    /// entries); see the module documentation for why this stands in for git's tree SHA.
    async fn commit_tree_sha(&self, repo: &RepoPath, sha: &str) -> Result<String, ForgeError> {
        let root = self.tree_entries(repo, sha, false).await?;
        Ok(tree_digest(root.iter()))
    }

    /// Project labels, with the labels of its groups (GitLab's default).
    async fn repo_labels(&self, repo: &RepoPath) -> Result<Vec<String>, ForgeError> {
        let ep = labels::Labels::builder()
            .project(repo.as_str())
            .build()
            .map_err(unbuildable)?;
        let labels: Vec<LabelName> = self.query_all(ep).await?;
        Ok(labels.into_iter().map(|l| l.name).collect())
    }

    /// The project's active milestones (group milestones are not listed).
    /// `GET /projects/:id`: whether it exists and bosun can see it.
    async fn repo_exists(&self, repo: &RepoPath) -> Result<bool, ForgeError> {
        self.project_exists(repo).await
    }

    async fn milestones(
        &self,
        repo: &RepoPath,
    ) -> Result<Vec<bosun_plugins::Milestone>, ForgeError> {
        let listed: Vec<RawListedMilestone> = self
            .query_all(ProjectMilestones {
                project: repo.as_str(),
            })
            .await?;
        Ok(listed
            .into_iter()
            .map(|m| bosun_plugins::Milestone {
                id: m.id,
                title: m.title,
            })
            .collect())
    }

    /// A project member (direct, inherited or invited) with Developer access or more.
    async fn is_collaborator(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        self.in_project(repo, user, COLLABORATOR_LEVEL).await
    }

    async fn is_org_member(&self, org: &str, user: &Login) -> Result<bool, ForgeError> {
        self.in_group(org, user, MEMBER_LEVEL).await
    }

    /// A project member (direct or inherited) with Maintainer access or more.
    async fn is_repo_admin(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        self.in_project(repo, user, ADMIN_LEVEL).await
    }

    async fn ci_contexts(
        &self,
        item: &ItemRef,
        sha: &str,
    ) -> Result<Vec<bosun_plugins::CiContext>, ForgeError> {
        self.read_ci_contexts(item, sha).await
    }

    /// Every page of the merge request's commits, oldest first. GitLab's list names no parents,
    /// so a commit whose title starts with `Merge ` is read once more
    /// (`repository/commits/:sha`) for its parents; any other counts one parent.
    async fn pr_commits(&self, item: &ItemRef) -> Result<Vec<PrCommit>, ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request"
            )));
        }
        let ep = mrs::MergeRequestCommits::builder()
            .project(project)
            .merge_request(item.number)
            .build()
            .map_err(unbuildable)?;
        let mut listed: Vec<RawCommit> = self.query_all(ep).await?;
        listed.reverse();
        let mut out = Vec::with_capacity(listed.len());
        for c in listed {
            let mut parents = c.parent_ids.len();
            if parents == 0 && looks_like_merge(&c.title) {
                let ep = repository::commits::Commit::builder()
                    .project(project)
                    .commit(c.id.as_str())
                    .build()
                    .map_err(unbuildable)?;
                let full: RawCommit = self.query(ep).await?;
                parents = full.parent_ids.len();
            }
            out.push(PrCommit {
                sha: c.id,
                message: c.message,
                author_name: c.author_name,
                author_email: c.author_email,
                author_login: None,
                parents: parents.max(1),
            });
        }
        Ok(out)
    }

    /// Membership of the subgroup `org/team`.
    async fn is_team_member(
        &self,
        org: &str,
        team: &str,
        user: &Login,
    ) -> Result<bool, ForgeError> {
        self.in_group(&format!("{org}/{team}"), user, MEMBER_LEVEL)
            .await
    }
}

/// A merge request as GitLab answers it (one, or in a list), in bosun's terms.
fn mr_info(mr: RawMr) -> PullRequestInfo {
    let state = match mr.state.as_str() {
        "opened" | "locked" => ItemState::Open,
        "merged" => ItemState::Merged,
        _ => ItemState::Closed,
    };
    let refs = mr.diff_refs;
    let head_sha = mr
        .sha
        .or_else(|| refs.as_ref().and_then(|r| r.head_sha.clone()))
        .unwrap_or_default();
    PullRequestInfo {
        author: Login::new(&mr.author.username),
        state,
        draft: mr.draft || mr.work_in_progress,
        title: mr.title,
        body: mr.description.unwrap_or_default(),
        head_sha,
        base_sha: refs.and_then(|r| r.base_sha).unwrap_or_default(),
        head_ref: mr.source_branch,
        base_ref: mr.target_branch,
        labels: mr.labels,
        assignees: mr
            .assignees
            .iter()
            .map(|u| Login::new(&u.username))
            .collect(),
        requested_reviewers: mr
            .reviewers
            .iter()
            .map(|u| Login::new(&u.username))
            .collect(),
        mergeable: mr.has_conflicts.map(|c| !c),
        forge_blocker: mr.detailed_merge_status.as_deref().and_then(gitlab_blocker),
        milestone: mr.milestone.map(|m| m.title),
    }
}

/// The merge blockers of GitLab's own rules that bosun's evaluation does not cover itself
/// (conflicts, drafts and pipelines it reads on its own), as the reason tide gives.
fn gitlab_blocker(status: &str) -> Option<String> {
    let reason = match status {
        "not_approved" => "Needs the approvals GitLab's rules require.",
        "discussions_not_resolved" => "Has unresolved threads.",
        "blocked_status" => "Is blocked by another merge request.",
        "requested_changes" => "A reviewer requested changes.",
        "jira_association_missing" => "Needs a Jira issue in its title or description.",
        "not_open" | "merge_time" | "locked_paths" | "locked_lfs_files" => {
            "GitLab does not allow merging it now."
        }
        _ => return None,
    };
    Some(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_counted_without_file_headers() {
        let diff =
            "@@ -1,2 +1,3 @@\n context\n-old\n+++i;\n+new\n--x\n\\ No newline at end of file\n";
        assert_eq!(count_lines(diff), (2, 2));
        assert_eq!(count_lines(""), (0, 0));
    }

    #[test]
    fn tree_digest_follows_root_content_not_order() {
        let entry = |name: &str, id: &str| RawTreeEntry {
            id: id.into(),
            name: name.into(),
            kind: "blob".into(),
            path: name.into(),
            mode: "100644".into(),
        };
        let a = [entry("a", "1"), entry("b", "2")];
        let b = [entry("b", "2"), entry("a", "1")];
        let c = [entry("a", "1"), entry("b", "3")];
        assert_eq!(tree_digest(a.iter()), tree_digest(b.iter()));
        assert_ne!(tree_digest(a.iter()), tree_digest(c.iter()));
    }
}
