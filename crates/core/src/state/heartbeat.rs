//! Heartbeats: each long-running process says it is alive, and until when
//! the next beat is due, so the others can tell a stopped one from a hung one.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use strum::{EnumString, IntoStaticStr};

use super::{Result, State, opt_time_at, parsed, time_at, ts};

/// The processes that beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum Process {
    /// `lifeboat-scheduler`, as a daemon or after each `--once`.
    Scheduler,
}

impl Process {
    /// Stored form, also the name people see.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a process said it was doing at its last beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr, EnumString)]
#[strum(serialize_all = "kebab-case")]
pub enum HeartbeatState {
    /// Waiting for its next job.
    Idle,
    /// In a cycle.
    Running,
    /// Stopped cleanly.
    Stopped,
    /// Written by `lifeboat-scheduler --once` after its cycle: no daemon, a
    /// timer (systemd or cron) runs the next cycle at `next_run`.
    Timer,
}

impl HeartbeatState {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A process's heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub process: Process,
    pub pid: u32,
    /// Last beat.
    pub at: DateTime<Utc>,
    /// What it was doing.
    pub state: HeartbeatState,
    /// The writer promises another beat within this time.
    pub stale_after_secs: u64,
    /// Next scheduled cycle.
    pub next_run: Option<DateTime<Utc>>,
}

/// What the dashboard and `status` say about the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, IntoStaticStr)]
pub enum SchedulerState {
    /// The daemon's heartbeat is fresh.
    Running,
    /// Timer mode: the last `--once` cycle's promise (the next run) holds.
    Timer,
    /// A stale heartbeat, or a clean stop.
    Stopped,
    /// The daemon's heartbeat is fresh but its process is gone (killed
    /// without stopping cleanly): see [`scheduler_state_here`].
    Died,
    /// Never seen.
    Unknown,
}

impl SchedulerState {
    /// "Running" / "Timer" / "Stopped" / "Died" / "Unknown".
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Backups are being scheduled, by the daemon or by a timer.
    pub fn is_up(self) -> bool {
        matches!(self, SchedulerState::Running | SchedulerState::Timer)
    }
}

/// Judges a heartbeat at `now`: fresh means the writer's promise holds.
pub fn scheduler_state(hb: Option<&Heartbeat>, now: DateTime<Utc>) -> SchedulerState {
    match hb {
        None => SchedulerState::Unknown,
        Some(hb) if hb.state == HeartbeatState::Stopped => SchedulerState::Stopped,
        Some(hb) => {
            let age = now.signed_duration_since(hb.at).num_seconds();
            match (age <= hb.stale_after_secs as i64, hb.state) {
                (false, _) => SchedulerState::Stopped,
                (true, HeartbeatState::Timer) => SchedulerState::Timer,
                (true, _) => SchedulerState::Running,
            }
        }
    }
}

/// [`scheduler_state`], and for a fresh daemon heartbeat, whether its
/// process still exists on this machine: a daemon killed with SIGKILL
/// leaves a fresh heartbeat for up to a minute and a half.
pub fn scheduler_state_here(hb: Option<&Heartbeat>, now: DateTime<Utc>) -> SchedulerState {
    match (scheduler_state(hb, now), hb) {
        (SchedulerState::Running, Some(hb)) if process_gone(hb.pid) => SchedulerState::Died,
        (state, _) => state,
    }
}

/// True only when `/proc` shows processes and not this one. A `/proc`
/// mounted with `hidepid` hides other users' processes, and then nothing
/// can be told: not gone.
pub(crate) fn process_gone(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    proc.join("1").exists() && !proc.join(pid.to_string()).exists()
}

impl State {
    /// Writes a heartbeat for `hb.process`.
    pub fn beat(&self, hb: &Heartbeat) -> Result<()> {
        self.conn.execute(
            "INSERT INTO heartbeats (process, pid, at, state, stale_after_secs, next_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(process) DO UPDATE SET pid = ?2, at = ?3, state = ?4, stale_after_secs = ?5, next_run = ?6",
            params![
                hb.process.as_str(),
                hb.pid,
                ts(hb.at),
                hb.state.as_str(),
                hb.stale_after_secs as i64,
                hb.next_run.map(ts)
            ],
        )?;
        Ok(())
    }

    /// The heartbeat of a process.
    pub fn heartbeat(&self, process: Process) -> Result<Option<Heartbeat>> {
        Ok(self
            .conn
            .query_row(
                "SELECT process, pid, at, state, stale_after_secs, next_run FROM heartbeats WHERE process = ?1",
                params![process.as_str()],
                |r| {
                    Ok(Heartbeat {
                        process: parsed(r, 0, "heartbeats", "process")?,
                        pid: r.get(1)?,
                        at: time_at(r, 2, "heartbeats", "at")?,
                        state: parsed(r, 3, "heartbeats", "state")?,
                        stale_after_secs: r.get::<_, i64>(4)? as u64,
                        next_run: opt_time_at(r, 5, "heartbeats", "next_run")?,
                    })
                },
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests_support::{open, t};

    #[test]
    fn heartbeat_round_trip_and_state() {
        let (_d, s) = open();
        assert_eq!(scheduler_state(None, t(1, 0)), SchedulerState::Unknown);
        let hb = Heartbeat {
            process: Process::Scheduler,
            pid: 1,
            at: t(1, 0),
            state: HeartbeatState::Idle,
            stale_after_secs: 120,
            next_run: Some(t(2, 0)),
        };
        s.beat(&hb).unwrap();
        let got = s.heartbeat(Process::Scheduler).unwrap().unwrap();
        assert_eq!(got, hb);
        assert_eq!(scheduler_state(Some(&got), t(1, 1)), SchedulerState::Running);
        assert_eq!(scheduler_state(Some(&got), t(1, 3)), SchedulerState::Stopped);
    }

    #[test]
    fn a_timer_heartbeat_is_timer_mode_until_its_run_is_overdue() {
        let (_d, s) = open();
        let hb = Heartbeat {
            process: Process::Scheduler,
            pid: 1,
            at: t(1, 0),
            state: HeartbeatState::Timer,
            stale_after_secs: 3700,
            next_run: Some(t(2, 0)),
        };
        s.beat(&hb).unwrap();
        let got = s.heartbeat(Process::Scheduler).unwrap().unwrap();
        assert_eq!(got.state, HeartbeatState::Timer);
        assert_eq!(scheduler_state(Some(&got), t(1, 30)), SchedulerState::Timer);
        assert!(SchedulerState::Timer.is_up());
        assert_eq!(scheduler_state(Some(&got), t(3, 0)), SchedulerState::Stopped);
        // The --once process has exited by design: not a dead daemon.
        assert_eq!(scheduler_state_here(Some(&got), t(1, 30)), SchedulerState::Timer);
    }

    #[test]
    fn a_fresh_daemon_heartbeat_from_a_gone_process_is_died() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let now = Utc::now();
        let hb = |pid| Heartbeat {
            process: Process::Scheduler,
            pid,
            at: now,
            state: HeartbeatState::Idle,
            stale_after_secs: 90,
            next_run: None,
        };
        assert_eq!(scheduler_state_here(Some(&hb(pid)), now), SchedulerState::Died);
        assert!(!SchedulerState::Died.is_up());
        assert_eq!(scheduler_state_here(Some(&hb(std::process::id())), now), SchedulerState::Running);
    }
}
