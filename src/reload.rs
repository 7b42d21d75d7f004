//! Reloading the central configuration on SIGHUP or when its file changes: the new file is
//! validated whole, as at start; if it has problems they are logged and the settings in force
//! stay. Deliveries keep arriving and running throughout: a reload only replaces the snapshot
//! the next delivery takes (see [`LiveSettings`]).

use crate::config::{ConfigError, LiveSettings, Settings};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How often the file's modification time is looked at.
const POLL: Duration = Duration::from_secs(1);

/// Where the configuration comes from, to read it again.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    /// The environment overrides and secrets are read from; `None` means the process's, as
    /// it is at the reload.
    pub env: Option<Vec<(String, String)>>,
}

impl ConfigSource {
    /// Reads and validates the file as `serve` does at start.
    pub fn load(&self) -> Result<Settings, Vec<ConfigError>> {
        let env = match &self.env {
            Some(env) => env.clone(),
            None => std::env::vars().collect(),
        };
        Settings::load_with_env(&self.path, &env)
    }

    fn stamp(&self) -> Option<(SystemTime, u64)> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some((meta.modified().ok()?, meta.len()))
    }
}

/// Reads the file again and, when it is valid, puts it in force. Returns whether it was.
pub fn reload(source: &ConfigSource, live: &LiveSettings) -> bool {
    match source.load() {
        Ok(settings) => {
            for w in &settings.warnings {
                tracing::warn!(problem = %w, "configuration");
            }
            let restart_only = live.replace(settings);
            metrics::counter!("bosun_config_reloads_total", "result" => "applied").increment(1);
            if restart_only.is_empty() {
                tracing::info!(path = %source.path.display(), "configuration reloaded");
            } else {
                tracing::warn!(
                    path = %source.path.display(),
                    restart_only = restart_only.join(", "),
                    "configuration reloaded; changes to these sections take effect at the next restart"
                );
            }
            true
        }
        Err(problems) => {
            metrics::counter!("bosun_config_reloads_total", "result" => "refused").increment(1);
            for p in &problems {
                tracing::error!(problem = %p, "configuration not reloaded");
            }
            false
        }
    }
}

/// Reloads on SIGHUP and whenever the file's modification time or size changes, until `stop`.
pub async fn watch(source: ConfigSource, live: Arc<LiveSettings>, mut stop: watch::Receiver<bool>) {
    let mut hangups = hangup_signals();
    let mut seen = source.stamp();
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = next_hangup(&mut hangups) => {
                tracing::info!("SIGHUP: reloading the configuration");
                seen = source.stamp();
                reload(&source, &live);
            }
            _ = poll.tick() => {
                let now = source.stamp();
                if now.is_some() && now != seen {
                    seen = now;
                    reload(&source, &live);
                }
            }
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(
            |e| tracing::warn!(error = %e, "cannot listen for SIGHUP; the file is still watched"),
        )
        .ok()
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) {
    match hangups {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending::<()>().await
}
