//! Chat channels as a target: [`Action::Notify`] posts a message to a named channel. Each
//! channel kind (a DingTalk robot, a Slack webhook …) implements [`Channel`] with its own
//! client and error classification. The message's key is the journaled action's id, stable
//! across attempts: where the platform takes an idempotency key the channel sends it, and where
//! it can say whether a message was posted, an action found `applying` after a crash is checked
//! first. Where it can do neither, a crash between the platform's acceptance and bosun's record
//! posts the message a second time (at least once, never lost).

use super::{EffectError, Target};
use crate::store::StoredAction;
use async_trait::async_trait;
use bosun_plugins::{Action, ChatMessage, ForgeError};
use std::sync::Arc;

/// A chat group or channel bosun can post to.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Posts the message. `key` is unique to the action and the same on every attempt, for
    /// platforms that de-duplicate by a key (DingTalk's `msgUuid`).
    async fn send(&self, key: &str, message: &ChatMessage) -> Result<(), ForgeError>;

    /// Whether the message with this key was already posted: `None` when the platform cannot
    /// tell, and the message is then sent again.
    async fn already_sent(&self, _key: &str) -> Result<Option<bool>, ForgeError> {
        Ok(None)
    }
}

/// The idempotency key of the message a journaled action posts.
pub fn message_key(action_id: i64) -> String {
    format!("bosun-action-{action_id}")
}

/// One configured channel as an executor target.
pub struct ChannelTarget {
    channel: Arc<dyn Channel>,
}

impl ChannelTarget {
    /// Wraps a configured channel.
    pub fn new(channel: Arc<dyn Channel>) -> Self {
        ChannelTarget { channel }
    }
}

#[async_trait]
impl Target for ChannelTarget {
    async fn apply(
        &self,
        stored: &StoredAction,
        maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        let Action::Notify { message, .. } = &stored.action else {
            return Err(
                ForgeError::Permanent(format!("{} is not a chat action", stored.kind)).into(),
            );
        };
        let key = message_key(stored.id);
        if maybe_done {
            *calls += 1;
            if self.channel.already_sent(&key).await? == Some(true) {
                return Ok(());
            }
        }
        *calls += 1;
        self.channel.send(&key, message).await?;
        Ok(())
    }
}
