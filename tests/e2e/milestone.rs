//! `/milestone` and `/status` end to end on both forges: a comment webhook → bosun → the fake
//! forge's milestones and labels.

use crate::commands::{Case, GITHUB, GITLAB, say, setup};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::access::MAINTAINER;

const PLUGINS: &str = r#"["milestone", "milestonestatus"]"#;

fn options(db: Db, settings: &str) -> Options {
    let mut o = Options::new(db);
    o.extra = format!(
        "[plugins.\"kubernetes\"]\nenabled = {PLUGINS}\n[plugins.\"gitlab-org\"]\nenabled = {PLUGINS}\n{settings}"
    );
    o
}

fn org(case: Case) -> &'static str {
    match case.forge {
        ForgeKind::GitHub => "kubernetes",
        ForgeKind::GitLab => "gitlab-org",
    }
}

fn bot_comments(bosun: &TestBosun, item: &ItemRef) -> Vec<String> {
    bosun
        .forge
        .comments(item)
        .into_iter()
        .filter(|c| c.author == BOT)
        .map(|c| c.body)
        .collect()
}

/// A repository admin (GitLab: Maintainer) sets a milestone by title, is told the existing
/// ones for an unknown title, and clears it; others are refused with Prow's reply.
#[tokio::test]
async fn admins_set_and_clear_the_milestone() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db, "")).await;
            let pr = setup(&bosun, case).await;
            bosun
                .forge
                .add_member(case.forge, case.repo, "boss", MAINTAINER);
            bosun.forge.seed_milestone(case.forge, case.repo, "v1.1");
            bosun.forge.seed_milestone(case.forge, case.repo, "v1.2");

            say(&bosun, case, "alice", &case.verb("/milestone v1.2")).await;
            assert_eq!(bosun.forge.milestone(&pr), None, "{:?}", case.forge);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 1, "{:?}: {replies:?}", case.forge);
            assert!(
                replies[0].starts_with(
                    "@alice: You must be an admin of this repository to set the milestone."
                ),
                "{}",
                replies[0]
            );

            say(&bosun, case, "boss", &case.verb("/milestone v1.2")).await;
            assert_eq!(
                bosun.forge.milestone(&pr).as_deref(),
                Some("v1.2"),
                "{:?}",
                case.forge
            );

            say(&bosun, case, "boss", &case.verb("/milestone v9")).await;
            let replies = bot_comments(&bosun, &pr);
            assert!(
                replies.iter().any(|r| r.contains(
                    "The provided milestone is not valid for this repository. Milestones in this repository: [`v1.1`, `v1.2`]"
                )),
                "{:?}: {replies:?}",
                case.forge
            );
            assert_eq!(bosun.forge.milestone(&pr).as_deref(), Some("v1.2"));

            say(&bosun, case, "boss", &case.verb("/milestone clear")).await;
            assert_eq!(bosun.forge.milestone(&pr), None, "{:?}", case.forge);

            let page = bosun
                .http
                .get(bosun.url("/command-help"))
                .send()
                .await
                .expect("bosun answers")
                .text()
                .await
                .unwrap_or_default();
            for usage in [
                "/milestone &#60;version&#62; or /milestone clear",
                "/status (approved-for-milestone|in-progress|in-review)",
            ] {
                assert!(page.contains(usage), "{usage} missing from /command-help");
            }
            bosun.shutdown().await;
        }
    }
}

/// With `maintainers_team`, its members set statuses (one at a time) and milestones; a
/// repository admin outside the team is refused with Prow's reply.
#[tokio::test]
async fn the_maintainers_team_sets_status_labels() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let org = org(case);
            let settings = format!(
                "[settings.milestone.\"{org}\"]\nmaintainers_team = \"release\"\nmaintainers_friendly_name = \"release leads\"\n"
            );
            let bosun = spawn_bosun(options(db, &settings)).await;
            let pr = setup(&bosun, case).await;
            bosun
                .forge
                .add_group_member(case.forge, &format!("{org}/release"), "lead", MAINTAINER);
            bosun
                .forge
                .add_member(case.forge, case.repo, "boss", MAINTAINER);
            bosun.forge.seed_milestone(case.forge, case.repo, "v2");

            say(&bosun, case, "lead", "/status in-progress").await;
            assert_eq!(bosun.forge.labels(&pr), vec!["status/in-progress"]);
            say(&bosun, case, "lead", "/status in-review").await;
            assert_eq!(bosun.forge.labels(&pr), vec!["status/in-review"]);

            say(&bosun, case, "boss", "/status approved-for-milestone").await;
            assert_eq!(bosun.forge.labels(&pr), vec!["status/in-review"]);
            let replies = bot_comments(&bosun, &pr);
            assert_eq!(replies.len(), 1, "{:?}: {replies:?}", case.forge);
            assert!(
                replies[0].contains("to add status labels. If you believe you should be able to issue the /status command, please contact your release leads"),
                "{}",
                replies[0]
            );

            say(&bosun, case, "lead", &case.verb("/milestone v2")).await;
            assert_eq!(bosun.forge.milestone(&pr).as_deref(), Some("v2"));
            bosun.shutdown().await;
        }
    }
}
