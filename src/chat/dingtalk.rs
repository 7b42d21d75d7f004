//! DingTalk custom robot (自定义机器人). Signed mode: `timestamp` (ms) and
//! `sign = urlencode(base64(HmacSHA256(secret, timestamp + "\n" + secret)))` appended to the
//! URL; keyword mode: the keyword is put in the text. A message with people to @ is markdown
//! (buttons cannot @); one with a link and nobody to @ is an actionCard with a button to it.
//! `msgUuid` is the message's key, so a retried send posts once. DingTalk answers HTTP 200 with
//! an `errcode`: 130101 (over 20 a minute) waits the 10-minute throttle; -1 (busy) retries;
//! 310000 (keyword, signature, timestamp or IP check), 300001/300005 (no such robot) and any
//! other code are final, with DingTalk's `errmsg` as the error.

use super::config::ChannelSettings;
use super::{Channel, mentioned, post_json, with_keyword};
use async_trait::async_trait;
use bosun_plugins::{ChatMessage, ForgeError};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One DingTalk group robot.
pub struct DingTalk {
    http: reqwest::Client,
    settings: ChannelSettings,
}

impl DingTalk {
    pub fn new(http: reqwest::Client, settings: ChannelSettings) -> Self {
        DingTalk { http, settings }
    }
}

/// The signed-mode query parameters for a timestamp in epoch milliseconds.
pub fn sign(secret: &str, timestamp_ms: u128) -> String {
    let signature = super::hmac_base64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    );
    let encoded: String =
        percent_encoding::utf8_percent_encode(&signature, percent_encoding::NON_ALPHANUMERIC)
            .collect();
    format!("timestamp={timestamp_ms}&sign={encoded}")
}

/// The request body for a message: an actionCard whose buttons open the message's link and
/// its buttons (one button: the whole card opens it), or markdown when people are to be @'d
/// (buttons cannot @), with the buttons as links.
pub fn body(settings: &ChannelSettings, key: &str, message: &ChatMessage) -> serde_json::Value {
    let ids = mentioned(settings, message);
    let keyword = settings.keyword.as_deref();
    let mut text = format!("### {}\n\n{}", message.title, message.text);
    let title = message.title.replace('\n', " ");
    let mut btns: Vec<(&str, &str)> = Vec::new();
    if let Some(link) = &message.link {
        btns.push((super::open_title(settings), link));
    }
    btns.extend(
        message
            .buttons
            .iter()
            .map(|b| (b.title.as_str(), b.url.as_str())),
    );
    if ids.is_empty() && !btns.is_empty() {
        let text = with_keyword(text, keyword);
        let card = match btns.as_slice() {
            [(open, link)] => json!({"title": title, "text": text, "btnOrientation": "0",
                                     "singleTitle": open, "singleURL": link}),
            many => json!({"title": title, "text": text, "btnOrientation": "1",
                           "btns": many.iter().map(|(t, u)| json!({"title": t, "actionURL": u})).collect::<Vec<_>>()}),
        };
        return json!({"msgtype": "actionCard", "actionCard": card, "msgUuid": key});
    }
    for b in &message.buttons {
        text = format!("{text}\n\n[{}]({})", b.title, b.url);
    }
    if !ids.is_empty() {
        let ats: Vec<String> = ids.iter().map(|id| format!("@{id}")).collect();
        text = format!("{text}\n\n{}", ats.join(" "));
    }
    let text = with_keyword(text, keyword);
    let (mobiles, users): (Vec<&str>, Vec<&str>) = ids
        .iter()
        .partition(|id| id.chars().all(|c| c.is_ascii_digit()));
    json!({
        "msgtype": "markdown",
        "markdown": {"title": title, "text": text},
        "at": {"atMobiles": mobiles, "atUserIds": users, "isAtAll": false},
        "msgUuid": key,
    })
}

#[derive(Deserialize)]
struct Answer {
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// DingTalk's answer as an outcome.
pub fn classify(answer: &str) -> Result<(), ForgeError> {
    let Ok(a) = serde_json::from_str::<Answer>(answer) else {
        return Err(ForgeError::Transient {
            message: format!(
                "DingTalk answered something else: {}",
                super::first_line(answer)
            ),
            retry_after: None,
        });
    };
    match a.errcode {
        0 => Ok(()),
        130101 => Err(ForgeError::RateLimited {
            reset: SystemTime::now() + Duration::from_secs(600),
        }),
        -1 => Err(ForgeError::Transient {
            message: format!("DingTalk is busy ({}): {}", a.errcode, a.errmsg),
            retry_after: None,
        }),
        code => Err(ForgeError::Invalid(format!(
            "DingTalk refused the message ({code}): {}",
            a.errmsg
        ))),
    }
}

#[async_trait]
impl Channel for DingTalk {
    async fn send(&self, key: &str, message: &ChatMessage) -> Result<(), ForgeError> {
        let base = self.settings.url.expose_secret();
        let url = match &self.settings.secret {
            Some(secret) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}{}", sign(secret.expose_secret(), now))
            }
            None => base.to_string(),
        };
        let answer = post_json(&self.http, &url, &body(&self.settings, key, message)).await?;
        classify(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::config::ChannelKind;
    use bosun_plugins::Login;
    use secrecy::SecretString;

    fn settings() -> ChannelSettings {
        ChannelSettings {
            kind: ChannelKind::Dingtalk,
            url: SecretString::from("https://oapi.dingtalk.com/robot/send?access_token=t"),
            secret: None,
            keyword: Some("bosun".into()),
            language: bosun_plugins::notify::Language::Zh,
            max_messages: 20,
            window: Duration::from_secs(60),
            people: [
                ("alice".to_string(), "13800000000".to_string()),
                ("bob".into(), "user123".into()),
            ]
            .into_iter()
            .collect(),
        }
    }

    /// The vector computed for the reference (secret `SECtest`, timestamp 1700000000000).
    #[test]
    fn signs_like_dingtalk() {
        assert_eq!(
            sign("SECtest", 1_700_000_000_000),
            "timestamp=1700000000000&sign=aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g%3D"
        );
    }

    #[test]
    fn messages_are_cards_or_markdown_with_ats_and_the_keyword() {
        let message = ChatMessage {
            title: "grp/proj!12 等待评审".into(),
            text: "**a** 提交了 [grp/proj!12](https://x/12)".into(),
            link: Some("https://x/12".into()),
            mentions: vec![],
            buttons: vec![],
        };
        let card = body(&settings(), "bosun-action-7", &message);
        assert_eq!(card["msgtype"], "actionCard");
        assert_eq!(card["actionCard"]["singleURL"], "https://x/12");
        assert_eq!(card["actionCard"]["singleTitle"], "查看");
        assert_eq!(card["msgUuid"], "bosun-action-7");
        assert!(
            card["actionCard"]["text"]
                .as_str()
                .unwrap_or("")
                .ends_with("bosun")
        );

        let with_people = ChatMessage {
            mentions: vec![Login::new("Alice"), Login::new("bob"), Login::new("carol")],
            ..message
        };
        let md = body(&settings(), "k", &with_people);
        assert_eq!(md["msgtype"], "markdown");
        assert_eq!(md["at"]["atMobiles"], json!(["13800000000"]));
        assert_eq!(md["at"]["atUserIds"], json!(["user123"]));
        let text = md["markdown"]["text"].as_str().unwrap_or("");
        assert!(text.contains("@13800000000 @user123"), "{text}");
    }

    /// A passed build's message: a horizontal card with a button to the build and one to
    /// deploy; with people to @, markdown with the deploy link in the text.
    #[test]
    fn buttons_become_an_action_card() {
        let message = ChatMessage {
            title: "Drone #7 通过：grp/proj!1".into(),
            text: "构建通过".into(),
            link: Some("https://drone/grp/proj/7".into()),
            mentions: vec![],
            buttons: vec![bosun_plugins::Button {
                title: "部署".into(),
                url: "https://drone/grp/proj/7/promote".into(),
            }],
        };
        let card = body(&settings(), "k", &message);
        assert_eq!(card["msgtype"], "actionCard");
        assert_eq!(card["actionCard"]["btnOrientation"], "1");
        assert_eq!(
            card["actionCard"]["btns"],
            json!([
                {"title": "查看", "actionURL": "https://drone/grp/proj/7"},
                {"title": "部署", "actionURL": "https://drone/grp/proj/7/promote"},
            ])
        );
        let md = body(
            &settings(),
            "k",
            &ChatMessage {
                mentions: vec![Login::new("bob")],
                ..message
            },
        );
        assert_eq!(md["msgtype"], "markdown");
        let text = md["markdown"]["text"].as_str().unwrap_or("");
        assert!(
            text.contains("[部署](https://drone/grp/proj/7/promote)"),
            "{text}"
        );
    }

    #[test]
    fn answers_are_classified() {
        assert!(classify(r#"{"errcode":0,"errmsg":"ok"}"#).is_ok());
        assert!(matches!(
            classify(r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#),
            Err(ForgeError::RateLimited { .. })
        ));
        assert!(classify(r#"{"errcode":-1,"errmsg":"系统繁忙"}"#).is_err_and(|e| e.is_retryable()));
        let bad = classify(r#"{"errcode":310000,"errmsg":"sign not match"}"#).expect_err("refused");
        assert!(!bad.is_retryable());
        assert!(bad.to_string().contains("sign not match"), "{bad}");
    }
}
