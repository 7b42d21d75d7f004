//! The limits both forge adapters put around every call, in one implementation: the
//! rate-limit gate (after the forge names a reset, refuse calls until then without touching
//! the network, as GitHub asks of integrations), the cap on calls in flight per credential,
//! and the per-call timeout.

use bosun_plugins::ForgeError;
use bosun_plugins::forge::readable_instant;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long one forge call may take before it counts as a transient failure.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait after a rate limit that did not say how long (GitHub: "at least a minute").
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

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

/// The gate, the call cap and the timeout of one adapter, applied the same way by both.
#[derive(Debug)]
pub(crate) struct Limits {
    /// Refuses calls while a known rate-limit reset lies ahead.
    pub(crate) gate: RateGate,
    /// Caps the calls in flight per credential.
    pub(crate) limiter: CallLimiter,
    /// How long one call may take.
    pub(crate) timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            gate: RateGate::default(),
            limiter: CallLimiter::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl Limits {
    /// Runs `call` unless the gate is closed, and closes the gate on a rate-limit failure.
    /// A retryable failure is logged once here, at `WARN` with what happens next; whether
    /// the delivery is retried or given up is the queue's to log.
    pub(crate) async fn gated<T>(
        &self,
        forge: &str,
        request: &str,
        call: impl Future<Output = Result<T, ForgeError>>,
    ) -> Result<T, ForgeError> {
        self.gate.check()?;
        let result = call.await;
        if let Err(e) = &result {
            self.gate.note(e);
            if e.is_retryable() {
                tracing::warn!(
                    "{forge} call failed on {request} ({e}); retryable: {}",
                    retry_plan(forge, e)
                );
            }
        }
        result
    }

    /// Runs `call` when `credential` has a free turn, under the timeout (waiting for the turn
    /// does not count against it).
    pub(crate) async fn limited<T>(
        &self,
        credential: &str,
        forge: &str,
        call: impl Future<Output = Result<T, ForgeError>>,
    ) -> Result<T, ForgeError> {
        let _turn = self.limiter.acquire(credential).await?;
        within(self.timeout, forge, call).await
    }
}

/// What happens after a retryable failure, for the log line.
fn retry_plan(forge: &str, err: &ForgeError) -> String {
    match err {
        ForgeError::RateLimited { reset } => format!(
            "no {forge} call before {}; the queue retries the delivery then",
            readable_instant(*reset)
        ),
        ForgeError::Transient {
            retry_after: Some(wait),
            ..
        } => format!(
            "{forge} asked to wait {}s; the queue retries the delivery then",
            wait.as_secs()
        ),
        _ => "the queue retries the delivery with backoff".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
