//! Restore as plan, then execute.
//!
//! [`plan`] resolves the archive, reads its manifest and says, per database,
//! what will happen; it writes nothing (`--dry-run` is just the plan).
//! [`execute`] then:
//! 1. verifies the whole archive (CRCs, sizes, sha256, `integrity_check`),
//!    extracting into a private scratch folder; any problem, including a
//!    hostile entry (`..`, absolute path, link, unknown or duplicate name),
//!    refuses the restore with nothing written;
//! 2. for live restores, compares each replaced database's schema with the
//!    archive's (different tables need `force_schema`: a valid database of
//!    another application must not silently replace the bot's), then takes a
//!    safety snapshot of the databases about to be replaced (a `pre-restore`
//!    backup) before anything in the live folder is moved or written;
//! 3. writes each database *into* the live file through SQLite's backup API,
//!    so a running bot's open connections stay valid and see the restored
//!    data, and no stale `-wal` is ever paired with a new file. The live
//!    database keeps its journal mode. With `--to DIR` it writes plain files
//!    instead, never overwriting one.
//!
//! The caller holds the [`lifeboat_core::lock::CycleLock`], so no backup runs meanwhile.
//!
//! Special cases, decided here:
//! - A live file that is not an SQLite database at all (bad header, empty)
//!   cannot be written through SQLite: it is moved aside as
//!   `NAME.unreadable-YYYYMMDDTHHMMSSZ` (with any `-wal`/`-shm`/`-journal`),
//!   never deleted, and a fresh file is created through SQLite.
//! - A WAL-mode live database cannot change its page size through the backup
//!   API. When the archive's page size differs, the scratch copy is rebuilt
//!   with the live page size (`PRAGMA page_size; VACUUM`) first; the data is
//!   the same, only its layout differs. The outcome says so.
//! - A live database the safety snapshot cannot take (it fails its
//!   integrity check) is never overwritten unsaved: its files, with any
//!   `-wal`/`-journal`, are first copied durably into
//!   `output_dir/quarantine/NAME.YYYYMMDD_HHMMSS/` (see [`quarantine`]);
//!   if that copy fails, nothing is written. The same holds for a file of a
//!   files source that the snapshot could not read. The plan says so.
//! - A live path that crosses a symbolic link (the file, or any folder
//!   above it) is one of the plan's problems, and files are written
//!   through folders opened with `O_NOFOLLOW` (`nofollow.rs`).
//! - `latest` skips pre-restore safety snapshots (see [`plan`]).
//! - A live restore writes only databases named in `backup.databases`, so
//!   every one of them is in the safety snapshot; an archive's other
//!   databases are restored with `--to DIR` only.
//! - `--to DIR` refuses any destination file that already exists (a
//!   problem of the plan, and again, atomically, when writing).

mod at;
pub mod chat;
mod execute;
mod nofollow;
pub mod pending;
mod plan;
mod preflight;
pub mod quarantine;
mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backup::BackupError;
use lifeboat_core::catalog::{CatalogError, StoredArchive};
use lifeboat_core::manifest::{Manifest, TableCount};
use lifeboat_core::state::StateError;
use lifeboat_core::verify::VerifyError;

pub use at::{AtPlan, parse_time, plan_at};
pub use execute::execute;
pub use plan::plan;
pub use preflight::verify_archive;
pub use quarantine::Quarantined;

/// How long to wait for the bot's connections to let go of a database.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// "latest", a file name in output_dir, or a path (ZIP or first part).
    pub archive: String,
    /// Only these databases (empty = all in the archive).
    pub only: Vec<String>,
    /// Write plain files into this folder instead of the live databases.
    pub to: Option<PathBuf>,
    /// Replace live databases even when their tables differ from the archive's.
    pub force_schema: bool,
}

/// What will happen to one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write into the existing live database through SQLite's backup API.
    Replace {
        /// Its current size in bytes.
        current_size: u64,
        /// Its journal mode ("wal" or "delete"), kept.
        journal_mode: String,
        page_size: u32,
    },
    /// The live file is not an SQLite database: move it aside, create anew.
    ReplaceUnreadable {
        /// Why it cannot be opened as a database.
        reason: String,
    },
    /// No live file yet: create it.
    Create,
    /// Write a new plain file into `--to`.
    WriteFile,
    /// Load a dump into the configured server (each kind says how:
    /// [`lifeboat_core::source::SourceKind::load`]).
    LoadDump {
        /// The configured source's name.
        source: String,
        /// How a plan describes it.
        words: lifeboat_core::source::LoadWords,
    },
    /// Write a file back to its own path (replacing it when `exists`).
    WriteBack {
        /// The file is there now.
        exists: bool,
    },
}

/// One database in a plan.
#[derive(Debug, Clone)]
pub struct PlannedDatabase {
    pub name: String,
    /// Where it will be written.
    pub dest: PathBuf,
    /// Bytes in the archive.
    pub size: u64,
    /// Rows in the archive (all tables).
    pub rows: u64,
    /// What will happen.
    pub action: Action,
    /// How the archive's tables differ from the live database's (empty when
    /// they match, or nothing is replaced).
    pub schema_changes: Vec<String>,
    /// Why the live database about to be replaced fails its check now: the
    /// safety snapshot cannot take it, so its files go to quarantine first.
    pub damaged: Option<String>,
    /// What its restore does first, because its target does not exist
    /// yet (a PostgreSQL database created): nothing there to keep.
    pub first: Option<String>,
}

/// The plan: which archive, and what happens to each database.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    /// The archive (whole or parts).
    pub archive: StoredArchive,
    /// Its manifest, as read when planning.
    pub manifest: Manifest,
    /// `--to DIR`, or None for the live databases.
    pub to: Option<PathBuf>,
    /// The databases, in archive order.
    pub databases: Vec<PlannedDatabase>,
    /// The archive's entries left out of a live restore because no
    /// configured source covers them.
    pub unconfigured: Vec<String>,
    /// Entries left out of a live restore because their kind's server
    /// loads a copy only in its own way ([`RestorePlan::manual_reasons`]
    /// says why; a restore into a folder notes the steps).
    pub manual: Vec<String>,
    /// Replace even when the schema differs.
    pub force_schema: bool,
    /// Everything found before writing that would stop the restore (a
    /// missing base, a server that does not answer, a folder that cannot be
    /// written): all of them, so one look shows every one. A plan with any
    /// is not carried out.
    pub problems: Vec<String>,
    /// `--at TIME`: the databases are rebuilt as of that moment.
    pub at: Option<AtPlan>,
    /// `output_dir/quarantine`.
    quarantine_dir: PathBuf,
}

impl RestorePlan {
    /// True when live databases are written.
    pub fn is_live(&self) -> bool {
        self.to.is_none()
    }

    /// Names of the databases in the plan.
    pub fn names(&self) -> Vec<String> {
        self.databases.iter().map(|d| d.name.clone()).collect()
    }

    /// Where damaged live files are copied before being replaced.
    pub fn quarantine_dir(&self) -> &Path {
        &self.quarantine_dir
    }

    /// True when some live database about to be replaced is damaged.
    pub fn any_damaged(&self) -> bool {
        self.databases.iter().any(|d| d.damaged.is_some())
    }

    /// True when some database's tables differ from the live one's.
    pub fn schema_differs(&self) -> bool {
        self.databases.iter().any(|d| !d.schema_changes.is_empty())
    }

    /// Why the [`RestorePlan::manual`] entries are not restored live: each
    /// kind's reason with its entries, in archive order.
    pub fn manual_reasons(&self) -> Vec<(lifeboat_core::source::ManualRestore, Vec<String>)> {
        let mut out: Vec<(lifeboat_core::source::ManualRestore, Vec<String>)> = Vec::new();
        for name in &self.manual {
            let Some(why) =
                self.manifest.database(name).and_then(|e| lifeboat_core::source::kind(e.kind).manual_restore())
            else {
                continue;
            };
            match out.iter_mut().find(|(w, _)| *w == why) {
                Some((_, names)) => names.push(name.clone()),
                None => out.push((why, vec![name.clone()])),
            }
        }
        out
    }

    /// What the archive holds that this plan leaves out because it was
    /// not selected (`--only`), in archive order.
    pub fn not_selected(&self) -> Vec<&str> {
        self.manifest
            .databases
            .iter()
            .map(|e| e.name.as_str())
            .filter(|name| {
                !self.databases.iter().any(|d| d.name == *name)
                    && !self.unconfigured.iter().any(|u| u == name)
                    && !self.manual.iter().any(|m| m == name)
            })
            .collect()
    }
}

/// One database after the restore.
#[derive(Debug, Clone)]
pub struct RestoredDatabase {
    pub name: String,
    /// Where it was written.
    pub dest: PathBuf,
    /// Tables and their rows, read back after writing.
    pub tables: Vec<TableCount>,
    /// The row counts equal the manifest's.
    pub rows_match_manifest: bool,
}

impl RestoredDatabase {
    /// Rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    /// The archive restored from.
    pub archive: String,
    /// The databases written, in order.
    pub restored: Vec<RestoredDatabase>,
    /// The safety snapshot's archive name, when one was taken.
    pub safety_archive: Option<String>,
    /// What the safety snapshot could not take, copied aside before it was
    /// overwritten.
    pub quarantined: Vec<Quarantined>,
    /// Things the operator should know (skipped from the safety snapshot,
    /// page size rebuilt, files moved aside...).
    pub notes: Vec<String>,
}

/// Why a restore did not happen (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Finding the archive.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Reading the archive.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The archive did not verify.
    #[error("refusing to restore from {archive}: it did not verify, and nothing was written:\n  - {}", .problems.join("\n  - "))]
    NotVerified {
        archive: String,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// `--only NAME` not in the archive.
    #[error("{name} is not in {archive}; it holds: {}", .available.join(", "))]
    UnknownDatabase {
        /// The requested name.
        name: String,
        archive: String,
        /// What the archive has.
        available: Vec<String>,
    },
    /// The manifest names something that is not a database file name.
    #[error("refusing {archive}: its manifest names {name:?}, which {why}; nothing was written")]
    Hostile {
        archive: String,
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// `--only NAME` of a live restore names a database outside `backup.databases`.
    #[error(
        "{name} is not in backup.databases, so a live restore does not write it into {dir}; \
         restore it into a folder with --to DIR, or add it to backup.databases first"
    )]
    NotConfigured {
        name: String,
        /// backup.source_dir
        dir: PathBuf,
    },
    /// Nothing in the archive may be restored live.
    #[error(
        "none of the databases in {archive} ({}) is in backup.databases, so nothing would be restored live; \
         restore them into a folder with --to DIR", .names.join(", ")
    )]
    NothingConfigured {
        archive: String,
        /// Its databases.
        names: Vec<String>,
    },
    /// The archive's tables differ from the live database's.
    #[error(
        "refusing to replace live databases whose tables differ from the archive's; nothing was written:\n  - {}\n\
         check that this archive belongs to this bot; to replace them anyway run the restore again with --force-schema",
        .changes.join("\n  - ")
    )]
    SchemaDiffers {
        /// "name: what differs", one per difference.
        changes: Vec<String>,
    },
    /// `--to` would overwrite a file.
    #[error("{0} already exists; restore --to never overwrites: remove it or choose an empty folder")]
    DestinationExists(PathBuf),
    /// `--to` (or a folder above it) is a file.
    #[error("--to {0}: {1} is a file, not a folder; give a folder (it is created if missing)")]
    ToNotAFolder(PathBuf, PathBuf),
    /// The checks before writing found problems.
    #[error("refusing to restore from {archive}; nothing was written. Fix these first:\n  - {}", .problems.join("\n  - "))]
    Preflight {
        archive: String,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// A live path crosses a symbolic link.
    #[error(
        "refusing to restore {dest}: {link} is a symbolic link (to {target}), and a restore never writes \
         through one (whoever can change that folder could send the restored data anywhere); nothing was written. \
         Put the real folder back, or restore with --to DIR and copy what you need by hand"
    )]
    Symlink {
        /// The live path to be written.
        dest: PathBuf,
        /// The part of it that is a link.
        link: PathBuf,
        /// Where the link points.
        target: PathBuf,
    },
    /// A damaged live file could not be copied aside before being replaced.
    #[error(
        "{name} could not be taken by the safety snapshot, and copying it into {dir} failed ({source}); \
         nothing was written. Free space there (or move the damaged files somewhere safe yourself), then run \
         the restore again"
    )]
    Quarantine {
        name: String,
        /// The quarantine folder.
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The live path is something other than a file.
    #[error("{0} exists but is not a regular file; move it away first")]
    NotAFile(PathBuf),
    /// The archive differs from when the plan was made.
    #[error("{0} changed since the plan was made; make the plan again")]
    Changed(String),
    /// The safety snapshot failed.
    #[error("the safety snapshot failed, so nothing was restored: {0}")]
    SafetySnapshot(#[source] BackupError),
    /// The bot held the database too long.
    #[error("{name}: still locked by another connection after {secs} s; stop the bot's long transaction and retry")]
    Busy {
        name: String,
        /// Seconds waited.
        secs: u64,
    },
    /// SQLite failed writing a database.
    #[error("restoring {name} into {path}: {source}")]
    Sqlite { name: String, path: PathBuf, source: rusqlite::Error },
    /// Loading a copy into a server failed.
    #[error("restoring {name}: {why}")]
    Tool {
        name: String,
        /// What went wrong, with what the tool said.
        why: lifeboat_core::source::ServerError,
    },
    /// File system.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// Stopped by a signal.
    #[error("cancelled; databases restored before stopping: {}", if .restored.is_empty() { "none".to_string() } else { .restored.join(", ") })]
    Cancelled {
        /// Already written.
        restored: Vec<String>,
    },
    #[error(transparent)]
    State(#[from] StateError),
    /// A live restore failed after writing began, and every database it
    /// had written was put back as it was from the safety snapshot.
    #[error(
        "{error}\nnothing is left half restored: put back as it was before this restore, from the safety \
         snapshot {safety}: {}", .put_back.join(", ")
    )]
    PutBack {
        /// What stopped it.
        error: Box<RestoreError>,
        /// The safety snapshot's archive name.
        safety: String,
        /// What was put back (or removed again).
        put_back: Vec<String>,
    },
    /// A live restore failed after writing began, and putting back what it
    /// had written failed too.
    #[error(
        "{error}\nputting back what was already written failed too ({undo}): the live data is now half \
         restored. The safety snapshot {safety} holds it as it was before this restore: \
         `lifeboat restore {safety} --yes` puts it back (a new restore's own safety snapshot would hold the \
         half-restored state)"
    )]
    HalfRestored {
        /// What stopped it.
        error: Box<RestoreError>,
        /// The safety snapshot's archive name.
        safety: String,
        /// Why putting back failed.
        undo: Box<RestoreError>,
    },
    /// `restore latest --at TIME` with no archive taken at or before TIME.
    #[error(
        "no archive was taken at or before {at}: a point-in-time restore starts from one; \
         `lifeboat list` shows the archives there are"
    )]
    NoArchiveBefore { at: chrono::DateTime<chrono::Utc> },
    /// `restore ARCHIVE --at TIME` with an archive taken after TIME.
    #[error("{archive} was taken after {at}; name an archive taken at or before it, or use `latest`")]
    ArchiveAfter { archive: String, at: chrono::DateTime<chrono::Utc> },
    /// Some database cannot be rebuilt as of TIME; nothing was written.
    #[error(
        "cannot restore as of {at}, and nothing was written:\n  - {}\nrestore the others alone with --only NAME, \
         or pick a moment the increments reach (`lifeboat list` shows the span per database)",
        .problems.join("\n  - ")
    )]
    NotReached {
        at: chrono::DateTime<chrono::Utc>,
        /// One per database, saying what it can reach instead.
        problems: Vec<String>,
    },
    /// Rebuilding a database from its increments failed; nothing was written.
    #[error("rebuilding {name} from its continuous increments failed, and nothing was written: {source}")]
    Rebuild { name: String, source: Box<lifeboat_core::source::sqlite::continuous::ContinuousError> },
    /// The rebuilt database fails its integrity check; nothing was written.
    #[error(
        "refusing to restore {name}: rebuilt as of {at}, it fails its integrity check ({why}); nothing was written"
    )]
    RebuiltDamaged { name: String, at: chrono::DateTime<chrono::Utc>, why: String },
    /// A live restore stopped after its safety snapshot was taken but
    /// before it changed any live database, server or file.
    #[error(
        "{error}\nnothing was changed: the restore stopped before it wrote to any live database, server or \
         file, so nothing needed putting back (the safety snapshot {safety} taken first holds them as they \
         still are)"
    )]
    AfterSafetySnapshot {
        /// What stopped it.
        error: Box<RestoreError>,
        /// The safety snapshot's archive name.
        safety: String,
    },
}

pub(super) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestoreError {
    let context = context.into();
    move |source| RestoreError::Io { context, source }
}

pub(super) fn sql(name: &str, path: &Path) -> impl FnOnce(rusqlite::Error) -> RestoreError {
    let (name, path) = (name.to_string(), path.to_path_buf());
    move |source| RestoreError::Sqlite { name, path, source }
}
