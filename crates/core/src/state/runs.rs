//! Backup runs and the per-database checks of each.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Result, State, opt_time_at, parsed, time_at, ts};
use crate::manifest::Trigger;
use strum::{EnumString, IntoStaticStr};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum RunStatus {
    /// Still running (or died without saying: see [`State::close_abandoned_runs`]).
    Running,
    /// Every database backed up and verified.
    Ok,
    /// Some databases skipped; an archive was written.
    Partial,
    /// No archive.
    Failed,
    /// Stopped by a signal or a crash.
    Interrupted,
    /// Nothing changed since the last archive: nothing written or sent.
    Unchanged,
}

impl RunStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// How a run ended, as [`State::finish_run`] records it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunEnd {
    /// Logical archive name, when one was written.
    pub archive: Option<String>,
    /// Archive bytes.
    pub size: Option<u64>,
    /// Databases in the archive.
    pub databases_ok: u32,
    /// Databases skipped.
    pub databases_skipped: u32,
    /// Verified after writing.
    pub verified: bool,
    /// Failure or skip reasons.
    pub detail: Option<String>,
}

/// One backup run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: i64,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once ended.
    pub finished_at: Option<DateTime<Utc>>,
    pub trigger: Trigger,
    /// Outcome.
    pub status: RunStatus,
    /// What the run recorded when it ended (default while running).
    pub end: RunEnd,
}

/// Runs by outcome over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// `ok`
    pub ok: u32,
    /// `partial`
    pub partial: u32,
    /// `failed` or `interrupted`
    pub failed: u32,
    /// `unchanged`: checked, nothing to write
    pub unchanged: u32,
}

/// The latest integrity result of one database.
#[derive(Debug, Clone, PartialEq)]
pub struct DbCheck {
    /// Database file name.
    pub name: String,
    /// When it was checked.
    pub checked_at: DateTime<Utc>,
    /// Passed and backed up.
    pub ok: bool,
    /// "ok" or the reason it was skipped.
    pub detail: String,
    /// Snapshot bytes.
    pub size: Option<u64>,
    /// Total rows.
    pub rows: Option<u64>,
}

const RUN_COLS: &str =
    "id, started_at, finished_at, trigger, status, archive, size, databases_ok, databases_skipped, verified, detail";

fn run_from_row(r: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        started_at: time_at(r, 1, "runs", "started_at")?,
        finished_at: opt_time_at(r, 2, "runs", "finished_at")?,
        trigger: parsed(r, 3, "runs", "trigger")?,
        status: parsed(r, 4, "runs", "status")?,
        end: RunEnd {
            archive: r.get(5)?,
            size: r.get::<_, Option<i64>>(6)?.map(|s| s as u64),
            databases_ok: r.get(7)?,
            databases_skipped: r.get(8)?,
            verified: r.get(9)?,
            detail: r.get(10)?,
        },
    })
}

impl State {
    /// Records the start of a run; returns its id.
    pub fn begin_run(&self, trigger: Trigger, at: DateTime<Utc>) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (started_at, trigger, status) VALUES (?1, ?2, 'running')",
            params![ts(at), trigger.as_str()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records how a run ended.
    pub fn finish_run(&self, id: i64, status: RunStatus, end: &RunEnd, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, archive = ?4, size = ?5, databases_ok = ?6,
             databases_skipped = ?7, verified = ?8, detail = ?9 WHERE id = ?1",
            params![
                id,
                ts(at),
                status.as_str(),
                end.archive,
                end.size.map(|s| s as i64),
                end.databases_ok,
                end.databases_skipped,
                end.verified,
                end.detail
            ],
        )?;
        Ok(())
    }

    /// Marks runs still "running" whose process is gone as interrupted.
    /// Call it while holding the cycle lock, so no live run is touched.
    pub fn close_abandoned_runs(&self, at: DateTime<Utc>) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?1,
             detail = COALESCE(detail, 'the process stopped before the run finished') WHERE status = 'running'",
            params![ts(at)],
        )?)
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<Run>> {
        let mut st = self.conn.prepare(&format!("SELECT {RUN_COLS} FROM runs ORDER BY id DESC LIMIT ?1"))?;
        let rows = st.query_map(params![limit as i64], run_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The latest finished run (not "running").
    pub fn last_finished_run(&self) -> Result<Option<Run>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {RUN_COLS} FROM runs WHERE status != 'running' ORDER BY id DESC LIMIT 1"),
                [],
                run_from_row,
            )
            .optional()?)
    }

    /// The latest run that backed the data up: it wrote an archive (ok or
    /// partial), or found nothing changed since the last one.
    pub fn last_successful_run(&self) -> Result<Option<Run>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {RUN_COLS} FROM runs WHERE status IN ('ok', 'partial', 'unchanged') ORDER BY id DESC LIMIT 1"),
                [],
                run_from_row,
            )
            .optional()?)
    }

    /// How many runs ended each way, ever (finished runs only).
    pub fn run_totals(&self) -> Result<Vec<(RunStatus, u64)>> {
        let mut st = self.conn.prepare("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status")?;
        let rows = st.query_map([], |r| Ok((parsed(r, 0, "runs", "status")?, r.get::<_, i64>(1)? as u64)))?;
        let all: Vec<(RunStatus, u64)> = rows.collect::<rusqlite::Result<_>>()?;
        Ok(all.into_iter().filter(|(s, _)| *s != RunStatus::Running).collect())
    }

    /// The run that wrote an archive (not the unchanged runs that name it
    /// as still current).
    pub fn run_for_archive(&self, archive: &str) -> Result<Option<Run>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {RUN_COLS} FROM runs WHERE archive = ?1 AND status != 'unchanged' ORDER BY id DESC LIMIT 1"
                ),
                params![archive],
                run_from_row,
            )
            .optional()?)
    }

    /// Runs by outcome that started at or after `since`.
    pub fn run_counts_since(&self, since: DateTime<Utc>) -> Result<RunCounts> {
        let mut st = self.conn.prepare("SELECT status, COUNT(*) FROM runs WHERE started_at >= ?1 GROUP BY status")?;
        let mut counts = RunCounts::default();
        let rows = st.query_map(params![ts(since)], |r| Ok((parsed(r, 0, "runs", "status")?, r.get::<_, u32>(1)?)))?;
        for row in rows {
            match row? {
                (RunStatus::Ok, n) => counts.ok += n,
                (RunStatus::Partial, n) => counts.partial += n,
                (RunStatus::Failed | RunStatus::Interrupted, n) => counts.failed += n,
                (RunStatus::Unchanged, n) => counts.unchanged += n,
                (RunStatus::Running, _) => {}
            }
        }
        Ok(counts)
    }

    /// Records one database's result in a run.
    pub fn record_db_check(&self, run_id: Option<i64>, check: &DbCheck) -> Result<()> {
        self.conn.execute(
            "INSERT INTO db_checks (run_id, checked_at, name, ok, detail, size, rows) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                run_id,
                ts(check.checked_at),
                check.name,
                check.ok,
                check.detail,
                check.size.map(|s| s as i64),
                check.rows.map(|s| s as i64)
            ],
        )?;
        Ok(())
    }

    /// The latest result of each database, by name.
    pub fn latest_db_checks(&self) -> Result<Vec<DbCheck>> {
        let mut st = self.conn.prepare(
            "SELECT name, checked_at, ok, detail, size, rows FROM db_checks
             WHERE id IN (SELECT MAX(id) FROM db_checks GROUP BY name) ORDER BY name",
        )?;
        let rows = st.query_map([], |r| {
            Ok(DbCheck {
                name: r.get(0)?,
                checked_at: time_at(r, 1, "db_checks", "checked_at")?,
                ok: r.get(2)?,
                detail: r.get(3)?,
                size: r.get::<_, Option<i64>>(4)?.map(|s| s as u64),
                rows: r.get::<_, Option<i64>>(5)?.map(|s| s as u64),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::{open, t};

    #[test]
    fn runs_round_trip_and_count() {
        let (_d, s) = open();
        let a = s.begin_run(Trigger::Scheduled, t(1, 0)).unwrap();
        s.finish_run(
            a,
            RunStatus::Ok,
            &RunEnd {
                archive: Some("a.zip".into()),
                size: Some(10),
                databases_ok: 5,
                verified: true,
                ..Default::default()
            },
            t(1, 1),
        )
        .unwrap();
        let b = s.begin_run(Trigger::Manual, t(2, 0)).unwrap();
        s.finish_run(
            b,
            RunStatus::Partial,
            &RunEnd { databases_ok: 4, databases_skipped: 1, ..Default::default() },
            t(2, 1),
        )
        .unwrap();
        let _c = s.begin_run(Trigger::Scheduled, t(3, 0)).unwrap();
        assert_eq!(s.runs(10).unwrap().len(), 3);
        assert_eq!(s.last_finished_run().unwrap().unwrap().id, b);
        assert_eq!(s.last_finished_run().unwrap().unwrap().trigger, Trigger::Manual);
        assert_eq!(s.run_counts_since(t(0, 0)).unwrap(), RunCounts { ok: 1, partial: 1, failed: 0, unchanged: 0 });
        assert_eq!(s.close_abandoned_runs(t(4, 0)).unwrap(), 1);
        assert_eq!(s.run_counts_since(t(0, 0)).unwrap().failed, 1);
        assert_eq!(s.run_for_archive("a.zip").unwrap().unwrap().end.size, Some(10));
    }
}
