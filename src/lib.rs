//! bosun: a Prow-style bot for GitHub and GitLab.
//!
//! One delivery travels: `POST /hook` ([`server::hook`]) → group-committed to the journal
//! ([`intake`], [`store`]) → 202 → a worker claims it ([`queue`]) and hands it to
//! [`dispatch`]: normalized ([`webhook`]) → the enabled plugins decide (`bosun_plugins`) → the
//! decision is journaled and applied ([`executor`]) on its targets: the forge ([`forge`]),
//! bosun's record of the PR, chat channels.

pub mod chat;
pub mod ci;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod executor;
pub mod forge;
pub mod import_prow;
pub mod intake;
pub mod owners_cli;
pub mod queue;
pub mod reconcile;
pub mod reload;
pub mod repo_config;
pub mod resync;
pub mod server;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod webhook;
