//! Facts plugins report reach bosun's record and the PR page through the executor, with no
//! plugin named anywhere between: `/lgtm` and its cancel on both forges and both databases.

use crate::commands::{Case, GITHUB, GITLAB, options, say, setup};
use crate::support::*;
use bosun_plugins::{Fact, Login};

/// The PR page's HTML.
async fn pr_page(bosun: &TestBosun, case: Case) -> String {
    let path = format!("/pr/{}/{}/{}", case.forge.as_str(), case.repo, case.number);
    let resp = bosun
        .http
        .get(bosun.url(&path))
        .send()
        .await
        .expect("page answers");
    assert_eq!(resp.status().as_u16(), 200, "{path}");
    resp.text().await.expect("page text")
}

/// The `<dd>` of the LGTM fact on the page.
fn lgtm_cell(page: &str) -> &str {
    let start = page
        .find("<dt>LGTM</dt>")
        .unwrap_or_else(|| panic!("no LGTM fact on the page: {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</dd>").expect("closed cell")]
}

#[tokio::test]
async fn lgtm_is_remembered_as_a_fact_and_shown_on_the_pr_page() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let combination = format!("{db:?} × {:?}", case.forge);
            let bosun = crate::support::spawn_bosun(options(db, "")).await;
            setup(&bosun, case).await;
            say(&bosun, case, "alice", &case.verb("/lgtm")).await;
            let facts = bosun
                .store
                .facts(case.forge, case.repo, case.number as i64)
                .await
                .expect("facts");
            assert_eq!(facts.len(), 1, "{combination}: {facts:?}");
            assert_eq!(facts[0].plugin, "lgtm", "{combination}");
            assert_eq!(
                facts[0].fact,
                Fact::Lgtm {
                    by: vec![Login::new("alice")]
                },
                "{combination}"
            );
            let page = pr_page(&bosun, case).await;
            let cell = lgtm_cell(&page);
            assert!(cell.contains("reported by lgtm"), "{combination}: {cell}");
            assert!(cell.contains(">alice<"), "{combination}: {cell}");

            say(&bosun, case, "alice", &case.verb("/lgtm cancel")).await;
            let page = pr_page(&bosun, case).await;
            let cell = lgtm_cell(&page);
            assert!(!cell.contains("alice"), "{combination}: {cell}");
            assert!(cell.contains("none"), "{combination}: {cell}");
            bosun.shutdown().await;
        }
    }
}
