//! Draining the outbox, in the steps `docs/architecture.md` describes:
//! read the pending rows grouped by file ([`pending_files`]), decide for
//! each row whether it is sent now or why not ([`Rules::skip`]), send it,
//! and record what Telegram answered ([`record_sent`], [`Telegram::record_failure`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::Utc;
use lifeboat_core::caption::{caption, manifest_of};
use lifeboat_core::catalog::{self, StoredArchive};
use lifeboat_core::destination::{BaseNeed, Surroundings, base_gone_reason, base_need};
use lifeboat_core::manifest::Manifest;
use lifeboat_core::state::{Delivery, FailureCode, Level, State};
use tokio_util::sync::CancellationToken;

use crate::client::{SentDocument, Telegram};
use crate::delivery::{Delivered, DeliveryReport, Failure, file_name_of, outbox_files};
use crate::error::{FailureKind, SendError};

impl Telegram {
    /// Drains the outbox: for each pending file (oldest archive first, parts
    /// in order), uploads it once — to the first admin that accepts — then
    /// sends it to the others by `file_id` (a `file_id` known from earlier
    /// cycles is reused instead of uploading again). Transient failures are
    /// retried per `[retry]`; what is still not through stays pending for the
    /// next cycle. One admin's failure never stops the others. Never fails:
    /// everything that went wrong is in the report. What it needs besides
    /// Telegram's own settings is in `around`: the archives' folder, the
    /// state database, the keys.
    pub async fn deliver_pending(&self, around: &Surroundings, cancel: &CancellationToken) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        let (state, files) = match pending_files(around) {
            Ok(found) => found,
            Err(problem) => {
                report.problems.push(problem);
                return report;
            }
        };
        let bases = match owe_bases(around, &state, &files, &self.admins) {
            Ok(bases) => bases,
            Err(problem) => {
                report.problems.push(problem);
                return report;
            }
        };
        let files = match pending_files(around) {
            Ok((_, files)) => files,
            Err(problem) => {
                report.problems.push(problem);
                return report;
            }
        };
        let mut rules = Rules::new(&around.output_dir, &files, &self.admins, bases);
        let mut archives: HashMap<String, ArchiveInfo> = HashMap::new();
        'files: for (file_name, rows) in files {
            if rows.iter().all(|r| rules.superseded(r)) {
                continue;
            }
            let archive = rows[0].archive.clone();
            let info = archives.entry(archive.clone()).or_insert_with(|| ArchiveInfo::load(around, &state, &archive));
            let path = info.path_of(&file_name);
            let size = info.stored.as_ref().map_or(0, |s| s.size);
            let text = caption(&archive, info.mode, info.manifest.as_ref(), size, rows[0].part, rows[0].parts);
            let mut file_id = state.file_id_for(&file_name).unwrap_or_else(|e| {
                report.problems.push(format!("cannot read the outbox: {e}"));
                None
            });
            // Set once the file itself cannot be sent: the other rows fail alike.
            let mut file_problem: Option<SendError> = None;
            for row in rows {
                if cancel.is_cancelled() {
                    report.interrupted = true;
                    break 'files;
                }
                if self.token_rejected() {
                    break 'files;
                }
                match rules.skip(&state, &row, file_problem.as_ref()) {
                    Some(Skip::Superseded) => continue,
                    Some(Skip::Fail(why)) => {
                        fail(&state, &mut report, &row, &why, true);
                        continue;
                    }
                    Some(Skip::Wait) => {
                        report.deferred.push((row.chat_id, file_name.clone()));
                        continue;
                    }
                    None => {}
                }
                let Some(path) = path.as_deref() else {
                    let why = SendError::file_problem(
                        FailureCode::FileUnreadable,
                        format!(
                            "{file_name} is no longer in {} (removed by hand?); it cannot be sent",
                            around.output_dir.display()
                        ),
                    );
                    fail(&state, &mut report, &row, &why, true);
                    file_problem = Some(why);
                    continue;
                };
                match self.send_file(row.chat_id, path, &file_name, &text, &mut file_id, cancel).await {
                    Ok(sent) => record_sent(&state, &mut report, &row, &sent),
                    Err(e) => {
                        let after = self.record_failure(&state, &mut report, &mut rules, &row, e, cancel);
                        match after {
                            After::Next => {}
                            After::FileCannotBeSent(why) => file_problem = Some(why),
                            After::Stop => break 'files,
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

    /// Records a failed send and says how the run goes on: a chat that
    /// refused is skipped for the rest of the run, a file that cannot be
    /// sent fails for everyone, a bad token stops the run, and a transient
    /// failure holds that chat's later parts of the archive (they wait for
    /// the next cycle, so parts arrive in order).
    fn record_failure(
        &self,
        state: &State,
        report: &mut DeliveryReport,
        rules: &mut Rules,
        row: &Delivery,
        e: SendError,
        cancel: &CancellationToken,
    ) -> After {
        let (chat, file_name) = (row.chat_id, &row.file_name);
        tracing::warn!(chat, file = %file_name, reason = %e.reason, "delivery failed: {file_name} to {chat}: {}", e.reason);
        let level = if e.is_transient() { Level::Warn } else { Level::Error };
        let _ = state.log_event(level, "delivery", &format!("{file_name} to {chat}: {}", e.reason), Utc::now());
        match e.kind {
            FailureKind::Permanent => {
                fail(state, report, row, &e, true);
                rules.refused.insert(chat, e);
                After::Next
            }
            FailureKind::FileProblem => {
                fail(state, report, row, &e, true);
                After::FileCannotBeSent(e)
            }
            FailureKind::BadToken => {
                fail(state, report, row, &e, false);
                report.problems.push(e.reason);
                After::Stop
            }
            FailureKind::Transient { .. } | FailureKind::FileIdRejected if cancel.is_cancelled() => {
                report.interrupted = true;
                report.deferred.push((chat, file_name.clone()));
                After::Stop
            }
            FailureKind::Transient { .. } | FailureKind::FileIdRejected => {
                rules.held.insert((row.archive.clone(), chat));
                fail(state, report, row, &e, false);
                After::Next
            }
        }
    }
}

/// How the run goes on after a failed send.
enum After {
    /// With the next row.
    Next,
    /// With the next row, failing this file's other rows without a call.
    FileCannotBeSent(SendError),
    /// Not at all: the token is bad, or the run was cancelled.
    Stop,
}

/// A file of the outbox and its pending rows, one per chat.
type PendingFile = (String, Vec<Delivery>);

/// The pending rows, grouped by file in outbox order (archive, part).
fn pending_files(around: &Surroundings) -> Result<(State, Vec<PendingFile>), String> {
    let state = around.state().map_err(|e| format!("cannot open the state database: {e}"))?;
    let rows = state.pending_deliveries().map_err(|e| format!("cannot read the delivery outbox: {e}"))?;
    let mut files: Vec<PendingFile> = Vec::new();
    for row in rows {
        match files.last_mut() {
            Some((name, v)) if *name == row.file_name => v.push(row),
            _ => files.push((row.file_name.clone(), vec![row])),
        }
    }
    Ok((state, files))
}

/// Why a row is not sent now.
enum Skip {
    /// A newer archive for this chat is on disk: this row waits, and is
    /// superseded once the newer one is through.
    Superseded,
    /// It fails without a call, for this reason.
    Fail(SendError),
    /// An earlier part of the same archive, or the base of this
    /// differential, did not get through to this chat: it waits.
    Wait,
}

/// What decides, row by row, whether a send is attempted.
struct Rules {
    /// Each chat's newest pending archive that is still on disk. After an
    /// outage an admin needs the latest archive, not every one missed.
    newest: HashMap<i64, String>,
    admins: Vec<i64>,
    /// Chats that refused permanently this run.
    refused: HashMap<i64, SendError>,
    /// (archive, chat) with a part not through this run.
    held: HashSet<(String, i64)>,
    /// What each pending archive needs to have reached a chat first.
    bases: HashMap<String, BaseNeed>,
    /// Where the archives are.
    dir: PathBuf,
}

impl Rules {
    fn new(dir: &Path, files: &[PendingFile], admins: &[i64], bases: HashMap<String, BaseNeed>) -> Rules {
        Rules {
            newest: newest_per_chat(dir, files),
            admins: admins.to_vec(),
            refused: HashMap::new(),
            held: HashSet::new(),
            bases,
            dir: dir.to_path_buf(),
        }
    }

    /// A newer archive is pending for the chat, and it is not a
    /// differential that needs this one as its base.
    fn superseded(&self, r: &Delivery) -> bool {
        self.newest.get(&r.chat_id).is_some_and(|n| {
            *n != r.archive && !matches!(self.bases.get(n), Some(BaseNeed::Stored(b)) if b.name == r.archive)
        })
    }

    /// Why a differential cannot go to `chat` yet, when it cannot: its base
    /// has not reached the chat (it waits), or never can (it fails).
    fn base_missing(&self, state: &State, archive: &str, chat: i64) -> Option<Skip> {
        let (name, gone) = match self.bases.get(archive)? {
            BaseNeed::Nothing => return None,
            BaseNeed::Stored(b) => (b.name.as_str(), false),
            BaseNeed::Gone(name) => (name.as_str(), true),
        };
        if state.delivered_to(name, chat).unwrap_or(false) {
            None
        } else if gone {
            Some(Skip::Fail(SendError::permanent(FailureCode::BaseMissing, base_gone_reason(name, &self.dir))))
        } else {
            Some(Skip::Wait)
        }
    }

    fn skip(&self, state: &State, row: &Delivery, file_problem: Option<&SendError>) -> Option<Skip> {
        let chat = row.chat_id;
        if self.superseded(row) {
            Some(Skip::Superseded)
        } else if !self.admins.contains(&chat) {
            Some(Skip::Fail(SendError::permanent(FailureCode::NotRecipient, "no longer in telegram.admin_ids")))
        } else if let Some(why) = self.refused.get(&chat).or(file_problem) {
            Some(Skip::Fail(why.clone()))
        } else if self.held.contains(&(row.archive.clone(), chat)) {
            Some(Skip::Wait)
        } else {
            self.base_missing(state, &row.archive, chat)
        }
    }
}

/// Each chat's newest pending archive that is still on disk. After an
/// outage an admin needs the latest archive, not every one missed.
fn newest_per_chat(dir: &Path, files: &[PendingFile]) -> HashMap<i64, String> {
    let mut newest: HashMap<i64, String> = HashMap::new();
    for r in files.iter().flat_map(|(_, rows)| rows) {
        let slot = newest.entry(r.chat_id).or_default();
        if r.archive > *slot {
            slot.clone_from(&r.archive);
        }
    }
    newest.retain(|_, archive| catalog::resolve(dir, archive).is_ok());
    newest
}

/// The base each pending archive needs. A chat whose newest pending
/// archive is a differential, and that neither has its base nor is owed
/// it (an admin added later, a base that failed or was superseded there),
/// is owed the base again, so it goes first. A chat no longer among the
/// admins is owed nothing more.
fn owe_bases(
    around: &Surroundings,
    state: &State,
    files: &[PendingFile],
    admins: &[i64],
) -> Result<HashMap<String, BaseNeed>, String> {
    let mut bases: HashMap<String, BaseNeed> = HashMap::new();
    for (_, rows) in files {
        let archive = &rows[0].archive;
        if !bases.contains_key(archive) {
            bases.insert(archive.clone(), base_need(&around.output_dir, &around.keys, state, archive));
        }
    }
    let problem = |e: lifeboat_core::state::StateError| format!("cannot use the delivery outbox: {e}");
    for (chat, archive) in
        newest_per_chat(&around.output_dir, files).into_iter().filter(|(chat, _)| admins.contains(chat))
    {
        let Some(BaseNeed::Stored(base)) = bases.get(&archive) else { continue };
        let owed = files.iter().flat_map(|(_, rows)| rows).any(|r| r.chat_id == chat && r.archive == base.name);
        if owed || state.delivered_to(&base.name, chat).map_err(problem)? {
            continue;
        }
        state.owe_delivery(&base.name, &outbox_files(base), chat, Utc::now()).map_err(problem)?;
        let msg = format!("{} owed to {chat} again: {archive} needs it there", base.name);
        tracing::info!("{msg}");
        let _ = state.log_event(Level::Info, "delivery", &msg, Utc::now());
    }
    Ok(bases)
}

/// Records a row Telegram confirmed, and the `file_id` of a fresh upload.
fn record_sent(state: &State, report: &mut DeliveryReport, row: &Delivery, sent: &SentDocument) {
    let (chat, file_name) = (row.chat_id, &row.file_name);
    if sent.uploaded
        && let Err(e) = state.remember_file_id(file_name, &sent.file_id)
    {
        report.problems.push(format!("cannot record the file_id: {e}"));
    }
    if let Err(e) = state.mark_delivered(row.id, &sent.file_id, sent.message_id, Utc::now()) {
        report.problems.push(format!("cannot record a delivery: {e}"));
    }
    tracing::info!(chat, file = %file_name, uploaded = sent.uploaded, "delivered {file_name} to {chat}");
    report.delivered.push(Delivered {
        chat_id: chat,
        file_name: file_name.clone(),
        message_id: sent.message_id,
        uploaded: sent.uploaded,
    });
}

/// Records a failed row (pending again when transient) and reports it.
fn fail(state: &State, report: &mut DeliveryReport, row: &Delivery, why: &SendError, permanent: bool) {
    if let Err(e) = state.mark_failed(row.id, why.code, &why.reason, permanent, Utc::now()) {
        report.problems.push(format!("cannot record a delivery failure: {e}"));
    }
    report.failures.push(Failure {
        chat_id: row.chat_id,
        file_name: row.file_name.clone(),
        code: why.code,
        reason: why.reason.clone(),
        permanent,
    });
}

/// An archive of the outbox as found on disk (None: removed since).
struct ArchiveInfo {
    stored: Option<StoredArchive>,
    manifest: Option<Manifest>,
    mode: lifeboat_core::seal::Mode,
}

impl ArchiveInfo {
    fn load(around: &Surroundings, state: &State, name: &str) -> ArchiveInfo {
        match catalog::resolve(&around.output_dir, name) {
            Ok(stored) => {
                let manifest = manifest_of(&around.keys, Some(state), &stored);
                let mode = lifeboat_core::verify::seal_mode(&stored);
                ArchiveInfo { stored: Some(stored), manifest, mode }
            }
            Err(e) => {
                tracing::warn!(archive = name, "archive {name} not found for delivery: {e}");
                ArchiveInfo { stored: None, manifest: None, mode: lifeboat_core::seal::Mode::None }
            }
        }
    }
    fn path_of(&self, file_name: &str) -> Option<PathBuf> {
        self.stored.as_ref()?.files.iter().find(|p| file_name_of(p) == file_name).cloned()
    }
}
