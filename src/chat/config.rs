//! `[chat.channels.<name>]`: the chat groups bosun can post to. The webhook URL and signing
//! secret live in environment variables the file names, never in the file.

use crate::config::ConfigError;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[chat]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Commands from DingTalk: an app robot in HTTP mode posting to `/chat/dingtalk`.
    pub dingtalk: Option<DingTalkInbound>,
    /// Commands from Slack: a slash command or app mention posting to `/chat/slack`.
    pub slack: Option<SlackInbound>,
    /// Chat accounts bound to forge accounts: `"dingtalk:<userId>"` or
    /// `"slack:<team_id>/<user_id>"` → `{ github = "login", gitlab = "username" }`. A chat user
    /// acts on a forge only through a binding here, never by display name.
    pub users: BTreeMap<String, BoundUser>,
    /// Leave a short note on the PR saying a command came from chat. Default true.
    pub note_on_forge: bool,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            channels: BTreeMap::new(),
            dingtalk: None,
            slack: None,
            users: BTreeMap::new(),
            note_on_forge: true,
        }
    }
}

/// `[chat.dingtalk]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DingTalkInbound {
    /// The environment variable holding the app's AppSecret, which signs each request.
    pub app_secret_env: String,
    /// The hosts a message's `sessionWebhook` may name; bosun posts its answer there, over
    /// https. DingTalk's signature covers only the timestamp, not the body, so the address is
    /// checked here. Default DingTalk's own: `oapi.dingtalk.com`, `api.dingtalk.com`.
    #[serde(default = "default_session_webhook_hosts")]
    pub session_webhook_hosts: Vec<String>,
}

fn default_session_webhook_hosts() -> Vec<String> {
    vec!["oapi.dingtalk.com".into(), "api.dingtalk.com".into()]
}

/// `[chat.slack]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackInbound {
    /// The environment variable holding the Slack app's signing secret.
    pub signing_secret_env: String,
    /// The environment variable holding the app's bot token (`xoxb-…`), with which bosun
    /// answers app mentions (`chat.postMessage`). Unset: mentions are not answered.
    #[serde(default)]
    pub bot_token_env: Option<String>,
    /// Slack's Web API base URL. Default `https://slack.com/api`.
    #[serde(default = "default_slack_api")]
    pub api_url: String,
}

fn default_slack_api() -> String {
    "https://slack.com/api".into()
}

/// What bosun needs to post to Slack as its app: the bot token and the Web API's base URL.
#[derive(Debug, Clone)]
pub struct SlackBot {
    /// The `xoxb-…` token, sent only as the `Authorization` header.
    pub token: SecretString,
    /// Without a trailing slash.
    pub api_url: String,
}

/// A chat account's forge accounts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundUser {
    pub github: Option<String>,
    pub gitlab: Option<String>,
}

/// `[chat]` validated.
#[derive(Debug, Default)]
pub struct ChatSettings {
    /// The channels whose URL is set, by name.
    pub channels: BTreeMap<String, ChannelSettings>,
    /// The DingTalk app's secret; unset: `/chat/dingtalk` refuses everything.
    pub dingtalk_secret: Option<SecretString>,
    /// The hosts a DingTalk message's `sessionWebhook` may name
    /// (`chat.dingtalk.session_webhook_hosts`).
    pub dingtalk_reply_hosts: Vec<String>,
    /// The Slack signing secret; unset: `/chat/slack` refuses everything.
    pub slack_secret: Option<SecretString>,
    /// The Slack app's bot token, for answering app mentions; unset: they are not answered.
    pub slack_bot: Option<SlackBot>,
    pub users: BTreeMap<String, BoundUser>,
    pub note_on_forge: bool,
    /// Every configured channel's language (also those whose URL is unset), for the notices
    /// written for it.
    pub languages: BTreeMap<String, bosun_plugins::notify::Language>,
}

impl ChatSettings {
    /// The forge login a chat account acts as on `forge`, when the configuration binds it
    /// (bindings made in chat are in the store, and the configuration wins over them).
    pub fn login_of(&self, chat_user: &str, forge: bosun_plugins::ForgeKind) -> Option<&str> {
        let bound = self.users.get(chat_user)?;
        match forge {
            bosun_plugins::ForgeKind::GitHub => bound.github.as_deref(),
            bosun_plugins::ForgeKind::GitLab => bound.gitlab.as_deref(),
        }
    }
}

/// The platforms bosun can post to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A DingTalk group's custom robot (signed mode with `secret_env`, keyword mode with `keyword`).
    Dingtalk,
    /// A Slack incoming webhook.
    Slack,
    /// A Feishu or Lark group's custom bot (signed with `secret_env`, keyword with `keyword`).
    Feishu,
    /// A WeCom (企业微信) group robot.
    Wecom,
}

impl ChannelKind {
    /// The platform's documented limit: DingTalk and WeCom 20 a minute, Feishu 100 a minute,
    /// Slack about one a second.
    fn default_limit(self) -> u32 {
        match self {
            ChannelKind::Dingtalk | ChannelKind::Wecom => 20,
            ChannelKind::Feishu => 100,
            ChannelKind::Slack => 60,
        }
    }
}

/// `[chat.channels.<name>]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub kind: ChannelKind,
    /// The environment variable holding the webhook URL (it carries the robot's token).
    pub url_env: String,
    /// The environment variable holding the signing secret (DingTalk `SEC…`, Feishu).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A keyword the robot requires in every message (DingTalk/Feishu keyword mode).
    #[serde(default)]
    pub keyword: Option<String>,
    /// `en` (default) or `zh`: the language of digests (each route picks its messages').
    #[serde(default)]
    pub language: bosun_plugins::notify::Language,
    /// At most this many messages per `per_seconds`; a backlog beyond it is sent as one digest.
    #[serde(default)]
    pub max_messages: Option<u32>,
    #[serde(default = "default_window")]
    pub per_seconds: u64,
    /// Forge login → the chat account to @ (DingTalk userId or mobile, Feishu open_id, WeCom
    /// userid, Slack member id). A login missing here is @'d as the DingTalk or Slack account
    /// bound to it in `[chat.users]`, on a channel of that platform.
    #[serde(default)]
    pub people: BTreeMap<String, String>,
}

fn default_window() -> u64 {
    60
}

/// A channel ready to use.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    pub kind: ChannelKind,
    pub url: SecretString,
    pub secret: Option<SecretString>,
    pub keyword: Option<String>,
    pub language: bosun_plugins::notify::Language,
    pub max_messages: u32,
    pub window: Duration,
    /// Keys lower-cased: logins compare case-insensitively.
    pub people: BTreeMap<String, String>,
}

impl ChatConfig {
    /// Checks every channel (one whose URL variable is unset is left out with a warning: its
    /// messages then fail with that reason), the inbound secrets and the bindings.
    pub fn validate(
        self,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
        warnings: &mut Vec<ConfigError>,
    ) -> ChatSettings {
        let mut secret = |key: &str, var: &str| match lookup(var).filter(|v| !v.is_empty()) {
            Some(v) => Some(SecretString::from(v)),
            None => {
                warnings.push(ConfigError {
                    key: key.into(),
                    message: format!(
                        "environment variable {var} is not set; commands from there will be refused"
                    ),
                });
                None
            }
        };
        let dingtalk_secret = self
            .dingtalk
            .as_ref()
            .and_then(|d| secret("chat.dingtalk.app_secret_env", &d.app_secret_env));
        let slack_secret = self
            .slack
            .as_ref()
            .and_then(|s| secret("chat.slack.signing_secret_env", &s.signing_secret_env));
        let slack_bot = self.slack.as_ref().and_then(|s| {
            let var = s.bot_token_env.as_deref()?;
            if !(s.api_url.starts_with("https://") || s.api_url.starts_with("http://")) {
                errors.push(ConfigError {
                    key: "chat.slack.api_url".into(),
                    message: "must be an http(s) URL".into(),
                });
                return None;
            }
            let token = match lookup(var).filter(|v| !v.is_empty()) {
                Some(v) => SecretString::from(v),
                None => {
                    warnings.push(ConfigError {
                        key: "chat.slack.bot_token_env".into(),
                        message: format!(
                            "environment variable {var} is not set; app mentions will not be answered"
                        ),
                    });
                    return None;
                }
            };
            Some(SlackBot {
                token,
                api_url: s.api_url.trim_end_matches('/').to_string(),
            })
        });
        for user in self.users.keys() {
            let ok = user
                .strip_prefix("dingtalk:")
                .or_else(|| user.strip_prefix("slack:"))
                .is_some_and(|id| !id.is_empty());
            if !ok {
                errors.push(ConfigError {
                    key: format!("chat.users.\"{user}\""),
                    message: "must be \"dingtalk:<userId>\" or \"slack:<team_id>/<user_id>\""
                        .into(),
                });
            }
        }
        ChatSettings {
            channels: self.channels(lookup, errors, warnings),
            dingtalk_secret,
            dingtalk_reply_hosts: self
                .dingtalk
                .as_ref()
                .map(|d| d.session_webhook_hosts.clone())
                .unwrap_or_default(),
            slack_secret,
            slack_bot,
            languages: self
                .channels
                .iter()
                .map(|(name, c)| (name.clone(), c.language))
                .collect(),
            users: self.users,
            note_on_forge: self.note_on_forge,
        }
    }

    /// A channel's forge login → chat account map: its `people`, then the accounts of its
    /// platform bound in `[chat.users]` for logins it does not name. Keys lower-cased.
    fn people_of(&self, c: &ChannelConfig) -> BTreeMap<String, String> {
        let mut people: BTreeMap<String, String> = c
            .people
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect();
        for (user, bound) in &self.users {
            let id = match c.kind {
                ChannelKind::Dingtalk => user.strip_prefix("dingtalk:"),
                ChannelKind::Slack => user
                    .strip_prefix("slack:")
                    .and_then(|id| id.rsplit_once('/'))
                    .map(|(_, member)| member),
                ChannelKind::Feishu | ChannelKind::Wecom => None,
            };
            let Some(id) = id.filter(|id| !id.is_empty()) else {
                continue;
            };
            for login in [&bound.github, &bound.gitlab].into_iter().flatten() {
                people
                    .entry(login.to_lowercase())
                    .or_insert_with(|| id.to_string());
            }
        }
        people
    }

    fn channels(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
        errors: &mut Vec<ConfigError>,
        warnings: &mut Vec<ConfigError>,
    ) -> BTreeMap<String, ChannelSettings> {
        let mut out = BTreeMap::new();
        for (name, c) in &self.channels {
            let key = |k: &str| format!("chat.channels.{name}.{k}");
            let problem = |k: &str, m: String| ConfigError {
                key: key(k),
                message: m,
            };
            if c.per_seconds == 0 {
                errors.push(problem("per_seconds", "must be at least 1".into()));
            }
            if c.max_messages == Some(0) {
                errors.push(problem("max_messages", "must be at least 1".into()));
            }
            let secret = match &c.secret_env {
                Some(var) => {
                    match lookup(var).filter(|v| !v.is_empty()) {
                        Some(v) => Some(SecretString::from(v)),
                        None => {
                            warnings.push(problem(
                            "secret_env",
                            format!("environment variable {var} is not set; messages are sent unsigned"),
                        ));
                            None
                        }
                    }
                }
                None => None,
            };
            let Some(url) = lookup(&c.url_env).filter(|v| !v.is_empty()) else {
                warnings.push(problem(
                    "url_env",
                    format!(
                        "environment variable {} is not set; messages to channel {name} will fail",
                        c.url_env
                    ),
                ));
                continue;
            };
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                errors.push(problem(
                    "url_env",
                    format!("{} must hold an http(s) URL", c.url_env),
                ));
                continue;
            }
            out.insert(
                name.clone(),
                ChannelSettings {
                    kind: c.kind,
                    url: SecretString::from(url),
                    secret,
                    keyword: c.keyword.clone(),
                    language: c.language,
                    max_messages: c.max_messages.unwrap_or(c.kind.default_limit()),
                    window: Duration::from_secs(c.per_seconds.max(1)),
                    people: self.people_of(c),
                },
            );
        }
        out
    }
}
