//! `/transfer-issue` end to end on both forges: an issue comment → bosun → the issue moved in
//! the fake forge (GitHub through its GraphQL `transferIssue`, GitLab through the issue move).

use crate::commands::{Case, GITHUB, GITLAB, issue_comment};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemKind, ItemRef, ItemState, RepoPath};
use fake_forge::RepoLabel;
use fake_forge::access::REPORTER;

fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra = "[plugins.\"kubernetes\"]\nenabled = [\"transfer-issue\"]\n\
               [plugins.\"gitlab-org\"]\nenabled = [\"transfer-issue\"]\n"
        .into();
    o
}

fn org(case: Case) -> &'static str {
    match case.forge {
        ForgeKind::GitHub => "kubernetes",
        ForgeKind::GitLab => "gitlab-org",
    }
}

fn destination(case: Case) -> String {
    format!("{}/kubectl", org(case))
}

/// An issue in `org/kubectl` with `number`.
fn moved(case: Case, number: u64) -> ItemRef {
    ItemRef {
        forge: case.forge,
        repo: RepoPath::parse(&destination(case)).expect("path"),
        number,
        kind: ItemKind::Issue,
    }
}

async fn comment(bosun: &TestBosun, case: Case, who: &str, body: &str) {
    let (event, payload) = issue_comment(case, 1, who, body);
    bosun.deliver(case.forge, (event, payload)).await;
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

fn issue_count(bosun: &TestBosun, case: Case, repo: &str) -> usize {
    bosun.forge.read(|w| {
        w.site(case.forge).repo(repo).map_or(0, |r| {
            r.items.iter().filter(|i| i.kind == ItemKind::Issue).count()
        })
    })
}

/// Prow transfer-issue: an org member's `/transfer-issue kubectl` moves the issue to
/// `org/kubectl`, with its title and the labels the destination defines. GitHub takes it away
/// from the old repository; GitLab leaves the old one closed, pointing at the new one.
#[tokio::test]
async fn a_member_moves_an_issue_to_another_repo_of_the_org() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let issue = bosun
                .forge
                .seed_issue(case.forge, case.repo, 1, case.author);
            bosun.forge.set_labels(&issue, &["kind/bug", "local-only"]);
            bosun.forge.update(|w| {
                let id = w.next_id();
                w.ensure_repo(case.forge, &destination(case))
                    .labels
                    .push(RepoLabel {
                        id,
                        name: "kind/bug".into(),
                        color: "ededed".into(),
                        description: None,
                    });
            });
            bosun
                .forge
                .add_group_member(case.forge, org(case), "member", REPORTER);
            comment(&bosun, case, "member", "/transfer-issue kubectl").await;

            let there = bosun.forge.item(&moved(case, 1));
            assert_eq!(there.title, "Issue 1", "{:?}", case.forge);
            assert_eq!(there.labels, vec!["kind/bug"], "{:?}", case.forge);
            assert_eq!(there.state, ItemState::Open, "{:?}", case.forge);
            match case.forge {
                ForgeKind::GitHub => {
                    assert_eq!(issue_count(&bosun, case, case.repo), 0);
                    // Does kubectl exist, the two node ids, the mutation.
                    assert_eq!(bosun.forge.count_requests("POST", "/graphql"), 3);
                }
                ForgeKind::GitLab => {
                    let old = bosun.forge.item(&issue);
                    assert_eq!(old.state, ItemState::Closed);
                    assert_eq!(old.moved_to, Some(there.id));
                }
            }
            assert_eq!(issue_count(&bosun, case, &destination(case)), 1);
            bosun.shutdown().await;
        }
    }
}

/// Prow transfer-issue refusals: someone outside the org, a destination that does not exist,
/// and a second command in one comment each get Prow's reply, and the issue stays.
#[tokio::test]
async fn refusals_leave_the_issue_where_it_is() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let issue = bosun
                .forge
                .seed_issue(case.forge, case.repo, 1, case.author);
            bosun.forge.seed_repo(case.forge, &destination(case));
            bosun
                .forge
                .add_group_member(case.forge, org(case), "member", REPORTER);
            comment(&bosun, case, "outsider", "/transfer-issue kubectl").await;
            comment(&bosun, case, "member", "/transfer-issue nope").await;
            comment(&bosun, case, "member", "/transfer a\n/transfer b").await;
            let replies = bot_comments(&bosun, &issue);
            let org = org(case);
            for expected in [
                "@outsider: You must be an org member to transfer this issue.".to_string(),
                format!(
                    "@member: Something went wrong or the destination repo {org}/nope does not exist."
                ),
                "@member: /transfer-issue must only be used once and with a single destination repo."
                    .to_string(),
            ] {
                assert!(
                    replies.iter().any(|r| r.starts_with(&expected)),
                    "{:?}: {expected} in {replies:?}",
                    case.forge
                );
            }
            assert_eq!(bosun.forge.item(&issue).state, ItemState::Open);
            assert_eq!(issue_count(&bosun, case, &destination(case)), 0);
            bosun.shutdown().await;
        }
    }
}

/// The answer to the move is lost (502) after the forge moved the issue: the retried action
/// finds it moved (GitHub: no longer in its old repository; GitLab: `moved_to_id` set) and
/// moves nothing twice.
#[tokio::test]
async fn a_lost_answer_does_not_move_the_issue_twice() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let issue = bosun
                .forge
                .seed_issue(case.forge, case.repo, 1, case.author);
            bosun.forge.seed_repo(case.forge, &destination(case));
            bosun
                .forge
                .add_group_member(case.forge, org(case), "member", REPORTER);
            match case.forge {
                // The third GraphQL call is the mutation.
                ForgeKind::GitHub => {
                    bosun
                        .forge
                        .fail_every("/graphql", 3, vec![fake_forge::Fault::LostResponse])
                }
                ForgeKind::GitLab => {
                    bosun
                        .forge
                        .fail_next("/issues/1/move", 1, fake_forge::Fault::LostResponse)
                }
            }
            comment(&bosun, case, "member", "/transfer-issue kubectl").await;
            assert_eq!(issue_count(&bosun, case, &destination(case)), 1);
            assert_eq!(bosun.forge.item(&moved(case, 1)).state, ItemState::Open);
            let lost = match case.forge {
                ForgeKind::GitHub => "/graphql",
                ForgeKind::GitLab => "/issues/1/move",
            };
            let statuses: Vec<Option<u16>> = bosun
                .forge
                .requests()
                .iter()
                .filter(|r| r.method == "POST" && r.path.contains(lost))
                .map(|r| r.status)
                .collect();
            match case.forge {
                // Does kubectl exist, the ids, the mutation (lost), the ids again: moved.
                ForgeKind::GitHub => {
                    assert_eq!(statuses, [Some(200), Some(200), Some(502), Some(200)])
                }
                ForgeKind::GitLab => {
                    assert_eq!(statuses, [Some(502)]);
                    assert_eq!(bosun.forge.item(&issue).state, ItemState::Closed);
                }
            }
            bosun.shutdown().await;
        }
    }
}
