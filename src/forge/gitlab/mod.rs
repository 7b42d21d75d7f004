//! [`Forge`] for GitLab, through the `gitlab` crate's `AsyncGitlab`.
//!
//! Building an `AsyncGitlab` with a token calls `GET /api/v4/user`, so the client is built
//! lazily on the first call and rebuilt on a later call if that failed: a GitLab outage at boot
//! must not stop bosun. Every call goes through `GitLabForge::query` (JSON answers) or
//! `GitLabForge::query_bytes` (raw or empty answers), which apply the rate-limit gate and the
//! timeout and classify failures in one place each. Responses are read into narrow structs of
//! our own (the crate has no response models).
//!
//! Mapping Prow's model onto GitLab:
//! - users: GitLab edits assignees and reviewers by numeric id, so usernames are resolved
//!   (`GET /users?username=`) once and cached; edits read the item's current list and write the
//!   whole new list (read-modify-write), and skip users GitLab does not know, as GitHub skips
//!   users it cannot assign.
//! - collaborator: a project member, direct or inherited from a group (`members/all/:user_id`),
//!   with Developer access (30) or more; org member: a member of the group (inherited counts)
//!   with Guest access (10) or more; team `org/team`: the same for the subgroup `org/team`.
//! - tree SHAs: GitLab's commits carry no tree SHA, but its tree listing gives every entry's
//!   git blob/tree id. The "tree SHA" bosun reports is a SHA-256 over the root entries' modes,
//!   kinds, ids and names: each subtree id already hashes its content, so equal digests mean
//!   equal repository content, which is all lgtm's tree-hash check asks. It is not git's own
//!   root tree id.
//! - merge: GitLab's merge call offers `squash` but no per-merge rebase (the project's merge
//!   method decides), so `MergeMethod::Rebase` is refused as `Invalid` rather than merged
//!   another way.
//! - team reviewers: GitLab has none; teams in a review request are ignored.
//!
//! Own endpoints where the crate falls short: deleting a note (no endpoint), listing the
//! repository tree (the crate's sends its parameters in a GET body), and raw reads and empty
//! answers (`query_bytes`, which keeps a 429's wait).
//!
//! Layout: `transport.rs` (the client, queries, paging), `errors.rs` (failure classification),
//! `read.rs` ([`ForgeRead`]), `write.rs` ([`Forge`]), `ci.rs` (MR pipelines: read, retry, create).

mod cherry_pick;
mod ci;
mod errors;
mod hooks;
mod read;
mod transfer;
mod transport;
mod write;

use super::Limits;
use bosun_plugins::{ForgeError, ForgeKind, ItemKind, ItemRef, Login};
use gitlab::AsyncGitlab;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::OnceCell;

/// bosun's GitLab adapter: where GitLab is, the lazily built client, the bot's login once
/// known, and the rate-limit gate.
pub struct GitLabForge {
    /// `host[:port][/prefix]`, the form the `gitlab` crate expects.
    host: String,
    insecure: bool,
    token: Option<SecretString>,
    client: OnceCell<AsyncGitlab>,
    bot: OnceCell<Login>,
    /// The rate-limit gate, the cap on calls in flight with the one token, and the timeout.
    limits: Limits,
    /// Usernames (lower case) → user ids, resolved once.
    user_ids: Mutex<HashMap<String, u64>>,
}

#[derive(Deserialize)]
struct Labeled {
    labels: Vec<String>,
}

#[derive(Deserialize)]
struct LabelName {
    name: String,
}

#[derive(Deserialize)]
struct UserId {
    id: u64,
    username: String,
}

/// An MR or issue's assignees (and an MR's reviewers), for read-modify-write edits.
#[derive(Deserialize)]
struct People {
    #[serde(default)]
    assignees: Vec<UserId>,
    #[serde(default)]
    reviewers: Vec<UserId>,
}

impl GitLabForge {
    /// An adapter for the GitLab at `url` (`https://gitlab.example.com`, optionally with a
    /// path prefix). Makes no network call. `http://` URLs are refused unless `allow_http`,
    /// so a typo cannot send the token in clear text. Without a token the client is
    /// unauthenticated, for dry runs.
    pub fn new(url: &str, token: Option<String>, allow_http: bool) -> Result<Self, ForgeError> {
        let trimmed = url.trim().trim_end_matches('/');
        let (insecure, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (false, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            if !allow_http {
                return Err(ForgeError::Invalid(format!(
                    "GitLab URL {url:?} is http://; allow http explicitly or use https://"
                )));
            }
            (true, rest)
        } else if trimmed.contains("://") {
            return Err(ForgeError::Invalid(format!(
                "GitLab URL {url:?}: unknown scheme"
            )));
        } else {
            (false, trimmed)
        };
        let host = rest
            .strip_suffix("/api/v4")
            .unwrap_or(rest)
            .trim_end_matches('/');
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(ForgeError::Invalid(format!(
                "GitLab URL {url:?} has no host"
            )));
        }
        Ok(GitLabForge {
            host: host.to_string(),
            insecure,
            token: token.map(SecretString::from),
            client: OnceCell::new(),
            bot: OnceCell::new(),
            limits: Limits::default(),
            user_ids: Mutex::new(HashMap::new()),
        })
    }

    /// Sets how long one request may take before it fails as `Transient`
    /// (default [`super::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// Caps the calls in flight with the token (default
    /// [`super::DEFAULT_MAX_CONCURRENT_CALLS`]).
    pub fn with_max_concurrent_calls(mut self, max: usize) -> Self {
        self.limits.limiter = super::limits::CallLimiter::new(max);
        self
    }
}

/// The project path of a GitLab item, or `Invalid` for another forge's item.
fn project(item: &ItemRef) -> Result<&str, ForgeError> {
    if item.forge != ForgeKind::GitLab {
        return Err(ForgeError::Invalid(format!("{item} is not a GitLab item")));
    }
    Ok(item.repo.as_str())
}

/// The notes collection an item's notes live under.
fn collection(item: &ItemRef) -> &'static str {
    match item.kind {
        ItemKind::PullRequest => "merge_requests",
        ItemKind::Issue => "issues",
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_crate_hosts() {
        let f = GitLabForge::new("https://gitlab.example.com/", None, false).expect("valid");
        assert_eq!((f.host.as_str(), f.insecure), ("gitlab.example.com", false));
        let f = GitLabForge::new("http://127.0.0.1:8080/api/v4", None, true).expect("valid");
        assert_eq!((f.host.as_str(), f.insecure), ("127.0.0.1:8080", true));
        let f = GitLabForge::new("git.corp/gitlab", None, false).expect("valid");
        assert_eq!(f.host, "git.corp/gitlab");
    }

    #[test]
    fn http_needs_consent() {
        assert!(matches!(
            GitLabForge::new("http://gitlab.example.com", None, false),
            Err(ForgeError::Invalid(_))
        ));
        assert!(GitLabForge::new("ftp://x", None, true).is_err());
    }
}
