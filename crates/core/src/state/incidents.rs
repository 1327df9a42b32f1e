//! Incidents: a condition that needs people (backups stale, the scheduler
//! silent…), open from when it is first seen until it clears. Whoever opens
//! or closes one tells the admins; the database lets only one process do
//! each, so the dashboard and the scheduler can both watch without sending
//! anything twice.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, State, opt_time_at, parsed, time_at, ts};
use strum::{EnumIter, EnumString, IntoStaticStr};

/// What an incident is about. Its kinds are declared in the order screens
/// list them, which `IncidentKind::iter()` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, IntoStaticStr, EnumString, EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum IncidentKind {
    /// No successful backup for `monitoring.stale_after_minutes`.
    Stale,
    /// The scheduler promised a heartbeat and went quiet.
    SchedulerSilent,
    /// Deliveries pending for longer than two cycles.
    DeliveriesStuck,
    /// Less free disk than the next archive needs.
    DiskLow,
    /// A stored archive no longer verifies (bit rot, a damaged disk).
    ArchiveCorrupt,
    /// `[continuous]`: a database's changes not captured for ten intervals.
    ContinuousLag,
    /// `[continuous]`: a chain rebuilt did not equal a scheduled archive's
    /// snapshot of the same moment.
    ChainMismatch,
}

impl IncidentKind {
    /// Stored form, also the metrics label.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// What it is about.
    pub kind: IncidentKind,
    /// When it was first seen.
    pub opened_at: DateTime<Utc>,
    /// When it cleared; None while open.
    pub closed_at: Option<DateTime<Utc>>,
    /// What was seen when it opened, in words.
    pub detail: String,
}

const COLS: &str = "kind, opened_at, closed_at, detail";

fn incident_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    Ok(Incident {
        kind: parsed(r, 0, "incidents", "kind")?,
        opened_at: time_at(r, 1, "incidents", "opened_at")?,
        closed_at: opt_time_at(r, 2, "incidents", "closed_at")?,
        detail: r.get(3)?,
    })
}

impl State {
    /// Opens an incident of `kind` unless one is open. True when this call
    /// opened it: the caller, and only it, tells the admins.
    pub fn open_incident(&self, kind: IncidentKind, detail: &str, at: DateTime<Utc>) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT OR IGNORE INTO incidents (kind, opened_at, detail) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), ts(at), detail],
        )?;
        Ok(n == 1)
    }

    /// Closes the open incident of `kind`, if any, and returns it: the
    /// caller, and only it, tells the admins it recovered.
    pub fn close_incident(&self, kind: IncidentKind, at: DateTime<Utc>) -> Result<Option<Incident>> {
        Ok(self
            .conn
            .query_row(
                &format!("UPDATE incidents SET closed_at = ?2 WHERE kind = ?1 AND closed_at IS NULL RETURNING {COLS}"),
                params![kind.as_str(), ts(at)],
                incident_from_row,
            )
            .optional()?)
    }

    /// The incidents open now, oldest first.
    pub fn open_incidents(&self) -> Result<Vec<Incident>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM incidents WHERE closed_at IS NULL ORDER BY opened_at, id"))?;
        let rows = st.query_map([], incident_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::{open, t};

    #[test]
    fn one_open_incident_per_kind_opened_and_closed_once() {
        let (_d, st) = open();
        assert!(st.open_incident(IncidentKind::Stale, "no backup for 3 h", t(10, 0)).unwrap());
        assert!(!st.open_incident(IncidentKind::Stale, "no backup for 3 h 1 min", t(10, 1)).unwrap(), "already open");
        assert!(st.open_incident(IncidentKind::DiskLow, "1 MB free", t(10, 2)).unwrap(), "another kind");
        let open_now = st.open_incidents().unwrap();
        assert_eq!(open_now.iter().map(|i| i.kind).collect::<Vec<_>>(), [IncidentKind::Stale, IncidentKind::DiskLow]);
        assert_eq!(open_now[0].detail, "no backup for 3 h");

        let closed = st.close_incident(IncidentKind::Stale, t(11, 0)).unwrap().unwrap();
        assert_eq!((closed.opened_at, closed.closed_at), (t(10, 0), Some(t(11, 0))));
        assert_eq!(st.close_incident(IncidentKind::Stale, t(11, 1)).unwrap(), None, "closed once");
        assert!(st.open_incident(IncidentKind::Stale, "again", t(12, 0)).unwrap(), "a new one later");
    }

    #[test]
    fn two_processes_racing_open_it_once() {
        let (dir, st) = open();
        let other = State::open(&dir.path().join("x/state.db")).unwrap();
        let opened = [
            st.open_incident(IncidentKind::SchedulerSilent, "quiet", t(9, 0)).unwrap(),
            other.open_incident(IncidentKind::SchedulerSilent, "quiet", t(9, 0)).unwrap(),
        ];
        assert_eq!(opened, [true, false]);
    }
}
