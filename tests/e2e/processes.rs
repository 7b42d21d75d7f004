//! Process-level acceptance tests of the service spine: the real `bosun serve` binary as child
//! processes on a shared database — killed with SIGKILL, stopped with SIGTERM, run two at a
//! time, and cut off from Postgres — with the fake forge in the test process.
//!
//! Children get the config of [`config_text`] plus `BOSUN_<SECTION>__<KEY>` overrides, log JSON
//! to a file in the test's temp dir (the port is read from the `bosun listening` line), and are
//! killed when their [`BosunProcess`] is dropped. Failures show the tail of each child's log.

use crate::support::*;
use bosun::cli::{SendForge, signed_request};
use bosun::store::{ActionOutcome, DeliveryRecord, Store};
use bosun_plugins::ForgeKind;
use fake_forge::{FakeForge, Fault, Gate, ItemKind, ItemRef, RecordedRequest, RepoPath};
use futures::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const HOLD: &str = "do-not-merge/hold";

const PLUGINS: &str = "[plugins.\"kubernetes\"]\nenabled = [\"hold\"]\n";

/// One `bosun serve` child process; SIGKILLed when dropped.
struct BosunProcess {
    name: String,
    child: Child,
    port: u16,
    log: PathBuf,
    http: reqwest::Client,
}

impl BosunProcess {
    /// Starts `bosun serve` on `db_url` and the fake forge, with `overrides` as environment
    /// (`BOSUN_QUEUE__WORKERS` …), and waits until `/healthz` answers.
    async fn start(
        dir: &Path,
        name: &str,
        db_url: &str,
        forge: &FakeForge,
        overrides: &[(&str, &str)],
    ) -> BosunProcess {
        Self::start_with(dir, name, db_url, forge, overrides, PLUGINS).await
    }

    /// As [`BosunProcess::start`], with other plugins enabled.
    async fn start_with(
        dir: &Path,
        name: &str,
        db_url: &str,
        forge: &FakeForge,
        overrides: &[(&str, &str)],
        plugins: &str,
    ) -> BosunProcess {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, config_text(db_url, &forge.url(), plugins)).expect("write config");
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).expect("create log file");
        let child = Command::new(env!("CARGO_BIN_EXE_bosun"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_clear()
            .envs(test_env(true))
            .env("BOSUN_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(overrides.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn bosun serve");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // A connection per request, as forges send webhooks. Reusing idle keep-alive
            // connections occasionally failed with hyper's IncompleteMessage under load: the
            // server closing an idle connection (actix's 5 s keep-alive) as the next request
            // is written on it.
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client");
        let mut process = BosunProcess {
            name: name.to_string(),
            child,
            port: 0,
            log,
            http,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        process.port = loop {
            if let Some(port) = listening_port(&process.log) {
                break port;
            }
            if let Some(status) = process.child.try_wait().expect("try_wait") {
                panic!(
                    "{name} exited with {status} before listening:\n{}",
                    process.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen:\n{}",
                process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let healthz = process.url("/healthz");
        wait_until(
            &format!("{name} answers /healthz"),
            Duration::from_secs(20),
            || async {
                matches!(process.http.get(&healthz).send().await, Ok(r) if r.status() == 200)
            },
        )
        .await;
        process
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hook_url(&self) -> String {
        self.url("/hook")
    }

    /// Posts a signed GitHub PR comment to this process.
    async fn post(&self, delivery_id: &str, body: &[u8]) -> Result<u16, reqwest::Error> {
        post_comment(&self.http, &self.hook_url(), delivery_id, body).await
    }

    /// The status `/readyz` answers, or `None` when nothing answers.
    async fn readyz(&self) -> Option<u16> {
        let resp = self.http.get(self.url("/readyz")).send().await.ok()?;
        Some(resp.status().as_u16())
    }

    /// Deliveries this process finished, from its `bosun_deliveries_total` counters.
    async fn deliveries_total(&self) -> f64 {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|l| l.starts_with("bosun_deliveries_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaps the process.
    fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL bosun");
        self.child.wait().expect("reap bosun");
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits for the process to exit by itself.
    async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {limit:?}:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last lines of the process's log, for failure messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!(
            "--- {} ({}) log tail ---\n{tail}",
            self.name,
            self.log.display()
        )
    }
}

impl Drop for BosunProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port from the `bosun listening` log line.
fn listening_port(log: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.pointer("/fields/message").and_then(Value::as_str) == Some("bosun listening"))?
        .pointer("/fields/port")?
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
}

/// Posts a signed GitHub `issue_comment`; `Err` when no answer came. The status counts once
/// its headers arrived (a 202 means committed, even if the body is lost to a kill).
async fn post_comment(
    http: &reqwest::Client,
    hook: &str,
    delivery_id: &str,
    body: &[u8],
) -> Result<u16, reqwest::Error> {
    let mut req = http.post(hook).body(body.to_vec());
    for (k, v) in signed_request(
        SendForge::Github,
        "issue_comment",
        GITHUB_SECRET,
        delivery_id,
        body,
    ) {
        req = req.header(k, v);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    Ok(status)
}

/// A fake forge with `prs` open PRs, numbered from 1, on the GitHub test repo.
fn forge_with_prs(prs: u64) -> FakeForge {
    let forge = FakeForge::start();
    forge.set_bot(ForgeKind::GitHub, BOT);
    for n in 1..=prs {
        forge.seed_pr(ForgeKind::GitHub, GITHUB_REPO, n, "spxtr");
    }
    forge
}

/// The reference of PR `number` on the GitHub test repo.
fn pr_ref(number: u64) -> ItemRef {
    ItemRef {
        forge: ForgeKind::GitHub,
        repo: RepoPath::parse(GITHUB_REPO).expect("repo path"),
        number,
        kind: ItemKind::PullRequest,
    }
}

fn labels_path(number: u64) -> String {
    format!("/repos/{GITHUB_REPO}/issues/{number}/labels")
}

/// `add` or `remove` when the request changes PR `number`'s labels.
fn label_write(r: &RecordedRequest, number: u64) -> Option<&'static str> {
    let path = labels_path(number);
    match r.method.as_str() {
        "POST" if r.path == path => Some("add"),
        "DELETE" if r.path.starts_with(&format!("{path}/")) => Some("remove"),
        _ => None,
    }
}

/// The forge served it (a request cut off by a dying client never reached the world).
fn completed(r: &RecordedRequest) -> bool {
    r.status.is_some_and(|s| (200..300).contains(&s))
}

/// Label additions on PR `number` that the forge carried out, in a snapshot of its log.
fn applied_label_posts(requests: &[RecordedRequest], number: u64) -> usize {
    requests
        .iter()
        .filter(|r| label_write(r, number) == Some("add") && completed(r))
        .count()
}

/// Delays one request on a path (`Fault::Delay` or `Fault::Hold`), after letting `skip` pass
/// untouched (rules are tried in order: with `skip` 1 the plugin's label read passes and the
/// label write waits).
fn delay_after(forge: &FakeForge, path: &str, skip: usize, delay: Fault) {
    if skip > 0 {
        forge.fail_next(path, skip, Fault::Delay(Duration::ZERO));
    }
    forge.fail_next(path, 1, delay);
}

async fn open_store(url: &str) -> Arc<dyn Store> {
    bosun::store::connect(url, 2)
        .await
        .expect("open the store from the test")
}

async fn status_of(store: &dyn Store, delivery_id: &str) -> Option<String> {
    store
        .delivery(delivery_id)
        .await
        .expect("store")
        .map(|d| d.status)
}

/// Polls until `check` holds; on timeout, fails with the children's log tails.
async fn wait_for<F, Fut>(what: &str, limit: Duration, procs: &[&BosunProcess], mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        if Instant::now() >= deadline {
            let logs: Vec<String> = procs.iter().map(|p| p.log_tail()).collect();
            panic!(
                "timed out after {limit:?} waiting for: {what}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Nothing queued or running is left in the store.
async fn all_finished(store: &dyn Store) -> bool {
    let counts = store.status_counts().await.expect("counts");
    counts.get("queued").copied().unwrap_or(0) + counts.get("running").copied().unwrap_or(0) == 0
}

/// Teardown: every stored delivery finished and none failed; the fake served every request.
async fn assert_clean(store: &dyn Store, forge: &FakeForge) {
    let counts = store.status_counts().await.expect("counts");
    let unfinished: i64 = ["queued", "running", "failed"]
        .iter()
        .filter_map(|s| counts.get(*s))
        .sum();
    assert_eq!(
        unfinished, 0,
        "deliveries left unfinished or failed: {counts:?}"
    );
    let unrouted = forge.unrouted_requests();
    assert!(
        unrouted.is_empty(),
        "the fake forge could not serve: {unrouted:?}"
    );
}

/// Crash safety: a bosun child process killed with SIGKILL while 500 deliveries are in flight,
/// then restarted: every delivery that got 202 ends `done`, and no action is applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_500_deliveries_in_flight_then_restart_loses_and_repeats_nothing() {
    for db in databases() {
        let _combination = Combination::new(db);
        let test_db = TestDb::new(db).await;
        let dir = tempfile::tempdir().expect("temp dir");
        // Given 500 PRs on a forge that takes 20 ms per label read or write,
        let forge = forge_with_prs(500);
        forge.fail_next(
            "/labels",
            usize::MAX,
            Fault::Delay(Duration::from_millis(20)),
        );
        let overrides = [
            ("BOSUN_QUEUE__WORKERS", "8"),
            ("BOSUN_QUEUE__LEASE_SECONDS", "5"),
            ("BOSUN_DATABASE__MAX_CONNECTIONS", "10"),
        ];
        let mut first =
            BosunProcess::start(dir.path(), "first", &test_db.url, &forge, &overrides).await;

        // when 500 `/hold` deliveries are posted 32 at a time and bosun is SIGKILLed once 50
        // label writes reached the forge,
        let (http, hook) = (first.http.clone(), first.hook_url());
        let posting = futures::stream::iter(1..=500u64)
            .map(|n| {
                let (http, hook) = (http.clone(), hook.clone());
                async move {
                    let body = github_pr_comment(n, "alice", "/hold");
                    (
                        n,
                        post_comment(&http, &hook, &format!("kill-{n}"), &body).await,
                    )
                }
            })
            .buffer_unordered(32)
            .collect::<Vec<_>>();
        let kill = async {
            wait_for(
                "50 label writes reached the forge",
                Duration::from_secs(60),
                &[&first],
                || async { forge.count_requests("POST", "/labels") >= 50 },
            )
            .await;
            first.sigkill();
        };
        let (answers, ()) = tokio::join!(posting, kill);
        let mut accepted = Vec::new();
        for (n, answer) in answers {
            match answer {
                Ok(202) => accepted.push(n),
                Ok(other) => panic!("{db:?}: delivery kill-{n} got {other}"),
                Err(_) => {} // cut off by the kill: the forge would redeliver it
            }
        }
        accepted.sort_unstable();
        assert!(
            accepted.len() >= 50,
            "{db:?}: only {} deliveries were accepted",
            accepted.len()
        );
        let store = open_store(&test_db.url).await;
        let done_at_kill = store
            .status_counts()
            .await
            .expect("counts")
            .get("done")
            .copied()
            .unwrap_or(0);
        assert!(
            (done_at_kill as usize) < accepted.len(),
            "{db:?}: all {done_at_kill} deliveries finished before the kill; nothing was in flight"
        );

        // and restarted on the same database,
        forge.clear_faults();
        let second =
            BosunProcess::start(dir.path(), "restarted", &test_db.url, &forge, &overrides).await;
        wait_for(
            "every stored delivery finished after the restart",
            Duration::from_secs(60),
            &[&second],
            || all_finished(store.as_ref()),
        )
        .await;

        // then every accepted delivery is done, its PR held, its label added exactly once,
        let requests = forge.requests();
        let mut reclaimed = 0;
        for &n in &accepted {
            let record = store
                .delivery(&format!("github:kill-{n}"))
                .await
                .expect("store")
                .expect("accepted delivery is stored");
            assert_eq!(record.status, "done", "{db:?}: {record:?}");
            reclaimed += usize::from(record.attempts > 1);
            let pr = pr_ref(n);
            assert_eq!(forge.labels(&pr), vec![HOLD], "{db:?}: PR {n}");
            assert_eq!(
                applied_label_posts(&requests, n),
                1,
                "{db:?}: PR {n}: label writes"
            );
        }
        // and no PR got its label written twice, accepted or not.
        for n in 1..=500 {
            assert!(
                applied_label_posts(&requests, n) <= 1,
                "{db:?}: PR {n} was labelled twice"
            );
        }
        assert!(
            reclaimed > 0,
            "{db:?}: no delivery was taken over after the kill"
        );
        assert_clean(store.as_ref(), &forge).await;
    }
}

/// Two bosun processes on one Postgres draining 2,000 deliveries spread over 50 pull requests:
/// each delivery processed exactly once, and per pull request the processing order equals the
/// arrival order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_process_each_delivery_once_in_arrival_order() {
    if !postgres_or_skip("two processes on one Postgres") {
        return;
    }
    const PRS: u64 = 50;
    const PER_PR: usize = 40;
    let test_db = TestDb::new(Db::Postgres).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // Given two bosun processes with 4 workers each on one database,
    let forge = forge_with_prs(PRS);
    let overrides = [
        ("BOSUN_QUEUE__WORKERS", "4"),
        ("BOSUN_DATABASE__MAX_CONNECTIONS", "10"),
    ];
    let a = BosunProcess::start(dir.path(), "a", &test_db.url, &forge, &overrides).await;
    let b = BosunProcess::start(dir.path(), "b", &test_db.url, &forge, &overrides).await;
    let procs = [&a, &b];

    // when every PR gets `/hold` and `/hold cancel` alternately, 40 deliveries each, each one
    // posted once the previous one on its PR was acknowledged, to either process in turn,
    let id = |p: u64, i: usize| format!("order-{p}-{i}");
    let bodies: Vec<[Vec<u8>; 2]> = (0..=PRS)
        .map(|p| {
            [
                github_pr_comment(p, "alice", "/hold"),
                github_pr_comment(p, "alice", "/hold cancel"),
            ]
        })
        .collect();
    let bodies = &bodies;
    let post_all = |p: u64| async move {
        for i in 0..PER_PR {
            let to = procs[(p as usize + i) % 2];
            let answer = to.post(&id(p, i), &bodies[p as usize][i % 2]).await;
            assert!(
                matches!(answer, Ok(202)),
                "{} answered {} with {answer:?}\n{}",
                to.name,
                id(p, i),
                to.log_tail()
            );
        }
    };
    futures::future::join_all((1..=PRS).map(post_all)).await;
    let store = open_store(&test_db.url).await;
    let total = PRS as i64 * PER_PR as i64;
    wait_for(
        "all 2,000 deliveries finished",
        Duration::from_secs(150),
        &procs,
        || async {
            let counts = store.status_counts().await.expect("counts");
            counts.get("done").copied().unwrap_or(0) == total && all_finished(store.as_ref()).await
        },
    )
    .await;

    // then per PR the forge saw exactly add, remove, add … — one label write per delivery, in
    // arrival order — and the PR ends without the label;
    let requests = forge.requests();
    let expected: Vec<&str> = (0..PER_PR)
        .map(|i| if i % 2 == 0 { "add" } else { "remove" })
        .collect();
    for p in 1..=PRS {
        let writes: Vec<&RecordedRequest> = requests
            .iter()
            .filter(|r| label_write(r, p).is_some())
            .collect();
        let ops: Vec<&str> = writes.iter().filter_map(|r| label_write(r, p)).collect();
        assert_eq!(ops, expected, "PR {p}: label writes out of arrival order");
        assert!(writes.iter().all(|r| completed(r)), "PR {p}: {writes:?}");
        assert!(forge.labels(&pr_ref(p)).is_empty(), "PR {p}");
    }

    // every delivery ran once, finished in arrival order, and applied its one action;
    let records: BTreeMap<String, DeliveryRecord> = store
        .recent_deliveries(total * 2, None)
        .await
        .expect("deliveries")
        .into_iter()
        .map(|d| (d.delivery_id.clone(), d))
        .collect();
    assert_eq!(records.len() as i64, total);
    for p in 1..=PRS {
        let mut previous: Option<&DeliveryRecord> = None;
        for i in 0..PER_PR {
            let d = &records[&format!("github:{}", id(p, i))];
            assert_eq!((d.status.as_str(), d.attempts), ("done", 1), "{d:?}");
            if let Some(before) = previous {
                assert!(d.id > before.id, "arrival order: {before:?} then {d:?}");
                assert!(
                    d.finished_at > before.finished_at,
                    "processing order: {before:?} then {d:?}"
                );
            }
            previous = Some(d);
        }
    }
    let actions = futures::stream::iter(records.values())
        .map(|d| async {
            (
                d.delivery_id.clone(),
                store.delivery_actions(d.id).await.expect("actions"),
            )
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for (delivery, actions) in actions {
        let outcomes: Vec<ActionOutcome> = actions.iter().map(|a| a.outcome).collect();
        assert_eq!(outcomes, vec![ActionOutcome::Applied], "{delivery}");
    }

    // and both processes did work, 2,000 deliveries between them.
    let (done_a, done_b) = (a.deliveries_total().await, b.deliveries_total().await);
    assert!(
        done_a > 0.0 && done_b > 0.0,
        "a finished {done_a}, b finished {done_b}"
    );
    assert_eq!(
        done_a + done_b,
        total as f64,
        "a finished {done_a}, b finished {done_b}"
    );
    assert_clean(store.as_ref(), &forge).await;
}

/// How Postgres becomes unreachable.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// Connections are reset (the server or its host went down).
    Reset,
    /// Packets are silently lost (a partition): open connections just stop answering.
    Silent,
}

/// Postgres unreachable: 503, nothing acknowledged; reachable again: intake and processing
/// resume by themselves. Here its connections are reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_bosun_recovers_by_itself() {
    if postgres_or_skip("the Postgres outage test") {
        postgres_outage_scenario(Outage::Reset).await;
    }
}

/// The same when Postgres stops answering without resetting anything (a network partition).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_postgres_partition_answers_503_and_bosun_recovers_by_itself() {
    if postgres_or_skip("the silent Postgres partition test") {
        postgres_outage_scenario(Outage::Silent).await;
    }
}

/// Cuts Postgres off while a burst of webhooks is being received and a label write is at the
/// forge, then brings it back.
///
/// With [`Outage::Silent`] a batch insert in flight waits on a connection that no longer
/// answers; the intake's commit deadline turns that into a 503 within the forge's 10 s.
async fn postgres_outage_scenario(outage: Outage) {
    const BURST: u64 = 200;
    let test_db = TestDb::new(Db::Postgres).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let proxy = ChaosProxy::start(&postgres_address(&test_db.url)).await;
    let store = open_store(&test_db.url).await; // the test reads the database directly
    // Given bosun on Postgres through a proxy the test controls,
    let forge = forge_with_prs(BURST + 3);
    let overrides = [("BOSUN_QUEUE__LEASE_SECONDS", "5")];
    let via_proxy = postgres_url_via(&test_db.url, proxy.addr());
    let bosun = BosunProcess::start(dir.path(), "bosun", &via_proxy, &forge, &overrides).await;
    let procs = [&bosun];
    // a delivery whose label write is at the forge when the database goes away (the forge
    // holds it until the cut: a fixed delay, 1.5 s and then 4 s, was sometimes over before the
    // 40 webhooks below were in on a loaded machine),
    let across = BURST + 1;
    let label_write = Gate::new();
    delay_after(
        &forge,
        &labels_path(across),
        1,
        Fault::Hold(label_write.clone()),
    );
    let answer = bosun
        .post("across", &github_pr_comment(across, "alice", "/hold"))
        .await;
    assert_eq!(answer.ok(), Some(202), "{outage:?}");
    wait_for(
        "the label write reached the forge",
        Duration::from_secs(20),
        &procs,
        || async { forge.count_requests("POST", &labels_path(across)) == 1 },
    )
    .await;

    // and a burst of webhooks, 16 at a time, when Postgres becomes unreachable mid-burst,
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    let down = std::sync::atomic::AtomicBool::new(false);
    let (http, hook) = (bosun.http.clone(), bosun.hook_url());
    let posting = futures::stream::iter(1..=BURST)
        .take_while(|_| std::future::ready(!down.load(Ordering::SeqCst)))
        .map(|n| {
            let (http, hook, accepted) = (http.clone(), hook.clone(), &accepted);
            async move {
                let body = github_pr_comment(n, "alice", "/hold");
                let answer = post_comment(&http, &hook, &format!("burst-{n}"), &body).await;
                if matches!(answer, Ok(202)) {
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
                (n, answer)
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>();
    let go_down = async {
        wait_for(
            "40 webhooks accepted",
            Duration::from_secs(30),
            &procs,
            || async { accepted.load(Ordering::SeqCst) >= 40 },
        )
        .await;
        match outage {
            Outage::Reset => proxy.cut().await,
            Outage::Silent => proxy.freeze().await,
        }
        down.store(true, Ordering::SeqCst);
        label_write.open();
        Instant::now()
    };
    let (answers, went_down) = tokio::join!(posting, go_down);
    // then the webhooks in flight are answered within GitHub's 10 s timeout, 202 or 503,
    let settled = went_down.elapsed();
    assert!(
        settled < Duration::from_secs(10),
        "{outage:?}: webhooks in flight took {settled:?} to be answered:\n{}",
        bosun.log_tail()
    );
    for (n, answer) in &answers {
        assert!(
            matches!(answer, Ok(202 | 503)),
            "{outage:?}: burst-{n} got {answer:?}"
        );
    }
    // new webhooks get 503 and /readyz says not ready, each within 10 s;
    let held = github_pr_comment(BURST + 2, "alice", "/hold");
    let asked = Instant::now();
    let (ready, first, second) = tokio::join!(
        bosun.readyz(),
        bosun.post("during-1", &held),
        bosun.post("during-2", &held),
    );
    assert_eq!(first.ok(), Some(503), "{outage:?}: a webhook while down");
    assert_eq!(second.ok(), Some(503), "{outage:?}: a webhook while down");
    assert_eq!(ready, Some(503), "{outage:?}: /readyz while down");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{outage:?}: answers took {:?}",
        asked.elapsed()
    );

    // When Postgres is reachable again, without touching bosun,
    proxy.restore();
    wait_for(
        "/readyz is 200 again",
        Duration::from_secs(20),
        &procs,
        || async { bosun.readyz().await == Some(200) },
    )
    .await;
    // then a new delivery is accepted, and it, every accepted one and the one caught
    // mid-write are processed, that one's label written once;
    let answer = bosun
        .post("after", &github_pr_comment(BURST + 3, "alice", "/hold"))
        .await;
    assert_eq!(answer.ok(), Some(202), "{outage:?}");
    wait_for(
        "every stored delivery finished",
        Duration::from_secs(30),
        &procs,
        || all_finished(store.as_ref()),
    )
    .await;
    for id in ["github:after", "github:across"] {
        assert_eq!(
            status_of(store.as_ref(), id).await.as_deref(),
            Some("done"),
            "{outage:?}: {id}"
        );
    }
    let requests = forge.requests();
    for n in [across, BURST + 3] {
        assert_eq!(forge.labels(&pr_ref(n)), vec![HOLD], "{outage:?}: PR {n}");
        assert_eq!(applied_label_posts(&requests, n), 1, "{outage:?}: PR {n}");
    }
    let caught = store
        .delivery("github:across")
        .await
        .expect("store")
        .expect("stored");
    assert!(
        caught.attempts >= 2,
        "{outage:?}: the outage did not interrupt it: {caught:?}"
    );
    // every 202 was kept and processed; a 503 sent after the outage began stored nothing (one
    // in flight as it began may have committed unacknowledged: then it is processed too);
    for (n, answer) in &answers {
        let status = status_of(store.as_ref(), &format!("github:burst-{n}")).await;
        match answer {
            Ok(202) => assert_eq!(status.as_deref(), Some("done"), "{outage:?}: burst-{n}"),
            _ => assert!(
                matches!(status.as_deref(), None | Some("done")),
                "{outage:?}: burst-{n}: {status:?}"
            ),
        }
    }
    assert_eq!(
        status_of(store.as_ref(), "github:during-1").await,
        None,
        "{outage:?}"
    );
    assert_eq!(
        status_of(store.as_ref(), "github:during-2").await,
        None,
        "{outage:?}"
    );
    // and the forge's redelivery of a refused webhook is what gets processed.
    assert_eq!(
        bosun.post("during-1", &held).await.ok(),
        Some(202),
        "{outage:?}"
    );
    wait_for(
        "the redelivery done",
        Duration::from_secs(20),
        &procs,
        || async {
            status_of(store.as_ref(), "github:during-1")
                .await
                .as_deref()
                == Some("done")
        },
    )
    .await;
    assert_eq!(forge.labels(&pr_ref(BURST + 2)), vec![HOLD], "{outage:?}");
    assert_clean(store.as_ref(), &forge).await;
}

/// SIGTERM: webhooks get 503 at once, workers finish the delivery in hand within
/// `shutdown_grace_seconds` or release it, the process exits 0, and a restarted bosun finishes
/// what was released without repeating a label write the forge already carried out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_refuses_webhooks_and_finishes_or_releases_work_in_hand() {
    const GRACE: Duration = Duration::from_secs(3);
    for db in databases() {
        let _combination = Combination::new(db);
        let test_db = TestDb::new(db).await;
        let dir = tempfile::tempdir().expect("temp dir");
        // Given a bosun with a 3 s grace period, and label writes that take 1 s on PR 1 (less
        // than the grace) and 5 s on PR 2 (more),
        let forge = forge_with_prs(3);
        delay_after(
            &forge,
            &labels_path(1),
            1,
            Fault::Delay(Duration::from_secs(1)),
        );
        delay_after(
            &forge,
            &labels_path(2),
            1,
            Fault::Delay(Duration::from_secs(5)),
        );
        let overrides = [
            ("BOSUN_QUEUE__WORKERS", "2"),
            ("BOSUN_QUEUE__LEASE_SECONDS", "5"),
            ("BOSUN_SERVER__SHUTDOWN_GRACE_SECONDS", "3"),
        ];
        let mut bosun =
            BosunProcess::start(dir.path(), "bosun", &test_db.url, &forge, &overrides).await;
        for n in [1, 2] {
            let answer = bosun
                .post(
                    &format!("term-{n}"),
                    &github_pr_comment(n, "alice", "/hold"),
                )
                .await;
            assert_eq!(answer.ok(), Some(202), "{db:?}");
        }
        wait_for(
            "both label writes reached the forge",
            Duration::from_secs(20),
            &[&bosun],
            || async {
                forge.count_requests("POST", &labels_path(1)) == 1
                    && forge.count_requests("POST", &labels_path(2)) == 1
            },
        )
        .await;

        // when bosun gets SIGTERM with both deliveries in hand,
        let signalled = Instant::now();
        bosun.sigterm();
        // then it stops being ready and refuses webhooks with 503 (storing nothing),
        wait_for(
            "/readyz stops answering 200",
            Duration::from_secs(5),
            &[&bosun],
            || async { bosun.readyz().await != Some(200) },
        )
        .await;
        let refused = bosun
            .post("term-3", &github_pr_comment(3, "alice", "/hold"))
            .await;
        assert!(
            matches!(refused, Ok(503)) || matches!(&refused, Err(e) if e.is_connect()),
            "{db:?}: a webhook during shutdown got {refused:?}"
        );
        // exits 0 within the grace period and a margin,
        let status = bosun.wait_exit(GRACE + Duration::from_secs(5)).await;
        let stopped_after = signalled.elapsed();
        assert!(
            status.success(),
            "{db:?}: bosun exited with {status}:\n{}",
            bosun.log_tail()
        );
        let after_exit = bosun
            .post("term-4", &github_pr_comment(3, "alice", "/hold"))
            .await;
        assert!(
            matches!(&after_exit, Err(e) if e.is_connect()),
            "{db:?}: {after_exit:?}"
        );
        // having finished PR 1's delivery and released PR 2's with its write still at the forge.
        let store = open_store(&test_db.url).await;
        assert_eq!(
            status_of(store.as_ref(), "github:term-1").await.as_deref(),
            Some("done"),
            "{db:?}"
        );
        assert_eq!(forge.labels(&pr_ref(1)), vec![HOLD], "{db:?}");
        let released = store
            .delivery("github:term-2")
            .await
            .expect("store")
            .expect("term-2 stored");
        assert_eq!(released.status, "queued", "{db:?}: {released:?}");
        assert!(
            stopped_after >= GRACE,
            "{db:?}: stopped after {stopped_after:?}, before the grace ended"
        );
        assert_eq!(
            status_of(store.as_ref(), "github:term-3").await,
            None,
            "{db:?}: a refused webhook was stored"
        );

        // When the forge then carries out the write bosun gave up on (a request is not undone by
        // its client leaving) and bosun starts again,
        wait_for(
            "the abandoned write completed at the forge",
            Duration::from_secs(10),
            &[&bosun],
            || async { applied_label_posts(&forge.requests(), 2) == 1 },
        )
        .await;
        let restarted =
            BosunProcess::start(dir.path(), "restarted", &test_db.url, &forge, &overrides).await;
        wait_for(
            "the released delivery is done",
            Duration::from_secs(30),
            &[&restarted],
            || async {
                status_of(store.as_ref(), "github:term-2").await.as_deref() == Some("done")
            },
        )
        .await;
        // then it finds the label there and writes nothing again.
        assert_eq!(forge.labels(&pr_ref(2)), vec![HOLD], "{db:?}");
        assert_eq!(
            forge.count_requests("POST", &labels_path(2)),
            1,
            "{db:?}: PR 2's label written again"
        );
        assert_eq!(
            forge.count_requests("POST", &labels_path(1)),
            1,
            "{db:?}: PR 1's label written again"
        );
        assert!(forge.labels(&pr_ref(3)).is_empty(), "{db:?}");
        assert_clean(store.as_ref(), &forge).await;
    }
}

/// Two bosun processes on one Postgres, both running the merge controller's resync every
/// second, and 20 approved PRs bosun learned of through comments sent to either process: each
/// PR is merged exactly once (one merge call each), and later resync passes of both processes
/// merge nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_merge_each_pr_once() {
    if !postgres_or_skip("two processes merging on one Postgres") {
        return;
    }
    const PRS: u64 = 20;
    let test_db = TestDb::new(Db::Postgres).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let forge = forge_with_prs(PRS);
    for n in 1..=PRS {
        forge.set_labels(&pr_ref(n), &["lgtm", "approved"]);
    }
    let overrides = [
        ("BOSUN_QUEUE__WORKERS", "4"),
        ("BOSUN_MERGE__RESYNC_SECONDS", "1"),
    ];
    let plugins = "[plugins.\"kubernetes\"]\nenabled = [\"hold\", \"tide\"]\n";
    let a =
        BosunProcess::start_with(dir.path(), "a", &test_db.url, &forge, &overrides, plugins).await;
    let b =
        BosunProcess::start_with(dir.path(), "b", &test_db.url, &forge, &overrides, plugins).await;
    for n in 1..=PRS {
        let to = if n % 2 == 0 { &a } else { &b };
        let body = github_pr_comment(n, "alice", "/hold cancel");
        let answer = to.post(&format!("learn-{n}"), &body).await;
        assert!(matches!(answer, Ok(202)), "{answer:?}\n{}", to.log_tail());
    }
    let merged = |forge: &FakeForge| {
        (1..=PRS)
            .filter(|n| forge.item(&pr_ref(*n)).state == fake_forge::ItemState::Merged)
            .count() as u64
    };
    wait_until("every PR merged", Duration::from_secs(90), || async {
        merged(&forge) == PRS
    })
    .await;
    // Two more passes of each process's resync after the last merge.
    let passes = |p: &BosunProcess| {
        std::fs::read_to_string(&p.log)
            .unwrap_or_default()
            .matches("merge resync")
            .count()
    };
    let (a0, b0) = (passes(&a), passes(&b));
    wait_until(
        "two more resync passes each",
        Duration::from_secs(30),
        || async { passes(&a) >= a0 + 2 && passes(&b) >= b0 + 2 },
    )
    .await;
    for n in 1..=PRS {
        let calls = forge.count_requests("PUT", &format!("/pulls/{n}/merge"));
        assert_eq!(
            calls,
            1,
            "PR {n} merge calls\n{}\n{}",
            a.log_tail(),
            b.log_tail()
        );
    }
}

/// SIGHUP reloads the central file into the running `bosun serve`: here the file is rewritten
/// with the same size and its old modification time, so only the signal can have noticed it.
#[tokio::test]
async fn sighup_reloads_the_configuration() {
    for db in databases() {
        let _combination = Combination::new(db);
        let test_db = TestDb::new(db).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let forge = forge_with_prs(1);
        let before = "[plugins.\"kubernetes\"]\nenabled = [\"lgtm\"]\n";
        let after = "[plugins.\"kubernetes\"]\nenabled = [\"hold\"]\n";
        let process =
            BosunProcess::start_with(dir.path(), "reload", &test_db.url, &forge, &[], before).await;
        let enabled = || async {
            let help: serde_json::Value = process
                .http
                .get(process.url("/plugin-help"))
                .send()
                .await
                .expect("plugin-help answers")
                .json()
                .await
                .expect("plugin-help is JSON");
            help["RepoPlugins"]["kubernetes"].clone()
        };
        assert_eq!(enabled().await, serde_json::json!(["lgtm"]));

        let config = dir.path().join("reload.toml");
        let modified = std::fs::metadata(&config)
            .and_then(|m| m.modified())
            .expect("config mtime");
        let text = config_text(&test_db.url, &forge.url(), after);
        std::fs::write(&config, text).expect("rewrite config");
        std::fs::File::options()
            .write(true)
            .open(&config)
            .and_then(|f| f.set_modified(modified))
            .expect("keep the old mtime");
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(process.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
        wait_until("the reload", Duration::from_secs(10), || async {
            enabled().await == serde_json::json!(["hold"])
        })
        .await;
        assert!(
            process
                .log_tail()
                .contains("SIGHUP: reloading the configuration"),
            "{}",
            process.log_tail()
        );
    }
}
