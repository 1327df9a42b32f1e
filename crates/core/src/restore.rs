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
//! The caller holds the [`crate::lock::CycleLock`], so no backup runs meanwhile.
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
//! - `latest` skips pre-restore safety snapshots (see [`plan`]).
//! - A live restore writes only databases named in `backup.databases`, so
//!   every one of them is in the safety snapshot; an archive's other
//!   databases are restored with `--to DIR` only.
//! - `--to DIR` refuses any destination file that already exists (at plan
//!   time and again, atomically, when writing).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use tokio_util::sync::CancellationToken;

use crate::backup::{BackupError, BackupOptions};
use crate::catalog::{CatalogError, StoredArchive};
use crate::config::Config;
use crate::manifest::{Manifest, SIDECAR_SUFFIXES, TableCount, Trigger};
use crate::state::{Level, State, StateError};
use crate::units::human_size;
use crate::verify::{self, VerifyError};

/// How long to wait for the bot's connections to let go of a database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

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
        /// Its page size.
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
}

/// One database in a plan.
#[derive(Debug, Clone)]
pub struct PlannedDatabase {
    /// Its name in the archive.
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
    /// The archive's databases left out of a live restore because they are
    /// not in `backup.databases`.
    pub unconfigured: Vec<String>,
    /// Replace even when the schema differs.
    pub force_schema: bool,
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

    /// True when some database's tables differ from the live one's.
    pub fn schema_differs(&self) -> bool {
        self.databases.iter().any(|d| !d.schema_changes.is_empty())
    }

    /// The plan for programs (`restore --dry-run --json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "archive": self.archive.name,
            "files": self.archive.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "created_at": self.manifest.created_at,
            "trigger": self.manifest.trigger,
            "target": match &self.to { Some(d) => d.display().to_string(), None => "live".to_string() },
            "databases": self.databases.iter().map(|d| {
                let (action, detail) = match &d.action {
                    Action::Replace { current_size, journal_mode, page_size } => ("replace", serde_json::json!({
                        "current_size": current_size, "journal_mode": journal_mode, "page_size": page_size,
                    })),
                    Action::ReplaceUnreadable { reason } => ("replace-unreadable", serde_json::json!({ "reason": reason })),
                    Action::Create => ("create", serde_json::Value::Null),
                    Action::WriteFile => ("write-file", serde_json::Value::Null),
                };
                serde_json::json!({
                    "name": d.name, "dest": d.dest.display().to_string(), "size": d.size, "rows": d.rows,
                    "action": action, "current": detail, "schema_changes": d.schema_changes,
                })
            }).collect::<Vec<_>>(),
            "unconfigured": self.unconfigured,
        })
    }
}

impl fmt::Display for RestorePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(
            f,
            "Restore from {} (taken {} on {}, {}, {} database{}{})",
            self.archive.name,
            m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            m.host,
            m.trigger,
            m.databases.len(),
            if m.databases.len() == 1 { "" } else { "s" },
            if self.archive.is_split() { format!(", {} parts", self.archive.files.len()) } else { String::new() }
        )?;
        for d in &self.databases {
            let what = match &d.action {
                Action::Replace { current_size, journal_mode, .. } => format!(
                    "REPLACE {} (now {}, {journal_mode} mode, kept; written through SQLite so open connections stay valid)",
                    d.dest.display(),
                    human_size(*current_size)
                ),
                Action::ReplaceUnreadable { reason } => format!(
                    "REPLACE {} — it is not a readable database ({reason}); it is moved aside as {}.unreadable-<time>, not deleted",
                    d.dest.display(),
                    d.name
                ),
                Action::Create => format!("CREATE {} (it does not exist)", d.dest.display()),
                Action::WriteFile => format!("WRITE {} (new file, 0600)", d.dest.display()),
            };
            writeln!(f, "  {:<24} {:>10}, {:>9} rows → {what}", d.name, human_size(d.size), d.rows)?;
            for c in &d.schema_changes {
                writeln!(f, "      schema differs: {c}")?;
            }
        }
        let left_out: Vec<&str> = m
            .databases
            .iter()
            .filter(|e| !self.databases.iter().any(|d| d.name == e.name) && !self.unconfigured.contains(&e.name))
            .map(|e| e.name.as_str())
            .collect();
        if !left_out.is_empty() {
            writeln!(f, "  not restored (not selected): {}", left_out.join(", "))?;
        }
        if !self.unconfigured.is_empty() {
            writeln!(
                f,
                "  not restored (not in backup.databases; restore it with --to DIR): {}",
                self.unconfigured.join(", ")
            )?;
        }
        if self.schema_differs() {
            writeln!(
                f,
                "  The archive's tables differ from the live database's: it may belong to another application \
                 or another version of the bot. {}",
                if self.force_schema {
                    "Replacing anyway (--force-schema)."
                } else {
                    "Nothing will be replaced unless you add --force-schema."
                }
            )?;
        }
        if self.is_live() {
            write!(
                f,
                "Before writing, the archive is verified in full and a safety snapshot of the databases being replaced is taken."
            )
        } else {
            write!(f, "Before writing, the archive is verified in full. Live databases are not touched.")
        }
    }
}

/// One database after the restore.
#[derive(Debug, Clone)]
pub struct RestoredDatabase {
    /// Name.
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
    /// Things the operator should know (skipped from the safety snapshot,
    /// page size rebuilt, files moved aside...).
    pub notes: Vec<String>,
}

impl RestoreOutcome {
    /// The outcome for programs (`restore --json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "archive": self.archive,
            "safety_archive": self.safety_archive,
            "restored": self.restored.iter().map(|d| serde_json::json!({
                "name": d.name,
                "dest": d.dest.display().to_string(),
                "rows": d.total_rows(),
                "rows_match_manifest": d.rows_match_manifest,
                "tables": d.tables.iter().map(|t| serde_json::json!({ "name": t.name, "rows": t.rows })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

impl fmt::Display for RestoreOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Restored from {}:", self.archive)?;
        for d in &self.restored {
            writeln!(
                f,
                "  ✓ {:<24} {:>9} rows → {}{}",
                d.name,
                d.total_rows(),
                d.dest.display(),
                if d.rows_match_manifest { "" } else { " (row counts differ from the manifest!)" }
            )?;
        }
        match &self.safety_archive {
            Some(s) => writeln!(f, "Safety snapshot of the replaced databases: {s}")?,
            None => writeln!(f, "No safety snapshot was taken.")?,
        }
        for n in &self.notes {
            writeln!(f, "Note: {n}")?;
        }
        Ok(())
    }
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
        /// Archive name.
        archive: String,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// `--only NAME` not in the archive.
    #[error("{name} is not in {archive}; it holds: {}", .available.join(", "))]
    UnknownDatabase {
        /// The requested name.
        name: String,
        /// Archive name.
        archive: String,
        /// What the archive has.
        available: Vec<String>,
    },
    /// The manifest names something that is not a database file name.
    #[error("refusing {archive}: its manifest names {name:?}, which {why}; nothing was written")]
    Hostile {
        /// Archive name.
        archive: String,
        /// The name.
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
        /// The database.
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
        /// Archive name.
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
        /// Database.
        name: String,
        /// Seconds waited.
        secs: u64,
    },
    /// SQLite failed writing a database.
    #[error("restoring {name} into {path}: {source}")]
    Sqlite {
        /// Database.
        name: String,
        /// Destination.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// File system.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Stopped by a signal.
    #[error("cancelled; databases restored before stopping: {}", if .restored.is_empty() { "none".to_string() } else { .restored.join(", ") })]
    Cancelled {
        /// Already written.
        restored: Vec<String>,
    },
    /// The state database.
    #[error(transparent)]
    State(#[from] StateError),
    /// A live restore stopped after its safety snapshot was taken: the
    /// operator needs to know where the replaced data is.
    #[error(
        "{error}\nthe live databases as they were before this restore are in the safety snapshot {safety}; \
         `lifeboat restore {safety} --yes` puts them back"
    )]
    AfterSafetySnapshot {
        /// What stopped it.
        error: Box<RestoreError>,
        /// The safety snapshot's archive name.
        safety: String,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RestoreError {
    let context = context.into();
    move |source| RestoreError::Io { context, source }
}

/// Resolves the archive, reads its manifest and decides what happens to each
/// database. Writes nothing. `latest` is the newest archive that is not a
/// pre-restore safety snapshot (those are restored by name).
pub fn plan(cfg: &Config, req: &RestoreRequest) -> Result<RestorePlan, RestoreError> {
    let (archive, manifest) = resolve(cfg, &req.archive)?;
    for d in &manifest.databases {
        if let Some(why) = crate::manifest::database_name_problem(&d.name) {
            return Err(RestoreError::Hostile { archive: archive.name.clone(), name: d.name.clone(), why });
        }
    }
    let mut names: Vec<String> = Vec::new();
    if req.only.is_empty() {
        names = manifest.databases.iter().map(|d| d.name.clone()).collect();
    } else {
        for n in &req.only {
            if manifest.database(n).is_none() {
                return Err(RestoreError::UnknownDatabase {
                    name: n.clone(),
                    archive: archive.name.clone(),
                    available: manifest.databases.iter().map(|d| d.name.clone()).collect(),
                });
            }
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        // Archive order, whatever order --only came in.
        names.sort_by_key(|n| manifest.databases.iter().position(|d| &d.name == n));
    }
    if let Some(dir) = &req.to {
        // Found now, not after verifying the whole archive.
        if let Some(file) = dir.ancestors().find(|a| a.exists()).filter(|a| !a.is_dir()) {
            return Err(RestoreError::ToNotAFolder(dir.clone(), file.to_path_buf()));
        }
    }
    let mut unconfigured = Vec::new();
    if req.to.is_none() {
        if let Some(name) = req.only.iter().find(|n| !cfg.backup.databases.contains(n)) {
            return Err(RestoreError::NotConfigured { name: name.clone(), dir: cfg.backup.source_dir.clone() });
        }
        unconfigured = names.iter().filter(|n| !cfg.backup.databases.contains(n)).cloned().collect();
        names.retain(|n| cfg.backup.databases.contains(n));
        if names.is_empty() {
            return Err(RestoreError::NothingConfigured { archive: archive.name.clone(), names: unconfigured });
        }
    }
    let mut databases = Vec::new();
    for name in names {
        let entry = manifest.database(&name).expect("checked above");
        let (dest, action) = match &req.to {
            Some(dir) => {
                let dest = dir.join(&name);
                if dest.symlink_metadata().is_ok() {
                    return Err(RestoreError::DestinationExists(dest));
                }
                (dest, Action::WriteFile)
            }
            None => {
                let dest = cfg.backup.source_dir.join(&name);
                (dest.clone(), live_action(&dest)?)
            }
        };
        let schema_changes = match &action {
            Action::Replace { journal_mode, .. } => {
                let archived: Vec<String> = entry.tables.iter().map(|t| t.name.clone()).collect();
                // Unreadable tables are noted when restoring, not refused.
                crate::schema::live_table_names(&dest, journal_mode == "wal")
                    .map(|live| crate::schema::table_set_changes(&archived, &live))
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        databases.push(PlannedDatabase {
            name,
            dest,
            size: entry.size,
            rows: entry.total_rows(),
            action,
            schema_changes,
        });
    }
    Ok(RestorePlan { archive, manifest, to: req.to.clone(), databases, unconfigured, force_schema: req.force_schema })
}

/// Finds the archive and reads its manifest. `latest` means the newest
/// archive that is not a pre-restore safety snapshot: otherwise running the
/// same restore twice would "restore" the data the first one replaced. A
/// safety snapshot is restored by naming it.
fn resolve(cfg: &Config, what: &str) -> Result<(StoredArchive, Manifest), RestoreError> {
    let dir = &cfg.backup.output_dir;
    if what == "latest" {
        for a in crate::catalog::list(dir)? {
            // An unreadable newest archive is an error, never silently
            // passed over for an older one.
            let archive = crate::catalog::resolve(dir, &a.name)?;
            let m = verify::read_manifest(&archive)?;
            if m.trigger != Trigger::PreRestore {
                return Ok((archive, m));
            }
        }
    }
    let archive = crate::catalog::resolve(dir, what)?;
    let manifest = verify::read_manifest(&archive)?;
    Ok((archive, manifest))
}

fn live_action(dest: &Path) -> Result<Action, RestoreError> {
    match std::fs::metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Action::Create),
        Err(e) => Err(io_err(format!("cannot inspect {}", dest.display()))(e)),
        Ok(m) if !m.is_file() => Err(RestoreError::NotAFile(dest.to_path_buf())),
        // The header, not SQLite: opening the live file could create
        // `-wal`/`-shm` files beside it.
        Ok(m) => Ok(match crate::integrity::Header::read(dest) {
            Ok(h) => Action::Replace {
                current_size: m.len(),
                journal_mode: if h.wal { "wal" } else { "delete" }.to_string(),
                page_size: h.page_size,
            },
            Err(e) => Action::ReplaceUnreadable { reason: e.to_string() },
        }),
    }
}

/// Verifies the archive, takes the safety snapshot (live restores), then
/// writes the planned databases. The caller holds the cycle lock.
pub fn execute(
    cfg: &Config,
    state: &State,
    plan: &RestorePlan,
    cancel: &CancellationToken,
) -> Result<RestoreOutcome, RestoreError> {
    let mut outcome = RestoreOutcome {
        archive: plan.archive.name.clone(),
        restored: Vec::new(),
        safety_archive: None,
        notes: Vec::new(),
    };
    let result = execute_inner(cfg, state, plan, cancel, &mut outcome);
    let done = outcome.restored.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ");
    let safety = outcome.safety_archive.as_ref().map(|s| format!(" (safety snapshot {s})")).unwrap_or_default();
    let now = Utc::now();
    match result {
        Ok(()) => {
            let _ = state.log_event(
                Level::Info,
                "restore",
                &format!("restored {done} from {}{safety}", outcome.archive),
                now,
            );
            Ok(outcome)
        }
        Err(e) => {
            // Once writing has begun, the operator needs to know what was
            // already replaced and where the safety snapshot is.
            let so_far = if done.is_empty() { String::new() } else { format!(" after restoring {done}") };
            let _ = state.log_event(
                Level::Error,
                "restore",
                &format!("restore from {} failed{so_far}{safety}: {e}", plan.archive.name),
                now,
            );
            match outcome.safety_archive.take() {
                Some(safety) => Err(RestoreError::AfterSafetySnapshot { error: Box::new(e), safety }),
                None => Err(e),
            }
        }
    }
}

fn execute_inner(
    cfg: &Config,
    state: &State,
    plan: &RestorePlan,
    cancel: &CancellationToken,
    outcome: &mut RestoreOutcome,
) -> Result<(), RestoreError> {
    let scratch_parent = cfg.state_dir();
    crate::fsutil::create_private_dir(&scratch_parent)
        .map_err(io_err(format!("cannot create {}", scratch_parent.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix(".restore-")
        .tempdir_in(&scratch_parent)
        .map_err(io_err(format!("cannot create a scratch folder in {}", scratch_parent.display())))?;
    let (report, extracted) = verify::verify_and_extract(&plan.archive, scratch.path())?;
    if !report.is_ok() {
        return Err(RestoreError::NotVerified { archive: plan.archive.name.clone(), problems: report.all_problems() });
    }
    if report.manifest.as_ref() != Some(&plan.manifest) {
        return Err(RestoreError::Changed(plan.archive.name.clone()));
    }
    let source_of = |name: &str| extracted.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone());
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled { restored: vec![] });
    }
    let names_done = |o: &RestoreOutcome| -> Vec<String> { o.restored.iter().map(|r| r.name.clone()).collect() };
    match &plan.to {
        Some(dir) => {
            // A folder that exists keeps its permissions (`--to /tmp` must not
            // make /tmp private); only folders created here are 0700.
            crate::fsutil::create_dir_private_if_new(dir)
                .map_err(io_err(format!("cannot create {}", dir.display())))?;
            let written = (|| {
                for d in &plan.databases {
                    if cancel.is_cancelled() {
                        return Err(RestoreError::Cancelled { restored: names_done(outcome) });
                    }
                    let src = source_of(&d.name).ok_or_else(|| RestoreError::Changed(plan.archive.name.clone()))?;
                    write_plain(&src, &d.dest)?;
                    outcome.restored.push(read_back(plan, &d.name, &d.dest)?);
                }
                Ok(())
            })();
            if let Err(e) = written {
                return Err(undo_plain(dir, outcome, e));
            }
        }
        None => {
            check_schemas(plan, &source_of, &mut outcome.notes)?;
            safety_snapshot(cfg, state, plan, cancel, outcome)?;
            for d in &plan.databases {
                if cancel.is_cancelled() {
                    return Err(RestoreError::Cancelled { restored: names_done(outcome) });
                }
                let src = source_of(&d.name).ok_or_else(|| RestoreError::Changed(plan.archive.name.clone()))?;
                if !cfg.backup.databases.contains(&d.name) {
                    // The plan never holds one (see `plan`); the config changed since.
                    return Err(RestoreError::NotConfigured {
                        name: d.name.clone(),
                        dir: cfg.backup.source_dir.clone(),
                    });
                }
                let entry = plan.manifest.database(&d.name).expect("planned from the manifest");
                write_live(&src, &d.dest, &d.name, &entry.journal_mode, &mut outcome.notes)?;
                outcome.restored.push(read_back(plan, &d.name, &d.dest)?);
            }
        }
    }
    Ok(())
}

/// Compares the tables of each live database about to be replaced with the
/// verified copy's, right before writing (the plan may be minutes old).
/// A live database whose tables cannot be read at all is not a reason to
/// refuse: restoring is how it gets repaired; the notes say so.
fn check_schemas(
    plan: &RestorePlan,
    source_of: &dyn Fn(&str) -> Option<PathBuf>,
    notes: &mut Vec<String>,
) -> Result<(), RestoreError> {
    let mut changes = Vec::new();
    for d in &plan.databases {
        let Action::Replace { journal_mode, .. } = &d.action else { continue };
        let src = source_of(&d.name).ok_or_else(|| RestoreError::Changed(plan.archive.name.clone()))?;
        match crate::schema::compare(&src, &d.dest, journal_mode == "wal") {
            Ok(found) => changes.extend(found.into_iter().map(|c| format!("{}: {c}", d.name))),
            Err(e) => {
                notes.push(format!("{}: the live database's tables could not be read to compare them ({e})", d.name))
            }
        }
    }
    if !changes.is_empty() && !plan.force_schema {
        return Err(RestoreError::SchemaDiffers { changes });
    }
    notes.extend(changes.into_iter().map(|c| format!("replaced although its tables differ (--force-schema): {c}")));
    Ok(())
}

/// Backs up the live databases about to be replaced, as a `pre-restore` archive.
fn safety_snapshot(
    cfg: &Config,
    state: &State,
    plan: &RestorePlan,
    cancel: &CancellationToken,
    outcome: &mut RestoreOutcome,
) -> Result<(), RestoreError> {
    let mut names = Vec::new();
    for d in &plan.databases {
        match &d.action {
            Action::Replace { .. } => names.push(d.name.clone()),
            Action::ReplaceUnreadable { reason } => outcome.notes.push(format!(
                "{} was not in the safety snapshot: it is not a readable database ({reason}); the old file is kept aside",
                d.name
            )),
            Action::Create | Action::WriteFile => {}
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    let opts = BackupOptions {
        trigger: Trigger::PreRestore,
        only: Some(&names),
        progress: None,
        cancel: cancel.clone(),
        now: safety_time(cfg),
    };
    match crate::backup::run(cfg, state, opts) {
        Ok(b) => {
            outcome.safety_archive = Some(b.archive.name.clone());
            for s in &b.manifest.skipped {
                outcome.notes.push(format!(
                    "{} was not in the safety snapshot ({}); it is being replaced by the restore",
                    s.name, s.reason
                ));
            }
            Ok(())
        }
        Err(BackupError::NothingBackedUp { skipped }) => {
            for s in &skipped {
                outcome.notes.push(format!(
                    "{} was not in the safety snapshot ({}); it is being replaced by the restore",
                    s.name, s.reason
                ));
            }
            Ok(())
        }
        Err(BackupError::Cancelled) => Err(RestoreError::Cancelled { restored: vec![] }),
        Err(e) => Err(RestoreError::SafetySnapshot(e)),
    }
}

/// Now, but after every archive already in `output_dir`, so the safety
/// snapshot never takes the name of the archive being restored (names have
/// one-second resolution).
fn safety_time(cfg: &Config) -> DateTime<Utc> {
    let now = Utc::now();
    let newest = crate::catalog::list(&cfg.backup.output_dir).ok().and_then(|l| l.first().map(|a| a.created_at));
    match newest {
        Some(t) if t + chrono::Duration::seconds(1) > now => t + chrono::Duration::seconds(1),
        _ => now,
    }
}

/// Copies `src` to a new file `dest` (0600): a temporary beside it, fsynced,
/// then hard-linked into place, which fails rather than overwrite.
fn write_plain(src: &Path, dest: &Path) -> Result<(), RestoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = dest.parent().unwrap_or(Path::new("."));
    let file_name = dest.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.lifeboat-tmp"));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut input = std::fs::File::open(src).map_err(io_err(format!("cannot read {}", src.display())))?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(format!("cannot create {}", tmp.display())))?;
        std::io::copy(&mut input, &mut out).map_err(io_err(format!("cannot write {}", tmp.display())))?;
        out.sync_all().map_err(io_err(format!("cannot write {}", tmp.display())))?;
        match std::fs::hard_link(&tmp, dest) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RestoreError::DestinationExists(dest.to_path_buf()))
            }
            Err(e) => Err(io_err(format!("cannot create {}", dest.display()))(e)),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result?;
    crate::fsutil::sync_dir(dir).map_err(io_err(format!("cannot sync {}", dir.display())))
}

/// A failed `--to` restore removes the files it already wrote (they are
/// new: `--to` never overwrites), so the folder is as before and the same
/// command works once the cause is fixed. A cancel keeps them: it reports them.
fn undo_plain(dir: &Path, outcome: &mut RestoreOutcome, e: RestoreError) -> RestoreError {
    if matches!(e, RestoreError::Cancelled { .. }) {
        return e;
    }
    for r in outcome.restored.drain(..) {
        let _ = std::fs::remove_file(&r.dest);
    }
    let _ = crate::fsutil::sync_dir(dir);
    match e {
        RestoreError::Io { context, source } if source.kind() == std::io::ErrorKind::StorageFull => RestoreError::Io {
            context: format!(
                "no space left in {}: free space there or choose a folder on another disk, then run again; \
                 nothing was kept there ({context})",
                dir.display()
            ),
            source,
        },
        e => e,
    }
}

fn sql(name: &str, path: &Path) -> impl FnOnce(rusqlite::Error) -> RestoreError {
    let (name, path) = (name.to_string(), path.to_path_buf());
    move |source| RestoreError::Sqlite { name, path, source }
}

/// Writes the verified copy `src` (ours, in scratch) into the live database
/// `dest` through SQLite's backup API.
fn write_live(
    src: &Path,
    dest: &Path,
    name: &str,
    archived_mode: &str,
    notes: &mut Vec<String>,
) -> Result<(), RestoreError> {
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
    }
    // Recheck now: the plan may be minutes old.
    let mut action = live_action(dest)?;
    if let Action::ReplaceUnreadable { reason } = &action {
        let aside = move_aside(dest)?;
        notes.push(format!("{name}: the old file was not a database ({reason}); kept as {}", aside.display()));
        action = Action::Create;
    }
    let source = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql(name, src))?;
    // The scratch copy's header must not carry WAL mode into a rollback-mode
    // live file (the backup copies page 1); the backup sets WAL itself when
    // the destination is in WAL mode.
    source.pragma_update(None, "journal_mode", "delete").map_err(sql(name, src))?;
    let mut dest_conn = Connection::open(dest).map_err(sql(name, dest))?;
    dest_conn.busy_timeout(BUSY_TIMEOUT).map_err(sql(name, dest))?;
    let live_mode: String = dest_conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sql(name, dest))?;
    if live_mode.eq_ignore_ascii_case("wal") {
        let live_page: u32 = dest_conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(sql(name, dest))?;
        let src_page: u32 = source.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(sql(name, src))?;
        if live_page != src_page {
            source.pragma_update(None, "page_size", live_page).map_err(sql(name, src))?;
            source.execute_batch("VACUUM").map_err(sql(name, src))?;
            notes.push(format!(
                "{name}: the archive's page size ({src_page}) differs from the live WAL database's ({live_page}); \
                 the copy was rebuilt with {live_page}-byte pages before writing (same data)"
            ));
        }
    }
    run_backup(&source, &mut dest_conn, name, dest)?;
    if action == Action::Create && archived_mode.eq_ignore_ascii_case("wal") {
        dest_conn.pragma_update(None, "journal_mode", "wal").map_err(sql(name, dest))?;
    }
    let after: String = dest_conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(sql(name, dest))?;
    if let Action::Replace { journal_mode, .. } = &action
        && (journal_mode == "wal") != after.eq_ignore_ascii_case("wal")
    {
        notes.push(format!("{name}: journal mode was {journal_mode} and is now {after}"));
    }
    Ok(())
}

fn run_backup(source: &Connection, dest: &mut Connection, name: &str, path: &Path) -> Result<(), RestoreError> {
    let backup = rusqlite::backup::Backup::new(source, dest).map_err(sql(name, path))?;
    let started = Instant::now();
    loop {
        match backup.step(-1).map_err(sql(name, path))? {
            rusqlite::backup::StepResult::Done => return Ok(()),
            rusqlite::backup::StepResult::More => {}
            _ => {
                if started.elapsed() > BUSY_TIMEOUT {
                    return Err(RestoreError::Busy { name: name.to_string(), secs: BUSY_TIMEOUT.as_secs() });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Renames an unreadable live file (and its journal files) aside, keeping it.
fn move_aside(dest: &Path) -> Result<PathBuf, RestoreError> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let mut aside = dest.as_os_str().to_owned();
    aside.push(format!(".unreadable-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(dest, &aside).map_err(io_err(format!("cannot move {} aside", dest.display())))?;
    for suffix in SIDECAR_SUFFIXES {
        let mut from = dest.as_os_str().to_owned();
        from.push(suffix);
        let mut to = aside.as_os_str().to_owned();
        to.push(suffix);
        if Path::new(&from).exists() {
            std::fs::rename(&from, &to).map_err(io_err(format!("cannot move {} aside", Path::new(&from).display())))?;
        }
    }
    Ok(aside)
}

/// Row counts of a written database, compared with the manifest.
fn read_back(plan: &RestorePlan, name: &str, dest: &Path) -> Result<RestoredDatabase, RestoreError> {
    let conn = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql(name, dest))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql(name, dest))?;
    let tables = crate::integrity::count_rows(&conn).map_err(sql(name, dest))?;
    let mut want = plan.manifest.database(name).map(|e| e.tables.clone()).unwrap_or_default();
    want.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(RestoredDatabase {
        name: name.to_string(),
        dest: dest.to_path_buf(),
        rows_match_manifest: tables == want,
        tables,
    })
}
