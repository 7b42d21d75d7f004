//! verify-owners end to end on both forges and both databases: the PR's OWNERS files are read
//! from the fake forge at the PR's head and base commits, and the assertions are the forge's
//! label and bosun's comments afterwards.

use crate::commands::{Case, GITHUB, GITLAB};
use crate::support::*;
use bosun_plugins::ItemRef;
use bosun_plugins::verify_owners::{LABEL, UNTRUSTED};
use fake_forge::ChangedFile;
use fake_forge::access::DEVELOPER;

const PLUGINS: &str = r#"["verify-owners"]"#;

fn options(db: Db) -> Options {
    let mut o = Options::new(db);
    o.extra = format!(
        "[plugins.\"kubernetes\"]\nenabled = {PLUGINS}\n[plugins.\"gitlab-org\"]\nenabled = {PLUGINS}\n"
    );
    o
}

async fn deliver(bosun: &TestBosun, case: Case, hook: (&str, Vec<u8>)) {
    bosun.deliver(case.forge, hook).await;
}

fn bot_comments(bosun: &TestBosun, pr: &ItemRef) -> Vec<String> {
    bosun
        .forge
        .comments(pr)
        .into_iter()
        .filter(|c| c.author == BOT)
        .map(|c| c.body)
        .collect()
}

fn has_label(bosun: &TestBosun, pr: &ItemRef) -> bool {
    bosun.forge.labels(pr).iter().any(|l| l == LABEL)
}

fn changed(path: &str) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        previous_path: None,
        additions: 1,
        deletions: 0,
    }
}

/// Prow verify-owners (§3.14): a PR adding an untrusted approver and a denied label gets
/// `do-not-merge/invalid-owners-file`, a comment naming the file's problem and Prow's
/// untrusted-users comment; once the files are fixed, `/verify-owners` removes the label and
/// both comments.
#[tokio::test]
async fn invalid_owners_changes_are_labelled_until_fixed() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(options(db)).await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            for user in ["alice", "bob"] {
                bosun
                    .forge
                    .add_member(case.forge, case.repo, user, DEVELOPER);
            }
            let base = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[
                    ("OWNERS", b"approvers: [alice]\n"),
                    ("src/a.go", b"package a\n"),
                ],
            );
            let bad = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[
                    ("OWNERS", b"approvers: [alice, stranger]\n"),
                    ("src/OWNERS", b"approvers: [bob]\nlabels: [lgtm]\n"),
                    ("src/a.go", b"package a\n"),
                ],
            );
            bosun.forge.update_item(&pr, |i| {
                i.base_sha = base.clone();
                i.head_sha = bad.clone();
                i.changed_files = vec![changed("OWNERS"), changed("src/OWNERS")];
            });

            deliver(&bosun, case, case.opened()).await;
            assert!(has_label(&bosun, &pr), "{:?}", case.forge);
            let comments = bot_comments(&bosun, &pr);
            assert_eq!(comments.len(), 2, "{:?}: {comments:?}", case.forge);
            assert!(
                comments.iter().any(|c| c.starts_with(
                    "1 invalid OWNERS file(s)\n\n- `src/OWNERS`:\n  - File contains banned labels: [lgtm]."
                )),
                "{comments:?}"
            );
            let untrusted = comments
                .iter()
                .find(|c| c.starts_with(UNTRUSTED))
                .expect("the untrusted-users comment");
            assert!(
                untrusted.contains("\n- stranger\n") && !untrusted.contains("- bob"),
                "{untrusted}"
            );

            // A push that fixes nothing keeps one comment of each kind.
            deliver(&bosun, case, case.pushed_at(&bad)).await;
            assert_eq!(bot_comments(&bosun, &pr).len(), 2, "{:?}", case.forge);

            let good = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[
                    ("OWNERS", b"approvers: [alice, bob]\n"),
                    ("src/OWNERS", b"approvers: [bob]\nlabels: [area/src]\n"),
                    ("src/a.go", b"package a\n"),
                ],
            );
            bosun.forge.update_item(&pr, |i| i.head_sha = good.clone());
            deliver(&bosun, case, case.comment("someone", "/verify-owners")).await;
            assert!(!has_label(&bosun, &pr), "{:?}", case.forge);
            let left: Vec<String> = bot_comments(&bosun, &pr);
            assert!(
                left.iter()
                    .all(|c| !c.starts_with(UNTRUSTED) && !c.contains("invalid OWNERS")),
                "{:?}: {left:?}",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}

/// A PR that changes no OWNERS file costs no file read and gets nothing, and a root OWNERS
/// without approvers is invalid.
#[tokio::test]
async fn root_owners_needs_approvers_and_other_prs_are_left_alone() {
    for case in [GITHUB, GITLAB] {
        let _combination = Combination::new(case.forge);
        let bosun = spawn_bosun(options(Db::Sqlite)).await;
        let pr = bosun
            .forge
            .seed_pr(case.forge, case.repo, case.number, case.author);
        bosun.forge.update_item(&pr, |i| {
            i.changed_files = vec![changed("src/a.go")];
        });
        deliver(&bosun, case, case.opened()).await;
        assert!(bot_comments(&bosun, &pr).is_empty());
        assert!(!has_label(&bosun, &pr));

        let head = bosun.forge.seed_commit(
            case.forge,
            case.repo,
            &[("OWNERS", b"reviewers: [alice]\n")],
        );
        bosun
            .forge
            .add_member(case.forge, case.repo, "alice", DEVELOPER);
        bosun.forge.update_item(&pr, |i| {
            i.head_sha = head.clone();
            i.changed_files = vec![changed("OWNERS")];
        });
        deliver(&bosun, case, case.pushed_at(&head)).await;
        assert!(has_label(&bosun, &pr), "{:?}", case.forge);
        let comments = bot_comments(&bosun, &pr);
        assert!(
            comments.iter().any(|c| c.contains(
                "- `OWNERS`:\n  - No approvers defined in this root directory OWNERS file."
            )),
            "{:?}: {comments:?}",
            case.forge
        );
        let page = bosun
            .http
            .get(bosun.url("/command-help"))
            .send()
            .await
            .expect("bosun answers")
            .text()
            .await
            .unwrap_or_default();
        assert!(
            page.contains("/verify-owners"),
            "/verify-owners missing from /command-help"
        );
        bosun.shutdown().await;
    }
}
