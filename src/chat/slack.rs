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

/// The request body for a message: the text (with links the text lacks) in a section, and
/// the message's buttons as link buttons under it.
pub fn body(settings: &ChannelSettings, message: &ChatMessage) -> serde_json::Value {
    let ats: Vec<String> = mentioned(settings, message)
        .iter()
        .map(|id| format!("<@{id}>"))
        .collect();
    let mut text = format!("*{}*\n{}", message.title, mrkdwn(&message.text));
    let links: Vec<String> = super::links_for_text(settings, message)
        .iter()
        .map(|(title, url)| format!("<{url}|{title}>"))
        .collect();
    if !links.is_empty() {
        text = format!("{text}\n{}", links.join(" · "));
    }
    if !ats.is_empty() {
        text = format!("{text}\n{}", ats.join(" "));
    }
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
    if !message.buttons.is_empty() {
        let buttons: Vec<serde_json::Value> = message
            .buttons
            .iter()
            .map(|b| json!({"type": "button", "text": {"type": "plain_text", "text": b.title}, "url": b.url}))
            .collect();
        blocks.push(json!({"type": "actions", "elements": buttons}));
    }
    json!({"text": text, "blocks": blocks})
}

/// Posts an answer to an app mention in its channel (and thread), the sender @'d, through
/// `chat.postMessage` as the app. Slack answers HTTP 200 with `ok`; `ratelimited` (or a 429)
/// waits, Slack's own failures retry, anything else (`not_in_channel`, `invalid_auth` …) is
/// final with Slack's word for it.
pub async fn post_message(
    http: &reqwest::Client,
    bot: &super::config::SlackBot,
    channel: &str,
    thread: Option<&str>,
    user: &str,
    text: &str,
) -> Result<(), ForgeError> {
    let mut body = json!({"channel": channel, "text": format!("<@{user}> {}", mrkdwn(text))});
    if let Some(ts) = thread {
        body["thread_ts"] = json!(ts);
    }
    let resp = http
        .post(format!("{}/chat.postMessage", bot.api_url))
        .bearer_auth(bot.token.expose_secret())
        .json(&body)
        .send()
        .await
        .map_err(super::unreachable)?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer = resp.text().await.map_err(super::unreachable)?;
    if !status.is_success() {
        return Err(super::http_error(status, retry_after.as_deref(), &answer));
    }
    classify_api(&answer)
}

/// A Web API answer as an outcome.
pub fn classify_api(answer: &str) -> Result<(), ForgeError> {
    let v: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
    if v.get("ok").and_then(serde_json::Value::as_bool) == Some(true) {
        return Ok(());
    }
    let error = v
        .get("error")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("no answer");
    match error {
        "ratelimited" => Err(ForgeError::RateLimited {
            reset: std::time::SystemTime::now() + std::time::Duration::from_secs(60),
        }),
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "no answer" => Err(ForgeError::Transient {
            message: format!("Slack could not post the answer: {error}"),
            retry_after: None,
        }),
        other => Err(ForgeError::Invalid(format!(
            "Slack refused the answer: {other}"
        ))),
    }
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
    fn web_api_answers_are_classified() {
        assert!(classify_api(r#"{"ok":true,"ts":"1.2"}"#).is_ok());
        assert!(matches!(
            classify_api(r#"{"ok":false,"error":"ratelimited"}"#),
            Err(ForgeError::RateLimited { .. })
        ));
        let e = classify_api(r#"{"ok":false,"error":"not_in_channel"}"#).expect_err("final");
        assert!(
            !e.is_retryable() && e.to_string().contains("not_in_channel"),
            "{e}"
        );
        assert!(classify_api("<html>").is_err_and(|e| e.is_retryable()));
    }

    #[test]
    fn markdown_becomes_mrkdwn() {
        assert_eq!(
            mrkdwn("**alice** opened [o/r#1](https://x/1): fix"),
            "*alice* opened <https://x/1|o/r#1>: fix"
        );
    }
}
