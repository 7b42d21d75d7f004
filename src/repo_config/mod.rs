//! A repository's own configuration: a `.bosun.toml` on its default branch that enables
//! plugins and sets their settings for that repository, layered over the central file. The
//! central `[repo_config]` section decides whether repositories may do this at all, which
//! plugins they may turn on, which settings keys they may set, and which plugins no repository
//! may touch.
//!
//! Layout: `policy.rs` (the `[repo_config]` section), `overlay.rs` (reading one file against
//! the policy, with `check-config`'s problem list), `cache.rs` (one read per repository until
//! a push to its default branch touches the file), `check.rs` (the status and comment on a PR
//! that changes the file).

mod cache;
mod check;
mod overlay;
mod policy;

pub use cache::{Central, RepoConfigs, RepoFile};
pub use check::{CHECK_PLUGIN, STATUS_CONTEXT, check_pull_request};
pub use overlay::{Overlay, parse_overlay};
pub use policy::{RepoConfigPolicy, RepoConfigSection};
