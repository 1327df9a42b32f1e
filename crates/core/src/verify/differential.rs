//! A differential's base: finding it beside the archive, checking it holds
//! the very copies the deltas were made against, and rebuilding a database
//! from it; or, where the base cannot be read (sealed to keys kept
//! elsewhere), checking the deltas against the page hashes of the base and
//! of the snapshots they were made from.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::catalog::StoredArchive;
use crate::delta::PageHashes;
use crate::manifest::Manifest;
use crate::seal::Keys;

use super::entries::{EntryOpenError, EntryRead, Zip, load_manifest, open_entry, open_zip, read_entry};
use super::{Problems, VerifyError};

/// A differential's base, opened.
pub(super) struct Base {
    name: String,
    zip: Zip,
}

/// What a differential's databases are rebuilt from, or checked against.
pub(super) enum BaseOpen<'p> {
    /// The base archive itself.
    Archive(Base),
    /// Page hashes: the base's and the snapshots'.
    Pages(&'p PageCheck<'p>),
}

/// What a differential made where its base cannot be read is checked
/// against: the page hashes of the base's databases and of the snapshots
/// the deltas were made from, by entry.
#[derive(Debug, Clone, Copy)]
pub struct PageCheck<'a> {
    pub base: &'a BTreeMap<String, PageHashes>,
    pub new: &'a BTreeMap<String, PageHashes>,
}

impl PageCheck<'_> {
    /// Checks that the page hashes are of the very copies the deltas were
    /// made against.
    pub(super) fn check_base(&self, manifest: &Manifest, base: &str, problems: &mut Problems) {
        for d in &manifest.databases {
            let Some(delta) = &d.delta else { continue };
            match self.base.get(&d.name) {
                Some(b) if b.sha256.eq_ignore_ascii_case(&delta.base_sha256) => {}
                Some(_) => problems.push_for(
                    &d.name,
                    format_args!(
                        "the page hashes kept of {base} are of a different copy than this differential was made against"
                    ),
                ),
                None => problems.push_for(&d.name, format_args!("no page hashes of it in {base} are kept here")),
            }
        }
    }

    /// Checks database `db`'s delta (None: unchanged since the base)
    /// against the page hashes, reading it to its end.
    fn check(&self, db: &str, delta: Option<&mut dyn Read>) -> EntryRead {
        let failed = |why: String| EntryRead { bytes: 0, sha256: String::new(), error: Some(why) };
        let (Some(base), Some(new)) = (self.base.get(db), self.new.get(db)) else {
            return failed("no page hashes of it are kept here to check it against".into());
        };
        let checked = match delta {
            Some(d) => crate::delta::check_against_hashes(Some(&mut *d), base, new).and_then(|()| {
                // The entry's CRC is checked at its end; nothing may follow the delta.
                match std::io::copy(d, &mut std::io::sink())? {
                    0 => Ok(()),
                    n => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{n} bytes after its end"))),
                }
            }),
            None => crate::delta::check_against_hashes(None, base, new),
        };
        match checked {
            // The snapshot's sha256 was taken in the pass that hashed its
            // pages; the pages rebuilt match those, so the database does.
            Ok(()) => EntryRead { bytes: new.size, sha256: new.sha256.clone(), error: None },
            Err(e) => failed(format!("its delta does not apply to the base's pages: {e}")),
        }
    }
}

/// Finds and opens a differential's base beside it, and checks that it
/// holds the very databases the deltas were made against.
pub(super) fn open_base(
    archive: &StoredArchive,
    manifest: &Manifest,
    base: &crate::manifest::BaseRef,
    keys: &Keys,
    problems: &mut Problems,
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
            Some(_) => problems.push_for(
                &d.name,
                format_args!(
                    "the base {} holds a different copy than this differential was made against",
                    base.archive
                ),
            ),
            None => problems.push_for(&d.name, format_args!("the base {} does not hold it", base.archive)),
        }
    }
    Ok(Base { name: stored.name, zip })
}

/// Rebuilds database `db` from the base's copy and `delta` (None: the base's
/// copy as it is), streaming it through the same checks as a stored
/// database.
pub(super) fn rebuild(
    base: &mut Option<BaseOpen<'_>>,
    db: &str,
    keys: &Keys,
    delta: Option<&mut impl Read>,
    size: u64,
    out: Option<&mut File>,
) -> EntryRead {
    let failed = |why: String| EntryRead { bytes: 0, sha256: String::new(), error: Some(why) };
    let base = match base.as_mut() {
        None => return failed("it needs a base and none is open".into()),
        Some(BaseOpen::Pages(_)) if out.is_some() => {
            return failed("its base cannot be read here, so it cannot be extracted".into());
        }
        Some(BaseOpen::Pages(pages)) => return pages.check(db, delta.map(|d| d as &mut dyn Read)),
        Some(BaseOpen::Archive(base)) => base,
    };
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
