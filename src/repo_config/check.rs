//! A PR that changes the repository's `.bosun.toml` gets a status and, when the file has
//! problems, one comment listing every one of them, before it can merge: a broken file is
//! caught in review instead of being ignored after it lands.

use super::cache::{Central, RepoFile};
use bosun_plugins::forge::{CommitStatus, StatusState};
use bosun_plugins::reply::format_simple;
use bosun_plugins::{Action, ForgeError, ForgeRead, Plugin, PrAction, PullRequestEvent};

/// The status context the check sets, also the marker of its comment.
pub const STATUS_CONTEXT: &str = "bosun/config";
/// The name the check's actions are journaled under.
pub const CHECK_PLUGIN: &str = "repo-config";

/// The status and comment for a PR event: nothing unless the PR is opened, reopened or pushed
/// to and changes the file (a push that no longer changes it drops an earlier comment).
pub async fn check_pull_request(
    event: &PullRequestEvent,
    forge: &dyn ForgeRead,
    central: &Central<'_>,
    plugins: &[Box<dyn Plugin>],
    help_url: &str,
) -> Result<Vec<Action>, ForgeError> {
    let pushed = matches!(event.action, PrAction::Synchronized { .. });
    if !(pushed || matches!(event.action, PrAction::Opened | PrAction::Reopened)) {
        return Ok(Vec::new());
    }
    let item = &event.pr.reference;
    let file = central.policy.file.as_str();
    let changed = forge.changed_files(item).await?;
    let touches = changed
        .iter()
        .any(|f| f.path == file || f.previous_path.as_deref() == Some(file));
    let drop_comment = Action::DeleteBotComment {
        item: item.clone(),
        marker: STATUS_CONTEXT.into(),
        adopt: None,
    };
    if !touches {
        return Ok(if pushed {
            vec![drop_comment]
        } else {
            Vec::new()
        });
    }
    let bytes = forge
        .file_content(&item.repo, file, &event.head_sha)
        .await?;
    let read = match bytes {
        None => RepoFile::Missing,
        Some(bytes) => super::cache::read(Some(&bytes), central, &item.repo, plugins),
    };
    let status = |state, description: String| Action::SetStatus {
        forge: item.forge,
        repo: item.repo.clone(),
        sha: event.head_sha.clone(),
        status: CommitStatus {
            state,
            context: STATUS_CONTEXT.into(),
            description,
            target_url: Some(help_url.to_string()),
        },
    };
    Ok(match read {
        RepoFile::Missing => vec![
            status(
                StatusState::Success,
                format!("{file} removed: the central configuration applies"),
            ),
            drop_comment,
        ],
        RepoFile::Valid(_) => vec![
            status(StatusState::Success, format!("{file} is valid")),
            drop_comment,
        ],
        RepoFile::Invalid(problems) => {
            let count = problems.len();
            let noun = if count == 1 { "problem" } else { "problems" };
            let list: String = problems
                .iter()
                .map(|p| format!("- `{}`: {}\n", p.key, p.message))
                .collect();
            let body = format!(
                "`{file}` in this pull request has {count} {noun}; bosun would ignore the file \
                 until they are fixed:\n\n{list}"
            );
            vec![
                status(
                    StatusState::Failure,
                    format!("{file} has {count} {noun}; see the comment"),
                ),
                Action::UpsertBotComment {
                    item: item.clone(),
                    marker: STATUS_CONTEXT.into(),
                    body: format_simple(&body, help_url),
                    adopt: None,
                },
            ]
        }
    })
}
