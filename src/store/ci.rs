//! CI contexts per commit: the latest state of each, from CI events. The SQL is the same on
//! both backends, so it is written once; times are epoch milliseconds.

use super::StoreError;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use async_trait::async_trait;
use bosun_plugins::{CiContext, CiEvent, CiState, CiSystem, ForgeKind};
use sqlx::Row;

/// Keeping and reading CI state.
#[async_trait]
pub trait CiStore: Send + Sync {
    /// The state a context had on a commit before, if bosun heard of it.
    async fn ci_state(
        &self,
        forge: ForgeKind,
        repo: &str,
        sha: &str,
        context: &str,
    ) -> Result<Option<CiState>, StoreError>;
    /// Keeps an event's state as its context's latest on that commit.
    async fn record_ci(&self, event: &CiEvent, now_ms: i64) -> Result<(), StoreError>;
    /// Every context bosun heard of on a commit, by name.
    async fn ci_contexts(
        &self,
        forge: ForgeKind,
        repo: &str,
        sha: &str,
    ) -> Result<Vec<CiContext>, StoreError>;
    /// How a context last finished before now: on `sha` when it finished there, else on the
    /// PR's (`number`) most recently updated other head. Never pending.
    async fn last_ci_outcome(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: Option<u64>,
        sha: &str,
        context: &str,
    ) -> Result<Option<CiState>, StoreError>;
    /// The open PR whose head is `sha`, for CI events that name none.
    async fn pr_for_head(
        &self,
        forge: ForgeKind,
        repo: &str,
        sha: &str,
    ) -> Result<Option<i64>, StoreError>;
}

const STATE: &str = "SELECT state FROM ci_contexts
     WHERE forge = $1 AND repo = $2 AND sha = $3 AND context = $4";
const RECORD: &str = "INSERT INTO ci_contexts
     (forge, repo, sha, context, system, state, url, run_id, number, updated_ms, final_state)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (forge, repo, sha, context) DO UPDATE SET system = excluded.system,
       state = excluded.state, final_state = coalesce(excluded.final_state, ci_contexts.final_state),
       url = coalesce(excluded.url, ci_contexts.url),
       run_id = coalesce(excluded.run_id, ci_contexts.run_id),
       number = coalesce(excluded.number, ci_contexts.number), updated_ms = excluded.updated_ms";
const CONTEXTS: &str = "SELECT context, system, state, url, run_id FROM ci_contexts
     WHERE forge = $1 AND repo = $2 AND sha = $3 ORDER BY context";
/// `$1` forge, `$2` repo, `$3` context, `$4` sha, `$5` PR number (-1: none). The commit's
/// own outcome first, then the PR's other heads, newest first.
const LAST_OUTCOME: &str = "SELECT final_state FROM ci_contexts
     WHERE forge = $1 AND repo = $2 AND context = $3 AND final_state IS NOT NULL
       AND (sha = $4 OR number = $5)
     ORDER BY CASE WHEN sha = $4 THEN 0 ELSE 1 END, updated_ms DESC LIMIT 1";
const PR_FOR_HEAD: &str = "SELECT number FROM pull_requests
     WHERE forge = $1 AND repo = $2 AND head_sha = $3 AND state = 'open' ORDER BY number LIMIT 1";

fn state_of(text: &str) -> Result<CiState, StoreError> {
    CiState::parse(text).ok_or_else(|| StoreError::Corrupt(format!("CI state {text:?}")))
}

/// One implementation for both backends: the same SQL on each pool.
macro_rules! ci_store {
    ($store:ty) => {
        #[async_trait]
        impl CiStore for $store {
            async fn ci_state(
                &self,
                forge: ForgeKind,
                repo: &str,
                sha: &str,
                context: &str,
            ) -> Result<Option<CiState>, StoreError> {
                let row = sqlx::query(STATE)
                    .bind(forge.as_str())
                    .bind(repo)
                    .bind(sha)
                    .bind(context)
                    .fetch_optional(self.pool())
                    .await?;
                row.map(|r| state_of(r.try_get::<&str, _>("state")?))
                    .transpose()
            }

            async fn record_ci(&self, e: &CiEvent, now_ms: i64) -> Result<(), StoreError> {
                sqlx::query(RECORD)
                    .bind(e.forge.as_str())
                    .bind(e.repo.as_str())
                    .bind(&e.sha)
                    .bind(&e.context)
                    .bind(e.system.as_str())
                    .bind(e.state.as_str())
                    .bind(&e.url)
                    .bind(&e.run_id)
                    .bind(e.number.map(|n| n as i64))
                    .bind(now_ms)
                    .bind(e.state.is_final().then(|| e.state.as_str()))
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn ci_contexts(
                &self,
                forge: ForgeKind,
                repo: &str,
                sha: &str,
            ) -> Result<Vec<CiContext>, StoreError> {
                let rows = sqlx::query(CONTEXTS)
                    .bind(forge.as_str())
                    .bind(repo)
                    .bind(sha)
                    .fetch_all(self.pool())
                    .await?;
                rows.iter()
                    .map(|r| {
                        let system: &str = r.try_get("system")?;
                        Ok(CiContext {
                            context: r.try_get("context")?,
                            system: CiSystem::parse(system).ok_or_else(|| {
                                StoreError::Corrupt(format!("CI system {system:?}"))
                            })?,
                            state: state_of(r.try_get::<&str, _>("state")?)?,
                            url: r.try_get("url")?,
                            run_id: r.try_get("run_id")?,
                        })
                    })
                    .collect()
            }

            async fn last_ci_outcome(
                &self,
                forge: ForgeKind,
                repo: &str,
                number: Option<u64>,
                sha: &str,
                context: &str,
            ) -> Result<Option<CiState>, StoreError> {
                let row = sqlx::query(LAST_OUTCOME)
                    .bind(forge.as_str())
                    .bind(repo)
                    .bind(context)
                    .bind(sha)
                    .bind(number.map_or(-1, |n| n as i64))
                    .fetch_optional(self.pool())
                    .await?;
                row.map(|r| state_of(r.try_get::<&str, _>("final_state")?))
                    .transpose()
            }

            async fn pr_for_head(
                &self,
                forge: ForgeKind,
                repo: &str,
                sha: &str,
            ) -> Result<Option<i64>, StoreError> {
                let row = sqlx::query(PR_FOR_HEAD)
                    .bind(forge.as_str())
                    .bind(repo)
                    .bind(sha)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.map(|r| r.try_get("number")).transpose()?)
            }
        }
    };
}

ci_store!(PgStore);
ci_store!(SqliteStore);
