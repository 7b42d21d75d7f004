//! `POST /chat/dingtalk`, `POST /chat/slack` and `POST /chat/slack/events`: commands from chat,
//! verified like webhooks and journaled before they are answered, as a delivery about the pull
//! request they name.
//!
//! DingTalk (an app robot in HTTP mode): headers `timestamp` (ms) and
//! `sign = base64(HmacSHA256(AppSecret, timestamp + "\n" + AppSecret))`, the timestamp within
//! an hour; the reply goes to the message's `sessionWebhook`. Slack (a slash command):
//! `X-Slack-Signature = v0=hex(HmacSHA256(signing secret, "v0:" + timestamp + ":" + body))`,
//! the timestamp within 5 minutes; the answer (within Slack's 3 seconds) acknowledges, the
//! reply goes to `response_url`. Slack app mentions (Events API, `app_mention`) are signed the
//! same way; the `url_verification` handshake is answered with its challenge once verified,
//! and the reply is posted in the mention's thread with the app's bot token (there is no
//! `response_url`); Slack's retries carry the same `event_id` and run once. Any other event is
//! acknowledged and not journaled. All: 401 when unsigned, wrongly signed, stale, or not
//! configured; 400 for a body that is not the platform's; 413 over the body limit; 503 when the
//! journal cannot take it. Nothing runs before it is journaled.

use super::AppState;
use super::hook::{ReceiveError, header, read_body};
use crate::chat::command::{self, ChatCommand};
use crate::store::{InsertOutcome, NewDelivery};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use bosun_plugins::{ForgeKind, ItemRef, ReplyTo};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// DingTalk's window for a request's timestamp.
const DINGTALK_WINDOW_MS: u128 = 60 * 60 * 1000;
/// Slack's window for a request's timestamp.
const SLACK_WINDOW_S: u64 = 5 * 60;

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Whether a DingTalk request is signed by the app and fresh.
pub fn dingtalk_authentic(secret: &str, timestamp: &str, sign: &str) -> bool {
    use base64::Engine;
    let Ok(ts) = timestamp.parse::<u128>() else {
        return false;
    };
    if now().as_millis().abs_diff(ts) > DINGTALK_WINDOW_MS {
        return false;
    }
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac(
        secret.as_bytes(),
        format!("{timestamp}\n{secret}").as_bytes(),
    ));
    expected.as_bytes().ct_eq(sign.as_bytes()).into()
}

/// The DingTalk signatures this process accepted within the window, each with the message it
/// came with. DingTalk signs only the timestamp, not the body, so a signature seen once could
/// otherwise carry any message, from any sender, for the hour DingTalk allows.
#[derive(Default)]
pub struct SeenDingTalkSignatures(
    std::sync::Mutex<std::collections::HashMap<String, (String, u128)>>,
);

impl SeenDingTalkSignatures {
    /// Whether `sign` may carry message `msg_id`: it was never seen, or it came with this same
    /// message before (DingTalk sending it again, which the journal runs once).
    pub fn admit(&self, sign: &str, msg_id: &str, now_ms: u128) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // A signature older than the window is refused anyway.
        seen.retain(|_, (_, at)| now_ms.saturating_sub(*at) <= 2 * DINGTALK_WINDOW_MS);
        match seen.get(sign) {
            Some((first, _)) => first == msg_id,
            None => {
                seen.insert(sign.to_string(), (msg_id.to_string(), now_ms));
                true
            }
        }
    }
}

/// Whether a Slack request is signed with the signing secret and fresh.
pub fn slack_authentic(secret: &str, timestamp: &str, signature: &str, body: &[u8]) -> bool {
    let Ok(ts) = timestamp.parse::<u64>() else {
        return false;
    };
    if now().as_secs().abs_diff(ts) > SLACK_WINDOW_S {
        return false;
    }
    let mut base = format!("v0:{timestamp}:").into_bytes();
    base.extend_from_slice(body);
    let expected = format!("v0={}", hex::encode(hmac(secret.as_bytes(), &base)));
    expected.as_bytes().ct_eq(signature.as_bytes()).into()
}

/// The forge `org/repo#7` means when it does not say: GitHub when it is configured.
fn default_forge(state: &AppState) -> ForgeKind {
    if state.settings.github.is_some() {
        ForgeKind::GitHub
    } else {
        ForgeKind::GitLab
    }
}

/// Journals a chat command as a delivery about the PR it names.
async fn journal(
    state: &AppState,
    delivery_id: String,
    cmd: &ChatCommand,
    default: ForgeKind,
) -> Result<InsertOutcome, ReceiveError> {
    let forge = cmd.target.as_ref().map_or(default, |t| t.forge);
    let (repo, number, item_key) = match &cmd.target {
        Some(t) => (Some(t.repo.to_string()), Some(t.number as i64), item_key(t)),
        None => (None, None, format!("chat:{}", cmd.user)),
    };
    let payload = serde_json::to_vec(cmd)
        .map_err(|_| ReceiveError::BadRequest("the command cannot be recorded"))?;
    let delivery = NewDelivery {
        delivery_id,
        forge,
        event: command::EVENT.into(),
        repo,
        number,
        item_key,
        headers: "{}".into(),
        payload: Bytes::from(payload).into(),
    };
    state.journal(delivery).await.map_err(|e| {
        tracing::warn!(error = %e, "could not journal a chat command");
        ReceiveError::Unavailable("cannot store the command now; retry later")
    })
}

/// The queue key of a PR, the same as its webhooks', so a chat command runs in order with them.
fn item_key(t: &ItemRef) -> String {
    let sigil = match t.forge {
        ForgeKind::GitHub => '#',
        ForgeKind::GitLab => '!',
    };
    format!("{}:{}{sigil}{}", t.forge, t.repo, t.number)
}

fn configured(secret: &Option<SecretString>) -> Result<&SecretString, ReceiveError> {
    secret.as_ref().ok_or(ReceiveError::Unauthorized(
        "commands from here are not configured",
    ))
}

fn open(state: &AppState) -> Result<(), ReceiveError> {
    if state.shutting_down.load(Ordering::Relaxed) {
        Err(ReceiveError::Unavailable(
            "bosun is shutting down; retry later",
        ))
    } else {
        Ok(())
    }
}

#[derive(Deserialize)]
struct DingTalkText {
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DingTalkMessage {
    msg_id: String,
    text: Option<DingTalkText>,
    #[serde(default)]
    sender_staff_id: String,
    #[serde(default)]
    sender_nick: String,
    session_webhook: String,
}

/// Whether bosun may post its answer to `url`, a message's `sessionWebhook`: https to one of
/// `hosts`, or plain http to a listed loopback host (a test's fake DingTalk). DingTalk signs
/// only the timestamp, so whoever saw one signed request could otherwise name any address,
/// inside the network too, for an hour.
fn dingtalk_reply_allowed(url: &str, hosts: &[String]) -> bool {
    let Ok(uri) = url.parse::<actix_web::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let scheme_ok = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => loopback,
        _ => false,
    };
    scheme_ok && hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// `POST /chat/dingtalk`
pub async fn dingtalk(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReceiveError> {
    open(&state)?;
    let secret = configured(&state.settings.chat.dingtalk_secret)?;
    let (Some(timestamp), Some(sign)) = (header(&req, "timestamp"), header(&req, "sign")) else {
        return Err(ReceiveError::Unauthorized(
            "missing timestamp or sign header",
        ));
    };
    if !dingtalk_authentic(secret.expose_secret(), timestamp, sign) {
        return Err(ReceiveError::Unauthorized("invalid or stale sign"));
    }
    let body = read_body(&req, payload, state.settings.limits.max_body_bytes).await?;
    let message: DingTalkMessage = serde_json::from_slice(&body)
        .map_err(|_| ReceiveError::BadRequest("not a DingTalk robot message"))?;
    if !dingtalk_reply_allowed(
        &message.session_webhook,
        &state.settings.chat.dingtalk_reply_hosts,
    ) {
        return Err(ReceiveError::BadRequest(
            "sessionWebhook is not on a host of chat.dingtalk.session_webhook_hosts",
        ));
    }
    if !state
        .dingtalk_signatures
        .admit(sign, &message.msg_id, now().as_millis())
    {
        return Err(ReceiveError::Unauthorized(
            "this sign came with another message",
        ));
    }
    // DingTalk leaves `senderStaffId` out for members outside the organization and while the
    // robot is unpublished; without it every such sender would be one chat user, `dingtalk:`,
    // and act through one binding.
    if message.sender_staff_id.trim().is_empty() {
        return Err(ReceiveError::BadRequest(
            "no senderStaffId: bosun cannot tell this sender from others",
        ));
    }
    let text = message.text.map(|t| t.content).unwrap_or_default();
    let default = default_forge(&state);
    let (text, target) = command::parse(&text, default);
    let cmd = ChatCommand {
        platform: "dingtalk".into(),
        user: format!("dingtalk:{}", message.sender_staff_id),
        user_name: message.sender_nick,
        text,
        target,
        reply: ReplyTo {
            platform: "dingtalk".into(),
            url: message.session_webhook,
            user: message.sender_staff_id,
            channel: None,
            thread: None,
        },
    };
    let id: String = message.msg_id.chars().take(150).collect();
    journal(&state, format!("dingtalk:{id}"), &cmd, default).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// Checks a Slack request's signature over its raw body and returns the body.
async fn verified_slack_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Bytes, ReceiveError> {
    open(state)?;
    let secret = configured(&state.settings.chat.slack_secret)?;
    let (Some(timestamp), Some(signature)) = (
        header(req, "x-slack-request-timestamp"),
        header(req, "x-slack-signature"),
    ) else {
        return Err(ReceiveError::Unauthorized(
            "missing X-Slack-Request-Timestamp or X-Slack-Signature header",
        ));
    };
    let body = read_body(req, payload, state.settings.limits.max_body_bytes).await?;
    if !slack_authentic(secret.expose_secret(), timestamp, signature, &body) {
        return Err(ReceiveError::Unauthorized(
            "invalid or stale X-Slack-Signature",
        ));
    }
    Ok(body)
}

#[derive(Deserialize)]
struct SlashCommand {
    team_id: String,
    user_id: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    text: String,
    response_url: String,
    #[serde(default)]
    trigger_id: String,
}

/// `POST /chat/slack`
pub async fn slack(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReceiveError> {
    let body = verified_slack_body(&req, payload, &state).await?;
    let form: SlashCommand = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ReceiveError::BadRequest("not a Slack slash command"))?;
    if !form.response_url.starts_with("https://") && !form.response_url.starts_with("http://") {
        return Err(ReceiveError::BadRequest("response_url is not a URL"));
    }
    let default = default_forge(&state);
    let (text, target) = command::parse(&form.text, default);
    let cmd = ChatCommand {
        platform: "slack".into(),
        user: format!("slack:{}/{}", form.team_id, form.user_id),
        user_name: form.user_name,
        text,
        target,
        reply: ReplyTo {
            platform: "slack".into(),
            url: form.response_url,
            user: form.user_id,
            channel: None,
            thread: None,
        },
    };
    let id = if form.trigger_id.is_empty() {
        format!("sha256:{}", hex::encode(Sha256::digest(&body)))
    } else {
        form.trigger_id.chars().take(150).collect()
    };
    journal(&state, format!("slack:{id}"), &cmd, default).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "response_type": "ephemeral",
        "text": "On it.",
    })))
}

/// An Events API request: the `url_verification` handshake, or an `event_callback`.
#[derive(Deserialize)]
struct SlackEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    event_id: Option<String>,
    #[serde(default)]
    event: Option<SlackEvent>,
}

#[derive(Deserialize)]
struct SlackEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    /// Set when a bot wrote the message; bosun does not take commands from bots.
    #[serde(default)]
    bot_id: Option<String>,
}

/// The text of an app mention without the `<@U…>` mentions in it (bosun's own included).
pub fn without_mentions(text: &str) -> String {
    static MENTION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"<@[A-Za-z0-9]+(?:\|[^>]*)?>").expect("static regex")
    });
    MENTION.replace_all(text, " ").trim().to_string()
}

/// `POST /chat/slack/events`: Slack's Events API (`url_verification`, `app_mention`).
pub async fn slack_events(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ReceiveError> {
    let body = verified_slack_body(&req, payload, &state).await?;
    let envelope: SlackEnvelope = serde_json::from_slice(&body)
        .map_err(|_| ReceiveError::BadRequest("not a Slack Events API request"))?;
    if envelope.kind == "url_verification" {
        let challenge = envelope.challenge.ok_or(ReceiveError::BadRequest(
            "url_verification without a challenge",
        ))?;
        return Ok(HttpResponse::Ok().json(serde_json::json!({ "challenge": challenge })));
    }
    let mention = envelope
        .event
        .filter(|e| envelope.kind == "event_callback" && e.kind == "app_mention")
        .filter(|e| e.bot_id.is_none());
    let (Some(event), Some(team)) = (mention, envelope.team_id) else {
        return Ok(HttpResponse::Ok().finish());
    };
    let (Some(user), Some(channel)) = (event.user, event.channel) else {
        return Err(ReceiveError::BadRequest(
            "app_mention without user or channel",
        ));
    };
    let default = default_forge(&state);
    let (text, target) = command::parse(&without_mentions(&event.text), default);
    let cmd = ChatCommand {
        platform: "slack".into(),
        user: format!("slack:{team}/{user}"),
        user_name: user.clone(),
        text,
        target,
        reply: ReplyTo {
            platform: "slack".into(),
            url: String::new(),
            user,
            channel: Some(channel),
            thread: event.thread_ts.or(event.ts),
        },
    };
    let id = match envelope.event_id {
        Some(id) if !id.is_empty() => id.chars().take(150).collect(),
        _ => format!("sha256:{}", hex::encode(Sha256::digest(&body))),
    };
    journal(&state, format!("slack:{id}"), &cmd, default).await?;
    Ok(HttpResponse::Ok().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_go_only_to_listed_hosts_over_https() {
        let hosts = ["oapi.dingtalk.com".to_string(), "127.0.0.1".to_string()];
        let allowed = |url: &str| dingtalk_reply_allowed(url, &hosts);
        assert!(allowed(
            "https://oapi.dingtalk.com/robot/sendBySession?session=abc"
        ));
        assert!(allowed("https://OAPI.dingtalk.com/robot/sendBySession"));
        assert!(allowed("http://127.0.0.1:8080/dingtalk-session"));
        assert!(!allowed("http://oapi.dingtalk.com/robot/sendBySession"));
        assert!(!allowed("https://oapi.dingtalk.com.evil.example/x"));
        assert!(!allowed("https://169.254.169.254/latest/meta-data"));
        assert!(!allowed("https://evil@internal:443/x"));
        assert!(!allowed("not a url"));
        assert!(!allowed("https://[::1]/x"));
    }

    /// The vector computed for the reference (secret, timestamp 1531420618, a slash command).
    #[test]
    fn slack_signatures_check_the_body_and_the_window() {
        let body = b"token=x&team_id=T1&user_id=U2&command=%2Fbosun&text=lgtm+grp%2Fproj%2112";
        let expected = "v0=ac8353e903ee76bc97797e39c59e4e10fecd54173cb526d92c406c3ca7e41730";
        let mut base = b"v0:1531420618:".to_vec();
        base.extend_from_slice(body);
        assert_eq!(
            format!(
                "v0={}",
                hex::encode(hmac(b"8f742231b10e8888abcd99yyyzzz85a5", &base))
            ),
            expected
        );
        // The vector's timestamp is years old: stale, so refused.
        assert!(!slack_authentic(
            "8f742231b10e8888abcd99yyyzzz85a5",
            "1531420618",
            expected,
            body
        ));
    }

    #[test]
    fn app_mentions_lose_their_mentions() {
        assert_eq!(
            without_mentions("<@U0LAN0Z89> /lgtm org/repo#7"),
            "/lgtm org/repo#7"
        );
        assert_eq!(
            without_mentions("<@U0LAN0Z89|bosun> hold <@U2> org/repo#7"),
            "hold   org/repo#7"
        );
    }

    #[test]
    fn dingtalk_signatures_check_the_window() {
        use base64::Engine;
        let ts = now().as_millis().to_string();
        let sign = base64::engine::general_purpose::STANDARD
            .encode(hmac(b"app-secret", format!("{ts}\napp-secret").as_bytes()));
        assert!(dingtalk_authentic("app-secret", &ts, &sign));
        assert!(!dingtalk_authentic("other-secret", &ts, &sign));
        let old = (now().as_millis() - 2 * DINGTALK_WINDOW_MS).to_string();
        let old_sign = base64::engine::general_purpose::STANDARD
            .encode(hmac(b"app-secret", format!("{old}\napp-secret").as_bytes()));
        assert!(!dingtalk_authentic("app-secret", &old, &old_sign));
    }
}
