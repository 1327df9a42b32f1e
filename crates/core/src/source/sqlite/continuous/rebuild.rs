//! The way back: which increments rebuild a database as of a moment, and
//! the rebuilding itself.
//!
//! A moment T is reached from the newest chain that started at or before
//! T: its full image, then every increment in order up to the newest one
//! captured at or before T. Each increment must name the previous one's
//! hash; a missing or altered one ends what can be reached.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::capture::apply_file;
use super::increment::{self, Kind, Stored};
use super::{ContinuousError, Paths, io_err};
use crate::config::Config;
use crate::state::CapturePosition;

/// How a database is rebuilt as of a moment, decided from the file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The database (its name in `backup.databases`).
    pub database: String,
    /// The moment asked for.
    pub asked: DateTime<Utc>,
    /// The moment reached: the newest increment captured at or before it.
    pub reached: DateTime<Utc>,
    /// The chain.
    pub generation: u32,
    /// When its full image was taken.
    pub chain_start: DateTime<Utc>,
    /// The increments to apply, the full image first.
    pub increments: Vec<Stored>,
}

impl Reach {
    /// How far the moment reached is before the moment asked.
    pub fn short_by(&self) -> chrono::TimeDelta {
        self.asked - self.reached
    }
}

/// The span of moments a database can be rebuilt at: from its oldest
/// chain's full image to its newest increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub database: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Increments stored.
    pub increments: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// The span of `name`, None when it has no increment.
pub fn span(cfg: &Config, name: &str) -> Result<Option<Span>, ContinuousError> {
    let dir = Paths::new(cfg, name).dir;
    let all = increment::list(&dir).map_err(io_err(format!("cannot list {}", dir.display())))?;
    let from = all.iter().find(|s| s.seq == 0).map(|s| s.captured_at);
    let to = all.iter().map(|s| s.captured_at).max();
    let bytes = all.iter().map(|s| std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0)).sum();
    Ok(from.zip(to).map(|(from, to)| Span { database: name.to_string(), from, to, increments: all.len(), bytes }))
}

/// Which increments rebuild `name` as of `at`. Errors say what can be reached instead.
pub fn reach(cfg: &Config, name: &str, at: DateTime<Utc>) -> Result<Reach, ContinuousError> {
    let dir = Paths::new(cfg, name).dir;
    let all = increment::list(&dir).map_err(io_err(format!("cannot list {}", dir.display())))?;
    let start = all.iter().filter(|s| s.seq == 0 && s.captured_at <= at).max_by_key(|s| s.captured_at);
    let Some(start) = start else {
        return Err(ContinuousError::NotReached {
            name: name.to_string(),
            at,
            earliest: all.iter().filter(|s| s.seq == 0).map(|s| s.captured_at).min(),
        });
    };
    let mut increments = vec![start.clone()];
    for s in all.iter().filter(|s| s.generation == start.generation && s.seq > 0) {
        let last = increments.last().expect("one at least");
        if s.captured_at > at {
            break;
        }
        if s.seq != last.seq + 1 {
            return Err(ContinuousError::Gap {
                name: name.to_string(),
                after: last.captured_at,
                missing: last.seq + 1,
            });
        }
        increments.push(s.clone());
    }
    let last = increments.last().expect("one at least");
    Ok(Reach {
        database: name.to_string(),
        asked: at,
        reached: last.captured_at,
        generation: start.generation,
        chain_start: start.captured_at,
        increments,
    })
}

/// What a rebuild produced.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub path: PathBuf,
    /// The moment it holds.
    pub reached: DateTime<Utc>,
    /// Increments applied, and how many of each kind.
    pub applied: usize,
    pub diffs: usize,
}

/// Writes `name` as `r` reaches it into the new file `dest`, checking the
/// chain as it goes (each increment names its predecessor's hash).
pub fn rebuild(cfg: &Config, r: &Reach, dest: &Path) -> Result<Rebuilt, ContinuousError> {
    if dest.exists() {
        return Err(ContinuousError::Write {
            path: dest.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    let mut after: Option<CapturePosition> = None;
    let mut diffs = 0;
    for s in &r.increments {
        let applied = apply_file(s, &cfg.encryption.keys, dest, after.as_ref())?;
        if applied.header.captured_at != s.captured_at {
            return Err(ContinuousError::Broken { path: s.path.clone() });
        }
        if applied.header.kind == Kind::Diff {
            diffs += 1;
        }
        after = Some(CapturePosition {
            database: r.database.clone(),
            generation: applied.header.generation,
            seq: applied.header.seq,
            chain_hash: hex::encode(applied.hash),
            file_id: String::new(),
            db_stamp: String::new(),
            page_size: applied.header.page_size,
            db_pages: applied.header.db_pages,
            wal: applied.header.wal,
            captured_at: applied.header.captured_at,
            checked_at: applied.header.captured_at,
        });
    }
    crate::fsutil::make_private(dest).map_err(io_err(format!("cannot protect {}", dest.display())))?;
    Ok(Rebuilt { path: dest.to_path_buf(), reached: r.reached, applied: r.increments.len(), diffs })
}
