//! From a forge's webhook payload to bosun's normalized [`Event`]s.
//!
//! No octocrab or gitlab type gets past this module: the normalizers read our own narrow serde
//! structs, which is several times faster than full payload models and survives fields the
//! forges add later.

pub mod github;
pub mod gitlab;

use bosun_plugins::Event;

/// The result of normalizing one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalized {
    /// Events for plugins; a PR opened yields the PR event and its description's comment event.
    Events(Vec<Event>),
    /// A delivery bosun has no use for, with the reason recorded on the delivery.
    Ignored(String),
}

/// A payload that claims to be a handled event but does not have the shape of one.
#[derive(Debug, thiserror::Error)]
#[error("malformed {event} payload: {reason}")]
pub struct NormalizeError {
    pub event: String,
    pub reason: String,
}
