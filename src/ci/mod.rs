//! CI systems beyond the forges: Drone (a GitLab shop's usual CI) sends bosun its build
//! webhooks (see `server::drone`), and bosun drives it through its API.

pub mod config;
pub mod drone;
