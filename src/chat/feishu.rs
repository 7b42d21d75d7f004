//! Feishu / Lark custom bot: a `text` message. Signed mode puts `timestamp` (seconds) and
//! `sign = base64(HmacSHA256(key = timestamp + "\n" + secret, message = ""))` in the body;
//! keyword mode puts the keyword in the text. Feishu answers HTTP 200 with a `code`: 0 sent,
//! 11232 (over the bot's rate) waits a minute, 19021/19022/19024/9499 (signature, IP,
//! keyword, bad body) and others are final. Feishu takes no idempotency key.

use super::config::ChannelSettings;
use super::{Channel, mentioned, post_json, with_keyword};
use async_trait::async_trait;
use bosun_plugins::{ChatMessage, ForgeError};
use secrecy::ExposeSecret;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One Feishu/Lark group bot.
pub struct Feishu {
    http: reqwest::Client,
    settings: ChannelSettings,
}

impl Feishu {
    pub fn new(http: reqwest::Client, settings: ChannelSettings) -> Self {
        Feishu { http, settings }
    }
}

/// The signature for a timestamp in epoch seconds.
pub fn sign(secret: &str, timestamp_s: u64) -> String {
    super::hmac_base64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// The request body for a message, signed at `timestamp_s` when there is a secret.
pub fn body(
    settings: &ChannelSettings,
    message: &ChatMessage,
    timestamp_s: u64,
) -> serde_json::Value {
    let ats: Vec<String> = mentioned(settings, message)
        .iter()
        .map(|id| format!("<at user_id=\"{id}\"></at>"))
        .collect();
    let mut text = format!("{}\n{}", message.title, message.text);
    for (title, url) in super::links_for_text(settings, message) {
        text = format!("{text}\n{title}: {url}");
    }
    if !ats.is_empty() {
        text = format!("{text}\n{}", ats.join(" "));
    }
    let text = with_keyword(text, settings.keyword.as_deref());
    let mut body = json!({"msg_type": "text", "content": {"text": text}});
    if let Some(secret) = &settings.secret {
        body["timestamp"] = json!(timestamp_s.to_string());
        body["sign"] = json!(sign(secret.expose_secret(), timestamp_s));
    }
    body
}

/// Feishu's answer as an outcome.
pub fn classify(answer: &str) -> Result<(), ForgeError> {
    let v: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
    let code = v
        .get("code")
        .or_else(|| v.get("StatusCode"))
        .and_then(serde_json::Value::as_i64);
    let msg = v
        .get("msg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    match code {
        Some(0) => Ok(()),
        Some(11232) => Err(ForgeError::RateLimited {
            reset: SystemTime::now() + Duration::from_secs(60),
        }),
        Some(code) => Err(ForgeError::Invalid(format!(
            "Feishu refused the message ({code}): {msg}"
        ))),
        None => Err(ForgeError::Transient {
            message: format!(
                "Feishu answered something else: {}",
                super::first_line(answer)
            ),
            retry_after: None,
        }),
    }
}

#[async_trait]
impl Channel for Feishu {
    async fn send(&self, _key: &str, message: &ChatMessage) -> Result<(), ForgeError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let answer = post_json(
            &self.http,
            self.settings.url.expose_secret(),
            &body(&self.settings, message, now),
        )
        .await?;
        classify(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector computed for the reference (secret `demo`, timestamp 1599360473).
    #[test]
    fn signs_like_feishu() {
        assert_eq!(
            sign("demo", 1_599_360_473),
            "l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8="
        );
    }

    #[test]
    fn answers_are_classified() {
        assert!(
            classify(
                r#"{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},"msg":"success"}"#
            )
            .is_ok()
        );
        assert!(
            classify(r#"{"code":19021,"msg":"sign match fail"}"#).is_err_and(|e| !e.is_retryable())
        );
        assert!(
            classify(r#"{"code":11232,"msg":"frequency limited"}"#)
                .is_err_and(|e| e.is_retryable())
        );
    }
}
