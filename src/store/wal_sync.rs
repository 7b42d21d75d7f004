//! SQLite's journal made durable without holding the writer's turn.
//!
//! A commit in WAL mode with `synchronous = NORMAL` survives bosun crashing, but not the
//! machine losing power: its frames are in the WAL file, not yet on the disk. `FULL` syncs
//! the WAL inside every commit, while the one writer holds SQLite's write lock and bosun's
//! turn, so every other write waits for the disk too: at 800 `/lgtm` events a second the
//! queue fell behind, and at 1,000 deliveries a second offered p99 went from 2.4 to 60 ms
//! (BENCHMARKS §20.5). Instead the journal commits with `NORMAL` and then, after handing the
//! turn back, waits here until the WAL file is synced: one `fdatasync` covers every commit
//! made before it began, so concurrent commits share it, as Postgres's group commit does.
//!
//! The WAL is opened by name for each sync: SQLite keeps one WAL file while it has
//! connections open, but a file descriptor kept here would go on syncing an unlinked file if
//! SQLite ever replaced it.

use super::StoreError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The journal's commits, counted, and how many of them are on the disk.
pub(super) struct WalSync {
    /// The database's `-wal` file, if its commits are to be synced.
    wal: Option<PathBuf>,
    /// Commits made so far (counted by [`WalSync::committed`] while the writer's turn is held,
    /// so in commit order).
    committed: AtomicU64,
    /// Commits known to be on the disk.
    synced: AtomicU64,
    /// One sync at a time; who waits here finds its commit synced by the one before, or runs
    /// the next.
    syncing: tokio::sync::Mutex<()>,
}

impl WalSync {
    /// Syncing `wal`, the database's `-wal` file; with `None` every commit counts as durable at
    /// once (a database in memory, or `database.sqlite_sync = "os"`).
    pub(super) fn new(wal: Option<PathBuf>) -> WalSync {
        WalSync {
            wal,
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncing: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether commits wait for the disk at all.
    pub(super) fn syncs(&self) -> bool {
        self.wal.is_some()
    }

    /// Counts a commit of the journal; call it before handing back the writer's turn. The
    /// number is what [`WalSync::durable`] waits for.
    pub(super) fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Returns once commit `commit` (and every one before it) is on the disk.
    pub(super) async fn durable(&self, commit: u64) -> Result<(), StoreError> {
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        if self.synced.load(Ordering::Acquire) >= commit {
            return Ok(());
        }
        let _turn = self.syncing.lock().await;
        if self.synced.load(Ordering::Acquire) >= commit {
            return Ok(());
        }
        // Everything committed before the sync starts is covered by it.
        let covers = self.committed.load(Ordering::Acquire);
        let wal = wal.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(&wal)?.sync_data())
            .await
            .map_err(|e| StoreError::Bug(format!("syncing the WAL: {e}")))?
            .map_err(|e| StoreError::Unavailable(format!("syncing the WAL to disk: {e}")))?;
        self.synced.fetch_max(covers, Ordering::AcqRel);
        Ok(())
    }

    /// Commits known to be on the disk, and the WAL file synced, for tests.
    #[cfg(test)]
    pub(super) fn synced(&self) -> (u64, Option<&std::path::Path>) {
        (self.synced.load(Ordering::Acquire), self.wal.as_deref())
    }
}
