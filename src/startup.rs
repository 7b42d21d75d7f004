//! Building and running bosun, the same way in production and in tests: bind (port 0 works),
//! migrate, start the intake, the HTTP server and the workers; stop cleanly on SIGTERM.

use crate::chat::sender::{ChatSender, SenderChannel};
use crate::config::{ForgeSettings, Settings};
use crate::dispatch::Dispatcher;
use crate::executor::Targets;
use crate::forge::Forges;
use crate::forge::github::GitHubForge;
use crate::forge::gitlab::GitLabForge;
use crate::intake::Intake;
use crate::queue::Engine;
use crate::server::{AppState, routes};
use crate::store::{self, Store};
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use bosun_plugins::Forge;
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Notify, watch};

/// A built, bound, not yet running bosun.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    engine: Arc<Engine>,
    chat: Arc<ChatSender>,
    resync: Arc<crate::resync::Resync>,
    shutting_down: Arc<AtomicBool>,
    store: Arc<dyn Store>,
    live: Arc<crate::config::LiveSettings>,
    /// Where to read the configuration again on SIGHUP or a change; none: never reloaded.
    config_source: Option<crate::reload::ConfigSource>,
}

impl Application {
    /// Connects and migrates the store, builds the forge clients (without calling them), and
    /// binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let settings = Arc::new(settings);
        let live = crate::config::LiveSettings::new(settings.clone());
        let store = store::connect_with(
            &settings.database.url,
            settings.database.max_connections,
            store::sqlite::SqliteTuning {
                checkpoints: settings.database.sqlite_checkpoints,
                sync: settings.database.sqlite_sync,
            },
        )
        .await
        .context("opening the database")?;
        store.migrate().await.context("applying migrations")?;
        let forges = build_forges(&settings)?;
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let work_available = Arc::new(Notify::new());
        let running_items = Arc::new(crate::queue::RunningItems::default());
        let idle_workers = Arc::new(crate::queue::IdleWorkers::default());
        let shutting_down = Arc::new(AtomicBool::new(false));
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            live: live.clone(),
            store: store.clone(),
            intake: Intake::start(
                store.clone(),
                crate::intake::Handoff::new(
                    idle_workers.clone(),
                    running_items.clone(),
                    work_available.clone(),
                    std::time::Duration::from_secs(settings.queue.lease_seconds),
                ),
            ),
            work_available: work_available.clone(),
            running_items: running_items.clone(),
            shutting_down: shutting_down.clone(),
            metrics: crate::telemetry::metrics_handle(),
            dingtalk_signatures: Default::default(),
        });
        let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(routes))
            .workers(settings.http_workers)
            .backlog(2048)
            .disable_signals()
            .shutdown_timeout(settings.shutdown_grace.as_secs().max(1))
            .listen(listener)?
            .run();
        let chat = Arc::new(ChatSender::new(
            store.clone(),
            settings
                .chat
                .channels
                .iter()
                .map(|(name, c)| {
                    let channel = SenderChannel {
                        channel: crate::chat::channel_for(c),
                        max_messages: c.max_messages,
                        window: c.window,
                        language: c.language,
                    };
                    (name.clone(), channel)
                })
                .collect::<BTreeMap<_, _>>(),
        ));
        let resync = Arc::new(crate::resync::Resync {
            store: store.clone(),
            forges: forges.clone(),
            settings: settings.clone(),
            work: work_available.clone(),
        });
        let targets = Targets::new(&forges, store.clone(), chat.channel_names(), chat.wake())
            .with_queue(work_available.clone(), settings.merge.recheck_limit)
            .with_drone(settings.drone.as_ref())
            .with_slack_bot(settings.chat.slack_bot.clone());
        let dispatcher = Dispatcher {
            live: live.clone(),
            repo_configs: Default::default(),
            store: store.clone(),
            forges,
            targets,
            plugins: bosun_plugins::all_plugins(),
            owners: Arc::new(bosun_plugins::owners::OwnersLoader::with_policy(
                Arc::new(crate::store::plugin_state::StoreOwnersCache(store.clone())),
                settings.owners.policy(),
            )),
            history: Arc::new(crate::store::plugin_state::StoreHistory(store.clone())),
        };
        let engine = Arc::new(Engine {
            settings: settings.clone(),
            store: store.clone(),
            dispatcher,
            work_available,
            running_items,
            idle_workers,
        });
        Ok(Application {
            port,
            server,
            engine,
            chat,
            resync,
            shutting_down,
            store,
            live,
            config_source: None,
        })
    }

    /// Reloads the configuration from `source` on SIGHUP and when the file changes.
    pub fn reload_from(mut self, source: crate::reload::ConfigSource) -> Self {
        self.config_source = Some(source);
        self
    }

    /// The settings in force, for tests that watch a reload happen.
    pub fn live_settings(&self) -> Arc<crate::config::LiveSettings> {
        self.live.clone()
    }

    /// The bound port (useful when configured with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store, for the CLI and tests.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The merge controller's resync, for tests and benchmarks that run a pass on demand.
    pub fn resync(&self) -> Arc<crate::resync::Resync> {
        self.resync.clone()
    }

    /// The workers waiting for work, for tests that need them all waiting before a delivery
    /// arrives (it is then handed over rather than claimed).
    pub fn idle_workers(&self) -> Arc<crate::queue::IdleWorkers> {
        self.engine.idle_workers.clone()
    }

    /// Serves and works until SIGTERM or SIGINT: then the receiver answers 503, workers finish
    /// or release their delivery within the grace period, and the server stops.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(wait_for_signal()).await
    }

    /// As [`Application::run_until_stopped`], stopping when `stop` completes instead of on a
    /// signal (tests, embedding).
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let grace = self.engine.settings.shutdown_grace;
        let mut workers = tokio::task::JoinSet::new();
        let settings = &self.engine.settings;
        let worker_count = settings.queue.workers_for(&settings.database.url);
        for n in 0..worker_count {
            let worker_id = format!("{}-{}-{n}", hostname(), std::process::id());
            workers.spawn(
                self.engine
                    .clone()
                    .run_worker(worker_id, stop_rx.clone(), grace),
            );
        }
        if worker_count > 0 {
            workers.spawn(self.chat.clone().run(stop_rx.clone()));
            let period = self.engine.settings.merge.resync_seconds;
            if period > 0 {
                workers.spawn(
                    self.resync
                        .clone()
                        .run(std::time::Duration::from_secs(period), stop_rx.clone()),
                );
            }
            if self.engine.settings.reconcile.interval.is_some() {
                workers.spawn(crate::reconcile::run_periodically(
                    self.engine.settings.clone(),
                    self.store.clone(),
                    stop_rx.clone(),
                ));
            }
        }
        if let Some(source) = self.config_source.clone() {
            workers.spawn(crate::reload::watch(
                source,
                self.live.clone(),
                stop_rx.clone(),
            ));
        }
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        stop.await;
        tracing::info!("stopping: refusing new webhooks, finishing work in hand");
        self.shutting_down.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        while workers.join_next().await.is_some() {}
        handle.stop(true).await;
        server.await.context("server task")?.context("server")?;
        tracing::info!("stopped");
        Ok(())
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "bosun".into())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The configured forges' clients (built without calling them).
pub fn build_forges(settings: &Settings) -> anyhow::Result<Forges> {
    let github = match &settings.github {
        Some(gh) => Some(Arc::new(
            github_client(gh)?
                .with_timeout(settings.limits.forge_timeout)
                .with_max_concurrent_calls(settings.limits.max_concurrent_forge_calls),
        ) as Arc<dyn Forge>),
        None => None,
    };
    let gitlab = match &settings.gitlab {
        Some(gl) => Some(Arc::new(
            gitlab_client(gl)?
                .with_timeout(settings.limits.forge_timeout)
                .with_max_concurrent_calls(settings.limits.max_concurrent_forge_calls),
        ) as Arc<dyn Forge>),
        None => None,
    };
    Ok(Forges::new(github, gitlab))
}

/// The GitHub client for these settings: as the App when one is configured (it acts per
/// installation, as `name[bot]`), else with the token, else anonymous.
pub fn github_client(gh: &ForgeSettings) -> anyhow::Result<GitHubForge> {
    match &gh.app {
        Some(app) => GitHubForge::new_app(
            &gh.api_url,
            app.app_id,
            app.private_key.expose_secret().as_bytes(),
        ),
        None => GitHubForge::new(
            &gh.api_url,
            gh.token.as_ref().map(|t| t.expose_secret().to_string()),
        ),
    }
    .map_err(|e| anyhow::anyhow!("github client: {e}"))
}

/// The GitLab client for these settings.
pub fn gitlab_client(gl: &ForgeSettings) -> anyhow::Result<GitLabForge> {
    let token = gl.token.as_ref().map(|t| t.expose_secret().to_string());
    GitLabForge::new(&gl.api_url, token, gl.allow_http)
        .map_err(|e| anyhow::anyhow!("gitlab client: {e}"))
}
