//! The steps of one run, in order: prepare the working folder, snapshot and
//! compress every source, collect the results, write the archive, verify
//! it, seal it (age), publish it under its final name.
//!
//! One file on purpose, past the usual size: read top to bottom it is the
//! run as `docs/architecture.md` tells it, each stage a function that takes
//! the previous one's result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use chrono::{DateTime, Utc};

use super::cleanup::{TempFile, remove_leftovers};
use super::{BackupError, BackupOptions, BackupOutcome, ProgressEvent, WORK_PREFIX, archive_error, io_error};
use crate::config::Config;
use lifeboat_core::archive::{self, ArchiveError, CompressedDatabase, EntryStyle};
use lifeboat_core::catalog::{self, ArchiveName, StoredArchive};
use lifeboat_core::delta::PageHashes;
use lifeboat_core::manifest::{BaseRef, DELTA_SUFFIX, DatabaseEntry, Delta, Kind, Manifest, SkippedDatabase, Trigger};
use lifeboat_core::parts;
use lifeboat_core::seal::{self, Keys, Mode};
use lifeboat_core::snapshot::{SkipReason, Snapshot};
use lifeboat_core::source::sqlite::continuous::{self, ChainProof};
use lifeboat_core::source::{self, Checked, Source};
use lifeboat_core::state::{DbCheck, RunStatus, State};
use lifeboat_core::verify::{self, PageCheck, VerifyError, VerifyOptions};

/// What a worker made of one snapshot.
enum Job {
    /// The manifest entry, and what goes into the archive (None: an
    /// unchanged database in a differential).
    Done(Box<DatabaseEntry>, Option<CompressedDatabase>),
    /// Checked and hashed, equal to its copy in the newest archive: stored
    /// only if some other database changed.
    Same(Box<Waiting>),
    Skipped(SkipReason),
    Failed(ArchiveError),
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub(super) fn run_inner(
    cfg: &Config,
    state: &State,
    opts: &BackupOptions<'_>,
    run_id: i64,
    skip_unchanged: bool,
) -> Result<BackupOutcome, BackupError> {
    let out = cfg.backup.output_dir.as_path();
    let keys = &cfg.encryption.keys;
    let work = prepare(out)?;
    let sources = source::configured(&cfg.source_setup(), opts.only);
    let password = keys.password().filter(|_| cfg.encryption.mode == Mode::ZipAes);
    let style = EntryStyle { level: cfg.backup.compression_level, password };
    let base = differential_base(cfg, keys, Some(state), opts);
    let previous = if skip_unchanged { Previous::newest(out, keys, state) } else { None };
    let hashed = Mutex::new(BTreeMap::new());
    let plan = Plan {
        work: work.path(),
        style,
        base: base.as_ref().map(|b| (b, keys)),
        previous: previous.as_ref().map(|p| &p.databases),
        hash_full: cfg.schedule.full_cron.is_some(),
        hashed: &hashed,
        opts,
    };
    let stop = |e| match e {
        Stop::DiskFull => BackupError::DiskFull(out.to_path_buf()),
        Stop::Cancelled => BackupError::Cancelled,
    };
    let mut prover = (cfg.continuous.enabled && opts.trigger == Trigger::Scheduled).then(|| Prover {
        setup: cfg.continuous_setup(),
        state,
        proofs: Vec::new(),
    });
    let mut jobs = snapshot_and_compress(&sources, &plan, prover.as_mut()).map_err(stop)?;
    let chain_proofs = prover.map(|p| p.proofs).unwrap_or_default();
    let unchanged = previous.as_ref().filter(|p| p.same_as(&sources, &jobs)).map(|p| p.archive.clone());
    if unchanged.is_none() {
        jobs = store_waiting(jobs, &plan).map_err(stop)?;
    }
    let Collected { entries, compressed, skipped } = collect(state, run_id, &sources, jobs, opts, out)?;
    if let Some(archive) = unchanged {
        return Err(BackupError::Unchanged { archive });
    }
    if entries.is_empty() {
        return Err(BackupError::NothingBackedUp { skipped });
    }
    let (archive_name, at) = free_name(out, opts.now, base.is_some());
    let name = archive_name.to_string();
    let manifest = Manifest {
        base: base.as_ref().map(|b| BaseRef { archive: b.archive.name.clone(), created_at: b.archive.created_at }),
        format: lifeboat_core::manifest::FORMAT.to_string(),
        version: if base.is_some() {
            lifeboat_core::manifest::DIFFERENTIAL_VERSION
        } else {
            lifeboat_core::manifest::FULL_VERSION
        },
        created_at: opts.now,
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        trigger: opts.trigger,
        lifeboat_version: env!("CARGO_PKG_VERSION").to_string(),
        databases: entries,
        skipped,
    };
    let tmp_path = out.join(archive_name.temp_name());
    let tmp = TempFile(Some(tmp_path.clone()));
    let size = archive::assemble(&tmp_path, &manifest, &source::info_text(&manifest), &compressed, style, &opts.cancel)
        .map_err(|e| archive_error(out, e))?;
    // The per-database ZIPs are no longer needed; free their space before
    // verifying, which needs scratch space of its own.
    for c in &compressed {
        let _ = std::fs::remove_file(&c.zip);
    }
    if opts.cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }
    if let Some(p) = opts.progress {
        p(ProgressEvent::Verifying);
    }
    let hashed = hashed.into_inner().unwrap_or_else(|p| p.into_inner());
    // A differential made against page hashes is checked against them: its
    // base cannot be read here.
    let pages = base.as_ref().and_then(|b| b.pages.as_ref()).map(|base| PageCheck { base, new: &hashed });
    let candidate = StoredArchive { name: name.clone(), created_at: at, files: vec![tmp_path.clone()], size };
    verify_written(&candidate, keys, pages.as_ref(), &work.path().join("verify"), out)?;
    if opts.cancel.is_cancelled() {
        return Err(BackupError::Cancelled);
    }
    let (name, tmp_path, size, mut tmp) = match cfg.encryption.mode {
        Mode::Age => {
            let sealed =
                seal_with_age(&candidate, archive_name.sealed_with_age(), cfg, pages.as_ref(), work.path(), out, opts)?;
            // The plaintext ZIP goes as soon as the sealed one is checked.
            drop(tmp);
            sealed
        }
        Mode::None | Mode::ZipAes => (name, tmp_path, size, tmp),
    };
    let files = publish(&tmp_path, out, &name, cfg.split_bytes(), size)?;
    tmp.disarm();
    if base.is_none() {
        // What a later differential is made against where this archive
        // cannot be read back (sealed with age, no identity here).
        for (entry, pages) in &hashed {
            state.remember_page_hashes(&name, entry, pages)?;
        }
    }
    let status = if manifest.skipped.is_empty() { RunStatus::Ok } else { RunStatus::Partial };
    let archive = StoredArchive { name, created_at: at, size: files.iter().map(|f| file_len(f)).sum(), files };
    Ok(BackupOutcome { archive, manifest, run_id, status, chain_proofs })
}

/// The newest archive when it holds exactly these databases, byte for byte
/// (same names, same sha256), and skipped the same ones.
/// Encrypts the verified ZIP to the recipients as `NAME.age.tmp` and checks
/// it: decrypted and verified in full with an identity, else read back
/// against the hash of what was written. Returns the sealed file's name,
/// path, size and guard.
fn seal_with_age(
    plain: &StoredArchive,
    sealed_name: ArchiveName,
    cfg: &Config,
    pages: Option<&PageCheck<'_>>,
    work: &Path,
    out: &Path,
    opts: &BackupOptions<'_>,
) -> Result<(String, PathBuf, u64, TempFile), BackupError> {
    let name = sealed_name.to_string();
    let path = out.join(sealed_name.temp_name());
    let guard = TempFile(Some(path.clone()));
    let plain_file = plain.files.first().expect("a written archive has its file");
    let (recipients, keys) = (&cfg.encryption.recipients, &cfg.encryption.keys);
    let sha256 = seal::seal_file(plain_file, &path, recipients, &opts.cancel).map_err(|e| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            BackupError::Cancelled
        } else {
            io_error(out, format!("cannot seal {name} with age"), e)
        }
    })?;
    let size = file_len(&path);
    let sealed = StoredArchive { name: name.clone(), created_at: plain.created_at, files: vec![path.clone()], size };
    if keys.has_identity() {
        verify_written(&sealed, keys, pages, &work.join("verify-sealed"), out)?;
    } else {
        seal::check_sealed(&sealed.files, &sha256)
            .map_err(|why| BackupError::Verify(vec![format!("{name}: {why}")]))?;
    }
    Ok((name, path, size, guard))
}

/// The newest archive's databases and skipped names: a run whose snapshots
/// hash the same, with the same skipped, changed nothing. SHA-256 of the
/// SQLite backup-API snapshot, so a write still in the `-wal` file is a
/// change.
struct Previous {
    archive: String,
    databases: BTreeMap<String, DatabaseEntry>,
    skipped: BTreeSet<String>,
}

impl Previous {
    fn newest(out: &Path, keys: &Keys, state: &State) -> Option<Previous> {
        let newest = catalog::list(out).ok()?.into_iter().next()?;
        let m = verify::known_manifest(&newest, keys, Some(state)).ok()?;
        Some(Previous {
            archive: newest.name,
            databases: m.databases.into_iter().map(|d| (d.name.clone(), d)).collect(),
            skipped: m.skipped.iter().map(|s| s.name.clone()).collect(),
        })
    }

    /// Every database is the same as before and the same ones are skipped.
    fn same_as(&self, sources: &[Box<dyn Source>], jobs: &[Job]) -> bool {
        let (mut same, mut skipped) = (BTreeSet::new(), BTreeSet::new());
        for (source, job) in sources.iter().zip(jobs) {
            match job {
                Job::Same(_) => same.insert(source.name().to_string()),
                Job::Skipped(_) => skipped.insert(source.name().to_string()),
                Job::Done(..) | Job::Failed(_) => return false,
            };
        }
        !same.is_empty() && same.iter().eq(self.databases.keys()) && skipped == self.skipped
    }
}

/// Makes `out` (private) and a fresh working folder in it, after removing
/// what a crashed run left there.
fn prepare(out: &Path) -> Result<tempfile::TempDir, BackupError> {
    lifeboat_core::fsutil::create_private_dir(out)
        .map_err(|e| io_error(out, format!("cannot create the archive folder {}", out.display()), e))?;
    remove_leftovers(out);
    let work = tempfile::Builder::new()
        .prefix(WORK_PREFIX)
        .tempdir_in(out)
        .map_err(|e| io_error(out, format!("cannot create a working folder in {}", out.display()), e))?;
    lifeboat_core::fsutil::create_private_dir(work.path())
        .map_err(|e| io_error(out, format!("cannot secure {}", work.path().display()), e))?;
    Ok(work)
}

/// Why [`snapshot_and_compress`] stopped early.
enum Stop {
    DiskFull,
    Cancelled,
}

/// Takes each source's snapshot in turn, so the bot never has two readers of
/// ours on its databases, while worker threads check and compress the
/// previous ones. Returns one job per source, in order.
fn snapshot_and_compress(
    sources: &[Box<dyn Source>],
    plan: &Plan<'_, '_>,
    mut prover: Option<&mut Prover<'_>>,
) -> Result<Vec<Job>, Stop> {
    let (work, opts) = (plan.work, plan.opts);
    let progress = |e: ProgressEvent| {
        if let Some(p) = opts.progress {
            p(e)
        }
    };
    let total_bytes: u64 = sources.iter().map(|s| s.size_hint()).sum();
    progress(ProgressEvent::Started { databases: sources.len(), total_bytes });
    let done = AtomicU64::new(0);
    let on_bytes = |n: u64| {
        let d = done.fetch_add(n, Ordering::Relaxed) + n;
        progress(ProgressEvent::Compressed { done: d, total: total_bytes.max(d) });
    };
    let jobs: Vec<Mutex<Option<Job>>> = sources.iter().map(|_| Mutex::new(None)).collect();
    let mut disk_full = false;
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(sources.len()).max(1);
    let (tx, rx) = mpsc::channel::<(usize, Snapshot)>();
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    // Hold the lock only to take one job.
                    let next = rx.lock().map(|r| r.recv());
                    let Ok(Ok((i, snap))) = next else { break };
                    let job = process(sources[i].as_ref(), &snap, plan, &on_bytes);
                    *jobs[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(job);
                }
            });
        }
        for (i, source) in sources.iter().enumerate() {
            if opts.cancel.is_cancelled() {
                break;
            }
            let name = source.name().to_string();
            let proving = prover.as_ref().filter(|_| source.kind() == Kind::Sqlite);
            let before = proving.map(|p| continuous::proof::before_snapshot(&p.setup, p.state, source.source_name()));
            match source.snapshot(&work.join(format!("{i}.snapshot"))) {
                Ok(snap) => {
                    if let (Some(p), Some(before)) = (prover.as_deref_mut(), before) {
                        p.prove(source.source_name(), before, &snap.path, work);
                    }
                    progress(ProgressEvent::Snapshotted { name, skipped: None });
                    if tx.send((i, snap)).is_err() {
                        break;
                    }
                }
                Err(reason) => {
                    disk_full = matches!(reason, SkipReason::NoSpace(_));
                    // Summarised in the run's event and outcome; detail only here.
                    tracing::info!(db = %name, "skipped: {reason}");
                    progress(ProgressEvent::Snapshotted { name, skipped: Some(reason.to_string()) });
                    *jobs[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(Job::Skipped(reason));
                    if disk_full {
                        break;
                    }
                }
            }
        }
        drop(tx);
    });
    if disk_full {
        return Err(Stop::DiskFull);
    }
    if opts.cancel.is_cancelled() {
        return Err(Stop::Cancelled);
    }
    jobs.into_iter().map(|j| j.into_inner().unwrap_or_else(|p| p.into_inner()).ok_or(Stop::Cancelled)).collect()
}

/// The chain proofs of a scheduled archive with `[continuous]` on, made
/// around each SQLite snapshot on the thread that takes them
/// ([`continuous::proof`]).
struct Prover<'a> {
    setup: continuous::Setup,
    state: &'a State,
    proofs: Vec<ChainProof>,
}

impl Prover<'_> {
    fn prove(
        &mut self,
        name: &str,
        before: Result<continuous::proof::Before, continuous::proof::Unproven>,
        snapshot: &Path,
        work: &Path,
    ) {
        let proof = match before {
            Ok(b) => continuous::proof::after_snapshot(&self.setup, self.state, name, b, snapshot, work),
            Err(why) => ChainProof::Skipped { database: name.to_string(), why: why.to_string() },
        };
        match &proof {
            ChainProof::Proven { .. } => tracing::info!("{}", proof.words()),
            ChainProof::Mismatch { .. } => tracing::error!("{}", proof.words()),
            ChainProof::Skipped { .. } => tracing::info!("{}", proof.words()),
        }
        self.proofs.push(proof);
    }
}

/// The jobs sorted for the manifest.
struct Collected {
    entries: Vec<DatabaseEntry>,
    compressed: Vec<CompressedDatabase>,
    skipped: Vec<SkippedDatabase>,
}

/// Sorts the jobs into manifest entries, their compressed copies and the
/// skipped sources, recording each source's check in the run.
fn collect(
    state: &State,
    run_id: i64,
    sources: &[Box<dyn Source>],
    jobs: Vec<Job>,
    opts: &BackupOptions<'_>,
    out: &Path,
) -> Result<Collected, BackupError> {
    let mut entries = Vec::new();
    let mut compressed = Vec::new();
    let mut skipped = Vec::new();
    for (source, job) in sources.iter().zip(jobs) {
        let name = source.name().to_string();
        let check = match job {
            Job::Failed(e) => return Err(archive_error(out, e)),
            Job::Done(entry, c) => {
                let check = DbCheck {
                    name,
                    checked_at: opts.now,
                    ok: true,
                    detail: entry.integrity.clone(),
                    size: Some(entry.size),
                    rows: Some(entry.total_rows()),
                };
                entries.push(*entry);
                compressed.extend(c);
                check
            }
            // Only an unchanged run gets here with one: nothing is written.
            Job::Same(w) => DbCheck {
                name,
                checked_at: opts.now,
                ok: true,
                detail: w.checked.integrity.clone(),
                size: Some(w.snap.size),
                rows: Some(w.checked.tables.iter().map(|t| t.rows).sum()),
            },
            Job::Skipped(reason) => {
                skipped.push(SkippedDatabase { name: name.clone(), reason: reason.to_string() });
                DbCheck { name, checked_at: opts.now, ok: false, detail: reason.to_string(), size: None, rows: None }
            }
        };
        state.record_db_check(Some(run_id), &check)?;
    }
    Ok(Collected { entries, compressed, skipped })
}

/// The archive's name: `now`'s, or the next free second when a run in the
/// same second (a pre-restore snapshot right after a manual one) took it.
/// A name no archive in `out` has, of any kind, at `now` or the first free
/// second after.
fn free_name(out: &Path, now: DateTime<Utc>, differential: bool) -> (ArchiveName, DateTime<Utc>) {
    let mut at = now;
    let taken = |at: DateTime<Utc>| ArchiveName::every_kind_at(at).iter().any(|n| n.exists_in(out));
    while taken(at) {
        at += chrono::Duration::seconds(1);
    }
    (if differential { ArchiveName::differential(at) } else { ArchiveName::full(at) }, at)
}

/// The full archive a differential is made against, with its manifest.
pub(super) struct BaseSource {
    pub(super) archive: StoredArchive,
    manifest: Manifest,
    /// When its contents cannot be read here (sealed with age to keys kept
    /// elsewhere): the page hashes of its databases kept when it was
    /// written, by entry. Changed pages are then stored whole.
    pages: Option<BTreeMap<String, PageHashes>>,
}

/// With `schedule.full_cron` set, the newest full archive, unless a full
/// one is due (`full_cron` fired since it was made) or nothing is known
/// here to make a differential against it: neither its contents (an age
/// archive without the identity) nor the page hashes `state` kept of it.
pub(super) fn differential_base(
    cfg: &Config,
    keys: &Keys,
    state: Option<&State>,
    opts: &BackupOptions<'_>,
) -> Option<BaseSource> {
    let full = cfg.schedule.full_cron.as_ref()?;
    if opts.only.is_some() {
        return None;
    }
    let newest = catalog::list(&cfg.backup.output_dir).ok()?.into_iter().find(|a| !a.is_differential())?;
    if full.previous_at_or_before(opts.now).is_none_or(|due| due > newest.created_at) {
        return None;
    }
    match verify::read_manifest(&newest, keys) {
        Ok(manifest) => Some(BaseSource { archive: newest, manifest, pages: None }),
        Err(VerifyError::Key(e)) => {
            let kept = state.and_then(|s| {
                let manifest = s.manifest_copy(&newest.name).ok().flatten()?;
                let pages: BTreeMap<String, PageHashes> = manifest
                    .databases
                    .iter()
                    .filter_map(|d| {
                        let p = s.page_hashes(&newest.name, &d.name).ok().flatten()?;
                        p.sha256.eq_ignore_ascii_case(&d.sha256).then(|| (d.name.clone(), p))
                    })
                    .collect();
                (!pages.is_empty()).then_some((manifest, pages))
            });
            match kept {
                Some((manifest, pages)) => Some(BaseSource { archive: newest, manifest, pages: Some(pages) }),
                None => {
                    tracing::info!(
                        "a full archive instead of a differential: its base {} cannot be read here ({e}) and \
                         no page hashes of it are kept in the state database",
                        newest.name
                    );
                    None
                }
            }
        }
        Err(e) => {
            tracing::info!(
                "a full archive instead of a differential: its base {} cannot be read here: {e}",
                newest.name
            );
            None
        }
    }
}

/// Reads the written ZIP back: every CRC, and each database's size and
/// sha256 against the manifest. `integrity_check` already ran on the very
/// snapshot bytes whose sha256 the manifest holds; this proves the ZIP gives
/// those bytes back.
///
/// A differential whose base cannot be read here (`pages`) is read back
/// against the page hashes instead: its stored pages with the base's
/// unchanged ones must hash as the snapshot's did.
fn verify_written(
    candidate: &StoredArchive,
    keys: &Keys,
    pages: Option<&PageCheck<'_>>,
    scratch: &Path,
    out: &Path,
) -> Result<(), BackupError> {
    lifeboat_core::fsutil::create_private_dir(scratch)
        .map_err(|e| io_error(out, format!("cannot create {}", scratch.display()), e))?;
    let report = match pages {
        Some(pages) => verify::verify_against_pages(candidate, keys, pages),
        None => verify::verify(candidate, keys, scratch, VerifyOptions { integrity_check: false }),
    }
    .map_err(BackupError::ReadBack)?;
    if report.is_ok() {
        return Ok(());
    }
    let mut problems = report.problems.clone();
    problems.extend(
        report
            .databases
            .iter()
            .filter(|d| !d.ok)
            .map(|d| format!("{}: checksum ok {}, {}", d.name, d.checksum_ok, d.integrity)),
    );
    Err(BackupError::Verify(problems))
}

/// Gives the verified archive its final name, or splits it into parts over
/// the split size (see [`Config::split_bytes`]), then makes that durable.
fn publish(
    tmp_path: &Path,
    out: &Path,
    name: &str,
    split: Option<u64>,
    size: u64,
) -> Result<Vec<PathBuf>, BackupError> {
    let files = if let Some(max) = split.filter(|&max| max > 0 && size > max) {
        parts::split(tmp_path, out, name, max)
            .map_err(|e| io_error(out, format!("cannot split {name} into parts of {max} bytes"), e))?
    } else {
        let dest = out.join(name);
        std::fs::rename(tmp_path, &dest)
            .map_err(|e| io_error(out, format!("cannot rename {} to {}", tmp_path.display(), dest.display()), e))?;
        vec![dest]
    };
    lifeboat_core::fsutil::sync_dir(out).map_err(|e| io_error(out, format!("cannot fsync {}", out.display()), e))?;
    Ok(files)
}

/// What every worker needs to store a snapshot.
struct Plan<'a, 'o> {
    /// The run's private working folder.
    work: &'a Path,
    /// Deflate level and zip-aes password.
    style: EntryStyle<'a>,
    /// A differential's base.
    base: Option<(&'a BaseSource, &'a Keys)>,
    /// With `skip_unchanged`: the newest archive's databases; a snapshot
    /// equal to its copy there waits, hashed but neither checked nor
    /// compressed.
    previous: Option<&'a BTreeMap<String, DatabaseEntry>>,
    /// Keep the page hashes of a full archive's databases (with
    /// `schedule.full_cron` set: later differentials are made against them
    /// where the archive cannot be read).
    hash_full: bool,
    /// Page hashes of the snapshots stored, by entry: a full archive's to
    /// keep, a differential's made against page hashes to check it by.
    hashed: &'a Mutex<BTreeMap<String, PageHashes>>,
    opts: &'a BackupOptions<'o>,
}

/// A snapshot equal to the newest archive's copy, checked, not yet stored.
struct Waiting {
    snap: Snapshot,
    checked: Checked,
}

/// A worker's job: a snapshot byte for byte equal to the newest archive's
/// copy waits (its check is that copy's: same bytes, same result); any
/// other is checked by its source and stored.
fn process(source: &dyn Source, snap: &Snapshot, plan: &Plan<'_, '_>, on_bytes: &(dyn Fn(u64) + Sync)) -> Job {
    if plan.opts.cancel.is_cancelled() {
        return Job::Failed(ArchiveError::Cancelled);
    }
    if let Some(before) = plan.previous.and_then(|p| p.get(&snap.name))
        && before.integrity == "ok"
        && before.kind == snap.kind
        && snap
            .fingerprint
            .clone()
            .or_else(|| lifeboat_core::fsutil::sha256_file(&snap.path).ok())
            .is_some_and(|now| now.eq_ignore_ascii_case(before.fingerprint.as_ref().unwrap_or(&before.sha256)))
    {
        on_bytes(snap.size);
        let checked = Checked { integrity: before.integrity.clone(), tables: before.tables.clone() };
        return Job::Same(Box::new(Waiting { snap: snap.clone(), checked }));
    }
    let checked = match source.check(snap) {
        Ok(c) => c,
        Err(reason) => return Job::Skipped(reason),
    };
    store(snap, checked, plan, on_bytes)
}

/// Stores the waiting snapshots after all (another database changed), on
/// as many workers as the first pass.
fn store_waiting(jobs: Vec<Job>, plan: &Plan<'_, '_>) -> Result<Vec<Job>, Stop> {
    let waiting = jobs.iter().filter(|j| matches!(j, Job::Same(_))).count();
    if waiting == 0 {
        return Ok(jobs);
    }
    let slots: Vec<Mutex<Option<Job>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let next = AtomicU64::new(0);
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(waiting);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(slot) = slots.get(next.fetch_add(1, Ordering::Relaxed) as usize) {
                    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(Job::Same(w)) = slot.take_if(|j| matches!(j, Job::Same(_))) {
                        *slot = Some(store(&w.snap, w.checked, plan, &|_| {}));
                    }
                }
            });
        }
    });
    if plan.opts.cancel.is_cancelled() {
        return Err(Stop::Cancelled);
    }
    slots.into_iter().map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()).ok_or(Stop::Cancelled)).collect()
}

/// Stores one checked snapshot: as a delta against the base when that is
/// worth it, else deflated whole, hashed in the same pass.
fn store(snap: &Snapshot, checked: Checked, plan: &Plan<'_, '_>, on_bytes: &(dyn Fn(u64) + Sync)) -> Job {
    let (work, style, opts) = (plan.work, plan.style, plan.opts);
    let entry = |size: u64, sha256: String, delta: Option<Delta>| DatabaseEntry {
        delta,
        name: snap.name.clone(),
        kind: snap.kind,
        source: snap.source.clone(),
        origin: snap.origin.clone(),
        mode: snap.mode,
        fingerprint: snap.fingerprint.clone(),
        size,
        sha256,
        integrity: checked.integrity.clone(),
        journal_mode: snap.journal_mode.clone(),
        page_size: snap.page_size,
        tables: checked.tables.clone(),
    };
    // Only fixed-size pages make a block delta worth it: any other copy
    // shifts on every change.
    let kind = source::kind(snap.kind);
    if let Some((base, keys)) = plan.base.filter(|_| kind.block_delta())
        && let Some(base_db) = base.manifest.database(&snap.name)
    {
        let made = match &base.pages {
            None => as_delta(base, keys, base_db, snap, work, style, opts),
            Some(pages) => as_delta_by_hashes(pages.get(&snap.name), snap, work, style, opts).map(|made| {
                made.map(|(made, c, hashes)| {
                    plan.hashed.lock().unwrap_or_else(|p| p.into_inner()).insert(snap.name.clone(), hashes);
                    (made, c)
                })
            }),
        };
        match made {
            Ok(Some((made, c))) => {
                on_bytes(made.size);
                let _ = std::fs::remove_file(&snap.path);
                let delta = Delta {
                    base_sha256: base_db.sha256.clone(),
                    entry: c.as_ref().map(|c| c.name.clone()),
                    changed_blocks: made.changed,
                };
                return Job::Done(Box::new(entry(made.size, made.sha256, Some(delta))), c);
            }
            Ok(None) => {}
            Err(e) => return Job::Failed(e),
        }
    }
    let zip_path = work.join(format!("{}.zip", snap.path.file_name().and_then(|f| f.to_str()).unwrap_or("db")));
    // A copy compressed already: deflating it again costs time and saves
    // nothing.
    let style = if kind.compressible() { style } else { EntryStyle { level: 0, ..style } };
    let c = match archive::compress_database(&snap.path, &snap.name, &zip_path, style, opts.now, &opts.cancel, on_bytes)
    {
        Ok(c) => c,
        Err(e) => return Job::Failed(e),
    };
    if plan.base.is_none() && plan.hash_full && kind.block_delta() {
        match PageHashes::of_file(&snap.path, snap.page_size.max(512), &opts.cancel) {
            Ok(pages) if pages.sha256.eq_ignore_ascii_case(&c.sha256) => {
                plan.hashed.lock().unwrap_or_else(|p| p.into_inner()).insert(snap.name.clone(), pages);
            }
            Ok(_) => tracing::warn!(db = %snap.name, "its pages were not hashed: the snapshot changed while read"),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Job::Failed(ArchiveError::Cancelled),
            Err(e) => tracing::warn!(db = %snap.name, "its pages were not hashed ({e}): differentials against \
                this archive store it whole where the archive cannot be read"),
        }
    }
    // Only the compressed copy is needed from here on; keep disk use low.
    let _ = std::fs::remove_file(&snap.path);
    Job::Done(Box::new(entry(c.size, c.sha256.clone(), None)), Some(c))
}

/// The snapshot as the blocks whose hashes differ from the base's `pages`
/// (None: none kept for it, stored whole), every one stored whole: the
/// delta, its compressed entry (None when no block changed) and the
/// snapshot's own page hashes. Ok(None) when it is better stored whole.
fn as_delta_by_hashes(
    pages: Option<&PageHashes>,
    snap: &Snapshot,
    work: &Path,
    style: EntryStyle<'_>,
    opts: &BackupOptions<'_>,
) -> Result<Option<(lifeboat_core::delta::Made, Option<CompressedDatabase>, PageHashes)>, ArchiveError> {
    let Some(pages) = pages.filter(|p| p.block == snap.page_size.max(512)) else { return Ok(None) };
    let stem = snap.path.file_name().and_then(|f| f.to_str()).unwrap_or("db");
    let delta = work.join(format!("{stem}{DELTA_SUFFIX}"));
    let (made, hashes) = match lifeboat_core::delta::write_delta_by_hashes(pages, &snap.path, &delta, &opts.cancel) {
        Ok(made) => made,
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(ArchiveError::Cancelled),
        Err(e) => {
            let _ = std::fs::remove_file(&delta);
            tracing::warn!(db = %snap.name, "stored whole: cannot compare with the base's page hashes: {e}");
            return Ok(None);
        }
    };
    if made.changed as f64 * f64::from(pages.block) > made.size as f64 * DELTA_MAX_SHARE {
        let _ = std::fs::remove_file(&delta);
        return Ok(None);
    }
    if made.changed == 0 {
        let _ = std::fs::remove_file(&delta);
        return Ok(Some((made, None, hashes)));
    }
    let entry = format!("{}{DELTA_SUFFIX}", snap.name);
    let zip_path = work.join(format!("{stem}{DELTA_SUFFIX}.zip"));
    let c = archive::compress_database(&delta, &entry, &zip_path, style, opts.now, &opts.cancel, &|_| {})?;
    let _ = std::fs::remove_file(&delta);
    Ok(Some((made, Some(c), hashes)))
}

/// A delta stores less than this share of the database as whole blocks, or
/// the database is stored whole (rebuilding costs a base read; not worth it for little).
const DELTA_MAX_SHARE: f64 = lifeboat_core::delta::MAX_SHARE;

/// The snapshot as changed blocks against the base's copy: the delta and
/// its compressed entry (None when no block changed). Ok(None) when the
/// database is better stored whole (most of it changed, or the base's copy
/// cannot be read: the archive is still right, only larger).
fn as_delta(
    base: &BaseSource,
    keys: &Keys,
    base_db: &DatabaseEntry,
    snap: &Snapshot,
    work: &Path,
    style: EntryStyle<'_>,
    opts: &BackupOptions<'_>,
) -> Result<Option<(lifeboat_core::delta::Made, Option<CompressedDatabase>)>, ArchiveError> {
    let stem = snap.path.file_name().and_then(|f| f.to_str()).unwrap_or("db");
    let pages = work.join(format!("{stem}{DELTA_SUFFIX}"));
    let block = snap.page_size.max(512);
    let made = verify::with_database(&base.archive, keys, &base_db.name, |r| {
        lifeboat_core::delta::write_delta(r, &snap.path, block, &pages, &opts.cancel)
    });
    let made = match made {
        Ok(Ok(made)) => made,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => return Err(ArchiveError::Cancelled),
        Ok(Err(e)) => {
            let _ = std::fs::remove_file(&pages);
            tracing::warn!(db = %snap.name, "stored whole: cannot compare with the base {}: {e}", base.archive.name);
            return Ok(None);
        }
        Err(why) => {
            tracing::warn!(db = %snap.name, "stored whole: cannot read the base {}: {why}", base.archive.name);
            return Ok(None);
        }
    };
    // A block stored as its XOR with the base costs little. A packed one can
    // cost nearly what it would whole: after a VACUUM every page is packed,
    // yet the database deflates smaller whole, each page with its
    // neighbours as context. Both weigh against the delta.
    if (made.changed - made.xored) as f64 * f64::from(block) > made.size as f64 * DELTA_MAX_SHARE {
        let _ = std::fs::remove_file(&pages);
        return Ok(None);
    }
    if made.changed == 0 {
        let _ = std::fs::remove_file(&pages);
        return Ok(Some((made, None)));
    }
    let entry = format!("{}{DELTA_SUFFIX}", snap.name);
    let zip_path = work.join(format!("{stem}{DELTA_SUFFIX}.zip"));
    let c = archive::compress_database(&pages, &entry, &zip_path, style, opts.now, &opts.cancel, &|_| {})?;
    let _ = std::fs::remove_file(&pages);
    Ok(Some((made, Some(c))))
}
