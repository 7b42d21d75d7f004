//! Forge adapters: bosun's [`Forge`] over octocrab (GitHub) and the `gitlab` crate (GitLab).
//!
//! Each adapter classifies every failure once, into [`ForgeError`], before it leaves the
//! adapter; callers decide on retries from that alone and never retry on their own. Both
//! adapters run every call through the same [`limits`]: the rate-limit gate, the cap on
//! calls in flight per credential, and the timeout. One forge per directory: `github/` and
//! `gitlab/`, each split into transport, error classification, reads and writes.

pub mod github;
pub mod gitlab;
pub mod hooks;
mod limits;

pub(crate) use limits::Limits;
pub use limits::{DEFAULT_MAX_CONCURRENT_CALLS, DEFAULT_RATE_LIMIT_WAIT, DEFAULT_TIMEOUT};

use bosun_plugins::{Forge, ForgeError, ForgeKind};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The configured adapters, one per forge bosun talks to; a forge not configured is `None`.
#[derive(Clone, Default)]
pub struct Forges {
    github: Option<Arc<dyn Forge>>,
    gitlab: Option<Arc<dyn Forge>>,
}

impl Forges {
    /// Holds the adapters for the forges that are configured.
    pub fn new(github: Option<Arc<dyn Forge>>, gitlab: Option<Arc<dyn Forge>>) -> Self {
        Forges { github, gitlab }
    }

    /// The adapter for an event's forge, if that forge is configured.
    pub fn get(&self, kind: ForgeKind) -> Option<&Arc<dyn Forge>> {
        match kind {
            ForgeKind::GitHub => self.github.as_ref(),
            ForgeKind::GitLab => self.gitlab.as_ref(),
        }
    }
}

/// The meaning of an HTTP error status that carries no rate-limit signal, shared by both
/// adapters so GitHub and GitLab failures classify alike.
pub(crate) fn status_error(
    status: u16,
    message: &str,
    retry_after: Option<Duration>,
) -> ForgeError {
    let message = format!("{status}: {message}");
    match status {
        401 | 403 => ForgeError::Forbidden(message),
        404 | 410 => ForgeError::NotFound(message),
        // 405 and 406 come from the merge endpoints ("not mergeable", "cannot be merged"):
        // the item's state refuses the call, which only a change on the forge can mend.
        405 | 406 | 409 => ForgeError::Conflict(message),
        400 | 422 => ForgeError::Invalid(message),
        429 => ForgeError::RateLimited {
            reset: SystemTime::now() + retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
        },
        408 | 500..=599 => ForgeError::Transient {
            message,
            retry_after,
        },
        _ => ForgeError::Permanent(message),
    }
}

/// Percent-encodes one URL path segment (a label name may hold `/`, spaces or `?`).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_encode_reserved_characters() {
        assert_eq!(encode_segment("do-not-merge/hold"), "do-not-merge%2Fhold");
        assert_eq!(encode_segment("needs rebase?"), "needs%20rebase%3F");
        assert_eq!(encode_segment("größe"), "gr%C3%B6%C3%9Fe");
    }

    /// issue 12 item 9: a rate limit reads as a time, never as `SystemTime { tv_sec: … }`.
    #[test]
    fn rate_limits_print_readable_times() {
        let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            ForgeError::RateLimited { reset: past }.to_string(),
            "rate limited until 2023-11-14T22:13:20Z"
        );
        let soon = SystemTime::now() + Duration::from_secs(90);
        let text = ForgeError::RateLimited { reset: soon }.to_string();
        assert!(text.starts_with("rate limited until 20"), "{text}");
        assert!(text.contains("Z (in 8") && text.ends_with("s)"), "{text}");
    }

    #[test]
    fn statuses_classify_by_meaning() {
        assert!(matches!(
            status_error(404, "x", None),
            ForgeError::NotFound(_)
        ));
        assert!(matches!(
            status_error(403, "x", None),
            ForgeError::Forbidden(_)
        ));
        for merge_refusal in [405, 406, 409] {
            assert!(matches!(
                status_error(merge_refusal, "x", None),
                ForgeError::Conflict(_)
            ));
        }
        assert!(matches!(
            status_error(422, "x", None),
            ForgeError::Invalid(_)
        ));
        assert!(status_error(502, "x", None).is_retryable());
        assert!(matches!(
            status_error(429, "x", None),
            ForgeError::RateLimited { .. }
        ));
        assert!(matches!(
            status_error(418, "x", None),
            ForgeError::Permanent(_)
        ));
    }
}
