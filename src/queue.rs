//! Workers: claim a delivery under lease, normalize it, let the enabled plugins decide, journal
//! the decision, apply it, and finish. Retryable failures go back to the queue with exponential
//! backoff and jitter, never sooner than the forge asked.

use crate::config::Settings;
use crate::executor::{Applied, ExecError, apply_action};
use crate::forge::Forges;
use crate::store::{
    ClaimedDelivery, FinalStatus, PlannedAction, PullRequestState, Store, StoreError,
};
use crate::webhook::{self, Normalized};
use bosun_plugins::{
    Action, Context, Event, Forge, ForgeError, ForgeKind, ForgeRead, ItemRef, ItemState, Login,
    Plugin, PluginError, RepoPath,
};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tracing::Instrument;

/// The longest a worker waits on one store call before treating the store as unavailable.
const STORE_DEADLINE: Duration = Duration::from_secs(10);

/// What every worker shares.
pub struct Engine {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub forges: Forges,
    pub plugins: Vec<Box<dyn Plugin>>,
    /// OWNERS loading, shared by every worker so a base SHA is loaded once.
    pub owners: Arc<bosun_plugins::owners::OwnersLoader>,
    /// The store as plugin history.
    pub history: Arc<dyn bosun_plugins::History>,
    /// Woken by the receiver when a delivery is committed.
    pub work_available: Arc<Notify>,
}

/// Why a delivery did not finish this time.
enum Outcome {
    Finished(FinalStatus, Option<String>),
    Retry {
        error: String,
        after: Option<Duration>,
    },
}

impl Engine {
    /// Runs one worker until `stop` turns true; the delivery in hand is given `grace` to finish
    /// and is released for another worker if it does not.
    pub async fn run_worker(
        self: Arc<Self>,
        worker_id: String,
        mut stop: watch::Receiver<bool>,
        grace: Duration,
    ) {
        let poll = Duration::from_millis(self.settings.queue.poll_interval_ms.max(10));
        let lease = Duration::from_secs(self.settings.queue.lease_seconds);
        let mut store_backoff = Duration::from_millis(100);
        loop {
            if *stop.borrow() {
                return;
            }
            let notified = self.work_available.notified();
            let claim = tokio::time::timeout(
                STORE_DEADLINE,
                self.store.claim_next_delivery(&worker_id, lease),
            );
            let claimed = claim
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("claim timed out".into())));
            match claimed {
                Ok(Some(delivery)) => {
                    store_backoff = Duration::from_millis(100);
                    let id = delivery.id;
                    let work = self.clone().process(delivery, worker_id.clone());
                    tokio::pin!(work);
                    tokio::select! {
                        _ = &mut work => {}
                        _ = stop.changed() => {
                            if tokio::time::timeout(grace, &mut work).await.is_err() {
                                tracing::warn!(delivery = id, "grace period over; releasing the delivery");
                                if let Err(e) = self.store.release_delivery(id, &worker_id).await {
                                    tracing::warn!(error = %e, "could not release; its lease will expire");
                                }
                            }
                            return;
                        }
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(poll) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim work");
                    tokio::select! {
                        _ = tokio::time::sleep(store_backoff) => {}
                        _ = stop.changed() => {}
                    }
                    store_backoff = (store_backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn process(self: Arc<Self>, delivery: ClaimedDelivery, worker_id: String) {
        let span = tracing::info_span!(
            "delivery",
            id = %delivery.delivery_id,
            forge = %delivery.forge,
            event = %delivery.event,
            repo = delivery.repo.as_deref().unwrap_or("-"),
            number = delivery.number.unwrap_or_default(),
            attempt = delivery.attempts,
        );
        async {
            let started = std::time::Instant::now();
            let outcome = match self.decide_and_apply(&delivery).await {
                Ok(o) => o,
                Err(e) if e.is_unavailable() => Outcome::Retry { error: e.to_string(), after: None },
                Err(e) => Outcome::Finished(FinalStatus::Failed, Some(e.to_string())),
            };
            let forge = delivery.forge.as_str();
            let result = match outcome {
                Outcome::Finished(status, note) => {
                    let latency = (chrono::Utc::now() - delivery.received_at).num_milliseconds().max(0) as f64 / 1000.0;
                    metrics::histogram!("bosun_processing_latency_seconds", "forge" => forge).record(latency);
                    metrics::counter!("bosun_deliveries_total", "forge" => forge, "event" => delivery.event.clone(), "status" => status_name(status)).increment(1);
                    tracing::info!(status = status_name(status), note = note.as_deref().unwrap_or(""), "delivery finished");
                    self.store.finish_delivery(delivery.id, &worker_id, status, note.as_deref()).await
                }
                Outcome::Retry { error, .. } if delivery.attempts >= self.settings.queue.max_attempts => {
                    metrics::counter!("bosun_deliveries_total", "forge" => forge, "event" => delivery.event.clone(), "status" => "failed").increment(1);
                    tracing::warn!(%error, "delivery failed after its last attempt");
                    let note = format!("gave up after {} attempts: {error}", delivery.attempts);
                    self.store.finish_delivery(delivery.id, &worker_id, FinalStatus::Failed, Some(&note)).await
                }
                Outcome::Retry { error, after } => {
                    let delay = self.backoff(delivery.attempts, after);
                    tracing::info!(%error, delay_ms = delay.as_millis() as u64, "will retry");
                    self.store.retry_delivery(delivery.id, &worker_id, &error, delay).await
                }
            };
            metrics::histogram!("bosun_worker_seconds").record(started.elapsed().as_secs_f64());
            match result {
                Ok(true) => {}
                Ok(false) => tracing::warn!("lease lost before the delivery finished; another worker has it"),
                Err(e) => tracing::warn!(error = %e, "could not record the outcome; the lease will expire and it runs again"),
            }
        }
        .instrument(span)
        .await
    }

    /// Exponential backoff with jitter (50–100 % of the step), never less than the forge's hint.
    fn backoff(&self, attempts: i32, hint: Option<Duration>) -> Duration {
        let q = &self.settings.queue;
        let exp = 2u64.saturating_pow(attempts.saturating_sub(1).clamp(0, 30) as u32);
        let step = Duration::from_millis(q.backoff_base_ms.saturating_mul(exp))
            .min(Duration::from_secs(q.backoff_max_seconds));
        let jittered = step.mul_f64(rand::rng().random_range(0.5..=1.0));
        hint.map_or(jittered, |h| jittered.max(h))
    }

    async fn decide_and_apply(&self, delivery: &ClaimedDelivery) -> Result<Outcome, StoreError> {
        let normalized = match delivery.forge {
            ForgeKind::GitHub => webhook::github::normalize(&delivery.event, &delivery.payload),
            ForgeKind::GitLab => webhook::gitlab::normalize(&delivery.event, &delivery.payload),
        };
        let events = match normalized {
            Ok(Normalized::Events(events)) => events,
            Ok(Normalized::Ignored(reason)) => {
                return Ok(Outcome::Finished(FinalStatus::Ignored, Some(reason)));
            }
            Err(e) => return Ok(Outcome::Finished(FinalStatus::Failed, Some(e.to_string()))),
        };
        let Some(forge) = self.forges.get(delivery.forge).cloned() else {
            return Ok(Outcome::Finished(
                FinalStatus::Failed,
                Some(format!("{} is not configured", delivery.forge)),
            ));
        };
        let mut problems = Vec::new();
        if !delivery.decided {
            match self.decide(&events, forge.as_ref()).await {
                Ok((planned, plugin_errors)) => {
                    problems.extend(plugin_errors);
                    self.store.record_decision(delivery.id, &planned).await?;
                }
                Err(e) => {
                    return Ok(Outcome::Retry {
                        after: e.retry_after(),
                        error: e.to_string(),
                    });
                }
            }
        }
        let repo = events.first().and_then(Event::repo).cloned();
        let dry_run = self.settings.is_dry_run(delivery.forge, repo.as_ref());
        let actions = self.store.delivery_actions(delivery.id).await?;
        for stored in actions.iter().filter(|a| {
            matches!(
                a.outcome,
                crate::store::ActionOutcome::Pending | crate::store::ActionOutcome::Applying
            )
        }) {
            match apply_action(self.store.as_ref(), forge.as_ref(), stored, dry_run).await {
                Ok(Applied::Done { .. }) => {}
                Ok(Applied::Failed(e)) => {
                    problems.push(format!("{} {}: {e}", stored.plugin, stored.kind))
                }
                Err(ExecError::Forge(e)) => {
                    return Ok(Outcome::Retry {
                        after: e.retry_after(),
                        error: e.to_string(),
                    });
                }
                Err(ExecError::Store(e)) => return Err(e),
            }
        }
        self.remember_pull_requests(&events, &actions, dry_run)
            .await?;
        if problems.is_empty() {
            Ok(Outcome::Finished(FinalStatus::Done, None))
        } else {
            Ok(Outcome::Finished(
                FinalStatus::Failed,
                Some(problems.join("; ")),
            ))
        }
    }

    /// Runs every enabled plugin on every event. A retryable read failure retries the whole
    /// delivery (nothing was written yet); a permanent plugin failure is reported and the other
    /// plugins' actions still go ahead.
    async fn decide(
        &self,
        events: &[Event],
        live: &dyn Forge,
    ) -> Result<(Vec<PlannedAction>, Vec<String>), ForgeError> {
        let mut planned = Vec::new();
        let mut problems = Vec::new();
        let has_token = events
            .first()
            .and_then(|e| self.settings.forge(e.forge()))
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
            let enabled = self.settings.plugins.enabled_for(repo);
            for plugin in self
                .plugins
                .iter()
                .filter(|p| enabled.iter().any(|e| e == p.name()))
            {
                let settings = self.settings.plugins.settings_for(plugin.name(), repo);
                let cx = Context {
                    forge,
                    settings: &settings,
                    bot: &bot,
                    bot_accounts: &self.settings.bot_accounts,
                    help_url: &self.settings.help_url,
                    owners: &self.owners,
                    history: self.history.as_ref(),
                    limits: self.settings.limits.for_plugins(),
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
        Ok((planned, problems))
    }

    /// Comments by bosun itself, by configured bot accounts, or by accounts the forge marks as
    /// machines (GitHub Apps' `name[bot]`, GitLab's access-token bots) are never acted on.
    fn is_from_a_bot(&self, event: &Event, bot: &Login) -> bool {
        let Event::Comment(c) = event else {
            return false;
        };
        let author = Login::new(c.author.without_bot_suffix());
        author == Login::new(bot.without_bot_suffix())
            || is_machine_account(c.item.reference.forge, &c.author)
            || self
                .settings
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
        let limits = &self.settings.limits;
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

    /// Keeps `pull_requests` current: state and head from the event, labels as the event saw
    /// them with this delivery's applied label actions folded in.
    async fn remember_pull_requests(
        &self,
        events: &[Event],
        before: &[crate::store::StoredAction],
        dry_run: bool,
    ) -> Result<(), StoreError> {
        let Some(item) = events.iter().find_map(Event::item).filter(|i| i.is_pr()) else {
            return Ok(());
        };
        let head_sha = events.iter().find_map(|e| match e {
            Event::PullRequest(p) if !p.head_sha.is_empty() => Some(p.head_sha.clone()),
            _ => None,
        });
        let mut labels = item.labels.clone();
        let mut lgtm = None;
        let mut approvals = None;
        let commenter = events.iter().find_map(|e| match e {
            Event::Comment(c) => Some(c.author.to_string()),
            _ => None,
        });
        if !dry_run {
            for stored in before {
                match &stored.action {
                    Action::AddLabel { label, .. }
                        if !labels.iter().any(|l| l.eq_ignore_ascii_case(label)) =>
                    {
                        labels.push(label.clone())
                    }
                    Action::RemoveLabel { label, .. } => {
                        labels.retain(|l| !l.eq_ignore_ascii_case(label))
                    }
                    Action::UpsertBotComment { marker, body, .. }
                        if marker == bosun_plugins::approve::NOTIFIER_MARKER =>
                    {
                        approvals = Some(bosun_plugins::approve::approvals_in_notice(body));
                    }
                    _ => {}
                }
                if stored.plugin == "lgtm" {
                    match &stored.action {
                        Action::AddLabel { label, .. } if label == bosun_plugins::lgtm::LABEL => {
                            lgtm = Some(commenter.clone().into_iter().collect());
                        }
                        Action::RemoveLabel { label, .. }
                            if label == bosun_plugins::lgtm::LABEL =>
                        {
                            lgtm = Some(Vec::new());
                        }
                        _ => {}
                    }
                }
            }
        }
        let state = match item.state {
            ItemState::Open => "open",
            ItemState::Closed => "closed",
            ItemState::Merged => "merged",
        };
        self.store
            .upsert_pull_request(&PullRequestState {
                forge: item.reference.forge,
                repo: item.reference.repo.to_string(),
                number: item.reference.number as i64,
                state: state.into(),
                head_sha,
                labels,
                lgtm,
                approvals,
            })
            .await
    }
}

/// Without a token bosun cannot read the forge (dry-run out of the box): plugins then decide
/// from what the webhook itself carried.
struct WebhookSnapshot {
    labels: Vec<String>,
}

fn tokenless(what: &str) -> ForgeError {
    ForgeError::Permanent(format!(
        "no API token configured, so {what} cannot be read (dry-run decides from the webhook alone)"
    ))
}

#[async_trait::async_trait]
impl ForgeRead for WebhookSnapshot {
    async fn labels(&self, _item: &ItemRef) -> Result<Vec<String>, ForgeError> {
        Ok(self.labels.clone())
    }
    async fn comments(
        &self,
        _item: &ItemRef,
    ) -> Result<Vec<bosun_plugins::BotComment>, ForgeError> {
        Ok(Vec::new())
    }
    async fn reviews(&self, _item: &ItemRef) -> Result<Vec<bosun_plugins::Review>, ForgeError> {
        Err(tokenless("the reviews"))
    }
    async fn bot_login(&self) -> Result<Login, ForgeError> {
        Ok(Login::new("bosun"))
    }
    async fn pull_request(
        &self,
        _item: &ItemRef,
    ) -> Result<bosun_plugins::PullRequestInfo, ForgeError> {
        Err(tokenless("the pull request"))
    }
    async fn changed_files(
        &self,
        _item: &ItemRef,
    ) -> Result<Vec<bosun_plugins::ChangedFile>, ForgeError> {
        Err(tokenless("the changed files"))
    }
    async fn file_content(
        &self,
        _repo: &RepoPath,
        _path: &str,
        _git_ref: &str,
    ) -> Result<Option<Vec<u8>>, ForgeError> {
        Err(tokenless("a file"))
    }
    async fn tree(
        &self,
        _repo: &RepoPath,
        _git_ref: &str,
    ) -> Result<bosun_plugins::Tree, ForgeError> {
        Err(tokenless("the tree"))
    }
    async fn commit_tree_sha(&self, _repo: &RepoPath, _sha: &str) -> Result<String, ForgeError> {
        Err(tokenless("a commit"))
    }
    async fn repo_labels(&self, _repo: &RepoPath) -> Result<Vec<String>, ForgeError> {
        Err(tokenless("the repository's labels"))
    }
    async fn is_collaborator(&self, _repo: &RepoPath, _user: &Login) -> Result<bool, ForgeError> {
        Err(tokenless("collaborators"))
    }
    async fn is_org_member(&self, _org: &str, _user: &Login) -> Result<bool, ForgeError> {
        Err(tokenless("org membership"))
    }
    async fn is_team_member(
        &self,
        _org: &str,
        _team: &str,
        _user: &Login,
    ) -> Result<bool, ForgeError> {
        Err(tokenless("team membership"))
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

fn status_name(s: FinalStatus) -> &'static str {
    match s {
        FinalStatus::Done => "done",
        FinalStatus::Ignored => "ignored",
        FinalStatus::Failed => "failed",
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
