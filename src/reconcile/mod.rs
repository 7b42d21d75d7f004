//! `bosun reconcile`: catching up on webhook deliveries bosun never got.
//!
//! A delivery can be lost before it reaches the journal: bosun was down or unreachable, the
//! database refused it (503) and the forge gave up, a proxy dropped it. The forges keep a log
//! of what each hook sent and how the receiver answered, and can send an entry again. So,
//! for each hook that points at bosun (its URL starts with bosun's `public_url`, or with
//! `--hook-url`), bosun lists the log within a window (`--since`, newest first, at most
//! `--max` entries a hook), maps every entry to the delivery id the receiver journals it
//! under ([`crate::forge::hooks`]), looks those ids up in the journal in one batch, and asks
//! the forge to redeliver each one the journal lacks, oldest first, so the events of a PR
//! arrive in their order. The forge sends it again with the same id, so it is journaled and
//! processed exactly once however often reconcile runs: a second run finds it journaled and
//! asks for nothing. Redeliveries are deduplicated by id (a forge logs each attempt, so a
//! delivery already redelivered once appears several times). A forge or hook that does not
//! answer is reported and skipped.
//!
//! Cost: one call to list each owner's hooks, one per 100 log entries, one per redelivery.

pub mod config;

use crate::config::Settings;
use crate::forge::hooks::{Hook, HookLog, HookOwner, LoggedDelivery, Window};
use crate::store::{JournalStore, Store};
use anyhow::Context as _;
use bosun_plugins::ForgeKind;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The default window: a day back.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(24 * 3600);
/// The default bound on log entries read per hook.
pub const DEFAULT_MAX: usize = 1000;

/// What to look at.
#[derive(Debug, Clone)]
pub struct Options {
    /// Whose hooks: repositories/projects, GitHub organisations, the GitHub App.
    pub owners: Vec<HookOwner>,
    /// Only hooks whose URL starts with this (bosun's public URL by default); `None`: every
    /// hook of each owner.
    pub hook_url: Option<String>,
    /// How far back and how many entries per hook.
    pub window: Window,
    /// Report what is missing without asking for anything.
    pub dry_run: bool,
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Hooks pointing at bosun that were read.
    pub hooks: usize,
    /// Distinct deliveries in the window (redelivery attempts count once).
    pub seen: usize,
    /// Of those, already in the journal.
    pub journaled: usize,
    /// Of those missing, how many the forge saw fail (the rest it thinks arrived).
    pub failed_at_forge: usize,
    /// Entries whose log says too little to match against the journal (left alone).
    pub unmatched: usize,
    /// Missing deliveries the forge was asked to send again (or, in a dry run, would be).
    pub redelivery_asked: usize,
    /// The journal ids of those, oldest first.
    pub missing: Vec<String>,
    /// Redeliveries the forge refused, and owners or hooks that could not be read.
    pub failed: Vec<String>,
    /// Forge API calls made.
    pub api_calls: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} hooks, {} deliveries seen, {} already journaled, {} missing ({} failed at the forge), \
             {} redelivery asked, {} failed, {} unmatched, {} API calls",
            self.hooks,
            self.seen,
            self.journaled,
            self.missing.len(),
            self.failed_at_forge,
            self.redelivery_asked,
            self.failed.len(),
            self.unmatched,
            self.api_calls
        )
    }
}

/// One missing delivery and where to ask for it.
struct Missing {
    hook: Hook,
    entry: LoggedDelivery,
    key: String,
    failed_at_forge: bool,
}

/// Runs one reconciliation on one forge.
pub async fn run(log: &dyn HookLog, journal: &dyn JournalStore, options: &Options) -> Report {
    let mut report = Report::default();
    let mut hooks = Vec::new();
    for owner in &options.owners {
        match log.hooks(owner).await {
            Ok(listed) => {
                report.api_calls += listed.calls;
                hooks.extend(listed.items.into_iter().filter(|h| {
                    options
                        .hook_url
                        .as_deref()
                        .is_none_or(|prefix| h.url.starts_with(prefix))
                }));
            }
            Err(e) => {
                report.api_calls += 1;
                report
                    .failed
                    .push(format!("listing the hooks of {owner}: {e}"));
            }
        }
    }
    report.hooks = hooks.len();
    // Per journal id, every attempt the forge logged, with its hook.
    let mut by_key: BTreeMap<String, Vec<(Hook, LoggedDelivery)>> = BTreeMap::new();
    for hook in &hooks {
        match log.deliveries(hook, options.window).await {
            Ok(listed) => {
                report.api_calls += listed.calls;
                for entry in listed.items {
                    match entry.journal_id.clone() {
                        Some(key) => by_key.entry(key).or_default().push((hook.clone(), entry)),
                        None => report.unmatched += 1,
                    }
                }
            }
            Err(e) => {
                report.api_calls += 1;
                report.failed.push(format!(
                    "listing deliveries of hook {} ({}): {e}",
                    hook.id, hook.owner
                ));
            }
        }
    }
    report.seen = by_key.len();
    let keys: Vec<String> = by_key.keys().cloned().collect();
    let journaled = match journal.journaled_ids(&keys).await {
        Ok(found) => found,
        Err(e) => {
            report.failed.push(format!("reading the journal: {e}"));
            return report;
        }
    };
    report.journaled = journaled.len();
    let mut missing: Vec<Missing> = by_key
        .into_iter()
        .filter(|(key, _)| !journaled.contains(key))
        .filter_map(|(key, attempts)| pick(key, attempts))
        .collect();
    // Oldest first, so a PR's events reach the queue in the order they happened.
    missing.sort_by_key(|m| (m.entry.at, m.entry.id));
    report.failed_at_forge = missing.iter().filter(|m| m.failed_at_forge).count();
    let mut asked = HashSet::new();
    for m in missing {
        if !asked.insert(m.key.clone()) {
            continue;
        }
        if options.dry_run {
            report.redelivery_asked += 1;
            report.missing.push(m.key);
            continue;
        }
        report.api_calls += 1;
        match log.redeliver(&m.hook, &m.entry).await {
            Ok(()) => {
                report.redelivery_asked += 1;
                report.missing.push(m.key);
            }
            Err(e) => report.failed.push(format!("redelivering {}: {e}", m.key)),
        }
    }
    report
}

/// `[reconcile] interval_seconds`: a pass over the configured hooks every interval until
/// `stop` turns true. Several bosun processes on one database each run it; the journal keeps
/// whatever they have redelivered to one processing.
pub async fn run_periodically(
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(period) = settings.reconcile.interval else {
        return;
    };
    let mut logs = Vec::new();
    for kind in [ForgeKind::GitHub, ForgeKind::GitLab] {
        let owners = settings.reconcile.owners_on(kind);
        if owners.is_empty() {
            continue;
        }
        match hook_log(&settings, kind) {
            Ok(log) => logs.push((kind, log, owners)),
            Err(e) => {
                tracing::error!(forge = %kind, error = %e, "reconcile: no client; this forge is not reconciled")
            }
        }
    }
    let hook_url = settings
        .reconcile
        .hook_url
        .clone()
        .unwrap_or_else(|| public_url(&settings));
    let window =
        chrono::Duration::from_std(settings.reconcile.window).unwrap_or(chrono::Duration::hours(1));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        for (kind, log, owners) in &logs {
            let options = Options {
                owners: owners.clone(),
                hook_url: Some(hook_url.clone()),
                window: Window {
                    since: chrono::Utc::now() - window,
                    max: settings.reconcile.max_per_hook,
                },
                dry_run: false,
            };
            let report = run(log.as_ref(), store.as_ref(), &options).await;
            for failure in &report.failed {
                tracing::warn!(forge = %kind, failure, "reconcile: next pass in {}s", period.as_secs());
            }
            tracing::info!(forge = %kind, redelivery_asked = report.redelivery_asked, "reconcile: {report}");
        }
    }
}

/// The attempt to redeliver among a delivery's logged attempts: the original (the oldest),
/// whose time orders it among the others.
fn pick(key: String, mut attempts: Vec<(Hook, LoggedDelivery)>) -> Option<Missing> {
    let failed_at_forge = !attempts.iter().any(|(_, d)| d.ok);
    attempts.sort_by_key(|(_, d)| (d.redelivery, d.at, d.id));
    let (hook, entry) = attempts.into_iter().next()?;
    Some(Missing {
        hook,
        entry,
        key,
        failed_at_forge,
    })
}

/// The adapter for a forge's hook logs, with the credentials `bosun serve` uses.
pub fn hook_log(settings: &Settings, kind: ForgeKind) -> anyhow::Result<Arc<dyn HookLog>> {
    let timeout = settings.limits.forge_timeout;
    match kind {
        ForgeKind::GitHub => {
            let gh = settings
                .github
                .as_ref()
                .context("[github] is not configured")?;
            Ok(Arc::new(
                crate::startup::github_client(gh)?.with_timeout(timeout),
            ))
        }
        ForgeKind::GitLab => {
            let gl = settings
                .gitlab
                .as_ref()
                .context("[gitlab] is not configured")?;
            Ok(Arc::new(
                crate::startup::gitlab_client(gl)?.with_timeout(timeout),
            ))
        }
    }
}

/// bosun's public URL (`[server] public_url`), which hooks pointing at bosun start with.
pub fn public_url(settings: &Settings) -> String {
    settings
        .help_url
        .strip_suffix("/command-help")
        .unwrap_or(&settings.help_url)
        .to_string()
}

/// Reads a window like `90m`, `24h`, `7d` or `3600s` (a bare number is seconds).
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 24h, 90m or 7d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{text:?}: the unit is one of s, m, h, d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(unit)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_plugins::RepoPath;
    use chrono::{TimeZone, Utc};

    #[test]
    fn windows_read_like_people_write_them() {
        assert_eq!(parse_window("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_window("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_window("7d"), Ok(Duration::from_secs(604800)));
        assert_eq!(parse_window("30"), Ok(Duration::from_secs(30)));
        assert!(parse_window("1w").is_err());
        assert!(parse_window("h").is_err());
    }

    fn attempt(id: u64, minute: u32, ok: bool, redelivery: bool) -> (Hook, LoggedDelivery) {
        let hook = Hook {
            id: 1,
            owner: HookOwner::Repo(RepoPath::parse("o/r").expect("repo")),
            url: "https://bosun/hook".into(),
        };
        let entry = LoggedDelivery {
            id,
            journal_id: Some("github:g".into()),
            event: "issue_comment".into(),
            at: Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).single(),
            ok,
            redelivery,
        };
        (hook, entry)
    }

    /// A delivery redelivered before appears twice; the original is the one asked for, and
    /// it failed at the forge only if no attempt got through.
    #[test]
    fn the_original_attempt_is_redelivered() {
        let picked = pick(
            "github:g".into(),
            vec![attempt(9, 5, false, true), attempt(3, 1, false, false)],
        )
        .expect("one");
        assert_eq!((picked.entry.id, picked.failed_at_forge), (3, true));
        let picked = pick(
            "github:g".into(),
            vec![attempt(9, 5, true, true), attempt(3, 1, false, false)],
        )
        .expect("one");
        assert!(!picked.failed_at_forge);
    }
}
