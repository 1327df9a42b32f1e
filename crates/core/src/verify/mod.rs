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

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::ZipArchive;

use crate::catalog::StoredArchive;
use crate::integrity::{HEADER_LEN, Header};
use crate::manifest::{
    DELTA_SUFFIX, Delta, FORMAT, INFO_NAME, Kind, MANIFEST_NAME, Manifest, SIDECAR_SUFFIXES, VERSION, is_plain_name,
};
use crate::parts::MultiFileReader;
use crate::seal::{KeyError, Keys, ReadSeek, Sealing};

/// What to check.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions {
    /// Also extract each database and run `integrity_check` (slower).
    pub integrity_check: bool,
}

/// One database's result.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseVerdict {
    /// Entry name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// CRC, size and sha256 match the manifest.
    pub checksum_ok: bool,
    /// "ok", "skipped", or the problems.
    pub integrity: String,
    /// Everything fine.
    pub ok: bool,
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
}

impl VerifyReport {
    /// No problem anywhere.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.databases.iter().all(|d| d.ok)
    }

    /// Every problem in one list: the archive's, then each bad database's.
    pub fn all_problems(&self) -> Vec<String> {
        let mut out = self.problems.clone();
        for d in self.databases.iter().filter(|d| !d.ok) {
            if !out.iter().any(|p| p.contains(&format!("{}:", d.name))) {
                out.push(format!("{}: {}", d.name, d.integrity));
            }
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
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a ZIP, or truncated.
    #[error("{0} is not a readable ZIP ({1}); it may be truncated: copy it again")]
    NotZip(String, String),
    /// No or bad manifest.
    #[error("{0} has no valid manifest.json ({1})")]
    Manifest(String, String),
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
        /// Why.
        source: Box<VerifyError>,
    },
}

/// The manifest is small; a bigger entry is not ours (and not read into memory).
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
const BUF: usize = 256 * 1024;
/// Deflate cannot expand more than about 1032 times; an entry this large
/// that claims nearly that ratio is a ZIP bomb rather than a database.
const MAX_RATIO: u64 = 1000;
const RATIO_CHECKED_ABOVE: u64 = 256 * 1024 * 1024;
/// Room kept free beside extracted copies (SQLite's own scratch, the state).
const SPACE_MARGIN: u64 = 16 * 1024 * 1024;

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
    verify_inner(archive, keys, scratch, opts, false).map(|(report, _)| report)
}

/// Like [`verify`] with `integrity_check`, but keeps each database that
/// verified fully as `scratch/NAME` and returns their paths (in manifest
/// order), so a restore can use the very bytes that were checked.
pub fn verify_and_extract(
    archive: &StoredArchive,
    keys: &Keys,
    scratch: &Path,
) -> Result<(VerifyReport, Vec<(String, PathBuf)>), VerifyError> {
    verify_inner(archive, keys, scratch, VerifyOptions { integrity_check: true }, true)
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

/// Streams the database `db`, stored whole in `archive`, into `f`.
pub(crate) fn with_database<T>(
    archive: &StoredArchive,
    keys: &Keys,
    db: &str,
    f: impl FnOnce(&mut dyn Read) -> T,
) -> Result<T, String> {
    let mut zip = open_zip(archive, keys).map_err(|e| e.to_string())?;
    let i = zip.index_for_name(db).ok_or_else(|| format!("{} does not hold {db}", archive.name))?;
    let mut entry = open_entry(&mut zip, i, keys, &archive.name).map_err(|e| match e {
        EntryOpenError::Key(e) => e.to_string(),
        EntryOpenError::Refused(why) => why,
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

type Zip = ZipArchive<BufReader<Box<dyn ReadSeek>>>;

fn open_zip(archive: &StoredArchive, keys: &Keys) -> Result<Zip, VerifyError> {
    let first = archive.files.first().cloned().unwrap_or_default();
    if archive.files.is_empty() {
        return Err(VerifyError::NotZip(archive.name.clone(), "the archive has no files".into()));
    }
    let reader = MultiFileReader::open(&archive.files).map_err(|source| VerifyError::Io { path: first, source })?;
    if reader.is_empty() {
        return Err(VerifyError::NotZip(archive.name.clone(), "the file is empty".into()));
    }
    let sealing = archive.sealing();
    let inner: Box<dyn ReadSeek> = match sealing {
        Sealing::Zip => Box::new(reader),
        Sealing::Age => crate::seal::open_age(BufReader::with_capacity(BUF, reader), keys, &archive.name)?,
    };
    ZipArchive::new(BufReader::with_capacity(BUF, inner)).map_err(|e| match sealing {
        Sealing::Zip => VerifyError::NotZip(archive.name.clone(), e.to_string()),
        Sealing::Age => VerifyError::Key(KeyError::NotAge {
            archive: archive.name.clone(),
            why: format!("the ZIP inside does not read: {e}"),
        }),
    })
}

/// Why an entry could not be opened.
enum EntryOpenError {
    /// The keys do not open it.
    Key(KeyError),
    /// Not an entry Lifeboat would have written, or unreadable.
    Refused(String),
}

/// Opens entry `i` for reading, decrypting an AES-encrypted entry with the
/// password. Only AES (WinZip AE-x) is accepted: ZipCrypto is broken.
fn open_entry<'a>(
    zip: &'a mut Zip,
    i: usize,
    keys: &Keys,
    archive: &str,
) -> Result<zip::read::ZipFile<'a, BufReader<Box<dyn ReadSeek>>>, EntryOpenError> {
    let (encrypted, aes) = {
        let raw = zip.by_index_raw(i).map_err(|e| EntryOpenError::Refused(e.to_string()))?;
        (raw.encrypted(), raw.extra_data_fields().any(|f| matches!(f, zip::ExtraField::AeXEncryption(_))))
    };
    if !encrypted {
        return zip.by_index(i).map_err(|e| EntryOpenError::Refused(e.to_string()));
    }
    if !aes {
        return Err(EntryOpenError::Refused(
            "is encrypted with the weak ZipCrypto scheme; Lifeboat archives use AES-256".into(),
        ));
    }
    let Some(password) = keys.password() else {
        return Err(EntryOpenError::Key(keys.password_error(archive)));
    };
    zip.by_index_decrypt(i, password.as_bytes()).map_err(|e| match e {
        zip::result::ZipError::InvalidPassword => EntryOpenError::Key(keys.password_error(archive)),
        e => EntryOpenError::Refused(e.to_string()),
    })
}

/// Reads and checks `archive`'s manifest: [`VerifyError::Key`] when the
/// keys do not open it, [`VerifyError::Manifest`] when it is missing or not
/// a manifest this Lifeboat reads.
fn load_manifest(zip: &mut Zip, keys: &Keys, archive: &str) -> Result<Manifest, VerifyError> {
    let bad = |why: String| VerifyError::Manifest(archive.to_string(), why);
    let i = zip.index_for_name(MANIFEST_NAME).ok_or_else(|| bad("manifest.json is missing".into()))?;
    let entry = open_entry(zip, i, keys, archive).map_err(|e| match e {
        EntryOpenError::Key(e) => VerifyError::Key(e),
        EntryOpenError::Refused(why) => bad(why),
    })?;
    let size = entry.size();
    parse_manifest(entry, size).map_err(bad)
}

/// Parses a manifest entry of `size` bytes (its ZIP header's word).
fn parse_manifest(mut entry: impl Read, size: u64) -> Result<Manifest, String> {
    if size > MAX_MANIFEST_BYTES {
        return Err(format!("manifest.json is {size} bytes, too large to be a Lifeboat manifest"));
    }
    let mut text = Vec::with_capacity(size as usize);
    (&mut entry).take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut text).map_err(|e| format!("reading it: {e}"))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| format!("it does not parse: {e}"))?;
    if manifest.format != FORMAT {
        return Err(format!("format is {:?}, expected {FORMAT:?}", manifest.format));
    }
    if manifest.version == 0 || manifest.version > VERSION {
        return Err(format!(
            "manifest version {} is not supported (this Lifeboat reads 1 to {VERSION}); upgrade Lifeboat",
            manifest.version
        ));
    }
    Ok(manifest)
}

/// What reading one entry found.
struct EntryRead {
    bytes: u64,
    sha256: String,
    /// CRC or decompression failure, or longer than declared.
    error: Option<String>,
}

/// Reads an entry to its end (at most `declared` bytes), hashing as it goes
/// and copying into `out`. With `sqlite`, the first 100 bytes must be an
/// SQLite header agreeing with `declared`, so a bomb of zeros or foreign
/// content stops after its first read instead of filling the disk.
fn read_entry(entry: &mut impl Read, declared: u64, sqlite: bool, mut out: Option<&mut File>) -> EntryRead {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut bytes = 0u64;
    let mut head: Vec<u8> = Vec::with_capacity(if sqlite { HEADER_LEN } else { 0 });
    // One byte past the declared size is enough to tell a lying header
    // without decompressing a bomb to the end.
    let mut limited = entry.take(declared.saturating_add(1));
    let error = loop {
        match limited.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                bytes += n as u64;
                if bytes > declared {
                    break Some(format!(
                        "holds more than the {declared} bytes its ZIP header or the manifest declares"
                    ));
                }
                if sqlite && head.len() < HEADER_LEN {
                    let take = n.min(HEADER_LEN - head.len());
                    head.extend_from_slice(&buf[..take]);
                    if head.len() == HEADER_LEN
                        && let Some(why) = header_problem(&head, declared)
                    {
                        break Some(why);
                    }
                }
                hasher.update(&buf[..n]);
                if let Some(f) = out.as_deref_mut()
                    && let Err(e) = f.write_all(&buf[..n])
                {
                    break Some(format!("cannot extract it to the scratch folder: {e}"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    let error = error.or_else(|| {
        (sqlite && head.len() < HEADER_LEN).then(|| format!("is {bytes} bytes, too short to be an SQLite database"))
    });
    EntryRead { bytes, sha256: hex::encode(hasher.finalize()), error }
}

/// What is wrong with a database's first bytes, given its declared size.
fn header_problem(head: &[u8], declared: u64) -> Option<String> {
    match Header::parse(head) {
        Err(e) => Some(format!("is not an SQLite database ({e})")),
        Ok(Header { page_size, pages: Some(pages), .. }) if u64::from(pages) * u64::from(page_size) != declared => {
            Some(format!(
                "its SQLite header says {} bytes ({pages} pages of {page_size}), the archive declares {declared}",
                u64::from(pages) * u64::from(page_size)
            ))
        }
        Ok(_) => None,
    }
}

/// Tables and row counts equal, whatever their order.
pub(crate) fn same_rows(found: &[crate::manifest::TableCount], declared: &[crate::manifest::TableCount]) -> bool {
    let mut a = found.to_vec();
    let mut b = declared.to_vec();
    a.sort_by(|x, y| x.name.cmp(&y.name));
    b.sort_by(|x, y| x.name.cmp(&y.name));
    a == b
}

/// A new private file for entry `name` below `scratch` to extract it into
/// (whatever a previous attempt left there is removed first). A file
/// source's entry gets its folders; the scratch folder itself is never made
/// again: once it is gone (removed on Ctrl-C) extraction stops, rather
/// than leave a new copy of the data behind.
fn extraction_file(scratch: &Path, name: &str) -> Result<File, String> {
    let target = scratch.join(name);
    remove_extracted(&target);
    let mut dir = scratch.to_path_buf();
    for part in Path::new(name).parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(|e| format!("cannot extract to {}: {e}", target.display()))
}

fn remove_extracted(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in SIDECAR_SUFFIXES {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

fn verify_inner(
    archive: &StoredArchive,
    keys: &Keys,
    scratch: &Path,
    opts: VerifyOptions,
    keep: bool,
) -> Result<(VerifyReport, Vec<(String, PathBuf)>), VerifyError> {
    let mut zip = open_zip(archive, keys)?;
    let mut problems = Vec::new();
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
            if let Some(why) = crate::manifest::entry_problem(d) {
                problems.push(format!("the manifest names an unsafe entry {:?} (it {why}); refusing it", d.name));
            } else if !seen.insert(d.name.clone()) {
                problems.push(format!("the manifest lists {} twice", d.name));
            } else {
                match &d.delta {
                    None => {
                        entry_of.insert(d.name.clone(), d.name.clone());
                    }
                    Some(_) if m.base.is_none() => {
                        problems.push(format!("{}: stored as a delta, but the manifest names no base", d.name));
                        continue;
                    }
                    Some(Delta { entry: Some(e), .. }) if *e != format!("{}{DELTA_SUFFIX}", d.name) => {
                        problems.push(format!("{}: its delta entry is {e:?}, not {}{DELTA_SUFFIX}", d.name, d.name));
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
        Some((m, b)) => Some(open_base(archive, m, b, keys, &mut problems)?),
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
            let report = VerifyReport { archive: archive.name.clone(), manifest, databases: Vec::new(), problems };
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
            problems.extend(entry_problems);
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
                Err(e) => why.push(e),
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
                Err(e) => why.push(e),
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

/// A differential's base, opened.
struct Base {
    name: String,
    zip: Zip,
}

/// Finds and opens a differential's base beside it, and checks that it
/// holds the very databases the deltas were made against.
fn open_base(
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
    if !crate::catalog::parse_name(&base.archive).is_some_and(|_| is_plain_name(&base.archive)) {
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
fn rebuild(
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
    mut problems: Vec<String>,
) -> Result<(VerifyReport, Vec<(String, PathBuf)>), VerifyError> {
    for name in &expected {
        if !present.contains(name) {
            problems.push(format!("{name}: listed in the manifest but missing from the archive"));
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
    let report = VerifyReport { archive: archive.name.clone(), manifest, databases: verdicts, problems };
    if !report.is_ok() {
        for (_, p) in extracted.drain(..) {
            remove_extracted(&p);
        }
    }
    Ok((report, extracted))
}
