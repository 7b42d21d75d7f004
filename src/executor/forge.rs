//! The forge as a target: the [`Forge`] adapters (octocrab, the gitlab crate), their error
//! classification ([`ForgeError::is_retryable`]) and these "already done?" checks for an action
//! found `applying`: the label already there (or already gone), the comment carrying the
//! action's hidden marker already posted, the PR already merged, CI already running again
//! (the forge's own CI: GitHub Actions and checks, GitLab pipelines). The other kinds repeat
//! safely: assigning, requesting reviews, setting a title, a state or a commit status again
//! leaves the forge as one call would, creating an existing label succeeds, and deleting a
//! deleted comment is a no-op.
//!
//! An assign or review request with a `report` compares the forge's answer with what it asked:
//! users the answer leaves out are named in the action's reply, posted with the action's
//! hidden marker like a comment action's, so a repeated attempt (whose repeated call answers
//! the same) finds the reply already there and does not post it twice.

use super::{EffectError, Target};
use crate::store::StoredAction;
use async_trait::async_trait;
use bosun_plugins::pick::{CherryPickOutcome, CherryPickReply, CherryPickRequest};
use bosun_plugins::{
    Action, Forge, ForgeError, ItemRef, ItemState, Login, MissingUsersReply, marker,
};
use std::sync::Arc;

/// One forge's adapter as an executor target.
pub struct ForgeTarget {
    forge: Arc<dyn Forge>,
}

impl ForgeTarget {
    /// Wraps a configured forge adapter.
    pub fn new(forge: Arc<dyn Forge>) -> Self {
        ForgeTarget { forge }
    }
}

#[async_trait]
impl Target for ForgeTarget {
    async fn apply(
        &self,
        stored: &StoredAction,
        maybe_done: bool,
        calls: &mut i32,
    ) -> Result<(), EffectError> {
        Ok(perform(self.forge.as_ref(), stored, maybe_done, calls).await?)
    }
}

async fn perform(
    forge: &dyn Forge,
    stored: &StoredAction,
    maybe_done: bool,
    calls: &mut i32,
) -> Result<(), ForgeError> {
    match &stored.action {
        Action::RunCi {
            item, system, run, ..
        } => {
            if maybe_done {
                *calls += 1;
                if forge.ci_started(item, *system, run).await? {
                    return Ok(());
                }
            }
            *calls += 1;
            forge.run_ci(item, *system, run).await
        }
        Action::Remember { .. }
        | Action::RecheckBranch { .. }
        | Action::LookAgain { .. }
        | Action::Notify { .. }
        | Action::ChatReply { .. }
        | Action::BindChatUser { .. } => Err(ForgeError::Permanent(format!(
            "{} is not a forge action",
            stored.kind
        ))),
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
            let comment = Marked {
                item,
                body: body.clone(),
                marker: marker::action(stored.id),
            };
            post_once(forge, comment, maybe_done, calls).await
        }
        Action::UpsertBotComment {
            item,
            marker,
            body,
            adopt,
        } => {
            let marker = marker::notice(marker);
            *calls += 2;
            let bot = forge.bot_login().await?;
            let comments = forge.comments(item).await?;
            let ours = notices(&comments, &bot, &marker, adopt.as_deref());
            // bosun's own (marked) notice, else the newest adopted one; the rest are copies.
            let keep = ours
                .iter()
                .find(|c| c.body.contains(&marker))
                .or(ours.last())
                .map(|c| (c.id, c.body.clone()));
            for c in ours
                .iter()
                .filter(|c| Some(c.id) != keep.as_ref().map(|k| k.0))
            {
                *calls += 1;
                delete_if_there(forge, item, c.id).await?;
            }
            *calls += 1;
            let body = marker::append(body, &marker);
            match keep {
                Some((_, old)) if old == body => Ok(()),
                Some((id, _)) => forge.edit_comment(item, id, &body).await,
                None => forge.create_comment(item, &body).await.map(|_| ()),
            }
        }
        Action::DeleteBotComment {
            item,
            marker,
            adopt,
        } => {
            let marker = marker::notice(marker);
            *calls += 2;
            let bot = forge.bot_login().await?;
            let comments = forge.comments(item).await?;
            for c in notices(&comments, &bot, &marker, adopt.as_deref()) {
                *calls += 1;
                delete_if_there(forge, item, c.id).await?;
            }
            Ok(())
        }
        Action::CreateLabel {
            repo, name, color, ..
        } => {
            *calls += 1;
            forge.create_label(repo, name, color).await
        }
        Action::Assign {
            item,
            users,
            report,
        } => {
            *calls += 1;
            let missing = forge.assign(item, users).await?;
            match missing_reply(stored, item, report.as_ref(), &missing) {
                Some(reply) => post_once(forge, reply, maybe_done, calls).await,
                None => Ok(()),
            }
        }
        Action::Unassign { item, users } => {
            *calls += 1;
            forge.unassign(item, users).await
        }
        Action::RequestReviewers {
            item,
            users,
            teams,
            report,
        } => {
            *calls += 1;
            let missing = forge.request_reviewers(item, users, teams).await?;
            match missing_reply(stored, item, report.as_ref(), &missing) {
                Some(reply) => post_once(forge, reply, maybe_done, calls).await,
                None => Ok(()),
            }
        }
        Action::UnrequestReviewers { item, users, teams } => {
            *calls += 1;
            forge.unrequest_reviewers(item, users, teams).await
        }
        Action::SetTitle { item, title } => {
            *calls += 1;
            forge.set_title(item, title).await
        }
        Action::SetMilestone { item, milestone } => {
            *calls += 1;
            forge
                .set_milestone(item, milestone.as_ref().map(|m| m.id))
                .await
        }
        Action::Close { item, reason } => {
            *calls += 1;
            forge.close(item, *reason).await
        }
        Action::Reopen { item } => {
            *calls += 1;
            forge.reopen(item).await
        }
        Action::Merge {
            item,
            method,
            sha,
            commit,
            ..
        } => {
            if maybe_done {
                *calls += 1;
                if forge.pull_request(item).await?.state == ItemState::Merged {
                    return Ok(());
                }
            }
            *calls += 1;
            match forge
                .merge(item, *method, sha.as_deref(), commit.as_ref())
                .await
            {
                // Refused because it is merged already (another delivery, another bosun,
                // a person): what was asked is done, and nothing is merged twice.
                Err(ForgeError::Conflict(message)) => {
                    *calls += 1;
                    if forge.pull_request(item).await?.state == ItemState::Merged {
                        Ok(())
                    } else {
                        Err(ForgeError::Conflict(message))
                    }
                }
                other => other,
            }
        }
        Action::UpdateBranch { item, sha } => {
            // Done already when the head moved on from `sha` (the update landed, or a push).
            if maybe_done {
                *calls += 1;
                if forge.pull_request(item).await?.head_sha != *sha {
                    return Ok(());
                }
            }
            *calls += 1;
            forge.update_branch(item, sha).await
        }
        Action::AutoMerge { item, method, sha } => {
            if maybe_done {
                *calls += 1;
                if forge.pull_request(item).await?.state == ItemState::Merged {
                    return Ok(());
                }
            }
            // Asking again while it is already set is harmless.
            *calls += 1;
            forge.auto_merge(item, *method, sha).await
        }
        Action::SetStatus {
            repo, sha, status, ..
        } => {
            *calls += 1;
            forge.set_status(repo, sha, status).await
        }
        Action::CherryPick {
            item,
            request,
            reply,
        } => {
            let pick = Pick {
                item,
                request,
                reply,
            };
            cherry_pick(forge, stored, pick, maybe_done, calls).await
        }
        Action::TransferIssue { item, to } => {
            // The adapters treat an issue already in `to` as moved; one no longer found where
            // it was, on a repeated attempt, is the first attempt's move.
            *calls += 1;
            match forge.transfer_issue(item, to).await {
                Err(ForgeError::NotFound(_)) if maybe_done => Ok(()),
                other => other,
            }
        }
    }
}

/// Makes the cherry-pick PR, assigns the requester to it, and answers on the source PR once
/// (the reply carries the action's marker). A repeated attempt finds the PR its first attempt
/// opened, reported as created, not as someone else's.
async fn cherry_pick(
    forge: &dyn Forge,
    stored: &StoredAction,
    pick: Pick<'_>,
    maybe_done: bool,
    calls: &mut i32,
) -> Result<(), ForgeError> {
    let Pick {
        item,
        request,
        reply,
    } = pick;
    *calls += 1;
    let outcome = match forge.cherry_pick(item, request).await? {
        CherryPickOutcome::Exists { number } if maybe_done => CherryPickOutcome::Created { number },
        other => other,
    };
    if let CherryPickOutcome::Created { number } = outcome {
        let new = ItemRef {
            number,
            ..item.clone()
        };
        *calls += 1;
        match forge
            .assign(&new, std::slice::from_ref(&request.requester))
            .await
        {
            Err(e) if e.is_retryable() => return Err(e),
            Err(e) => {
                tracing::warn!(item = %new, error = %e, "could not assign the cherry-pick's requester")
            }
            Ok(_) => {}
        }
    }
    let answer = Marked {
        item,
        body: reply.body(item.forge, &outcome),
        marker: marker::action(stored.id),
    };
    post_once(forge, answer, maybe_done, calls).await
}

/// One cherry-pick action's parts.
struct Pick<'a> {
    item: &'a ItemRef,
    request: &'a CherryPickRequest,
    reply: &'a CherryPickReply,
}

/// A comment one journaled action posts, carrying that action's hidden marker.
struct Marked<'a> {
    item: &'a ItemRef,
    body: String,
    marker: String,
}

/// Posts `comment` unless, on a repeated attempt (`maybe_done`), a comment with its marker is
/// already there.
async fn post_once(
    forge: &dyn Forge,
    comment: Marked<'_>,
    maybe_done: bool,
    calls: &mut i32,
) -> Result<(), ForgeError> {
    if maybe_done {
        *calls += 1;
        if forge
            .comments(comment.item)
            .await?
            .iter()
            .any(|c| c.body.contains(&comment.marker))
        {
            return Ok(());
        }
    }
    *calls += 1;
    forge
        .create_comment(
            comment.item,
            &marker::append(&comment.body, &comment.marker),
        )
        .await
        .map(drop)
}

/// The reply naming the users the forge's answer left out, when there are any and the action
/// asks for one (lgtm's self-assignment and blunderbuss's requests say nothing, as in Prow).
fn missing_reply<'a>(
    stored: &StoredAction,
    item: &'a ItemRef,
    report: Option<&MissingUsersReply>,
    missing: &[Login],
) -> Option<Marked<'a>> {
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(Login::as_str).collect();
    tracing::info!(
        action = stored.id,
        kind = %stored.kind,
        missing = %names.join(", "),
        "the forge's answer leaves out users the action asked for"
    );
    Some(Marked {
        item,
        body: report?.body(&names),
        marker: marker::action(stored.id),
    })
}

/// The bot's comments that are one notice: those carrying `marker`, and, with `adopt`, those
/// without any bosun marker that open with that text (Prow's notice on the same account).
fn notices<'c>(
    comments: &'c [bosun_plugins::BotComment],
    bot: &bosun_plugins::Login,
    marker: &str,
    adopt: Option<&str>,
) -> Vec<&'c bosun_plugins::BotComment> {
    comments
        .iter()
        .filter(|c| {
            &c.author == bot
                && (c.body.contains(marker)
                    || adopt.is_some_and(|p| marker::is_unmarked_notice(&c.body, p)))
        })
        .collect()
}

/// Deletes a comment; one already gone (a retry, or a person deleted it) is fine.
async fn delete_if_there(
    forge: &dyn Forge,
    item: &bosun_plugins::ItemRef,
    id: u64,
) -> Result<(), ForgeError> {
    match forge.delete_comment(item, id).await {
        Err(ForgeError::NotFound(_)) => Ok(()),
        other => other,
    }
}
