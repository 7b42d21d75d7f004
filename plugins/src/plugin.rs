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

/// Resource limits a plugin must respect, from the service's `[limits]` configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Most changed files of one pull request a plugin considers (size, OWNERS); a plugin
    /// reading `changed_files` looks at no more than this many.
    pub max_changed_files: usize,
}

impl Default for PluginLimits {
    /// The service's defaults, so tests and tools see the same limits as production.
    fn default() -> Self {
        PluginLimits {
            max_changed_files: 3000,
        }
    }
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
    /// Limits this plugin must respect (`[limits]` in the configuration).
    pub limits: PluginLimits,
}

/// `check_settings` for a plugin whose settings deserialize into `T`.
pub fn check_settings_as<T: serde::de::DeserializeOwned>(
    settings: &serde_json::Value,
) -> Result<(), String> {
    serde_json::from_value::<T>(settings.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
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
    /// Checks this plugin's settings for one scope at startup, so a bad value stops bosun
    /// instead of failing on the first event. Plugins without settings accept only none.
    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        if settings.as_object().is_some_and(|m| m.is_empty()) || settings.is_null() {
            Ok(())
        } else {
            Err(format!("{} has no settings", self.name()))
        }
    }
    /// Decides the actions for one event.
    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError>;
}
