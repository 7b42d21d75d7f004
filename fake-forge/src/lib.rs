//! A fake GitHub and GitLab on `127.0.0.1:0`, for bosun's tests.
//!
//! Unlike a mock that answers canned responses, the fake keeps a [`World`] (repositories,
//! PRs/MRs, issues, labels, comments, the bot user) that its GitHub REST and GitLab v4 APIs read
//! and change, so tests assert on the resulting state ("the PR now has `lgtm`") rather than on
//! call counts. It also records every request it receives, and can be told to fail the next
//! requests on a path with a [`Fault`], to test error classification and retries, or to leave
//! a user out of assigns and review requests that every read accepts
//! ([`FakeForge::drop_at_write`]), to test how bosun reads a write's answer.
//!
//! The server runs on its own thread with its own runtime, so it works from any test, sync or
//! async, and stops when the [`FakeForge`] is dropped.
//!
//! Served (GitHub paths also under an `/api/v3` prefix, as on GitHub Enterprise):
//! - GitHub: `GET /user`; under `/repos/{o}/{r}`: `PATCH /issues/{n}`,
//!   `GET|POST /issues/{n}/labels`, `DELETE /issues/{n}/labels/{name}`,
//!   `GET|POST /issues/{n}/comments`, `GET|PATCH|DELETE /issues/comments/{id}`,
//!   `POST|DELETE /issues/{n}/assignees`, `GET /pulls/{n}`, `GET /pulls/{n}/files`,
//!   `GET|POST|DELETE /pulls/{n}/requested_reviewers`, `PUT /pulls/{n}/merge`,
//!   `GET|POST /labels`, `GET /contents/{path}?ref=`, `GET /git/trees/{ref}?recursive=1`,
//!   `GET /git/commits/{sha}`, `GET /collaborators/{user}`, `POST /statuses/{sha}`;
//!   `GET /orgs/{org}/members/{user}`, `GET /orgs/{org}/teams/{team}/memberships/{user}`.
//!   GitHub App: `GET /app`, `POST /app/installations/{id}/access_tokens`,
//!   `GET /repos/{o}/{r}/installation`, `/orgs/{org}/installation`, `/users/{u}/installation`
//!   (all checked for an RS256 JWT signed by the App's key with `iss` = the App id); minted
//!   `ghs_…` tokens are checked on every later call (known, unexpired, right owner).
//! - GitLab (under `/api/v4`): `GET /user`, `GET /users?username=`,
//!   `GET /groups/{id}/members/all`; under `/projects/{id}`: `GET|PUT /merge_requests/{iid}`
//!   and `/issues/{iid}`, `GET|POST …/notes`, `GET|PUT|DELETE …/notes/{note_id}`,
//!   `GET /merge_requests/{iid}/diffs`, `PUT /merge_requests/{iid}/merge`, `GET|POST /labels`,
//!   `GET /members/all/{user_id}`, `GET /members/{user_id}`, `GET /repository/tree`,
//!   `GET /repository/files/{path}/raw`, `POST /statuses/{sha}`.
//! - A small git model for cherry-picks through the API (`git.rs`): GitHub `GET /git/ref/heads/{b}`,
//!   `POST /git/refs`, `PATCH|DELETE /git/refs/heads/{b}`, `POST /git/commits`, `POST /merges`,
//!   `POST /pulls`; GitLab `GET|DELETE /repository/branches/{b}`, `POST /repository/branches`,
//!   `POST /repository/commits/{sha}/cherry_pick`, `POST /merge_requests`.
//! - Webhooks and their delivery logs, listed and redelivered for real: see `hooks.rs`.

mod ci;
mod git;
mod github;
mod gitlab;
mod graphql;
mod hooks;
mod issue_move;
mod server;
mod world;

pub use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ItemState, RepoPath};
pub use ci::{CiJob, CiRun, CiRunKind};
pub use git::{Files, GITLAB_CHERRY_PICK_CONFLICT, SeedCommit, three_way};
pub use hooks::{Hook, HookDelivery, HookOwner, Logged};
pub use server::{Fault, Gate, RecordedRequest};
pub use world::{
    ChangedFile, Comment, Commit, GitHubApp, InstallationToken, Item, Milestone, PrCommit, Repo,
    RepoLabel, Review, Site, Status, TreeEntry, World, access, blob_sha, tree_listing, tree_sha,
};

use server::Shared;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A throwaway RSA private key (PKCS#1 PEM, GitHub's format) for GitHub App tests.
pub const TEST_APP_PRIVATE_KEY_PEM: &str = include_str!("../tests/data/github-app-test-key.pem");

/// The public half of [`TEST_APP_PRIVATE_KEY_PEM`], which the fake verifies JWTs with.
pub const TEST_APP_PUBLIC_KEY_PEM: &str = include_str!("../tests/data/github-app-test-key.pub.pem");

/// Where [`TEST_APP_PRIVATE_KEY_PEM`] lives, for configs that take a key file path.
pub fn test_app_private_key_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/github-app-test-key.pem")
}

/// A running fake forge; dropping it stops the server.
pub struct FakeForge {
    shared: Arc<Shared>,
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl FakeForge {
    /// Starts the server on a free loopback port with an empty world and a `bosun-bot` user.
    ///
    /// Panics if the port cannot be bound, which only happens on a broken test machine.
    pub fn start() -> FakeForge {
        let shared = Arc::new(Shared::default());
        let (addr, handle) = server::spawn(shared.clone());
        FakeForge {
            shared,
            addr,
            handle,
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`: the GitHub API root, and the GitLab instance URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reads the world.
    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.shared.world())
    }

    /// Changes the world, for setups the helpers below do not cover.
    pub fn update<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.shared.world())
    }

    /// Sets the login the forge's `GET /user` answers with and that authors the bot's comments.
    pub fn set_bot(&self, forge: ForgeKind, login: &str) {
        self.update(|w| w.site_mut(forge).bot = login.to_string());
    }

    /// Creates an empty repository (GitHub) or project (GitLab) if it does not exist.
    pub fn seed_repo(&self, forge: ForgeKind, repo: &str) {
        self.update(|w| {
            w.ensure_repo(forge, repo);
        });
    }

    /// Adds an open PR/MR and returns the reference bosun would use for it.
    #[track_caller]
    pub fn seed_pr(&self, forge: ForgeKind, repo: &str, number: u64, author: &str) -> ItemRef {
        self.seed(forge, repo, number, ItemKind::PullRequest, author)
    }

    /// Adds an open issue and returns its reference.
    #[track_caller]
    pub fn seed_issue(&self, forge: ForgeKind, repo: &str, number: u64, author: &str) -> ItemRef {
        self.seed(forge, repo, number, ItemKind::Issue, author)
    }

    /// Replaces an item's labels.
    #[track_caller]
    pub fn set_labels(&self, item: &ItemRef, labels: &[&str]) {
        let names: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        self.update(|w| w.set_labels(item, &names));
    }

    /// An item's labels now; panics if the item was never seeded.
    #[track_caller]
    pub fn labels(&self, item: &ItemRef) -> Vec<String> {
        self.update(|w| w.item_mut(item).labels.clone())
    }

    /// Adds a submitted review (GitLab: `APPROVED` is a native approval, anything else from
    /// the same user withdraws it).
    #[track_caller]
    pub fn add_review(&self, item: &ItemRef, author: &str, state: &str, body: &str) -> u64 {
        self.update(|w| w.add_review(item, author, state, body))
    }

    /// Adds a comment/note by `author` and returns its id.
    #[track_caller]
    pub fn seed_comment(&self, item: &ItemRef, author: &str, body: &str) -> u64 {
        self.update(|w| w.seed_comment(item, author, body))
    }

    /// An item's comments/notes, oldest first; panics if the item was never seeded.
    #[track_caller]
    pub fn comments(&self, item: &ItemRef) -> Vec<Comment> {
        self.update(|w| w.item_mut(item).comments.clone())
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log().clone()
    }

    /// How many requests had this method and a path containing `path_substring`.
    pub fn count_requests(&self, method: &str, path_substring: &str) -> usize {
        self.shared
            .log()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.contains(path_substring))
            .count()
    }

    /// The most requests the fake was serving at one instant (arrival to answer, injected
    /// delays included), to check a client's concurrency cap.
    pub fn most_requests_in_flight(&self) -> usize {
        let now = std::time::SystemTime::now();
        let mut edges: Vec<(std::time::SystemTime, i32)> = Vec::new();
        for r in self.shared.log().iter() {
            edges.push((r.received, 1));
            edges.push((r.answered.unwrap_or(now), -1));
        }
        // At one instant, an answer ends before the next request starts.
        edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut serving, mut most) = (0i32, 0i32);
        for (_, step) in edges {
            serving += step;
            most = most.max(serving);
        }
        most.max(0) as usize
    }

    /// Requests no route matched; a test that ends with any usually has a bug.
    pub fn unrouted_requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .log()
            .iter()
            .filter(|r| !r.routed)
            .cloned()
            .collect()
    }

    /// Forgets the requests received so far (faults and the world are kept).
    pub fn clear_requests(&self) {
        self.shared.log().clear();
    }

    /// Answers the next `n` requests whose path contains `path_substring` with `fault`
    /// (a [`Fault::Delay`] or [`Fault::Hold`] delays them, then serves them normally). Rules are tried in the
    /// order they were added.
    pub fn fail_next(&self, path_substring: &str, n: usize, fault: Fault) {
        self.shared.add_fault(path_substring, n, fault);
    }

    /// Answers every `every`th request whose path contains `path_substring` (the `every`th,
    /// the `2·every`th, …) with the next fault of `faults` in turn, for ever: a deterministic
    /// failure rate (every 5th = 20 %) that makes storm tests reproducible.
    pub fn fail_every(&self, path_substring: &str, every: usize, faults: Vec<Fault>) {
        self.shared
            .add_periodic_fault(path_substring, every, faults);
    }

    /// Forgets every injected fault that has not fired yet.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// A copy of an item (assignees, reviewers, title, state, merge method, …); panics if it
    /// was never seeded.
    #[track_caller]
    pub fn item(&self, item: &ItemRef) -> Item {
        self.update(|w| w.item_mut(item).clone())
    }

    /// Changes one item (draft, mergeable, head SHA, changed files, …); panics if it was never
    /// seeded.
    #[track_caller]
    pub fn update_item<R>(&self, item: &ItemRef, f: impl FnOnce(&mut Item) -> R) -> R {
        self.update(|w| f(w.item_mut(item)))
    }

    /// Adds an open milestone to a repository and returns its global id.
    pub fn seed_milestone(&self, forge: ForgeKind, repo: &str, title: &str) -> u64 {
        self.update(|w| w.seed_milestone(forge, repo, title))
    }

    /// The title of the milestone an item belongs to, if any.
    pub fn milestone(&self, item: &ItemRef) -> Option<String> {
        self.read(|w| w.milestone_of(item))
    }

    /// Replaces a PR's commits (what its commit lists report), oldest first.
    #[track_caller]
    pub fn set_pr_commits(&self, item: &ItemRef, commits: Vec<PrCommit>) {
        self.update_item(item, |it| it.commits = commits);
    }

    /// Makes a user known to the forge (GitLab's user search finds only known users) and
    /// returns the user's id.
    pub fn ensure_user(&self, login: &str) -> u64 {
        self.update(|w| w.user_id(login))
    }

    /// Makes `login` a collaborator (GitHub, any level counts) or a direct project member
    /// (GitLab) at `level` (see [`access`]).
    pub fn add_member(&self, forge: ForgeKind, repo: &str, login: &str, level: u32) {
        self.update(|w| {
            w.user_id(login);
            w.ensure_repo(forge, repo)
                .members
                .insert(login.to_string(), level);
        });
    }

    /// Makes `login` assignable on a GitHub repository without making them a collaborator or
    /// org member (GitHub answers assignability itself).
    pub fn add_assignable(&self, repo: &str, login: &str) {
        self.update(|w| {
            w.user_id(login);
            w.ensure_repo(ForgeKind::GitHub, repo)
                .assignable
                .insert(login.to_ascii_lowercase());
        });
    }

    /// Makes the forge silently leave `login` out of every assign and review request on a
    /// repository while reads still accept them (assignable, a member): what a race with a
    /// permission change or a cap reached meanwhile looks like to bosun, which learns it only
    /// from the write's answer.
    pub fn drop_at_write(&self, forge: ForgeKind, repo: &str, login: &str) {
        self.update(|w| {
            w.user_id(login);
            w.ensure_repo(forge, repo)
                .dropped_at_write
                .insert(login.to_ascii_lowercase());
        });
    }

    /// Adds `login` to an org or team (GitHub: `org`, `org/team-slug`) or a group or subgroup
    /// (GitLab: `group`, `group/sub`), creating it if needed.
    pub fn add_group_member(&self, forge: ForgeKind, group: &str, login: &str, level: u32) {
        self.update(|w| {
            w.user_id(login);
            w.site_mut(forge)
                .groups
                .entry(group.to_string())
                .or_default()
                .insert(login.to_string(), level);
        });
    }

    /// Stores a commit with exactly these files and returns its SHA.
    pub fn seed_commit(&self, forge: ForgeKind, repo: &str, files: &[(&str, &[u8])]) -> String {
        let files = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_vec()))
            .collect();
        self.update(|w| w.add_commit(forge, repo, files))
    }

    /// Stores a commit made on `parent` with these files (a branch moving forward, so the
    /// forge's compare sees `parent` as its ancestor) and returns its SHA.
    pub fn seed_child_commit(
        &self,
        forge: ForgeKind,
        repo: &str,
        parent: &str,
        files: &[(&str, &[u8])],
    ) -> String {
        let files = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_vec()))
            .collect();
        self.update(|w| w.add_child_commit(forge, repo, Some(parent), files))
    }

    /// Points a branch or tag at a commit.
    pub fn set_ref(&self, forge: ForgeKind, repo: &str, name: &str, sha: &str) {
        self.update(|w| {
            w.ensure_repo(forge, repo)
                .refs
                .insert(name.to_string(), sha.to_string());
        });
    }

    /// The label definitions of a repository.
    pub fn repo_labels(&self, forge: ForgeKind, repo: &str) -> Vec<RepoLabel> {
        self.read(|w| {
            w.site(forge)
                .repo(repo)
                .map(|r| r.labels.clone())
                .unwrap_or_default()
        })
    }

    /// Adds a workflow run, check run or pipeline (its `id` is assigned and returned).
    pub fn add_ci_run(&self, forge: ForgeKind, repo: &str, mut run: CiRun) -> u64 {
        self.update(|w| {
            let id = w.next_id();
            run.id = id;
            w.ensure_repo(forge, repo).ci_runs.push(run);
            id
        })
    }

    /// A repository's workflow runs, check runs or pipelines now, oldest first.
    pub fn ci_runs(&self, forge: ForgeKind, repo: &str) -> Vec<CiRun> {
        self.read(|w| {
            w.site(forge)
                .repo(repo)
                .map(|r| r.ci_runs.clone())
                .unwrap_or_default()
        })
    }

    /// The commit statuses set on a repository, oldest first.
    pub fn statuses(&self, forge: ForgeKind, repo: &str) -> Vec<Status> {
        self.read(|w| {
            w.site(forge)
                .repo(repo)
                .map(|r| r.statuses.clone())
                .unwrap_or_default()
        })
    }

    /// Registers a GitHub App whose JWTs are verified with `public_key_pem`; installation
    /// tokens live an hour unless [`FakeForge::set_app_token_ttl`] says otherwise.
    pub fn enable_github_app(&self, app_id: u64, slug: &str, public_key_pem: &str) {
        self.update(|w| {
            w.github.app = Some(GitHubApp {
                id: app_id,
                slug: slug.to_string(),
                public_key_pem: public_key_pem.to_string(),
                installations: Default::default(),
                token_ttl: Duration::from_secs(3600),
                tokens: Vec::new(),
            });
        });
    }

    /// Installs the App on an org or user account; panics if no App was enabled.
    #[track_caller]
    pub fn install_github_app(&self, owner: &str, installation_id: u64) {
        self.update(|w| match w.github.app.as_mut() {
            Some(app) => {
                app.installations
                    .insert(owner.to_ascii_lowercase(), installation_id);
            }
            None => panic!("fake forge: enable_github_app first"),
        });
    }

    /// How long installation tokens minted from now on live.
    pub fn set_app_token_ttl(&self, ttl: Duration) {
        self.update(|w| {
            if let Some(app) = w.github.app.as_mut() {
                app.token_ttl = ttl;
            }
        });
    }

    /// Every installation token minted so far, oldest first.
    pub fn minted_tokens(&self) -> Vec<InstallationToken> {
        self.read(|w| {
            w.github
                .app
                .as_ref()
                .map(|a| a.tokens.clone())
                .unwrap_or_default()
        })
    }

    #[track_caller]
    fn seed(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: u64,
        kind: ItemKind,
        author: &str,
    ) -> ItemRef {
        let repo_path = RepoPath::parse(repo)
            .unwrap_or_else(|| panic!("fake forge: {repo:?} is not a repository path"));
        let item = ItemRef {
            forge,
            repo: repo_path,
            number,
            kind,
        };
        self.update(|w| w.seed_item(&item, author));
        item
    }
}

impl Drop for FakeForge {
    fn drop(&mut self) {
        // Sending the stop command is synchronous; awaiting it is not needed.
        drop(self.handle.stop(false));
    }
}
