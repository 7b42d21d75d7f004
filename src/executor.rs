//! Carries out journaled actions on the forge, exactly once in effect.
//!
//! Each action is marked `applying` before its forge call and `applied` after. An action found
//! `applying` (the process died mid-call, or the call failed in a way that may have taken
//! effect) is checked on the forge before it is repeated where repeating could do harm: the
//! label already there, the comment carrying the action's hidden marker already posted, the
//! PR already merged. The other kinds repeat safely: assigning, requesting reviews, setting a
//! title, a state or a commit status again leaves the forge as one call would, creating an
//! existing label succeeds, and deleting a deleted comment is a no-op.
//!
//! `forge_calls` counts calls on the [`Forge`] trait, not HTTP requests: an adapter may
//! answer `bot_login` from its cache or spend several requests on one call (GitLab assigns by
//! reading the current list first).

use crate::store::{ActionOutcome, Store, StoredAction};
use bosun_plugins::{Action, Forge, ForgeError, ItemState};

/// What became of one action.
pub enum Applied {
    /// Done (or found done); with the number of forge calls made.
    Done { forge_calls: i32 },
    /// The forge refused for good; the action is marked failed.
    Failed(ForgeError),
}

/// The hidden marker that identifies the comment an action posted.
pub fn action_marker(action_id: i64) -> String {
    format!("<!-- bosun-action:{action_id} -->")
}

fn bot_comment_marker(marker: &str) -> String {
    format!("<!-- bosun:{marker} -->")
}

/// Applies one action. A retryable error is returned as `Err` with the action left `applying`
/// for the next attempt; a permanent one marks the action failed.
pub async fn apply_action(
    store: &dyn Store,
    forge: &dyn Forge,
    stored: &StoredAction,
    dry_run: bool,
) -> Result<Applied, ExecError> {
    if dry_run {
        store
            .set_action_outcome(stored.id, ActionOutcome::DryRun, None, 0)
            .await?;
        return Ok(Applied::Done { forge_calls: 0 });
    }
    let maybe_done = stored.outcome == ActionOutcome::Applying;
    if !maybe_done {
        store
            .set_action_outcome(stored.id, ActionOutcome::Applying, None, 0)
            .await?;
    }
    let mut calls = 0;
    let result = perform(forge, stored, maybe_done, &mut calls).await;
    metrics::counter!("bosun_forge_calls_total", "kind" => stored.kind.clone())
        .increment(calls as u64);
    match result {
        Ok(()) => {
            store
                .set_action_outcome(stored.id, ActionOutcome::Applied, None, calls)
                .await?;
            metrics::counter!("bosun_actions_total", "kind" => stored.kind.clone(), "outcome" => "applied").increment(1);
            Ok(Applied::Done { forge_calls: calls })
        }
        Err(e) if e.is_retryable() => {
            store
                .set_action_outcome(
                    stored.id,
                    ActionOutcome::Applying,
                    Some(&e.to_string()),
                    calls,
                )
                .await?;
            Err(ExecError::Forge(e))
        }
        Err(e) => {
            store
                .set_action_outcome(
                    stored.id,
                    ActionOutcome::Failed,
                    Some(&e.to_string()),
                    calls,
                )
                .await?;
            metrics::counter!("bosun_actions_total", "kind" => stored.kind.clone(), "outcome" => "failed").increment(1);
            Ok(Applied::Failed(e))
        }
    }
}

async fn perform(
    forge: &dyn Forge,
    stored: &StoredAction,
    maybe_done: bool,
    calls: &mut i32,
) -> Result<(), ForgeError> {
    match &stored.action {
        Action::AddLabel { item, label } => {
            if maybe_done {
                *calls += 1;
                if forge
                    .labels(item)
                    .await?
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(label))
                {
                    return Ok(());
                }
            }
            *calls += 1;
            forge.add_labels(item, std::slice::from_ref(label)).await
        }
        Action::RemoveLabel { item, label } => {
            if maybe_done {
                *calls += 1;
                if !forge
                    .labels(item)
                    .await?
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(label))
                {
                    return Ok(());
                }
            }
            *calls += 1;
            forge.remove_label(item, label).await
        }
        Action::Comment { item, body } => {
            let marker = action_marker(stored.id);
            if maybe_done {
                *calls += 1;
                if forge
                    .comments(item)
                    .await?
                    .iter()
                    .any(|c| c.body.contains(&marker))
                {
                    return Ok(());
                }
            }
            *calls += 1;
            forge
                .create_comment(item, &format!("{body}\n\n{marker}"))
                .await
                .map(|_| ())
        }
        Action::UpsertBotComment { item, marker, body } => {
            let marker = bot_comment_marker(marker);
            *calls += 2;
            let bot = forge.bot_login().await?;
            let existing = forge
                .comments(item)
                .await?
                .into_iter()
                .find(|c| c.author == bot && c.body.contains(&marker));
            *calls += 1;
            let body = format!("{body}\n\n{marker}");
            match existing {
                Some(c) if c.body == body => Ok(()),
                Some(c) => forge.edit_comment(item, c.id, &body).await,
                None => forge.create_comment(item, &body).await.map(|_| ()),
            }
        }
        Action::DeleteBotComment { item, marker } => {
            let marker = bot_comment_marker(marker);
            *calls += 2;
            let bot = forge.bot_login().await?;
            let existing = forge
                .comments(item)
                .await?
                .into_iter()
                .filter(|c| c.author == bot && c.body.contains(&marker));
            for c in existing.collect::<Vec<_>>() {
                *calls += 1;
                forge.delete_comment(item, c.id).await?;
            }
            Ok(())
        }
        Action::CreateLabel {
            repo, name, color, ..
        } => {
            *calls += 1;
            forge.create_label(repo, name, color).await
        }
        Action::Assign { item, users } => {
            *calls += 1;
            forge.assign(item, users).await
        }
        Action::Unassign { item, users } => {
            *calls += 1;
            forge.unassign(item, users).await
        }
        Action::RequestReviewers { item, users, teams } => {
            *calls += 1;
            forge.request_reviewers(item, users, teams).await
        }
        Action::UnrequestReviewers { item, users, teams } => {
            *calls += 1;
            forge.unrequest_reviewers(item, users, teams).await
        }
        Action::SetTitle { item, title } => {
            *calls += 1;
            forge.set_title(item, title).await
        }
        Action::Close { item, reason } => {
            *calls += 1;
            forge.close(item, *reason).await
        }
        Action::Reopen { item } => {
            *calls += 1;
            forge.reopen(item).await
        }
        Action::Merge { item, method, sha } => {
            if maybe_done {
                *calls += 1;
                if forge.pull_request(item).await?.state == ItemState::Merged {
                    return Ok(());
                }
            }
            *calls += 1;
            forge.merge(item, *method, sha.as_deref()).await
        }
        Action::SetStatus {
            repo, sha, status, ..
        } => {
            *calls += 1;
            forge.set_status(repo, sha, status).await
        }
    }
}

/// A failure that stops applying for now.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Forge(ForgeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
