//! What the merge controller reads: which repositories have open PRs (the resync's work list)
//! and, for the merge page, every open PR with what tide last said of it. The SQL is the same
//! on both backends, so it is written once.

use super::StoreError;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use async_trait::async_trait;
use bosun_plugins::{Fact, ForgeKind};
use sqlx::Row;

/// One open PR on the merge page: its labels as bosun last saw them and tide's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRow {
    pub forge: ForgeKind,
    pub repo: String,
    pub number: i64,
    pub labels: Vec<String>,
    /// `(ready, description)` from tide's last status, if it evaluated the PR.
    pub verdict: Option<(bool, String)>,
}

/// Reading open PRs for merging.
#[async_trait]
pub trait MergeStore: Send + Sync {
    /// Every repository with an open PR bosun knows of.
    async fn open_pull_request_repos(&self) -> Result<Vec<(ForgeKind, String)>, StoreError>;
    /// Every open PR bosun knows of, by repository and number, with tide's last verdict.
    async fn merge_board(&self) -> Result<Vec<MergeRow>, StoreError>;
}

const REPOS: &str = "SELECT DISTINCT forge, repo FROM pull_requests WHERE state = 'open'
     ORDER BY forge, repo";
const BOARD: &str = "SELECT p.forge, p.repo, p.number, p.labels, f.fact
     FROM pull_requests p
     LEFT JOIN pr_facts f ON f.forge = p.forge AND f.repo = p.repo AND f.number = p.number
       AND f.fact_key = 'merge'
     WHERE p.state = 'open'
     ORDER BY p.forge, p.repo, p.number";

fn forge_of(text: &str) -> Result<ForgeKind, StoreError> {
    ForgeKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("forge {text:?}")))
}

/// One implementation for both backends: the same SQL on each pool.
macro_rules! merge_store {
    ($store:ty) => {
        #[async_trait]
        impl MergeStore for $store {
            async fn open_pull_request_repos(
                &self,
            ) -> Result<Vec<(ForgeKind, String)>, StoreError> {
                let rows = sqlx::query(REPOS).fetch_all(self.pool()).await?;
                rows.iter()
                    .map(|r| Ok((forge_of(r.try_get("forge")?)?, r.try_get("repo")?)))
                    .collect()
            }

            async fn merge_board(&self) -> Result<Vec<MergeRow>, StoreError> {
                let rows = sqlx::query(BOARD).fetch_all(self.pool()).await?;
                rows.iter()
                    .map(|r| {
                        let labels: String = r.try_get("labels")?;
                        let fact: Option<String> = r.try_get("fact")?;
                        let verdict = match fact {
                            Some(text) => match serde_json::from_str::<Fact>(&text) {
                                Ok(Fact::Merge {
                                    ready, description, ..
                                }) => Some((ready, description)),
                                Ok(_) => None,
                                Err(e) => {
                                    return Err(StoreError::Corrupt(format!("merge fact: {e}")));
                                }
                            },
                            None => None,
                        };
                        Ok(MergeRow {
                            forge: forge_of(r.try_get("forge")?)?,
                            repo: r.try_get("repo")?,
                            number: r.try_get("number")?,
                            labels: serde_json::from_str(&labels)
                                .map_err(|e| StoreError::Corrupt(format!("labels: {e}")))?,
                            verdict,
                        })
                    })
                    .collect()
            }
        }
    };
}

merge_store!(PgStore);
merge_store!(SqliteStore);
