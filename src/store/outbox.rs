//! The chat outbox: messages that `Notify` actions put there, drained per channel by the chat
//! sender within the channel's rate limit. The SQL is the same on both backends, so it is
//! written once; times are epoch milliseconds.

use super::StoreError;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use async_trait::async_trait;
use bosun_plugins::ChatMessage;
use sqlx::Row;

/// A message waiting for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub action_id: i64,
    pub message: ChatMessage,
    pub attempts: i32,
}

/// Where a message stands, for the pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxState {
    pub action_id: i64,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The key it went out under: its own, or a digest's.
    pub batch: Option<String>,
}

/// Keeping and draining the outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues the message of action `action_id`; queuing it again does nothing.
    async fn enqueue_message(
        &self,
        action_id: i64,
        channel: &str,
        message: &ChatMessage,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Pending messages of a channel that are due, oldest first.
    async fn due_messages(
        &self,
        channel: &str,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError>;
    /// Takes a due message for this sender until `lease_until_ms`; false when another took it.
    async fn claim_message(
        &self,
        id: i64,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError>;
    /// How many sends (a digest counts once) the channel made since `since_ms`.
    async fn sends_since(&self, channel: &str, since_ms: i64) -> Result<i64, StoreError>;
    /// Marks messages sent under `batch`.
    async fn mark_sent(&self, ids: &[i64], batch: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Puts messages back, due again at `due_ms`, with the error that stopped them.
    async fn mark_retry(&self, ids: &[i64], error: &str, due_ms: i64) -> Result<(), StoreError>;
    /// Gives messages up with the error that stopped them for good.
    async fn mark_failed(&self, ids: &[i64], error: &str) -> Result<(), StoreError>;
    /// Where the messages of these actions stand.
    async fn outbox_states(&self, action_ids: &[i64]) -> Result<Vec<OutboxState>, StoreError>;
}

const ENQUEUE: &str = "INSERT INTO chat_outbox (action_id, channel, message, created_ms, due_ms)
     VALUES ($1, $2, $3, $4, $4) ON CONFLICT (action_id) DO NOTHING";
const DUE: &str = "SELECT id, action_id, message, attempts FROM chat_outbox
     WHERE channel = $1 AND state = 'pending' AND due_ms <= $2 ORDER BY id LIMIT $3";
const CLAIM: &str = "UPDATE chat_outbox SET due_ms = $3
     WHERE id = $1 AND state = 'pending' AND due_ms <= $2";
const SENDS_SINCE: &str = "SELECT COUNT(DISTINCT batch) AS n FROM chat_outbox
     WHERE channel = $1 AND sent_ms >= $2";
const SENT: &str = "UPDATE chat_outbox SET state = 'sent', sent_ms = $3, batch = $2,
     attempts = attempts + 1, last_error = NULL WHERE id = $1";
const RETRY: &str = "UPDATE chat_outbox SET due_ms = $3, last_error = $2, attempts = attempts + 1
     WHERE id = $1 AND state = 'pending'";
const FAILED: &str =
    "UPDATE chat_outbox SET state = 'failed', last_error = $2, attempts = attempts + 1
     WHERE id = $1";
const STATES: &str = "SELECT action_id, state, attempts, last_error, batch FROM chat_outbox
     WHERE action_id = $1";

fn encode(message: &ChatMessage) -> Result<String, StoreError> {
    serde_json::to_string(message).map_err(|e| StoreError::Bug(format!("chat message: {e}")))
}

fn decode(text: &str) -> Result<ChatMessage, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("chat message: {e}")))
}

/// One implementation for both backends: the same SQL on each pool.
macro_rules! outbox_store {
    ($store:ty) => {
        #[async_trait]
        impl OutboxStore for $store {
            async fn enqueue_message(
                &self,
                action_id: i64,
                channel: &str,
                message: &ChatMessage,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(ENQUEUE)
                    .bind(action_id)
                    .bind(channel)
                    .bind(encode(message)?)
                    .bind(now_ms)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn due_messages(
                &self,
                channel: &str,
                now_ms: i64,
                limit: i64,
            ) -> Result<Vec<OutboxMessage>, StoreError> {
                let rows = sqlx::query(DUE)
                    .bind(channel)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(OutboxMessage {
                            id: r.try_get("id")?,
                            action_id: r.try_get("action_id")?,
                            message: decode(r.try_get::<&str, _>("message")?)?,
                            attempts: r.try_get("attempts")?,
                        })
                    })
                    .collect()
            }

            async fn claim_message(
                &self,
                id: i64,
                now_ms: i64,
                lease_until_ms: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(CLAIM)
                    .bind(id)
                    .bind(now_ms)
                    .bind(lease_until_ms)
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn sends_since(&self, channel: &str, since_ms: i64) -> Result<i64, StoreError> {
                let row = sqlx::query(SENDS_SINCE)
                    .bind(channel)
                    .bind(since_ms)
                    .fetch_one(self.pool())
                    .await?;
                Ok(row.try_get("n")?)
            }

            async fn mark_sent(
                &self,
                ids: &[i64],
                batch: &str,
                now_ms: i64,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool().begin().await?;
                for id in ids {
                    sqlx::query(SENT)
                        .bind(id)
                        .bind(batch)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn mark_retry(
                &self,
                ids: &[i64],
                error: &str,
                due_ms: i64,
            ) -> Result<(), StoreError> {
                for id in ids {
                    sqlx::query(RETRY)
                        .bind(id)
                        .bind(error)
                        .bind(due_ms)
                        .execute(self.pool())
                        .await?;
                }
                Ok(())
            }

            async fn mark_failed(&self, ids: &[i64], error: &str) -> Result<(), StoreError> {
                for id in ids {
                    sqlx::query(FAILED)
                        .bind(id)
                        .bind(error)
                        .execute(self.pool())
                        .await?;
                }
                Ok(())
            }

            async fn outbox_states(
                &self,
                action_ids: &[i64],
            ) -> Result<Vec<OutboxState>, StoreError> {
                let mut states = Vec::new();
                for id in action_ids {
                    if let Some(r) = sqlx::query(STATES)
                        .bind(id)
                        .fetch_optional(self.pool())
                        .await?
                    {
                        states.push(OutboxState {
                            action_id: r.try_get("action_id")?,
                            state: r.try_get("state")?,
                            attempts: r.try_get("attempts")?,
                            last_error: r.try_get("last_error")?,
                            batch: r.try_get("batch")?,
                        });
                    }
                }
                Ok(states)
            }
        }
    };
}

outbox_store!(PgStore);
outbox_store!(SqliteStore);
