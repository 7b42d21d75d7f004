//! Talking to GitLab: the lazily built client, one endpoint under the shared limits (JSON or
//! raw answers), and paging.

use super::GitLabForge;
use super::errors::{classify, classify_build, classify_response, unbuildable};
use bosun_plugins::ForgeError;
use gitlab::api::endpoint_prelude::{Method, QueryParams};
use gitlab::api::{AsyncClient, AsyncQuery, BodyError, Endpoint, UrlBase};
use gitlab::{AsyncGitlab, GitlabBuilder};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::time::SystemTime;

/// The concurrency-cap key: a GitLab adapter calls with one token.
const TOKEN_CREDENTIAL: &str = "token";

/// Page size for note lists (GitLab's maximum).
const PER_PAGE: u64 = 100;
/// A list longer than this many pages is treated as a forge bug rather than read forever.
const MAX_PAGES: u64 = 500;

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
    pub(super) async fn query<E, T>(&self, endpoint: E) -> Result<T, ForgeError>
    where
        E: Endpoint + Sync + Send,
        T: DeserializeOwned + Send + 'static,
    {
        let call = async {
            let client = self.client().await?;
            endpoint.query_async(client).await.map_err(classify)
        };
        let request = format!("{} {}", endpoint.method().as_str(), endpoint.endpoint());
        self.limits
            .gated(
                "GitLab",
                &request,
                self.limits.limited(TOKEN_CREDENTIAL, "GitLab", call),
            )
            .await
    }

    /// Runs one endpoint and returns the raw body, unless a known rate-limit reset lies ahead.
    ///
    /// For raw files and empty answers. The crate's own `api::raw` and `api::ignore` report a
    /// 429 without its `Retry-After`/`RateLimit-Reset`, which the gate must honour, so this
    /// sends the endpoint through the crate's `AsyncClient::rest_async` and classifies the
    /// response itself (`classify_response`).
    pub(super) async fn query_bytes<E>(&self, endpoint: E) -> Result<Vec<u8>, ForgeError>
    where
        E: Endpoint + Sync + Send,
    {
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
        let request = format!("{} {}", endpoint.method().as_str(), endpoint.endpoint());
        self.limits
            .gated(
                "GitLab",
                &request,
                self.limits.limited(TOKEN_CREDENTIAL, "GitLab", call),
            )
            .await
    }

    /// Reads every page of a list endpoint.
    pub(super) async fn query_all<E, T>(&self, endpoint: E) -> Result<Vec<T>, ForgeError>
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
