//! The outbox: what each destination is owed, one row per (archive,
//! destination, unit), the single source of truth for what a destination
//! confirmed. The unit is what the destination counts on its own: a
//! recipient and a part for Telegram (see `telegram.rs`, which also keeps
//! Telegram's own details in a table of its own), the archive as a whole
//! for the destinations that take whole archives (S3-compatible buckets, a
//! Discord channel, a mailbox), whose rows this module reads and writes.
//!
//! A whole-archive row is `delivered` only once the destination confirmed
//! all of it; `retired` once local retention removed the archive, so the
//! store deletes its object too, and only then: a new server with an empty
//! folder never deletes anything off-site.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Result, State, opt_parsed, parsed, time_at, ts};
use crate::destination::DestinationId;
use strum::{EnumIter, EnumString, IntoStaticStr};

/// Where one row of the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum OutboxStatus {
    /// Not yet confirmed; tried again next cycle.
    Pending,
    /// Confirmed by the destination (a store: size and checksum too).
    Delivered,
    /// Refused for good (the words say why): not tried again.
    Failed,
    /// A newer archive reached this recipient; this one is no longer owed.
    Superseded,
    /// Local retention removed the archive: the store's copy goes too.
    Retired,
}

impl OutboxStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why a delivery failed, as a code: what the cycle's advice and the
/// dashboard's Health match on (the words in `last_error` are for people).
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString, EnumIter)]
#[strum(serialize_all = "kebab-case")]
pub enum FailureCode {
    /// The admin never opened the bot and pressed Start.
    NeverStarted,
    /// The admin blocked the bot.
    Blocked,
    /// The bot was removed from the chat.
    Kicked,
    /// The account is deleted.
    Deactivated,
    /// The id is another bot.
    BotRecipient,
    /// No such chat: a wrong id.
    ChatNotFound,
    /// The group became a supergroup with a new id.
    Migrated,
    /// No longer among the configured recipients.
    NotRecipient,
    /// The file is larger than the destination takes.
    FileTooLarge,
    /// The file could not be read.
    FileUnreadable,
    /// The destination refused Lifeboat's credentials.
    BadCredentials,
    /// Network trouble, a server error, a rate limit: retried.
    Transient,
    /// Refused for another reason (the words say which).
    Refused,
    /// A differential whose base is no longer on disk and never reached
    /// this recipient: it would be no restore point there.
    BaseMissing,
}

impl FailureCode {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One whole-archive row of the outbox: an archive owed to a destination
/// that takes it as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    /// Logical archive name.
    pub archive: String,
    /// The destination, e.g. `s3:offsite`.
    pub destination: DestinationId,
    /// Where it stands.
    pub status: OutboxStatus,
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
        destination: parsed(r, 1, "outbox", "destination")?,
        status: parsed(r, 2, "outbox", "status")?,
        attempts: r.get(3)?,
        error_code: opt_parsed(r, 4, "outbox", "error_code")?,
        last_error: r.get(5)?,
        size: r.get::<_, Option<i64>>(6)?.map(|n| n.max(0) as u64),
        updated_at: time_at(r, 7, "outbox", "updated_at")?,
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

/// The rows whose unit is the archive as a whole.
const WHOLE: &str = "recipient = '' AND part = 0";

impl State {
    /// Archives still owed to a recipient or a store (retention keeps them).
    pub fn archives_awaiting_delivery(&self) -> Result<Vec<String>> {
        let mut st =
            self.conn.prepare("SELECT DISTINCT archive FROM outbox WHERE status = 'pending' ORDER BY archive")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Owes `archive` to `destination` (nothing changes if it is owed or sent already).
    pub(crate) fn enqueue_copy(&self, archive: &str, destination: &DestinationId, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO outbox (archive, destination, status, created_at, updated_at)
             VALUES (?1, ?2, 'pending', ?3, ?3)",
            params![archive, destination, ts(at)],
        )?;
        Ok(())
    }

    /// Owes `archive` to `destination` again: a missing row is added, a
    /// failed one is pending again. A differential's base goes this way to
    /// a destination that lacks it.
    pub(crate) fn owe_copy(&self, archive: &str, destination: &DestinationId, at: DateTime<Utc>) -> Result<()> {
        self.enqueue_copy(archive, destination, at)?;
        self.conn.execute(
            &format!(
                "UPDATE outbox SET status = 'pending', progress = 0, updated_at = ?3
                 WHERE archive = ?1 AND destination = ?2 AND {WHOLE} AND status = 'failed'"
            ),
            params![archive, destination, ts(at)],
        )?;
        Ok(())
    }

    /// Where `archive` stands at `destination` (None: never owed there).
    pub(crate) fn copy_status(&self, archive: &str, destination: &DestinationId) -> Result<Option<OutboxStatus>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT status FROM outbox WHERE archive = ?1 AND destination = ?2 AND {WHOLE}"),
                params![archive, destination],
                |r| parsed(r, 0, "outbox", "status"),
            )
            .optional()?)
    }

    /// `destination`'s rows in `status`, oldest archive first.
    pub fn copies(&self, destination: &DestinationId, status: OutboxStatus) -> Result<Vec<Copy>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM outbox WHERE destination = ?1 AND {WHOLE} AND status = ?2 ORDER BY archive"
        ))?;
        let rows = st.query_map(params![destination, status.as_str()], copy_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every whole-archive destination's row for `archive`.
    pub fn copies_of(&self, archive: &str) -> Result<Vec<Copy>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {COLS} FROM outbox WHERE archive = ?1 AND {WHOLE} ORDER BY destination"))?;
        let rows = st.query_map(params![archive], copy_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The store confirmed `size` bytes of `archive`.
    pub(crate) fn mark_copied(
        &self,
        archive: &str,
        destination: &DestinationId,
        size: u64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            &format!(
                "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, size = ?3, error_code = NULL,
                        last_error = NULL, updated_at = ?4
                 WHERE archive = ?1 AND destination = ?2 AND {WHOLE} AND status = 'pending'"
            ),
            params![archive, destination, size as i64, ts(at)],
        )?;
        Ok(())
    }

    /// An attempt failed; `permanent` ones are not tried again.
    pub(crate) fn mark_copy_failed(
        &self,
        archive: &str,
        destination: &DestinationId,
        code: FailureCode,
        error: &str,
        permanent: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let status = if permanent { OutboxStatus::Failed } else { OutboxStatus::Pending }.as_str();
        self.conn.execute(
            &format!(
                "UPDATE outbox SET status = ?3, attempts = attempts + 1, error_code = ?4, last_error = ?5, updated_at = ?6
                 WHERE archive = ?1 AND destination = ?2 AND {WHOLE} AND status = 'pending'"
            ),
            params![archive, destination, status, code.as_str(), error, ts(at)],
        )?;
        Ok(())
    }

    /// The destination confirmed the first `parts` parts of `archive`.
    pub(crate) fn record_copy_progress(&self, archive: &str, destination: &DestinationId, parts: u32) -> Result<()> {
        self.conn.execute(
            &format!(
                "UPDATE outbox SET progress = ?3
                 WHERE archive = ?1 AND destination = ?2 AND {WHOLE} AND status = 'pending'"
            ),
            params![archive, destination, parts],
        )?;
        Ok(())
    }

    /// Local retention removed `archive`: every store's copy is to go too.
    pub(crate) fn retire_copies(&self, archive: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn.execute(
            &format!("UPDATE outbox SET status = 'retired', updated_at = ?2 WHERE archive = ?1 AND {WHOLE}"),
            params![archive, ts(at)],
        )?;
        Ok(())
    }

    /// The store deleted its copy of a retired archive.
    pub(crate) fn forget_copy(&self, archive: &str, destination: &DestinationId) -> Result<()> {
        self.conn.execute(
            &format!("DELETE FROM outbox WHERE archive = ?1 AND destination = ?2 AND {WHOLE} AND status = 'retired'"),
            params![archive, destination],
        )?;
        Ok(())
    }

    /// Whole-archive rows per (destination, status).
    pub fn copy_counts(&self) -> Result<Vec<(DestinationId, OutboxStatus, u64)>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT destination, status, COUNT(*) FROM outbox WHERE {WHOLE}
             GROUP BY destination, status ORDER BY destination, status"
        ))?;
        let rows = st.query_map([], |r| {
            Ok((
                parsed(r, 0, "outbox", "destination")?,
                parsed(r, 1, "outbox", "status")?,
                r.get::<_, i64>(2)?.max(0) as u64,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `destination`'s latest whole-archive row: how its last attempt went.
    pub fn latest_copy(&self, destination: &DestinationId) -> Result<Option<Copy>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {COLS} FROM outbox WHERE destination = ?1 AND {WHOLE} AND status != 'retired'
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
    use strum::IntoEnumIterator;

    use OutboxStatus as CopyStatus;

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

    #[test]
    fn failure_codes_round_trip() {
        for c in FailureCode::iter() {
            assert_eq!(c.as_str().parse::<FailureCode>().ok(), Some(c));
        }
    }
}
