//! The end-to-end harness: a real bosun (the production `Application::build`) on a fresh
//! database, a fake forge on loopback for the real octocrab and gitlab clients, and signed
//! copies of the fixtures.
//!
//! Databases: every scenario runs on a temp-file SQLite; when `BOSUN_TEST_POSTGRES` names a
//! server (e.g. `postgres://postgres@127.0.0.1:5432/postgres`) it also runs on a fresh
//! Postgres database, and fails if that server cannot be reached.

use bosun::cli::{SendForge, signed_request};
use bosun::config::{RawConfig, Settings};
use bosun::startup::Application;
use bosun::store::Store;
use bosun_plugins::ForgeKind;
use fake_forge::FakeForge;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

pub const GITHUB_SECRET: &str = "gh-webhook-secret";
pub const GITLAB_TOKEN: &str = "gl-webhook-token";
pub const BOT: &str = "bosun-bot";

/// Which database a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The databases to run every scenario on: SQLite, and Postgres when `BOSUN_TEST_POSTGRES`
/// is set (when CI requires Postgres and it is not set, this fails: see [`postgres_or_skip`]).
pub fn databases() -> Vec<Db> {
    let mut out = vec![Db::Sqlite];
    if postgres_or_skip("the Postgres half of this scenario") {
        out.push(Db::Postgres);
    }
    out
}

/// Whether CI asked for every Postgres test to run (`CI=true` or
/// `BOSUN_TEST_REQUIRE_POSTGRES=1`).
fn postgres_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("BOSUN_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// Whether a test that needs Postgres can run. Without `BOSUN_TEST_POSTGRES` it says it was
/// skipped, and fails instead when CI requires Postgres, so a CI run never passes by skipping.
pub fn postgres_or_skip(what: &str) -> bool {
    if postgres_server().is_some() {
        return true;
    }
    assert!(
        !postgres_required(),
        "{what} needs Postgres, which CI requires: set BOSUN_TEST_POSTGRES"
    );
    // Straight to stderr, past the test harness's capture, so a passing run still says it.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {what} needs Postgres (set BOSUN_TEST_POSTGRES to run it)"
    );
    false
}

/// Combinations whose scenario failed, for the harness's own test.
static FAILED_COMBINATIONS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Held while a scenario runs one combination (a database, a forge): if the scenario panics,
/// the test's output names the combination it failed on, under the panic message.
pub struct Combination(String);

impl Combination {
    /// Names what this part of the scenario runs on (`Postgres`, `GitLab` …).
    pub fn new(name: impl std::fmt::Debug) -> Combination {
        Combination(format!("{name:?}"))
    }
}

impl Drop for Combination {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("failed on: {}", self.0);
            if let Ok(mut failed) = FAILED_COMBINATIONS.lock() {
                failed.push(self.0.clone());
            }
        }
    }
}

#[test]
fn a_failing_scenario_names_its_combination() {
    let outcome = std::panic::catch_unwind(|| {
        let _db = Combination::new(Db::Postgres);
        let _forge = Combination::new(bosun_plugins::ForgeKind::GitLab);
        panic!("an assertion in the scenario");
    });
    assert!(outcome.is_err());
    let failed = FAILED_COMBINATIONS.lock().expect("list").clone();
    assert!(failed.contains(&"Postgres".to_string()), "{failed:?}");
    assert!(failed.contains(&"GitLab".to_string()), "{failed:?}");
    let _fine = Combination::new(Db::Sqlite);
    drop(_fine);
    assert!(
        !FAILED_COMBINATIONS
            .lock()
            .expect("list")
            .contains(&"Sqlite".to_string())
    );
}

/// The Postgres server tests use, when enabled.
pub fn postgres_server() -> Option<String> {
    std::env::var("BOSUN_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A fresh database URL; Postgres databases are created here and dropped by [`TestDb`].
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(db: Db) -> TestDb {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("bosun.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Db::Postgres => {
                let server = postgres_server().expect("BOSUN_TEST_POSTGRES");
                let name = format!("bosun_test_{}", uuid::Uuid::new_v4().simple());
                let admin = sqlx::PgPool::connect(&server)
                    .await
                    .unwrap_or_else(|e| panic!("BOSUN_TEST_POSTGRES is set but unreachable: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                let url = replace_db_name(&server, &name);
                note_postgres_use(&name);
                TestDb {
                    url,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(name), Some(server)) = (self.pg_name.take(), postgres_server()) else {
            return;
        };
        // Dropped from a plain thread: Drop may run inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(admin) = sqlx::PgPool::connect(&server).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                }
            })
        })
        .join();
    }
}

/// Lists a Postgres test database in `BOSUN_TEST_PG_LOG`, so CI can prove they ran.
pub fn note_postgres_use(name: &str) {
    if let Ok(path) = std::env::var("BOSUN_TEST_PG_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = writeln!(f, "{name}");
        }
    }
}

/// Swaps the database name in a Postgres URL.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// The config a test bosun runs with; `extra` is appended TOML.
pub fn config_text(db_url: &str, forge_url: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_grace_seconds = 5
[database]
url = "{db_url}"
max_connections = 5
[queue]
workers = 2
lease_seconds = 30
max_attempts = 5
backoff_base_ms = 20
backoff_max_seconds = 2
poll_interval_ms = 50
[github]
api_url = "{forge_url}"
[github.webhook_secrets]
"*" = ["TEST_GITHUB_SECRET"]
[gitlab]
url = "{forge_url}"
allow_http = true
[gitlab.webhook_tokens]
"*" = ["TEST_GITLAB_TOKEN"]
{extra}
"#
    )
}

/// The environment a test bosun sees (no process environment is read).
pub fn test_env(with_tokens: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("TEST_GITHUB_SECRET".to_string(), GITHUB_SECRET.to_string()),
        ("TEST_GITLAB_TOKEN".to_string(), GITLAB_TOKEN.to_string()),
    ];
    if with_tokens {
        env.push(("BOSUN_GITHUB_TOKEN".into(), "gh-api-token".into()));
        env.push(("BOSUN_GITLAB_TOKEN".into(), "gl-api-token".into()));
    }
    env
}

/// A running bosun with its fake forge.
pub struct TestBosun {
    pub forge: FakeForge,
    pub store: Arc<dyn Store>,
    /// The merge controller's resync, to run a pass on demand.
    pub resync: Arc<bosun::resync::Resync>,
    /// The settings in force, to see a reload happen.
    pub live: Arc<bosun::config::LiveSettings>,
    /// The workers waiting for work, and how many workers there are.
    idle_workers: Arc<bosun::queue::IdleWorkers>,
    workers: usize,
    pub port: u16,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: TestDb,
}

/// Options for [`spawn_bosun`].
pub struct Options {
    pub db: Db,
    /// Plugins config (TOML) appended to the generated config.
    pub extra: String,
    /// Whether API tokens are set (false means dry-run).
    pub tokens: bool,
    /// More environment, e.g. `BOSUN_QUEUE__WORKERS` overrides of the generated config.
    pub env: Vec<(String, String)>,
    /// Top-level keys (TOML before any table), e.g. `bot_accounts = ["ci-robot"]`.
    pub top: String,
    /// Write the configuration to this file and reload it from there, as `serve` does.
    pub config_file: Option<PathBuf>,
}

impl Options {
    pub fn new(db: Db) -> Options {
        Options { db, extra: "[plugins.\"kubernetes\"]\nenabled = [\"hold\"]\n[plugins.\"gitlab-org\"]\nenabled = [\"hold\"]\n".into(), tokens: true, env: Vec::new(), top: String::new(), config_file: None }
    }
    /// The queue's poll set to ten minutes: workers then wait only for the receiver (a
    /// hand-over or a wake-up) or for the delivery ahead of theirs to end.
    pub fn without_poll(mut self) -> Options {
        self.env
            .push(("BOSUN_QUEUE__POLL_INTERVAL_MS".into(), "600000".into()));
        self
    }
}

/// Starts bosun as production does, on port 0.
pub async fn spawn_bosun(options: Options) -> TestBosun {
    if std::env::var("TEST_LOG").is_ok() {
        bosun::telemetry::init_tracing();
    }
    let forge = FakeForge::start();
    forge.set_bot(ForgeKind::GitHub, BOT);
    forge.set_bot(ForgeKind::GitLab, BOT);
    let db = TestDb::new(options.db).await;
    let text = format!(
        "{}\n{}",
        options.top,
        config_text(&db.url, &forge.url(), &options.extra)
    );
    let mut env = test_env(options.tokens);
    env.extend(options.env.iter().cloned());
    let settings: Settings = RawConfig::parse(&text, &env)
        .and_then(|raw| raw.validate(&env))
        .unwrap_or_else(|e| panic!("test config: {e:?}"));
    let workers = settings.queue.workers_for(&settings.database.url);
    let mut app = Application::build(settings).await.expect("bosun builds");
    if let Some(path) = &options.config_file {
        std::fs::write(path, &text).expect("config file written");
        app = app.reload_from(bosun::reload::ConfigSource {
            path: path.clone(),
            env: Some(env.clone()),
        });
    }
    let live = app.live_settings();
    let port = app.port();
    let store = app.store();
    let resync = app.resync();
    let idle_workers = app.idle_workers();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestBosun {
        forge,
        store,
        resync,
        idle_workers,
        workers,
        live,
        port,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
        _db: db,
    }
}

impl TestBosun {
    /// The database this bosun uses.
    pub fn db_url(&self) -> &str {
        &self._db.url
    }

    pub fn hook_url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The text of the page at `path` (a GET, whatever its status).
    pub async fn page(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text")
    }

    /// Posts a payload as the forge would; returns status and body.
    pub async fn post(
        &self,
        forge: ForgeKind,
        event: &str,
        delivery_id: &str,
        body: &[u8],
    ) -> (u16, String) {
        let (send_forge, secret) = match forge {
            ForgeKind::GitHub => (SendForge::Github, GITHUB_SECRET),
            ForgeKind::GitLab => (SendForge::Gitlab, GITLAB_TOKEN),
        };
        let mut req = self.http.post(self.hook_url()).body(body.to_vec());
        for (k, v) in signed_request(send_forge, event, secret, delivery_id, body) {
            req = req.header(k, v);
        }
        let resp = req.send().await.expect("bosun answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Posts a webhook as the forge would, waits for bosun to finish, and checks the delivery
    /// ended `done`.
    pub async fn deliver(&self, forge: ForgeKind, (event, body): (&str, Vec<u8>)) {
        let id = uuid::Uuid::new_v4().to_string();
        let (status, text) = self.post(forge, event, &id, &body).await;
        assert_eq!(status, 202, "{forge:?}: {text}");
        self.run_until_idle().await;
        let stored = format!("{}:{id}", forge.as_str());
        assert_eq!(
            self.status_of(&stored).await.as_deref(),
            Some("done"),
            "{forge:?}"
        );
    }

    /// Waits until every stored delivery has finished (none queued or running).
    pub async fn run_until_idle(&self) {
        wait_until(
            "all deliveries finished",
            Duration::from_secs(30),
            || async {
                let counts = self.store.status_counts().await.expect("counts");
                counts.get("queued").copied().unwrap_or(0)
                    + counts.get("running").copied().unwrap_or(0)
                    == 0
            },
        )
        .await;
    }

    /// Waits until every worker waits for work, so that the next delivery is handed to one as
    /// it is journaled rather than claimed.
    pub async fn all_workers_waiting(&self) {
        wait_until("every worker waits", Duration::from_secs(10), || async {
            self.idle_workers.waiting() == self.workers
        })
        .await;
    }

    /// The stored status of a delivery.
    pub async fn status_of(&self, delivery_id: &str) -> Option<String> {
        self.store
            .delivery(delivery_id)
            .await
            .expect("store")
            .map(|d| d.status)
    }

    /// Stops bosun and reports an error the service ended with.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("bosun task")
                .expect("bosun stopped cleanly");
        }
        let unrouted = self.forge.unrouted_requests();
        assert!(
            unrouted.is_empty(),
            "the fake forge could not serve: {unrouted:?}"
        );
    }
}

/// Polls `check` until it holds or `limit` passes.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The fixtures directory (`tests/fixtures`: real payloads of both forges, see its README).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture as JSON, to patch.
pub fn fixture(path: &str) -> Value {
    let text =
        std::fs::read(fixtures().join(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
    serde_json::from_slice(&text).expect("fixture is JSON")
}

/// A fixture's raw bytes.
pub fn fixture_bytes(path: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// Sets a field by JSON pointer (creating nothing).
pub fn patch(value: &mut Value, pointer: &str, new: Value) {
    *value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("fixture has no {pointer}")) = new;
}

/// A GitHub PR comment (from a real Prow delivery) with a new body, author and number.
pub fn github_pr_comment(number: u64, author: &str, body: &str) -> Vec<u8> {
    let mut v = fixture("github/issue_comment/created.on-pull-request.lgtm.json");
    patch(&mut v, "/comment/body", body.into());
    patch(&mut v, "/comment/user/login", author.into());
    patch(&mut v, "/issue/number", number.into());
    serde_json::to_vec(&v).expect("json")
}

/// A GitLab MR note (from a real gitlab.com capture) with a new body, author and iid.
pub fn gitlab_mr_note(iid: u64, author: &str, body: &str) -> Vec<u8> {
    let mut v = fixture("gitlab/note/merge_request.json");
    patch(&mut v, "/object_attributes/note", body.into());
    patch(&mut v, "/user/username", author.into());
    patch(&mut v, "/merge_request/iid", iid.into());
    serde_json::to_vec(&v).expect("json")
}

pub const GITHUB_REPO: &str = "kubernetes/test-infra";
pub const GITLAB_REPO: &str = "gitlab-org/hello-world";

/// The `host:port` a Postgres URL points at.
pub fn postgres_address(url: &str) -> String {
    let parsed = reqwest::Url::parse(url).expect("a Postgres URL");
    let host = parsed.host_str().unwrap_or("localhost");
    format!("{host}:{}", parsed.port().unwrap_or(5432))
}

/// The same Postgres URL, pointed at `addr` (a [`ChaosProxy`]) instead.
pub fn postgres_url_via(url: &str, addr: std::net::SocketAddr) -> String {
    let mut parsed = reqwest::Url::parse(url).expect("a Postgres URL");
    parsed.set_ip_host(addr.ip()).expect("a URL with a host");
    parsed
        .set_port(Some(addr.port()))
        .expect("a URL with a host");
    parsed.to_string()
}

/// A TCP proxy in front of Postgres for outage tests. While up it forwards every connection.
/// [`ChaosProxy::cut`] drops every open connection (the client sees a reset) and
/// [`ChaosProxy::freeze`] keeps them open but forwards nothing more (a partition that silently
/// loses packets); either way new connections are then accepted and never answered, so clients
/// wait for their own timeouts. [`ChaosProxy::restore`] drops whatever was held and forwards
/// again. The proxy runs on the test's runtime and stops with it or when dropped.
pub struct ChaosProxy {
    addr: std::net::SocketAddr,
    state: Arc<tokio::sync::watch::Sender<ProxyState>>,
    /// Connections that may still forward a byte: counted from before they look at the mode
    /// until they have stopped forwarding.
    forwarding: Arc<std::sync::atomic::AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

/// What the proxy does now; `epoch` changes on every switch, so connections notice it.
#[derive(Debug, Clone, Copy)]
struct ProxyState {
    mode: ProxyMode,
    epoch: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyMode {
    Up,
    Cut,
    Frozen,
}

impl ChaosProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> ChaosProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("chaos proxy: bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("chaos proxy: a bound socket has an address");
        let (state, _) = tokio::sync::watch::channel(ProxyState {
            mode: ProxyMode::Up,
            epoch: 0,
        });
        let state = Arc::new(state);
        let forwarding = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let upstream = upstream.to_string();
        let accept = tokio::spawn({
            let state = state.clone();
            let forwarding = forwarding.clone();
            async move {
                loop {
                    if let Ok((inbound, _)) = listener.accept().await {
                        forwarding.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::spawn(proxy_connection(
                            inbound,
                            upstream.clone(),
                            state.subscribe(),
                            Forwarding(forwarding.clone()),
                        ));
                    }
                }
            }
        });
        ChaosProxy {
            addr,
            state,
            forwarding,
            accept,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The database becomes unreachable: open connections are reset, new ones hang. Returns
    /// once no connection forwards anything more.
    pub async fn cut(&self) {
        self.switch(ProxyMode::Cut);
        self.until_nothing_forwards().await;
    }

    /// The database becomes unreachable without a word: open connections stay open but carry
    /// nothing more, new ones hang. Returns once no connection forwards anything more.
    pub async fn freeze(&self) {
        self.switch(ProxyMode::Frozen);
        self.until_nothing_forwards().await;
    }

    /// Waits until every connection has seen the switch: a busy test runtime may poll a
    /// connection's task late, and until then it would still carry bytes.
    async fn until_nothing_forwards(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.forwarding.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "chaos proxy: connections still forwarding 10 s after the switch"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The database is reachable again (connections held while it was not are dropped).
    pub fn restore(&self) {
        self.switch(ProxyMode::Up);
    }

    fn switch(&self, mode: ProxyMode) {
        self.state.send_modify(|s| {
            s.mode = mode;
            s.epoch += 1;
        });
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Ends every connection, whatever it is doing.
        self.switch(ProxyMode::Cut);
    }
}

/// Forwards one connection while the proxy is up; holds it silent while frozen; drops it when
/// cut, when the proxy is restored after holding it, or when the proxy goes away.
/// One connection counted in [`ChaosProxy`]'s `forwarding` until dropped.
struct Forwarding(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn proxy_connection(
    mut inbound: tokio::net::TcpStream,
    upstream: String,
    mut state: tokio::sync::watch::Receiver<ProxyState>,
    forwarding: Forwarding,
) {
    let at = *state.borrow_and_update();
    if at.mode != ProxyMode::Up {
        drop(forwarding);
        let _ = state.wait_for(|s| s.epoch != at.epoch).await;
        return;
    }
    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
        return;
    };
    // The switch first: once it is seen, not another byte is copied.
    tokio::select! {
        biased;
        _ = state.wait_for(|s| s.epoch != at.epoch) => {}
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
    }
    drop(forwarding);
    let now = *state.borrow_and_update();
    if now.mode == ProxyMode::Frozen {
        // Both sockets stay open, unread and unwritten, until the next switch.
        let _ = state.wait_for(|s| s.epoch != now.epoch).await;
    }
}

/// A pool straight on a test database, beside bosun's own, for what the store does not expose.
pub enum RawPool {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl RawPool {
    /// Connects to the database at `url`.
    pub async fn connect(db: Db, url: &str) -> RawPool {
        match db {
            Db::Sqlite => RawPool::Sqlite(sqlx::SqlitePool::connect(url).await.expect("sqlite")),
            Db::Postgres => RawPool::Pg(sqlx::PgPool::connect(url).await.expect("postgres")),
        }
    }

    /// Runs one statement as the store would, returning the store's error for it.
    pub async fn execute(&self, sql: &'static str) -> Result<(), bosun::store::StoreError> {
        match self {
            RawPool::Sqlite(p) => sqlx::query(sql).execute(p).await.map(drop)?,
            RawPool::Pg(p) => sqlx::query(sql).execute(p).await.map(drop)?,
        }
        Ok(())
    }

    /// A `count(*)` query's answer, with `$1` bound to `value`.
    pub async fn count(&self, sql: &'static str, value: &str) -> i64 {
        let count = match self {
            RawPool::Sqlite(p) => sqlx::query_scalar(sql).bind(value).fetch_one(p).await,
            RawPool::Pg(p) => sqlx::query_scalar(sql).bind(value).fetch_one(p).await,
        };
        count.expect(sql)
    }

    pub async fn close(&self) {
        match self {
            RawPool::Sqlite(p) => p.close().await,
            RawPool::Pg(p) => p.close().await,
        }
    }
}
