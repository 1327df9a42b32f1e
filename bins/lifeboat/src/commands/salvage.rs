//! `lifeboat salvage DATABASE [--to DIR] [--json]`: the rows still readable
//! in a damaged database, into a new file, counted against the newest
//! archive holding a good copy of it. The live file is never written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lifeboat_core::salvage::{SalvageReport, SchemaFrom, salvage as read_back};
use lifeboat_core::{exit, verify};
use lifeboat_engine::Config;
use lifeboat_engine::retention;

use super::{UsageError, existing_state};
use crate::SalvageArgs;

pub(super) fn salvage(cfg: &Config, a: &SalvageArgs) -> Result<i32> {
    let (name, damaged) = damaged_file(cfg, &a.database)?;
    let dir = match &a.to {
        Some(dir) => dir.clone(),
        None => cfg.backup.output_dir.join("salvaged").join(chrono::Utc::now().format("%Y%m%d_%H%M%S").to_string()),
    };
    lifeboat_core::fsutil::create_private_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let output = dir.join(&name);
    if output.exists() {
        return Err(UsageError(format!("{} already exists; salvage never overwrites a file", output.display())).into());
    }
    let scratch = tempfile::Builder::new().prefix(".lifeboat-salvage-ref-").tempdir_in(&dir)?;
    let (archive, reference) = reference(cfg, &name, scratch.path());
    let report = read_back(&damaged, &output, reference.as_deref())
        .with_context(|| format!("cannot salvage {}", damaged.display()))?;
    if a.json {
        crate::json::print(&crate::json::salvage(&name, archive.as_deref(), &report))?;
    } else {
        print_text(cfg, &name, archive.as_deref(), &report);
    }
    Ok(if report.complete() { exit::SUCCESS } else { exit::PARTIAL })
}

/// The damaged file and its database name: a configured database's live
/// file, or a path given.
fn damaged_file(cfg: &Config, database: &str) -> Result<(String, PathBuf)> {
    if cfg.backup.databases.iter().any(|d| d == database) {
        return Ok((database.to_string(), cfg.backup.source_dir.join(database)));
    }
    let path = Path::new(database);
    match path.file_name().map(|f| f.to_string_lossy().into_owned()) {
        Some(name) if path.is_file() => Ok((name, path.to_path_buf())),
        _ => Err(UsageError(format!(
            "{database} is neither a database of backup.databases ({}) nor a file; give a database's name, \
             or the path of a damaged copy (output_dir/quarantine/… holds those a restore set aside)",
            cfg.backup.databases.join(", ")
        ))
        .into()),
    }
}

/// The newest archive holding a good copy of `name`, extracted and
/// verified into `scratch`: (its name, the database's path). None when no
/// archive holds one or it cannot be read here (the reason is logged).
fn reference(cfg: &Config, name: &str, scratch: &Path) -> (Option<String>, Option<PathBuf>) {
    let state = existing_state(cfg).ok().flatten();
    let archive = match retention::newest_good_copy(cfg, state.as_ref(), name) {
        Ok(Some(a)) => a,
        Ok(None) => return (None, None),
        Err(e) => {
            eprintln!("note: cannot look for an archive of {name}: {e}");
            return (None, None);
        }
    };
    match verify::verify_and_extract(&archive, &cfg.encryption.keys, scratch) {
        Ok((_, extracted)) => {
            let path = extracted.into_iter().find(|(n, _)| n == name).map(|(_, p)| p);
            (Some(archive.name), path)
        }
        Err(e) => {
            eprintln!(
                "note: {} holds a good copy of {name} but cannot be read here ({e}); no comparison",
                archive.name
            );
            (None, None)
        }
    }
}

fn print_text(cfg: &Config, name: &str, archive: Option<&str>, r: &SalvageReport) {
    let whole = if r.complete() { "every row was readable" } else { "some rows could not be read" };
    println!("salvaged {name} into {} ({whole}; integrity_check: {})", r.output.display(), r.integrity);
    if r.schema_from == SchemaFrom::Reference {
        println!("  its schema could not be read; the tables were made from the archive's");
    }
    for t in &r.tables {
        let mut line = format!("  {}: {} rows", t.name, t.salvaged);
        for l in &t.lost {
            match l.until {
                Some(until) => line += &format!("; rows with rowid {} to {} unreadable", l.from, until - 1),
                None => line += &format!("; rows from rowid {} on unreadable", l.from),
            }
        }
        if let Some(why) = &t.stopped {
            line += &format!("; reading stopped at a damaged page ({why})");
        }
        if let (Some(a), Some(n)) = (t.in_reference, t.not_in_reference) {
            line += &format!("; the archive has {a}, {n} salvaged rows are newer than it");
        }
        println!("{line}");
    }
    for (object, why) in &r.not_created {
        println!("  not created: {object} ({why})");
    }
    let live = cfg.backup.databases.iter().any(|d| d == name).then(|| cfg.backup.source_dir.join(name));
    match (archive, live) {
        (Some(archive), Some(live)) => {
            println!("to get everything back (docs/operations.md, \"A damaged database\"):");
            println!("  lifeboat restore {archive} --only {name} --yes");
            println!("  lifeboat diff {} live --only {name} --sql | sqlite3 {}", r.output.display(), live.display());
        }
        (Some(archive), None) => {
            println!("{archive} holds the newest good copy; the rows newer than it are in the salvaged file")
        }
        (None, _) => {
            println!("no archive holds a good copy of {name} to compare with: the salvaged file is the best copy")
        }
    }
}
