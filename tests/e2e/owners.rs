//! OWNERS end to end on both forges: the real bosun, the fake forge holding OWNERS files at the
//! PR's base commit, and the approve, blunderbuss, owners-label, size and path-label plugins.

use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::{ChangedFile, RepoLabel};

const PLUGINS: &str = r#"["approve", "blunderbuss", "owners-label", "size", "path-label"]"#;

#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) forge: ForgeKind,
    pub(crate) repo: &'static str,
    pub(crate) owner: &'static str,
    pub(crate) number: u64,
    pub(crate) author: &'static str,
}

pub(crate) const GITHUB: Case = Case {
    forge: ForgeKind::GitHub,
    repo: "Codertocat/Hello-World",
    owner: "Codertocat",
    number: 2,
    author: "Codertocat",
};
pub(crate) const GITLAB: Case = Case {
    forge: ForgeKind::GitLab,
    repo: "demoaccount2-commits-group/test_ci_tmp",
    owner: "demoaccount2-commits-group",
    number: 3,
    author: "real6543",
};

const ROOT_OWNERS: &[u8] =
    b"approvers: [alice]\nreviewers: [rev-a, rev-b]\nlabels: [sig/testing]\n";
const DOCS_OWNERS: &[u8] =
    b"approvers: [doc-leads]\nreviewers: [docrev]\nlabels: [area/documentation]\n";
const ALIASES: &[u8] = b"aliases:\n  doc-leads: [Doccer]\n";

impl Case {
    pub(crate) fn options(&self, db: Db) -> Options {
        let mut o = Options::new(db);
        o.extra = format!(
            "[plugins.\"{owner}\"]\nenabled = {PLUGINS}\n\
             [settings.path-label.\"{owner}\"]\n\
             rules = [{{ globs = [\"docs/**\"], label = \"area/docs\" }}]\n",
            owner = self.owner
        );
        o
    }

    /// The PR-opened delivery for PR `number` at `base_sha`.
    pub(crate) fn opened(&self, number: u64, base_sha: &str) -> (&'static str, Vec<u8>) {
        match self.forge {
            ForgeKind::GitHub => {
                let mut v = fixture("github/pull_request/opened.json");
                patch(&mut v, "/pull_request/base/sha", base_sha.into());
                patch(&mut v, "/pull_request/number", number.into());
                patch(&mut v, "/number", number.into());
                ("pull_request", serde_json::to_vec(&v).expect("json"))
            }
            ForgeKind::GitLab => {
                let mut v = fixture("gitlab/merge_request/open.json");
                patch(&mut v, "/object_attributes/iid", number.into());
                ("Merge Request Hook", serde_json::to_vec(&v).expect("json"))
            }
        }
    }

    /// A comment on the PR by `who`.
    pub(crate) fn comment(&self, who: &str, body: &str) -> (&'static str, Vec<u8>) {
        match self.forge {
            ForgeKind::GitHub => {
                let mut v: serde_json::Value =
                    serde_json::from_slice(&github_pr_comment(self.number, who, body))
                        .expect("json");
                patch(&mut v, "/repository/full_name", self.repo.into());
                patch(&mut v, "/issue/user/login", self.author.into());
                ("issue_comment", serde_json::to_vec(&v).expect("json"))
            }
            ForgeKind::GitLab => {
                let mut v: serde_json::Value =
                    serde_json::from_slice(&gitlab_mr_note(self.number, who, body)).expect("json");
                patch(&mut v, "/project/path_with_namespace", self.repo.into());
                ("Note Hook", serde_json::to_vec(&v).expect("json"))
            }
        }
    }

    /// GitLab's native approval by `who`.
    pub(crate) fn approved(&self, who: &str) -> (&'static str, Vec<u8>) {
        let mut v = fixture("gitlab/merge_request/approved.json");
        patch(&mut v, "/project/path_with_namespace", self.repo.into());
        patch(&mut v, "/object_attributes/iid", self.number.into());
        patch(&mut v, "/user/username", who.into());
        ("Merge Request Hook", serde_json::to_vec(&v).expect("json"))
    }
}

pub(crate) async fn deliver(bosun: &TestBosun, forge: ForgeKind, hook: (&str, Vec<u8>)) {
    bosun.deliver(forge, hook).await;
}

/// Writes the comment on the forge (so history has it) and delivers its webhook.
pub(crate) async fn say(bosun: &TestBosun, case: Case, pr: &ItemRef, who: &str, body: &str) {
    bosun.forge.seed_comment(pr, who, body);
    deliver(bosun, case.forge, case.comment(who, body)).await;
}

pub(crate) fn notifiers(bosun: &TestBosun, pr: &ItemRef) -> Vec<String> {
    bosun
        .forge
        .comments(pr)
        .into_iter()
        .filter(|c| c.author == BOT && c.body.starts_with("[APPROVALNOTIFIER]"))
        .map(|c| c.body)
        .collect()
}

pub(crate) fn sorted_labels(bosun: &TestBosun, pr: &ItemRef) -> Vec<String> {
    let mut labels = bosun.forge.labels(pr);
    labels.sort();
    labels
}

pub(crate) fn changed(path: &str, additions: u64, deletions: u64) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        previous_path: None,
        additions,
        deletions,
    }
}

/// Tree listings and OWNERS reads (not other files, which size reads itself).
fn owners_calls(bosun: &TestBosun) -> usize {
    bosun
        .forge
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && (r.path.contains("/git/trees/")
                    || r.path.contains("/repository/tree")
                    || r.path.contains("OWNERS"))
        })
        .count()
}

pub(crate) fn seed(bosun: &TestBosun, case: Case, number: u64, base: &str) -> ItemRef {
    let pr = bosun
        .forge
        .seed_pr(case.forge, case.repo, number, case.author);
    bosun.forge.update_item(&pr, |i| {
        i.base_sha = base.to_string();
        i.changed_files = vec![changed("docs/guide.md", 6, 2), changed("src/main.go", 3, 1)];
    });
    // GitHub asks only collaborators for reviews (it refuses others with 422).
    for reviewer in ["alice", "rev-a", "rev-b", "docrev", "Doccer"] {
        bosun.forge.add_member(
            case.forge,
            case.repo,
            reviewer,
            fake_forge::access::REPORTER,
        );
    }
    pr
}

/// Opened → size, OWNERS and path labels and review requests; `/approve` from approvers
/// covering every file → `approved` and one notifier, edited as approvals change; cancel →
/// the label goes; a GitLab native approval counts; a second PR at the same base costs no
/// tree or OWNERS call.
#[tokio::test]
async fn owners_plugins_on_both_forges() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(case.options(db)).await;
            let base = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[
                    ("OWNERS", ROOT_OWNERS),
                    ("OWNERS_ALIASES", ALIASES),
                    ("docs/OWNERS", DOCS_OWNERS),
                    ("docs/guide.md", b"# Guide\n"),
                    ("src/main.go", b"package main\n"),
                ],
            );
            bosun.forge.update(|w| {
                for name in ["sig/testing", "area/documentation"] {
                    let id = w.next_id();
                    w.ensure_repo(case.forge, case.repo).labels.push(RepoLabel {
                        id,
                        name: name.into(),
                        color: "ededed".into(),
                        description: None,
                    });
                }
            });
            // GitLab resolves reviewers by username: they must be users there.
            for user in ["alice", "doccer", "docrev", "rev-a", "rev-b"] {
                bosun.forge.ensure_user(user);
            }
            let pr = seed(&bosun, case, case.number, &base);
            let what = format!("{db:?} {:?}", case.forge);

            deliver(&bosun, case.forge, case.opened(case.number, &base)).await;
            assert_eq!(
                sorted_labels(&bosun, &pr),
                vec!["area/docs", "area/documentation", "sig/testing", "size/S"],
                "{what}"
            );
            let requested = bosun.forge.item(&pr).requested_reviewers;
            assert_eq!(requested.len(), 2, "{what}: {requested:?}");
            assert!(
                requested.contains(&"docrev".to_string()),
                "{what}: {requested:?}"
            );
            assert!(
                requested.iter().any(|r| r == "rev-a" || r == "rev-b"),
                "{what}: {requested:?}"
            );
            // The opened event also ran approve: not approved, one notifier.
            assert_eq!(notifiers(&bosun, &pr).len(), 1, "{what}");

            // GitLab runs a bare /approve itself; bosun's command there is /bosun-approve.
            let approve = match case.forge {
                ForgeKind::GitHub => "/approve",
                ForgeKind::GitLab => "/bosun-approve",
            };
            say(&bosun, case, &pr, "doccer", approve).await;
            let bodies = notifiers(&bosun, &pr);
            assert_eq!(bodies.len(), 1, "{what}: edited, not duplicated");
            assert!(
                bodies[0].contains("**NOT APPROVED**"),
                "{what}: {}",
                bodies[0]
            );
            // docs/ is inside the root's reach, so only the root OWNERS must approve (§4.5).
            assert!(
                bodies[0].contains("- **[OWNERS](") && bodies[0].contains(">doccer</a>"),
                "{what}: {}",
                bodies[0]
            );
            assert!(!bosun.forge.labels(&pr).contains(&"approved".to_string()));

            say(&bosun, case, &pr, "alice", approve).await;
            let bodies = notifiers(&bosun, &pr);
            assert_eq!(bodies.len(), 1, "{what}");
            assert!(
                bodies[0].starts_with("[APPROVALNOTIFIER] This PR is **APPROVED**"),
                "{what}: {}",
                bodies[0]
            );
            assert!(
                bosun.forge.labels(&pr).contains(&"approved".to_string()),
                "{what}"
            );
            // The PR page shows the approvals bosun recorded.
            let page =
                bosun::server::pages::item_href(case.forge.as_str(), case.repo, case.number as i64);
            let html = bosun
                .http
                .get(bosun.url(&page))
                .send()
                .await
                .expect("bosun answers")
                .text()
                .await
                .unwrap_or_default();
            assert!(html.contains("alice (Approved)"), "{what}: {html}");

            say(&bosun, case, &pr, "alice", &format!("{approve} cancel")).await;
            let bodies = notifiers(&bosun, &pr);
            assert_eq!(bodies.len(), 1, "{what}");
            assert!(bodies[0].contains("**NOT APPROVED**"), "{what}");
            assert!(
                !bosun.forge.labels(&pr).contains(&"approved".to_string()),
                "{what}"
            );

            if case.forge == ForgeKind::GitLab {
                bosun.forge.add_review(&pr, "alice", "APPROVED", "");
                deliver(&bosun, case.forge, case.approved("alice")).await;
                assert!(
                    bosun.forge.labels(&pr).contains(&"approved".to_string()),
                    "{what}: a native approval counts"
                );
                assert_eq!(notifiers(&bosun, &pr).len(), 1, "{what}");
            }

            // A second PR at the same base: everything from the caches.
            let second = seed(&bosun, case, case.number + 1, &base);
            bosun.forge.clear_requests();
            deliver(&bosun, case.forge, case.opened(case.number + 1, &base)).await;
            assert_eq!(
                owners_calls(&bosun),
                0,
                "{what}: {:?}",
                bosun.forge.requests()
            );
            assert!(sorted_labels(&bosun, &second).contains(&"sig/testing".to_string()));
            bosun.shutdown().await;
        }
    }
}

/// The base moves with one OWNERS file changed (the root's approvers and reviewers): a PR at
/// the new base is decided by the new OWNERS, and bosun read the move with one compare call
/// and no tree listing.
#[tokio::test]
async fn a_moved_base_is_read_by_one_compare_and_decisions_follow_the_new_owners() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(case.options(db)).await;
            let mut files: Vec<(&str, &[u8])> = vec![
                ("OWNERS", ROOT_OWNERS),
                ("OWNERS_ALIASES", ALIASES),
                ("docs/OWNERS", DOCS_OWNERS),
                ("docs/guide.md", b"# Guide\n"),
                ("src/main.go", b"package main\n"),
            ];
            let base = bosun.forge.seed_commit(case.forge, case.repo, &files);
            for user in [
                "alice", "carol", "doccer", "docrev", "rev-a", "rev-b", "rev-c",
            ] {
                bosun.forge.ensure_user(user);
            }
            let what = format!("{db:?} {:?}", case.forge);
            let first = seed(&bosun, case, case.number, &base);
            deliver(&bosun, case.forge, case.opened(case.number, &base)).await;
            let requested = bosun.forge.item(&first).requested_reviewers;
            assert!(
                requested.iter().any(|r| r == "rev-a" || r == "rev-b"),
                "{what}: {requested:?}"
            );

            // A merge moves the base: the root OWNERS now names carol and rev-c.
            files[0].1 = b"approvers: [carol]\nreviewers: [rev-c]\nlabels: [sig/testing]\n";
            let moved = bosun
                .forge
                .seed_child_commit(case.forge, case.repo, &base, &files);
            let second = seed(&bosun, case, case.number + 1, &moved);
            for user in ["carol", "rev-c"] {
                bosun
                    .forge
                    .add_member(case.forge, case.repo, user, fake_forge::access::REPORTER);
            }
            bosun.forge.clear_requests();
            deliver(&bosun, case.forge, case.opened(case.number + 1, &moved)).await;
            let requests = bosun.forge.requests();
            let count = |needle: &str| {
                requests
                    .iter()
                    .filter(|r| r.method == "GET" && r.path.contains(needle))
                    .count()
            };
            assert_eq!(count("/compare"), 1, "{what}: {requests:?}");
            assert_eq!(
                count("/git/trees/") + count("/repository/tree"),
                0,
                "{what}: {requests:?}"
            );
            let requested = bosun.forge.item(&second).requested_reviewers;
            assert!(
                requested.contains(&"rev-c".to_string()),
                "{what}: {requested:?}"
            );
            assert!(
                !requested.iter().any(|r| r == "rev-a" || r == "rev-b"),
                "{what}: {requested:?}"
            );

            let approve = match case.forge {
                ForgeKind::GitHub => "/approve",
                ForgeKind::GitLab => "/bosun-approve",
            };
            let case2 = Case {
                number: case.number + 1,
                ..case
            };
            say(&bosun, case2, &second, "alice", approve).await;
            assert!(
                !bosun
                    .forge
                    .labels(&second)
                    .contains(&"approved".to_string()),
                "{what}: alice no longer approves the root"
            );
            say(&bosun, case2, &second, "carol", approve).await;
            assert!(
                bosun
                    .forge
                    .labels(&second)
                    .contains(&"approved".to_string()),
                "{what}: {:?}",
                notifiers(&bosun, &second)
            );
            bosun.shutdown().await;
        }
    }
}
