//! Each judgement on its own, with a fixed `now`.

use super::*;
use chrono::TimeZone;

fn t(d: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap()
}

#[test]
fn staleness_against_an_hourly_schedule() {
    let s = lifeboat_core::schedule::parse("0 * * * *").unwrap();
    let now = t(22, 10, 30);
    assert_eq!(judge_staleness(Some(t(22, 10, 0)), &s, now).level, Severity::Ok);
    // 10:05: the 10:00 cycle may still be running.
    assert_eq!(judge_staleness(Some(t(22, 9, 0)), &s, t(22, 10, 5)).level, Severity::Ok);
    assert_eq!(judge_staleness(Some(t(22, 9, 0)), &s, now).level, Severity::Warn);
    let f = judge_staleness(Some(t(22, 4, 0)), &s, now);
    assert_eq!(f.level, Severity::Error);
    assert!(f.message.contains("backups stopped 6 hours ago"), "{}", f.message);
    assert_eq!(judge_staleness(None, &s, now).level, Severity::Warn);
}

#[test]
fn scheduler_heartbeat() {
    let now = t(22, 10, 0);
    let hb = |at, state: &str| Heartbeat {
        process: lifeboat_core::state::Process::Scheduler,
        pid: 42,
        at,
        state: match state {
            "idle" => lifeboat_core::state::HeartbeatState::Idle,
            "running" => lifeboat_core::state::HeartbeatState::Running,
            _ => lifeboat_core::state::HeartbeatState::Stopped,
        },
        stale_after_secs: 120,
        next_run: None,
    };
    assert_eq!(judge_scheduler(Some(&hb(t(22, 9, 59), "idle")), now).level, Severity::Ok);
    let f = judge_scheduler(Some(&hb(t(22, 9, 0), "idle")), now);
    assert_eq!(f.level, Severity::Warn);
    assert!(f.message.contains("60 min") && f.message.contains("pid 42"), "{}", f.message);
    assert_eq!(judge_scheduler(None, now).level, Severity::Warn);
}

#[test]
fn space_and_wal() {
    assert_eq!(judge_space(10, Some(100)).level, Severity::Error);
    assert_eq!(judge_space(250, Some(100)).level, Severity::Warn);
    assert_eq!(judge_space(1_000, Some(100)).level, Severity::Ok);
    assert_eq!(judge_space(1, None).level, Severity::Ok);
    assert!(judge_wal("a.db", true, Some(10)).is_none());
    assert_eq!(judge_wal("a.db", true, Some(LARGE_WAL_BYTES + 1)).unwrap().level, Severity::Warn);
    assert_eq!(judge_wal("a.db", false, Some(4096)).unwrap().level, Severity::Warn);
    assert_eq!(human_size(3_400_000), "3.4 MB");
}

#[test]
fn delivery_settings() {
    let off = Config::from_toml("").unwrap();
    let f = judge_delivery(&off, &[]);
    assert_eq!(f.len(), 1);
    assert!(f[0].message.contains("disabled"));
    let on =
        Config::from_toml("[telegram]\ntoken = \"123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"\nadmin_ids = [5]").unwrap();
    let f = judge_delivery(&on, &[(5, "Forbidden: bot was blocked by the user".into())]);
    assert!(f.iter().any(|x| x.level == Severity::Warn && x.subject == "admin 5" && x.message.contains("blocked")));
}

#[test]
fn broken_files_are_named_without_opening_them() {
    let d = tempfile::tempdir().unwrap();
    let missing = check_database(&d.path().join("nope.db"), "nope.db");
    assert!(missing[0].level == Severity::Error && missing[0].message.contains("missing"));
    std::fs::write(d.path().join("e.db"), b"").unwrap();
    assert!(check_database(&d.path().join("e.db"), "e.db")[0].message.contains("empty"));
    std::fs::write(d.path().join("t.db"), b"hello, I am a text file pretending").unwrap();
    let f = check_database(&d.path().join("t.db"), "t.db");
    assert!(f[0].message.contains("not an SQLite"));
    assert!(f[0].action.as_deref().unwrap().contains("--only t.db"));
}

#[test]
fn header_says_wal() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("w.db");
    let c = rusqlite::Connection::open(&p).unwrap();
    c.pragma_update(None, "journal_mode", "wal").unwrap();
    c.execute_batch("CREATE TABLE t(x)").unwrap();
    drop(c);
    assert!(lifeboat_core::integrity::Header::read(&p).unwrap().wal);
}
