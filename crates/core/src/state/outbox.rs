//! The delivery outbox: one row per (file, recipient), the single source of
//! truth for what was confirmed sent.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Result, State, opt_parsed, opt_time_at, parsed, time_at, ts};
use strum::{EnumIter, EnumString, IntoStaticStr};

/// Delivery status of one (file, chat) row of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum DeliveryStatus {
    /// Not yet confirmed; retried next cycle.
    Pending,
    /// Confirmed by the destination.
    Delivered,
    /// Permanent failure (403, chat not found...): not retried.
    Failed,
    /// A newer archive reached this chat; this one is no longer owed.
    Superseded,
}

impl DeliveryStatus {
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

/// One row of the outbox.
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
    pub status: DeliveryStatus,
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
    pub status: DeliveryStatus,
    /// Why it failed, when it did.
    pub error_code: Option<FailureCode>,
    /// The same in words.
    pub last_error: Option<String>,
    /// When it changed.
    pub updated_at: DateTime<Utc>,
    /// When they last received something.
    pub last_delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLS: &str = "id, archive, file_name, part, parts, chat_id, status, attempts, error_code, last_error, \
     file_id, message_id, created_at, updated_at";

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        archive: r.get(1)?,
        file_name: r.get(2)?,
        part: r.get(3)?,
        parts: r.get(4)?,
        chat_id: r.get(5)?,
        status: parsed(r, 6, "deliveries", "status")?,
        attempts: r.get(7)?,
        error_code: opt_parsed(r, 8, "deliveries", "error_code")?,
        last_error: r.get(9)?,
        file_id: r.get(10)?,
        message_id: r.get(11)?,
        created_at: time_at(r, 12, "deliveries", "created_at")?,
        updated_at: time_at(r, 13, "deliveries", "updated_at")?,
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
            let mut st = tx.prepare(
                "INSERT OR IGNORE INTO deliveries (archive, file_name, part, parts, chat_id, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)",
            )?;
            for (file_name, part, parts) in files {
                for chat in chats {
                    st.execute(params![archive, file_name, part, parts, chat, ts(at)])?;
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
            "UPDATE deliveries SET status = 'pending', updated_at = ?3
             WHERE archive = ?1 AND chat_id = ?2 AND status IN ('failed', 'superseded')",
            params![archive, chat, ts(at)],
        )?;
        Ok(())
    }

    /// Whether `chat` received every part of `archive`.
    pub fn delivered_to(&self, archive: &str, chat: i64) -> Result<bool> {
        let (rows, delivered): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(status = 'delivered'), 0) FROM deliveries WHERE archive = ?1 AND chat_id = ?2",
            params![archive, chat],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(rows > 0 && rows == delivered)
    }

    /// Outbox rows by status.
    pub fn delivery_counts(&self) -> Result<Vec<(DeliveryStatus, u64)>> {
        let mut st = self.conn.prepare("SELECT status, COUNT(*) FROM deliveries GROUP BY status ORDER BY status")?;
        let rows = st.query_map([], |r| Ok((parsed(r, 0, "deliveries", "status")?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Pending rows, oldest archive first, parts in order.
    pub fn pending_deliveries(&self) -> Result<Vec<Delivery>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {} FROM deliveries WHERE status = 'pending' ORDER BY archive, part, chat_id",
            DELIVERY_COLS
        ))?;
        let rows = st.query_map([], delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every row of an archive.
    pub fn deliveries_for(&self, archive: &str) -> Result<Vec<Delivery>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {} FROM deliveries WHERE archive = ?1 ORDER BY part, chat_id", DELIVERY_COLS))?;
        let rows = st.query_map(params![archive], delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Confirmed by Telegram. Also marks this chat's older pending rows
    /// superseded once every part of this archive reached it.
    pub fn mark_delivered(&self, id: i64, file_id: &str, message_id: i64, at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, file_id = ?2, message_id = ?3,
             error_code = NULL, last_error = NULL, updated_at = ?4 WHERE id = ?1",
            params![id, file_id, message_id, ts(at)],
        )?;
        let (archive, chat): (String, i64) =
            tx.query_row("SELECT archive, chat_id FROM deliveries WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let remaining: i64 = tx.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE archive = ?1 AND chat_id = ?2 AND status != 'delivered'",
            params![archive, chat],
            |r| r.get(0),
        )?;
        if remaining == 0 {
            tx.execute(
                "UPDATE deliveries SET status = 'superseded', updated_at = ?3
                 WHERE chat_id = ?1 AND archive < ?2 AND status = 'pending'",
                params![chat, archive, ts(at)],
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
        self.conn.execute(
            "UPDATE deliveries SET status = ?2, attempts = attempts + 1, error_code = ?3, last_error = ?4, updated_at = ?5
             WHERE id = ?1",
            params![id, if permanent { DeliveryStatus::Failed } else { DeliveryStatus::Pending }.as_str(), code.as_str(), error, ts(at)],
        )?;
        Ok(())
    }

    /// Remembers the file_id of an uploaded file on every row of it that has
    /// none, so re-sends need no upload.
    pub fn remember_file_id(&self, file_name: &str, file_id: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE deliveries SET file_id = ?2 WHERE file_name = ?1 AND file_id IS NULL",
            params![file_name, file_id],
        )?;
        Ok(())
    }

    /// A known file_id of a file, if it was ever uploaded.
    pub fn file_id_for(&self, file_name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT file_id FROM deliveries WHERE file_name = ?1 AND file_id IS NOT NULL LIMIT 1",
                params![file_name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Archives still owed to a recipient or a store (retention keeps them).
    pub fn archives_awaiting_delivery(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT archive FROM deliveries WHERE status = 'pending'
             UNION SELECT archive FROM copies WHERE status = 'pending' ORDER BY archive",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Chats that received every part of an archive.
    pub fn delivered_chats(&self, archive: &str) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare(
            "SELECT chat_id FROM deliveries WHERE archive = ?1 GROUP BY chat_id
             HAVING SUM(status != 'delivered') = 0 ORDER BY chat_id",
        )?;
        let rows = st.query_map(params![archive], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Each chat's latest delivery outcome.
    pub fn admin_health(&self) -> Result<Vec<AdminHealth>> {
        let mut st = self.conn.prepare(
            "SELECT d.chat_id, d.status, d.error_code, d.last_error, d.updated_at,
                    (SELECT MAX(updated_at) FROM deliveries x WHERE x.chat_id = d.chat_id AND x.status = 'delivered')
             FROM deliveries d
             WHERE d.id = (SELECT id FROM deliveries y WHERE y.chat_id = d.chat_id AND y.status != 'superseded'
                           ORDER BY y.updated_at DESC, y.id DESC LIMIT 1)
             ORDER BY d.chat_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok(AdminHealth {
                chat_id: r.get(0)?,
                status: parsed(r, 1, "deliveries", "status")?,
                error_code: opt_parsed(r, 2, "deliveries", "error_code")?,
                last_error: r.get(3)?,
                updated_at: time_at(r, 4, "deliveries", "updated_at")?,
                last_delivered_at: opt_time_at(r, 5, "deliveries", "updated_at")?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops outbox rows of archives that no longer exist.
    pub fn forget_archive(&self, archive: &str) -> Result<()> {
        self.conn.execute("DELETE FROM deliveries WHERE archive = ?1 AND status != 'pending'", params![archive])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::{open, t};
    use strum::IntoEnumIterator;

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

    #[test]
    fn failure_codes_round_trip() {
        for c in FailureCode::iter() {
            assert_eq!(c.as_str().parse::<FailureCode>().ok(), Some(c));
        }
    }
}
