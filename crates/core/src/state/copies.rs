//! The outbox of destinations that take whole archives (S3-compatible
//! buckets, a Discord channel, a mailbox): one row per (archive,
//! destination). A copy is `delivered` only once the destination confirmed
//! all of it; `retired` once local retention removed the
//! archive, so the store deletes its object too, and only then: a new
//! server with an empty folder never deletes anything off-site.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::outbox::FailureCode;
use super::{Result, State, opt_parsed, parsed, time_at, ts};
use crate::destination::DestinationId;
use strum::{EnumString, IntoStaticStr};

/// Where one archive's off-site copy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum CopyStatus {
    /// Not yet confirmed; tried again next cycle.
    Pending,
    /// The store holds it, size and checksum confirmed.
    Delivered,
    /// Refused for good (the words say why).
    Failed,
    /// Local retention removed the archive: the store's copy goes too.
    Retired,
}

impl CopyStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One row of the off-site outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    /// Logical archive name.
    pub archive: String,
    /// The destination, e.g. `s3:offsite`.
    pub destination: DestinationId,
    /// Where it stands.
    pub status: CopyStatus,
    /// Attempts over all cycles.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub error_code: Option<FailureCode>,
    /// The same in words.
    pub last_error: Option<String>,
    /// Bytes the store confirmed.
    pub size: Option<u64>,
    /// Parts confirmed so far of a copy still pending.
    pub progress: u32,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn copy_from_row(r: &Row<'_>) -> rusqlite::Result<Copy> {
    Ok(Copy {
        archive: r.get(0)?,
        destination: parsed(r, 1, "copies", "destination")?,
        status: parsed(r, 2, "copies", "status")?,
        attempts: r.get(3)?,
        error_code: opt_parsed(r, 4, "copies", "error_code")?,
        last_error: r.get(5)?,
        size: r.get::<_, Option<i64>>(6)?.map(|n| n.max(0) as u64),
        updated_at: time_at(r, 7, "copies", "updated_at")?,
        progress: r.get(8)?,
    })
}

/// Stored as written: `s3:offsite`, `email`.
impl rusqlite::ToSql for DestinationId {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
    }
}

const COLS: &str = "archive, destination, status, attempts, error_code, last_error, size, updated_at, progress";

impl State {
    /// Owes `archive` to `destination` (nothing changes if it is owed or sent already).
    pub fn enqueue_copy(&self, archive: &str, destination: &DestinationId, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO copies (archive, destination, status, created_at, updated_at)
             VALUES (?1, ?2, 'pending', ?3, ?3)",
            params![archive, destination, ts(at)],
        )?;
        Ok(())
    }

    /// Owes `archive` to `destination` again: a missing row is added, a
    /// failed one is pending again. A differential's base goes this way to
    /// a destination that lacks it.
    pub fn owe_copy(&self, archive: &str, destination: &DestinationId, at: DateTime<Utc>) -> Result<()> {
        self.enqueue_copy(archive, destination, at)?;
        self.conn.execute(
            "UPDATE copies SET status = 'pending', progress = 0, updated_at = ?3
             WHERE archive = ?1 AND destination = ?2 AND status = 'failed'",
            params![archive, destination, ts(at)],
        )?;
        Ok(())
    }

    /// Where `archive` stands at `destination` (None: never owed there).
    pub fn copy_status(&self, archive: &str, destination: &DestinationId) -> Result<Option<CopyStatus>> {
        Ok(self
            .conn
            .query_row(
                "SELECT status FROM copies WHERE archive = ?1 AND destination = ?2",
                params![archive, destination],
                |r| parsed(r, 0, "copies", "status"),
            )
            .optional()?)
    }

    /// `destination`'s rows in `status`, oldest archive first.
    pub fn copies(&self, destination: &DestinationId, status: CopyStatus) -> Result<Vec<Copy>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM copies WHERE destination = ?1 AND status = ?2 ORDER BY archive"))?;
        let rows = st.query_map(params![destination, status.as_str()], copy_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every destination's row for `archive`.
    pub fn copies_of(&self, archive: &str) -> Result<Vec<Copy>> {
        let mut st =
            self.conn.prepare(&format!("SELECT {COLS} FROM copies WHERE archive = ?1 ORDER BY destination"))?;
        let rows = st.query_map(params![archive], copy_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The store confirmed `size` bytes of `archive`.
    pub fn mark_copied(&self, archive: &str, destination: &DestinationId, size: u64, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE copies SET status = 'delivered', attempts = attempts + 1, size = ?3, error_code = NULL,
                    last_error = NULL, updated_at = ?4
             WHERE archive = ?1 AND destination = ?2 AND status = 'pending'",
            params![archive, destination, size as i64, ts(at)],
        )?;
        Ok(())
    }

    /// An attempt failed; `permanent` ones are not tried again.
    pub fn mark_copy_failed(
        &self,
        archive: &str,
        destination: &DestinationId,
        code: FailureCode,
        error: &str,
        permanent: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let status = if permanent { CopyStatus::Failed } else { CopyStatus::Pending }.as_str();
        self.conn.execute(
            "UPDATE copies SET status = ?3, attempts = attempts + 1, error_code = ?4, last_error = ?5, updated_at = ?6
             WHERE archive = ?1 AND destination = ?2 AND status = 'pending'",
            params![archive, destination, status, code.as_str(), error, ts(at)],
        )?;
        Ok(())
    }

    /// The destination confirmed the first `parts` parts of `archive`.
    pub fn record_copy_progress(&self, archive: &str, destination: &DestinationId, parts: u32) -> Result<()> {
        self.conn.execute(
            "UPDATE copies SET progress = ?3 WHERE archive = ?1 AND destination = ?2 AND status = 'pending'",
            params![archive, destination, parts],
        )?;
        Ok(())
    }

    /// Local retention removed `archive`: every store's copy is to go too.
    pub fn retire_copies(&self, archive: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "UPDATE copies SET status = 'retired', updated_at = ?2 WHERE archive = ?1",
            params![archive, ts(at)],
        )?;
        Ok(())
    }

    /// The store deleted its copy of a retired archive.
    pub fn forget_copy(&self, archive: &str, destination: &DestinationId) -> Result<()> {
        self.conn.execute(
            "DELETE FROM copies WHERE archive = ?1 AND destination = ?2 AND status = 'retired'",
            params![archive, destination],
        )?;
        Ok(())
    }

    /// Rows per (destination, status).
    pub fn copy_counts(&self) -> Result<Vec<(DestinationId, CopyStatus, u64)>> {
        let mut st = self.conn.prepare(
            "SELECT destination, status, COUNT(*) FROM copies GROUP BY destination, status ORDER BY destination, status",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                parsed(r, 0, "copies", "destination")?,
                parsed(r, 1, "copies", "status")?,
                r.get::<_, i64>(2)?.max(0) as u64,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `destination`'s latest row: how its last attempt went.
    pub fn latest_copy(&self, destination: &DestinationId) -> Result<Option<Copy>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLS} FROM copies WHERE destination = ?1 AND status != 'retired'
                     ORDER BY updated_at DESC, archive DESC LIMIT 1"
                ),
                params![destination],
                copy_from_row,
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::{open, t};

    fn x() -> DestinationId {
        DestinationId::s3("x")
    }

    #[test]
    fn copies_are_owed_confirmed_and_retired() {
        let (_d, s) = open();
        s.enqueue_copy("a.zip", &x(), t(1, 0)).unwrap();
        s.enqueue_copy("b.zip", &x(), t(2, 0)).unwrap();
        s.enqueue_copy("b.zip", &x(), t(2, 0)).unwrap();
        assert_eq!(s.copies(&x(), CopyStatus::Pending).unwrap().len(), 2);
        assert_eq!(s.archives_awaiting_delivery().unwrap(), vec!["a.zip".to_string(), "b.zip".to_string()]);
        s.mark_copy_failed("a.zip", &x(), FailureCode::Transient, "connection refused", false, t(2, 1)).unwrap();
        s.mark_copied("b.zip", &x(), 42, t(2, 2)).unwrap();
        let a = &s.copies(&x(), CopyStatus::Pending).unwrap()[0];
        assert_eq!((a.archive.as_str(), a.attempts, a.error_code), ("a.zip", 1, Some(FailureCode::Transient)));
        assert_eq!(s.latest_copy(&x()).unwrap().unwrap().status, CopyStatus::Delivered);
        s.retire_copies("b.zip", t(3, 0)).unwrap();
        assert_eq!(s.copies(&x(), CopyStatus::Retired).unwrap()[0].size, Some(42));
        assert_eq!(s.copy_counts().unwrap(), vec![(x(), CopyStatus::Pending, 1), (x(), CopyStatus::Retired, 1)]);
        s.forget_copy("b.zip", &x()).unwrap();
        assert!(s.copies_of("b.zip").unwrap().is_empty());
    }
}
