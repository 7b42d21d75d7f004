//! The OWNERS files of kubernetes/test-infra (a snapshot in
//! `tests/fixtures/owners/kubernetes-test-infra/tree`) read by `bosun owners`: every file parses, every path in `paths.txt` gets an answer,
//! and the answers for a few paths, worked out by hand from the files and reference/prow.md §4,
//! are pinned.

use bosun::owners_cli::{Checkout, OwnersReport, PathOwners, Question, answer, load_checkout};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/owners/kubernetes-test-infra")
}

fn tree() -> PathBuf {
    fixture().join("tree")
}

fn all_paths() -> Vec<String> {
    let text = std::fs::read_to_string(fixture().join("paths.txt")).expect("paths.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn checkout() -> Checkout {
    load_checkout(&tree(), false).expect("the fixture tree loads")
}

fn question() -> Question {
    Question {
        author: None,
        seed: 7,
        request_count: 2,
    }
}

/// Every file below `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under dir");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_file_of_the_real_tree_parses() {
    let files = files_under(&tree());
    assert_eq!(files.len(), 240, "239 OWNERS and the OWNERS_ALIASES");
    for file in &files {
        let text = std::fs::read_to_string(tree().join(file)).expect("UTF-8");
        if file == "OWNERS_ALIASES" {
            let aliases = bosun_plugins::owners::parse_aliases(&text)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(aliases.aliases.len(), 55);
        } else {
            assert!(file == "OWNERS" || file.ends_with("/OWNERS"), "{file}");
            let parsed = bosun_plugins::owners::parse_owners(&text)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(parsed.warnings.is_empty(), "{file}: {:?}", parsed.warnings);
        }
    }
    let checkout = checkout();
    assert!(checkout.problems.is_empty(), "{:?}", checkout.problems);
    assert_eq!(checkout.dirs.len(), 239);
    assert!(checkout.dirs.contains(""));
}

#[test]
fn malformed_files_are_reported_and_treated_as_prow_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in files_under(&tree()) {
        let to = dir.path().join(&file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(tree().join(&file), &to).expect("copy");
    }
    let write = |file: &str, text: &str| {
        std::fs::write(dir.path().join(file), text).expect("write");
    };
    // Neither form parses: Prow ignores the file, so config/prow's required reviewers vanish.
    write("config/prow/OWNERS", "filters:\n  \"x\": [\n");
    // An invalid filter regex: Prow skips that filter and keeps the rest of the file.
    write(
        "label_sync/OWNERS",
        "filters:\n  \".*\":\n    approvers: [cblecker]\n  \"labels(\\\\.yaml\":\n    required_reviewers: [x]\n",
    );
    // A scalar alias value: Prow fails the aliases file and uses no aliases at all.
    write(
        "OWNERS_ALIASES",
        "aliases:\n  sig-k8s-infra-leads: ameukam\n",
    );
    // An OWNERS inside a denied directory is never read (Prow's `vendor/.*/.*` default).
    std::fs::create_dir_all(dir.path().join("vendor/a/b")).expect("mkdir");
    write("vendor/a/b/OWNERS", "approvers: [: broken\n");

    let checkout = load_checkout(dir.path(), false).expect("loads");
    let reasons: Vec<(String, String)> = checkout
        .problems
        .iter()
        .map(|p| (p.path.clone(), p.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, "OWNERS_ALIASES");
    assert!(
        reasons[0].1.contains("sig-k8s-infra-leads") && reasons[0].1.contains("no aliases"),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].0, "config/prow/OWNERS");
    assert!(!reasons[1].1.is_empty() && !reasons[1].1.contains('\n'));
    assert_eq!(reasons[2].0, "label_sync/OWNERS");
    assert!(
        reasons[2].1.contains("labels(") && reasons[2].1.contains("skipped"),
        "{reasons:?}"
    );

    let report = answer(
        &checkout,
        &[
            "config/prow/config.yaml".to_string(),
            "label_sync/labels.yaml".to_string(),
            "config/jobs/kubernetes/sig-k8s-infra/trusted/sig-k8s-infra-prow.yaml".to_string(),
            "vendor/a/b/c.go".to_string(),
        ],
        &question(),
    );
    assert!(report.paths[0].required_reviewers.is_empty());
    assert_eq!(
        report.paths[1].owners_file.as_deref(),
        Some("label_sync/OWNERS")
    );
    assert!(report.paths[1].required_reviewers.is_empty());
    // Without aliases the alias name stays a literal login (prow.md §4.2, §4.1).
    assert_eq!(report.paths[2].approvers, vec!["sig-k8s-infra-leads"]);
    assert_eq!(report.paths[3].owners_file.as_deref(), Some("OWNERS"));
}

#[test]
fn every_path_of_the_repository_gets_an_answer() {
    let paths = all_paths();
    assert_eq!(paths.len(), 1847);
    let checkout = checkout();
    let report = answer(&checkout, &paths, &question());
    assert_eq!(report.paths.len(), paths.len());
    for p in &report.paths {
        // test-infra's root OWNERS has approvers, and every no_parent_owners file has its own.
        assert!(!p.approvers.is_empty(), "{}", p.path);
        assert!(p.owners_file.is_some(), "{}", p.path);
        assert!(
            !p.labels.is_empty(),
            "{}: the root gives sig/testing",
            p.path
        );
    }
    // Every other OWNERS with approvers is a sub-directory of the root, which must approve
    // anyway; only the no_parent_owners directories stand on their own (prow.md §4.5 step 2).
    assert_eq!(
        report.approval_needed_from,
        vec![
            "OWNERS",
            "config/jobs/image-pushing/OWNERS",
            "config/jobs/kubernetes/sig-k8s-infra/trusted/OWNERS",
            "config/tests/jobs/OWNERS",
            "config/tests/jobs/policy/OWNERS",
        ]
    );
    // The suggested approvers together cover everything.
    let owners = &checkout.owners;
    let check = bosun_plugins::owners::ApprovalCheck::new(owners, &paths);
    let suggested: BTreeSet<String> = report.suggested_approvers.iter().cloned().collect();
    assert!(check.files_approved(&suggested), "{suggested:?}");
    // One reviewer per OWNERS file with reviewers, so far more than request_count.
    assert!(report.reviewers.len() > 100, "{}", report.reviewers.len());
}

#[test]
fn the_binary_answers_every_path_as_the_library_does() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(["owners", "--json", "--seed", "7", "--repo-dir"])
        .arg(tree())
        .arg("--paths-from")
        .arg(fixture().join("paths.txt"))
        .output()
        .expect("runs bosun");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "no warnings for the real tree");
    let from_binary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let report: OwnersReport = answer(&checkout(), &all_paths(), &question());
    assert_eq!(from_binary, serde_json::to_value(&report).expect("JSON"));
    assert_eq!(from_binary["paths"].as_array().map(Vec::len), Some(1847));

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_bosun"))
        .args(["owners", "--repo-dir", "/nonexistent/checkout", "x"])
        .output()
        .expect("runs bosun");
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/nonexistent/checkout"), "{err}");
}

fn set(groups: &[&[&str]]) -> Vec<String> {
    let all: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| g.iter().map(|s| s.to_lowercase()))
        .collect();
    all.into_iter().collect()
}

// The people of the OWNERS files involved, lower-cased (prow.md §4.2), aliases expanded from
// OWNERS_ALIASES. Emeritus approvers are nowhere: Prow gives them no rights.
/// Root OWNERS (simple form).
const ROOT_APPROVERS: &[&str] = &["aojea", "BenTheElder", "dims", "michelle192837", "upodroid"];
const ROOT_REVIEWERS: &[&str] = &["aojea", "BenTheElder", "dims", "upodroid"];
/// config/OWNERS (simple form, label area/config).
const CONFIG_APPROVERS: &[&str] = &[
    "cblecker",
    "chases2",
    "dims",
    "MadhavJivrajani",
    "Priyankasaggu11929",
    "wojtek-t",
];
const CONFIG_REVIEWERS: &[&str] = &[
    "cblecker",
    "chases2",
    "dims",
    "MadhavJivrajani",
    "Priyankasaggu11929",
    "rjsadow",
    "wojtek-t",
];
/// Alias sig-contributor-experience-technical-leads.
const CONTRIBEX_TLS: &[&str] = &["MadhavJivrajani", "Priyankasaggu11929"];
/// Alias sig-k8s-infra-leads.
const K8S_INFRA_LEADS: &[&str] = &["ameukam", "GenPage", "hakman", "upodroid", "xmudrii"];
/// Alias release-engineering-approvers (cici37 and cpanato are listed twice).
const RELENG: &[&str] = &[
    "cici37",
    "cpanato",
    "jeremyrickard",
    "justaugustus",
    "palnabarun",
    "puerco",
    "saschagrunert",
    "Verolop",
    "xmudrii",
];

fn expect(
    path: &str,
    owners_file: &str,
    approvers: Vec<String>,
    reviewers: Vec<String>,
    required: Vec<String>,
    labels: &[&str],
) -> PathOwners {
    PathOwners {
        path: path.to_string(),
        owners_file: Some(owners_file.to_string()),
        approvers,
        reviewers,
        required_reviewers: required,
        labels: labels.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn hand_checked_answers_for_real_paths() {
    let none: Vec<String> = Vec::new();
    let expected = vec![
        // A root file: only the root OWNERS applies; its emeritus_approvers have no rights.
        expect(
            "Makefile",
            "OWNERS",
            set(&[ROOT_APPROVERS]),
            set(&[ROOT_REVIEWERS]),
            none.clone(),
            &["sig/testing"],
        ),
        // OWNERS_ALIASES is an ordinary root file to resolution.
        expect(
            "OWNERS_ALIASES",
            "OWNERS",
            set(&[ROOT_APPROVERS]),
            set(&[ROOT_REVIEWERS]),
            none.clone(),
            &["sig/testing"],
        ),
        // label_sync/OWNERS is filters-only: ".*" is unfiltered (approvers = the contribex TL
        // alias + cblecker, reviewers add smg247, danilo-gemoli, droslean, two labels), and
        // "labels\.yaml" adds the TLs as required reviewers. No no_parent_owners: the root's
        // people and sig/testing are added.
        expect(
            "label_sync/labels.yaml",
            "label_sync/OWNERS",
            set(&[CONTRIBEX_TLS, &["cblecker"], ROOT_APPROVERS]),
            set(&[
                CONTRIBEX_TLS,
                &["cblecker", "smg247", "danilo-gemoli", "droslean"],
                ROOT_REVIEWERS,
            ]),
            set(&[CONTRIBEX_TLS]),
            &[
                "area/label_sync",
                "sig/contributor-experience",
                "sig/testing",
            ],
        ),
        // "labels\.yaml" does not match "labels_example.yaml": no required reviewers.
        expect(
            "label_sync/labels_example.yaml",
            "label_sync/OWNERS",
            set(&[CONTRIBEX_TLS, &["cblecker"], ROOT_APPROVERS]),
            set(&[
                CONTRIBEX_TLS,
                &["cblecker", "smg247", "danilo-gemoli", "droslean"],
                ROOT_REVIEWERS,
            ]),
            none.clone(),
            &[
                "area/label_sync",
                "sig/contributor-experience",
                "sig/testing",
            ],
        ),
        // config/prow/OWNERS only has a "(config|plugins)\.yaml" filter with required
        // reviewers, so it owns nothing for approval: config/OWNERS is the closest file with
        // approvers (FindApproverOwnersForFile, §4.4).
        expect(
            "config/prow/config.yaml",
            "config/OWNERS",
            set(&[CONFIG_APPROVERS, ROOT_APPROVERS]),
            set(&[CONFIG_REVIEWERS, ROOT_REVIEWERS]),
            set(&[&["cblecker"], CONTRIBEX_TLS]),
            &["area/config", "sig/testing"],
        ),
        // The filter does not match prow.go.
        expect(
            "config/prow/prow.go",
            "config/OWNERS",
            set(&[CONFIG_APPROVERS, ROOT_APPROVERS]),
            set(&[CONFIG_REVIEWERS, ROOT_REVIEWERS]),
            none.clone(),
            &["area/config", "sig/testing"],
        ),
        // Filters match unanchored against the path relative to config/prow:
        // "autobump-config/prow-job-autobump-config.yaml" contains "config.yaml".
        expect(
            "config/prow/autobump-config/prow-job-autobump-config.yaml",
            "config/OWNERS",
            set(&[CONFIG_APPROVERS, ROOT_APPROVERS]),
            set(&[CONFIG_REVIEWERS, ROOT_REVIEWERS]),
            set(&[&["cblecker"], CONTRIBEX_TLS]),
            &["area/config", "sig/testing"],
        ),
        // trusted/OWNERS: no_parent_owners and a ".*" filter naming the sig-k8s-infra-leads
        // alias: only its five members. Its "^sig-contribex-" filter does not match, so no
        // label is found there and the label walk goes on upwards (no_parent_owners stops a
        // walk only once something was found): sig-k8s-infra, config/jobs, config, root.
        expect(
            "config/jobs/kubernetes/sig-k8s-infra/trusted/sig-k8s-infra-prow.yaml",
            "config/jobs/kubernetes/sig-k8s-infra/trusted/OWNERS",
            set(&[K8S_INFRA_LEADS]),
            set(&[K8S_INFRA_LEADS]),
            none.clone(),
            &["area/config", "area/jobs", "sig/k8s-infra", "sig/testing"],
        ),
        // Here "^sig-contribex-" matches: the contribex TLs are required and its label is found
        // at trusted/, so no_parent_owners stops the label walk there.
        expect(
            "config/jobs/kubernetes/sig-k8s-infra/trusted/sig-contribex-peribolos.yaml",
            "config/jobs/kubernetes/sig-k8s-infra/trusted/OWNERS",
            set(&[K8S_INFRA_LEADS]),
            set(&[K8S_INFRA_LEADS]),
            set(&[CONTRIBEX_TLS]),
            &["sig/contributor-experience"],
        ),
        // Nested below trusted/: releng's alias, then trusted's leads, then the walk stops at
        // trusted (no_parent_owners, people found). Labels likewise stop at trusted.
        expect(
            "config/jobs/kubernetes/sig-k8s-infra/trusted/releng/releng-trusted.yaml",
            "config/jobs/kubernetes/sig-k8s-infra/trusted/releng/OWNERS",
            set(&[RELENG, K8S_INFRA_LEADS]),
            set(&[RELENG, K8S_INFRA_LEADS]),
            none.clone(),
            &["area/release-eng", "sig/release"],
        ),
        // image-pushing: no_parent_owners, four literal logins. It has no labels, so labels
        // come from config/jobs (area/jobs), config and the root.
        expect(
            "config/jobs/image-pushing/k8s-staging-kind.yaml",
            "config/jobs/image-pushing/OWNERS",
            set(&[&["ameukam", "upodroid", "xmudrii", "hakman"]]),
            set(&[&["ameukam", "upodroid", "xmudrii", "hakman"]]),
            none.clone(),
            &["area/config", "area/jobs", "sig/testing"],
        ),
        // policy/: no_parent_owners with its own label, so both walks stop there.
        expect(
            "config/tests/jobs/policy/policy_test.go",
            "config/tests/jobs/policy/OWNERS",
            set(&[&["BenTheElder", "aojea", "pohly"]]),
            set(&[&["BenTheElder", "aojea", "pohly"]]),
            none.clone(),
            &["sig/testing"],
        ),
        // config/tests/jobs: no_parent_owners without labels (config/tests has no OWNERS).
        expect(
            "config/tests/jobs/jobs_test.go",
            "config/tests/jobs/OWNERS",
            set(&[&["ameukam", "aojea", "bentheelder", "dims", "upodroid"]]),
            set(&[&["ameukam", "aojea", "bentheelder", "dims", "upodroid"]]),
            none.clone(),
            &["area/config", "sig/testing"],
        ),
        // repo-infra has reviewers only, config/jobs/kubernetes no OWNERS, config/jobs only a
        // label: the closest file with approvers is config/OWNERS. cpanato reviews.
        expect(
            "config/jobs/kubernetes/repo-infra/repo-infra-presubmits.yaml",
            "config/OWNERS",
            set(&[CONFIG_APPROVERS, ROOT_APPROVERS]),
            set(&[&["cpanato"], CONFIG_REVIEWERS, ROOT_REVIEWERS]),
            none.clone(),
            &["area/config", "area/jobs", "sig/testing"],
        ),
        // gubernator/OWNERS lists only emeritus approvers and a label: "this will fall up to
        // repo owners now" — the root approves.
        expect(
            "gubernator/.pylintrc",
            "OWNERS",
            set(&[ROOT_APPROVERS]),
            set(&[ROOT_REVIEWERS]),
            none.clone(),
            &["area/gubernator", "sig/testing"],
        ),
        // sig-node: two aliases for approvers (overlapping members counted once), one for
        // reviewers, plus config's and the root's people.
        expect(
            "config/jobs/kubernetes/sig-node/containerd.yaml",
            "config/jobs/kubernetes/sig-node/OWNERS",
            set(&[
                // sig-node-leads
                &[
                    "SergeyKanzhelev",
                    "dchen1107",
                    "derekwaynecarr",
                    "haircommander",
                    "mrunalp",
                ],
                // sig-node-test-approvers
                &[
                    "bart0sh",
                    "Random-Liu",
                    "yujuhong",
                    "tallclair",
                    "derekwaynecarr",
                    "ConnorDoyle",
                    "klueska",
                    "dchen1107",
                    "dims",
                    "sjenning",
                    "mrunalp",
                    "SergeyKanzhelev",
                    "endocrimes",
                    "kannon92",
                ],
                CONFIG_APPROVERS,
                ROOT_APPROVERS,
            ]),
            set(&[
                // sig-node-test-reviewers
                &[
                    "bart0sh",
                    "bobbypage",
                    "ConnorDoyle",
                    "dims",
                    "derekwaynecarr",
                    "endocrimes",
                    "klueska",
                    "pacoxu",
                    "tallclair",
                    "sjenning",
                    "SergeyKanzhelev",
                    "kannon92",
                ],
                CONFIG_REVIEWERS,
                ROOT_REVIEWERS,
            ]),
            none.clone(),
            &["area/config", "area/jobs", "sig/node", "sig/testing"],
        ),
    ];
    let paths: Vec<String> = expected.iter().map(|e| e.path.clone()).collect();
    let all = all_paths();
    for p in &paths {
        assert!(all.contains(p), "{p} is a real path of the repository");
    }
    let report = answer(
        &checkout(),
        &paths,
        &Question {
            author: Some("MadhavJivrajani".into()),
            seed: 1,
            request_count: 2,
        },
    );
    for (got, want) in report.paths.iter().zip(&expected) {
        assert_eq!(got, want, "{}", want.path);
    }

    // As one PR: config/OWNERS, label_sync/OWNERS and sig-node/OWNERS are sub-directories of
    // the root, which must approve Makefile anyway; the no_parent_owners directories stand
    // alone (§4.5 step 2).
    assert_eq!(
        report.approval_needed_from,
        vec![
            "OWNERS",
            "config/jobs/image-pushing/OWNERS",
            "config/jobs/kubernetes/sig-k8s-infra/trusted/OWNERS",
            "config/tests/jobs/OWNERS",
            "config/tests/jobs/policy/OWNERS",
        ]
    );
    // The author approves implicitly (Prow's default) but is not a root approver, nor in any
    // no_parent_owners file: everything is still unapproved.
    assert_eq!(report.unapproved, report.approval_needed_from);
    let suggested: BTreeSet<String> = report.suggested_approvers.iter().cloned().collect();
    let checkout = checkout();
    let check = bosun_plugins::owners::ApprovalCheck::new(&checkout.owners, &paths);
    assert!(check.files_approved(&suggested), "{suggested:?}");
    // Blunderbuss never requests the author, except as a required reviewer (prow.md §3.8 6).
    assert!(!report.reviewers.contains(&"madhavjivrajani".to_string()));
    assert_eq!(
        report.required_reviewers,
        set(&[CONTRIBEX_TLS, &["cblecker"]])
    );
}
