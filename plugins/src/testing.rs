//! An in-memory forge and event builders for plugin unit tests: one repository (`org/repo`)
//! with one pull request (`#1`), whose state tests seed and inspect.

use crate::forge::{
    ChangedFile, CommitStatus, MergeMethod, PrCommit, PullRequestInfo, Review, Tree, TreeEntry,
    TreeEntryKind,
};
use crate::{
    Action, BotComment, CommentAction, CommentEvent, CommentSource, Context, Event, Forge,
    ForgeError, ForgeKind, ForgeRead, Item, ItemKind, ItemRef, ItemState, Login, Plugin,
    PluginError, PrAction, PullRequestEvent, RepoPath,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// The world a plugin test sees and changes.
#[derive(Debug, Clone)]
pub struct MemoryState {
    pub pr: PullRequestInfo,
    pub comments: Vec<BotComment>,
    pub reviews: Vec<Review>,
    pub changed_files: Vec<ChangedFile>,
    /// Files at every ref, by path.
    pub files: BTreeMap<String, Vec<u8>>,
    pub repo_labels: Vec<String>,
    pub collaborators: HashSet<Login>,
    pub org_members: HashSet<Login>,
    /// Users the forge would assign although they are neither collaborators nor org members
    /// (GitHub answers assignability itself).
    pub assignable: HashSet<Login>,
    /// Users the forge leaves out when assigning or requesting reviews, although every read
    /// says it would take them (a race with a permission change, a cap reached meanwhile).
    pub dropped: HashSet<Login>,
    /// `team slug` → members.
    pub teams: HashMap<String, HashSet<Login>>,
    /// Commit SHA → tree SHA.
    pub commit_trees: HashMap<String, String>,
    /// Commit SHA → every file of that commit. A ref found here is read from its snapshot
    /// (files, tree, compare); any other ref reads `files`.
    pub commits: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Compare answers without blob SHAs, as GitLab's does.
    pub compare_without_shas: bool,
    /// Compare answers say they are incomplete, as GitHub's beyond 300 files.
    pub compare_incomplete: bool,
    pub statuses: Vec<(String, CommitStatus)>,
    pub merged_with: Option<MergeMethod>,
    /// The reason the last close gave, as GitHub records `state_reason`.
    pub close_reason: Option<crate::forge::CloseReason>,
    /// Open review requests per login, as the store would remember them.
    pub review_load: BTreeMap<String, usize>,
    /// CI contexts on the head, as the store would remember them.
    pub ci: Vec<crate::CiContext>,
    /// CI contexts on the head as the forge reports them (read when the store has none).
    pub forge_ci: Vec<crate::CiContext>,
    /// Users with admin rights on the repository.
    pub admins: HashSet<Login>,
    /// CI runs asked for, in order.
    pub ci_runs: Vec<(crate::CiSystem, crate::CiRun)>,
    /// Facts the store would hold about the PR.
    pub facts: Vec<crate::Fact>,
    /// Earlier PRs per author (lower case), besides the PR under test.
    pub earlier_prs: BTreeMap<String, Vec<u64>>,
    /// How each CI context last finished before the event, as the store would remember it.
    pub ci_outcomes: BTreeMap<String, crate::CiState>,
    /// The PR's commits, oldest first.
    pub pr_commits: Vec<PrCommit>,
    /// Counts every read and write, so tests can assert how many calls a plugin made.
    pub calls: usize,
    /// How many base commits the PR's head lacks (`commits_behind`).
    pub behind: u64,
    /// Heads the PR was asked to be brought up to date at (`update_branch`).
    pub branch_updates: Vec<String>,
    /// The repository's open milestones.
    pub milestones: Vec<crate::forge::Milestone>,
    /// Repositories besides `org/repo` that exist (`org/other`).
    pub other_repos: HashSet<String>,
    /// Issues moved by `transfer_issue`, with their destination.
    pub transfers: Vec<(ItemRef, RepoPath)>,
}

/// The in-memory forge.
pub struct MemoryForge {
    state: Mutex<MemoryState>,
    bot: Login,
    /// Configured bot accounts, as `bot_accounts` in bosun's config.
    pub bot_accounts: Vec<String>,
    /// The limits plugins see (`[limits]`).
    pub limits: crate::PluginLimits,
    /// The chat channels' languages, as `[chat.channels]` configures them.
    pub channel_languages: BTreeMap<String, crate::notify::Language>,
    owners: crate::owners::OwnersLoader,
}

impl Default for MemoryForge {
    fn default() -> Self {
        let pr = PullRequestInfo {
            author: Login::new("pr-author"),
            state: ItemState::Open,
            draft: false,
            title: "A change".into(),
            body: String::new(),
            head_sha: "head0".into(),
            base_sha: "base0".into(),
            head_ref: "feature".into(),
            base_ref: "main".into(),
            forge_blocker: None,
            milestone: None,
            labels: vec![],
            assignees: vec![],
            requested_reviewers: vec![],
            mergeable: Some(true),
        };
        MemoryForge {
            state: Mutex::new(MemoryState {
                pr,
                comments: vec![],
                reviews: vec![],
                changed_files: vec![],
                files: BTreeMap::new(),
                repo_labels: vec![],
                collaborators: HashSet::new(),
                org_members: HashSet::new(),
                assignable: HashSet::new(),
                dropped: HashSet::new(),
                teams: HashMap::new(),
                commit_trees: HashMap::new(),
                commits: BTreeMap::new(),
                compare_without_shas: false,
                compare_incomplete: false,
                statuses: vec![],
                merged_with: None,
                close_reason: None,
                review_load: BTreeMap::new(),
                ci: vec![],
                forge_ci: vec![],
                admins: HashSet::new(),
                ci_runs: vec![],
                facts: vec![],
                earlier_prs: BTreeMap::new(),
                ci_outcomes: BTreeMap::new(),
                pr_commits: vec![],
                calls: 0,
                behind: 0,
                branch_updates: vec![],
                milestones: vec![],
                other_repos: HashSet::new(),
                transfers: vec![],
            }),
            bot: Login::new("bosun-bot"),
            bot_accounts: vec!["ci-robot".into()],
            limits: crate::PluginLimits::default(),
            channel_languages: BTreeMap::new(),
            owners: crate::owners::OwnersLoader::in_memory(),
        }
    }
}

impl MemoryForge {
    /// The PR every builder here refers to.
    pub fn pr_ref(&self) -> ItemRef {
        pr_ref()
    }

    /// Changes the world.
    pub fn with<R>(&self, f: impl FnOnce(&mut MemoryState) -> R) -> R {
        f(&mut self.lock())
    }

    /// A copy of the world.
    pub fn snapshot(&self) -> MemoryState {
        self.lock().clone()
    }

    /// Replaces the PR's labels.
    pub fn set_labels(&self, labels: &[&str]) {
        self.lock().pr.labels = labels.iter().map(|s| s.to_string()).collect();
    }

    /// The PR's labels now.
    pub fn current_labels(&self) -> Vec<String> {
        self.lock().pr.labels.clone()
    }

    /// Reads OWNERS with `policy` (as `[owners]` configures it per org/repo).
    pub fn with_owners_policy(mut self, policy: crate::owners::OwnersPolicy) -> MemoryForge {
        self.owners = crate::owners::OwnersLoader::with_policy(
            std::sync::Arc::new(crate::owners::MemoryOwnersCache::default()),
            policy,
        );
        self
    }

    /// Makes users collaborators.
    pub fn add_collaborators(&self, users: &[&str]) {
        self.lock()
            .collaborators
            .extend(users.iter().map(|u| Login::new(u)));
    }

    /// Runs a plugin on an event with no settings.
    pub async fn run(
        &self,
        plugin: &dyn Plugin,
        event: &Event,
    ) -> Result<Vec<Action>, PluginError> {
        self.run_with(plugin, event, &serde_json::Value::Null).await
    }

    /// Runs a plugin on an event with settings.
    pub async fn run_with(
        &self,
        plugin: &dyn Plugin,
        event: &Event,
        settings: &serde_json::Value,
    ) -> Result<Vec<Action>, PluginError> {
        let cx = Context {
            forge: self,
            settings,
            bot: &self.bot,
            bot_accounts: &self.bot_accounts,
            help_url: "https://bosun.example/command-help",
            owners: &self.owners,
            history: self,
            limits: self.limits,
            channel_languages: &self.channel_languages,
        };
        plugin.handle(event, &cx).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        guard.calls += 1;
        guard
    }
}

fn has(list: &[String], name: &str) -> bool {
    list.iter().any(|l| l.eq_ignore_ascii_case(name))
}

#[async_trait]
impl crate::History for MemoryForge {
    async fn open_review_requests(
        &self,
        _forge: ForgeKind,
        _repo: &RepoPath,
    ) -> BTreeMap<String, usize> {
        // Not a forge call: read without counting.
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.review_load.clone()
    }

    async fn facts(&self, _item: &ItemRef) -> Vec<crate::Fact> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .facts
            .clone()
    }
    async fn ci_contexts(
        &self,
        _forge: ForgeKind,
        _repo: &RepoPath,
        sha: &str,
    ) -> Vec<crate::CiContext> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.pr.head_sha == sha {
            state.ci.clone()
        } else {
            Vec::new()
        }
    }

    async fn last_ci_outcome(
        &self,
        _forge: ForgeKind,
        _repo: &RepoPath,
        _number: Option<u64>,
        _sha: &str,
        context: &str,
    ) -> Option<crate::CiState> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.ci_outcomes.get(context).copied()
    }
}

#[async_trait]
impl ForgeRead for MemoryForge {
    async fn labels(&self, _item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        Ok(self.lock().pr.labels.clone())
    }
    async fn comments(&self, _item: &ItemRef) -> Result<Vec<BotComment>, ForgeError> {
        Ok(self.lock().comments.clone())
    }
    async fn reviews(&self, _item: &ItemRef) -> Result<Vec<Review>, ForgeError> {
        Ok(self.lock().reviews.clone())
    }
    async fn bot_login(&self) -> Result<Login, ForgeError> {
        Ok(self.bot.clone())
    }
    async fn pull_request(&self, _item: &ItemRef) -> Result<PullRequestInfo, ForgeError> {
        Ok(self.lock().pr.clone())
    }
    async fn changed_files(&self, _item: &ItemRef) -> Result<Vec<ChangedFile>, ForgeError> {
        Ok(self.lock().changed_files.clone())
    }
    async fn file_content(
        &self,
        _repo: &RepoPath,
        path: &str,
        git_ref: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        let s = self.lock();
        Ok(s.files_at(git_ref).get(path).cloned())
    }
    async fn tree(&self, _repo: &RepoPath, git_ref: &str) -> Result<Tree, ForgeError> {
        let s = self.lock();
        let mut dirs = std::collections::BTreeSet::new();
        let mut entries = Vec::new();
        for (path, content) in s.files_at(git_ref) {
            let mut parent = path.as_str();
            while let Some((dir, _)) = parent.rsplit_once('/') {
                dirs.insert(dir.to_string());
                parent = dir;
            }
            entries.push(TreeEntry {
                path: path.clone(),
                kind: TreeEntryKind::Blob,
                sha: memory_blob_sha(content),
            });
        }
        entries.extend(dirs.into_iter().map(|d| TreeEntry {
            sha: format!("tree-{d}"),
            path: d,
            kind: TreeEntryKind::Tree,
        }));
        Ok(Tree {
            sha: format!("tree-at-{git_ref}"),
            entries,
            truncated: false,
        })
    }
    /// A diff of two snapshots in [`MemoryState::commits`]; a removed and an added path with
    /// the same content are a rename, as git finds them.
    async fn commits_behind(
        &self,
        _repo: &RepoPath,
        _base_ref: &str,
        _head_sha: &str,
    ) -> Result<u64, ForgeError> {
        Ok(self.lock().behind)
    }
    async fn compare(
        &self,
        _repo: &RepoPath,
        from: &str,
        to: &str,
    ) -> Result<crate::CommitDiff, ForgeError> {
        let s = self.lock();
        let (Some(old), Some(new)) = (s.commits.get(from), s.commits.get(to)) else {
            return Err(ForgeError::NotFound(format!("compare {from}...{to}")));
        };
        let mut files = snapshot_diff(old, new);
        if s.compare_without_shas {
            for f in &mut files {
                f.sha = None;
            }
        }
        Ok(crate::CommitDiff {
            files,
            complete: !s.compare_incomplete,
        })
    }
    async fn commit_tree_sha(&self, _repo: &RepoPath, sha: &str) -> Result<String, ForgeError> {
        self.lock()
            .commit_trees
            .get(sha)
            .cloned()
            .ok_or_else(|| ForgeError::NotFound(format!("commit {sha}")))
    }
    async fn repo_labels(&self, _repo: &RepoPath) -> Result<Vec<String>, ForgeError> {
        Ok(self.lock().repo_labels.clone())
    }
    async fn milestones(
        &self,
        _repo: &RepoPath,
    ) -> Result<Vec<crate::forge::Milestone>, ForgeError> {
        Ok(self.lock().milestones.clone())
    }
    async fn repo_exists(&self, repo: &RepoPath) -> Result<bool, ForgeError> {
        Ok(repo.as_str() == "org/repo" || self.lock().other_repos.contains(repo.as_str()))
    }
    async fn is_collaborator(&self, _repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        Ok(self.lock().collaborators.contains(user))
    }
    async fn is_org_member(&self, _org: &str, user: &Login) -> Result<bool, ForgeError> {
        Ok(self.lock().org_members.contains(user))
    }
    async fn can_be_assigned(&self, _repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        let state = self.lock();
        Ok(state.assignable.contains(user)
            || state.collaborators.contains(user)
            || state.org_members.contains(user))
    }
    async fn is_team_member(
        &self,
        _org: &str,
        team: &str,
        user: &Login,
    ) -> Result<bool, ForgeError> {
        Ok(self
            .lock()
            .teams
            .get(team)
            .is_some_and(|t| t.contains(user)))
    }
    async fn pull_requests_by(
        &self,
        _repo: &RepoPath,
        author: &Login,
        limit: u8,
    ) -> Result<Vec<u64>, ForgeError> {
        let state = self.lock();
        let mut out = Vec::new();
        if state.pr.author == *author {
            out.push(pr_ref().number);
        }
        if let Some(earlier) = state.earlier_prs.get(&author.as_str().to_ascii_lowercase()) {
            out.extend(earlier);
        }
        out.truncate(limit as usize);
        Ok(out)
    }
    async fn open_pull_requests(
        &self,
        _repo: &RepoPath,
    ) -> Result<Vec<(u64, PullRequestInfo)>, ForgeError> {
        let state = self.lock();
        Ok(vec![(pr_ref().number, state.pr.clone())])
    }
    async fn is_repo_admin(&self, _repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        Ok(self.lock().admins.contains(user))
    }
    async fn ci_contexts(
        &self,
        _item: &ItemRef,
        sha: &str,
    ) -> Result<Vec<crate::CiContext>, ForgeError> {
        let state = self.lock();
        Ok(if state.pr.head_sha == sha {
            state.forge_ci.clone()
        } else {
            Vec::new()
        })
    }
    async fn pr_commits(&self, _item: &ItemRef) -> Result<Vec<PrCommit>, ForgeError> {
        Ok(self.lock().pr_commits.clone())
    }
}

/// A stable stand-in for a content hash.
impl MemoryState {
    /// The files at `git_ref`: its snapshot in `commits`, else `files`.
    fn files_at(&self, git_ref: &str) -> &BTreeMap<String, Vec<u8>> {
        self.commits.get(git_ref).unwrap_or(&self.files)
    }
}

/// The blob SHA the in-memory forge gives `content` in trees and compares.
fn memory_blob_sha(content: &[u8]) -> String {
    format!("blob-{}", fingerprint(content))
}

/// What changed from `old` to `new`, with renames paired by equal content.
fn snapshot_diff(
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
) -> Vec<crate::DiffEntry> {
    use crate::{DiffEntry, DiffStatus};
    let mut removed: Vec<&String> = old.keys().filter(|p| !new.contains_key(*p)).collect();
    let mut files = Vec::new();
    for (path, content) in new {
        let sha = Some(memory_blob_sha(content));
        match old.get(path) {
            Some(before) if before == content => {}
            Some(_) => files.push(DiffEntry {
                path: path.clone(),
                previous_path: None,
                status: DiffStatus::Modified,
                sha,
            }),
            None => {
                let from = removed.iter().position(|p| old.get(*p) == Some(content));
                let previous_path = from.map(|i| removed.remove(i).clone());
                let status = if previous_path.is_some() {
                    DiffStatus::Renamed
                } else {
                    DiffStatus::Added
                };
                files.push(DiffEntry {
                    path: path.clone(),
                    previous_path,
                    status,
                    sha,
                });
            }
        }
    }
    files.extend(removed.into_iter().map(|p| DiffEntry {
        path: p.clone(),
        previous_path: None,
        status: DiffStatus::Removed,
        sha: None,
    }));
    files
}

fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[async_trait]
impl Forge for MemoryForge {
    async fn add_labels(&self, _item: &ItemRef, labels: &[String]) -> Result<(), ForgeError> {
        let mut s = self.lock();
        for l in labels {
            if !has(&s.pr.labels, l) {
                s.pr.labels.push(l.clone());
            }
        }
        Ok(())
    }
    async fn remove_label(&self, _item: &ItemRef, label: &str) -> Result<(), ForgeError> {
        self.lock()
            .pr
            .labels
            .retain(|l| !l.eq_ignore_ascii_case(label));
        Ok(())
    }
    async fn create_label(
        &self,
        _repo: &RepoPath,
        name: &str,
        _color: &str,
    ) -> Result<(), ForgeError> {
        let mut s = self.lock();
        if !has(&s.repo_labels, name) {
            s.repo_labels.push(name.to_string());
        }
        Ok(())
    }
    async fn create_comment(&self, _item: &ItemRef, body: &str) -> Result<u64, ForgeError> {
        let mut s = self.lock();
        let id = s.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1;
        s.comments.push(BotComment {
            id,
            author: self.bot.clone(),
            body: body.to_string(),
            created_at: format!("2024-01-01T00:{:02}:{:02}Z", id / 60 % 60, id % 60),
        });
        Ok(id)
    }
    async fn edit_comment(&self, _item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let mut s = self.lock();
        let c = s
            .comments
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| ForgeError::NotFound(format!("comment {id}")))?;
        c.body = body.to_string();
        Ok(())
    }
    async fn delete_comment(&self, _item: &ItemRef, id: u64) -> Result<(), ForgeError> {
        self.lock().comments.retain(|c| c.id != id);
        Ok(())
    }
    async fn assign(&self, _item: &ItemRef, users: &[Login]) -> Result<Vec<Login>, ForgeError> {
        let mut s = self.lock();
        for u in users {
            if !s.pr.assignees.contains(u) && !s.dropped.contains(u) {
                s.pr.assignees.push(u.clone());
            }
        }
        Ok(crate::forge::missing_from(users, &s.pr.assignees))
    }
    async fn unassign(&self, _item: &ItemRef, users: &[Login]) -> Result<(), ForgeError> {
        self.lock().pr.assignees.retain(|a| !users.contains(a));
        Ok(())
    }
    async fn request_reviewers(
        &self,
        _item: &ItemRef,
        users: &[Login],
        _teams: &[String],
    ) -> Result<Vec<Login>, ForgeError> {
        let mut s = self.lock();
        for u in users {
            if !s.pr.requested_reviewers.contains(u) && !s.dropped.contains(u) {
                s.pr.requested_reviewers.push(u.clone());
            }
        }
        Ok(crate::forge::missing_from(users, &s.pr.requested_reviewers))
    }
    async fn unrequest_reviewers(
        &self,
        _item: &ItemRef,
        users: &[Login],
        _teams: &[String],
    ) -> Result<(), ForgeError> {
        self.lock()
            .pr
            .requested_reviewers
            .retain(|r| !users.contains(r));
        Ok(())
    }
    async fn set_title(&self, _item: &ItemRef, title: &str) -> Result<(), ForgeError> {
        self.lock().pr.title = title.to_string();
        Ok(())
    }
    async fn set_milestone(
        &self,
        _item: &ItemRef,
        milestone: Option<u64>,
    ) -> Result<(), ForgeError> {
        let mut state = self.lock();
        let title = match milestone {
            None => None,
            Some(id) => match state.milestones.iter().find(|m| m.id == id) {
                Some(m) => Some(m.title.clone()),
                None => return Err(ForgeError::Invalid(format!("no milestone {id}"))),
            },
        };
        state.pr.milestone = title;
        Ok(())
    }
    async fn close(
        &self,
        _item: &ItemRef,
        reason: Option<crate::forge::CloseReason>,
    ) -> Result<(), ForgeError> {
        let mut state = self.lock();
        state.pr.state = ItemState::Closed;
        state.close_reason = reason;
        Ok(())
    }
    async fn reopen(&self, _item: &ItemRef) -> Result<(), ForgeError> {
        self.lock().pr.state = ItemState::Open;
        Ok(())
    }
    async fn update_branch(&self, _item: &ItemRef, expected_head: &str) -> Result<(), ForgeError> {
        let mut s = self.lock();
        if expected_head != s.pr.head_sha {
            return Err(ForgeError::Conflict("Head branch was modified".into()));
        }
        s.branch_updates.push(expected_head.to_string());
        Ok(())
    }
    async fn merge(
        &self,
        _item: &ItemRef,
        method: MergeMethod,
        expected_head: Option<&str>,
        _commit: Option<&crate::CommitMessage>,
    ) -> Result<(), ForgeError> {
        let mut s = self.lock();
        if expected_head.is_some_and(|h| h != s.pr.head_sha) {
            return Err(ForgeError::Conflict("Head branch was modified".into()));
        }
        s.pr.state = ItemState::Merged;
        s.merged_with = Some(method);
        Ok(())
    }
    async fn set_status(
        &self,
        _repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        self.lock().statuses.push((sha.to_string(), status.clone()));
        Ok(())
    }
    async fn run_ci(
        &self,
        _item: &ItemRef,
        system: crate::CiSystem,
        run: &crate::CiRun,
    ) -> Result<(), ForgeError> {
        self.lock().ci_runs.push((system, run.clone()));
        Ok(())
    }
    async fn ci_started(
        &self,
        _item: &ItemRef,
        system: crate::CiSystem,
        run: &crate::CiRun,
    ) -> Result<bool, ForgeError> {
        Ok(self
            .lock()
            .ci_runs
            .iter()
            .any(|(s, r)| *s == system && r == run))
    }
    async fn transfer_issue(&self, item: &ItemRef, to: &RepoPath) -> Result<(), ForgeError> {
        self.lock().transfers.push((item.clone(), to.clone()));
        Ok(())
    }
}

/// A commit by `author <author@example.com>` with `message` and one parent.
pub fn commit(sha: &str, author: &str, message: &str) -> PrCommit {
    PrCommit {
        sha: sha.into(),
        message: message.into(),
        author_name: author.into(),
        author_email: format!("{author}@example.com"),
        author_login: Some(Login::new(author)),
        parents: 1,
    }
}

/// `org/repo#1` on GitHub.
pub fn pr_ref() -> ItemRef {
    ItemRef {
        forge: ForgeKind::GitHub,
        repo: RepoPath::parse("org/repo").expect("valid repo"),
        number: 1,
        kind: ItemKind::PullRequest,
    }
}

/// `org/repo#1` changed by `pr-author` (`action`), based on `base0` with head `head0`.
pub fn pr_event(action: PrAction) -> Event {
    let Event::Comment(c) = comment_on_pr("pr-author", "") else {
        unreachable!("comment_on_pr builds a comment")
    };
    Event::PullRequest(PullRequestEvent {
        pr: c.item,
        action,
        sender: Login::new("pr-author"),
        head_sha: "head0".into(),
        base_sha: Some("base0".into()),
        head_ref: "feature".into(),
        base_ref: "main".into(),
    })
}

/// A new comment by `author` on `org/repo#1`, a PR opened by `pr-author`.
pub fn comment_on_pr(author: &str, body: &str) -> Event {
    Event::Comment(CommentEvent {
        item: Item {
            reference: pr_ref(),
            author: Login::new("pr-author"),
            state: ItemState::Open,
            title: "A change".into(),
            labels: vec![],
            assignees: vec![],
            draft: false,
            html_url: "https://github.com/org/repo/pull/1".into(),
        },
        author: Login::new(author),
        body: body.into(),
        action: CommentAction::Created,
        source: CommentSource::Comment,
        review: None,
        html_url: "https://github.com/org/repo/pull/1#issuecomment-1".into(),
    })
}
