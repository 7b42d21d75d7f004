//! Facts plugins report about a pull request, kept per `(PR, key)` with the newest winning.
//! The SQL is the same on both backends, so it is written once.

use super::StoreError;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use async_trait::async_trait;
use bosun_plugins::{Fact, ItemRef};
use sqlx::Row;

/// A fact as stored, with the plugin that reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFact {
    pub plugin: String,
    pub fact: Fact,
}

/// Keeping and reading what plugins report about a PR.
#[async_trait]
pub trait FactStore: Send + Sync {
    /// Keeps `fact` for the item, replacing the fact with the same key. Repeating it is
    /// harmless, which is what makes applying it again after a crash safe.
    async fn remember_fact(
        &self,
        item: &ItemRef,
        plugin: &str,
        fact: &Fact,
    ) -> Result<(), StoreError>;
    /// Every fact known about the PR, ordered by key.
    async fn facts(
        &self,
        forge: bosun_plugins::ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Vec<StoredFact>, StoreError>;
}

/// Keeps one fact: `$1` forge, `$2` repo, `$3` number, `$4` key, `$5` plugin, `$6` fact.
pub(super) const UPSERT: &str = "INSERT INTO pr_facts (forge, repo, number, fact_key, plugin, fact)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (forge, repo, number, fact_key) DO UPDATE
     SET plugin = excluded.plugin, fact = excluded.fact";

const SELECT: &str = "SELECT plugin, fact FROM pr_facts
     WHERE forge = $1 AND repo = $2 AND number = $3 ORDER BY fact_key";

pub(super) fn encode(fact: &Fact) -> Result<String, StoreError> {
    serde_json::to_string(fact).map_err(|e| StoreError::Bug(format!("fact: {e}")))
}

fn decode(plugin: String, text: &str) -> Result<StoredFact, StoreError> {
    let fact = serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("fact: {e}")))?;
    Ok(StoredFact { plugin, fact })
}

/// One implementation for both backends: the same SQL on each pool.
macro_rules! fact_store {
    ($store:ty) => {
        #[async_trait]
        impl FactStore for $store {
            async fn remember_fact(
                &self,
                item: &ItemRef,
                plugin: &str,
                fact: &Fact,
            ) -> Result<(), StoreError> {
                sqlx::query(UPSERT)
                    .bind(item.forge.as_str())
                    .bind(item.repo.as_str())
                    .bind(item.number as i64)
                    .bind(fact.key())
                    .bind(plugin)
                    .bind(encode(fact)?)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn facts(
                &self,
                forge: bosun_plugins::ForgeKind,
                repo: &str,
                number: i64,
            ) -> Result<Vec<StoredFact>, StoreError> {
                let rows = sqlx::query(SELECT)
                    .bind(forge.as_str())
                    .bind(repo)
                    .bind(number)
                    .fetch_all(self.pool())
                    .await?;
                rows.iter()
                    .map(|r| decode(r.try_get("plugin")?, r.try_get::<&str, _>("fact")?))
                    .collect()
            }
        }
    };
}

fact_store!(PgStore);
fact_store!(SqliteStore);
