//! The plugin trait and what a plugin gets to decide with.

use crate::action::Action;
use crate::event::{Event, ForgeKind, Login};
use crate::forge::{ForgeError, ForgeRead};
use async_trait::async_trait;
use serde::Serialize;

/// Help for one command, the single source for `/help` replies and the command-help page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandHelp {
    pub usage: &'static str,
    pub description: &'static str,
    pub examples: Vec<&'static str>,
    pub who_can_use: &'static str,
    pub forges: Vec<ForgeKind>,
}

/// What a plugin does, for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginHelp {
    pub description: &'static str,
    pub commands: Vec<CommandHelp>,
}

/// Why a plugin could not decide.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// A read failed; retryable forge errors make the delivery retry.
    #[error(transparent)]
    Forge(#[from] ForgeError),
    /// The plugin's settings for this repo do not make sense.
    #[error("bad configuration: {0}")]
    Config(String),
}

/// Everything a plugin may consult while deciding.
pub struct Context<'a> {
    /// Read-only forge access.
    pub forge: &'a dyn ForgeRead,
    /// This plugin's settings for the event's repo (the repo entry winning over the org's), or
    /// `Null` when none are configured.
    pub settings: &'a serde_json::Value,
    /// The account bosun acts as; its own comments are never acted on.
    pub bot: &'a Login,
    /// bosun's command-help page, linked from every reply's footer.
    pub help_url: &'a str,
}

impl Context<'_> {
    /// The plugin's settings as its own typed struct; missing settings give the defaults.
    pub fn settings<T: serde::de::DeserializeOwned + Default>(&self) -> Result<T, PluginError> {
        if self.settings.is_null() {
            return Ok(T::default());
        }
        serde_json::from_value(self.settings.clone())
            .map_err(|e| PluginError::Config(e.to_string()))
    }
}

/// A plugin: reads, then decides; it never writes.
#[async_trait]
pub trait Plugin: Send + Sync {
    /// The name used in configuration (`[plugins.<name>]`) and in the audit log.
    fn name(&self) -> &'static str;
    /// Help for people, shown by `/help` and the command-help page.
    fn help(&self) -> PluginHelp;
    /// Decides the actions for one event.
    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError>;
}
