//! Replies to commands that came from chat, posted to the conversation's reply URL (DingTalk's
//! `sessionWebhook`, valid about 90 minutes; Slack's `response_url`, 30 minutes and 5 uses).
//! Neither platform can say whether a reply was posted, so a crash between the platform taking
//! a reply and bosun recording it posts the reply again.

use super::{EffectError, Target};
use crate::store::StoredAction;
use async_trait::async_trait;
use bosun_plugins::{Action, ForgeError};

/// The reply URLs of chat conversations.
pub struct ReplyTarget {
    http: reqwest::Client,
}

impl Default for ReplyTarget {
    fn default() -> Self {
        ReplyTarget {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }
}

#[async_trait]
impl Target for ReplyTarget {
    async fn apply(
        &self,
        stored: &StoredAction,
        _maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        let Action::ChatReply { to, text } = &stored.action else {
            return Err(
                ForgeError::Permanent(format!("{} is not a chat reply", stored.kind)).into(),
            );
        };
        *calls += 1;
        Ok(crate::chat::reply(&self.http, to, text).await?)
    }
}
