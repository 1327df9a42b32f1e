//! The cycle lock: one backup cycle at a time across processes (scheduler,
//! dashboard, CLI). An OS file lock, so it is released when the holder dies.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Held while a cycle runs; released on drop.
#[derive(Debug)]
pub struct CycleLock {
    file: File,
    path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("another backup is running ({holder}); wait for it to finish")]
    Busy {
        /// What the holder wrote: pid, what and since when.
        holder: String,
    },
    /// The lock file cannot be created.
    #[error("cannot create the lock file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl CycleLock {
    /// Tries to take the lock at `path` without waiting. `what` says who
    /// holds it (e.g. "scheduled cycle"), shown to anyone who finds it busy.
    pub fn try_acquire(path: &Path, what: &str) -> Result<CycleLock, LockError> {
        let io_err = |source| LockError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir).map_err(io_err)?;
        }
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Busy {
                    holder: if holder.is_empty() { "unknown process".into() } else { holder.to_string() },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let note =
            format!("pid {}, {what}, since {}", std::process::id(), chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));
        let _ =
            file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(note.as_bytes()));
        Ok(CycleLock { file, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CycleLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_and_told_who() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s/cycle.lock");
        let first = CycleLock::try_acquire(&p, "test cycle").unwrap();
        let err = CycleLock::try_acquire(&p, "other").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("test cycle") && msg.contains(&std::process::id().to_string()), "{msg}");
        drop(first);
        CycleLock::try_acquire(&p, "again").unwrap();
    }
}
