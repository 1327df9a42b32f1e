//! One backup cycle: backup → verify → deliver → retention, under the cycle
//! lock, with an alert to the admins when something needs their attention.
//!
//! The scheduler (daemon and `--once`), `lifeboat backup --deliver` and the
//! dashboard's "Backup now" all call [`run_cycle`], so they behave the same
//! and never run two cycles at once.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use lifeboat_core::backup::{self, BackupError, BackupOptions, BackupOutcome};
use lifeboat_core::config::Config;
use lifeboat_core::lock::{CycleLock, LockError};
use lifeboat_core::manifest::Trigger;
use lifeboat_core::state::{DeliveryStatus, FailureCode, Level, RunStatus, State, StateError};
use lifeboat_core::units::human_size;
use lifeboat_core::{exit, retention};
use tokio_util::sync::CancellationToken;

use crate::{Telegram, enqueue_archive};

/// Telegram's limit on one message's text.
const MESSAGE_LIMIT: usize = 4096;

/// Why a cycle did not run at all.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// Another cycle holds the lock.
    #[error("another backup is running ({holder}); wait for it to finish, then try again")]
    Busy {
        /// Who holds it: pid, what and since when.
        holder: String,
    },
    /// The lock file cannot be created.
    #[error(transparent)]
    Lock(LockError),
    /// The state database cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
}

impl From<LockError> for CycleError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Busy { holder } => CycleError::Busy { holder },
            other => CycleError::Lock(other),
        }
    }
}

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
}

impl DeliverySummary {
    /// True when every admin received the archive.
    pub fn all_delivered(&self) -> bool {
        self.failed.is_empty() && self.pending.is_empty()
    }
}

/// An admin an archive will not reach, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedChat {
    /// The admin.
    pub chat: i64,
    /// Why, as a code (absent on rows from before codes were stored).
    pub code: Option<FailureCode>,
    /// Why, in words.
    pub reason: String,
}

/// What happened to delivery in a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// No bot token configured: archives are kept locally only. Not a failure.
    Disabled,
    /// A token but no `telegram.admin_ids`: nobody to send to.
    NoAdmins,
    /// No archive was written this cycle; only older pending deliveries were retried.
    NoArchive,
    /// The cycle was interrupted before delivering.
    Interrupted,
    /// Delivery could not be attempted (the outbox failed).
    Error(String),
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
    Failed(String),
}

/// The result of one cycle, for the CLI, the scheduler and the dashboard.
#[derive(Debug)]
pub struct CycleReport {
    /// What started it.
    pub trigger: Trigger,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Runs left "running" by a dead process, marked interrupted at the start.
    pub abandoned_runs_closed: usize,
    /// The backup: its archive, or why there is none.
    pub backup: Result<BackupOutcome, BackupError>,
    /// Delivery of the archive to the admins.
    pub delivery: Delivery,
    /// Archives removed by retention.
    pub removed: Vec<String>,
    /// Retention could not run, and why.
    pub retention_error: Option<String>,
    /// Whether the admins were alerted.
    pub alert: AlertStatus,
}

impl CycleReport {
    /// True when the cycle was stopped by a signal: the backup was abandoned
    /// with nothing left behind, or delivery stopped with what was not sent
    /// kept in the outbox for the next cycle. Either is a clean stop.
    pub fn interrupted(&self) -> bool {
        matches!(self.backup, Err(BackupError::Cancelled)) || self.delivery == Delivery::Interrupted
    }

    /// True when some configured database was skipped.
    pub fn databases_skipped(&self) -> bool {
        matches!(&self.backup, Ok(o) if o.status == RunStatus::Partial || o.manifest.is_partial())
    }

    /// 0 everything done, 3 partial (a database skipped or some admin not
    /// delivered), 1 no archive.
    pub fn exit_code(&self) -> i32 {
        if self.backup.is_err() {
            return exit::FAILURE;
        }
        let undelivered = match &self.delivery {
            Delivery::Done(d) => !d.all_delivered(),
            Delivery::Error(_) | Delivery::Interrupted => true,
            Delivery::Disabled | Delivery::NoAdmins | Delivery::NoArchive => false,
        };
        if self.databases_skipped() || undelivered { exit::PARTIAL } else { exit::SUCCESS }
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
                }
            }
            Err(BackupError::Cancelled) => {
                let _ = writeln!(s, "Backup interrupted: stopped by a signal; no archive was written.");
            }
            Err(e) => {
                let _ = writeln!(s, "Backup failed: {e}");
            }
        }
        let _ = writeln!(s, "Delivery: {}", describe_delivery(&self.delivery));
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

fn describe_delivery(d: &Delivery) -> String {
    match d {
        Delivery::Disabled => "disabled (no telegram.token); the archive is kept locally only.".into(),
        Delivery::NoAdmins => "nobody to send to: telegram.admin_ids is empty.".into(),
        Delivery::NoArchive => "no new archive; earlier undelivered archives were retried.".into(),
        Delivery::Interrupted => "not attempted: the cycle was interrupted; it is retried next cycle.".into(),
        Delivery::Error(e) => format!("failed: {e}; retried next cycle."),
        Delivery::Done(sum) => {
            let total = sum.delivered.len() + sum.failed.len() + sum.pending.len();
            let mut s = format!("delivered to {} of {}", sum.delivered.len(), plural(total, "admin"));
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
fn advice_for(code: Option<FailureCode>) -> &'static str {
    match code {
        Some(FailureCode::NeverStarted) => "they must open the bot in Telegram and press Start",
        Some(FailureCode::Blocked) => "they blocked the bot; they must unblock it",
        Some(FailureCode::ChatNotFound) => "check the id in telegram.admin_ids",
        Some(FailureCode::Migrated) => "the group became a supergroup; put its new id in telegram.admin_ids",
        _ => "see `lifeboat status` and the dashboard's Health",
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Which component a trigger's events are logged under.
fn event_source(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Scheduled => "scheduler",
        Trigger::Dashboard => "dashboard",
        Trigger::Manual | Trigger::Demo | Trigger::PreRestore => "cli",
    }
}

/// Writes events to the state database and to tracing. It opens the state
/// database per event rather than holding a connection, so the cycle's
/// future holds no `!Sync` connection across an await and stays `Send`
/// (the dashboard spawns it).
struct Journal<'a> {
    cfg: &'a Config,
}

impl Journal<'_> {
    /// A failing event write is only traced: losing a log line must not
    /// fail a backup.
    fn log(&self, level: Level, source: &str, message: &str) {
        match level {
            Level::Info => tracing::info!(target: "lifeboat::cycle", "{message}"),
            Level::Warn => tracing::warn!(target: "lifeboat::cycle", "{message}"),
            Level::Error => tracing::error!(target: "lifeboat::cycle", "{message}"),
        }
        if let Err(e) = State::open_for(self.cfg).and_then(|s| s.log_event(level, source, message, Utc::now())) {
            tracing::warn!("could not record an event in the state database: {e}");
        }
    }
}

/// Runs one full cycle under the cycle lock: closes runs abandoned by a dead
/// process, backs up (on a blocking thread), queues and delivers the archive,
/// applies retention, and alerts the admins when the cycle failed, was
/// partial, or an admin cannot be reached. `cancel` stops it between steps
/// with nothing partial left behind.
pub async fn run_cycle(cfg: &Config, trigger: Trigger, cancel: CancellationToken) -> Result<CycleReport, CycleError> {
    let _lock = CycleLock::try_acquire(&cfg.lock_path(), &format!("{trigger} cycle"))?;
    let started_at = Utc::now();
    let source = event_source(trigger);
    let journal = Journal { cfg };
    let abandoned_runs_closed = State::open_for(cfg)?.close_abandoned_runs(started_at)?;
    if abandoned_runs_closed > 0 {
        journal.log(
            Level::Warn,
            source,
            &format!("{} left running by a stopped process marked interrupted", plural(abandoned_runs_closed, "run")),
        );
    }
    journal.log(Level::Info, source, &format!("{trigger} cycle started"));

    let backup = run_backup(cfg, trigger, cancel.clone()).await;
    match &backup {
        Ok(o) => journal.log(
            if o.manifest.is_partial() { Level::Warn } else { Level::Info },
            source,
            &format!(
                "backup {}: {} ({} databases, {} skipped, {})",
                o.status.as_str(),
                o.archive.name,
                o.manifest.databases.len(),
                o.manifest.skipped.len(),
                human_size(o.archive.size)
            ),
        ),
        Err(BackupError::Cancelled) => journal.log(Level::Warn, source, "backup interrupted; no archive was written"),
        Err(e) => journal.log(Level::Error, source, &format!("backup failed: {e}")),
    }

    let telegram = Telegram::from_config(cfg);
    let delivery = if cancel.is_cancelled() {
        Delivery::Interrupted
    } else {
        deliver(cfg, telegram.as_ref(), backup.as_ref().ok(), &cancel).await
    };
    match &delivery {
        Delivery::Done(d) if !d.all_delivered() => {
            journal.log(Level::Warn, "delivery", &format!("delivery: {}", describe_delivery(&delivery)))
        }
        Delivery::Error(_) => {
            journal.log(Level::Error, "delivery", &format!("delivery: {}", describe_delivery(&delivery)))
        }
        other => journal.log(Level::Info, "delivery", &format!("delivery: {}", describe_delivery(other))),
    }

    let (removed, retention_error) = if cancel.is_cancelled() {
        (Vec::new(), None)
    } else {
        match apply_retention(cfg, Utc::now()) {
            Ok(removed) => {
                // retention::apply records each removal in the events itself.
                if !removed.is_empty() {
                    tracing::info!("retention removed {}: {}", plural(removed.len(), "archive"), removed.join(", "));
                }
                (removed, None)
            }
            Err(e) => {
                journal.log(Level::Error, source, &format!("retention failed: {e}"));
                (Vec::new(), Some(e))
            }
        }
    };

    let mut report = CycleReport {
        trigger,
        started_at,
        finished_at: Utc::now(),
        abandoned_runs_closed,
        backup,
        delivery,
        removed,
        retention_error,
        alert: AlertStatus::NotNeeded,
    };
    if let Some(text) = alert_text(&report) {
        report.alert = match &telegram {
            Some(tg) if !cfg.telegram.admin_ids.is_empty() => match send_alert(tg, &text).await {
                Ok(()) => AlertStatus::Sent,
                Err(e) => {
                    journal.log(Level::Warn, "delivery", &format!("alerting the admins failed: {e}"));
                    AlertStatus::Failed(e)
                }
            },
            _ => AlertStatus::NoRecipient,
        };
    }
    report.finished_at = Utc::now();
    let level = match report.exit_code() {
        exit::SUCCESS => Level::Info,
        exit::PARTIAL => Level::Warn,
        _ if report.interrupted() => Level::Warn,
        _ => Level::Error,
    };
    journal.log(level, source, &format!("{trigger} cycle finished: {}", report.summary().replace('\n', " | ")));
    Ok(report)
}

/// `backup::run` is blocking (SQLite, compression): it gets its own thread
/// and its own state connection, and watches `cancel` itself.
async fn run_backup(cfg: &Config, trigger: Trigger, cancel: CancellationToken) -> Result<BackupOutcome, BackupError> {
    let cfg = cfg.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let state = State::open_for(&cfg)?;
        backup::run(&cfg, &state, BackupOptions { trigger, only: None, progress: None, cancel, now: Utc::now() })
    })
    .await;
    joined.unwrap_or_else(|e| {
        Err(BackupError::Io {
            context: "the backup thread stopped unexpectedly".into(),
            source: std::io::Error::other(e.to_string()),
        })
    })
}

async fn deliver(
    cfg: &Config,
    telegram: Option<&Telegram>,
    outcome: Option<&BackupOutcome>,
    cancel: &CancellationToken,
) -> Delivery {
    let Some(tg) = telegram else { return Delivery::Disabled };
    if cfg.telegram.admin_ids.is_empty() {
        return Delivery::NoAdmins;
    }
    if let Some(o) = outcome
        && let Err(e) = State::open_for(cfg)
            .map_err(|e| e.to_string())
            .and_then(|s| enqueue_archive(&s, cfg, &o.archive, Utc::now()).map_err(|e| e.to_string()))
    {
        return Delivery::Error(format!("could not queue {} for delivery: {e}", o.archive.name));
    }
    let _report = tg.deliver_pending(cfg, cancel).await;
    if cancel.is_cancelled() {
        return Delivery::Interrupted;
    }
    let Some(o) = outcome else { return Delivery::NoArchive };
    match State::open_for(cfg).and_then(|s| summarize_outbox(&s, &o.archive.name)) {
        Ok(sum) => Delivery::Done(sum),
        Err(e) => Delivery::Error(format!("could not read the outbox: {e}")),
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
        if let Some(f) = mine.iter().find(|r| r.status == DeliveryStatus::Failed) {
            sum.failed.push(FailedChat {
                chat,
                code: f.error_code,
                reason: f.last_error.clone().unwrap_or_else(|| "refused by Telegram".into()),
            });
        } else if mine.iter().all(|r| r.status == DeliveryStatus::Delivered) {
            sum.delivered.push(chat);
        } else {
            let why = mine.iter().find_map(|r| r.last_error.clone());
            sum.pending.push((chat, why));
        }
    }
    Ok(sum)
}

fn apply_retention(cfg: &Config, now: DateTime<Utc>) -> Result<Vec<String>, String> {
    let state = State::open_for(cfg).map_err(|e| e.to_string())?;
    retention::apply(cfg, &state, now)
        .map(|removed| removed.into_iter().map(|a| a.name).collect())
        .map_err(|e| e.to_string())
}

async fn send_alert(tg: &Telegram, text: &str) -> Result<(), String> {
    tg.alert(text).await.map(|_| ()).map_err(|e| e.to_string())
}

/// The alert for the admins, if this cycle needs one: a failed or partial
/// backup, admins Telegram refuses to reach, or retention failing. An
/// interrupted cycle (a deliberate stop) gets none.
pub fn alert_text(report: &CycleReport) -> Option<String> {
    let mut lines = Vec::new();
    let when = report.started_at.format("%Y-%m-%d %H:%M UTC");
    match &report.backup {
        Err(BackupError::Cancelled) => return None,
        Err(e) => {
            lines.push(format!("❌ Lifeboat: the {} backup of {when} failed.", report.trigger));
            lines.push(format!("Why: {e}"));
            lines.push("No new archive was written. Run `lifeboat diagnose` on the server.".into());
        }
        Ok(o) if !o.manifest.skipped.is_empty() => {
            lines.push(format!(
                "⚠️ Lifeboat: the {} backup of {when} is partial: {} of {} databases in {}.",
                report.trigger,
                o.manifest.databases.len(),
                o.manifest.databases.len() + o.manifest.skipped.len(),
                o.archive.name
            ));
            for sk in &o.manifest.skipped {
                lines.push(format!("Skipped {}: {}", sk.name, sk.reason));
            }
            lines.push("Run `lifeboat diagnose` on the server.".into());
        }
        Ok(_) => {}
    }
    if let Delivery::Done(d) = &report.delivery {
        for f in &d.failed {
            lines.push(format!(
                "⚠️ {} could not be delivered to {}: {} ({}).",
                d.archive,
                f.chat,
                f.reason,
                advice_for(f.code)
            ));
        }
    }
    if let Some(e) = &report.retention_error {
        lines.push(format!("⚠️ Old archives could not be removed: {e}. Check free space on the server."));
    }
    if lines.is_empty() {
        return None;
    }
    let mut text = lines.join("\n");
    if text.chars().count() > MESSAGE_LIMIT {
        text = text.chars().take(MESSAGE_LIMIT - 1).collect::<String>() + "…";
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn the_cycle_future_is_send_so_the_dashboard_can_spawn_it() {
        let cfg = Config::from_toml("").unwrap();
        let fut = run_cycle(&cfg, Trigger::Dashboard, CancellationToken::new());
        assert_send(&fut);
    }

    fn outcome(skipped: &[&str]) -> BackupOutcome {
        use lifeboat_core::catalog::StoredArchive;
        use lifeboat_core::manifest::{DatabaseEntry, Manifest, SkippedDatabase};
        let at = Utc::now();
        let entry = |name: &str| DatabaseEntry {
            name: name.into(),
            size: 4096,
            sha256: "00".into(),
            integrity: "ok".into(),
            journal_mode: "wal".into(),
            page_size: 4096,
            tables: Vec::new(),
        };
        BackupOutcome {
            archive: StoredArchive {
                name: "database_backup_20261122_100000.zip".into(),
                created_at: at,
                files: vec!["/b/database_backup_20261122_100000.zip".into()],
                size: 2_500_000,
            },
            manifest: Manifest {
                format: "lifeboat-backup".into(),
                version: 1,
                created_at: at,
                host: "h".into(),
                trigger: Trigger::Scheduled,
                lifeboat_version: "0".into(),
                databases: vec![entry("a.db"), entry("b.db")],
                skipped: skipped
                    .iter()
                    .map(|n| SkippedDatabase { name: n.to_string(), reason: "file is not a database".into() })
                    .collect(),
            },
            run_id: 1,
            status: if skipped.is_empty() { RunStatus::Ok } else { RunStatus::Partial },
        }
    }

    fn report(backup: Result<BackupOutcome, BackupError>, delivery: Delivery) -> CycleReport {
        CycleReport {
            trigger: Trigger::Scheduled,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            abandoned_runs_closed: 0,
            backup,
            delivery,
            removed: Vec::new(),
            retention_error: None,
            alert: AlertStatus::NotNeeded,
        }
    }

    fn done(delivered: &[i64], failed: &[(i64, FailureCode, &str)], pending: &[i64]) -> Delivery {
        Delivery::Done(DeliverySummary {
            archive: "database_backup_20261122_100000.zip".into(),
            delivered: delivered.to_vec(),
            failed: failed
                .iter()
                .map(|(chat, code, reason)| FailedChat { chat: *chat, code: Some(*code), reason: reason.to_string() })
                .collect(),
            pending: pending.iter().map(|c| (*c, Some("timed out".to_string()))).collect(),
        })
    }

    #[test]
    fn a_clean_cycle_is_0_and_needs_no_alert() {
        let r = report(Ok(outcome(&[])), done(&[1, 2], &[], &[]));
        assert_eq!(r.exit_code(), 0);
        assert_eq!(alert_text(&r), None);
        assert!(r.summary().contains("delivered to 2 of 2 admins"), "{}", r.summary());
        let r = report(Ok(outcome(&[])), Delivery::Disabled);
        assert_eq!(r.exit_code(), 0, "no token is not a failure");
        assert!(r.summary().contains("Delivery: disabled"), "{}", r.summary());
        assert_eq!(alert_text(&r), None);
    }

    #[test]
    fn a_skipped_database_is_3_and_alerted_by_name() {
        let r = report(Ok(outcome(&["c.db"])), done(&[1], &[], &[]));
        assert_eq!(r.exit_code(), 3);
        let alert = alert_text(&r).unwrap();
        assert!(
            alert.contains("partial") && alert.contains("2 of 3") && alert.contains("c.db: file is not a database")
        );
    }

    #[test]
    fn undelivered_admins_are_3_and_only_permanent_failures_alerted() {
        let r = report(Ok(outcome(&[])), done(&[1], &[], &[2]));
        assert_eq!(r.exit_code(), 3);
        assert_eq!(alert_text(&r), None, "a transient failure is retried next cycle, not alerted");
        assert!(r.summary().contains("2 retried next cycle (last error: timed out)"), "{}", r.summary());
        let r = report(
            Ok(outcome(&[])),
            done(
                &[1],
                &[(2, FailureCode::NeverStarted, "Forbidden: bot can't initiate conversation with a user")],
                &[],
            ),
        );
        assert_eq!(r.exit_code(), 3);
        let alert = alert_text(&r).unwrap();
        assert!(alert.contains("could not be delivered to 2:"), "{alert}");
        assert!(alert.contains("press Start"), "{alert}");
    }

    #[test]
    fn no_archive_is_1_and_alerted_but_an_interruption_is_not() {
        let skipped = vec![lifeboat_core::manifest::SkippedDatabase { name: "a.db".into(), reason: "missing".into() }];
        let r = report(Err(BackupError::NothingBackedUp { skipped }), Delivery::NoArchive);
        assert_eq!(r.exit_code(), 1);
        let alert = alert_text(&r).unwrap();
        assert!(alert.contains("failed") && alert.contains("a.db: missing"), "{alert}");
        let r = report(Err(BackupError::Cancelled), Delivery::Interrupted);
        assert!(r.interrupted());
        assert_eq!(alert_text(&r), None);
        assert!(r.summary().contains("interrupted"), "{}", r.summary());
    }

    #[test]
    fn outbox_summary_per_admin() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("state.db")).unwrap();
        let at = Utc::now();
        let files = [("x.zip.001".to_string(), 1, 2), ("x.zip.002".to_string(), 2, 2)];
        state.enqueue_deliveries("x.zip", &files, &[1, 2, 3], at).unwrap();
        for row in state.deliveries_for("x.zip").unwrap() {
            match (row.chat_id, row.part) {
                (1, _) => state.mark_delivered(row.id, "F", 1, at).unwrap(),
                (2, 1) => state.mark_delivered(row.id, "F", 2, at).unwrap(),
                (2, 2) => state.mark_failed(row.id, FailureCode::Transient, "network down", false, at).unwrap(),
                (3, 1) => state
                    .mark_failed(row.id, FailureCode::Blocked, "Forbidden: bot was blocked by the user", true, at)
                    .unwrap(),
                _ => {}
            }
        }
        let sum = summarize_outbox(&state, "x.zip").unwrap();
        assert_eq!(sum.delivered, vec![1]);
        assert_eq!(sum.pending, vec![(2, Some("network down".to_string()))]);
        assert_eq!(
            sum.failed,
            vec![FailedChat {
                chat: 3,
                code: Some(FailureCode::Blocked),
                reason: "Forbidden: bot was blocked by the user".to_string()
            }]
        );
        assert!(!sum.all_delivered());
    }
}
