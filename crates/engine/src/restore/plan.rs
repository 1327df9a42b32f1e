//! What a restore will do, decided without writing anything.

use std::path::Path;

use super::{Action, PlannedDatabase, RestoreError, RestorePlan, RestoreRequest, io_err};
use crate::config::Config;
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::manifest::{DatabaseEntry, Manifest, Trigger};
use lifeboat_core::source::LiveTarget;
use lifeboat_core::verify;

/// Resolves the archive, reads its manifest and decides what happens to each
/// database. Writes nothing. `latest` is the newest archive that is not a
/// pre-restore safety snapshot (those are restored by name).
pub fn plan(cfg: &Config, req: &RestoreRequest) -> Result<RestorePlan, RestoreError> {
    let (archive, manifest) = resolve(cfg, &req.archive)?;
    for d in &manifest.databases {
        if let Some(why) = lifeboat_core::source::entry_problem(d) {
            return Err(RestoreError::Hostile { archive: archive.name.clone(), name: d.name.clone(), why });
        }
    }
    let mut names: Vec<String> = Vec::new();
    if req.only.is_empty() {
        names = manifest.databases.iter().map(|d| d.name.clone()).collect();
    } else {
        for n in &req.only {
            // An entry, or a source: all its entries (a files source's files).
            let matching: Vec<&str> = manifest
                .databases
                .iter()
                .filter(|d| d.name == *n || d.source_name() == n)
                .map(|d| d.name.as_str())
                .collect();
            if matching.is_empty() {
                return Err(RestoreError::UnknownDatabase {
                    name: n.clone(),
                    archive: archive.name.clone(),
                    available: manifest.databases.iter().map(|d| d.name.clone()).collect(),
                });
            }
            for m in matching {
                if !names.iter().any(|x| x == m) {
                    names.push(m.to_string());
                }
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
    let mut manual = Vec::new();
    let setup = cfg.source_setup();
    if req.to.is_none() {
        let target = |name: &String| manifest.database(name).and_then(|e| live_target(&setup, e));
        let live = |name: &String| target(name).is_some_and(|t| t != LiveTarget::Manual);
        manual = names.iter().filter(|n| target(n) == Some(LiveTarget::Manual)).cloned().collect();
        if let Some(name) = names.iter().find(|n| !live(n) && !manual.contains(n) && req.only.contains(n)) {
            return Err(RestoreError::NotConfigured { name: name.clone(), dir: cfg.backup.source_dir.clone() });
        }
        unconfigured = names.iter().filter(|n| !live(n) && !manual.contains(n)).cloned().collect();
        names.retain(|n| live(n));
        if names.is_empty() {
            let mut all = unconfigured.clone();
            all.extend(manual.iter().cloned());
            return Err(RestoreError::NothingConfigured { archive: archive.name.clone(), names: all });
        }
    }
    let mut databases = Vec::new();
    // What stops one database (a link on its path, something not a file
    // in its place, a `--to` file already there) joins the other problems,
    // so the plan shows them all; the database is left out of the plan.
    let mut refused = Vec::new();
    for name in names {
        let entry = manifest.database(&name).expect("checked above");
        let planned = match &req.to {
            Some(dir) => {
                let dest = dir.join(&name);
                match dest.symlink_metadata() {
                    Ok(_) => Err(RestoreError::DestinationExists(dest)),
                    Err(_) => Ok((dest, Action::WriteFile)),
                }
            }
            None => match live_target(&setup, entry).expect("kept above only when it has one") {
                LiveTarget::Database(dest) => super::nofollow::refuse_symlink(&dest)
                    .and_then(|()| live_action(&dest))
                    .map(|action| (dest, action)),
                LiveTarget::Load { source, dest, words } => Ok((dest, Action::LoadDump { source, words })),
                LiveTarget::File(dest) => {
                    super::nofollow::refuse_symlink(&dest).and_then(|()| match std::fs::symlink_metadata(&dest) {
                        Ok(m) if !m.is_file() => Err(RestoreError::NotAFile(dest)),
                        Ok(_) => Ok((dest, Action::WriteBack { exists: true })),
                        Err(_) => Ok((dest, Action::WriteBack { exists: false })),
                    })
                }
                LiveTarget::Manual => unreachable!("left out above"),
            },
        };
        let (dest, action) = match planned {
            Ok(planned) => planned,
            Err(
                e @ (RestoreError::Symlink { .. } | RestoreError::NotAFile(_) | RestoreError::DestinationExists(_)),
            ) => {
                refused.push(format!("{name}: {}", refusal(&e)));
                continue;
            }
            Err(e) => return Err(e),
        };
        let schema_changes = match &action {
            Action::Replace { journal_mode, .. } => {
                let archived: Vec<String> = entry.tables.iter().map(|t| t.name.clone()).collect();
                // Unreadable tables are noted when restoring, not refused.
                lifeboat_core::schema::live_table_names(&dest, journal_mode == "wal")
                    .map(|live| lifeboat_core::schema::table_set_changes(&archived, &live))
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let damaged = match &action {
            Action::Replace { journal_mode, .. } => live_damage(&dest, journal_mode == "wal"),
            _ => None,
        };
        databases.push(PlannedDatabase {
            name,
            dest,
            size: entry.size,
            rows: entry.total_rows(),
            action,
            schema_changes,
            damaged,
            first: None,
        });
    }
    let mut plan = RestorePlan {
        archive,
        manifest,
        to: req.to.clone(),
        databases,
        unconfigured,
        manual,
        force_schema: req.force_schema,
        problems: Vec::new(),
        at: None,
        quarantine_dir: cfg.backup.output_dir.join(super::quarantine::FOLDER),
    };
    super::preflight::check(cfg, &mut plan);
    plan.problems.splice(0..0, refused);
    Ok(plan)
}

/// A refusal of one database, as a line of the plan's problems.
fn refusal(e: &RestoreError) -> String {
    match e {
        // Its own message says "nothing was written", which the list says once.
        RestoreError::Symlink { dest, link, target } => format!(
            "{} is a symbolic link (to {}) on the way to {}, and a restore never writes through one (whoever \
             can change that folder could send the restored data anywhere): put the real folder back, or \
             restore with --to DIR and copy what you need by hand",
            link.display(),
            target.display(),
            dest.display()
        ),
        e => e.to_string(),
    }
}

/// Where a live restore would write `entry`, or None when this
/// configuration does not back it up (each kind decides:
/// [`lifeboat_core::source::SourceKind::live_target`]).
pub(super) fn live_target(setup: &lifeboat_core::source::Setup<'_>, entry: &DatabaseEntry) -> Option<LiveTarget> {
    lifeboat_core::source::kind(entry.kind).live_target(setup, entry)
}

/// Finds the archive and reads its manifest. `latest` means the newest
/// archive that is not a pre-restore safety snapshot: otherwise running the
/// same restore twice would "restore" the data the first one replaced. A
/// safety snapshot is restored by naming it.
fn resolve(cfg: &Config, what: &str) -> Result<(StoredArchive, Manifest), RestoreError> {
    let dir = &cfg.backup.output_dir;
    if what == "latest" {
        for a in lifeboat_core::catalog::list(dir)? {
            // An unreadable newest archive is an error, never silently
            // passed over for an older one.
            let archive = lifeboat_core::catalog::resolve(dir, &a.name)?;
            let m = verify::read_manifest(&archive, &cfg.encryption.keys)?;
            if m.trigger != Trigger::PreRestore {
                return Ok((archive, m));
            }
        }
    }
    let archive = lifeboat_core::catalog::resolve(dir, what)?;
    let manifest = verify::read_manifest(&archive, &cfg.encryption.keys)?;
    Ok((archive, manifest))
}

pub(super) fn live_action(dest: &Path) -> Result<Action, RestoreError> {
    match std::fs::metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Action::Create),
        Err(e) => Err(io_err(format!("cannot inspect {}", dest.display()))(e)),
        Ok(m) if !m.is_file() => Err(RestoreError::NotAFile(dest.to_path_buf())),
        // The header, not SQLite: opening the live file could create
        // `-wal`/`-shm` files beside it.
        Ok(m) => Ok(match lifeboat_core::integrity::Header::read(dest) {
            Ok(h) => Action::Replace {
                current_size: m.len(),
                journal_mode: if h.wal { "wal" } else { "delete" }.to_string(),
                page_size: h.page_size,
            },
            Err(e) => Action::ReplaceUnreadable { reason: e.to_string() },
        }),
    }
}

/// Why the live database at `dest` would not go into a safety snapshot, or
/// None when it passes `quick_check`. Read without writing anything.
fn live_damage(dest: &Path, wal: bool) -> Option<String> {
    let checked = lifeboat_core::schema::open_quietly(dest, wal).and_then(|conn| {
        let mut st = conn.prepare("PRAGMA quick_check(5)")?;
        st.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<String>>>()
    });
    match checked {
        Ok(messages) if messages.len() == 1 && messages[0] == "ok" => None,
        Ok(messages) => Some(format!("it fails its integrity check: {}", messages.join("; "))),
        Err(e) => Some(format!("it cannot be read: {e}")),
    }
}
