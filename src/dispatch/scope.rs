//! The receiver checks a webhook's signature or token with the secret of the repository it
//! reads from the payload, and journals the delivery under that repository. Plugins act on the
//! repository the normalizer reads. The two must be the same, or a payload whose fields
//! disagree would act on a repository whose secret its sender never had.

use crate::store::ClaimedDelivery;
use crate::webhook;
use bosun_plugins::Event;

/// Why `events` may not run: one is about another repository than the one `delivery` was
/// authenticated for. Only forge webhooks are checked; the deliveries that come from elsewhere
/// ([`webhook::NOT_FROM_FORGE_HOOKS`]) were checked by their own receivers.
pub(super) fn outside_authenticated_repo(
    delivery: &ClaimedDelivery,
    events: &[Event],
) -> Option<String> {
    if webhook::NOT_FROM_FORGE_HOOKS.contains(&delivery.event.as_str()) {
        return None;
    }
    let authenticated = delivery.repo.as_deref();
    events
        .iter()
        .filter_map(Event::repo)
        .find(|repo| Some(repo.as_str()) != authenticated)
        .map(|repo| {
            format!(
                "the payload names repository {repo}, but its webhook was authenticated for {}; \
                 nothing was done",
                authenticated.unwrap_or("no repository")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_plugins::{ForgeKind, PushEvent, RepoPath};
    use chrono::Utc;

    fn delivery(event: &str, repo: Option<&str>) -> ClaimedDelivery {
        ClaimedDelivery {
            id: 1,
            delivery_id: "github:1".into(),
            forge: ForgeKind::GitHub,
            event: event.into(),
            repo: repo.map(Into::into),
            number: None,
            item_key: "github:x".into(),
            payload: Vec::new(),
            attempts: 1,
            decided: false,
            received_at: Utc::now(),
        }
    }

    fn push_to(repo: &str) -> Event {
        Event::Push(PushEvent {
            forge: ForgeKind::GitHub,
            repo: RepoPath::parse(repo).expect("repo"),
            git_ref: "refs/heads/main".into(),
            before: "a".into(),
            after: "b".into(),
            pusher: bosun_plugins::Login::new("alice"),
            default_branch: None,
            changed_paths: None,
        })
    }

    #[test]
    fn an_event_about_the_authenticated_repository_runs() {
        let d = delivery("push", Some("acme/prod"));
        assert_eq!(
            outside_authenticated_repo(&d, &[push_to("acme/prod")]),
            None
        );
    }

    #[test]
    fn an_event_about_another_repository_does_not() {
        let d = delivery("push", Some("evil/x"));
        let why = outside_authenticated_repo(&d, &[push_to("acme/prod")]).expect("refused");
        assert!(why.contains("acme/prod") && why.contains("evil/x"), "{why}");
        let d = delivery("pull_request", None);
        let why = outside_authenticated_repo(&d, &[push_to("acme/prod")]).expect("refused");
        assert!(why.contains("no repository"), "{why}");
    }

    #[test]
    fn deliveries_from_elsewhere_are_not_checked_here() {
        let d = delivery(crate::queue::FAILED_EVENT, None);
        assert_eq!(
            outside_authenticated_repo(&d, &[push_to("acme/prod")]),
            None
        );
    }
}
