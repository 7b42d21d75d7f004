//! Carries out journaled actions on their targets, exactly once in effect.
//!
//! Every action has a destination ([`Action::destination`]): the forge, bosun's own store, or a
//! chat channel. Each destination is a [`Target`] with its own client, its own error
//! classification and its own "was this already done?" check; the journal around them is the
//! same for all. An action is marked `applying` before its target is called and `applied`
//! after. The first action's `applying` is written with the decision, and outcomes ride on
//! the next write the worker makes anyway (the next action's `applying`, or the delivery's
//! finish: [`Settlement`]). A decision whose every action [`repeats_safely`] is journaled
//! with the attempt's end instead, outcomes and all: nothing is written before its calls. An action found `applying` (the process died mid-call, or the call failed in a way
//! that may have taken effect) is applied again with `maybe_done` set, and the target checks
//! first where it can tell (see each target's docs, and the README's "Effects" section for the
//! targets that cannot). A retryable error leaves the action `applying` for the next attempt;
//! a permanent one marks it `failed`. In dry-run nothing is called: the action is recorded as
//! `dry-run`.
//!
//! `forge_calls` counts calls on the target's client (trait methods, not HTTP requests).

mod chat;
mod forge;
mod merge_queue;
mod record;
mod reply;
mod requeue;

pub use chat::{ChannelTarget, message_key};
pub use forge::ForgeTarget;
pub use merge_queue::LEASE_TTL;
pub use record::RecordTarget;
pub use reply::ReplyTarget;
pub use requeue::RequeueTarget;

use crate::forge::Forges;
use crate::store::{
    ActionOutcome, HeldFact, OutcomeMark, Settlement, Store, StoreError, StoredAction,
};
use async_trait::async_trait;
use bosun_plugins::{Action, Destination, ForgeError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// What became of one action.
pub enum Applied {
    /// Done (or found done); with the number of client calls made.
    Done { forge_calls: i32 },
    /// The target refused for good; the action is marked failed.
    Failed(ForgeError),
}

/// Why a target could not apply an action.
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// The target system's API answered with an error, classified as a forge's are
    /// (5xx, timeouts and rate limits retry; everything else is final).
    #[error(transparent)]
    Api(#[from] ForgeError),
    /// bosun's own store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A merge that must be up to date found its base moved when its turn came.
    #[error("the base branch moved")]
    BaseMoved,
}

/// A system actions take effect on.
#[async_trait]
pub trait Target: Send + Sync {
    /// Applies the action. `maybe_done`: an earlier attempt may already have taken effect, so
    /// check first where this system can tell. `calls` counts the client calls made.
    async fn apply(
        &self,
        stored: &StoredAction,
        maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError>;
}

/// Every target this bosun can apply actions to, looked up by an action's destination.
pub struct Targets {
    github: Option<ForgeTarget>,
    gitlab: Option<ForgeTarget>,
    record: RecordTarget,
    chat: ChannelTarget,
    reply: ReplyTarget,
    drone: Option<crate::ci::drone::DroneTarget>,
    requeue: RequeueTarget,
    forges: Forges,
    store: Arc<dyn Store>,
    /// The queue workers' wake-up, for deliveries an action queues.
    work: Arc<Notify>,
}

impl Targets {
    /// The configured forges, the store (for facts and the chat outbox), the names of the
    /// configured chat channels and the chat sender's wake-up.
    pub fn new(
        forges: &Forges,
        store: Arc<dyn Store>,
        channels: BTreeSet<String>,
        wake: Arc<Notify>,
    ) -> Self {
        let forge = |kind| forges.get(kind).cloned().map(ForgeTarget::new);
        let work = Arc::new(Notify::new());
        Targets {
            github: forge(bosun_plugins::ForgeKind::GitHub),
            gitlab: forge(bosun_plugins::ForgeKind::GitLab),
            record: RecordTarget::new(store.clone()),
            chat: ChannelTarget::new(store.clone(), channels, wake),
            reply: ReplyTarget::default(),
            drone: None,
            requeue: RequeueTarget::new(forges.clone(), store.clone(), work.clone(), 100),
            forges: forges.clone(),
            store,
            work,
        }
    }

    /// Wakes the queue's workers (`work`) when an action queues deliveries, and bounds how many
    /// PRs a branch that moved has looked at again (`[merge] recheck_limit`).
    pub fn with_queue(mut self, work: Arc<Notify>, recheck_limit: usize) -> Self {
        self.requeue = RequeueTarget::new(
            self.forges.clone(),
            self.store.clone(),
            work.clone(),
            recheck_limit,
        );
        self.work = work;
        self
    }

    /// The adapter of a configured forge.
    pub fn forge(&self, kind: bosun_plugins::ForgeKind) -> Option<&Arc<dyn bosun_plugins::Forge>> {
        self.forges.get(kind)
    }

    /// Wakes the queue's workers: a delivery was queued.
    pub fn wake_workers(&self) {
        self.work.notify_waiters();
    }

    /// Lets chat replies answer Slack app mentions as the app, when its bot token is set.
    pub fn with_slack_bot(mut self, bot: Option<crate::chat::config::SlackBot>) -> Self {
        self.reply = std::mem::take(&mut self.reply).with_slack_bot(bot);
        self
    }

    /// Adds Drone, when it is configured.
    pub fn with_drone(mut self, drone: Option<&crate::ci::config::DroneSettings>) -> Self {
        self.drone = drone.map(crate::ci::drone::DroneTarget::new);
        self
    }

    /// The target of an action, or why there is none (a forge or channel not configured).
    pub fn for_action(&self, action: &Action) -> Result<&dyn Target, ForgeError> {
        let destination = match action.destination() {
            Destination::Ci(system) => match system.forge() {
                Some(forge) => Destination::Forge(forge),
                None => Destination::Ci(system),
            },
            other => other,
        };
        match destination {
            Destination::Forge(bosun_plugins::ForgeKind::GitHub) => self
                .github
                .as_ref()
                .map(|t| t as &dyn Target)
                .ok_or_else(|| ForgeError::Permanent("GitHub is not configured".into())),
            Destination::Forge(bosun_plugins::ForgeKind::GitLab) => self
                .gitlab
                .as_ref()
                .map(|t| t as &dyn Target)
                .ok_or_else(|| ForgeError::Permanent("GitLab is not configured".into())),
            Destination::Bosun => Ok(&self.record),
            Destination::Requeue(_) => Ok(&self.requeue),
            Destination::Reply => Ok(&self.reply),
            Destination::Ci(bosun_plugins::CiSystem::Drone) => self
                .drone
                .as_ref()
                .map(|t| t as &dyn Target)
                .ok_or_else(|| ForgeError::Permanent("Drone is not configured ([drone])".into())),
            Destination::Ci(system) => Err(ForgeError::Permanent(format!(
                "no target runs {} contexts",
                system.as_str()
            ))),
            Destination::Channel(name) if self.chat.has(name) => Ok(&self.chat),
            Destination::Channel(name) => Err(ForgeError::Permanent(format!(
                "no chat channel named {name:?} is configured (or its URL variable is unset)"
            ))),
        }
    }
}

/// Whether the decision may journal `action` already `applying` when it comes first: it is
/// carried out at once (not in dry-run, where it is only recorded, and not a merge, which
/// waits for its turn in the queue first).
pub fn applies_at_once(action: &Action, dry_run: bool) -> bool {
    !dry_run && merge_queue::Turn::of(action).is_none()
}

/// Whether a fresh decision may carry `action` out again, after an attempt that may already
/// have, with nothing left over that one application would not leave: then the decision need
/// not be journaled before the action's target is called, and is journaled with the attempt's
/// end instead (one write fewer for most commands). True in dry-run, where nothing is called;
/// for labels, assignees and reviewers without a report, titles, milestones, the bot's notices
/// (found by their marker and edited in place) and bosun's own facts. Not for what posts (a
/// comment is found again only by its action's journaled id), merges, runs CI, queues or goes
/// to chat; nor for what a CI state's record decides (it is kept before the attempt ends, so a
/// repeat would not show it to the plugins again: the dispatcher holds no such decision).
pub fn repeats_safely(action: &Action, dry_run: bool) -> bool {
    dry_run
        || match action {
            Action::AddLabel { .. }
            | Action::RemoveLabel { .. }
            | Action::CreateLabel { .. }
            | Action::Unassign { .. }
            | Action::UnrequestReviewers { .. }
            | Action::SetTitle { .. }
            | Action::SetMilestone { .. }
            | Action::UpsertBotComment { .. }
            | Action::DeleteBotComment { .. } => true,
            Action::Assign { report, .. } | Action::RequestReviewers { report, .. } => {
                report.is_none()
            }
            Action::Remember { fact, .. } => !matches!(fact, bosun_plugins::Fact::Ci { .. }),
            _ => false,
        }
}

/// What the journal holds of an action when its turn comes, which says whether its `applying`
/// mark is written before its target is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaled {
    /// As an earlier write left it: `pending` is marked `applying` first; one found
    /// `applying` (an earlier attempt may have carried it out) is checked on the target first.
    AsRead,
    /// Marked `applying` by the decision this attempt just wrote.
    Applying,
    /// Not yet: its decision is held for the attempt's end, and repeats safely.
    WithTheEnd,
}

/// Applies one journaled action on its target. The action's `applying` mark is written before
/// the target is called, together with the outcomes `settlement` held back, unless `journaled`
/// says it is written already or needs not be; its own outcome is held back in `settlement` for
/// the attempt's next write. A retryable error is returned as `Err` with the action left
/// `applying` for the next attempt; a permanent one marks it failed.
pub async fn apply_action(
    store: &dyn Store,
    targets: &Targets,
    stored: &StoredAction,
    dry_run: bool,
    journaled: Journaled,
    settlement: &mut Settlement,
) -> Result<Applied, ExecError> {
    if dry_run {
        settlement.mark(stored.id, ActionOutcome::DryRun, None, 0);
        return Ok(Applied::Done { forge_calls: 0 });
    }
    let turn = merge_queue::Turn::of(&stored.action);
    if let Some(turn) = &turn
        && let merge_queue::Verdict::Wait(why) = turn.take(store).await?
    {
        settlement.mark(stored.id, ActionOutcome::Queued, Some(why), 0);
        return Ok(Applied::Done { forge_calls: 0 });
    }
    if let Action::Remember { item, fact } = &stored.action
        && !matches!(fact, bosun_plugins::Fact::Ci { .. })
    {
        // bosun's own record: the fact is written with the attempt's end, in the same
        // statement as the action's `applied`, so it needs no `applying` mark before it.
        settlement.hold_fact(HeldFact {
            action: stored.id,
            item: item.clone(),
            plugin: stored.plugin.clone(),
            fact: fact.clone(),
        });
        metrics::counter!("bosun_actions_total", "kind" => stored.kind.clone(), "outcome" => "applied").increment(1);
        return Ok(Applied::Done { forge_calls: 1 });
    }
    let maybe_done = stored.outcome == ActionOutcome::Applying && journaled == Journaled::AsRead;
    if !maybe_done && journaled == Journaled::AsRead {
        let mut marks = settlement.outcomes.clone();
        marks.push(OutcomeMark {
            action: stored.id,
            outcome: ActionOutcome::Applying,
            error: None,
            forge_calls: 0,
        });
        // Held back until this write succeeds: a failed one leaves them for the finish.
        store.set_action_outcomes(&marks).await?;
        settlement.outcomes.clear();
    }
    let mut calls = 0;
    let result = match &turn {
        Some(turn) => {
            let result = match turn.base_moved(targets, &mut calls).await {
                Ok(false) => apply_on_target(targets, stored, maybe_done, &mut calls).await,
                Ok(true) => Err(EffectError::BaseMoved),
                Err(e) => Err(EffectError::Api(e)),
            };
            turn.end(
                store,
                targets,
                matches!(result, Err(EffectError::BaseMoved)),
            )
            .await;
            result
        }
        None => apply_on_target(targets, stored, maybe_done, &mut calls).await,
    };
    metrics::counter!("bosun_forge_calls_total", "kind" => stored.kind.clone())
        .increment(calls as u64);
    let e = match result {
        Ok(()) => {
            settlement.mark(stored.id, ActionOutcome::Applied, None, calls);
            metrics::counter!("bosun_actions_total", "kind" => stored.kind.clone(), "outcome" => "applied").increment(1);
            return Ok(Applied::Done { forge_calls: calls });
        }
        Err(EffectError::Store(e)) => return Err(ExecError::Store(e)),
        Err(EffectError::BaseMoved) => {
            // Looked at again (the turn's end queued it): tide brings it up to date first.
            settlement.mark(
                stored.id,
                ActionOutcome::Queued,
                Some("its base branch moved before its turn: looked at again".into()),
                calls,
            );
            return Ok(Applied::Done { forge_calls: calls });
        }
        Err(EffectError::Api(e)) => e,
    };
    if e.is_retryable() {
        settlement.mark(
            stored.id,
            ActionOutcome::Applying,
            Some(e.to_string()),
            calls,
        );
        return Err(ExecError::Transient {
            message: e.to_string(),
            after: e.retry_after(),
        });
    }
    settlement.mark(stored.id, ActionOutcome::Failed, Some(e.to_string()), calls);
    metrics::counter!("bosun_actions_total", "kind" => stored.kind.clone(), "outcome" => "failed")
        .increment(1);
    if let Action::Merge {
        item,
        sha: Some(sha),
        ..
    }
    | Action::AutoMerge { item, sha, .. } = &stored.action
    {
        // The merge plugin reads this, says why on the PR, and does not ask again for this head.
        let refused = bosun_plugins::Fact::MergeRefused {
            sha: sha.clone(),
            reason: e.to_string(),
        };
        store.remember_fact(item, &stored.plugin, &refused).await?;
    }
    Ok(Applied::Failed(e))
}

/// Applies an action on its destination's target.
async fn apply_on_target(
    targets: &Targets,
    stored: &StoredAction,
    maybe_done: bool,
    calls: &mut i32,
) -> Result<(), EffectError> {
    match targets.for_action(&stored.action) {
        Ok(target) => target.apply(stored, maybe_done, calls).await,
        Err(e) => Err(EffectError::Api(e)),
    }
}

/// A failure that stops applying for now; the delivery is retried.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The target may answer later (5xx, timeout, rate limit): `after` is how long it asked
    /// bosun to wait, when it said.
    #[error("{message}")]
    Transient {
        message: String,
        after: Option<Duration>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}
