//! The only place a GitLab failure becomes a [`ForgeError`]: the crate's API errors, raw
//! responses, and client builds.

use crate::forge::{DEFAULT_RATE_LIMIT_WAIT, status_error};
use bosun_plugins::ForgeError;
use gitlab::api::ApiError;
use gitlab::{GitlabError, RestError};
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An endpoint builder refused its input: a bug in this module, not a forge failure.
pub(super) fn unbuildable(e: impl std::fmt::Display) -> ForgeError {
    ForgeError::Invalid(format!("GitLab endpoint: {e}"))
}

/// The only place a GitLab API failure becomes a [`ForgeError`].
pub(super) fn classify(err: ApiError<RestError>) -> ForgeError {
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
pub(super) fn classify_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> ForgeError {
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
pub(super) fn classify_build(err: GitlabError) -> ForgeError {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
