//! Postgres connections the hot path keeps between its statements.
//!
//! sqlx's pool tests every connection given back to it with a round trip to the server (a
//! `Sync`, answered by `ReadyForQuery`), so every statement run on the pool costs two round
//! trips. On the path from webhook to forge write (the receive, the claim, the decision and the
//! finish) that second round trip was about 8 % of bosun's CPU and as much again of the
//! server's (BENCHMARKS.md §10). A connection that has just completed a statement needs no
//! test: it is kept here and handed to the next statement. One whose statement failed or was
//! cancelled goes back to the pool, which tests it as before, and a failure empties this
//! keep, since its other connections may be broken the same way (the server restarted).
//!
//! Connections stay the pool's (a kept one is checked out), so `database.max_connections`
//! still bounds them all. At most half are kept, so the pool always has the other half for
//! everything else; a kept connection left idle longer than [`IDLE_LIMIT`] goes back to the
//! pool, whose idle timeout and lifetime rules then apply to it again.

use super::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a kept connection may sit unused before it goes back to the pool.
const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// The kept connections, newest last.
pub(super) struct KeptConnections {
    pool: PgPool,
    idle: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    limit: usize,
    idle_limit: Duration,
}

impl KeptConnections {
    /// Keeps at most half of the pool's `max_connections`, rounded down: none of a pool of
    /// one, which a kept connection would leave empty for everything else.
    pub(super) fn new(pool: PgPool, max_connections: u32) -> Self {
        KeptConnections {
            pool,
            idle: Mutex::new(Vec::new()),
            limit: max_connections as usize / 2,
            idle_limit: IDLE_LIMIT,
        }
    }

    /// A connection for one statement: the most recently kept one, or one from the pool.
    pub(super) async fn get(&self) -> Result<KeptConnection<'_>, StoreError> {
        let (kept, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let stale: Vec<_> = idle
                .extract_if(.., |(_, since)| {
                    now.duration_since(*since) > self.idle_limit
                })
                .collect();
            (idle.pop(), stale)
        };
        // Back to the pool (dropping a pooled connection returns it), outside the lock.
        drop(stale);
        let connection = match kept {
            Some((connection, _)) => connection,
            None => self.pool.acquire().await?,
        };
        Ok(KeptConnection {
            connection,
            keep: self,
        })
    }

    fn keep(&self, connection: PoolConnection<Postgres>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.limit {
            idle.push((connection, Instant::now()));
        }
    }

    fn forget_all(&self) {
        let all = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        drop(all);
    }
}

/// A connection lent for one statement. [`KeptConnection::done`] keeps it for the next one;
/// dropped without it (the statement was cancelled) it goes back to the pool.
pub(super) struct KeptConnection<'k> {
    connection: PoolConnection<Postgres>,
    keep: &'k KeptConnections,
}

impl KeptConnection<'_> {
    /// The connection, to run a statement on.
    pub(super) fn conn(&mut self) -> &mut sqlx::PgConnection {
        &mut self.connection
    }

    /// Ends the statement: after a success the connection is kept for the next one; after a
    /// failure it goes back to the pool and the keep is emptied.
    pub(super) fn done<T>(self, result: Result<T, sqlx::Error>) -> Result<T, StoreError> {
        match result {
            Ok(value) => {
                self.keep.keep(self.connection);
                Ok(value)
            }
            Err(e) => {
                self.keep.forget_all();
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::postgres::PgPoolOptions;

    /// A pool on `BOSUN_TEST_POSTGRES`, as [`crate::store::test_postgres_url`] skips.
    fn pool(max_connections: u32) -> Option<PgPool> {
        let url = crate::store::test_postgres_url("kept connections")?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_lazy(&url)
            .expect("BOSUN_TEST_POSTGRES is a Postgres URL");
        Some(pool)
    }

    /// A keep over a pool of `max_connections` on `BOSUN_TEST_POSTGRES`, as [`pool`] skips.
    fn keep(max_connections: u32) -> Option<(PgPool, KeptConnections)> {
        let pool = pool(max_connections)?;
        let keep = KeptConnections::new(pool.clone(), max_connections);
        Some((pool, keep))
    }

    async fn backend(keep: &KeptConnections) -> i32 {
        let mut connection = keep.get().await.expect("a connection");
        let pid = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(connection.conn())
            .await;
        connection.done(pid).expect("the backend's pid")
    }

    /// Waits until the pool has `n` idle connections: a dropped pooled connection goes back
    /// through a task of the pool's.
    async fn pool_has_idle(pool: &PgPool, n: usize, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.num_idle() != n {
            assert!(
                Instant::now() < deadline,
                "{what}: {} idle",
                pool.num_idle()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn kept(keep: &KeptConnections) -> usize {
        keep.idle.lock().map(|idle| idle.len()).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_connection_is_kept_for_the_next_statement_and_stays_checked_out() {
        let Some((pool, keep)) = keep(4) else { return };
        let first = backend(&keep).await;
        assert_eq!(kept(&keep), 1);
        assert_eq!(
            pool.num_idle(),
            0,
            "a kept connection is not the pool's idle one"
        );
        assert_eq!(backend(&keep).await, first, "the next statement ran on it");
        assert_eq!(pool.size(), 1, "and no other connection was opened");
    }

    #[tokio::test]
    async fn at_most_half_the_pool_is_kept() {
        let Some((pool, keep)) = keep(4) else { return };
        let lent: Vec<_> = futures::future::join_all((0..3).map(|_| keep.get())).await;
        for connection in lent {
            connection
                .expect("a connection")
                .done(Ok(()))
                .expect("kept");
        }
        assert_eq!(kept(&keep), 2);
        pool_has_idle(&pool, 1, "the third went back to the pool").await;
    }

    #[tokio::test]
    async fn a_pool_of_one_keeps_nothing() {
        let Some((pool, keep)) = keep(1) else { return };
        backend(&keep).await;
        assert_eq!(kept(&keep), 0);
        pool_has_idle(&pool, 1, "the one connection is the pool's again").await;
    }

    #[tokio::test]
    async fn a_failed_statement_gives_every_kept_connection_back_to_the_pool() {
        let Some((pool, keep)) = keep(4) else { return };
        let (a, b) = tokio::join!(keep.get(), keep.get());
        a.expect("a").done(Ok(())).expect("kept");
        let mut failing = b.expect("b");
        let result = sqlx::query("SELECT * FROM no_such_table_here")
            .execute(failing.conn())
            .await;
        assert!(failing.done(result).is_err());
        assert_eq!(kept(&keep), 0);
        pool_has_idle(&pool, 2, "both went back to the pool").await;
    }

    #[tokio::test]
    async fn connections_kept_idle_too_long_go_back_to_the_pool() {
        let Some((_pool, mut keep)) = keep(4) else {
            return;
        };
        keep.idle_limit = Duration::from_millis(1);
        let (a, b) = tokio::join!(keep.get(), keep.get());
        a.expect("a").done(Ok(())).expect("kept");
        b.expect("b").done(Ok(())).expect("kept");
        assert_eq!(kept(&keep), 2);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let next = keep.get().await.expect("a connection");
        assert_eq!(kept(&keep), 0, "both stale ones left the keep");
        next.done(Ok(())).expect("kept");
        assert_eq!(kept(&keep), 1);
    }
}
