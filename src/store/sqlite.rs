//! The SQLite store: the embedded default, so `bosun serve` needs nothing else installed.
//! WAL with `synchronous = NORMAL`, and the journal's inserts and decisions wait for the WAL
//! to be synced before they return ([`super::wal_sync`]); one writer at a time, so a single
//! `UPDATE … RETURNING` claims atomically. WAL checkpoints run on a task of their own
//! ([`Checkpoints`]), not inside the commit of whichever batch crosses SQLite's automatic
//! threshold. Times are RFC 3339 text in UTC with exactly three decimals ([`stamp`]), so text
//! order is time order and sqlx decodes them as `DateTime<Utc>`, as on Postgres; rows
//! from before that kept Unix milliseconds and are converted by a migration
//! (`migrations/sqlite/20261204000010_times_as_text.sql`).

use super::rows::{ActionRow, ClaimRow, PullRequestRow};
use super::sql::{self, Statements};
use super::wal_sync::WalSync;
use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, SqliteConnection, SqlitePool};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Pending deliveries, read through their partial index on `id`: in order, so a claim or a
/// leasing insert's window stops after the rows it needs. Without statistics SQLite's planner
/// chose the status index instead, which reads every pending delivery and sorts them, so each
/// claim cost as much as the backlog was long, and a backlog fed itself (BENCHMARKS §14.6).
/// (The claim names the index the same way.)
const PENDING: &str = "deliveries INDEXED BY deliveries_pending";

/// SQLite's clock as a stored time; the same for every use within one statement.
macro_rules! now {
    () => {
        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    };
}

/// Claims the oldest claimable head of an item's queue for worker `$1` with a lease of `$2`
/// ([`later`]), reading pending deliveries in order through their index ([`PENDING`]). A head
/// is not claimed while a later delivery of its item holds a lease (a replayed one waits for
/// the one running to end).
const CLAIM: &str = concat!(
    "UPDATE deliveries
     SET status = 'queued', attempts = attempts + 1, lease_owner = $1,
         lease_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $2),
         run_after = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $2),
         started_at = coalesce(started_at, ",
    now!(),
    ")
     WHERE id = (
        SELECT d.id FROM deliveries d INDEXED BY deliveries_pending
        WHERE d.status IN ('queued', 'running')
          AND ((d.status = 'queued' AND d.run_after <= ",
    now!(),
    ") OR (d.status = 'running' AND d.lease_until < ",
    now!(),
    "))
          AND NOT EXISTS (
              SELECT 1 FROM deliveries o
              WHERE o.item_key = d.item_key AND o.id < d.id AND o.status IN ('queued', 'running'))
          AND NOT EXISTS (
              SELECT 1 FROM deliveries o
              WHERE o.item_key = d.item_key AND o.id > d.id AND o.status IN ('queued', 'running')
                AND o.lease_until > ",
    now!(),
    ")
        ORDER BY d.id
        LIMIT 1)
     RETURNING id, delivery_id, forge, event, repo, number, item_key, payload, payload_encoding, attempts, decided, received_at"
);

/// The shared statements, with SQLite's clock as "now".
static SQL: LazyLock<Statements> = LazyLock::new(|| Statements::new(now!()));

/// Moves one action along, within the caller's connection or transaction.
async fn set_outcome(conn: &mut SqliteConnection, mark: &OutcomeMark) -> Result<(), StoreError> {
    sqlx::query(SQL.set_action_outcome.as_str())
        .bind(mark.action)
        .bind(mark.outcome.as_str())
        .bind(&mark.error)
        .bind(mark.forge_calls)
        .execute(conn)
        .await?;
    Ok(())
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

impl SqliteStore {
    /// Runs `end`, an update of one delivery whose parameters `bind` binds, and writes the
    /// attempt's held-back writes, in one transaction; true when it ended the delivery (false:
    /// the lease was lost).
    async fn end_attempt<'q>(
        &self,
        end: &str,
        settlement: &'q Settlement,
        bind: impl FnOnce(SqliteQuery<'q>) -> SqliteQuery<'q>,
    ) -> Result<bool, StoreError> {
        let end = sql::attempt_end(end, settlement.decides()).into_owned();
        let mut writer = self.writing().await;
        let mut tx = sqlx::Connection::begin(&mut *writer).await?;
        let ended = bind(sqlx::query(sqlx::AssertSqlSafe(end)))
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        write_settlement(&mut tx, settlement, ended).await?;
        tx.commit().await?;
        Ok(ended)
    }
}

/// Binds a journal row's first six columns: the delivery, then the planned action's plugin,
/// seq, kind, target and encoding.
fn bind_action_row<'q>(
    query: SqliteQuery<'q>,
    delivery: i64,
    planned: &'q PlannedAction,
) -> Result<SqliteQuery<'q>, StoreError> {
    Ok(query
        .bind(delivery)
        .bind(planned.plugin.as_str())
        .bind(planned.seq)
        .bind(planned.action.kind())
        .bind(planned.action.target())
        .bind(encode_action(&planned.action)?))
}

/// Writes what an attempt held back, inside the transaction that ends the attempt; its held
/// decision only when the end `ended` the delivery (a worker that lost its lease leaves the
/// journal to the one that holds it).
async fn write_settlement(
    conn: &mut SqliteConnection,
    settlement: &Settlement,
    ended: bool,
) -> Result<(), StoreError> {
    if let (Some(decision), true) = (&settlement.decision, ended) {
        for (action, mark) in settlement.settled_actions() {
            let insert = sqlx::query(SQL.insert_settled_action.as_str());
            bind_action_row(insert, decision.delivery, action)?
                .bind(mark.outcome.as_str())
                .bind(mark.error)
                .bind(mark.forge_calls)
                .execute(&mut *conn)
                .await?;
        }
    }
    for held in &settlement.facts {
        sqlx::query(super::facts::UPSERT)
            .bind(held.item.forge.as_str())
            .bind(held.item.repo.as_str())
            .bind(held.item.number as i64)
            .bind(held.fact.key())
            .bind(&held.plugin)
            .bind(super::facts::encode(&held.fact)?)
            .execute(&mut *conn)
            .await?;
    }
    for mark in &settlement.end_marks() {
        set_outcome(conn, mark).await?;
    }
    if let Some(pr) = &settlement.pull_request {
        let labels =
            serde_json::to_string(&pr.labels).map_err(|e| StoreError::Bug(e.to_string()))?;
        sqlx::query(SQL.upsert_pull_request.as_str())
            .bind(pr.forge.as_str())
            .bind(&pr.repo)
            .bind(pr.number)
            .bind(&pr.state)
            .bind(&pr.head_sha)
            .bind(labels)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Whether a claim may find work, known without a statement: SQLite has one process writing,
/// so this store sees every write that queues a delivery. A claim that found nothing is
/// remembered with the count of such writes when it began; until another comes, a worker that
/// has just finished need not claim again (an empty claim takes the one writer's lock).
#[derive(Debug, Default)]
struct QueuedSince {
    /// Writes that queued a delivery (an insert not leased, a retry, a release, a requeue).
    queued: AtomicU64,
    /// `queued` when the latest empty claim began; `u64::MAX` after a claim that took one.
    at_empty_claim: AtomicU64,
}

impl QueuedSince {
    fn note_queued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    fn claim_began(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    fn claim_ended(&self, began: u64, took: bool) {
        let seen = if took { u64::MAX } else { began };
        self.at_empty_claim.store(seen, Ordering::Relaxed);
    }

    fn more_due(&self) -> bool {
        self.at_empty_claim.load(Ordering::Relaxed) != self.queued.load(Ordering::Relaxed)
    }
}

/// A SQLite-backed [`Store`].
pub struct SqliteStore {
    pool: SqlitePool,
    /// The journal's writers take turns here, on this connection ([`SqliteStore::writing`]).
    writes: tokio::sync::Mutex<SqliteConnection>,
    /// Which of the journal's commits are on the disk.
    wal_sync: WalSync,
    /// Whether a claim may find work ([`Store::claim_saw_more_due`]).
    queued_since: QueuedSince,
    /// The background checkpointer, stopped with the store.
    _checkpointer: Option<Checkpointer>,
}

/// Who copies the WAL back into the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Checkpoints {
    /// A task of its own, on its own connection (the default): commits only append to the WAL
    /// and never wait for a checkpoint's copying and fsyncs (BENCHMARKS.md, ingest §5.2).
    #[default]
    Background,
    /// SQLite's automatic checkpoint, run inside the commit that crosses 1,000 WAL pages (what
    /// bosun did before; kept for comparison).
    Inline,
}

/// When the journal's commits count as done (`database.sqlite_sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// On the disk (the default): inserts and decisions return once the WAL is synced
    /// ([`super::wal_sync`]), so a 202 and a decision survive the machine losing power.
    #[default]
    Disk,
    /// In the operating system: SQLite's `synchronous = NORMAL` alone. A commit survives bosun
    /// crashing, not the machine losing power; faster at high rates (BENCHMARKS §20.5).
    Os,
}

/// How a SQLite store checkpoints and syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqliteTuning {
    pub checkpoints: Checkpoints,
    pub sync: SqliteSync,
}

/// How often the background checkpointer looks at the WAL when it has caught up.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// How soon it tries again when writers kept appending while it copied.
const CHECKPOINT_AGAIN: Duration = Duration::from_millis(20);
/// A WAL this long (32 MiB) is made to start over with `RESTART`, which holds the writer for a
/// moment ([`checkpoint`]). Below `WAL_SIZE_LIMIT`, so starting over truncates nothing.
/// (At 1,000 deliveries/s a restart every ~0.6 s cost p99 18 ms; 128 MiB made each restart
/// slower, not rarer in effect: p99 35 ms, BENCHMARKS §9.2.)
const CHECKPOINT_RESTART_BYTES: i64 = 32 << 20;
/// Catch-up passes at most before the `RESTART`.
const CATCH_UP_PASSES: usize = 6;
/// A catch-up pass that finds no more new frames than this (1 MiB) is caught up enough.
const CAUGHT_UP_BYTES: i64 = 1 << 20;
/// The WAL file is truncated back to this size when it starts over.
const WAL_SIZE_LIMIT: &str = "67108864";

/// The page size bosun creates SQLite databases with: 2 KiB, half SQLite's default. A commit
/// writes whole pages to the WAL and the checkpoint writes them again, and a commit of a few
/// deliveries dirties about one page per delivery in the table (a compressed payload of ~2.5 KB
/// fills a 4 KiB page alone) and one in the index of delivery ids (random keys), and one at the
/// end of each other index. With 2 KiB pages a delivery costs about a third fewer bytes written
/// and no measurable CPU (BENCHMARKS §17). SQLite fixes a database's page size when it creates
/// the file, so databases created before keep theirs.
pub const PAGE_SIZE: u32 = 2048;

/// The WAL's bounds in the database's pages, which the checkpointer counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WalBounds {
    /// A WAL of this many frames is made to start over.
    restart_pages: i64,
    /// A catch-up pass that finds no more new frames than this is caught up enough.
    caught_up_pages: i64,
}

impl WalBounds {
    /// The bounds for a database of `page_size`-byte pages: the same bytes whatever the size.
    fn for_page_size(page_size: i64) -> WalBounds {
        let page_size = page_size.max(512);
        WalBounds {
            restart_pages: CHECKPOINT_RESTART_BYTES / page_size,
            caught_up_pages: CAUGHT_UP_BYTES / page_size,
        }
    }
}

/// The background checkpoint task; aborted when dropped.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checkpointer {
    /// Starts checkpointing the database `options` opens, on a connection of its own.
    async fn start(options: SqliteConnectOptions) -> Result<Checkpointer, StoreError> {
        let mut conn = options.connect().await?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await?;
        let bounds = WalBounds::for_page_size(page_size);
        Ok(Checkpointer(tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                let wait = match checkpoint(&mut conn, bounds).await {
                    Ok(true) => CHECKPOINT_EVERY,
                    Ok(false) => CHECKPOINT_AGAIN,
                    Err(e) => {
                        failures += 1;
                        if failures.is_power_of_two() {
                            tracing::warn!(error = %e, failures, "SQLite WAL checkpoint failed; retrying in 1 s");
                        }
                        Duration::from_secs(1)
                    }
                };
                tokio::time::sleep(wait).await;
            }
        })))
    }
}

/// One passive checkpoint (it never blocks the writer); once the WAL has grown past
/// `bounds.restart_pages`, more passive passes until one finds little new, then `RESTART`.
/// True when the WAL is fully copied.
///
/// A passive pass that copies every frame it saw does not let the WAL start over: commits
/// made while it copied leave frames behind, and a writer rewinds the WAL only when it finds
/// every frame copied. Under steady load that moment may never come: the WAL grew without
/// bound (600 MB in a 10 s run at 1,000 deliveries/s) until a pass happened to leave frames,
/// and the `RESTART` and the truncation that followed stalled commits for 100-650 ms. Now the
/// catch-up passes leave only what arrived during the last one, so the `RESTART` holds the
/// writer for one short copy and an fsync, and the WAL stays under `restart_pages` plus that.
async fn checkpoint(
    conn: &mut sqlx::SqliteConnection,
    bounds: WalBounds,
) -> Result<bool, StoreError> {
    let (mut log, done) = passive_checkpoint(conn).await?;
    if log < bounds.restart_pages {
        return Ok(done >= log);
    }
    for _ in 0..CATCH_UP_PASSES {
        let (next_log, _) = passive_checkpoint(conn).await?;
        let arrived = next_log - log;
        log = next_log;
        if arrived <= bounds.caught_up_pages {
            break;
        }
    }
    let (_busy, log, done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(RESTART)")
        .fetch_one(&mut *conn)
        .await?;
    Ok(done >= log)
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: the WAL's frames and how many of them are copied.
async fn passive_checkpoint(conn: &mut sqlx::SqliteConnection) -> Result<(i64, i64), StoreError> {
    let (_busy, log, done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    Ok((log, done))
}

/// A time as SQLite stores it (what `now!()` writes), for binding a cursor.
pub(super) fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A `strftime` modifier that moves a time `d` later.
fn later(d: Duration) -> String {
    format!("{:+.3} seconds", d.as_secs_f64())
}

impl SqliteStore {
    /// Opens (creating when missing) the database file, checkpointing in the background and
    /// syncing the journal to the disk.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_with(url, max_connections, SqliteTuning::default()).await
    }

    /// Opens (creating when missing) the database file.
    pub async fn connect_with(
        url: &str,
        max_connections: u32,
        SqliteTuning { checkpoints, sync }: SqliteTuning,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .page_size(PAGE_SIZE)
            .pragma("journal_size_limit", WAL_SIZE_LIMIT);
        let pool_options = match checkpoints {
            Checkpoints::Background => options.clone().pragma("wal_autocheckpoint", "0"),
            Checkpoints::Inline => options.clone(),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(pool_options.clone())
            .await?;
        let mut writer = pool_options.connect().await?;
        // The database's file, empty for one in memory.
        let main: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut writer)
                .await?;
        let wal = (sync == SqliteSync::Disk && !main.is_empty())
            .then(|| std::path::PathBuf::from(format!("{main}-wal")));
        let checkpointer = match checkpoints {
            Checkpoints::Background => Some(Checkpointer::start(options).await?),
            Checkpoints::Inline => None,
        };
        Ok(SqliteStore {
            pool,
            writes: tokio::sync::Mutex::new(writer),
            wal_sync: WalSync::new(wal),
            queued_since: QueuedSince {
                queued: AtomicU64::new(0),
                // Unknown at first: claim.
                at_empty_claim: AtomicU64::new(u64::MAX),
            },
            _checkpointer: checkpointer,
        })
    }

    /// The pool, for the dashboard's queries and for benchmarks that need the raw database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// This process's turn to write to the journal, and the connection to write on: the
    /// intake's inserts and the workers' claims and ends queue here, first come first served,
    /// instead of at SQLite's one write lock, whose busy handler waits by sleeping (1, 2, 5,
    /// 10 … ms, however soon the lock is free). Writes elsewhere (facts, CI states, the outbox)
    /// are rarer and still wait at the lock.
    ///
    /// One connection of their own, because in WAL mode a connection throws its whole page
    /// cache away when another one has committed since its last transaction, and the pool
    /// hands its connections out in turn: every write re-read the pages it needed from the
    /// operating system. Between the journal's own writes this one's cache stays valid.
    async fn writing(&self) -> tokio::sync::MutexGuard<'_, SqliteConnection> {
        self.writes.lock().await
    }

    /// Hands `writer`'s turn back after a journal commit that must be durable (an insert, a
    /// decision), and returns once that commit is on the disk ([`WalSync`]).
    async fn release_durably(
        &self,
        writer: tokio::sync::MutexGuard<'_, SqliteConnection>,
    ) -> Result<(), StoreError> {
        let commit = self.wal_sync.committed();
        drop(writer);
        self.wal_sync.durable(commit).await
    }
}

/// One delivery that waits before it may run (`insert_delivery_after`).
static INSERT_DELIVERY_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, {}, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $10)){}",
        sql::INSERT_DELIVERIES,
        now!(),
        sql::INSERT_DELIVERIES_END
    )
});

#[async_trait]
impl Store for SqliteStore {
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
        let mut qb = sql::insert_deliveries::<sqlx::Sqlite>(firsts(batch, &first), now!());
        let mut writer = self.writing().await;
        let inserted: HashSet<String> = qb
            .build_query_scalar()
            .fetch_all(&mut *writer)
            .await?
            .into_iter()
            .collect();
        // Answered 202 only once on the disk (a duplicate's original included).
        self.release_durably(writer).await?;
        if !inserted.is_empty() {
            self.queued_since.note_queued();
        }
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
        let mut qb = sql::leasing_insert::<sqlx::Sqlite>(
            rows,
            now!(),
            sql::ItemsFree::Window(PENDING),
            |qb| {
                qb.push("strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ")
                    .push_bind(later(lease))
                    .push(")");
            },
        );
        let mut writer = self.writing().await;
        let rows: Vec<LeasingRow> = qb.build_query_as().fetch_all(&mut *writer).await?;
        self.release_durably(writer).await?;
        if rows.iter().any(|(_, _, owner, _)| owner.is_none()) {
            self.queued_since.note_queued();
        }
        journaled(batch, &first, rows)
    }

    async fn claim_next_delivery(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        let mut writer = self.writing().await;
        let began = self.queued_since.claim_began();
        let row: Option<ClaimRow> = sqlx::query_as(CLAIM)
            .bind(worker)
            .bind(later(lease))
            .fetch_optional(&mut *writer)
            .await?;
        self.queued_since.claim_ended(began, row.is_some());
        row.map(ClaimedDelivery::try_from).transpose()
    }

    fn claim_saw_more_due(&self) -> bool {
        self.queued_since.more_due()
    }

    /// One writer, so one batch commits at a time; but a batch that waits for its WAL to reach
    /// the disk has handed the writer back, so the next commits meanwhile and one sync covers
    /// both.
    fn commits_in_flight(&self) -> usize {
        if self.wal_sync.syncs() { 2 } else { 1 }
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

    async fn retry_delivery(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        delay: Duration,
        settlement: &Settlement,
    ) -> Result<bool, StoreError> {
        const RETRY: &str = concat!(
            "UPDATE deliveries SET status = 'queued', last_error = $3,
                run_after = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $4), lease_owner = NULL, lease_until = NULL
             WHERE ",
            held_by_worker!()
        );
        let delay = later(delay);
        let ended = self
            .end_attempt(RETRY, settlement, |q| {
                q.bind(id).bind(worker).bind(error).bind(delay)
            })
            .await?;
        self.queued_since.note_queued();
        Ok(ended)
    }

    async fn release_delivery(&self, id: i64, worker: &str) -> Result<bool, StoreError> {
        let mut writer = self.writing().await;
        let r = sqlx::query(sql::RELEASE_DELIVERY)
            .bind(id)
            .bind(worker)
            .execute(&mut *writer)
            .await?;
        self.queued_since.note_queued();
        Ok(r.rows_affected() == 1)
    }

    async fn record_decision(
        &self,
        id: i64,
        actions: &[PlannedAction],
        first_applying: bool,
    ) -> Result<Decided, StoreError> {
        let mut writer = self.writing().await;
        let mut tx = sqlx::Connection::begin(&mut *writer).await?;
        let mut marked_first = false;
        for (i, a) in actions.iter().enumerate() {
            let applying = first_applying && i == 0;
            let outcome = if applying {
                ActionOutcome::Applying
            } else {
                ActionOutcome::Pending
            };
            let r = bind_action_row(sqlx::query(SQL.insert_action.as_str()), id, a)?
                .bind(outcome.as_str())
                .execute(&mut *tx)
                .await?;
            // Journaled before (another worker decided too): it stays as it stands.
            marked_first |= applying && r.rows_affected() == 1;
        }
        sqlx::query(sql::MARK_DECIDED)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // A decision is on the disk before any of its effects.
        self.release_durably(writer).await?;
        // In-process: reading them back costs no round trip.
        Ok(Decided {
            actions: self.delivery_actions(id).await?,
            first_applying: marked_first,
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
        let mut writer = self.writing().await;
        match marks {
            [one] => set_outcome(&mut writer, one).await,
            more => {
                let mut tx = sqlx::Connection::begin(&mut *writer).await?;
                for mark in more {
                    set_outcome(&mut tx, mark).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
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
        self.queued_since.note_queued();
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
        self.queued_since.note_queued();
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
            .bind(later(delay))
            .fetch_optional(&self.pool)
            .await?;
        self.queued_since.note_queued();
        Ok(match inserted {
            Some(_) => InsertOutcome::Inserted,
            None => InsertOutcome::Duplicate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated store in a file of a temporary directory, which lives as long as the handle.
    async fn migrated_store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("bosun.db").display());
        let store = SqliteStore::connect(&url, 2).await.expect("open");
        store.migrate().await.expect("migrate");
        (store, dir)
    }

    /// A comment on `o/r#1`, as the receiver journals one.
    fn comment_on_pr_1(id: &str) -> NewDelivery {
        NewDelivery {
            delivery_id: id.into(),
            forge: ForgeKind::GitHub,
            event: "issue_comment".into(),
            repo: Some("o/r".into()),
            number: Some(1),
            item_key: "github:o/r#1".into(),
            headers: "{}".into(),
            payload: actix_web::web::Bytes::from_static(br#"{"action":"created"}"#).into(),
        }
    }

    /// The steps of `statement`'s plan (`EXPLAIN QUERY PLAN`, parameters unbound), as SQLite
    /// words them; `uses` says whether any step mentions a phrase.
    struct Plan(Vec<String>);

    impl Plan {
        async fn of(pool: &SqlitePool, statement: &str) -> Plan {
            let explain = format!("EXPLAIN QUERY PLAN {statement}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
                .fetch_all(pool)
                .await
                .expect("plan");
            Plan(
                rows.iter()
                    .map(|row| sqlx::Row::try_get::<String, _>(row, "detail").expect("detail"))
                    .collect(),
            )
        }

        fn uses(&self, phrase: &str) -> bool {
            self.0.iter().any(|step| step.contains(phrase))
        }
    }

    impl std::fmt::Debug for Plan {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }

    /// The claim reads pending deliveries in id order through their partial index and stops at
    /// the first claimable one; it never reads them all and sorts them, which made each claim
    /// cost as much as the backlog was long.
    #[tokio::test]
    async fn a_claim_reads_pending_deliveries_in_order_without_sorting_them() {
        let (store, _dir) = migrated_store().await;
        let plan = Plan::of(&store.pool, CLAIM).await;
        assert!(plan.uses("USING INDEX deliveries_pending"), "{plan:?}");
        assert!(!plan.uses("TEMP B-TREE"), "{plan:?}");
    }

    /// The dashboard's unfiltered list (and one by forge) reads the table backwards by id,
    /// without sorting, so no index by time is kept for it; a filter by status still reads
    /// its index.
    #[tokio::test]
    async fn the_newest_deliveries_are_read_backwards_by_id_without_an_index_by_time() {
        let (store, _dir) = migrated_store().await;
        let plan = |filter: crate::store::DeliveryFilter, newest| {
            let qb = sql::list_deliveries::<sqlx::Sqlite, String>(
                &filter,
                Some(("2026-12-05T00:00:00.000Z".into(), 5)),
                50,
                newest,
            );
            let statement = qb.sql().as_str().to_string();
            let pool = store.pool.clone();
            async move { Plan::of(&pool, &statement).await }
        };
        let by_forge = crate::store::DeliveryFilter {
            forge: Some("gitlab".into()),
            ..Default::default()
        };
        for filter in [Default::default(), by_forge] {
            let plan = plan(filter, sql::Newest::ById).await;
            assert!(
                plan.uses("deliveries USING INTEGER PRIMARY KEY"),
                "{plan:?}"
            );
            assert!(!plan.uses("TEMP B-TREE"), "{plan:?}");
        }
        let failed = crate::store::DeliveryFilter {
            status: Some("failed".into()),
            ..Default::default()
        };
        let plan = plan(failed, sql::Newest::Received).await;
        assert!(plan.uses("INDEX deliveries_status_received"), "{plan:?}");
        let by_time: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE name = 'deliveries_received'",
        )
        .fetch_one(&store.pool)
        .await
        .expect("schema");
        assert_eq!(by_time, 0, "the index by time is dropped");
    }

    /// What SQLite says a database's page size is.
    async fn page_size(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(pool)
            .await
            .expect("page size")
    }

    /// The journal's inserts (what a 202 answers for) and decisions (what effects follow)
    /// return only once the WAL file that holds them is synced to the disk; claims do not wait.
    #[tokio::test]
    async fn inserts_and_decisions_return_once_the_wal_is_on_the_disk() {
        let (store, dir) = migrated_store().await;
        let (synced, wal) = store.wal_sync.synced();
        assert_eq!(synced, 0);
        assert_eq!(wal, Some(dir.path().join("bosun.db-wal").as_path()));
        store
            .insert_deliveries(&[comment_on_pr_1("d-1")])
            .await
            .expect("insert");
        assert_eq!(store.wal_sync.synced().0, 1, "the insert");
        store
            .insert_and_lease(
                &[comment_on_pr_1("d-2")],
                &[Some("w-2".into())],
                Duration::from_secs(60),
            )
            .await
            .expect("insert and lease");
        assert_eq!(store.wal_sync.synced().0, 2, "the leasing insert");
        let claimed = store
            .claim_next_delivery("w-1", Duration::from_secs(60))
            .await
            .expect("claim")
            .expect("d-1 is due");
        assert_eq!(store.wal_sync.synced().0, 2, "a claim does not wait");
        let planned = PlannedAction {
            plugin: "hold".into(),
            seq: 0,
            action: Action::AddLabel {
                item: bosun_plugins::ItemRef {
                    forge: ForgeKind::GitHub,
                    repo: bosun_plugins::RepoPath::parse("o/r").expect("repo"),
                    number: 1,
                    kind: bosun_plugins::ItemKind::PullRequest,
                },
                label: "do-not-merge/hold".into(),
            },
        };
        store
            .record_decision(claimed.id, &[planned], true)
            .await
            .expect("decide");
        assert_eq!(store.wal_sync.synced().0, 3, "the decision");
        assert_eq!(
            store.commits_in_flight(),
            2,
            "a batch commits while the last one syncs"
        );
    }

    /// With `sqlite_sync = "os"` nothing waits for the disk, and the intake commits one batch
    /// at a time.
    #[tokio::test]
    async fn with_os_sync_commits_do_not_wait_for_the_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("bosun.db").display());
        let tuning = SqliteTuning {
            sync: SqliteSync::Os,
            ..SqliteTuning::default()
        };
        let store = SqliteStore::connect_with(&url, 2, tuning)
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        store
            .insert_deliveries(&[comment_on_pr_1("d-1")])
            .await
            .expect("insert");
        assert_eq!(store.wal_sync.synced(), (0, None));
        assert_eq!(store.commits_in_flight(), 1);
    }

    /// bosun creates its databases with 2 KiB pages; a database an earlier release created
    /// with SQLite's 4 KiB keeps them, and journals, claims and reads as before.
    #[tokio::test]
    async fn new_databases_get_2_kib_pages_and_older_ones_keep_theirs() {
        let (store, _dir) = migrated_store().await;
        assert_eq!(page_size(&store.pool).await, i64::from(PAGE_SIZE));
        assert_eq!(
            WalBounds::for_page_size(i64::from(PAGE_SIZE)),
            WalBounds {
                restart_pages: 16_384,
                caught_up_pages: 512
            },
            "the WAL's bounds stay 32 MiB and 1 MiB"
        );

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("earlier.db");
        let earlier = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(SqliteJournalMode::Wal);
        let mut conn = earlier.connect().await.expect("create");
        sqlx::query("CREATE TABLE earlier (x)")
            .execute(&mut conn)
            .await
            .expect("a table");
        sqlx::Connection::close(conn).await.expect("close");

        let url = format!("sqlite:{}", path.display());
        let store = SqliteStore::connect(&url, 2).await.expect("open");
        store.migrate().await.expect("migrate");
        assert_eq!(page_size(&store.pool).await, 4096);
        store
            .insert_deliveries(&[comment_on_pr_1("d-1")])
            .await
            .expect("insert");
        let claimed = store
            .claim_next_delivery("w", Duration::from_secs(60))
            .await
            .expect("claim")
            .expect("the delivery");
        assert_eq!(claimed.delivery_id, "d-1");
        assert_eq!(&claimed.payload[..], br#"{"action":"created"}"#);
    }

    /// A worker that has just finished claims again only when a write queued a delivery since
    /// the last claim found nothing; a delivery leased in its insert queues nothing.
    #[tokio::test]
    async fn a_claim_is_worth_making_only_after_something_was_queued() {
        let (store, _dir) = migrated_store().await;
        let lease = Duration::from_secs(60);
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
        assert!(store.claim_saw_more_due(), "unknown at first");
        assert!(
            store
                .claim_next_delivery("w", lease)
                .await
                .expect("claim")
                .is_none()
        );
        assert!(
            !store.claim_saw_more_due(),
            "found nothing, and nothing came since"
        );

        store
            .insert_deliveries(&[delivery("a")])
            .await
            .expect("insert");
        assert!(store.claim_saw_more_due(), "queued since");
        let a = store
            .claim_next_delivery("w", lease)
            .await
            .expect("claim")
            .expect("a");
        assert!(store.claim_saw_more_due(), "took one: there may be more");
        assert!(
            store
                .claim_next_delivery("w", lease)
                .await
                .expect("claim")
                .is_none()
        );
        assert!(!store.claim_saw_more_due());

        let leased = store
            .insert_and_lease(&[delivery("b")], &[Some("w".into())], lease)
            .await
            .expect("insert");
        assert!(leased[0].leased.is_some());
        assert!(!store.claim_saw_more_due(), "handed over: nothing to claim");

        store
            .retry_delivery(
                a.id,
                "w",
                "forge down",
                Duration::ZERO,
                &Settlement::default(),
            )
            .await
            .expect("retry");
        assert!(store.claim_saw_more_due(), "a retry queues it again");
    }

    /// Under commits that keep landing while the checkpointer copies, the WAL stays near the
    /// restart bound: passive passes alone would copy every frame they saw and still never let
    /// it start over. The writer may run ahead of the checkpointer by at most `AHEAD` rows, so
    /// the bound holds however the machine schedules the two (CI runs this beside other tests).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_while_writers_never_pause() {
        const ROWS: usize = 12_000;
        const AHEAD: usize = 100;
        const ROW_BYTES: usize = 4_000;
        const RESTART_PAGES: i64 = 256;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("wal.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .expect("open");
        sqlx::query("CREATE TABLE t (x BLOB)")
            .execute(&pool)
            .await
            .expect("create");
        let allowed = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
        let writer = tokio::spawn({
            let (pool, allowed) = (pool.clone(), allowed.clone());
            async move {
                for _ in 0..ROWS {
                    allowed.acquire().await.expect("permits").forget();
                    sqlx::query("INSERT INTO t (x) VALUES (randomblob($1))")
                        .bind(ROW_BYTES as i64)
                        .execute(&pool)
                        .await
                        .expect("insert");
                }
            }
        });
        let mut conn = options.connect().await.expect("checkpoint connection");
        let bounds = WalBounds {
            restart_pages: RESTART_PAGES,
            caught_up_pages: 256,
        };
        while !writer.is_finished() {
            if allowed.available_permits() < AHEAD {
                allowed.add_permits(AHEAD);
            }
            checkpoint(&mut conn, bounds).await.expect("checkpoint");
        }
        writer.await.expect("writer");
        let written = (ROWS * ROW_BYTES) as u64;
        let wal = std::fs::metadata(dir.path().join("wal.db-wal"))
            .expect("the WAL file")
            .len();
        assert!(
            wal * 6 < written,
            "the WAL grew to {wal} bytes for {written} bytes written"
        );
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(n, ROWS as i64);
    }
}
