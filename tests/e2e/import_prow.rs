//! `bosun import-prow`, run as the real binary on a Kubernetes-shaped plugins.yaml, its output
//! checked by `bosun check-config` and read back as bosun reads its configuration.

use bosun::config::Settings;
use bosun_plugins::RepoPath;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bosun() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bosun"));
    c.env_remove("RUST_LOG");
    c
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/prow")
        .join(name)
}

#[track_caller]
fn succeeded(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn repo(path: &str) -> RepoPath {
    RepoPath::parse(path).expect("repo path")
}

/// Issue 12 item 8: a team switches with its plugins.yaml. The imported file passes
/// check-config, keeps Prow's plugins per org and repo (excluded repos included) and every
/// option bosun knows, and names what it left behind with the reason.
#[test]
fn a_kubernetes_shaped_plugins_yaml_imports_and_passes_check_config() {
    let dir = tempfile::tempdir().expect("dir");
    let out_file = dir.path().join("bosun.toml");
    let out = bosun()
        .arg("import-prow")
        .arg(fixture("plugins.yaml"))
        .arg("--owners-config")
        .arg(fixture("config.yaml"))
        .arg("--output")
        .arg(&out_file)
        .output()
        .expect("runs");
    succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for left_behind in [
        "override.allow_top_level_owners",
        "blunderbuss.use_status_availability",
        "label.restricted_labels[].assign_on",
        "approve.commandHelpLink",
        "owners.filenames",
        "trigger.join_org_url: bosun's welcome links",
        "owners_dir_denylist",
    ] {
        assert!(
            stderr.contains(&format!("not carried over: {left_behind}")),
            "{left_behind} missing in:\n{stderr}"
        );
    }
    let text = std::fs::read_to_string(&out_file).expect("written");
    assert!(
        text.contains("# Not carried over:\n#   plugins.\"kubernetes\".plugins: cat"),
        "{text}"
    );

    let check = bosun()
        .arg("check-config")
        .arg(&out_file)
        .env_remove("BOSUN_GITHUB_WEBHOOK_SECRET")
        .output()
        .expect("runs");
    succeeded(&check);

    let settings = Settings::load_with_env(&out_file, &[]).expect("valid");
    let plugins = &settings.plugins;
    let k8s = plugins.enabled_for(&repo("kubernetes/kubernetes"));
    for p in ["approve", "blunderbuss", "lgtm", "owners-label", "wip"] {
        assert!(k8s.contains(&p.to_string()), "{p} in {k8s:?}");
    }
    assert!(k8s.iter().any(|p| p == "trigger"), "{k8s:?}");
    // kubeadm is excluded from the org's list and has its own.
    assert_eq!(
        plugins.enabled_for(&repo("kubernetes/kubeadm")),
        vec![
            "assign",
            "help",
            "hold",
            "lgtm",
            "lifecycle",
            "size",
            "trigger"
        ]
    );
    assert_eq!(
        plugins.enabled_for(&repo("kubernetes-incubator/x")),
        vec!["assign", "hold", "lgtm", "lifecycle"]
    );

    // welcome, override and skip are bosun plugins now; Prow's external needs-rebase is
    // built in; verify-owners and require-matching-label keep their settings.
    assert!(
        !stderr.contains("verify-owners")
            && !stderr.contains("labels_denylist")
            && !stderr.contains("require_matching_label"),
        "{stderr}"
    );
    let verify = plugins.settings_for("verify-owners", &repo("kubernetes/kubernetes"));
    assert_eq!(
        verify["labels_denylist"],
        serde_json::json!(["approved", "lgtm"])
    );
    let rules = plugins.settings_for("require-matching-label", &repo("kubernetes/kubernetes"));
    let missing: Vec<&str> = rules["rules"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["missing_label"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(missing, ["needs-kind", "needs-sig"]);
    // welcome, override, skip and verify-owners are bosun plugins now; Prow's external
    // needs-rebase and cherrypicker are built in.
    for p in [
        "welcome",
        "override",
        "needs-rebase",
        "verify-owners",
        "cherrypick",
    ] {
        assert!(k8s.iter().any(|e| e == p), "{p} in {k8s:?}");
    }
    assert!(
        !stderr.contains("needs-rebase")
            && !stderr.contains(": welcome")
            && !stderr.contains("cherrypicker"),
        "{stderr}"
    );
    let welcome = plugins.settings_for("welcome", &repo("kubernetes/kubernetes"));
    assert_eq!(
        welcome["message_template"],
        "Welcome @{author}! It looks like this is your first PR to {org}/{repo} 🎉"
    );
    let overrides = plugins.settings_for("override", &repo("kubernetes/kubernetes"));
    assert_eq!(overrides["allowed_teams"][0], "release-managers");

    let lgtm = plugins.settings_for("lgtm", &repo("kubernetes/kubernetes"));
    assert_eq!(lgtm["store_tree_hash"], true);
    assert_eq!(lgtm["trusted_team_for_sticky_lgtm"], "sig-release-leads");
    let website = plugins.settings_for("lgtm", &repo("kubernetes/website"));
    assert_eq!(
        website["trusted_team_for_sticky_lgtm"],
        "website-maintainers"
    );
    let approve = plugins.settings_for("approve", &repo("kubernetes/website"));
    assert_eq!(approve["require_self_approval"], true);
    let client = plugins.settings_for("approve", &repo("kubernetes-client/python"));
    assert_eq!(
        client["require_self_approval"], false,
        "implicit_self_approve: true"
    );
    assert_eq!(
        client["ignore_review_state"], false,
        "review_acts_as_approve: true"
    );
    let bb = plugins.settings_for("blunderbuss", &repo("kubernetes-sigs/kind"));
    assert_eq!(bb["ignore_drafts"], true);
    assert_eq!(bb["max_request_count"], 2);
    let label = plugins.settings_for("label", &repo("kubernetes/enhancements"));
    let restricted: Vec<&str> = label["restricted_labels"]
        .as_array()
        .expect("restricted")
        .iter()
        .filter_map(|r| r["label"].as_str())
        .collect();
    assert_eq!(
        restricted,
        vec!["cherry-pick-approved", "lead-opted-in", "tracked/yes"]
    );
    assert!(
        label["additional_labels"]
            .as_array()
            .expect("additional")
            .iter()
            .any(|l| l == "tide/merge-method-squash")
    );
    let size = plugins.settings_for("size", &repo("kubernetes-csi/driver"));
    assert_eq!(size["xxl"], 1000);
    let policy = settings.owners.policy();
    assert!(policy.skip_collaborators(&repo("kubernetes/kubernetes")));
    assert!(!policy.skip_collaborators(&repo("kubernetes/kubeadm")));
    assert!(policy.markdown_front_matter(&repo("kubernetes/website")));
    assert!(!policy.markdown_front_matter(&repo("kubernetes/kubernetes")));
}

/// Without `--output` the configuration goes to stdout; a file that is not YAML is refused
/// with its name and a non-zero exit.
#[test]
fn import_prow_prints_to_stdout_and_refuses_what_is_not_yaml() {
    let out = bosun()
        .arg("import-prow")
        .arg(fixture("plugins.yaml"))
        .output()
        .expect("runs");
    succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[plugins.kubernetes-sigs]"), "{stdout}");

    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("plugins.yaml");
    std::fs::write(&bad, "plugins: [unclosed").expect("write");
    let out = bosun().arg("import-prow").arg(&bad).output().expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("plugins.yaml:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 12 item 7: Prow accepts blunderbuss's `max_request_count` below `request_count` (the
/// maximum wins); so does bosun, with a warning, and `[owners]` takes Prow's per-repo lists.
#[test]
fn check_config_accepts_prows_blunderbuss_max_below_count_with_a_warning() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bosun.toml");
    std::fs::write(
        &file,
        "[owners]\nmarkdown_front_matter_repos = [\"org/docs\"]\nskip_collaborators = [\"org\"]\n[settings.blunderbuss.\"org\"]\nrequest_count = 3\nmax_request_count = 1\n",
    )
    .expect("write");
    let out = bosun()
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("runs");
    succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "warning: settings.blunderbuss.\"org\": max_request_count 1 is below request_count 3"
        ),
        "{stderr}"
    );
    std::fs::write(&file, "[owners]\nskip_collaborators = [\"not a scope\"]\n").expect("write");
    let out = bosun()
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("owners.skip_collaborators"));
}
