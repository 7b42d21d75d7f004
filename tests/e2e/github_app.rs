//! bosun configured as a GitHub App: startup reads the key, and a command is carried out
//! through the App's installation, as `{slug}[bot]`.

use crate::support::*;
use bosun_plugins::ForgeKind;

const APP_ID: u64 = 4242;

/// `github.app_id` and `github.private_key_file` make bosun act through the installation on
/// the repository's owner; its own `[bot]` comments are still ignored.
#[tokio::test]
async fn hold_through_a_github_app_installation() {
    for db in databases() {
        let _combination = Combination::new(db);
        let mut options = Options::new(db);
        let key = fake_forge::test_app_private_key_path();
        options.env = vec![
            ("BOSUN_GITHUB__APP_ID".into(), APP_ID.to_string()),
            (
                "BOSUN_GITHUB__PRIVATE_KEY_FILE".into(),
                key.display().to_string(),
            ),
        ];
        let bosun = spawn_bosun(options).await;
        bosun
            .forge
            .enable_github_app(APP_ID, "bosun-app", fake_forge::TEST_APP_PUBLIC_KEY_PEM);
        bosun.forge.install_github_app("kubernetes", 31);
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");

        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "app-1",
                &github_pr_comment(947, "alice", "/hold"),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(
            bosun.status_of("github:app-1").await.as_deref(),
            Some("done")
        );
        assert_eq!(bosun.forge.labels(&pr), ["do-not-merge/hold"]);
        let tokens = bosun.forge.minted_tokens();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].installation, 31);
        let write = bosun
            .forge
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/labels"))
            .expect("the label write");
        assert_eq!(
            write.auth(),
            Some(format!("Bearer {}", tokens[0].token).as_str())
        );
        assert_eq!(
            bosun.forge.count_requests("GET", "/app"),
            1,
            "the bot login comes from GET /app"
        );

        // The App's own comment is not acted on.
        bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "app-2",
                &github_pr_comment(947, "bosun-app[bot]", "/hold cancel"),
            )
            .await;
        bosun.run_until_idle().await;
        assert_eq!(bosun.forge.labels(&pr), ["do-not-merge/hold"]);
        bosun.shutdown().await;
    }
}
