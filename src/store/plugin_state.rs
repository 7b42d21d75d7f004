//! The store seen from plugins: the OWNERS cache and what bosun remembers of earlier
//! deliveries. Failures here only cost API calls or a worse tie-break, so they are logged and
//! answered with "nothing known", never turned into a failed delivery.

use super::Store;
use async_trait::async_trait;
use bosun_plugins::owners::{OwnersCache, normalize_login};
use bosun_plugins::{ForgeKind, History, RepoPath};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `owners_cache` rows as the OWNERS loader's durable cache.
pub struct StoreOwnersCache(pub Arc<dyn Store>);

#[async_trait]
impl OwnersCache for StoreOwnersCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.0.owners_cache_get(key).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "owners cache read failed");
                None
            }
        }
    }

    async fn put(&self, key: &str, value: &[u8]) {
        if let Err(e) = self.0.owners_cache_put(key, value).await {
            tracing::warn!(error = %e, "owners cache write failed");
        }
    }
}

/// The audit log as plugin history.
pub struct StoreHistory(pub Arc<dyn Store>);

#[async_trait]
impl History for StoreHistory {
    async fn open_review_requests(
        &self,
        forge: ForgeKind,
        repo: &RepoPath,
    ) -> BTreeMap<String, usize> {
        let targets = match self
            .0
            .open_review_request_targets(forge.as_str(), repo.as_str())
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "review request history unavailable");
                return BTreeMap::new();
            }
        };
        count_requested_logins(&targets)
    }

    async fn facts(&self, item: &bosun_plugins::ItemRef) -> Vec<bosun_plugins::Fact> {
        match self
            .0
            .facts(item.forge, item.repo.as_str(), item.number as i64)
            .await
        {
            Ok(facts) => facts.into_iter().map(|f| f.fact).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "facts unavailable");
                Vec::new()
            }
        }
    }

    async fn ci_contexts(
        &self,
        forge: ForgeKind,
        repo: &RepoPath,
        sha: &str,
    ) -> Vec<bosun_plugins::CiContext> {
        match self.0.ci_contexts(forge, repo.as_str(), sha).await {
            Ok(contexts) => contexts,
            Err(e) => {
                tracing::warn!(error = %e, "CI state unavailable");
                Vec::new()
            }
        }
    }

    async fn last_ci_outcome(
        &self,
        forge: ForgeKind,
        repo: &RepoPath,
        number: Option<u64>,
        sha: &str,
        context: &str,
    ) -> Option<bosun_plugins::CiState> {
        match self
            .0
            .last_ci_outcome(forge, repo.as_str(), number, sha, context)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::warn!(error = %e, "CI history unavailable; a recovery is told as a pass");
                None
            }
        }
    }
}

/// Counts the `@login` words of request-reviewers action targets (`org/repo#1 @a @b team`).
fn count_requested_logins(targets: &[String]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for target in targets {
        for login in target
            .split_whitespace()
            .filter_map(|w| w.strip_prefix('@'))
        {
            *out.entry(normalize_login(login)).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_each_requested_login_case_insensitively() {
        let counts = super::count_requested_logins(&[
            "org/repo#1 @Alice @bob".to_string(),
            "org/repo#2 @alice team-x".to_string(),
        ]);
        assert_eq!(counts.get("alice"), Some(&2));
        assert_eq!(counts.get("bob"), Some(&1));
        assert_eq!(counts.len(), 2);
    }
}
