//! [`Forge`] for GitHub, through octocrab.
//!
//! Every request goes through `GitHubForge::send`, which uses octocrab's raw `_get`/`_post`/
//! `_put`/`_patch`/`_delete` so that response headers (`Link`, `x-ratelimit-*`, `retry-after`)
//! stay readable, and classifies failures in one place, `classify`. Responses are read into
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

use super::{
    CallLimiter, DEFAULT_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT, RateGate, encode_segment, status_error,
};
use async_trait::async_trait;
use bosun_plugins::{
    BotComment, ChangedFile, CommitStatus, Forge, ForgeError, ForgeKind, ForgeRead, ItemKind,
    ItemRef, ItemState, Login, MergeMethod, PullRequestInfo, RepoPath, Review, ReviewState,
    StatusState, Tree, TreeEntry, TreeEntryKind,
};
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::{AppId, InstallationId};
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// The concurrency-cap key of calls made with the one configured token.
const TOKEN_CREDENTIAL: &str = "token";
/// The concurrency-cap key of calls made as the App itself (JWT): installation lookups.
const APP_CREDENTIAL: &str = "app";

/// Page size for list calls (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// A list longer than this many pages is treated as a forge bug rather than read forever.
const MAX_PAGES: usize = 500;

/// bosun's GitHub adapter: its credentials, the bot's login once known, the rate-limit gate
/// and the cap on calls in flight per credential.
pub struct GitHubForge {
    auth: Auth,
    timeout: Duration,
    gate: RateGate,
    limiter: CallLimiter,
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

/// What bosun needs of a successful response.
struct Reply {
    body: Vec<u8>,
    /// The path and query of the `Link: rel="next"` page, if any.
    next: Option<String>,
}

#[derive(Deserialize)]
struct LabelName {
    name: String,
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
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct RawBranch {
    sha: String,
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct RawPull {
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
}

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

#[derive(Deserialize)]
struct TeamMembership {
    state: String,
}

#[derive(Deserialize)]
struct MergeResult {
    #[serde(default)]
    merged: bool,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct App {
    slug: String,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
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
            timeout: DEFAULT_TIMEOUT,
            gate: RateGate::default(),
            limiter: CallLimiter::default(),
            bot: OnceCell::new(),
        }
    }

    /// Sets how long one request may take before it fails as `Transient`
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Caps the calls in flight per credential (the token, or each App installation)
    /// (default [`super::DEFAULT_MAX_CONCURRENT_CALLS`]).
    pub fn with_max_concurrent_calls(mut self, max: usize) -> Self {
        self.limiter = CallLimiter::new(max);
        self
    }

    /// Sends one request, unless a known rate-limit reset lies ahead, and classifies failures.
    /// For an App the installation lookup is a call of its own, with its own deadline; minting
    /// the installation token happens inside the request's deadline.
    async fn send(
        &self,
        scope: Scope<'_>,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<Reply, ForgeError> {
        self.gate.check()?;
        let result = async {
            let (credential, client) = self.client_for(scope).await?;
            self.exchange(&credential, &client, verb, route).await
        }
        .await;
        if let Err(e) = &result {
            self.gate.note(e);
        }
        result
    }

    /// One request on one client, when the credential has a free turn, under the timeout.
    async fn exchange(
        &self,
        credential: &str,
        client: &Octocrab,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<Reply, ForgeError> {
        let _turn = self.limiter.acquire(credential).await?;
        super::within(
            self.timeout,
            "GitHub",
            self.exchange_now(client, verb, route),
        )
        .await
    }

    /// One request on one client, with the response read whole.
    async fn exchange_now(
        &self,
        client: &Octocrab,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<Reply, ForgeError> {
        let response = match verb {
            Verb::Get => client._get(route).await,
            Verb::GetRaw => {
                let mut headers = HeaderMap::new();
                headers.insert(
                    reqwest::header::ACCEPT,
                    HeaderValue::from_static("application/vnd.github.raw"),
                );
                client._get_with_headers(route, Some(headers)).await
            }
            Verb::Post(body) => client._post(route, Some(body)).await,
            Verb::Put(body) => client._put(route, Some(body)).await,
            Verb::Patch(body) => client._patch(route, Some(body)).await,
            Verb::Delete => client._delete(route, None::<&()>).await,
            Verb::DeleteWith(body) => client._delete(route, Some(body)).await,
        }
        .map_err(classify)?;
        let response = octocrab::map_github_error(response)
            .await
            .map_err(classify)?;
        if let Some(reset) = exhausted_until(response.headers()) {
            // The call succeeded but was the last one allowed before the reset.
            self.gate.close_until(reset);
        }
        let next = next_page(response.headers());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(classify)?
            .to_bytes()
            .to_vec();
        Ok(Reply { body, next })
    }

    /// The client a call in `scope` goes through, and the credential it counts against for
    /// the concurrency cap.
    async fn client_for(&self, scope: Scope<'_>) -> Result<(String, Arc<Octocrab>), ForgeError> {
        let app = match &self.auth {
            Auth::Token(client) => return Ok((TOKEN_CREDENTIAL.into(), client.clone())),
            Auth::App(app) => app,
        };
        let account = match scope {
            Scope::App => return Ok((APP_CREDENTIAL.into(), app.app.clone())),
            Scope::Repo(repo) => repo.owner(),
            Scope::Account(account) => account,
        };
        let id = self.installation_id(app, scope, account).await?;
        let credential = format!("installation:{id}");
        let mut clients = lock(&app.clients);
        if let Some(client) = clients.get(&id) {
            return Ok((credential, client.clone()));
        }
        let client = Arc::new(app.app.installation(InstallationId(id)).map_err(classify)?);
        clients.insert(id, client.clone());
        Ok((credential, client))
    }

    /// The App's installation on `account`, looked up with the App's JWT once and remembered.
    async fn installation_id(
        &self,
        app: &AppAuth,
        scope: Scope<'_>,
        account: &str,
    ) -> Result<u64, ForgeError> {
        let key = account.to_ascii_lowercase();
        if let Some(id) = lock(&app.installations).get(&key) {
            return Ok(*id);
        }
        let lookup = |route: String| async move {
            let reply = self
                .exchange(APP_CREDENTIAL, &app.app, Verb::Get, &route)
                .await?;
            parse::<Installation>(&reply.body, &route)
        };
        let found = match scope {
            Scope::Repo(repo) => lookup(format!("{}/installation", repo_path_route(repo)?)).await,
            _ => match lookup(format!("/orgs/{}/installation", encode_segment(account))).await {
                Err(ForgeError::NotFound(_)) => {
                    lookup(format!("/users/{}/installation", encode_segment(account))).await
                }
                other => other,
            },
        };
        let id = match found {
            Ok(installation) => installation.id,
            // Forbidden, not NotFound: "no installation" must not read as "no such member".
            Err(ForgeError::NotFound(_)) => {
                return Err(ForgeError::Forbidden(format!(
                    "the GitHub App is not installed on {account}"
                )));
            }
            Err(e) => return Err(e),
        };
        lock(&app.installations).insert(key, id);
        Ok(id)
    }

    /// Sends a request and reads its JSON body.
    async fn send_json<T: DeserializeOwned>(
        &self,
        scope: Scope<'_>,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<T, ForgeError> {
        let reply = self.send(scope, verb, route).await?;
        parse(&reply.body, route)
    }

    /// Reads every page of a list, following `Link: rel="next"`.
    async fn get_all<T: DeserializeOwned>(
        &self,
        scope: Scope<'_>,
        route: &str,
    ) -> Result<Vec<T>, ForgeError> {
        let mut out = Vec::new();
        let mut next = Some(format!("{route}?per_page={PER_PAGE}"));
        for _ in 0..MAX_PAGES {
            let Some(page) = next.take() else {
                return Ok(out);
            };
            let reply = self.send(scope, Verb::Get, &page).await?;
            out.extend(parse::<Vec<T>>(&reply.body, &page)?);
            next = reply.next.filter(|n| *n != page);
        }
        Err(ForgeError::Permanent(format!(
            "{route}: more than {MAX_PAGES} pages"
        )))
    }

    /// A request whose only answer is "yes" (2xx) or "no" (404).
    async fn exists(&self, scope: Scope<'_>, route: &str) -> Result<bool, ForgeError> {
        match self.send(scope, Verb::Get, route).await {
            Ok(_) => Ok(true),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
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

fn parse<T: DeserializeOwned>(body: &[u8], route: &str) -> Result<T, ForgeError> {
    serde_json::from_slice(body).map_err(|e| {
        ForgeError::Permanent(format!("unexpected response from GitHub for {route}: {e}"))
    })
}

/// The only place a GitHub failure becomes a [`ForgeError`].
fn classify(err: octocrab::Error) -> ForgeError {
    match err {
        octocrab::Error::GitHub { source, .. } => {
            // A 422 says what was wrong in `errors[].code` (`already_exists`, `invalid`, …).
            let codes: Vec<&str> = source
                .errors
                .iter()
                .flatten()
                .filter_map(|e| e.get("code").and_then(Value::as_str))
                .collect();
            let message = if codes.is_empty() {
                source.message.clone()
            } else {
                format!("{} [{}]", source.message, codes.join(", "))
            };
            classify_status(
                source.status_code.as_u16(),
                source.headers.as_ref(),
                &message,
                SystemTime::now(),
            )
        }
        // Connection refused or reset, TLS, timeouts inside the client, a body cut short.
        octocrab::Error::Service { .. } | octocrab::Error::Hyper { .. } => ForgeError::Transient {
            message: format!("GitHub unreachable: {}", chain(&err)),
            retry_after: None,
        },
        octocrab::Error::Json { .. } | octocrab::Error::Serde { .. } => ForgeError::Permanent(
            format!("unexpected response from GitHub: {}", first_line(&err)),
        ),
        // Signing the App's JWT failed: the key is unusable, which no retry mends.
        octocrab::Error::JWT { .. } => {
            ForgeError::Invalid(format!("GitHub App JWT: {}", first_line(&err)))
        }
        other => ForgeError::Permanent(format!("GitHub client: {}", first_line(&other))),
    }
}
/// Applies GitHub's rate-limit rules, then the shared status table.
///
/// GitHub answers 403 or 429 for both limits: the primary one sets `x-ratelimit-remaining: 0`
/// (wait until `x-ratelimit-reset`); the secondary one says so in the message and may send
/// `retry-after` (otherwise wait at least a minute).
fn classify_status(
    status: u16,
    headers: Option<&HeaderMap>,
    message: &str,
    now: SystemTime,
) -> ForgeError {
    let header = |name: &str| {
        headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let retry_after = header("retry-after")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let primary = header("x-ratelimit-remaining") == Some("0");
    let lower = message.to_ascii_lowercase();
    let secondary = lower.contains("secondary rate limit") || lower.contains("abuse detection");
    match status {
        403 | 429 if primary => ForgeError::RateLimited {
            reset: header("x-ratelimit-reset")
                .and_then(|v| v.parse::<u64>().ok())
                .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
                .unwrap_or(now + DEFAULT_RATE_LIMIT_WAIT),
        },
        403 | 429 if secondary || retry_after.is_some() => ForgeError::RateLimited {
            reset: now + retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
        },
        _ => status_error(status, message, retry_after),
    }
}

/// The reset instant when a successful response used the last call of the primary limit.
fn exhausted_until(headers: &HeaderMap) -> Option<SystemTime> {
    let remaining = headers.get("x-ratelimit-remaining")?.to_str().ok()?;
    if remaining.trim() != "0" {
        return None;
    }
    let reset: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(reset))
}

/// The path and query of the `rel="next"` link. The link is absolute, but octocrab attaches
/// the token only to relative URIs (or api.github.com), so the next page is requested by path.
fn next_page(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    let url = link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })?;
    match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| rest[i..].to_string()),
        None => url.starts_with('/').then(|| url.to_string()),
    }
}

/// An error's message and causes on one line, without octocrab's backtraces.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = first_line(err);
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&first_line(e));
        source = e.source();
    }
    out
}

fn first_line(err: &dyn std::error::Error) -> String {
    err.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The JSON body GitHub's issue edit takes for a new state.
fn state_body(state: &str) -> Value {
    json!({ "state": state })
}

fn logins(users: &[Login]) -> Vec<&str> {
    users.iter().map(Login::as_str).collect()
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
        let state = match pr.state.as_str() {
            "open" => ItemState::Open,
            _ if pr.merged || pr.merged_at.is_some() => ItemState::Merged,
            _ => ItemState::Closed,
        };
        Ok(PullRequestInfo {
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
        })
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

    async fn commit_tree_sha(&self, repo: &RepoPath, sha: &str) -> Result<String, ForgeError> {
        let route = format!(
            "{}/git/commits/{}",
            repo_path_route(repo)?,
            encode_segment(sha)
        );
        let commit: RawCommit = self.send_json(Scope::Repo(repo), Verb::Get, &route).await?;
        Ok(commit.tree.sha)
    }

    async fn repo_labels(&self, repo: &RepoPath) -> Result<Vec<String>, ForgeError> {
        let route = format!("{}/labels", repo_path_route(repo)?);
        let labels: Vec<LabelName> = self.get_all(Scope::Repo(repo), &route).await?;
        Ok(labels.into_iter().map(|l| l.name).collect())
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

#[async_trait]
impl Forge for GitHubForge {
    async fn add_labels(&self, item: &ItemRef, labels: &[String]) -> Result<(), ForgeError> {
        let route = format!("{}/labels", issue_route(item)?);
        if labels.is_empty() {
            // GitHub reads an empty list as "remove every label".
            return Ok(());
        }
        let body = json!({ "labels": labels });
        self.send(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await
            .map(drop)
    }

    async fn remove_label(&self, item: &ItemRef, label: &str) -> Result<(), ForgeError> {
        let route = format!("{}/labels/{}", issue_route(item)?, encode_segment(label));
        match self
            .send(Scope::Repo(&item.repo), Verb::Delete, &route)
            .await
        {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GitHub answers 422 with `already_exists` for an existing label: that is success here.
    async fn create_label(
        &self,
        repo: &RepoPath,
        name: &str,
        color: &str,
    ) -> Result<(), ForgeError> {
        let route = format!("{}/labels", repo_path_route(repo)?);
        let body = json!({ "name": name, "color": color.trim_start_matches('#') });
        match self
            .send(Scope::Repo(repo), Verb::Post(&body), &route)
            .await
        {
            Ok(_) => Ok(()),
            Err(ForgeError::Invalid(m)) if m.contains("already_exists") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create_comment(&self, item: &ItemRef, body: &str) -> Result<u64, ForgeError> {
        let route = format!("{}/comments", issue_route(item)?);
        let body = json!({ "body": body });
        let created: Created = self
            .send_json(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await?;
        Ok(created.id)
    }

    async fn edit_comment(&self, item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let route = format!("{}/issues/comments/{id}", repo_route(item)?);
        let body = json!({ "body": body });
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    async fn delete_comment(&self, item: &ItemRef, id: u64) -> Result<(), ForgeError> {
        let route = format!("{}/issues/comments/{id}", repo_route(item)?);
        match self
            .send(Scope::Repo(&item.repo), Verb::Delete, &route)
            .await
        {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// GitHub adds to the existing assignees and silently skips users who cannot be assigned.
    async fn assign(&self, item: &ItemRef, users: &[Login]) -> Result<(), ForgeError> {
        let route = format!("{}/assignees", issue_route(item)?);
        if users.is_empty() {
            return Ok(());
        }
        let body = json!({ "assignees": logins(users) });
        self.send(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await
            .map(drop)
    }

    async fn unassign(&self, item: &ItemRef, users: &[Login]) -> Result<(), ForgeError> {
        let route = format!("{}/assignees", issue_route(item)?);
        if users.is_empty() {
            return Ok(());
        }
        let body = json!({ "assignees": logins(users) });
        self.send(Scope::Repo(&item.repo), Verb::DeleteWith(&body), &route)
            .await
            .map(drop)
    }

    async fn request_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        teams: &[String],
    ) -> Result<(), ForgeError> {
        let route = format!("{}/requested_reviewers", pull_route(item)?);
        if users.is_empty() && teams.is_empty() {
            return Ok(());
        }
        let body = json!({ "reviewers": logins(users), "team_reviewers": teams });
        self.send(Scope::Repo(&item.repo), Verb::Post(&body), &route)
            .await
            .map(drop)
    }

    async fn unrequest_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        teams: &[String],
    ) -> Result<(), ForgeError> {
        let route = format!("{}/requested_reviewers", pull_route(item)?);
        if users.is_empty() && teams.is_empty() {
            return Ok(());
        }
        let body = json!({ "reviewers": logins(users), "team_reviewers": teams });
        self.send(Scope::Repo(&item.repo), Verb::DeleteWith(&body), &route)
            .await
            .map(drop)
    }

    async fn set_title(&self, item: &ItemRef, title: &str) -> Result<(), ForgeError> {
        let route = issue_route(item)?;
        let body = json!({ "title": title });
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    /// Through the issues API, which closes pull requests too.
    async fn close(&self, item: &ItemRef) -> Result<(), ForgeError> {
        let route = issue_route(item)?;
        let body = state_body("closed");
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    async fn reopen(&self, item: &ItemRef) -> Result<(), ForgeError> {
        let route = issue_route(item)?;
        let body = state_body("open");
        self.send(Scope::Repo(&item.repo), Verb::Patch(&body), &route)
            .await
            .map(drop)
    }

    /// `PUT /pulls/{n}/merge` with `merge_method` and, when given, `sha`: GitHub answers 405
    /// when the PR is not mergeable and 409 when the head moved (both `Conflict`), 422 for a
    /// request it cannot take (`Invalid`).
    async fn merge(
        &self,
        item: &ItemRef,
        method: MergeMethod,
        expected_head: Option<&str>,
    ) -> Result<(), ForgeError> {
        let route = format!("{}/merge", pull_route(item)?);
        let method = match method {
            MergeMethod::Merge => "merge",
            MergeMethod::Squash => "squash",
            MergeMethod::Rebase => "rebase",
        };
        let mut body = json!({ "merge_method": method });
        if let (Some(sha), Some(o)) = (expected_head, body.as_object_mut()) {
            o.insert("sha".into(), json!(sha));
        }
        let result: MergeResult = self
            .send_json(Scope::Repo(&item.repo), Verb::Put(&body), &route)
            .await?;
        if result.merged {
            Ok(())
        } else {
            Err(ForgeError::Conflict(format!(
                "GitHub did not merge {item}: {}",
                result.message
            )))
        }
    }

    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let route = format!(
            "{}/statuses/{}",
            repo_path_route(repo)?,
            encode_segment(sha)
        );
        let state = match status.state {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
        };
        let body = json!({
            "state": state,
            "context": status.context,
            "description": status.description,
            "target_url": status.target_url,
        });
        self.send(Scope::Repo(repo), Verb::Post(&body), &route)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("valid header"));
        }
        h
    }

    #[test]
    fn primary_limit_waits_for_the_reset() {
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "2000000000"),
        ]);
        let err = classify_status(403, Some(&h), "API rate limit exceeded", SystemTime::now());
        let reset = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert_eq!(err, ForgeError::RateLimited { reset });
    }

    #[test]
    fn secondary_limit_without_retry_after_waits_a_minute() {
        let now = SystemTime::now();
        let msg = "You have exceeded a secondary rate limit.";
        let err = classify_status(403, Some(&HeaderMap::new()), msg, now);
        assert_eq!(
            err,
            ForgeError::RateLimited {
                reset: now + DEFAULT_RATE_LIMIT_WAIT
            }
        );
    }

    #[test]
    fn plain_403_is_forbidden() {
        let err = classify_status(403, None, "Resource not accessible", SystemTime::now());
        assert!(matches!(err, ForgeError::Forbidden(_)));
    }

    #[test]
    fn next_page_is_requested_by_path() {
        let h = headers(&[(
            "link",
            "<https://ghe.example/api/v3/repos/o/r/issues/1/comments?per_page=100&page=2>; \
             rel=\"next\", <https://ghe.example/api/v3/x?page=5>; rel=\"last\"",
        )]);
        assert_eq!(
            next_page(&h).as_deref(),
            Some("/api/v3/repos/o/r/issues/1/comments?per_page=100&page=2")
        );
        assert_eq!(next_page(&HeaderMap::new()), None);
    }
}
