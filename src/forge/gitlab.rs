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

use super::{CallLimiter, DEFAULT_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT, RateGate, status_error};
use async_trait::async_trait;
use bosun_plugins::{
    BotComment, ChangedFile, CommitStatus, Forge, ForgeError, ForgeKind, ForgeRead, ItemKind,
    ItemRef, ItemState, Login, MergeMethod, PullRequestInfo, RepoPath, Review, ReviewState,
    StatusState, Tree, TreeEntry, TreeEntryKind,
};
use gitlab::api::common::{NameOrId, SortOrder};
use gitlab::api::endpoint_prelude::{Method, QueryParams};
use gitlab::api::projects::repository::commits::{CommitStatusState, CreateCommitStatus};
use gitlab::api::projects::{issues, labels, members, merge_requests as mrs, repository};
use gitlab::api::{ApiError, AsyncClient, AsyncQuery, BodyError, Endpoint, UrlBase};
use gitlab::{AsyncGitlab, GitlabBuilder, GitlabError, RestError};
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// The least access level that makes a project member a collaborator (Developer).
const COLLABORATOR_LEVEL: u64 = 30;
/// The least access level that makes a group member an org/team member (Guest).
const MEMBER_LEVEL: u64 = 10;

/// The concurrency-cap key: a GitLab adapter calls with one token.
const TOKEN_CREDENTIAL: &str = "token";

/// Page size for note lists (GitLab's maximum).
const PER_PAGE: u64 = 100;
/// A list longer than this many pages is treated as a forge bug rather than read forever.
const MAX_PAGES: u64 = 500;

/// bosun's GitLab adapter: where GitLab is, the lazily built client, the bot's login once
/// known, and the rate-limit gate.
pub struct GitLabForge {
    /// `host[:port][/prefix]`, the form the `gitlab` crate expects.
    host: String,
    insecure: bool,
    token: Option<SecretString>,
    timeout: Duration,
    client: OnceCell<AsyncGitlab>,
    bot: OnceCell<Login>,
    gate: RateGate,
    /// Caps the calls in flight with the one token.
    limiter: CallLimiter,
    /// Usernames (lower case) → user ids, resolved once.
    user_ids: Mutex<HashMap<String, u64>>,
}

#[derive(Deserialize)]
struct Labeled {
    labels: Vec<String>,
}

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
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct UserId {
    id: u64,
    username: String,
}

#[derive(Deserialize)]
struct DiffRefs {
    base_sha: Option<String>,
    head_sha: Option<String>,
}

#[derive(Deserialize)]
struct RawMr {
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
}

/// An MR or issue's assignees (and an MR's reviewers), for read-modify-write edits.
#[derive(Deserialize)]
struct People {
    #[serde(default)]
    assignees: Vec<UserId>,
    #[serde(default)]
    reviewers: Vec<UserId>,
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
struct LabelName {
    name: String,
}

#[derive(Deserialize)]
struct Member {
    access_level: u64,
}

#[derive(Deserialize)]
struct MergedMr {
    state: String,
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

/// `DELETE /projects/:id/{merge_requests|issues}/:iid/notes/:note_id`. The crate has no
/// delete-note endpoint (notes offer create, edit, list and award emoji only), so this one is
/// ours.
struct DeleteNote<'a> {
    project: &'a str,
    collection: &'static str,
    iid: u64,
    note: u64,
}

impl Endpoint for DeleteNote<'_> {
    fn method(&self) -> Method {
        Method::DELETE
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!(
            "projects/{}/{}/{}/notes/{}",
            NameOrId::from(self.project),
            self.collection,
            self.iid,
            self.note
        )
        .into()
    }
}

/// One page of a list endpoint. The crate's own `api::paged` reports a 429 without its
/// `Retry-After`, so lists are paged here and each page goes through `query_async`, which
/// keeps it.
struct Page<E> {
    endpoint: E,
    page: u64,
}

impl<E: Endpoint> Endpoint for Page<E> {
    fn method(&self) -> Method {
        self.endpoint.method()
    }

    fn endpoint(&self) -> Cow<'static, str> {
        self.endpoint.endpoint()
    }

    fn url_base(&self) -> UrlBase {
        self.endpoint.url_base()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = self.endpoint.parameters();
        params.push("page", self.page).push("per_page", PER_PAGE);
        params
    }

    fn body(&self) -> Result<Option<(&'static str, Vec<u8>)>, BodyError> {
        self.endpoint.body()
    }
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
            timeout: DEFAULT_TIMEOUT,
            client: OnceCell::new(),
            bot: OnceCell::new(),
            gate: RateGate::default(),
            limiter: CallLimiter::default(),
            user_ids: Mutex::new(HashMap::new()),
        })
    }

    /// Sets how long one request may take before it fails as `Transient`
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Caps the calls in flight with the token (default
    /// [`super::DEFAULT_MAX_CONCURRENT_CALLS`]).
    pub fn with_max_concurrent_calls(mut self, max: usize) -> Self {
        self.limiter = CallLimiter::new(max);
        self
    }

    /// The client, built on first use; a failed build leaves the cell empty for the next call.
    async fn client(&self) -> Result<&AsyncGitlab, ForgeError> {
        self.client
            .get_or_try_init(|| async {
                let mut builder = match &self.token {
                    Some(token) => GitlabBuilder::new(&self.host, token.expose_secret()),
                    None => GitlabBuilder::new_unauthenticated(&self.host),
                };
                if self.insecure {
                    builder.insecure();
                }
                builder.build_async().await.map_err(classify_build)
            })
            .await
    }

    /// Runs one endpoint, unless a known rate-limit reset lies ahead, and classifies failures.
    async fn query<E, T>(&self, endpoint: E) -> Result<T, ForgeError>
    where
        E: Endpoint + Sync + Send,
        T: DeserializeOwned + Send + 'static,
    {
        self.gate.check()?;
        let _turn = self.limiter.acquire(TOKEN_CREDENTIAL).await?;
        let call = async {
            let client = self.client().await?;
            endpoint.query_async(client).await.map_err(classify)
        };
        let result = super::within(self.timeout, "GitLab", call).await;
        if let Err(e) = &result {
            self.gate.note(e);
        }
        result
    }

    /// Runs one endpoint and returns the raw body, unless a known rate-limit reset lies ahead.
    ///
    /// For raw files and empty answers. The crate's own `api::raw` and `api::ignore` report a
    /// 429 without its `Retry-After`/`RateLimit-Reset`, which the gate must honour, so this
    /// sends the endpoint through the crate's `AsyncClient::rest_async` and classifies the
    /// response itself (`classify_response`).
    async fn query_bytes<E>(&self, endpoint: E) -> Result<Vec<u8>, ForgeError>
    where
        E: Endpoint + Sync + Send,
    {
        self.gate.check()?;
        let _turn = self.limiter.acquire(TOKEN_CREDENTIAL).await?;
        let call = async {
            let client = self.client().await?;
            let mut url = endpoint
                .url_base()
                .endpoint_for(client, &endpoint.endpoint())
                .map_err(classify)?;
            endpoint.parameters().add_to_url(&mut url);
            let mut request = http::Request::builder()
                .method(endpoint.method())
                .uri(url.as_str());
            let body = match endpoint.body().map_err(unbuildable)? {
                Some((mime, data)) => {
                    request = request.header(http::header::CONTENT_TYPE, mime);
                    data
                }
                None => Vec::new(),
            };
            let response = client.rest_async(request, body).await.map_err(classify)?;
            let status = response.status();
            if status.is_success() {
                Ok(response.body().to_vec())
            } else {
                Err(classify_response(
                    status.as_u16(),
                    response.headers(),
                    response.body(),
                    SystemTime::now(),
                ))
            }
        };
        let result = super::within(self.timeout, "GitLab", call).await;
        if let Err(e) = &result {
            self.gate.note(e);
        }
        result
    }

    /// A user's id, resolved through `GET /users?username=` once; `None` for an unknown user.
    async fn user_id(&self, login: &Login) -> Result<Option<u64>, ForgeError> {
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
    async fn people(&self, item: &ItemRef) -> Result<People, ForgeError> {
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

    /// The ids after adding `users` to (or removing them from) `current`; unknown users are
    /// skipped when adding.
    async fn edited_ids(
        &self,
        current: &[UserId],
        users: &[Login],
        add: bool,
    ) -> Result<BTreeSet<u64>, ForgeError> {
        let mut ids: BTreeSet<u64> = current.iter().map(|u| u.id).collect();
        for user in users {
            if add {
                if let Some(id) = self.user_id(user).await? {
                    ids.insert(id);
                }
            } else if let Some(u) = current
                .iter()
                .find(|u| u.username.eq_ignore_ascii_case(user.as_str()))
            {
                ids.remove(&u.id);
            }
        }
        Ok(ids)
    }

    /// Adds or removes assignees by writing the whole new id list; no write when nothing
    /// changes.
    async fn edit_assignees(
        &self,
        item: &ItemRef,
        users: &[Login],
        add: bool,
    ) -> Result<(), ForgeError> {
        let project = project(item)?;
        if users.is_empty() {
            return Ok(());
        }
        let current = self.people(item).await?.assignees;
        let ids = self.edited_ids(&current, users, add).await?;
        if ids == current.iter().map(|u| u.id).collect::<BTreeSet<_>>() {
            return Ok(());
        }
        let _: People = match item.kind {
            ItemKind::PullRequest => {
                let mut b = mrs::EditMergeRequest::builder();
                b.project(project).merge_request(item.number);
                if ids.is_empty() {
                    b.unassigned();
                } else {
                    b.assignees(ids.into_iter());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
            ItemKind::Issue => {
                let mut b = issues::EditIssue::builder();
                b.project(project).issue(item.number);
                if ids.is_empty() {
                    b.unassign();
                } else {
                    b.assignee_ids(ids.into_iter());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
        };
        Ok(())
    }

    /// Adds or removes MR reviewers by writing the whole new id list.
    async fn edit_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        add: bool,
    ) -> Result<(), ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request; only merge requests have reviewers"
            )));
        }
        if users.is_empty() {
            return Ok(());
        }
        let current = self.people(item).await?.reviewers;
        let ids = self.edited_ids(&current, users, add).await?;
        if ids == current.iter().map(|u| u.id).collect::<BTreeSet<_>>() {
            return Ok(());
        }
        let mut b = mrs::EditMergeRequest::builder();
        b.project(project).merge_request(item.number);
        if ids.is_empty() {
            b.without_reviewer();
        } else {
            b.reviewers(ids.into_iter());
        }
        let _: People = self.query(b.build().map_err(unbuildable)?).await?;
        Ok(())
    }

    /// Sets the title or state of an MR or issue.
    async fn edit_item(&self, item: &ItemRef, edit: ItemEdit<'_>) -> Result<(), ForgeError> {
        let project = project(item)?;
        let _: People = match item.kind {
            ItemKind::PullRequest => {
                let mut b = mrs::EditMergeRequest::builder();
                b.project(project).merge_request(item.number);
                match edit {
                    ItemEdit::Title(t) => b.title(t),
                    ItemEdit::Close => b.state_event(mrs::MergeRequestStateEvent::Close),
                    ItemEdit::Reopen => b.state_event(mrs::MergeRequestStateEvent::Reopen),
                };
                self.query(b.build().map_err(unbuildable)?).await?
            }
            ItemKind::Issue => {
                let mut b = issues::EditIssue::builder();
                b.project(project).issue(item.number);
                match edit {
                    ItemEdit::Title(t) => b.title(t),
                    ItemEdit::Close => b.state_event(issues::IssueStateEvent::Close),
                    ItemEdit::Reopen => b.state_event(issues::IssueStateEvent::Reopen),
                };
                self.query(b.build().map_err(unbuildable)?).await?
            }
        };
        Ok(())
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

    /// Reads every page of a list endpoint.
    async fn query_all<E, T>(&self, endpoint: E) -> Result<Vec<T>, ForgeError>
    where
        E: Endpoint + Sync + Send,
        T: DeserializeOwned + Send + 'static,
    {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let items: Vec<T> = self
                .query(Page {
                    endpoint: &endpoint,
                    page,
                })
                .await?;
            let last = items.len() < PER_PAGE as usize;
            out.extend(items);
            if last {
                return Ok(out);
            }
        }
        Err(ForgeError::Permanent(format!(
            "GitLab list {}: more than {MAX_PAGES} pages",
            endpoint.endpoint()
        )))
    }
}

/// The project path of a GitLab item, or `Invalid` for another forge's item.
fn project(item: &ItemRef) -> Result<&str, ForgeError> {
    if item.forge != ForgeKind::GitLab {
        return Err(ForgeError::Invalid(format!("{item} is not a GitLab item")));
    }
    Ok(item.repo.as_str())
}

/// One edit of an item's title or state.
#[derive(Clone, Copy)]
enum ItemEdit<'a> {
    Title(&'a str),
    Close,
    Reopen,
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

/// Parses `rrggbb` or `#rrggbb`.
fn rgb(color: &str) -> Option<(u8, u8, u8)> {
    let hex = color.trim_start_matches('#');
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let part = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some((part(0)?, part(2)?, part(4)?))
}

/// An endpoint builder refused its input: a bug in this module, not a forge failure.
fn unbuildable(e: impl std::fmt::Display) -> ForgeError {
    ForgeError::Invalid(format!("GitLab endpoint: {e}"))
}

/// The only place a GitLab API failure becomes a [`ForgeError`].
fn classify(err: ApiError<RestError>) -> ForgeError {
    let now = SystemTime::now();
    match err {
        ApiError::GitlabRateLimited {
            rl_reset,
            retry_after,
            ..
        } => {
            let reset = SystemTime::from(rl_reset);
            let reset = if !retry_after.is_zero() {
                now + retry_after
            } else if reset > now {
                reset
            } else {
                now + DEFAULT_RATE_LIMIT_WAIT
            };
            ForgeError::RateLimited { reset }
        }
        ApiError::GitlabWithStatus { status, msg } => status_error(status.as_u16(), &msg, None),
        ApiError::GitlabService { status, data } => {
            status_error(status.as_u16(), &String::from_utf8_lossy(&data), None)
        }
        ApiError::GitlabObjectWithStatus { status, obj }
        | ApiError::GitlabUnrecognizedWithStatus { status, obj } => {
            status_error(status.as_u16(), &obj.to_string(), None)
        }
        // Connection refused or reset, TLS, a timeout inside reqwest.
        ApiError::Client {
            source: RestError::Communication { source },
        } => ForgeError::Transient {
            message: format!("GitLab unreachable: {}", chain(&source)),
            retry_after: None,
        },
        ApiError::MovedPermanently { location } => ForgeError::NotFound(format!(
            "moved permanently to {}",
            location.as_deref().unwrap_or("an unknown location")
        )),
        ApiError::Json { .. } | ApiError::DataType { .. } => {
            ForgeError::Permanent(format!("unexpected response from GitLab: {err}"))
        }
        other => ForgeError::Permanent(format!("GitLab client: {other}")),
    }
}

/// Classifies a failed raw response (see `GitLabForge::query_bytes`): a 429 waits for
/// `Retry-After` or the `RateLimit-Reset` epoch, other statuses go through the shared table.
fn classify_response(status: u16, headers: &HeaderMap, body: &[u8], now: SystemTime) -> ForgeError {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let retry_after = header("retry-after").map(Duration::from_secs);
    if status == 429 {
        let reset = header("ratelimit-reset").map(|s| UNIX_EPOCH + Duration::from_secs(s));
        let reset = match (retry_after, reset) {
            (Some(wait), _) if !wait.is_zero() => now + wait,
            (_, Some(reset)) if reset > now => reset,
            _ => now + DEFAULT_RATE_LIMIT_WAIT,
        };
        return ForgeError::RateLimited { reset };
    }
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").or_else(|| v.get("error")).cloned())
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    status_error(status, &message, retry_after)
}

/// Building the client calls `GET /user`; its failures classify like any call's.
fn classify_build(err: GitlabError) -> ForgeError {
    match err {
        GitlabError::Api { source } => classify(source),
        GitlabError::Communication { source } => ForgeError::Transient {
            message: format!("GitLab unreachable: {}", chain(&source)),
            retry_after: None,
        },
        GitlabError::Http { status } => status_error(status.as_u16(), "building the client", None),
        GitlabError::UrlParse { .. } => ForgeError::Invalid(format!("GitLab URL: {err}")),
        other => ForgeError::Permanent(format!("building the GitLab client: {other}")),
    }
}

/// An error's message and causes on one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
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
        Ok(PullRequestInfo {
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
        })
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

    /// A project member (direct, inherited or invited) with Developer access or more.
    async fn is_collaborator(&self, repo: &RepoPath, user: &Login) -> Result<bool, ForgeError> {
        let Some(id) = self.user_id(user).await? else {
            return Ok(false);
        };
        let ep = members::AllProjectMember::builder()
            .project(repo.as_str())
            .user(id)
            .build()
            .map_err(unbuildable)?;
        match self.query::<_, Member>(ep).await {
            Ok(m) => Ok(m.access_level >= COLLABORATOR_LEVEL),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn is_org_member(&self, org: &str, user: &Login) -> Result<bool, ForgeError> {
        self.in_group(org, user, MEMBER_LEVEL).await
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

#[async_trait]
impl Forge for GitLabForge {
    async fn add_labels(&self, item: &ItemRef, labels: &[String]) -> Result<(), ForgeError> {
        let project = project(item)?;
        if labels.is_empty() {
            // GitLab answers 400 to an edit without parameters.
            return Ok(());
        }
        let _: Labeled = match item.kind {
            ItemKind::PullRequest => {
                let mut b = mrs::EditMergeRequest::builder();
                b.project(project).merge_request(item.number);
                for l in labels {
                    b.add_label(l.as_str());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
            ItemKind::Issue => {
                let mut b = issues::EditIssue::builder();
                b.project(project).issue(item.number);
                for l in labels {
                    b.add_label(l.as_str());
                }
                self.query(b.build().map_err(unbuildable)?).await?
            }
        };
        Ok(())
    }

    /// GitLab ignores the removal of a label the item does not have, as the trait asks.
    async fn remove_label(&self, item: &ItemRef, label: &str) -> Result<(), ForgeError> {
        let project = project(item)?;
        let _: Labeled = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::EditMergeRequest::builder()
                    .project(project)
                    .merge_request(item.number)
                    .remove_label(label)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::EditIssue::builder()
                    .project(project)
                    .issue(item.number)
                    .remove_label(label)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(())
    }

    async fn create_comment(&self, item: &ItemRef, body: &str) -> Result<u64, ForgeError> {
        let project = project(item)?;
        let created: Created = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::notes::CreateMergeRequestNote::builder()
                    .project(project)
                    .merge_request(item.number)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::notes::CreateIssueNote::builder()
                    .project(project)
                    .issue(item.number)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(created.id)
    }

    async fn edit_comment(&self, item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let project = project(item)?;
        let _: Created = match item.kind {
            ItemKind::PullRequest => {
                let ep = mrs::notes::EditMergeRequestNote::builder()
                    .project(project)
                    .merge_request(item.number)
                    .note(id)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
            ItemKind::Issue => {
                let ep = issues::notes::EditIssueNote::builder()
                    .project(project)
                    .issue(item.number)
                    .note(id)
                    .body(body)
                    .build()
                    .map_err(unbuildable)?;
                self.query(ep).await?
            }
        };
        Ok(())
    }

    /// GitLab answers 409 for an existing label: that is success here.
    async fn create_label(
        &self,
        repo: &RepoPath,
        name: &str,
        color: &str,
    ) -> Result<(), ForgeError> {
        let Some(rgb) = rgb(color) else {
            return Err(ForgeError::Invalid(format!(
                "label color {color:?} is not six hex digits"
            )));
        };
        let ep = labels::CreateLabel::builder()
            .project(repo.as_str())
            .name(name)
            .color(rgb)
            .build()
            .map_err(unbuildable)?;
        match self.query::<_, LabelName>(ep).await {
            Ok(_) | Err(ForgeError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete_comment(&self, item: &ItemRef, id: u64) -> Result<(), ForgeError> {
        let ep = DeleteNote {
            project: project(item)?,
            collection: collection(item),
            iid: item.number,
            note: id,
        };
        match self.query_bytes(ep).await {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn assign(&self, item: &ItemRef, users: &[Login]) -> Result<(), ForgeError> {
        self.edit_assignees(item, users, true).await
    }

    async fn unassign(&self, item: &ItemRef, users: &[Login]) -> Result<(), ForgeError> {
        self.edit_assignees(item, users, false).await
    }

    /// GitLab has no team reviewers; `teams` is ignored.
    async fn request_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        _teams: &[String],
    ) -> Result<(), ForgeError> {
        self.edit_reviewers(item, users, true).await
    }

    async fn unrequest_reviewers(
        &self,
        item: &ItemRef,
        users: &[Login],
        _teams: &[String],
    ) -> Result<(), ForgeError> {
        self.edit_reviewers(item, users, false).await
    }

    async fn set_title(&self, item: &ItemRef, title: &str) -> Result<(), ForgeError> {
        self.edit_item(item, ItemEdit::Title(title)).await
    }

    async fn close(&self, item: &ItemRef) -> Result<(), ForgeError> {
        self.edit_item(item, ItemEdit::Close).await
    }

    async fn reopen(&self, item: &ItemRef) -> Result<(), ForgeError> {
        self.edit_item(item, ItemEdit::Reopen).await
    }

    /// `PUT …/merge` with `squash` and, when given, `sha`. GitLab answers 405 (draft, closed,
    /// pipeline), 406 (conflicts) and 409 (head moved), all `Conflict`; rebase is `Invalid`
    /// (see the module documentation).
    async fn merge(
        &self,
        item: &ItemRef,
        method: MergeMethod,
        expected_head: Option<&str>,
    ) -> Result<(), ForgeError> {
        let project = project(item)?;
        if item.kind != ItemKind::PullRequest {
            return Err(ForgeError::Invalid(format!(
                "{item} is not a merge request"
            )));
        }
        let squash = match method {
            MergeMethod::Merge => false,
            MergeMethod::Squash => true,
            MergeMethod::Rebase => {
                return Err(ForgeError::Invalid(
                    "GitLab merges by the project's merge method; rebase is not a per-merge choice"
                        .into(),
                ));
            }
        };
        let mut b = mrs::MergeMergeRequest::builder();
        b.project(project).merge_request(item.number).squash(squash);
        if let Some(sha) = expected_head {
            b.sha(sha);
        }
        let merged: MergedMr = self.query(b.build().map_err(unbuildable)?).await?;
        if merged.state == "merged" {
            Ok(())
        } else {
            // Merge-when-pipeline-succeeds and merge trains answer 200 without merging yet.
            Err(ForgeError::Conflict(format!(
                "GitLab did not merge {item} yet (state {})",
                merged.state
            )))
        }
    }

    /// `POST /projects/:id/statuses/:sha`; `failure` and `error` are both GitLab's `failed`,
    /// and the context is the status `name`.
    async fn set_status(
        &self,
        repo: &RepoPath,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), ForgeError> {
        let state = match status.state {
            StatusState::Pending => CommitStatusState::Pending,
            StatusState::Success => CommitStatusState::Success,
            StatusState::Failure | StatusState::Error => CommitStatusState::Failed,
        };
        let mut b = CreateCommitStatus::builder();
        b.project(repo.as_str())
            .commit(sha)
            .state(state)
            .name(status.context.as_str())
            .description(status.description.as_str());
        if let Some(url) = &status.target_url {
            b.target_url(url.as_str());
        }
        let _: Created = self.query(b.build().map_err(unbuildable)?).await?;
        Ok(())
    }
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
    fn diff_lines_are_counted_without_file_headers() {
        let diff =
            "@@ -1,2 +1,3 @@\n context\n-old\n+++i;\n+new\n--x\n\\ No newline at end of file\n";
        assert_eq!(count_lines(diff), (2, 2));
        assert_eq!(count_lines(""), (0, 0));
    }

    #[test]
    fn label_colours_parse_with_or_without_hash() {
        assert_eq!(rgb("#e11d21"), Some((0xe1, 0x1d, 0x21)));
        assert_eq!(rgb("EDEDED"), Some((0xed, 0xed, 0xed)));
        assert_eq!(rgb("red"), None);
        assert_eq!(rgb("#ééé"), None);
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

    #[test]
    fn raw_429s_wait_for_retry_after_then_the_reset() {
        let now = SystemTime::now();
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "30".parse().expect("header"));
        assert_eq!(
            classify_response(429, &headers, b"Retry later", now),
            ForgeError::RateLimited {
                reset: now + Duration::from_secs(30)
            }
        );
        let reset = now
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            + 90;
        let mut headers = HeaderMap::new();
        headers.insert(
            "ratelimit-reset",
            reset.to_string().parse().expect("header"),
        );
        assert_eq!(
            classify_response(429, &headers, b"", now),
            ForgeError::RateLimited {
                reset: UNIX_EPOCH + Duration::from_secs(reset)
            }
        );
        let err = classify_response(
            404,
            &HeaderMap::new(),
            br#"{"message":"404 File Not Found"}"#,
            now,
        );
        assert_eq!(err, ForgeError::NotFound("404: 404 File Not Found".into()));
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
