//! When each stored archive was last read back in full, and how it went.
//! Each cycle re-verifies the archive verified longest ago, so the whole
//! folder is read over time and a disk that rots is noticed early.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Result, State, time_at, ts};

/// How a read-back's detail begins when the archive is sealed to
/// recipients this machine holds no key for: its bytes were read, its
/// contents could not be checked here, and it is not called damaged.
pub const CANNOT_OPEN_HERE: &str = "cannot open here";

/// The last full read of one archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Logical archive name.
    pub archive: String,
    pub verified_at: DateTime<Utc>,
    /// It verified.
    pub ok: bool,
    /// "ok" or what failed.
    pub detail: String,
}

impl Verification {
    /// Read back whole, but sealed to keys this machine does not hold.
    pub fn cannot_open_here(&self) -> bool {
        self.detail.starts_with(CANNOT_OPEN_HERE)
    }
}

impl State {
    /// Records a re-verification of `archive`.
    pub fn record_verification(&self, v: &Verification) -> Result<()> {
        self.conn.execute(
            "INSERT INTO verifications (archive, verified_at, ok, detail) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(archive) DO UPDATE SET verified_at = ?2, ok = ?3, detail = ?4",
            params![v.archive, ts(v.verified_at), v.ok, v.detail],
        )?;
        Ok(())
    }

    /// Every recorded re-verification, the most recent first.
    pub fn verifications(&self) -> Result<Vec<Verification>> {
        let mut st = self
            .conn
            .prepare("SELECT archive, verified_at, ok, detail FROM verifications ORDER BY verified_at DESC, archive")?;
        let rows = st.query_map([], |r| {
            Ok(Verification {
                archive: r.get(0)?,
                verified_at: time_at(r, 1, "verifications", "verified_at")?,
                ok: r.get(2)?,
                detail: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
