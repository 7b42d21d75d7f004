//! A fault storm: while every fifth forge call fails (500s, 429s with `Retry-After`, and 502s
//! after the forge did carry out the request), 500 deliveries on both forges all end `done`,
//! every label change and every reply happens exactly once, and bosun never calls a forge
//! before the wait it was given has passed.
//!
//! The failures are deterministic (every 5th request the fake receives, cycling through a
//! fixed list of faults), so a failure here reproduces. bosun runs one worker, so every
//! request the fake sees after a 429 was sent after bosun read that 429, and the log check is
//! exact rather than racy.

use crate::support::*;
use bosun_plugins::ForgeKind;
use fake_forge::{Fault, RecordedRequest};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const HOLD: &str = "do-not-merge/hold";
const PRS: u64 = 25;
/// Per PR: `/hold`, `/lgtm` by the author, `/hold cancel`, `/lgtm`, … ten deliveries.
const ROUNDS: u64 = 10;

/// What delivery `round` on a PR says, and whether it changes a label or asks for a reply.
fn command(round: u64) -> (&'static str, Expect) {
    match round % 4 {
        0 => ("/hold", Expect::AddHold),
        2 => ("/hold cancel", Expect::RemoveHold),
        // The PR's author may not LGTM their own PR: lgtm replies, once per delivery.
        _ => ("/lgtm", Expect::Reply),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    AddHold,
    RemoveHold,
    Reply,
}

/// The faults answered in turn on every 5th request: 500s, 429s, and lost answers to requests
/// the fake did carry out (the case exactly-once is about).
fn storm() -> Vec<Fault> {
    vec![
        Fault::Status500,
        Fault::LostResponse,
        Fault::Status500,
        Fault::Status500,
        Fault::LostResponse,
        Fault::Status500,
        Fault::Status500,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    ]
}

/// Prow's guarantee restated for bosun's queue: a flaky forge delays work but never loses or
/// repeats it, and its rate limits are honoured.
#[tokio::test]
async fn a_fault_storm_delays_but_never_loses_repeats_or_rushes_work() {
    for db in databases() {
        let _combination = Combination::new(db);
        let started = Instant::now();
        let mut options = Options::new(db);
        options.extra = "[plugins.\"kubernetes\"]\nenabled = [\"hold\", \"lgtm\"]\n\
                         [plugins.\"gitlab-org\"]\nenabled = [\"hold\", \"lgtm\"]\n"
            .into();
        options.env = vec![
            ("BOSUN_QUEUE__WORKERS".into(), "1".into()),
            // Deliveries claimed while a forge's gate is closed go back without a call; they may
            // meet many gates, so attempts are plenty here (the backoff still caps at 2 s).
            ("BOSUN_QUEUE__MAX_ATTEMPTS".into(), "200".into()),
        ];
        let bosun = spawn_bosun(options).await;
        let f = &bosun.forge;
        let prs: Vec<_> = (1..=PRS)
            .flat_map(|n| {
                [
                    f.seed_pr(ForgeKind::GitHub, GITHUB_REPO, n, "spxtr"),
                    f.seed_pr(ForgeKind::GitLab, GITLAB_REPO, n, "sytses"),
                ]
            })
            .collect();
        f.fail_every("/", 5, storm());

        let mut deliveries = Vec::new();
        for round in 0..ROUNDS {
            for pr in &prs {
                let (body, _) = command(round);
                let id = format!("storm-{}-{}-{round}", pr.forge, pr.number);
                let (payload, event, stored) = match pr.forge {
                    // The fixture's PR is by spxtr: their /lgtm is refused with a reply.
                    ForgeKind::GitHub => (
                        github_pr_comment(pr.number, "spxtr", body),
                        "issue_comment",
                        format!("github:{id}"),
                    ),
                    // GitLab's fixture note is by the MR's author, whoever it names.
                    ForgeKind::GitLab => (
                        gitlab_mr_note(pr.number, "sytses", body),
                        "Note Hook",
                        format!("gitlab:{id}"),
                    ),
                };
                let (status, text) = bosun.post(pr.forge, event, &id, &payload).await;
                assert_eq!(status, 202, "{text}");
                deliveries.push(stored);
            }
        }
        assert_eq!(deliveries.len(), 500);

        wait_until(
            "the storm's deliveries finished",
            Duration::from_secs(100),
            || async {
                let counts = bosun.store.status_counts().await.expect("counts");
                counts.get("queued").copied().unwrap_or(0)
                    + counts.get("running").copied().unwrap_or(0)
                    == 0
            },
        )
        .await;
        for d in &deliveries {
            let record = bosun
                .store
                .delivery(d)
                .await
                .expect("store")
                .expect("stored");
            assert_eq!(record.status, "done", "{record:?}");
        }

        let log = f.requests();
        let statuses = |code: u16| log.iter().filter(|r| r.status == Some(code)).count();
        let lost_writes = log
            .iter()
            .filter(|r| r.status == Some(502) && r.method != "GET" && r.served_status.is_some())
            .count();
        assert!(
            statuses(500) > 100 && statuses(429) > 10 && lost_writes > 10,
            "the storm happened: {} 500s, {} 429s, {lost_writes} lost answers to writes",
            statuses(500),
            statuses(429)
        );
        for pr in &prs {
            let writes = successful_label_writes(&log, pr);
            let want = |e: Expect| (0..ROUNDS).filter(|r| command(*r).1 == e).count();
            assert_eq!(writes.0, want(Expect::AddHold), "{pr}: adds");
            assert_eq!(writes.1, want(Expect::RemoveHold), "{pr}: removals");
            assert_eq!(
                f.labels(pr),
                [HOLD],
                "{pr}: the last label command was /hold"
            );

            let replies = f.comments(pr);
            assert_eq!(
                replies.len(),
                want(Expect::Reply),
                "{pr}: one reply per /lgtm: {replies:?}"
            );
            assert!(
                replies
                    .iter()
                    .all(|c| c.author == BOT && c.body.contains("you cannot LGTM your own PR")),
                "{pr}"
            );
            let markers: BTreeSet<&str> = replies
                .iter()
                .filter_map(|c| c.body.split("<!-- bosun-action:").nth(1))
                .collect();
            assert_eq!(
                markers.len(),
                replies.len(),
                "{pr}: each reply belongs to its own action"
            );
        }
        assert_no_call_before_the_wait_passed(&log);
        eprintln!(
            "fault storm: {} requests ({} answered 500, {} answered 429, {lost_writes} writes done \
             but answered 502) in {:.1?}",
            log.len(),
            statuses(500),
            statuses(429),
            started.elapsed()
        );
        bosun.shutdown().await;
    }
}

/// The hold label additions and removals the fake carried out on one PR (whether or not bosun
/// got the answer).
fn successful_label_writes(log: &[RecordedRequest], pr: &bosun_plugins::ItemRef) -> (usize, usize) {
    let ok = |r: &&RecordedRequest| r.served_status.is_some_and(|s| (200..300).contains(&s));
    match pr.forge {
        ForgeKind::GitHub => {
            let labels = format!("/repos/{GITHUB_REPO}/issues/{}/labels", pr.number);
            let adds = log
                .iter()
                .filter(ok)
                .filter(|r| r.method == "POST" && r.path == labels)
                .count();
            let removal = format!("{labels}/do-not-merge%2Fhold");
            let removes = log
                .iter()
                .filter(ok)
                .filter(|r| r.method == "DELETE" && r.path == removal)
                .count();
            (adds, removes)
        }
        ForgeKind::GitLab => {
            let path = format!(
                "/api/v4/projects/gitlab-org%2Fhello-world/merge_requests/{}",
                pr.number
            );
            let edits: Vec<&RecordedRequest> = log
                .iter()
                .filter(ok)
                .filter(|r| r.method == "PUT" && r.path == path)
                .collect();
            let adds = edits
                .iter()
                .filter(|r| r.form_field("add_labels").as_deref() == Some(HOLD))
                .count();
            let removes = edits
                .iter()
                .filter(|r| r.form_field("remove_labels").as_deref() == Some(HOLD))
                .count();
            (adds, removes)
        }
    }
}

/// After a 429 (or a rate-limit 403) the fake answered, no request to the same forge arrived
/// before the instant it named.
#[track_caller]
fn assert_no_call_before_the_wait_passed(log: &[RecordedRequest]) {
    let is_gitlab = |r: &RecordedRequest| r.path.starts_with("/api/v4");
    let mut checked = 0;
    for limited in log.iter().filter(|r| r.wait_until().is_some()) {
        let (Some(answered), Some(until)) = (limited.answered, limited.wait_until()) else {
            continue;
        };
        checked += 1;
        let early: Vec<&RecordedRequest> = log
            .iter()
            .filter(|r| {
                is_gitlab(r) == is_gitlab(limited) && r.received > answered && r.received < until
            })
            .collect();
        assert!(
            early.is_empty(),
            "{} {} answered 429 at {answered:?} (wait until {until:?}), yet bosun called {:?}",
            limited.method,
            limited.path,
            early
                .iter()
                .map(|r| (&r.method, &r.path, r.received))
                .collect::<Vec<_>>()
        );
    }
    assert!(checked > 0, "no rate limit was answered");
}
