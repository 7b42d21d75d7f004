//! [`Forge`] for GitHub, through octocrab.
//!
//! Every request goes through `GitHubForge::send`, which uses octocrab's raw `_get`/`_post`/
//! `_patch`/`_delete` so that response headers (`Link`, `x-ratelimit-*`, `retry-after`) stay
//! readable, and classifies failures in one place, `classify`. Responses are read into narrow
//! structs of our own: no octocrab model leaves this module, and a field GitHub adds or drops
//! elsewhere in the object cannot break a read.
//!
//! octocrab is used without its `retry` feature: it would re-POST on a 5xx and could duplicate
//! a comment. The queue owns retries.

use super::{DEFAULT_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT, RateGate, encode_segment, status_error};
use async_trait::async_trait;
use bosun_plugins::{BotComment, Forge, ForgeError, ForgeKind, ForgeRead, ItemRef, Login};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// Page size for list calls (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// A list longer than this many pages is treated as a forge bug rather than read forever.
const MAX_PAGES: usize = 500;

/// bosun's GitHub adapter: one octocrab client, the bot's login once known, and the
/// rate-limit gate.
pub struct GitHubForge {
    client: octocrab::Octocrab,
    timeout: Duration,
    gate: RateGate,
    bot: OnceCell<Login>,
}

/// An HTTP verb with its JSON body.
enum Verb<'a> {
    Get,
    Post(&'a Value),
    Patch(&'a Value),
    Delete,
}

/// What bosun needs of a successful response.
struct Reply {
    body: String,
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
}

#[derive(Deserialize)]
struct Created {
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
        let invalid = |e: octocrab::Error| {
            ForgeError::Invalid(format!("GitHub API URL {api_url:?}: {}", first_line(&e)))
        };
        let builder = octocrab::Octocrab::builder()
            .base_uri(api_url)
            .map_err(invalid)?;
        let client = match token {
            Some(token) => builder.personal_token(token).build(),
            None => builder.build(),
        }
        .map_err(|e| ForgeError::Permanent(format!("building the GitHub client: {e}")))?;
        Ok(GitHubForge {
            client,
            timeout: DEFAULT_TIMEOUT,
            gate: RateGate::default(),
            bot: OnceCell::new(),
        })
    }

    /// Sets how long one request may take before it fails as `Transient`
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends one request, unless a known rate-limit reset lies ahead, and classifies failures.
    async fn send(&self, verb: Verb<'_>, route: &str) -> Result<Reply, ForgeError> {
        self.gate.check()?;
        let call = async {
            let c = &self.client;
            let response = match verb {
                Verb::Get => c._get(route).await,
                Verb::Post(body) => c._post(route, Some(body)).await,
                Verb::Patch(body) => c._patch(route, Some(body)).await,
                Verb::Delete => c._delete(route, None::<&()>).await,
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
            let body = c.body_to_string(response).await.map_err(classify)?;
            Ok(Reply { body, next })
        };
        let result = super::within(self.timeout, "GitHub", call).await;
        if let Err(e) = &result {
            self.gate.note(e);
        }
        result
    }

    /// Sends a request and reads its JSON body.
    async fn send_json<T: DeserializeOwned>(
        &self,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<T, ForgeError> {
        let reply = self.send(verb, route).await?;
        parse(&reply.body, route)
    }

    /// Reads every page of a list, following `Link: rel="next"`.
    async fn get_all<T: DeserializeOwned>(&self, route: &str) -> Result<Vec<T>, ForgeError> {
        let mut out = Vec::new();
        let mut next = Some(format!("{route}?per_page={PER_PAGE}"));
        for _ in 0..MAX_PAGES {
            let Some(page) = next.take() else {
                return Ok(out);
            };
            let reply = self.send(Verb::Get, &page).await?;
            out.extend(parse::<Vec<T>>(&reply.body, &page)?);
            next = reply.next.filter(|n| *n != page);
        }
        Err(ForgeError::Permanent(format!(
            "{route}: more than {MAX_PAGES} pages"
        )))
    }
}

/// `/repos/{owner}/{repo}/issues/{number}`; PRs are issues for labels and comments.
fn issue_route(item: &ItemRef) -> Result<String, ForgeError> {
    if item.forge != ForgeKind::GitHub {
        return Err(ForgeError::Invalid(format!("{item} is not a GitHub item")));
    }
    let (owner, name) = (item.repo.owner(), item.repo.name());
    if owner.contains('/') {
        return Err(ForgeError::Invalid(format!(
            "{} is not an owner/repo path",
            item.repo
        )));
    }
    Ok(format!(
        "/repos/{}/{}/issues/{}",
        encode_segment(owner),
        encode_segment(name),
        item.number
    ))
}

/// `/repos/{owner}/{repo}`, for routes not under an issue.
fn repo_route(item: &ItemRef) -> Result<String, ForgeError> {
    let issue = issue_route(item)?;
    let cut = issue.rfind("/issues/").unwrap_or(issue.len());
    Ok(issue[..cut].to_string())
}

fn parse<T: DeserializeOwned>(body: &str, route: &str) -> Result<T, ForgeError> {
    serde_json::from_str(body).map_err(|e| {
        ForgeError::Permanent(format!("unexpected response from GitHub for {route}: {e}"))
    })
}

/// The only place a GitHub failure becomes a [`ForgeError`].
fn classify(err: octocrab::Error) -> ForgeError {
    match err {
        octocrab::Error::GitHub { source, .. } => classify_status(
            source.status_code.as_u16(),
            source.headers.as_ref(),
            &source.message,
            SystemTime::now(),
        ),
        // Connection refused or reset, TLS, timeouts inside the client, a body cut short.
        octocrab::Error::Service { .. } | octocrab::Error::Hyper { .. } => ForgeError::Transient {
            message: format!("GitHub unreachable: {}", chain(&err)),
            retry_after: None,
        },
        octocrab::Error::Json { .. } | octocrab::Error::Serde { .. } => ForgeError::Permanent(
            format!("unexpected response from GitHub: {}", first_line(&err)),
        ),
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

#[async_trait]
impl ForgeRead for GitHubForge {
    async fn labels(&self, item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        let route = format!("{}/labels", issue_route(item)?);
        let labels: Vec<LabelName> = self.get_all(&route).await?;
        Ok(labels.into_iter().map(|l| l.name).collect())
    }

    async fn comments(&self, item: &ItemRef) -> Result<Vec<BotComment>, ForgeError> {
        let route = format!("{}/comments", issue_route(item)?);
        let comments: Vec<RawComment> = self.get_all(&route).await?;
        Ok(comments
            .into_iter()
            .map(|c| BotComment {
                id: c.id,
                author: Login::new(c.user.as_ref().map_or("ghost", |u| u.login.as_str())),
                body: c.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn bot_login(&self) -> Result<Login, ForgeError> {
        let login = self
            .bot
            .get_or_try_init(|| async {
                let user: User = self.send_json(Verb::Get, "/user").await?;
                Ok::<_, ForgeError>(Login::new(&user.login))
            })
            .await?;
        Ok(login.clone())
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
        self.send(Verb::Post(&json!({ "labels": labels })), &route)
            .await
            .map(drop)
    }

    async fn remove_label(&self, item: &ItemRef, label: &str) -> Result<(), ForgeError> {
        let route = format!("{}/labels/{}", issue_route(item)?, encode_segment(label));
        match self.send(Verb::Delete, &route).await {
            Ok(_) | Err(ForgeError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn create_comment(&self, item: &ItemRef, body: &str) -> Result<u64, ForgeError> {
        let route = format!("{}/comments", issue_route(item)?);
        let created: Created = self
            .send_json(Verb::Post(&json!({ "body": body })), &route)
            .await?;
        Ok(created.id)
    }

    async fn edit_comment(&self, item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError> {
        let route = format!("{}/issues/comments/{id}", repo_route(item)?);
        self.send(Verb::Patch(&json!({ "body": body })), &route)
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
