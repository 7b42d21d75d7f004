//! The store: the delivery journal and queue, the action audit log, and PR state.
//!
//! All SQL lives here. One [`Store`] trait, two implementations on sqlx's native drivers
//! (Postgres for production, SQLite embedded), and one behaviour suite run against both
//! (`tests/e2e/store.rs`).

// First, so the SQL fragments it defines as macros are in scope in the backends.
#[macro_use]
mod sql;
pub mod bindings;
pub mod ci;
pub mod facts;
pub mod journal;
mod kept_connections;
pub mod merge;
pub mod outbox;
pub mod pages;
pub mod payload;
pub mod plugin_state;
pub mod postgres;
mod rows;
pub mod sqlite;
mod wal_sync;

pub use bindings::{BindingCode, BindingStore};
pub use ci::CiStore;
pub use facts::{FactStore, StoredFact};
pub use journal::JournalStore;
pub use merge::{Lease, MergeQueue, MergeRow, MergeStore, Waiting};
pub use outbox::{OutboxMessage, OutboxState, OutboxStore};
pub use pages::{ActionRecord, Cursor, DeliveryDetail, DeliveryFilter, PageStore, PullRequestView};
pub use payload::{Payload, PayloadCompression, PayloadEncoding, WEBHOOK_DICTIONARY};

use async_trait::async_trait;
use bosun_plugins::{Action, ForgeKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A store failure, split by what the caller should do about it.
///
/// `Unavailable` means the database could not be reached or could not commit in time: the
/// receiver answers 503 so the forge redelivers, and the queue retries. `Corrupt` and `Bug` will
/// not go away by retrying (a stored value bosun cannot read; a constraint violation, a protocol
/// or encoding error), so the queue fails the delivery with the error instead of retrying it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is down, busy or out of connections; retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value bosun cannot read.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// The database rejected what bosun asked (constraint, SQL, encoding, protocol).
    #[error("store bug: {0}")]
    Bug(String),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        kind_of(&e)(e.to_string().replace('\n', " "))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        migration_kind(&e)(e.to_string().replace('\n', " "))
    }
}

/// Which [`StoreError`] a driver error is: outages are `Unavailable`, unreadable values
/// `Corrupt`, and everything else (constraints, SQL, encoding, protocol) a `Bug`.
fn kind_of(e: &sqlx::Error) -> fn(String) -> StoreError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => StoreError::Unavailable,
        sqlx::Error::Database(db) if transient(db.as_ref()) => StoreError::Unavailable,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt,
        sqlx::Error::Migrate(m) => migration_kind(m),
        _ => StoreError::Bug,
    }
}

/// A migration that could not reach the database is an outage; any other failure is a bug.
fn migration_kind(e: &sqlx::migrate::MigrateError) -> fn(String) -> StoreError {
    use sqlx::migrate::MigrateError;
    match e {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _) => kind_of(inner),
        _ => StoreError::Bug,
    }
}

/// Database errors that pass by themselves: Postgres's connection, resource, operator and
/// serialization classes; SQLite's busy, locked, I/O, full and cannot-open codes. Everything
/// else the database rejects (constraints, syntax, types) is a bug in bosun.
fn transient(e: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = e.code() else { return false };
    if e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        // SQLSTATE classes 08 connection, 40 rollback (serialization, deadlock), 53 resources,
        // 57 operator intervention (shutdown), 58 system (I/O); 25006 read-only (failover).
        return ["08", "40", "53", "57", "58"]
            .iter()
            .any(|class| code.starts_with(class))
            || code == "25006";
    }
    // SQLite's extended code; its low byte is the primary code.
    let primary = code.parse::<i32>().map_or(0, |c| c & 0xff);
    // SQLITE_BUSY 5, LOCKED 6, NOMEM 7, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14, PROTOCOL 15.
    matches!(primary, 5 | 6 | 7 | 8 | 10 | 13 | 14 | 15)
}

/// A webhook about to be journaled.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub delivery_id: String,
    pub forge: ForgeKind,
    pub event: String,
    pub repo: Option<String>,
    pub number: Option<i64>,
    /// Deliveries with the same key run one at a time, in arrival order.
    pub item_key: String,
    /// The headers that matter, as a JSON object.
    pub headers: String,
    /// The body, as it is to be journaled ([`Payload::encode`] compresses it).
    pub payload: Payload,
}

/// Whether a delivery id was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    Duplicate,
}

/// One delivery of a batch as [`Store::insert_and_lease`] journaled it.
#[derive(Debug)]
pub struct Journaled {
    pub outcome: InsertOutcome,
    /// Leased to the worker named for it: the delivery as that worker holds it, with no claim.
    pub leased: Option<ClaimedDelivery>,
}

/// A delivery a worker holds under lease.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub delivery_id: String,
    pub forge: ForgeKind,
    pub event: String,
    pub repo: Option<String>,
    pub number: Option<i64>,
    /// The queue this delivery runs in, one at a time and in order (a PR, an issue, a repo).
    pub item_key: String,
    /// The body as received (decoded from its stored encoding).
    pub payload: Vec<u8>,
    /// Attempts including this one.
    pub attempts: i32,
    /// Plugins already decided; only the recorded actions remain to apply.
    pub decided: bool,
    pub received_at: DateTime<Utc>,
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalStatus {
    Done,
    Ignored,
    Failed,
}

impl FinalStatus {
    fn as_str(self) -> &'static str {
        match self {
            FinalStatus::Done => "done",
            FinalStatus::Ignored => "ignored",
            FinalStatus::Failed => "failed",
        }
    }
}

/// Where an action stands. `Applying` is written just before the forge call, so after a crash
/// the executor knows the call may have happened and checks the forge before repeating it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionOutcome {
    Pending,
    Applying,
    Applied,
    DryRun,
    Failed,
    /// A merge waiting in its branch's merge queue (or sent back to be looked at again): not
    /// tried, and not to be; the PR gets a new merge action when its turn comes.
    Queued,
}

impl ActionOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Pending => "pending",
            ActionOutcome::Applying => "applying",
            ActionOutcome::Applied => "applied",
            ActionOutcome::DryRun => "dry-run",
            ActionOutcome::Failed => "failed",
            ActionOutcome::Queued => "queued",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => ActionOutcome::Pending,
            "applying" => ActionOutcome::Applying,
            "applied" => ActionOutcome::Applied,
            "dry-run" => ActionOutcome::DryRun,
            "failed" => ActionOutcome::Failed,
            "queued" => ActionOutcome::Queued,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown action outcome {other:?}"
                )));
            }
        })
    }
}

/// An action a plugin decided, before it is journaled.
#[derive(Debug, Clone)]
pub struct PlannedAction {
    pub plugin: String,
    pub seq: i32,
    pub action: Action,
}

/// A journaled action.
#[derive(Debug, Clone, Serialize)]
pub struct StoredAction {
    pub id: i64,
    pub plugin: String,
    pub seq: i32,
    pub kind: String,
    pub target: String,
    pub action: Action,
    pub outcome: ActionOutcome,
    pub error: Option<String>,
    pub forge_calls: i32,
}

/// A journaled decision, as [`Store::record_decision`] left it.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The delivery's journaled actions, in order.
    pub actions: Vec<StoredAction>,
    /// This call journaled the first action already `applying` (it was asked to, and no
    /// earlier attempt had journaled it): its target may be called without another write,
    /// and without checking first.
    pub first_applying: bool,
    /// Not journaled yet: held for the attempt's end ([`Settlement::decision`]), under held
    /// ids, so nothing is written before any target is called.
    pub held: bool,
}

/// One action's new outcome, held back to be written with the attempt's next journal write.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeMark {
    pub action: i64,
    pub outcome: ActionOutcome,
    pub error: Option<String>,
    /// Client calls this attempt made for it (added to the count so far).
    pub forge_calls: i32,
}

/// The journal writes an attempt holds back until it next writes: the outcomes of actions it
/// carried out, bosun's record of the PR, facts, and a decision on no actions or on actions
/// that all repeat safely. They go with the next action's `applying` mark or with the
/// delivery's finish, in the same statement or transaction: a delivery that leads to nothing
/// (most webhooks), or only to labels like a `/hold`, costs one write after its insert when a
/// waiting worker took it. Lost (a crash, a store error on the way, a shutdown past its grace
/// period), they leave journaled actions `applying`: the next attempt checks on the target
/// before repeating them, as after any crash mid-call. A held decision that is lost is made
/// again, and what it carried out in between repeats safely.
#[derive(Debug, Clone, Default)]
pub struct Settlement {
    pub outcomes: Vec<OutcomeMark>,
    pub pull_request: Option<PullRequestState>,
    /// The plugins decided on no actions: the delivery is marked decided when the attempt
    /// ends, instead of by a write of its own.
    pub decided_nothing: bool,
    /// Facts `Remember` actions keep, written with the attempt's end together with those
    /// actions' `applied` marks, not by writes of their own (they touch nothing outside the
    /// store, so nothing can have happened that the journal does not show).
    pub facts: Vec<HeldFact>,
    /// The decision, when it is journaled with the attempt's end instead of before its first
    /// action: every action in it repeats safely (`executor::repeats_safely`), so an attempt
    /// that dies before its end leaves nothing that the next attempt's fresh decision would
    /// not simply do again. Until then its actions go by the ids [`held_action_id`] gives.
    pub decision: Option<HeldDecision>,
}

/// A decision held back for the attempt's end ([`Settlement::decision`]).
#[derive(Debug, Clone)]
pub struct HeldDecision {
    /// The delivery decided on.
    pub delivery: i64,
    /// What the plugins decided, in order; the `i`th goes by [`held_action_id`]`(i)`.
    pub actions: Vec<PlannedAction>,
}

/// The id the `index`th action of a held decision goes by until it is journaled: negative,
/// so it can never be a journaled action's.
pub fn held_action_id(index: usize) -> i64 {
    -1 - index as i64
}

impl HeldDecision {
    /// The actions as a journal would hand them out, under their held ids, none carried out.
    pub fn stored(&self) -> Vec<StoredAction> {
        self.actions
            .iter()
            .enumerate()
            .map(|(i, planned)| StoredAction {
                id: held_action_id(i),
                plugin: planned.plugin.clone(),
                seq: planned.seq,
                kind: planned.action.kind().to_string(),
                target: planned.action.target(),
                action: planned.action.clone(),
                outcome: ActionOutcome::Pending,
                error: None,
                forge_calls: 0,
            })
            .collect()
    }
}

/// A fact a `Remember` action keeps, held back until the attempt ends.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldFact {
    /// The `Remember` action, marked `applied` when the fact is written.
    pub action: i64,
    pub item: bosun_plugins::ItemRef,
    pub plugin: String,
    pub fact: bosun_plugins::Fact,
}

impl Settlement {
    /// Holds back a fact to keep; one of the same PR and key held before is replaced, as the
    /// later write would have replaced it (and its action is marked `applied` all the same).
    pub fn hold_fact(&mut self, held: HeldFact) {
        let same = |f: &HeldFact| f.item == held.item && f.fact.key() == held.fact.key();
        if let Some(at) = self.facts.iter().position(same) {
            let replaced = std::mem::replace(&mut self.facts[at], held);
            self.mark(replaced.action, ActionOutcome::Applied, None, 1);
        } else {
            self.facts.push(held);
        }
    }

    /// The outcomes of journaled actions the attempt's end writes: those held back, and
    /// `applied` for the actions whose facts it writes. (A held decision's actions are
    /// journaled with theirs: [`Settlement::settled_actions`].)
    pub fn end_marks(&self) -> Vec<OutcomeMark> {
        let mut marks = self.all_marks();
        marks.retain(|m| m.action > 0);
        marks
    }

    /// Every outcome the attempt's end records, journaled actions' and held ones'.
    fn all_marks(&self) -> Vec<OutcomeMark> {
        let mut marks = self.outcomes.clone();
        for held in &self.facts {
            if !marks.iter().any(|m| m.action == held.action) {
                marks.push(OutcomeMark {
                    action: held.action,
                    outcome: ActionOutcome::Applied,
                    error: None,
                    forge_calls: 1,
                });
            }
        }
        marks
    }

    /// Whether the attempt's end marks the delivery decided: the plugins decided on nothing,
    /// or their decision is held for it.
    pub fn decides(&self) -> bool {
        self.decided_nothing || self.decision.is_some()
    }

    /// The held decision's actions as its end journals them, each with its outcome so far:
    /// `pending`, with no calls, when the attempt stopped before it.
    pub fn settled_actions(&self) -> Vec<(&PlannedAction, OutcomeMark)> {
        let Some(decision) = &self.decision else {
            return Vec::new();
        };
        let marks = self.all_marks();
        decision
            .actions
            .iter()
            .enumerate()
            .map(|(i, planned)| {
                let action = held_action_id(i);
                let mark = marks.iter().find(|m| m.action == action).cloned();
                let mark = mark.unwrap_or(OutcomeMark {
                    action,
                    outcome: ActionOutcome::Pending,
                    error: None,
                    forge_calls: 0,
                });
                (planned, mark)
            })
            .collect()
    }

    /// Holds back one action's outcome; a second mark of the same action replaces the first
    /// and adds its calls.
    pub fn mark(
        &mut self,
        action: i64,
        outcome: ActionOutcome,
        error: Option<String>,
        forge_calls: i32,
    ) {
        match self.outcomes.iter_mut().find(|m| m.action == action) {
            Some(mark) => {
                mark.outcome = outcome;
                mark.error = error;
                mark.forge_calls += forge_calls;
            }
            None => self.outcomes.push(OutcomeMark {
                action,
                outcome,
                error,
                forge_calls,
            }),
        }
    }
}

/// A delivery as stored, for the CLI, the dashboard and tests.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: i64,
    pub delivery_id: String,
    pub forge: String,
    pub event: String,
    pub repo: Option<String>,
    pub number: Option<i64>,
    /// The line it runs in (`gitlab:grp/proj!12`: its sigil tells an MR from an issue).
    pub item_key: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub received_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What bosun knows of a PR now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PullRequestState {
    pub forge: ForgeKind,
    pub repo: String,
    pub number: i64,
    pub state: String,
    pub head_sha: Option<String>,
    pub labels: Vec<String>,
}

/// The store's operations, named for what they mean.
#[async_trait]
pub trait Store:
    PageStore
    + FactStore
    + OutboxStore
    + CiStore
    + MergeStore
    + BindingStore
    + JournalStore
    + Send
    + Sync
{
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap reachability check for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Journals a batch in one transaction (group commit); an id already stored, or repeated in
    /// the batch after its first occurrence, is a `Duplicate` and stores nothing.
    async fn insert_deliveries(
        &self,
        batch: &[NewDelivery],
    ) -> Result<Vec<InsertOutcome>, StoreError>;
    /// Journals a batch as [`Store::insert_deliveries`] does, and leases each delivery that
    /// `workers` names a worker for (same order as `batch`; shorter means none) to that worker
    /// for `lease`, in the same statement, as a claim would: a hand-off to an idle worker of
    /// this process without a claim's round trip and write. A delivery is leased only when
    /// nothing of its item is pending (it runs in order) and the pending deliveries are few (a
    /// backlog is claimed oldest first); otherwise it is queued as usual.
    async fn insert_and_lease(
        &self,
        batch: &[NewDelivery],
        workers: &[Option<String>],
        lease: Duration,
    ) -> Result<Vec<Journaled>, StoreError>;
    /// Takes the oldest runnable delivery whose item has nothing older pending, under a lease.
    /// A running delivery whose lease expired is runnable again.
    async fn claim_next_delivery(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedDelivery>, StoreError>;
    /// Whether the latest claim saw a due delivery it did not take (a later one, or one whose
    /// item was busy). A worker that has just finished claims again at once only then;
    /// otherwise it waits for the receiver's notification or the poll, instead of a claim that
    /// would find nothing. A store that cannot tell says true.
    fn claim_saw_more_due(&self) -> bool {
        true
    }
    /// How many of the intake's batches may commit at once: a few where transactions overlap
    /// their fsyncs (Postgres, the default).
    fn commits_in_flight(&self) -> usize {
        4
    }
    /// Ends a delivery held by `worker` and writes what the attempt held back, atomically;
    /// false when the lease was lost (the held-back writes are true all the same, and made).
    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        status: FinalStatus,
        note: Option<&str>,
        settlement: &Settlement,
    ) -> Result<bool, StoreError>;
    /// Ends a delivery as [`Store::finish_delivery`] does and then, when it ended, claims as
    /// [`Store::claim_next_delivery`] does, for a worker that knows a delivery waits behind the
    /// one it ends (a burst of events on one PR): Postgres does both in one statement, saving
    /// the claim's round trip and transaction. Returns whether it ended, and what it claimed.
    async fn finish_and_claim(
        &self,
        id: i64,
        worker: &str,
        status: FinalStatus,
        note: Option<&str>,
        settlement: &Settlement,
        lease: Duration,
    ) -> Result<(bool, Option<ClaimedDelivery>), StoreError> {
        if !self
            .finish_delivery(id, worker, status, note, settlement)
            .await?
        {
            return Ok((false, None));
        }
        Ok((true, self.claim_next_delivery(worker, lease).await?))
    }
    /// Puts a delivery back to run after `delay`, keeping the error, and writes what the
    /// attempt held back, atomically.
    async fn retry_delivery(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        delay: Duration,
        settlement: &Settlement,
    ) -> Result<bool, StoreError>;
    /// Gives a delivery back unfinished (shutdown); the attempt does not count.
    async fn release_delivery(&self, id: i64, worker: &str) -> Result<bool, StoreError>;
    /// Journals every action the plugins decided and marks the delivery decided, atomically;
    /// returns the delivery's journaled actions in order, so they need not be read back.
    /// `first_applying`: the worker calls the first action's target next, so journal it
    /// `applying` now rather than in a write of its own.
    async fn record_decision(
        &self,
        id: i64,
        actions: &[PlannedAction],
        first_applying: bool,
    ) -> Result<Decided, StoreError>;
    /// A delivery's actions in order.
    async fn delivery_actions(&self, id: i64) -> Result<Vec<StoredAction>, StoreError>;
    /// Moves actions along, in one statement or transaction.
    async fn set_action_outcomes(&self, marks: &[OutcomeMark]) -> Result<(), StoreError>;
    /// Moves one action along.
    async fn set_action_outcome(
        &self,
        action_id: i64,
        outcome: ActionOutcome,
        error: Option<&str>,
        forge_calls: i32,
    ) -> Result<(), StoreError> {
        self.set_action_outcomes(&[OutcomeMark {
            action: action_id,
            outcome,
            error: error.map(str::to_string),
            forge_calls,
        }])
        .await
    }
    /// A PR's recorded state.
    async fn pull_request(
        &self,
        forge: ForgeKind,
        repo: &str,
        number: i64,
    ) -> Result<Option<PullRequestState>, StoreError>;
    /// One delivery by its forge id.
    async fn delivery(&self, delivery_id: &str) -> Result<Option<DeliveryRecord>, StoreError>;
    /// Newest first, up to `limit`, older than `before_id` when given.
    async fn recent_deliveries(
        &self,
        limit: i64,
        before_id: Option<i64>,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Queues a delivery again (replay); failed actions become pending, applied ones stay.
    async fn requeue(&self, delivery_id: &str) -> Result<bool, StoreError>;
    /// Queues every failed delivery again.
    async fn requeue_failed(&self) -> Result<u64, StoreError>;
    /// Deliveries per status.
    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, StoreError>;
    /// A cached tree listing or parsed OWNERS file.
    async fn owners_cache_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores one; an existing key keeps its value (values under a key never change).
    async fn owners_cache_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// The `target` of every applied review request on a still-open PR of one repository, so
    /// reviewer choice can prefer people bosun has asked least.
    async fn open_review_request_targets(
        &self,
        forge: &str,
        repo: &str,
    ) -> Result<Vec<String>, StoreError>;
    /// Journals one delivery that no worker may claim before `delay` has passed (a plugin's
    /// grace period); like the webhooks of its item it runs in order, so it holds back the
    /// item's later deliveries until then. An id already stored is a `Duplicate`.
    async fn insert_delivery_after(
        &self,
        delivery: &NewDelivery,
        delay: Duration,
    ) -> Result<InsertOutcome, StoreError>;
}

/// Opens the store a URL names: `sqlite:…` or `postgres://…`, with the default options.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(url, max_connections, sqlite::SqliteTuning::default()).await
}

/// Opens the store a URL names; `sqlite` says how a SQLite store checkpoints and syncs its WAL.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    sqlite: sqlite::SqliteTuning,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::connect_with(url, max_connections, sqlite).await?,
        ))
    } else {
        Ok(Arc::new(
            postgres::PgStore::connect(url, max_connections).await?,
        ))
    }
}

fn parse_forge(s: &str) -> Result<ForgeKind, StoreError> {
    ForgeKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown forge {s:?}")))
}

fn parse_action(details: &str) -> Result<Action, StoreError> {
    serde_json::from_str(details).map_err(|e| StoreError::Corrupt(format!("action details: {e}")))
}

fn encode_action(action: &Action) -> Result<String, StoreError> {
    serde_json::to_string(action).map_err(|e| StoreError::Bug(format!("action details: {e}")))
}

/// Keeps the first occurrence of each delivery id in a batch; later ones are duplicates.
fn first_occurrences(batch: &[NewDelivery]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    batch
        .iter()
        .map(|d| seen.insert(d.delivery_id.as_str()))
        .collect()
}

/// The deliveries of a batch an insert stores: the first occurrence of each id.
fn firsts<'a>(
    batch: &'a [NewDelivery],
    first: &'a [bool],
) -> impl Iterator<Item = &'a NewDelivery> {
    batch.iter().zip(first).filter(|(_, f)| **f).map(|(d, _)| d)
}

/// The first occurrences in a batch, each with the worker `workers` names for it (if any).
fn with_owners<'a>(
    batch: &'a [NewDelivery],
    first: &[bool],
    workers: &'a [Option<String>],
) -> Vec<(&'a NewDelivery, Option<&'a str>)> {
    batch
        .iter()
        .enumerate()
        .filter(|(i, _)| first[*i])
        .map(|(i, d)| (d, workers.get(i).and_then(|w| w.as_deref())))
        .collect()
}

/// Maps the ids the database reported as inserted back onto the batch.
fn outcomes(
    batch: &[NewDelivery],
    first: &[bool],
    inserted: &std::collections::HashSet<String>,
) -> Vec<InsertOutcome> {
    batch
        .iter()
        .zip(first)
        .map(|(d, f)| {
            if *f && inserted.contains(&d.delivery_id) {
                InsertOutcome::Inserted
            } else {
                InsertOutcome::Duplicate
            }
        })
        .collect()
}

/// The delivery a leasing insert's row leased: as a claim would have returned it, read from
/// the batch rather than sent back by the database.
fn leased_delivery(
    d: &NewDelivery,
    id: i64,
    received_at: DateTime<Utc>,
) -> Result<ClaimedDelivery, StoreError> {
    Ok(ClaimedDelivery {
        id,
        delivery_id: d.delivery_id.clone(),
        forge: d.forge,
        event: d.event.clone(),
        repo: d.repo.clone(),
        number: d.number,
        item_key: d.item_key.clone(),
        payload: d.payload.received()?,
        attempts: 1,
        decided: false,
        received_at,
    })
}

/// A row a leasing insert returned: id, delivery id, lease owner (None: queued), received.
type LeasingRow = (i64, String, Option<String>, DateTime<Utc>);

/// Maps a leasing insert's returned rows back onto the batch.
fn journaled(
    batch: &[NewDelivery],
    first: &[bool],
    rows: Vec<LeasingRow>,
) -> Result<Vec<Journaled>, StoreError> {
    let mut rows: std::collections::HashMap<String, (i64, Option<String>, DateTime<Utc>)> = rows
        .into_iter()
        .map(|(id, delivery_id, owner, received)| (delivery_id, (id, owner, received)))
        .collect();
    batch
        .iter()
        .zip(first)
        .map(|(d, first)| {
            let row = first.then(|| rows.remove(&d.delivery_id)).flatten();
            Ok(match row {
                None => Journaled {
                    outcome: InsertOutcome::Duplicate,
                    leased: None,
                },
                Some((id, owner, received)) => Journaled {
                    outcome: InsertOutcome::Inserted,
                    leased: owner
                        .map(|_| leased_delivery(d, id, received))
                        .transpose()?,
                },
            })
        })
        .collect()
}

/// A batch without leases, as [`Store::insert_and_lease`] reports it.
fn unleased(outcomes: Vec<InsertOutcome>) -> Vec<Journaled> {
    outcomes
        .into_iter()
        .map(|outcome| Journaled {
            outcome,
            leased: None,
        })
        .collect()
}

/// `BOSUN_TEST_POSTGRES` for the store's own tests; None (the test is skipped, and says so)
/// without it, unless CI requires Postgres, and then the test fails.
#[cfg(test)]
fn test_postgres_url(what: &str) -> Option<String> {
    let url = std::env::var("BOSUN_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI requires Postgres: set BOSUN_TEST_POSTGRES"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {what} need Postgres (set BOSUN_TEST_POSTGRES to run them)"
        );
    }
    url
}
