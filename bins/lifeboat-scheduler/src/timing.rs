//! The scheduler's time decisions as pure functions of a given `now`, so
//! tests fix the clock: the missed-run catch-up, how long to nap, and how
//! long a `--once` heartbeat stays fresh.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lifeboat_core::manifest::Trigger;
use lifeboat_core::schedule::Schedule;
use lifeboat_core::state::{Heartbeat, Run, RunStatus};

/// The latest moment the schedule is known to have been served: the start
/// of the latest scheduled run that was not interrupted (an interrupted run
/// did not deliver, so its slot is still owed), or, when no scheduled run
/// was ever recorded, the scheduler's last heartbeat (it was alive then, so
/// nothing before it was missed). `None`: never ran, nothing was missed.
pub fn catch_up_reference(runs: &[Run], heartbeat: Option<&Heartbeat>) -> Option<DateTime<Utc>> {
    runs.iter()
        .filter(|r| r.trigger == Trigger::Scheduled && r.status != RunStatus::Interrupted)
        .map(|r| r.started_at)
        .max()
        .or_else(|| heartbeat.map(|hb| hb.at))
}

/// The fire time missed while the scheduler was not running, if any: the
/// latest fire time at or before `now` that comes after `served`. Only the
/// latest counts, so a long downtime gives one catch-up cycle, not one per
/// missed slot.
pub fn missed_fire(schedule: &Schedule, served: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let served = served?;
    let previous = schedule.previous_at_or_before(now)?;
    (previous > served).then_some(previous)
}

/// How long to sleep before looking at the clock again: until `next`, but
/// never more than `max`, so a wall-clock jump (suspend, NTP step) is noticed.
pub fn nap(now: DateTime<Utc>, next: DateTime<Utc>, max: Duration) -> Duration {
    next.signed_duration_since(now).to_std().unwrap_or(Duration::ZERO).min(max)
}

/// Slack on a `--once` heartbeat beyond the next fire time: the next timer
/// run may start late and take a while before it beats again.
pub const ONCE_SLACK_SECS: u64 = 15 * 60;

/// How long the heartbeat written after a `--once` cycle stays fresh: until
/// the next fire time plus [`ONCE_SLACK_SECS`].
pub fn once_stale_after(now: DateTime<Utc>, next: Option<DateTime<Utc>>) -> u64 {
    let until_next = next.map_or(0, |n| n.signed_duration_since(now).num_seconds().max(0) as u64);
    until_next + ONCE_SLACK_SECS
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use lifeboat_core::schedule;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
    }

    fn run(trigger: &str, started_at: DateTime<Utc>, status: RunStatus) -> Run {
        Run {
            id: 1,
            started_at,
            finished_at: Some(started_at),
            trigger: trigger.parse().unwrap(),
            status,
            end: Default::default(),
        }
    }

    fn hb(at: DateTime<Utc>) -> Heartbeat {
        Heartbeat {
            process: lifeboat_core::state::Process::Scheduler,
            pid: 1,
            at,
            state: lifeboat_core::state::HeartbeatState::Stopped,
            stale_after_secs: 90,
            next_run: None,
        }
    }

    #[test]
    fn the_one_missed_fire_after_downtime() {
        let hourly = schedule::parse("0 * * * *").unwrap();
        // Last served 07:00, back at 10:20: 08, 09 and 10 were missed; one catch-up, for 10:00.
        assert_eq!(missed_fire(&hourly, Some(t(7, 0)), t(10, 20)), Some(t(10, 0)));
        // Served 10:00 (the run starts a moment after the fire time): nothing missed at 10:20.
        let served = t(10, 0) + chrono::Duration::milliseconds(40);
        assert_eq!(missed_fire(&hourly, Some(served), t(10, 20)), None);
        // Stopped at 10:30 and back at 10:50: no fire time passed in between.
        assert_eq!(missed_fire(&hourly, Some(t(10, 30)), t(10, 50)), None);
        // Back exactly on a fire time that was not served: run it.
        assert_eq!(missed_fire(&hourly, Some(t(9, 0)), t(10, 0)), Some(t(10, 0)));
        // Never ran anywhere: nothing was missed.
        assert_eq!(missed_fire(&hourly, None, t(10, 20)), None);
    }

    #[test]
    fn daily_schedule_catches_up_once() {
        let daily = schedule::parse("30 2 * * *").unwrap();
        let three_days_ago = t(2, 30) - chrono::Duration::days(3);
        assert_eq!(missed_fire(&daily, Some(three_days_ago), t(9, 0)), Some(t(2, 30)));
        assert_eq!(missed_fire(&daily, Some(t(2, 31)), t(23, 0)), None);
    }

    #[test]
    fn reference_is_the_latest_scheduled_uninterrupted_run() {
        let runs = [
            run("manual", t(9, 30), RunStatus::Ok),
            run("scheduled", t(9, 0), RunStatus::Interrupted),
            run("scheduled", t(8, 0), RunStatus::Failed),
            run("scheduled", t(7, 0), RunStatus::Ok),
        ];
        // A manual run does not serve the schedule; an interrupted one is still owed.
        assert_eq!(catch_up_reference(&runs, Some(&hb(t(9, 59)))), Some(t(8, 0)));
        // No scheduled run yet: the heartbeat says when the scheduler was last alive.
        assert_eq!(catch_up_reference(&runs[..1], Some(&hb(t(6, 0)))), Some(t(6, 0)));
        assert_eq!(catch_up_reference(&[], None), None);
    }

    #[test]
    fn naps_are_capped_and_never_negative() {
        let max = Duration::from_secs(30);
        assert_eq!(nap(t(10, 0), t(11, 0), max), max);
        assert_eq!(nap(t(10, 59) + chrono::Duration::seconds(50), t(11, 0), max), Duration::from_secs(10));
        assert_eq!(nap(t(11, 1), t(11, 0), max), Duration::ZERO);
    }

    #[test]
    fn once_heartbeat_lasts_until_the_next_fire_plus_slack() {
        assert_eq!(once_stale_after(t(10, 0), Some(t(11, 0))), 3600 + ONCE_SLACK_SECS);
        assert_eq!(once_stale_after(t(10, 0), None), ONCE_SLACK_SECS);
    }
}
