//! The walk over an archive's entries and the verdict on each database.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::catalog::StoredArchive;
use crate::manifest::{DELTA_SUFFIX, Delta, INFO_NAME, Kind, MANIFEST_NAME, Manifest, is_plain_name};
use crate::seal::Keys;

use super::differential::{BaseOpen, PageCheck, open_base, rebuild};
use super::entries::{
    EntryOpenError, EntryRead, extraction_file, load_manifest, open_entry, open_zip, read_entry, remove_extracted,
};
use super::{DatabaseVerdict, Problems, VerifyError, VerifyOptions, VerifyReport, same_rows};

/// Deflate cannot expand more than about 1032 times; an entry this large
/// that claims nearly that ratio is a ZIP bomb rather than a database.
const MAX_RATIO: u64 = 1000;
const RATIO_CHECKED_ABOVE: u64 = 256 * 1024 * 1024;
/// Room kept free beside extracted copies (SQLite's own scratch, the state).
const SPACE_MARGIN: u64 = 16 * 1024 * 1024;

/// Every check on `archive`; with `keep`, the databases that verified fully
/// stay extracted in `scratch` and their paths are returned.
pub(super) fn verify_inner(
    archive: &StoredArchive,
    keys: &Keys,
    scratch: &Path,
    opts: VerifyOptions,
    keep: bool,
    pages: Option<&PageCheck<'_>>,
) -> Result<(VerifyReport, Vec<(String, PathBuf)>), VerifyError> {
    let mut zip = open_zip(archive, keys)?;
    let mut problems = Problems::default();
    if zip.has_duplicate_names() {
        problems.push("the ZIP holds two entries with the same name; refusing an ambiguous archive".to_string());
    }
    let sealed = zip.index_for_name(MANIFEST_NAME).and_then(|i| zip.by_index_raw(i).ok().map(|e| e.encrypted()));
    let sealed = sealed.unwrap_or(false);
    // A key that does not open the archive is an error, not a report: the
    // archive may be fine and the user needs the other key.
    let manifest = match load_manifest(&mut zip, keys, &archive.name) {
        Ok(m) => Some(m),
        Err(VerifyError::Manifest(_, why)) => {
            problems.push(format!("no valid manifest.json: {why}"));
            None
        }
        Err(e) => return Err(e),
    };
    let mut expected: Vec<String> = Vec::new();
    // Entry name → database: the database's own name, or `NAME.pages` for
    // a delta; a differential's unchanged databases have no entry at all.
    let mut entry_of: std::collections::BTreeMap<String, String> = Default::default();
    let mut unchanged: Vec<String> = Vec::new();
    if let Some(m) = &manifest {
        let mut seen = BTreeSet::new();
        if m.databases.is_empty() {
            problems.push("the manifest lists no databases; a Lifeboat archive always holds at least one".to_string());
        }
        for d in &m.databases {
            if let Some(why) = crate::source::entry_problem(d) {
                problems.push(format!("the manifest names an unsafe entry {:?} (it {why}); refusing it", d.name));
            } else if !seen.insert(d.name.clone()) {
                problems.push(format!("the manifest lists {} twice", d.name));
            } else {
                match &d.delta {
                    None => {
                        entry_of.insert(d.name.clone(), d.name.clone());
                    }
                    Some(_) if m.base.is_none() => {
                        problems.push_for(&d.name, "stored as a delta, but the manifest names no base");
                        continue;
                    }
                    Some(Delta { entry: Some(e), .. }) if *e != format!("{}{DELTA_SUFFIX}", d.name) => {
                        problems
                            .push_for(&d.name, format_args!("its delta entry is {e:?}, not {}{DELTA_SUFFIX}", d.name));
                        continue;
                    }
                    Some(Delta { entry: Some(e), .. }) => {
                        entry_of.insert(e.clone(), d.name.clone());
                    }
                    Some(Delta { entry: None, .. }) => unchanged.push(d.name.clone()),
                }
                expected.push(d.name.clone());
            }
        }
    }
    let mut base = match manifest.as_ref().and_then(|m| m.base.as_ref().map(|b| (m, b))) {
        Some((m, b)) => match pages {
            Some(pages) => {
                pages.check_base(m, &b.archive, &mut problems);
                Some(BaseOpen::Pages(pages))
            }
            None => Some(BaseOpen::Archive(open_base(archive, m, b, keys, &mut problems)?)),
        },
        None => None,
    };
    if opts.integrity_check {
        crate::fsutil::create_private_dir(scratch)
            .map_err(|source| VerifyError::Io { path: scratch.to_path_buf(), source })?;
        // Refused before writing a byte, rather than after filling the disk.
        let needed: u64 = manifest.iter().flat_map(|m| &m.databases).map(|d| d.size).fold(0, u64::saturating_add);
        if let Ok(free) = crate::fsutil::available_space(scratch)
            && needed.saturating_add(SPACE_MARGIN) > free
        {
            problems.push(format!(
                "checking it needs {} in {} but only {} is free; free space there (or point TMPDIR at a bigger disk) and run again",
                crate::units::human_size(needed),
                scratch.display(),
                crate::units::human_size(free)
            ));
            let report = problems.report(archive, manifest, Vec::new());
            return Ok((report, Vec::new()));
        }
    }

    let mut verdicts: Vec<DatabaseVerdict> = Vec::new();
    let mut extracted: Vec<(String, PathBuf)> = Vec::new();
    let mut present = BTreeSet::new();
    for i in 0..zip.len() {
        let mut entry = match open_entry(&mut zip, i, keys, &archive.name) {
            Ok(e) => e,
            Err(EntryOpenError::Key(e)) => return Err(VerifyError::Key(e)),
            Err(EntryOpenError::Refused(e)) => {
                problems.push(format!("entry #{}: cannot be read: {e}", i + 1));
                continue;
            }
        };
        let raw_name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| raw_name.clone());
        let unix_type = entry.unix_mode().map(|m| m & 0o170000);
        let mut entry_problems = Vec::new();
        // A file source's entries are `SOURCE/PATH`, checked part by part
        // when the manifest was read; any other name must be plain.
        if !is_plain_name(&name) && !entry_of.contains_key(&name) {
            entry_problems.push(format!(
                "entry {name:?} is not a plain file name at the archive's root (absolute path, folder or `..`); refusing it"
            ));
        }
        if entry.is_symlink() || unix_type == Some(0o120000) {
            entry_problems.push(format!("entry {name:?} is a symbolic link; refusing it"));
        } else if entry.is_dir() || unix_type.is_some_and(|t| t != 0o100000 && t != 0) {
            entry_problems.push(format!("entry {name:?} is not a regular file; refusing it"));
        }
        if entry.encrypted() != sealed {
            entry_problems.push(if sealed {
                format!("entry {name:?} is not encrypted while manifest.json is; refusing a tampered archive")
            } else {
                format!("entry {name:?} is encrypted while manifest.json is not; refusing a tampered archive")
            });
        }
        let db = entry_of.get(&name).cloned().filter(|_| entry_problems.is_empty());
        let is_db = db.is_some();
        if !is_db && name != MANIFEST_NAME && name != INFO_NAME && entry_problems.is_empty() {
            entry_problems.push(format!("unexpected entry {name:?} (not a database in the manifest)"));
        }
        let declared = entry.size();
        if !is_db {
            // Still read it fully: its CRC is part of the archive's health.
            let read = read_entry(&mut entry, declared, false, None);
            if let Some(e) = read.error {
                entry_problems.push(format!("entry {name:?}: {e}"));
            }
            entry_problems.into_iter().for_each(|p| problems.push(p));
            continue;
        }
        let db = db.expect("is_db");
        let is_delta = db != name;
        present.insert(db.clone());
        let want = manifest.as_ref().and_then(|m| m.database(&db)).expect("expected names come from the manifest");
        let target = scratch.join(&db);
        let mut out = None;
        let mut why: Vec<String> = Vec::new();
        let packed = entry.compressed_size().max(1);
        if declared > RATIO_CHECKED_ABOVE && declared / packed > MAX_RATIO {
            why.push(format!(
                "its ZIP header says {declared} bytes packed into {packed} ({}:1), beyond what deflate produces; refusing a likely ZIP bomb",
                declared / packed
            ));
        }
        if opts.integrity_check && why.is_empty() {
            match extraction_file(scratch, &db) {
                Ok(f) => out = Some(f),
                Err(e) => why.push(e.to_string()),
            }
        }
        // Never more than the manifest promises, whatever the ZIP header says.
        let read = if !why.is_empty() {
            EntryRead { bytes: 0, sha256: String::new(), error: None }
        } else if is_delta {
            rebuild(&mut base, &db, keys, Some(&mut entry), want.size, out.as_mut())
        } else {
            read_entry(&mut entry, declared.min(want.size), want.kind == Kind::Sqlite, out.as_mut())
        };
        drop(entry);
        let verdict = judge(db, want, read, why, &target, out, opts, keep, &mut extracted);
        verdicts.push(verdict);
    }
    // A differential's unchanged databases come from the base alone.
    for db in unchanged {
        let want = manifest.as_ref().and_then(|m| m.database(&db)).expect("expected names come from the manifest");
        let target = scratch.join(&db);
        let mut why = Vec::new();
        let mut out = None;
        if opts.integrity_check {
            match extraction_file(scratch, &db) {
                Ok(f) => out = Some(f),
                Err(e) => why.push(e.to_string()),
            }
        }
        let read = if why.is_empty() {
            rebuild(&mut base, &db, keys, None::<&mut &[u8]>, want.size, out.as_mut())
        } else {
            EntryRead { bytes: 0, sha256: String::new(), error: None }
        };
        present.insert(db.clone());
        let verdict = judge(db, want, read, why, &target, out, opts, keep, &mut extracted);
        verdicts.push(verdict);
    }
    finish(archive, manifest, expected, present, verdicts, extracted, problems)
}

/// The verdict on one database from what reading (or rebuilding) it found;
/// with `integrity_check`, runs it on the extracted copy and keeps or
/// removes that copy.
#[allow(clippy::too_many_arguments)]
fn judge(
    name: String,
    want: &crate::manifest::DatabaseEntry,
    read: EntryRead,
    mut why: Vec<String>,
    target: &Path,
    mut out: Option<File>,
    opts: VerifyOptions,
    keep: bool,
    extracted: &mut Vec<(String, PathBuf)>,
) -> DatabaseVerdict {
    if let Some(e) = &read.error {
        why.push(format!("damaged entry: {e}"));
    }
    if why.is_empty() && read.error.is_none() && read.bytes != want.size {
        why.push(format!("size {} bytes, the manifest says {}", read.bytes, want.size));
    }
    if why.is_empty() && read.error.is_none() && !read.sha256.eq_ignore_ascii_case(&want.sha256) {
        why.push("sha256 differs from the manifest".to_string());
    }
    let checksum_ok = why.is_empty();
    let integrity = if !opts.integrity_check {
        "skipped".to_string()
    } else if !checksum_ok {
        "not checked (checksum failed)".to_string()
    } else {
        let flushed = out.take().map(|f| f.sync_all());
        match flushed {
            Some(Err(e)) => format!("cannot extract: {e}"),
            _ => match crate::source::check_copy(want.kind, target) {
                Ok(c) if !same_rows(&c.tables, &want.tables) => {
                    "its tables or row counts differ from the manifest's".to_string()
                }
                Ok(_) => "ok".to_string(),
                Err(crate::snapshot::SkipReason::Corrupt(why)) => why,
                Err(e) => e.to_string(),
            },
        }
    };
    let ok = checksum_ok && (integrity == "ok" || integrity == "skipped");
    if opts.integrity_check {
        if keep && ok {
            extracted.push((name.clone(), target.to_path_buf()));
        } else {
            remove_extracted(target);
        }
    }
    let detail = if checksum_ok { integrity } else { why.join("; ") };
    DatabaseVerdict { name, size: read.bytes, checksum_ok, integrity: detail, ok }
}

/// Databases the manifest lists but nothing provided, then the report in
/// manifest order.
fn finish(
    archive: &StoredArchive,
    manifest: Option<Manifest>,
    expected: Vec<String>,
    present: BTreeSet<String>,
    mut verdicts: Vec<DatabaseVerdict>,
    mut extracted: Vec<(String, PathBuf)>,
    mut problems: Problems,
) -> Result<(VerifyReport, Vec<(String, PathBuf)>), VerifyError> {
    for name in &expected {
        if !present.contains(name) {
            problems.push_for(name, "listed in the manifest but missing from the archive");
            verdicts.push(DatabaseVerdict {
                name: name.clone(),
                size: 0,
                checksum_ok: false,
                integrity: "missing from the archive".to_string(),
                ok: false,
            });
        }
    }
    // Manifest order, so reports read the same way every time.
    verdicts.sort_by_key(|v| expected.iter().position(|n| *n == v.name).unwrap_or(usize::MAX));
    extracted.sort_by_key(|(n, _)| expected.iter().position(|e| e == n).unwrap_or(usize::MAX));
    let report = problems.report(archive, manifest, verdicts);
    if !report.is_ok() {
        for (_, p) in extracted.drain(..) {
            remove_extracted(&p);
        }
    }
    Ok((report, extracted))
}
