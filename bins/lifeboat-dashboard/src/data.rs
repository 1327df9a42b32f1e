//! What each screen shows, read from the state database, the archive folder
//! and the disk. Blocking (SQLite, file system): call from a blocking thread.
//! Every function takes `now`, so a fixed clock gives fixed screens.

use chrono::{DateTime, Utc};
use lifeboat_core::catalog::{self, StoredArchive};
use lifeboat_core::fsutil::SpaceError;
use lifeboat_core::state::{
    self, AdminHealth, DbCheck, Event, Heartbeat, Incident, SchedulerState, State, Verification,
};
use lifeboat_engine::Config;
use lifeboat_engine::status::StatusSnapshot;

/// Events per Logs page, before trimming to Telegram's limit.
pub const LOG_PAGE: usize = 25;

/// Archives listed under 📦 Backups.
pub const BACKUPS_SHOWN: usize = 8;

/// Reads the Status screen: the same snapshot `lifeboat status` shows.
pub fn status(cfg: &Config, st: &State, now: DateTime<Utc>) -> anyhow::Result<StatusSnapshot> {
    Ok(lifeboat_engine::status::snapshot(cfg, Some(st), now)?)
}

/// 🩺 Health.
#[derive(Debug)]
pub struct HealthData {
    /// Where archives are written.
    pub output_dir: String,
    /// Free space there, or why it is unknown.
    pub free_bytes: Result<u64, SpaceError>,
    /// Each configured database with its latest check (None: never checked).
    pub databases: Vec<(String, Option<DbCheck>)>,
    /// The scheduler's heartbeat.
    pub heartbeat: Option<Heartbeat>,
    /// Scheduler state judged at `now`.
    pub scheduler: SchedulerState,
    /// Each admin with their latest delivery outcome (None: nothing sent yet).
    pub admins: Vec<(i64, Option<AdminHealth>)>,
    /// Each other destination (bucket, Discord, email) with its latest
    /// outbox row (None: nothing sent yet).
    pub destinations: Vec<(lifeboat_core::destination::DestinationId, Option<state::Copy>)>,
    /// Incidents open now.
    pub incidents: Vec<Incident>,
    /// The latest read-back of a stored archive.
    pub reverified: Option<Verification>,
}

/// Reads the Health screen.
pub fn health(cfg: &Config, st: &State, now: DateTime<Utc>) -> anyhow::Result<HealthData> {
    let checks = st.latest_db_checks()?;
    let databases = cfg
        .backup
        .databases
        .iter()
        .map(|name| (name.clone(), checks.iter().find(|c| &c.name == name).cloned()))
        .collect();
    let health = st.admin_health()?;
    // Archives go to `admin_ids` only; an owner outside it restores but
    // receives nothing, so has no delivery health to show.
    let admins =
        cfg.telegram.admin_ids.iter().map(|&id| (id, health.iter().find(|h| h.chat_id == id).cloned())).collect();
    let heartbeat = st.heartbeat(state::Process::Scheduler)?;
    Ok(HealthData {
        output_dir: cfg.backup.output_dir.display().to_string(),
        free_bytes: lifeboat_core::fsutil::space_for(&cfg.backup.output_dir),
        databases,
        scheduler: state::scheduler_state_here(heartbeat.as_ref(), now),
        heartbeat,
        admins,
        destinations: cfg
            .destinations
            .ids()
            .into_iter()
            .map(|id| Ok((id.clone(), st.latest_copy(&id)?)))
            .collect::<Result<_, state::StateError>>()?,
        incidents: st.open_incidents()?,
        reverified: st.verifications()?.into_iter().next(),
    })
}

/// One page of 📜 Logs.
#[derive(Debug, Clone)]
pub struct LogsData {
    /// Events skipped (newer than this page).
    pub offset: u32,
    /// Events newest first; the text may show fewer to fit.
    pub events: Vec<Event>,
    /// More events exist after `events`.
    pub more: bool,
}

/// Reads one page of Logs.
pub fn logs(st: &State, offset: u32) -> anyhow::Result<LogsData> {
    let mut events = st.events(LOG_PAGE + 1, offset as usize)?;
    let more = events.len() > LOG_PAGE;
    events.truncate(LOG_PAGE);
    Ok(LogsData { offset, events, more })
}

/// One archive under 📦 Backups.
#[derive(Debug, Clone)]
pub struct ArchiveRow {
    /// The archive on disk.
    pub archive: StoredArchive,
    /// Verified after writing (None: no run recorded it).
    pub verified: Option<bool>,
    /// Admins who received every part.
    pub delivered_to: usize,
}

/// Reads the Backups screen: the newest archives.
pub fn backups(cfg: &Config, st: &State) -> anyhow::Result<Vec<ArchiveRow>> {
    let mut rows = Vec::new();
    for archive in catalog::list(&cfg.backup.output_dir)?.into_iter().take(BACKUPS_SHOWN) {
        let verified = st.run_for_archive(&archive.name)?.map(|r| r.end.verified);
        let delivered_to = st.delivered_chats(&archive.name)?.len();
        rows.push(ArchiveRow { archive, verified, delivered_to });
    }
    Ok(rows)
}
