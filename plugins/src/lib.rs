//! bosun's plugin API: the normalized [`Event`], the [`Action`]s plugins decide, the read-only
//! [`ForgeRead`] view they decide from, and the plugins themselves, one file each.
//!
//! This crate has no network, database or HTTP dependency on purpose: a plugin can only read
//! through [`ForgeRead`] and answer with data, which keeps every plugin testable with the
//! in-memory forge in [`testing`] and makes dry-run exact.

pub mod action;
pub mod approve;
pub mod assign;
pub mod blunderbuss;
pub mod cherry_pick;
pub mod command;
pub mod dco;
pub mod event;
pub mod fact;
pub mod forge;
pub mod help;
pub mod hold;
pub mod invalid_commit_msg;
pub mod label;
pub mod label_toggle;
pub mod lgtm;
pub mod lifecycle;
pub mod marker;
pub mod merge_commit_blocker;
pub mod milestone;
pub mod milestone_status;
pub mod needs_rebase;
pub mod notify;
pub mod overrides;
pub mod owners;
pub mod owners_label;
pub mod path_label;
pub mod pathglob;
pub mod permissions;
pub mod pick;
pub mod plugin;
pub mod release_note;
pub mod reply;
pub mod require_matching_label;
pub mod retitle;
pub mod shrug;
pub mod sigmention;
pub mod size;
pub mod skip;
pub mod testing;
pub mod tide;
pub mod transfer_issue;
pub mod trigger;
pub mod verify_owners;
pub mod welcome;
pub mod wip;

pub use action::{Action, Button, ChatMessage, CiRun, Destination, MissingUsersReply, ReplyTo};
pub use event::{
    CiEvent, CiState, CiSystem, CommentAction, CommentEvent, CommentSource, DeliveryFailedEvent,
    Event, ForgeKind, IssueAction, IssueEvent, Item, ItemKind, ItemRef, ItemState, Login,
    PingEvent, PrAction, PullRequestEvent, PushEvent, RepoPath, ReviewState,
};
pub use fact::{Approver, Fact};
pub use forge::{
    BotComment, ChangedFile, CommitDiff, CommitMessage, CommitStatus, DiffEntry, DiffStatus, Forge,
    ForgeError, ForgeRead, MergeMethod, Milestone, PrCommit, PullRequestInfo, Review, StatusState,
    Tree, TreeEntry, TreeEntryKind,
};
pub use plugin::{
    CiContext, CommandHelp, Context, History, NoHistory, Plugin, PluginError, PluginHelp,
    PluginLimits,
};

/// Every plugin bosun ships, in a plain list so go-to-definition works.
pub fn all_plugins() -> Vec<Box<dyn Plugin>> {
    vec![
        Box::new(approve::Approve),
        Box::new(assign::Assign),
        Box::new(blunderbuss::Blunderbuss),
        Box::new(dco::Dco),
        Box::new(help::Help),
        Box::new(hold::Hold),
        Box::new(invalid_commit_msg::InvalidCommitMsg),
        Box::new(label::Label),
        Box::new(lgtm::Lgtm),
        Box::new(lifecycle::Lifecycle),
        Box::new(merge_commit_blocker::MergeCommitBlocker),
        Box::new(milestone::Milestone),
        Box::new(milestone_status::MilestoneStatus),
        Box::new(needs_rebase::NeedsRebase),
        Box::new(notify::Notify),
        Box::new(overrides::Override),
        Box::new(owners_label::OwnersLabel),
        Box::new(path_label::PathLabel),
        Box::new(release_note::ReleaseNote),
        Box::new(retitle::Retitle),
        Box::new(size::Size),
        Box::new(skip::Skip),
        Box::new(tide::Tide),
        Box::new(trigger::Trigger),
        Box::new(welcome::Welcome),
        Box::new(wip::Wip),
        Box::new(verify_owners::VerifyOwners),
        Box::new(require_matching_label::RequireMatchingLabel),
        Box::new(cherry_pick::CherryPick),
        Box::new(shrug::Shrug),
        Box::new(sigmention::SigMention),
        Box::new(transfer_issue::TransferIssue),
    ]
}
