//! Reading a ZIP (whole or split, sealed or not) and its entries: the
//! manifest, each stored entry streamed through its checks, and the
//! private files entries are extracted into.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zip::ZipArchive;

use crate::catalog::StoredArchive;
use crate::integrity::{HEADER_LEN, Header};
use crate::manifest::{FORMAT, MANIFEST_NAME, Manifest, SIDECAR_SUFFIXES, VERSION};
use crate::parts::MultiFileReader;
use crate::seal::{KeyError, Keys, ReadSeek, Sealing};

use super::VerifyError;

/// The manifest is small; a bigger entry is not ours (and not read into memory).
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;
const BUF: usize = 256 * 1024;

pub(super) type Zip = ZipArchive<BufReader<Box<dyn ReadSeek>>>;

pub(super) fn open_zip(archive: &StoredArchive, keys: &Keys) -> Result<Zip, VerifyError> {
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
pub(super) enum EntryOpenError {
    /// The keys do not open it.
    Key(KeyError),
    /// Not an entry Lifeboat would have written, or unreadable.
    Refused(RefusedEntry),
}

/// An entry that is not read: unreadable, or sealed in a way Lifeboat
/// never seals.
#[derive(Debug, thiserror::Error)]
pub enum RefusedEntry {
    /// The ZIP reader cannot read it.
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    /// Encrypted with ZipCrypto, which is broken.
    #[error("is encrypted with the weak ZipCrypto scheme; Lifeboat archives use AES-256")]
    ZipCrypto,
}

/// What is wrong with an archive's `manifest.json`.
#[derive(Debug, thiserror::Error)]
pub enum ManifestProblem {
    /// There is none.
    #[error("manifest.json is missing")]
    Missing,
    /// Its entry cannot be opened.
    #[error(transparent)]
    Entry(#[from] RefusedEntry),
    /// Larger than any manifest Lifeboat writes.
    #[error("manifest.json is {size} bytes, too large to be a Lifeboat manifest")]
    TooLarge { size: u64 },
    /// Its bytes do not read.
    #[error("reading it: {source}")]
    Read {
        #[source]
        source: io::Error,
    },
    /// Not JSON of a manifest's shape.
    #[error("it does not parse: {source}")]
    Unparsable {
        #[source]
        source: serde_json::Error,
    },
    /// Another program's JSON.
    #[error("format is {found:?}, expected {FORMAT:?}")]
    Format { found: String },
    /// A version this Lifeboat does not read.
    #[error("manifest version {version} is not supported (this Lifeboat reads 1 to {VERSION}); upgrade Lifeboat")]
    Version { version: u32 },
}

/// Why an entry could not be given a file to be extracted into.
#[derive(Debug, thiserror::Error)]
pub(super) enum ExtractError {
    /// A folder of a file source's entry.
    #[error("cannot create {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file itself.
    #[error("cannot extract to {}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Opens entry `i` for reading, decrypting an AES-encrypted entry with the
/// password. Only AES (WinZip AE-x) is accepted: ZipCrypto is broken.
pub(super) fn open_entry<'a>(
    zip: &'a mut Zip,
    i: usize,
    keys: &Keys,
    archive: &str,
) -> Result<zip::read::ZipFile<'a, BufReader<Box<dyn ReadSeek>>>, EntryOpenError> {
    let (encrypted, aes) = {
        let raw = zip.by_index_raw(i).map_err(|e| EntryOpenError::Refused(e.into()))?;
        (raw.encrypted(), raw.extra_data_fields().any(|f| matches!(f, zip::ExtraField::AeXEncryption(_))))
    };
    if !encrypted {
        return zip.by_index(i).map_err(|e| EntryOpenError::Refused(e.into()));
    }
    if !aes {
        return Err(EntryOpenError::Refused(RefusedEntry::ZipCrypto));
    }
    let Some(password) = keys.password() else {
        return Err(EntryOpenError::Key(keys.password_error(archive)));
    };
    zip.by_index_decrypt(i, password.as_bytes()).map_err(|e| match e {
        zip::result::ZipError::InvalidPassword => EntryOpenError::Key(keys.password_error(archive)),
        e => EntryOpenError::Refused(e.into()),
    })
}

/// Reads and checks `archive`'s manifest: [`VerifyError::Key`] when the
/// keys do not open it, [`VerifyError::Manifest`] when it is missing or not
/// a manifest this Lifeboat reads.
pub(super) fn load_manifest(zip: &mut Zip, keys: &Keys, archive: &str) -> Result<Manifest, VerifyError> {
    let bad = |why: ManifestProblem| VerifyError::Manifest(archive.to_string(), why);
    let i = zip.index_for_name(MANIFEST_NAME).ok_or_else(|| bad(ManifestProblem::Missing))?;
    let entry = open_entry(zip, i, keys, archive).map_err(|e| match e {
        EntryOpenError::Key(e) => VerifyError::Key(e),
        EntryOpenError::Refused(why) => bad(why.into()),
    })?;
    let size = entry.size();
    parse_manifest(entry, size).map_err(bad)
}

/// Parses a manifest entry of `size` bytes (its ZIP header's word).
fn parse_manifest(mut entry: impl Read, size: u64) -> Result<Manifest, ManifestProblem> {
    if size > MAX_MANIFEST_BYTES {
        return Err(ManifestProblem::TooLarge { size });
    }
    let mut text = Vec::with_capacity(size as usize);
    (&mut entry)
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|source| ManifestProblem::Read { source })?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|source| ManifestProblem::Unparsable { source })?;
    if manifest.format != FORMAT {
        return Err(ManifestProblem::Format { found: manifest.format });
    }
    if manifest.version == 0 || manifest.version > VERSION {
        return Err(ManifestProblem::Version { version: manifest.version });
    }
    Ok(manifest)
}

/// What reading one entry found.
pub(super) struct EntryRead {
    pub(super) bytes: u64,
    pub(super) sha256: String,
    /// CRC or decompression failure, or longer than declared.
    pub(super) error: Option<String>,
}

/// Reads an entry to its end (at most `declared` bytes), hashing as it goes
/// and copying into `out`. With `sqlite`, the first 100 bytes must be an
/// SQLite header agreeing with `declared`, so a bomb of zeros or foreign
/// content stops after its first read instead of filling the disk.
pub(super) fn read_entry(entry: &mut impl Read, declared: u64, sqlite: bool, mut out: Option<&mut File>) -> EntryRead {
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

/// A new private file for entry `name` below `scratch` to extract it into
/// (whatever a previous attempt left there is removed first). A file
/// source's entry gets its folders; the scratch folder itself is never made
/// again: once it is gone (removed on Ctrl-C) extraction stops, rather
/// than leave a new copy of the data behind.
pub(super) fn extraction_file(scratch: &Path, name: &str) -> Result<File, ExtractError> {
    let target = scratch.join(name);
    remove_extracted(&target);
    let mut dir = scratch.to_path_buf();
    for part in Path::new(name).parent().into_iter().flat_map(Path::components) {
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(ExtractError::Folder { path: dir, source }),
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(|source| ExtractError::File { path: target, source })
}

pub(super) fn remove_extracted(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in SIDECAR_SUFFIXES {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}
