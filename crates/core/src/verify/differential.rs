//! A differential's base: finding it beside the archive, checking it holds
//! the very copies the deltas were made against, and rebuilding a database
//! from it.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::catalog::StoredArchive;
use crate::manifest::Manifest;
use crate::seal::Keys;

use super::VerifyError;
use super::entries::{EntryOpenError, EntryRead, Zip, load_manifest, open_entry, open_zip, read_entry};

/// A differential's base, opened.
pub(super) struct Base {
    name: String,
    zip: Zip,
}

/// Finds and opens a differential's base beside it, and checks that it
/// holds the very databases the deltas were made against.
pub(super) fn open_base(
    archive: &StoredArchive,
    manifest: &Manifest,
    base: &crate::manifest::BaseRef,
    keys: &Keys,
    problems: &mut Vec<String>,
) -> Result<Base, VerifyError> {
    let folder = archive.files.first().and_then(|f| f.parent()).map(Path::to_path_buf).unwrap_or_default();
    let missing = || VerifyError::MissingBase {
        archive: archive.name.clone(),
        base: base.archive.clone(),
        folder: folder.clone(),
    };
    // The name comes from the archive: only a whole archive's name beside
    // it may become a path.
    if !crate::catalog::ArchiveName::parse(&base.archive).is_ok_and(|n| n.part().is_none()) {
        return Err(missing());
    }
    let stored =
        crate::catalog::resolve(&folder, &folder.join(&base.archive).to_string_lossy()).map_err(|_| missing())?;
    let wrap = |e: VerifyError| VerifyError::Base { base: base.archive.clone(), source: Box::new(e) };
    let mut zip = open_zip(&stored, keys).map_err(wrap)?;
    let base_manifest = load_manifest(&mut zip, keys, &base.archive).map_err(wrap)?;
    if base_manifest.is_differential() {
        problems.push(format!("its base {} is itself a differential; a base must be a full archive", base.archive));
    }
    for d in &manifest.databases {
        let Some(delta) = &d.delta else { continue };
        match base_manifest.database(&d.name) {
            Some(b) if b.sha256.eq_ignore_ascii_case(&delta.base_sha256) => {}
            Some(_) => problems.push(format!(
                "{}: the base {} holds a different copy than this differential was made against",
                d.name, base.archive
            )),
            None => problems.push(format!("{}: the base {} does not hold it", d.name, base.archive)),
        }
    }
    Ok(Base { name: stored.name, zip })
}

/// Rebuilds database `db` from the base's copy and `delta` (None: the base's
/// copy as it is), streaming it through the same checks as a stored
/// database.
pub(super) fn rebuild(
    base: &mut Option<Base>,
    db: &str,
    keys: &Keys,
    delta: Option<&mut impl Read>,
    size: u64,
    out: Option<&mut File>,
) -> EntryRead {
    let failed = |why: String| EntryRead { bytes: 0, sha256: String::new(), error: Some(why) };
    let Some(base) = base.as_mut() else { return failed("it needs a base and none is open".into()) };
    let Some(i) = base.zip.index_for_name(db) else {
        return failed(format!("the base {} does not hold it", base.name));
    };
    let name = base.name.clone();
    let mut entry = match open_entry(&mut base.zip, i, keys, &name) {
        Ok(e) => e,
        Err(EntryOpenError::Key(e)) => return failed(e.to_string()),
        Err(EntryOpenError::Refused(why)) => return failed(format!("the base's copy cannot be read: {why}")),
    };
    match crate::delta::Patched::new(&mut entry, delta, size) {
        Ok(mut patched) => read_entry(&mut patched, size, true, out),
        Err(e) => failed(format!("its delta does not apply: {e}")),
    }
}
