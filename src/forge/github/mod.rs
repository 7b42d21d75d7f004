//! [`Forge`] for GitHub, through octocrab.
//!
//! Every request goes through `GitHubForge::send` (`transport.rs`), which uses octocrab's raw `_get`/`_post`/
//! `_put`/`_patch`/`_delete` so that response headers (`Link`, `x-ratelimit-*`, `retry-after`)
//! stay readable, and classifies failures in one place, `classify` (`errors.rs`). Responses are read into
//! narrow structs of our own: no octocrab model leaves this module, and a field GitHub adds or
//! drops elsewhere in the object cannot break a read.
//!
//! octocrab is used without its `retry` feature: it would re-POST on a 5xx and could duplicate
//! a comment. The queue owns retries.
//!
//! Credentials are either one token (or none) for everything, or a GitHub App. As an App,
//! bosun signs a JWT with the App's key, finds the installation that covers a repository's
//! owner (`GET /repos/{o}/{r}/installation`, or `/orgs/{org}/installation` then
//! `/users/{user}/installation` for account-level calls) and calls through that
//! installation's client. octocrab keeps the installation token inside the client value and
//! re-mints it 30 s before it expires; because `Clone` deep-copies that cache, the adapter
//! keeps exactly one client per installation id for its whole life. The first calls on a new
//! installation made at the same instant may each mint a token; GitHub allows that, and the
//! cache settles on one.
//!
//! Layout: `transport.rs` (credentials, sending, paging), `errors.rs` (failure
//! classification), `read.rs` ([`ForgeRead`]), `write.rs` ([`Forge`]), `ci.rs` (Actions,
//! check runs and statuses: read and re-run).

mod cherry_pick;
mod ci;
mod errors;
mod hooks;
mod read;
mod transfer;
mod transport;
mod write;

use super::{Limits, encode_segment};
use bosun_plugins::{ForgeError, ForgeKind, ItemKind, ItemRef, Login, RepoPath};
use errors::first_line;
use octocrab::Octocrab;
use octocrab::models::AppId;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::OnceCell;

/// bosun's GitHub adapter: its credentials, the bot's login once known, the rate-limit gate
/// and the cap on calls in flight per credential.
pub struct GitHubForge {
    auth: Auth,
    /// The rate-limit gate, the call cap per credential and the timeout.
    limits: Limits,
    bot: OnceCell<Login>,
}

/// How requests are authenticated.
enum Auth {
    /// One client for every call: a token, or none for dry-run reads.
    Token(Arc<Octocrab>),
    /// A GitHub App, calling through per-installation clients.
    App(AppAuth),
}

/// A GitHub App's clients: the App itself (JWT) and one client per installation.
struct AppAuth {
    /// Authenticates as the App; octocrab signs a fresh JWT for each request.
    app: Arc<Octocrab>,
    /// Installation id per account (lower case), looked up once.
    installations: Mutex<HashMap<String, u64>>,
    /// One client per installation id. octocrab caches the installation token inside the
    /// client value, so reusing the value is what makes the token cache work.
    clients: Mutex<HashMap<u64, Arc<Octocrab>>>,
}

/// Which credentials a request needs; an App picks the installation by account.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// A call on a repository: the installation covering it.
    Repo(&'a RepoPath),
    /// A call on an org or user account (membership): the installation on that account.
    Account(&'a str),
    /// A call about bosun's own identity, with the credentials themselves: `GET /user` with
    /// a token, `GET /app` with the App's JWT.
    App,
}

/// An HTTP verb with its JSON body.
#[derive(Clone, Copy)]
enum Verb<'a> {
    Get,
    /// `GET` asking for the raw bytes (`Accept: application/vnd.github.raw`).
    GetRaw,
    Post(&'a Value),
    Put(&'a Value),
    Patch(&'a Value),
    Delete,
    /// `DELETE` with a JSON body (assignees, requested reviewers).
    DeleteWith(&'a Value),
}

impl Verb<'_> {
    /// The HTTP method, for log lines.
    fn method(&self) -> &'static str {
        match self {
            Verb::Get | Verb::GetRaw => "GET",
            Verb::Post(_) => "POST",
            Verb::Put(_) => "PUT",
            Verb::Patch(_) => "PATCH",
            Verb::Delete | Verb::DeleteWith(_) => "DELETE",
        }
    }
}

impl GitHubForge {
    /// A client for `api_url` (`https://api.github.com`, or `https://HOST/api/v3` for GitHub
    /// Enterprise). Without a token the client is unauthenticated, which is enough for a
    /// dry run's reads of public repositories.
    ///
    /// octocrab starts a background task when built, so call this inside the Tokio runtime
    /// that will use the adapter.
    pub fn new(api_url: &str, token: Option<String>) -> Result<Self, ForgeError> {
        let builder = builder(api_url)?;
        let client = match token {
            Some(token) => builder.personal_token(token).build(),
            None => builder.build(),
        }
        .map_err(|e| ForgeError::Permanent(format!("building the GitHub client: {e}")))?;
        Ok(Self::with_auth(Auth::Token(Arc::new(client))))
    }

    /// A client that authenticates as the GitHub App `app_id` with its private key (PEM, as
    /// GitHub issues it), calling each repository through the App's installation on its
    /// owner. Makes no network call; an unreadable key is `Invalid`.
    pub fn new_app(api_url: &str, app_id: u64, private_key_pem: &[u8]) -> Result<Self, ForgeError> {
        let key = octocrab::EncodingKey::from_rsa_pem(private_key_pem).map_err(|e| {
            ForgeError::Invalid(format!("GitHub App private key is not an RSA PEM key: {e}"))
        })?;
        let app = builder(api_url)?
            .app(AppId(app_id), key)
            .build()
            .map_err(|e| ForgeError::Permanent(format!("building the GitHub App client: {e}")))?;
        Ok(Self::with_auth(Auth::App(AppAuth {
            app: Arc::new(app),
            installations: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        })))
    }

    fn with_auth(auth: Auth) -> Self {
        GitHubForge {
            auth,
            limits: Limits::default(),
            bot: OnceCell::new(),
        }
    }

    /// Sets how long one request may take before it fails as `Transient`
    /// (default [`super::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// Caps the calls in flight per credential (the token, or each App installation)
    /// (default [`super::DEFAULT_MAX_CONCURRENT_CALLS`]).
    pub fn with_max_concurrent_calls(mut self, max: usize) -> Self {
        self.limits.limiter = super::limits::CallLimiter::new(max);
        self
    }
}

/// An octocrab builder for `api_url`.
fn builder(
    api_url: &str,
) -> Result<
    octocrab::OctocrabBuilder<
        octocrab::NoSvc,
        octocrab::DefaultOctocrabBuilderConfig,
        octocrab::NoAuth,
        octocrab::NotLayerReady,
    >,
    ForgeError,
> {
    octocrab::Octocrab::builder()
        .base_uri(api_url)
        .map_err(|e| ForgeError::Invalid(format!("GitHub API URL {api_url:?}: {}", first_line(&e))))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `/repos/{owner}/{repo}`, refusing paths that are not `owner/repo`.
fn repo_path_route(repo: &RepoPath) -> Result<String, ForgeError> {
    let (owner, name) = (repo.owner(), repo.name());
    if owner.contains('/') {
        return Err(ForgeError::Invalid(format!(
            "{repo} is not an owner/repo path"
        )));
    }
    Ok(format!(
        "/repos/{}/{}",
        encode_segment(owner),
        encode_segment(name)
    ))
}

/// `/repos/{owner}/{repo}` of a GitHub item.
fn repo_route(item: &ItemRef) -> Result<String, ForgeError> {
    if item.forge != ForgeKind::GitHub {
        return Err(ForgeError::Invalid(format!("{item} is not a GitHub item")));
    }
    repo_path_route(&item.repo)
}

/// `/repos/{owner}/{repo}/issues/{number}`; PRs are issues for labels, comments, assignees,
/// title and state.
fn issue_route(item: &ItemRef) -> Result<String, ForgeError> {
    Ok(format!("{}/issues/{}", repo_route(item)?, item.number))
}

/// `/repos/{owner}/{repo}/pulls/{number}`, refusing issues without a request.
fn pull_route(item: &ItemRef) -> Result<String, ForgeError> {
    if item.kind != ItemKind::PullRequest {
        return Err(ForgeError::Invalid(format!("{item} is not a pull request")));
    }
    Ok(format!("{}/pulls/{}", repo_route(item)?, item.number))
}

/// A repository path or git ref as URL path segments: each part encoded, `/` kept.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}
