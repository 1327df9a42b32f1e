//! Lifeboat's engine: the configuration loaded and checked once, and what
//! runs on it. It stands above `lifeboat-core` (the archive format, the
//! state database, the kinds of source and the destinations' seams) and
//! gathers each kind's section into one `Config`.
//!
//! # Layout
//! - [`config`]: the layered configuration, validated at start-up.
//! - [`destinations`]: the registry of the kinds of destination: their
//!   sections, gathered into the configuration, and how each opens.
//! - [`backup`]: one backup run: snapshot → check → archive → verify → rename.
//! - [`restore`]: plan, then execute, into the live databases or a folder.
//! - [`retention`]: which archives to remove, as a pure function of `now`.
//! - [`rows`]: row-level `diff` between two copies, and `export` as JSON lines or CSV.
//! - [`hooks`]: the operator's commands before and after a cycle.
//! - [`status`]: where the backups stand, one query for every screen.
//! - [`diagnose`]: what is wrong with the live setup, and what to do.
//! - [`metrics`]: the state as Prometheus metrics.
//!
//! # Errors
//! The policy of `lifeboat-core` holds here too: each module has its own
//! `thiserror` enum (`BackupError`, `RestoreError`, `ConfigError`…) whose
//! variants are cases a caller acts on, context in fields and the cause a
//! typed `#[source]`, messages that say what to do, and no loss on an error
//! path: a failed restore puts back what it wrote, a failed backup leaves
//! no archive.

pub mod backup;
pub mod config;
pub mod destinations;
pub mod diagnose;
pub mod hooks;
pub mod metrics;
pub mod restore;
pub mod retention;
pub mod rows;
pub mod status;

pub use config::Config;
