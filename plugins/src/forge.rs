//! The forge as plugins and the executor see it.
//!
//! Which error to use where: adapters (`src/forge/*`) classify every failure once into
//! [`ForgeError`]; the queue decides on retries from [`ForgeError::is_retryable`] and
//! [`ForgeError::retry_after`]; call sites never retry on their own.

use crate::event::{ItemRef, Login};
use async_trait::async_trait;
use std::time::{Duration, SystemTime};

/// A failure talking to the forge, classified so the queue retries exactly the retryable ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A primary or secondary rate limit; no call may be made before `reset`.
    #[error("rate limited until {reset:?}")]
    RateLimited { reset: SystemTime },
    /// A 5xx, a timeout or a broken connection; `retry_after` when the forge said how long.
    #[error("transient: {message}")]
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("{0}")]
    Permanent(String),
}

impl ForgeError {
    /// 5xx, timeouts and rate limits are worth another attempt; nothing else is.
    pub fn is_retryable(&self) -> bool {
        match self {
            ForgeError::RateLimited { .. } | ForgeError::Transient { .. } => true,
            ForgeError::NotFound(_)
            | ForgeError::Forbidden(_)
            | ForgeError::Conflict(_)
            | ForgeError::Invalid(_)
            | ForgeError::Permanent(_) => false,
        }
    }

    /// How long the forge asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ForgeError::RateLimited { reset } => {
                Some(reset.duration_since(SystemTime::now()).unwrap_or_default())
            }
            ForgeError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A comment on an item, as much as bosun needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotComment {
    pub id: u64,
    pub author: Login,
    pub body: String,
}

/// Read access for plugins: everything they may look at, nothing they may change.
#[async_trait]
pub trait ForgeRead: Send + Sync {
    /// The labels on a PR/issue now.
    async fn labels(&self, item: &ItemRef) -> Result<Vec<String>, ForgeError>;
    /// All comments on a PR/issue, oldest first.
    async fn comments(&self, item: &ItemRef) -> Result<Vec<BotComment>, ForgeError>;
    /// The account bosun acts as.
    async fn bot_login(&self) -> Result<Login, ForgeError>;
}

/// The writes, used only by the executor.
#[async_trait]
pub trait Forge: ForgeRead {
    /// Adds labels; labels already present are kept.
    async fn add_labels(&self, item: &ItemRef, labels: &[String]) -> Result<(), ForgeError>;
    /// Removes one label; an absent label is not an error.
    async fn remove_label(&self, item: &ItemRef, label: &str) -> Result<(), ForgeError>;
    /// Posts a comment and returns its id.
    async fn create_comment(&self, item: &ItemRef, body: &str) -> Result<u64, ForgeError>;
    /// Replaces the body of one of the bot's comments.
    async fn edit_comment(&self, item: &ItemRef, id: u64, body: &str) -> Result<(), ForgeError>;
}
