//! Where the backups stand, read once for everyone who shows it: `lifeboat
//! status` (text and JSON) and the dashboard's Status screen.

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use lifeboat_core::catalog;
use lifeboat_core::fsutil::{self, SpaceError};
use lifeboat_core::state::{self, Heartbeat, Incident, Run, RunCounts, SchedulerState, State, StateError};

/// The facts behind a status screen, at `now`.
#[derive(Debug)]
pub struct StatusSnapshot {
    /// When it was read.
    pub now: DateTime<Utc>,
    /// The latest finished run.
    pub last_run: Option<Run>,
    /// The scheduler judged by its heartbeat.
    pub scheduler: SchedulerState,
    /// Its latest heartbeat, when it ever wrote one.
    pub heartbeat: Option<Heartbeat>,
    /// The next cycle: the running scheduler's word, else the schedule's
    /// (a stopped scheduler's promise is stale).
    pub next_run: Option<DateTime<Utc>>,
    /// Runs in the last 24 hours.
    pub last_24h: RunCounts,
    /// Archives on disk.
    pub archives: usize,
    /// Their total size.
    pub archive_bytes: u64,
    /// Free space where archives are written.
    pub free_bytes: Result<u64, SpaceError>,
    /// Deliveries waiting in the outbox.
    pub pending_deliveries: usize,
    /// Incidents open now (stale backups, a silent scheduler…).
    pub incidents: Vec<Incident>,
    /// Each off-site store (`s3:NAME`) and its latest copy.
    pub stores: Vec<(lifeboat_core::destination::DestinationId, Option<state::Copy>)>,
    /// Damaged files a live restore copied aside before overwriting them,
    /// kept until removed by hand.
    pub quarantined: Vec<crate::restore::Quarantined>,
    /// Settings that do not do what they say here, in words.
    pub warnings: Vec<String>,
    /// Configured sources the newest archive holds no good copy of, with
    /// their newest good copy (how long they have had none).
    pub without_good_copy: Vec<crate::retention::NoGoodCopy>,
    /// `[continuous]`, when enabled: each SQLite database's capture.
    pub continuous: Vec<ContinuousStatus>,
}

/// Where the continuous capture of one database stands.
#[derive(Debug, Clone)]
pub struct ContinuousStatus {
    /// Its name in `backup.databases`.
    pub database: String,
    /// Seconds since its committed changes were last captured in full;
    /// None: never captured.
    pub lag_secs: Option<f64>,
    /// The moments `restore --at` can reach (None: none yet).
    pub span: Option<lifeboat_core::source::sqlite::continuous::Span>,
}

/// Each configured database's capture, when `[continuous]` is enabled.
fn continuous(cfg: &Config, state: Option<&State>, now: DateTime<Utc>) -> Result<Vec<ContinuousStatus>, StateError> {
    if !cfg.continuous.enabled {
        return Ok(Vec::new());
    }
    let positions = state.map(State::capture_positions).transpose()?.unwrap_or_default();
    let setup = cfg.continuous_setup();
    Ok(setup
        .databases
        .iter()
        .map(|name| ContinuousStatus {
            database: name.clone(),
            lag_secs: positions
                .iter()
                .find(|p| &p.database == name)
                .map(|p| (now - p.checked_at).num_milliseconds().max(0) as f64 / 1000.0),
            span: lifeboat_core::source::sqlite::continuous::span(&setup, name).ok().flatten(),
        })
        .collect())
}

/// Reads the status. `state` is None when the state database does not exist
/// yet (nothing ran): the answer is then what the disk and the schedule say.
pub fn snapshot(cfg: &Config, state: Option<&State>, now: DateTime<Utc>) -> Result<StatusSnapshot, StatusError> {
    let archives = catalog::list(&cfg.backup.output_dir)?;
    let heartbeat = state.map(|s| s.heartbeat(state::Process::Scheduler)).transpose()?.flatten();
    let scheduler = state::scheduler_state_here(heartbeat.as_ref(), now);
    let next_run = heartbeat
        .as_ref()
        .filter(|_| scheduler.is_up())
        .and_then(|hb| hb.next_run)
        .or_else(|| cfg.schedule.cron.next_after(now));
    Ok(StatusSnapshot {
        now,
        last_run: state.map(State::last_finished_run).transpose()?.flatten(),
        scheduler,
        heartbeat,
        next_run,
        last_24h: state.map(|s| s.run_counts_since(now - Duration::hours(24))).transpose()?.unwrap_or_default(),
        archives: archives.len(),
        archive_bytes: archives.iter().map(|a| a.size).sum(),
        free_bytes: fsutil::space_for(&cfg.backup.output_dir),
        pending_deliveries: state.map(|s| s.pending_deliveries()).transpose()?.map_or(0, |p| p.len()),
        incidents: state.map(State::open_incidents).transpose()?.unwrap_or_default(),
        stores: cfg
            .destinations
            .ids()
            .into_iter()
            .map(|id| Ok((id.clone(), state.map(|s| s.latest_copy(&id)).transpose()?.flatten())))
            .collect::<Result<_, StateError>>()?,
        quarantined: crate::restore::quarantine::list(&cfg.backup.output_dir),
        warnings: Vec::new(),
        without_good_copy: crate::retention::sources_without_good_copy(cfg, state, &archives)?,
        continuous: continuous(cfg, state, now)?,
    })
}

/// The status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The archive folder.
    #[error(transparent)]
    Catalog(#[from] catalog::CatalogError),
    #[error(transparent)]
    State(#[from] StateError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn before_anything_ran_the_schedule_and_the_disk_answer() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::from_toml(&format!(
            "[backup]\noutput_dir = {:?}\n[schedule]\ncron = \"0 * * * *\"\n",
            dir.path().join("not-yet").display().to_string()
        ))
        .unwrap();
        let now = "2026-11-22T10:30:00Z".parse().unwrap();
        let s = snapshot(&cfg, None, now).unwrap();
        assert!(s.last_run.is_none());
        assert_eq!(s.scheduler, SchedulerState::Unknown);
        assert_eq!(s.next_run, Some("2026-11-22T11:00:00Z".parse().unwrap()));
        assert_eq!((s.archives, s.archive_bytes, s.pending_deliveries), (0, 0, 0));
        assert!(s.free_bytes.unwrap() > 0, "read on the parent of a folder not yet created");
    }
}
