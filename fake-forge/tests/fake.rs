//! The fake's own behaviour that the adapter contract (bosun's `tests/forge_contract.rs`) does
//! not reach, over plain HTTP/1.1 so this crate needs no client library.

use fake_forge::{FakeForge, Fault, ForgeKind};
use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends one request and returns the status and the body.
fn send(
    fake: &FakeForge,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(fake.addr()).expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        fake.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(fake: &FakeForge, path: &str) -> (u16, String) {
    send(fake, "GET", path, "text/plain", "")
}

#[test]
fn an_unknown_route_is_404_and_reported() {
    let fake = FakeForge::start();
    assert_eq!(get(&fake, "/repos/o/r/deployments").0, 404);
    let unrouted = fake.unrouted_requests();
    assert_eq!(unrouted.len(), 1);
    assert_eq!(unrouted[0].path, "/repos/o/r/deployments");
    assert_eq!(unrouted[0].status, Some(404));
}

#[test]
fn a_fault_answers_exactly_n_matching_requests() {
    let fake = FakeForge::start();
    fake.seed_pr(ForgeKind::GitHub, "o/r", 1, "alice");
    fake.fail_next("/issues/1/labels", 2, Fault::Status500);
    let statuses: Vec<u16> = (0..3)
        .map(|_| get(&fake, "/repos/o/r/issues/1/labels").0)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(fake.count_requests("GET", "/issues/1/labels"), 3);

    fake.fail_next("/issues/1/labels", 5, Fault::Status500);
    fake.clear_faults();
    assert_eq!(get(&fake, "/repos/o/r/issues/1/labels").0, 200);
}

#[test]
fn gitlab_lists_notes_newest_first_unless_asked_otherwise() {
    let fake = FakeForge::start();
    let mr = fake.seed_pr(ForgeKind::GitLab, "g/p", 3, "alice");
    let first = fake.seed_comment(&mr, "alice", "one");
    let second = fake.seed_comment(&mr, "bob", "two");
    let ids = |body: &str| -> Vec<u64> {
        let notes: serde_json::Value = serde_json::from_str(body).expect("json");
        notes
            .as_array()
            .expect("an array")
            .iter()
            .filter_map(|n| n["id"].as_u64())
            .collect()
    };
    let path = "/api/v4/projects/g%2Fp/merge_requests/3/notes";
    assert_eq!(ids(&get(&fake, path).1), [second, first]);
    assert_eq!(
        ids(&get(&fake, &format!("{path}?sort=asc")).1),
        [first, second]
    );
}

#[test]
fn gitlab_label_edits_add_remove_and_replace() {
    let fake = FakeForge::start();
    let issue = fake.seed_issue(ForgeKind::GitLab, "g/p", 4, "alice");
    let path = "/api/v4/projects/g%2Fp/issues/4";
    let form = "application/x-www-form-urlencoded";
    assert_eq!(
        send(&fake, "PUT", path, form, "add_labels=a%2Cb%2Cc").0,
        200
    );
    assert_eq!(send(&fake, "PUT", path, form, "remove_labels=b").0, 200);
    assert_eq!(fake.labels(&issue), ["a", "c"]);
    assert_eq!(
        send(&fake, "PUT", path, "application/json", r#"{"labels":"x"}"#).0,
        200
    );
    assert_eq!(fake.labels(&issue), ["x"]);
    assert_eq!(send(&fake, "PUT", path, form, "").0, 400);
}

#[test]
fn github_paths_are_also_served_under_the_enterprise_prefix() {
    let fake = FakeForge::start();
    fake.set_bot(ForgeKind::GitHub, "robot");
    let (status, body) = get(&fake, "/api/v3/user");
    assert_eq!(status, 200);
    assert!(body.contains("\"login\":\"robot\""), "{body}");
}

fn get_with_auth(fake: &FakeForge, path: &str, auth: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(fake.addr()).expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: {auth}\r\n\r\n",
        fake.addr()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, response)
}

#[test]
fn a_periodic_fault_fires_on_every_nth_matching_request_cycling_its_faults() {
    let fake = FakeForge::start();
    fake.seed_pr(ForgeKind::GitHub, "o/r", 1, "alice");
    fake.fail_every(
        "/labels",
        3,
        vec![
            Fault::Status500,
            Fault::Status {
                status: 502,
                message: "bad gateway".into(),
            },
        ],
    );
    let statuses: Vec<u16> = (0..9)
        .map(|_| get(&fake, "/repos/o/r/issues/1/labels").0)
        .collect();
    assert_eq!(statuses, [200, 200, 500, 200, 200, 502, 200, 200, 500]);
    assert_eq!(get(&fake, "/user").0, 200, "other paths are not counted");
}

#[test]
fn a_rate_limit_answer_records_when_the_client_may_call_again() {
    let fake = FakeForge::start();
    fake.fail_next(
        "/user",
        1,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    assert_eq!(get(&fake, "/user").0, 429);
    assert_eq!(get(&fake, "/user").0, 200);
    let log = fake.requests();
    let answered = log[0].answered.expect("answered");
    assert_eq!(
        log[0].wait_until(),
        Some(answered + std::time::Duration::from_secs(7))
    );
    assert_eq!(log[1].wait_until(), None);
}

#[test]
fn app_endpoints_want_an_rs256_jwt_from_the_app() {
    let fake = FakeForge::start();
    fake.enable_github_app(1, "app", fake_forge::TEST_APP_PUBLIC_KEY_PEM);
    fake.install_github_app("o", 5);
    assert_eq!(get(&fake, "/app").0, 401, "no credentials");
    assert_eq!(get_with_auth(&fake, "/app", "Bearer not.a.jwt").0, 401);
    // An HS256 token (header {"alg":"HS256","typ":"JWT"}) is refused whatever it claims.
    let hs256 =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOjEsImlhdCI6MSwiZXhwIjo5OTk5OTk5OTk5fQ.c2ln";
    assert_eq!(
        get_with_auth(&fake, "/app", &format!("Bearer {hs256}")).0,
        401
    );
    assert_eq!(
        get(&fake, "/repos/o/r/installation").0,
        401,
        "installation lookups are App calls too"
    );
}

#[test]
fn installation_tokens_must_be_minted_by_the_fake() {
    let fake = FakeForge::start();
    fake.enable_github_app(1, "app", fake_forge::TEST_APP_PUBLIC_KEY_PEM);
    fake.seed_pr(ForgeKind::GitHub, "o/r", 1, "alice");
    let (status, body) = get_with_auth(&fake, "/repos/o/r/issues/1/labels", "Bearer ghs_made_up");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Bad credentials"), "{body}");
    assert_eq!(
        get_with_auth(&fake, "/repos/o/r/issues/1/labels", "Bearer personal-token").0,
        200,
        "other tokens are not checked"
    );
}

#[test]
fn gitlab_members_of_a_group_are_members_of_its_subgroups_and_projects() {
    use fake_forge::access::{DEVELOPER, REPORTER};
    let fake = FakeForge::start();
    fake.seed_repo(ForgeKind::GitLab, "g/sub/p");
    fake.add_group_member(ForgeKind::GitLab, "g", "gina", DEVELOPER);
    fake.add_group_member(ForgeKind::GitLab, "g/sub", "gina", REPORTER);
    fake.add_group_member(ForgeKind::GitLab, "g/sub", "sam", REPORTER);
    let gina = fake.ensure_user("gina");
    let sam = fake.ensure_user("sam");
    let (status, body) = get(
        &fake,
        &format!("/api/v4/projects/g%2Fsub%2Fp/members/all/{gina}"),
    );
    assert_eq!(status, 200);
    assert!(
        body.contains("\"access_level\":30"),
        "the higher level wins: {body}"
    );
    assert_eq!(
        get(
            &fake,
            &format!("/api/v4/projects/g%2Fsub%2Fp/members/{gina}")
        )
        .0,
        404,
        "not a direct member"
    );
    let (_, body) = get(
        &fake,
        &format!("/api/v4/groups/g%2Fsub/members/all?user_ids[]={sam}"),
    );
    assert!(
        body.contains("\"username\":\"sam\"") && !body.contains("gina"),
        "{body}"
    );
    let (_, body) = get(&fake, "/api/v4/groups/g/members/all");
    assert!(
        body.contains("gina") && !body.contains("sam"),
        "parents do not inherit: {body}"
    );
}

/// A user the fake is told to drop at write time is still assignable and a member to every
/// read, but each forge's assign and review request leaves them out of its answer, without an
/// error; others in the same request are kept.
#[test]
fn a_user_dropped_at_write_is_left_out_of_assignees_and_reviewers_but_reads_accept_them() {
    let fake = FakeForge::start();
    let pr = fake.seed_pr(ForgeKind::GitHub, "o/r", 5, "author");
    for u in ["alice", "bob"] {
        fake.add_assignable("o/r", u);
        // GitHub asks only collaborators for reviews.
        fake.add_member(ForgeKind::GitHub, "o/r", u, fake_forge::access::REPORTER);
    }
    fake.drop_at_write(ForgeKind::GitHub, "o/r", "Bob");
    assert_eq!(get(&fake, "/repos/o/r/assignees/bob").0, 204);
    let json = "application/json";
    let (status, body) = send(
        &fake,
        "POST",
        "/repos/o/r/issues/5/assignees",
        json,
        r#"{"assignees":["alice","bob"]}"#,
    );
    assert_eq!(status, 201, "{body}");
    assert!(body.contains(r#""login":"alice""#) && !body.contains(r#""login":"bob""#));
    let (status, body) = send(
        &fake,
        "POST",
        "/repos/o/r/pulls/5/requested_reviewers",
        json,
        r#"{"reviewers":["alice","bob"]}"#,
    );
    assert_eq!(status, 201, "{body}");
    let item = fake.item(&pr);
    assert_eq!(item.assignees, ["alice"]);
    assert_eq!(item.requested_reviewers, ["alice"]);

    let mr = fake.seed_pr(ForgeKind::GitLab, "g/p", 6, "author");
    let (alice, bob) = (fake.ensure_user("alice"), fake.ensure_user("bob"));
    fake.drop_at_write(ForgeKind::GitLab, "g/p", "bob");
    let (status, body) = send(
        &fake,
        "PUT",
        "/api/v4/projects/g%2Fp/merge_requests/6",
        "application/x-www-form-urlencoded",
        &format!(
            "assignee_ids%5B%5D={alice}&assignee_ids%5B%5D={bob}&reviewer_ids%5B%5D={bob}&reviewer_ids%5B%5D={alice}"
        ),
    );
    assert_eq!(status, 200, "{body}");
    let item = fake.item(&mr);
    assert_eq!(item.assignees, ["alice"]);
    assert_eq!(item.requested_reviewers, ["alice"]);
}
