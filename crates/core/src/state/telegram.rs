//! Telegram's rows of the outbox: one per (archive, admin, part), whose
//! unit is a recipient chat and a part. What only Telegram reads (the file
//! sent, Telegram's `file_id` of it once uploaded, the message that carried
//! it) lives in Telegram's own table, `telegram_files`, one row per outbox
//! row, not in the outbox's generic columns.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::outbox::{FailureCode, OutboxStatus};
use super::{Result, State, opt_parsed, opt_time_at, parsed, time_at, ts};
use crate::destination::DestinationId;

/// One of Telegram's rows of the outbox: a file (the whole ZIP or a part)
/// owed to one chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    /// Logical archive name.
    pub archive: String,
    /// The file sent (whole ZIP or part).
    pub file_name: String,
    /// 1-based part number.
    pub part: u32,
    /// Number of parts.
    pub parts: u32,
    pub chat_id: i64,
    pub status: OutboxStatus,
    /// Attempts so far, over all cycles.
    pub attempts: u32,
    /// Why the last attempt failed, when it did.
    pub error_code: Option<FailureCode>,
    /// The same in words.
    pub last_error: Option<String>,
    /// Telegram's file_id once uploaded.
    pub file_id: Option<String>,
    /// Telegram's message id once delivered.
    pub message_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One admin's delivery health: their latest delivery outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminHealth {
    pub chat_id: i64,
    /// Status of their latest delivery row.
    pub status: OutboxStatus,
    /// Why it failed, when it did.
    pub error_code: Option<FailureCode>,
    /// The same in words.
    pub last_error: Option<String>,
    /// When it changed.
    pub updated_at: DateTime<Utc>,
    /// When they last received something.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

/// Telegram's rows: the outbox's, with Telegram's own details beside them.
/// The chat is the row's recipient.
const ROWS: &str = "outbox o JOIN telegram_files f ON f.outbox_id = o.id";

const DELIVERY_COLS: &str = "o.id, o.archive, f.file_name, o.part, f.parts, CAST(o.recipient AS INTEGER), o.status, \
     o.attempts, o.error_code, o.last_error, f.file_id, f.message_id, o.created_at, o.updated_at";

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        archive: r.get(1)?,
        file_name: r.get(2)?,
        part: r.get(3)?,
        parts: r.get(4)?,
        chat_id: r.get(5)?,
        status: parsed(r, 6, "outbox", "status")?,
        attempts: r.get(7)?,
        error_code: opt_parsed(r, 8, "outbox", "error_code")?,
        last_error: r.get(9)?,
        file_id: r.get(10)?,
        message_id: r.get(11)?,
        created_at: time_at(r, 12, "outbox", "created_at")?,
        updated_at: time_at(r, 13, "outbox", "updated_at")?,
    })
}

impl State {
    /// Adds one pending row per (file, chat). Files are `(file_name, part,
    /// parts)`. Rows that exist already are left as they are.
    pub fn enqueue_deliveries(
        &self,
        archive: &str,
        files: &[(String, u32, u32)],
        chats: &[i64],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut row = tx.prepare(
                "INSERT OR IGNORE INTO outbox (archive, destination, recipient, part, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
            )?;
            let mut details = tx.prepare(
                "INSERT INTO telegram_files (outbox_id, file_name, parts) VALUES (last_insert_rowid(), ?1, ?2)",
            )?;
            for (file_name, part, parts) in files {
                for chat in chats {
                    let added =
                        row.execute(params![archive, DestinationId::TELEGRAM, chat.to_string(), part, ts(at)])?;
                    if added == 1 {
                        details.execute(params![file_name, parts])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Owes `archive` to `chat` again: missing rows are added, failed or
    /// superseded ones are pending again, delivered ones stay delivered. A
    /// differential's base goes this way to a chat that lacks it.
    pub fn owe_delivery(
        &self,
        archive: &str,
        files: &[(String, u32, u32)],
        chat: i64,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.enqueue_deliveries(archive, files, &[chat], at)?;
        self.conn.execute(
            "UPDATE outbox SET status = 'pending', updated_at = ?4
             WHERE archive = ?1 AND destination = ?2 AND recipient = ?3 AND status IN ('failed', 'superseded')",
            params![archive, DestinationId::TELEGRAM, chat.to_string(), ts(at)],
        )?;
        Ok(())
    }

    /// Whether `chat` received every part of `archive`.
    pub fn delivered_to(&self, archive: &str, chat: i64) -> Result<bool> {
        let (rows, delivered): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(status = 'delivered'), 0) FROM outbox
             WHERE archive = ?1 AND destination = ?2 AND recipient = ?3",
            params![archive, DestinationId::TELEGRAM, chat.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(rows > 0 && rows == delivered)
    }

    /// Telegram's rows by status.
    pub fn delivery_counts(&self) -> Result<Vec<(OutboxStatus, u64)>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT o.status, COUNT(*) FROM {ROWS} WHERE o.destination = ?1 GROUP BY o.status ORDER BY o.status"
        ))?;
        let rows = st.query_map(params![DestinationId::TELEGRAM], |r| {
            Ok((parsed(r, 0, "outbox", "status")?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Pending rows, oldest archive first, parts in order.
    pub fn pending_deliveries(&self) -> Result<Vec<Delivery>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {DELIVERY_COLS} FROM {ROWS} WHERE o.destination = ?1 AND o.status = 'pending'
             ORDER BY o.archive, o.part, CAST(o.recipient AS INTEGER)"
        ))?;
        let rows = st.query_map(params![DestinationId::TELEGRAM], delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every row of an archive.
    pub fn deliveries_for(&self, archive: &str) -> Result<Vec<Delivery>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {DELIVERY_COLS} FROM {ROWS} WHERE o.destination = ?1 AND o.archive = ?2
             ORDER BY o.part, CAST(o.recipient AS INTEGER)"
        ))?;
        let rows = st.query_map(params![DestinationId::TELEGRAM, archive], delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Confirmed by Telegram. Also marks this chat's older pending rows
    /// superseded once every part of this archive reached it.
    pub fn mark_delivered(&self, id: i64, file_id: &str, message_id: i64, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, error_code = NULL, last_error = NULL,
             updated_at = ?2 WHERE id = ?1",
            params![id, ts(at)],
        )?;
        tx.execute(
            "UPDATE telegram_files SET file_id = ?2, message_id = ?3 WHERE outbox_id = ?1",
            params![id, file_id, message_id],
        )?;
        let (archive, chat): (String, String) =
            tx.query_row("SELECT archive, recipient FROM outbox WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let remaining: i64 = tx.query_row(
            "SELECT COUNT(*) FROM outbox WHERE archive = ?1 AND destination = ?2 AND recipient = ?3
             AND status != 'delivered'",
            params![archive, DestinationId::TELEGRAM, chat],
            |r| r.get(0),
        )?;
        if remaining == 0 {
            tx.execute(
                "UPDATE outbox SET status = 'superseded', updated_at = ?4
                 WHERE destination = ?1 AND recipient = ?2 AND archive < ?3 AND status = 'pending'",
                params![DestinationId::TELEGRAM, chat, archive, ts(at)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// An attempt failed, for reason `code` (`error` in words). `permanent`
    /// ends the row (not retried).
    pub fn mark_failed(
        &self,
        id: i64,
        code: FailureCode,
        error: &str,
        permanent: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let status = if permanent { OutboxStatus::Failed } else { OutboxStatus::Pending };
        self.conn.execute(
            "UPDATE outbox SET status = ?2, attempts = attempts + 1, error_code = ?3, last_error = ?4, updated_at = ?5
             WHERE id = ?1",
            params![id, status.as_str(), code.as_str(), error, ts(at)],
        )?;
        Ok(())
    }

    /// Remembers the file_id of an uploaded file on every row of it that has
    /// none, so re-sends need no upload.
    pub fn remember_file_id(&self, file_name: &str, file_id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE telegram_files SET file_id = ?2 WHERE file_name = ?1 AND file_id IS NULL",
            params![file_name, file_id],
        )?;
        Ok(())
    }

    /// A known file_id of a file, if it was ever uploaded.
    pub fn file_id_for(&self, file_name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT file_id FROM telegram_files WHERE file_name = ?1 AND file_id IS NOT NULL LIMIT 1",
                params![file_name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Chats that received every part of an archive.
    pub fn delivered_chats(&self, archive: &str) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare(
            "SELECT CAST(recipient AS INTEGER) AS chat FROM outbox WHERE archive = ?1 AND destination = ?2
             GROUP BY recipient HAVING SUM(status != 'delivered') = 0 ORDER BY chat",
        )?;
        let rows = st.query_map(params![archive, DestinationId::TELEGRAM], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Each chat's latest delivery outcome.
    pub fn admin_health(&self) -> Result<Vec<AdminHealth>> {
        let mut st = self.conn.prepare(
            "SELECT CAST(d.recipient AS INTEGER) AS chat, d.status, d.error_code, d.last_error, d.updated_at,
                    (SELECT MAX(updated_at) FROM outbox x
                     WHERE x.destination = d.destination AND x.recipient = d.recipient AND x.status = 'delivered')
             FROM outbox d
             WHERE d.destination = ?1
               AND d.id = (SELECT id FROM outbox y
                           WHERE y.destination = d.destination AND y.recipient = d.recipient AND y.status != 'superseded'
                           ORDER BY y.updated_at DESC, y.id DESC LIMIT 1)
             ORDER BY chat",
        )?;
        let rows = st.query_map(params![DestinationId::TELEGRAM], |r| {
            Ok(AdminHealth {
                chat_id: r.get(0)?,
                status: parsed(r, 1, "outbox", "status")?,
                error_code: opt_parsed(r, 2, "outbox", "error_code")?,
                last_error: r.get(3)?,
                updated_at: time_at(r, 4, "outbox", "updated_at")?,
                last_delivered_at: opt_time_at(r, 5, "outbox", "updated_at")?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops Telegram's rows of an archive that no longer exists (a
    /// message once sent stays sent; nothing is owed any more). Part of
    /// [`State::archive_removed`]'s transaction.
    pub(super) fn forget_telegram_rows(&self, archive: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM telegram_files WHERE outbox_id IN
             (SELECT id FROM outbox WHERE archive = ?1 AND destination = ?2 AND status != 'pending')",
            params![archive, DestinationId::TELEGRAM],
        )?;
        self.conn.execute(
            "DELETE FROM outbox WHERE archive = ?1 AND destination = ?2 AND status != 'pending'",
            params![archive, DestinationId::TELEGRAM],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::{open, t};

    use OutboxStatus as DeliveryStatus;

    #[test]
    fn outbox_lifecycle_and_superseding() {
        let (_d, s) = open();
        s.enqueue_deliveries("a.zip", &[("a.zip".into(), 1, 1)], &[1, 2], t(1, 0)).unwrap();
        s.enqueue_deliveries("b.zip", &[("b.zip".into(), 1, 1)], &[1, 2], t(2, 0)).unwrap();
        // Enqueuing again changes nothing.
        s.enqueue_deliveries("b.zip", &[("b.zip".into(), 1, 1)], &[1, 2], t(2, 0)).unwrap();
        assert_eq!(s.pending_deliveries().unwrap().len(), 4);
        let b1 = s.deliveries_for("b.zip").unwrap().into_iter().find(|d| d.chat_id == 1).unwrap();
        s.mark_delivered(b1.id, "FID", 7, t(2, 1)).unwrap();
        // a.zip to chat 1 is superseded by b.zip.
        let pending = s.pending_deliveries().unwrap();
        assert_eq!(pending.iter().filter(|d| d.chat_id == 1).count(), 0);
        assert_eq!(s.file_id_for("b.zip").unwrap().as_deref(), Some("FID"));
        let b2 = s.deliveries_for("b.zip").unwrap().into_iter().find(|d| d.chat_id == 2).unwrap();
        s.mark_failed(b2.id, FailureCode::Blocked, "Forbidden: bot was blocked by the user", true, t(2, 2)).unwrap();
        assert_eq!(s.delivered_chats("b.zip").unwrap(), vec![1]);
        assert_eq!(s.archives_awaiting_delivery().unwrap(), vec!["a.zip".to_string()]);
        let health = s.admin_health().unwrap();
        assert_eq!(health.len(), 2);
        assert_eq!(health[0].status, DeliveryStatus::Delivered);
        assert_eq!(health[1].status, DeliveryStatus::Failed);
        assert_eq!(health[1].error_code, Some(FailureCode::Blocked));
        assert!(health[1].last_error.as_deref().unwrap().contains("blocked"));
    }
}
