//! The plugin trait and what a plugin gets to decide with.

use crate::action::Action;
use crate::event::{Event, ForgeKind, Login, RepoPath};
use crate::forge::{ForgeError, ForgeRead};
use crate::owners::OwnersLoader;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// Other bot accounts (config `bot_accounts`): their comments never count, not even when a
    /// plugin replays a PR's history.
    pub bot_accounts: &'a [String],
    /// bosun's command-help page, linked from every reply's footer.
    pub help_url: &'a str,
    /// OWNERS for changes, loaded through `forge` and cached across events.
    pub owners: &'a OwnersLoader,
    /// What bosun remembers from earlier deliveries.
    pub history: &'a dyn History,
    /// Limits this plugin must respect (`[limits]` in the configuration).
    pub limits: PluginLimits,
    /// The language of each configured chat channel (`[chat.channels.<name>] language`), so
    /// notices are written in their channel's language unless a route says otherwise.
    pub channel_languages: &'a BTreeMap<String, crate::notify::Language>,
}

/// What bosun remembers that the forge does not tell, for plugins that weigh it.
#[async_trait]
pub trait History: Send + Sync {
    /// Review requests bosun made on still-open PRs of a repository, per normalized login.
    async fn open_review_requests(
        &self,
        forge: ForgeKind,
        repo: &RepoPath,
    ) -> BTreeMap<String, usize>;

    /// The latest state of every CI context bosun heard about on a commit (none by default).
    async fn ci_contexts(&self, _forge: ForgeKind, _repo: &RepoPath, _sha: &str) -> Vec<CiContext> {
        Vec::new()
    }

    /// The facts bosun keeps about a PR (the newest of each key; none by default).
    async fn facts(&self, _item: &crate::ItemRef) -> Vec<crate::Fact> {
        Vec::new()
    }

    /// How a CI context last finished (success, failure, error, cancelled; never pending)
    /// before this event: on the commit `sha` when it finished there, otherwise on the PR's
    /// most recent other head (`number`). Tells a recovery from a pass. None by default.
    async fn last_ci_outcome(
        &self,
        _forge: ForgeKind,
        _repo: &RepoPath,
        _number: Option<u64>,
        _sha: &str,
        _context: &str,
    ) -> Option<crate::event::CiState> {
        None
    }
}

/// One CI context on a commit, as bosun last heard of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CiContext {
    pub context: String,
    pub system: crate::event::CiSystem,
    pub state: crate::event::CiState,
    pub url: Option<String>,
    /// What a re-run acts on (a workflow run, a pipeline, a Drone build number).
    pub run_id: Option<String>,
}

/// No memory at all (tokenless dry-run, tools).
pub struct NoHistory;

#[async_trait]
impl History for NoHistory {
    async fn open_review_requests(
        &self,
        _forge: ForgeKind,
        _repo: &RepoPath,
    ) -> BTreeMap<String, usize> {
        BTreeMap::new()
    }
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
    /// The PR's changed files, at most `limits.max_changed_files` of them; `true` when the
    /// list was cut (a plugin that must see every file, like approve, then decides nothing
    /// it could get wrong).
    pub async fn changed_files(
        &self,
        item: &crate::event::ItemRef,
    ) -> Result<(Vec<crate::forge::ChangedFile>, bool), ForgeError> {
        let mut files = self.forge.changed_files(item).await?;
        let cut = files.len() > self.limits.max_changed_files;
        files.truncate(self.limits.max_changed_files);
        Ok((files, cut))
    }

    /// bosun itself, a configured bot account, or a GitHub App (`…[bot]`).
    pub fn is_bot(&self, login: &Login) -> bool {
        let name = login.without_bot_suffix();
        name.eq_ignore_ascii_case(self.bot.without_bot_suffix())
            || login.as_str().ends_with("[bot]")
            || self
                .bot_accounts
                .iter()
                .any(|b| b.eq_ignore_ascii_case(login.as_str()) || b.eq_ignore_ascii_case(name))
    }

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
    /// Whose settings this plugin reads: its own by default; a plugin that shares another's
    /// (skip reads trigger's `optional`) names that one, so one list serves both.
    fn settings_from(&self) -> &'static str {
        self.name()
    }
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
    /// Settings Prow accepts but that deserve a word (they work, though perhaps not as the
    /// writer meant): printed by `check-config` and logged at start. Default none.
    fn settings_warnings(&self, _settings: &serde_json::Value) -> Vec<String> {
        Vec::new()
    }
    /// Decides the actions for one event.
    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError>;
}
