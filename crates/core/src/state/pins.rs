//! Pinned archives: retention keeps them whatever its rules say, until
//! someone unpins them (`lifeboat unpin`, or "Acknowledge" on a shrink
//! alert). A shrink alert pins the last archive from before the shrink, so
//! the good data outlives the hourly archives of the emptied table.

use chrono::{DateTime, Utc};
use rusqlite::params;

use rusqlite::OptionalExtension;

use super::{Result, State, parsed, time_at, ts};
use strum::{EnumString, IntoStaticStr};

/// Who made a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum PinOrigin {
    /// `lifeboat pin`: only `lifeboat unpin` removes it.
    Hand,
    /// A shrink alert: its "Acknowledge" button may remove it too.
    ShrinkAlert,
}

impl PinOrigin {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What acknowledging a shrink alert did to its archive's pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledged {
    /// The alert's pin is gone.
    Unpinned,
    /// Nothing was pinned (acknowledged already, or `lifeboat unpin`).
    NotPinned,
    /// The pin was made by hand: it stays.
    PinnedByHand,
}

/// One pinned archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// Logical archive name.
    pub archive: String,
    /// When it was pinned.
    pub pinned_at: DateTime<Utc>,
    /// Why, in words (the shrink it guards against, or the operator's note).
    pub reason: String,
    pub origin: PinOrigin,
}

impl State {
    /// Pins `archive` (again: the reason is replaced). A pin made by hand
    /// stays one when a shrink alert pins the same archive.
    pub fn pin(&self, archive: &str, reason: &str, origin: PinOrigin, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT INTO pins (archive, pinned_at, reason, origin) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(archive) DO UPDATE SET pinned_at = ?2, reason = ?3,
                 origin = CASE WHEN origin = 'hand' THEN 'hand' ELSE ?4 END",
            params![archive, ts(at), reason, origin.as_str()],
        )?;
        Ok(())
    }

    /// "Acknowledge" under a shrink alert: removes the pin that alert made,
    /// never one made by hand.
    pub fn acknowledge_shrink_pin(&self, archive: &str) -> Result<Acknowledged> {
        let origin: Option<String> = self
            .conn
            .query_row("SELECT origin FROM pins WHERE archive = ?1", params![archive], |r| r.get(0))
            .optional()?;
        Ok(match origin.as_deref() {
            None => Acknowledged::NotPinned,
            Some("shrink-alert") => {
                self.conn
                    .execute("DELETE FROM pins WHERE archive = ?1 AND origin = 'shrink-alert'", params![archive])?;
                Acknowledged::Unpinned
            }
            Some(_) => Acknowledged::PinnedByHand,
        })
    }

    /// Unpins `archive`; false when it was not pinned.
    pub fn unpin(&self, archive: &str) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM pins WHERE archive = ?1", params![archive])? == 1)
    }

    /// Every pin, newest archive first.
    pub fn pins(&self) -> Result<Vec<Pin>> {
        let mut st = self.conn.prepare("SELECT archive, pinned_at, reason, origin FROM pins ORDER BY archive DESC")?;
        let rows = st.query_map([], |r| {
            Ok(Pin {
                archive: r.get(0)?,
                pinned_at: time_at(r, 1, "pins", "pinned_at")?,
                reason: r.get(2)?,
                origin: parsed(r, 3, "pins", "origin")?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::{Acknowledged, PinOrigin};
    use crate::state::tests_support::{open, t};

    #[test]
    fn pin_repin_and_unpin() {
        let (_d, st) = open();
        st.pin("database_backup_20261122_100000.zip", "by hand", PinOrigin::Hand, t(10, 0)).unwrap();
        st.pin("database_backup_20261122_100000.zip", "shrink of users.db", PinOrigin::ShrinkAlert, t(11, 0)).unwrap();
        let pins = st.pins().unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!((pins[0].reason.as_str(), pins[0].pinned_at), ("shrink of users.db", t(11, 0)));
        assert!(st.unpin("database_backup_20261122_100000.zip").unwrap());
        assert!(!st.unpin("database_backup_20261122_100000.zip").unwrap());
        assert!(st.pins().unwrap().is_empty());
    }

    #[test]
    fn acknowledging_removes_only_a_shrink_alerts_pin() {
        let (_d, st) = open();
        let (hand, alert) = ("database_backup_20261122_100000.zip", "database_backup_20261122_110000.zip");
        st.pin(hand, "legal hold", PinOrigin::Hand, t(10, 0)).unwrap();
        // A shrink alert on an archive pinned by hand leaves it pinned by hand.
        st.pin(hand, "shrink of users.db", PinOrigin::ShrinkAlert, t(10, 30)).unwrap();
        st.pin(alert, "shrink of users.db", PinOrigin::ShrinkAlert, t(11, 0)).unwrap();
        assert_eq!(st.acknowledge_shrink_pin(hand).unwrap(), Acknowledged::PinnedByHand);
        assert_eq!(st.acknowledge_shrink_pin(alert).unwrap(), Acknowledged::Unpinned);
        assert_eq!(st.acknowledge_shrink_pin(alert).unwrap(), Acknowledged::NotPinned);
        let pins = st.pins().unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!((pins[0].archive.as_str(), pins[0].origin), (hand, PinOrigin::Hand));
        assert!(st.unpin(hand).unwrap(), "lifeboat unpin still removes any pin");
    }
}
