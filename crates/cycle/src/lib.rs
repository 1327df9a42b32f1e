//! One backup cycle: `hooks.before` → backup → verify → deliver → retention
//! → `hooks.after`/`on_failure`, under the cycle lock, with an alert to the
//! admins when something needs their attention. A cycle that leaves any
//! archive owed to a destination is partial (exit 3), so health stays
//! honest while a destination is down.
//!
//! The scheduler (daemon and `--once`), `lifeboat backup --deliver` and the
//! dashboard's "Backup now" all call [`run_cycle`], so they behave the same
//! and never run two cycles at once. Destinations plug in through
//! [`lifeboat_core::destination::ArchiveSink`] (archives) and
//! [`lifeboat_core::destination::Notifier`] (alerts); [`destinations`]
//! builds the configured ones.
//!
//! # Layout
//! - [`report`]: what a cycle did ([`CycleReport`]), its exit code and summary.
//! - [`alert`]: the message the admins get when a cycle needs them.
//! - [`ping`]: the dead-man's switch, pinged at the start and end of a cycle.
//! - [`reverify`]: each cycle reads back the archive verified longest ago.
//! - [`shrink_alert`]: a database that shrank sharply pins the previous
//!   archive and alerts loudly.
//! - [`watch`]: incidents between cycles (stale backups, a silent
//!   scheduler…), alerted once when they open and once when they clear.
//!
//! # Error policy
//! [`run_cycle`] fails ([`CycleError`]) only when no cycle ran: the lock is
//! held or the state database cannot be opened. Everything that goes wrong
//! inside a cycle (a database skipped, the backup failed, an admin not
//! reached) is data in the [`CycleReport`], typed, so that the binaries
//! choose the exit code and the words, and the alert and the dashboard match
//! on cases rather than text.

pub mod alert;
pub mod ping;
pub mod report;
pub mod reverify;
pub mod shrink_alert;
pub mod watch;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use lifeboat_core::destination::{ArchiveSink, Notifier, Opened, Owed, Probe};
use lifeboat_core::exit;
use lifeboat_core::lock::{CycleLock, LockError};
use lifeboat_core::manifest::Trigger;
use lifeboat_core::state::{Level, State, StateError};
use lifeboat_core::units::{human_size, plural};
use lifeboat_engine::backup::{self, BackupError, BackupOptions, BackupOutcome};
use lifeboat_engine::config::Config;
use lifeboat_engine::hooks::{HookError, Stage};
use lifeboat_engine::retention::{self, RetentionError};
use tokio_util::sync::CancellationToken;

pub use alert::alert_text;
use report::describe_delivery;
pub use report::{
    AlertStatus, CycleReport, Delivery, DeliveryError, DeliverySummary, FailedChat, StoreMiss, summarize_outbox,
};

/// The configured destinations as the cycle uses them: where archives go,
/// and who hears alerts. A destination that does both is in both lists.
#[derive(Clone, Default)]
pub struct Destinations {
    pub sinks: Vec<Arc<dyn ArchiveSink>>,
    pub notifiers: Vec<Arc<dyn Notifier>>,
}

/// Those of `notifiers` that have someone to tell.
pub fn messengers(notifiers: &[Arc<dyn Notifier>]) -> impl Iterator<Item = &dyn Notifier> {
    notifiers.iter().map(|n| n.as_ref()).filter(|n| n.has_recipients())
}

/// The destinations `cfg` configures.
pub fn destinations(cfg: &Config) -> Destinations {
    let Opened { sinks, notifiers, .. } = cfg.open_destinations();
    Destinations { sinks, notifiers }
}

/// The probes of the destinations `cfg` configures, for `diagnose`.
pub fn probes(cfg: &Config) -> Vec<Arc<dyn Probe>> {
    cfg.open_destinations().probes
}

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

/// Which component a trigger's events are logged under.
fn event_source(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Scheduled => lifeboat_core::state::Process::Scheduler.as_str(),
        Trigger::Dashboard => "dashboard",
        Trigger::Manual | Trigger::Demo | Trigger::PreRestore => "cli",
    }
}

/// The cycle's one connection to the state database, shared by its steps.
/// A connection is not `Sync`: behind a mutex, the cycle's future stays
/// `Send` (the dashboard spawns it); in an `Arc`, the blocking steps' threads
/// use it too. No step holds the lock across an await.
#[derive(Clone)]
struct SharedState(Arc<Mutex<State>>);

impl SharedState {
    fn new(state: State) -> Self {
        SharedState(Arc::new(Mutex::new(state)))
    }

    /// The connection, for one step. A step that panicked left no
    /// transaction open (rusqlite rolls one back when it is dropped), so
    /// the connection is still good.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes events to the state database and to tracing.
struct Journal<'a> {
    state: &'a SharedState,
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
        if let Err(e) = self.state.lock().log_event(level, source, message, Utc::now()) {
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
    run_cycle_with(cfg, trigger, &destinations(cfg), cancel).await
}

/// [`run_cycle`] with the given destinations.
pub async fn run_cycle_with(
    cfg: &Config,
    trigger: Trigger,
    destinations: &Destinations,
    cancel: CancellationToken,
) -> Result<CycleReport, CycleError> {
    let _lock = CycleLock::try_acquire(&cfg.lock_path(), &format!("{trigger} cycle"))?;
    let started_at = Utc::now();
    let source = event_source(trigger);
    let state = SharedState::new(cfg.open_state()?);
    let journal = Journal { state: &state };
    let abandoned_runs_closed = state.lock().close_abandoned_runs(started_at)?;
    if abandoned_runs_closed > 0 {
        journal.log(
            Level::Warn,
            source,
            &format!("{} left running by a stopped process marked interrupted", plural(abandoned_runs_closed, "run")),
        );
    }
    journal.log(Level::Info, source, &format!("{trigger} cycle started"));
    let pinger = cfg.monitoring.ping_url.as_ref().and_then(ping::Pinger::start);

    let hook_env = hook_env(cfg, trigger);
    let refused = run_hooks(cfg, Stage::Before, hook_env.clone(), &journal, source).await.into_iter().next();
    let skipped = refused.is_some();
    let backup = match refused {
        Some(e) => Err(BackupError::HookRefused(Box::new(e))),
        None => run_backup(cfg, trigger, &state, cancel.clone()).await,
    };
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
        Err(e @ BackupError::Unchanged { .. }) => journal.log(Level::Info, source, &e.to_string()),
        Err(e @ BackupError::HookRefused(_)) => journal.log(Level::Error, source, &e.to_string()),
        Err(e) => journal.log(Level::Error, source, &format!("backup failed: {e}")),
    }

    // Compared apart from the match: the journal there takes the lock again.
    let compared = backup.as_ref().ok().map(|o| shrink_alert::check(cfg, &state.lock(), o, Utc::now()));
    let shrunk = match compared {
        Some(Ok(found)) => found,
        Some(Err(e)) => {
            journal.log(Level::Warn, source, &format!("could not compare with the previous archive: {e}"));
            None
        }
        None => None,
    };
    if let Some(s) = &shrunk {
        let what = shrink_alert::describe(&s.shrinks).join("; ");
        journal.log(Level::Error, source, &format!("data shrank: {what}; {} pinned", s.pinned));
    }

    let delivery = if skipped {
        Delivery::Skipped
    } else if cancel.is_cancelled() {
        Delivery::Interrupted
    } else {
        deliver(&state, &destinations.sinks, backup.as_ref().ok(), &cancel).await
    };
    let owed = match delivery {
        Delivery::Interrupted | Delivery::Skipped => Vec::new(),
        _ => still_owed(&state, &destinations.sinks),
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
    let this = backup.as_ref().ok().map(|o| o.archive.name.as_str());
    let earlier: Vec<String> =
        owed.iter().filter(|o| Some(o.archive.as_str()) != this).map(|o| o.to_string()).collect();
    if !earlier.is_empty() {
        journal.log(Level::Warn, "delivery", &format!("still owed, tried again next cycle: {}", earlier.join("; ")));
    }

    let (removed, retention_error) = if cancel.is_cancelled() || skipped {
        (Vec::new(), None)
    } else {
        match apply_retention(cfg, &state, Utc::now()) {
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

    if let (Some(s), Ok(o)) = (&shrunk, &backup) {
        let text = shrink_alert::alert_text(s, &o.archive.name);
        for d in messengers(&destinations.notifiers) {
            if let Err(e) = d.alert_pinned(&text, &s.pinned).await {
                journal.log(Level::Warn, "delivery", &format!("the shrink alert ({}) failed: {e}", d.kind()));
            }
        }
    }

    let reverified = if cancel.is_cancelled() || skipped {
        None
    } else {
        reverify_one(cfg, &backup, &destinations.notifiers, &journal, source).await
    };

    if let Ok(o) = &backup {
        chain_proofs(&o.chain_proofs, &destinations.notifiers, &journal, source).await;
    }

    let mut report = CycleReport {
        trigger,
        started_at,
        finished_at: Utc::now(),
        abandoned_runs_closed,
        backup,
        delivery,
        owed,
        removed,
        retention_error,
        shrunk,
        reverified,
        alert: AlertStatus::NotNeeded,
        restore_advice: Vec::new(),
        hooks_failed: Vec::new(),
    };
    if let Ok(o) = &report.backup {
        report.restore_advice = restore_advice(cfg, &state, &o.manifest.skipped);
    }
    if let Some(text) = alert_text(&report) {
        report.alert = send_alert(&destinations.notifiers, &text, &journal).await;
    } else if let (Trigger::Scheduled, Ok(o)) = (trigger, &report.backup) {
        let text = backed_up_text(o);
        for d in messengers(&destinations.notifiers) {
            if let Err(e) = d.backed_up(&text).await {
                journal.log(Level::Warn, "delivery", &format!("the backup note ({}) failed: {e}", d.kind()));
            }
        }
    }
    // The watcher's look, at the end of every cycle: a machine run by the
    // timer (no daemon watching) hears of a stuck delivery or a stale
    // backup too. Incidents are kept in the state database, so a daemon
    // that also looks never tells the admins twice.
    if !report.interrupted() {
        look_for_incidents(cfg, &destinations.notifiers, started_at, trigger, source).await;
    }
    report.finished_at = Utc::now();
    let level = match report.exit_code() {
        exit::SUCCESS => Level::Info,
        exit::PARTIAL => Level::Warn,
        _ if report.interrupted() => Level::Warn,
        _ => Level::Error,
    };
    journal.log(level, source, &format!("{trigger} cycle finished: {}", report.summary().replace('\n', " | ")));
    if let Err(e) = write_metrics(cfg, &state) {
        journal.log(Level::Warn, source, &format!("cannot write monitoring.metrics_file: {e}"));
    }
    // A stopped cycle runs no hook: the service is going down.
    if !report.interrupted() {
        let mut env = hook_env;
        env.extend(report.hook_env());
        let mut failed = Vec::new();
        if !skipped {
            failed.extend(run_hooks(cfg, Stage::After, env.clone(), &journal, source).await);
        }
        if report.exit_code() != exit::SUCCESS {
            failed.extend(run_hooks(cfg, Stage::OnFailure, env, &journal, source).await);
        }
        report.hooks_failed = failed.iter().map(|e| e.to_string()).collect();
        report.finished_at = Utc::now();
    }
    // A stopped cycle says nothing: the next one pings again, and a planned
    // restart must not page anyone.
    if let Some(pinger) = pinger.filter(|_| !report.interrupted()) {
        let outcome = if report.exit_code() == exit::SUCCESS {
            ping::Outcome::Success
        } else {
            ping::Outcome::Fail(report.summary())
        };
        pinger.finish(outcome).await;
    }
    Ok(report)
}

/// One [`watch::look_after_cycle`] from a cycle that started at
/// `started_at`, its outcome in the log (the look records the incidents'
/// events itself).
async fn look_for_incidents(
    cfg: &Config,
    notifiers: &[Arc<dyn Notifier>],
    started_at: DateTime<Utc>,
    trigger: Trigger,
    source: &str,
) {
    let scheduled = trigger == Trigger::Scheduled;
    match watch::look_after_cycle(cfg, notifiers, started_at, Utc::now(), source, scheduled).await {
        Ok(changes) => {
            for kind in &changes.opened {
                tracing::error!(target: "lifeboat::cycle", "incident opened: {}", watch::title(*kind));
            }
            for kind in &changes.closed {
                tracing::info!(target: "lifeboat::cycle", "incident closed: {}", watch::title(*kind));
            }
        }
        Err(e) => tracing::warn!(target: "lifeboat::cycle", "looking for incidents after the cycle failed: {e}"),
    }
}

/// `backup::run` is blocking (SQLite, compression): it gets its own thread,
/// and watches `cancel` itself.
async fn run_backup(
    cfg: &Config,
    trigger: Trigger,
    state: &SharedState,
    cancel: CancellationToken,
) -> Result<BackupOutcome, BackupError> {
    let cfg = cfg.clone();
    let state = state.clone();
    let joined = tokio::task::spawn_blocking(move || {
        let state = state.lock();
        let opts = BackupOptions { trigger, only: None, progress: None, cancel, now: Utc::now() };
        // Only the schedule skips: someone who asks for a backup gets one.
        if trigger == Trigger::Scheduled && cfg.backup.skip_unchanged {
            backup::run_unless_unchanged(&cfg, &state, opts)
        } else {
            backup::run(&cfg, &state, opts)
        }
    })
    .await;
    joined.unwrap_or_else(|e| {
        Err(BackupError::Io {
            context: "the backup thread stopped unexpectedly".into(),
            source: std::io::Error::other(e),
        })
    })
}

async fn deliver(
    state: &SharedState,
    sinks: &[Arc<dyn ArchiveSink>],
    outcome: Option<&BackupOutcome>,
    cancel: &CancellationToken,
) -> Delivery {
    if sinks.is_empty() {
        return Delivery::Disabled;
    }
    let destinations: Vec<&dyn ArchiveSink> = sinks.iter().map(|d| d.as_ref()).filter(|d| d.has_recipients()).collect();
    if destinations.is_empty() {
        return Delivery::NoAdmins;
    }
    if let Some(o) = outcome {
        let queued = {
            let state = state.lock();
            destinations.iter().try_for_each(|d| d.enqueue(&state, &o.archive, Utc::now()))
        };
        if let Err(e) = queued {
            return Delivery::Error(DeliveryError::Queue { archive: o.archive.name.clone(), source: Arc::new(e) });
        }
    }
    for d in &destinations {
        d.deliver_pending(cancel).await;
    }
    if cancel.is_cancelled() {
        return Delivery::Interrupted;
    }
    let Some(o) = outcome else { return Delivery::NoArchive };
    let summary = summarize_outbox(&state.lock(), &o.archive.name);
    match summary {
        Ok(sum) => Delivery::Done(sum),
        Err(e) => Delivery::Error(DeliveryError::Outbox(Arc::new(e))),
    }
}

/// The note after a scheduled backup that went well, as the Discord bot
/// Lifeboat replaces sent it: files, size, backup id.
fn backed_up_text(o: &BackupOutcome) -> String {
    format!(
        "✅ Backup created\nFiles: {} database(s)\nSize: {}\nBackup ID: {}",
        o.manifest.databases.len(),
        human_size(o.archive.size),
        o.archive.name
    )
}

/// The variables every hook of a cycle gets.
fn hook_env(cfg: &Config, trigger: Trigger) -> Vec<(&'static str, String)> {
    vec![
        ("LIFEBOAT_TRIGGER", trigger.to_string()),
        ("LIFEBOAT_OUTPUT_DIR", cfg.backup.output_dir.display().to_string()),
        ("LIFEBOAT_CONFIG", cfg.file.as_ref().map(|f| f.display().to_string()).unwrap_or_default()),
    ]
}

/// Runs `stage`'s hooks on a blocking thread; each failure is journaled
/// and returned.
async fn run_hooks(
    cfg: &Config,
    stage: Stage,
    env: Vec<(&'static str, String)>,
    journal: &Journal<'_>,
    source: &str,
) -> Vec<HookError> {
    if stage.commands(cfg).is_empty() {
        return Vec::new();
    }
    let owned = cfg.clone();
    let failed = tokio::task::spawn_blocking(move || lifeboat_engine::hooks::run(&owned, stage, &env)).await;
    match failed {
        Ok(failed) => {
            // A before hook's failure is the backup's outcome, journaled with it.
            for e in failed.iter().filter(|_| stage != Stage::Before) {
                journal.log(Level::Warn, source, &e.to_string());
            }
            failed
        }
        Err(e) => {
            journal.log(Level::Error, source, &format!("{} stopped unexpectedly: {e}", stage.key()));
            Vec::new()
        }
    }
}

/// What the outbox still owes the destinations with recipients; an outbox
/// that cannot be read is logged and owes nothing here (the next cycle
/// reads it again).
fn still_owed(state: &SharedState, sinks: &[Arc<dyn ArchiveSink>]) -> Vec<Owed> {
    let state = state.lock();
    let mut out = Vec::new();
    for sink in sinks.iter().filter(|s| s.has_recipients()) {
        match sink.owed(&state) {
            Ok(owed) => out.extend(owed),
            Err(e) => tracing::warn!("{}: cannot read what the outbox still owes it: {e}", sink.id()),
        }
    }
    out
}

/// Alerts through every notifier with recipients; sent when one of them
/// took it.
async fn send_alert(notifiers: &[Arc<dyn Notifier>], text: &str, journal: &Journal<'_>) -> AlertStatus {
    let mut status = AlertStatus::NoRecipient;
    for d in messengers(notifiers) {
        match d.alert(text).await {
            Ok(()) => status = AlertStatus::Sent,
            Err(e) => {
                journal.log(Level::Warn, "delivery", &format!("alerting the admins ({}) failed: {e}", d.kind()));
                if status != AlertStatus::Sent {
                    status = AlertStatus::Failed(e);
                }
            }
        }
    }
    status
}

/// Re-verifies the stored archive read longest ago (not the one just
/// written), on a blocking thread; tells the admins when that opens or
/// closes the corrupt-archive incident.
async fn reverify_one(
    cfg: &Config,
    backup: &Result<BackupOutcome, BackupError>,
    notifiers: &[Arc<dyn Notifier>],
    journal: &Journal<'_>,
    source: &str,
) -> Option<reverify::Reverified> {
    let skip = backup.as_ref().ok().map(|o| o.archive.name.clone());
    let owned = cfg.clone();
    let state = journal.state.clone();
    let joined =
        tokio::task::spawn_blocking(move || reverify::run(&owned, &state.lock(), skip.as_deref(), Utc::now())).await;
    let found = match joined {
        Ok(Ok(found)) => found?,
        Ok(Err(e)) => {
            journal.log(Level::Warn, source, &format!("re-verifying a stored archive failed: {e}"));
            return None;
        }
        Err(e) => {
            journal.log(Level::Warn, source, &format!("re-verifying a stored archive stopped: {e}"));
            return None;
        }
    };
    if found.ok {
        tracing::info!("re-verified {}: ok", found.archive);
    } else {
        journal.log(Level::Error, source, &format!("re-verified {}: FAILED: {}", found.archive, found.detail));
    }
    let text = match &found.incident {
        Some(reverify::Change::Opened(what)) => {
            Some(watch::opened_text(lifeboat_core::state::IncidentKind::ArchiveCorrupt, what))
        }
        Some(reverify::Change::Closed(incident)) => Some(watch::recovered_text(incident, Utc::now())),
        None => None,
    };
    if let Some(text) = text {
        send_alert(notifiers, &text, journal).await;
    }
    Some(found)
}

/// `[continuous]`: a chain that does not equal its archive's snapshot
/// opens the chain-mismatch incident (the admins hear it); an archive
/// whose every proof held closes it.
async fn chain_proofs(
    proofs: &[lifeboat_core::source::sqlite::continuous::ChainProof],
    notifiers: &[Arc<dyn Notifier>],
    journal: &Journal<'_>,
    source: &str,
) {
    use lifeboat_core::source::sqlite::continuous::ChainProof;
    use lifeboat_core::state::IncidentKind;
    let bad: Vec<String> =
        proofs.iter().filter(|p| matches!(p, ChainProof::Mismatch { .. })).map(ChainProof::words).collect();
    for b in &bad {
        journal.log(Level::Error, source, b);
    }
    for p in proofs.iter().filter(|p| matches!(p, ChainProof::Proven { .. })) {
        journal.log(Level::Info, source, &p.words());
    }
    let proven = proofs.iter().any(|p| matches!(p, ChainProof::Proven { .. }));
    let now = Utc::now();
    let change = {
        let state = journal.state.lock();
        if !bad.is_empty() {
            let detail = bad.join("\n");
            state
                .open_incident(IncidentKind::ChainMismatch, &detail, now)
                .map(|opened| opened.then(|| watch::opened_text(IncidentKind::ChainMismatch, &detail)))
        } else if proven {
            state
                .close_incident(IncidentKind::ChainMismatch, now)
                .map(|closed| closed.map(|i| watch::recovered_text(&i, now)))
        } else {
            Ok(None)
        }
    };
    match change {
        Ok(Some(text)) => {
            send_alert(notifiers, &text, journal).await;
        }
        Ok(None) => {}
        Err(e) => journal.log(Level::Warn, source, &format!("recording the chain proof failed: {e}")),
    }
}

/// Why the metrics file was not rewritten after a cycle.
#[derive(Debug, thiserror::Error)]
enum MetricsWriteError {
    /// The figures could not be gathered.
    #[error(transparent)]
    Render(#[from] lifeboat_engine::status::StatusError),
    /// The file could not be written.
    #[error("{}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        #[source]
        source: lifeboat_engine::metrics::MetricsFileError,
    },
}

/// Rewrites `monitoring.metrics_file`, when set, with the cycle's outcome.
fn write_metrics(cfg: &Config, state: &SharedState) -> Result<(), MetricsWriteError> {
    let path = &cfg.monitoring.metrics_file;
    if path.as_os_str().is_empty() {
        return Ok(());
    }
    let text = lifeboat_engine::metrics::render(cfg, Some(&state.lock()), Utc::now())?;
    lifeboat_engine::metrics::write_file(path, &text)
        .map_err(|source| MetricsWriteError::File { path: path.clone(), source })
}

/// The restore command for each skipped source some archive still holds a
/// good copy of (named: `latest` is the partial archive without it).
fn restore_advice(
    cfg: &Config,
    state: &SharedState,
    skipped: &[lifeboat_core::manifest::SkippedDatabase],
) -> Vec<(String, String)> {
    let state = state.lock();
    skipped
        .iter()
        .filter_map(|sk| Some((sk.name.clone(), retention::restore_advice(cfg, Some(&state), &sk.name)?)))
        .collect()
}

fn apply_retention(cfg: &Config, state: &SharedState, now: DateTime<Utc>) -> Result<Vec<String>, RetentionError> {
    Ok(retention::apply(cfg, &state.lock(), now)?.into_iter().map(|a| a.name).collect())
}

#[cfg(test)]
mod tests;
