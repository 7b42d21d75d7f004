//! bosun: a Prow-style bot for GitHub and GitLab. See DESIGN in the README for how one delivery
//! travels from `POST /hook` to actions on the forge.

pub mod forge;
pub mod webhook;
