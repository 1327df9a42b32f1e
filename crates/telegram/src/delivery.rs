//! Delivery to the admins: what a run reports, queuing an archive in the
//! durable outbox, sending one file (uploaded once, then by its `file_id`,
//! with retry), alerts and the dashboard's re-send. Draining the outbox is
//! in `drain`.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::section::TelegramConfig;
use chrono::{DateTime, Utc};
use lifeboat_core::caption::{caption, manifest_of};
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::destination::Surroundings;
use lifeboat_core::state::{FailureCode, State, StateError};
use lifeboat_core::units::plural;
use tokio_util::sync::CancellationToken;

use crate::client::{SentDocument, Source, Telegram};
use crate::error::{FailureKind, SendError};
use crate::limits::{self, MESSAGE_LIMIT};

/// One file that reached one admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub chat_id: i64,
    /// The file (the ZIP or one part).
    pub file_name: String,
    /// Telegram's message id.
    pub message_id: i64,
    /// Uploaded (true) or sent by file_id.
    pub uploaded: bool,
}

/// One file that did not reach one admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub chat_id: i64,
    pub file_name: String,
    /// Why, as a code.
    pub code: FailureCode,
    /// Why, in words an admin can act on.
    pub reason: String,
    /// Not retried (403, chat not found, ...); otherwise it stays pending
    /// for the next cycle.
    pub permanent: bool,
}

/// What one [`Telegram::deliver_pending`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// No token configured: nothing was attempted, and that is no failure.
    pub disabled: bool,
    /// Confirmed by Telegram.
    pub delivered: Vec<Delivered>,
    /// Not delivered, per (admin, file).
    pub failures: Vec<Failure>,
    /// Rows left pending without an attempt (an earlier part not through,
    /// or stopped), per (admin, file).
    pub deferred: Vec<(i64, String)>,
    /// Problems not tied to one admin (state database, bad token).
    pub problems: Vec<String>,
    /// Stopped by the cancellation token.
    pub interrupted: bool,
}

impl DeliveryReport {
    /// The report when delivery is disabled (no token).
    pub fn disabled() -> DeliveryReport {
        DeliveryReport { disabled: true, ..Default::default() }
    }

    /// Everything owed was delivered (vacuously true when nothing was owed).
    pub fn is_complete(&self) -> bool {
        !self.disabled
            && !self.interrupted
            && self.failures.is_empty()
            && self.problems.is_empty()
            && self.deferred.is_empty()
    }

    /// Admins that received something.
    pub fn delivered_chats(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.delivered.iter().map(|d| d.chat_id).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// One line (or a few) for people.
    pub fn summary(&self) -> String {
        if self.disabled {
            return "delivery disabled (no telegram.token); archives are kept locally".into();
        }
        let mut s = String::new();
        let uploads = self.delivered.iter().filter(|d| d.uploaded).count();
        if self.delivered.is_empty() && self.failures.is_empty() && self.problems.is_empty() {
            s.push_str("nothing to deliver");
        } else {
            let _ = write!(
                s,
                "delivered {} to {} ({} uploaded, {} by file_id)",
                plural(self.delivered.len(), "file"),
                plural(self.delivered_chats().len(), "admin"),
                uploads,
                self.delivered.len() - uploads
            );
        }
        let mut seen = HashSet::new();
        for f in &self.failures {
            if seen.insert((f.chat_id, f.reason.clone())) {
                let when = if f.permanent { "not retried" } else { "retried next cycle" };
                let _ = write!(s, "; {} failed: {} ({when})", f.chat_id, f.reason);
            }
        }
        if !self.deferred.is_empty() {
            let _ = write!(s, "; {} left for the next cycle", plural(self.deferred.len(), "send"));
        }
        for p in &self.problems {
            let _ = write!(s, "; {p}");
        }
        if self.interrupted {
            s.push_str("; interrupted");
        }
        s
    }
}

/// Queues an archive for every admin: one outbox row per (file, admin),
/// the whole ZIP or each part (part i of n). Rows that exist stay as they are.
pub fn enqueue_archive(
    state: &State,
    section: &TelegramConfig,
    archive: &StoredArchive,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    state.enqueue_deliveries(&archive.name, &outbox_files(archive), &section.admin_ids, now)
}

/// An archive's files as outbox rows take them: `(file_name, part, parts)`.
pub(crate) fn outbox_files(archive: &StoredArchive) -> Vec<(String, u32, u32)> {
    let n = archive.files.len() as u32;
    archive.files.iter().enumerate().map(|(i, p)| (file_name_of(p), i as u32 + 1, n)).collect()
}

pub(crate) fn file_name_of(p: &std::path::Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}

/// How an alert went, per admin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertReport {
    /// Admins that got it.
    pub sent: Vec<i64>,
    /// Admins that did not, with why.
    pub failed: Vec<(i64, String)>,
    /// Those of `failed` that trying again will not reach as things are
    /// (the bot blocked or never started, a wrong id, a bad token), with why
    /// as a code.
    pub refused: Vec<(i64, FailureCode)>,
}

/// No admin received an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no admin received the alert: {}", .0.failed.iter().map(|(c, r)| format!("{c}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct AlertError(pub AlertReport);

impl From<AlertError> for lifeboat_core::destination::AlertError {
    /// Permanent when every admin refused it for good; the words are the
    /// same as [`AlertError`]'s.
    fn from(e: AlertError) -> Self {
        let message = e.to_string();
        let report = e.0;
        match report.refused.first() {
            Some(&(_, code)) if report.refused.len() == report.failed.len() => Self::permanent(code, message),
            _ => Self::transient(FailureCode::Transient, message),
        }
    }
}

/// A re-sent archive (the dashboard's "send me this backup").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resent {
    /// Per file, in order.
    pub files: Vec<SentDocument>,
}

impl Telegram {
    /// Sends one file to one chat with retry: by `file_id` when known (and
    /// by upload if Telegram no longer knows it), else by upload, which then
    /// sets `file_id`.
    pub(crate) async fn send_file(
        &self,
        chat: i64,
        path: &std::path::Path,
        file_name: &str,
        caption: &str,
        file_id: &mut Option<String>,
        cancel: &CancellationToken,
    ) -> Result<SentDocument, SendError> {
        if let Some(id) = file_id.clone() {
            let source = Source::FileId(&id);
            match self.with_retry("sendDocument", cancel, || self.send_document_once(chat, &source, caption)).await {
                Err(e) if e.kind == FailureKind::FileIdRejected => {
                    tracing::info!(file = %file_name, "{file_name}: file_id refused; uploading again");
                    *file_id = None;
                }
                other => return other,
            }
        }
        let source = Source::Upload(path, file_name);
        let sent = self.with_retry("sendDocument", cancel, || self.send_document_once(chat, &source, caption)).await?;
        *file_id = Some(sent.file_id.clone());
        Ok(sent)
    }

    /// Sends `text` to every admin (best effort, with retry; cut to
    /// Telegram's limit). Err only when admins are configured and none got it.
    pub async fn alert(&self, text: &str) -> Result<AlertReport, AlertError> {
        self.alert_with_button(text, None).await
    }

    /// [`Telegram::alert`] with a button under it (label, callback data for
    /// the dashboard).
    pub async fn alert_with_button(&self, text: &str, button: Option<(&str, &str)>) -> Result<AlertReport, AlertError> {
        let text = limits::fit(text, MESSAGE_LIMIT);
        let cancel = CancellationToken::new();
        let mut report = AlertReport::default();
        for &chat in &self.admins {
            match self.with_retry("sendMessage", &cancel, || self.send_text_once(chat, &text, button)).await {
                Ok(_) => report.sent.push(chat),
                Err(e) => {
                    tracing::warn!(chat, reason = %e.reason, "alert not delivered to {chat}: {}", e.reason);
                    if e.is_permanent() {
                        report.refused.push((chat, e.code));
                    }
                    report.failed.push((chat, e.reason));
                }
            }
        }
        if report.sent.is_empty() && !report.failed.is_empty() { Err(AlertError(report)) } else { Ok(report) }
    }

    /// Sends a whole archive (every part, in order) to one chat: the
    /// dashboard's re-send. Uses the known `file_id`s (no upload) and uploads
    /// only files Telegram does not have yet. `around` gives the archives'
    /// keys and the state database that remembers the `file_id`s.
    pub async fn send_archive_to(
        &self,
        around: &Surroundings,
        chat: i64,
        archive: &StoredArchive,
        cancel: &CancellationToken,
    ) -> Result<Resent, SendError> {
        let manifest = manifest_of(&around.keys, around.state().ok().as_ref(), archive);
        let mode = lifeboat_core::verify::seal_mode(archive);
        let n = archive.files.len() as u32;
        let mut out = Vec::new();
        for (i, path) in archive.files.iter().enumerate() {
            let file_name = file_name_of(path);
            let mut file_id = around.state().ok().and_then(|s| s.file_id_for(&file_name).ok().flatten());
            let text = caption(&archive.name, mode, manifest.as_ref(), archive.size, i as u32 + 1, n);
            let sent = self.send_file(chat, path, &file_name, &text, &mut file_id, cancel).await?;
            if sent.uploaded
                && let Ok(state) = around.state()
            {
                let _ = state.remember_file_id(&file_name, &sent.file_id);
            }
            out.push(sent);
        }
        Ok(Resent { files: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard runs these inside teloxide handlers and the scheduler
    /// may spawn them: their futures must be Send.
    #[allow(dead_code)]
    fn futures_are_send(tg: &Telegram, around: &Surroundings, cancel: &CancellationToken, a: &StoredArchive) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&tg.deliver_pending(around, cancel));
        is_send(&tg.alert("x"));
        is_send(&tg.send_archive_to(around, 1, a, &CancellationToken::new()));
    }

    #[test]
    fn an_alert_is_refused_for_good_only_when_every_admin_refused_it() {
        let report = AlertReport {
            sent: Vec::new(),
            failed: vec![(1, "blocked".into()), (2, "chat not found".into())],
            refused: vec![(1, FailureCode::Blocked), (2, FailureCode::ChatNotFound)],
        };
        let words = AlertError(report.clone()).to_string();
        let e = lifeboat_core::destination::AlertError::from(AlertError(report.clone()));
        assert_eq!((e.code, e.permanent, e.message), (FailureCode::Blocked, true, words));
        let one_may_pass = AlertReport { refused: vec![(1, FailureCode::Blocked)], ..report };
        let e = lifeboat_core::destination::AlertError::from(AlertError(one_may_pass));
        assert_eq!((e.code, e.permanent), (FailureCode::Transient, false));
    }
}
