//! The forges' own logs of webhook deliveries, for `bosun reconcile`: which hooks point at
//! bosun, what each one sent (or tried to send) lately, and asking the forge to send an
//! attempt again.
//!
//! Each adapter maps its log entries to bosun's journal key, the delivery id the receiver
//! stores (`src/server/hook.rs`), so "did bosun get it?" is one lookup:
//! - GitHub: `github:{guid}`; the guid is the `X-GitHub-Delivery` header, and a redelivery
//!   keeps it (it shows up as another log entry with the same guid).
//! - GitLab: `gitlab:{Idempotency-Key}` (or `X-Gitlab-Event-UUID` where GitLab sends no key),
//!   read from the logged request headers; GitLab keeps the key when an event is resent. An
//!   entry with neither header is matched on the SHA-256 of its logged body, as the receiver
//!   journals such a delivery; GitLab may store the body re-encoded, so such entries can fail
//!   to match (and are then resent once more; the journal still runs them once).

use bosun_plugins::{ForgeError, RepoPath};
use chrono::{DateTime, Utc};

/// Where a forge lists hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOwner {
    /// A GitHub repository or a GitLab project.
    Repo(RepoPath),
    /// A GitHub organisation.
    Org(String),
    /// The GitHub App's own webhook (needs the App's credentials).
    App,
}

impl std::fmt::Display for HookOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookOwner::Repo(repo) => write!(f, "{repo}"),
            HookOwner::Org(org) => write!(f, "org {org}"),
            HookOwner::App => f.write_str("the GitHub App"),
        }
    }
}

/// A webhook as the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The forge's id (0 for the App's hook, which has none).
    pub id: u64,
    /// Where the forge lists it.
    pub owner: HookOwner,
    /// Where the forge posts.
    pub url: String,
}

/// One attempt in a hook's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedDelivery {
    /// The forge's id of this attempt (what redelivery names).
    pub id: u64,
    /// The delivery id bosun journals this delivery under, when the log says enough to tell.
    pub journal_id: Option<String>,
    /// The event (`issue_comment`, `note_hooks` …), for the report.
    pub event: String,
    /// When the forge made the attempt, if it says.
    pub at: Option<DateTime<Utc>>,
    /// Whether the receiver answered 2xx.
    pub ok: bool,
    /// Whether this attempt was itself a redelivery.
    pub redelivery: bool,
}

/// How far back one listing reads: attempts older than `since` end it, and so does reaching
/// `max` attempts.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The oldest attempt read.
    pub since: DateTime<Utc>,
    /// The most attempts read per hook.
    pub max: usize,
}

/// A list and the API calls it took.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// What was listed.
    pub items: Vec<T>,
    /// API calls made (pages read).
    pub calls: usize,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            items: Vec::new(),
            calls: 0,
        }
    }
}

/// A forge's webhook logs; implemented by both adapters.
#[async_trait::async_trait]
pub trait HookLog: Send + Sync {
    /// The hooks of `owner` (for the App, its one hook).
    async fn hooks(&self, owner: &HookOwner) -> Result<Listed<Hook>, ForgeError>;
    /// A hook's recent attempts, newest first, within `window`.
    async fn deliveries(
        &self,
        hook: &Hook,
        window: Window,
    ) -> Result<Listed<LoggedDelivery>, ForgeError>;
    /// Asks the forge to send attempt `delivery` again (it does so with the same guid).
    async fn redeliver(&self, hook: &Hook, delivery: &LoggedDelivery) -> Result<(), ForgeError>;
}
