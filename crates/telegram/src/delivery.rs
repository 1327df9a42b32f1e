//! Draining the durable outbox: each file uploaded once, then sent to every
//! other admin by its `file_id`; transient failures retried, permanent ones
//! recorded per admin; a row is delivered only once Telegram returned the
//! message. Also alerts and the dashboard's re-send.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use lifeboat_core::catalog::{self, StoredArchive};
use lifeboat_core::config::Config;
use lifeboat_core::manifest::Manifest;
use lifeboat_core::state::{Delivery, FailureCode, Level, State, StateError};
use lifeboat_core::units::plural;
use tokio_util::sync::CancellationToken;

use crate::caption::caption;
use crate::client::{SentDocument, Source, Telegram};
use crate::error::{FailureKind, SendError};
use crate::limits::{self, MESSAGE_LIMIT};

/// One file that reached one admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The admin.
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
    /// The admin.
    pub chat_id: i64,
    /// The file.
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

/// Records a failed row (pending again when transient) and reports it.
fn fail(
    state: &State,
    report: &mut DeliveryReport,
    row_id: i64,
    chat: i64,
    file_name: &str,
    why: &SendError,
    permanent: bool,
) {
    if let Err(e) = state.mark_failed(row_id, why.code, &why.reason, permanent, Utc::now()) {
        report.problems.push(format!("cannot record a delivery failure: {e}"));
    }
    report.failures.push(Failure {
        chat_id: chat,
        file_name: file_name.to_string(),
        code: why.code,
        reason: why.reason.clone(),
        permanent,
    });
}

/// Queues an archive for every admin: one outbox row per (file, admin),
/// the whole ZIP or each part (part i of n). Rows that exist stay as they are.
pub fn enqueue_archive(
    state: &State,
    cfg: &Config,
    archive: &StoredArchive,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let n = archive.files.len() as u32;
    let files: Vec<(String, u32, u32)> =
        archive.files.iter().enumerate().map(|(i, p)| (file_name_of(p), i as u32 + 1, n)).collect();
    state.enqueue_deliveries(&archive.name, &files, &cfg.telegram.admin_ids, now)
}

fn file_name_of(p: &std::path::Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads an archive's manifest for captions; a caption without it is still
/// useful, so failure is only logged.
fn manifest_of(archive: &StoredArchive) -> Option<Manifest> {
    match lifeboat_core::verify::read_manifest(archive) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(archive = %archive.name, "cannot read the manifest for the caption: {e}");
            None
        }
    }
}

struct ArchiveInfo {
    stored: Option<StoredArchive>,
    manifest: Option<Manifest>,
}

impl ArchiveInfo {
    fn load(cfg: &Config, name: &str) -> ArchiveInfo {
        match catalog::resolve(&cfg.backup.output_dir, name) {
            Ok(stored) => {
                let manifest = manifest_of(&stored);
                ArchiveInfo { stored: Some(stored), manifest }
            }
            Err(e) => {
                tracing::warn!(archive = name, "archive not found for delivery: {e}");
                ArchiveInfo { stored: None, manifest: None }
            }
        }
    }
    fn path_of(&self, file_name: &str) -> Option<PathBuf> {
        self.stored.as_ref()?.files.iter().find(|p| file_name_of(p) == file_name).cloned()
    }
}

/// How an alert went, per admin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertReport {
    /// Admins that got it.
    pub sent: Vec<i64>,
    /// Admins that did not, with why.
    pub failed: Vec<(i64, String)>,
}

/// No admin received an alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no admin received the alert: {}", .0.failed.iter().map(|(c, r)| format!("{c}: {r}")).collect::<Vec<_>>().join("; "))]
pub struct AlertError(pub AlertReport);

/// A re-sent archive (the dashboard's "send me this backup").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resent {
    /// Per file, in order.
    pub files: Vec<SentDocument>,
}

impl Telegram {
    /// Drains the outbox: for each pending file (oldest archive first, parts
    /// in order), uploads it once — to the first admin that accepts — then
    /// sends it to the others by `file_id` (a `file_id` known from earlier
    /// cycles is reused instead of uploading again). Transient failures are
    /// retried per `[retry]`; what is still not through stays pending for the
    /// next cycle. One admin's failure never stops the others. Never fails:
    /// everything that went wrong is in the report.
    pub async fn deliver_pending(&self, cfg: &Config, cancel: &CancellationToken) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let state = match State::open_for(cfg) {
            Ok(s) => s,
            Err(e) => {
                report.problems.push(format!("cannot open the state database: {e}"));
                return report;
            }
        };
        let rows = match state.pending_deliveries() {
            Ok(r) => r,
            Err(e) => {
                report.problems.push(format!("cannot read the delivery outbox: {e}"));
                return report;
            }
        };
        // Files in outbox order (archive, part), each with its rows.
        let mut files: Vec<(String, Vec<Delivery>)> = Vec::new();
        for row in rows {
            match files.last_mut() {
                Some((name, v)) if *name == row.file_name => v.push(row),
                _ => files.push((row.file_name.clone(), vec![row])),
            }
        }
        let mut archives: HashMap<String, ArchiveInfo> = HashMap::new();
        // After an outage an admin needs the latest archive, not every one
        // missed: older rows wait, and are superseded once the latest is in.
        let mut newest: HashMap<i64, String> = HashMap::new();
        for (_, rows) in &files {
            for r in rows {
                let slot = newest.entry(r.chat_id).or_default();
                if r.archive > *slot {
                    slot.clone_from(&r.archive);
                }
            }
        }
        let newest_on_disk: HashSet<String> =
            newest.values().filter(|a| catalog::resolve(&cfg.backup.output_dir, a).is_ok()).cloned().collect();
        // Chats refused permanently this run: later rows fail without a call.
        let mut refused: HashMap<i64, SendError> = HashMap::new();
        // (archive, chat) with a part not through this run: later parts wait.
        let mut held: HashSet<(String, i64)> = HashSet::new();

        let superseded =
            |r: &Delivery| newest.get(&r.chat_id).is_some_and(|n| *n != r.archive && newest_on_disk.contains(n));

        'files: for (file_name, rows) in files {
            if rows.iter().all(&superseded) {
                continue;
            }
            let archive = rows[0].archive.clone();
            let info = archives.entry(archive.clone()).or_insert_with(|| ArchiveInfo::load(cfg, &archive));
            let path = info.path_of(&file_name);
            let text = caption(
                &archive,
                info.manifest.as_ref(),
                info.stored.as_ref().map(|s| s.size).unwrap_or(0),
                rows[0].part,
                rows[0].parts,
            );
            let mut file_id = match state.file_id_for(&file_name) {
                Ok(f) => f,
                Err(e) => {
                    report.problems.push(format!("cannot read the outbox: {e}"));
                    None
                }
            };
            let mut file_problem: Option<SendError> = None;
            for row in rows {
                if cancel.is_cancelled() {
                    report.interrupted = true;
                    break 'files;
                }
                if self.token_rejected() {
                    break 'files;
                }
                let chat = row.chat_id;
                if superseded(&row) {
                    continue;
                }
                if !self.admins.contains(&chat) {
                    let why = SendError::permanent(FailureCode::NotRecipient, "no longer in telegram.admin_ids");
                    fail(&state, &mut report, row.id, chat, &file_name, &why, true);
                    continue;
                }
                if let Some(why) = refused.get(&chat) {
                    fail(&state, &mut report, row.id, chat, &file_name, why, true);
                    continue;
                }
                if let Some(why) = &file_problem {
                    fail(&state, &mut report, row.id, chat, &file_name, why, true);
                    continue;
                }
                if held.contains(&(archive.clone(), chat)) {
                    report.deferred.push((chat, file_name.clone()));
                    continue;
                }
                let Some(path) = path.as_deref() else {
                    let reason = format!(
                        "{file_name} is no longer in {} (removed by hand?); it cannot be sent",
                        cfg.backup.output_dir.display()
                    );
                    let why = SendError::file_problem(FailureCode::FileUnreadable, reason);
                    fail(&state, &mut report, row.id, chat, &file_name, &why, true);
                    file_problem = Some(why);
                    continue;
                };
                let result = self.send_file(chat, path, &file_name, &text, &mut file_id, cancel).await;
                match result {
                    Ok(sent) => {
                        let now = Utc::now();
                        if sent.uploaded
                            && let Err(e) = state.remember_file_id(&file_name, &sent.file_id)
                        {
                            report.problems.push(format!("cannot record the file_id: {e}"));
                        }
                        if let Err(e) = state.mark_delivered(row.id, &sent.file_id, sent.message_id, now) {
                            report.problems.push(format!("cannot record a delivery: {e}"));
                        }
                        tracing::info!(chat, file = %file_name, uploaded = sent.uploaded, "delivered");
                        report.delivered.push(Delivered {
                            chat_id: chat,
                            file_name: file_name.clone(),
                            message_id: sent.message_id,
                            uploaded: sent.uploaded,
                        });
                    }
                    Err(e) => {
                        tracing::warn!(chat, file = %file_name, reason = %e.reason, "delivery failed");
                        let _ = state.log_event(
                            if e.is_transient() { Level::Warn } else { Level::Error },
                            "delivery",
                            &format!("{file_name} to {chat}: {}", e.reason),
                            Utc::now(),
                        );
                        match e.kind {
                            FailureKind::Permanent => {
                                fail(&state, &mut report, row.id, chat, &file_name, &e, true);
                                refused.insert(chat, e);
                            }
                            FailureKind::FileProblem => {
                                fail(&state, &mut report, row.id, chat, &file_name, &e, true);
                                file_problem = Some(e);
                            }
                            FailureKind::BadToken => {
                                fail(&state, &mut report, row.id, chat, &file_name, &e, false);
                                report.problems.push(e.reason);
                                break 'files;
                            }
                            FailureKind::Transient { .. } | FailureKind::FileIdRejected => {
                                if cancel.is_cancelled() {
                                    report.interrupted = true;
                                    report.deferred.push((chat, file_name.clone()));
                                    break 'files;
                                }
                                held.insert((archive.clone(), chat));
                                fail(&state, &mut report, row.id, chat, &file_name, &e, false);
                            }
                        }
                    }
                }
            }
        }
        if self.token_rejected() && report.problems.is_empty() {
            report.problems.push(
                "Telegram rejected the bot token (401/404); check telegram.token — copy it again from @BotFather"
                    .into(),
            );
        }
        report
    }

    /// Sends one file to one chat with retry: by `file_id` when known (and
    /// by upload if Telegram no longer knows it), else by upload, which then
    /// sets `file_id`.
    async fn send_file(
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
                    tracing::info!(file = %file_name, "file_id refused; uploading again");
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
        let text = limits::fit(text, MESSAGE_LIMIT);
        let cancel = CancellationToken::new();
        let mut report = AlertReport::default();
        for &chat in &self.admins {
            match self.with_retry("sendMessage", &cancel, || self.send_text_once(chat, &text)).await {
                Ok(_) => report.sent.push(chat),
                Err(e) => {
                    tracing::warn!(chat, reason = %e.reason, "alert not delivered");
                    report.failed.push((chat, e.reason));
                }
            }
        }
        if report.sent.is_empty() && !report.failed.is_empty() { Err(AlertError(report)) } else { Ok(report) }
    }

    /// Sends a whole archive (every part, in order) to one chat: the
    /// dashboard's re-send. Uses the known `file_id`s (no upload) and uploads
    /// only files Telegram does not have yet.
    pub async fn send_archive_to(
        &self,
        cfg: &Config,
        chat: i64,
        archive: &StoredArchive,
        cancel: &CancellationToken,
    ) -> Result<Resent, SendError> {
        let manifest = manifest_of(archive);
        let n = archive.files.len() as u32;
        let mut out = Vec::new();
        for (i, path) in archive.files.iter().enumerate() {
            let file_name = file_name_of(path);
            let mut file_id = State::open_for(cfg).ok().and_then(|s| s.file_id_for(&file_name).ok().flatten());
            let text = caption(&archive.name, manifest.as_ref(), archive.size, i as u32 + 1, n);
            let sent = self.send_file(chat, path, &file_name, &text, &mut file_id, cancel).await?;
            if sent.uploaded
                && let Ok(state) = State::open_for(cfg)
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
    fn futures_are_send(tg: &Telegram, cfg: &Config, cancel: &CancellationToken, a: &StoredArchive) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&tg.deliver_pending(cfg, cancel));
        is_send(&tg.alert("x"));
        is_send(&tg.send_archive_to(cfg, 1, a, &CancellationToken::new()));
    }
}
