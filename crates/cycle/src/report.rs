//! What a cycle did, for the scheduler, the CLI and the dashboard: the
//! backup, where each admin stands with the archive, retention and the
//! alert, with the exit code and the words people read.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use lifeboat_core::destination::{AlertError, DestinationId, Owed};
use lifeboat_core::exit;
use lifeboat_core::manifest::Trigger;
use lifeboat_core::state::{FailureCode, OutboxStatus, RunStatus, State, StateError};
use lifeboat_core::units::{human_size, plural};
use lifeboat_engine::backup::{BackupError, BackupOutcome};
use lifeboat_engine::retention::RetentionError;

/// Where each admin stands with this cycle's archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverySummary {
    /// The archive delivered.
    pub archive: String,
    /// Admins who received every file of it.
    pub delivered: Vec<i64>,
    /// Admins it will never reach as things are (403, chat not found).
    pub failed: Vec<FailedChat>,
    /// Admins still owed it after this cycle's attempts: retried next cycle.
    pub pending: Vec<(i64, Option<String>)>,
    /// The other destinations (buckets, Discord, email) and whether they
    /// confirmed it; if not, why, and whether it is tried again.
    pub stores: Vec<(DestinationId, Result<(), StoreMiss>)>,
}

/// Why a destination does not hold an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreMiss {
    /// The words of the last failure.
    pub why: String,
    /// Refused for good: not tried again.
    pub permanent: bool,
}

impl DeliverySummary {
    /// True when every admin and every store received the archive.
    pub fn all_delivered(&self) -> bool {
        self.failed.is_empty() && self.pending.is_empty() && self.stores.iter().all(|(_, r)| r.is_ok())
    }
}

/// An admin an archive will not reach, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedChat {
    pub chat: i64,
    /// Why, as a code (absent on rows from before codes were stored).
    pub code: Option<FailureCode>,
    /// Why, in words.
    pub reason: String,
}

/// Why delivery could not be attempted at all; the outbox keeps what it
/// holds, and the next cycle tries again.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// The archive could not be put in the outbox.
    #[error("could not queue {archive} for delivery: {source}")]
    Queue {
        archive: String,
        /// The state database's error.
        source: Arc<StateError>,
    },
    /// The outbox could not be read after delivering.
    #[error("could not read the outbox: {0}")]
    Outbox(Arc<StateError>),
}

/// What happened to delivery in a cycle.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// No bot token configured: archives are kept locally only. Not a failure.
    Disabled,
    /// A token but no `telegram.admin_ids`: nobody to send to.
    NoAdmins,
    /// No archive was written this cycle; only older pending deliveries were retried.
    NoArchive,
    /// The cycle was interrupted before delivering.
    Interrupted,
    /// A `hooks.before` command skipped the cycle: nothing was attempted.
    Skipped,
    /// Delivery could not be attempted (the outbox failed).
    Error(DeliveryError),
    /// Delivery ran; where each admin stands.
    Done(DeliverySummary),
}

/// Whether the admins were alerted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertStatus {
    /// Nothing worth an alert.
    NotNeeded,
    /// Sent to the admins.
    Sent,
    /// Needed, but delivery is disabled (no token) or no admin is configured.
    NoRecipient,
    /// Needed, but sending it failed.
    Failed(AlertError),
}

/// The result of one cycle, for the CLI, the scheduler and the dashboard.
#[derive(Debug)]
pub struct CycleReport {
    pub trigger: Trigger,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Runs left "running" by a dead process, marked interrupted at the start.
    pub abandoned_runs_closed: usize,
    /// The backup: its archive, or why there is none.
    pub backup: Result<BackupOutcome, BackupError>,
    /// Delivery of the archive to the admins.
    pub delivery: Delivery,
    /// Every archive (this cycle's or an earlier one) a configured
    /// destination is still owed after this cycle's attempts.
    pub owed: Vec<Owed>,
    /// Archives removed by retention.
    pub removed: Vec<String>,
    /// Retention could not run, and why.
    pub retention_error: Option<RetentionError>,
    /// A database or table shrank sharply: the previous archive is pinned.
    pub shrunk: Option<crate::shrink_alert::Shrunk>,
    /// The stored archive read back this cycle, and how it went.
    pub reverified: Option<crate::reverify::Reverified>,
    /// Whether the admins were alerted.
    pub alert: AlertStatus,
    /// For each skipped source with a good copy here, the command that
    /// restores it from the newest archive holding one (after retention).
    pub restore_advice: Vec<(String, String)>,
    /// `hooks.after` and `hooks.on_failure` commands that failed, in words.
    pub hooks_failed: Vec<String>,
}

impl CycleReport {
    /// The restore command for the skipped source `name`, when some archive
    /// holds a good copy of it.
    pub fn advice_for_skipped(&self, name: &str) -> Option<&str> {
        self.restore_advice.iter().find(|(n, _)| n == name).map(|(_, c)| c.as_str())
    }
}

impl CycleReport {
    /// True when the cycle was stopped by a signal: the backup was abandoned
    /// with nothing left behind, or delivery stopped with what was not sent
    /// kept in the outbox for the next cycle. Either is a clean stop.
    pub fn interrupted(&self) -> bool {
        matches!(self.backup, Err(BackupError::Cancelled)) || matches!(self.delivery, Delivery::Interrupted)
    }

    /// True when some configured database was skipped.
    pub fn databases_skipped(&self) -> bool {
        matches!(&self.backup, Ok(o) if o.status == RunStatus::Partial || o.manifest.is_partial())
    }

    /// 0 everything done, 3 partial (a database skipped, some admin not
    /// delivered, or any archive still owed to a destination), 1 no archive.
    pub fn exit_code(&self) -> i32 {
        if self.backup.as_ref().is_err_and(|e| !matches!(e, BackupError::Unchanged { .. })) {
            return exit::FAILURE;
        }
        let undelivered = match &self.delivery {
            Delivery::Done(d) => !d.all_delivered(),
            Delivery::Error(_) | Delivery::Interrupted => true,
            Delivery::Disabled | Delivery::NoAdmins | Delivery::NoArchive | Delivery::Skipped => false,
        };
        if self.databases_skipped() || undelivered || !self.owed.is_empty() { exit::PARTIAL } else { exit::SUCCESS }
    }

    /// How the hooks hear the cycle ended (`LIFEBOAT_RESULT`): "ok",
    /// "unchanged" (nothing written, nothing owed), "partial" or "failed".
    pub fn result_word(&self) -> &'static str {
        match self.exit_code() {
            exit::SUCCESS if matches!(self.backup, Err(BackupError::Unchanged { .. })) => "unchanged",
            exit::SUCCESS => "ok",
            exit::PARTIAL => "partial",
            _ => "failed",
        }
    }

    /// The variables `hooks.after` and `hooks.on_failure` get besides the
    /// cycle's own.
    pub fn hook_env(&self) -> Vec<(&'static str, String)> {
        let archive = self
            .backup
            .as_ref()
            .ok()
            .and_then(|o| o.archive.files.first())
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        vec![
            ("LIFEBOAT_RESULT", self.result_word().to_string()),
            ("LIFEBOAT_ARCHIVE", archive),
            ("LIFEBOAT_EXIT_CODE", self.exit_code().to_string()),
            ("LIFEBOAT_SUMMARY", self.summary()),
        ]
    }

    /// A few lines for people: the backup, delivery, retention and alert.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        match &self.backup {
            Ok(o) => {
                let kind = if self.databases_skipped() { "partial" } else { "ok" };
                let _ = writeln!(
                    s,
                    "Backup {kind}: {} ({} of {} databases, {}{})",
                    o.archive.name,
                    o.manifest.databases.len(),
                    o.manifest.databases.len() + o.manifest.skipped.len(),
                    human_size(o.archive.size),
                    if o.archive.files.len() > 1 {
                        format!(", {} parts", o.archive.files.len())
                    } else {
                        String::new()
                    },
                );
                if let Some(first) = o.archive.files.first() {
                    let _ = writeln!(s, "  at {}", first.display());
                }
                for sk in &o.manifest.skipped {
                    let _ = writeln!(s, "  skipped {}: {}", sk.name, sk.reason);
                    if let Some(command) = self.advice_for_skipped(&sk.name) {
                        let _ = writeln!(s, "    its newest good copy: {command}");
                    }
                }
                if let Some(r) = self.reverified.as_ref().filter(|r| !r.ok) {
                    let _ = writeln!(s, "  re-verified {}: FAILED: {}", r.archive, r.detail);
                }
                if let Some(shrunk) = &self.shrunk {
                    for line in crate::shrink_alert::describe(&shrunk.shrinks) {
                        let _ = writeln!(s, "  SHRANK {line}");
                    }
                    let _ = writeln!(s, "  {} is pinned (lifeboat unpin to release it)", shrunk.pinned);
                }
            }
            Err(BackupError::Cancelled) => {
                let _ = writeln!(s, "Backup interrupted: stopped by a signal; no archive was written.");
            }
            Err(BackupError::Unchanged { archive }) => {
                let _ = writeln!(s, "Unchanged: no database changed since {archive}; nothing written or sent.");
            }
            Err(e) => {
                let _ = writeln!(s, "Backup failed: {e}");
            }
        }
        let _ = writeln!(s, "Delivery: {}", describe_delivery(&self.delivery));
        let this = self.backup.as_ref().ok().map(|o| o.archive.name.as_str());
        let earlier: Vec<String> =
            self.owed.iter().filter(|o| Some(o.archive.as_str()) != this).map(Owed::to_string).collect();
        if !earlier.is_empty() {
            let _ = writeln!(s, "Still owed, tried again next cycle: {}.", earlier.join("; "));
        }
        if let Some(e) = &self.retention_error {
            let _ = writeln!(s, "Retention failed: {e}");
        } else if self.removed.is_empty() {
            let _ = writeln!(s, "Retention: nothing to remove.");
        } else {
            let _ = writeln!(
                s,
                "Retention: removed {} ({}).",
                plural(self.removed.len(), "archive"),
                self.removed.join(", ")
            );
        }
        match &self.alert {
            AlertStatus::NotNeeded => {}
            AlertStatus::Sent => s.push_str("Admins were alerted.\n"),
            AlertStatus::NoRecipient => s.push_str("No alert sent: delivery is disabled or no admin is configured.\n"),
            AlertStatus::Failed(e) => {
                let _ = writeln!(s, "Alerting the admins failed: {e}");
            }
        }
        for e in &self.hooks_failed {
            let _ = writeln!(s, "Hook failed: {e}");
        }
        if self.abandoned_runs_closed > 0 {
            let _ = writeln!(
                s,
                "Note: {} left unfinished by a stopped process marked interrupted.",
                plural(self.abandoned_runs_closed, "earlier run")
            );
        }
        s.trim_end().to_string()
    }
}

pub(crate) fn describe_delivery(d: &Delivery) -> String {
    match d {
        Delivery::Disabled => "disabled (no telegram.token); the archive is kept locally only.".into(),
        Delivery::NoAdmins => "nobody to send to: telegram.admin_ids is empty.".into(),
        Delivery::NoArchive => "no new archive; earlier undelivered archives were retried.".into(),
        Delivery::Interrupted => "not attempted: the cycle was interrupted; it is retried next cycle.".into(),
        Delivery::Skipped => "not attempted: the cycle was skipped; what is owed is tried next cycle.".into(),
        Delivery::Error(e) => format!("failed: {e}; retried next cycle."),
        Delivery::Done(sum) => {
            let total = sum.delivered.len() + sum.failed.len() + sum.pending.len();
            let mut s = if total > 0 || sum.stores.is_empty() {
                format!("delivered to {} of {}", sum.delivered.len(), plural(total, "admin"))
            } else {
                String::from("off-site")
            };
            for (store, held) in &sum.stores {
                match held {
                    Ok(()) => {
                        let _ = write!(s, "; sent to {store}");
                    }
                    Err(StoreMiss { why, permanent: false }) => {
                        let _ = write!(s, "; not yet sent to {store}, retried next cycle ({why})");
                    }
                    Err(StoreMiss { why, permanent: true }) => {
                        let _ = write!(s, "; {store} refused it, not tried again: {why}");
                    }
                }
            }
            for f in &sum.failed {
                let _ = write!(s, "; {} failed: {} ({})", f.chat, f.reason, advice_for(f.code));
            }
            for (chat, why) in &sum.pending {
                let _ = write!(s, "; {chat} retried next cycle");
                if let Some(why) = why {
                    let _ = write!(s, " (last error: {why})");
                }
            }
            s.push('.');
            s
        }
    }
}

/// What an admin or operator can do about a permanent delivery failure.
pub(crate) fn advice_for(code: Option<FailureCode>) -> &'static str {
    match code {
        Some(FailureCode::NeverStarted) => "they must open the bot in Telegram and press Start",
        Some(FailureCode::Blocked) => "they blocked the bot; they must unblock it",
        Some(FailureCode::ChatNotFound) => "check the id in telegram.admin_ids",
        Some(FailureCode::Migrated) => "the group became a supergroup; put its new id in telegram.admin_ids",
        _ => "see `lifeboat status` and the dashboard's Health",
    }
}

/// Reads where each chat stands with `archive` from the durable outbox, the
/// single source of truth for what Telegram confirmed.
pub fn summarize_outbox(state: &State, archive: &str) -> Result<DeliverySummary, StateError> {
    let rows = state.deliveries_for(archive)?;
    let mut chats: Vec<i64> = rows.iter().map(|r| r.chat_id).collect();
    chats.sort_unstable();
    chats.dedup();
    let mut sum = DeliverySummary { archive: archive.to_string(), ..Default::default() };
    for chat in chats {
        let mine: Vec<_> = rows.iter().filter(|r| r.chat_id == chat).collect();
        if let Some(f) = mine.iter().find(|r| r.status == OutboxStatus::Failed) {
            sum.failed.push(FailedChat {
                chat,
                code: f.error_code,
                reason: f.last_error.clone().unwrap_or_else(|| "refused by Telegram".into()),
            });
        } else if mine.iter().all(|r| r.status == OutboxStatus::Delivered) {
            sum.delivered.push(chat);
        } else {
            let why = mine.iter().find_map(|r| r.last_error.clone());
            sum.pending.push((chat, why));
        }
    }
    for c in state.copies_of(archive)? {
        let held = match c.status {
            OutboxStatus::Delivered => Ok(()),
            _ => Err(StoreMiss {
                why: c.last_error.unwrap_or_else(|| c.status.as_str().to_string()),
                permanent: c.status == OutboxStatus::Failed,
            }),
        };
        sum.stores.push((c.destination, held));
    }
    Ok(sum)
}
