//! Small file-system helpers: private folders and files, fsync, free space.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and parents) with mode 0700, and tightens it to 0700 if it
/// exists with wider permissions.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700, leaving a folder that
/// already exists as it is: for folders the user names, such as
/// `restore --to`, whose permissions are theirs to decide.
pub fn create_dir_private_if_new(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Reads the first bytes of a file into `buf`, as many as it has; returns
/// how many were read.
pub fn read_prefix(path: &Path, buf: &mut [u8]) -> io::Result<usize> {
    read_full(&mut fs::File::open(path)?, buf)
}

/// Reads until `buf` is full or the stream ends; returns how many bytes
/// were read (fewer than `buf.len()` only at the end).
pub fn read_full(r: &mut (impl io::Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Sets a file's mode to 0600.
pub(crate) fn make_private(file: &Path) -> io::Result<()> {
    fs::set_permissions(file, fs::Permissions::from_mode(0o600))
}

/// fsyncs a folder so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Bytes available to this user on the file system holding `path`.
pub fn available_space(path: &Path) -> io::Result<u64> {
    fs4::available_space(path)
}

/// The nearest of `path` and its ancestors that exists (`.` when none
/// does): where a folder not yet created will live.
pub(crate) fn existing_ancestor(path: &Path) -> &Path {
    path.ancestors().find(|p| !p.as_os_str().is_empty() && p.exists()).unwrap_or(Path::new("."))
}

/// Free space for a folder that may not exist yet (before the first backup,
/// `backup.output_dir`), read on the file system that will hold it.
pub fn space_for(dir: &Path) -> Result<u64, SpaceError> {
    let probe = existing_ancestor(dir);
    available_space(probe).map_err(|source| SpaceError { probe: probe.to_path_buf(), source })
}

/// The free space of a folder could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the free space of {}: {source}", probe.display())]
pub struct SpaceError {
    /// The folder asked (the nearest existing one).
    pub probe: std::path::PathBuf,
    #[source]
    pub source: io::Error,
}

/// SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    io::copy(&mut io::BufReader::with_capacity(256 * 1024, std::fs::File::open(path)?), &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// A reader or writer that hashes (SHA-256) the bytes as they pass.
pub(crate) struct Hashing<T> {
    pub(crate) inner: T,
    pub(crate) hasher: sha2::Sha256,
}

impl<T> Hashing<T> {
    pub(crate) fn new(inner: T) -> Self {
        use sha2::Digest;
        Hashing { inner, hasher: sha2::Sha256::new() }
    }
}

impl<W: io::Write> io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: io::Read> io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
