//! Chat: the groups bosun tells what needs them. A `Notify` action is applied by queuing its
//! message in the outbox ([`crate::store::OutboxStore`]); the [`sender::ChatSender`] drains
//! each channel within its platform's rate limit, coalescing a backlog into one digest, and
//! posts through the channel's client: one file per platform, each with its own signing and
//! error classification.

pub mod command;
pub mod config;
mod dingtalk;
mod feishu;
pub mod sender;
mod slack;
mod wecom;

use async_trait::async_trait;
use bosun_plugins::{ChatMessage, ForgeError};
use config::{ChannelKind, ChannelSettings};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A chat group or channel bosun can post to.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Posts the message. `key` is unique to the message and the same on every attempt, for
    /// platforms that de-duplicate by a key (DingTalk's `msgUuid`).
    async fn send(&self, key: &str, message: &ChatMessage) -> Result<(), ForgeError>;

    /// Whether the message with this key was already posted: `None` when the platform cannot
    /// tell, and a message whose earlier attempt may have gone through is then sent again.
    async fn already_sent(&self, _key: &str) -> Result<Option<bool>, ForgeError> {
        Ok(None)
    }
}

/// Answers a chat command in its conversation: DingTalk's `sessionWebhook` takes a robot
/// message (markdown, the sender @'d), Slack's `response_url` a message shown in the channel;
/// a Slack app mention (no reply URL, a channel) is answered in its thread through
/// `chat.postMessage` with the app's bot token.
pub async fn reply(
    http: &reqwest::Client,
    slack_bot: Option<&config::SlackBot>,
    to: &bosun_plugins::ReplyTo,
    text: &str,
) -> Result<(), ForgeError> {
    if let (Some(channel), "slack") = (&to.channel, to.platform.as_str()) {
        let Some(bot) = slack_bot else {
            return Err(ForgeError::Permanent(
                "no Slack bot token is configured ([chat.slack] bot_token_env)".into(),
            ));
        };
        return slack::post_message(http, bot, channel, to.thread.as_deref(), &to.user, text).await;
    }
    match to.platform.as_str() {
        "dingtalk" => {
            let body = serde_json::json!({
                "msgtype": "markdown",
                "markdown": {"title": "bosun", "text": format!("{text}\n\n@{}", to.user)},
                "at": {"atUserIds": [to.user], "isAtAll": false},
            });
            dingtalk::classify(&post_json(http, &to.url, &body).await?)
        }
        "slack" => {
            let body = serde_json::json!({
                "response_type": "in_channel",
                "text": slack::mrkdwn(text),
            });
            post_json(http, &to.url, &body).await.map(|_| ())
        }
        other => Err(ForgeError::Permanent(format!(
            "no chat platform named {other:?}"
        ))),
    }
}

/// The client for one configured channel.
pub fn channel_for(settings: &ChannelSettings) -> Arc<dyn Channel> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    match settings.kind {
        ChannelKind::Dingtalk => Arc::new(dingtalk::DingTalk::new(http, settings.clone())),
        ChannelKind::Slack => Arc::new(slack::Slack::new(http, settings.clone())),
        ChannelKind::Feishu => Arc::new(feishu::Feishu::new(http, settings.clone())),
        ChannelKind::Wecom => Arc::new(wecom::WeCom::new(http, settings.clone())),
    }
}

/// Classifies an HTTP answer that is not a success: 429 waits (for `Retry-After` when given),
/// 5xx and timeouts retry, anything else is final.
fn http_error(status: reqwest::StatusCode, retry_after: Option<&str>, body: &str) -> ForgeError {
    let detail = format!("HTTP {}: {}", status.as_u16(), first_line(body));
    if status.as_u16() == 429 {
        let wait = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(60);
        return ForgeError::RateLimited {
            reset: SystemTime::now() + Duration::from_secs(wait),
        };
    }
    if status.is_server_error() {
        return ForgeError::Transient {
            message: detail,
            retry_after: None,
        };
    }
    ForgeError::Invalid(detail)
}

/// A failure to reach the platform at all: worth another attempt. The URL is left out of the
/// message: it carries the robot's token (and DingTalk's signature).
fn unreachable(e: reqwest::Error) -> ForgeError {
    let e = e.without_url();
    ForgeError::Transient {
        message: format!("chat platform unreachable: {e}"),
        retry_after: None,
    }
}

/// The first line of a platform's answer, short, for error messages.
fn first_line(body: &str) -> String {
    body.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// Posts JSON and returns the answer's body when the HTTP status is a success.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> Result<String, ForgeError> {
    let resp = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = resp.text().await.map_err(unreachable)?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(http_error(status, retry_after.as_deref(), &text))
    }
}

/// The chat accounts to @ for a message's forge logins (unknown logins are left out).
fn mentioned<'a>(settings: &'a ChannelSettings, message: &ChatMessage) -> Vec<&'a str> {
    let mut ids: Vec<&str> = message
        .mentions
        .iter()
        .filter_map(|l| settings.people.get(&l.as_str().to_lowercase()))
        .map(String::as_str)
        .collect();
    ids.dedup();
    ids
}

/// The title of the button (or link) that opens a message's own link, in the channel's
/// language.
fn open_title(settings: &ChannelSettings) -> &'static str {
    match settings.language {
        bosun_plugins::notify::Language::Zh => "查看",
        bosun_plugins::notify::Language::En => "Open",
    }
}

/// What a platform without buttons shows as links under the text: the message's own link
/// (unless the text already carries it), then its buttons, as `(title, url)`.
fn links_for_text<'m>(
    settings: &ChannelSettings,
    message: &'m ChatMessage,
) -> Vec<(&'m str, &'m str)> {
    let own = message
        .link
        .as_deref()
        .filter(|link| !message.text.contains(link))
        .map(|link| (open_title(settings), link));
    own.into_iter()
        .chain(
            message
                .buttons
                .iter()
                .map(|b| (b.title.as_str(), b.url.as_str())),
        )
        .collect()
}

/// The text with the keyword a keyword-mode robot requires, when it is missing.
fn with_keyword(text: String, keyword: Option<&str>) -> String {
    match keyword {
        Some(k) if !k.is_empty() && !text.contains(k) => format!("{text}\n\n{k}"),
        _ => text,
    }
}

/// HMAC-SHA256 of `message` under `key`, base64.
fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC takes a key of any length");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The robot's token is in its URL; an error reaching it must not carry it into logs, the
    /// outbox or the pages.
    #[tokio::test]
    async fn errors_never_carry_the_webhook_url() {
        let http = reqwest::Client::new();
        let url = "http://127.0.0.1:1/robot/send?access_token=SECRET-TOKEN-123";
        let e = post_json(&http, url, &serde_json::json!({}))
            .await
            .expect_err("refused");
        assert!(e.is_retryable(), "{e}");
        assert!(!e.to_string().contains("SECRET-TOKEN-123"), "{e}");
    }
}
