//! `blunderbuss`: requests reviews from OWNERS reviewers when a PR is opened or marked ready,
//! and on `/auto-cc` (reference/prow.md §3.8): one closest reviewer per OWNERS file, topped up
//! to `request_count`, falling back to approvers, required reviewers added, the author never.
//!
//! Beyond Prow: people listed as `unavailable` are never requested, and among candidates the
//! one with the fewest open review requests from bosun (from the store) is preferred. The
//! remaining choice is random, seeded with the PR number, so it is stable per PR and tests are
//! deterministic.

use crate::assign::CC;
use crate::command::{GO_SPACE, body_command_text, command_text};
use crate::owners::{ReviewerRequest, choose_reviewers, normalize_login};
use crate::{
    Action, CommandHelp, CommentAction, Context, Event, ForgeKind, Item, ItemState, Login, Plugin,
    PluginError, PluginHelp, PrAction,
};
use async_trait::async_trait;
use rand::SeedableRng;
use rand::rngs::StdRng;
use regex::Regex;
use serde::Deserialize;
use std::sync::LazyLock;

static AUTO_CC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?mi)^/auto-cc{GO_SPACE}*$")).expect("static regex"));

/// `[settings.blunderbuss."org/repo"]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlunderbussSettings {
    /// At least this many reviewers (one per OWNERS file may exceed it). Default 2; at least 1.
    pub request_count: usize,
    /// At most this many before required reviewers are added; 0 = no limit. Default 0.
    pub max_request_count: usize,
    /// Never fall back to approvers. Default false.
    pub exclude_approvers: bool,
    /// Do nothing for draft PRs until they are ready. Default false.
    pub ignore_drafts: bool,
    /// Authors whose PRs get no automatic requests. Default none.
    pub ignore_authors: Vec<String>,
    /// People never to request (on leave, overloaded). Default none.
    pub unavailable: Vec<String>,
}

impl Default for BlunderbussSettings {
    fn default() -> Self {
        BlunderbussSettings {
            request_count: 2,
            max_request_count: 0,
            exclude_approvers: false,
            ignore_drafts: false,
            ignore_authors: Vec::new(),
            unavailable: Vec::new(),
        }
    }
}

/// The plugin.
pub struct Blunderbuss;

impl Blunderbuss {
    async fn request(
        &self,
        item: &Item,
        from_command: bool,
        settings: &BlunderbussSettings,
        cx: &Context<'_>,
    ) -> Result<Vec<Action>, PluginError> {
        let reference = &item.reference;
        let pr = cx.forge.pull_request(reference).await?;
        if pr.state != ItemState::Open {
            return Ok(vec![]);
        }
        if !from_command {
            let author = normalize_login(pr.author.as_str());
            let chose_own = CC
                .captures_iter(&body_command_text(&pr.body, reference.forge))
                .any(|c| c.get(1).is_none());
            if chose_own
                || (pr.draft && settings.ignore_drafts)
                || settings
                    .ignore_authors
                    .iter()
                    .any(|a| normalize_login(a) == author)
            {
                return Ok(vec![]);
            }
        }
        let (changed, _) = cx.changed_files(reference).await?;
        let files: Vec<String> = changed.into_iter().map(|f| f.path).collect();
        let owners = cx
            .owners
            .owners_on_branch(
                cx.forge,
                &reference.repo,
                &pr.base_ref,
                &pr.base_sha,
                &files,
            )
            .await?;
        let request = ReviewerRequest {
            author: pr.author.as_str().to_string(),
            min: settings.request_count,
            max: settings.max_request_count,
            exclude_approvers: settings.exclude_approvers,
            unavailable: settings
                .unavailable
                .iter()
                .map(|u| normalize_login(u))
                .collect(),
            load: cx
                .history
                .open_review_requests(reference.forge, &reference.repo)
                .await,
        };
        let mut rng = StdRng::seed_from_u64(reference.number);
        let users: Vec<Login> = choose_reviewers(&owners, &files, &request, &mut rng)
            .all()
            .iter()
            .map(|u| Login::new(u))
            .collect();
        if users.is_empty() {
            return Ok(vec![]);
        }
        // Prow's blunderbuss logs a refused request and says nothing; so does bosun.
        Ok(vec![Action::RequestReviewers {
            item: reference.clone(),
            users,
            teams: vec![],
            report: None,
        }])
    }
}

#[async_trait]
impl Plugin for Blunderbuss {
    fn name(&self) -> &'static str {
        "blunderbuss"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Requests reviews from OWNERS reviewers when a pull request is opened or marked ready for review: one from the closest OWNERS file of each touched directory, at least request_count in all, preferring people with fewer open requests.",
            commands: vec![CommandHelp {
                usage: "/auto-cc",
                description: "Requests reviewers from OWNERS again.",
                examples: vec!["/auto-cc"],
                who_can_use: "Anyone.",
                forges: vec![ForgeKind::GitHub, ForgeKind::GitLab],
            }],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        let parsed: BlunderbussSettings = if settings.is_null() {
            BlunderbussSettings::default()
        } else {
            serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?
        };
        if parsed.request_count == 0 {
            return Err("request_count must be at least 1".into());
        }
        Ok(())
    }

    fn settings_warnings(&self, settings: &serde_json::Value) -> Vec<String> {
        let Ok(parsed) = serde_json::from_value::<BlunderbussSettings>(settings.clone()) else {
            return vec![];
        };
        if parsed.max_request_count != 0 && parsed.max_request_count < parsed.request_count {
            // Prow accepts this too: the list is cut to max_request_count after the minimum
            // was picked, so the maximum wins.
            return vec![format!(
                "max_request_count {} is below request_count {}: at most {} reviewers (plus required reviewers) are requested, as in Prow",
                parsed.max_request_count, parsed.request_count, parsed.max_request_count
            )];
        }
        vec![]
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let settings: BlunderbussSettings = cx.settings()?;
        match event {
            Event::PullRequest(pr)
                if matches!(pr.action, PrAction::Opened | PrAction::ReadyForReview) =>
            {
                self.request(&pr.pr, false, &settings, cx).await
            }
            Event::Comment(c)
                if c.item.is_pr()
                    && c.item.state == ItemState::Open
                    && c.action == CommentAction::Created
                    && AUTO_CC.is_match(&command_text(c)) =>
            {
                self.request(&c.item, true, &settings, cx).await
            }
            _ => Ok(vec![]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ChangedFile;
    use crate::testing::{MemoryForge, comment_on_pr, pr_event};
    use serde_json::json;

    fn forge(files: &[&str]) -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.files.insert(
                "OWNERS".into(),
                b"approvers: [root-approver]\nreviewers: [root-rev]\n".to_vec(),
            );
            s.files.insert(
                "a/OWNERS".into(),
                b"reviewers: [a1, a2, pr-author]\nrequired_reviewers: [security]\n".to_vec(),
            );
            s.files
                .insert("b/OWNERS".into(), b"reviewers: [b1, b2]\n".to_vec());
            s.changed_files = files
                .iter()
                .map(|p| ChangedFile {
                    path: p.to_string(),
                    previous_path: None,
                    additions: 1,
                    deletions: 1,
                })
                .collect();
        });
        forge
    }

    fn requested(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .flat_map(|a| match a {
                Action::RequestReviewers { users, .. } => {
                    users.iter().map(|u| u.as_str().to_string()).collect()
                }
                _ => vec![],
            })
            .collect()
    }

    #[tokio::test]
    async fn one_reviewer_per_owners_file_then_required_and_never_the_author() {
        let forge = forge(&["a/x.go", "b/y.go"]);
        let actions = forge
            .run(&Blunderbuss, &pr_event(PrAction::Opened))
            .await
            .unwrap();
        let users = requested(&actions);
        assert_eq!(users.len(), 3, "{users:?}");
        assert!(users.iter().any(|u| u == "a1" || u == "a2"), "{users:?}");
        assert!(users.iter().any(|u| u == "b1" || u == "b2"), "{users:?}");
        assert_eq!(users.last().map(String::as_str), Some("security"));
        assert!(!users.contains(&"pr-author".to_string()));
        let again = forge
            .run(&Blunderbuss, &pr_event(PrAction::Opened))
            .await
            .unwrap();
        assert_eq!(requested(&again), users, "seeded by the PR number");
    }

    #[tokio::test]
    async fn tops_up_to_request_count_and_falls_back_to_approvers() {
        let forge = forge(&["b/y.go"]);
        let settings = json!({ "request_count": 4 });
        let actions = forge
            .run_with(&Blunderbuss, &pr_event(PrAction::Opened), &settings)
            .await
            .unwrap();
        let mut users = requested(&actions);
        users.sort();
        assert_eq!(users, vec!["b1", "b2", "root-approver", "root-rev"]);
        let settings = json!({ "request_count": 4, "exclude_approvers": true });
        let actions = forge
            .run_with(&Blunderbuss, &pr_event(PrAction::Opened), &settings)
            .await
            .unwrap();
        assert_eq!(requested(&actions).len(), 3);
    }

    /// Prow blunderbuss: a `max_request_count` below `request_count` wins; required reviewers
    /// still come on top.
    #[tokio::test]
    async fn a_max_below_the_request_count_wins() {
        let forge = forge(&["a/x.go", "b/y.go"]);
        let settings = json!({ "request_count": 3, "max_request_count": 1 });
        let actions = forge
            .run_with(&Blunderbuss, &pr_event(PrAction::Opened), &settings)
            .await
            .unwrap();
        let users = requested(&actions);
        assert_eq!(users.len(), 2, "{users:?}");
        assert_eq!(users.last().map(String::as_str), Some("security"));
    }

    #[tokio::test]
    async fn unavailable_people_are_skipped_and_the_least_loaded_is_preferred() {
        let forge = forge(&["b/y.go"]);
        forge.with(|s| s.review_load = [("b2".to_string(), 3)].into());
        for number in 1..6 {
            let mut event = pr_event(PrAction::Opened);
            if let Event::PullRequest(pr) = &mut event {
                pr.pr.reference.number = number;
            }
            let one = json!({ "request_count": 1 });
            let users = requested(&forge.run_with(&Blunderbuss, &event, &one).await.unwrap());
            assert_eq!(users, vec!["b1"], "b2 has more open requests");
            let away = json!({ "request_count": 1, "unavailable": ["B1"] });
            let users = requested(&forge.run_with(&Blunderbuss, &event, &away).await.unwrap());
            assert_eq!(users, vec!["b2"]);
        }
    }

    #[tokio::test]
    async fn skips_drafts_ignored_authors_and_prs_that_chose_reviewers() {
        let forge = forge(&["b/y.go"]);
        forge.with(|s| s.pr.draft = true);
        let drafts = json!({ "ignore_drafts": true });
        assert!(
            forge
                .run_with(&Blunderbuss, &pr_event(PrAction::Opened), &drafts)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            !forge
                .run(&Blunderbuss, &pr_event(PrAction::Opened))
                .await
                .unwrap()
                .is_empty()
        );
        let ignored = json!({ "ignore_authors": ["PR-Author"] });
        assert!(
            forge
                .run_with(&Blunderbuss, &pr_event(PrAction::Opened), &ignored)
                .await
                .unwrap()
                .is_empty()
        );
        forge.with(|s| s.pr.body = "Please look\n/cc @someone\n".into());
        assert!(
            forge
                .run(&Blunderbuss, &pr_event(PrAction::Opened))
                .await
                .unwrap()
                .is_empty()
        );
        // /auto-cc asks anyway.
        let actions = forge
            .run(&Blunderbuss, &comment_on_pr("anyone", "/auto-cc"))
            .await
            .unwrap();
        assert!(!requested(&actions).is_empty());
    }

    #[tokio::test]
    async fn other_events_and_comments_do_nothing() {
        let forge = forge(&["b/y.go"]);
        assert!(
            forge
                .run(
                    &Blunderbuss,
                    &pr_event(PrAction::Synchronized { before: None })
                )
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            forge
                .run(&Blunderbuss, &comment_on_pr("x", "/auto-cc please"))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            forge
                .run(&Blunderbuss, &pr_event(PrAction::ReadyForReview))
                .await
                .unwrap()
                .len()
                == 1
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(
            Blunderbuss
                .check_settings(&json!({ "request_count": 0 }))
                .is_err()
        );
        let below = json!({ "request_count": 3, "max_request_count": 2 });
        assert!(
            Blunderbuss.check_settings(&below).is_ok(),
            "Prow accepts it"
        );
        assert_eq!(Blunderbuss.settings_warnings(&below).len(), 1);
        assert!(
            Blunderbuss
                .settings_warnings(&json!({ "request_count": 2, "max_request_count": 2 }))
                .is_empty()
        );
        assert!(
            Blunderbuss
                .check_settings(&json!({ "unknown": 1 }))
                .is_err()
        );
        assert!(Blunderbuss.check_settings(&serde_json::Value::Null).is_ok());
    }
}
