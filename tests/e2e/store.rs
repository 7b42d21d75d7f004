//! One behaviour suite for the `Store` trait, run against SQLite and (when enabled) Postgres.

use crate::support::*;
use bosun::store::{
    self, ActionOutcome, FinalStatus, InsertOutcome, NewDelivery, PlannedAction, Store,
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
        payload: actix_web::web::Bytes::from_static(b"{}"),
    }
}

async fn open(db: Db) -> (Arc<dyn Store>, TestDb) {
    let test_db = TestDb::new(db).await;
    let s = store::connect(&test_db.url, 4).await.expect("connect");
    s.migrate().await.expect("migrate");
    s.migrate().await.expect("migrating twice is a no-op");
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
        let (s, _db) = open(db).await;
        s.insert_deliveries(&[
            delivery("1", "pr-a"),
            delivery("2", "pr-a"),
            delivery("3", "pr-b"),
        ])
        .await
        .expect("insert");
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
            s.finish_delivery(first.id, "w1", FinalStatus::Done, None)
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

#[tokio::test]
async fn an_expired_lease_is_claimed_again_and_the_old_owner_loses() {
    for db in databases() {
        let _combination = Combination::new(db);
        let (s, _db) = open(db).await;
        s.insert_deliveries(&[delivery("x", "k")])
            .await
            .expect("insert");
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
            !s.finish_delivery(d.id, "dead-worker", FinalStatus::Done, None)
                .await
                .expect("finish"),
            "{db:?}"
        );
        assert!(
            s.finish_delivery(d.id, "w2", FinalStatus::Done, None)
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
        let (s, _db) = open(db).await;
        s.insert_deliveries(&[delivery("r1", "k"), delivery("r2", "k")])
            .await
            .expect("insert");
        let d = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert!(
            s.retry_delivery(d.id, "w", "boom", Duration::from_secs(60))
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
        s.insert_deliveries(&[delivery("d", "k")])
            .await
            .expect("insert");
        let d = s
            .claim_next_delivery("w", LEASE)
            .await
            .expect("claim")
            .expect("work");
        assert!(!d.decided);
        let item = ItemRef {
            forge: ForgeKind::GitHub,
            repo: RepoPath::parse("o/r").expect("repo"),
            number: 1,
            kind: ItemKind::PullRequest,
        };
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
        s.record_decision(d.id, &planned).await.expect("decide");
        s.record_decision(d.id, &planned)
            .await
            .expect("deciding twice is harmless");
        let actions = s.delivery_actions(d.id).await.expect("actions");
        assert_eq!(actions.len(), 2, "{db:?}");
        assert_eq!(actions[0].action, planned[0].action);
        s.set_action_outcome(actions[0].id, ActionOutcome::Applied, None, 1)
            .await
            .expect("outcome");
        s.set_action_outcome(actions[1].id, ActionOutcome::Failed, Some("no"), 1)
            .await
            .expect("outcome");
        assert!(
            s.finish_delivery(d.id, "w", FinalStatus::Failed, Some("no"))
                .await
                .expect("finish")
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
