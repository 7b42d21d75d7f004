//! The merge controller's periodic resync: events can be missed (bosun was down, a webhook was
//! lost, a label changed while the forge's hook was disabled), so every `[merge]
//! resync_seconds` bosun looks again at each repository where `tide` is enabled and that has
//! open PRs it knows of.
//!
//! The cost is bounded by list endpoints: one `GET …/pulls` (GitHub) or
//! `GET …/merge_requests?state=opened` (GitLab) per 100 open PRs, and nothing per PR or per
//! context: CI state comes from bosun's own store. Each PR is evaluated with tide's rules; only
//! a PR that looks ready, or whose verdict differs from the status tide last set, is queued as
//! a `bosun/resync` delivery for that PR, which then runs through dispatch like a webhook (so
//! it is journaled, retried, shown on the dashboard, and merged exactly once). The delivery id
//! names the PR, its head and the resync period, so two bosun processes resyncing in the same
//! period queue it once, and a PR left ready is tried again once per period. A forge that does
//! not answer is skipped until the next period.

use crate::config::Settings;
use crate::forge::Forges;
use crate::store::{InsertOutcome, NewDelivery, Store};
use bosun_plugins::tide::{self, TideSettings};
use bosun_plugins::{
    Event, Fact, ForgeKind, Item, ItemKind, ItemRef, Login, PrAction, PullRequestEvent, RepoPath,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// The event name of a resync delivery.
pub const EVENT: &str = "bosun/resync";

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Repositories listed.
    pub repos: usize,
    /// Open PRs seen in them.
    pub pull_requests: usize,
    /// PRs queued for tide to look at (new deliveries only).
    pub queued: usize,
    /// Repositories whose forge did not answer (tried again next period).
    pub unreachable: usize,
}

/// The resync loop's state.
pub struct Resync {
    pub store: Arc<dyn Store>,
    pub forges: Forges,
    pub settings: Arc<Settings>,
    /// Woken when deliveries were queued, as the receiver does.
    pub work: Arc<Notify>,
}

impl Resync {
    /// Runs a pass every `period` until `stop` turns true.
    pub async fn run(self: Arc<Self>, period: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let report = self.run_once(period).await;
            tracing::info!(
                repos = report.repos,
                pull_requests = report.pull_requests,
                queued = report.queued,
                unreachable = report.unreachable,
                "merge resync"
            );
        }
    }

    /// One pass over every repository with tide enabled and open PRs bosun knows of.
    pub async fn run_once(&self, period: Duration) -> Report {
        let mut report = Report::default();
        let repos = match self.store.open_pull_request_repos().await {
            Ok(repos) => repos,
            Err(e) => {
                tracing::warn!(error = %e, "merge resync: the store is unavailable");
                return report;
            }
        };
        let bucket = chrono::Utc::now().timestamp() / period.as_secs().max(1) as i64;
        for (kind, repo) in repos {
            let Some(path) = RepoPath::parse(&repo) else {
                continue;
            };
            if !self
                .settings
                .plugins
                .enabled_for(&path)
                .iter()
                .any(|p| p == "tide")
            {
                continue;
            }
            let Some(forge) = self.forges.get(kind) else {
                continue;
            };
            let settings = match self.settings.plugins.settings_for("tide", &path) {
                serde_json::Value::Null => TideSettings::default(),
                v => serde_json::from_value(v).unwrap_or_default(),
            };
            let open = match forge.open_pull_requests(&path).await {
                Ok(open) => open,
                Err(e) => {
                    tracing::warn!(forge = %kind, repo, error = %e, "merge resync: cannot list open PRs; next period");
                    report.unreachable += 1;
                    continue;
                }
            };
            report.repos += 1;
            let mut batch = Vec::new();
            for (number, pr) in open {
                report.pull_requests += 1;
                if !tide::in_scope(&settings, &pr) {
                    continue;
                }
                let contexts = self
                    .store
                    .ci_contexts(kind, &repo, &pr.head_sha)
                    .await
                    .unwrap_or_default();
                let facts: Vec<Fact> = self
                    .store
                    .facts(kind, &repo, number as i64)
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| f.fact)
                    .collect();
                let verdict = match tide::refusal(&facts, &pr.head_sha) {
                    Some(reason) => tide::refused(&reason),
                    None => tide::evaluate(
                        &settings,
                        &pr.labels,
                        pr.draft,
                        pr.mergeable,
                        pr.forge_blocker.as_deref(),
                        &contexts,
                    ),
                };
                let description = tide::status_text(&verdict.description);
                let said = facts.into_iter().any(|f| {
                    f == Fact::Merge {
                        sha: pr.head_sha.clone(),
                        ready: verdict.ready,
                        description: description.clone(),
                    }
                });
                if said && !verdict.ready {
                    continue;
                }
                if let Some(delivery) =
                    delivery(kind, &path, number, pr, "resync", &bucket.to_string())
                {
                    batch.push(delivery);
                }
            }
            if batch.is_empty() {
                continue;
            }
            match self.store.insert_deliveries(&batch).await {
                Ok(outcomes) => {
                    report.queued += outcomes
                        .iter()
                        .filter(|o| **o == InsertOutcome::Inserted)
                        .count();
                }
                Err(e) => tracing::warn!(error = %e, "merge resync: cannot queue"),
            }
        }
        if report.queued > 0 {
            self.work.notify_waiters();
        }
        report
    }
}

/// What an on-demand resync of one repository did (`bosun resync`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OnDemand {
    /// Open PRs the forge listed.
    pub listed: usize,
    /// PRs whose head or labels differ from what bosun last saw (or that it never saw),
    /// queued to be looked at again.
    pub queued: usize,
}

impl Resync {
    /// `bosun resync org/repo`: after downtime, looks again at the open PRs whose state bosun
    /// has not seen (the forge's head or labels differ from bosun's record, or bosun has none).
    /// One list call per 100 open PRs; each PR queued costs what its evaluation costs.
    pub async fn repo(&self, kind: ForgeKind, path: &RepoPath) -> anyhow::Result<OnDemand> {
        let forge = self
            .forges
            .get(kind)
            .ok_or_else(|| anyhow::anyhow!("{kind} is not configured"))?;
        let open = forge.open_pull_requests(path).await?;
        let mut report = OnDemand {
            listed: open.len(),
            ..OnDemand::default()
        };
        let now = chrono::Utc::now().timestamp_millis().to_string();
        let mut batch = Vec::new();
        for (number, pr) in open {
            let seen = self
                .store
                .pull_request(kind, path.as_str(), number as i64)
                .await?;
            if seen.is_some_and(|s| same_state(&s, &pr)) {
                continue;
            }
            batch.extend(delivery(kind, path, number, pr, "on-demand", &now));
        }
        if !batch.is_empty() {
            let outcomes = self.store.insert_deliveries(&batch).await?;
            report.queued = outcomes
                .iter()
                .filter(|o| **o == InsertOutcome::Inserted)
                .count();
            self.work.notify_waiters();
        }
        Ok(report)
    }
}

/// Whether bosun's record of a PR matches what the forge says now (head and labels).
fn same_state(seen: &crate::store::PullRequestState, now: &bosun_plugins::PullRequestInfo) -> bool {
    let mut a: Vec<String> = seen.labels.iter().map(|l| l.to_lowercase()).collect();
    let mut b: Vec<String> = now.labels.iter().map(|l| l.to_lowercase()).collect();
    a.sort();
    b.sort();
    seen.state == "open" && seen.head_sha.as_deref() == Some(now.head_sha.as_str()) && a == b
}

/// A `bosun/resync` delivery for one PR: tide and needs-rebase look at it again. Its id is
/// `{why}:{item}:{head}:{when}` (`resync` and the period, `recheck` and the branch's new tip,
/// `merge-next` and the time), so whoever queues the same look twice queues it once.
pub(crate) fn delivery(
    forge: ForgeKind,
    repo: &RepoPath,
    number: u64,
    pr: bosun_plugins::PullRequestInfo,
    why: &str,
    when: &str,
) -> Option<NewDelivery> {
    let sigil = match forge {
        ForgeKind::GitHub => '#',
        ForgeKind::GitLab => '!',
    };
    let item_key = format!("{forge}:{repo}{sigil}{number}");
    let delivery_id = format!("{why}:{item_key}:{}:{when}", pr.head_sha);
    let event = Event::PullRequest(PullRequestEvent {
        pr: Item {
            reference: ItemRef {
                forge,
                repo: repo.clone(),
                number,
                kind: ItemKind::PullRequest,
            },
            author: pr.author,
            state: pr.state,
            title: pr.title,
            labels: pr.labels,
            assignees: pr.assignees,
            draft: pr.draft,
            html_url: String::new(),
        },
        action: PrAction::Resync,
        sender: Login::new("bosun"),
        head_sha: pr.head_sha,
        base_sha: Some(pr.base_sha),
        head_ref: pr.head_ref,
        base_ref: pr.base_ref,
    });
    let payload = serde_json::to_vec(&event).ok()?;
    Some(NewDelivery {
        delivery_id,
        forge,
        event: EVENT.into(),
        repo: Some(repo.to_string()),
        number: Some(number as i64),
        item_key,
        headers: "{}".into(),
        payload: payload.into(),
    })
}

/// A look at a PR from what bosun's record holds (the PR page's button): tide and
/// needs-rebase read the rest from the forge.
pub(crate) fn delivery_from_record(
    forge: ForgeKind,
    repo: &RepoPath,
    number: u64,
    head_sha: String,
    labels: Vec<String>,
    when: &str,
) -> Option<NewDelivery> {
    let pr = bosun_plugins::PullRequestInfo {
        author: Login::new("ghost"),
        state: bosun_plugins::ItemState::Open,
        draft: false,
        title: String::new(),
        body: String::new(),
        head_sha,
        base_sha: String::new(),
        head_ref: String::new(),
        base_ref: String::new(),
        labels,
        assignees: Vec::new(),
        requested_reviewers: Vec::new(),
        mergeable: None,
        forge_blocker: None,
        milestone: None,
    };
    delivery(forge, repo, number, pr, "look", when)
}

/// Reads a `bosun/resync` delivery back.
pub fn normalize(
    payload: &[u8],
) -> Result<crate::webhook::Normalized, crate::webhook::NormalizeError> {
    let event: Event =
        serde_json::from_slice(payload).map_err(|e| crate::webhook::NormalizeError {
            event: EVENT.into(),
            reason: crate::webhook::json_reason(&e),
        })?;
    match event {
        Event::PullRequest(_) | Event::Issue(_) => {
            Ok(crate::webhook::Normalized::Events(vec![event]))
        }
        _ => Ok(crate::webhook::Normalized::Ignored(
            "a resync names a pull request or an issue".into(),
        )),
    }
}

/// A delayed look at an issue a plugin asked for ([`bosun_plugins::Action::LookAgain`]):
/// plugins read what they need from the forge, so the event names the issue and little else.
pub(crate) fn issue_delivery(item: &ItemRef, why: &str, when: &str) -> Option<NewDelivery> {
    let item_key = format!("{}:{}#{}", item.forge, item.repo, item.number);
    let event = Event::Issue(bosun_plugins::IssueEvent {
        issue: Item {
            reference: item.clone(),
            author: Login::new("ghost"),
            state: bosun_plugins::ItemState::Open,
            title: String::new(),
            labels: Vec::new(),
            assignees: Vec::new(),
            draft: false,
            html_url: String::new(),
        },
        action: bosun_plugins::IssueAction::Resync,
        sender: Login::new("bosun"),
    });
    let payload = serde_json::to_vec(&event).ok()?;
    Some(NewDelivery {
        delivery_id: format!("{why}:{item_key}:{when}"),
        forge: item.forge,
        event: EVENT.into(),
        repo: Some(item.repo.to_string()),
        number: Some(item.number as i64),
        item_key,
        headers: "{}".into(),
        payload: payload.into(),
    })
}
