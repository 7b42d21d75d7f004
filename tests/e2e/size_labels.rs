//! `size` and `path-label` end to end on both forges: a real PR-opened fixture → bosun → the
//! labels on the fake forge, then new commits with a bigger diff replace the size label.

use crate::support::*;
use bosun_plugins::{ForgeKind, ItemRef};
use fake_forge::ChangedFile;

const PLUGINS: &str = r#"["size", "path-label"]"#;

/// One PR/MR, its owner scope and the fixtures that open it and push to it.
#[derive(Clone, Copy)]
struct Case {
    forge: ForgeKind,
    repo: &'static str,
    owner: &'static str,
    number: u64,
    author: &'static str,
}

const GITHUB: Case = Case {
    forge: ForgeKind::GitHub,
    repo: "Codertocat/Hello-World",
    owner: "Codertocat",
    number: 2,
    author: "Codertocat",
};
const GITLAB: Case = Case {
    forge: ForgeKind::GitLab,
    repo: "demoaccount2-commits-group/test_ci_tmp",
    owner: "demoaccount2-commits-group",
    number: 3,
    author: "real6543",
};

impl Case {
    fn options(&self, db: Db) -> Options {
        let mut o = Options::new(db);
        o.extra = format!(
            "[plugins.\"{owner}\"]\nenabled = {PLUGINS}\n\
             [settings.path-label.\"{owner}\"]\n\
             rules = [{{ globs = [\"docs/**\", \"*.md\"], label = \"area/docs\" }}, {{ globs = [\"web/**\"], label = \"area/web\" }}]\n",
            owner = self.owner
        );
        o
    }

    /// The opened (GitHub) / open (GitLab) delivery, pointed at this case's PR and base.
    fn opened(&self, base_sha: &str) -> (&'static str, Vec<u8>) {
        match self.forge {
            ForgeKind::GitHub => {
                let mut v = fixture("github/pull_request/opened.json");
                patch(&mut v, "/pull_request/base/sha", base_sha.into());
                ("pull_request", serde_json::to_vec(&v).expect("json"))
            }
            ForgeKind::GitLab => (
                "Merge Request Hook",
                fixture_bytes("gitlab/merge_request/open.json"),
            ),
        }
    }

    /// New commits: GitHub `synchronize`, GitLab `update` with `oldrev` (another project's
    /// capture, moved to this one).
    fn pushed(&self, base_sha: &str) -> (&'static str, Vec<u8>) {
        match self.forge {
            ForgeKind::GitHub => {
                let mut v = fixture("github/pull_request/synchronize.json");
                patch(&mut v, "/pull_request/base/sha", base_sha.into());
                ("pull_request", serde_json::to_vec(&v).expect("json"))
            }
            ForgeKind::GitLab => {
                let mut v = fixture("gitlab/merge_request/update.oldrev.json");
                patch(&mut v, "/project/path_with_namespace", self.repo.into());
                patch(&mut v, "/object_attributes/iid", self.number.into());
                ("Merge Request Hook", serde_json::to_vec(&v).expect("json"))
            }
        }
    }
}

fn changed(path: &str, additions: u64, deletions: u64) -> ChangedFile {
    ChangedFile {
        path: path.into(),
        previous_path: None,
        additions,
        deletions,
    }
}

async fn deliver(bosun: &TestBosun, case: Case, hook: (&str, Vec<u8>)) {
    bosun.deliver(case.forge, hook).await;
}

fn sorted_labels(bosun: &TestBosun, pr: &ItemRef) -> Vec<String> {
    let mut labels = bosun.forge.labels(pr);
    labels.sort();
    labels
}

/// Prow size + path labels: opened → `size/S` (generated files at the base not counted) and
/// `area/docs`, both created in the repo; a bigger push → `size/L` replaces `size/S`.
#[tokio::test]
async fn size_and_path_labels_on_open_and_push() {
    for db in databases() {
        let _combination = Combination::new(db);
        for case in [GITHUB, GITLAB] {
            let _combination = Combination::new(case.forge);
            let bosun = spawn_bosun(case.options(db)).await;
            let pr = bosun
                .forge
                .seed_pr(case.forge, case.repo, case.number, case.author);
            // At the base, gen/ is generated; the head would (wrongly) also exempt src/.
            let base = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[(".gitattributes", b"gen/** linguist-generated=true\n")],
            );
            let head = bosun.forge.seed_commit(
                case.forge,
                case.repo,
                &[(
                    ".gitattributes",
                    b"gen/** linguist-generated=true\nsrc/** linguist-generated\n",
                )],
            );
            bosun.forge.update_item(&pr, |i| {
                i.base_sha = base.clone();
                i.head_sha = head.clone();
                i.changed_files = vec![
                    changed("docs/guide.md", 6, 2),
                    changed("gen/api.go", 900, 0),
                    changed("src/main.rs", 3, 2),
                ];
            });

            deliver(&bosun, case, case.opened(&base)).await;
            assert_eq!(
                sorted_labels(&bosun, &pr),
                vec!["area/docs", "size/S"],
                "{db:?} {:?}: 13 counted lines",
                case.forge
            );
            let repo_labels = bosun.forge.repo_labels(case.forge, case.repo);
            let size_s = repo_labels.iter().find(|l| l.name == "size/S");
            assert_eq!(
                size_s.map(|l| l.color.as_str()),
                Some("77bb00"),
                "{:?}: created with Kubernetes' colour",
                case.forge
            );
            assert!(repo_labels.iter().any(|l| l.name == "area/docs"));

            bosun.forge.update_item(&pr, |i| {
                i.changed_files.push(changed("src/lib.rs", 150, 50));
            });
            deliver(&bosun, case, case.pushed(&base)).await;
            assert_eq!(
                sorted_labels(&bosun, &pr),
                vec!["area/docs", "size/L"],
                "{db:?} {:?}: 213 counted lines, the old size label removed",
                case.forge
            );
            bosun.shutdown().await;
        }
    }
}

/// Bad size bounds and bad globs stop bosun at startup, each with its key and a clear reason.
#[test]
fn bad_settings_are_refused_with_their_key() {
    let text = "[settings.size.\"org\"]\nm = 5\n\
                [settings.path-label.\"org/repo\"]\nrules = [{ globs = [\"docs/[x\"], label = \"area/docs\" }]\n";
    let errors = bosun::config::RawConfig::parse(text, &[])
        .expect("parses")
        .validate(&[])
        .expect_err("invalid");
    let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        "settings.path-label.\"org/repo\": rules[0] (label \"area/docs\"): bad glob \"docs/[x\": unclosed character class; missing ']'"
    );
    assert_eq!(
        lines[1],
        "settings.size.\"org\": thresholds must increase: s = 10 is not below m = 5"
    );
}
