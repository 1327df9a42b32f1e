//! `backup --dry-run`: what a backup would take and skip, and what kind of
//! archive it would write, found without taking a copy or writing anything.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::BackupOptions;
use crate::config::Config;
use lifeboat_core::manifest::{Kind, Trigger};
use lifeboat_core::source;

/// One source as a backup now would treat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSource {
    /// Its entry in the archive.
    pub name: String,
    /// The configured source it belongs to (a files source has many entries).
    pub source: String,
    pub kind: Kind,
    /// Bytes a copy would read; None when not known before the copy (a
    /// server's dump).
    pub size: Option<u64>,
    /// Why it would be skipped; None: it would be taken.
    pub skip: Option<String>,
}

/// What a backup now would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// Where the archive would go.
    pub output_dir: PathBuf,
    /// The full archive a differential would be made against; None: a full archive.
    pub base: Option<String>,
    pub sources: Vec<PlannedSource>,
    /// Bytes free where the archive would go, if that can be told.
    pub free_bytes: Option<u64>,
}

impl DryRun {
    /// Bytes the sources to be taken would read (servers not counted).
    pub fn total_bytes(&self) -> u64 {
        self.sources.iter().filter(|s| s.skip.is_none()).filter_map(|s| s.size).sum()
    }
}

/// Looks at every configured source as [`super::run`] would, without
/// copying it: a file that is missing, unreadable or not a database, or a
/// server that does not answer, would be skipped.
pub fn dry_run(cfg: &Config, now: DateTime<Utc>) -> DryRun {
    let opts =
        BackupOptions { trigger: Trigger::Manual, only: None, progress: None, cancel: CancellationToken::new(), now };
    // Only a state database that exists: a dry run creates none.
    let state = cfg.state_path().exists().then(|| cfg.open_state().ok()).flatten();
    let base =
        super::stages::differential_base(cfg, &cfg.encryption.keys, state.as_ref(), &opts).map(|b| b.archive.name);
    let sources = source::configured(&cfg.source_setup(), None)
        .iter()
        .map(|s| PlannedSource {
            name: s.name().to_string(),
            source: s.source_name().to_string(),
            kind: s.kind(),
            size: Some(s.size_hint()).filter(|&n| n > 0),
            skip: s.preflight().err().map(|why| why.to_string()),
        })
        .collect();
    let out = &cfg.backup.output_dir;
    // The folder may not exist yet: a backup would create it in its parent.
    let free_bytes = out.ancestors().find_map(|dir| lifeboat_core::fsutil::available_space(dir).ok());
    DryRun { output_dir: out.clone(), base, sources, free_bytes }
}
