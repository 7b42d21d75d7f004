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
    assert_eq!(get(&fake, "/repos/o/r/pulls/1/files").0, 404);
    let unrouted = fake.unrouted_requests();
    assert_eq!(unrouted.len(), 1);
    assert_eq!(unrouted[0].path, "/repos/o/r/pulls/1/files");
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
