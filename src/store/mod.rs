//! The store: the delivery journal and queue, the action audit log, and PR state.
//!
//! All SQL lives here. One [`Store`] trait, two implementations on sqlx's native drivers
//! (Postgres for production, SQLite embedded), and one behaviour suite run against both
//! (`tests/store.rs`).

pub mod ci;
pub mod facts;
pub mod outbox;
pub mod pages;
pub mod plugin_state;
pub mod postgres;
pub mod sqlite;

pub use ci::CiStore;
pub use facts::{FactStore, StoredFact};
pub use outbox::{OutboxMessage, OutboxState, OutboxStore};
pub use pages::{ActionRecord, Cursor, DeliveryDetail, DeliveryFilter, PageStore, PullRequestView};

use async_trait::async_trait;
use bosun_plugins::{Action, ForgeKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A store failure. `Unavailable` means the database could not be reached or could not commit;
/// the receiver answers 503 so the forge redelivers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Unavailable(e.to_string().replace('\n', " "))
    }
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
    pub payload: actix_web::web::Bytes,
}

/// Whether a delivery id was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    Duplicate,
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
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => ActionOutcome::Pending,
            "applying" => ActionOutcome::Applying,
            "applied" => ActionOutcome::Applied,
            "dry-run" => ActionOutcome::DryRun,
            "failed" => ActionOutcome::Failed,
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

/// A delivery as stored, for the CLI, the dashboard and tests.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub delivery_id: String,
    pub forge: String,
    pub event: String,
    pub repo: Option<String>,
    pub number: Option<i64>,
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
pub trait Store: PageStore + FactStore + OutboxStore + CiStore + Send + Sync {
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
    /// Takes the oldest runnable delivery whose item has nothing older pending, under a lease.
    /// A running delivery whose lease expired is runnable again.
    async fn claim_next_delivery(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedDelivery>, StoreError>;
    /// Ends a delivery held by `worker`; false when the lease was lost.
    async fn finish_delivery(
        &self,
        id: i64,
        worker: &str,
        status: FinalStatus,
        note: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Puts a delivery back to run after `delay`, keeping the error.
    async fn retry_delivery(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        delay: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives a delivery back unfinished (shutdown); the attempt does not count.
    async fn release_delivery(&self, id: i64, worker: &str) -> Result<bool, StoreError>;
    /// Journals every action the plugins decided and marks the delivery decided, atomically.
    async fn record_decision(&self, id: i64, actions: &[PlannedAction]) -> Result<(), StoreError>;
    /// A delivery's actions in order.
    async fn delivery_actions(&self, id: i64) -> Result<Vec<StoredAction>, StoreError>;
    /// Moves an action along.
    async fn set_action_outcome(
        &self,
        action_id: i64,
        outcome: ActionOutcome,
        error: Option<&str>,
        forge_calls: i32,
    ) -> Result<(), StoreError>;
    /// Records a PR's current state.
    async fn upsert_pull_request(&self, pr: &PullRequestState) -> Result<(), StoreError>;
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
}

/// Opens the store a URL names: `sqlite:…` or `postgres://…`.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::connect(url, max_connections).await?,
        ))
    } else {
        Ok(Arc::new(
            postgres::PgStore::connect(url, max_connections).await?,
        ))
    }
}

/// The columns both backends decode the same way.
trait SharedRow: sqlx::Row
where
    for<'c> &'c str: sqlx::ColumnIndex<Self>,
{
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
}

macro_rules! shared_row {
    ($row:ty) => {
        impl SharedRow for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn optional_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::Row::try_get(self, column)?)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                // SQLite hands every integer back as i64; Postgres's INTEGER columns are i32.
                let wide: Result<i64, sqlx::Error> = sqlx::Row::try_get(self, column);
                match wide {
                    Ok(v) => Ok(v),
                    Err(_) => Ok(i64::from(sqlx::Row::try_get::<i32, _>(self, column)?)),
                }
            }
        }
    };
}
shared_row!(sqlx::postgres::PgRow);
shared_row!(sqlx::sqlite::SqliteRow);

/// An `actions` row, the same on both backends.
fn stored_action<R: SharedRow>(r: &R) -> Result<StoredAction, StoreError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    let small = |column: &str| -> Result<i32, StoreError> {
        i32::try_from(r.int(column)?).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
    };
    Ok(StoredAction {
        id: r.int("id")?,
        plugin: r.text("plugin")?,
        seq: small("seq")?,
        kind: r.text("kind")?,
        target: r.text("target")?,
        action: parse_action(&r.text("details")?)?,
        outcome: ActionOutcome::parse(&r.text("outcome")?)?,
        error: r.optional_text("error")?,
        forge_calls: small("forge_calls")?,
    })
}

/// A `pull_requests` row (state, head_sha, labels), the same on both backends.
fn pull_request_state<R: SharedRow>(
    r: &R,
    forge: ForgeKind,
    repo: &str,
    number: i64,
) -> Result<PullRequestState, StoreError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    Ok(PullRequestState {
        forge,
        repo: repo.to_string(),
        number,
        state: r.text("state")?,
        head_sha: r.optional_text("head_sha")?,
        labels: serde_json::from_str(&r.text("labels")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

/// A list as its JSON text, or NULL when absent (the column then keeps its value).
fn parse_forge(s: &str) -> Result<ForgeKind, StoreError> {
    ForgeKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown forge {s:?}")))
}

fn parse_action(details: &str) -> Result<Action, StoreError> {
    serde_json::from_str(details).map_err(|e| StoreError::Corrupt(format!("action details: {e}")))
}

fn encode_action(action: &Action) -> Result<String, StoreError> {
    serde_json::to_string(action).map_err(|e| StoreError::Corrupt(format!("action details: {e}")))
}

/// Keeps the first occurrence of each delivery id in a batch; later ones are duplicates.
fn first_occurrences(batch: &[NewDelivery]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    batch
        .iter()
        .map(|d| seen.insert(d.delivery_id.as_str()))
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
