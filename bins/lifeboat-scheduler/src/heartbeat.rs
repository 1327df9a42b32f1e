//! The scheduler's heartbeat in the state database, so the dashboard and
//! `lifeboat status` can say Running / Stopped / Unknown.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lifeboat_core::state::{Heartbeat, HeartbeatState, Process, State};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The process in the heartbeats table.
pub const PROCESS: Process = Process::Scheduler;
/// How often the daemon beats.
pub const INTERVAL: Duration = Duration::from_secs(30);
/// Promise given with each daemon beat: three missed beats mean it is gone.
pub const STALE_AFTER_SECS: u64 = 3 * INTERVAL.as_secs();

#[derive(Debug, Clone)]
struct Status {
    state: HeartbeatState,
    next_run: Option<DateTime<Utc>>,
    stale_after_secs: u64,
}

/// Writes the heartbeat now and on a timer, with the latest status.
#[derive(Debug, Clone)]
pub struct Beater {
    state_path: PathBuf,
    status: Arc<Mutex<Status>>,
}

impl Beater {
    /// A beater writing to the state database at `state_path`.
    pub fn new(state_path: PathBuf) -> Beater {
        Beater {
            state_path,
            status: Arc::new(Mutex::new(Status {
                state: HeartbeatState::Idle,
                next_run: None,
                stale_after_secs: STALE_AFTER_SECS,
            })),
        }
    }

    /// Records a new status and beats at once.
    pub async fn set(&self, state: HeartbeatState, next_run: Option<DateTime<Utc>>, stale_after_secs: u64) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Status { state, next_run, stale_after_secs };
        self.beat().await;
    }

    /// Writes the current status. A failure is logged, never fatal: the
    /// backups matter more than the dashboard's view of them.
    pub async fn beat(&self) {
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let path = self.state_path.clone();
        let hb = Heartbeat {
            process: PROCESS,
            pid: std::process::id(),
            at: Utc::now(),
            state: status.state,
            stale_after_secs: status.stale_after_secs,
            next_run: status.next_run,
        };
        let written = tokio::task::spawn_blocking(move || State::open(&path).and_then(|s| s.beat(&hb))).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not write the heartbeat: {e}"),
            Err(e) => tracing::warn!("could not write the heartbeat: {e}"),
        }
    }

    /// Beats every [`INTERVAL`] (also while a cycle runs) until `stop`.
    pub fn spawn_ticker(&self, stop: CancellationToken) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => me.beat().await,
                }
            }
        })
    }
}

/// True when another live process keeps a fresh heartbeat: a daemon is
/// running, and a `--once` must not overwrite its heartbeat.
pub fn daemon_alive(hb: Option<&Heartbeat>, now: DateTime<Utc>) -> bool {
    hb.is_some_and(|hb| {
        hb.pid != std::process::id()
            && lifeboat_core::state::scheduler_state(Some(hb), now) == lifeboat_core::state::SchedulerState::Running
            && std::path::Path::new(&format!("/proc/{}", hb.pid)).exists()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ticker_beats_on_its_interval_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let beater = Beater::new(path.clone());
        beater.set(HeartbeatState::Idle, None, STALE_AFTER_SECS).await;
        let first = State::open(&path).unwrap().heartbeat(PROCESS).unwrap().unwrap();
        let stop = CancellationToken::new();
        let ticker = beater.spawn_ticker(stop.clone());
        // Paused time: advancing it fires the interval without waiting.
        tokio::time::sleep(INTERVAL + Duration::from_millis(10)).await;
        tokio::task::yield_now().await;
        let mut later = first.clone();
        for _ in 0..200 {
            later = State::open(&path).unwrap().heartbeat(PROCESS).unwrap().unwrap();
            if later.at > first.at {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(later.at > first.at, "no beat after one interval");
        stop.cancel();
        ticker.await.unwrap();
        beater.set(HeartbeatState::Stopped, None, STALE_AFTER_SECS).await;
        let last = State::open(&path).unwrap().heartbeat(PROCESS).unwrap().unwrap();
        assert_eq!(last.state, HeartbeatState::Stopped);
        assert_eq!(last.pid, std::process::id());
    }

    #[test]
    fn own_or_dead_or_stale_heartbeat_is_not_a_live_daemon() {
        let now = Utc::now();
        let mut hb = Heartbeat {
            process: PROCESS,
            pid: std::process::id(),
            at: now,
            state: HeartbeatState::Idle,
            stale_after_secs: 90,
            next_run: None,
        };
        assert!(!daemon_alive(Some(&hb), now), "our own heartbeat");
        hb.pid = 1; // init: alive in any container or host
        assert!(daemon_alive(Some(&hb), now));
        hb.state = HeartbeatState::Stopped;
        assert!(!daemon_alive(Some(&hb), now));
        hb.state = HeartbeatState::Idle;
        assert!(!daemon_alive(Some(&hb), now + chrono::Duration::seconds(200)), "stale");
        assert!(!daemon_alive(None, now));
    }
}
