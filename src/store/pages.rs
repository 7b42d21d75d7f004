//! The store queries behind the web pages: delivery listings, one delivery with its payload,
//! a pull request's history and its recorded state.
//!
//! Listings are keyset-paginated on `(received_at, id)` — never `OFFSET` — and every filter
//! the dashboard offers has an index whose order matches (`migrations/*/…_pages.sql`), so a
//! page costs the same with a hundred rows or millions. Filters are added to the SQL only when
//! set, so each query has a plan that can use its index.

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::*;
use sqlx::{QueryBuilder, Row};

/// What the dashboard's list is narrowed to; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub repo: Option<String>,
    pub number: Option<i64>,
    pub status: Option<String>,
    pub forge: Option<String>,
}

/// A position in the `(received_at, id)` order: the last row of the page before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub received_at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    /// The row a cursor continues from.
    pub fn of(d: &DeliveryRecord) -> Cursor {
        Cursor {
            received_at: d.received_at,
            id: d.id,
        }
    }

    /// The URL form, `<unix microseconds>.<id>`: microseconds because Postgres keeps them, and
    /// a cursor rounded to milliseconds would skip or repeat rows.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.received_at.timestamp_micros(), self.id)
    }

    /// Parses [`Cursor::encode`]'s form; `None` for anything else.
    pub fn decode(s: &str) -> Option<Cursor> {
        let (micros, id) = s.split_once('.')?;
        Some(Cursor {
            received_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: id.parse().ok()?,
        })
    }
}

/// One delivery with the headers and raw payload it came with.
#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub record: DeliveryRecord,
    /// The headers that matter, a JSON object as the receiver stored it.
    pub headers: String,
    pub payload: Vec<u8>,
}

/// A journaled action with the delivery it belongs to and when it was decided and applied.
#[derive(Debug, Clone)]
pub struct ActionRecord {
    pub delivery: i64,
    pub action: StoredAction,
    pub created_at: DateTime<Utc>,
    pub applied_at: Option<DateTime<Utc>>,
}

/// A pull request's row as the pages show it (the facts plugins reported come from
/// [`FactStore`](super::FactStore)).
#[derive(Debug, Clone)]
pub struct PullRequestView {
    pub state: PullRequestState,
    pub updated_at: DateTime<Utc>,
}

/// The pages' queries; every [`Store`] has them.
#[async_trait]
pub trait PageStore: Send + Sync {
    /// Deliveries matching `filter`, newest first, strictly after `before` in that order.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// One delivery by its forge id, with headers and payload.
    async fn delivery_detail(
        &self,
        delivery_id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError>;
    /// A pull request's (or issue's) deliveries, oldest first, strictly after `after`.
    async fn item_history(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
        after: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryDetail>, StoreError>;
    /// The actions of these deliveries, in the order they were journaled.
    async fn actions_of(&self, deliveries: &[i64]) -> Result<Vec<ActionRecord>, StoreError>;
    /// A pull request's recorded state.
    async fn pull_request_view(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Option<PullRequestView>, StoreError>;
}

/// Adds the filters that are set, joined with AND, after a `WHERE TRUE`.
fn push_filter<DB>(qb: &mut QueryBuilder<DB>, filter: &DeliveryFilter)
where
    DB: sqlx::Database,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(repo) = &filter.repo {
        qb.push(" AND repo = ").push_bind(repo.clone());
    }
    if let Some(number) = filter.number {
        qb.push(" AND number = ").push_bind(number);
    }
    if let Some(status) = &filter.status {
        qb.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(forge) = &filter.forge {
        qb.push(" AND forge = ").push_bind(forge.clone());
    }
}

const ACTION_COLUMNS: &str = "id, delivery, plugin, seq, kind, target, details, outcome, error, forge_calls, created_at, applied_at";

#[async_trait]
impl PageStore for PgStore {
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut qb = QueryBuilder::<sqlx::Postgres>::new(format!(
            "SELECT {} FROM deliveries WHERE TRUE",
            super::postgres::DELIVERY_COLUMNS
        ));
        push_filter(&mut qb, filter);
        if let Some(c) = before {
            qb.push(" AND (received_at, id) < (")
                .push_bind(c.received_at)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY received_at DESC, id DESC LIMIT ")
            .push_bind(limit);
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter().map(super::postgres::delivery_record).collect()
    }

    async fn delivery_detail(
        &self,
        delivery_id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {}, headers, payload FROM deliveries WHERE delivery_id = $1",
            super::postgres::DELIVERY_COLUMNS
        ));
        let row = sqlx::query(sql)
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(DeliveryDetail {
                record: super::postgres::delivery_record(&r)?,
                headers: r.try_get("headers")?,
                payload: r.try_get("payload")?,
            })
        })
        .transpose()
    }

    async fn item_history(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
        after: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryDetail>, StoreError> {
        let mut qb = QueryBuilder::<sqlx::Postgres>::new(format!(
            "SELECT {}, headers, payload FROM deliveries WHERE forge = ",
            super::postgres::DELIVERY_COLUMNS
        ));
        qb.push_bind(forge.as_str())
            .push(" AND repo = ")
            .push_bind(repo)
            .push(" AND number = ")
            .push_bind(number);
        if let Some(c) = after {
            qb.push(" AND (received_at, id) > (")
                .push_bind(c.received_at)
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY received_at, id LIMIT ").push_bind(limit);
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryDetail {
                    record: super::postgres::delivery_record(r)?,
                    headers: r.try_get("headers")?,
                    payload: r.try_get("payload")?,
                })
            })
            .collect()
    }

    async fn actions_of(&self, deliveries: &[i64]) -> Result<Vec<ActionRecord>, StoreError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ACTION_COLUMNS} FROM actions WHERE delivery = ANY($1) ORDER BY delivery, id"
        ));
        let rows = sqlx::query(sql)
            .bind(deliveries)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ActionRecord {
                    delivery: r.try_get("delivery")?,
                    action: stored_action(r)?,
                    created_at: r.try_get("created_at")?,
                    applied_at: r.try_get("applied_at")?,
                })
            })
            .collect()
    }

    async fn pull_request_view(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Option<PullRequestView>, StoreError> {
        let row = sqlx::query(
            "SELECT state, head_sha, labels, updated_at FROM pull_requests
             WHERE forge = $1 AND repo = $2 AND number = $3",
        )
        .bind(forge.as_str())
        .bind(repo)
        .bind(number)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(PullRequestView {
            state: pull_request_state(&r, forge, repo, number)?,
            updated_at: r.try_get("updated_at")?,
        }))
    }
}

#[async_trait]
impl PageStore for SqliteStore {
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut qb = QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT {} FROM deliveries WHERE TRUE",
            super::sqlite::DELIVERY_COLUMNS
        ));
        push_filter(&mut qb, filter);
        if let Some(c) = before {
            // SQLite keeps milliseconds; a cursor from a SQLite row is a whole millisecond.
            qb.push(" AND (received_at, id) < (")
                .push_bind(c.received_at.timestamp_millis())
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY received_at DESC, id DESC LIMIT ")
            .push_bind(limit);
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter().map(super::sqlite::delivery_record).collect()
    }

    async fn delivery_detail(
        &self,
        delivery_id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {}, headers, payload FROM deliveries WHERE delivery_id = $1",
            super::sqlite::DELIVERY_COLUMNS
        ));
        let row = sqlx::query(sql)
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(DeliveryDetail {
                record: super::sqlite::delivery_record(&r)?,
                headers: r.try_get("headers")?,
                payload: r.try_get("payload")?,
            })
        })
        .transpose()
    }

    async fn item_history(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
        after: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryDetail>, StoreError> {
        let mut qb = QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT {}, headers, payload FROM deliveries WHERE forge = ",
            super::sqlite::DELIVERY_COLUMNS
        ));
        qb.push_bind(forge.as_str())
            .push(" AND repo = ")
            .push_bind(repo)
            .push(" AND number = ")
            .push_bind(number);
        if let Some(c) = after {
            qb.push(" AND (received_at, id) > (")
                .push_bind(c.received_at.timestamp_millis())
                .push(", ")
                .push_bind(c.id)
                .push(")");
        }
        qb.push(" ORDER BY received_at, id LIMIT ").push_bind(limit);
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(DeliveryDetail {
                    record: super::sqlite::delivery_record(r)?,
                    headers: r.try_get("headers")?,
                    payload: r.try_get("payload")?,
                })
            })
            .collect()
    }

    async fn actions_of(&self, deliveries: &[i64]) -> Result<Vec<ActionRecord>, StoreError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::<sqlx::Sqlite>::new(format!(
            "SELECT {ACTION_COLUMNS} FROM actions WHERE delivery IN ("
        ));
        let mut ids = qb.separated(", ");
        for id in deliveries {
            ids.push_bind(*id);
        }
        qb.push(") ORDER BY delivery, id");
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(ActionRecord {
                    delivery: r.try_get("delivery")?,
                    action: stored_action(r)?,
                    created_at: super::sqlite::from_ms(r.try_get("created_at")?),
                    applied_at: r
                        .try_get::<Option<i64>, _>("applied_at")?
                        .map(super::sqlite::from_ms),
                })
            })
            .collect()
    }

    async fn pull_request_view(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Option<PullRequestView>, StoreError> {
        let row = sqlx::query(
            "SELECT state, head_sha, labels, updated_at FROM pull_requests
             WHERE forge = $1 AND repo = $2 AND number = $3",
        )
        .bind(forge.as_str())
        .bind(repo)
        .bind(number)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(PullRequestView {
            state: pull_request_state(&r, forge, repo, number)?,
            updated_at: super::sqlite::from_ms(r.try_get("updated_at")?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_with_microseconds() {
        let c = Cursor {
            received_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).expect("time"),
            id: 42,
        };
        assert_eq!(c.encode(), "1764000000123456.42");
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "1", "x.1", "1.x", "1.2.3", "99999999999999999999.1"] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
