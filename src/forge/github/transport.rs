//! Sending requests to GitHub: the client per credential (a token, or an App installation),
//! one request under the shared limits, JSON bodies and `Link` paging.

use super::errors::classify;
use super::{AppAuth, Auth, GitHubForge, Scope, Verb, lock, repo_path_route};
use crate::forge::encode_segment;
use bosun_plugins::ForgeError;
use http_body_util::BodyExt;
use octocrab::Octocrab;
use octocrab::models::InstallationId;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The concurrency-cap key of calls made with the one configured token.
const TOKEN_CREDENTIAL: &str = "token";
/// The concurrency-cap key of calls made as the App itself (JWT): installation lookups.
const APP_CREDENTIAL: &str = "app";

/// Page size for list calls (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// A list longer than this many pages is treated as a forge bug rather than read forever.
const MAX_PAGES: usize = 500;

/// What bosun needs of a successful response.
pub(super) struct Reply {
    pub(super) body: Vec<u8>,
    /// The path and query of the `Link: rel="next"` page, if any.
    pub(super) next: Option<String>,
}

#[derive(Deserialize)]
struct Installation {
    id: u64,
}

impl GitHubForge {
    /// Sends one request, unless a known rate-limit reset lies ahead, and classifies failures.
    /// For an App the installation lookup is a call of its own, with its own deadline; minting
    /// the installation token happens inside the request's deadline.
    pub(super) async fn send(
        &self,
        scope: Scope<'_>,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<Reply, ForgeError> {
        let request = format!("{} {route}", verb.method());
        self.limits
            .gated("GitHub", &request, async {
                let (credential, client) = self.client_for(scope).await?;
                self.exchange(&credential, &client, verb, route).await
            })
            .await
    }

    /// One request on one client, when the credential has a free turn, under the timeout.
    async fn exchange(
        &self,
        credential: &str,
        client: &Octocrab,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<Reply, ForgeError> {
        self.limits
            .limited(credential, "GitHub", self.exchange_now(client, verb, route))
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
            self.limits.gate.close_until(reset);
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
    pub(super) async fn send_json<T: DeserializeOwned>(
        &self,
        scope: Scope<'_>,
        verb: Verb<'_>,
        route: &str,
    ) -> Result<T, ForgeError> {
        let reply = self.send(scope, verb, route).await?;
        parse(&reply.body, route)
    }

    /// Reads every page of a list, following `Link: rel="next"`.
    pub(super) async fn get_all<T: DeserializeOwned>(
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
    pub(super) async fn exists(&self, scope: Scope<'_>, route: &str) -> Result<bool, ForgeError> {
        match self.send(scope, Verb::Get, route).await {
            Ok(_) => Ok(true),
            Err(ForgeError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

pub(super) fn parse<T: DeserializeOwned>(body: &[u8], route: &str) -> Result<T, ForgeError> {
    serde_json::from_slice(body).map_err(|e| {
        ForgeError::Permanent(format!("unexpected response from GitHub for {route}: {e}"))
    })
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
