//! From a forge's webhook payload to bosun's normalized [`Event`]s.
//!
//! No octocrab or gitlab type gets past this module: the normalizers read our own narrow serde
//! structs, which is several times faster than full payload models and survives fields the
//! forges add later.

pub mod drone;
pub mod github;
pub mod github_ci;
pub mod gitlab;
pub mod gitlab_ci;

use bosun_plugins::Event;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The result of normalizing one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    /// Events for plugins; a PR opened yields the PR event and its description's comment event.
    Events(Vec<Event>),
    /// A delivery bosun has no use for, with the reason recorded on the delivery.
    Ignored(String),
}

/// The event names of the deliveries that do not come through `POST /hook`: Drone's build hook
/// and chat commands (each checked by its own receiver), resyncs and failure notices (bosun's
/// own). The dispatcher trusts a delivery of one of these names as what the name says, so a
/// forge's webhook may never carry one: the receiver refuses them.
pub const NOT_FROM_FORGE_HOOKS: [&str; 4] = [
    drone::EVENT,
    crate::chat::command::EVENT,
    crate::resync::EVENT,
    crate::queue::FAILED_EVENT,
];

/// Reads any journaled delivery as the dispatcher does: a forge's webhook by its event header,
/// Drone's build webhook, bosun's own notice that it gave up on a delivery, and a command from
/// chat (which becomes events only once its user is resolved, so here it is described instead).
pub fn normalize(
    forge: bosun_plugins::ForgeKind,
    event: &str,
    payload: &[u8],
) -> Result<Normalized, NormalizeError> {
    use bosun_plugins::ForgeKind;
    match (forge, event) {
        (forge, drone::EVENT) => drone::normalize(forge, payload),
        (_, crate::resync::EVENT) => crate::resync::normalize(payload),
        (_, crate::queue::FAILED_EVENT) => Ok(Normalized::Events(vec![Event::DeliveryFailed(
            parse(event, payload)?,
        )])),
        (_, crate::chat::command::EVENT) => {
            let cmd: crate::chat::command::ChatCommand = parse(event, payload)?;
            Ok(Normalized::Ignored(format!(
                "a command from {} by {} ({}): {}",
                cmd.platform,
                clip(&cmd.user_name),
                clip(&cmd.user),
                clip(&cmd.text)
            )))
        }
        (ForgeKind::GitHub, event) => github::normalize(event, payload),
        (ForgeKind::GitLab, event) => gitlab::normalize(event, payload),
    }
}

/// A payload that claims to be a handled event but does not have the shape of one.
#[derive(Debug, thiserror::Error)]
#[error("malformed {event} payload: {reason}")]
pub struct NormalizeError {
    pub event: String,
    pub reason: String,
}

// Helpers both normalizers share.

pub(super) fn parse<T: DeserializeOwned>(ev: &str, body: &[u8]) -> Result<T, NormalizeError> {
    serde_json::from_slice(body).map_err(|e| malformed(ev, json_reason(&e)))
}

/// Describes a serde error by its kind and position only: serde's messages can quote payload
/// values, and a payload never reaches the logs.
pub(crate) fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let kind = match e.classify() {
        Category::Io => "unreadable body",
        Category::Syntax => "invalid JSON",
        Category::Eof => "truncated JSON",
        Category::Data => "unexpected JSON shape",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// Treats an explicit `null` like a missing field, which GitHub sends for empty lists in some
/// eras.
pub(super) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

pub(super) fn need<T>(value: Option<T>, ev: &str, what: &str) -> Result<T, NormalizeError> {
    value.ok_or_else(|| malformed(ev, format!("missing {what}")))
}

pub(super) fn malformed(ev: &str, reason: impl Into<String>) -> NormalizeError {
    NormalizeError {
        event: ev.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn ignored_action(ev: &str, action: &str) -> Normalized {
    Normalized::Ignored(format!("{ev} action {:?} is not handled", clip(action)))
}

/// Bounds what a header or action value can put into a recorded reason.
pub(super) fn clip(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
