//! Workers: claim a delivery under lease, hand it to [`Dispatcher`], and record how it ended.
//! Retryable failures go back to the queue with exponential backoff and jitter, never sooner
//! than the forge asked; after the last attempt the delivery is `failed`, and a delivery of its
//! own ([`FAILED_EVENT`]) is journaled first, so plugins hear of it as an
//! [`Event::DeliveryFailed`](bosun_plugins::Event::DeliveryFailed) (the notify plugin tells a
//! chat group). The queue knows nothing of plugins or actions.

use crate::config::Settings;
use crate::dispatch::{Dispatcher, Outcome};
use crate::store::{
    ClaimedDelivery, FinalStatus, InsertOutcome, NewDelivery, Settlement, Store, StoreError,
};
use bosun_plugins::{DeliveryFailedEvent, RepoPath};
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot, watch};
use tracing::Instrument;

/// The event under which bosun journals that it gave up on another delivery; its payload is
/// the [`DeliveryFailedEvent`].
pub const FAILED_EVENT: &str = "bosun_failed";

/// The longest a worker waits on one store call before treating the store as unavailable.
const STORE_DEADLINE: Duration = Duration::from_secs(10);

/// What every worker shares.
pub struct Engine {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    /// What a claimed delivery is handed to.
    pub dispatcher: Dispatcher,
    /// Woken by the receiver when a delivery is committed.
    pub work_available: Arc<Notify>,
    /// The items this process's workers are running, shared with the receiver.
    pub running_items: Arc<RunningItems>,
    /// Where a waiting worker can be handed a delivery as it is journaled.
    pub idle_workers: Arc<IdleWorkers>,
}

/// The items (PRs, issues, repositories) this process's workers are running. A delivery
/// journaled behind one of them cannot run before it ends, so waking a worker for it only made
/// that worker claim nothing: about half an empty claim per event when comments came in bursts
/// on one PR (BENCHMARKS.md §12.5). Such a delivery wakes a worker when the one ahead of it
/// ends instead. Other processes' workers are not known here; their items wake as before.
#[derive(Debug, Default)]
pub struct RunningItems {
    /// Item key → how many deliveries were journaled behind the running one.
    items: Mutex<HashMap<String, u32>>,
}

impl RunningItems {
    /// A delivery of `item` was just journaled: true when a worker should be woken for it,
    /// false when a worker of this process runs the item and wakes one when it ends.
    pub fn wake_for(&self, item: &str) -> bool {
        let Ok(mut items) = self.items.lock() else {
            return true;
        };
        match items.get_mut(item) {
            Some(behind) => {
                *behind += 1;
                false
            }
            None => true,
        }
    }

    /// Whether a delivery waits behind the running `item` (it stays noted).
    pub fn has_behind(&self, item: &str) -> bool {
        self.items
            .lock()
            .map_or(true, |items| items.get(item).is_some_and(|n| *n > 0))
    }

    /// Marks `item` running, as [`RunningItems::start`] does, unless it is running already.
    pub fn try_start(self: &Arc<Self>, item: &str, work: &Arc<Notify>) -> Option<RunningItem> {
        {
            let mut items = self.items.lock().ok()?;
            if items.contains_key(item) {
                return None;
            }
            items.insert(item.to_string(), 0);
        }
        Some(self.guard(item, work))
    }

    /// Marks `item` running until the returned guard is dropped, which wakes a worker through
    /// `work` if a delivery was journaled behind it meanwhile. `behind`: deliveries known to
    /// wait behind it already (those left behind the item's previous delivery, when the same
    /// worker took the next).
    pub fn start(self: &Arc<Self>, item: &str, work: &Arc<Notify>, behind: u32) -> RunningItem {
        if let Ok(mut items) = self.items.lock() {
            items.insert(item.to_string(), behind);
        }
        self.guard(item, work)
    }

    fn guard(self: &Arc<Self>, item: &str, work: &Arc<Notify>) -> RunningItem {
        RunningItem {
            items: self.clone(),
            item: item.to_string(),
            work: work.clone(),
            ended: false,
        }
    }
}

/// One item marked running by [`RunningItems::start`]. Dropped without [`RunningItem::end`]
/// (a shutdown), it wakes a worker for what waits behind it.
#[derive(Debug)]
pub struct RunningItem {
    items: Arc<RunningItems>,
    item: String,
    work: Arc<Notify>,
    ended: bool,
}

impl RunningItem {
    /// The item's delivery has ended in this worker's hands; how many deliveries were
    /// journaled behind it, for this worker to claim next instead of waking another.
    pub fn end(mut self) -> u32 {
        self.ended = true;
        self.take_behind()
    }

    fn take_behind(&self) -> u32 {
        match self.items.items.lock() {
            Ok(mut items) => items.remove(&self.item).unwrap_or(0),
            // Poisoned: say one; at worst a worker claims nothing.
            Err(_) => 1,
        }
    }
}

impl Drop for RunningItem {
    fn drop(&mut self) {
        if !self.ended && self.take_behind() > 0 {
            self.work.notify_one();
        }
    }
}

/// The workers of this process that wait for work. The intake takes one for a delivery it is
/// about to journal, leases the delivery to it in the insert itself, and hands it over once
/// committed ([`crate::store::Store::insert_and_lease`]): no wake-up, no claim, and one write
/// fewer per delivery (BENCHMARKS.md §13).
#[derive(Debug, Default)]
pub struct IdleWorkers {
    waiting: Mutex<VecDeque<Waiting>>,
    next_ticket: AtomicU64,
}

#[derive(Debug)]
struct Waiting {
    ticket: u64,
    worker: String,
    hand: oneshot::Sender<Option<Handed>>,
}

/// A delivery handed to a worker: leased to it, its item marked running.
#[derive(Debug)]
pub struct Handed {
    pub delivery: ClaimedDelivery,
    pub running: RunningItem,
}

/// A worker's place among the waiting ones; dropped, it leaves.
#[derive(Debug)]
pub struct IdleTicket {
    workers: Arc<IdleWorkers>,
    ticket: u64,
    /// A delivery, or None when the intake took this worker but leased it nothing (the
    /// worker claims instead).
    answer: oneshot::Receiver<Option<Handed>>,
}

/// A waiting worker the intake took: its id, to lease a delivery to, and where to hand it.
#[derive(Debug)]
pub struct TakenWorker {
    pub worker: String,
    hand: oneshot::Sender<Option<Handed>>,
}

impl TakenWorker {
    /// Hands the worker what was leased to it (None: nothing, it claims instead); gives the
    /// delivery back when the worker is gone (stopped), for the caller to release.
    #[must_use = "a delivery given back must be released"]
    pub fn hand(self, handed: Option<Handed>) -> Option<Handed> {
        self.hand.send(handed).err().flatten()
    }
}

impl IdleWorkers {
    /// `worker` waits for work until it withdraws or the ticket is dropped.
    pub fn wait(self: &Arc<Self>, worker: &str) -> IdleTicket {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let (hand, answer) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.push_back(Waiting {
                ticket,
                worker: worker.to_string(),
                hand,
            });
        }
        IdleTicket {
            workers: self.clone(),
            ticket,
            answer,
        }
    }

    /// How many workers wait.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().map_or(0, |w| w.len())
    }

    /// Takes the worker that began waiting last (the one most likely still warm).
    pub fn take(&self) -> Option<TakenWorker> {
        let waiting = self.waiting.lock().ok()?.pop_back()?;
        Some(TakenWorker {
            worker: waiting.worker,
            hand: waiting.hand,
        })
    }

    /// Removes a ticket; false when the intake has taken it already.
    fn withdraw(&self, ticket: u64) -> bool {
        let Ok(mut waiting) = self.waiting.lock() else {
            return true;
        };
        match waiting.iter().position(|w| w.ticket == ticket) {
            Some(at) => {
                waiting.remove(at);
                true
            }
            None => false,
        }
    }
}

impl Drop for IdleTicket {
    fn drop(&mut self) {
        self.workers.withdraw(self.ticket);
    }
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
        let mut just_finished = false;
        // Claimed with the last finish (a delivery waited behind it), and how many are left
        // behind it when it is of the same item.
        let mut claimed_next: Option<(ClaimedDelivery, u32)> = None;
        loop {
            if *stop.borrow() {
                if let Some((next, _)) = claimed_next.take() {
                    self.release(next.id, &worker_id).await;
                }
                return;
            }
            // After a delivery, claim again at once only if the last claim saw more waiting.
            // Otherwise what arrived since was notified (a notification sent while no worker
            // waited is kept for the next one) or is handed over, and other processes' work is
            // found by the poll: at a steady rate, claiming after every finish found nothing
            // about half the time.
            // Created before the claim, so a wake-up sent while it runs is not missed.
            let notified = self.work_available.notified();
            let found = if let Some((next, behind)) = claimed_next.take() {
                Some((next, behind))
            } else if std::mem::take(&mut just_finished) && !self.store.claim_saw_more_due() {
                None
            } else {
                let claim = tokio::time::timeout(
                    STORE_DEADLINE,
                    self.store.claim_next_delivery(&worker_id, lease),
                );
                match claim
                    .await
                    .unwrap_or_else(|_| Err(StoreError::Unavailable("claim timed out".into())))
                {
                    Ok(claimed) => {
                        store_backoff = Duration::from_millis(100);
                        claimed.map(|delivery| (delivery, 0))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim work");
                        tokio::select! {
                            _ = tokio::time::sleep(store_backoff) => {}
                            _ = stop.changed() => {}
                        }
                        store_backoff = (store_backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                }
            };
            let (delivery, running) = match found {
                // Marked running until it has ended (finished, retried or released, below).
                Some((delivery, behind)) => {
                    let running =
                        self.running_items
                            .start(&delivery.item_key, &self.work_available, behind);
                    (delivery, running)
                }
                None => match self
                    .wait_for_work(&worker_id, notified, &mut stop, poll)
                    .await
                {
                    Some(handed) => (handed.delivery, handed.running),
                    None => continue,
                },
            };
            let id = delivery.id;
            let item = delivery.item_key.clone();
            if *stop.borrow() {
                // Handed over as the worker was told to stop: give it back untouched.
                self.release(id, &worker_id).await;
                return;
            }
            just_finished = true;
            let work = self.clone().process(delivery, worker_id.clone());
            tokio::pin!(work);
            tokio::select! {
                next = &mut work => {
                    // A delivery waits behind this one: this worker claims at once (or claimed
                    // with the finish already).
                    let behind = running.end();
                    if behind > 0 {
                        just_finished = false;
                    }
                    claimed_next = next.map(|next| {
                        let left = if next.item_key == item { behind.saturating_sub(1) } else { 0 };
                        (next, left)
                    });
                }
                _ = stop.changed() => {
                    match tokio::time::timeout(grace, &mut work).await {
                        Ok(Some(next)) => self.release(next.id, &worker_id).await,
                        Ok(None) => {}
                        Err(_) => {
                            tracing::warn!(delivery = id, "grace period over; releasing the delivery");
                            self.release(id, &worker_id).await;
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Waits, among the idle workers, for a delivery handed over, a wake-up (`notified`), the
    /// poll or `stop`; the delivery, or None when the worker should claim.
    async fn wait_for_work(
        &self,
        worker_id: &str,
        notified: tokio::sync::futures::Notified<'_>,
        stop: &mut watch::Receiver<bool>,
        poll: Duration,
    ) -> Option<Box<Handed>> {
        let mut ticket = self.idle_workers.wait(worker_id);
        tokio::select! {
            answer = &mut ticket.answer => return answer.ok().flatten().map(Box::new),
            _ = notified => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.changed() => {}
        }
        if self.idle_workers.withdraw(ticket.ticket) {
            return None;
        }
        // The intake took this worker as the wait ended; its answer comes when the insert has
        // committed (within the intake's commit deadline). Nothing leased to it (or the intake
        // stopped): it claims.
        (&mut ticket.answer).await.ok().flatten().map(Box::new)
    }

    /// Gives a delivery back unfinished, for another worker.
    async fn release(&self, id: i64, worker_id: &str) {
        if let Err(e) = self.store.release_delivery(id, worker_id).await {
            tracing::warn!(delivery = id, error = %e, "could not release; its lease will expire");
        }
    }

    /// Runs one delivery to its end; returns the delivery claimed with its finish, if any.
    async fn process(
        self: Arc<Self>,
        delivery: ClaimedDelivery,
        worker_id: String,
    ) -> Option<ClaimedDelivery> {
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
            let mut settlement = Settlement::default();
            let mut claimed_next = None;
            let outcome = match self.dispatcher.handle(&delivery, &mut settlement).await {
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
                    if self.running_items.has_behind(&delivery.item_key) {
                        // Claim what waits with the finish, in one statement on Postgres.
                        let lease = Duration::from_secs(self.settings.queue.lease_seconds);
                        self.store
                            .finish_and_claim(delivery.id, &worker_id, status, note.as_deref(), &settlement, lease)
                            .await
                            .map(|(ended, next)| {
                                claimed_next = next;
                                ended
                            })
                    } else {
                        self.store.finish_delivery(delivery.id, &worker_id, status, note.as_deref(), &settlement).await
                    }
                }
                Outcome::Retry { error, .. } if delivery.attempts >= self.settings.queue.max_attempts => {
                    metrics::counter!("bosun_deliveries_total", "forge" => forge, "event" => delivery.event.clone(), "status" => "failed").increment(1);
                    tracing::error!(%error, attempts = delivery.attempts, "delivery failed after its last attempt; giving up (replay it from the dashboard or with bosun replay)");
                    let note = format!("gave up after {} attempts: {error}", delivery.attempts);
                    match self.journal_failure(&delivery, &error).await {
                        // Journaled before the delivery is finished: a crash in between gives up
                        // again, and the same id is not journaled twice.
                        Ok(()) => self.store.finish_delivery(delivery.id, &worker_id, FinalStatus::Failed, Some(&note), &settlement).await,
                        Err(e) => {
                            // The delivery runs again when its lease expires; what this attempt
                            // did is kept if the store takes it, so it is not checked again.
                            if let Err(e) = self.store.set_action_outcomes(&settlement.outcomes).await {
                                tracing::warn!(error = %e, "could not record the actions' outcomes; they are checked when it runs again");
                            }
                            Err(e)
                        }
                    }
                }
                Outcome::Retry { error, after } => {
                    let delay = self.backoff(delivery.attempts, after);
                    tracing::warn!(
                        %error,
                        attempt = delivery.attempts,
                        max_attempts = self.settings.queue.max_attempts,
                        retry_in = %humanize(delay),
                        "delivery will be retried"
                    );
                    self.store.retry_delivery(delivery.id, &worker_id, &error, delay, &settlement).await
                }
            };
            metrics::histogram!("bosun_worker_seconds").record(started.elapsed().as_secs_f64());
            match result {
                Ok(true) => {}
                Ok(false) => tracing::warn!("lease lost before the delivery finished; another worker has it"),
                Err(e) => tracing::warn!(error = %e, "could not record the outcome; the lease will expire and it runs again"),
            }
            claimed_next
        }
        .instrument(span)
        .await
    }

    /// Journals that bosun gave up on `delivery`, once per delivery (its id is derived from
    /// the delivery's), for plugins to hear of. Not for a delivery about no repository (no
    /// plugin is enabled for it), nor for such a notice itself (no notice of a notice).
    async fn journal_failure(
        &self,
        delivery: &ClaimedDelivery,
        error: &str,
    ) -> Result<(), StoreError> {
        if delivery.event == FAILED_EVENT {
            return Ok(());
        }
        let Some(repo) = delivery.repo.as_deref().and_then(RepoPath::parse) else {
            return Ok(());
        };
        let base = self.settings.help_url.trim_end_matches("/command-help");
        let failed = DeliveryFailedEvent {
            forge: delivery.forge,
            repo,
            number: delivery.number.and_then(|n| u64::try_from(n).ok()),
            delivery_id: delivery.delivery_id.clone(),
            event: delivery.event.clone(),
            attempts: u32::try_from(delivery.attempts).unwrap_or(0),
            error: error.to_string(),
            page_url: format!(
                "{base}{}",
                crate::server::pages::delivery_href(&delivery.delivery_id)
            ),
        };
        let payload = serde_json::to_vec(&failed)
            .map_err(|e| StoreError::Bug(format!("failure notice: {e}")))?;
        let id = format!("{FAILED_EVENT}:{}", delivery.delivery_id);
        let notice = NewDelivery {
            delivery_id: id.clone(),
            forge: delivery.forge,
            event: FAILED_EVENT.into(),
            repo: delivery.repo.clone(),
            number: delivery.number,
            item_key: id,
            headers: "{}".into(),
            payload: payload.into(),
        };
        let outcome = self.store.insert_deliveries(&[notice]).await?;
        if outcome.first() == Some(&InsertOutcome::Inserted) {
            self.work_available.notify_waiters();
        }
        Ok(())
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
}

/// A delay as people read it in a log line (`350ms`, `12s`, `3m20s`).
fn humanize(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{}s", ms / 1000),
        _ => format!("{}m{}s", ms / 60_000, (ms / 1000) % 60),
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
    use super::{IdleWorkers, RunningItems, humanize};
    use futures::FutureExt as _;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::sync::Notify;

    /// Whether `work` holds a wake-up for the next worker to wait (and takes it).
    fn woken(work: &Notify) -> bool {
        work.notified().now_or_never().is_some()
    }

    #[test]
    fn a_delivery_behind_a_running_item_waits_for_it_to_end() {
        let items = Arc::new(RunningItems::default());
        let work = Arc::new(Notify::new());
        assert!(
            items.wake_for("github:o/r#1"),
            "nothing runs it: wake a worker"
        );

        let running = items.start("github:o/r#1", &work, 0);
        assert!(
            !items.wake_for("github:o/r#1"),
            "it runs here: no worker is woken"
        );
        assert!(
            items.wake_for("github:o/r#2"),
            "another item wakes one as before"
        );
        assert_eq!(
            running.end(),
            1,
            "the worker that ran it is told to claim next"
        );
        assert!(!woken(&work), "and no other worker was woken for it");
        assert!(
            items.wake_for("github:o/r#1"),
            "ended: the item wakes a worker again"
        );

        let quiet = items.start("github:o/r#3", &work, 0);
        assert_eq!(quiet.end(), 0, "nothing came behind it");
        let carried = items.start("github:o/r#4", &work, 2);
        assert!(items.has_behind("github:o/r#4"), "two were left behind it");
        assert!(!items.wake_for("github:o/r#4"));
        assert_eq!(carried.end(), 3);
    }

    #[test]
    fn a_running_item_dropped_unended_wakes_a_worker_for_what_waits() {
        let items = Arc::new(RunningItems::default());
        let work = Arc::new(Notify::new());
        let running = items.start("gitlab:g/p!7", &work, 0);
        assert!(!items.wake_for("gitlab:g/p!7"));
        drop(running);
        assert!(
            woken(&work),
            "released at shutdown: another worker is woken"
        );
        let idle = items.start("gitlab:g/p!8", &work, 0);
        drop(idle);
        assert!(!woken(&work), "nothing waited: no one is woken");
    }

    #[test]
    fn the_intake_takes_the_last_worker_to_wait_and_a_withdrawn_one_is_not_taken() {
        let idle = Arc::new(IdleWorkers::default());
        assert!(idle.take().is_none() && idle.waiting() == 0);
        let first = idle.wait("w1");
        let second = idle.wait("w2");
        assert_eq!(idle.waiting(), 2);
        assert!(idle.withdraw(second.ticket), "w2 stops waiting by itself");
        assert_eq!(idle.take().map(|t| t.worker).as_deref(), Some("w1"));
        assert!(
            !idle.withdraw(first.ticket),
            "taken: w1 must wait for the intake's answer"
        );
        let third = idle.wait("w3");
        let fourth = idle.wait("w4");
        drop(fourth);
        assert_eq!(
            idle.take().map(|t| t.worker).as_deref(),
            Some("w3"),
            "a dropped ticket leaves the line"
        );
        assert!(idle.take().is_none());
        drop(third);
    }

    #[test]
    fn an_item_is_started_once_until_it_ends() {
        let items = Arc::new(RunningItems::default());
        let work = Arc::new(Notify::new());
        let running = items.try_start("github:o/r#1", &work).expect("free");
        assert!(items.try_start("github:o/r#1", &work).is_none());
        assert_eq!(running.end(), 0);
        assert!(items.try_start("github:o/r#1", &work).is_some());
    }

    #[test]
    fn delays_read_as_people_write_them() {
        assert_eq!(humanize(Duration::from_millis(350)), "350ms");
        assert_eq!(humanize(Duration::from_millis(12_400)), "12s");
        assert_eq!(humanize(Duration::from_secs(200)), "3m20s");
    }
}
