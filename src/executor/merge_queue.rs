//! The merge queue: merges into one base branch go one at a time, in the order the PRs became
//! ready, across every bosun process on the database.
//!
//! A merge action that names its base takes the branch's lease (a row in `merge_leases`)
//! before it calls the forge. While another PR holds it, the PR joins the branch's line
//! (`merge_waiting`) and its action is recorded `queued`, not tried. When a merge ends (merged,
//! refused or failed for now) its lease is released and the first PR in line is handed a
//! `bosun/resync` delivery, so tide looks at it again against the branch as it is now: that PR
//! merges next, or says why not. A holder that dies leaves a lease that expires after
//! [`LEASE_TTL`]; the periodic resync finds PRs left in line.
//!
//! With `up_to_date` (tide's `retest_before_merge`), the turn first checks that the head still
//! contains the branch's tip; if the branch moved (the PR ahead merged), the PR is not merged
//! but looked at again, and tide brings it up to date.

use super::{ExecError, Targets};
use crate::store::{Lease, Store, Waiting};
use bosun_plugins::{Action, ForgeError, ItemRef, ItemState};
use std::time::Duration;

/// How long a lease holds without its holder finishing: longer than one merge call with its
/// retries, short enough that a dead holder blocks its branch only briefly.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// One PR's turn in its branch's queue.
pub(super) struct Turn {
    queue: String,
    waiting: Waiting,
    base: String,
    item: ItemRef,
    up_to_date: bool,
}

/// What the queue says to a merge.
pub(super) enum Verdict {
    /// Merge now.
    Go,
    /// Another PR is merging; this one waits (the text says for whom).
    Wait(String),
}

impl Turn {
    /// The turn a merge action asks for, if it names its base branch.
    pub(super) fn of(action: &Action) -> Option<Turn> {
        let Action::Merge {
            item,
            sha,
            base: Some(base),
            up_to_date,
            ..
        } = action
        else {
            return None;
        };
        Some(Turn {
            queue: format!("{}:{}@{base}", item.forge, item.repo),
            waiting: Waiting {
                item_key: format!("{}:{item}", item.forge),
                forge: item.forge,
                repo: item.repo.to_string(),
                number: item.number as i64,
                head_sha: sha.clone().unwrap_or_default(),
            },
            base: base.clone(),
            item: item.clone(),
            up_to_date: *up_to_date,
        })
    }

    /// Takes the branch's lease, or joins its line. Asking once more after joining closes the
    /// gap where the holder let go between the two steps and found nobody in line.
    pub(super) async fn take(&self, store: &dyn Store) -> Result<Verdict, ExecError> {
        let now = now_ms();
        let ttl = LEASE_TTL.as_millis() as i64;
        let key = &self.waiting.item_key;
        let number = self.waiting.number;
        if store
            .take_merge_lease(&self.queue, key, number, now, ttl)
            .await?
            == Lease::Taken
        {
            store.leave_merge_queue(&self.queue, key).await?;
            return Ok(Verdict::Go);
        }
        store
            .wait_in_merge_queue(&self.queue, &self.waiting, now)
            .await?;
        match store
            .take_merge_lease(&self.queue, key, number, now_ms(), ttl)
            .await?
        {
            Lease::Taken => {
                store.leave_merge_queue(&self.queue, key).await?;
                Ok(Verdict::Go)
            }
            Lease::HeldBy(holder) => Ok(Verdict::Wait(format!(
                "waiting in the merge queue of {}: #{holder} is merging",
                self.base
            ))),
        }
    }

    /// With `up_to_date`: whether the head lacks commits of its base now (the PR ahead
    /// merged). Such a PR is looked at again rather than merged.
    pub(super) async fn base_moved(
        &self,
        targets: &Targets,
        calls: &mut i32,
    ) -> Result<bool, ForgeError> {
        if !self.up_to_date {
            return Ok(false);
        }
        let Some(forge) = targets.forge(self.item.forge) else {
            return Ok(false);
        };
        *calls += 1;
        let behind = forge
            .commits_behind(&self.item.repo, &self.base, &self.waiting.head_sha)
            .await?;
        Ok(behind > 0)
    }

    /// Ends the turn: lets go of the lease and hands the queue to the first PR in line (and,
    /// when `again`, looks at this PR again too). A failure here costs only time: the lease
    /// expires and the resync finds whoever was left waiting.
    pub(super) async fn end(&self, store: &dyn Store, targets: &Targets, again: bool) {
        if let Err(e) = store
            .release_merge_lease(&self.queue, &self.waiting.item_key)
            .await
        {
            tracing::warn!(queue = %self.queue, error = %e, "cannot release the merge lease; it expires");
        }
        if again {
            look_again(store, targets, &self.item).await;
        }
        match store.next_in_merge_queue(&self.queue).await {
            Ok(Some(next)) => {
                let Some(repo) = bosun_plugins::RepoPath::parse(&next.repo) else {
                    return;
                };
                let item = ItemRef {
                    forge: next.forge,
                    repo,
                    kind: bosun_plugins::ItemKind::PullRequest,
                    number: next.number as u64,
                };
                if !look_again(store, targets, &item).await {
                    // Not handed over: it keeps its place for the next turn or the resync.
                    let _ = store
                        .wait_in_merge_queue(&self.queue, &next, now_ms())
                        .await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(queue = %self.queue, error = %e, "cannot read the merge queue")
            }
        }
    }
}

/// Queues a `bosun/resync` delivery for an open PR; false when it could not.
async fn look_again(store: &dyn Store, targets: &Targets, item: &ItemRef) -> bool {
    let Some(forge) = targets.forge(item.forge) else {
        return false;
    };
    let pr = match forge.pull_request(item).await {
        Ok(pr) if pr.state == ItemState::Open => pr,
        Ok(_) => return true,
        Err(e) => {
            tracing::warn!(%item, error = %e, "merge queue: cannot read the next PR; the resync will");
            return false;
        }
    };
    let Some(delivery) = crate::resync::delivery(
        item.forge,
        &item.repo,
        item.number,
        pr,
        "merge-next",
        &now_ms().to_string(),
    ) else {
        return false;
    };
    match store.insert_deliveries(&[delivery]).await {
        Ok(_) => {
            targets.wake_workers();
            true
        }
        Err(e) => {
            tracing::warn!(%item, error = %e, "merge queue: cannot queue the next PR");
            false
        }
    }
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
