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

/// A PR waiting in a merge queue for the PR ahead of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub item_key: String,
    pub forge: ForgeKind,
    pub repo: String,
    pub number: i64,
    pub head_sha: String,
}

/// One merge queue as the page shows it: the PR merging now and the ones waiting, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeQueue {
    /// `forge:repo@branch`.
    pub queue: String,
    /// The PR holding the queue's lease (merging now), if the lease is live.
    pub merging: Option<i64>,
    pub waiting: Vec<i64>,
}

/// Whether a merge may go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// This PR holds the queue until it releases it or `ttl` passes.
    Taken,
    /// Another PR, this number, is merging.
    HeldBy(i64),
}

/// Reading open PRs for merging, and the merge queues: one lease per base branch, taken in the
/// database, so several bosun processes on one database merge one PR per branch at a time.
#[async_trait]
pub trait MergeStore: Send + Sync {
    /// Every repository with an open PR bosun knows of.
    async fn open_pull_request_repos(&self) -> Result<Vec<(ForgeKind, String)>, StoreError>;
    /// Every open PR bosun knows of, by repository and number, with tide's last verdict.
    async fn merge_board(&self) -> Result<Vec<MergeRow>, StoreError>;
    /// Takes `queue` for `holder` (an item key) unless another holder's lease is live; the
    /// same holder taking it again renews it. Times are Unix milliseconds.
    async fn take_merge_lease(
        &self,
        queue: &str,
        holder: &str,
        number: i64,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Lease, StoreError>;
    /// Lets go of `queue` if `holder` holds it.
    async fn release_merge_lease(&self, queue: &str, holder: &str) -> Result<(), StoreError>;
    /// Puts a PR at the end of `queue` (a PR already waiting keeps its place, with its newest
    /// head).
    async fn wait_in_merge_queue(
        &self,
        queue: &str,
        waiting: &Waiting,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Takes a PR out of `queue` (it is merging, or it merged).
    async fn leave_merge_queue(&self, queue: &str, item_key: &str) -> Result<(), StoreError>;
    /// Removes and returns the PR first in line in `queue`.
    async fn next_in_merge_queue(&self, queue: &str) -> Result<Option<Waiting>, StoreError>;
    /// Every queue with a live lease or a PR waiting, for the merge page.
    async fn merge_queues(&self, now_ms: i64) -> Result<Vec<MergeQueue>, StoreError>;
}

const REPOS: &str = "SELECT DISTINCT forge, repo FROM pull_requests WHERE state = 'open'
     ORDER BY forge, repo";
const BOARD: &str = "SELECT p.forge, p.repo, p.number, p.labels, f.fact
     FROM pull_requests p
     LEFT JOIN pr_facts f ON f.forge = p.forge AND f.repo = p.repo AND f.number = p.number
       AND f.fact_key = 'merge'
     WHERE p.state = 'open'
     ORDER BY p.forge, p.repo, p.number";

const TAKE_LEASE: &str = "INSERT INTO merge_leases (queue, holder, number, expires_at)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (queue) DO UPDATE SET holder = excluded.holder, number = excluded.number,
       expires_at = excluded.expires_at
     WHERE merge_leases.expires_at < $5 OR merge_leases.holder = excluded.holder";
const LEASE_HOLDER: &str = "SELECT number FROM merge_leases WHERE queue = $1";
const RELEASE_LEASE: &str = "DELETE FROM merge_leases WHERE queue = $1 AND holder = $2";
const WAIT: &str =
    "INSERT INTO merge_waiting (queue, item_key, forge, repo, number, head_sha, since)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (queue, item_key) DO UPDATE SET head_sha = excluded.head_sha";
const LEAVE: &str = "DELETE FROM merge_waiting WHERE queue = $1 AND item_key = $2";
const FIRST_WAITING: &str = "SELECT item_key, forge, repo, number, head_sha FROM merge_waiting
     WHERE queue = $1 ORDER BY since, item_key LIMIT 1";
const QUEUES: &str = "SELECT q.queue, l.number AS merging, w.number AS waiting
     FROM (SELECT queue FROM merge_leases WHERE expires_at >= $1
           UNION SELECT queue FROM merge_waiting) q
     LEFT JOIN merge_leases l ON l.queue = q.queue AND l.expires_at >= $1
     LEFT JOIN merge_waiting w ON w.queue = q.queue
     ORDER BY q.queue, w.since, w.item_key";

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

            async fn take_merge_lease(
                &self,
                queue: &str,
                holder: &str,
                number: i64,
                now_ms: i64,
                ttl_ms: i64,
            ) -> Result<Lease, StoreError> {
                let taken = sqlx::query(TAKE_LEASE)
                    .bind(queue)
                    .bind(holder)
                    .bind(number)
                    .bind(now_ms.saturating_add(ttl_ms))
                    .bind(now_ms)
                    .execute(self.pool())
                    .await?
                    .rows_affected();
                if taken > 0 {
                    return Ok(Lease::Taken);
                }
                let held: Option<i64> = sqlx::query_scalar(LEASE_HOLDER)
                    .bind(queue)
                    .fetch_optional(self.pool())
                    .await?;
                // Released between the two statements: the caller simply asks again.
                Ok(Lease::HeldBy(held.unwrap_or(0)))
            }

            async fn release_merge_lease(
                &self,
                queue: &str,
                holder: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(RELEASE_LEASE)
                    .bind(queue)
                    .bind(holder)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn wait_in_merge_queue(
                &self,
                queue: &str,
                waiting: &Waiting,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(WAIT)
                    .bind(queue)
                    .bind(&waiting.item_key)
                    .bind(waiting.forge.as_str())
                    .bind(&waiting.repo)
                    .bind(waiting.number)
                    .bind(&waiting.head_sha)
                    .bind(now_ms)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn leave_merge_queue(
                &self,
                queue: &str,
                item_key: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(LEAVE)
                    .bind(queue)
                    .bind(item_key)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn next_in_merge_queue(
                &self,
                queue: &str,
            ) -> Result<Option<Waiting>, StoreError> {
                let Some(r) = sqlx::query(FIRST_WAITING)
                    .bind(queue)
                    .fetch_optional(self.pool())
                    .await?
                else {
                    return Ok(None);
                };
                let waiting = Waiting {
                    item_key: r.try_get("item_key")?,
                    forge: forge_of(r.try_get("forge")?)?,
                    repo: r.try_get("repo")?,
                    number: r.try_get("number")?,
                    head_sha: r.try_get("head_sha")?,
                };
                self.leave_merge_queue(queue, &waiting.item_key).await?;
                Ok(Some(waiting))
            }

            async fn merge_queues(&self, now_ms: i64) -> Result<Vec<MergeQueue>, StoreError> {
                let rows = sqlx::query(QUEUES)
                    .bind(now_ms)
                    .fetch_all(self.pool())
                    .await?;
                let mut queues: Vec<MergeQueue> = Vec::new();
                for r in rows {
                    let queue: String = r.try_get("queue")?;
                    let merging: Option<i64> = r.try_get("merging")?;
                    let waiting: Option<i64> = r.try_get("waiting")?;
                    if queues.last().is_none_or(|q| q.queue != queue) {
                        queues.push(MergeQueue {
                            queue,
                            merging,
                            waiting: Vec::new(),
                        });
                    }
                    if let (Some(q), Some(n)) = (queues.last_mut(), waiting) {
                        q.waiting.push(n);
                    }
                }
                Ok(queues)
            }
        }
    };
}

merge_store!(PgStore);
merge_store!(SqliteStore);
