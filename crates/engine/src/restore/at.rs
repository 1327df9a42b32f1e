//! `restore … --at TIME`: an archive taken at or before TIME, with each of
//! its SQLite databases rebuilt as of TIME from the continuous increments
//! (see [`lifeboat_core::source::sqlite::continuous`]).
//!
//! The plan is an ordinary restore plan of that archive, narrowed to its
//! SQLite databases, plus, per database, the chain and the exact moment it
//! reaches. Executing it rebuilds each database in the scratch folder and
//! runs `integrity_check` on it before anything is written; the rest (the
//! schema check, the safety snapshot, writing through SQLite, `--to`) is
//! the ordinary restore's.

use chrono::{DateTime, Utc};

use super::{RestoreError, RestorePlan, RestoreRequest};
use crate::config::Config;
use lifeboat_core::manifest::{Kind, Trigger};
use lifeboat_core::source::sqlite::continuous::{self, Reach};

/// The point-in-time part of a plan.
#[derive(Debug, Clone)]
pub struct AtPlan {
    /// The moment asked for.
    pub asked: DateTime<Utc>,
    /// Per database restored, how it is rebuilt and the moment reached.
    pub databases: Vec<Reach>,
    /// The archive's entries that have no point-in-time history (other
    /// kinds of sources): left out.
    pub left_out: Vec<String>,
}

impl AtPlan {
    /// How database `name` is rebuilt.
    pub fn reach(&self, name: &str) -> Option<&Reach> {
        self.databases.iter().find(|r| r.database == name)
    }
}

/// Parses TIME: RFC 3339, or `YYYY-MM-DD HH:MM:SS[.fff]` in UTC.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    None
}

/// The plan of `restore ARCHIVE|latest --at at`. `latest` is the newest
/// archive taken at or before `at` (safety snapshots aside); a named one
/// must have been taken at or before it.
pub fn plan_at(cfg: &Config, req: &RestoreRequest, at: DateTime<Utc>) -> Result<RestorePlan, RestoreError> {
    let archive = if req.archive == "latest" {
        let dir = &cfg.backup.output_dir;
        let mut chosen = None;
        for a in lifeboat_core::catalog::list(dir)?.into_iter().filter(|a| a.created_at <= at) {
            let stored = lifeboat_core::catalog::resolve(dir, &a.name)?;
            let m = lifeboat_core::verify::read_manifest(&stored, &cfg.encryption.keys)?;
            // The name says the second; the manifest, the exact moment.
            if m.trigger != Trigger::PreRestore && m.created_at <= at {
                chosen = Some(a.name);
                break;
            }
        }
        chosen.ok_or(RestoreError::NoArchiveBefore { at })?
    } else {
        req.archive.clone()
    };
    let mut plan = super::plan(cfg, &RestoreRequest { archive, ..req.clone() })?;
    if plan.manifest.created_at > at {
        return Err(RestoreError::ArchiveAfter { archive: plan.archive.name.clone(), at });
    }
    let mut databases = Vec::new();
    let mut left_out = Vec::new();
    let mut not_reached = Vec::new();
    let setup = cfg.continuous_setup();
    for d in &plan.databases {
        let kind = plan.manifest.database(&d.name).map(|e| e.kind);
        if kind != Some(Kind::Sqlite) {
            left_out.push(d.name.clone());
            continue;
        }
        match continuous::reach(&setup, &d.name, at) {
            Ok(r) => databases.push(r),
            Err(e) => not_reached.push(e.to_string()),
        }
    }
    if !not_reached.is_empty() {
        return Err(RestoreError::NotReached { at, problems: not_reached });
    }
    // Every SQLite database refused by the plan itself (a link on its
    // path, a `--to` file already there): those are the reasons.
    let refused_sqlite = plan.problems.iter().any(|p| {
        plan.manifest.databases.iter().any(|e| e.kind == Kind::Sqlite && p.starts_with(&format!("{}: ", e.name)))
    });
    if databases.is_empty() && refused_sqlite {
        return Err(RestoreError::Preflight { archive: plan.archive.name.clone(), problems: plan.problems });
    }
    if databases.is_empty() {
        return Err(RestoreError::NotReached {
            at,
            problems: vec![format!("{} holds no SQLite database to rebuild", plan.archive.name)],
        });
    }
    plan.databases.retain(|d| !left_out.contains(&d.name));
    plan.at = Some(AtPlan { asked: at, databases, left_out });
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_both_forms() {
        let want = chrono::NaiveDate::from_ymd_opt(2026, 3, 4).unwrap().and_hms_opt(10, 19, 58).unwrap().and_utc();
        assert_eq!(parse_time("2026-03-04 10:19:58"), Some(want));
        assert_eq!(parse_time("2026-03-04T10:19:58Z"), Some(want));
        assert_eq!(parse_time("2026-03-04T12:19:58+02:00"), Some(want));
        assert_eq!(parse_time("2026-03-04 10:19:58.250"), Some(want + chrono::TimeDelta::milliseconds(250)));
        assert_eq!(parse_time("yesterday"), None);
    }
}
