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
use super::{ContinuousError, Paths, Setup, io_err};
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
pub fn span(setup: &Setup, name: &str) -> Result<Option<Span>, ContinuousError> {
    let dir = Paths::new(setup, name).dir;
    let all = increment::list(&dir).map_err(io_err(format!("cannot list {}", dir.display())))?;
    let from = all.iter().find(|s| s.seq == 0).map(|s| s.captured_at);
    let to = all.iter().map(|s| s.captured_at).max();
    let bytes = all.iter().map(|s| std::fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0)).sum();
    Ok(from.zip(to).map(|(from, to)| Span { database: name.to_string(), from, to, increments: all.len(), bytes }))
}

/// Which increments rebuild `name` as of `at`. Errors say what can be reached instead.
pub fn reach(setup: &Setup, name: &str, at: DateTime<Utc>) -> Result<Reach, ContinuousError> {
    let dir = Paths::new(setup, name).dir;
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
pub fn rebuild(setup: &Setup, r: &Reach, dest: &Path) -> Result<Rebuilt, ContinuousError> {
    if dest.exists() {
        return Err(ContinuousError::Write {
            path: dest.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    let mut after: Option<CapturePosition> = None;
    let mut diffs = 0;
    for s in &r.increments {
        let applied = apply_file(s, &setup.keys, dest, after.as_ref())?;
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

/// What checking one database's chains found.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    pub database: String,
    /// Chains read, and their increments in all.
    pub chains: usize,
    pub increments: usize,
    /// The newest moment reachable.
    pub newest: Option<DateTime<Utc>>,
    /// Every problem found (a broken or unreadable increment, a gap, a
    /// rebuilt database failing `integrity_check`, the newest chain not
    /// matching the copy the next capture builds on); empty when sound.
    pub problems: Vec<String>,
}

/// Reads every chain of `name` in full: each increment opened and checked
/// against its predecessor's hash, each chain rebuilt in `scratch` and
/// `integrity_check`ed, and the newest chain's result compared byte for
/// byte with the copy the next capture diffs against.
pub fn check_chains(
    setup: &Setup,
    state: Option<&crate::state::State>,
    name: &str,
    scratch: &Path,
) -> Result<ChainCheck, ContinuousError> {
    let paths = Paths::new(setup, name);
    let all = increment::list(&paths.dir).map_err(io_err(format!("cannot list {}", paths.dir.display())))?;
    let mut out =
        ChainCheck { database: name.to_string(), chains: 0, increments: 0, newest: None, problems: Vec::new() };
    let mut generations: Vec<u32> = all.iter().map(|s| s.generation).collect();
    generations.dedup();
    let position = state.map(|s| s.capture_position(name)).transpose()?.flatten();
    for g in generations {
        out.chains += 1;
        let chain: Vec<&Stored> = all.iter().filter(|s| s.generation == g).collect();
        let Some(last) = chain.last() else { continue };
        let r = match reach(setup, name, last.captured_at) {
            Ok(r) if r.generation == g => r,
            Ok(_) => {
                out.problems.push(format!("chain {g} has no full image"));
                continue;
            }
            Err(e) => {
                out.problems.push(e.to_string());
                continue;
            }
        };
        let dest = scratch.join(format!("{name}.chain{g}"));
        let rebuilt = rebuild(setup, &r, &dest);
        out.increments += r.increments.len();
        if let Err(e) = rebuilt {
            out.problems.push(e.to_string());
            continue;
        }
        out.newest = out.newest.max(Some(r.reached));
        match crate::integrity::check(&dest) {
            Ok(rep) if rep.ok => {}
            Ok(rep) => out.problems.push(format!("chain {g} rebuilt fails integrity_check: {}", rep.summary())),
            Err(e) => out.problems.push(format!("chain {g} rebuilt cannot be read: {e}")),
        }
        let newest_recorded = position.as_ref().is_some_and(|p| p.generation == g && p.seq == last.seq);
        if newest_recorded {
            let same = crate::fsutil::sha256_file(&dest).ok() == crate::fsutil::sha256_file(&paths.shadow).ok();
            // A capture running meanwhile (the daemon) writes its increment
            // before it touches the copy: with none newer on disk and the
            // same position recorded, the copy was not being changed.
            let newest_now = increment::list(&paths.dir).ok().and_then(|l| l.last().map(|s| (s.generation, s.seq)));
            let position_now = state.map(|s| s.capture_position(name)).transpose()?.flatten();
            let key = |p: &Option<CapturePosition>| p.as_ref().map(|p| (p.generation, p.seq, p.chain_hash.clone()));
            let undisturbed = newest_now == Some((g, last.seq)) && key(&position_now) == key(&position);
            if !same && undisturbed {
                out.problems.push(format!(
                    "chain {g} rebuilt differs from {}, which the next capture diffs against; \
                     remove that file to make the next capture start a new chain",
                    paths.shadow.display()
                ));
            }
        }
        let _ = std::fs::remove_file(&dest);
    }
    Ok(out)
}
