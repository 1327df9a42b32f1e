//! After each archive: did a database or table shrink sharply against the
//! previous archive? Then that previous archive is pinned (retention keeps
//! it until someone acknowledges) and the admins get a loud alert naming
//! what fell. The new archive is written and delivered all the same.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use lifeboat_core::catalog;
use lifeboat_core::shrink::{self, Shrink};
use lifeboat_core::state::{State, StateError};
use lifeboat_core::units::human_size;
use lifeboat_engine::backup::BackupOutcome;
use lifeboat_engine::config::Config;

/// A shrink found, and the archive pinned because of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shrunk {
    /// The archive from before the shrink, now pinned.
    pub pinned: String,
    /// What fell.
    pub shrinks: Vec<Shrink>,
}

/// Compares `outcome` with the newest older archive whose manifest reads,
/// and pins that one when something fell by more than
/// `monitoring.shrink_alert_percent`, or a table by more than
/// `monitoring.shrink_alert_rows` rows.
pub fn check(
    cfg: &Config,
    state: &State,
    outcome: &BackupOutcome,
    now: DateTime<Utc>,
) -> Result<Option<Shrunk>, StateError> {
    let (percent, rows) = (cfg.monitoring.shrink_alert_percent, cfg.monitoring.shrink_alert_rows);
    if percent == 0 && rows == 0 {
        return Ok(None);
    }
    let Ok(archives) = catalog::list(&cfg.backup.output_dir) else { return Ok(None) };
    let previous = archives
        .iter()
        .filter(|a| a.name != outcome.archive.name && a.created_at <= outcome.archive.created_at)
        .find_map(|a| lifeboat_core::verify::known_manifest(a, &cfg.encryption.keys, Some(state)).ok().map(|m| (a, m)));
    let Some((previous, manifest)) = previous else { return Ok(None) };
    let shrinks = shrink::compare(&manifest, &outcome.manifest, percent, rows);
    if shrinks.is_empty() {
        return Ok(None);
    }
    let reason = format!("kept by a shrink alert: {}", describe(&shrinks).join("; "));
    state.pin(&previous.name, &reason, lifeboat_core::state::PinOrigin::ShrinkAlert, now)?;
    Ok(Some(Shrunk { pinned: previous.name.clone(), shrinks }))
}

/// "users.db: table users 1000 → 200 rows (−80 %)"
pub fn describe(shrinks: &[Shrink]) -> Vec<String> {
    shrinks
        .iter()
        .map(|s| match &s.table {
            Some(t) => format!("{}: table {t} {} → {} rows (−{} %)", s.database, s.before, s.after, s.percent()),
            None => format!("{}: {} → {} (−{} %)", s.database, human_size(s.before), human_size(s.after), s.percent()),
        })
        .collect()
}

/// The alert: loud, with what fell and what was kept.
pub fn alert_text(shrunk: &Shrunk, new_archive: &str) -> String {
    let mut s = String::from("🚨 Lifeboat: data shrank sharply since the previous backup\n");
    for line in describe(&shrunk.shrinks) {
        let _ = writeln!(s, "• {line}");
    }
    let pinned = &shrunk.pinned;
    let mut databases: Vec<&str> = shrunk.shrinks.iter().map(|s| s.database.as_str()).collect();
    databases.dedup();
    for db in databases {
        let _ = writeln!(s, "See what was removed: `lifeboat diff {pinned} live --only {db}`");
    }
    let _ = write!(
        s,
        "If this was not intended, put back only the missing rows with the same command and `--sql | sqlite3 \
         LIVE_DB` (docs/operations.md, \"A bad deploy\"): rows written since stay. Or restore from {pinned}: it \
         is pinned, so retention keeps it until you press Acknowledge or run `lifeboat unpin {pinned}`. The new \
         archive {new_archive} was written as usual."
    );
    s
}
