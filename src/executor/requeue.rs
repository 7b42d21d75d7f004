//! bosun's own queue as a target: a branch that moved has the open PRs into it looked at again
//! (`Action::RecheckBranch`), each as a `bosun/resync` delivery named by the PR, its head and
//! the branch's new tip, so asking twice (tide and needs-rebase both ask; two processes) queues
//! each look once, and applying the action again is harmless.
//!
//! Cost: one list call per 100 open PRs of the repository, then one read per PR into the
//! branch (shared by tide and needs-rebase), for at most `[merge] recheck_limit` PRs. Pushes to
//! a branch no open PR merges into (a PR's own head branch, mostly) cost no call once the
//! repository's base branches are known: they are remembered for [`BASES_TTL`].

use super::{EffectError, Target};
use crate::forge::Forges;
use crate::store::{Store, StoredAction};
use async_trait::async_trait;
use bosun_plugins::{Action, ForgeError, ForgeKind, ItemState};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long the base branches of a repository's open PRs are trusted without listing again.
pub const BASES_TTL: Duration = Duration::from_secs(300);

/// When a repository's open PRs were listed, and the branches they merge into.
type ListedBases = (Instant, BTreeSet<String>);

/// Re-evaluates the PRs into a branch.
pub struct RequeueTarget {
    forges: Forges,
    store: Arc<dyn Store>,
    work: Arc<Notify>,
    limit: usize,
    /// Per repository: when its open PRs were last listed, and the branches they merge into.
    bases: Mutex<HashMap<(ForgeKind, String), ListedBases>>,
    /// The branch tips looked at lately (`forge:repo@branch:sha`): tide and needs-rebase both
    /// ask for each push, and one look answers both.
    recent: Mutex<VecDeque<String>>,
}

/// How many recent branch tips are remembered.
const RECENT: usize = 256;

impl RequeueTarget {
    /// The forges to list PRs from, the store to queue into, and the workers' wake-up.
    pub fn new(forges: Forges, store: Arc<dyn Store>, work: Arc<Notify>, limit: usize) -> Self {
        RequeueTarget {
            forges,
            store,
            work,
            limit,
            bases: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// False when the repository's PRs were listed lately and none merges into `branch`.
    fn may_be_a_base(&self, forge: ForgeKind, repo: &str, branch: &str) -> bool {
        let bases = self.bases.lock().unwrap_or_else(|e| e.into_inner());
        match bases.get(&(forge, repo.to_string())) {
            Some((at, known)) if at.elapsed() < BASES_TTL => known.contains(branch),
            _ => true,
        }
    }
}

impl RequeueTarget {
    /// Queues one delayed look at an item (`Action::LookAgain`), named by the journaled
    /// action, so applying it again after a crash queues nothing new. A PR is read once, so
    /// the look carries its current head as resync deliveries do.
    async fn look_again(
        &self,
        stored: &StoredAction,
        item: &bosun_plugins::ItemRef,
        after_ms: u64,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        let when = format!("action-{}", stored.id);
        let delivery = match item.kind {
            bosun_plugins::ItemKind::Issue => crate::resync::issue_delivery(item, "look", &when),
            bosun_plugins::ItemKind::PullRequest => {
                let forge = self.forges.get(item.forge).ok_or_else(|| {
                    ForgeError::Permanent(format!("{} is not configured", item.forge))
                })?;
                *calls += 1;
                let pr = forge.pull_request(item).await?;
                crate::resync::delivery(item.forge, &item.repo, item.number, pr, "look", &when)
            }
        };
        let Some(delivery) = delivery else {
            return Ok(());
        };
        self.store
            .insert_delivery_after(&delivery, Duration::from_millis(after_ms))
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Target for RequeueTarget {
    async fn apply(
        &self,
        stored: &StoredAction,
        _maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        if let Action::LookAgain { item, after_ms } = &stored.action {
            return self.look_again(stored, item, *after_ms, calls).await;
        }
        let Action::RecheckBranch {
            forge: kind,
            repo,
            branch,
            sha,
        } = &stored.action
        else {
            return Err(ForgeError::Permanent(format!(
                "bosun's queue cannot apply a {} action",
                stored.kind
            ))
            .into());
        };
        if !self.may_be_a_base(*kind, repo.as_str(), branch) {
            return Ok(());
        }
        let tip = format!("{kind}:{repo}@{branch}:{sha}");
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.contains(&tip) {
                return Ok(());
            }
            recent.push_back(tip.clone());
            if recent.len() > RECENT {
                recent.pop_front();
            }
        }
        let forge = self
            .forges
            .get(*kind)
            .ok_or_else(|| ForgeError::Permanent(format!("{kind} is not configured")))?;
        *calls += 1;
        let open = match forge.open_pull_requests(repo).await {
            Ok(open) => open,
            Err(e) => {
                // Not looked at: the retry must not find it "recent".
                let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
                recent.retain(|t| *t != tip);
                return Err(e.into());
            }
        };
        let known: BTreeSet<String> = open.iter().map(|(_, pr)| pr.base_ref.clone()).collect();
        self.bases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((*kind, repo.to_string()), (Instant::now(), known));
        let batch: Vec<_> = open
            .into_iter()
            .filter(|(_, pr)| pr.state == ItemState::Open && pr.base_ref == *branch)
            .take(self.limit)
            .filter_map(|(number, pr)| {
                crate::resync::delivery(*kind, repo, number, pr, "recheck", sha)
            })
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        self.store.insert_deliveries(&batch).await?;
        self.work.notify_waiters();
        Ok(())
    }
}
