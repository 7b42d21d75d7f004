//! One behaviour suite for the `Store` trait, run against SQLite and (when enabled) Postgres.

use crate::support::*;
use bosun::store::{
    self, ActionOutcome, FinalStatus, InsertOutcome, NewDelivery, PlannedAction, PullRequestState,
    Settlement, Store,
};
use bosun_plugins::{Action, ForgeKind, ItemKind, ItemRef, RepoPath};
use std::sync::Arc;
use std::time::Duration;

fn delivery(id: &str, item: &str) -> NewDelivery {
    NewDelivery {
        delivery_id: id.into(),
        forge: ForgeKind::GitHub,
        event: "issue_comment".into(),
        repo: Some("o/r".into()),
        number: Some(1),
        item_key: item.into(),
        headers: "{}".into(),
        payload: actix_web::web::Bytes::from_static(b"{}").into(),
    }
}

/// bosun's record of PR o/r#1, open with `labels`.
fn pr_state(labels: &[&str]) -> PullRequestState {
    PullRequestState {
        forge: ForgeKind::GitHub,
        repo: "o/r".into(),
        number: 1,
        state: "open".into(),
        head_sha: Some("abc".into()),
        labels: labels.iter().map(|l| l.to_string()).collect(),
    }
}

/// PR o/r#1 on GitHub, the item the actions below act on.
fn pr_item() -> ItemRef {
    ItemRef {
        forge: ForgeKind::GitHub,
        repo: RepoPath::parse("o/r").expect("repo"),
        number: 1,
        kind: ItemKind::PullRequest,
    }
}

/// Journals one delivery, `d`, and claims it for worker `w`.
async fn claimed(s: &Arc<dyn Store>) -> store::ClaimedDelivery {
    s.insert_deliveries(&[delivery("d", "k")])
        .await
        .expect("insert");
    s.claim_next_delivery("w", LEASE)
        .await
        .expect("claim")
        .expect("work")
}

/// Claims for `worker`: the delivery's id and row id, or None when nothing can run.
async fn claim_as(s: &Arc<dyn Store>, worker: &str) -> Option<(String, i64)> {
    s.claim_next_delivery(worker, LEASE)
        .await
        .expect("claim")
        .map(|d| (d.delivery_id, d.id))
}

async fn open(db: Db) -> (Arc<dyn Store>, TestDb) {
    let test_db = TestDb::new(db).await;
    let s = store::connect(&test_db.url, 4).await.expect("connect");
    s.migrate().await.expect("migrate");
    s.migrate().await.expect("migrating twice is a no-op");
    (s, test_db)
}

/// [`open`], with `deliveries` (delivery id, item) inserted in that order.
async fn open_with(db: Db, deliveries: &[(&str, &str)]) -> (Arc<dyn Store>, TestDb) {
    let (s, test_db) = open(db).await;
    let batch: Vec<NewDelivery> = deliveries
        .iter()
        .map(|(id, item)| delivery(id, item))
        .collect();
    s.insert_deliveries(&batch).await.expect("insert");
    (s, test_db)
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn batch_insert_reports_duplicates() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let out = s
            .insert_deliveries(&[
                delivery("a", "k1"),
                delivery("b", "k2"),
                delivery("a", "k1"),
            ])
            .await
            .expect("insert");
        assert_eq!(
            out,
            vec![
                InsertOutcome::Inserted,
                InsertOutcome::Inserted,
                InsertOutcome::Duplicate
            ],
            "{db:?}"
        );
        let out = s
            .insert_deliveries(&[delivery("b", "k2"), delivery("c", "k3")])
            .await
            .expect("insert");
        assert_eq!(
            out,
            vec![InsertOutcome::Duplicate, InsertOutcome::Inserted],
            "{db:?}"
        );
        assert_eq!(
            s.status_counts().await.expect("counts").get("queued"),
            Some(&3)
        );
    }
}

#[tokio::test]
async fn one_item_runs_one_delivery_at_a_time_in_order() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open_with(db, &[("1", "pr-a"), ("2", "pr-a"), ("3", "pr-b")]).await;
        let first = s
            .claim_next_delivery("w1", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert_eq!(first.delivery_id, "1");
        let second = s
            .claim_next_delivery("w2", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert_eq!(
            second.delivery_id, "3",
            "{db:?}: pr-a's second delivery waits for its first"
        );
        assert!(
            s.claim_next_delivery("w3", LEASE)
                .await
                .expect("claim")
                .is_none()
        );
        assert!(
            s.finish_delivery(
                first.id,
                "w1",
                FinalStatus::Done,
                None,
                &Settlement::default()
            )
            .await
            .expect("finish")
        );
        let third = s
            .claim_next_delivery("w3", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert_eq!(third.delivery_id, "2");
        assert_eq!(third.attempts, 1);
    }
}

/// After a claim, Postgres says whether it saw due work it did not take, so a worker that has
/// just finished knows whether claiming again at once can find anything. A later delivery and
/// one waiting behind its item's running delivery count; one whose retry is not yet due does
/// not. SQLite cannot tell, and always says there may be more.
#[tokio::test]
async fn a_claim_says_whether_it_saw_more_due_work() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let more = |s: &Arc<dyn Store>| db == Db::Sqlite || s.claim_saw_more_due();
        let less = |s: &Arc<dyn Store>| db == Db::Sqlite || !s.claim_saw_more_due();
        s.insert_deliveries(&[
            delivery("a-1", "pr-a"),
            delivery("a-2", "pr-a"),
            delivery("b-1", "pr-b"),
        ])
        .await
        .expect("insert");
        let claim = |worker| claim_as(&s, worker);
        let (first, a1) = claim("w1").await.expect("a-1");
        assert_eq!(first, "a-1");
        assert!(more(&s), "{db:?}: a-2 and b-1 are waiting");
        assert_eq!(claim("w2").await.map(|d| d.0).as_deref(), Some("b-1"));
        assert!(more(&s), "{db:?}: a-2 waits behind a-1");
        assert_eq!(claim("w3").await, None, "{db:?}: a-2 is blocked");
        assert!(more(&s), "{db:?}: a-2 is due, and blocked only for now");
        let settled = Settlement::default();
        let finished = s.finish_delivery(a1, "w1", FinalStatus::Done, None, &settled);
        assert!(finished.await.expect("finish"));
        let (second, a2) = claim("w1").await.expect("a-2");
        assert_eq!(second, "a-2");
        assert!(less(&s), "{db:?}: nothing else is queued");
        let retried = s.retry_delivery(a2, "w1", "boom", Duration::from_secs(60), &settled);
        assert!(retried.await.expect("retry"));
        assert_eq!(claim("w1").await, None);
        assert!(less(&s), "{db:?}: a-2's retry is not due yet");
    }
}

/// A claim looks at the oldest pending deliveries first (Postgres: 32 of them, then 256); work
/// behind a longer line of blocked deliveries is still found, and in order: one item's head
/// 100 deep, past the first window, and another's past 300, past both.
#[tokio::test]
async fn work_behind_a_long_blocked_line_is_still_claimed() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let busy =
            |range: std::ops::Range<usize>| range.map(|n| delivery(&format!("busy-{n}"), "busy"));
        let line: Vec<NewDelivery> = busy(0..100)
            .chain([delivery("middle-1", "middle")])
            .chain(busy(100..300))
            .chain([delivery("other-1", "other"), delivery("other-2", "other")])
            .collect();
        s.insert_deliveries(&line).await.expect("insert");
        let claim = async |worker| claim_as(&s, worker).await.map(|(id, _)| id);
        assert_eq!(claim("w1").await.as_deref(), Some("busy-0"), "{db:?}");
        assert_eq!(
            claim("w2").await.as_deref(),
            Some("middle-1"),
            "{db:?}: the head 100 deep"
        );
        assert_eq!(
            claim("w3").await.as_deref(),
            Some("other-1"),
            "{db:?}: the head past 300 blocked deliveries"
        );
        assert_eq!(
            claim("w4").await,
            None,
            "{db:?}: every item has a delivery running"
        );
    }
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again_and_the_old_owner_loses() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open_with(db, &[("x", "k")]).await;
        let d = s
            .claim_next_delivery("dead-worker", Duration::from_millis(1))
            .await
            .expect("claim")
            .expect("work");
        wait_until("lease expiry", Duration::from_secs(5), || async {
            matches!(s.claim_next_delivery("w2", LEASE).await, Ok(Some(_)))
        })
        .await;
        assert!(
            !s.finish_delivery(
                d.id,
                "dead-worker",
                FinalStatus::Done,
                None,
                &Settlement::default()
            )
            .await
            .expect("finish"),
            "{db:?}"
        );
        assert!(
            s.finish_delivery(d.id, "w2", FinalStatus::Done, None, &Settlement::default())
                .await
                .expect("finish")
        );
        let record = s.delivery("x").await.expect("get").expect("row");
        assert_eq!((record.status.as_str(), record.attempts), ("done", 2));
    }
}

#[tokio::test]
async fn a_retry_waits_and_blocks_later_deliveries_of_its_item() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open_with(db, &[("r1", "k"), ("r2", "k")]).await;
        let d = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert!(
            s.retry_delivery(
                d.id,
                "w",
                "boom",
                Duration::from_secs(60),
                &Settlement::default()
            )
            .await
            .expect("retry")
        );
        assert!(
            s.claim_next_delivery("w", LEASE)
                .await
                .expect("claim")
                .is_none(),
            "{db:?}: not before run_after, and r2 waits"
        );
        let record = s.delivery("r1").await.expect("get").expect("row");
        assert_eq!(record.last_error.as_deref(), Some("boom"));
        assert!(s.requeue("r1").await.expect("requeue"));
        let again = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert_eq!(again.delivery_id, "r1");
        assert!(s.release_delivery(again.id, "w").await.expect("release"));
        let record = s.delivery("r1").await.expect("get").expect("row");
        assert_eq!((record.status.as_str(), record.attempts), ("queued", 0));
    }
}

#[tokio::test]
async fn decisions_are_journaled_atomically_and_replay_resets_failures() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let d = claimed(&s).await;
        assert!(!d.decided);
        let item = pr_item();
        let planned = vec![
            PlannedAction {
                plugin: "hold".into(),
                seq: 0,
                action: Action::AddLabel {
                    item: item.clone(),
                    label: "x".into(),
                },
            },
            PlannedAction {
                plugin: "hold".into(),
                seq: 1,
                action: Action::Comment {
                    item,
                    body: "hi".into(),
                },
            },
        ];
        let decided = s
            .record_decision(d.id, &planned, true)
            .await
            .expect("decide");
        assert!(decided.first_applying, "{db:?}");
        let again = s
            .record_decision(d.id, &planned, true)
            .await
            .expect("deciding twice is harmless");
        assert!(
            !again.first_applying,
            "{db:?}: only the call that journaled it marked it"
        );
        let (decided, again) = (decided.actions, again.actions);
        let actions = s.delivery_actions(d.id).await.expect("actions");
        assert_eq!(actions.len(), 2, "{db:?}");
        // The decision hands back the journal's rows, so the worker need not read them.
        let ids = |list: &[store::StoredAction]| list.iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(ids(&decided), ids(&actions), "{db:?}");
        assert_eq!(
            ids(&again),
            ids(&actions),
            "{db:?}: the second decision reads them"
        );
        assert_eq!(decided[1].action, planned[1].action);
        assert_eq!(actions[0].action, planned[0].action);
        let journaled: Vec<ActionOutcome> = actions.iter().map(|a| a.outcome).collect();
        assert_eq!(
            journaled,
            vec![ActionOutcome::Applying, ActionOutcome::Pending],
            "{db:?}: the first action is journaled applying with the decision"
        );
        // The outcomes and the PR's record are written with the finish, in one go.
        let mut settlement = Settlement::default();
        settlement.mark(actions[0].id, ActionOutcome::Applied, None, 1);
        settlement.mark(actions[1].id, ActionOutcome::Failed, Some("no".into()), 2);
        settlement.pull_request = Some(pr_state(&["x"]));
        assert!(
            s.finish_delivery(d.id, "w", FinalStatus::Failed, Some("no"), &settlement)
                .await
                .expect("finish")
        );
        let finished = s.delivery_actions(d.id).await.expect("actions");
        assert_eq!(
            finished
                .iter()
                .map(|a| (a.outcome, a.error.as_deref(), a.forge_calls))
                .collect::<Vec<_>>(),
            vec![
                (ActionOutcome::Applied, None, 1),
                (ActionOutcome::Failed, Some("no"), 2)
            ],
            "{db:?}"
        );
        assert_eq!(
            s.pull_request(ForgeKind::GitHub, "o/r", 1)
                .await
                .expect("read")
                .as_ref(),
            settlement.pull_request.as_ref(),
            "{db:?}"
        );
        assert_eq!(s.requeue_failed().await.expect("requeue"), 1);
        let d = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert!(d.decided, "{db:?}: a replay resumes the recorded decision");
        let outcomes: Vec<ActionOutcome> = s
            .delivery_actions(d.id)
            .await
            .expect("actions")
            .iter()
            .map(|a| a.outcome)
            .collect();
        assert_eq!(
            outcomes,
            vec![ActionOutcome::Applied, ActionOutcome::Pending]
        );
    }
}

/// A decision on nothing is not written on its own: the attempt's end marks the delivery
/// decided, a retry as well as a finish, and only when the worker still held it.
#[tokio::test]
async fn a_decision_on_nothing_rides_with_the_attempts_end() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let nothing = Settlement {
            decided_nothing: true,
            ..Settlement::default()
        };
        let d = claimed(&s).await;
        assert!(!d.decided, "{db:?}");
        assert!(
            s.retry_delivery(d.id, "w", "forge down", Duration::ZERO, &nothing)
                .await
                .expect("retry"),
            "{db:?}"
        );
        let again = wait_for_claim(&s, "w").await;
        assert_eq!(
            (again.id, again.decided),
            (d.id, true),
            "{db:?}: the retry marked it"
        );

        s.insert_deliveries(&[delivery("e", "k2")])
            .await
            .expect("insert");
        let e = wait_for_claim(&s, "w").await;
        assert!(!e.decided, "{db:?}");
        assert!(
            !s.finish_delivery(e.id, "someone else", FinalStatus::Done, None, &nothing)
                .await
                .expect("finish"),
            "{db:?}: not this worker's"
        );
        assert!(
            s.finish_delivery(e.id, "w", FinalStatus::Done, None, &nothing)
                .await
                .expect("finish"),
            "{db:?}"
        );
        assert!(s.requeue("e").await.expect("requeue"), "{db:?}");
        let replayed = wait_for_claim(&s, "w").await;
        assert_eq!(
            (replayed.id, replayed.decided),
            (e.id, true),
            "{db:?}: the finish marked it, so a replay applies its journal of nothing"
        );
    }
}

/// Claims for `worker` until something is claimable: a retry after no delay is due once the
/// database's clock has passed it.
async fn wait_for_claim(s: &Arc<dyn Store>, worker: &str) -> store::ClaimedDelivery {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(d) = s.claim_next_delivery(worker, LEASE).await.expect("claim") {
            return d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing became claimable"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn held_back_outcomes_ride_with_the_next_mark_and_with_a_retry() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let d = claimed(&s).await;
        let item = pr_item();
        let planned: Vec<PlannedAction> = ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, label)| PlannedAction {
                plugin: "label".into(),
                seq: i as i32,
                action: Action::AddLabel {
                    item: item.clone(),
                    label: label.to_string(),
                },
            })
            .collect();
        let decided = s
            .record_decision(d.id, &planned, false)
            .await
            .expect("decide");
        assert!(!decided.first_applying);
        let [a, b] = [decided.actions[0].id, decided.actions[1].id];
        let outcomes = |list: Vec<store::StoredAction>| {
            list.into_iter()
                .map(|a| (a.outcome, a.error, a.forge_calls))
                .collect::<Vec<_>>()
        };
        // The first action's outcome goes with the second's `applying` mark.
        let mut settlement = Settlement::default();
        settlement.mark(a, ActionOutcome::Applied, None, 1);
        settlement.mark(b, ActionOutcome::Applying, None, 0);
        s.set_action_outcomes(&settlement.outcomes)
            .await
            .expect("marks");
        assert_eq!(
            outcomes(s.delivery_actions(d.id).await.expect("actions")),
            vec![
                (ActionOutcome::Applied, None, 1),
                (ActionOutcome::Applying, None, 0)
            ],
            "{db:?}"
        );
        // A retryable failure's mark and the PR's record go with the retry.
        let mut settlement = Settlement::default();
        settlement.mark(b, ActionOutcome::Applying, Some("502".into()), 1);
        settlement.pull_request = Some(pr_state(&["a"]));
        assert!(
            s.retry_delivery(d.id, "w", "502", Duration::ZERO, &settlement)
                .await
                .expect("retry")
        );
        assert_eq!(
            outcomes(s.delivery_actions(d.id).await.expect("actions")),
            vec![
                (ActionOutcome::Applied, None, 1),
                (ActionOutcome::Applying, Some("502".into()), 1)
            ],
            "{db:?}"
        );
        assert_eq!(
            s.pull_request(ForgeKind::GitHub, "o/r", 1)
                .await
                .expect("read"),
            settlement.pull_request,
            "{db:?}"
        );
        let again = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("queued again");
        assert_eq!((again.id, again.decided), (d.id, true), "{db:?}");
    }
}

/// Opens a backend's concrete store, for tests that need its pool.
async fn raw_pool(db: Db, url: &str) -> (Arc<dyn Store>, RawPool) {
    match db {
        Db::Sqlite => {
            let s = store::sqlite::SqliteStore::connect(url, 2)
                .await
                .expect("connect");
            let pool = RawPool::Sqlite(s.pool().clone());
            (Arc::new(s), pool)
        }
        Db::Postgres => {
            let s = store::postgres::PgStore::connect(url, 2)
                .await
                .expect("connect");
            let pool = RawPool::Pg(s.pool().clone());
            (Arc::new(s), pool)
        }
    }
}

/// A migrated store on a fresh database, with its pool for raw statements.
async fn open_raw(db: Db) -> (Arc<dyn Store>, RawPool, TestDb) {
    let test_db = TestDb::new(db).await;
    let (s, pool) = raw_pool(db, &test_db.url).await;
    s.migrate().await.expect("migrate");
    (s, pool, test_db)
}

/// The store-level questions these tests ask of the database's own catalog.
impl RawPool {
    /// The indexes on `table`: name and definition (empty for SQLite's own indexes of the
    /// primary key and UNIQUE constraints), sorted by name.
    async fn indexes(&self, table: &str) -> Vec<(String, String)> {
        let mut indexes: Vec<(String, String)> = match self {
            RawPool::Sqlite(p) => sqlx::query_as(
                "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = $1",
            )
            .bind(table)
            .fetch_all(p)
            .await
            .expect("indexes"),
            RawPool::Pg(p) => sqlx::query_as(
                "SELECT indexname::text, indexdef FROM pg_indexes WHERE tablename = $1",
            )
            .bind(table)
            .fetch_all(p)
            .await
            .expect("indexes"),
        };
        indexes.sort();
        indexes
    }

    /// The names of the indexes on `table`, sorted.
    async fn index_names(&self, table: &str) -> Vec<String> {
        let indexes = self.indexes(table).await;
        indexes.into_iter().map(|(name, _)| name).collect()
    }

    /// Runs one statement with the backend's "now" for `{now}` and "now minus `ago` seconds"
    /// for `{ago}`, binding `$1` to `ago` and `$2` to the bytes `{}`.
    async fn execute_at(&self, sql: &str, ago: i64) {
        match self {
            RawPool::Sqlite(p) => {
                let sql = sql
                    .replace("{now}", "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')")
                    .replace(
                        "{ago}",
                        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', (-$1) || ' seconds')",
                    );
                let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ago)
                    .bind(&b"{}"[..]);
                query.execute(p).await.expect("statement");
            }
            RawPool::Pg(p) => {
                let sql = sql
                    .replace("{now}", "now()")
                    .replace("{ago}", "now() - make_interval(secs => $1::int8)");
                let query = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(ago)
                    .bind(&b"{}"[..]);
                query.execute(p).await.expect("statement");
            }
        }
    }

    /// The `deliveries` columns any index names, as a key, an expression or in its condition:
    /// a change to one of them makes an update write to every index (on Postgres, no heap-only
    /// update).
    async fn indexed_delivery_columns(&self) -> Vec<String> {
        let columns: Vec<String> = match self {
            RawPool::Sqlite(p) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info('deliveries')")
                    .fetch_all(p)
                    .await
            }
            RawPool::Pg(p) => {
                sqlx::query_scalar(
                    "SELECT attname::text FROM pg_attribute
                     WHERE attrelid = 'deliveries'::regclass AND attnum > 0 AND NOT attisdropped",
                )
                .fetch_all(p)
                .await
            }
        }
        .expect("columns");
        let definitions = self.indexes("deliveries").await;
        // SQLite's own indexes of the primary key and UNIQUE constraints have no definition.
        let mut indexed = vec!["id".to_string(), "delivery_id".to_string()];
        for column in columns {
            let word = regex::Regex::new(&format!(r"\b{column}\b")).expect("regex");
            if definitions.iter().any(|(_, d)| word.is_match(d)) && !indexed.contains(&column) {
                indexed.push(column);
            }
        }
        indexed
    }

    /// Delivery `id`'s `columns`, as text.
    async fn delivery_values(&self, id: &str, columns: &[String]) -> Vec<Option<String>> {
        let mut values = Vec::new();
        for column in columns {
            let sql =
                format!("SELECT CAST({column} AS TEXT) FROM deliveries WHERE delivery_id = $1");
            let value = match self {
                RawPool::Sqlite(p) => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_one(p)
                        .await
                }
                RawPool::Pg(p) => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_one(p)
                        .await
                }
            };
            values.push(value.expect("value"));
        }
        values
    }
}

/// A claim changes no column any index of `deliveries` names: on Postgres it is then a
/// heap-only update, with no new entry in any of the table's eight indexes (BENCHMARKS.md §11).
/// The claimed delivery still reads as running everywhere: its record, the status counts, the
/// list's filters; it cannot be claimed or replayed until its lease runs out.
#[tokio::test]
async fn a_claim_writes_no_index_and_the_delivery_reads_as_running() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, pool, _db) = open_raw(db).await;
        let indexed = pool.indexed_delivery_columns().await;
        for column in ["status", "received_at", "repo"] {
            assert!(indexed.iter().any(|c| c == column), "{db:?}: {indexed:?}");
        }
        s.insert_deliveries(&[delivery("x", "k"), delivery("y", "k")])
            .await
            .expect("insert");
        let before = pool.delivery_values("x", &indexed).await;
        let (x, _) = claim_as(&s, "w").await.expect("x");
        assert_eq!(x, "x");
        let after = pool.delivery_values("x", &indexed).await;
        assert_eq!(
            before, after,
            "{db:?}: the claim changed an indexed column of {indexed:?}"
        );

        let record = s.delivery("x").await.expect("get").expect("row");
        assert_eq!((record.status.as_str(), record.attempts), ("running", 1));
        let counts = s.status_counts().await.expect("counts");
        assert_eq!(counts.get("running"), Some(&1), "{db:?}: {counts:?}");
        assert_eq!(counts.get("queued"), Some(&1), "{db:?}: {counts:?}");
        let listed = |status: &str| {
            let filter = store::DeliveryFilter {
                status: Some(status.to_string()),
                ..Default::default()
            };
            let s = s.clone();
            async move {
                let list = s.list_deliveries(&filter, None, 10).await.expect("list");
                list.into_iter().map(|d| d.delivery_id).collect::<Vec<_>>()
            }
        };
        assert_eq!(listed("running").await, vec!["x"], "{db:?}");
        assert_eq!(listed("queued").await, vec!["y"], "{db:?}");
        assert!(!s.requeue("x").await.expect("replay"), "{db:?}: running");
        assert_eq!(claim_as(&s, "w2").await, None, "{db:?}: x runs, y waits");
        // The store's kept connection goes back with it; closing waits for every connection.
        drop(s);
        pool.close().await;
    }
}

/// Deliveries a previous release claimed say `running` in `status`. Its worker can still end
/// one; an expired one is claimed again; a live one blocks its item and reads as running.
#[tokio::test]
async fn deliveries_a_previous_release_claimed_are_ended_or_claimed_again() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, pool, _db) = open_raw(db).await;
        let insert = |id: &'static str, item: &'static str, lease_ago: i64| {
            let pool = &pool;
            async move {
                let sql = format!(
                    "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, payload,
                                             status, attempts, lease_owner, lease_until, received_at,
                                             run_after, started_at)
                     VALUES ('{id}', 'github', 'issue_comment', 'o/r', 1, '{item}', $2,
                             'running', 1, 'old', {{ago}}, {{now}}, {{now}}, {{now}})"
                );
                pool.execute_at(&sql, lease_ago).await;
            }
        };
        // Leases that ran out a minute ago, and one with ten minutes to go.
        insert("expired", "k1", 60).await;
        insert("ended-by-old", "k2", 60).await;
        insert("live", "k3", -600).await;
        s.insert_deliveries(&[delivery("behind-live", "k3")])
            .await
            .expect("insert");

        let record = s.delivery("live").await.expect("get").expect("row");
        assert_eq!(record.status, "running", "{db:?}");
        let ended_by_old = s.delivery("ended-by-old").await.expect("get").expect("row");
        let settled = Settlement::default();
        let ended = s.finish_delivery(ended_by_old.id, "old", FinalStatus::Done, None, &settled);
        assert!(ended.await.expect("finish"), "{db:?}: its worker ends it");

        let (first, id) = claim_as(&s, "w").await.expect("the expired one");
        assert_eq!(first, "expired", "{db:?}");
        assert_eq!(
            claim_as(&s, "w").await,
            None,
            "{db:?}: live blocks behind-live"
        );
        let finished = s.finish_delivery(id, "w", FinalStatus::Done, None, &settled);
        assert!(finished.await.expect("finish"));
        let record = s.delivery("expired").await.expect("get").expect("row");
        assert_eq!(
            (record.status.as_str(), record.attempts),
            ("done", 2),
            "{db:?}"
        );
        drop(s);
        pool.close().await;
    }
}

/// `deliveries_repo (repo, number, id)` is gone: `deliveries_item_history` starts with the same
/// columns and serves the same queries (BENCHMARKS §9.4). On Postgres so is
/// `deliveries_item_pending`, which no query there reads (BENCHMARKS §11).
#[tokio::test]
async fn the_redundant_repo_index_is_dropped_and_its_longer_twin_kept() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (_s, pool, _db) = open_raw(db).await;
        let names = pool.index_names("deliveries").await;
        assert!(
            names.iter().any(|n| n == "deliveries_item_history"),
            "{db:?}: {names:?}"
        );
        assert!(
            !names.iter().any(|n| n == "deliveries_repo"),
            "{db:?}: {names:?}"
        );
        // Only SQLite's claim reads (item_key, id); Postgres finds heads in one ordered pass.
        assert_eq!(
            names.iter().any(|n| n == "deliveries_item_pending"),
            db == Db::Sqlite,
            "{db:?}: {names:?}"
        );
        pool.close().await;
    }
}

#[tokio::test]
async fn a_constraint_violation_is_a_bug_and_a_closed_pool_is_unavailable() {
    for db in databases() {
        let test_db = TestDb::new(db).await;
        let (s, pool) = raw_pool(db, &test_db.url).await;
        s.migrate().await.expect("migrate");

        // Through the trait: actions of a delivery that does not exist break a foreign key.
        let item = pr_item();
        let orphan = PlannedAction {
            plugin: "hold".into(),
            seq: 0,
            action: Action::AddLabel {
                item,
                label: "x".into(),
            },
        };
        let err = s
            .record_decision(999_999, &[orphan], false)
            .await
            .expect_err("no such delivery");
        assert!(matches!(err, store::StoreError::Bug(_)), "{db:?}: {err:?}");
        assert!(!err.is_unavailable());

        // A unique key written twice.
        const INSERT: &str = "INSERT INTO owners_cache (key, value) VALUES ('k', 'v')";
        pool.execute(INSERT).await.expect("first insert");
        let err = pool.execute(INSERT).await.expect_err("duplicate key");
        assert!(matches!(err, store::StoreError::Bug(_)), "{db:?}: {err:?}");

        // SQL the database rejects is a bug too, not an outage.
        let err = pool
            .execute("SELECT no_such_column FROM deliveries")
            .await
            .expect_err("bad SQL");
        assert!(matches!(err, store::StoreError::Bug(_)), "{db:?}: {err:?}");

        s.ping().await.expect("ping");
        pool.close().await;
        let err = s.ping().await.expect_err("pool closed");
        assert!(
            matches!(err, store::StoreError::Unavailable(_)),
            "{db:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    // Needs no server: port 1 on loopback: nothing listens, the connection is refused.
    let s = store::postgres::PgStore::connect("postgres://postgres@127.0.0.1:1/none", 1)
        .await
        .expect("connecting is lazy");
    let err = s.ping().await.expect_err("nothing listens");
    assert!(matches!(err, store::StoreError::Unavailable(_)), "{err:?}");
}

/// Rows bosun wrote before times were text on SQLite (Unix milliseconds) read back after the
/// migration, at the same instant, and still take part in the queue and the pages' order.
#[tokio::test]
async fn sqlite_rows_with_millisecond_times_read_back_after_the_migration() {
    let test_db = TestDb::new(Db::Sqlite).await;
    let options: sqlx::sqlite::SqliteConnectOptions = test_db
        .url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .expect("url")
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");

    // The migrations as they were before times became text.
    let old = tempfile::tempdir().expect("temp dir");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.as_str() < "20261204000010" {
            std::fs::copy(&path, old.path().join(&name)).expect("copy");
        }
    }
    sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("old migrations")
        .run(&pool)
        .await
        .expect("run old migrations");

    // 2025-11-24T16:00:00.123Z and one second later, as the old code wrote them.
    let t0: i64 = 1_764_000_000_123;
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, payload, status,
                                 attempts, decided, received_at, run_after, started_at, finished_at)
         VALUES ('old-done', 'github', 'issue_comment', 'o/r', 1, 'k1', X'7B7D', 'done', 1, 1, $1, $1, $1, $1 + 40),
                ('old-queued', 'github', 'issue_comment', 'o/r', 1, 'k2', X'7B7D', 'queued', 0, 0, $1 + 1000, $1 + 1000, NULL, NULL)",
    )
    .bind(t0)
    .execute(&pool)
    .await
    .expect("old deliveries");
    sqlx::query(
        "INSERT INTO actions (delivery, plugin, seq, kind, target, details, outcome, forge_calls, created_at, applied_at)
         SELECT id, 'hold', 0, 'add_label', 'o/r#1', $2, 'applied', 1, $1 + 10, $1 + 20 FROM deliveries WHERE delivery_id = 'old-done'",
    )
    .bind(t0)
    .bind(
        serde_json::to_string(&Action::AddLabel {
            item: pr_item(),
            label: "do-not-merge/hold".into(),
        })
        .expect("json"),
    )
    .execute(&pool)
    .await
    .expect("old action");
    sqlx::query(
        "INSERT INTO pull_requests (forge, repo, number, state, labels, updated_at)
         VALUES ('github', 'o/r', 1, 'open', '[\"do-not-merge/hold\"]', $1 + 30)",
    )
    .bind(t0)
    .execute(&pool)
    .await
    .expect("old pull request");
    pool.close().await;

    let s = store::connect(&test_db.url, 2).await.expect("connect");
    s.migrate().await.expect("migrate the old rows");
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(t0 + ms).expect("time");

    let done = s.delivery("old-done").await.expect("read").expect("row");
    assert_eq!(done.received_at, at(0));
    assert_eq!(done.started_at, Some(at(0)));
    assert_eq!(done.finished_at, Some(at(40)));
    assert_eq!(
        done.received_at.to_rfc3339(),
        "2025-11-24T16:00:00.123+00:00"
    );

    let records = s.actions_of(&[done.id]).await.expect("actions");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].created_at, at(10));
    assert_eq!(records[0].applied_at, Some(at(20)));
    assert_eq!(records[0].action.outcome, ActionOutcome::Applied);

    let view = s
        .pull_request_view(ForgeKind::GitHub, "o/r", 1)
        .await
        .expect("view")
        .expect("row");
    assert_eq!(view.updated_at, at(30));
    assert_eq!(view.state.labels, vec!["do-not-merge/hold".to_string()]);

    // New rows sort after old ones, and a cursor from an old row pages on to the next.
    s.insert_deliveries(&[delivery("new", "k3")])
        .await
        .expect("insert");
    let list = s
        .list_deliveries(&store::DeliveryFilter::default(), None, 10)
        .await
        .expect("list");
    let ids: Vec<&str> = list.iter().map(|d| d.delivery_id.as_str()).collect();
    assert_eq!(ids, vec!["new", "old-queued", "old-done"]);
    let after_old = s
        .list_deliveries(
            &store::DeliveryFilter::default(),
            Some(store::Cursor::of(&list[1])),
            10,
        )
        .await
        .expect("list");
    assert_eq!(after_old.len(), 1);
    assert_eq!(after_old[0].delivery_id, "old-done");

    // The old queued delivery is due (its run_after is in the past) and is claimed first.
    let claimed = s
        .claim_next_delivery("w", LEASE)
        .await
        .expect("claim")
        .expect("work");
    assert_eq!(claimed.delivery_id, "old-queued");
    assert_eq!(claimed.received_at, at(1000));
}

/// A delivery whose journal bosun cannot read fails once with that error; retrying would
/// only read the same row again.
#[tokio::test]
async fn the_queue_fails_a_delivery_on_a_store_bug_instead_of_retrying() {
    for db in databases() {
        let bosun = spawn_bosun(Options::new(db)).await;
        let payload = github_pr_comment(1, "alice", "hello");
        // A decided delivery with an action whose outcome no version of bosun wrote, stored in
        // one transaction so the queue sees both at once.
        let times = match db {
            Db::Sqlite => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            Db::Postgres => "now()",
        };
        let delivery = sqlx::AssertSqlSafe(format!(
            "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, payload, decided, received_at, run_after)
             VALUES ('corrupt', 'github', 'issue_comment', '{GITHUB_REPO}', 1, 'github:{GITHUB_REPO}#1', $1, TRUE, {times}, {times})"
        ));
        let action = "INSERT INTO actions (delivery, plugin, seq, kind, target, details, outcome, created_at)
             SELECT id, 'hold', 0, 'add_label', 'o/r#1', '{}', 'half-done', received_at FROM deliveries WHERE delivery_id = 'corrupt'";
        match db {
            Db::Sqlite => {
                let pool = sqlx::SqlitePool::connect(bosun.db_url())
                    .await
                    .expect("open");
                let mut tx = pool.begin().await.expect("begin");
                sqlx::query(delivery)
                    .bind(&payload)
                    .execute(&mut *tx)
                    .await
                    .expect("delivery");
                sqlx::query(action).execute(&mut *tx).await.expect("action");
                tx.commit().await.expect("commit");
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(bosun.db_url()).await.expect("open");
                let mut tx = pool.begin().await.expect("begin");
                sqlx::query(delivery)
                    .bind(&payload)
                    .execute(&mut *tx)
                    .await
                    .expect("delivery");
                sqlx::query(action).execute(&mut *tx).await.expect("action");
                tx.commit().await.expect("commit");
            }
        }
        bosun.run_until_idle().await;
        let d = bosun
            .store
            .delivery("corrupt")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(d.status, "failed", "{db:?}");
        assert_eq!(d.attempts, 1, "{db:?}: not retried");
        let error = d.last_error.unwrap_or_default();
        assert!(
            error.contains("stored data is unreadable") && !error.contains("gave up"),
            "{db:?}: {error}"
        );
        bosun.shutdown().await;
    }
}

/// A CI event on one commit of PR 7 (`o/r`).
fn ci(sha: &str, context: &str, state: bosun_plugins::CiState) -> bosun_plugins::CiEvent {
    bosun_plugins::CiEvent {
        forge: ForgeKind::GitHub,
        repo: RepoPath::parse("o/r").expect("repo"),
        system: bosun_plugins::CiSystem::GithubStatus,
        sha: sha.into(),
        number: Some(7),
        context: context.into(),
        state,
        url: None,
        run_id: None,
    }
}

/// How a context last finished: a re-run's pending state keeps the failure before it; the
/// commit's own outcome comes first, else the PR's most recent other head; never pending.
#[tokio::test]
async fn the_last_ci_outcome_survives_a_rerun_and_falls_back_to_the_previous_head() {
    use bosun_plugins::CiState::{Failure, Pending, Success};
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let last = |sha: &'static str| {
            let s = s.clone();
            async move {
                s.last_ci_outcome(ForgeKind::GitHub, "o/r", Some(7), sha, "ci/test")
                    .await
                    .expect("read")
            }
        };
        assert_eq!(last("a1").await, None, "{db:?}: nothing heard yet");
        s.record_ci(&ci("a1", "ci/test", Pending), 1)
            .await
            .expect("record");
        assert_eq!(last("a1").await, None, "{db:?}: pending is no outcome");
        s.record_ci(&ci("a1", "ci/test", Failure), 2)
            .await
            .expect("record");
        s.record_ci(&ci("a1", "ci/test", Pending), 3)
            .await
            .expect("record");
        assert_eq!(
            last("a1").await,
            Some(Failure),
            "{db:?}: kept through the re-run"
        );
        assert_eq!(
            last("b2").await,
            Some(Failure),
            "{db:?}: the previous head's"
        );
        s.record_ci(&ci("b2", "ci/test", Pending), 4)
            .await
            .expect("record");
        s.record_ci(&ci("b2", "ci/test", Success), 5)
            .await
            .expect("record");
        assert_eq!(last("b2").await, Some(Success), "{db:?}: its own first");
        let other_pr = s
            .last_ci_outcome(ForgeKind::GitHub, "o/r", Some(8), "c3", "ci/test")
            .await
            .expect("read");
        assert_eq!(other_pr, None, "{db:?}: another PR's heads do not count");
    }
}

/// A binding code is read back as issued, redeemed once (again by the same action, which is a
/// retry, never by another), and its binding kept, the latest binding of a chat user winning.
#[tokio::test]
async fn binding_codes_are_redeemed_once_and_keep_their_binding() {
    use bosun::store::BindingCode;
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let code = |hash: &str, login: &str| BindingCode {
            code_hash: hash.into(),
            chat_user: "dingtalk:u1".into(),
            forge: ForgeKind::GitLab,
            login: login.into(),
            created_ms: 1_000,
            expires_ms: 2_000,
            used_action: None,
        };
        s.create_binding_code(&code("h1", "alice"))
            .await
            .expect("create");
        assert_eq!(
            s.binding_code("h1").await.expect("read"),
            Some(code("h1", "alice")),
            "{db:?}"
        );
        assert_eq!(s.binding_code("nope").await.expect("read"), None);
        assert!(
            s.create_binding_code(&code("h1", "bob")).await.is_err(),
            "{db:?}: one code, one row"
        );
        assert_eq!(
            s.chat_binding("dingtalk:u1", ForgeKind::GitLab)
                .await
                .expect("read"),
            None
        );

        assert!(
            s.redeem_binding_code("h1", 10, 1_500)
                .await
                .expect("redeem"),
            "{db:?}"
        );
        assert!(
            s.redeem_binding_code("h1", 10, 1_600)
                .await
                .expect("redeem"),
            "{db:?}: a retry"
        );
        assert!(
            !s.redeem_binding_code("h1", 11, 1_700)
                .await
                .expect("redeem"),
            "{db:?}: used"
        );
        assert!(
            !s.redeem_binding_code("nope", 12, 1_700)
                .await
                .expect("redeem"),
            "{db:?}"
        );
        assert_eq!(
            s.binding_code("h1")
                .await
                .expect("read")
                .and_then(|c| c.used_action),
            Some(10),
            "{db:?}"
        );
        assert_eq!(
            s.chat_binding("dingtalk:u1", ForgeKind::GitLab)
                .await
                .expect("read")
                .as_deref(),
            Some("alice"),
            "{db:?}"
        );
        assert_eq!(
            s.chat_binding("dingtalk:u1", ForgeKind::GitHub)
                .await
                .expect("read"),
            None
        );

        s.create_binding_code(&code("h2", "carol"))
            .await
            .expect("create");
        assert!(
            s.redeem_binding_code("h2", 13, 1_800)
                .await
                .expect("redeem")
        );
        assert_eq!(
            s.chat_binding("dingtalk:u1", ForgeKind::GitLab)
                .await
                .expect("read")
                .as_deref(),
            Some("carol"),
            "{db:?}: rebinding replaces"
        );
    }
}

/// A merge queue's lease: one holder at a time, renewed by its holder, taken over once it
/// expires; PRs wait in line in arrival order (a PR waiting again keeps its place) and the
/// page's view lists the holder and the line.
#[tokio::test]
async fn a_merge_lease_has_one_holder_and_the_line_keeps_its_order() {
    use bosun::store::{Lease, Waiting};
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let q = "github:o/r@main";
        let waiting = |n: i64| Waiting {
            item_key: format!("github:o/r#{n}"),
            forge: ForgeKind::GitHub,
            repo: "o/r".into(),
            number: n,
            head_sha: format!("head{n}"),
        };
        let take = |holder: i64, now: i64| {
            let s = s.clone();
            async move {
                s.take_merge_lease(q, &format!("github:o/r#{holder}"), holder, now, 1000)
                    .await
                    .expect("lease")
            }
        };
        assert_eq!(take(1, 0).await, Lease::Taken);
        assert_eq!(take(2, 10).await, Lease::HeldBy(1));
        assert_eq!(take(1, 500).await, Lease::Taken, "its holder renews it");
        assert_eq!(take(2, 1400).await, Lease::HeldBy(1), "renewed until 1500");
        for (n, at) in [(3, 20), (2, 30), (3, 40)] {
            s.wait_in_merge_queue(q, &waiting(n), at)
                .await
                .expect("wait");
        }
        let view = s.merge_queues(1400).await.expect("queues");
        assert_eq!(view.len(), 1);
        assert_eq!(view[0].merging, Some(1));
        assert_eq!(view[0].waiting, vec![3, 2], "3 keeps its first place");
        assert_eq!(
            take(2, 1600).await,
            Lease::Taken,
            "an expired lease is taken over"
        );
        s.release_merge_lease(q, "github:o/r#1")
            .await
            .expect("a release by a former holder changes nothing");
        assert_eq!(take(3, 1700).await, Lease::HeldBy(2));
        s.release_merge_lease(q, "github:o/r#2")
            .await
            .expect("release");
        let next = s.next_in_merge_queue(q).await.expect("next");
        assert_eq!(next.map(|w| w.number), Some(3));
        let next = s.next_in_merge_queue(q).await.expect("next");
        assert_eq!(next.map(|w| w.number), Some(2));
        assert_eq!(s.next_in_merge_queue(q).await.expect("next"), None);
        assert!(s.merge_queues(1700).await.expect("queues").is_empty());
    }
}

/// The migrations of `backend` (`sqlite` or `postgres`) older than `version`, in a directory
/// of their own: the schema a previous release created.
fn migrations_before(backend: &str, version: &str) -> tempfile::TempDir {
    let old = tempfile::tempdir().expect("temp dir");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        if name.as_str() < version {
            std::fs::copy(&path, old.path().join(&name)).expect("copy");
        }
    }
    old
}

/// A delivery as the previous release journaled it: the body as received, no encoding column.
const OLD_ROW: &str = "INSERT INTO deliveries (delivery_id, forge, event, repo, number, item_key, payload, received_at, run_after)
     VALUES ($1, 'github', 'pull_request', 'o/r', 1, 'github:o/r#1', $2, $3, $3)";

/// Deliveries a database written by the previous release holds (payloads stored as received;
/// on Postgres compressed by TOAST) read back unchanged after the payload-encoding migration —
/// through the worker's claim, the delivery page and the PR history — next to new rows, which
/// bosun stores compressed; and Postgres no longer compresses the column itself.
#[tokio::test]
async fn payloads_journaled_before_compression_read_back_after_the_migration() {
    let big = fixture_bytes("github/pull_request/edited.json");
    for db in databases() {
        let _combination = Combination::new(db);
        let test_db = TestDb::new(db).await;
        let old = migrations_before(
            match db {
                Db::Sqlite => "sqlite",
                Db::Postgres => "postgres",
            },
            "20261220000001",
        );
        let migrator = sqlx::migrate::Migrator::new(old.path())
            .await
            .expect("old migrations");
        match db {
            Db::Sqlite => {
                let options: sqlx::sqlite::SqliteConnectOptions = test_db
                    .url
                    .parse::<sqlx::sqlite::SqliteConnectOptions>()
                    .expect("url")
                    .create_if_missing(true);
                let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
                migrator.run(&pool).await.expect("run old migrations");
                for (id, payload) in [("old-big", &big[..]), ("old-small", &b"{}"[..])] {
                    sqlx::query(OLD_ROW)
                        .bind(id)
                        .bind(payload)
                        .bind("2026-12-01T10:00:00.000Z")
                        .execute(&pool)
                        .await
                        .expect("old delivery");
                }
                pool.close().await;
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(&test_db.url).await.expect("open");
                migrator.run(&pool).await.expect("run old migrations");
                for (id, payload) in [("old-big", &big[..]), ("old-small", &b"{}"[..])] {
                    sqlx::query(OLD_ROW)
                        .bind(id)
                        .bind(payload)
                        .bind(
                            chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
                                .expect("time")
                                .to_utc(),
                        )
                        .execute(&pool)
                        .await
                        .expect("old delivery");
                }
                pool.close().await;
            }
        }

        let s = store::connect(&test_db.url, 2).await.expect("connect");
        s.migrate().await.expect("migrate the old rows");
        let detail = s
            .delivery_detail("old-big")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(detail.payload, big, "{db:?}: the delivery page");
        let history = s
            .item_history(ForgeKind::GitHub, "o/r", 1, None, 10)
            .await
            .expect("history");
        assert_eq!(history.len(), 2, "{db:?}");
        assert_eq!(history[0].payload, big, "{db:?}: the PR page");
        assert_eq!(history[1].payload, b"{}", "{db:?}");

        // The previous release's lz4 row, and a new delivery compressed with zstd, beside them.
        let mut lz4 = delivery("lz4-big", "github:o/r#1");
        lz4.payload = store::Payload::encode(big.clone().into(), store::PayloadCompression::Lz4);
        assert_eq!(lz4.payload.encoding(), store::PayloadEncoding::Lz4);
        let mut new = delivery("new-big", "github:o/r#1");
        new.payload = store::Payload::encode(big.clone().into(), Default::default());
        assert_eq!(new.payload.encoding(), store::PayloadEncoding::ZstdD1);
        assert!(new.payload.stored().len() * 3 < big.len(), "{db:?}");
        s.insert_deliveries(&[lz4]).await.expect("insert");
        s.insert_deliveries(&[new]).await.expect("insert");

        // The worker claims them in order, each as received.
        let mut claimed = Vec::new();
        while let Some(d) = s.claim_next_delivery("w", LEASE).await.expect("claim") {
            s.finish_delivery(d.id, "w", FinalStatus::Done, None, &Settlement::default())
                .await
                .expect("finish");
            claimed.push((d.delivery_id, d.payload));
        }
        let expected = vec![
            ("old-big".to_string(), big.clone()),
            ("old-small".to_string(), b"{}".to_vec()),
            ("lz4-big".to_string(), big.clone()),
            ("new-big".to_string(), big.clone()),
        ];
        assert!(claimed == expected, "{db:?}: claims in order, as received");
        let detail = s
            .delivery_detail("new-big")
            .await
            .expect("read")
            .expect("row");
        assert_eq!(detail.payload, big, "{db:?}: a compressed delivery's page");

        // Replay queues the old row again; it is read as it was.
        assert!(s.requeue("old-big").await.expect("replay"));
        let again = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("replayed");
        assert_eq!(
            (again.delivery_id.as_str(), again.payload == big),
            ("old-big", true)
        );

        if matches!(db, Db::Postgres) {
            let pool = sqlx::PgPool::connect(&test_db.url).await.expect("open");
            let (storage, encoding): (i8, String) = sqlx::query_as(
                "SELECT a.attstorage, (SELECT payload_encoding FROM deliveries WHERE delivery_id = 'new-big')
                 FROM pg_attribute a WHERE a.attrelid = 'deliveries'::regclass AND a.attname = 'payload'",
            )
            .fetch_one(&pool)
            .await
            .expect("catalog");
            assert_eq!(
                (storage as u8 as char, encoding.as_str()),
                ('e', "zstd-d1"),
                "payload is EXTERNAL: not compressed again"
            );
            pool.close().await;
        }
    }
}

/// A delayed delivery (a plugin's grace period) is not claimed before its delay, holds back its
/// item's later deliveries meanwhile, leaves other items alone, and is journaled once per id.
#[tokio::test]
async fn a_delayed_delivery_waits_and_is_inserted_once() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let later = delivery("look", "k");
        assert_eq!(
            s.insert_delivery_after(&later, Duration::from_secs(60))
                .await
                .expect("insert"),
            InsertOutcome::Inserted
        );
        assert_eq!(
            s.insert_delivery_after(&later, Duration::from_secs(60))
                .await
                .expect("insert"),
            InsertOutcome::Duplicate,
            "{db:?}"
        );
        s.insert_deliveries(&[delivery("after", "k"), delivery("other", "k2")])
            .await
            .expect("insert");
        let d = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert_eq!(d.delivery_id, "other", "{db:?}");
        assert!(
            s.claim_next_delivery("w", LEASE)
                .await
                .expect("claim")
                .is_none(),
            "{db:?}: not before its delay, and its item's later delivery waits"
        );
        let soon = delivery("soon", "k3");
        s.insert_delivery_after(&soon, Duration::from_millis(50))
            .await
            .expect("insert");
        wait_until(
            "the short delay passed",
            Duration::from_secs(10),
            || async {
                s.claim_next_delivery("w", LEASE)
                    .await
                    .expect("claim")
                    .is_some_and(|d| d.delivery_id == "soon")
            },
        )
        .await;
    }
}

/// `insert_and_lease` for one batch: each delivery with the worker named for it, or none.
async fn lease_in(
    s: &Arc<dyn Store>,
    batch: &[(NewDelivery, Option<&str>)],
    lease: Duration,
) -> Vec<store::Journaled> {
    let (deliveries, workers): (Vec<NewDelivery>, Vec<Option<String>>) = batch
        .iter()
        .map(|(d, w)| (d.clone(), w.map(str::to_string)))
        .unzip();
    s.insert_and_lease(&deliveries, &workers, lease)
        .await
        .expect("insert and lease")
}

/// A delivery handed to a waiting worker is leased to it in its insert, exactly as a claim
/// would have left it: running, attempt 1, started when received, and not claimable; its
/// worker finishes it. One whose item has a delivery pending is queued behind it instead, a
/// duplicate is not leased, and nothing is leased while the pending window is full.
#[tokio::test]
async fn a_delivery_is_leased_in_its_insert_only_as_its_items_head() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let mut first = delivery("first", "k1");
        first.payload = actix_web::web::Bytes::from_static(br#"{"action":"created"}"#).into();
        let journaled = lease_in(
            &s,
            &[(first, Some("w1")), (delivery("other", "k2"), None)],
            LEASE,
        )
        .await;
        assert_eq!(
            journaled.iter().map(|j| j.outcome).collect::<Vec<_>>(),
            vec![InsertOutcome::Inserted, InsertOutcome::Inserted],
            "{db:?}"
        );
        let leased = journaled[0].leased.as_ref().expect("leased to w1");
        assert_eq!(
            (
                leased.delivery_id.as_str(),
                leased.attempts,
                leased.decided,
                leased.payload.as_slice()
            ),
            ("first", 1, false, br#"{"action":"created"}"#.as_slice()),
            "{db:?}"
        );
        assert!(journaled[1].leased.is_none(), "{db:?}: no worker named");
        let record = s.delivery("first").await.expect("read").expect("stored");
        assert_eq!(
            (record.id, record.status.as_str(), record.attempts),
            (leased.id, "running", 1),
            "{db:?}"
        );
        assert_eq!(
            record.started_at,
            Some(record.received_at),
            "{db:?}: started as it was received"
        );
        assert_eq!(
            claim_as(&s, "w2").await.map(|(id, _)| id).as_deref(),
            Some("other"),
            "{db:?}: the leased one is not claimable; the queued one is"
        );
        assert_eq!(claim_as(&s, "w2").await, None, "{db:?}");
        assert!(
            s.finish_delivery(
                leased.id,
                "w1",
                FinalStatus::Done,
                None,
                &Settlement::default()
            )
            .await
            .expect("finish"),
            "{db:?}: its worker holds the lease"
        );

        // k2's "other" is running (claimed by w2): a delivery of k2 waits behind it.
        let behind = lease_in(&s, &[(delivery("behind", "k2"), Some("w1"))], LEASE).await;
        assert_eq!(behind[0].outcome, InsertOutcome::Inserted, "{db:?}");
        assert!(behind[0].leased.is_none(), "{db:?}: its item is busy");
        assert_eq!(
            s.delivery("behind")
                .await
                .expect("read")
                .map(|r| r.status)
                .as_deref(),
            Some("queued"),
            "{db:?}"
        );
        let again = lease_in(&s, &[(delivery("first", "k9"), Some("w1"))], LEASE).await;
        assert_eq!(
            (again[0].outcome, again[0].leased.is_none()),
            (InsertOutcome::Duplicate, true),
            "{db:?}: a duplicate is neither stored nor leased"
        );

        // A full window of pending deliveries: a backlog, claimed in order; nothing is leased.
        let backlog: Vec<NewDelivery> = (0..256)
            .map(|i| delivery(&format!("backlog-{i}"), &format!("b{i}")))
            .collect();
        s.insert_deliveries(&backlog).await.expect("insert");
        let late = lease_in(&s, &[(delivery("late", "k7"), Some("w1"))], LEASE).await;
        assert!(
            late[0].leased.is_none(),
            "{db:?}: with a backlog the workers claim"
        );
    }
}

/// Two processes on one database (two stores) journal deliveries of one PR at the same moment,
/// each for a worker of its own that waits: only one is leased, and the other waits behind it,
/// unclaimable while the first runs. Without the leasing inserts taking turns per item, each
/// saw no pending delivery of the PR (the other's row was not committed yet) and leased its
/// own, so the PR ran twice at once.
#[tokio::test]
async fn two_processes_journaling_one_item_at_once_lease_one_delivery() {
    const ROUNDS: usize = 60;
    for db in databases() {
        let _combination = Combination::new(db);
        let (a, test_db) = open(db).await;
        let b = store::connect(&test_db.url, 4).await.expect("connect");
        for round in 0..ROUNDS {
            let item = format!("pr-{round}");
            let first = [(delivery(&format!("a-{round}"), &item), Some("wa"))];
            let second = [(delivery(&format!("b-{round}"), &item), Some("wb"))];
            let (x, y) = tokio::join!(lease_in(&a, &first, LEASE), lease_in(&b, &second, LEASE));
            let leased = [&x[0], &y[0]].iter().filter(|j| j.leased.is_some()).count();
            assert_eq!(leased, 1, "{db:?}, round {round}: {leased} leased");
            assert_eq!(
                claim_as(&a, "wc").await,
                None,
                "{db:?}, round {round}: the other delivery waits behind the leased one"
            );
        }
    }
}

/// A store on `db` in which `old` (delivery `old` of item `pr`) ran and failed, for a replay.
async fn open_with_old_failed(db: Db, old: NewDelivery) -> (Arc<dyn Store>, TestDb) {
    let (s, test_db) = open(db).await;
    s.insert_deliveries(&[old]).await.expect("insert");
    let (_, old) = claim_as(&s, "w1").await.expect("old runs");
    let failed = s
        .finish_delivery(
            old,
            "w1",
            FinalStatus::Failed,
            Some("boom"),
            &Settlement::default(),
        )
        .await;
    assert!(failed.expect("finish"), "{db:?}");
    (s, test_db)
}

/// Ends `new`, which worker `w2` runs, and checks that the same statement claims the replayed
/// `old`, which waited for it.
async fn ending_new_claims_old(s: &Arc<dyn Store>, db: Db, new: i64) {
    let (ended, next) = s
        .finish_and_claim(
            new,
            "w2",
            FinalStatus::Done,
            None,
            &Settlement::default(),
            LEASE,
        )
        .await
        .expect("finish and claim");
    assert!(ended, "{db:?}");
    assert_eq!(
        next.map(|d| d.delivery_id).as_deref(),
        Some("old"),
        "{db:?}: the finish that ends new claims the replayed one"
    );
}

/// A replayed delivery goes back to its place at the head of its item's line, but does not run
/// while a later delivery of the item does; it runs once that one ends, by a claim or by the
/// finish that ends it.
#[tokio::test]
async fn a_replayed_delivery_waits_for_the_running_one_of_its_item() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open_with_old_failed(db, delivery("old", "pr")).await;
        s.insert_deliveries(&[delivery("new", "pr"), delivery("other", "pr-2")])
            .await
            .expect("insert");
        let (_, new) = claim_as(&s, "w2").await.expect("new runs");
        assert!(s.requeue("old").await.expect("requeue"), "{db:?}: replayed");
        assert_eq!(
            claim_as(&s, "w3").await.map(|(id, _)| id).as_deref(),
            Some("other"),
            "{db:?}: another PR's delivery runs; the replayed one waits for new"
        );
        assert_eq!(claim_as(&s, "w3").await, None, "{db:?}");
        ending_new_claims_old(&s, db, new).await;
    }
}

/// The same with more pending deliveries between the replayed one and the running one than a
/// claim's first window reads: the claim still finds the running one and leaves the replayed one
/// waiting (on Postgres it looks the item up when its window is full), for an item of each shape:
/// a PR, a repository's own deliveries (no number), and deliveries with no repository.
#[tokio::test]
async fn a_replayed_delivery_waits_for_the_running_one_behind_a_long_backlog() {
    for db in databases() {
        let _combination = Combination::new(db);
        for (repo, number) in [(Some("o/r"), Some(1)), (Some("o/r"), None), (None, None)] {
            let of_item = |id: &str| NewDelivery {
                repo: repo.map(str::to_string),
                number,
                ..delivery(id, "item")
            };
            let (s, _db) = open_with_old_failed(db, of_item("old")).await;
            for n in 0..40 {
                let waiting = delivery(&format!("waiting-{n}"), &format!("later-{n}"));
                s.insert_delivery_after(&waiting, Duration::from_secs(600))
                    .await
                    .expect("insert");
            }
            s.insert_deliveries(&[of_item("new")])
                .await
                .expect("insert");
            let (_, new) = claim_as(&s, "w2").await.expect("new runs");
            assert!(s.requeue("old").await.expect("requeue"), "{db:?}: replayed");
            assert_eq!(
                claim_as(&s, "w3").await,
                None,
                "{db:?} {repo:?} {number:?}: the replayed one waits for new, 41 pending \
                 deliveries behind it"
            );
            ending_new_claims_old(&s, db, new).await;
        }
    }
}

/// A leased delivery whose worker is gone (a crash) runs again when its lease runs out, like a
/// claimed one.
#[tokio::test]
async fn a_leased_delivery_whose_worker_vanished_is_claimed_after_its_lease() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        let journaled = lease_in(
            &s,
            &[(delivery("orphan", "k"), Some("gone"))],
            Duration::from_millis(200),
        )
        .await;
        let orphan = journaled[0].leased.as_ref().expect("leased");
        let again = wait_for_claim(&s, "w").await;
        assert_eq!(
            (again.id, again.attempts),
            (orphan.id, 2),
            "{db:?}: claimed again, its second attempt"
        );
        assert!(
            !s.finish_delivery(
                orphan.id,
                "gone",
                FinalStatus::Done,
                None,
                &Settlement::default()
            )
            .await
            .expect("finish"),
            "{db:?}: the vanished worker's lease is lost"
        );
    }
}

/// A worker that knows a delivery waits behind the one it ends finishes it and claims in one
/// step: the next of the same item becomes claimable as the first ends. A worker that lost the
/// lease ends nothing and claims nothing.
#[tokio::test]
async fn a_finish_can_claim_what_waited_behind_it() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open_with(db, &[("first", "k"), ("second", "k"), ("other", "k2")]).await;
        let first = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("first");
        assert_eq!(first.delivery_id, "first", "{db:?}");
        let done = Settlement {
            decided_nothing: true,
            ..Settlement::default()
        };
        let (ended, next) = s
            .finish_and_claim(first.id, "w", FinalStatus::Done, None, &done, LEASE)
            .await
            .expect("finish and claim");
        assert!(ended, "{db:?}");
        let next = next.expect("the one behind it");
        assert_eq!(
            (next.delivery_id.as_str(), next.attempts),
            ("second", 1),
            "{db:?}: the oldest claimable, its item's new head"
        );
        let record = s.delivery("first").await.expect("read").expect("stored");
        assert_eq!(record.status, "done", "{db:?}");

        let (ended, stolen) = s
            .finish_and_claim(
                next.id,
                "someone else",
                FinalStatus::Done,
                None,
                &done,
                LEASE,
            )
            .await
            .expect("finish and claim");
        assert_eq!(
            (ended, stolen.map(|d| d.delivery_id)),
            (false, None),
            "{db:?}: not this worker's: nothing ends, nothing is claimed"
        );
        assert_eq!(
            s.delivery("second")
                .await
                .expect("read")
                .map(|r| r.status)
                .as_deref(),
            Some("running"),
            "{db:?}"
        );
        let (ended, last) = s
            .finish_and_claim(next.id, "w", FinalStatus::Done, None, &done, LEASE)
            .await
            .expect("finish and claim");
        assert_eq!(
            (ended, last.map(|d| d.delivery_id).as_deref()),
            (true, Some("other")),
            "{db:?}"
        );
        assert_eq!(claim_as(&s, "w").await, None, "{db:?}");
    }
}

/// `retried` alone on its item, then `finished` and `behind` on one item.
const RETRIED_FINISHED_BEHIND: &[(&str, &str)] =
    &[("retried", "k1"), ("finished", "k2"), ("behind", "k2")];

/// A `Remember` action's fact is held back and written with the attempt's end, in the same
/// statement or transaction as the action's `applied` mark (a finish, a retry, or a finish that
/// claims): until then neither is written, so a crash leaves the action to be applied again.
#[tokio::test]
async fn a_held_back_fact_is_written_with_the_attempts_end() {
    use bosun_plugins::{Fact, Login};
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open_with(db, RETRIED_FINISHED_BEHIND).await;
        let lgtm = |who: &str| Fact::Lgtm {
            by: vec![Login::new(who)],
        };
        let remember = |who: &str| PlannedAction {
            plugin: "lgtm".into(),
            seq: 0,
            action: Action::Remember {
                item: pr_item(),
                fact: lgtm(who),
            },
        };
        let held = |action: i64, who: &str| store::HeldFact {
            action,
            item: pr_item(),
            plugin: "lgtm".into(),
            fact: lgtm(who),
        };
        let facts = || async {
            s.facts(ForgeKind::GitHub, "o/r", 1)
                .await
                .expect("facts")
                .into_iter()
                .map(|f| f.fact)
                .collect::<Vec<_>>()
        };

        // A retry writes it.
        let d = wait_for_claim(&s, "w").await;
        assert_eq!(d.delivery_id, "retried", "{db:?}");
        let action = s
            .record_decision(d.id, &[remember("alice")], false)
            .await
            .expect("decide")
            .actions[0]
            .id;
        let mut settlement = Settlement::default();
        settlement.hold_fact(held(action, "alice"));
        assert!(facts().await.is_empty(), "{db:?}: held back");
        assert!(
            s.retry_delivery(d.id, "w", "502", Duration::from_secs(60), &settlement)
                .await
                .expect("retry")
        );
        assert_eq!(facts().await, vec![lgtm("alice")], "{db:?}");
        assert_eq!(
            s.delivery_actions(d.id).await.expect("actions")[0].outcome,
            ActionOutcome::Applied,
            "{db:?}"
        );

        // A finish that claims writes it, and the later of two facts with one key wins.
        let d = wait_for_claim(&s, "w").await;
        assert_eq!(d.delivery_id, "finished", "{db:?}");
        let mut second = remember("bob");
        second.seq = 1;
        let decided = s
            .record_decision(d.id, &[remember("carol"), second], false)
            .await
            .expect("decide");
        let mut settlement = Settlement::default();
        settlement.hold_fact(held(decided.actions[0].id, "carol"));
        settlement.hold_fact(held(decided.actions[1].id, "bob"));
        let (ended, next) = s
            .finish_and_claim(d.id, "w", FinalStatus::Done, None, &settlement, LEASE)
            .await
            .expect("finish and claim");
        assert!(ended, "{db:?}");
        assert_eq!(
            next.map(|n| n.delivery_id).as_deref(),
            Some("behind"),
            "{db:?}"
        );
        assert_eq!(facts().await, vec![lgtm("bob")], "{db:?}");
        let stored: Vec<_> = s
            .delivery_actions(d.id)
            .await
            .expect("actions")
            .into_iter()
            .map(|a| (a.outcome, a.forge_calls))
            .collect();
        assert_eq!(
            stored,
            vec![(ActionOutcome::Applied, 1), (ActionOutcome::Applied, 1)],
            "{db:?}: both applied, the later fact kept"
        );
    }
}

/// A decision whose actions repeat safely is journaled by the attempt's end, with each
/// action's outcome so far and the delivery marked decided: by a retry (what was not reached
/// stays pending for the next attempt) and by a finish that claims. A worker that lost its
/// lease journals nothing: the journal is the lease holder's.
#[tokio::test]
async fn a_held_decision_is_journaled_by_the_attempts_end_only_under_its_lease() {
    use bosun_plugins::{Fact, Login};
    use store::{HeldDecision, held_action_id};
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open_with(db, RETRIED_FINISHED_BEHIND).await;
        let planned = |seq: i32, action: Action| PlannedAction {
            plugin: "hold".into(),
            seq,
            action,
        };
        let add = |label: &str| Action::AddLabel {
            item: pr_item(),
            label: label.into(),
        };
        let outcomes = |actions: Vec<store::StoredAction>| {
            actions
                .into_iter()
                .map(|a| (a.kind, a.outcome, a.error, a.forge_calls))
                .collect::<Vec<_>>()
        };

        // A retry journals it; the action after the one that asked for the retry stays pending.
        let d = wait_for_claim(&s, "w").await;
        assert_eq!(d.delivery_id, "retried", "{db:?}");
        assert!(!d.decided, "{db:?}");
        let mut settlement = Settlement {
            decision: Some(HeldDecision {
                delivery: d.id,
                actions: vec![planned(0, add("do-not-merge/hold")), planned(1, add("x"))],
            }),
            ..Settlement::default()
        };
        settlement.mark(
            held_action_id(0),
            ActionOutcome::Applying,
            Some("502".into()),
            1,
        );
        assert!(s.delivery_actions(d.id).await.expect("actions").is_empty());
        assert!(
            s.retry_delivery(d.id, "w", "502", Duration::ZERO, &settlement)
                .await
                .expect("retry"),
            "{db:?}"
        );
        assert_eq!(
            outcomes(s.delivery_actions(d.id).await.expect("actions")),
            vec![
                (
                    "add_label".to_string(),
                    ActionOutcome::Applying,
                    Some("502".to_string()),
                    1
                ),
                ("add_label".to_string(), ActionOutcome::Pending, None, 0),
            ],
            "{db:?}"
        );

        // The next attempt reads it decided and claims the delivery behind the finished one
        // with its finish; the held fact's action is applied with its fact written.
        let again = wait_for_claim(&s, "w").await;
        assert_eq!(again.delivery_id, "retried", "{db:?}: the oldest");
        assert!(again.decided, "{db:?}: decided by the retry");
        assert!(
            s.finish_delivery(
                again.id,
                "w",
                FinalStatus::Done,
                None,
                &Settlement::default()
            )
            .await
            .expect("finish")
        );
        let finished = wait_for_claim(&s, "w").await;
        assert_eq!(finished.delivery_id, "finished", "{db:?}");
        let lgtm = Fact::Lgtm {
            by: vec![Login::new("alice")],
        };
        let mut settlement = Settlement {
            decision: Some(HeldDecision {
                delivery: finished.id,
                actions: vec![
                    planned(0, add("lgtm")),
                    planned(
                        1,
                        Action::Remember {
                            item: pr_item(),
                            fact: lgtm.clone(),
                        },
                    ),
                ],
            }),
            ..Settlement::default()
        };
        settlement.mark(held_action_id(0), ActionOutcome::Applied, None, 1);
        settlement.hold_fact(store::HeldFact {
            action: held_action_id(1),
            item: pr_item(),
            plugin: "hold".into(),
            fact: lgtm.clone(),
        });
        let (ended, next) = s
            .finish_and_claim(
                finished.id,
                "w",
                FinalStatus::Done,
                None,
                &settlement,
                LEASE,
            )
            .await
            .expect("finish and claim");
        assert!(ended, "{db:?}");
        let behind = next.expect("the delivery behind claimed with the finish");
        assert_eq!(behind.delivery_id, "behind", "{db:?}");
        assert_eq!(
            outcomes(s.delivery_actions(finished.id).await.expect("actions")),
            vec![
                ("add_label".to_string(), ActionOutcome::Applied, None, 1),
                ("remember".to_string(), ActionOutcome::Applied, None, 1),
            ],
            "{db:?}"
        );
        let facts = s.facts(ForgeKind::GitHub, "o/r", 1).await.expect("facts");
        assert_eq!(
            facts.into_iter().map(|f| f.fact).collect::<Vec<_>>(),
            vec![lgtm],
            "{db:?}"
        );
        let record = s.delivery("finished").await.expect("store").expect("row");
        assert_eq!(record.status, "done", "{db:?}");

        // Its lease lost (another worker's name): nothing is journaled, nothing decided.
        let settlement = Settlement {
            decision: Some(HeldDecision {
                delivery: behind.id,
                actions: vec![planned(0, add("late"))],
            }),
            ..Settlement::default()
        };
        assert!(
            !s.finish_delivery(behind.id, "other", FinalStatus::Done, None, &settlement)
                .await
                .expect("finish"),
            "{db:?}"
        );
        assert!(
            s.delivery_actions(behind.id)
                .await
                .expect("actions")
                .is_empty(),
            "{db:?}: the lease holder's journal"
        );
        assert!(
            s.finish_delivery(
                behind.id,
                "w",
                FinalStatus::Done,
                None,
                &Settlement::default()
            )
            .await
            .expect("finish"),
            "{db:?}"
        );
    }
}
