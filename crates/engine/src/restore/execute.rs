//! Carrying out a plan: verify, compare schemas, safety snapshot, write.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use tokio_util::sync::CancellationToken;

use super::write::{undo_plain, write_back, write_live, write_plain};
use super::{Action, BUSY_TIMEOUT, RestoreError, RestoreOutcome, RestorePlan, RestoredDatabase, io_err, sql};
use crate::backup::{BackupError, BackupOptions};
use crate::config::Config;
use lifeboat_core::manifest::{Kind, SkippedDatabase, TableCount, Trigger};
use lifeboat_core::source::LiveTarget;
use lifeboat_core::state::{Level, State};
use lifeboat_core::verify;

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
        quarantined: Vec::new(),
        notes: Vec::new(),
    };
    if !plan.problems.is_empty() {
        return Err(RestoreError::Preflight { archive: plan.archive.name.clone(), problems: plan.problems.clone() });
    }
    let mut started = Vec::new();
    let run = Run { cfg, state, plan, cancel, safety: true };
    let result = execute_inner(run, &mut outcome, &mut started);
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
                // Stopped before writing: nothing needs putting back.
                Some(safety) if !matches!(e, RestoreError::Quarantine { .. }) => {
                    if started.is_empty() {
                        return Err(RestoreError::AfterSafetySnapshot { error: Box::new(e), safety });
                    }
                    // All or nothing: what was written goes back as it was.
                    let undone = put_back(run, &safety, &started);
                    let _ = state.log_event(
                        match undone {
                            Ok(_) => Level::Info,
                            Err(_) => Level::Error,
                        },
                        "restore",
                        &match &undone {
                            Ok(back) => format!("put back {} from {safety}", back.join(", ")),
                            Err(why) => format!("putting back from {safety} failed: {why}"),
                        },
                        Utc::now(),
                    );
                    Err(match undone {
                        Ok(put_back) => RestoreError::PutBack { error: Box::new(e), safety, put_back },
                        Err(undo) => RestoreError::HalfRestored { error: Box::new(e), safety, undo: Box::new(undo) },
                    })
                }
                _ => Err(e),
            }
        }
    }
}

/// What every step of one execution works with.
#[derive(Clone, Copy)]
struct Run<'a> {
    cfg: &'a Config,
    state: &'a State,
    plan: &'a RestorePlan,
    cancel: &'a CancellationToken,
    /// A live restore takes a safety snapshot first (putting back from one
    /// does not).
    safety: bool,
}

/// After a live restore failed part-way: puts each database whose writing
/// had begun (`started`) back as it was, from the safety snapshot `safety`;
/// one that did not exist before is removed again. What was put back.
fn put_back(run: Run<'_>, safety: &str, started: &[String]) -> Result<Vec<String>, RestoreError> {
    let Run { cfg, state, plan, cancel, .. } = run;
    let mut done = Vec::new();
    let mut from_safety = Vec::new();
    for d in plan.databases.iter().filter(|d| started.contains(&d.name)) {
        match &d.action {
            Action::Create | Action::WriteBack { exists: false } => {
                for f in
                    std::iter::once(d.dest.clone()).chain(lifeboat_core::manifest::SIDECAR_SUFFIXES.iter().map(|s| {
                        let mut p = d.dest.clone().into_os_string();
                        p.push(s);
                        PathBuf::from(p)
                    }))
                {
                    match std::fs::remove_file(&f) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io_err(format!("cannot remove {}", f.display()))(e)),
                    }
                }
                done.push(format!("{} (removed: it did not exist before)", d.name));
            }
            _ => from_safety.push(d.name.clone()),
        }
    }
    if from_safety.is_empty() {
        return Ok(done);
    }
    let req = super::RestoreRequest { archive: safety.to_string(), only: Vec::new(), to: None, force_schema: true };
    let mut back = super::plan(cfg, &req)?;
    let held: Vec<String> = from_safety.iter().filter(|n| back.manifest.database(n).is_some()).cloned().collect();
    back.databases.retain(|d| held.contains(&d.name));
    let mut outcome = RestoreOutcome {
        archive: safety.to_string(),
        restored: Vec::new(),
        safety_archive: None,
        quarantined: Vec::new(),
        notes: Vec::new(),
    };
    if !back.databases.is_empty() {
        execute_inner(Run { cfg, state, plan: &back, cancel, safety: false }, &mut outcome, &mut Vec::new())?;
    }
    // What the safety snapshot could not take (it said why) stays as the
    // failed restore left it.
    let left: Vec<String> = from_safety
        .iter()
        .filter(|n| !held.contains(n))
        .map(|n| format!("{n} (not in the safety snapshot: left as the restore left it)"))
        .collect();
    done.extend(held);
    done.extend(left);
    Ok(done)
}

fn execute_inner(run: Run<'_>, outcome: &mut RestoreOutcome, started: &mut Vec<String>) -> Result<(), RestoreError> {
    let Run { cfg, plan, cancel, .. } = run;
    let scratch_parent = cfg.state_dir();
    lifeboat_core::fsutil::create_private_dir(&scratch_parent)
        .map_err(io_err(format!("cannot create {}", scratch_parent.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix(".restore-")
        .tempdir_in(&scratch_parent)
        .map_err(io_err(format!("cannot create a scratch folder in {}", scratch_parent.display())))?;
    let (report, extracted) = verify::verify_and_extract(&plan.archive, &cfg.encryption.keys, scratch.path())?;
    if !report.is_ok() {
        return Err(RestoreError::NotVerified { archive: plan.archive.name.clone(), problems: report.all_problems() });
    }
    if report.manifest.as_ref() != Some(&plan.manifest) {
        return Err(RestoreError::Changed(plan.archive.name.clone()));
    }
    let mut extracted = extracted;
    let mut expected = Vec::new();
    if let Some(at) = &plan.at {
        for r in &at.databases {
            let (path, tables) = rebuild_at(cfg, r, scratch.path())?;
            outcome.notes.push(format!(
                "{} is as of {} ({:.1} s before the asked time), rebuilt from {} increment(s) of its continuous chain",
                r.database,
                r.reached.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                r.short_by().num_milliseconds() as f64 / 1000.0,
                r.increments.len()
            ));
            extracted.retain(|(n, _)| *n != r.database);
            extracted.push((r.database.clone(), path));
            expected.push((r.database.clone(), tables));
        }
    }
    let expected_rows =
        |name: &str| expected.iter().find(|(n, _)| n == name).map(|(_, t): &(String, Vec<TableCount>)| t.clone());
    let source_of = |name: &str| extracted.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone());
    if cancel.is_cancelled() {
        return Err(RestoreError::Cancelled { restored: vec![] });
    }
    let names_done = |o: &RestoreOutcome| -> Vec<String> { o.restored.iter().map(|r| r.name.clone()).collect() };
    let setup = cfg.source_setup();
    match &plan.to {
        Some(dir) => {
            // A folder that exists keeps its permissions (`--to /tmp` must not
            // make /tmp private); only folders created here are 0700.
            lifeboat_core::fsutil::create_dir_private_if_new(dir)
                .map_err(io_err(format!("cannot create {}", dir.display())))?;
            let written = (|| {
                for d in &plan.databases {
                    if cancel.is_cancelled() {
                        return Err(RestoreError::Cancelled { restored: names_done(outcome) });
                    }
                    let src = source_of(&d.name).ok_or_else(|| RestoreError::Changed(plan.archive.name.clone()))?;
                    let mode = plan.manifest.database(&d.name).and_then(|e| e.mode);
                    write_plain(&src, &d.dest, mode)?;
                    outcome.restored.push(read_back(plan, &d.name, &d.dest, expected_rows(&d.name))?);
                    let kind = plan.manifest.database(&d.name).map(|e| lifeboat_core::source::kind(e.kind));
                    outcome.notes.extend(kind.and_then(|k| k.restore_note(&d.dest)));
                }
                Ok(())
            })();
            if let Err(e) = written {
                return Err(undo_plain(dir, outcome, e));
            }
        }
        None => {
            check_schemas(plan, &source_of, &mut outcome.notes)?;
            if run.safety {
                safety_snapshot(run, outcome)?;
            }
            for d in &plan.databases {
                if cancel.is_cancelled() {
                    return Err(RestoreError::Cancelled { restored: names_done(outcome) });
                }
                let src = source_of(&d.name).ok_or_else(|| RestoreError::Changed(plan.archive.name.clone()))?;
                let entry = plan.manifest.database(&d.name).expect("planned from the manifest");
                let kind = lifeboat_core::source::kind(entry.kind);
                // A load that fails and leaves the server as it was needs no
                // putting back; any other write may have begun.
                let atomic = matches!(d.action, Action::LoadDump { .. }) && kind.load_is_all_or_nothing();
                if !atomic {
                    started.push(d.name.clone());
                }
                // The plan never holds one without (see `plan`); the config changed since.
                let not_configured =
                    || RestoreError::NotConfigured { name: d.name.clone(), dir: cfg.backup.source_dir.clone() };
                match super::plan::live_target(&setup, entry).ok_or_else(not_configured)? {
                    LiveTarget::Database(_) => {
                        write_live(&src, &d.dest, &d.name, &entry.journal_mode, &mut outcome.notes)?;
                        outcome.restored.push(read_back(plan, &d.name, &d.dest, expected_rows(&d.name))?);
                    }
                    LiveTarget::Load { source, .. } => {
                        let tables = kind.load(&setup, &source, &src).map_err(|why| {
                            // Refused before it changed anything: nothing of
                            // it to put back (putting back would meet the same
                            // refusal).
                            if why.left_unchanged() {
                                started.retain(|n| *n != d.name);
                            }
                            RestoreError::Tool { name: d.name.clone(), why }
                        })?;
                        if atomic {
                            started.push(d.name.clone());
                        }
                        outcome.restored.push(RestoredDatabase {
                            name: d.name.clone(),
                            dest: d.dest.clone(),
                            rows_match_manifest: verify::same_rows(&tables, &entry.tables),
                            tables,
                        });
                    }
                    LiveTarget::File(dest) => {
                        write_back(&src, &dest, entry.mode)?;
                        outcome.restored.push(read_back(plan, &d.name, &dest, None)?);
                    }
                    LiveTarget::Manual => return Err(not_configured()),
                }
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
        match lifeboat_core::schema::compare(&src, &d.dest, journal_mode == "wal") {
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

/// Backs up the live databases about to be replaced, as a `pre-restore`
/// archive; what it cannot take is copied to quarantine instead.
fn safety_snapshot(run: Run<'_>, outcome: &mut RestoreOutcome) -> Result<(), RestoreError> {
    let skipped = take_safety_snapshot(run, outcome)?;
    quarantine_skipped(run, &skipped, outcome)
}

/// Copies each live file about to be overwritten that the safety snapshot
/// skipped (`skipped`: entry or source name, and why) into quarantine, all
/// before anything is written.
fn quarantine_skipped(
    run: Run<'_>,
    skipped: &[SkippedDatabase],
    outcome: &mut RestoreOutcome,
) -> Result<(), RestoreError> {
    let Run { cfg, plan, .. } = run;
    let now = Utc::now();
    for d in &plan.databases {
        let source = plan.manifest.database(&d.name).map_or(d.name.as_str(), |e| e.source_name());
        let Some(why) = skipped.iter().find(|s| s.name == d.name || s.name == source) else { continue };
        match &d.action {
            // Only a file holds data to keep; a folder where a file should
            // be is refused by the write itself, naming it.
            Action::Replace { .. } | Action::WriteBack { exists: true } if d.dest.is_file() => {
                let kept = super::quarantine::keep(&cfg.backup.output_dir, &d.name, &d.dest, now)?;
                outcome.notes.push(format!(
                    "{} was not in the safety snapshot ({}); its files as they were are kept in {} \
                     (until you remove them; sqlite3's .recover can read what is left of a damaged database)",
                    d.name,
                    why.reason,
                    kept.dir.display()
                ));
                outcome.quarantined.push(kept);
            }
            _ => outcome.notes.push(format!(
                "{} was not in the safety snapshot ({}); it is being replaced by the restore",
                d.name, why.reason
            )),
        }
    }
    Ok(())
}

/// The `pre-restore` archive of what is about to be replaced; what it skipped.
fn take_safety_snapshot(run: Run<'_>, outcome: &mut RestoreOutcome) -> Result<Vec<SkippedDatabase>, RestoreError> {
    let Run { cfg, state, plan, cancel, .. } = run;
    let mut names = Vec::new();
    for d in &plan.databases {
        let source = plan.manifest.database(&d.name).map_or(d.name.as_str(), |e| e.source_name()).to_string();
        match &d.action {
            // A database created first holds nothing to keep.
            Action::LoadDump { .. } if d.first.is_some() => outcome.notes.push(format!(
                "{} was not in the safety snapshot: there was nothing to keep ({})",
                d.name,
                d.first.as_deref().unwrap_or_default()
            )),
            Action::Replace { .. } | Action::LoadDump { .. } | Action::WriteBack { exists: true } => {
                if !names.contains(&source) {
                    names.push(source)
                }
            }
            Action::ReplaceUnreadable { reason } => outcome.notes.push(format!(
                "{} was not in the safety snapshot: it is not a readable database ({reason}); the old file is kept aside",
                d.name
            )),
            Action::Create | Action::WriteFile | Action::WriteBack { exists: false } => {}
        }
    }
    if names.is_empty() {
        return Ok(Vec::new());
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
            // A snapshot of nothing must not pass for a copy worth going back to.
            for d in b.manifest.databases.iter().filter(|d| lifeboat_core::source::kind(d.kind).is_database()) {
                if d.total_rows() == 0 {
                    outcome.notes.push(format!(
                        "{} held no rows before this restore: its copy in the safety snapshot {} is empty",
                        d.name, b.archive.name
                    ));
                }
            }
            outcome.safety_archive = Some(b.archive.name.clone());
            Ok(b.manifest.skipped)
        }
        Err(BackupError::NothingBackedUp { skipped }) => Ok(skipped),
        Err(BackupError::Cancelled) => Err(RestoreError::Cancelled { restored: vec![] }),
        Err(e) => Err(RestoreError::SafetySnapshot(e)),
    }
}

/// Now, but after every archive already in `output_dir`, so the safety
/// snapshot never takes the name of the archive being restored (names have
/// one-second resolution).
fn safety_time(cfg: &Config) -> DateTime<Utc> {
    let now = Utc::now();
    let newest =
        lifeboat_core::catalog::list(&cfg.backup.output_dir).ok().and_then(|l| l.first().map(|a| a.created_at));
    match newest {
        Some(t) if t + chrono::Duration::seconds(1) > now => t + chrono::Duration::seconds(1),
        _ => now,
    }
}

/// Rebuilds `r.database` as of its moment into `scratch`, and checks it:
/// the path and its row counts.
fn rebuild_at(
    cfg: &Config,
    r: &lifeboat_core::source::sqlite::continuous::Reach,
    scratch: &Path,
) -> Result<(PathBuf, Vec<TableCount>), RestoreError> {
    let name = &r.database;
    let dest = scratch.join(format!("at-{name}"));
    lifeboat_core::source::sqlite::continuous::rebuild(&cfg.continuous_setup(), r, &dest)
        .map_err(|source| RestoreError::Rebuild { name: name.clone(), source: Box::new(source) })?;
    let damaged = |why: String| RestoreError::RebuiltDamaged { name: name.clone(), at: r.reached, why };
    let report = lifeboat_core::integrity::check(&dest).map_err(|e| damaged(e.to_string()))?;
    if !report.ok {
        return Err(damaged(report.summary()));
    }
    Ok((dest, report.tables))
}

/// Row counts of a written database, compared with the manifest (or with
/// `expected`, a database rebuilt as of a moment); any other kind's file
/// is read back against the manifest's sha256.
fn read_back(
    plan: &RestorePlan,
    name: &str,
    dest: &Path,
    expected: Option<Vec<TableCount>>,
) -> Result<RestoredDatabase, RestoreError> {
    if let Some(entry) = plan.manifest.database(name).filter(|e| e.kind != Kind::Sqlite) {
        let sha256 =
            lifeboat_core::fsutil::sha256_file(dest).map_err(io_err(format!("cannot read back {}", dest.display())))?;
        return Ok(RestoredDatabase {
            name: name.to_string(),
            dest: dest.to_path_buf(),
            rows_match_manifest: sha256.eq_ignore_ascii_case(&entry.sha256),
            tables: entry.tables.clone(),
        });
    }
    let conn = Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(sql(name, dest))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql(name, dest))?;
    let tables = lifeboat_core::integrity::count_rows(&conn).map_err(sql(name, dest))?;
    let want = match &expected {
        Some(t) => t.as_slice(),
        None => plan.manifest.database(name).map(|e| e.tables.as_slice()).unwrap_or_default(),
    };
    Ok(RestoredDatabase {
        name: name.to_string(),
        dest: dest.to_path_buf(),
        rows_match_manifest: verify::same_rows(&tables, want),
        tables,
    })
}
