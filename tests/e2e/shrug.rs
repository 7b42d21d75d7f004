//! `/shrug` and `/unshrug` end to end on both forges, on a PR/MR and on an issue: a comment
//! webhook → bosun → the label in the fake forge's state.

use crate::commands::{Case, GITHUB, GITLAB, issue_comment, say, setup};
use crate::support::*;
use bosun_plugins::shrug::LABEL;

fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra = "[plugins.\"kubernetes\"]\nenabled = [\"shrug\"]\n\
               [plugins.\"gitlab-org\"]\nenabled = [\"shrug\"]\n"
        .into();
    o
}

/// Prow shrug: anyone's `/shrug` adds `¯\_(ツ)_/¯` to a PR, `/unshrug` removes it (GitLab:
/// `/bosun-shrug`, since GitLab's own `/shrug` quick action rewrites the note).
#[tokio::test]
async fn shrug_and_unshrug_on_a_pull_request() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = setup(&bosun, case).await;
            say(&bosun, case, "outsider", &case.verb("/shrug")).await;
            assert_eq!(bosun.forge.labels(&pr), vec![LABEL], "{:?}", case.forge);
            say(&bosun, case, "outsider", &case.verb("/unshrug")).await;
            assert!(bosun.forge.labels(&pr).is_empty(), "{:?}", case.forge);
            bosun.shutdown().await;
        }
    }
}

/// Prow shrug works on issues too.
#[tokio::test]
async fn shrug_on_an_issue() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let issue = bosun
                .forge
                .seed_issue(case.forge, case.repo, 1, case.author);
            shrug_issue(&bosun, case, "/shrug", "s-1").await;
            assert_eq!(bosun.forge.labels(&issue), vec![LABEL], "{:?}", case.forge);
            shrug_issue(&bosun, case, "/unshrug", "s-2").await;
            assert!(bosun.forge.labels(&issue).is_empty(), "{:?}", case.forge);
            bosun.shutdown().await;
        }
    }
}

async fn shrug_issue(bosun: &TestBosun, case: Case, command: &str, id: &str) {
    let (event, payload) = issue_comment(case, 1, "alice", &case.verb(command));
    let (status, text) = bosun.post(case.forge, event, id, &payload).await;
    assert_eq!(status, 202, "{text}");
    bosun.run_until_idle().await;
}
