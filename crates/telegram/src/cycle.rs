//! One backup cycle: backup → verify → deliver → retention, under the cycle
//! lock, with an alert to the admins when something needs their attention.
//! OWNER: H5.
//!
//! The scheduler (daemon and `--once`), `lifeboat backup --deliver` and the
//! dashboard's "Backup now" all call [`run_cycle`], so they behave the same
//! and never run two cycles at once.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use lifeboat_core::backup::{self, BackupError, BackupOptions, BackupOutcome};
use lifeboat_core::config::Config;
use lifeboat_core::exit;
use lifeboat_core::lock::{CycleLock, LockError};
use lifeboat_core::manifest::Trigger;
use lifeboat_core::state::{DeliveryStatus, Level, RunStatus, State, StateError};
use tokio_util::sync::CancellationToken;

use self::pending::{Telegram, enqueue_archive};

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
    /// Admins it will never reach as things are (403, chat not found), with why.
    pub failed: Vec<(i64, String)>,
    /// Admins still owed it after this cycle's attempts: retried next cycle.
    pub pending: Vec<(i64, Option<String>)>,
}

impl DeliverySummary {
    /// True when every admin received the archive.
    pub fn all_delivered(&self) -> bool {
        self.failed.is_empty() && self.pending.is_empty()
    }
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
    /// True when the cycle was stopped by a signal (nothing partial was left).
    pub fn interrupted(&self) -> bool {
        matches!(self.backup, Err(BackupError::Cancelled))
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
            for (chat, why) in &sum.failed {
                let _ = write!(s, "; {chat} failed: {why} ({})", advice_for(why));
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
fn advice_for(error: &str) -> &'static str {
    let e = error.to_ascii_lowercase();
    if e.contains("can't initiate") || e.contains("never started") {
        "they must open the bot in Telegram and press Start"
    } else if e.contains("blocked") {
        "they blocked the bot; they must unblock it"
    } else if e.contains("chat not found") {
        "check the id in telegram.admin_ids"
    } else if e.contains("migrate") {
        "the group became a supergroup; put its new id in telegram.admin_ids"
    } else {
        "see `lifeboat status` and the dashboard's Health"
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Bytes for people, in decimal units like `max_upload_mb`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Which component a trigger's events are logged under.
fn event_source(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Scheduled => "scheduler",
        Trigger::Dashboard => "dashboard",
        Trigger::Manual | Trigger::Demo | Trigger::PreRestore => "cli",
    }
}

/// Logs to the state database and to tracing; a failing event write is
/// only traced, since losing a log line must not fail a backup.
fn log(state: &State, level: Level, source: &str, message: &str) {
    match level {
        Level::Info => tracing::info!(target: "lifeboat::cycle", "{message}"),
        Level::Warn => tracing::warn!(target: "lifeboat::cycle", "{message}"),
        Level::Error => tracing::error!(target: "lifeboat::cycle", "{message}"),
    }
    if let Err(e) = state.log_event(level, source, message, Utc::now()) {
        tracing::warn!("could not record an event in the state database: {e}");
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
    let state = State::open_for(cfg)?;
    let abandoned_runs_closed = state.close_abandoned_runs(started_at)?;
    if abandoned_runs_closed > 0 {
        log(
            &state,
            Level::Warn,
            source,
            &format!("{} left running by a stopped process marked interrupted", plural(abandoned_runs_closed, "run")),
        );
    }
    log(&state, Level::Info, source, &format!("{trigger} cycle started"));

    let backup = run_backup(cfg, trigger, cancel.clone()).await;
    match &backup {
        Ok(o) => log(
            &state,
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
        Err(BackupError::Cancelled) => log(&state, Level::Warn, source, "backup interrupted; no archive was written"),
        Err(e) => log(&state, Level::Error, source, &format!("backup failed: {e}")),
    }

    let telegram = Telegram::from_config(cfg);
    let delivery = if cancel.is_cancelled() {
        Delivery::Interrupted
    } else {
        deliver(cfg, &state, telegram.as_ref(), backup.as_ref().ok(), &cancel).await
    };
    match &delivery {
        Delivery::Done(d) if !d.all_delivered() => {
            log(&state, Level::Warn, "delivery", &format!("delivery: {}", describe_delivery(&delivery)))
        }
        Delivery::Error(_) => {
            log(&state, Level::Error, "delivery", &format!("delivery: {}", describe_delivery(&delivery)))
        }
        other => log(&state, Level::Info, "delivery", &format!("delivery: {}", describe_delivery(other))),
    }

    let (removed, retention_error) = if cancel.is_cancelled() {
        (Vec::new(), None)
    } else {
        match apply_retention(cfg, &state, Utc::now()) {
            Ok(removed) => {
                if !removed.is_empty() {
                    log(
                        &state,
                        Level::Info,
                        source,
                        &format!("retention removed {}: {}", plural(removed.len(), "archive"), removed.join(", ")),
                    );
                }
                (removed, None)
            }
            Err(e) => {
                log(&state, Level::Error, source, &format!("retention failed: {e}"));
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
                    log(&state, Level::Warn, "delivery", &format!("alerting the admins failed: {e}"));
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
    log(&state, level, source, &format!("{trigger} cycle finished: {}", report.summary().replace('\n', " | ")));
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
    state: &State,
    telegram: Option<&Telegram>,
    outcome: Option<&BackupOutcome>,
    cancel: &CancellationToken,
) -> Delivery {
    let Some(tg) = telegram else { return Delivery::Disabled };
    if cfg.telegram.admin_ids.is_empty() {
        return Delivery::NoAdmins;
    }
    if let Some(o) = outcome
        && let Err(e) = enqueue_archive(state, cfg, &o.archive, Utc::now())
    {
        return Delivery::Error(format!("could not queue {} for delivery: {e}", o.archive.name));
    }
    let _report = tg.deliver_pending(cfg, cancel).await;
    if cancel.is_cancelled() {
        return Delivery::Interrupted;
    }
    let Some(o) = outcome else { return Delivery::NoArchive };
    match summarize_outbox(state, &o.archive.name) {
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
            sum.failed.push((chat, f.last_error.clone().unwrap_or_else(|| "refused by Telegram".into())));
        } else if mine.iter().all(|r| r.status == DeliveryStatus::Delivered) {
            sum.delivered.push(chat);
        } else {
            let why = mine.iter().find_map(|r| r.last_error.clone());
            sum.pending.push((chat, why));
        }
    }
    Ok(sum)
}

fn apply_retention(cfg: &Config, state: &State, now: DateTime<Utc>) -> Result<Vec<String>, String> {
    pending::retention_apply(cfg, state, now)
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
        for (chat, why) in &d.failed {
            lines.push(format!("⚠️ {} could not be delivered to {chat}: {why} ({}).", d.archive, advice_for(why)));
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

/// TEMPORARY stand-ins for H3's delivery and H2's retention until they land
/// in main; replaced by the real items on merge.
#[allow(missing_docs, dead_code, clippy::unused_async)]
mod pending {
    use chrono::{DateTime, Utc};
    use lifeboat_core::catalog::StoredArchive;
    use lifeboat_core::config::Config;
    use lifeboat_core::state::{State, StateError};
    use tokio_util::sync::CancellationToken;

    pub struct Telegram;
    impl Telegram {
        pub fn from_config(cfg: &Config) -> Option<Telegram> {
            cfg.delivery_enabled().then_some(Telegram)
        }
        pub async fn deliver_pending(&self, _cfg: &Config, _cancel: &CancellationToken) {
            unimplemented!("H3")
        }
        pub async fn alert(&self, _text: &str) -> Result<(), String> {
            unimplemented!("H3")
        }
    }
    pub fn enqueue_archive(_: &State, _: &Config, _: &StoredArchive, _: DateTime<Utc>) -> Result<(), StateError> {
        unimplemented!("H3")
    }
    pub fn retention_apply(_: &Config, _: &State, _: DateTime<Utc>) -> Result<Vec<StoredArchive>, String> {
        Ok(Vec::new())
    }
}
