//! The only place a GitHub failure becomes a [`ForgeError`]: octocrab's errors, and GitHub's
//! rate-limit rules on top of the shared status table.

use crate::forge::{DEFAULT_RATE_LIMIT_WAIT, status_error};
use bosun_plugins::ForgeError;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The only place a GitHub failure becomes a [`ForgeError`].
pub(super) fn classify(err: octocrab::Error) -> ForgeError {
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

pub(super) fn first_line(err: &dyn std::error::Error) -> String {
    err.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
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
}
