//! The SQLite store: the embedded default, so `bosun serve` needs nothing else installed.
//! WAL with `synchronous = NORMAL`; one writer at a time, so a single `UPDATE … RETURNING`
//! claims atomically. Times are Unix milliseconds from this process's clock.

use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};
use std::collections::HashSet;
use std::str::FromStr;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A SQLite-backed [`Store`].
pub struct SqliteStore {
    pool: SqlitePool,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating when missing) the database file.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    /// The pool, for the dashboard's queries and for benchmarks that need the raw database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

pub(super) const DELIVERY_COLUMNS: &str = "id, delivery_id, forge, event, repo, number, status, attempts, last_error, received_at, started_at, finished_at";

pub(super) fn delivery_record(row: &sqlx::sqlite::SqliteRow) -> Result<DeliveryRecord, StoreError> {
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
        received_at: from_ms(row.try_get("received_at")?),
        started_at: row.try_get::<Option<i64>, _>("started_at")?.map(from_ms),
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(from_ms),
    })
}

#[async_trait]
impl Store for SqliteStore {
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
        let now = now_ms();
        let mut qb = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, headers, payload, received_at, run_after) ",
        );
        qb.push_values(unique, |mut b, d| {
            b.push_bind(&d.delivery_id)
                .push_bind(d.forge.as_str())
                .push_bind(&d.event)
                .push_bind(&d.repo)
                .push_bind(d.number)
                .push_bind(&d.item_key)
                .push_bind(&d.headers)
                .push_bind(d.payload.as_ref())
                .push_bind(now)
                .push_bind(now);
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
        let now = now_ms();
        let row = sqlx::query(
            "UPDATE deliveries
             SET status = 'running', attempts = attempts + 1, lease_owner = $1, lease_until = $2 + $3,
                 started_at = coalesce(started_at, $2)
             WHERE id = (
                SELECT d.id FROM deliveries d
                WHERE d.status IN ('queued', 'running')
                  AND ((d.status = 'queued' AND d.run_after <= $2) OR (d.status = 'running' AND d.lease_until < $2))
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries o
                      WHERE o.item_key = d.item_key AND o.id < d.id AND o.status IN ('queued', 'running'))
                ORDER BY d.id
                LIMIT 1)
             RETURNING id, delivery_id, forge, event, repo, number, payload, attempts, decided, received_at",
        )
        .bind(worker)
        .bind(now)
        .bind(ms(lease))
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
            received_at: from_ms(row.try_get("received_at")?),
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
            "UPDATE deliveries SET status = $3, last_error = coalesce($4, last_error), finished_at = $5,
                    lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(status.as_str())
        .bind(note)
        .bind(now_ms())
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
            "UPDATE deliveries SET status = 'queued', last_error = $3, run_after = $4, lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(error)
        .bind(now_ms() + ms(delay))
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn release_delivery(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'queued', attempts = max(attempts - 1, 0), lease_owner = NULL, lease_until = NULL
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
        let now = now_ms();
        for a in actions {
            sqlx::query(
                "INSERT INTO actions (delivery, plugin, seq, kind, target, details, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (delivery, plugin, seq) DO NOTHING",
            )
            .bind(id)
            .bind(&a.plugin)
            .bind(a.seq)
            .bind(a.action.kind())
            .bind(a.action.target())
            .bind(encode_action(&a.action)?)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE deliveries SET decided = 1 WHERE id = $1")
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
                    applied_at = CASE WHEN $2 IN ('applied', 'dry-run') THEN $5 ELSE applied_at END
             WHERE id = $1",
        )
        .bind(action_id)
        .bind(outcome.as_str())
        .bind(error)
        .bind(forge_calls)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn upsert_pull_request(&self, pr: &PullRequestState) -> Result<(), StoreError> {
        let labels =
            serde_json::to_string(&pr.labels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO pull_requests (forge, repo, number, state, head_sha, labels, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (forge, repo, number) DO UPDATE SET state = excluded.state,
                 head_sha = coalesce(excluded.head_sha, pull_requests.head_sha), labels = excluded.labels,
                 updated_at = excluded.updated_at",
        )
        .bind(pr.forge.as_str())
        .bind(&pr.repo)
        .bind(pr.number)
        .bind(&pr.state)
        .bind(&pr.head_sha)
        .bind(labels)
        .bind(now_ms())
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
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $1"
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
            "UPDATE deliveries SET status = 'queued', attempts = 0, run_after = $2, finished_at = NULL,
                    lease_owner = NULL, lease_until = NULL
             WHERE delivery_id = $1 AND status <> 'running' RETURNING id",
        )
        .bind(delivery_id)
        .bind(now_ms())
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
            "UPDATE deliveries SET status = 'queued', attempts = 0, run_after = $1, finished_at = NULL WHERE status = 'failed'",
        )
        .bind(now_ms())
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
