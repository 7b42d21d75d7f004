//! The store queries behind the web pages: delivery listings, one delivery with its payload,
//! a pull request's history and its recorded state.
//!
//! Listings are keyset-paginated on `(received_at, id)` — never `OFFSET` — and every filter
//! the dashboard offers has an index whose order matches (`migrations/*/…_pages.sql`), so a
//! page costs the same with a hundred rows or millions. Filters are added to the SQL only when
//! set, so each query has a plan that can use its index.

use super::postgres::PgStore;
use super::rows::{ActionRow, DetailRow, PullRequestRow};
use super::sql::{self, Newest};
use super::sqlite::{SqliteStore, stamp};
use super::*;

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
    /// The body as received (decoded from its stored encoding).
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

#[async_trait]
impl PageStore for PgStore {
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let before = before.map(|c| (c.received_at, c.id));
        let mut qb =
            sql::list_deliveries::<sqlx::Postgres, _>(filter, before, limit, Newest::Received);
        Ok(qb.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn delivery_detail(
        &self,
        delivery_id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        let row: Option<DetailRow> = sqlx::query_as(sql::DELIVERY_DETAIL)
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(DeliveryDetail::try_from).transpose()
    }

    async fn item_history(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
        after: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryDetail>, StoreError> {
        let after = after.map(|c| (c.received_at, c.id));
        let mut qb =
            sql::item_history::<sqlx::Postgres, _>(forge.as_str(), repo, number, after, limit);
        let rows: Vec<DetailRow> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(DeliveryDetail::try_from).collect()
    }

    async fn actions_of(&self, deliveries: &[i64]) -> Result<Vec<ActionRecord>, StoreError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = sql::actions_of::<sqlx::Postgres>(deliveries);
        let rows: Vec<ActionRow> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(ActionRecord::try_from).collect()
    }

    async fn pull_request_view(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Option<PullRequestView>, StoreError> {
        let row: Option<PullRequestRow> = sqlx::query_as(sql::PULL_REQUEST)
            .bind(forge.as_str())
            .bind(repo)
            .bind(number)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.into_view(forge, repo, number)).transpose()
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
        // SQLite keeps milliseconds; a cursor from a SQLite row is a whole millisecond.
        let before = before.map(|c| (stamp(c.received_at), c.id));
        // Unfiltered, or by forge only: the table backwards (migration
        // `…drop_deliveries_received`); a status or repository has its own index by time.
        let newest = match (&filter.status, &filter.repo) {
            (None, None) => Newest::ById,
            _ => Newest::Received,
        };
        let mut qb = sql::list_deliveries::<sqlx::Sqlite, _>(filter, before, limit, newest);
        Ok(qb.build_query_as().fetch_all(self.pool()).await?)
    }

    async fn delivery_detail(
        &self,
        delivery_id: &str,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        let row: Option<DetailRow> = sqlx::query_as(sql::DELIVERY_DETAIL)
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(DeliveryDetail::try_from).transpose()
    }

    async fn item_history(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
        after: Option<Cursor>,
        limit: i64,
    ) -> Result<Vec<DeliveryDetail>, StoreError> {
        let after = after.map(|c| (stamp(c.received_at), c.id));
        let mut qb =
            sql::item_history::<sqlx::Sqlite, _>(forge.as_str(), repo, number, after, limit);
        let rows: Vec<DetailRow> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(DeliveryDetail::try_from).collect()
    }

    async fn actions_of(&self, deliveries: &[i64]) -> Result<Vec<ActionRecord>, StoreError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = sql::actions_of::<sqlx::Sqlite>(deliveries);
        let rows: Vec<ActionRow> = qb.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(ActionRecord::try_from).collect()
    }

    async fn pull_request_view(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Option<PullRequestView>, StoreError> {
        let row: Option<PullRequestRow> = sqlx::query_as(sql::PULL_REQUEST)
            .bind(forge.as_str())
            .bind(repo)
            .bind(number)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.into_view(forge, repo, number)).transpose()
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
