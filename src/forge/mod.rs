//! Forge adapters: bosun's [`Forge`] over octocrab (GitHub) and the `gitlab` crate (GitLab).
//!
//! Each adapter classifies every failure once, into [`ForgeError`], before it leaves the
//! adapter; callers decide on retries from that alone and never retry on their own. Both
//! adapters also keep a `RateGate`: after the forge names a rate-limit reset, they refuse
//! every call until then without touching the network, as GitHub asks of integrations.

pub mod github;
pub mod gitlab;

use bosun_plugins::{Forge, ForgeError, ForgeKind};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long one forge call may take before it counts as a transient failure.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait after a rate limit that did not say how long (GitHub: "at least a minute").
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

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

/// Refuses calls until the last rate-limit reset the forge announced has passed.
#[derive(Debug, Default)]
pub(crate) struct RateGate {
    closed_until: Mutex<Option<SystemTime>>,
}

impl RateGate {
    /// `Err(RateLimited)` while a known reset lies in the future.
    pub(crate) fn check(&self) -> Result<(), ForgeError> {
        let until = *self.lock();
        match until {
            Some(reset) if reset > SystemTime::now() => Err(ForgeError::RateLimited { reset }),
            _ => Ok(()),
        }
    }

    /// Closes the gate until `reset` (never shortens an earlier, later reset).
    pub(crate) fn close_until(&self, reset: SystemTime) {
        let mut until = self.lock();
        if until.is_none_or(|u| u < reset) {
            *until = Some(reset);
        }
    }

    /// Remembers the reset of a rate-limit error; other errors leave the gate alone.
    pub(crate) fn note(&self, err: &ForgeError) {
        if let ForgeError::RateLimited { reset } = err {
            self.close_until(*reset);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SystemTime>> {
        self.closed_until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The default cap on forge calls in flight per credential (`limits.max_concurrent_forge_calls`).
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 8;

/// Caps the forge calls in flight per credential (a token, or one GitHub App installation), so
/// many workers cannot trip the forge's concurrency limits (GitHub's secondary rate limit)
/// with one token. Waiting for a turn does not count against a call's timeout.
#[derive(Debug)]
pub(crate) struct CallLimiter {
    max: usize,
    by_credential: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl CallLimiter {
    /// At most `max` calls at once per credential (at least one).
    pub(crate) fn new(max: usize) -> Self {
        CallLimiter {
            max: max.max(1),
            by_credential: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a turn on `credential`; the call may run while the permit is held.
    pub(crate) async fn acquire(
        &self,
        credential: &str,
    ) -> Result<OwnedSemaphorePermit, ForgeError> {
        let semaphore = {
            let mut map = self.by_credential.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(credential.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max)))
                .clone()
        };
        // The semaphores are never closed, so this cannot fail; say so if it ever does.
        semaphore
            .acquire_owned()
            .await
            .map_err(|_| ForgeError::Permanent("the forge call limiter was closed".into()))
    }
}

impl Default for CallLimiter {
    fn default() -> Self {
        CallLimiter::new(DEFAULT_MAX_CONCURRENT_CALLS)
    }
}

/// Runs one forge call under a deadline; running out of time is a transient failure.
pub(crate) async fn within<T>(
    timeout: Duration,
    forge: &str,
    call: impl Future<Output = Result<T, ForgeError>>,
) -> Result<T, ForgeError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(ForgeError::Transient {
                message: format!("{forge} did not answer within {timeout:?}"),
                retry_after: None,
            })
        })
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

    #[tokio::test]
    async fn the_limiter_caps_calls_per_credential() {
        let limiter = CallLimiter::new(2);
        let a1 = limiter.acquire("token").await.expect("first");
        let _a2 = limiter.acquire("token").await.expect("second");
        let third = limiter.acquire("token");
        tokio::pin!(third);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut third)
                .await
                .is_err(),
            "a third call on the same credential waits"
        );
        let _other =
            tokio::time::timeout(Duration::from_millis(50), limiter.acquire("installation:2"))
                .await
                .expect("another credential does not wait")
                .expect("permit");
        drop(a1);
        let _third = tokio::time::timeout(Duration::from_millis(50), third)
            .await
            .expect("a freed turn goes to the waiting call")
            .expect("permit");
    }

    #[test]
    fn gate_refuses_until_the_latest_reset() {
        let gate = RateGate::default();
        assert!(gate.check().is_ok());
        let later = SystemTime::now() + Duration::from_secs(60);
        gate.close_until(later);
        gate.close_until(SystemTime::now() - Duration::from_secs(1));
        assert_eq!(gate.check(), Err(ForgeError::RateLimited { reset: later }));
    }
}
