//! Chat channels as a target: [`Action::Notify`] is applied by queuing its message in the
//! outbox under the action's id, which the chat sender drains within each channel's rate
//! limit (see [`crate::chat::sender`]). Queuing again is a no-op, so an action found
//! `applying` is simply applied again. The message's key is derived from the action's id and
//! is the same on every send attempt: platforms that de-duplicate by a key (DingTalk's
//! `msgUuid`) post it once; for the others a crash between the platform taking a message and
//! bosun recording it posts it again (at least once, never lost).

use super::{EffectError, Target};
use crate::store::{Store, StoredAction};
use async_trait::async_trait;
use bosun_plugins::{Action, ForgeError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// The key a journaled action's message is sent under.
pub fn message_key(action_id: i64) -> String {
    format!("bosun-action-{action_id}")
}

/// The configured chat channels, as one target.
pub struct ChannelTarget {
    store: Arc<dyn Store>,
    channels: BTreeSet<String>,
    wake: Arc<Notify>,
}

impl ChannelTarget {
    /// Queues into `store` for `channels`, waking the sender through `wake`.
    pub fn new(store: Arc<dyn Store>, channels: BTreeSet<String>, wake: Arc<Notify>) -> Self {
        ChannelTarget {
            store,
            channels,
            wake,
        }
    }

    /// Whether a channel of this name is configured.
    pub fn has(&self, channel: &str) -> bool {
        self.channels.contains(channel)
    }
}

#[async_trait]
impl Target for ChannelTarget {
    async fn apply(
        &self,
        stored: &StoredAction,
        _maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        let Action::Notify { channel, message } = &stored.action else {
            return Err(
                ForgeError::Permanent(format!("{} is not a chat action", stored.kind)).into(),
            );
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as i64;
        *calls += 1;
        self.store
            .enqueue_message(stored.id, channel, message, now)
            .await?;
        self.wake.notify_one();
        Ok(())
    }
}
