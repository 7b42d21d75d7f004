//! Which forge deliveries the journal already holds, for `bosun reconcile`: it lists what the
//! forge sent (or tried to send) and asks here which of those ids bosun never journaled. The
//! SQL is the same on both backends, so it is written once.

use super::StoreError;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use async_trait::async_trait;
use sqlx::Row;
use std::collections::HashSet;

/// Ids per query: well under SQLite's and Postgres's bind-parameter limits.
const CHUNK: usize = 500;

/// Looking up journaled delivery ids in bulk.
#[async_trait]
pub trait JournalStore: Send + Sync {
    /// The ids among `delivery_ids` (as stored, e.g. `github:72d3162e-…`) that the journal
    /// holds, whatever their status. One query per 500 ids.
    async fn journaled_ids(&self, delivery_ids: &[String]) -> Result<HashSet<String>, StoreError>;
}

macro_rules! journal_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl JournalStore for $store {
            async fn journaled_ids(
                &self,
                delivery_ids: &[String],
            ) -> Result<HashSet<String>, StoreError> {
                let mut found = HashSet::new();
                for chunk in delivery_ids.chunks(CHUNK) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT delivery_id FROM deliveries WHERE delivery_id IN (",
                    );
                    let mut ids = query.separated(", ");
                    for id in chunk {
                        ids.push_bind(id.as_str());
                    }
                    query.push(")");
                    for row in query.build().fetch_all(self.pool()).await? {
                        found.insert(row.try_get::<String, _>("delivery_id")?);
                    }
                }
                Ok(found)
            }
        }
    };
}

journal_store!(PgStore, sqlx::Postgres);
journal_store!(SqliteStore, sqlx::Sqlite);
