//! Keeping what a live restore is about to overwrite when the safety
//! snapshot could not take it (a database that fails its integrity check, a
//! file that cannot be read): its files, as they are, go to
//! `output_dir/quarantine/NAME.YYYYMMDD_HHMMSS/` before anything is written.
//! A damaged database often still holds rows newer than any archive, which
//! `sqlite3 .recover` can read later. Quarantined copies are not archives:
//! no listing, retention or delivery touches them; they stay until removed
//! by hand.

use std::fs::OpenOptions;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::RestoreError;

/// The folder in `output_dir` holding quarantined copies.
pub const FOLDER: &str = "quarantine";

/// The live file's companions copied with it: a `-wal` holds committed
/// transactions, a `-journal` what an interrupted one changed. A `-shm` is
/// only an index SQLite rebuilds.
const COMPANIONS: [&str; 2] = ["-wal", "-journal"];

/// One quarantined copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// What it was a copy of (the archive entry's name).
    pub name: String,
    /// The folder holding its files.
    pub dir: PathBuf,
    /// Bytes in it.
    pub bytes: u64,
}

/// Copies `live` and its companions into a new private folder under
/// `output_dir/quarantine`, durably (fsynced, then the folders). On any
/// failure the partial copy is removed and nothing else is touched.
pub(super) fn keep(output_dir: &Path, name: &str, live: &Path, at: DateTime<Utc>) -> Result<Quarantined, RestoreError> {
    let root = output_dir.join(FOLDER);
    let base = format!("{}.{}", name.replace('/', "_"), at.format("%Y%m%d_%H%M%S"));
    let failed =
        |dir: &Path, source| RestoreError::Quarantine { name: name.to_string(), dir: dir.to_path_buf(), source };
    lifeboat_core::fsutil::create_private_dir(&root).map_err(|e| failed(&root, e))?;
    let mut dir = root.join(&base);
    for n in 2.. {
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => dir = root.join(format!("{base}-{n}")),
            Err(e) => return Err(failed(&dir, e)),
        }
    }
    match copy_files(live, &dir).and_then(|bytes| {
        lifeboat_core::fsutil::sync_dir(&root)?;
        lifeboat_core::fsutil::sync_dir(output_dir)?;
        Ok(bytes)
    }) {
        Ok(bytes) => Ok(Quarantined { name: name.to_string(), dir, bytes }),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(failed(&dir, e))
        }
    }
}

/// Copies `live` and the companions it has into `dir` (0600 each, never
/// through a symbolic link); the bytes copied.
fn copy_files(live: &Path, dir: &Path) -> std::io::Result<u64> {
    let file_name = live.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut total = 0;
    for suffix in std::iter::once("").chain(COMPANIONS) {
        let mut from = live.as_os_str().to_owned();
        from.push(suffix);
        let input = OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(&from);
        let mut input = match input {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => continue,
            other => other?,
        };
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(format!("{file_name}{suffix}")))?;
        total += std::io::copy(&mut input, &mut out)?;
        out.sync_all()?;
    }
    lifeboat_core::fsutil::sync_dir(dir)?;
    Ok(total)
}

/// The quarantined copies in `output_dir`, oldest first.
pub fn list(output_dir: &Path) -> Vec<Quarantined> {
    let Ok(entries) = std::fs::read_dir(output_dir.join(FOLDER)) else { return Vec::new() };
    let mut out: Vec<(String, Quarantined)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| {
            let bytes = std::fs::read_dir(e.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum();
            let folder = e.file_name().to_string_lossy().into_owned();
            let (name, stamp) = folder.rsplit_once('.').unwrap_or((folder.as_str(), ""));
            (stamp.to_string(), Quarantined { name: name.to_string(), dir: e.path(), bytes })
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.dir.cmp(&b.1.dir)));
    out.into_iter().map(|(_, q)| q).collect()
}
