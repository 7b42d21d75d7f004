//! Issue 12: what a team moving from Prow still notices, end to end on both forges and both
//! databases (reference/prow.md sections named per test).

use crate::owners::{Case, GITHUB, GITLAB, notifiers, say};
use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::{ChangedFile, RepoLabel};

/// GitLab runs a bare `/approve` itself; bosun's command there is `/bosun-approve`.
fn approve_command(forge: ForgeKind) -> &'static str {
    match forge {
        ForgeKind::GitHub => "/approve",
        ForgeKind::GitLab => "/bosun-approve",
    }
}

/// A PR at `base` changing `files`.
fn seed_pr(bosun: &TestBosun, case: Case, base: &str, files: &[&str]) -> ItemRef {
    let pr = bosun
        .forge
        .seed_pr(case.forge, case.repo, case.number, case.author);
    bosun.forge.update_item(&pr, |i| {
        i.base_sha = base.to_string();
        i.changed_files = files
            .iter()
            .map(|p| ChangedFile {
                path: p.to_string(),
                previous_path: None,
                additions: 1,
                deletions: 0,
            })
            .collect();
    });
    pr
}

/// Prow's `owners.mdyamlrepos` (§4.1) is per repo: a `.md` file's front matter owns it in the
/// listed repo (its approver's `/approve` approves) and nowhere else.
#[tokio::test]
async fn markdown_front_matter_per_repo_as_prows_mdyamlrepos() {
    for db in databases() {
        for case in [GITHUB, GITLAB] {
            for (listed, owns) in [(case.repo, true), ("elsewhere/other", false)] {
                let mut options = Options::new(db);
                options.extra = format!(
                    "[plugins.\"{}\"]\nenabled = [\"approve\"]\n[owners]\nmarkdown_front_matter_repos = [\"{listed}\"]\n",
                    case.owner
                );
                let bosun = spawn_bosun(options).await;
                let base = bosun.forge.seed_commit(
                    case.forge,
                    case.repo,
                    &[
                        ("OWNERS", b"approvers: [alice]\n".as_slice()),
                        (
                            "docs/guide.md",
                            b"---\napprovers: [writer]\n---\n# Guide\n".as_slice(),
                        ),
                    ],
                );
                bosun.forge.ensure_user("writer");
                let pr = seed_pr(&bosun, case, &base, &["docs/guide.md"]);
                say(&bosun, case, &pr, "writer", approve_command(case.forge)).await;
                let what = format!("{db:?} {:?} listed {listed}", case.forge);
                assert_eq!(
                    bosun.forge.labels(&pr).contains(&"approved".to_string()),
                    owns,
                    "{what}: {:?}",
                    notifiers(&bosun, &pr)
                );
                bosun.shutdown().await;
            }
        }
    }
}

/// Adds labels to the repo on the fake forge.
fn repo_labels(bosun: &TestBosun, case: Case, names: &[&str]) {
    bosun.forge.update(|w| {
        for name in names {
            let id = w.next_id();
            w.ensure_repo(case.forge, case.repo).labels.push(RepoLabel {
                id,
                name: name.to_string(),
                color: "ededed".into(),
                description: None,
            });
        }
    });
}

/// Prow label (§3.4): `/triage accepted` from someone outside the org is refused in Prow's
/// words, "Only GitHub organization members …" (on GitLab: group members).
#[tokio::test]
async fn triage_accepted_refusal_in_prows_words() {
    for db in databases() {
        for case in [GITHUB, GITLAB] {
            let mut options = Options::new(db);
            options.extra = format!("[plugins.\"{}\"]\nenabled = [\"label\"]\n", case.owner);
            let bosun = spawn_bosun(options).await;
            repo_labels(&bosun, case, &["triage/accepted"]);
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            say(&bosun, case, &pr, "outsider", "/triage accepted").await;
            let expected = match case.forge {
                ForgeKind::GitHub => {
                    "@outsider: The label `triage/accepted` cannot be applied. Only GitHub organization members can add the label."
                }
                ForgeKind::GitLab => {
                    "@outsider: The label `triage/accepted` cannot be applied. Only GitLab group members can add the label."
                }
            };
            let replies: Vec<String> = bosun
                .forge
                .comments(&pr)
                .into_iter()
                .filter(|c| c.author == BOT)
                .map(|c| c.body)
                .collect();
            assert!(
                replies.iter().any(|b| b.starts_with(expected)),
                "{db:?} {:?}: {replies:?}",
                case.forge
            );
            assert!(
                !bosun
                    .forge
                    .labels(&pr)
                    .contains(&"triage/accepted".to_string())
            );
            bosun.shutdown().await;
        }
    }
}
