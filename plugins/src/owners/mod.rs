//! OWNERS files: who may approve and review which paths, and which labels they carry
//! (reference/prow.md §4). Parsing, resolution and the approval computation are pure; loading
//! goes through [`crate::ForgeRead`] with caches so no clone is ever needed.

pub mod approvals;
pub mod load;
pub mod parse;
pub mod resolve;
pub mod reviewers;

pub use approvals::{ApprovalCheck, logins};
pub use load::{
    DIR_DENYLIST, LoadStats, MemoryOwnersCache, OwnersCache, OwnersIndex, OwnersLoader,
    OwnersPolicy, is_denied_dir, under_denied_dir,
};
pub use parse::{
    AliasesFile, OwnersFile, OwnersOptions, OwnersProblem, OwnersRule, parse_aliases,
    parse_markdown_front_matter, parse_owners,
};
pub use resolve::{
    Aliases, CompiledOwners, Logins, PathClasses, RepoOwners, Role, normalize_login, owners_key,
    parent_dir,
};
pub use reviewers::{ReviewerChoice, ReviewerRequest, choose_reviewers};
