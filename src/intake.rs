//! Group commit for the receiver: concurrent webhook requests hand their delivery to one
//! collector, which journals whatever has accumulated in a single transaction and answers each
//! request when its row is committed. No timer is involved: while one batch commits, the next
//! one gathers, so batches grow with load and a lone request commits at once.
//!
//! A delivery whose item nothing of this process runs is leased, in the same insert, to a
//! worker that waits for work, and handed to it once committed ([`Handoff`]).

use crate::queue::{Handed, IdleWorkers, RunningItem, RunningItems, TakenWorker};
use crate::store::{InsertOutcome, Journaled, NewDelivery, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

type Reply = oneshot::Sender<Result<Submitted, StoreError>>;

/// A journaled delivery, as the receiver learns of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub outcome: InsertOutcome,
    /// Leased to a waiting worker and handed to it: no worker needs waking for it.
    pub handed: bool,
}

/// What the collector needs to hand deliveries to this process's waiting workers.
pub struct Handoff {
    idle: Arc<IdleWorkers>,
    running: Arc<RunningItems>,
    /// Woken when a handed item's guard is dropped with work behind it.
    work: Arc<Notify>,
    /// The lease a handed delivery gets, as a claim would give it.
    lease: Duration,
    /// Items with a delivery in a batch not yet committed, and how many.
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

impl Handoff {
    /// Hands deliveries to the `idle` workers, marking their items in `running` (whose guards
    /// wake `work`), leased for `lease`.
    pub fn new(
        idle: Arc<IdleWorkers>,
        running: Arc<RunningItems>,
        work: Arc<Notify>,
        lease: Duration,
    ) -> Handoff {
        Handoff {
            idle,
            running,
            work,
            lease,
            in_flight: Default::default(),
        }
    }

    /// Waiting workers for a batch's deliveries (by their items, in order), taken here in the
    /// collector, one batch after another, so that a batch committing meanwhile sees this one's
    /// marks. A delivery whose item has an earlier one in this batch or in a batch still
    /// committing is not handed over: that one may get the smaller id and, not yet visible to
    /// this insert, would be its item's head while this one ran. The items stay in flight
    /// until the returned batch is dropped.
    fn take_for_batch(&self, items: Vec<String>) -> (Vec<Option<Taken>>, InFlightBatch) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let taken = items
            .iter()
            .map(|item| {
                let count = in_flight.entry(item.clone()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    self.take_for(item)
                } else {
                    None
                }
            })
            .collect();
        let batch = InFlightBatch {
            items,
            of: self.in_flight.clone(),
        };
        (taken, batch)
    }

    /// A waiting worker for a delivery of `item`, when one waits and nothing of this process
    /// runs the item.
    fn take_for(&self, item: &str) -> Option<Taken> {
        if self.idle.waiting() == 0 {
            return None;
        }
        let running = self.running.try_start(item, &self.work)?;
        let worker = self.idle.take()?;
        Some(Taken { worker, running })
    }
}

/// A waiting worker taken for one delivery of a batch, with its item marked running.
struct Taken {
    worker: TakenWorker,
    running: RunningItem,
}

/// The receiver's handle on the collector.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<(NewDelivery, Reply)>,
}

/// Largest batch one transaction carries.
const MAX_BATCH: usize = 256;

/// The longest a batch may take to commit. Forges give a webhook 10 s; past this the requests
/// get 503 (and the forge redelivers, which is deduplicated even if the commit did land), so a
/// database that stops answering cannot leave webhooks hanging.
pub const COMMIT_DEADLINE: Duration = Duration::from_secs(5);

impl Intake {
    /// Starts the collector, with as many transactions in flight as the store commits at once
    /// ([`Store::commits_in_flight`]). `handoff`'s waiting workers get deliveries as they are
    /// journaled; with none waiting (or no workers at all), every delivery is queued for a
    /// claim.
    pub fn start(store: Arc<dyn Store>, handoff: Handoff) -> Intake {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        let concurrent_commits = store.commits_in_flight().max(1);
        tokio::spawn(collect(store, rx, concurrent_commits, handoff));
        Intake { tx }
    }

    /// Journals one delivery; returns once it is committed (or known to be a duplicate).
    pub async fn submit(&self, delivery: NewDelivery) -> Result<Submitted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((delivery, reply))
            .await
            .map_err(|_| StoreError::Unavailable("intake stopped".into()))?;
        // The commit deadline bounds the answer; the extra second covers waiting for a slot.
        match tokio::time::timeout(COMMIT_DEADLINE + Duration::from_secs(1), answer).await {
            Ok(answer) => answer.map_err(|_| StoreError::Unavailable("intake stopped".into()))?,
            Err(_) => Err(StoreError::Unavailable(
                "the database did not commit in time".into(),
            )),
        }
    }
}

async fn collect(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<(NewDelivery, Reply)>,
    concurrent: usize,
    handoff: Handoff,
) {
    let permits = Arc::new(Semaphore::new(concurrent));
    loop {
        // Wait for a commit slot first, so requests pile up into the next batch meanwhile.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let items: Vec<String> = batch.iter().map(|(d, _)| d.item_key.clone()).collect();
        let (taken, in_flight) = handoff.take_for_batch(items);
        let lease = handoff.lease;
        let store = store.clone();
        tokio::spawn(async move {
            let (deliveries, replies): (Vec<NewDelivery>, Vec<Reply>) = batch.into_iter().unzip();
            let workers: Vec<Option<String>> = taken
                .iter()
                .map(|t| t.as_ref().map(|t| t.worker.worker.clone()))
                .collect();
            let insert = store.insert_and_lease(&deliveries, &workers, lease);
            let result = match tokio::time::timeout(COMMIT_DEADLINE, insert).await {
                Ok(result) => result,
                Err(_) => Err(StoreError::Unavailable(
                    "the database did not commit in time".into(),
                )),
            };
            // Committed (or not at all): a later batch may hand these items over again.
            drop(in_flight);
            metrics::histogram!("bosun_intake_batch_size").record(deliveries.len() as f64);
            match result {
                Ok(journaled) => {
                    for ((reply, journaled), taken) in replies.into_iter().zip(journaled).zip(taken)
                    {
                        let submitted = Submitted {
                            outcome: journaled.outcome,
                            handed: journaled.leased.is_some(),
                        };
                        if let Some(taken) = taken {
                            hand_over(&*store, taken, journaled).await;
                        }
                        let _ = reply.send(Ok(submitted));
                    }
                }
                Err(e) => {
                    // Nothing was leased: the taken workers claim instead.
                    for taken in taken.into_iter().flatten() {
                        drop(taken.running);
                        let _nothing = taken.worker.hand(None);
                    }
                    let message = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Unavailable(message.clone())));
                    }
                }
            }
            drop(permit);
        });
    }
}

/// The items of a batch being committed; they leave [`Handoff::in_flight`] when it is dropped.
struct InFlightBatch {
    items: Vec<String>,
    of: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for InFlightBatch {
    fn drop(&mut self) {
        let mut in_flight = self.of.lock().unwrap_or_else(|e| e.into_inner());
        for item in &self.items {
            if let Some(count) = in_flight.get_mut(item) {
                *count -= 1;
                if *count == 0 {
                    in_flight.remove(item);
                }
            }
        }
    }
}

/// Hands a taken worker the delivery leased to it, or nothing (it was queued: its item had a
/// delivery pending, or it was a duplicate). A worker that stopped meanwhile cannot take it, so
/// the delivery is released for another.
async fn hand_over(store: &dyn Store, taken: Taken, journaled: Journaled) {
    let Taken { worker, running } = taken;
    let Some(delivery) = journaled.leased else {
        // The mark goes first, so the receiver's wake-up for the queued delivery is not held
        // back by it.
        drop(running);
        let _nothing = worker.hand(None);
        return;
    };
    metrics::counter!("bosun_deliveries_handed_total").increment(1);
    let owner = worker.worker.clone();
    if let Some(handed) = worker.hand(Some(Handed { delivery, running })) {
        let id = handed.delivery.id;
        drop(handed.running);
        if let Err(e) = store.release_delivery(id, &owner).await {
            tracing::warn!(delivery = id, error = %e, "could not release a delivery for a stopped worker; its lease will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FinalStatus;
    use bosun_plugins::ForgeKind;

    /// Only the first delivery of an item among those not yet committed may be handed over.
    #[test]
    fn a_delivery_behind_one_still_committing_is_not_handed_over() {
        let idle = Arc::new(IdleWorkers::default());
        let handoff = Handoff::new(
            idle.clone(),
            Arc::new(RunningItems::default()),
            Arc::new(Notify::new()),
            Duration::from_secs(60),
        );
        let items = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        let handed =
            |taken: &[Option<Taken>]| taken.iter().map(Option::is_some).collect::<Vec<_>>();

        // No worker waits: k1 is queued, and in flight until its batch commits.
        let (taken, first_batch) = handoff.take_for_batch(items(&["k1"]));
        assert_eq!(handed(&taken), vec![false]);
        let _tickets: Vec<_> = (0..4).map(|n| idle.wait(&format!("w{n}"))).collect();
        let (taken, second_batch) = handoff.take_for_batch(items(&["k1", "k2", "k2", "k3"]));
        assert_eq!(
            handed(&taken),
            vec![false, true, false, true],
            "k1 waits for the batch before; k2's second waits for its first"
        );
        drop((taken, second_batch, first_batch));
        let (taken, _third) = handoff.take_for_batch(items(&["k1"]));
        assert_eq!(
            handed(&taken),
            vec![true],
            "committed: k1 may be handed over"
        );
    }

    /// A delivery leased to a worker that stopped before it could be handed over is released,
    /// so another worker claims it at once rather than after the lease.
    #[tokio::test]
    async fn a_delivery_for_a_worker_that_stopped_is_released() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("intake.db").display());
        let store = crate::store::connect(&url, 2).await.expect("open");
        store.migrate().await.expect("migrate");
        let idle = Arc::new(IdleWorkers::default());
        let running = Arc::new(RunningItems::default());
        let work = Arc::new(Notify::new());
        let ticket = idle.wait("stopped");
        let worker = idle.take().expect("waiting");
        drop(ticket);
        let delivery = NewDelivery {
            delivery_id: "d".into(),
            forge: ForgeKind::GitHub,
            event: "issue_comment".into(),
            repo: Some("o/r".into()),
            number: Some(1),
            item_key: "k".into(),
            headers: "{}".into(),
            payload: actix_web::web::Bytes::from_static(b"{}").into(),
        };
        let mut journaled = store
            .insert_and_lease(
                &[delivery],
                &[Some("stopped".into())],
                Duration::from_secs(60),
            )
            .await
            .expect("insert");
        let journaled = journaled.pop().expect("one");
        assert!(journaled.leased.is_some(), "leased to the stopped worker");
        let taken = Taken {
            worker,
            running: running.try_start("k", &work).expect("free"),
        };
        hand_over(&*store, taken, journaled).await;
        let claimed = store
            .claim_next_delivery("other", Duration::from_secs(60))
            .await
            .expect("claim")
            .expect("released, so claimable");
        assert_eq!((claimed.delivery_id.as_str(), claimed.attempts), ("d", 1));
        assert!(
            running.try_start("k", &work).is_some(),
            "the item's mark went with it"
        );
        assert!(
            store
                .finish_delivery(
                    claimed.id,
                    "other",
                    FinalStatus::Done,
                    None,
                    &Default::default()
                )
                .await
                .expect("finish")
        );
    }
}
