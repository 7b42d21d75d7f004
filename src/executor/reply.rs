//! Replies to commands that came from chat, posted to the conversation's reply URL (DingTalk's
//! `sessionWebhook`, valid about 90 minutes; Slack's `response_url`, 30 minutes and 5 uses), or
//! for a Slack app mention to its channel through `chat.postMessage`.
//! Neither platform can say whether a reply was posted, so a crash between the platform taking
//! a reply and bosun recording it posts the reply again.

use super::{EffectError, Target};
use crate::store::StoredAction;
use async_trait::async_trait;
use bosun_plugins::{Action, ForgeError};

/// The reply URLs of chat conversations, and the Slack app's bot token for answering app
/// mentions, which have none.
pub struct ReplyTarget {
    http: reqwest::Client,
    slack_bot: Option<crate::chat::config::SlackBot>,
}

impl Default for ReplyTarget {
    fn default() -> Self {
        ReplyTarget {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            slack_bot: None,
        }
    }
}

impl ReplyTarget {
    /// Answers Slack app mentions as the app with this token.
    pub fn with_slack_bot(mut self, bot: Option<crate::chat::config::SlackBot>) -> Self {
        self.slack_bot = bot;
        self
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
        Ok(crate::chat::reply(&self.http, self.slack_bot.as_ref(), to, text).await?)
    }
}
