//! The web pages over real HTTP on a real bosun: what each page shows, that hostile payload
//! text is shown as text, that replay and private pages need the admin token, that listings
//! page by keyset without gaps, and that the list stays fast with 100,000 deliveries.

use crate::support::*;
use bosun::store::{Cursor, DeliveryFilter, NewDelivery};
use bosun_plugins::ForgeKind;
use fake_forge::Fault;
use std::time::Duration;

const ADMIN_TOKEN: &str = "admin-token-for-tests";
const HOLD: &str = "do-not-merge/hold";

fn with_admin(db: Db) -> Options {
    let mut options = Options::new(db);
    options
        .env
        .push(("BOSUN_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    options
}

/// A urlencoded form body (reqwest is built without its `form` feature).
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", bosun::server::pages::encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn get(bosun: &TestBosun, path: &str) -> (u16, String) {
    let response = bosun
        .http
        .get(bosun.url(path))
        .send()
        .await
        .expect("bosun answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The dashboard lists deliveries with their item, status and attempts, and filters by forge,
/// status and repo; bad filters are a 400 with a one-line reason.
#[tokio::test]
async fn dashboard_lists_and_filters_deliveries() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(with_admin(db)).await;
        bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        bosun
            .forge
            .seed_pr(ForgeKind::GitLab, GITLAB_REPO, 1, "alice");
        let gh = github_pr_comment(947, "alice", "/hold");
        assert_eq!(
            bosun
                .post(ForgeKind::GitHub, "issue_comment", "d-1", &gh)
                .await
                .0,
            202
        );
        let gl = gitlab_mr_note(1, "alice", "/hold");
        assert_eq!(
            bosun
                .post(ForgeKind::GitLab, "Note Hook", "d-2", &gl)
                .await
                .0,
            202
        );
        bosun.run_until_idle().await;

        let (status, body) = get(&bosun, "/").await;
        assert_eq!(status, 200, "{db:?}: {body}");
        assert!(body.contains("href=\"/deliveries/github:d-1\""), "{body}");
        assert!(body.contains("href=\"/deliveries/gitlab:d-2\""), "{body}");
        assert!(body.contains("kubernetes/test-infra#947"), "{body}");
        // A note on an MR names the MR as GitLab does.
        assert!(body.contains("gitlab-org/hello-world!1"), "{body}");
        assert!(
            body.contains("href=\"/pr/github/kubernetes/test-infra/947\""),
            "{body}"
        );
        assert!(
            body.contains("<span class=\"badge done\">done</span>"),
            "{body}"
        );

        let (_, gitlab_only) = get(&bosun, "/?forge=gitlab").await;
        assert!(gitlab_only.contains("gitlab:d-2"), "{gitlab_only}");
        assert!(!gitlab_only.contains("github:d-1"), "{gitlab_only}");
        let (_, by_repo) = get(&bosun, "/?repo=kubernetes%2Ftest-infra").await;
        assert!(by_repo.contains("github:d-1") && !by_repo.contains("gitlab:d-2"));
        let (_, failed) = get(&bosun, "/?status=failed").await;
        assert!(failed.contains("No deliveries"), "{failed}");

        for bad in ["/?status=bogus", "/?forge=svn", "/?before=yesterday"] {
            let (status, body) = get(&bosun, bad).await;
            assert_eq!(status, 400, "{bad}: {body}");
            assert!(body.contains("id=\"error-message\""), "{body}");
        }
        bosun.shutdown().await;
    }
}

/// A comment carrying `<script>` is shown as text on the delivery page (payload, normalized
/// event, decided actions) and on the PR page; the delivery page lists every action with its
/// plugin and outcome, and the PR page shows who ran which command and what bosun did.
#[tokio::test]
async fn pages_show_actions_and_escape_hostile_text() {
    const HOSTILE: &str = "<script>alert('owned')</script>";
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(with_admin(db)).await;
        bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        let body = format!("/hold\n{HOSTILE} <img src=x onerror=alert(1)>");
        let payload = github_pr_comment(947, "alice", &body);
        bosun
            .post(ForgeKind::GitHub, "issue_comment", "x-1", &payload)
            .await;
        bosun.run_until_idle().await;

        let (status, page) = get(&bosun, "/deliveries/github:x-1").await;
        assert_eq!(status, 200, "{page}");
        assert!(!page.contains("<script>alert"), "unescaped script: {page}");
        assert!(!page.contains("<img src=x"), "unescaped tag: {page}");
        assert!(shows_script_as_text(&page), "{page}");
        assert!(page.contains("<td class=\"plugin\">hold</td>"), "{page}");
        assert!(page.contains("add_label"), "{page}");
        assert!(
            page.contains("<span class=\"badge applied\">applied</span>"),
            "{page}"
        );
        assert!(page.contains("x-github-event"), "headers: {page}");
        assert!(
            page.contains("&quot;type&quot;: &quot;comment&quot;")
                || page.contains("&#34;type&#34;: &#34;comment&#34;"),
            "normalized event: {page}"
        );
        assert!(
            csp_forbids_scripts(&bosun, "/deliveries/github:x-1").await,
            "pages forbid scripts"
        );

        let (status, pr) = get(&bosun, "/pr/github/kubernetes/test-infra/947").await;
        assert_eq!(status, 200, "{pr}");
        assert!(!pr.contains("<script>alert"), "unescaped script: {pr}");
        assert!(shows_script_as_text(&pr), "{pr}");
        assert!(
            pr.contains("<strong class=\"actor\">alice</strong> commented"),
            "{pr}"
        );
        assert!(pr.contains("<code>/hold</code>"), "{pr}");
        assert!(
            pr.contains("<span class=\"plugin\">hold</span> add_label"),
            "{pr}"
        );
        assert!(
            pr.contains(&format!("<span class=\"label\">{HOLD}</span>")),
            "{pr}"
        );

        let (status, _) = get(&bosun, "/deliveries/github:nope").await;
        assert_eq!(status, 404);
        let (status, _) = get(&bosun, "/pr/github/kubernetes/test-infra/999").await;
        assert_eq!(status, 404);
        let (status, _) = get(&bosun, "/pr/svn/a/b/1").await;
        assert_eq!(status, 404);
        bosun.shutdown().await;
    }
}

/// Whether a page shows `<script>` as text: escaped by name or by number.
fn shows_script_as_text(page: &str) -> bool {
    page.contains("&lt;script&gt;") || page.contains("&#60;script&#62;")
}

/// Whether the page at `path` is served with a Content-Security-Policy that allows no script.
async fn csp_forbids_scripts(bosun: &TestBosun, path: &str) -> bool {
    let response = bosun
        .http
        .get(bosun.url(path))
        .send()
        .await
        .expect("answer");
    response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("default-src 'none'") && !v.contains("script-src"))
}

/// `/command-help` lists every plugin's commands with where each plugin is enabled, and
/// narrows to a repo's plugins; `/plugin-help` is Prow's JSON shape with forges added.
#[tokio::test]
async fn command_help_and_plugin_help() {
    for db in databases() {
        let _combination = Combination::new(db);
        let mut options = Options::new(db);
        options.extra = "[plugins.\"kubernetes\"]\nenabled = [\"hold\", \"lgtm\"]\nexcluded_repos = [\"legacy\"]\n[plugins.\"gitlab-org\"]\nenabled = [\"hold\"]\n".into();
        let bosun = spawn_bosun(options).await;
        let (status, page) = get(&bosun, "/command-help").await;
        assert_eq!(status, 200);
        assert!(
            page.contains("<code class=\"usage\">/[remove-]lgtm"),
            "{page}"
        );
        assert!(
            page.contains("<code class=\"example\">/lgtm cancel</code>"),
            "{page}"
        );
        assert!(
            page.contains("Enabled in: kubernetes (except legacy)"),
            "{page}"
        );
        assert!(page.contains("GitHub, GitLab"), "{page}");
        for usage in ["/retest", "/ok-to-test [cancel]", "/override ", "/skip"] {
            assert!(
                page.contains(&format!("<code class=\"usage\">{usage}")),
                "the CI commands come from the plugins' own help: {usage}"
            );
        }

        let (_, gitlab) = get(&bosun, "/command-help?repo=gitlab-org%2Fhello-world").await;
        assert!(gitlab.contains("/hold"), "{gitlab}");
        assert!(
            !gitlab.contains("class=\"usage\">/[remove-]lgtm"),
            "{gitlab}"
        );
        let (_, legacy) = get(&bosun, "/command-help?repo=kubernetes%2Flegacy").await;
        assert!(legacy.contains("No commands"), "{legacy}");
        let (status, _) = get(&bosun, "/command-help?repo=not-a-repo").await;
        assert_eq!(status, 400);

        let response = bosun
            .http
            .get(bosun.url("/plugin-help"))
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status(), 200);
        let json: serde_json::Value = response.json().await.expect("json");
        assert_eq!(
            json["RepoPlugins"]["kubernetes"],
            serde_json::json!(["hold", "lgtm"])
        );
        assert!(json["AllRepos"].as_array().is_some_and(|a| a.len() == 2));
        let lgtm = &json["PluginHelp"]["lgtm"];
        assert!(
            lgtm["Description"]
                .as_str()
                .is_some_and(|d| d.contains("lgtm"))
        );
        let command = &lgtm["Commands"][0];
        assert!(
            command["Usage"]
                .as_str()
                .is_some_and(|u| u.contains("lgtm"))
        );
        assert_eq!(command["Featured"], false);
        assert_eq!(command["Forges"], serde_json::json!(["github", "gitlab"]));
        assert!(command["WhoCanUse"].is_string() && command["Examples"].is_array());
        let post = bosun
            .http
            .post(bosun.url("/plugin-help"))
            .send()
            .await
            .expect("answer");
        assert_eq!(post.status(), 405);
        bosun.shutdown().await;
    }
}

/// Makes `github:<id>` fail: every label call answers 500 until the attempts run out.
async fn failed_delivery(bosun: &TestBosun, id: &str) {
    bosun
        .forge
        .fail_next("/issues/947/labels", 1000, Fault::Status500);
    bosun
        .post(
            ForgeKind::GitHub,
            "issue_comment",
            id,
            &github_pr_comment(947, "alice", "/hold"),
        )
        .await;
    bosun.run_until_idle().await;
    assert_eq!(
        bosun.status_of(&format!("github:{id}")).await.as_deref(),
        Some("failed")
    );
}

/// Replay is refused without the admin token (and with a wrong one) and nothing is queued;
/// with it, as a bearer header or a form field, the delivery runs again and succeeds.
#[tokio::test]
async fn replay_needs_the_admin_token() {
    for db in databases() {
        let _combination = Combination::new(db);
        let bosun = spawn_bosun(with_admin(db)).await;
        let pr = bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        failed_delivery(&bosun, "r-1").await;
        let (_, failed) = get(&bosun, "/?status=failed").await;
        assert!(
            failed.contains("value=\"github:r-1\""),
            "replay button: {failed}"
        );
        assert!(failed.contains("name=\"all\" value=\"failed\""), "{failed}");
        assert!(
            failed.contains("class=\"error\""),
            "the error is shown: {failed}"
        );
        bosun.forge.clear_faults();

        let no_token = bosun
            .http
            .post(bosun.url("/admin/replay/github:r-1"))
            .send()
            .await
            .expect("answer");
        assert_eq!(no_token.status(), 401);
        let wrong = bosun
            .http
            .post(bosun.url("/admin/replay"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("delivery", "github:r-1"), ("token", "guess")]))
            .send()
            .await
            .expect("answer");
        assert_eq!(wrong.status(), 401);
        let body = wrong.text().await.unwrap_or_default();
        assert!(
            !body.contains(ADMIN_TOKEN) && !body.contains("guess"),
            "{body}"
        );
        assert_eq!(
            bosun.status_of("github:r-1").await.as_deref(),
            Some("failed")
        );

        let ok = bosun
            .http
            .post(bosun.url("/admin/replay/github:r-1"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("answer");
        assert_eq!(ok.status(), 202);
        bosun.run_until_idle().await;
        assert_eq!(bosun.status_of("github:r-1").await.as_deref(), Some("done"));
        assert_eq!(bosun.forge.labels(&pr), vec![HOLD]);

        // Replay all failed, from the form, answers with a redirect to the failed list.
        failed_delivery(&bosun, "r-2").await;
        bosun.forge.clear_faults();
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let all = no_redirects
            .post(bosun.url("/admin/replay"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("all", "failed"), ("token", ADMIN_TOKEN)]))
            .send()
            .await
            .expect("answer");
        assert_eq!(all.status(), 303);
        assert_eq!(
            all.headers().get("location").and_then(|v| v.to_str().ok()),
            Some("/?status=failed&replayed=1")
        );
        bosun.run_until_idle().await;
        assert_eq!(bosun.status_of("github:r-2").await.as_deref(), Some("done"));
        bosun.shutdown().await;
    }
}

/// Without an admin token configured, replay from the web is disabled (403), not open.
#[tokio::test]
async fn replay_without_a_configured_token_is_disabled() {
    let bosun = spawn_bosun(Options::new(Db::Sqlite)).await;
    let response = bosun
        .http
        .post(bosun.url("/admin/replay-failed"))
        .bearer_auth("anything")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 403);
    bosun.shutdown().await;
}

/// With `private_pages`, reading needs the token (header or the /login cookie); the
/// command-help page stays public; the token never appears in a page or a cookie.
#[tokio::test]
async fn private_pages_need_the_token() {
    for db in databases() {
        let _combination = Combination::new(db);
        let mut options = with_admin(db);
        options
            .env
            .push(("BOSUN_SERVER__PRIVATE_PAGES".into(), "true".into()));
        let bosun = spawn_bosun(options).await;
        assert_eq!(get(&bosun, "/").await.0, 401);
        assert_eq!(get(&bosun, "/deliveries/github:x").await.0, 401);
        assert_eq!(get(&bosun, "/command-help").await.0, 200);
        assert_eq!(get(&bosun, "/plugin-help").await.0, 200);
        let with_header = bosun
            .http
            .get(bosun.url("/"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("answer");
        assert_eq!(with_header.status(), 200);

        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let wrong = client
            .post(bosun.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("token", "guess")]))
            .send()
            .await
            .expect("answer");
        assert_eq!(wrong.status(), 401);
        assert!(wrong.headers().get("set-cookie").is_none());
        let login = client
            .post(bosun.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("token", ADMIN_TOKEN)]))
            .send()
            .await
            .expect("answer");
        assert_eq!(login.status(), 303);
        let cookie = login
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie")
            .to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains(ADMIN_TOKEN), "{cookie}");
        let pair = cookie.split(';').next().expect("name=value").to_string();
        let page = client
            .get(bosun.url("/"))
            .header("cookie", &pair)
            .send()
            .await
            .expect("answer");
        assert_eq!(page.status(), 200);
        let body = page.text().await.unwrap_or_default();
        assert!(!body.contains(ADMIN_TOKEN));
        // The cookie reads; it does not replay.
        let replay = client
            .post(bosun.url("/admin/replay-failed"))
            .header("cookie", &pair)
            .send()
            .await
            .expect("answer");
        assert_eq!(replay.status(), 401);
        let forged = client
            .get(bosun.url("/"))
            .header("cookie", "bosun_session=00")
            .send()
            .await
            .expect("answer");
        assert_eq!(forged.status(), 401);
        bosun.shutdown().await;
    }
}

fn new_delivery(i: usize, repo: &str) -> NewDelivery {
    NewDelivery {
        delivery_id: format!("github:k-{i}"),
        forge: ForgeKind::GitHub,
        event: "ping".into(),
        repo: Some(repo.into()),
        number: Some(1),
        item_key: format!("{repo}#1"),
        headers: "{}".into(),
        payload: actix_web::web::Bytes::from_static(b"{}").into(),
    }
}

/// Keyset pages cover every row exactly once, newest first, with and without a filter, even
/// when many rows share a timestamp (one batch commits with one time on SQLite).
#[tokio::test]
async fn listings_page_by_keyset_without_gaps() {
    for db in databases() {
        let _combination = Combination::new(db);
        let test_db = TestDb::new(db).await;
        let store = bosun::store::connect(&test_db.url, 2)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        for chunk in 0..3 {
            let batch: Vec<NewDelivery> = (0..40)
                .map(|i| {
                    let n = chunk * 40 + i;
                    new_delivery(n, if n % 3 == 0 { "o/three" } else { "o/other" })
                })
                .collect();
            store.insert_deliveries(&batch).await.expect("insert");
        }
        for (filter, expected) in [
            (DeliveryFilter::default(), 120),
            (
                DeliveryFilter {
                    repo: Some("o/three".into()),
                    ..Default::default()
                },
                40,
            ),
        ] {
            let mut seen = Vec::new();
            let mut cursor: Option<Cursor> = None;
            loop {
                let page = store
                    .list_deliveries(&filter, cursor, 7)
                    .await
                    .expect("list");
                if page.is_empty() {
                    break;
                }
                cursor = page.last().map(Cursor::of);
                seen.extend(page.into_iter().map(|d| (d.received_at, d.id)));
            }
            assert_eq!(seen.len(), expected, "{db:?} {filter:?}");
            let mut sorted = seen.clone();
            sorted.sort_by(|a, b| b.cmp(a));
            sorted.dedup();
            assert_eq!(sorted, seen, "{db:?}: newest first, no repeats");
        }
        let ids: Vec<i64> = store
            .list_deliveries(&DeliveryFilter::default(), None, 3)
            .await
            .expect("list")
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(store.actions_of(&ids).await.expect("actions").len(), 0);
        assert!(
            store
                .delivery_detail("github:k-5")
                .await
                .expect("detail")
                .is_some()
        );
    }
}

/// The dashboard's list answers in under 100 ms with 100,000 deliveries stored: the first
/// page, each filter, and a page deep in the keyset order (median of several requests).
#[tokio::test]
async fn list_page_is_fast_with_100k_deliveries() {
    for db in databases() {
        let _combination = Combination::new(db);
        let mut options = Options::new(db);
        options
            .env
            .push(("BOSUN_QUEUE__WORKERS".into(), "0".into()));
        let bosun = spawn_bosun(options).await;
        bosun_bench::pages::seed(bosun.db_url(), 100_000, 200)
            .await
            .expect("seed");
        let base = bosun.url("");
        let mut paths = bosun_bench::pages::measured_paths();
        paths.push((
            "page 20",
            bosun_bench::pages::deep_page(&bosun.http, &base, 20)
                .await
                .expect("paging"),
        ));
        for (name, path) in paths {
            let median = bosun_bench::pages::time_get(&bosun.http, &bosun.url(&path), 9)
                .await
                .expect("page answers");
            println!("{db:?} {name}: {median:?}");
            assert!(
                median < Duration::from_millis(100),
                "{db:?}: {name} ({path}) took {median:?}"
            );
        }
        let (_, failed) = get(&bosun, "/?status=failed").await;
        assert_eq!(failed.matches("<tr class=\"delivery\">").count(), 50);
        bosun.shutdown().await;
    }
}
