//! Lifeboat's core: consistent snapshots of live SQLite databases, verified
//! ZIP archives, restore, retention, configuration and the shared state.
//!
//! # Layout
//! - [`config`]: the layered configuration, validated at start-up.
//! - [`source`]: what gets backed up: one folder per kind of source, each
//!   describing itself to the rest through [`source::SourceKind`], listed in
//!   [`source::KINDS`].
//! - [`snapshot`]: one point-in-time copy of a live database, through SQLite.
//! - [`integrity`]: `PRAGMA integrity_check` and row counts on a snapshot.
//! - [`archive`]: writing the ZIP (`backup_info.txt`, `manifest.json`), in parallel.
//! - [`parts`]: splitting an archive over the upload limit, and reading parts back.
//! - [`backup`]: one backup run: snapshot → check → archive → verify → rename.
//! - [`verify`]: CRCs, manifest checksums and integrity of an archive's databases.
//! - [`restore`]: plan, then execute, into the live databases or a folder.
//! - [`retention`]: which archives to remove, as a pure function of `now`.
//! - [`salvage`]: the rows still readable in a damaged database, into a new one.
//! - [`rows`]: row-level `diff` between two copies, and `export` as JSON lines or CSV.
//! - [`destination`]: the traits each kind of destination implements.
//! - [`caption`]: what a message says about an archive, on every destination.
//! - [`hooks`]: the operator's commands before and after a cycle.
//! - [`shrink`]: what fell sharply since the previous archive.
//! - [`schema`]: comparing two databases' tables (restore's safety check).
//! - [`catalog`]: archive names and finding archives on disk.
//! - [`state`]: the state database shared by the binaries.
//! - [`status`]: where the backups stand, one query for every screen.
//! - [`lock`]: one cycle at a time across processes.
//! - [`logging`]: how every binary logs.
//! - [`service`]: readiness, the watchdog and the stop signals under systemd.
//! - [`schedule`]: cron parsing and fire times.
//! - [`diagnose`]: what is wrong with the live setup, and what to do.
//! - [`manifest`]: the archive's machine-readable description.
//! - [`metrics`]: the state as Prometheus metrics.
//! - [`units`]: sizes for people, the same everywhere.
//! - [`fsutil`]: private files and folders, free space.
//!
//! # Errors
//! Each module has its own `thiserror` enum (`BackupError`, `RestoreError`,
//! `VerifyError`, `ConfigError`, `StateError`…) and public functions return
//! it; `anyhow` stays in the binaries. The policy:
//! - **Variants are cases a caller acts on**, not one per call site: a full
//!   disk, a cancelled run, a database that is not configured, a checksum that
//!   does not match. The binaries map them to exit codes and advice.
//! - **Context is a field, the cause is a `#[source]`**: a path or a database
//!   name the reader needs goes into the variant, the underlying
//!   `io::Error`/`rusqlite::Error` stays typed beneath it. Nothing is turned
//!   into a `String` to cross a crate boundary.
//! - **Messages say what went wrong and what to do**, in words an operator
//!   reads, never with a secret in them.
//! - **Transient vs permanent is a type, not a guess from text**: delivery
//!   failures carry a `state::FailureCode`; a core error is permanent for the
//!   run that met it, and the next scheduled run is the retry.
//! - **Loss is never an error path**: an error leaves the live databases and
//!   the archives as they were (temp files removed, nothing half-renamed).

pub mod archive;
pub mod backup;
pub mod caption;
pub mod catalog;
pub mod config;
pub mod delta;
pub mod destination;
pub mod diagnose;
pub mod fsutil;
pub mod hooks;
pub mod integrity;
pub mod lock;
pub mod logging;
pub mod manifest;
pub mod metrics;
pub mod parts;
pub mod restore;
pub mod retention;
pub mod rows;
pub mod salvage;
pub mod schedule;
pub mod schema;
pub mod seal;
pub mod service;
pub mod shrink;
pub mod snapshot;
pub mod source;
pub mod state;
pub mod status;
pub mod units;
pub mod verify;

pub use config::Config;
pub use manifest::{Manifest, Trigger};
pub use tokio_util::sync::CancellationToken;

/// Process exit codes: 0–3 fixed by the design, the rest documented in
/// `docs/operations.md`.
pub mod exit {
    /// Everything succeeded.
    pub const SUCCESS: i32 = 0;
    /// The operation failed.
    pub const FAILURE: i32 = 1;
    /// Bad usage or configuration.
    pub const USAGE: i32 = 2;
    /// Partial: some database skipped (or some delivery failed).
    pub const PARTIAL: i32 = 3;
    /// Not started: another backup or restore holds the cycle lock. Try
    /// again later; nothing is wrong.
    pub const BUSY: i32 = 4;
    /// A command stopped by a signal exits with this plus the signal's
    /// number, as shells report it: 130 for Ctrl-C, 143 for SIGTERM.
    pub const INTERRUPTED_BASE: i32 = 128;
}

/// Data the unit tests share.
#[cfg(test)]
pub(crate) mod test_data {
    /// Pseudo-random bytes from `seed`, the same on every run: pages and
    /// keys that do not compress, like real data after deflate.
    pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }
}
