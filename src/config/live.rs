//! The settings in force, replaced whole by a reload (SIGHUP or a change to the file): each
//! delivery takes a snapshot when it starts, so a reload never changes a decision half-way and
//! never stops the intake or the workers.

use super::Settings;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The current settings and how many times they were replaced.
pub struct LiveSettings {
    current: RwLock<Arc<Settings>>,
    generation: AtomicU64,
}

impl LiveSettings {
    /// Starts with the settings bosun was started with.
    pub fn new(settings: Arc<Settings>) -> Arc<LiveSettings> {
        Arc::new(LiveSettings {
            current: RwLock::new(settings),
            generation: AtomicU64::new(0),
        })
    }

    /// A snapshot of the settings in force now.
    pub fn get(&self) -> Arc<Settings> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Bumped by every reload, for caches of things read against the settings.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Puts `new` in force and returns what changed that only a restart applies (the listen
    /// address, the database, worker counts, forge URLs and credentials, chat channels), so
    /// the reload can say so instead of pretending.
    pub fn replace(&self, new: Settings) -> Vec<&'static str> {
        let new = Arc::new(new);
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let restart_only = restart_only_changes(&current, &new);
        *current = new;
        self.generation.fetch_add(1, Ordering::AcqRel);
        restart_only
    }
}

fn restart_only_changes(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.listen != new.listen || old.http_workers != new.http_workers {
        changed.push("server");
    }
    if old.database.url != new.database.url
        || old.database.max_connections != new.database.max_connections
    {
        changed.push("database");
    }
    if old.queue != new.queue {
        changed.push("queue");
    }
    let forge = |f: &Option<super::ForgeSettings>| {
        f.as_ref().map(|f| (f.api_url.clone(), f.has_credentials()))
    };
    if forge(&old.github) != forge(&new.github) {
        changed.push("github");
    }
    if forge(&old.gitlab) != forge(&new.gitlab) {
        changed.push("gitlab");
    }
    let channels = |s: &Settings| s.chat.channels.keys().cloned().collect::<Vec<_>>();
    if channels(old) != channels(new) {
        changed.push("chat.channels");
    }
    if old.reconcile != new.reconcile {
        changed.push("reconcile");
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Settings {
        crate::config::RawConfig::parse(text, &[])
            .and_then(|raw| raw.validate(&[]))
            .expect("valid settings")
    }

    #[test]
    fn a_reload_bumps_the_generation_and_names_what_needs_a_restart() {
        let live = LiveSettings::new(Arc::new(settings("")));
        assert_eq!(live.generation(), 0);
        let changed = live.replace(settings(
            "[queue]\nworkers = 9\n[plugins.\"org\"]\nenabled = [\"hold\"]\n",
        ));
        assert_eq!(
            changed,
            ["queue"],
            "plugins follow a reload; the queue does not"
        );
        assert_eq!(live.generation(), 1);
        assert_eq!(live.get().queue.workers, Some(9));
        let same = live.replace(settings(
            "[queue]\nworkers = 9\n[plugins.\"org\"]\nenabled = [\"lgtm\"]\n",
        ));
        assert!(same.is_empty(), "{same:?}");
        assert_eq!(live.generation(), 2);
    }
}
