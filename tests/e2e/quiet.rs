//! Deliveries that lead to nothing say why: no plugin enabled for the repository (done, with a
//! note on the delivery page), or a payload bosun cannot use (ignored with the reason, never
//! retried or offered for replay).

use crate::support::*;
use bosun_plugins::ForgeKind;

async fn delivery_page(bosun: &TestBosun, id: &str) -> String {
    let resp = bosun
        .http
        .get(bosun.url(&format!("/deliveries/{id}")))
        .send()
        .await
        .expect("page answers");
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.expect("page")
}

#[tokio::test]
async fn a_repository_without_plugins_is_named_on_the_delivery() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let mut payload = fixture("github/issue_comment/created.on-pull-request.lgtm.json");
        patch(
            &mut payload,
            "/repository/full_name",
            "someone/elsewhere".into(),
        );
        let body = serde_json::to_vec(&payload).expect("json");
        let (status, _) = bosun
            .post(ForgeKind::GitHub, "issue_comment", "q-1", &body)
            .await;
        assert_eq!(status, 202);
        bosun.run_until_idle().await;
        let record = bosun
            .store
            .delivery("github:q-1")
            .await
            .expect("store")
            .expect("row");
        assert_eq!(record.status, "done", "{db:?}");
        let note = record.last_error.unwrap_or_default();
        assert!(
            note.starts_with("no plugin is enabled for someone/elsewhere"),
            "{db:?}: {note}"
        );
        let page = delivery_page(&bosun, "github:q-1").await;
        assert!(page.contains("<h2>Note</h2>"), "{db:?}");
        assert!(
            page.contains("No plugin decided anything for this delivery (no plugin is enabled for someone/elsewhere"),
            "{db:?}: {page}"
        );
        bosun.shutdown().await;
    }
}

#[tokio::test]
async fn a_payload_bosun_cannot_use_is_ignored_with_the_reason() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(Options::new(db)).await;
        let mut payload = fixture("github/issue_comment/created.on-pull-request.lgtm.json");
        payload
            .as_object_mut()
            .expect("object")
            .remove("repository");
        let body = serde_json::to_vec(&payload).expect("json");
        let (status, _) = bosun
            .post(ForgeKind::GitHub, "issue_comment", "q-2", &body)
            .await;
        assert_eq!(status, 202, "{db:?}: valid JSON is acknowledged");
        bosun.run_until_idle().await;
        let record = bosun
            .store
            .delivery("github:q-2")
            .await
            .expect("store")
            .expect("row");
        assert_eq!(record.status, "ignored", "{db:?}: {record:?}");
        assert_eq!(record.attempts, 1, "{db:?}: never retried");
        let note = record.last_error.unwrap_or_default();
        assert!(
            note.starts_with("not a payload bosun can use:"),
            "{db:?}: {note}"
        );
        let page = delivery_page(&bosun, "github:q-2").await;
        assert!(
            !page.contains("id=\"replay\""),
            "{db:?}: not offered for replay"
        );
        bosun.shutdown().await;
    }
}

/// Counts the updates of each delivery's row, with a trigger bosun's statements cannot skip.
struct UpdateLog(RawPool);

impl UpdateLog {
    async fn install(db: Db, url: &str) -> UpdateLog {
        let pool = RawPool::connect(db, url).await;
        let statements: &[&'static str] = match db {
            Db::Sqlite => &[
                "CREATE TRIGGER log_delivery_updates AFTER UPDATE ON deliveries
                 BEGIN INSERT INTO update_log VALUES (NEW.delivery_id); END",
            ],
            Db::Postgres => &[
                "CREATE FUNCTION log_delivery_update() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN INSERT INTO update_log VALUES (NEW.delivery_id); RETURN NULL; END $$",
                "CREATE TRIGGER log_delivery_updates AFTER UPDATE ON deliveries
                 FOR EACH ROW EXECUTE FUNCTION log_delivery_update()",
            ],
        };
        let table = "CREATE TABLE update_log (delivery_id TEXT NOT NULL)";
        for statement in std::iter::once(&table).chain(statements) {
            pool.execute(statement).await.expect(statement);
        }
        UpdateLog(pool)
    }

    /// How many times the delivery's row was updated, and whether it reads decided.
    async fn of(&self, delivery_id: &str) -> (i64, bool) {
        let updates = "SELECT count(*) FROM update_log WHERE delivery_id = $1";
        let decided = "SELECT count(*) FROM deliveries WHERE delivery_id = $1 AND decided";
        (
            self.0.count(updates, delivery_id).await,
            self.0.count(decided, delivery_id).await == 1,
        )
    }
}

/// Most webhooks lead to no action (a comment without a command, here on both forges). Such a
/// delivery, handed to a waiting worker as it is journaled (leased in its insert, so no claim),
/// has its row written once, by its finish, which also marks it decided. So has a `/hold`:
/// adding a label repeats safely, so its decision is journaled with the finish too. A reply
/// (`/lgtm` on one's own PR) has its decision journaled on its own before it is posted, a
/// second write. All read decided afterwards, so none is decided again on a replay. (A
/// claimed delivery adds the claim's write:
/// `store::a_decision_on_nothing_rides_with_the_attempts_end`.)
#[tokio::test]
async fn a_delivery_that_leads_to_nothing_is_decided_with_its_finish() {
    for db in databases() {
        let _combination = Combination::new(db);
        // No poll: every worker stays waiting, so each delivery is handed over.
        let mut options = Options::new(db).without_poll();
        options.extra = "[plugins.\"kubernetes\"]\nenabled = [\"hold\", \"lgtm\"]\n[plugins.\"gitlab-org\"]\nenabled = [\"hold\"]\n".into();
        let bosun = spawn_bosun(options).await;
        let log = UpdateLog::install(db, bosun.db_url()).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .forge
            .seed_pr(ForgeKind::GitLab, GITLAB_REPO, 1, "sytses");
        for (forge, id, body) in [
            (
                ForgeKind::GitHub,
                "chatter-1",
                github_pr_comment(947, "alice", "Looks fine to me."),
            ),
            (
                ForgeKind::GitLab,
                "chatter-2",
                gitlab_mr_note(1, "alice", "Thanks, merging soon."),
            ),
            (
                ForgeKind::GitHub,
                "hold-1",
                github_pr_comment(947, "alice", "/hold"),
            ),
            (
                ForgeKind::GitHub,
                "own-lgtm-1",
                github_pr_comment(947, "spxtr", "/lgtm"),
            ),
        ] {
            let event = match forge {
                ForgeKind::GitHub => "issue_comment",
                ForgeKind::GitLab => "Note Hook",
            };
            bosun.all_workers_waiting().await;
            let (status, _) = bosun.post(forge, event, id, &body).await;
            assert_eq!(status, 202, "{db:?} {id}");
            bosun.run_until_idle().await;
        }
        for stored in [
            "github:chatter-1",
            "gitlab:chatter-2",
            "github:hold-1",
            "github:own-lgtm-1",
        ] {
            assert_eq!(
                bosun.status_of(stored).await.as_deref(),
                Some("done"),
                "{db:?} {stored}"
            );
        }
        assert_eq!(
            log.of("github:chatter-1").await,
            (1, true),
            "{db:?}: the finish alone"
        );
        assert_eq!(
            log.of("gitlab:chatter-2").await,
            (1, true),
            "{db:?}: the finish alone"
        );
        assert_eq!(
            log.of("github:hold-1").await,
            (1, true),
            "{db:?}: the label repeats safely: its decision is journaled with the finish"
        );
        assert_eq!(
            log.of("github:own-lgtm-1").await,
            (2, true),
            "{db:?}: a reply does not repeat safely: decision, then finish"
        );
        assert_eq!(bosun.forge.labels(&pr), vec!["do-not-merge/hold"], "{db:?}");
        assert!(
            bosun
                .forge
                .comments(&pr)
                .iter()
                .any(|c| c.body.contains("you cannot LGTM your own PR")),
            "{db:?}: {:?}",
            bosun.forge.comments(&pr)
        );
        log.0.close().await;
        bosun.shutdown().await;
    }
}
