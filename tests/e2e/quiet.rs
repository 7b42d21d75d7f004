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
