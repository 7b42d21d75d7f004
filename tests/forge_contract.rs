//! One contract for both forge adapters: every `Forge`/`ForgeRead` method, run through the real
//! octocrab and gitlab clients against the fake forge, checking both the resulting world and
//! the request the fake received; then how each adapter classifies failures.

use bosun::forge::github::GitHubForge;
use bosun::forge::gitlab::GitLabForge;
use bosun_plugins::{
    CommitStatus, DiffStatus, Forge, ForgeError, ForgeKind, ForgeRead, ItemRef, ItemState, Login,
    MergeMethod, RepoPath, StatusState, TreeEntryKind,
};
use fake_forge::{FakeForge, Fault, RecordedRequest};
use serde_json::json;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FORGES: [ForgeKind; 2] = [ForgeKind::GitHub, ForgeKind::GitLab];

/// A fake forge with one PR (number 7) and one issue (number 8) by other users, and an adapter
/// pointed at it.
struct Setup {
    fake: FakeForge,
    kind: ForgeKind,
    pr: ItemRef,
    issue: ItemRef,
}

impl Setup {
    fn new(kind: ForgeKind) -> Setup {
        let fake = FakeForge::start();
        let repo = match kind {
            ForgeKind::GitHub => "org/repo",
            // A nested group exercises the encoded project path.
            ForgeKind::GitLab => "group/sub/project",
        };
        let pr = fake.seed_pr(kind, repo, 7, "alice");
        let issue = fake.seed_issue(kind, repo, 8, "bob");
        Setup {
            fake,
            kind,
            pr,
            issue,
        }
    }

    fn forge(&self) -> Box<dyn Forge> {
        self.forge_with_timeout(Duration::from_secs(10))
    }

    fn forge_with_timeout(&self, timeout: Duration) -> Box<dyn Forge> {
        let url = self.fake.url();
        match self.kind {
            ForgeKind::GitHub => Box::new(
                GitHubForge::new(&url, Some("gh-token".into()))
                    .expect("GitHub client")
                    .with_timeout(timeout),
            ),
            ForgeKind::GitLab => Box::new(
                GitLabForge::new(&url, Some("gl-token".into()), true)
                    .expect("GitLab client")
                    .with_timeout(timeout),
            ),
        }
    }

    /// The encoded path of an item's own resource: what GitLab reads labels from, and what
    /// GitHub's label and comment routes start with.
    fn item_path(&self, item: &ItemRef) -> String {
        match (self.kind, item.kind) {
            (ForgeKind::GitHub, _) => format!("/repos/org/repo/issues/{}", item.number),
            (ForgeKind::GitLab, kind) => {
                let segment = match kind {
                    bosun_plugins::ItemKind::PullRequest => "merge_requests",
                    bosun_plugins::ItemKind::Issue => "issues",
                };
                format!(
                    "/api/v4/projects/group%2Fsub%2Fproject/{segment}/{}",
                    item.number
                )
            }
        }
    }

    /// A path substring that only the labels read of an item matches.
    fn labels_read(&self, item: &ItemRef) -> String {
        match self.kind {
            ForgeKind::GitHub => format!("{}/labels", self.item_path(item)),
            ForgeKind::GitLab => self.item_path(item),
        }
    }

    /// Requests other than `GET /user` (which the GitLab client sends when it is built).
    fn api_requests(&self) -> Vec<RecordedRequest> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| !r.path.ends_with("/user"))
            .collect()
    }

    #[track_caller]
    fn last_request(&self) -> RecordedRequest {
        let requests = self.api_requests();
        requests
            .last()
            .cloned()
            .expect("the fake received a request")
    }
}

/// The form-encoded or JSON field a GitLab or GitHub write carried.
fn json_field(r: &RecordedRequest, name: &str) -> serde_json::Value {
    r.json()
        .and_then(|v| v.get(name).cloned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The contract
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bot_login_is_the_token_owner_and_is_asked_once() {
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.set_bot(kind, "bosun-ci");
        let forge = s.forge();
        assert_eq!(
            forge.bot_login().await,
            Ok(Login::new("bosun-ci")),
            "{kind}"
        );
        let asked = s.fake.count_requests("GET", "/user");
        assert_eq!(
            forge.bot_login().await,
            Ok(Login::new("bosun-ci")),
            "{kind}"
        );
        assert_eq!(
            s.fake.count_requests("GET", "/user"),
            asked,
            "{kind}: cached"
        );

        let user_call = s.fake.requests().pop().expect("a request");
        let expected_auth = match kind {
            ForgeKind::GitHub => ("authorization", "Bearer gh-token"),
            ForgeKind::GitLab => ("private-token", "gl-token"),
        };
        assert_eq!(
            user_call.header(expected_auth.0),
            Some(expected_auth.1),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn labels_reads_the_items_current_labels() {
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.set_labels(&s.pr, &["lgtm", "kind/bug"]);
        s.fake.set_labels(&s.issue, &["triage/accepted"]);
        let forge = s.forge();

        assert_eq!(
            forge.labels(&s.pr).await,
            Ok(vec!["lgtm".into(), "kind/bug".into()])
        );
        let r = s.last_request();
        assert_eq!(
            (r.method.as_str(), r.path.clone()),
            ("GET", s.labels_read(&s.pr)),
            "{kind}"
        );

        assert_eq!(
            forge.labels(&s.issue).await,
            Ok(vec!["triage/accepted".into()])
        );
        assert_eq!(s.last_request().path, s.labels_read(&s.issue), "{kind}");
    }
}

#[tokio::test]
async fn add_labels_adds_and_keeps_existing_labels() {
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.set_labels(&s.pr, &["size/S"]);
        let forge = s.forge();

        let add = vec!["lgtm".to_string(), "approved".to_string()];
        assert_eq!(forge.add_labels(&s.pr, &add).await, Ok(()), "{kind}");
        assert_eq!(
            s.fake.labels(&s.pr),
            ["size/S", "lgtm", "approved"],
            "{kind}"
        );

        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(
                    (r.method.as_str(), r.path.as_str()),
                    ("POST", "/repos/org/repo/issues/7/labels")
                );
                assert_eq!(r.json(), Some(json!({"labels": ["lgtm", "approved"]})));
            }
            ForgeKind::GitLab => {
                assert_eq!(
                    (r.method.as_str(), r.path.clone()),
                    ("PUT", s.item_path(&s.pr))
                );
                assert_eq!(r.form_field("add_labels").as_deref(), Some("lgtm,approved"));
                assert_eq!(r.form_field("remove_labels"), None);
            }
        }

        assert_eq!(
            forge.add_labels(&s.issue, &["bug".to_string()]).await,
            Ok(()),
            "{kind}"
        );
        assert_eq!(s.fake.labels(&s.issue), ["bug"], "{kind}");
    }
}

#[tokio::test]
async fn add_labels_with_nothing_to_add_sends_nothing() {
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.set_labels(&s.pr, &["keep"]);
        let forge = s.forge();
        assert_eq!(forge.add_labels(&s.pr, &[]).await, Ok(()), "{kind}");
        assert_eq!(s.fake.labels(&s.pr), ["keep"], "{kind}");
        assert!(s.api_requests().is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn remove_label_removes_one_label_even_with_a_slash_in_its_name() {
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.set_labels(&s.pr, &["lgtm", "do-not-merge/hold"]);
        let forge = s.forge();

        assert_eq!(
            forge.remove_label(&s.pr, "do-not-merge/hold").await,
            Ok(()),
            "{kind}"
        );
        assert_eq!(s.fake.labels(&s.pr), ["lgtm"], "{kind}");

        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => assert_eq!(
                (r.method.as_str(), r.path.as_str()),
                (
                    "DELETE",
                    "/repos/org/repo/issues/7/labels/do-not-merge%2Fhold"
                )
            ),
            ForgeKind::GitLab => {
                assert_eq!(
                    (r.method.as_str(), r.path.clone()),
                    ("PUT", s.item_path(&s.pr))
                );
                assert_eq!(
                    r.form_field("remove_labels").as_deref(),
                    Some("do-not-merge/hold")
                );
            }
        }
    }
}

#[tokio::test]
async fn removing_an_absent_label_is_not_an_error() {
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.set_labels(&s.issue, &["lgtm"]);
        let forge = s.forge();
        assert_eq!(forge.remove_label(&s.issue, "hold").await, Ok(()), "{kind}");
        assert_eq!(s.fake.labels(&s.issue), ["lgtm"], "{kind}");
        // GitHub answers 404 here; the adapter must have asked and then swallowed it.
        assert_eq!(s.api_requests().len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn create_comment_posts_as_the_bot_and_returns_the_id() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();

        let body = "/lgtm accepted & thanks\n\n<!-- bosun -->";
        let id = forge.create_comment(&s.pr, body).await.expect("created");
        let comments = s.fake.comments(&s.pr);
        assert_eq!(comments.len(), 1, "{kind}");
        assert_eq!(
            (
                comments[0].id,
                comments[0].author.as_str(),
                comments[0].body.as_str()
            ),
            (id, "bosun-bot", body),
            "{kind}"
        );

        let r = s.last_request();
        let path = format!(
            "{}/{}",
            s.item_path(&s.pr),
            if kind == ForgeKind::GitHub {
                "comments"
            } else {
                "notes"
            }
        );
        assert_eq!(
            (r.method.as_str(), r.path.clone()),
            ("POST", path),
            "{kind}"
        );
        match kind {
            ForgeKind::GitHub => assert_eq!(json_field(&r, "body"), json!(body)),
            ForgeKind::GitLab => assert_eq!(r.form_field("body").as_deref(), Some(body)),
        }

        let on_issue = forge.create_comment(&s.issue, "hi").await.expect("created");
        assert_eq!(s.fake.comments(&s.issue)[0].id, on_issue, "{kind}");
    }
}

#[tokio::test]
async fn edit_comment_replaces_the_body() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        for item in [&s.pr, &s.issue] {
            let id = forge.create_comment(item, "old").await.expect("created");
            assert_eq!(forge.edit_comment(item, id, "new").await, Ok(()), "{kind}");
            let comments = s.fake.comments(item);
            assert_eq!(comments[0].body, "new", "{kind}");

            let r = s.last_request();
            match kind {
                ForgeKind::GitHub => {
                    let path = format!("/repos/org/repo/issues/comments/{id}");
                    assert_eq!((r.method.as_str(), r.path.clone()), ("PATCH", path));
                    assert_eq!(r.json(), Some(json!({"body": "new"})));
                }
                ForgeKind::GitLab => {
                    let path = format!("{}/notes/{id}", s.item_path(item));
                    assert_eq!((r.method.as_str(), r.path.clone()), ("PUT", path));
                    assert_eq!(r.form_field("body").as_deref(), Some("new"));
                }
            }
        }
    }
}

#[tokio::test]
async fn comments_reads_every_page_oldest_first() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let ids: Vec<u64> = (0..150)
            .map(|i| s.fake.seed_comment(&s.pr, "alice", &format!("comment {i}")))
            .collect();
        let forge = s.forge();

        let comments = forge.comments(&s.pr).await.expect("comments");
        assert_eq!(
            comments.iter().map(|c| c.id).collect::<Vec<_>>(),
            ids,
            "{kind}"
        );
        assert_eq!(comments[149].body, "comment 149", "{kind}");
        assert_eq!(comments[0].author, Login::new("alice"), "{kind}");

        let pages: Vec<RecordedRequest> = s.api_requests();
        assert_eq!(pages.len(), 2, "{kind}: two pages of 100");
        assert!(pages.iter().all(|r| r.method == "GET"), "{kind}");
        if kind == ForgeKind::GitLab {
            let q = pages[0].query_pairs();
            assert!(q.contains(&("sort".into(), "asc".into())), "{q:?}");
        }
        // The second page must carry credentials too (octocrab drops them on absolute URIs).
        assert!(pages[1].auth().is_some(), "{kind}");

        assert_eq!(forge.comments(&s.issue).await, Ok(vec![]), "{kind}");
    }
}

#[tokio::test]
async fn gitlab_system_notes_are_not_comments() {
    let s = Setup::new(ForgeKind::GitLab);
    s.fake.seed_comment(&s.pr, "alice", "/hold");
    let system = s.fake.seed_comment(&s.pr, "alice", "added ~hold label");
    s.fake.update(|w| {
        let item = w.item_mut(&s.pr);
        if let Some(c) = item.comments.iter_mut().find(|c| c.id == system) {
            c.system = true;
        }
    });
    let comments = s.forge().comments(&s.pr).await.expect("comments");
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "/hold");
}

#[tokio::test]
async fn a_missing_item_is_not_found() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let mut gone = s.pr.clone();
        gone.number = 404;
        let forge = s.forge();
        assert!(
            matches!(forge.labels(&gone).await, Err(ForgeError::NotFound(_))),
            "{kind}"
        );
        assert!(
            matches!(
                forge.create_comment(&gone, "x").await,
                Err(ForgeError::NotFound(_))
            ),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn an_item_of_the_other_forge_is_refused_without_a_request() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let mut foreign = s.pr.clone();
        foreign.forge = match kind {
            ForgeKind::GitHub => ForgeKind::GitLab,
            ForgeKind::GitLab => ForgeKind::GitHub,
        };
        let result = s.forge().labels(&foreign).await;
        assert!(
            matches!(result, Err(ForgeError::Invalid(_))),
            "{kind}: {result:?}"
        );
        assert!(s.fake.requests().is_empty(), "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn github_enterprise_prefix_is_kept() {
    let s = Setup::new(ForgeKind::GitHub);
    let forge =
        GitHubForge::new(&format!("{}/api/v3", s.fake.url()), Some("t".into())).expect("client");
    forge
        .add_labels(&s.pr, &["lgtm".into()])
        .await
        .expect("added");
    assert_eq!(s.fake.labels(&s.pr), ["lgtm"]);
    assert_eq!(
        s.last_request().path,
        "/api/v3/repos/org/repo/issues/7/labels"
    );
}

#[tokio::test]
async fn without_a_token_requests_carry_no_credentials() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge: Box<dyn Forge> = match kind {
            ForgeKind::GitHub => Box::new(GitHubForge::new(&s.fake.url(), None).expect("client")),
            ForgeKind::GitLab => {
                Box::new(GitLabForge::new(&s.fake.url(), None, true).expect("client"))
            }
        };
        forge.labels(&s.pr).await.expect("labels");
        let requests = s.fake.requests();
        assert_eq!(requests.len(), 1, "{kind}: no /user check without a token");
        assert_eq!(requests[0].auth(), None, "{kind}");
    }
}

#[tokio::test]
async fn gitlab_client_is_built_lazily_and_rebuilt_after_a_failed_build() {
    let s = Setup::new(ForgeKind::GitLab);
    s.fake.fail_next("/api/v4/user", 1, Fault::Status500);
    let forge = s.forge();
    assert!(
        s.fake.requests().is_empty(),
        "construction must not call GitLab"
    );

    let first = forge.labels(&s.pr).await;
    assert!(
        matches!(first, Err(ForgeError::Transient { .. })),
        "{first:?}"
    );
    assert_eq!(forge.labels(&s.pr).await, Ok(vec![]));
    assert_eq!(s.fake.count_requests("GET", "/api/v4/user"), 2);
}

#[tokio::test]
async fn an_unreachable_forge_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let s = Setup::new(ForgeKind::GitHub);
    let github = GitHubForge::new(&url, Some("t".into())).expect("client");
    let gitlab = GitLabForge::new(&url, Some("t".into()), true).expect("client");
    let mut gitlab_pr = s.pr.clone();
    gitlab_pr.forge = ForgeKind::GitLab;
    for result in [github.labels(&s.pr).await, gitlab.labels(&gitlab_pr).await] {
        assert!(
            matches!(result, Err(ForgeError::Transient { .. })),
            "{result:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Error classification
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_server_error_is_transient_and_the_next_call_goes_through() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        s.fake.fail_next(&s.labels_read(&s.pr), 1, Fault::Status500);
        let err = forge.labels(&s.pr).await.expect_err("500");
        assert!(
            matches!(err, ForgeError::Transient { .. }),
            "{kind}: {err:?}"
        );
        assert!(err.is_retryable());
        assert_eq!(forge.labels(&s.pr).await, Ok(vec![]), "{kind}");
    }
}

/// A log sink the logging test reads back.
#[derive(Clone, Default)]
struct LogSink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// issue 12 item 9: a transient failure that is retried shows as one `WARN` line naming the
/// request and what happens next, and no client library `ERROR` line, under bosun's
/// default log filter.
#[tokio::test]
async fn a_retried_server_error_logs_a_warning_not_an_error() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        let sink = LogSink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                bosun::telemetry::filter_directives(None),
            ))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        s.fake.fail_next(&s.labels_read(&s.pr), 1, Fault::Status500);
        assert!(forge.labels(&s.pr).await.is_err(), "{kind}");
        assert_eq!(forge.labels(&s.pr).await, Ok(vec![]), "{kind}");
        drop(guard);
        let bytes = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let out = String::from_utf8_lossy(&bytes).into_owned();
        assert!(!out.contains("ERROR"), "{kind}: {out}");
        let warn = out
            .lines()
            .find(|l| l.contains("WARN"))
            .unwrap_or_else(|| panic!("{kind}: no WARN line in {out}"));
        assert!(
            warn.contains("call failed on GET")
                && warn.contains("500")
                && warn.contains("retryable: the queue retries the delivery with backoff"),
            "{kind}: {warn}"
        );
    }
}

#[tokio::test]
async fn too_many_requests_is_rate_limited_for_retry_after_and_gates_later_calls() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        s.fake.fail_next(
            &s.labels_read(&s.pr),
            1,
            Fault::TooManyRequests {
                retry_after_secs: 30,
            },
        );
        let err = forge.labels(&s.pr).await.expect_err("429");
        assert!(
            matches!(err, ForgeError::RateLimited { .. }),
            "{kind}: {err:?}"
        );
        let wait = err.retry_after().expect("a wait");
        assert!(
            wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
            "{kind}: {wait:?}"
        );

        let before = s.fake.requests().len();
        let again = forge.create_comment(&s.pr, "x").await;
        assert!(
            matches!(again, Err(ForgeError::RateLimited { .. })),
            "{kind}: {again:?}"
        );
        assert_eq!(
            s.fake.requests().len(),
            before,
            "{kind}: refused without a request"
        );
    }
}

#[tokio::test]
async fn github_secondary_limit_waits_for_retry_after_or_a_minute() {
    for (retry_after, at_least) in [(Some(90), 89), (None, 59)] {
        let s = Setup::new(ForgeKind::GitHub);
        let forge = s.forge();
        let fault = Fault::GitHubSecondaryLimit {
            retry_after_secs: retry_after,
        };
        s.fake.fail_next("/comments", 1, fault);
        let err = forge.create_comment(&s.pr, "x").await.expect_err("403");
        assert!(matches!(err, ForgeError::RateLimited { .. }), "{err:?}");
        let wait = err.retry_after().expect("a wait");
        assert!(
            wait >= Duration::from_secs(at_least),
            "{retry_after:?}: {wait:?}"
        );
        assert!(s.fake.comments(&s.pr).is_empty());
    }
}

#[tokio::test]
async fn github_primary_limit_waits_for_the_reset_without_calling_again() {
    let s = Setup::new(ForgeKind::GitHub);
    let forge = s.forge();
    let reset_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 3600;
    s.fake
        .fail_next("/labels", 1, Fault::PrimaryLimit { reset_epoch });
    let reset = UNIX_EPOCH + Duration::from_secs(reset_epoch);

    assert_eq!(
        forge.labels(&s.pr).await,
        Err(ForgeError::RateLimited { reset })
    );
    assert_eq!(s.fake.requests().len(), 1);
    assert_eq!(
        forge.bot_login().await,
        Err(ForgeError::RateLimited { reset })
    );
    assert_eq!(
        forge.labels(&s.pr).await,
        Err(ForgeError::RateLimited { reset })
    );
    assert_eq!(s.fake.requests().len(), 1, "no request before the reset");
}

#[tokio::test]
async fn client_errors_classify_by_status() {
    let cases = [
        (403, "forbidden"),
        (404, "not found"),
        (409, "conflict"),
        (422, "invalid"),
        (503, "transient"),
    ];
    for kind in FORGES {
        for (status, expected) in cases {
            let s = Setup::new(kind);
            let forge = s.forge();
            let message = "Resource not accessible by integration".to_string();
            s.fake
                .fail_next(&s.labels_read(&s.pr), 1, Fault::Status { status, message });
            let err = forge.labels(&s.pr).await.expect_err("an error status");
            let got = match err {
                ForgeError::Forbidden(_) => "forbidden",
                ForgeError::NotFound(_) => "not found",
                ForgeError::Conflict(_) => "conflict",
                ForgeError::Invalid(_) => "invalid",
                ForgeError::Transient { .. } => "transient",
                ForgeError::RateLimited { .. } => "rate limited",
                ForgeError::Permanent(_) => "permanent",
            };
            assert_eq!(got, expected, "{kind} {status}");
        }
    }
}

#[tokio::test]
async fn a_forge_slower_than_the_timeout_is_transient() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge_with_timeout(Duration::from_secs(1));
        let slow = s.labels_read(&s.pr);
        s.fake
            .fail_next(&slow, 1, Fault::Delay(Duration::from_secs(10)));

        let started = Instant::now();
        let err = forge.labels(&s.pr).await.expect_err("timed out");
        assert!(
            matches!(err, ForgeError::Transient { .. }),
            "{kind}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{kind}: {:?}",
            started.elapsed()
        );
        assert_eq!(
            s.fake.count_requests("GET", &slow),
            1,
            "{kind}: the slow call was made"
        );
    }
}

#[tokio::test]
async fn calls_in_flight_never_exceed_the_cap_per_credential() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let url = s.fake.url();
        let forge: Box<dyn Forge> = match kind {
            ForgeKind::GitHub => Box::new(
                GitHubForge::new(&url, Some("gh-token".into()))
                    .expect("GitHub client")
                    .with_max_concurrent_calls(2),
            ),
            ForgeKind::GitLab => Box::new(
                GitLabForge::new(&url, Some("gl-token".into()), true)
                    .expect("GitLab client")
                    .with_max_concurrent_calls(2),
            ),
        };
        // Build the GitLab client (its GET /user) before the burst.
        forge.labels(&s.pr).await.expect("labels");
        s.fake.clear_requests();
        s.fake.fail_every(
            &s.labels_read(&s.pr),
            1,
            vec![Fault::Delay(Duration::from_millis(300))],
        );
        let calls = (0..6).map(|_| forge.labels(&s.pr));
        let started = Instant::now();
        for result in futures::future::join_all(calls).await {
            result.expect("labels");
        }
        assert_eq!(s.fake.requests().len(), 6, "{kind}");
        assert_eq!(
            s.fake.most_requests_in_flight(),
            2,
            "{kind}: two at a time, no more and no fewer"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{kind}: six 300 ms calls two at a time take three rounds: {:?}",
            started.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The fake itself
// ---------------------------------------------------------------------------------------------

/// Other code may read the fake through octocrab's own strict models; they must deserialize.
#[tokio::test]
async fn fake_github_responses_fit_octocrab_models() {
    let s = Setup::new(ForgeKind::GitHub);
    let gh = octocrab::Octocrab::builder()
        .base_uri(s.fake.url())
        .expect("base uri")
        .personal_token("t".to_string())
        .build()
        .expect("client");
    let issues = gh.issues("org", "repo");
    let me = gh.current().user().await.expect("GET /user as Author");
    assert_eq!(me.login, "bosun-bot");
    let labels = issues
        .add_labels(7, &["lgtm".into(), "kind/bug".into()])
        .await
        .expect("POST labels as Vec<Label>");
    assert_eq!(labels.len(), 2);
    let page = issues
        .list_labels_for_issue(7)
        .send()
        .await
        .expect("GET labels as Page<Label>");
    assert_eq!(page.items.len(), 2);
    issues
        .remove_label(7, "kind/bug")
        .await
        .expect("DELETE label");
    let comment = issues
        .create_comment(7, "hello")
        .await
        .expect("POST comment as Comment");
    assert_eq!(comment.user.login, "bosun-bot");
    let edited = issues
        .update_comment(comment.id, "edited")
        .await
        .expect("PATCH comment as Comment");
    assert_eq!(edited.body.as_deref(), Some("edited"));
    let comments = issues
        .list_comments(7)
        .send()
        .await
        .expect("GET comments as Page<Comment>");
    assert_eq!(comments.items.len(), 1);
    assert!(s.fake.unrouted_requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The rest of the interface: reads
// ---------------------------------------------------------------------------------------------

impl Setup {
    /// The repository path as the item references carry it.
    fn repo(&self) -> RepoPath {
        self.pr.repo.clone()
    }

    /// The encoded API root of the repository.
    fn repo_api(&self) -> &'static str {
        match self.kind {
            ForgeKind::GitHub => "/repos/org/repo",
            ForgeKind::GitLab => "/api/v4/projects/group%2Fsub%2Fproject",
        }
    }

    /// Requests made since `before` (an index into the log).
    fn requests_since(&self, before: usize) -> Vec<RecordedRequest> {
        self.fake.requests().into_iter().skip(before).collect()
    }

    /// Sorted `METHOD path` lines of the API requests since `before`.
    fn calls_since(&self, before: usize) -> Vec<String> {
        self.requests_since(before)
            .into_iter()
            .filter(|r| !r.path.ends_with("/user"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

#[tokio::test]
async fn pull_request_reads_state_refs_and_people() {
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.ensure_user("carol");
        s.fake.ensure_user("dave");
        s.fake.set_labels(&s.pr, &["lgtm"]);
        let (head, base) = s.fake.update_item(&s.pr, |i| {
            i.title = "Fix the flake".into();
            i.draft = true;
            i.head_ref = "fix/flake".into();
            i.assignees = vec!["carol".into()];
            i.requested_reviewers = vec!["dave".into()];
            (i.head_sha.clone(), i.base_sha.clone())
        });
        let forge = s.forge();
        let pr = forge.pull_request(&s.pr).await.expect("read");
        assert_eq!(pr.author, Login::new("alice"), "{kind}");
        assert_eq!(pr.state, ItemState::Open, "{kind}");
        assert!(pr.draft, "{kind}");
        assert_eq!(pr.title, "Fix the flake", "{kind}");
        assert_eq!((pr.head_sha, pr.base_sha), (head, base), "{kind}");
        assert_eq!(
            (pr.head_ref.as_str(), pr.base_ref.as_str()),
            ("fix/flake", "main"),
            "{kind}"
        );
        assert_eq!(pr.labels, ["lgtm"], "{kind}");
        assert_eq!(pr.assignees, [Login::new("carol")], "{kind}");
        assert_eq!(pr.requested_reviewers, [Login::new("dave")], "{kind}");
        let r = s.last_request();
        let path = match kind {
            ForgeKind::GitHub => "/repos/org/repo/pulls/7".to_string(),
            ForgeKind::GitLab => s.item_path(&s.pr),
        };
        assert_eq!((r.method.as_str(), r.path), ("GET", path), "{kind}");

        s.fake.update_item(&s.pr, |i| i.state = ItemState::Merged);
        let pr = forge.pull_request(&s.pr).await.expect("read");
        assert_eq!(pr.state, ItemState::Merged, "{kind}");

        let err = forge.pull_request(&s.issue).await.expect_err("an issue");
        assert!(
            matches!(err, ForgeError::NotFound(_) | ForgeError::Invalid(_)),
            "{kind}: {err:?}"
        );
    }
}

#[tokio::test]
async fn changed_files_reads_every_page_with_counts_and_renames() {
    for kind in FORGES {
        let s = Setup::new(kind);
        // Past GitHub's 300-file first listing and several pages of 100.
        let mut files: Vec<fake_forge::ChangedFile> = (0..350)
            .map(|i| fake_forge::ChangedFile {
                path: format!("pkg/file{i:03}.go"),
                previous_path: None,
                additions: i % 7,
                deletions: i % 3,
            })
            .collect();
        files[0].previous_path = Some("old/file000.go".into());
        files[0].additions = 2;
        files[0].deletions = 1;
        s.fake
            .update_item(&s.pr, |i| i.changed_files = files.clone());
        let forge = s.forge();
        let before = s.fake.requests().len();

        let got = forge.changed_files(&s.pr).await.expect("files");
        assert_eq!(got.len(), 350, "{kind}");
        for (want, got) in files.iter().zip(&got) {
            assert_eq!(got.path, want.path, "{kind}");
            assert_eq!(
                (got.additions, got.deletions),
                (want.additions, want.deletions),
                "{kind}: {}",
                want.path
            );
        }
        assert_eq!(
            got[0].previous_path.as_deref(),
            Some("old/file000.go"),
            "{kind}"
        );
        assert_eq!(got[1].previous_path, None, "{kind}");

        let pages: Vec<RecordedRequest> = s
            .requests_since(before)
            .into_iter()
            .filter(|r| !r.path.ends_with("/user"))
            .collect();
        assert_eq!(pages.len(), 4, "{kind}: four pages of 100");
        let suffix = if kind == ForgeKind::GitHub {
            "/pulls/7/files"
        } else {
            "/merge_requests/7/diffs"
        };
        assert!(
            pages
                .iter()
                .all(|r| r.method == "GET" && r.path.ends_with(suffix)),
            "{kind}: {pages:?}"
        );
        assert!(
            pages.iter().all(|r| r.auth().is_some()),
            "{kind}: every page authenticated"
        );
    }
}

#[tokio::test]
async fn file_content_reads_bytes_at_a_ref_and_none_when_missing() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.repo();
        let binary: &[u8] = &[0, 159, 146, 150, 255];
        let old = s.fake.seed_commit(
            kind,
            repo.as_str(),
            &[("dir/OWNERS", b"approvers:\n- alice\n")],
        );
        let new = s.fake.seed_commit(
            kind,
            repo.as_str(),
            &[("dir/OWNERS", b"approvers:\n- bob\n"), ("logo.bin", binary)],
        );
        s.fake.set_ref(kind, repo.as_str(), "main", &old);
        s.fake.set_ref(kind, repo.as_str(), "feature/x", &new);
        let forge = s.forge();

        let got = forge
            .file_content(&repo, "dir/OWNERS", "main")
            .await
            .expect("read");
        assert_eq!(
            got.as_deref(),
            Some(&b"approvers:\n- alice\n"[..]),
            "{kind}"
        );
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(
                    (r.method.as_str(), r.path.as_str()),
                    ("GET", "/repos/org/repo/contents/dir/OWNERS")
                );
                assert!(
                    r.header("accept")
                        .is_some_and(|a| a.contains("vnd.github.raw")),
                    "{r:?}"
                );
            }
            ForgeKind::GitLab => assert_eq!(
                (r.method.as_str(), r.path.as_str()),
                (
                    "GET",
                    "/api/v4/projects/group%2Fsub%2Fproject/repository/files/dir%2FOWNERS/raw"
                )
            ),
        }
        assert!(
            r.query_pairs().contains(&("ref".into(), "main".into())),
            "{kind}: {r:?}"
        );

        let at_branch = forge
            .file_content(&repo, "dir/OWNERS", "feature/x")
            .await
            .expect("read");
        assert_eq!(
            at_branch.as_deref(),
            Some(&b"approvers:\n- bob\n"[..]),
            "{kind}"
        );
        let at_sha = forge
            .file_content(&repo, "logo.bin", &new)
            .await
            .expect("read");
        assert_eq!(at_sha.as_deref(), Some(binary), "{kind}: bytes, not text");
        assert_eq!(
            forge.file_content(&repo, "logo.bin", "main").await,
            Ok(None),
            "{kind}"
        );
        assert_eq!(
            forge.file_content(&repo, "nope/OWNERS", &new).await,
            Ok(None),
            "{kind}"
        );
    }
}

/// The OWNERS loader's moved base: one compare call lists what changed between two commits
/// (GitHub with blob SHAs, GitLab without), and says when the list cannot stand for the
/// whole difference.
#[tokio::test]
async fn compare_lists_added_removed_modified_and_renamed_files_in_one_call() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.repo();
        let before: Vec<(&str, &[u8])> = vec![
            ("OWNERS", b"approvers: [root]\n"),
            ("a/OWNERS", b"approvers: [alice]\n"),
            ("b/OWNERS", b"approvers: [bob]\n"),
            ("old/OWNERS", b"approvers: [olga]\n"),
            ("c/x.go", b"package c\n"),
        ];
        let after: Vec<(&str, &[u8])> = vec![
            ("OWNERS", b"approvers: [root]\n"),
            ("a/OWNERS", b"approvers: [alice, ann]\n"),
            ("new/OWNERS", b"approvers: [olga]\n"),
            ("c/x.go", b"package c\n"),
            ("d/OWNERS", b"approvers: [dora]\n"),
        ];
        let one = s.fake.seed_commit(kind, repo.as_str(), &before);
        let two = s.fake.seed_child_commit(kind, repo.as_str(), &one, &after);
        let forge = s.forge();
        let n = s.fake.requests().len();
        let diff = forge.compare(&repo, &one, &two).await.expect("compare");
        assert!(diff.complete, "{kind}");
        let mut got: Vec<(String, DiffStatus, Option<String>)> = diff
            .files
            .iter()
            .map(|f| (f.path.clone(), f.status, f.previous_path.clone()))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                ("a/OWNERS".into(), DiffStatus::Modified, None),
                ("b/OWNERS".into(), DiffStatus::Removed, None),
                ("d/OWNERS".into(), DiffStatus::Added, None),
                (
                    "new/OWNERS".into(),
                    DiffStatus::Renamed,
                    Some("old/OWNERS".into())
                ),
            ],
            "{kind}"
        );
        for f in &diff.files {
            let want = match (kind, f.status) {
                (ForgeKind::GitHub, DiffStatus::Removed) | (ForgeKind::GitLab, _) => None,
                (ForgeKind::GitHub, _) => after
                    .iter()
                    .find(|(p, _)| *p == f.path)
                    .map(|(_, c)| fake_forge::blob_sha(c)),
            };
            assert_eq!(f.sha, want, "{kind}: {}", f.path);
        }
        // (GitLab's client asks who it is once, when it is built.)
        let calls: Vec<RecordedRequest> = s
            .requests_since(n)
            .into_iter()
            .filter(|r| !r.path.ends_with("/user"))
            .collect();
        assert_eq!(calls.len(), 1, "{kind}: one call: {calls:?}");
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(
                    calls[0].path,
                    format!("/repos/org/repo/compare/{one}...{two}")
                );
            }
            ForgeKind::GitLab => {
                assert_eq!(
                    calls[0].path,
                    "/api/v4/projects/group%2Fsub%2Fproject/repository/compare"
                );
                let q = calls[0].query_pairs();
                for pair in [("from", one.as_str()), ("to", &two), ("straight", "true")] {
                    assert!(q.contains(&(pair.0.into(), pair.1.into())), "{q:?}");
                }
            }
        }

        // A history that is not a fast-forward: GitHub diffs from the merge base, so its list
        // is not the difference; GitLab's straight compare still is.
        let sibling = s
            .fake
            .seed_child_commit(kind, repo.as_str(), &one, &before[..4]);
        let diff = forge
            .compare(&repo, &two, &sibling)
            .await
            .expect("diverged");
        match kind {
            ForgeKind::GitHub => assert!(!diff.complete, "diverged"),
            ForgeKind::GitLab => {
                assert!(diff.complete);
                assert_eq!(diff.files.len(), 5, "{:?}", diff.files);
            }
        }
        let missing = forge.compare(&repo, &one, "no-such-commit").await;
        assert!(
            matches!(missing, Err(ForgeError::NotFound(_))),
            "{kind}: {missing:?}"
        );
    }
}

/// GitHub lists at most 300 files in a comparison: a list that long is not trusted.
#[tokio::test]
async fn github_compare_at_the_file_cap_is_incomplete() {
    let s = Setup::new(ForgeKind::GitHub);
    let repo = s.repo();
    let one = s
        .fake
        .seed_commit(ForgeKind::GitHub, repo.as_str(), &[("OWNERS", b"x")]);
    let contents: Vec<(String, Vec<u8>)> = (0..301)
        .map(|i| (format!("f{i}.txt"), vec![b'x'; 1]))
        .collect();
    let files: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let two = s
        .fake
        .seed_child_commit(ForgeKind::GitHub, repo.as_str(), &one, &files);
    let diff = s.forge().compare(&repo, &one, &two).await.expect("compare");
    assert_eq!(diff.files.len(), 300);
    assert!(!diff.complete);
}

#[tokio::test]
async fn tree_lists_every_entry_and_tree_shas_follow_content() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.repo();
        // More than a page of entries on GitLab (100 per page).
        let contents: Vec<(String, Vec<u8>)> = (0..120)
            .map(|i| {
                (
                    format!("dir{}/sub/file{i}.txt", i % 4),
                    format!("content {i}").into_bytes(),
                )
            })
            .chain([("OWNERS".to_string(), b"approvers: [alice]".to_vec())])
            .collect();
        let files: Vec<(&str, &[u8])> = contents
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_slice()))
            .collect();
        let one = s.fake.seed_commit(kind, repo.as_str(), &files);
        let same_content = s.fake.seed_commit(kind, repo.as_str(), &files);
        let mut changed = files.clone();
        changed[0].1 = b"changed";
        let other = s.fake.seed_commit(kind, repo.as_str(), &changed);
        s.fake.set_ref(kind, repo.as_str(), "main", &one);
        let forge = s.forge();

        let tree = forge.tree(&repo, "main").await.expect("tree");
        let (_, listing) = fake_forge::tree_listing(&contents.iter().cloned().collect());
        assert_eq!(
            tree.entries.len(),
            listing.len(),
            "{kind}: 121 blobs, 8 trees"
        );
        assert!(!tree.truncated, "{kind}");
        for (want, got) in listing.iter().zip(&tree.entries) {
            assert_eq!(
                (got.path.as_str(), got.sha.as_str()),
                (want.path.as_str(), want.sha.as_str()),
                "{kind}"
            );
            let kind_name = match got.kind {
                TreeEntryKind::Blob => "blob",
                TreeEntryKind::Tree => "tree",
                TreeEntryKind::Commit => "commit",
            };
            assert_eq!(kind_name, want.kind, "{kind}: {}", got.path);
        }
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(r.path, "/repos/org/repo/git/trees/main");
                assert!(r.query_pairs().contains(&("recursive".into(), "1".into())));
                assert_eq!(
                    tree.sha,
                    fake_forge::tree_sha(&contents.iter().cloned().collect())
                );
            }
            ForgeKind::GitLab => {
                assert_eq!(
                    r.path,
                    "/api/v4/projects/group%2Fsub%2Fproject/repository/tree"
                );
                assert!(
                    r.query_pairs()
                        .contains(&("recursive".into(), "true".into())),
                    "{r:?}"
                );
                assert!(
                    r.query_pairs().contains(&("page".into(), "2".into())),
                    "{kind}: the second page"
                );
            }
        }

        let sha_one = forge.commit_tree_sha(&repo, &one).await.expect("tree sha");
        assert_eq!(
            sha_one, tree.sha,
            "{kind}: the tree at main is commit one's tree"
        );
        assert_eq!(
            forge.commit_tree_sha(&repo, &same_content).await.as_ref(),
            Ok(&sha_one),
            "{kind}: same content"
        );
        assert_ne!(
            forge
                .commit_tree_sha(&repo, &other)
                .await
                .expect("tree sha"),
            sha_one,
            "{kind}: changed content"
        );
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => assert_eq!(r.path, format!("/repos/org/repo/git/commits/{other}")),
            ForgeKind::GitLab => assert!(
                r.query_pairs().contains(&("ref".into(), other.clone())),
                "{r:?}"
            ),
        }
        let missing = forge
            .tree(&repo, "no-such-branch")
            .await
            .expect_err("missing ref");
        assert!(
            matches!(missing, ForgeError::NotFound(_)),
            "{kind}: {missing:?}"
        );
    }
}

#[tokio::test]
async fn repo_labels_lists_every_label() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let names: Vec<String> = (0..130).map(|i| format!("area/{i}")).collect();
        s.fake.set_labels(
            &s.issue,
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let got = s.forge().repo_labels(&s.repo()).await.expect("labels");
        assert_eq!(got, names, "{kind}");
        assert_eq!(s.calls_since(0).len(), 2, "{kind}: two pages");
        assert!(
            s.calls_since(0)
                .iter()
                .all(|c| c.starts_with(&format!("GET {}/labels", s.repo_api()))),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn collaborators_are_repo_members_with_write_access_on_gitlab() {
    use fake_forge::access::{DEVELOPER, MAINTAINER, REPORTER};
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.repo();
        s.fake.add_member(kind, repo.as_str(), "dev", DEVELOPER);
        s.fake.add_member(kind, repo.as_str(), "reporter", REPORTER);
        // A maintainer of the group two levels up (GitLab inherits; GitHub has no such thing).
        s.fake
            .add_group_member(kind, "group", "inherited", MAINTAINER);
        s.fake.ensure_user("stranger");
        let forge = s.forge();
        let yes = |u: &str| Login::new(u);

        assert_eq!(
            forge.is_collaborator(&repo, &yes("dev")).await,
            Ok(true),
            "{kind}"
        );
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => assert_eq!(r.path, "/repos/org/repo/collaborators/dev"),
            ForgeKind::GitLab => {
                let id = s.fake.ensure_user("dev");
                assert_eq!(
                    r.path,
                    format!("/api/v4/projects/group%2Fsub%2Fproject/members/all/{id}")
                );
            }
        }
        // GitHub counts any collaborator; GitLab wants Developer or more.
        assert_eq!(
            forge.is_collaborator(&repo, &yes("reporter")).await,
            Ok(kind == ForgeKind::GitHub),
            "{kind}"
        );
        assert_eq!(
            forge.is_collaborator(&repo, &yes("inherited")).await,
            Ok(kind == ForgeKind::GitLab),
            "{kind}"
        );
        assert_eq!(
            forge.is_collaborator(&repo, &yes("stranger")).await,
            Ok(false),
            "{kind}"
        );
        assert_eq!(
            forge.is_collaborator(&repo, &yes("nobody-at-all")).await,
            Ok(false),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn org_and_team_membership() {
    use fake_forge::access::{DEVELOPER, GUEST};
    for kind in FORGES {
        let s = Setup::new(kind);
        s.fake.add_group_member(kind, "acme", "olive", DEVELOPER);
        s.fake
            .add_group_member(kind, "acme/reviewers", "tess", GUEST);
        s.fake.ensure_user("stranger");
        let forge = s.forge();
        let user = |u: &str| Login::new(u);

        assert_eq!(
            forge.is_org_member("acme", &user("olive")).await,
            Ok(true),
            "{kind}"
        );
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => assert_eq!(r.path, "/orgs/acme/members/olive"),
            ForgeKind::GitLab => {
                assert_eq!(r.path, "/api/v4/groups/acme/members/all");
                let id = s.fake.ensure_user("olive");
                assert!(
                    r.query_pairs()
                        .contains(&("user_ids[]".into(), id.to_string())),
                    "{r:?}"
                );
            }
        }
        assert_eq!(
            forge.is_org_member("acme", &user("stranger")).await,
            Ok(false),
            "{kind}"
        );
        assert_eq!(
            forge.is_org_member("no-such-org", &user("olive")).await,
            Ok(false),
            "{kind}"
        );

        assert_eq!(
            forge
                .is_team_member("acme", "reviewers", &user("tess"))
                .await,
            Ok(true),
            "{kind}"
        );
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => assert_eq!(r.path, "/orgs/acme/teams/reviewers/memberships/tess"),
            ForgeKind::GitLab => assert_eq!(r.path, "/api/v4/groups/acme%2Freviewers/members/all"),
        }
        assert_eq!(
            forge
                .is_team_member("acme", "reviewers", &user("stranger"))
                .await,
            Ok(false),
            "{kind}"
        );
        // GitLab subgroups inherit the parent group's members; GitHub teams do not.
        assert_eq!(
            forge
                .is_team_member("acme", "reviewers", &user("olive"))
                .await,
            Ok(kind == ForgeKind::GitLab),
            "{kind}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The rest of the interface: writes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_label_creates_once_and_an_existing_label_is_not_an_error() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.repo();
        let forge = s.forge();
        assert_eq!(
            forge.create_label(&repo, "needs-rebase", "#e11d21").await,
            Ok(()),
            "{kind}"
        );
        let labels = s.fake.repo_labels(kind, repo.as_str());
        assert_eq!(labels.len(), 1, "{kind}");
        assert_eq!(
            (labels[0].name.as_str(), labels[0].color.as_str()),
            ("needs-rebase", "e11d21"),
            "{kind}"
        );
        let r = s.last_request();
        assert_eq!(
            (r.method.as_str(), r.path.clone()),
            ("POST", format!("{}/labels", s.repo_api())),
            "{kind}"
        );
        match kind {
            ForgeKind::GitHub => assert_eq!(
                r.json(),
                Some(json!({"name": "needs-rebase", "color": "e11d21"}))
            ),
            ForgeKind::GitLab => {
                assert_eq!(r.form_field("name").as_deref(), Some("needs-rebase"));
                assert_eq!(r.form_field("color").as_deref(), Some("#e11d21"));
            }
        }

        assert_eq!(
            forge.create_label(&repo, "Needs-Rebase", "e11d21").await,
            Ok(()),
            "{kind}: exists"
        );
        assert_eq!(
            s.last_request().status,
            Some(if kind == ForgeKind::GitHub { 422 } else { 409 }),
            "{kind}"
        );
        assert_eq!(s.fake.repo_labels(kind, repo.as_str()).len(), 1, "{kind}");
        let bad = forge.create_label(&repo, "x", "not-a-colour").await;
        assert!(
            matches!(bad, Err(ForgeError::Invalid(_))),
            "{kind}: {bad:?}"
        );
    }
}

#[tokio::test]
async fn delete_comment_deletes_and_a_deleted_comment_is_not_an_error() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        for item in [&s.pr, &s.issue] {
            let keep = forge.create_comment(item, "keep").await.expect("created");
            let id = forge
                .create_comment(item, "delete me")
                .await
                .expect("created");
            assert_eq!(forge.delete_comment(item, id).await, Ok(()), "{kind}");
            let left: Vec<u64> = s.fake.comments(item).iter().map(|c| c.id).collect();
            assert_eq!(left, [keep], "{kind}");
            let r = s.last_request();
            let path = match kind {
                ForgeKind::GitHub => format!("/repos/org/repo/issues/comments/{id}"),
                ForgeKind::GitLab => format!("{}/notes/{id}", s.item_path(item)),
            };
            assert_eq!(
                (r.method.as_str(), r.path, r.status),
                ("DELETE", path, Some(204)),
                "{kind}"
            );
            assert_eq!(
                forge.delete_comment(item, id).await,
                Ok(()),
                "{kind}: already gone"
            );
            assert_eq!(s.last_request().status, Some(404), "{kind}");
        }
    }
}

/// issue 12 item 5: GitHub answers who can be assigned (`GET …/assignees/{user}`: 204 or
/// 404), and skips the others and everyone beyond 10 when assigning; GitLab's answer is
/// membership.
#[tokio::test]
async fn github_answers_who_can_be_assigned_and_skips_the_rest() {
    let s = Setup::new(ForgeKind::GitHub);
    for u in ["triager", "stranger"] {
        s.fake.ensure_user(u);
    }
    s.fake.add_assignable("org/repo", "triager");
    let forge = s.forge();
    let repo = s.pr.repo.clone();
    let before = s.fake.requests().len();
    assert_eq!(
        forge.can_be_assigned(&repo, &Login::new("triager")).await,
        Ok(true)
    );
    assert_eq!(
        s.calls_since(before),
        ["GET /repos/org/repo/assignees/triager".to_string()]
    );
    assert_eq!(
        forge.can_be_assigned(&repo, &Login::new("stranger")).await,
        Ok(false)
    );
    let users: Vec<Login> = ["triager", "stranger"].map(Login::new).to_vec();
    assert_eq!(
        forge.assign(&s.issue, &users).await,
        Ok(vec![Login::new("stranger")]),
        "the answer leaves out whom GitHub skipped"
    );
    assert_eq!(s.fake.item(&s.issue).assignees, ["triager"]);
    let many: Vec<String> = (0..12).map(|i| format!("user{i}")).collect();
    for u in &many {
        s.fake.add_assignable("org/repo", u);
    }
    let many: Vec<Login> = many.iter().map(|u| Login::new(u)).collect();
    assert_eq!(
        forge.assign(&s.issue, &many).await,
        Ok(many[9..].to_vec()),
        "triager and 9 more fit"
    );
    assert_eq!(s.fake.item(&s.issue).assignees.len(), 10, "GitHub's cap");
}

/// issue 12 item 5: both adapters read the write's answer. A user every read accepts but the
/// forge leaves out when assigning or requesting a review (a race, a cap reached meanwhile) is
/// returned as missing; the others are not, and neither are those already there.
#[tokio::test]
async fn assign_and_review_requests_return_whom_the_answer_leaves_out() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.pr.repo.as_str().to_string();
        for u in ["carol", "dave", "erin"] {
            s.fake
                .add_member(kind, &repo, u, fake_forge::access::DEVELOPER);
        }
        s.fake.drop_at_write(kind, &repo, "dave");
        let forge = s.forge();
        s.fake
            .update_item(&s.pr, |i| i.assignees = vec!["erin".into()]);
        let asked: Vec<Login> = ["carol", "Dave", "erin"].map(Login::new).to_vec();
        assert_eq!(
            forge.assign(&s.pr, &asked).await,
            Ok(vec![Login::new("Dave")]),
            "{kind}"
        );
        let mut assignees = s.fake.item(&s.pr).assignees;
        assignees.sort();
        assert_eq!(assignees, ["carol", "erin"], "{kind}");
        assert_eq!(
            forge.request_reviewers(&s.pr, &asked, &[]).await,
            Ok(vec![Login::new("Dave")]),
            "{kind}"
        );
        assert_eq!(
            s.fake.item(&s.pr).requested_reviewers,
            ["carol", "erin"],
            "{kind}"
        );
    }
}

/// GitHub refuses a whole review request when one name is not a collaborator (422); bosun
/// then asks for each reviewer alone, as Prow does, and names the ones refused.
#[tokio::test]
async fn a_review_request_github_refuses_is_asked_one_reviewer_at_a_time() {
    let s = Setup::new(ForgeKind::GitHub);
    let repo = s.pr.repo.as_str().to_string();
    s.fake.add_member(
        ForgeKind::GitHub,
        &repo,
        "carol",
        fake_forge::access::DEVELOPER,
    );
    s.fake.ensure_user("stranger");
    let forge = s.forge();
    let asked: Vec<Login> = ["carol", "stranger"].map(Login::new).to_vec();
    assert_eq!(
        forge.request_reviewers(&s.pr, &asked, &[]).await,
        Ok(vec![Login::new("stranger")])
    );
    assert_eq!(s.fake.item(&s.pr).requested_reviewers, ["carol"]);
    assert_eq!(
        s.fake.count_requests("POST", "requested_reviewers"),
        3,
        "the refused batch, then one per reviewer"
    );
}

#[tokio::test]
async fn assign_and_unassign_keep_the_other_assignees() {
    for kind in FORGES {
        let s = Setup::new(kind);
        for u in ["carol", "dave"] {
            s.fake.ensure_user(u);
            s.fake.add_assignable("org/repo", u);
        }
        let forge = s.forge();
        for item in [s.pr.clone(), s.issue.clone()] {
            s.fake
                .update_item(&item, |i| i.assignees = vec!["carol".into()]);
            let before = s.fake.requests().len();
            assert_eq!(
                forge.assign(&item, &[Login::new("dave")]).await,
                Ok(vec![]),
                "{kind}"
            );
            assert_eq!(s.fake.item(&item).assignees, ["carol", "dave"], "{kind}");
            let r = s.last_request();
            match kind {
                ForgeKind::GitHub => {
                    assert_eq!(
                        s.calls_since(before),
                        [format!(
                            "POST /repos/org/repo/issues/{}/assignees",
                            item.number
                        )]
                    );
                    assert_eq!(r.json(), Some(json!({"assignees": ["dave"]})));
                }
                ForgeKind::GitLab => {
                    // Read-modify-write of the id list: the item, the user lookup (only the
                    // first time: ids are cached), the edit.
                    let path = s.item_path(&item);
                    let mut want = vec![
                        format!("GET {path}"),
                        "GET /api/v4/users".to_string(),
                        format!("PUT {path}"),
                    ];
                    if item.kind == bosun_plugins::ItemKind::Issue {
                        want.remove(1);
                    }
                    assert_eq!(s.calls_since(before), want);
                    let ids = [s.fake.ensure_user("carol"), s.fake.ensure_user("dave")]
                        .map(|i| i.to_string());
                    assert_eq!(r.form_values("assignee_ids[]"), ids, "{r:?}");
                }
            }

            assert_eq!(
                forge.unassign(&item, &[Login::new("carol")]).await,
                Ok(()),
                "{kind}"
            );
            assert_eq!(s.fake.item(&item).assignees, ["dave"], "{kind}");
            let r = s.last_request();
            if kind == ForgeKind::GitHub {
                assert_eq!(
                    (r.method.as_str(), r.json()),
                    ("DELETE", Some(json!({"assignees": ["carol"]})))
                );
            }
            assert_eq!(
                forge.unassign(&item, &[Login::new("dave")]).await,
                Ok(()),
                "{kind}"
            );
            assert!(s.fake.item(&item).assignees.is_empty(), "{kind}");
            if kind == ForgeKind::GitLab {
                let r = s.last_request();
                let cleared = r
                    .form_field("assignee_ids")
                    .or_else(|| r.form_field("assignee_ids[]"));
                assert_eq!(cleared.as_deref(), Some("0"), "{r:?}");
                // An unknown user changes nothing, so nothing is written.
                let before = s.fake.requests().len();
                assert_eq!(
                    forge.assign(&item, &[Login::new("ghost-user")]).await,
                    Ok(vec![Login::new("ghost-user")]),
                    "GitLab cannot assign an unknown user"
                );
                assert!(
                    s.calls_since(before).iter().all(|c| c.starts_with("GET")),
                    "{:?}",
                    s.calls_since(before)
                );
            }
        }
    }
}

#[tokio::test]
async fn request_and_unrequest_reviewers() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.pr.repo.as_str().to_string();
        for u in ["carol", "dave"] {
            s.fake.ensure_user(u);
            // GitHub asks only collaborators for reviews.
            s.fake
                .add_member(kind, &repo, u, fake_forge::access::REPORTER);
        }
        let forge = s.forge();
        let teams = vec!["core".to_string()];
        assert_eq!(
            forge
                .request_reviewers(&s.pr, &[Login::new("carol"), Login::new("dave")], &teams)
                .await,
            Ok(vec![]),
            "{kind}"
        );
        let pr = s.fake.item(&s.pr);
        assert_eq!(pr.requested_reviewers, ["carol", "dave"], "{kind}");
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(
                    (r.method.as_str(), r.path.as_str()),
                    ("POST", "/repos/org/repo/pulls/7/requested_reviewers")
                );
                assert_eq!(
                    r.json(),
                    Some(json!({"reviewers": ["carol", "dave"], "team_reviewers": ["core"]}))
                );
                assert_eq!(pr.requested_teams, ["core"]);
            }
            ForgeKind::GitLab => {
                assert_eq!(
                    (r.method.as_str(), r.path.clone()),
                    ("PUT", s.item_path(&s.pr))
                );
                assert_eq!(r.form_values("reviewer_ids[]").len(), 2, "{r:?}");
                assert!(
                    pr.requested_teams.is_empty(),
                    "GitLab has no team reviewers"
                );
            }
        }
        assert_eq!(
            forge
                .unrequest_reviewers(&s.pr, &[Login::new("carol")], &teams)
                .await,
            Ok(()),
            "{kind}"
        );
        assert_eq!(s.fake.item(&s.pr).requested_reviewers, ["dave"], "{kind}");
        if kind == ForgeKind::GitHub {
            let r = s.last_request();
            assert_eq!(
                (r.method.as_str(), r.json()),
                (
                    "DELETE",
                    Some(json!({"reviewers": ["carol"], "team_reviewers": ["core"]}))
                )
            );
        }
        assert_eq!(
            forge
                .unrequest_reviewers(&s.pr, &[Login::new("dave")], &[])
                .await,
            Ok(()),
            "{kind}"
        );
        assert!(s.fake.item(&s.pr).requested_reviewers.is_empty(), "{kind}");

        // Issues have no reviewers: refused before any request.
        let before = s.fake.requests().len();
        let err = forge
            .request_reviewers(&s.issue, &[Login::new("carol")], &[])
            .await;
        assert!(
            matches!(err, Err(ForgeError::Invalid(_))),
            "{kind}: {err:?}"
        );
        assert_eq!(s.fake.requests().len(), before, "{kind}");
    }
}

#[tokio::test]
async fn set_title_close_and_reopen() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        for item in [&s.pr, &s.issue] {
            assert_eq!(
                forge.set_title(item, "[WIP] New title").await,
                Ok(()),
                "{kind}"
            );
            assert_eq!(s.fake.item(item).title, "[WIP] New title", "{kind}");
            let r = s.last_request();
            match kind {
                ForgeKind::GitHub => {
                    assert_eq!(
                        (r.method.as_str(), r.path.clone()),
                        ("PATCH", s.item_path(item))
                    );
                    assert_eq!(r.json(), Some(json!({"title": "[WIP] New title"})));
                }
                ForgeKind::GitLab => {
                    assert_eq!(
                        (r.method.as_str(), r.path.clone()),
                        ("PUT", s.item_path(item))
                    );
                    assert_eq!(r.form_field("title").as_deref(), Some("[WIP] New title"));
                }
            }

            assert_eq!(forge.close(item, None).await, Ok(()), "{kind}");
            assert_eq!(s.fake.item(item).state, ItemState::Closed, "{kind}");
            let default_reason = (kind == ForgeKind::GitHub).then(|| "completed".to_string());
            assert_eq!(s.fake.item(item).state_reason, default_reason, "{kind}");
            let r = s.last_request();
            match kind {
                ForgeKind::GitHub => assert_eq!(r.json(), Some(json!({"state": "closed"}))),
                ForgeKind::GitLab => {
                    assert_eq!(r.form_field("state_event").as_deref(), Some("close"))
                }
            }
            assert_eq!(
                forge.close(item, None).await,
                Ok(()),
                "{kind}: closing again is harmless"
            );
            assert_eq!(forge.reopen(item).await, Ok(()), "{kind}");
            assert_eq!(s.fake.item(item).state, ItemState::Open, "{kind}");
            let r = s.last_request();
            match kind {
                ForgeKind::GitHub => assert_eq!(r.json(), Some(json!({"state": "open"}))),
                ForgeKind::GitLab => {
                    assert_eq!(r.form_field("state_event").as_deref(), Some("reopen"))
                }
            }
        }
    }
}

/// Prow lifecycle: `/close not-planned` closes with GitHub's `state_reason: not_planned`;
/// GitLab has no reason and closes plainly.
#[tokio::test]
async fn close_sends_the_reason_where_the_forge_records_one() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        let item = &s.pr;
        let reason = Some(bosun_plugins::forge::CloseReason::NotPlanned);
        assert_eq!(forge.close(item, reason).await, Ok(()), "{kind}");
        assert_eq!(s.fake.item(item).state, ItemState::Closed, "{kind}");
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(
                    r.json(),
                    Some(json!({"state": "closed", "state_reason": "not_planned"}))
                );
                assert_eq!(
                    s.fake.item(item).state_reason.as_deref(),
                    Some("not_planned")
                );
            }
            ForgeKind::GitLab => {
                assert_eq!(r.form_field("state_event").as_deref(), Some("close"));
                assert_eq!(s.fake.item(item).state_reason, None);
            }
        }
    }
}

#[tokio::test]
async fn merge_uses_the_method_and_refuses_a_moved_head() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let forge = s.forge();
        let head = s.fake.item(&s.pr).head_sha;

        let moved = forge
            .merge(
                &s.pr,
                MergeMethod::Squash,
                Some("0000000000000000000000000000000000000000"),
                None,
            )
            .await;
        assert!(
            matches!(moved, Err(ForgeError::Conflict(_))),
            "{kind}: {moved:?}"
        );
        assert_eq!(s.last_request().status, Some(409), "{kind}");
        assert_eq!(s.fake.item(&s.pr).state, ItemState::Open, "{kind}");

        s.fake.update_item(&s.pr, |i| i.mergeable = false);
        let refused = forge.merge(&s.pr, MergeMethod::Merge, None, None).await;
        assert!(
            matches!(refused, Err(ForgeError::Conflict(_))),
            "{kind}: {refused:?}"
        );
        s.fake.update_item(&s.pr, |i| i.mergeable = true);

        let commit = bosun_plugins::CommitMessage {
            title: "Add the thing (#7)".into(),
            body: "Why it is needed.".into(),
        };
        assert_eq!(
            forge
                .merge(&s.pr, MergeMethod::Squash, Some(&head), Some(&commit))
                .await,
            Ok(()),
            "{kind}"
        );
        let pr = s.fake.item(&s.pr);
        assert_eq!(
            (pr.state, pr.merged_with.as_deref()),
            (ItemState::Merged, Some("squash")),
            "{kind}"
        );
        let r = s.last_request();
        match kind {
            ForgeKind::GitHub => {
                assert_eq!(
                    (r.method.as_str(), r.path.as_str()),
                    ("PUT", "/repos/org/repo/pulls/7/merge")
                );
                assert_eq!(
                    r.json(),
                    Some(json!({
                        "merge_method": "squash", "sha": head,
                        "commit_title": "Add the thing (#7)",
                        "commit_message": "Why it is needed.",
                    }))
                );
            }
            ForgeKind::GitLab => {
                assert_eq!(
                    (r.method.as_str(), r.path.clone()),
                    ("PUT", format!("{}/merge", s.item_path(&s.pr)))
                );
                assert_eq!(r.form_field("squash").as_deref(), Some("true"));
                assert_eq!(r.form_field("sha"), Some(head.clone()));
                assert_eq!(
                    r.form_field("squash_commit_message").as_deref(),
                    Some("Add the thing (#7)\n\nWhy it is needed.")
                );
            }
        }
        let again = forge.merge(&s.pr, MergeMethod::Merge, None, None).await;
        assert!(
            matches!(again, Err(ForgeError::Conflict(_))),
            "{kind}: already merged: {again:?}"
        );
    }

    // GitHub rebases on request; GitLab has no per-merge rebase and says so without a request.
    let s = Setup::new(ForgeKind::GitHub);
    assert_eq!(
        s.forge()
            .merge(&s.pr, MergeMethod::Rebase, None, None)
            .await,
        Ok(())
    );
    assert_eq!(s.fake.item(&s.pr).merged_with.as_deref(), Some("rebase"));
    let s = Setup::new(ForgeKind::GitLab);
    let rebase = s
        .forge()
        .merge(&s.pr, MergeMethod::Rebase, None, None)
        .await;
    assert!(matches!(rebase, Err(ForgeError::Invalid(_))), "{rebase:?}");
    assert!(s.api_requests().is_empty());
    // A draft MR cannot be merged (405), nor one with conflicts (406).
    s.fake.update_item(&s.pr, |i| i.draft = true);
    let draft = s.forge().merge(&s.pr, MergeMethod::Merge, None, None).await;
    assert!(matches!(draft, Err(ForgeError::Conflict(_))), "{draft:?}");
    assert_eq!(s.last_request().status, Some(405));
}

#[tokio::test]
async fn set_status_maps_states_per_forge() {
    for kind in FORGES {
        let s = Setup::new(kind);
        let repo = s.repo();
        let forge = s.forge();
        let sha = s.fake.item(&s.pr).head_sha;
        let cases = [
            (StatusState::Pending, "pending", "pending"),
            (StatusState::Success, "success", "success"),
            (StatusState::Failure, "failure", "failed"),
            (StatusState::Error, "error", "failed"),
        ];
        for (state, github, gitlab) in cases {
            let status = CommitStatus {
                state,
                context: "bosun/lgtm".into(),
                description: "Looks good".into(),
                target_url: Some("https://bosun.example/d/1".into()),
            };
            assert_eq!(
                forge.set_status(&repo, &sha, &status).await,
                Ok(()),
                "{kind}"
            );
            let want = if kind == ForgeKind::GitHub {
                github
            } else {
                gitlab
            };
            let stored = s
                .fake
                .statuses(kind, repo.as_str())
                .pop()
                .expect("a status");
            assert_eq!(
                (
                    stored.sha.as_str(),
                    stored.state.as_str(),
                    stored.context.as_str()
                ),
                (sha.as_str(), want, "bosun/lgtm"),
                "{kind}"
            );
            assert_eq!(
                stored.target_url.as_deref(),
                Some("https://bosun.example/d/1"),
                "{kind}"
            );
            let r = s.last_request();
            assert_eq!(
                (r.method.as_str(), r.path.clone()),
                ("POST", format!("{}/statuses/{sha}", s.repo_api())),
                "{kind}"
            );
            match kind {
                ForgeKind::GitHub => assert_eq!(
                    r.json(),
                    Some(
                        json!({"state": github, "context": "bosun/lgtm", "description": "Looks good", "target_url": "https://bosun.example/d/1"})
                    )
                ),
                ForgeKind::GitLab => {
                    assert_eq!(r.form_field("state").as_deref(), Some(gitlab));
                    assert_eq!(r.form_field("name").as_deref(), Some("bosun/lgtm"));
                }
            }
        }
    }
}

#[tokio::test]
async fn gitlab_raw_reads_and_deletes_keep_the_rate_limit_wait() {
    let s = Setup::new(ForgeKind::GitLab);
    let repo = s.repo();
    let forge = s.forge();
    s.fake.fail_next(
        "/repository/files/",
        1,
        Fault::TooManyRequests {
            retry_after_secs: 30,
        },
    );
    let err = forge
        .file_content(&repo, "OWNERS", "main")
        .await
        .expect_err("429");
    let wait = err.retry_after().expect("a wait");
    assert!(
        wait > Duration::from_secs(28) && wait <= Duration::from_secs(30),
        "{err:?}"
    );
    let gated = forge.delete_comment(&s.pr, 1).await;
    assert!(
        matches!(gated, Err(ForgeError::RateLimited { .. })),
        "{gated:?}"
    );

    let s = Setup::new(ForgeKind::GitLab);
    let forge = s.forge();
    s.fake.fail_next("/notes/", 1, Fault::Status500);
    let err = forge.delete_comment(&s.pr, 1).await.expect_err("500");
    assert!(matches!(err, ForgeError::Transient { .. }), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// GitHub App authentication
// ---------------------------------------------------------------------------------------------

const APP_ID: u64 = 4242;

/// A fake GitHub with the App installed on `org` (installation 77) and an App adapter.
fn app_setup() -> (Setup, GitHubForge) {
    let s = Setup::new(ForgeKind::GitHub);
    s.fake
        .enable_github_app(APP_ID, "bosun-app", fake_forge::TEST_APP_PUBLIC_KEY_PEM);
    s.fake.install_github_app("org", 77);
    let forge = GitHubForge::new_app(
        &s.fake.url(),
        APP_ID,
        fake_forge::TEST_APP_PRIVATE_KEY_PEM.as_bytes(),
    )
    .expect("App client")
    .with_timeout(Duration::from_secs(10));
    (s, forge)
}

/// The claims of the JWT a request carried.
fn jwt_claims(r: &RecordedRequest) -> serde_json::Value {
    let token = r
        .auth()
        .and_then(|a| a.strip_prefix("Bearer "))
        .expect("a bearer token");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    let decode = |p: &str| -> serde_json::Value {
        let bytes = base64url(p);
        serde_json::from_slice(&bytes).expect("JSON")
    };
    assert_eq!(decode(parts[0])["alg"], "RS256");
    decode(parts[1])
}

/// Decodes unpadded base64url (JWT segments).
fn base64url(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            other => panic!("not base64url: {other}"),
        }
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        acc = (acc << 6) | value(c);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[tokio::test]
async fn github_app_finds_the_installation_mints_a_token_and_reuses_it() {
    let (s, forge) = app_setup();
    s.fake.set_labels(&s.pr, &["lgtm"]);

    assert_eq!(forge.labels(&s.pr).await, Ok(vec!["lgtm".to_string()]));
    let log = s.fake.requests();
    let calls: Vec<String> = log
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /repos/org/repo/installation",
            "POST /app/installations/77/access_tokens",
            "GET /repos/org/repo/issues/7/labels",
        ]
    );
    for jwt_request in &log[..2] {
        let claims = jwt_claims(jwt_request);
        assert_eq!(claims["iss"], json!(APP_ID), "{claims}");
        let lifetime = claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0);
        assert!(lifetime <= 660, "{claims}");
    }
    let tokens = s.fake.minted_tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        log[2].auth(),
        Some(format!("Bearer {}", tokens[0].token).as_str())
    );

    // Later calls reuse the installation and the token: one token request in all.
    forge
        .add_labels(&s.pr, &["approved".into()])
        .await
        .expect("added");
    assert!(
        forge
            .is_org_member("org", &Login::new("nobody"))
            .await
            .is_ok()
    );
    assert_eq!(s.fake.minted_tokens().len(), 1);
    assert_eq!(s.fake.count_requests("GET", "/installation"), 1);
    let last = s.last_request();
    assert_eq!(
        last.auth(),
        Some(format!("Bearer {}", tokens[0].token).as_str())
    );

    // The App's own login comes from GET /app with the JWT.
    assert_eq!(forge.bot_login().await, Ok(Login::new("bosun-app[bot]")));
    let r = s.last_request();
    assert_eq!(r.path, "/app");
    assert_eq!(jwt_claims(&r)["iss"], json!(APP_ID));
    assert!(s.fake.unrouted_requests().is_empty());
}

#[tokio::test]
async fn github_app_mints_a_new_token_when_the_cached_one_is_about_to_expire() {
    let (s, forge) = app_setup();
    // Inside octocrab's 30-second refresh margin from the start.
    s.fake.set_app_token_ttl(Duration::from_secs(20));
    forge.labels(&s.pr).await.expect("first call");
    forge.labels(&s.pr).await.expect("second call");
    let tokens = s.fake.minted_tokens();
    assert_eq!(tokens.len(), 2, "a token close to expiry is replaced");
    let label_reads: Vec<RecordedRequest> = s
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/labels"))
        .collect();
    assert_eq!(
        label_reads[1].auth(),
        Some(format!("Bearer {}", tokens[1].token).as_str())
    );
    assert_eq!(
        s.fake.count_requests("GET", "/installation"),
        1,
        "the installation is still cached"
    );

    // With an hour to go the token is kept.
    s.fake.set_app_token_ttl(Duration::from_secs(3600));
    forge.labels(&s.pr).await.expect("third call");
    forge.labels(&s.pr).await.expect("fourth call");
    assert_eq!(s.fake.minted_tokens().len(), 3);
}

#[tokio::test]
async fn github_app_uses_one_installation_per_account() {
    let (s, forge) = app_setup();
    s.fake.install_github_app("solo-dev", 88);
    s.fake
        .seed_pr(ForgeKind::GitHub, "solo-dev/tool", 1, "solo-dev");
    s.fake.add_group_member(
        ForgeKind::GitHub,
        "org",
        "olive",
        fake_forge::access::DEVELOPER,
    );

    let tool = ItemRef {
        repo: RepoPath::parse("solo-dev/tool").expect("repo"),
        number: 1,
        ..s.pr.clone()
    };
    forge.labels(&tool).await.expect("user-owned repo");
    forge.labels(&s.pr).await.expect("org repo");
    assert_eq!(
        forge.is_org_member("org", &Login::new("olive")).await,
        Ok(true)
    );
    let installations: Vec<u64> = s
        .fake
        .minted_tokens()
        .iter()
        .map(|t| t.installation)
        .collect();
    assert_eq!(installations, [88, 77], "one token per installation");
    assert_eq!(
        forge.is_org_member("solo-dev", &Login::new("olive")).await,
        Ok(false)
    );
    assert_eq!(
        s.fake.count_requests("GET", "/installation"),
        2,
        "both found through their repositories"
    );

    // An account bosun has seen no repository of: the org lookup, then the user lookup.
    s.fake.install_github_app("lonely", 99);
    assert_eq!(
        forge.is_org_member("lonely", &Login::new("olive")).await,
        Ok(false)
    );
    assert_eq!(s.fake.count_requests("GET", "/orgs/lonely/installation"), 1);
    assert_eq!(
        s.fake.count_requests("GET", "/users/lonely/installation"),
        1
    );
    assert_eq!(
        s.fake.minted_tokens().last().map(|t| t.installation),
        Some(99)
    );
}

#[tokio::test]
async fn github_app_not_installed_or_misidentified_is_refused() {
    let (s, forge) = app_setup();
    let elsewhere = ItemRef {
        repo: RepoPath::parse("other/repo").expect("repo"),
        ..s.pr.clone()
    };
    let err = forge.labels(&elsewhere).await.expect_err("not installed");
    assert!(
        matches!(&err, ForgeError::Forbidden(m) if m.contains("other")),
        "{err:?}"
    );
    // "Not installed" is an error, not "not a member"; the org is tried, then the user.
    let err = forge.is_org_member("stranger-org", &Login::new("x")).await;
    assert!(matches!(err, Err(ForgeError::Forbidden(_))), "{err:?}");
    assert_eq!(
        s.fake
            .count_requests("GET", "/orgs/stranger-org/installation"),
        1
    );
    assert_eq!(
        s.fake
            .count_requests("GET", "/users/stranger-org/installation"),
        1
    );

    // The wrong App id: GitHub rejects the JWT.
    let wrong = GitHubForge::new_app(
        &s.fake.url(),
        APP_ID + 1,
        fake_forge::TEST_APP_PRIVATE_KEY_PEM.as_bytes(),
    )
    .expect("client");
    let err = wrong.labels(&s.pr).await.expect_err("bad JWT");
    assert!(matches!(err, ForgeError::Forbidden(_)), "{err:?}");
    assert!(s.fake.minted_tokens().is_empty());

    assert!(matches!(
        GitHubForge::new_app(&s.fake.url(), APP_ID, b"not a key"),
        Err(ForgeError::Invalid(_))
    ));
}
