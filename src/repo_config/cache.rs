//! Repositories' files, read once each: a file is fetched again only when a push to the
//! default branch may have changed it (the push payload lists the paths its commits touched),
//! or after `refresh` as a guard against a missed push. A central reload re-reads the cached
//! bytes against the new policy without fetching them again.

use super::{Overlay, RepoConfigPolicy, parse_overlay};
use crate::config::{ConfigError, PluginMatrix};
use bosun_plugins::{ForgeError, ForgeKind, ForgeRead, Plugin, PushEvent, RepoPath};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A repository's file as bosun uses it.
#[derive(Debug, Clone)]
pub enum RepoFile {
    /// No file on the default branch: the central configuration alone.
    Missing,
    /// A valid file, layered over the central configuration.
    Valid(Arc<Overlay>),
    /// A file with problems: ignored (the central configuration alone) and reported.
    Invalid(Arc<Vec<ConfigError>>),
}

struct Entry {
    bytes: Option<Vec<u8>>,
    file: RepoFile,
    fetched: Instant,
    /// The central configuration's generation the file was read against.
    generation: u64,
}

/// The cache of repositories' files, shared by every worker.
#[derive(Default)]
pub struct RepoConfigs {
    entries: Mutex<HashMap<(ForgeKind, String), Entry>>,
}

/// What reading a file needs from the central configuration.
pub struct Central<'a> {
    pub policy: &'a RepoConfigPolicy,
    pub plugins: &'a PluginMatrix,
    /// Bumped on every reload, so cached files are read again against the new policy.
    pub generation: u64,
}

impl RepoConfigs {
    /// The repository's file, from the cache or (once) from the default branch.
    pub async fn for_repo(
        &self,
        forge: &dyn ForgeRead,
        kind: ForgeKind,
        repo: &RepoPath,
        central: &Central<'_>,
        plugins: &[Box<dyn Plugin>],
    ) -> Result<RepoFile, ForgeError> {
        let key = (kind, repo.as_str().to_string());
        let cached = {
            let mut entries = self.lock();
            match entries.get_mut(&key) {
                Some(e) if e.fetched.elapsed() < central.policy.refresh => {
                    if e.generation != central.generation {
                        e.file = read(e.bytes.as_deref(), central, repo, plugins);
                        e.generation = central.generation;
                    }
                    Some(e.file.clone())
                }
                _ => None,
            }
        };
        if let Some(file) = cached {
            return Ok(file);
        }
        let bytes = forge
            .file_content(repo, &central.policy.file, "HEAD")
            .await?;
        let file = read(bytes.as_deref(), central, repo, plugins);
        if let RepoFile::Invalid(problems) = &file {
            tracing::warn!(
                repo = repo.as_str(),
                file = central.policy.file.as_str(),
                problems = problems.len(),
                "the repository's configuration file has problems; the central configuration alone applies"
            );
        }
        self.lock().insert(
            key,
            Entry {
                bytes,
                file: file.clone(),
                fetched: Instant::now(),
                generation: central.generation,
            },
        );
        Ok(file)
    }

    /// Forgets a repository's file when this push may have changed it on the default branch.
    pub fn saw_push(&self, push: &PushEvent, file: &str) {
        let branch = push
            .git_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&push.git_ref);
        if push.default_branch.as_deref().is_some_and(|d| d != branch) {
            return;
        }
        if push
            .changed_paths
            .as_ref()
            .is_some_and(|paths| !paths.iter().any(|p| p == file))
        {
            return;
        }
        self.lock()
            .remove(&(push.forge, push.repo.as_str().to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(ForgeKind, String), Entry>> {
        // A panic elsewhere while holding the lock leaves a usable map: entries are whole.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads a file's bytes (`None`: no file) against the central configuration.
pub(super) fn read(
    bytes: Option<&[u8]>,
    central: &Central<'_>,
    repo: &RepoPath,
    plugins: &[Box<dyn Plugin>],
) -> RepoFile {
    let Some(bytes) = bytes else {
        return RepoFile::Missing;
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return RepoFile::Invalid(Arc::new(vec![crate::config::problem(
            central.policy.file.as_str(),
            "is not UTF-8 text",
        )]));
    };
    match parse_overlay(text, central.policy, central.plugins, repo, plugins) {
        Ok(overlay) => RepoFile::Valid(Arc::new(overlay)),
        Err(problems) => RepoFile::Invalid(Arc::new(problems)),
    }
}
