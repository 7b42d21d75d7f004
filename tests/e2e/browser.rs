//! The pages in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`)
//! driven over WebDriver by fantoccini, against a running bosun that received real deliveries.
//!
//! With `BOSUN_TEST_BROWSER=1` (CI sets it) a missing chromedriver fails the test; without it
//! the test says so and skips. On failure a screenshot is saved under the target directory and
//! its path is printed in the failure message.

use crate::support::*;
use bosun_plugins::ForgeKind;
use fake_forge::Fault;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const ADMIN_TOKEN: &str = "browser-admin-token";

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("BOSUN_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    path.exists().then_some(path)
}

fn chromium() -> PathBuf {
    std::env::var_os("BOSUN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// chromedriver on a free port, ended when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start(path: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        wait_until("chromedriver answers", Duration::from_secs(30), || async {
            http.get(format!("{url}/status")).send().await.is_ok()
        })
        .await;
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium(),
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1024"],
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn text_of(client: &Client, css: &str) -> anyhow::Result<String> {
    let element = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await?;
    Ok(element.text().await?)
}

fn ensure(ok: bool, what: impl Into<String>) -> anyhow::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!(what.into()))
    }
}

/// The walk through the pages; any failure is returned, so the caller can take a screenshot.
async fn walk(client: &Client, bosun: &TestBosun) -> anyhow::Result<()> {
    // The dashboard lists the failed delivery; follow it to its page.
    client.goto(&bosun.url("/")).await?;
    client
        .find(Locator::Css("a[href=\"/deliveries/github:b-1\"]"))
        .await?
        .click()
        .await?;
    ensure(
        client.current_url().await?.path() == "/deliveries/github:b-1",
        "the delivery link leads to the delivery page",
    )?;
    let plugin = text_of(client, "table.actions td.plugin").await?;
    ensure(plugin == "hold", format!("the action's plugin: {plugin:?}"))?;
    let status = text_of(client, "#status").await?;
    ensure(
        status == "failed",
        format!("the delivery's status: {status:?}"),
    )?;

    // Its item link leads to the PR page, whose timeline shows who ran what.
    client
        .find(Locator::Css("a.item-link"))
        .await?
        .click()
        .await?;
    let entry = text_of(client, "ol.timeline li.entry").await?;
    ensure(
        entry.contains("alice") && entry.contains("/hold") && entry.contains("add_label"),
        format!("the timeline entry: {entry:?}"),
    )?;

    // The command help lists /lgtm.
    client.goto(&bosun.url("/command-help")).await?;
    let examples = client.find_all(Locator::Css("code.example")).await?;
    let mut found = false;
    for e in examples {
        found |= e.text().await? == "/lgtm";
    }
    ensure(found, "/command-help lists /lgtm")?;

    // Replay without the token is refused and nothing is queued.
    client.goto(&bosun.url("/deliveries/github:b-1")).await?;
    client.find(Locator::Css("#replay")).await?.click().await?;
    let refusal = text_of(client, "#error-message").await?;
    ensure(
        refusal.contains("admin token"),
        format!("the refusal: {refusal:?}"),
    )?;
    let title = client.title().await?;
    ensure(
        title.starts_with("401"),
        format!("the refusal's title: {title:?}"),
    )?;
    ensure(
        bosun.status_of("github:b-1").await.as_deref() == Some("failed"),
        "a refused replay queues nothing",
    )?;

    // With the token it runs again, and the page shows it done.
    client.goto(&bosun.url("/deliveries/github:b-1")).await?;
    client
        .find(Locator::Css("form.replay input[name=token]"))
        .await?
        .send_keys(ADMIN_TOKEN)
        .await?;
    client.find(Locator::Css("#replay")).await?.click().await?;
    let notice = text_of(client, "p.notice").await?;
    ensure(
        notice.contains("Queued again"),
        format!("the notice: {notice:?}"),
    )?;
    bosun.run_until_idle().await;
    client.goto(&bosun.url("/deliveries/github:b-1")).await?;
    let status = text_of(client, "#status").await?;
    ensure(status == "done", format!("after replay: {status:?}"))?;
    let outcome = text_of(client, "table.actions .badge").await?;
    ensure(
        outcome == "applied",
        format!("the action after replay: {outcome:?}"),
    )?;
    Ok(())
}

/// Deliveries in, then the dashboard, a delivery, its PR, the command help and replay, in
/// Chromium.
#[tokio::test]
async fn the_pages_work_in_a_real_browser() {
    let Some(driver_path) = chromedriver() else {
        let required = std::env::var("BOSUN_TEST_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "BOSUN_TEST_BROWSER=1 but /usr/bin/chromedriver is missing: apt-get install -y chromium chromium-driver"
        );
        eprintln!(
            "skipped: no chromedriver (apt-get install -y chromium chromium-driver; set BOSUN_TEST_BROWSER=1 to require it)"
        );
        return;
    };
    let driver = Driver::start(&driver_path).await;
    for db in databases() {
        let _combination = Combination::new(db);
        let mut options = Options::new(db);
        options
            .env
            .push(("BOSUN_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
        let bosun = spawn_bosun(options).await;
        bosun
            .forge
            .seed_pr(ForgeKind::GitHub, GITHUB_REPO, 947, "spxtr");
        // The plugin's read of the labels passes; every attempt to add the label fails, so the
        // delivery ends failed with its action recorded.
        bosun
            .forge
            .fail_next("/issues/947/labels", 1, Fault::Delay(Duration::ZERO));
        bosun
            .forge
            .fail_next("/issues/947/labels", 1000, Fault::Status500);
        let (status, _) = bosun
            .post(
                ForgeKind::GitHub,
                "issue_comment",
                "b-1",
                &github_pr_comment(947, "alice", "/hold"),
            )
            .await;
        assert_eq!(status, 202);
        bosun.run_until_idle().await;
        assert_eq!(
            bosun.status_of("github:b-1").await.as_deref(),
            Some("failed")
        );
        bosun.forge.clear_faults();

        let client = browser(&driver).await;
        let result = walk(&client, &bosun).await;
        if let Err(e) = result {
            let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("browser-failure-{db:?}.png"));
            let saved = match client.screenshot().await {
                Ok(png) => std::fs::write(&shot, png)
                    .map(|_| format!("screenshot: {}", shot.display()))
                    .unwrap_or_else(|w| format!("screenshot not saved: {w}")),
                Err(s) => format!("no screenshot: {s}"),
            };
            let url = client.current_url().await.map(|u| u.to_string());
            let _ = client.close().await;
            panic!("{db:?}: {e:#} (at {url:?}; {saved})");
        }
        client.close().await.expect("closing the browser");
        bosun.shutdown().await;
    }
}
