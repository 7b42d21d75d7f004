//! WeCom (企业微信) group robot: a `markdown` message, people @'d as `<@userid>`. The URL's key
//! is the only credential (no signing). WeCom answers HTTP 200 with an `errcode`: 0 sent,
//! 45009 (over 20 a minute) waits a minute, -1 (busy) retries, others (93000 bad webhook URL …)
//! are final. WeCom takes no idempotency key.

use super::config::ChannelSettings;
use super::{Channel, mentioned, post_json};
use async_trait::async_trait;
use bosun_plugins::{ChatMessage, ForgeError};
use secrecy::ExposeSecret;
use serde_json::json;
use std::time::{Duration, SystemTime};

/// One WeCom group robot.
pub struct WeCom {
    http: reqwest::Client,
    settings: ChannelSettings,
}

impl WeCom {
    pub fn new(http: reqwest::Client, settings: ChannelSettings) -> Self {
        WeCom { http, settings }
    }
}

/// The request body for a message.
pub fn body(settings: &ChannelSettings, message: &ChatMessage) -> serde_json::Value {
    let ats: Vec<String> = mentioned(settings, message)
        .iter()
        .map(|id| format!("<@{id}>"))
        .collect();
    let mut text = format!("**{}**\n{}", message.title, message.text);
    for (title, url) in super::links_for_text(settings, message) {
        text = format!("{text}\n[{title}]({url})");
    }
    if !ats.is_empty() {
        text = format!("{text}\n{}", ats.join(" "));
    }
    json!({"msgtype": "markdown", "markdown": {"content": text}})
}

/// WeCom's answer as an outcome.
pub fn classify(answer: &str) -> Result<(), ForgeError> {
    let v: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
    let msg = v
        .get("errmsg")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    match v.get("errcode").and_then(serde_json::Value::as_i64) {
        Some(0) => Ok(()),
        Some(45009) => Err(ForgeError::RateLimited {
            reset: SystemTime::now() + Duration::from_secs(60),
        }),
        Some(-1) => Err(ForgeError::Transient {
            message: format!("WeCom is busy: {msg}"),
            retry_after: None,
        }),
        Some(code) => Err(ForgeError::Invalid(format!(
            "WeCom refused the message ({code}): {msg}"
        ))),
        None => Err(ForgeError::Transient {
            message: format!(
                "WeCom answered something else: {}",
                super::first_line(answer)
            ),
            retry_after: None,
        }),
    }
}

#[async_trait]
impl Channel for WeCom {
    async fn send(&self, _key: &str, message: &ChatMessage) -> Result<(), ForgeError> {
        let answer = post_json(
            &self.http,
            self.settings.url.expose_secret(),
            &body(&self.settings, message),
        )
        .await?;
        classify(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        assert!(classify(r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(
            classify(r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#)
                .is_err_and(|e| !e.is_retryable())
        );
        assert!(
            classify(r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#)
                .is_err_and(|e| e.is_retryable())
        );
    }
}
