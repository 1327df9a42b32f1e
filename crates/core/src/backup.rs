//! One backup run: snapshot every configured database, check it, write the
//! archive under a temporary name, verify it, then rename (or split) it.
//! The caller holds the [`crate::lock::CycleLock`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::archive::{self, ArchiveError, CompressedDatabase};
use crate::catalog::{self, StoredArchive};
use crate::config::Config;
use crate::manifest::{DatabaseEntry, Manifest, SkippedDatabase, Trigger};
use crate::parts;
use crate::snapshot::{SkipReason, Snapshot};
use crate::source::{self, Source};
use crate::state::{DbCheck, Level, RunEnd, RunStatus, State};
use crate::verify::{self, VerifyOptions};

/// Progress of a run, for a terminal progress bar.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// Starting: how many databases and their total bytes on disk.
    Started {
        /// Databases to back up.
        databases: usize,
        /// Their total size.
        total_bytes: u64,
    },
    /// A database's snapshot is done (or it was skipped).
    Snapshotted {
        /// Name.
        name: String,
        /// Skipped with this reason.
        skipped: Option<String>,
    },
    /// Bytes compressed so far, over all databases.
    Compressed {
        /// Done.
        done: u64,
        /// Total.
        total: u64,
    },
    /// Verifying the written archive.
    Verifying,
    /// Finished.
    Finished,
}

/// How to run.
pub struct BackupOptions<'a> {
    /// What started it.
    pub trigger: Trigger,
    /// Only these databases (pre-restore safety snapshots); None = all configured.
    pub only: Option<&'a [String]>,
    /// Progress callback.
    pub progress: Option<&'a (dyn Fn(ProgressEvent) + Sync)>,
    /// Stops the run between steps; nothing partial is left behind.
    pub cancel: CancellationToken,
    /// The run's time: names the archive (UTC).
    pub now: DateTime<Utc>,
}

/// A finished run with an archive.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// The archive as stored (whole or parts).
    pub archive: StoredArchive,
    /// Its manifest.
    pub manifest: Manifest,
    /// The run's id in the state database.
    pub run_id: i64,
    /// Ok or Partial.
    pub status: RunStatus,
}

/// A run that produced no archive.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Every database was skipped.
    #[error("nothing was backed up: {}", .skipped.iter().map(|s| format!("{}: {}", s.name, s.reason)).collect::<Vec<_>>().join("; "))]
    NothingBackedUp {
        /// Why each was skipped.
        skipped: Vec<SkippedDatabase>,
    },
    /// Stopped by a signal.
    #[error("interrupted; no archive was written")]
    Cancelled,
    /// The disk is full.
    #[error("no space left on the disk holding {0}; free space or lower retention.max_count, then run again")]
    DiskFull(std::path::PathBuf),
    /// Other I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The written archive did not verify.
    #[error("the written archive did not verify: {0}")]
    Verify(String),
    /// The state database.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// Prefix of the private working folders inside `output_dir`; a folder with
/// this prefix is a leftover of a crashed run once the cycle lock is held.
pub const WORK_PREFIX: &str = ".lifeboat-work-";

/// Runs one backup. The caller holds the [`crate::lock::CycleLock`].
pub fn run(cfg: &Config, state: &State, opts: BackupOptions<'_>) -> Result<BackupOutcome, BackupError> {
    let clock = Instant::now();
    // Under the cycle lock no other run is live: one still "running" was
    // killed (SIGKILL, power loss). Closed here, as its files are in
    // remove_leftovers, so every caller (CLI, demo, restore) cleans up.
    let closed = state.close_abandoned_runs(opts.now)?;
    if closed > 0 {
        let msg = format!("{closed} run(s) left running by a stopped process marked interrupted");
        tracing::warn!("{msg}");
        state.log_event(Level::Warn, "backup", &msg, opts.now)?;
    }
    let run_id = state.begin_run(opts.trigger, opts.now)?;
    let result = run_inner(cfg, state, &opts, run_id).map_err(|e| match e {
        // The state database lives in output_dir too: its full disk is the
        // same full disk, and the user needs the same advice.
        BackupError::State(s) if is_state_disk_full(&s) => BackupError::DiskFull(cfg.backup.output_dir.clone()),
        e => e,
    });
    let at = opts.now + chrono::Duration::from_std(clock.elapsed()).unwrap_or_default();
    match &result {
        Ok(out) => {
            let skipped = &out.manifest.skipped;
            let detail = (!skipped.is_empty()).then(|| skip_summary(skipped));
            let end = RunEnd {
                archive: Some(out.archive.name.clone()),
                size: Some(out.archive.size),
                databases_ok: out.manifest.databases.len() as u32,
                databases_skipped: skipped.len() as u32,
                verified: true,
                detail: detail.clone(),
            };
            state.finish_run(run_id, out.status, &end, at)?;
            let parts = if out.archive.files.len() > 1 {
                format!(" in {} parts", out.archive.files.len())
            } else {
                String::new()
            };
            let msg = format!(
                "backup {} ({}, {} bytes{parts}, {} database(s) in {:.1} s){}",
                out.archive.name,
                out.status.as_str(),
                out.archive.size,
                out.manifest.databases.len(),
                clock.elapsed().as_secs_f64(),
                detail.map(|d| format!("; skipped: {d}")).unwrap_or_default()
            );
            if skipped.is_empty() {
                tracing::info!(run_id, "{msg}");
                state.log_event(Level::Info, "backup", &msg, at)?;
            } else {
                tracing::warn!(run_id, "{msg}");
                state.log_event(Level::Warn, "backup", &msg, at)?;
            }
        }
        Err(e) => {
            let (status, skipped) = match e {
                BackupError::Cancelled => (RunStatus::Interrupted, 0),
                BackupError::NothingBackedUp { skipped } => (RunStatus::Failed, skipped.len() as u32),
                _ => (RunStatus::Failed, 0),
            };
            let end = RunEnd { databases_skipped: skipped, detail: Some(e.to_string()), ..RunEnd::default() };
            // The run's own error matters more than a state error here.
            let _ = state.finish_run(run_id, status, &end, at);
            let msg = format!("backup failed: {e}");
            // The error is returned; the caller reports it (the CLI prints
            // it, the scheduler logs and alerts), so it is not printed twice.
            tracing::info!(run_id, "{msg}");
            let _ = state.log_event(Level::Error, "backup", &msg, at);
        }
    }
    if let Some(p) = opts.progress {
        p(ProgressEvent::Finished);
    }
    result
}

fn skip_summary(skipped: &[SkippedDatabase]) -> String {
    skipped.iter().map(|s| format!("{}: {}", s.name, s.reason)).collect::<Vec<_>>().join("; ")
}

/// Maps an I/O error to [`BackupError`], telling a full disk apart.
fn io_error(dir: &Path, context: String, source: std::io::Error) -> BackupError {
    if is_disk_full(&source) { BackupError::DiskFull(dir.to_path_buf()) } else { BackupError::Io { context, source } }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

fn is_state_disk_full(e: &crate::state::StateError) -> bool {
    use crate::state::StateError;
    let sql = match e {
        StateError::DiskFull { .. } => return true,
        StateError::Sql(s) | StateError::Open { source: s, .. } => s,
        StateError::Folder { source, .. } => return is_disk_full(source),
        StateError::TooNew { .. } => return false,
    };
    sql.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

fn archive_error(dir: &Path, e: ArchiveError) -> BackupError {
    match e {
        ArchiveError::Cancelled => BackupError::Cancelled,
        e => match e.io_error() {
            Some(io) if is_disk_full(io) => BackupError::DiskFull(dir.to_path_buf()),
            _ => {
                BackupError::Io { context: "writing the archive".into(), source: std::io::Error::other(e.to_string()) }
            }
        },
    }
}

/// Removes what a crashed run left in `dir`: `*.tmp` archives and parts, and
/// our working folders. Only safe under the cycle lock.
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let removed = if is_dir && name.starts_with(WORK_PREFIX) {
            std::fs::remove_dir_all(&path)
        } else if !is_dir && name.starts_with("database_backup_") && name.ends_with(".tmp") {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        match removed {
            Ok(()) => tracing::info!(path = %path.display(), "removed a leftover of an interrupted run"),
            Err(e) => tracing::warn!(path = %path.display(), "cannot remove a leftover: {e}"),
        }
    }
}

/// Removes a temporary file unless disarmed: no partial archive survives an
/// error or a cancel.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// What a worker made of one snapshot.
enum Job {
    Done(Box<DatabaseEntry>, CompressedDatabase),
    Skipped(SkipReason),
    Failed(ArchiveError),
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn run_inner(cfg: &Config, state: &State, opts: &BackupOptions<'_>, run_id: i64) -> Result<BackupOutcome, BackupError> {
    let out = cfg.backup.output_dir.as_path();
    let progress = |e: ProgressEvent| {
        if let Some(p) = opts.progress {
            p(e)
        }
    };
    crate::fsutil::create_private_dir(out)
        .map_err(|e| io_error(out, format!("cannot create the archive folder {}", out.display()), e))?;
    remove_leftovers(out);
    let work = tempfile::Builder::new()
        .prefix(WORK_PREFIX)
        .tempdir_in(out)
        .map_err(|e| io_error(out, format!("cannot create a working folder in {}", out.display()), e))?;
    crate::fsutil::create_private_dir(work.path())
        .map_err(|e| io_error(out, format!("cannot secure {}", work.path().display()), e))?;

    let sources = source::configured(cfg, opts.only);
    let names: Vec<String> = sources.iter().map(|s| s.name().to_string()).collect();
    let total_bytes: u64 = sources.iter().map(|s| s.size_hint()).sum();
    progress(ProgressEvent::Started { databases: names.len(), total_bytes });

    let level = cfg.backup.compression_level;
    let done = AtomicU64::new(0);
    let on_bytes = |n: u64| {
        let d = done.fetch_add(n, Ordering::Relaxed) + n;
        progress(ProgressEvent::Compressed { done: d, total: total_bytes.max(d) });
    };
    let mut snapshot_skips: Vec<Option<SkipReason>> = vec![None; names.len()];
    let mut disk_full = false;
    let jobs: Vec<Mutex<Option<Job>>> = names.iter().map(|_| Mutex::new(None)).collect();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(names.len()).max(1);
    let (tx, rx) = mpsc::channel::<(usize, Snapshot)>();
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    // Hold the lock only to take one job.
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok((i, snap))) = next else { break };
                    let job = process(sources[i].as_ref(), &snap, work.path(), level, opts, &on_bytes);
                    *jobs[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(job);
                }
            });
        }
        // Snapshots are taken one at a time, so the bot never has two
        // readers of ours on its databases, while the workers compress the
        // previous ones.
        for (i, (name, source)) in names.iter().zip(&sources).enumerate() {
            if opts.cancel.is_cancelled() {
                break;
            }
            let dest = work.path().join(format!("{i}.snapshot"));
            match source.snapshot(&dest) {
                Ok(snap) => {
                    progress(ProgressEvent::Snapshotted { name: name.clone(), skipped: None });
                    if tx.send((i, snap)).is_err() {
                        break;
                    }
                }
                Err(reason) => {
                    disk_full |= matches!(reason, SkipReason::NoSpace(_));
                    // Summarised in the run's event and outcome; detail only here.
                    tracing::info!(db = %name, "skipped: {reason}");
                    progress(ProgressEvent::Snapshotted { name: name.clone(), skipped: Some(reason.to_string()) });
                    snapshot_skips[i] = Some(reason);
                }
            }
            if disk_full {
                break;
            }
        }
        drop(tx);
    });
    if disk_full {
        return Err(BackupError::DiskFull(out.to_path_buf()));
    }
    if opts.cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }

    let mut entries = Vec::new();
    let mut compressed = Vec::new();
    let mut skipped = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let job = jobs[i].lock().unwrap_or_else(|p| p.into_inner()).take();
        let job = match (snapshot_skips[i].take(), job) {
            (Some(reason), _) => Job::Skipped(reason),
            (None, Some(job)) => job,
            (None, None) => return Err(BackupError::Cancelled),
        };
        let check = match job {
            Job::Failed(e) => return Err(archive_error(out, e)),
            Job::Done(entry, c) => {
                let check = DbCheck {
                    name: name.clone(),
                    checked_at: opts.now,
                    ok: true,
                    detail: entry.integrity.clone(),
                    size: Some(entry.size),
                    rows: Some(entry.total_rows()),
                };
                entries.push(*entry);
                compressed.push(c);
                check
            }
            Job::Skipped(reason) => {
                let check = DbCheck {
                    name: name.clone(),
                    checked_at: opts.now,
                    ok: false,
                    detail: reason.to_string(),
                    size: None,
                    rows: None,
                };
                skipped.push(SkippedDatabase { name: name.clone(), reason: reason.to_string() });
                check
            }
        };
        state.record_db_check(Some(run_id), &check)?;
    }
    if entries.is_empty() {
        return Err(BackupError::NothingBackedUp { skipped });
    }

    // A second run within the same second (e.g. a pre-restore snapshot right
    // after a manual one) takes the next free name.
    let mut at = opts.now;
    let mut name = catalog::archive_name(at);
    while out.join(&name).exists() || out.join(catalog::part_name(&name, 1)).exists() {
        at += chrono::Duration::seconds(1);
        name = catalog::archive_name(at);
    }
    let manifest = Manifest {
        format: crate::manifest::FORMAT.to_string(),
        version: crate::manifest::VERSION,
        created_at: opts.now,
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        trigger: opts.trigger,
        lifeboat_version: env!("CARGO_PKG_VERSION").to_string(),
        databases: entries,
        skipped,
    };
    let tmp_path = out.join(format!("{name}.tmp"));
    let mut tmp = TempFile(Some(tmp_path.clone()));
    let size =
        archive::assemble(&tmp_path, &manifest, &compressed, level, &opts.cancel).map_err(|e| archive_error(out, e))?;
    // The per-database ZIPs are no longer needed; free their space before
    // verifying, which needs scratch space of its own.
    for c in &compressed {
        let _ = std::fs::remove_file(&c.zip);
    }
    if opts.cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }

    progress(ProgressEvent::Verifying);
    let scratch = work.path().join("verify");
    crate::fsutil::create_private_dir(&scratch)
        .map_err(|e| io_error(out, format!("cannot create {}", scratch.display()), e))?;
    let candidate = StoredArchive { name: name.clone(), created_at: at, files: vec![tmp_path.clone()], size };
    // integrity_check already ran on the very snapshot bytes whose sha256 the
    // manifest holds; verify proves the ZIP gives those bytes back.
    let report = verify::verify(&candidate, &scratch, VerifyOptions { integrity_check: false })
        .map_err(|e| BackupError::Verify(e.to_string()))?;
    if !report.is_ok() {
        let mut problems = report.problems.clone();
        problems.extend(
            report
                .databases
                .iter()
                .filter(|d| !d.ok)
                .map(|d| format!("{}: checksum ok {}, {}", d.name, d.checksum_ok, d.integrity)),
        );
        return Err(BackupError::Verify(problems.join("; ")));
    }
    if opts.cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }

    let max = cfg.max_upload_bytes();
    let files = if max > 0 && size > max {
        let files = parts::split(&tmp_path, out, &name, max)
            .map_err(|e| io_error(out, format!("cannot split {name} into parts of {max} bytes"), e))?;
        tmp.disarm();
        files
    } else {
        let dest = out.join(&name);
        std::fs::rename(&tmp_path, &dest)
            .map_err(|e| io_error(out, format!("cannot rename {} to {}", tmp_path.display(), dest.display()), e))?;
        tmp.disarm();
        vec![dest]
    };
    crate::fsutil::sync_dir(out).map_err(|e| io_error(out, format!("cannot fsync {}", out.display()), e))?;
    let status = if manifest.skipped.is_empty() { RunStatus::Ok } else { RunStatus::Partial };
    let archive = StoredArchive { name, created_at: at, size: files.iter().map(|f| file_len(f)).sum(), files };
    Ok(BackupOutcome { archive, manifest, run_id, status })
}

/// A worker's job: the source checks its snapshot, then it is deflated and hashed.
fn process(
    source: &dyn Source,
    snap: &Snapshot,
    work: &Path,
    level: i64,
    opts: &BackupOptions<'_>,
    on_bytes: &(dyn Fn(u64) + Sync),
) -> Job {
    if opts.cancel.is_cancelled() {
        return Job::Failed(ArchiveError::Cancelled);
    }
    let checked = match source.check(snap) {
        Ok(c) => c,
        Err(reason) => return Job::Skipped(reason),
    };
    let zip_path = work.join(format!("{}.zip", snap.path.file_name().and_then(|f| f.to_str()).unwrap_or("db")));
    let c = match archive::compress_database(&snap.path, &snap.name, &zip_path, level, opts.now, &opts.cancel, on_bytes)
    {
        Ok(c) => c,
        Err(e) => return Job::Failed(e),
    };
    // Only the compressed copy is needed from here on; keep disk use low.
    let _ = std::fs::remove_file(&snap.path);
    let entry = DatabaseEntry {
        name: snap.name.clone(),
        size: c.size,
        sha256: c.sha256.clone(),
        integrity: checked.integrity,
        journal_mode: snap.journal_mode.clone(),
        page_size: snap.page_size,
        tables: checked.tables,
    };
    Job::Done(Box::new(entry), c)
}
