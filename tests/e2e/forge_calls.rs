//! Forge API calls per delivery for the `hold` plugin, counted from the fake forge's request
//! log (the numbers in `BENCHMARKS-forge.md`). Run with
//! `cargo test --test e2e forge_calls -- --nocapture` to see the table.

use crate::support::*;
use bosun_plugins::ForgeKind;

/// One delivery's requests, split into reads (GET) and writes.
#[derive(Debug, PartialEq, Eq)]
struct Calls {
    reads: Vec<String>,
    writes: Vec<String>,
}

async fn deliver(bosun: &TestBosun, forge: ForgeKind, id: &str, body: &str) -> Calls {
    bosun.forge.clear_requests();
    let (event, payload) = match forge {
        ForgeKind::GitHub => ("issue_comment", github_pr_comment(947, "alice", body)),
        ForgeKind::GitLab => ("Note Hook", gitlab_mr_note(1, "alice", body)),
    };
    let (status, _) = bosun.post(forge, event, id, &payload).await;
    assert_eq!(status, 202);
    bosun.run_until_idle().await;
    let mut calls = Calls {
        reads: Vec::new(),
        writes: Vec::new(),
    };
    for r in bosun.forge.requests() {
        let line = format!("{} {}", r.method, r.path);
        if r.method == "GET" {
            calls.reads.push(line);
        } else {
            calls.writes.push(line);
        }
    }
    calls
}

/// The cost of `/hold`, `/hold cancel` and a repeated `/hold` on each forge, first delivery
/// (with the one-time identity lookups) and steady state.
#[tokio::test]
async fn hold_costs_one_read_and_at_most_one_write_per_delivery() {
    for db in databases() {
        let _combination = Combination::new(db);
        let mut table = Vec::new();
        for forge in [ForgeKind::GitHub, ForgeKind::GitLab] {
            let _combination = Combination::new(forge);
            let bosun = spawn_bosun(Options::new(db)).await;
            let (repo, number) = match forge {
                ForgeKind::GitHub => (GITHUB_REPO, 947),
                ForgeKind::GitLab => (GITLAB_REPO, 1),
            };
            bosun.forge.seed_pr(forge, repo, number, "someone");

            let first = deliver(&bosun, forge, "c-1", "/hold").await;
            let cancel = deliver(&bosun, forge, "c-2", "/hold cancel").await;
            let again = deliver(&bosun, forge, "c-3", "/hold").await;
            let noop = deliver(&bosun, forge, "c-4", "/hold").await;

            // The first delivery also learns who bosun is (GitLab: building the client asks too).
            let identity = match forge {
                ForgeKind::GitHub => 1,
                ForgeKind::GitLab => 2,
            };
            assert_eq!(
                (first.reads.len(), first.writes.len()),
                (identity + 1, 1),
                "{forge}: {first:?}"
            );
            for (what, calls) in [("cancel", &cancel), ("hold", &again)] {
                assert_eq!(
                    (calls.reads.len(), calls.writes.len()),
                    (1, 1),
                    "{forge} {what}: {calls:?}"
                );
            }
            assert_eq!(
                (noop.reads.len(), noop.writes.len()),
                (1, 0),
                "{forge}: already held: {noop:?}"
            );
            for (what, calls) in [
                ("/hold (first delivery)", &first),
                ("/hold cancel", &cancel),
                ("/hold", &again),
                ("/hold (already held)", &noop),
            ] {
                table.push(format!(
                    "| {forge} | {what} | {} | {} | {} |",
                    calls.reads.len(),
                    calls.writes.len(),
                    calls
                        .reads
                        .iter()
                        .chain(&calls.writes)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            bosun.shutdown().await;
        }
        println!(
            "| forge | delivery | reads | writes | requests |\n|---|---|---|---|---|\n{}",
            table.join("\n")
        );
    }
}
