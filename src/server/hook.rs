//! `POST /hook`: authenticate a webhook, journal it, and answer 202 only once it is committed.
//!
//! Answers: 202 committed; 200 a delivery id already stored (nothing runs again); 400 a
//! missing header, invalid JSON or an event name bosun takes only from elsewhere; 401 a
//! missing or wrong signature/token; 413 a body over the limit; 415 a non-JSON content type;
//! 503 when the store cannot commit or bosun is stopping.
//! Error bodies are one line; nothing of the payload is echoed, and rejected requests store
//! nothing.

use super::AppState;
use crate::config::ScopedSecrets;
use crate::store::{InsertOutcome, NewDelivery, Payload};
use actix_web::http::StatusCode;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use bosun_plugins::ForgeKind;
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;
use subtle::ConstantTimeEq;

/// Why a webhook was refused; the message is the whole response body.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("payload larger than {0} bytes")]
    TooLarge(usize),
    #[error("content-type must be application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unavailable(&'static str),
}

impl ResponseError for ReceiveError {
    fn status_code(&self) -> StatusCode {
        match self {
            ReceiveError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ReceiveError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ReceiveError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ReceiveError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ReceiveError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ReceiveError::Unavailable(_)) {
            response.insert_header(("Retry-After", "5"));
        }
        response
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
}

/// The handler.
pub async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReceiveError> {
    let started = Instant::now();
    let result = receive_inner(&req, payload, &state).await;
    let (forge, outcome) = match &result {
        Ok((forge, InsertOutcome::Inserted)) => (forge.as_str(), "accepted"),
        Ok((forge, InsertOutcome::Duplicate)) => (forge.as_str(), "duplicate"),
        Err(e) => ("unknown", reason_label(e)),
    };
    metrics::counter!("bosun_webhooks_total", "forge" => forge, "result" => outcome).increment(1);
    metrics::histogram!("bosun_ack_latency_seconds", "result" => outcome)
        .record(started.elapsed().as_secs_f64());
    match result? {
        (_, InsertOutcome::Inserted) => Ok(HttpResponse::Accepted()
            .content_type("text/plain; charset=utf-8")
            .body("accepted\n")),
        (_, InsertOutcome::Duplicate) => Ok(HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("already received\n")),
    }
}

fn reason_label(e: &ReceiveError) -> &'static str {
    match e {
        ReceiveError::BadRequest(_) => "bad_request",
        ReceiveError::Unauthorized(_) => "unauthorized",
        ReceiveError::TooLarge(_) => "too_large",
        ReceiveError::UnsupportedMediaType => "unsupported_media_type",
        ReceiveError::Unavailable(_) => "unavailable",
    }
}

/// A header's trimmed value, if present and not empty.
pub(crate) fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

async fn receive_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(ForgeKind, InsertOutcome), ReceiveError> {
    if state.shutting_down.load(Ordering::Relaxed) {
        return Err(ReceiveError::Unavailable(
            "bosun is shutting down; retry later",
        ));
    }
    let (forge, event) = match (header(req, "x-github-event"), header(req, "x-gitlab-event")) {
        (Some(e), _) => (ForgeKind::GitHub, e),
        (None, Some(e)) => (ForgeKind::GitLab, e),
        (None, None) => {
            return Err(ReceiveError::BadRequest(
                "missing X-GitHub-Event or X-Gitlab-Event header",
            ));
        }
    };
    if crate::webhook::NOT_FROM_FORGE_HOOKS.contains(&event) {
        // A delivery of such a name would run as a chat command or a Drone build, whoever
        // signed it (a chat user's command, a green build).
        return Err(ReceiveError::BadRequest(
            "this event name is reserved for deliveries bosun does not take from a forge",
        ));
    }
    let live = state.live.get();
    let Some(forge_settings) = live.forge(forge) else {
        return Err(ReceiveError::BadRequest("this forge is not configured"));
    };
    let content_type = header(req, "content-type").unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ReceiveError::UnsupportedMediaType);
    }
    let credential = match forge {
        ForgeKind::GitHub => {
            if header(req, "x-github-delivery").is_none() {
                return Err(ReceiveError::BadRequest("missing X-GitHub-Delivery header"));
            }
            header(req, "x-hub-signature-256").ok_or(ReceiveError::Unauthorized(
                "missing X-Hub-Signature-256 header",
            ))?
        }
        ForgeKind::GitLab => header(req, "x-gitlab-token")
            .ok_or(ReceiveError::Unauthorized("missing X-Gitlab-Token header"))?,
    };
    let body = read_body(req, payload, state.settings.limits.max_body_bytes).await?;
    let route = match forge {
        ForgeKind::GitHub => route_github(&body)?,
        ForgeKind::GitLab => route_gitlab(&body)?,
    };
    let secrets = &forge_settings.webhook_secrets;
    let authentic = match forge {
        ForgeKind::GitHub => verify_github(secrets, route.scope.as_deref(), credential, &body),
        ForgeKind::GitLab => verify_gitlab(secrets, route.scope.as_deref(), credential),
    };
    if !authentic {
        return Err(match forge {
            ForgeKind::GitHub => ReceiveError::Unauthorized("invalid X-Hub-Signature-256"),
            ForgeKind::GitLab => ReceiveError::Unauthorized("invalid X-Gitlab-Token"),
        });
    }
    let delivery_id = match forge {
        ForgeKind::GitHub => format!(
            "github:{}",
            header(req, "x-github-delivery").unwrap_or_default()
        ),
        ForgeKind::GitLab => {
            match header(req, "idempotency-key").or_else(|| header(req, "x-gitlab-event-uuid")) {
                Some(id) => format!("gitlab:{id}"),
                None => format!("gitlab:sha256:{}", hex::encode(Sha256::digest(&body))),
            }
        }
    };
    if delivery_id.len() > 200 {
        return Err(ReceiveError::BadRequest("delivery id header is too long"));
    }
    // The route borrows the body, which is journaled below.
    let (repo, number, item_sigil) = route.into_parts();
    let item_key = match (&repo, number) {
        (Some(repo), Some(n)) => format!("{forge}:{repo}{item_sigil}{n}"),
        (Some(repo), None) => format!("{forge}:{repo}"),
        (None, _) => format!("{forge}:-"),
    };
    let delivery = NewDelivery {
        delivery_id,
        forge,
        event: event.chars().take(100).collect(),
        repo,
        number,
        item_key,
        headers: kept_headers(req),
        payload: Payload::encode(body, state.settings.database.payload_compression),
    };
    state
        .journal(delivery)
        .await
        .map(|outcome| (forge, outcome))
        .map_err(|e| {
            tracing::warn!(error = %e, "could not journal a delivery");
            ReceiveError::Unavailable("cannot store the delivery now; retry later")
        })
}

/// Reads the body up to `limit` bytes (413 beyond). A body that arrives in one chunk is
/// kept as that chunk (a view of actix's read buffer), not copied.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, ReceiveError> {
    let declared = header(req, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ReceiveError::TooLarge(limit));
    }
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut len = 0;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ReceiveError::BadRequest("could not read the request body"))?;
        len += chunk.len();
        if len > limit {
            return Err(ReceiveError::TooLarge(limit));
        }
        if let Some(body) = joined.as_mut() {
            body.extend_from_slice(&chunk);
        } else if let Some(head) = first.take() {
            let mut body = BytesMut::with_capacity(declared.unwrap_or(2 * len).clamp(len, limit));
            body.extend_from_slice(&head);
            body.extend_from_slice(&chunk);
            joined = Some(body);
        } else {
            first = Some(chunk);
        }
    }
    Ok(match (joined, first) {
        (Some(body), _) => body.freeze(),
        (None, Some(only)) => only,
        (None, None) => Bytes::new(),
    })
}

/// What the receiver needs from a payload before it is journaled; the names borrow from the
/// body where JSON lets them (no escapes).
pub struct Route<'a> {
    /// The path whose secrets apply: the repo, or the org for org-level events.
    pub scope: Option<Cow<'a, str>>,
    pub repo: Option<Cow<'a, str>>,
    pub number: Option<i64>,
    /// `#` for PRs and issues (GitHub shares numbers), `!` for GitLab MRs.
    pub item_sigil: char,
}

impl Route<'_> {
    /// The repo (owned), the number and the sigil; the borrow of the body ends here.
    fn into_parts(self) -> (Option<String>, Option<i64>, char) {
        (self.repo.map(Cow::into_owned), self.number, self.item_sigil)
    }
}

/// A JSON string, borrowed from the body unless it has escapes. (serde borrows a `Cow` only
/// when it is a field's whole type, hence the newtype inside `Option`.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow)]
    full_name: Option<Text<'a>>,
    #[serde(borrow)]
    login: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Numbered {
    number: Option<i64>,
    iid: Option<i64>,
}

/// The fields GitHub routing reads. Every other value of the body is skipped as it is parsed
/// (serde's `IgnoredAny`: checked to be JSON, never built), and the names are borrowed.
#[derive(Deserialize)]
struct GitHubRouting<'a> {
    #[serde(borrow)]
    repository: Option<Named<'a>>,
    #[serde(borrow)]
    organization: Option<Named<'a>>,
    number: Option<i64>,
    pull_request: Option<Numbered>,
    issue: Option<Numbered>,
}

#[derive(Deserialize)]
struct GitLabProject<'a> {
    #[serde(borrow)]
    path_with_namespace: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct GitLabRouting<'a> {
    #[serde(borrow)]
    object_kind: Option<Text<'a>>,
    #[serde(borrow)]
    project: Option<GitLabProject<'a>>,
    object_attributes: Option<Numbered>,
    merge_request: Option<Numbered>,
    issue: Option<Numbered>,
}

const INVALID_JSON: ReceiveError =
    ReceiveError::BadRequest("body is not a valid JSON webhook payload");

/// `T` read from `body`, which must be JSON throughout. serde_json skips the values `T` does
/// not name without checking their strings are UTF-8, which JSON text must be (RFC 8259 §8.1),
/// so that is checked first (under 1 µs on a 26 KB payload, BENCHMARKS §20.1).
fn parse_payload<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ReceiveError> {
    if std::str::from_utf8(body).is_err() {
        return Err(INVALID_JSON);
    }
    serde_json::from_slice(body).map_err(|_| INVALID_JSON)
}

/// The routing fields of a GitHub payload, in one pass over the body that also checks it is
/// JSON. Public for the benchmark (`bosun-bench route`) and the fixtures' tests.
pub fn route_github(body: &[u8]) -> Result<Route<'_>, ReceiveError> {
    let r: GitHubRouting = parse_payload(body)?;
    let repo = r
        .repository
        .and_then(|x| x.full_name)
        .map(|t| t.0)
        .filter(|s| !s.is_empty());
    let org = r
        .organization
        .and_then(|x| x.login)
        .map(|t| t.0)
        .filter(|s| !s.is_empty());
    let number = r
        .number
        .or(r.pull_request.and_then(|p| p.number))
        .or(r.issue.and_then(|i| i.number));
    Ok(Route {
        scope: repo.clone().or(org),
        repo,
        number,
        item_sigil: '#',
    })
}

/// The routing fields of a GitLab payload, as [`route_github`] reads GitHub's. Public for the
/// fixtures' test that routing and normalizing agree.
pub fn route_gitlab(body: &[u8]) -> Result<Route<'_>, ReceiveError> {
    let r: GitLabRouting = parse_payload(body)?;
    let repo = r
        .project
        .and_then(|p| p.path_with_namespace)
        .map(|t| t.0)
        .filter(|s| !s.is_empty());
    let (number, sigil) = match r.object_kind.as_ref().map(|t| t.0.as_ref()) {
        Some("merge_request") => (r.object_attributes.and_then(|o| o.iid), '!'),
        Some("issue") => (r.object_attributes.and_then(|o| o.iid), '#'),
        Some("note") => match (
            r.merge_request.and_then(|m| m.iid),
            r.issue.and_then(|i| i.iid),
        ) {
            (Some(mr), _) => (Some(mr), '!'),
            (None, issue) => (issue, '#'),
        },
        _ => (None, '#'),
    };
    Ok(Route {
        scope: repo.clone(),
        repo,
        number,
        item_sigil: sigil,
    })
}

/// HMAC-SHA256 of the raw body against every secret of the most specific scope, each
/// comparison in constant time (`verify_slice`), and every secret tried even after a match, so
/// the time taken does not tell which one matched.
pub fn verify_github(
    secrets: &ScopedSecrets,
    scope: Option<&str>,
    signature: &str,
    body: &[u8],
) -> bool {
    let Some(expected) = signature
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    secrets.for_path(scope).iter().fold(false, |found, secret| {
        let Ok(mut mac) =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
        else {
            return found;
        };
        mac.update(body);
        found | mac.verify_slice(&expected).is_ok()
    })
}

/// GitLab sends the token itself; compare it in constant time with each candidate. Both sides
/// are hashed first, so the comparison is over equal lengths and does not reveal the length of
/// the configured token; every candidate is compared even after a match.
pub fn verify_gitlab(secrets: &ScopedSecrets, scope: Option<&str>, token: &str) -> bool {
    let presented = Sha256::digest(token.as_bytes());
    secrets.for_path(scope).iter().fold(false, |found, secret| {
        let expected = Sha256::digest(secret.expose_secret().as_bytes());
        found | bool::from(expected.as_slice().ct_eq(presented.as_slice()))
    })
}

/// The headers worth keeping with a delivery (never the signature or token), as a JSON object
/// with sorted keys, each value cut at 200 characters.
fn kept_headers(req: &HttpRequest) -> String {
    const KEPT: [&str; 9] = [
        "x-github-event",
        "x-github-delivery",
        "x-github-hook-id",
        "x-github-hook-installation-target-type",
        "x-gitlab-event",
        "x-gitlab-event-uuid",
        "x-gitlab-instance",
        "idempotency-key",
        "user-agent",
    ];
    let map: BTreeMap<&str, &str> = KEPT
        .iter()
        .filter_map(|name| {
            header(req, name).map(|v| {
                let end = v.char_indices().nth(200).map_or(v.len(), |(i, _)| i);
                (*name, &v[..end])
            })
        })
        .collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::collections::HashMap;

    fn secrets(scope: &str, value: &str) -> ScopedSecrets {
        ScopedSecrets::new(HashMap::from([(
            scope.to_string(),
            vec![SecretString::from(value.to_string())],
        )]))
    }

    #[test]
    fn github_docs_test_vector_verifies() {
        let s = secrets("*", "It's a Secret to Everybody");
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_github(&s, None, sig, b"Hello, World!"));
        assert!(!verify_github(&s, None, sig, b"Hello, World?"));
        assert!(!verify_github(&s, None, "sha1=abc", b"Hello, World!"));
        assert!(!verify_github(&s, None, "sha256=zz", b"Hello, World!"));
    }

    #[test]
    fn gitlab_token_must_match_exactly() {
        let s = secrets("grp", "tok");
        assert!(verify_gitlab(&s, Some("grp/proj"), "tok"));
        assert!(!verify_gitlab(&s, Some("grp/proj"), "to"));
        assert!(!verify_gitlab(&s, Some("other/proj"), "tok"));
        assert!(!verify_gitlab(&s, Some("grp/proj"), "tok2"));
        assert!(!verify_gitlab(&s, Some("grp/proj"), ""));
    }

    #[test]
    fn gitlab_notes_route_to_their_merge_request() {
        let r = route_gitlab(br#"{"object_kind":"note","project":{"path_with_namespace":"g/p"},"object_attributes":{"id":9},"merge_request":{"iid":4}}"#).expect("routes");
        assert_eq!(
            (r.repo.as_deref(), r.number, r.item_sigil),
            (Some("g/p"), Some(4), '!')
        );
    }
}
