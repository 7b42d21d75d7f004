//! [`Forge`] for GitLab, through the `gitlab` crate's `AsyncGitlab`.
//!
//! Building an `AsyncGitlab` with a token calls `GET /api/v4/user`, so the client is built
//! lazily on the first call and rebuilt on a later call if that failed: a GitLab outage at boot
//! must not stop bosun. Every call goes through `GitLabForge::query`, which applies the
//! rate-limit gate and the timeout and classifies failures in one place, `classify`.
//! Responses are read into narrow structs of our own (the crate has no response models).

use super::{DEFAULT_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT, RateGate, status_error};
use async_trait::async_trait;
use bosun_plugins::{
    BotComment, Forge, ForgeError, ForgeKind, ForgeRead, ItemKind, ItemRef, Login,
};
use gitlab::api::common::SortOrder;
use gitlab::api::endpoint_prelude::{Method, QueryParams};
use gitlab::api::projects::{issues, merge_requests as mrs};
use gitlab::api::{ApiError, AsyncQuery, BodyError, Endpoint, UrlBase};
use gitlab::{AsyncGitlab, GitlabBuilder, GitlabError, RestError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::time::{Duration, SystemTime};
use tokio::sync::OnceCell;

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
}

#[derive(Deserialize)]
struct Created {
    id: u64,
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
        })
    }

    /// Sets how long one request may take before it fails as `Transient`
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
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
