//! Group commit for the receiver: concurrent webhook requests hand their delivery to one
//! collector, which journals whatever has accumulated in a single transaction and answers each
//! request when its row is committed. No timer is involved: while one batch commits, the next
//! one gathers, so batches grow with load and a lone request commits at once.

use crate::store::{InsertOutcome, NewDelivery, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

type Reply = oneshot::Sender<Result<InsertOutcome, StoreError>>;

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
    /// Starts the collector. `concurrent_commits` transactions may be in flight at once (1 for
    /// SQLite's single writer; a few for Postgres, to overlap fsyncs).
    pub fn start(store: Arc<dyn Store>, concurrent_commits: usize) -> Intake {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        tokio::spawn(collect(store, rx, concurrent_commits.max(1)));
        Intake { tx }
    }

    /// Journals one delivery; returns once it is committed (or known to be a duplicate).
    pub async fn submit(&self, delivery: NewDelivery) -> Result<InsertOutcome, StoreError> {
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
        let store = store.clone();
        tokio::spawn(async move {
            let (deliveries, replies): (Vec<NewDelivery>, Vec<Reply>) = batch.into_iter().unzip();
            let result =
                match tokio::time::timeout(COMMIT_DEADLINE, store.insert_deliveries(&deliveries))
                    .await
                {
                    Ok(result) => result,
                    Err(_) => Err(StoreError::Unavailable(
                        "the database did not commit in time".into(),
                    )),
                };
            metrics::histogram!("bosun_intake_batch_size").record(deliveries.len() as f64);
            match result {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
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
