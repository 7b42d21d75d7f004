//! End-to-end tests: real bosun, real database, fake forge over real HTTP. One binary.

mod actions;
mod browser;
mod chat;
mod chatops;
mod cli;
mod commands;
mod facts;
mod fake_chat;
mod fault_storm;
mod forge_calls;
mod github_app;
mod hold;
mod hostile;
mod import_prow;
mod intake;
mod limits;
mod owners;
mod pages;
mod permissions;
mod processes;
mod prow_compat;
mod quiet;
mod secrets;
mod size_labels;
mod store;
mod support;
