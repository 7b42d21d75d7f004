//! Deciding: which plugins see which event, the [`Context`] they decide with, and collecting
//! what they return. Nothing here writes; the journal and the executor carry the decision out.

use super::Dispatcher;
use super::snapshot::WebhookSnapshot;
use crate::config::Settings;
use crate::repo_config::{CHECK_PLUGIN, Central, RepoFile, check_pull_request};
use crate::store::PlannedAction;
use bosun_plugins::{Context, Event, Forge, ForgeError, ForgeKind, ForgeRead, Login, PluginError};

/// What the plugins decided about one delivery.
pub(super) struct Decision {
    /// Their actions, numbered per plugin.
    pub(super) planned: Vec<PlannedAction>,
    /// Plugins that failed for good (the others' actions still go ahead).
    pub(super) problems: Vec<String>,
    /// What people should know though nothing failed (a repository's file was ignored).
    pub(super) notes: Vec<String>,
}

impl Dispatcher {
    /// Runs every enabled plugin on every event. A retryable read failure retries the whole
    /// delivery (nothing was written yet); a permanent plugin failure is reported and the other
    /// plugins' actions still go ahead.
    pub(super) async fn decide(
        &self,
        events: &[Event],
        live: &dyn Forge,
    ) -> Result<Decision, ForgeError> {
        let mut planned = Vec::new();
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let settings = self.settings();

        let has_token = events
            .first()
            .and_then(|e| settings.forge(e.forge()))
            .is_some_and(|f| f.has_credentials());
        let snapshot = events
            .iter()
            .find_map(Event::item)
            .map(|i| WebhookSnapshot {
                labels: i.labels.clone(),
            });
        let uncached: &dyn ForgeRead = match (&snapshot, has_token) {
            (Some(snapshot), false) => snapshot,
            _ => live,
        };
        let cached = bosun_plugins::permissions::CachedForgeRead::new(uncached);
        let forge: &dyn ForgeRead = &cached;
        let bot = match forge.bot_login().await {
            Ok(login) => login,
            Err(e) if e.is_retryable() => return Err(e),
            Err(_) => Login::new(""),
        };
        for event in events {
            if self.is_from_a_bot(event, &bot) {
                continue;
            }
            let Some(limited) = self.within_limits(event) else {
                continue;
            };
            let event = limited.as_ref();
            let Some(repo) = event.repo() else { continue };
            let overlay = match self.repo_file(&settings, forge, event, repo).await? {
                RepoFile::Valid(overlay) => Some(overlay),
                RepoFile::Invalid(errors) => {
                    notes.push(format!(
                        "{} on the default branch has {} problem(s) and is ignored: {}",
                        settings.repo_config.file,
                        errors.len(),
                        errors.first().map(ToString::to_string).unwrap_or_default()
                    ));
                    None
                }
                RepoFile::Missing => None,
            };
            if let (Event::PullRequest(pr), true) = (event, settings.repo_config.enabled) {
                let actions = check_pull_request(
                    pr,
                    forge,
                    &self.central(&settings),
                    &self.plugins,
                    &settings.help_url,
                )
                .await?;
                planned.extend(
                    actions
                        .into_iter()
                        .enumerate()
                        .map(|(i, action)| PlannedAction {
                            plugin: CHECK_PLUGIN.to_string(),
                            seq: i as i32,
                            action,
                        }),
                );
            }
            let central_enabled = settings.plugins.enabled_for(repo);
            let enabled = match &overlay {
                Some(o) => o.enabled(central_enabled),
                None => central_enabled,
            };

            for plugin in self
                .plugins
                .iter()
                .filter(|p| enabled.iter().any(|e| e == p.name()))
            {
                let central = settings.plugins.settings_for(plugin.settings_from(), repo);
                let plugin_settings = match &overlay {
                    Some(o) => o.settings_for(plugin.settings_from(), central),
                    None => central,
                };
                let cx = Context {
                    forge,
                    settings: &plugin_settings,
                    bot: &bot,
                    bot_accounts: &settings.bot_accounts,
                    help_url: &settings.help_url,
                    owners: &self.owners,
                    history: self.history.as_ref(),
                    limits: settings.limits.for_plugins(),
                    channel_languages: &settings.chat.languages,
                };
                match plugin.handle(event, &cx).await {
                    Ok(actions) => {
                        let seq_base = planned
                            .iter()
                            .filter(|p: &&PlannedAction| p.plugin == plugin.name())
                            .count() as i32;
                        planned.extend(actions.into_iter().enumerate().map(|(i, action)| {
                            PlannedAction {
                                plugin: plugin.name().to_string(),
                                seq: seq_base + i as i32,
                                action,
                            }
                        }));
                    }
                    Err(PluginError::Forge(e)) if e.is_retryable() => return Err(e),
                    Err(e) => problems.push(format!("plugin {}: {e}", plugin.name())),
                }
            }
        }
        Ok(Decision {
            planned,
            problems,
            notes,
        })
    }

    /// What reading repositories' files needs from the settings in force.
    fn central<'s>(&self, settings: &'s Settings) -> Central<'s> {
        Central {
            policy: &settings.repo_config,
            plugins: &settings.plugins,
            generation: self.live.generation(),
        }
    }

    /// The repository's own file, when the central configuration reads them; a push to the
    /// default branch that may have changed it is seen first, so this event reads the new one.
    async fn repo_file(
        &self,
        settings: &Settings,
        forge: &dyn ForgeRead,
        event: &Event,
        repo: &bosun_plugins::RepoPath,
    ) -> Result<RepoFile, ForgeError> {
        if !settings.repo_config.enabled {
            return Ok(RepoFile::Missing);
        }
        if let Event::Push(push) = event {
            self.repo_configs.saw_push(push, &settings.repo_config.file);
        }
        self.repo_configs
            .for_repo(
                forge,
                event.forge(),
                repo,
                &self.central(settings),
                &self.plugins,
            )
            .await
    }

    /// Comments by bosun itself, by configured bot accounts, or by accounts the forge marks as
    /// machines (GitHub Apps' `name[bot]`, GitLab's access-token bots) are never acted on.
    pub(super) fn is_from_a_bot(&self, event: &Event, bot: &Login) -> bool {
        let Event::Comment(c) = event else {
            return false;
        };
        let author = Login::new(c.author.without_bot_suffix());
        author == Login::new(bot.without_bot_suffix())
            || is_machine_account(c.item.reference.forge, &c.author)
            || self
                .settings()
                .bot_accounts
                .iter()
                .any(|b| Login::new(b) == c.author || Login::new(b) == author)
    }

    /// The event as plugins may see it under `[limits]`: `None` for a comment too long to read
    /// for commands; a comment with more command lines than allowed is cut after the last one
    /// that counts.
    fn within_limits<'e>(&self, event: &'e Event) -> Option<std::borrow::Cow<'e, Event>> {
        use std::borrow::Cow;
        let Event::Comment(c) = event else {
            return Some(Cow::Borrowed(event));
        };
        let limits = &self.settings().limits;
        let previous_len = match &c.action {
            bosun_plugins::CommentAction::Edited {
                previous_body: Some(p),
            } => p.len(),
            _ => 0,
        };
        if c.body.len().max(previous_len) > limits.max_comment_bytes {
            tracing::info!(
                bytes = c.body.len().max(previous_len),
                limit = limits.max_comment_bytes,
                "comment longer than limits.max_comment_bytes; not read for commands"
            );
            return None;
        }
        let kept = bosun_plugins::command::first_commands(&c.body, limits.max_commands_per_comment);
        if kept.len() == c.body.len() {
            return Some(Cow::Borrowed(event));
        }
        tracing::info!(
            limit = limits.max_commands_per_comment,
            "comment has more commands than limits.max_commands_per_comment; the rest are not read"
        );
        let mut cut = c.clone();
        cut.body = kept.to_string();
        Some(Cow::Owned(Event::Comment(cut)))
    }
}

/// Accounts the forge itself marks as machines: GitHub App accounts (`name[bot]`; a person's
/// login cannot hold brackets) and GitLab's project and group access-token users
/// (`project_<id>_bot…`, `group_<id>_bot…`).
fn is_machine_account(forge: ForgeKind, login: &Login) -> bool {
    let name = login.as_str();
    match forge {
        ForgeKind::GitHub => name.to_ascii_lowercase().ends_with("[bot]"),
        ForgeKind::GitLab => ["project_", "group_"].iter().any(|prefix| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                digits > 0
                    && rest[digits..]
                        .strip_prefix("_bot")
                        .is_some_and(|tail| tail.is_empty() || tail.starts_with('_'))
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_accounts_are_recognised_per_forge() {
        let gh = |l: &str| is_machine_account(ForgeKind::GitHub, &Login::new(l));
        let gl = |l: &str| is_machine_account(ForgeKind::GitLab, &Login::new(l));
        assert!(gh("dependabot[bot]"));
        assert!(gh("Renovate[BOT]"));
        assert!(!gh("alice"));
        assert!(!gh("bot"));
        assert!(gl("project_278964_bot_2f4c1d9e"));
        assert!(gl("project_7_bot"));
        assert!(gl("group_9_bot_abc"));
        assert!(!gl("project_bot"));
        assert!(!gl("project_12_botany"));
        assert!(!gl("alice"));
    }
}
