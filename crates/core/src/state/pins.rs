//! Pinned archives: retention keeps them whatever its rules say, until
//! someone unpins them (`lifeboat unpin`, or "Acknowledge" on a shrink
//! alert). A shrink alert pins the last archive from before the shrink, so
//! the good data outlives the hourly archives of the emptied table.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, State, time_at, ts};

/// One pinned archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Logical archive name.
    pub archive: String,
    /// When it was pinned.
    pub pinned_at: DateTime<Utc>,
    /// Why, in words (the shrink it guards against, or the operator's note).
    pub reason: String,
}

impl State {
    /// Pins `archive` (again: the reason is replaced).
    pub fn pin(&self, archive: &str, reason: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO pins (archive, pinned_at, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT(archive) DO UPDATE SET pinned_at = ?2, reason = ?3",
            params![archive, ts(at), reason],
        )?;
        Ok(())
    }

    /// Unpins `archive`; false when it was not pinned.
    pub fn unpin(&self, archive: &str) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM pins WHERE archive = ?1", params![archive])? == 1)
    }

    /// Every pin, newest archive first.
    pub fn pins(&self) -> Result<Vec<Pin>> {
        let mut st = self.conn.prepare("SELECT archive, pinned_at, reason FROM pins ORDER BY archive DESC")?;
        let rows = st.query_map([], |r| {
            Ok(Pin { archive: r.get(0)?, pinned_at: time_at(r, 1, "pins", "pinned_at")?, reason: r.get(2)? })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::state::tests_support::{open, t};

    #[test]
    fn pin_repin_and_unpin() {
        let (_d, st) = open();
        st.pin("database_backup_20261122_100000.zip", "by hand", t(10, 0)).unwrap();
        st.pin("database_backup_20261122_100000.zip", "shrink of users.db", t(11, 0)).unwrap();
        let pins = st.pins().unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!((pins[0].reason.as_str(), pins[0].pinned_at), ("shrink of users.db", t(11, 0)));
        assert!(st.unpin("database_backup_20261122_100000.zip").unwrap());
        assert!(!st.unpin("database_backup_20261122_100000.zip").unwrap());
        assert!(st.pins().unwrap().is_empty());
    }
}
