//! A fake GitHub and GitLab on `127.0.0.1:0`, for bosun's tests.
//!
//! Unlike a mock that answers canned responses, the fake keeps a [`World`] (repositories,
//! PRs/MRs, issues, labels, comments, the bot user) that its GitHub REST and GitLab v4 APIs read
//! and change, so tests assert on the resulting state ("the PR now has `lgtm`") rather than on
//! call counts. It also records every request it receives, and can be told to fail the next
//! requests on a path with a [`Fault`], to test error classification and retries.
//!
//! The server runs on its own thread with its own runtime, so it works from any test, sync or
//! async, and stops when the [`FakeForge`] is dropped.
//!
//! Served (GitHub paths also under an `/api/v3` prefix, as on GitHub Enterprise):
//! - GitHub: `GET /user`; `GET|POST /repos/{o}/{r}/issues/{n}/labels`;
//!   `DELETE /repos/{o}/{r}/issues/{n}/labels/{name}`; `GET|POST /repos/{o}/{r}/issues/{n}/comments`;
//!   `GET|PATCH /repos/{o}/{r}/issues/comments/{id}`.
//! - GitLab: `GET /api/v4/user`; `GET|PUT /api/v4/projects/{id}/merge_requests/{iid}` and
//!   `/issues/{iid}`; `GET|POST …/notes`; `GET|PUT …/notes/{note_id}`.

mod github;
mod gitlab;
mod server;
mod world;

pub use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ItemState, RepoPath};
pub use server::{Fault, RecordedRequest};
pub use world::{Comment, Item, Repo, RepoLabel, Site, World};

use server::Shared;
use std::net::SocketAddr;
use std::sync::Arc;

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
    /// (a [`Fault::Delay`] delays them, then serves them normally). Rules are tried in the
    /// order they were added.
    pub fn fail_next(&self, path_substring: &str, n: usize, fault: Fault) {
        self.shared.add_fault(path_substring, n, fault);
    }

    /// Forgets every injected fault that has not fired yet.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
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
