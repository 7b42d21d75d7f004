//! Slack incoming webhook: `text` (mrkdwn) plus a section block. Slack answers `ok` with HTTP
//! 200; 429 waits for `Retry-After`; 5xx retries; 400/403/404/410 (bad payload, revoked or
//! archived channel) are final with Slack's reason. Slack takes no idempotency key, so a crash
//! between Slack taking a message and bosun recording it posts it again.

use super::config::ChannelSettings;
use super::{Channel, mentioned, post_json};
use async_trait::async_trait;
use bosun_plugins::{ChatMessage, ForgeError};
use secrecy::ExposeSecret;
use serde_json::json;

/// One Slack incoming webhook.
pub struct Slack {
    http: reqwest::Client,
    settings: ChannelSettings,
}

impl Slack {
    pub fn new(http: reqwest::Client, settings: ChannelSettings) -> Self {
        Slack { http, settings }
    }
}

/// Markdown links `[t](u)` as Slack's `<u|t>`, bold `**x**` as `*x*`.
pub fn mrkdwn(text: &str) -> String {
    static LINK: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\[([^\]]*)\]\(([^)\s]*)\)").expect("static regex")
    });
    LINK.replace_all(text, "<$2|$1>").replace("**", "*")
}

/// The request body for a message.
pub fn body(settings: &ChannelSettings, message: &ChatMessage) -> serde_json::Value {
    let ats: Vec<String> = mentioned(settings, message)
        .iter()
        .map(|id| format!("<@{id}>"))
        .collect();
    let mut text = format!("*{}*\n{}", message.title, mrkdwn(&message.text));
    if !ats.is_empty() {
        text = format!("{text}\n{}", ats.join(" "));
    }
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

#[async_trait]
impl Channel for Slack {
    async fn send(&self, _key: &str, message: &ChatMessage) -> Result<(), ForgeError> {
        post_json(
            &self.http,
            self.settings.url.expose_secret(),
            &body(&self.settings, message),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_mrkdwn() {
        assert_eq!(
            mrkdwn("**alice** opened [o/r#1](https://x/1): fix"),
            "*alice* opened <https://x/1|o/r#1>: fix"
        );
    }
}
