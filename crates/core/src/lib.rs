//! Lifeboat's core: what every other crate stands on. The archive format
//! (snapshots, integrity checks, the ZIP, deltas, sealing, parts, verify),
//! the state database, the kinds of source, and the seams each kind of
//! destination plugs into. It holds no configuration loading: each kind's
//! section is parsed by the rules in [`config`], and the whole configuration
//! is loaded above the kinds, in `lifeboat-engine`, which runs backups,
//! restores, retention and the diagnosis with it.
//!
//! # Layout
//! - [`config`]: the rules every section is parsed by (errors, secrets, values, retry).
//! - [`source`]: what gets backed up: one folder per kind of source, each
//!   describing itself to the rest through [`source::SourceKind`], listed in
//!   [`source::KINDS`].
//! - [`snapshot`]: one point-in-time copy of a live database, through SQLite.
//! - [`integrity`]: `PRAGMA integrity_check` and row counts on a snapshot.
//! - [`archive`]: writing the ZIP (`backup_info.txt`, `manifest.json`), in parallel.
//! - [`delta`]: the block deltas of a differential archive.
//! - [`seal`]: encryption modes and keys; sealing and opening `.zip.age`.
//! - [`parts`]: splitting an archive over the upload limit, and reading parts back.
//! - [`verify`]: CRCs, manifest checksums and integrity of an archive's databases.
//! - [`salvage`]: the rows still readable in a damaged database, into a new one.
//! - [`destination`]: the traits each kind of destination implements.
//! - [`caption`]: what a message says about an archive, on every destination.
//! - [`shrink`]: what fell sharply since the previous archive.
//! - [`schema`]: comparing two databases' tables (restore's safety check).
//! - [`catalog`]: archive names and finding archives on disk.
//! - [`state`]: the state database shared by the binaries.
//! - [`lock`]: one cycle at a time across processes.
//! - [`logging`]: how every binary logs.
//! - [`service`]: readiness, the watchdog and the stop signals under systemd.
//! - [`schedule`]: cron parsing and fire times.
//! - [`finding`]: one finding of the diagnosis, which kinds of source also return.
//! - [`manifest`]: the archive's machine-readable description.
//! - [`units`]: sizes for people, the same everywhere.
//! - [`fsutil`]: private files and folders, free space.
//!
//! # Errors
//! Each module has its own `thiserror` enum (`ArchiveError`, `CatalogError`,
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
pub mod caption;
pub mod catalog;
pub mod config;
pub mod delta;
pub mod destination;
pub mod finding;
pub mod fsutil;
pub mod integrity;
pub mod lock;
pub mod logging;
pub mod manifest;
pub mod parts;
pub mod salvage;
pub mod schedule;
pub mod schema;
pub mod seal;
pub mod service;
pub mod shrink;
pub mod snapshot;
pub mod source;
pub mod state;
pub mod units;
pub mod verify;

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
