//! End-to-end tests: real bosun, real database, fake forge over real HTTP. One binary.

mod actions;
mod cli;
mod commands;
mod fault_storm;
mod forge_calls;
mod github_app;
mod hold;
mod hostile;
mod intake;
mod limits;
mod processes;
mod secrets;
mod store;
mod support;
