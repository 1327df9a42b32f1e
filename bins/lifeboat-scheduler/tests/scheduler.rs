//! The real `lifeboat-scheduler` binary on real SQLite files: `--once`,
//! the cycle lock between processes, SIGTERM mid-backup, the heartbeat and
//! the missed-run catch-up of the daemon. Delivery against the fake
//! Telegram server is in `delivery.rs`.

mod common;

use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use common::*;
use lifeboat_core::Trigger;
use lifeboat_core::lock::CycleLock;
use lifeboat_core::state::{Heartbeat, HeartbeatState, Process, RunEnd, RunStatus};

#[test]
fn once_without_token_backs_up_and_says_delivery_is_disabled() {
    let sb = Sandbox::new("0 * * * *", "");
    let out = sb.scheduler().arg("--once").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Delivery: disabled"), "{stdout}");
    let entries = sb.archive_folder_entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].starts_with("database_backup_") && entries[0].ends_with(".zip"), "{entries:?}");
    let runs = runs(&sb.state_path());
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].trigger.as_str(), runs[0].status), ("scheduled", RunStatus::Ok));
    // Timer deployments get a heartbeat that lasts until the next fire time,
    // saying that a timer, not a daemon, runs the cycles.
    let hb = heartbeat(&sb.state_path()).expect("heartbeat after --once");
    assert_eq!(hb.state, HeartbeatState::Timer);
    assert!(hb.next_run.unwrap() > Utc::now());
}

#[test]
fn short_config_flag_and_the_system_config_in_help() {
    let sb = Sandbox::new("0 * * * *", "");
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat-scheduler"))
        .arg("-c")
        .arg(sb.config_path())
        .arg("--once")
        .current_dir(sb.dir.path())
        .env_remove("LIFEBOAT_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.archive_folder_entries().len(), 1);
    let help = Command::new(env!("CARGO_BIN_EXE_lifeboat-scheduler")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("/etc/lifeboat/lifeboat.toml"));
}

#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    let config = dir.path().join("c.toml");
    // The output folder would have to be inside a regular file.
    std::fs::write(&config, "[backup]\noutput_dir = \"a-file/out\"\nsource_dir = \"src\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat-scheduler"))
        .args(["-c", config.to_str().unwrap(), "--once"])
        .current_dir(dir.path())
        .env_remove("LIFEBOAT_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("(os error 20)").count(), 1, "{stderr}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let sb = Sandbox::new("0 * * * *", "");
    let out = sb.scheduler().arg("--once").env("LIFEBOAT_LOG_FORMAT", "json").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "an info-level cycle logs something");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["message"].is_string() && v["timestamp"].is_string(), "{line}");
    }
}

#[test]
fn once_refuses_clearly_while_another_cycle_holds_the_lock() {
    let sb = Sandbox::new("0 * * * *", "");
    let held = CycleLock::try_acquire(&sb.lock_path(), "dashboard cycle").unwrap();
    let out = sb.scheduler().arg("--once").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(lifeboat_core::exit::BUSY), "{stderr}");
    assert!(stderr.contains("another backup is running"), "{stderr}");
    assert!(stderr.contains("dashboard cycle") && stderr.contains(&std::process::id().to_string()), "{stderr}");
    assert!(sb.archive_folder_entries().is_empty());
    drop(held);
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn skipped_database_without_token_exits_3_and_names_it() {
    let sb = Sandbox::new("0 * * * *", "");
    std::fs::write(sb.source_dir().join("analytics.db"), b"this is not a database, just text").unwrap();
    let out = sb.scheduler().arg("--once").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Backup partial") && stdout.contains("skipped analytics.db"), "{stdout}");
    assert_eq!(sb.archive_folder_entries().len(), 1);
}

#[test]
fn bad_config_is_exit_2_naming_the_key() {
    let sb = Sandbox::new("every hour", "");
    let out = sb.scheduler().arg("--once").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("schedule.cron"), "{stderr}");
}

/// The newest run, once it is running (the backup has started).
fn wait_running_run(sb: &Sandbox, after_id: i64) -> i64 {
    wait_for(Duration::from_secs(60), || {
        runs(&sb.state_path()).into_iter().find(|r| r.id > after_id && r.status == RunStatus::Running).map(|r| r.id)
    })
    .expect("a backup run never started")
}

fn assert_nothing_partial(sb: &Sandbox, run_id: i64) {
    assert!(sb.archive_folder_entries().is_empty(), "left behind: {:?}", sb.archive_folder_entries());
    let run = runs(&sb.state_path()).into_iter().find(|r| r.id == run_id).unwrap();
    assert_eq!(run.status, RunStatus::Interrupted, "{run:?}");
}

#[test]
fn sigterm_mid_backup_leaves_nothing_and_a_second_once_refuses_meanwhile() {
    let sb = Sandbox::new("0 * * * *", "");
    sb.make_slow(300);
    let mut first = {
        let mut cmd = sb.scheduler();
        cmd.arg("--once");
        spawn(cmd)
    };
    let run_id = wait_running_run(&sb, 0);

    let second = sb.scheduler().arg("--once").output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(lifeboat_core::exit::BUSY), "{stderr}");
    assert!(stderr.contains("another backup is running") && stderr.contains(&first.id().to_string()), "{stderr}");

    signal(&first, "TERM");
    let (code, stderr, took) = wait_exit(&mut first, Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?} to stop");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert_nothing_partial(&sb, run_id);
}

/// A state database where the scheduler last served the schedule 3 hours ago.
fn seed_old_history(sb: &Sandbox) -> i64 {
    let state = sb.state();
    let then = Utc::now() - chrono::Duration::hours(3);
    let id = state.begin_run(Trigger::Scheduled, then).unwrap();
    state.finish_run(id, RunStatus::Ok, &RunEnd::default(), then).unwrap();
    state
        .beat(&Heartbeat {
            process: Process::Scheduler,
            pid: 1,
            at: then,
            state: HeartbeatState::Stopped,
            stale_after_secs: 90,
            next_run: Some(then + chrono::Duration::hours(1)),
        })
        .unwrap();
    id
}

#[test]
fn daemon_runs_the_missed_cycle_at_once_and_stops_cleanly() {
    let sb = Sandbox::new("0 * * * *", "");
    let seeded = seed_old_history(&sb);
    let mut child = spawn(sb.scheduler());
    let pid = child.id();
    let run = wait_for(Duration::from_secs(60), || {
        runs(&sb.state_path()).into_iter().find(|r| r.id > seeded && r.status != RunStatus::Running)
    })
    .expect("no catch-up cycle at start-up");
    assert_eq!((run.trigger, run.status), (Trigger::Scheduled, RunStatus::Ok));
    let idle = wait_for(Duration::from_secs(30), || {
        heartbeat(&sb.state_path()).filter(|hb| hb.pid == pid && hb.state == HeartbeatState::Idle)
    })
    .expect("no idle heartbeat after the cycle");
    assert!(idle.next_run.unwrap() > Utc::now(), "{idle:?}");
    // One catch-up for three missed slots.
    assert_eq!(runs(&sb.state_path()).len(), 2);

    signal(&child, "TERM");
    let (code, stderr, _) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 0, "{stderr}");
    let hb = heartbeat(&sb.state_path()).unwrap();
    assert_eq!((hb.pid, hb.state), (pid, HeartbeatState::Stopped));
    assert_eq!(sb.archive_folder_entries().len(), 1);
}

#[test]
fn daemon_without_a_missed_slot_waits_for_the_next_fire_time() {
    // Yearly, and served after its last fire time: nothing to catch up.
    let sb = Sandbox::new("0 0 1 1 *", "");
    let state = sb.state();
    let id = state.begin_run(Trigger::Scheduled, Utc::now() - chrono::Duration::minutes(5)).unwrap();
    state.finish_run(id, RunStatus::Ok, &RunEnd::default(), Utc::now()).unwrap();
    let mut child = spawn(sb.scheduler());
    let pid = child.id();
    let hb = wait_for(Duration::from_secs(30), || {
        heartbeat(&sb.state_path()).filter(|hb| hb.pid == pid && hb.state == HeartbeatState::Idle)
    })
    .expect("no heartbeat");
    let next = hb.next_run.unwrap();
    assert_eq!(next.format("%m-%d %H:%M").to_string(), "01-01 00:00", "{hb:?}");
    assert_eq!(runs(&sb.state_path()).len(), 1, "a cycle ran although nothing was missed");
    signal(&child, "INT");
    let (code, stderr, _) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(heartbeat(&sb.state_path()).unwrap().state, HeartbeatState::Stopped);
}

#[test]
fn sigterm_during_the_daemons_catch_up_backup_leaves_nothing() {
    let sb = Sandbox::new("0 * * * *", "");
    sb.make_slow(300);
    let seeded = seed_old_history(&sb);
    let mut child = spawn(sb.scheduler());
    let pid = child.id();
    let run_id = wait_running_run(&sb, seeded);
    let hb = heartbeat(&sb.state_path()).unwrap();
    assert_eq!((hb.pid, hb.state), (pid, HeartbeatState::Running));
    signal(&child, "TERM");
    let (code, stderr, took) = wait_exit(&mut child, Duration::from_secs(30));
    assert_eq!(code, 0, "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?} to stop");
    assert_nothing_partial(&sb, run_id);
    assert_eq!(heartbeat(&sb.state_path()).unwrap().state, HeartbeatState::Stopped);
}

#[test]
fn daemon_fires_on_the_schedule() {
    // Every minute, served just now: the first cycle comes at the next minute.
    let sb = Sandbox::new("* * * * *", "");
    let state = sb.state();
    let id = state.begin_run(Trigger::Scheduled, Utc::now()).unwrap();
    state.finish_run(id, RunStatus::Ok, &RunEnd::default(), Utc::now()).unwrap();
    let mut child = spawn(sb.scheduler());
    let pid = child.id();
    let first = wait_for(Duration::from_secs(20), || {
        heartbeat(&sb.state_path()).filter(|hb| hb.pid == pid && hb.state == HeartbeatState::Idle)
    })
    .expect("no heartbeat");
    let fire = first.next_run.unwrap();
    assert!(fire > Utc::now() && fire.timestamp() % 60 == 0, "{first:?}");
    let run = wait_for(Duration::from_secs(90), || {
        // started_at >= fire: skips a catch-up run, should the test start on a minute boundary.
        runs(&sb.state_path()).into_iter().find(|r| r.id > id && r.started_at >= fire && r.status != RunStatus::Running)
    })
    .expect("no cycle at the fire time");
    assert_eq!(run.status, RunStatus::Ok);
    assert!(run.started_at < fire + chrono::Duration::seconds(5), "started late: {}", run.started_at);
    let after = wait_for(Duration::from_secs(20), || {
        heartbeat(&sb.state_path())
            .filter(|hb| hb.state == HeartbeatState::Idle && hb.next_run.is_some_and(|n| n > fire))
    })
    .expect("the next fire time was not announced");
    assert_eq!(after.next_run.unwrap(), fire + chrono::Duration::minutes(1));
    signal(&child, "TERM");
    let (code, stderr, _) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn config_comes_from_lifeboat_config_when_no_option_is_given() {
    let sb = Sandbox::new("0 * * * *", "");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat-scheduler"));
    cmd.arg("--once").current_dir(sb.dir.path()).env("LIFEBOAT_CONFIG", sb.config_path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.archive_folder_entries().len(), 1);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat-scheduler"))
        .arg("--once")
        .current_dir(sb.dir.path())
        .env("LIFEBOAT_CONFIG", sb.dir.path().join("missing.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("missing.toml") && stderr.contains("LIFEBOAT_CONFIG"), "{stderr}");
}

#[test]
fn daemon_tells_systemd_it_is_ready_alive_and_stopping() {
    let sb = Sandbox::new("0 0 1 1 *", "");
    let state = sb.state();
    let id = state.begin_run(Trigger::Scheduled, Utc::now() - chrono::Duration::minutes(5)).unwrap();
    state.finish_run(id, RunStatus::Ok, &RunEnd::default(), Utc::now()).unwrap();
    let socket_path = sb.dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // WatchdogSec=1 (a keep-alive every half second) for this very process,
    // as systemd says it: WATCHDOG_PID is the pid `exec` keeps.
    let inner = sb.scheduler();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"").arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("NOTIFY_SOCKET", &socket_path).env("WATCHDOG_USEC", "1000000");
    let mut child = spawn(cmd);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.iter().filter(|m: &&String| m.contains("WATCHDOG=1")).count() < 2 {
        let n = socket.recv(&mut buf).expect("the daemon stopped notifying");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(got.iter().any(|m| m.contains("READY=1")), "{got:?}");
    signal(&child, "TERM");
    let n = socket.recv(&mut buf).unwrap();
    let mut rest = String::from_utf8_lossy(&buf[..n]).into_owned();
    while !rest.contains("STOPPING=1") {
        let n = socket.recv(&mut buf).expect("no STOPPING=1");
        rest = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    let (code, stderr, _) = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(code, 0, "{stderr}");
}
