//! bosun's benchmarks as a library, so the end-to-end tests can reuse the page benchmark's
//! seeding and timing, and the `bosun-bench` binary can run them.

pub mod dictionary;
pub mod flow;
pub mod ingest;
pub mod owners;
pub mod pages;
pub mod route;
pub mod sqlite_pages;
pub mod startup;
