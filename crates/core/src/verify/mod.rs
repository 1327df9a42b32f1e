//! Verifying an archive: every CRC, the manifest's sha256 and size of each
//! database, and `integrity_check` of each database extracted to scratch.
//!
//! Everything in an archive is treated as hostile input: entry names and the
//! manifest's database names must be plain file names, links and folders are
//! refused, and only the manifest's databases, `backup_info.txt` and
//! `manifest.json` may be inside. Nothing is ever written outside `scratch`.
//! Entries are streamed (CRC and sha256 computed while reading), so memory use
//! does not grow with the archive.
//!
//! Sealed archives are read in place: a zip-aes archive's entries are
//! decrypted (and their authentication codes checked) as they stream, an
//! age archive is read through its decrypting stream. An archive is either
//! sealed throughout or not at all: a plain entry beside encrypted ones is
//! refused, as a tampered archive would look.

mod check;
mod differential;
mod entries;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::catalog::StoredArchive;
use crate::manifest::{MANIFEST_NAME, Manifest};
use crate::seal::{KeyError, Keys, Sealing};

use check::verify_inner;
pub use differential::PageCheck;
use entries::{EntryOpenError, load_manifest, open_entry, open_zip};
pub use entries::{ManifestProblem, RefusedEntry};

/// What to check.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Also extract each database and run `integrity_check` (slower).
    pub integrity_check: bool,
}

/// One database's result.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseVerdict {
    pub name: String,
    pub size: u64,
    /// CRC, size and sha256 match the manifest.
    pub checksum_ok: bool,
    /// "ok", "skipped", or the problems.
    pub integrity: String,
    /// Everything fine.
    pub ok: bool,
}

/// The archive-level problems found, and the databases they speak of.
#[derive(Debug, Default)]
pub(super) struct Problems {
    list: Vec<String>,
    named: BTreeSet<String>,
}

impl Problems {
    /// A problem with the archive as a whole.
    pub(super) fn push(&mut self, text: String) {
        self.list.push(text);
    }

    /// A problem with database `db`, said as "DB: WHAT".
    pub(super) fn push_for(&mut self, db: &str, what: impl std::fmt::Display) {
        self.list.push(format!("{db}: {what}"));
        self.named.insert(db.to_string());
    }

    /// The report on `archive` with these problems.
    pub(super) fn report(
        self,
        archive: &StoredArchive,
        manifest: Option<Manifest>,
        databases: Vec<DatabaseVerdict>,
    ) -> VerifyReport {
        VerifyReport { archive: archive.name.clone(), manifest, databases, problems: self.list, named: self.named }
    }
}

/// The whole result.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Logical archive name.
    pub archive: String,
    /// The manifest, when readable.
    pub manifest: Option<Manifest>,
    /// Per database.
    pub databases: Vec<DatabaseVerdict>,
    /// Archive-level problems (missing manifest, unexpected entries, ...).
    pub problems: Vec<String>,
    /// The databases that `problems` speak of, so that
    /// [`Self::all_problems`] does not say them twice.
    named: BTreeSet<String>,
}

impl VerifyReport {
    /// No problem anywhere.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.databases.iter().all(|d| d.ok)
    }

    /// Every problem in one list: the archive's, then each bad database's.
    pub fn all_problems(&self) -> Vec<String> {
        let mut out = self.problems.clone();
        for d in self.databases.iter().filter(|d| !d.ok && !self.named.contains(&d.name)) {
            out.push(format!("{}: {}", d.name, d.integrity));
        }
        out
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}: {}", self.archive, if self.is_ok() { "OK" } else { "FAILED" })?;
        for d in &self.databases {
            writeln!(
                f,
                "  {} {:<24} {:>12} bytes  checksum {}  integrity {}",
                if d.ok { "✓" } else { "✗" },
                d.name,
                d.size,
                if d.checksum_ok { "ok" } else { "BAD" },
                d.integrity
            )?;
        }
        for p in &self.problems {
            writeln!(f, "  ✗ {p}")?;
        }
        Ok(())
    }
}

/// Could not verify at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading the files.
    #[error("cannot read {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    /// Not a ZIP, or truncated.
    #[error("{0} is not a readable ZIP ({1}); it may be truncated: copy it again")]
    NotZip(String, String),
    /// No or bad manifest.
    #[error("{0} has no valid manifest.json ({1})")]
    Manifest(String, ManifestProblem),
    /// The archive is sealed and the keys held do not open it.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A differential whose base is not beside it.
    #[error(
        "{archive} is a differential archive and its base {base} is not in {folder}; copy the base there (every part of it) and run again"
    )]
    MissingBase {
        /// The differential.
        archive: String,
        /// The full archive it needs.
        base: String,
        /// Where it was looked for.
        folder: PathBuf,
    },
    /// A differential whose base cannot be read.
    #[error("the base {base} of this differential cannot be read: {source}")]
    Base {
        /// The base's name.
        base: String,
        source: Box<VerifyError>,
    },
}

/// Verifies an archive, extracting into `scratch` (a private temp folder).
///
/// A readable ZIP always gives a report; its problems (bad checksums, missing
/// or unexpected entries, unsafe names, no manifest) are in the report, not
/// errors. Extracted copies are removed before returning.
pub fn verify(
    archive: &StoredArchive,
    keys: &Keys,
    scratch: &Path,
    opts: VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    verify_inner(archive, keys, scratch, opts, false, None).map(|(report, _)| report)
}

/// Like [`verify`] without `integrity_check`, for a differential written
/// where its base cannot be read (sealed to keys kept elsewhere): every
/// entry's CRC, and each delta checked against `pages` (its pages with the
/// base's unchanged ones must hash as the snapshot's did) instead of
/// rebuilt from the base.
pub fn verify_against_pages(
    archive: &StoredArchive,
    keys: &Keys,
    pages: &PageCheck<'_>,
) -> Result<VerifyReport, VerifyError> {
    let scratch = Path::new("");
    verify_inner(archive, keys, scratch, VerifyOptions { integrity_check: false }, false, Some(pages))
        .map(|(report, _)| report)
}

/// Like [`verify`] with `integrity_check`, but keeps each database that
/// verified fully as `scratch/NAME` and returns their paths (in manifest
/// order), so a restore can use the very bytes that were checked.
pub fn verify_and_extract(
    archive: &StoredArchive,
    keys: &Keys,
    scratch: &Path,
) -> Result<(VerifyReport, Vec<(String, PathBuf)>), VerifyError> {
    verify_inner(archive, keys, scratch, VerifyOptions { integrity_check: true }, true, None)
}

/// Reads just the manifest of an archive (whole or split, sealed or not).
pub fn read_manifest(archive: &StoredArchive, keys: &Keys) -> Result<Manifest, VerifyError> {
    let mut zip = open_zip(archive, keys)?;
    load_manifest(&mut zip, keys, &archive.name)
}

/// The manifest of an archive for display and comparison: read from the
/// archive, or, when the keys held cannot open it (an age archive on a
/// server without the private key), the copy the state database kept when
/// the archive was written. Never for verifying or restoring: those read
/// the archive itself.
pub fn known_manifest(
    archive: &StoredArchive,
    keys: &Keys,
    state: Option<&crate::state::State>,
) -> Result<Manifest, VerifyError> {
    match read_manifest(archive, keys) {
        Err(VerifyError::Key(e)) => match state.and_then(|s| s.manifest_copy(&archive.name).ok().flatten()) {
            Some(copy) => Ok(copy),
            None => Err(VerifyError::Key(e)),
        },
        read => read,
    }
}

/// Why a database stored in an archive cannot be streamed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseReadError {
    /// The archive does not open.
    #[error(transparent)]
    Archive(#[from] VerifyError),
    /// The archive holds no such entry.
    #[error("{archive} does not hold {db}")]
    Missing { archive: String, db: String },
    /// The keys do not open the entry.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The entry does not read.
    #[error(transparent)]
    Refused(#[from] RefusedEntry),
}

/// Streams the database `db`, stored whole in `archive`, into `f`.
pub fn with_database<T>(
    archive: &StoredArchive,
    keys: &Keys,
    db: &str,
    f: impl FnOnce(&mut dyn Read) -> T,
) -> Result<T, DatabaseReadError> {
    let mut zip = open_zip(archive, keys)?;
    let i = zip
        .index_for_name(db)
        .ok_or_else(|| DatabaseReadError::Missing { archive: archive.name.clone(), db: db.to_string() })?;
    let mut entry = open_entry(&mut zip, i, keys, &archive.name).map_err(|e| match e {
        EntryOpenError::Key(e) => DatabaseReadError::Key(e),
        EntryOpenError::Refused(why) => DatabaseReadError::Refused(why),
    })?;
    Ok(f(&mut entry))
}

/// How a stored archive is sealed: age by its name, zip-aes when its
/// manifest entry is encrypted (read from the ZIP's directory, no key
/// needed). An unreadable archive counts as plain.
pub fn seal_mode(archive: &StoredArchive) -> crate::seal::Mode {
    use crate::seal::Mode;
    if archive.sealing() == Sealing::Age {
        return Mode::Age;
    }
    let encrypted = open_zip(archive, &Keys::none()).ok().and_then(|mut zip| {
        let i = zip.index_for_name(MANIFEST_NAME)?;
        zip.by_index_raw(i).ok().map(|e| e.encrypted())
    });
    if encrypted == Some(true) { Mode::ZipAes } else { Mode::None }
}

/// Tables and row counts equal, whatever their order.
pub fn same_rows(found: &[crate::manifest::TableCount], declared: &[crate::manifest::TableCount]) -> bool {
    let mut a = found.to_vec();
    let mut b = declared.to_vec();
    a.sort_by(|x, y| x.name.cmp(&y.name));
    b.sort_by(|x, y| x.name.cmp(&y.name));
    a == b
}
