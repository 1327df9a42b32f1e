//! What `diff` and `export` read: an archive, `latest`, `live`, or an
//! SQLite file, each turned into plain SQLite files that can be opened
//! read-only.
//!
//! An archive is verified and extracted into the caller's scratch folder
//! (a differential is rebuilt on its base, a sealed archive opened with the
//! keys held), so only copies whose checksums and integrity hold are read.
//! `live` takes a snapshot of each configured SQLite database through
//! SQLite's backup API into scratch: the bot's file is never read directly
//! and never locked for longer than a backup would. `@TIME` rebuilds each
//! from its continuous increments as of TIME, into scratch too.

use std::path::{Path, PathBuf};

use crate::config::Config;
use lifeboat_core::catalog;
use lifeboat_core::manifest::Kind;
use lifeboat_core::snapshot::{self, SnapshotOptions};
use lifeboat_core::verify;

use super::RowsError;

/// SQLite's file header.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// One side that was opened.
#[derive(Debug, Clone)]
pub struct Opened {
    /// What the operator named, resolved: the archive's name, `live`, or
    /// the file's path.
    pub label: String,
    /// Its SQLite databases: (name as archived, readable copy).
    pub databases: Vec<(String, PathBuf)>,
    /// Entries that are not SQLite databases (PostgreSQL dumps, Redis
    /// snapshots, files): (name, kind). They are not read.
    pub other: Vec<(String, Kind)>,
    /// Every SQLite database it holds, `--only` or not (to say what there is).
    pub held: Vec<String>,
    /// Named as a path to one SQLite file: its one database stands for
    /// whichever database the other side holds, whatever the file's name.
    pub from_file: bool,
}

impl Opened {
    /// The names of its SQLite databases.
    pub fn names(&self) -> Vec<&str> {
        self.databases.iter().map(|d| d.0.as_str()).collect()
    }
}

/// Opens `operand` (an archive name, `latest`, a path to an archive or its
/// first part, `live`, `@TIME`, or a path to an SQLite file), limited to the
/// databases in `only` when it is not empty. Copies go into `scratch`, a
/// private folder the caller removes.
pub fn open(cfg: &Config, operand: &str, only: &[String], scratch: &Path) -> Result<Opened, RowsError> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    if let Some(time) = operand.strip_prefix('@') {
        return open_at(cfg, operand, time, scratch, &wanted);
    }
    if operand == "live" {
        return open_live(cfg, scratch, &wanted);
    }
    let path = Path::new(operand);
    if path.is_file() && is_sqlite(path) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| operand.into());
        // A named file is read as it is, even when its name differs
        // from the database it stands for: `--only` cannot leave it out.
        return Ok(Opened {
            label: path.display().to_string(),
            held: vec![name.clone()],
            databases: vec![(name, path.to_path_buf())],
            other: vec![],
            from_file: true,
        });
    }
    let archive = match catalog::resolve(&cfg.backup.output_dir, operand) {
        Ok(a) => a,
        Err(catalog::CatalogError::NotAnArchive(_)) if path.is_file() => {
            return Err(RowsError::NotSqlite(path.to_path_buf()));
        }
        Err(source) => return Err(RowsError::Operand { operand: operand.to_string(), source }),
    };
    let dir = scratch.join(format!("archive-{}", std::process::id()));
    let dir = unique(&dir);
    lifeboat_core::fsutil::create_private_dir(&dir).map_err(|source| RowsError::Io { path: dir.clone(), source })?;
    let (report, extracted) = verify::verify_and_extract(&archive, &cfg.encryption.keys, &dir)
        .map_err(|source| RowsError::Verify { archive: archive.name.clone(), source })?;
    if !report.is_ok() {
        return Err(RowsError::NotVerified {
            archive: archive.name.clone(),
            problems: report.all_problems().join("; "),
        });
    }
    let entries = report.manifest.map(|m| m.databases).unwrap_or_default();
    let mut opened = Opened {
        label: archive.name.clone(),
        held: entries.iter().filter(|e| e.kind == Kind::Sqlite).map(|e| e.name.clone()).collect(),
        databases: vec![],
        other: vec![],
        from_file: false,
    };
    for e in entries.into_iter().filter(|e| wanted(&e.name)) {
        match e.kind {
            Kind::Sqlite => {
                if let Some((_, path)) = extracted.iter().find(|(n, _)| *n == e.name) {
                    opened.databases.push((e.name, path.clone()));
                }
            }
            kind => opened.other.push((e.name, kind)),
        }
    }
    Ok(opened)
}

fn open_live(cfg: &Config, scratch: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<Opened, RowsError> {
    let dir = unique(&scratch.join("live"));
    lifeboat_core::fsutil::create_private_dir(&dir).map_err(|source| RowsError::Io { path: dir.clone(), source })?;
    let mut opened = Opened {
        label: "live".into(),
        held: cfg.backup.databases.clone(),
        databases: vec![],
        other: vec![],
        from_file: false,
    };
    for name in cfg.backup.databases.iter().filter(|n| wanted(n)) {
        let dest = dir.join(name);
        snapshot::take(&cfg.backup.source_dir.join(name), &dest, &SnapshotOptions::default())
            .map_err(|reason| RowsError::Snapshot { database: name.clone(), reason })?;
        opened.databases.push((name.clone(), dest));
    }
    Ok(opened)
}

/// `@TIME`: each configured SQLite database rebuilt as of TIME from its
/// continuous increments (as `restore --at` does, every increment checked
/// against its predecessor's hash, the result `integrity_check`ed).
fn open_at(
    cfg: &Config,
    operand: &str,
    time: &str,
    scratch: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Opened, RowsError> {
    use lifeboat_core::source::sqlite::continuous;
    let unreachable = |why: String| RowsError::PointInTime { operand: operand.to_string(), why };
    let at = crate::restore::parse_time(time).ok_or_else(|| {
        unreachable("not a time; give RFC 3339 (@2026-03-04T10:20:00Z) or @\"YYYY-MM-DD HH:MM:SS\" in UTC".into())
    })?;
    let dir = unique(&scratch.join("at"));
    lifeboat_core::fsutil::create_private_dir(&dir).map_err(|source| RowsError::Io { path: dir.clone(), source })?;
    let mut opened = Opened {
        label: operand.to_string(),
        held: cfg.backup.databases.clone(),
        databases: vec![],
        other: vec![],
        from_file: false,
    };
    let mut reached = Vec::new();
    let setup = cfg.continuous_setup();
    for name in cfg.backup.databases.iter().filter(|n| wanted(n)) {
        let r = continuous::reach(&setup, name, at).map_err(|e| unreachable(e.to_string()))?;
        let dest = dir.join(name);
        let rebuild_err =
            |why: String| RowsError::Rebuild { operand: operand.to_string(), database: name.clone(), why };
        continuous::rebuild(&setup, &r, &dest).map_err(|e| rebuild_err(e.to_string()))?;
        match lifeboat_core::integrity::check(&dest) {
            Ok(rep) if rep.ok => {}
            Ok(rep) => return Err(rebuild_err(format!("the result fails integrity_check: {}", rep.summary()))),
            Err(e) => return Err(rebuild_err(e.to_string())),
        }
        reached.push(r.reached);
        opened.databases.push((name.clone(), dest));
    }
    if let (Some(first), Some(last)) = (reached.iter().min(), reached.iter().max()) {
        let t = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string();
        opened.label = if first == last {
            format!("{operand} (as of {})", t(first))
        } else {
            format!("{operand} (as of {} to {})", t(first), t(last))
        };
    }
    Ok(opened)
}

/// `path`, or `path-2`, `path-3`… whichever does not exist yet.
fn unique(path: &Path) -> PathBuf {
    let mut candidate = path.to_path_buf();
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = PathBuf::from(format!("{}-{n}", path.display()));
    }
    candidate
}

fn is_sqlite(path: &Path) -> bool {
    let mut head = [0u8; 16];
    matches!(lifeboat_core::fsutil::read_prefix(path, &mut head), Ok(16)) && &head == SQLITE_MAGIC
}

/// Checks `only` against what the sides hold: a name neither has is a
/// mistake worth stopping for.
pub fn check_only(only: &[String], sides: &[&Opened]) -> Result<(), RowsError> {
    for name in only {
        let held = sides
            .iter()
            .any(|s| s.databases.iter().any(|d| &d.0 == name) || s.other.iter().any(|d| &d.0 == name) || s.from_file);
        if !held {
            let mut known: Vec<&str> = sides.iter().flat_map(|s| s.held.iter().map(String::as_str)).collect();
            known.sort();
            known.dedup();
            return Err(RowsError::UnknownDatabase {
                name: name.clone(),
                sides: sides.iter().map(|s| s.label.as_str()).collect::<Vec<_>>().join(" nor "),
                known: if known.is_empty() { "none".into() } else { known.join(", ") },
            });
        }
    }
    Ok(())
}
