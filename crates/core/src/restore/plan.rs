//! What a restore will do, decided without writing anything.

use std::path::Path;

use super::{Action, PlannedDatabase, RestoreError, RestorePlan, RestoreRequest, io_err};
use crate::catalog::StoredArchive;
use crate::config::Config;
use crate::manifest::{Manifest, Trigger};
use crate::verify;

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
            let m = verify::read_manifest(&archive, &cfg.encryption.keys)?;
            if m.trigger != Trigger::PreRestore {
                return Ok((archive, m));
            }
        }
    }
    let archive = crate::catalog::resolve(dir, what)?;
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
