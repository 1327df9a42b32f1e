//! Watching the backups from outside: the dead-man's switch pings a real
//! HTTP server on loopback, and a monitor that hangs cannot hold a cycle up.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lifeboat_testkit::HttpRecorder;

fn with_ping(monitor: &HttpRecorder) -> String {
    format!("[monitoring]\nping_url = \"{}/ping/abc-123\"\n", monitor.url())
}

#[test]
fn a_good_cycle_pings_start_then_success() {
    let monitor = HttpRecorder::start();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(monitor.paths(), ["/ping/abc-123/start", "/ping/abc-123"]);
    assert!(monitor.received().iter().all(|r| r.method == "GET"));
}

#[test]
fn a_partial_cycle_pings_fail() {
    let monitor = HttpRecorder::start();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    std::fs::write(sb.source_dir().join("analytics.db"), b"not a database").unwrap();
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(monitor.paths(), ["/ping/abc-123/start", "/ping/abc-123/fail"]);
}

#[test]
fn a_failed_cycle_pings_fail() {
    let monitor = HttpRecorder::start();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    for db in &sb.databases {
        std::fs::remove_file(sb.source_dir().join(db)).unwrap();
    }
    let out = sb.scheduler().arg("--once").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(monitor.paths(), ["/ping/abc-123/start", "/ping/abc-123/fail"]);
}

#[test]
fn a_hanging_monitor_holds_the_cycle_up_by_its_deadline_at_most() {
    let monitor = HttpRecorder::start_hanging();
    let sb = Sandbox::new("0 * * * *", &with_ping(&monitor));
    let started = Instant::now();
    let out = sb.scheduler().arg("--once").output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(0), "the backup itself is fine: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.archive_folder_entries().len(), 1);
    // The pings' deadline is 10 s; the backup of two small databases takes
    // well under a second.
    assert!(took < Duration::from_secs(14), "took {took:?}");
    assert!(!monitor.paths().is_empty(), "it did try");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dead-man's switch"), "{stderr}");
    assert!(!stderr.contains("abc-123"), "the URL may hold the monitor's secret: {stderr}");
}
