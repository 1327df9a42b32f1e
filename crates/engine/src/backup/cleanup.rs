//! What a run leaves behind when it fails or is killed, and removing it.

use std::path::{Path, PathBuf};

use super::WORK_PREFIX;
use lifeboat_core::catalog::ArchiveName;

/// Removes what a crashed run left in `dir`: `*.tmp` archives and parts, and
/// our working folders. Only safe under the cycle lock.
pub(super) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let removed = if is_dir && name.to_str().is_some_and(|n| n.starts_with(WORK_PREFIX)) {
            std::fs::remove_dir_all(&path)
        } else if !is_dir && ArchiveName::of_temp(&name).is_some() {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        match removed {
            Ok(()) => tracing::info!(path = %path.display(), "removed a leftover of an interrupted run"),
            Err(e) => tracing::warn!(path = %path.display(), "cannot remove a leftover: {e}"),
        }
    }
}

/// Removes a temporary file unless disarmed: no partial archive survives an
/// error or a cancel.
pub(super) struct TempFile(pub(super) Option<PathBuf>);

impl TempFile {
    pub(super) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}
