//! The archives on disk: their names, and finding them in `output_dir`.
//!
//! An archive is `database_backup_YYYYMMDD_HHMMSS.zip` (UTC), or
//! `….zip.age` when sealed with age, or, when it is larger than the upload
//! limit, the parts `….zip.001`, `….zip.002`, … (`….zip.age.001`, …) whose
//! concatenation in order is that file. Files being written carry a `.tmp`
//! suffix of their own and are never listed.
//!
//! [`ArchiveName`] is the one place these names are spelled: everything
//! else formats and parses them through it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};

const PREFIX: &str = "database_backup_";
const STAMP: &str = "%Y%m%d_%H%M%S";

/// The length of a formatted [`STAMP`], `YYYYMMDD_HHMMSS`.
const STAMP_LEN: usize = 15;
/// `….diff` before `.zip`: a differential archive.
const DIFF_SUFFIX: &str = ".diff";
/// The suffix of an age-sealed archive (after `.zip`).
pub const AGE_SUFFIX: &str = ".age";
/// The suffix of a file still being written.
pub(crate) const TEMP_SUFFIX: &str = ".tmp";
/// The longest archive name: a sealed differential's part.
const MAX_NAME_LEN: usize = PREFIX.len() + STAMP_LEN + ".diff.zip.age.001".len();

/// How a stored archive is sealed, told by its name (age) or its entries
/// (zip-aes), so switching modes leaves older archives readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealing {
    /// A ZIP; its entries may be AES-encrypted.
    Zip,
    /// `….zip.age`.
    Age,
}

impl Sealing {
    /// From an archive's logical name.
    pub fn of(name: &str) -> Sealing {
        if name.ends_with(AGE_SUFFIX) { Sealing::Age } else { Sealing::Zip }
    }
}

/// The file name of the archive taken at `at`.
pub fn archive_name(at: DateTime<Utc>) -> String {
    ArchiveName::full(at).to_string()
}

/// The name of a differential archive made at `at`:
/// `database_backup_YYYYMMDD_HHMMSS.diff.zip`.
#[cfg(test)]
pub(crate) fn differential_name(at: DateTime<Utc>) -> String {
    ArchiveName::differential(at).to_string()
}

/// The creation time encoded in an archive name (`….zip` or `….zip.NNN`).
pub fn parse_name(file_name: &str) -> Option<DateTime<Utc>> {
    ArchiveName::parse(file_name).ok().map(|n| n.created_at())
}

/// Whether an archive holds every database (full) or only the pages that
/// changed since its base (differential, `….diff.zip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    Full,
    Differential,
}

/// An archive's file name, parsed: `database_backup_YYYYMMDD_HHMMSS` (UTC),
/// `.diff` for a differential, `.zip`, `.age` when sealed with age, and
/// `.NNN` (001–999) for one part of a split archive.
///
/// Only a name that formats back to exactly the text it was parsed from is
/// accepted, so a parsed name is always a plain file name: no folder, no
/// `..`, no control character. Every name that comes from a manifest or a
/// store goes through here before it becomes a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArchiveName {
    created_at: DateTime<Utc>,
    kind: ArchiveKind,
    sealed: bool,
    part: Option<u32>,
}

impl ArchiveName {
    /// The plain full archive made at `at` (to the second).
    pub fn full(at: DateTime<Utc>) -> ArchiveName {
        ArchiveName { created_at: to_the_second(at), kind: ArchiveKind::Full, sealed: false, part: None }
    }

    /// The plain differential archive made at `at` (to the second).
    pub fn differential(at: DateTime<Utc>) -> ArchiveName {
        ArchiveName { kind: ArchiveKind::Differential, ..ArchiveName::full(at) }
    }

    /// Every whole archive that can be made at `at`: full and differential,
    /// plain and sealed with age. One second names one archive, whichever it is.
    pub fn every_kind_at(at: DateTime<Utc>) -> [ArchiveName; 4] {
        let (full, diff) = (ArchiveName::full(at), ArchiveName::differential(at));
        [full, full.sealed_with_age(), diff, diff.sealed_with_age()]
    }

    /// The full plain archive of a stamp `YYYYMMDD_HHMMSS` (see
    /// [`ArchiveName::stamp`]), refusing anything else.
    pub fn from_stamp(stamp: &str) -> Result<ArchiveName, CatalogError> {
        let not = || CatalogError::NotAnArchive(format!("{PREFIX}{}.zip", stamp.escape_debug()));
        if stamp.len() != STAMP_LEN {
            return Err(not());
        }
        ArchiveName::parse(&format!("{PREFIX}{stamp}.zip")).map_err(|_| not())
    }

    /// Parses `text`, refusing anything that is not an archive name.
    pub fn parse(text: &str) -> Result<ArchiveName, CatalogError> {
        // An overlong name is shown cut short: errors stay readable.
        let not = || {
            let shown: String = text.chars().take(MAX_NAME_LEN).collect();
            let cut = if shown.len() < text.len() { "…" } else { "" };
            CatalogError::NotAnArchive(format!("{}{cut}", shown.escape_debug()))
        };
        if text.len() > MAX_NAME_LEN {
            return Err(not());
        }
        let (whole, part) = split_part_suffix(text).ok_or_else(not)?;
        let (whole, sealed) = match whole.strip_suffix(AGE_SUFFIX) {
            Some(w) => (w, true),
            None => (whole, false),
        };
        let stamp = whole.strip_suffix(".zip").and_then(|w| w.strip_prefix(PREFIX)).ok_or_else(not)?;
        let (stamp, kind) = match stamp.strip_suffix(DIFF_SUFFIX) {
            Some(s) => (s, ArchiveKind::Differential),
            None => (stamp, ArchiveKind::Full),
        };
        let created_at = NaiveDateTime::parse_from_str(stamp, STAMP).map_err(|_| not())?.and_utc();
        let name = ArchiveName { created_at, kind, sealed, part };
        // chrono accepts signs and padding the formatter never writes.
        if name.to_string() != text {
            return Err(not());
        }
        Ok(name)
    }

    /// When the archive was made (to the second).
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    pub fn kind(&self) -> ArchiveKind {
        self.kind
    }

    pub fn is_differential(&self) -> bool {
        self.kind == ArchiveKind::Differential
    }

    /// Sealed with age (`….zip.age`).
    pub fn sealed(&self) -> bool {
        self.sealed
    }

    /// The part number (1-based) of one part of a split archive.
    pub fn part(&self) -> Option<u32> {
        self.part
    }

    /// The whole archive this names (itself, or the archive a part belongs to).
    pub fn whole(&self) -> ArchiveName {
        ArchiveName { part: None, ..*self }
    }

    /// [`ArchiveName::parse`] for a file name as the system gives it; one
    /// that is not UTF-8 is no archive name.
    pub(crate) fn parse_os(file_name: &OsStr) -> Result<ArchiveName, CatalogError> {
        match file_name.to_str() {
            Some(text) => ArchiveName::parse(text),
            None => Err(CatalogError::NotAnArchive(file_name.to_string_lossy().escape_debug().to_string())),
        }
    }

    /// The file this archive is written to before it is complete, `NAME.tmp`.
    pub fn temp_name(&self) -> String {
        format!("{self}{TEMP_SUFFIX}")
    }

    /// The archive a file still being written ([`ArchiveName::temp_name`]) will become.
    pub fn of_temp(file_name: &OsStr) -> Option<ArchiveName> {
        let text = file_name.to_str()?.strip_suffix(TEMP_SUFFIX)?;
        ArchiveName::parse(text).ok()
    }

    /// The same archive sealed with age (`….zip.age`).
    pub fn sealed_with_age(&self) -> ArchiveName {
        ArchiveName { sealed: true, ..*self }
    }

    /// Part `n` (1–999) of this archive, `….NNN`.
    pub(crate) fn with_part(&self, n: u32) -> ArchiveName {
        debug_assert!((1..=999).contains(&n), "part {n}");
        ArchiveName { part: Some(n), ..*self }
    }

    /// `YYYYMMDD_HHMMSS`: when it was made, as its name says it. Every kind
    /// made in one second has the same stamp.
    pub fn stamp(&self) -> String {
        self.created_at.format(STAMP).to_string()
    }

    /// There is a file of this archive in `dir`: the whole file, or (for a
    /// whole archive) its first part.
    pub fn exists_in(&self, dir: &Path) -> bool {
        dir.join(self.to_string()).exists() || (self.part.is_none() && dir.join(self.with_part(1).to_string()).exists())
    }
}

fn to_the_second(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_nanosecond(0).unwrap_or(at)
}

impl std::fmt::Display for ArchiveName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}", self.created_at.format(STAMP))?;
        if self.is_differential() {
            f.write_str(DIFF_SUFFIX)?;
        }
        f.write_str(".zip")?;
        if self.sealed {
            f.write_str(AGE_SUFFIX)?;
        }
        match self.part {
            Some(n) => write!(f, ".{n:03}"),
            None => Ok(()),
        }
    }
}

impl std::str::FromStr for ArchiveName {
    type Err = CatalogError;

    fn from_str(text: &str) -> Result<ArchiveName, CatalogError> {
        ArchiveName::parse(text)
    }
}

/// `("database_backup_….zip", Some(3))` for `….zip.003`, `(…, None)` for a whole ZIP.
fn split_part_suffix(file_name: &str) -> Option<(&str, Option<u32>)> {
    let whole = |name: &str| name.ends_with(".zip") || name.ends_with(".zip.age");
    if whole(file_name) {
        return Some((file_name, None));
    }
    let (base, ext) = file_name.rsplit_once('.')?;
    if whole(base) && ext.len() == 3 && ext.bytes().all(|b| b.is_ascii_digit()) {
        let n: u32 = ext.parse().ok()?;
        return (n >= 1).then_some((base, Some(n)));
    }
    None
}

/// The name of part `n` (1-based) of `archive` (`….zip`).
pub fn part_name(archive: &str, n: u32) -> String {
    format!("{archive}.{n:03}")
}

/// One archive found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArchive {
    /// Logical name, `database_backup_….zip`, whether whole or split.
    pub name: String,
    /// Creation time from the name.
    pub created_at: DateTime<Utc>,
    /// The files: the ZIP itself, or its parts in order.
    pub files: Vec<PathBuf>,
    /// Total bytes over all files.
    pub size: u64,
}

impl StoredArchive {
    /// True when stored as `.NNN` parts.
    pub fn is_split(&self) -> bool {
        self.files.len() > 1 || self.files.first().is_some_and(|f| f.file_name() != Some(self.name.as_ref()))
    }

    /// A differential archive (from its name): it needs its base.
    pub fn is_differential(&self) -> bool {
        ArchiveName::parse(&self.name).is_ok_and(|n| n.is_differential())
    }

    /// How it is sealed (from its name).
    pub fn sealing(&self) -> Sealing {
        Sealing::of(&self.name)
    }
}

/// Problems finding archives.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The folder cannot be read.
    #[error("cannot read the archive folder {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// `latest` with no archive yet.
    #[error("no archive in {0} yet; run `lifeboat backup` first")]
    Empty(PathBuf),
    /// A name or path that is not an archive.
    #[error(
        "{0} is not a Lifeboat archive (expected database_backup_YYYYMMDD_HHMMSS.zip or .zip.age, or its .001 part)"
    )]
    NotAnArchive(String),
    /// Not found.
    #[error("archive {0} not found; `lifeboat list` shows the archives there are")]
    NotFound(String),
    /// Parts with a gap (e.g. .001 and .003).
    #[error("archive {name} is split but part {missing:03} is missing; copy every part next to the first")]
    MissingPart {
        name: String,
        /// The first missing part number.
        missing: u32,
    },
}

/// (part number or 0 for a whole ZIP, path, size)
type FoundFile = (u32, PathBuf, u64);

/// Every complete archive in `dir`, newest first. A split archive with a
/// missing part is listed with the parts it has; [`resolve`] refuses it.
pub fn list(dir: &Path) -> Result<Vec<StoredArchive>, CatalogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CatalogError::Io { path: dir.to_path_buf(), source }),
    };
    let mut found: std::collections::BTreeMap<String, (DateTime<Utc>, Vec<FoundFile>)> = Default::default();
    for entry in entries {
        let entry = entry.map_err(|source| CatalogError::Io { path: dir.to_path_buf(), source })?;
        let Ok(name) = ArchiveName::parse_os(&entry.file_name()) else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let slot = found.entry(name.whole().to_string()).or_insert_with(|| (name.created_at(), Vec::new()));
        slot.1.push((name.part().unwrap_or(0), entry.path(), meta.len()));
    }
    let mut out: Vec<StoredArchive> = found
        .into_iter()
        .map(|(name, (created_at, mut files))| {
            // A whole .zip wins over stray parts of the same name.
            if files.iter().any(|f| f.0 == 0) {
                files.retain(|f| f.0 == 0);
            }
            files.sort_by_key(|f| f.0);
            StoredArchive {
                name,
                created_at,
                size: files.iter().map(|f| f.2).sum(),
                files: files.into_iter().map(|f| f.1).collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.name.cmp(&a.name)));
    Ok(out)
}

/// Finds an archive given `latest`, a file name in `dir`, or a path (the ZIP,
/// or any of its parts). Split archives must have every part.
pub fn resolve(dir: &Path, what: &str) -> Result<StoredArchive, CatalogError> {
    if what == "latest" {
        let all = list(dir)?;
        let first = all.into_iter().next().ok_or_else(|| CatalogError::Empty(dir.to_path_buf()))?;
        check_parts(&first)?;
        return Ok(first);
    }
    let path = Path::new(what);
    let (folder, file_name) = match (path.parent(), path.file_name().and_then(|f| f.to_str())) {
        (Some(p), Some(f)) if !p.as_os_str().is_empty() => (p.to_path_buf(), f.to_string()),
        (_, Some(f)) => {
            if path.exists() {
                (PathBuf::from("."), f.to_string())
            } else {
                (dir.to_path_buf(), f.to_string())
            }
        }
        _ => return Err(CatalogError::NotAnArchive(what.to_string())),
    };
    let (base, _) = split_part_suffix(&file_name).ok_or_else(|| CatalogError::NotAnArchive(what.to_string()))?;
    if parse_name(base).is_none() {
        // Any other ZIP is still verifiable if given by path.
        if path.is_file() {
            let size = path.metadata().map(|m| m.len()).unwrap_or(0);
            return Ok(StoredArchive {
                name: file_name.clone(),
                created_at: DateTime::<Utc>::UNIX_EPOCH,
                files: vec![path.to_path_buf()],
                size,
            });
        }
        return Err(CatalogError::NotAnArchive(what.to_string()));
    }
    let found =
        list(&folder)?.into_iter().find(|a| a.name == base).ok_or_else(|| CatalogError::NotFound(what.to_string()))?;
    check_parts(&found)?;
    Ok(found)
}

fn check_parts(a: &StoredArchive) -> Result<(), CatalogError> {
    if !a.is_split() {
        return Ok(());
    }
    for (i, f) in a.files.iter().enumerate() {
        let want = part_name(&a.name, i as u32 + 1);
        if f.file_name().and_then(|f| f.to_str()) != Some(want.as_str()) {
            return Err(CatalogError::MissingPart { name: a.name.clone(), missing: i as u32 + 1 });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn names_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 5, 38, 52).unwrap();
        let n = archive_name(t);
        assert_eq!(n, "database_backup_20261122_053852.zip");
        assert_eq!(parse_name(&n), Some(t));
        assert_eq!(parse_name(&part_name(&n, 2)), Some(t));
        assert_eq!(parse_name("database_backup_20261122_053852.zip.tmp"), None);
        assert_eq!(parse_name("database_backup_2026.zip"), None);
        assert_eq!(parse_name("database_backup_20261122_053852.zip.000"), None);
        let d = differential_name(t);
        assert_eq!(d, "database_backup_20261122_053852.diff.zip");
        assert_eq!(parse_name(&d), Some(t));
        assert_eq!(parse_name(&format!("{d}.age.002")), Some(t));
        assert_eq!(parse_name("database_backup_20261122_053852.dif.zip"), None);
    }

    #[test]
    fn archive_names_parse_and_format_as_one() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 5, 38, 52).unwrap();
        let n: ArchiveName = "database_backup_20261122_053852.diff.zip.age.002".parse().unwrap();
        assert_eq!(n.created_at(), t);
        assert_eq!(n.kind(), ArchiveKind::Differential);
        assert!(n.sealed());
        assert_eq!(n.part(), Some(2));
        assert_eq!(n.whole().to_string(), "database_backup_20261122_053852.diff.zip.age");
        let full = ArchiveName::parse(&archive_name(t)).unwrap();
        assert_eq!((full.kind(), full.sealed(), full.part()), (ArchiveKind::Full, false, None));
        assert_eq!(full.to_string(), archive_name(t));
        for bad in [
            "../victim/notes.txt",
            "/abs/path",
            "../database_backup_20261122_053852.zip",
            "sub/database_backup_20261122_053852.zip",
            "database_backup_20261122_053852.zip\n",
            "database_backup_+20261122_053852.zip",
            "database_backup_20261122_053852.zip.tmp",
            "database_backup_20261122_053852.zip.000",
            "database_backup_20261122_253852.zip",
            "",
        ] {
            let err = ArchiveName::parse(bad).unwrap_err();
            assert!(matches!(err, CatalogError::NotAnArchive(_)), "{bad:?}: {err}");
        }
    }

    #[test]
    fn every_form_formats_and_parses_through_archive_name() {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 5, 38, 52).unwrap();
        let full = ArchiveName::full(t + chrono::Duration::milliseconds(250));
        let diff = ArchiveName::differential(t);
        let forms = [
            (full, "database_backup_20261122_053852.zip"),
            (full.sealed_with_age(), "database_backup_20261122_053852.zip.age"),
            (full.with_part(1), "database_backup_20261122_053852.zip.001"),
            (full.sealed_with_age().with_part(999), "database_backup_20261122_053852.zip.age.999"),
            (diff, "database_backup_20261122_053852.diff.zip"),
            (diff.sealed_with_age(), "database_backup_20261122_053852.diff.zip.age"),
            (diff.with_part(12), "database_backup_20261122_053852.diff.zip.012"),
            (diff.sealed_with_age().with_part(3), "database_backup_20261122_053852.diff.zip.age.003"),
        ];
        for (name, text) in forms {
            assert_eq!(name.to_string(), text);
            assert_eq!(ArchiveName::parse(text).unwrap(), name, "{text}");
            assert_eq!(ArchiveName::parse_os(OsStr::new(text)).unwrap(), name, "{text}");
            assert_eq!((name.created_at(), name.stamp().as_str()), (t, "20261122_053852"));
            assert_eq!(name.temp_name(), format!("{text}.tmp"));
            assert_eq!(ArchiveName::of_temp(OsStr::new(&name.temp_name())), Some(name));
            assert!(text.len() <= MAX_NAME_LEN);
        }
        assert_eq!(ArchiveName::from_stamp("20261122_053852").unwrap(), full);
        let wholes = ArchiveName::every_kind_at(t).map(|n| n.to_string());
        assert_eq!(wholes, [forms[0].1, forms[1].1, forms[4].1, forms[5].1]);
    }

    #[test]
    fn hostile_names_are_no_archive_names() {
        let long_part = format!("database_backup_20261122_053852.zip.{}", "0".repeat(4000) + "1");
        let long = "database_backup_".repeat(1000);
        for bad in [
            "database_backup_20261122_053852.zip/",
            "database_backup_20261122_053852.zip/../../etc/passwd",
            "..\\database_backup_20261122_053852.zip",
            "database_backup_20261122_053852\\.zip",
            "..",
            ".",
            "database_backup_20261122_053852.zip\0",
            "database_backup_20261122_053852.zip.1000",
            "database_backup_20261122_053852.zip.age.age",
            "database_backup_20261122_053852.diff.diff.zip",
            "database_backup_20261122_053852.zip.diff",
            " database_backup_20261122_053852.zip",
            long_part.as_str(),
            long.as_str(),
        ] {
            let err = ArchiveName::parse(bad).unwrap_err();
            assert!(err.to_string().len() < 300, "the error stays short: {err}");
            assert!(ArchiveName::of_temp(OsStr::new(&format!("{bad}.tmp"))).is_none(), "{bad:?}");
        }
        for bad in [
            "",
            "..",
            "../20261122_053852",
            "20261122_053852/..",
            "20261122_053852.zip",
            "2026112_0538520",
            "20261122_0538521",
        ] {
            assert!(ArchiveName::from_stamp(bad).is_err(), "{bad:?}");
        }
        assert!(ArchiveName::of_temp(OsStr::new("database_backup_20261122_053852.zip")).is_none(), "not a temp file");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let not_utf8 = OsStr::from_bytes(b"database_backup_20261122_053852\xff.zip");
            assert!(ArchiveName::parse_os(not_utf8).is_err());
            assert!(ArchiveName::of_temp(OsStr::from_bytes(b"database_backup_20261122_053852.zip\xff.tmp")).is_none());
        }
    }

    #[test]
    fn an_archive_exists_whole_or_by_its_first_part() {
        let d = tempfile::tempdir().unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 5, 38, 52).unwrap();
        let [full, sealed, diff, sealed_diff] = ArchiveName::every_kind_at(t);
        std::fs::write(d.path().join(full.to_string()), b"x").unwrap();
        std::fs::write(d.path().join(sealed_diff.with_part(1).to_string()), b"x").unwrap();
        assert!(full.exists_in(d.path()) && sealed_diff.exists_in(d.path()));
        assert!(!sealed.exists_in(d.path()) && !diff.exists_in(d.path()));
        assert!(!sealed_diff.with_part(2).exists_in(d.path()));
    }

    #[test]
    fn lists_whole_and_split_newest_first() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("database_backup_20261122_010000.zip"), b"abc").unwrap();
        std::fs::write(d.path().join("database_backup_20261122_020000.zip.001"), b"12").unwrap();
        std::fs::write(d.path().join("database_backup_20261122_020000.zip.002"), b"3").unwrap();
        std::fs::write(d.path().join("database_backup_20261122_030000.zip.tmp"), b"x").unwrap();
        std::fs::write(d.path().join("notes.txt"), b"x").unwrap();
        let all = list(d.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].name, "database_backup_20261122_020000.zip");
        assert!(all[0].is_split());
        assert_eq!(all[0].size, 3);
        assert_eq!(all[1].files.len(), 1);
        assert!(!all[1].is_split());
        let latest = resolve(d.path(), "latest").unwrap();
        assert_eq!(latest.name, all[0].name);
        let by_part =
            resolve(d.path(), d.path().join("database_backup_20261122_020000.zip.001").to_str().unwrap()).unwrap();
        assert_eq!(by_part.files.len(), 2);
        let by_name = resolve(d.path(), "database_backup_20261122_010000.zip").unwrap();
        assert_eq!(by_name.size, 3);
        std::fs::remove_file(d.path().join("database_backup_20261122_020000.zip.001")).unwrap();
        assert!(matches!(resolve(d.path(), "latest"), Err(CatalogError::MissingPart { missing: 1, .. })));
    }

    #[test]
    fn age_sealed_archives_and_their_parts() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("database_backup_20261122_010000.zip.age"), b"age").unwrap();
        std::fs::write(d.path().join("database_backup_20261122_020000.zip.age.001"), b"12").unwrap();
        std::fs::write(d.path().join("database_backup_20261122_020000.zip.age.002"), b"3").unwrap();
        std::fs::write(d.path().join("database_backup_20261122_030000.zip.age.tmp"), b"x").unwrap();
        let all = list(d.path()).unwrap();
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["database_backup_20261122_020000.zip.age", "database_backup_20261122_010000.zip.age"]);
        assert!(all[0].is_split() && !all[1].is_split());
        assert_eq!(all[0].sealing(), Sealing::Age);
        assert_eq!(all[0].created_at, Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap());
        let by_part = resolve(d.path(), "database_backup_20261122_020000.zip.age.002").unwrap();
        assert_eq!(by_part.files.len(), 2);
        assert!(resolve(d.path(), "database_backup_20261122_010000.zip.age").is_ok());
    }

    #[test]
    fn empty_folder() {
        let d = tempfile::tempdir().unwrap();
        assert!(list(&d.path().join("nope")).unwrap().is_empty());
        assert!(matches!(resolve(d.path(), "latest"), Err(CatalogError::Empty(_))));
    }
}
