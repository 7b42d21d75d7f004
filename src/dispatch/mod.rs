//! Dispatch: what happens to one claimed delivery. Normalize it into events, let the plugins
//! enabled for its repository decide (once: the decision is journaled before anything is
//! applied), apply the journaled actions through the executor, and keep bosun's record of the
//! pull request. Plugins report what should be remembered about a PR as
//! [`Action::Remember`] facts, so nothing here knows any plugin by name. The queue decides
//! only when a delivery runs; this module decides what it does.

mod chat;
mod decide;
mod scope;
mod snapshot;

use crate::config::Settings;
use crate::executor::{
    Applied, ExecError, Journaled, Targets, applies_at_once, apply_action, repeats_safely,
};
use crate::forge::Forges;
use crate::store::{
    ActionOutcome, ClaimedDelivery, Decided, FinalStatus, HeldDecision, PlannedAction,
    PullRequestState, Settlement, Store, StoreError, StoredAction,
};
use crate::webhook::{self, Normalized};
use bosun_plugins::{Action, Event, ItemState, Plugin};
use std::sync::Arc;
use std::time::Duration;

/// Everything deciding and applying needs, shared by every worker.
pub struct Dispatcher {
    /// The settings in force; a reload replaces them between deliveries.
    pub live: Arc<crate::config::LiveSettings>,
    /// Repositories' own configuration files, read once each.
    pub repo_configs: crate::repo_config::RepoConfigs,
    pub store: Arc<dyn Store>,
    pub forges: Forges,
    /// Where actions take effect: the forges, bosun's record, chat channels.
    pub targets: Targets,
    pub plugins: Vec<Box<dyn Plugin>>,
    /// OWNERS loading, shared by every worker so a base SHA is loaded once.
    pub owners: Arc<bosun_plugins::owners::OwnersLoader>,
    /// The store as plugin history.
    pub history: Arc<dyn bosun_plugins::History>,
}

/// How handling a delivery ended this time.
pub enum Outcome {
    /// Finished for good, with a note for people (why it was ignored, what failed).
    Finished(FinalStatus, Option<String>),
    /// Worth another attempt, not sooner than `after` when the forge said.
    Retry {
        error: String,
        after: Option<Duration>,
    },
}

impl Dispatcher {
    /// The settings in force now.
    pub fn settings(&self) -> Arc<Settings> {
        self.live.get()
    }

    /// Handles one delivery: decides (unless an earlier attempt did), applies what is not
    /// applied yet, and records the PR. The journal writes it holds back are left in
    /// `settlement`, for the queue to write with the delivery's finish or retry. A store
    /// failure is returned for the queue to retry.
    pub async fn handle(
        &self,
        delivery: &ClaimedDelivery,
        settlement: &mut Settlement,
    ) -> Result<Outcome, StoreError> {
        if delivery.event == crate::chat::command::EVENT {
            return self.handle_chat(delivery, settlement).await;
        }
        let normalized = webhook::normalize(delivery.forge, &delivery.event, &delivery.payload);
        let events = match normalized {
            Ok(Normalized::Events(events)) => {
                if let Some(why) = scope::outside_authenticated_repo(delivery, &events) {
                    tracing::warn!(delivery = %delivery.delivery_id, "{why}");
                    return Ok(Outcome::Finished(FinalStatus::Failed, Some(why)));
                }
                self.with_ci_prs(events).await?
            }
            Ok(Normalized::Ignored(reason)) => {
                return Ok(Outcome::Finished(FinalStatus::Ignored, Some(reason)));
            }
            // Valid JSON that is not a payload bosun can use: running it again cannot help, and
            // it is the sender's doing, not bosun's.
            Err(e) => {
                return Ok(Outcome::Finished(
                    FinalStatus::Ignored,
                    Some(format!("not a payload bosun can use: {e}")),
                ));
            }
        };
        let Some(forge) = self.forges.get(delivery.forge).cloned() else {
            return Ok(Outcome::Finished(
                FinalStatus::Failed,
                Some(format!("{} is not configured", delivery.forge)),
            ));
        };
        // CI events whose context did not change state (Drone reports every step) are recorded
        // and not shown to plugins again.
        let changed = self.changed_ci(&events).await?;
        let for_plugins: Vec<Event> = events
            .iter()
            .zip(&changed)
            .filter(|(_, changed)| **changed)
            .map(|(e, _)| e.clone())
            .collect();
        let mut problems = Vec::new();
        let mut notes = Vec::new();
        let mut journaled = None;
        let repo = events.first().and_then(Event::repo).cloned();
        let dry_run = self.settings().is_dry_run(delivery.forge, repo.as_ref());
        if !delivery.decided {
            let decided = match self.decide(&for_plugins, forge.as_ref()).await {
                Ok(decision) => self
                    .decide_bindings(&for_plugins, forge.as_ref())
                    .await?
                    .map(|bindings| (decision, bindings)),
                Err(e) => Err(e),
            };
            match decided {
                Ok((decision, bindings)) => {
                    problems.extend(decision.problems);
                    notes.extend(decision.notes);
                    let mut planned = decision.planned;
                    planned.extend(bindings);
                    // A CI state is kept before the attempt ends (`record_ci`): a repeat
                    // would not show it to the plugins again, so its decision is not held.
                    let may_hold = !events.iter().any(|e| matches!(e, Event::Ci(_)));
                    journaled = Some(
                        self.journal_decision(delivery, planned, dry_run, may_hold, settlement)
                            .await?,
                    );
                }
                Err(e) => {
                    return Ok(Outcome::Retry {
                        after: e.retry_after(),
                        error: e.to_string(),
                    });
                }
            }
        }
        self.record_ci(&events).await?;
        let note = if !events.is_empty() && changed.iter().all(|c| !c) {
            Some("CI state unchanged: already seen, plugins not run again".to_string())
        } else {
            self.nothing_enabled(&events)
        };
        notes.extend(note);
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        let actions = match self
            .apply_journal(delivery, journaled, dry_run, &mut problems, settlement)
            .await?
        {
            Ok(actions) => actions,
            Err(retry) => return Ok(retry),
        };
        settlement.pull_request = pull_request_record(&events, &actions, dry_run);
        Ok(finish(problems, note))
    }

    /// Journals a decision, with its first action already `applying` when it is carried out
    /// at once: one write fewer before the target is called. A decision on nothing, or one
    /// whose every action repeats safely (`may_hold`: unless the attempt keeps something
    /// before its end that a repeat would then not decide again), is held back in
    /// `settlement` for the attempt's end to journal.
    async fn journal_decision(
        &self,
        delivery: &ClaimedDelivery,
        planned: Vec<PlannedAction>,
        dry_run: bool,
        may_hold: bool,
        settlement: &mut Settlement,
    ) -> Result<Decided, StoreError> {
        if planned.is_empty() {
            settlement.decided_nothing = true;
            return Ok(Decided {
                actions: Vec::new(),
                first_applying: false,
                held: false,
            });
        }
        if may_hold && planned.iter().all(|p| repeats_safely(&p.action, dry_run)) {
            let decision = HeldDecision {
                delivery: delivery.id,
                actions: planned,
            };
            let actions = decision.stored();
            settlement.decision = Some(decision);
            return Ok(Decided {
                actions,
                first_applying: false,
                held: true,
            });
        }
        let first_applying = planned
            .first()
            .is_some_and(|p| applies_at_once(&p.action, dry_run));
        self.store
            .record_decision(delivery.id, &planned, first_applying)
            .await
    }

    /// Applies the delivery's journaled actions that are not applied yet, in order, holding
    /// their outcomes back in `settlement`. Returns them, or the retry outcome when a target
    /// asked to be tried again; permanent failures are added to `problems`.
    async fn apply_journal(
        &self,
        delivery: &ClaimedDelivery,
        journaled: Option<Decided>,
        dry_run: bool,
        problems: &mut Vec<String>,
        settlement: &mut Settlement,
    ) -> Result<Result<Vec<StoredAction>, Outcome>, StoreError> {
        // Just decided: the journal's rows came back with the decision. Decided by an
        // earlier attempt: read them.
        let (actions, first_applying, held) = match journaled {
            Some(decided) => (decided.actions, decided.first_applying, decided.held),
            None => (
                self.store.delivery_actions(delivery.id).await?,
                false,
                false,
            ),
        };
        for (i, stored) in actions
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a.outcome, ActionOutcome::Pending | ActionOutcome::Applying))
        {
            let journaled = if held {
                Journaled::WithTheEnd
            } else if first_applying && i == 0 && stored.outcome == ActionOutcome::Applying {
                Journaled::Applying
            } else {
                Journaled::AsRead
            };
            match apply_action(
                self.store.as_ref(),
                &self.targets,
                stored,
                dry_run,
                journaled,
                settlement,
            )
            .await
            {
                Ok(Applied::Done { .. }) => {}
                Ok(Applied::Failed(e)) => {
                    problems.push(format!("{} {}: {e}", stored.plugin, stored.kind))
                }
                Err(ExecError::Transient { message, after }) => {
                    return Ok(Err(Outcome::Retry {
                        error: message,
                        after,
                    }));
                }
                Err(ExecError::Store(e)) => return Err(e),
            }
        }
        Ok(Ok(actions))
    }
}

/// bosun's record of the PR the events are about, if any: state and head from the event,
/// labels as the event saw them with this delivery's applied label actions folded in. (What
/// plugins know beyond that, they report as facts, which the executor records.)
fn pull_request_record(
    events: &[Event],
    applied: &[StoredAction],
    dry_run: bool,
) -> Option<PullRequestState> {
    let item = events.iter().find_map(Event::item).filter(|i| i.is_pr())?;
    let head_sha = events.iter().find_map(|e| match e {
        Event::PullRequest(p) if !p.head_sha.is_empty() => Some(p.head_sha.clone()),
        _ => None,
    });
    let mut labels = item.labels.clone();
    if !dry_run {
        for stored in applied {
            match &stored.action {
                Action::AddLabel { label, .. }
                    if !labels.iter().any(|l| l.eq_ignore_ascii_case(label)) =>
                {
                    labels.push(label.clone())
                }
                Action::RemoveLabel { label, .. } => {
                    labels.retain(|l| !l.eq_ignore_ascii_case(label))
                }
                _ => {}
            }
        }
    }
    let state = match item.state {
        ItemState::Open => "open",
        ItemState::Closed => "closed",
        ItemState::Merged => "merged",
    };
    Some(PullRequestState {
        forge: item.reference.forge,
        repo: item.reference.repo.to_string(),
        number: item.reference.number as i64,
        state: state.into(),
        head_sha,
        labels,
    })
}

impl Dispatcher {
    /// CI events that name no PR get the open PR whose head their commit is, if bosun knows one.
    async fn with_ci_prs(&self, mut events: Vec<Event>) -> Result<Vec<Event>, StoreError> {
        for event in &mut events {
            if let Event::Ci(ci) = event
                && ci.number.is_none()
            {
                ci.number = self
                    .store
                    .pr_for_head(ci.forge, ci.repo.as_str(), &ci.sha)
                    .await?
                    .map(|n| n as u64);
            }
        }
        Ok(events)
    }

    /// For each event, whether plugins should see it: everything but a CI context whose state
    /// bosun already has.
    async fn changed_ci(&self, events: &[Event]) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let changed = match event {
                Event::Ci(ci) => {
                    self.store
                        .ci_state(ci.forge, ci.repo.as_str(), &ci.sha, &ci.context)
                        .await?
                        != Some(ci.state)
                }
                _ => true,
            };
            out.push(changed);
        }
        Ok(out)
    }

    /// Keeps the CI events' states (after the decision is journaled, so a retried delivery
    /// still sees them as changed until then).
    async fn record_ci(&self, events: &[Event]) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        for event in events {
            if let Event::Ci(ci) = event {
                self.store.record_ci(ci, now).await?;
            }
        }
        Ok(())
    }
}

/// Done, or failed with the problems joined; `note` says why nothing ran, when nothing did.
fn finish(problems: Vec<String>, note: Option<String>) -> Outcome {
    if problems.is_empty() {
        Outcome::Finished(FinalStatus::Done, note)
    } else {
        Outcome::Finished(FinalStatus::Failed, Some(problems.join("; ")))
    }
}

impl Dispatcher {
    /// The note on a delivery no plugin could look at, saying why and where to enable them.
    fn nothing_enabled(&self, events: &[Event]) -> Option<String> {
        let mut repos = events.iter().filter_map(Event::repo).peekable();
        let repo = (*repos.peek()?).clone();
        let settings = self.settings();
        // A repository's own file may enable plugins; bosun cannot tell without reading it.
        if settings.repo_config.enabled
            || repos.any(|r| !settings.plugins.enabled_for(r).is_empty())
        {
            return None;
        }
        Some(format!(
            "no plugin is enabled for {repo}: enable some under [plugins.\"{}\"] or [plugins.\"{repo}\"] in the configuration",
            repo.owner()
        ))
    }
}
