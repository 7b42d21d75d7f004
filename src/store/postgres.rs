//! The Postgres store: production, and several bosun processes sharing one database.
//! Claims use `FOR UPDATE SKIP LOCKED`; times come from the database clock so processes on
//! different machines agree on leases. An insert that leases a delivery to a waiting worker
//! learns whether its item is free in the item's turn (`bosun_items_free`), so two processes
//! journaling one PR at once never both lease.

use super::kept_connections::KeptConnections;
use super::rows::{ActionRow, ClaimRow, PullRequestRow};
use super::sql::{self, Statements};
use super::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row as _};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The shared statements, with the database clock as "now".
static SQL: LazyLock<Statements> = LazyLock::new(|| Statements::new("now()"));

/// A Postgres-backed [`Store`].
pub struct PgStore {
    pool: PgPool,
    /// Connections the receive, claim, decision and finish reuse without the pool's test.
    kept: KeptConnections,
    /// Whether the latest claim saw due deliveries it did not take ([`Store::claim_saw_more_due`]).
    more_due: AtomicBool,
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
        let kept = KeptConnections::new(pool.clone(), max_connections);
        Ok(PgStore {
            pool,
            kept,
            more_due: AtomicBool::new(true),
        })
    }

    /// The pool, for tests and benchmarks that need the raw database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// One delivery that waits before it may run (`insert_delivery_after`).
static INSERT_DELIVERY_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(), now() + make_interval(secs => $10)){}",
        sql::INSERT_DELIVERIES,
        sql::INSERT_DELIVERIES_END
    )
});

/// A retry, before the attempt's held-back writes are added. `$1` id, `$2` worker, `$3` error,
/// `$4` delay in seconds.
const RETRY: &str = concat!(
    "UPDATE deliveries SET status = 'queued', last_error = $3, run_after = now() + make_interval(secs => $4),
        lease_owner = NULL, lease_until = NULL
 WHERE ",
    held_by_worker!()
);

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// Binds the outcomes' parameters, four per mark, in the order [`sql::pg_set_outcomes`] reads.
fn bind_outcomes<'q>(
    mut query: PgQuery<'q>,
    marks: impl IntoIterator<Item = OutcomeMark>,
) -> PgQuery<'q> {
    for m in marks {
        query = query
            .bind(m.action)
            .bind(m.outcome.as_str())
            .bind(m.error)
            .bind(m.forge_calls);
    }
    query
}

/// Binds `$5`… of a [`sql::pg_settled`] statement: the PR's record, then `marks` (the
/// outcomes the end writes, [`Settlement::end_marks`]), then the held-back facts as six
/// arrays and the held decision's actions as eight, when there are any ([`sql::EndWrites`]).
fn bind_settlement<'q>(
    query: PgQuery<'q>,
    settlement: &'q Settlement,
    marks: Vec<OutcomeMark>,
) -> Result<PgQuery<'q>, StoreError> {
    let pr = settlement.pull_request.as_ref();
    let labels = pr
        .map(|p| serde_json::to_string(&p.labels))
        .transpose()
        .map_err(|e| StoreError::Bug(e.to_string()))?;
    let query = query
        .bind(pr.map(|p| p.forge.as_str()))
        .bind(pr.map(|p| p.repo.as_str()))
        .bind(pr.map(|p| p.number))
        .bind(pr.map(|p| p.state.as_str()))
        .bind(pr.and_then(|p| p.head_sha.as_deref()))
        .bind(labels);
    let mut query = bind_outcomes(query, marks);
    let facts = &settlement.facts;
    if !facts.is_empty() {
        let encoded = facts
            .iter()
            .map(|f| super::facts::encode(&f.fact))
            .collect::<Result<Vec<_>, _>>()?;
        let column = |field: fn(&HeldFact) -> &str| facts.iter().map(field).collect::<Vec<_>>();
        query = query
            .bind(column(|f| f.item.forge.as_str()))
            .bind(column(|f| f.item.repo.as_str()))
            .bind(
                facts
                    .iter()
                    .map(|f| f.item.number as i64)
                    .collect::<Vec<_>>(),
            )
            .bind(facts.iter().map(|f| f.fact.key()).collect::<Vec<_>>())
            .bind(column(|f| f.plugin.as_str()))
            .bind(encoded);
    }
    if settlement.decision.is_none() {
        return Ok(query);
    }
    let (actions, marks): (Vec<_>, Vec<_>) = settlement.settled_actions().into_iter().unzip();
    let mut outcomes = Vec::with_capacity(marks.len());
    let mut errors = Vec::with_capacity(marks.len());
    let mut calls = Vec::with_capacity(marks.len());
    for mark in marks {
        outcomes.push(mark.outcome.as_str());
        errors.push(mark.error);
        calls.push(mark.forge_calls);
    }
    Ok(bind_action_arrays(query, actions)?
        .bind(outcomes)
        .bind(errors)
        .bind(calls))
}

/// Binds planned actions as the five arrays Postgres inserts the journal's rows from: plugin,
/// seq, kind, target and the encoded action.
fn bind_action_arrays<'q>(
    query: PgQuery<'q>,
    actions: impl IntoIterator<Item = &'q PlannedAction>,
) -> Result<PgQuery<'q>, StoreError> {
    let (mut plugins, mut seqs, mut kinds, mut targets, mut details) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for a in actions {
        plugins.push(a.plugin.as_str());
        seqs.push(a.seq);
        kinds.push(a.action.kind());
        targets.push(a.action.target());
        details.push(encode_action(&a.action)?);
    }
    Ok(query
        .bind(plugins)
        .bind(seqs)
        .bind(kinds)
        .bind(targets)
        .bind(details))
}

/// How many of the oldest pending deliveries a claim reads, widening while a full window holds
/// nothing claimable; past the last, it reads them all. The first is twice the default worker
/// count: the running deliveries sit among the oldest, and a wider first window made each claim
/// read and sort more rows as a backlog built up, which deepened the backlog (BENCHMARKS.md §10).
const CLAIM_WINDOWS: [i64; 2] = [32, 256];

impl PgStore {
    /// Runs `end`, an update of one delivery whose `$1`…`$4` `bind` binds, with the attempt's
    /// held-back writes in the same statement; true when it ended the delivery (false: the
    /// lease was lost).
    async fn end_attempt<'q>(
        &self,
        end: &str,
        settlement: &'q Settlement,
        bind: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
    ) -> Result<bool, StoreError> {
        let row = self.settle(end, settlement, bind, None).await?;
        Ok(row.try_get::<i64, _>("ended")? == 1)
    }

    /// The one statement of an attempt's end ([`sql::pg_settled`]), or, with `claim_lease`,
    /// of an end and a claim ([`sql::pg_settled_then_claim`]); its row.
    async fn settle<'q>(
        &self,
        end: &str,
        settlement: &'q Settlement,
        bind: impl FnOnce(PgQuery<'q>) -> PgQuery<'q>,
        claim_lease: Option<Duration>,
    ) -> Result<sqlx::postgres::PgRow, StoreError> {
        let end = sql::attempt_end(end, settlement.decides());
        let marks = settlement.end_marks();
        let writes = sql::EndWrites {
            outcomes: marks.len(),
            facts: !settlement.facts.is_empty(),
            decision: settlement.decision.is_some(),
        };
        let statement = match claim_lease {
            None => sql::pg_settled(&end, writes),
            Some(_) => sql::pg_settled_then_claim(&end, writes, CLAIM_WINDOWS[0]),
        };
        let query = bind(sqlx::query(sqlx::AssertSqlSafe(statement)));
        let mut query = bind_settlement(query, settlement, marks)?;
        if let Some(lease) = claim_lease {
            query = query.bind(lease.as_secs_f64());
        }
        let mut connection = self.kept.get().await?;
        let row = query.fetch_one(connection.conn()).await;
        connection.done(row)
    }

    /// Reads a claim's answer, noting whether it saw more due ([`Store::claim_saw_more_due`]).
    fn read_claim(&self, row: &sqlx::postgres::PgRow) -> Result<ClaimAttempt, StoreError> {
        let attempt = ClaimAttempt::read(row)?;
        self.more_due
            .store(attempt.others_due > 0, Ordering::Relaxed);
        Ok(attempt)
    }

    /// Claims the first claimable head among the `window` oldest pending deliveries (all of
    /// them with `None`), and notes whether it saw more due ([`Store::claim_saw_more_due`]).
    async fn claim_within(
        &self,
        worker: &str,
        lease: Duration,
        window: Option<i64>,
    ) -> Result<ClaimAttempt, StoreError> {
        let mut connection = self.kept.get().await?;
        let row = sqlx::query(sql::PG_CLAIM.as_str())
            .bind(worker)
            .bind(lease.as_secs_f64())
            .bind(window)
            .fetch_one(connection.conn())
            .await;
        self.read_claim(&connection.done(row)?)
    }
}

/// One claim statement's answer.
struct ClaimAttempt {
    claimed: Option<ClaimRow>,
    /// Pending deliveries the claim read.
    pending_seen: i64,
    /// Queued and due among them, besides the one claimed.
    others_due: i64,
}

impl ClaimAttempt {
    fn read(row: &sqlx::postgres::PgRow) -> Result<ClaimAttempt, StoreError> {
        use sqlx::FromRow as _;
        let id: Option<i64> = row.try_get("id")?;
        Ok(ClaimAttempt {
            claimed: id.map(|_| ClaimRow::from_row(row)).transpose()?,
            pending_seen: row.try_get("pending_seen")?,
            others_due: row.try_get("others_due")?,
        })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(MIGRATOR.run(&self.pool).await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_deliveries(
        &self,
        batch: &[NewDelivery],
    ) -> Result<Vec<InsertOutcome>, StoreError> {
        let first = first_occurrences(batch);
        let mut qb = sql::insert_deliveries::<sqlx::Postgres>(firsts(batch, &first), "now()");
        let mut connection = self.kept.get().await?;
        let inserted = qb.build_query_scalar().fetch_all(connection.conn()).await;
        let inserted: HashSet<String> = connection.done(inserted)?.into_iter().collect();
        Ok(outcomes(batch, &first, &inserted))
    }

    async fn insert_and_lease(
        &self,
        batch: &[NewDelivery],
        workers: &[Option<String>],
        lease: Duration,
    ) -> Result<Vec<Journaled>, StoreError> {
        if workers.iter().all(Option::is_none) {
            return Ok(unleased(self.insert_deliveries(batch).await?));
        }
        let first = first_occurrences(batch);
        let rows = with_owners(batch, &first, workers);
        let mut qb =
            sql::leasing_insert::<sqlx::Postgres>(rows, "now()", sql::ItemsFree::InTurn, |qb| {
                qb.push("now() + make_interval(secs => ")
                    .push_bind(lease.as_secs_f64())
                    .push(")");
            });
        let mut connection = self.kept.get().await?;
        let rows = qb.build_query_as().fetch_all(connection.conn()).await;
        journaled(batch, &first, connection.done(rows)?)
    }

    async fn claim_next_delivery(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        // The oldest pending deliveries first: an item's earlier deliveries have smaller ids, so
        // the heads among them are true heads, and a claim reads a bounded prefix however long
        // the backlog is. Only when nothing in that prefix is claimable, and there is more than
        // the prefix, is a wider one read, and after the widest the whole pending set.
        for window in CLAIM_WINDOWS {
            let attempt = self.claim_within(worker, lease, Some(window)).await?;
            if let Some(row) = attempt.claimed {
                return ClaimedDelivery::try_from(row).map(Some);
            }
            // The window held every pending delivery: there is nothing more to read.
            if attempt.pending_seen < window {
                return Ok(None);
            }
        }
        let attempt = self.claim_within(worker, lease, None).await?;
        attempt.claimed.map(ClaimedDelivery::try_from).transpose()
    }

    fn claim_saw_more_due(&self) -> bool {
        self.more_due.load(Ordering::Relaxed)
    }

    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        status: FinalStatus,
        note: Option<&str>,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        self.end_attempt(&SQL.finish_delivery, settlement, |q| {
            q.bind(id).bind(worker).bind(status.as_str()).bind(note)
        })
        .await
    }

    async fn finish_and_claim(
        &self,
        id: i64,
        worker: &str,
        status: FinalStatus,
        note: Option<&str>,
        settlement: &Settlement,
        lease: Duration,
    ) -> Result<(bool, Option<ClaimedDelivery>), StoreError> {
        let row = self
            .settle(
                &SQL.finish_delivery,
                settlement,
                |q| q.bind(id).bind(worker).bind(status.as_str()).bind(note),
                Some(lease),
            )
            .await?;
        let ended: i64 = row.try_get("ended")?;
        let attempt = self.read_claim(&row)?;
        let claimed = attempt.claimed.map(ClaimedDelivery::try_from).transpose()?;
        Ok((ended == 1, claimed))
    }

    async fn retry_delivery(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        delay: Duration,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        self.end_attempt(RETRY, settlement, |q| {
            q.bind(id)
                .bind(worker)
                .bind(error)
                .bind(delay.as_secs_f64())
        })
        .await
    }

    async fn release_delivery(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(sql::RELEASE_DELIVERY)
            .bind(id)
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_decision(
        &self,
        id: i64,
        actions: &[PlannedAction],
        first_applying: bool,
    ) -> Result<Decided, StoreError> {
        // One statement, so one round trip and still all or nothing: the actions are inserted
        // from arrays and the delivery is marked decided by a data-modifying CTE. (As a
        // transaction of single statements it cost BEGIN, one INSERT per action, the UPDATE
        // and COMMIT: four round trips for a one-action decision.)
        let query = bind_action_arrays(sqlx::query(sql::PG_RECORD_DECISION).bind(id), actions)?
            .bind(first_applying);
        let mut connection = self.kept.get().await?;
        let rows = query.fetch_all(connection.conn()).await;
        let rows: Vec<ActionRow> = connection
            .done(rows)?
            .iter()
            .map(sqlx::FromRow::from_row)
            .collect::<Result<_, _>>()?;
        if rows.len() != actions.len() {
            // Some were journaled before (another worker decided too): read them all, as they
            // stand.
            return Ok(Decided {
                actions: self.delivery_actions(id).await?,
                first_applying: false,
                held: false,
            });
        }
        let mut stored = rows
            .into_iter()
            .map(StoredAction::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        stored.sort_by_key(|a| a.id);
        Ok(Decided {
            first_applying: first_applying && !stored.is_empty(),
            actions: stored,
            held: false,
        })
    }

    async fn delivery_actions(&self, id: i64) -> Result<Vec<StoredAction>, StoreError> {
        let rows: Vec<ActionRow> = sqlx::query_as(sql::DELIVERY_ACTIONS)
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(StoredAction::try_from).collect()
    }

    async fn set_action_outcomes(&self, marks: &[OutcomeMark]) -> Result<(), StoreError> {
        if marks.is_empty() {
            return Ok(());
        }
        let statement = sql::pg_set_outcomes(1, marks.len());
        bind_outcomes(
            sqlx::query(sqlx::AssertSqlSafe(statement)),
            marks.iter().cloned(),
        )
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
        let row: Option<PullRequestRow> = sqlx::query_as(sql::PULL_REQUEST)
            .bind(forge.as_str())
            .bind(repo)
            .bind(number)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.into_state(forge, repo, number)).transpose()
    }

    async fn delivery(&self, delivery_id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        Ok(sqlx::query_as(sql::DELIVERY)
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn recent_deliveries(
        &self,
        limit: i64,
        before_id: Option<i64>,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(sqlx::query_as(sql::RECENT_DELIVERIES)
            .bind(limit)
            .bind(before_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn requeue(&self, delivery_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(SQL.requeue.as_str())
            .bind(delivery_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else { return Ok(false) };
        sqlx::query(sql::REQUEUE_ACTIONS)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn requeue_failed(&self) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(sql::REQUEUE_FAILED_ACTIONS)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query(SQL.requeue_failed.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(sql::STATUS_COUNTS)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    async fn owners_cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(sql::OWNERS_CACHE_GET)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn owners_cache_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        sqlx::query(sql::OWNERS_CACHE_PUT)
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
        Ok(sqlx::query_scalar(sql::OPEN_REVIEW_REQUEST_TARGETS)
            .bind(forge)
            .bind(repo)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn insert_delivery_after(
        &self,
        d: &NewDelivery,
        delay: Duration,
    ) -> Result<InsertOutcome, StoreError> {
        let inserted: Option<String> = sqlx::query_scalar(INSERT_DELIVERY_AFTER.as_str())
            .bind(&d.delivery_id)
            .bind(d.forge.as_str())
            .bind(&d.event)
            .bind(&d.repo)
            .bind(d.number)
            .bind(&d.item_key)
            .bind(&d.headers)
            .bind(d.payload.stored())
            .bind(d.payload.encoding().as_str())
            .bind(delay.as_secs_f64())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match inserted {
            Some(_) => InsertOutcome::Inserted,
            None => InsertOutcome::Duplicate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{ConnectOptions as _, Connection as _};

    /// What `synchronous_commit` reads on `connection`.
    async fn commit_mode(connection: &mut sqlx::PgConnection) -> String {
        sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(connection)
            .await
            .expect("SHOW synchronous_commit")
    }

    /// The claim's commit does not wait for the disk, and no other statement inherits that:
    /// the setting lasts for the claim's own transaction, on a connection the finish reuses.
    #[tokio::test]
    async fn a_claim_commits_without_waiting_for_the_disk_and_only_the_claim() {
        let Some(url) = crate::store::test_postgres_url("the claim's commit tests") else {
            return;
        };
        let server = PgConnectOptions::from_str(&url).expect("a Postgres URL");
        let name = format!("bosun_unit_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect_with(&server)
            .await
            .expect("BOSUN_TEST_POSTGRES is reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let database = server.clone().database(&name).to_url_lossy();
        let store = PgStore::connect(database.as_str(), 4)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        let delivery = |id: &str| NewDelivery {
            delivery_id: id.into(),
            forge: ForgeKind::GitHub,
            event: "issue_comment".into(),
            repo: Some("o/r".into()),
            number: Some(1),
            item_key: id.into(),
            headers: "{}".into(),
            payload: actix_web::web::Bytes::from_static(b"{}").into(),
        };
        store
            .insert_deliveries(&[delivery("a"), delivery("b")])
            .await
            .expect("insert");

        let mut raw = store.pool().acquire().await.expect("a connection");
        assert_eq!(commit_mode(&mut raw).await, "on", "the server's default");
        let mut claim = raw.begin().await.expect("begin");
        sqlx::query(sql::PG_CLAIM.as_str())
            .bind("raw")
            .bind(60.0)
            .bind(Some(32_i64))
            .fetch_one(&mut *claim)
            .await
            .expect("the claim statement");
        assert_eq!(
            commit_mode(&mut claim).await,
            "off",
            "the claim's transaction commits asynchronously"
        );
        claim.commit().await.expect("commit");
        assert_eq!(
            commit_mode(&mut raw).await,
            "on",
            "and only that transaction"
        );
        drop(raw);

        let claimed = store
            .claim_next_delivery("worker", Duration::from_secs(60))
            .await
            .expect("claim");
        assert_eq!(claimed.map(|d| d.delivery_id).as_deref(), Some("b"));
        let mut kept = store.kept.get().await.expect("the kept connection");
        let mode = sqlx::query_scalar::<_, String>("SHOW synchronous_commit")
            .fetch_one(kept.conn())
            .await;
        assert_eq!(
            kept.done(mode).expect("SHOW"),
            "on",
            "the connection the claim ran on commits the finish synchronously"
        );

        // The kept connections go back to the pool with the store; closing waits for them.
        let pool = store.pool().clone();
        drop(store);
        pool.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
    }
}
