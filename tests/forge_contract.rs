//! One contract for both forge adapters: every `Forge`/`ForgeRead` method, run through the real
//! octocrab and gitlab clients against the fake forge, checking both the resulting world and
//! the request the fake received; then how each adapter classifies failures.

use bosun::forge::github::GitHubForge;
use bosun::forge::gitlab::GitLabForge;
use bosun_plugins::{Forge, ForgeError, ForgeKind, ForgeRead, ItemRef, Login};
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
