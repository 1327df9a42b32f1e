//! Restore as plan, then execute. OWNER: H2.

use std::path::PathBuf;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// "latest", a file name in output_dir, or a path (ZIP or first part).
    pub archive: String,
    /// Only these databases (empty = all in the archive).
    pub only: Vec<String>,
    /// Write plain files into this folder instead of the live databases.
    pub to: Option<PathBuf>,
}
