//! The fake forge's state: one world that both the GitHub and the GitLab API read and change.
//!
//! Tests seed it and assert on it; the HTTP handlers only translate between it and the wire
//! shapes. Timestamps come from a fake clock that ticks one second per event, so responses are
//! reproducible.

use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ItemState};
use chrono::{DateTime, TimeZone, Utc};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

/// GitLab's access levels, also used for GitHub collaborators, org members and team members
/// (any level counts as a collaborator/member there; 40 and up is a team `maintainer`).
pub mod access {
    /// Guest.
    pub const GUEST: u32 = 10;
    /// Reporter.
    pub const REPORTER: u32 = 20;
    /// Developer: the least a GitLab project member needs to count as a collaborator.
    pub const DEVELOPER: u32 = 30;
    /// Maintainer.
    pub const MAINTAINER: u32 = 40;
    /// Owner.
    pub const OWNER: u32 = 50;
}

/// Everything the fake knows, for both forges.
#[derive(Debug, Clone)]
pub struct World {
    /// The GitHub side.
    pub github: Site,
    /// The GitLab side.
    pub gitlab: Site,
    /// Numeric ids of users by login, shared by both sites so ids are stable.
    users: BTreeMap<String, u64>,
    next_id: u64,
    clock: DateTime<Utc>,
}

/// One forge's repositories and the account bosun acts as there.
#[derive(Debug, Clone)]
pub struct Site {
    /// The login `GET /user` answers with and that authors the bot's comments.
    pub bot: String,
    /// Repositories (GitHub) or projects (GitLab), in creation order.
    pub repos: Vec<Repo>,
    /// Organizations and teams (GitHub: `org`, `org/team-slug`) or groups and subgroups
    /// (GitLab: `group`, `group/sub`): full path → member login → access level. On GitLab a
    /// member of a group is also a member of its subgroups and projects (`members/all`).
    pub groups: BTreeMap<String, BTreeMap<String, u32>>,
    /// The GitHub App bosun may authenticate as (GitHub only).
    pub app: Option<GitHubApp>,
}

/// A GitHub App: who it is, where it is installed, and the installation tokens minted so far.
#[derive(Debug, Clone)]
pub struct GitHubApp {
    /// The App id: JWTs must carry it as `iss`.
    pub id: u64,
    /// The slug; the App acts as `{slug}[bot]`.
    pub slug: String,
    /// The PEM public key JWT signatures are verified with.
    pub public_key_pem: String,
    /// Installations: owner (org or user, lower case) → installation id.
    pub installations: BTreeMap<String, u64>,
    /// How long minted installation tokens live (GitHub: one hour).
    pub token_ttl: std::time::Duration,
    /// Every installation token minted, oldest first.
    pub tokens: Vec<InstallationToken>,
}

/// An installation access token the fake minted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationToken {
    /// The token (`ghs_…`).
    pub token: String,
    /// The installation it acts for.
    pub installation: u64,
    /// When it stops being accepted (real time: clients compare it with their clock).
    pub expires_at: SystemTime,
}

/// A repository or project.
#[derive(Debug, Clone)]
pub struct Repo {
    /// The numeric id (GitLab accepts it in place of the encoded path).
    pub id: u64,
    /// `org/repo` or `group/sub/project`.
    pub path: String,
    /// The repository's label definitions; adding an unknown label to an item creates one.
    pub labels: Vec<RepoLabel>,
    /// PRs/MRs and issues.
    pub items: Vec<Item>,
    /// GitHub collaborators (any level counts) or GitLab direct project members: login →
    /// access level (see [`access`]).
    pub members: BTreeMap<String, u32>,
    /// GitHub: users GitHub would assign although they are neither collaborators nor org
    /// members (lower case); collaborators and org members are always assignable.
    pub assignable: BTreeSet<String>,
    /// Users the forge silently leaves out when assigning them or requesting their review,
    /// although every read (`GET assignees/{user}`, membership) says it would take them: a
    /// race with a permission change, a cap reached meanwhile (lower case).
    pub dropped_at_write: BTreeSet<String>,
    /// Commits by SHA: each is a full snapshot of the repository's files.
    pub commits: BTreeMap<String, Commit>,
    /// Branches and tags → commit SHA.
    pub refs: BTreeMap<String, String>,
    /// Commit statuses in the order they were set (the latest per context is current).
    pub statuses: Vec<Status>,
    /// Workflow runs, check runs and pipelines, oldest first.
    pub ci_runs: Vec<crate::ci::CiRun>,
    /// The repository's milestones, in the order they were created.
    pub milestones: Vec<Milestone>,
}

/// A milestone of one repository/project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    /// The global id (what GitLab's `milestone_id` names).
    pub id: u64,
    /// The per-repository number (what GitHub's `milestone` field names; GitLab's `iid`).
    pub number: u64,
    /// The title commands name it by.
    pub title: String,
    /// Closed milestones are left out of the default listing, as on both forges.
    pub open: bool,
}

/// A commit: the files of the repository at that point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Path → contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The commit it was made on (`None`: a root commit), so compares know ancestry.
    pub parent: Option<String>,
}

/// One file that differs between two snapshots, as a compare lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    /// The path in the newer snapshot (the old path for a removed file).
    pub path: String,
    /// A renamed file's old path.
    pub previous_path: Option<String>,
    /// `added`, `removed`, `modified` or `renamed` (GitHub's words).
    pub status: &'static str,
    /// The blob SHA: the new content's, or the removed content's.
    pub sha: String,
}

/// What changed from `old` to `new`. A removed and an added path with the same content are
/// a rename, as git's exact rename detection finds them.
pub fn diff_snapshots(
    old: &BTreeMap<String, Vec<u8>>,
    new: &BTreeMap<String, Vec<u8>>,
) -> Vec<FileDiff> {
    let mut removed: Vec<&String> = old.keys().filter(|p| !new.contains_key(*p)).collect();
    let mut out = Vec::new();
    for (path, content) in new {
        let (status, previous_path) = match old.get(path) {
            Some(before) if before == content => continue,
            Some(_) => ("modified", None),
            None => match removed.iter().position(|p| old.get(*p) == Some(content)) {
                Some(i) => ("renamed", Some(removed.remove(i).clone())),
                None => ("added", None),
            },
        };
        out.push(FileDiff {
            path: path.clone(),
            previous_path,
            status,
            sha: blob_sha(content),
        });
    }
    for path in removed {
        out.push(FileDiff {
            path: path.clone(),
            previous_path: None,
            status: "removed",
            sha: old.get(path).map(|c| blob_sha(c)).unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// One entry of a tree listing, with content-derived SHAs: equal content, equal SHA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// The full path.
    pub path: String,
    /// `blob` or `tree`.
    pub kind: &'static str,
    /// The blob or tree SHA.
    pub sha: String,
    /// `100644` or `040000`.
    pub mode: &'static str,
    /// A blob's size in bytes.
    pub size: Option<usize>,
}

/// A commit status as set through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The commit.
    pub sha: String,
    /// The state as the forge spells it (`success`, `failure`, `failed`, …).
    pub state: String,
    /// GitHub's `context` or GitLab's `name`.
    pub context: String,
    /// The description, if any.
    pub description: Option<String>,
    /// The link, if any.
    pub target_url: Option<String>,
}

/// One file a pull request changes, as the fake reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedFile {
    /// The path after the change.
    pub path: String,
    /// The path before a rename.
    pub previous_path: Option<String>,
    /// Lines added.
    pub additions: u64,
    /// Lines removed.
    pub deletions: u64,
}

/// A label defined on a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLabel {
    /// The label's numeric id.
    pub id: u64,
    /// The label's name, as first defined.
    pub name: String,
    /// Six hex digits, no `#`.
    pub color: String,
    /// An optional description.
    pub description: Option<String>,
}

/// A pull/merge request or an issue.
#[derive(Debug, Clone)]
pub struct Item {
    /// The global id (distinct from the number).
    pub id: u64,
    /// The GitHub number or GitLab iid.
    pub number: u64,
    /// Pull/merge request or issue.
    pub kind: ItemKind,
    /// The login of whoever opened it.
    pub author: String,
    /// The title.
    pub title: String,
    /// The description.
    pub body: String,
    /// Open, closed or merged.
    pub state: ItemState,
    /// GitHub's `state_reason` of the last close (`completed`, `not_planned`), or of a
    /// reopen (`reopened`); GitLab records none.
    pub state_reason: Option<String>,
    /// Label names, in the order they were added.
    pub labels: Vec<String>,
    /// Comments/notes, oldest first.
    pub comments: Vec<Comment>,
    /// When it was opened (fake clock).
    pub created_at: DateTime<Utc>,
    /// Assignee logins, in the order they were added.
    pub assignees: Vec<String>,
    /// Users asked for a review (PRs only).
    pub requested_reviewers: Vec<String>,
    /// Team slugs asked for a review (GitHub PRs only).
    pub requested_teams: Vec<String>,
    /// A draft PR/MR.
    pub draft: bool,
    /// The PR's head commit SHA.
    pub head_sha: String,
    /// The PR's base commit SHA.
    pub base_sha: String,
    /// The source branch.
    pub head_ref: String,
    /// The target branch.
    pub base_ref: String,
    /// Whether a merge would succeed (false: the forge refuses as not mergeable).
    pub mergeable: bool,
    /// GitLab: approvals the project's rules still require (`detailed_merge_status`
    /// `not_approved` while above 0; the merge API refuses).
    pub approvals_left: u32,
    /// How it was merged (`merge`, `squash`, `rebase`), once merged through the API.
    pub merged_with: Option<String>,
    /// GitLab: set to merge when its pipeline succeeds (the pipeline was still running).
    pub auto_merge: bool,
    /// The files a PR changes.
    pub changed_files: Vec<ChangedFile>,
    /// Submitted reviews, oldest first (GitLab reports the latest `APPROVED` per user as its
    /// current approvals).
    pub reviews: Vec<Review>,
    /// The PR's commits, oldest first, as its commit lists report them (tests seed them; they
    /// need not exist in the repository's snapshots).
    pub commits: Vec<PrCommit>,
    /// The global id of the milestone it belongs to.
    pub milestone: Option<u64>,
    /// GitLab: the global id of the issue this one was moved to (it stays, closed).
    pub moved_to: Option<u64>,
}

/// One commit of a PR, as the forge's PR commit lists describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCommit {
    /// The commit SHA.
    pub sha: String,
    /// The whole message.
    pub message: String,
    /// The git author's name.
    pub author_name: String,
    /// The git author's email.
    pub author_email: String,
    /// The account GitHub matched the email to (GitLab's lists name none).
    pub author_login: Option<String>,
    /// Parent SHAs: two or more make a merge commit.
    pub parents: Vec<String>,
}

impl PrCommit {
    /// A one-parent commit by `login <login@example.com>` with `message`; its SHA is derived
    /// from the message, so the same message gives the same SHA.
    pub fn new(login: &str, message: &str) -> PrCommit {
        PrCommit {
            sha: hash_hex(&[b"pr-commit", login.as_bytes(), message.as_bytes()]),
            message: message.to_string(),
            author_name: login.to_string(),
            author_email: format!("{login}@example.com"),
            author_login: Some(login.to_string()),
            parents: vec![hash_hex(&[b"parent", message.as_bytes()])],
        }
    }

    /// The same commit as a merge of two parents.
    pub fn merge(mut self) -> PrCommit {
        self.parents
            .push(hash_hex(&[b"second-parent", self.sha.as_bytes()]));
        self
    }
}

/// A submitted review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The review's id.
    pub id: u64,
    /// Who reviewed.
    pub author: String,
    /// GitHub's state: `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED`.
    pub state: String,
    /// The review body.
    pub body: String,
    /// When it was submitted (fake clock).
    pub submitted_at: DateTime<Utc>,
}

/// A comment (GitHub) or note (GitLab).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The comment/note id, unique in the world.
    pub id: u64,
    /// The login that wrote it.
    pub author: String,
    /// The text.
    pub body: String,
    /// GitLab system notes ("added ~lgtm label"); GitHub has none.
    pub system: bool,
    /// When it was written (fake clock).
    pub created_at: DateTime<Utc>,
    /// When it was last edited (fake clock).
    pub updated_at: DateTime<Utc>,
}

impl Default for World {
    fn default() -> Self {
        World {
            github: Site::new("bosun-bot"),
            gitlab: Site::new("bosun-bot"),
            users: BTreeMap::new(),
            next_id: 1000,
            clock: Utc
                .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
        }
    }
}

impl World {
    /// The side of the world for one forge.
    pub fn site(&self, kind: ForgeKind) -> &Site {
        match kind {
            ForgeKind::GitHub => &self.github,
            ForgeKind::GitLab => &self.gitlab,
        }
    }

    /// The side of the world for one forge, to change.
    pub fn site_mut(&mut self, kind: ForgeKind) -> &mut Site {
        match kind {
            ForgeKind::GitHub => &mut self.github,
            ForgeKind::GitLab => &mut self.gitlab,
        }
    }

    /// A fresh id, unique across everything in this world.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The fake clock: one second later on every call.
    pub fn tick(&mut self) -> DateTime<Utc> {
        self.clock += chrono::Duration::seconds(1);
        self.clock
    }

    /// The numeric id of a user, assigned on first sight.
    pub fn user_id(&mut self, login: &str) -> u64 {
        if let Some(id) = self.users.get(login) {
            return *id;
        }
        let id = self.next_id();
        self.users.insert(login.to_string(), id);
        id
    }

    /// The id of a user the world has seen, without creating one (GitLab's user search).
    pub fn known_user(&self, login: &str) -> Option<u64> {
        self.users
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(login))
            .map(|(_, id)| *id)
    }

    /// The login of a user id, if the world knows it.
    pub fn login_of(&self, id: u64) -> Option<String> {
        self.users
            .iter()
            .find(|(_, i)| **i == id)
            .map(|(l, _)| l.clone())
    }

    /// Stores a commit with these files and returns its SHA (the same files twice give two
    /// commits with different SHAs but the same tree).
    pub fn add_commit(
        &mut self,
        kind: ForgeKind,
        repo: &str,
        files: BTreeMap<String, Vec<u8>>,
    ) -> String {
        self.add_child_commit(kind, repo, None, files)
    }

    /// Stores a commit made on `parent` (a branch moving forward) and returns its SHA.
    pub fn add_child_commit(
        &mut self,
        kind: ForgeKind,
        repo: &str,
        parent: Option<&str>,
        files: BTreeMap<String, Vec<u8>>,
    ) -> String {
        let serial = self.next_id();
        let tree = tree_sha(&files);
        let sha = hash_hex(&[b"commit", serial.to_string().as_bytes(), tree.as_bytes()]);
        let parent = parent.map(str::to_string);
        self.ensure_repo(kind, repo)
            .commits
            .insert(sha.clone(), Commit { files, parent });
        sha
    }

    /// A PR merged: its base branch, when modelled in `refs`, moves forward by one commit that
    /// carries the head's files (or the base's, when the head is not modelled).
    pub fn land_on_base(&mut self, kind: ForgeKind, repo: &str, idx: usize) {
        let Some(r) = self.site(kind).repo(repo) else {
            return;
        };
        let Some(item) = r.items.get(idx) else {
            return;
        };
        let Some(tip) = r.refs.get(&item.base_ref).cloned() else {
            return;
        };
        let files = r
            .commits
            .get(&item.head_sha)
            .or_else(|| r.commits.get(&tip))
            .map(|c| c.files.clone())
            .unwrap_or_default();
        let base_ref = item.base_ref.clone();
        let sha = self.add_child_commit(kind, repo, Some(&tip), files);
        if let Some(r) = self.site_mut(kind).repo_mut(repo) {
            r.refs.insert(base_ref, sha);
        }
    }

    /// A PR brought up to date with its base (GitHub's update-branch, GitLab's rebase): its
    /// head becomes a new commit on its base's tip. Returns the new head.
    pub fn update_from_base(&mut self, kind: ForgeKind, repo: &str, idx: usize) -> Option<String> {
        let r = self.site(kind).repo(repo)?;
        let item = r.items.get(idx)?;
        let tip = r.refs.get(&item.base_ref).cloned();
        let files = r
            .commits
            .get(&item.head_sha)
            .or_else(|| tip.as_ref().and_then(|t| r.commits.get(t)))
            .map(|c| c.files.clone())
            .unwrap_or_default();
        let sha = self.add_child_commit(kind, repo, tip.as_deref(), files);
        let item = self.site_mut(kind).repo_mut(repo)?.items.get_mut(idx)?;
        item.head_sha = sha.clone();
        Some(sha)
    }

    /// Creates the repository if it does not exist yet.
    pub fn ensure_repo(&mut self, kind: ForgeKind, path: &str) -> &mut Repo {
        let id = self.next_id();
        let site = self.site_mut(kind);
        let idx = match site.repos.iter().position(|r| r.path == path) {
            Some(i) => i,
            None => {
                site.repos.push(Repo {
                    id,
                    path: path.to_string(),
                    labels: Vec::new(),
                    items: Vec::new(),
                    members: BTreeMap::new(),
                    assignable: BTreeSet::new(),
                    dropped_at_write: BTreeSet::new(),
                    commits: BTreeMap::new(),
                    refs: BTreeMap::new(),
                    statuses: Vec::new(),
                    ci_runs: Vec::new(),
                    milestones: Vec::new(),
                });
                site.repos.len() - 1
            }
        };
        &mut site.repos[idx]
    }

    /// Adds a PR/MR or issue; panics if the item exists, since that is a mistake in the test.
    pub fn seed_item(&mut self, item: &ItemRef, author: &str) {
        let id = self.next_id();
        let created_at = self.tick();
        self.user_id(author);
        let github = item.forge == ForgeKind::GitHub;
        let repo = self.ensure_repo(item.forge, item.repo.as_str());
        let kind = (!github).then_some(item.kind);
        assert!(
            repo.item(kind, item.number).is_none(),
            "fake forge: {item} is already seeded"
        );
        let title = match item.kind {
            ItemKind::PullRequest => format!("Pull request {}", item.number),
            ItemKind::Issue => format!("Issue {}", item.number),
        };
        repo.items.push(Item {
            id,
            number: item.number,
            kind: item.kind,
            author: author.to_string(),
            title,
            body: String::new(),
            state: ItemState::Open,
            state_reason: None,
            labels: Vec::new(),
            comments: Vec::new(),
            created_at,
            assignees: Vec::new(),
            requested_reviewers: Vec::new(),
            requested_teams: Vec::new(),
            draft: false,
            head_sha: hash_hex(&[b"head", id.to_string().as_bytes()]),
            base_sha: hash_hex(&[b"base", id.to_string().as_bytes()]),
            head_ref: format!("feature-{}", item.number),
            base_ref: "main".to_string(),
            mergeable: true,
            approvals_left: 0,
            merged_with: None,
            auto_merge: false,
            changed_files: Vec::new(),
            reviews: Vec::new(),
            commits: Vec::new(),
            milestone: None,
            moved_to: None,
        });
    }

    /// Adds an open milestone to a repository (created if needed) and returns its global id.
    pub fn seed_milestone(&mut self, kind: ForgeKind, repo: &str, title: &str) -> u64 {
        let id = self.next_id();
        let repo = self.ensure_repo(kind, repo);
        let number = repo.milestones.len() as u64 + 1;
        repo.milestones.push(Milestone {
            id,
            number,
            title: title.to_string(),
            open: true,
        });
        id
    }

    /// The title of the milestone an item belongs to, if any.
    pub fn milestone_of(&self, item: &ItemRef) -> Option<String> {
        let id = self.item(item)?.milestone?;
        self.site(item.forge)
            .repo(item.repo.as_str())?
            .milestones
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.title.clone())
    }

    /// The item a reference names, if seeded.
    pub fn item(&self, item: &ItemRef) -> Option<&Item> {
        let kind = (item.forge == ForgeKind::GitLab).then_some(item.kind);
        self.site(item.forge)
            .repo(item.repo.as_str())?
            .item(kind, item.number)
    }

    /// The item a reference names, to change; panics if it was never seeded.
    #[track_caller]
    pub fn item_mut(&mut self, item: &ItemRef) -> &mut Item {
        let kind = (item.forge == ForgeKind::GitLab).then_some(item.kind);
        self.site_mut(item.forge)
            .repo_mut(item.repo.as_str())
            .and_then(|r| r.item_mut(kind, item.number))
            .unwrap_or_else(|| panic!("fake forge: {item} was never seeded"))
    }

    /// Where an item sits in its repository; panics if it was never seeded.
    #[track_caller]
    fn locate(&self, item: &ItemRef) -> usize {
        let kind = (item.forge == ForgeKind::GitLab).then_some(item.kind);
        self.site(item.forge)
            .repo(item.repo.as_str())
            .and_then(|r| r.item_index(kind, item.number))
            .unwrap_or_else(|| panic!("fake forge: {item} was never seeded"))
    }

    /// Replaces an item's labels; panics if it was never seeded.
    #[track_caller]
    pub fn set_labels(&mut self, item: &ItemRef, names: &[String]) {
        self.item_mut(item).labels.clear();
        let idx = self.locate(item);
        self.add_labels(item.forge, item.repo.as_str(), idx, names);
    }

    /// Adds a comment by `author` and returns its id; panics if the item was never seeded.
    #[track_caller]
    /// Adds a submitted review; on GitLab `APPROVED` is a native approval and any other state
    /// from the same user withdraws it.
    pub fn add_review(&mut self, item: &ItemRef, author: &str, state: &str, body: &str) -> u64 {
        let id = self.next_id();
        let submitted_at = self.tick();
        self.user_id(author);
        self.item_mut(item).reviews.push(Review {
            id,
            author: author.to_string(),
            state: state.to_string(),
            body: body.to_string(),
            submitted_at,
        });
        id
    }

    pub fn seed_comment(&mut self, item: &ItemRef, author: &str, body: &str) -> u64 {
        let idx = self.locate(item);
        self.add_comment(item.forge, item.repo.as_str(), idx, author, body)
            .unwrap_or_else(|| panic!("fake forge: {item} was never seeded"))
    }

    /// Adds labels to an item (creating repository labels as needed), keeping existing ones.
    pub fn add_labels(&mut self, forge: ForgeKind, repo: &str, idx: usize, names: &[String]) {
        for name in names {
            let id = self.next_id();
            let Some(repo) = self.site_mut(forge).repo_mut(repo) else {
                return;
            };
            let canonical = repo.ensure_label(id, name);
            let item = &mut repo.items[idx];
            if !item
                .labels
                .iter()
                .any(|l| l.eq_ignore_ascii_case(&canonical))
            {
                item.labels.push(canonical);
            }
        }
    }

    /// Adds a comment/note and returns its id.
    pub fn add_comment(
        &mut self,
        forge: ForgeKind,
        repo: &str,
        idx: usize,
        author: &str,
        body: &str,
    ) -> Option<u64> {
        let id = self.next_id();
        let now = self.tick();
        self.user_id(author);
        let item = self.site_mut(forge).repo_mut(repo)?.items.get_mut(idx)?;
        item.comments.push(Comment {
            id,
            author: author.to_string(),
            body: body.to_string(),
            system: false,
            created_at: now,
            updated_at: now,
        });
        Some(id)
    }
}

impl Site {
    fn new(bot: &str) -> Self {
        Site {
            bot: bot.to_string(),
            repos: Vec::new(),
            groups: BTreeMap::new(),
            app: None,
        }
    }

    /// A member's access level in a group or team, counting (on GitLab) memberships
    /// inherited from parent groups: the highest level wins.
    pub fn group_level(&self, path: &str, login: &str, inherited: bool) -> Option<u32> {
        let mut best = None;
        let mut scope = Some(path);
        while let Some(p) = scope {
            let level = self.groups.get(p).and_then(|members| {
                members
                    .iter()
                    .find(|(l, _)| l.eq_ignore_ascii_case(login))
                    .map(|(_, level)| *level)
            });
            best = best.max(level);
            scope = if inherited {
                p.rsplit_once('/').map(|(parent, _)| parent)
            } else {
                None
            };
        }
        best
    }

    /// A repository by its path.
    pub fn repo(&self, path: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.path == path)
    }

    /// A repository by its path, to change.
    pub fn repo_mut(&mut self, path: &str) -> Option<&mut Repo> {
        self.repos.iter_mut().find(|r| r.path == path)
    }
}

impl Repo {
    /// An item by number; `kind: None` matches either kind (GitHub numbers are shared).
    pub fn item(&self, kind: Option<ItemKind>, number: u64) -> Option<&Item> {
        self.item_index(kind, number).map(|i| &self.items[i])
    }

    /// An item by number, to change.
    pub fn item_mut(&mut self, kind: Option<ItemKind>, number: u64) -> Option<&mut Item> {
        self.item_index(kind, number).map(|i| &mut self.items[i])
    }

    /// The index of an item, for handlers that need the world mutably afterwards. Items seeded
    /// in number order from 1 sit at `number - 1`, which is looked at first: the flow benchmark
    /// seeds tens of thousands, and a scan per request made the harness slower with every PR.
    pub fn item_index(&self, kind: Option<ItemKind>, number: u64) -> Option<usize> {
        let matches = |i: &Item| i.number == number && kind.is_none_or(|k| k == i.kind);
        let guess = usize::try_from(number).ok().and_then(|n| n.checked_sub(1));
        guess
            .filter(|&g| self.items.get(g).is_some_and(matches))
            .or_else(|| self.items.iter().position(matches))
    }

    /// The label definition with this name (case-insensitive, as on GitHub).
    pub fn label(&self, name: &str) -> Option<&RepoLabel> {
        self.labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }

    /// `sha` and its ancestors, nearest first.
    pub fn ancestry(&self, sha: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut at = Some(sha.to_string());
        while let Some(sha) = at {
            if out.contains(&sha) {
                break;
            }
            at = self.commits.get(&sha).and_then(|c| c.parent.clone());
            out.push(sha);
        }
        out
    }

    /// The commits `to` has that `from` lacks, nearest first (`to`'s ancestry down to their
    /// merge base).
    pub fn commits_between(&self, from: &str, to: &str) -> Vec<String> {
        let of_from = self.ancestry(from);
        self.ancestry(to)
            .into_iter()
            .take_while(|c| !of_from.contains(c))
            .collect()
    }

    /// The nearest commit both `a` and `b` descend from, if any.
    pub fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let of_a = self.ancestry(a);
        self.ancestry(b).into_iter().find(|c| of_a.contains(c))
    }

    /// A branch, tag or commit SHA resolved to a commit SHA.
    pub fn resolve(&self, git_ref: &str) -> Option<String> {
        if self.commits.contains_key(git_ref) {
            return Some(git_ref.to_string());
        }
        // `HEAD` is the default branch, `main` here, as both forges resolve it.
        if git_ref == "HEAD" {
            return self.refs.get("main").cloned();
        }
        let name = git_ref
            .strip_prefix("refs/heads/")
            .or_else(|| git_ref.strip_prefix("refs/tags/"))
            .unwrap_or(git_ref);
        self.refs.get(name).cloned()
    }

    /// The files at a ref, if the ref resolves.
    pub fn files_at(&self, git_ref: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        let sha = self.resolve(git_ref)?;
        self.commits.get(&sha).map(|c| &c.files)
    }

    /// A member's access level on the repository; on GitLab (`inherited`) memberships of
    /// the groups above the project count too.
    pub fn member_level(&self, site: &Site, login: &str, inherited: bool) -> Option<u32> {
        let direct = self
            .members
            .iter()
            .find(|(l, _)| l.eq_ignore_ascii_case(login))
            .map(|(_, level)| *level);
        let from_groups = if inherited {
            self.path
                .rsplit_once('/')
                .and_then(|(ns, _)| site.group_level(ns, login, true))
        } else {
            None
        };
        direct.max(from_groups)
    }

    /// GitHub's assignability: a collaborator, an org member, or a user marked assignable.
    pub fn can_be_assigned(&self, site: &Site, login: &str) -> bool {
        self.member_level(site, login, true).is_some()
            || self.assignable.contains(&login.to_ascii_lowercase())
    }

    /// Whether an assign or review request leaves `login` out although reads accept them.
    pub fn drops_at_write(&self, login: &str) -> bool {
        self.dropped_at_write.contains(&login.to_ascii_lowercase())
    }

    /// Defines a label unless one with that name exists; returns the name as defined.
    pub fn ensure_label(&mut self, id: u64, name: &str) -> String {
        if let Some(l) = self.label(name) {
            return l.name.clone();
        }
        self.labels.push(RepoLabel {
            id,
            name: name.to_string(),
            color: "ededed".to_string(),
            description: None,
        });
        name.to_string()
    }
}

/// A 40-hex-digit content hash (SHA-256, cut to SHA-1's length so it looks like a git SHA).
pub fn hash_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update((p.len() as u64).to_be_bytes());
        hasher.update(p);
    }
    let digest = hasher.finalize();
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

/// The SHA of a blob with these contents.
pub fn blob_sha(content: &[u8]) -> String {
    hash_hex(&[b"blob", content])
}

/// Every entry of the tree these files form, sorted by path, and the root tree's SHA. Tree
/// SHAs hash their children's names, kinds and SHAs, so equal content gives equal SHAs at
/// every level, as in git.
pub fn tree_listing(files: &BTreeMap<String, Vec<u8>>) -> (String, Vec<TreeEntry>) {
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for path in files.keys() {
        let mut rest = path.as_str();
        while let Some((dir, _)) = rest.rsplit_once('/') {
            dirs.insert(dir.to_string());
            rest = dir;
        }
    }
    // Each directory's children (name → hashed line), filled as entries are made, so a large
    // repository is hashed in one pass rather than one scan of every entry per directory.
    let mut children: BTreeMap<Option<String>, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    fn add_child(
        children: &mut BTreeMap<Option<String>, BTreeMap<String, Vec<u8>>>,
        e: &TreeEntry,
    ) {
        let (parent, name) = match e.path.rsplit_once('/') {
            Some((p, n)) => (Some(p.to_string()), n),
            None => (None, e.path.as_str()),
        };
        children.entry(parent).or_default().insert(
            name.to_string(),
            format!("{} {} {}", e.kind, name, e.sha).into_bytes(),
        );
    }
    let mut entries: BTreeMap<String, TreeEntry> = BTreeMap::new();
    for (path, content) in files {
        let entry = TreeEntry {
            path: path.clone(),
            kind: "blob",
            sha: blob_sha(content),
            mode: "100644",
            size: Some(content.len()),
        };
        add_child(&mut children, &entry);
        entries.insert(path.clone(), entry);
    }
    // Deepest directories first, so every child's SHA is known when its parent is hashed.
    let mut by_depth: Vec<&String> = dirs.iter().collect();
    by_depth.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for dir in by_depth {
        let sha = lines_sha(children.get(&Some(dir.clone())));
        let entry = TreeEntry {
            path: dir.clone(),
            kind: "tree",
            sha,
            mode: "040000",
            size: None,
        };
        add_child(&mut children, &entry);
        entries.insert(dir.clone(), entry);
    }
    let root = lines_sha(children.get(&None));
    (root, entries.into_values().collect())
}

/// Hashes a directory's children lines in name order (the order of their full paths).
fn lines_sha(lines: Option<&BTreeMap<String, Vec<u8>>>) -> String {
    let mut parts: Vec<&[u8]> = vec![b"tree"];
    parts.extend(
        lines
            .into_iter()
            .flat_map(|l| l.values().map(Vec::as_slice)),
    );
    hash_hex(&parts)
}

/// The root tree SHA of these files.
pub fn tree_sha(files: &BTreeMap<String, Vec<u8>>) -> String {
    tree_listing(files).0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward definition: hash the entries whose parent is `dir`, in path order.
    fn reference_children_sha(entries: &BTreeMap<String, TreeEntry>, dir: Option<&str>) -> String {
        let mut parts: Vec<Vec<u8>> = vec![b"tree".to_vec()];
        for e in entries.values() {
            let parent = e.path.rsplit_once('/').map(|(p, _)| p);
            if parent == dir {
                let name = e.path.rsplit('/').next().unwrap_or(&e.path);
                parts.push(format!("{} {} {}", e.kind, name, e.sha).into_bytes());
            }
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        hash_hex(&refs)
    }

    #[test]
    fn tree_shas_hash_each_directorys_children_in_path_order() {
        let files: BTreeMap<String, Vec<u8>> = [
            ("README.md", "r"),
            ("a/OWNERS", "o"),
            ("a/b.c", "x"),
            ("a/b/c.go", "y"),
            ("a/b-c/d", "z"),
            ("a.b/e", "w"),
            ("z/y/x/w", "v"),
        ]
        .iter()
        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
        .collect();
        let (root, listing) = tree_listing(&files);
        let entries: BTreeMap<String, TreeEntry> = listing
            .iter()
            .map(|e| (e.path.clone(), e.clone()))
            .collect();
        assert_eq!(root, reference_children_sha(&entries, None));
        for e in listing.iter().filter(|e| e.kind == "tree") {
            assert_eq!(
                e.sha,
                reference_children_sha(&entries, Some(&e.path)),
                "{}",
                e.path
            );
        }
        assert_eq!(listing.iter().filter(|e| e.kind == "tree").count(), 7);
    }
}
