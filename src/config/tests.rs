//! Configuration tests: parsing, overrides, secrets and validation.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let text = r#"
        [server]
        listen = "nowhere"
        [database]
        url = "mysql://x"
        [github]
        webhook_secrets = { "*" = ["MISSING_SECRET"] }
        [plugins."org"]
        enabled = ["hold", "nope"]
    "#;
    let errors = RawConfig::parse(text, &[])
        .expect("parses")
        .validate(&[])
        .expect_err("invalid");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"server.listen"), "{keys:?}");
    assert!(keys.contains(&"database.url"), "{keys:?}");
    assert!(keys.contains(&"plugins.\"org\".enabled"), "{keys:?}");
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn unset_secret_variable_is_a_warning() {
    let text = "[github.webhook_secrets]\n\"*\" = [\"MISSING_SECRET\"]";
    let s = RawConfig::parse(text, &[])
        .expect("parses")
        .validate(&[])
        .expect("valid");
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].message.contains("MISSING_SECRET"));
}

#[test]
fn unknown_keys_are_rejected() {
    let errors = RawConfig::parse("[server]\nlisten_on = 1", &[]).expect_err("unknown key");
    assert!(errors[0].message.contains("listen_on"), "{errors:?}");
}

#[test]
fn env_overrides_nest_with_double_underscore() {
    let e = env(&[
        ("BOSUN_DATABASE__URL", "postgres://h/db"),
        ("BOSUN_QUEUE__WORKERS", "7"),
    ]);
    let raw = RawConfig::parse("", &e).expect("parses");
    assert_eq!(raw.database.url, "postgres://h/db");
    assert_eq!(raw.queue.workers, Some(7));
}

#[test]
fn most_specific_secret_scope_wins() {
    let text = r#"
        [github.webhook_secrets]
        "*" = ["G"]
        "org" = ["O1", "O2"]
        "org/special" = ["R"]
    "#;
    let e = env(&[("G", "g"), ("O1", "o1"), ("O2", "o2"), ("R", "r")]);
    let s = RawConfig::parse(text, &e)
        .expect("parses")
        .validate(&e)
        .expect("valid");
    let secrets = &s.github.as_ref().expect("github").webhook_secrets;
    use secrecy::ExposeSecret;
    let got = |p: Option<&str>| {
        secrets
            .for_path(p)
            .iter()
            .map(|s| s.expose_secret().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(got(Some("org/special")), vec!["r"]);
    assert_eq!(got(Some("org/other")), vec!["o1", "o2"]);
    assert_eq!(got(Some("org")), vec!["o1", "o2"]);
    assert_eq!(got(Some("else/repo")), vec!["g"]);
    assert_eq!(got(None), vec!["g"]);
}

#[test]
fn plugins_follow_prows_org_and_repo_model() {
    let text = r#"
        [plugins."org"]
        enabled = ["hold"]
        excluded_repos = ["legacy"]
    "#;
    let s = RawConfig::parse(text, &[])
        .expect("parses")
        .validate(&[])
        .expect("valid");
    let repo = |p: &str| RepoPath::parse(p).expect("repo");
    assert_eq!(s.plugins.enabled_for(&repo("org/app")), vec!["hold"]);
    assert!(s.plugins.enabled_for(&repo("org/legacy")).is_empty());
    assert!(s.plugins.enabled_for(&repo("other/app")).is_empty());
    let both = "[plugins.\"org\"]\nenabled=[\"hold\"]\n[plugins.\"org/app\"]\nenabled=[\"hold\"]";
    let errors = RawConfig::parse(both, &[])
        .expect("parses")
        .validate(&[])
        .expect_err("dup");
    assert_eq!(errors[0].key, "plugins.\"org/app\".enabled");
}

#[test]
fn plugin_settings_are_checked_at_startup() {
    let text = "[settings.lgtm.\"org\"]\nreview_acts_as_lgtm = \"yes\"\n[settings.hold.\"org\"]\nx = 1\n[settings.label.\"org/r\"]\nprefixes = [\"kind\"]";
    let errors = RawConfig::parse(text, &[])
        .expect("parses")
        .validate(&[])
        .expect_err("invalid");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["settings.hold.\"org\"", "settings.lgtm.\"org\""],
        "{errors:?}"
    );
}

#[test]
fn github_app_needs_id_and_a_readable_rsa_key() {
    let errors = RawConfig::parse("[github]\napp_id = 7", &[])
        .expect("parses")
        .validate(&[])
        .expect_err("no key");
    assert_eq!(errors[0].key, "github.private_key_file");
    let errors = RawConfig::parse("[github]\nprivate_key_file = \"k.pem\"", &[])
        .expect("parses")
        .validate(&[])
        .expect_err("no id");
    assert_eq!(errors[0].key, "github.app_id");
    let errors = RawConfig::parse(
        "[github]\napp_id = 7\nprivate_key_file = \"/nonexistent/k.pem\"",
        &[],
    )
    .expect("parses")
    .validate(&[])
    .expect_err("unreadable");
    assert_eq!(errors[0].key, "github.private_key_file");
    assert!(
        errors[0].message.contains("/nonexistent/k.pem"),
        "{errors:?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("not-a-key.pem"), "hello").expect("write");
    std::fs::write(
        dir.path().join("app.pem"),
        fake_forge::TEST_APP_PRIVATE_KEY_PEM,
    )
    .expect("write");
    let mut raw = RawConfig::parse(
        "[github]\napp_id = 7\nprivate_key_file = \"not-a-key.pem\"",
        &[],
    )
    .expect("parses");
    raw.config_dir = Some(dir.path().to_path_buf());
    let errors = raw.validate(&[]).expect_err("not a key");
    assert!(
        errors[0].message.contains("not an RSA private key"),
        "{errors:?}"
    );

    let mut raw = RawConfig::parse("[github]\napp_id = 7\nprivate_key_file = \"app.pem\"", &[])
        .expect("parses");
    raw.config_dir = Some(dir.path().to_path_buf());
    let s = raw.validate(&[]).expect("valid");
    let gh = s.github.as_ref().expect("github");
    assert_eq!(gh.app.as_ref().map(|a| a.app_id), Some(7));
    assert!(
        !s.is_dry_run(ForgeKind::GitHub, None),
        "an App can act without a token"
    );
}

#[test]
fn limits_have_safe_defaults_and_are_checked() {
    let s = RawConfig::parse("", &[])
        .expect("parses")
        .validate(&[])
        .expect("valid");
    assert_eq!(s.limits, Limits::default());
    assert_eq!(s.limits.max_body_bytes, 25 * 1024 * 1024);
    assert_eq!(s.limits.forge_timeout, Duration::from_secs(30));

    let e = env(&[("BOSUN_LIMITS__MAX_COMMANDS_PER_COMMENT", "3")]);
    let text = "[limits]\nmax_comment_bytes = 4096\nmax_changed_files = 50\nforge_timeout_seconds = 5\nmax_concurrent_forge_calls = 2";
    let s = RawConfig::parse(text, &e)
        .expect("parses")
        .validate(&e)
        .expect("valid");
    assert_eq!(s.limits.max_comment_bytes, 4096);
    assert_eq!(s.limits.max_commands_per_comment, 3);
    assert_eq!(s.limits.max_changed_files, 50);
    assert_eq!(s.limits.for_plugins().max_changed_files, 50);
    assert_eq!(s.limits.forge_timeout, Duration::from_secs(5));
    assert_eq!(s.limits.max_concurrent_forge_calls, 2);

    let text = "[limits]\nmax_comment_bytes = 10\nmax_commands_per_comment = 0\nmax_changed_files = 0\nforge_timeout_seconds = 0\nmax_concurrent_forge_calls = 0\nmax_body_bytes = 1";
    let errors = RawConfig::parse(text, &[])
        .expect("parses")
        .validate(&[])
        .expect_err("invalid");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            "limits.max_body_bytes",
            "limits.max_comment_bytes",
            "limits.max_commands_per_comment",
            "limits.max_changed_files",
            "limits.forge_timeout_seconds",
            "limits.max_concurrent_forge_calls"
        ],
        "{errors:?}"
    );
}

#[test]
fn the_older_body_limit_key_still_works() {
    let s = RawConfig::parse("[server]\nmax_body_bytes = 2048", &[])
        .expect("parses")
        .validate(&[])
        .expect("valid");
    assert_eq!(s.limits.max_body_bytes, 2048);
    let s = RawConfig::parse(
        "[server]\nmax_body_bytes = 2048\n[limits]\nmax_body_bytes = 2048",
        &[],
    )
    .expect("parses")
    .validate(&[])
    .expect("the same value twice is fine");
    assert_eq!(s.limits.max_body_bytes, 2048);
    let errors = RawConfig::parse(
        "[server]\nmax_body_bytes = 2048\n[limits]\nmax_body_bytes = 4096",
        &[],
    )
    .expect("parses")
    .validate(&[])
    .expect_err("two different values");
    assert_eq!(errors[0].key, "limits.max_body_bytes");
    let errors = RawConfig::parse("[server]\nmax_body_bytes = 10", &[])
        .expect("parses")
        .validate(&[])
        .expect_err("too small");
    assert_eq!(errors[0].key, "server.max_body_bytes");
}

#[test]
fn an_oversized_key_file_is_refused_without_reading_it_all() {
    let mut raw = RawConfig::parse(
        "[github]\napp_id = 7\nprivate_key_file = \"/dev/zero\"",
        &[],
    )
    .expect("parses");
    raw.config_dir = None;
    let errors = raw.validate(&[]).expect_err("not a key");
    assert_eq!(errors[0].key, "github.private_key_file");
    assert!(errors[0].message.contains("larger than"), "{errors:?}");
}

#[test]
fn no_token_means_dry_run() {
    let s = RawConfig::parse("[github]\n", &[])
        .expect("parses")
        .validate(&[])
        .expect("valid");
    assert!(s.is_dry_run(ForgeKind::GitHub, None));
    let e = env(&[("BOSUN_GITHUB_TOKEN", "t")]);
    let s = RawConfig::parse("[github]\n", &e)
        .expect("parses")
        .validate(&e)
        .expect("valid");
    assert!(!s.is_dry_run(ForgeKind::GitHub, None));
}

/// A channel @'s a login it does not name through the account bound to it in `[chat.users]`
/// on the channel's platform; its own `people` win. Every channel's language is known to the
/// notify plugin, also one whose URL is unset. The Slack bot token is read for app mentions.
#[test]
fn chat_bindings_fill_in_whom_to_mention() {
    let text = r#"
        [chat.channels.ding]
        kind = "dingtalk"
        url_env = "DING_URL"
        language = "zh"
        [chat.channels.ding.people]
        Alice = "13800000000"
        [chat.channels.slack]
        kind = "slack"
        url_env = "SLACK_URL"
        [chat.channels.unset]
        kind = "wecom"
        url_env = "UNSET_URL"
        [chat.slack]
        signing_secret_env = "SLACK_SECRET"
        bot_token_env = "SLACK_BOT"
        [chat.users."dingtalk:staff-a"]
        gitlab = "alice"
        [chat.users."dingtalk:staff-b"]
        github = "Bob"
        [chat.users."slack:T1/U2"]
        github = "bob"
    "#;
    let e = env(&[
        (
            "DING_URL",
            "https://oapi.dingtalk.com/robot/send?access_token=t",
        ),
        ("SLACK_URL", "https://hooks.slack.com/services/x"),
        ("SLACK_SECRET", "s"),
        ("SLACK_BOT", "xoxb-1"),
    ]);
    let s = RawConfig::parse(text, &e)
        .expect("parses")
        .validate(&e)
        .expect("valid");
    let ding = &s.chat.channels["ding"].people;
    assert_eq!(ding.get("alice").map(String::as_str), Some("13800000000"));
    assert_eq!(ding.get("bob").map(String::as_str), Some("staff-b"));
    let slack = &s.chat.channels["slack"].people;
    assert_eq!(slack.get("bob").map(String::as_str), Some("U2"));
    assert_eq!(slack.get("alice"), None);
    assert_eq!(
        s.chat.languages.get("unset"),
        Some(&bosun_plugins::notify::Language::En)
    );
    assert_eq!(
        s.chat.languages.get("ding"),
        Some(&bosun_plugins::notify::Language::Zh)
    );
    let bot = s.chat.slack_bot.as_ref().expect("the bot token");
    assert_eq!(bot.api_url, "https://slack.com/api");
}

#[test]
fn workers_default_by_store_and_an_explicit_count_wins() {
    let queue = QueueConfig::default();
    assert_eq!(queue.workers_for("sqlite://bosun.db"), 4);
    assert_eq!(queue.workers_for("postgres://db/bosun"), 16);
    let explicit = QueueConfig {
        workers: Some(0),
        ..QueueConfig::default()
    };
    assert_eq!(explicit.workers_for("postgres://db/bosun"), 0);
}
