//! Drains the chat outbox, channel by channel, within each channel's rate limit. While the
//! messages that are due fit in what the limit has left for the current window, each goes out
//! on its own under its own key; when they do not, all of them go out as one digest (one
//! message in the limit), so a burst is never dropped and never waits behind the limit. Sends
//! are counted from the outbox itself, so replicas sharing a database share the limit, and a
//! message is claimed before it is sent, so two replicas never send the same one.
//!
//! A transient failure (5xx, timeout, busy) puts the messages back with exponential backoff; a
//! rate limit puts them back until the platform's reset; a final refusal (bad signature,
//! missing keyword, unknown robot) marks them `failed` with the platform's reason, shown on the
//! delivery page. A message whose earlier attempt may have gone through is checked with the
//! channel first where the platform can tell.

use super::Channel;
use crate::store::{OutboxMessage, Store, StoreError};
use bosun_plugins::notify::Language;
use bosun_plugins::{ChatMessage, ForgeError, Login};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};

/// How long a claimed message is this sender's before another may take it.
const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a message is given up.
const MAX_ATTEMPTS: i32 = 10;
/// Most messages one pass looks at per channel (a bigger backlog goes out in several digests).
const BATCH: i64 = 200;

/// One channel as the sender sees it.
pub struct SenderChannel {
    pub channel: Arc<dyn Channel>,
    /// At most this many sends per `window` (a digest counts once).
    pub max_messages: u32,
    pub window: Duration,
    /// The language of digests.
    pub language: Language,
}

/// The outbox's sender.
pub struct ChatSender {
    store: Arc<dyn Store>,
    channels: BTreeMap<String, SenderChannel>,
    wake: Arc<Notify>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl ChatSender {
    /// A sender for these channels over `store`.
    pub fn new(store: Arc<dyn Store>, channels: BTreeMap<String, SenderChannel>) -> Self {
        ChatSender {
            store,
            channels,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The configured channels' names: a `Notify` to any other fails.
    pub fn channel_names(&self) -> std::collections::BTreeSet<String> {
        self.channels.keys().cloned().collect()
    }

    /// Notified when a message is queued, so it goes out without waiting for the next tick.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Sends until `stop` turns true: a pass whenever a message is queued, and every second
    /// for messages coming due.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let woken = self.wake.notified();
            if let Err(e) = self.send_due().await {
                tracing::warn!(error = %e, "chat outbox unavailable; trying again");
            }
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One pass over every channel; returns how many messages went out (a digest's count as
    /// many as it carried).
    pub async fn send_due(&self) -> Result<usize, StoreError> {
        let mut sent = 0;
        for (name, channel) in &self.channels {
            sent += self.send_channel(name, channel).await?;
        }
        Ok(sent)
    }

    async fn send_channel(&self, name: &str, ch: &SenderChannel) -> Result<usize, StoreError> {
        let now = now_ms();
        let due = self.store.due_messages(name, now, BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let used = self.store.sends_since(name, now - ms(ch.window)).await?;
        let budget = i64::from(ch.max_messages) - used;
        if budget <= 0 {
            return Ok(0);
        }
        let mut claimed = Vec::new();
        for m in due {
            if self.store.claim_message(m.id, now, now + ms(LEASE)).await? {
                claimed.push(m);
            }
        }
        if claimed.is_empty() {
            return Ok(0);
        }
        if claimed.len() as i64 <= budget {
            let mut sent = 0;
            for (i, m) in claimed.iter().enumerate() {
                let key = crate::executor::message_key(m.action_id);
                match self.deliver(ch, &key, &m.message, m.attempts > 0).await {
                    Ok(()) => {
                        self.store.mark_sent(&[m.id], &key, now_ms()).await?;
                        sent += 1;
                    }
                    Err(e @ ForgeError::RateLimited { .. }) => {
                        // The limit holds for every message left: all wait for the reset.
                        let rest: Vec<&OutboxMessage> = claimed[i..].iter().collect();
                        self.failed(name, &rest, &e).await?;
                        break;
                    }
                    Err(e) => self.failed(name, &[m], &e).await?,
                }
            }
            return Ok(sent);
        }
        let ids: Vec<i64> = claimed.iter().map(|m| m.id).collect();
        let key = format!("bosun-digest-{}-{}", ids[0], ids.len());
        let digest = digest(ch.language, &claimed);
        let maybe_sent = claimed.iter().any(|m| m.attempts > 0);
        match self.deliver(ch, &key, &digest, maybe_sent).await {
            Ok(()) => {
                self.store.mark_sent(&ids, &key, now_ms()).await?;
                tracing::info!(channel = name, messages = ids.len(), "sent a digest");
                Ok(ids.len())
            }
            Err(e) => {
                let all: Vec<&OutboxMessage> = claimed.iter().collect();
                self.failed(name, &all, &e).await?;
                Ok(0)
            }
        }
    }

    /// Sends, unless a previous attempt may have gone through and the platform says it did.
    async fn deliver(
        &self,
        ch: &SenderChannel,
        key: &str,
        message: &ChatMessage,
        maybe_sent: bool,
    ) -> Result<(), ForgeError> {
        if maybe_sent && ch.channel.already_sent(key).await? == Some(true) {
            return Ok(());
        }
        ch.channel.send(key, message).await
    }

    /// Records a failed send: back in the queue when it may work later, `failed` when not.
    async fn failed(
        &self,
        name: &str,
        messages: &[&OutboxMessage],
        e: &ForgeError,
    ) -> Result<(), StoreError> {
        let error = e.to_string();
        let (retry, give_up): (Vec<&&OutboxMessage>, Vec<&&OutboxMessage>) = messages
            .iter()
            .partition(|m| e.is_retryable() && m.attempts + 1 < MAX_ATTEMPTS);
        if !give_up.is_empty() {
            tracing::error!(channel = name, error = %error, messages = give_up.len(), "chat messages given up");
            let ids: Vec<i64> = give_up.iter().map(|m| m.id).collect();
            self.store.mark_failed(&ids, &error).await?;
        }
        if !retry.is_empty() {
            let attempts = retry.iter().map(|m| m.attempts).max().unwrap_or(0);
            let wait = e.retry_after().unwrap_or_else(|| {
                Duration::from_secs(2u64.saturating_pow(attempts.clamp(0, 8) as u32))
                    .min(Duration::from_secs(300))
            });
            tracing::warn!(channel = name, error = %error, retry_in_ms = wait.as_millis() as u64, "chat send will be retried");
            let ids: Vec<i64> = retry.iter().map(|m| m.id).collect();
            self.store
                .mark_retry(&ids, &error, now_ms() + ms(wait))
                .await?;
        }
        Ok(())
    }
}

/// One message standing for several: a line per message with its link, everyone @'d.
pub fn digest(language: Language, messages: &[OutboxMessage]) -> ChatMessage {
    let title = match language {
        Language::En => format!("{} updates", messages.len()),
        Language::Zh => format!("{} 条更新", messages.len()),
    };
    let lines: Vec<String> = messages
        .iter()
        .map(|m| match &m.message.link {
            Some(link) => format!("- [{}]({link})", m.message.title),
            None => format!("- {}", m.message.title),
        })
        .collect();
    let mut mentions: Vec<Login> = Vec::new();
    for m in messages {
        for l in &m.message.mentions {
            if !mentions.contains(l) {
                mentions.push(l.clone());
            }
        }
    }
    ChatMessage {
        title,
        text: lines.join("\n"),
        link: None,
        mentions,
        buttons: Vec::new(),
    }
}
