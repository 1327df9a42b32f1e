//! The event log the dashboard's Logs screen and `lifeboat status` read.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, State, parsed, time_at, ts};
use strum::{EnumString, IntoStaticStr};

/// Event severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum Level {
    /// Normal operation.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One log event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    pub level: Level,
    /// The component that logged it.
    pub source: String,
    /// What happened.
    pub message: String,
}

impl State {
    /// Appends an event (mirroring it to tracing is the caller's choice).
    pub fn log_event(&self, level: Level, source: &str, message: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO events (at, level, source, message) VALUES (?1, ?2, ?3, ?4)",
            params![ts(at), level.as_str(), source, message],
        )?;
        Ok(())
    }

    /// Events newest first, skipping `offset`.
    pub fn events(&self, limit: usize, offset: usize) -> Result<Vec<Event>> {
        let mut st = self
            .conn
            .prepare("SELECT id, at, level, source, message FROM events ORDER BY id DESC LIMIT ?1 OFFSET ?2")?;
        let rows = st.query_map(params![limit as i64, offset as i64], |r| {
            Ok(Event {
                id: r.get(0)?,
                at: time_at(r, 1, "events", "at")?,
                level: parsed(r, 2, "events", "level")?,
                source: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes events older than `before` (keeps the table small).
    pub fn prune_events(&self, before: DateTime<Utc>) -> Result<usize> {
        Ok(self.conn.execute("DELETE FROM events WHERE at < ?1", params![ts(before)])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::{open, t};

    #[test]
    fn events_newest_first() {
        let (_d, s) = open();
        for i in 0..5 {
            s.log_event(Level::Info, "test", &format!("e{i}"), t(1, i)).unwrap();
        }
        let ev = s.events(2, 1).unwrap();
        assert_eq!(ev.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["e3", "e2"]);
        assert_eq!(s.prune_events(t(1, 3)).unwrap(), 3);
    }
}
