//! The Postgres store: production, and several bosun processes sharing one database.
//! Claims use `FOR UPDATE SKIP LOCKED`; times come from the database clock so processes on
//! different machines agree on leases.

use super::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, QueryBuilder, Row};
use std::collections::HashSet;
use std::str::FromStr;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A Postgres-backed [`Store`].
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects lazily: the pool opens connections on demand, so bosun starts (and answers
    /// 503) while the database is down, and recovers by itself when it is back.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options);
        Ok(PgStore { pool })
    }

    /// The pool, for tests and benchmarks that need the raw database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

pub(super) const DELIVERY_COLUMNS: &str = "id, delivery_id, forge, event, repo, number, status, attempts, last_error, received_at, started_at, finished_at";

pub(super) fn delivery_record(row: &sqlx::postgres::PgRow) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        id: row.try_get("id")?,
        delivery_id: row.try_get("delivery_id")?,
        forge: row.try_get("forge")?,
        event: row.try_get("event")?,
        repo: row.try_get("repo")?,
        number: row.try_get("number")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        received_at: row.try_get("received_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_deliveries(
        &self,
        batch: &[NewDelivery],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let first = first_occurrences(batch);
        let unique: Vec<&NewDelivery> = batch
            .iter()
            .zip(&first)
            .filter(|(_, f)| **f)
            .map(|(d, _)| d)
            .collect();
        let mut qb = QueryBuilder::<sqlx::Postgres>::new(
            "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload) ",
        );
        qb.push_values(unique, |mut b, d| {
            b.push_bind(&d.delivery_id)
                .push_bind(d.forge.as_str())
                .push_bind(&d.event)
                .push_bind(&d.repo)
                .push_bind(d.number)
                .push_bind(&d.item_key)
                .push_bind(&d.headers)
                .push_bind(d.payload.as_ref());
        });
        qb.push(" ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id");
        let rows = qb.build().fetch_all(&self.pool).await?;
        let inserted: HashSet<String> = rows
            .iter()
            .map(|r| r.try_get("delivery_id"))
            .collect::<Result<_, _>>()?;
        Ok(outcomes(batch, &first, &inserted))
    }

    async fn claim_next_delivery(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        let row = sqlx::query(
            // The head of each item's queue is found with one ordered pass over the pending
            // index (DISTINCT ON), so the plan does not depend on table statistics: a
            // correlated NOT EXISTS per row degrades badly on a fresh, unanalyzed table.
            "WITH heads AS (
                SELECT DISTINCT ON (item_key) id, status, run_after, lease_until
                FROM deliveries
                WHERE status IN ('queued', 'running')
                ORDER BY item_key, id),
             next AS (
                SELECT d.id FROM deliveries d JOIN heads h ON h.id = d.id
                WHERE (h.status = 'queued' AND h.run_after <= now())
                   OR (h.status = 'running' AND h.lease_until < now())
                ORDER BY d.id
                LIMIT 1
                FOR UPDATE OF d SKIP LOCKED)
             UPDATE deliveries d
             SET status = 'running', attempts = d.attempts + 1, lease_owner = $1,
                 lease_until = now() + make_interval(secs => $2), started_at = coalesce(d.started_at, now())
             FROM next
             WHERE d.id = next.id AND (d.status = 'queued' OR d.lease_until < now())
             RETURNING d.id, d.delivery_id, d.forge, d.event, d.repo, d.number, d.payload, d.attempts, d.decided, d.received_at",
        )
        .bind(worker)
        .bind(lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ClaimedDelivery {
            id: row.try_get("id")?,
            delivery_id: row.try_get("delivery_id")?,
            forge: parse_forge(row.try_get("forge")?)?,
            event: row.try_get("event")?,
            repo: row.try_get("repo")?,
            number: row.try_get("number")?,
            payload: row.try_get("payload")?,
            attempts: row.try_get("attempts")?,
            decided: row.try_get("decided")?,
            received_at: row.try_get("received_at")?,
        }))
    }

    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        status: FinalStatus,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = $3, last_error = coalesce($4, last_error), finished_at = now(),
                    lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(status.as_str())
        .bind(note)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn retry_delivery(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'queued', last_error = $3, run_after = now() + make_interval(secs => $4),
                    lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(error)
        .bind(delay.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn release_delivery(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'queued', attempts = greatest(attempts - 1, 0), lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_decision(&self, id: i64, actions: &[PlannedAction]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for a in actions {
            sqlx::query(
                "INSERT INTO actions (delivery, plugin, seq, kind, target, details) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (delivery, plugin, seq) DO NOTHING",
            )
            .bind(id)
            .bind(&a.plugin)
            .bind(a.seq)
            .bind(a.action.kind())
            .bind(a.action.target())
            .bind(encode_action(&a.action)?)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE deliveries SET decided = TRUE WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delivery_actions(&self, id: i64) -> Result<Vec<StoredAction>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, plugin, seq, kind, target, details, outcome, error, forge_calls FROM actions WHERE delivery = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_action).collect()
    }

    async fn set_action_outcome(
        &self,
        action_id: i64,
        outcome: ActionOutcome,
        error: Option<&str>,
        forge_calls: i32,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE actions SET outcome = $2, error = $3, forge_calls = forge_calls + $4,
                    applied_at = CASE WHEN $2 IN ('applied', 'dry-run') THEN now() ELSE applied_at END
             WHERE id = $1",
        )
        .bind(action_id)
        .bind(outcome.as_str())
        .bind(error)
        .bind(forge_calls)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn upsert_pull_request(&self, pr: &PullRequestState) -> Result<(), StoreError> {
        let labels =
            serde_json::to_string(&pr.labels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO pull_requests (forge, repo, number, state, head_sha, labels, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, now())
             ON CONFLICT (forge, repo, number) DO UPDATE SET state = excluded.state,
                 head_sha = coalesce(excluded.head_sha, pull_requests.head_sha), labels = excluded.labels,
                 updated_at = now()",
        )
        .bind(pr.forge.as_str())
        .bind(&pr.repo)
        .bind(pr.number)
        .bind(&pr.state)
        .bind(&pr.head_sha)
        .bind(labels)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pull_request(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Option<PullRequestState>, StoreError> {
        let row = sqlx::query("SELECT state, head_sha, labels FROM pull_requests WHERE forge = $1 AND repo = $2 AND number = $3")
            .bind(forge.as_str())
            .bind(repo)
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        pull_request_state(&row, forge, repo, number).map(Some)
    }

    async fn delivery(&self, delivery_id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = $1"
        ));
        let row = sqlx::query(sql)
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(delivery_record).transpose()
    }

    async fn recent_deliveries(
        &self,
        limit: i64,
        before_id: Option<i64>,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE ($2::BIGINT IS NULL OR id < $2) ORDER BY id DESC LIMIT $1"
        ));
        let rows = sqlx::query(sql)
            .bind(limit)
            .bind(before_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_record).collect()
    }

    async fn requeue(&self, delivery_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'queued', attempts = 0, run_after = now(), finished_at = NULL,
                    lease_owner = NULL, lease_until = NULL
             WHERE delivery_id = $1 AND status <> 'running' RETURNING id",
        )
        .bind(delivery_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = r else { return Ok(false) };
        let id: i64 = row.try_get("id")?;
        sqlx::query("UPDATE actions SET outcome = 'pending', error = NULL WHERE delivery = $1 AND outcome = 'failed'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn requeue_failed(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE actions SET outcome = 'pending', error = NULL
             WHERE outcome = 'failed' AND delivery IN (SELECT id FROM deliveries WHERE status = 'failed')",
        )
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'queued', attempts = 0, run_after = now(), finished_at = NULL WHERE status = 'failed'",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query("SELECT status, count(*) AS n FROM deliveries GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect()
    }

    async fn owners_cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM owners_cache WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    async fn owners_cache_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO owners_cache (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn open_review_request_targets(
        &self,
        forge: &str,
        repo: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.target FROM actions a \
             JOIN deliveries d ON d.id = a.delivery \
             JOIN pull_requests p ON p.forge = d.forge AND p.repo = d.repo AND p.number = d.number \
             WHERE d.forge = $1 AND d.repo = $2 AND a.kind = 'request_reviewers' \
               AND a.outcome = 'applied' AND p.state = 'open'",
        )
        .bind(forge)
        .bind(repo)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("target")?)).collect()
    }
}
