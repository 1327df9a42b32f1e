//! The screens rendered from a real state database and archive folder,
//! with a fixed clock.

use chrono::{DateTime, Duration, TimeZone, Utc};
use lifeboat_core::Trigger;
use lifeboat_core::state::{FailureCode, Heartbeat, HeartbeatState, Level, Process, RunEnd, RunStatus, State};
use lifeboat_dashboard::callback::{self, Action};
use lifeboat_dashboard::{data, keyboard, text};
use lifeboat_engine::Config;
use teloxide::types::{InlineKeyboardButtonKind, InlineKeyboardMarkup};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 3, 30, 0).unwrap()
}

fn setup(admins: &str, owner: i64) -> (tempfile::TempDir, Config, State) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("backups");
    let cfg = Config::from_toml(&format!(
        "[backup]\noutput_dir = {:?}\nsource_dir = {:?}\n[telegram]\nadmin_ids = {admins}\nowner_id = {owner}\n",
        out.display().to_string(),
        dir.path().join("data").display().to_string()
    ))
    .unwrap();
    let st = cfg.open_state().unwrap();
    (dir, cfg, st)
}

fn beat(st: &State, at: DateTime<Utc>) {
    st.beat(&Heartbeat {
        process: Process::Scheduler,
        pid: 42,
        at,
        state: HeartbeatState::Idle,
        stale_after_secs: 120,
        next_run: Some(Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap()),
    })
    .unwrap();
}

fn callbacks(kb: &InlineKeyboardMarkup) -> Vec<Action> {
    kb.inline_keyboard
        .iter()
        .flatten()
        .map(|b| match &b.kind {
            InlineKeyboardButtonKind::CallbackData(d) => callback::parse(d).expect("our own data parses"),
            other => panic!("not a callback button: {other:?}"),
        })
        .collect()
}

#[test]
fn status_says_stopped_when_the_heartbeat_is_old_and_running_when_fresh() {
    let (_d, cfg, st) = setup("[1]", 0);
    let unknown = text::status(&data::status(&cfg, &st, now()).unwrap(), now());
    assert!(unknown.contains("Unknown"), "{unknown}");

    beat(&st, now() - Duration::minutes(30));
    let stopped = text::status(&data::status(&cfg, &st, now()).unwrap(), now());
    assert!(stopped.contains("Stopped") && !stopped.contains("Running"), "{stopped}");
    assert!(stopped.contains("30 min ago"), "{stopped}");

    beat(&st, now() - Duration::seconds(20));
    let running = text::status(&data::status(&cfg, &st, now()).unwrap(), now());
    assert!(running.contains("Running") && !running.contains("Stopped"), "{running}");
    assert!(running.contains("Next run: 2026-11-22 04:00 UTC (in 30 min)"), "{running}");
}

#[test]
fn status_says_how_long_a_source_has_had_no_good_copy() {
    let (_d, cfg, st) = setup("[1]", 0);
    let mut snapshot = data::status(&cfg, &st, now()).unwrap();
    snapshot.without_good_copy = vec![lifeboat_engine::retention::NoGoodCopy {
        source: "premium_system.db".into(),
        last_good: Some(("database_backup_20261120_030000.zip".into(), now() - Duration::days(2))),
    }];
    let s = text::status(&snapshot, now());
    assert!(s.contains("No good copy of <b>premium_system.db</b> since 2026-11-20 03:30 UTC (2 d ago)"), "{s}");
    assert!(s.contains("<code>database_backup_20261120_030000.zip</code>"), "{s}");
}

#[test]
fn status_shows_last_backup_counts_and_storage() {
    let (d, cfg, st) = setup("[1]", 0);
    let old = st.begin_run(Trigger::Scheduled, now() - Duration::hours(30)).unwrap();
    st.finish_run(old, RunStatus::Failed, &RunEnd::default(), now() - Duration::hours(30)).unwrap();
    let failed = st.begin_run(Trigger::Scheduled, now() - Duration::hours(2)).unwrap();
    st.finish_run(
        failed,
        RunStatus::Failed,
        &RunEnd { detail: Some("disk <full>".into()), ..Default::default() },
        now() - Duration::hours(2),
    )
    .unwrap();
    let ok = st.begin_run(Trigger::Manual, now() - Duration::minutes(10)).unwrap();
    let end = RunEnd {
        archive: Some("database_backup_20261122_032000.zip".into()),
        size: Some(2_500_000),
        databases_ok: 5,
        verified: true,
        ..Default::default()
    };
    st.finish_run(ok, RunStatus::Ok, &end, now() - Duration::minutes(9)).unwrap();
    std::fs::create_dir_all(d.path().join("backups")).unwrap();
    std::fs::write(d.path().join("backups/database_backup_20261122_032000.zip"), vec![0u8; 1500]).unwrap();
    std::fs::write(d.path().join("backups/database_backup_20261122_022000.zip"), vec![0u8; 500]).unwrap();

    let s = text::status(&data::status(&cfg, &st, now()).unwrap(), now());
    assert!(s.contains("Last backup: 2026-11-22 03:21 UTC (9 min ago), ✅ ok, 2.5 MB, 5 databases"), "{s}");
    assert!(s.contains("Last 24 h: 1 ok, 0 partial, 1 failed"), "{s}");
    assert!(s.contains("Archives: 2 using 2.0 kB"), "{s}");
    assert!(s.contains("Free disk: ") && !s.contains("unknown"), "{s}");
    // Cron fallback when no scheduler speaks: hourly on the hour.
    assert!(s.contains("Next run: 2026-11-22 04:00 UTC"), "{s}");
}

#[test]
fn logs_fit_telegram_and_page_on() {
    let (_d, _cfg, st) = setup("[1]", 0);
    for i in 0..60 {
        let level = if i % 7 == 0 { Level::Error } else { Level::Info };
        let msg = format!("event {i} <tag> & {}", "x".repeat(300));
        st.log_event(level, "test", &msg, now() - Duration::minutes(60 - i)).unwrap();
    }
    let page = data::logs(&st, 0).unwrap();
    let (body, shown) = text::logs(&page);
    assert!(text::tg_len(&body) <= text::MAX_MESSAGE, "{}", text::tg_len(&body));
    assert!(shown > 3 && shown < page.events.len(), "trimmed to fit: {shown}");
    assert!(body.find("event 59").unwrap() < body.find("event 58").unwrap(), "newest first");
    assert!(body.contains("&lt;tag&gt; &amp;") && !body.contains("<tag>"), "escaped");
    assert!(body.contains("error") && body.contains("info"));

    let kb = keyboard::logs(0, Some(shown as u32));
    assert_eq!(callbacks(&kb), [Action::Logs { offset: shown as u32 }, Action::Menu]);
    let next = data::logs(&st, shown as u32).unwrap();
    let (body2, _) = text::logs(&next);
    assert!(body2.contains(&format!("event {} ", 59 - shown)), "next page starts where the first stopped");
    assert!(!body2.contains("event 59 "));

    let end = data::logs(&st, 60).unwrap();
    assert!(end.events.is_empty() && !end.more);
    assert_eq!(text::logs(&end).1, 0);
}

#[test]
fn backups_list_and_restore_button_only_for_the_owner() {
    let (d, cfg, st) = setup("[1, 2]", 2);
    std::fs::create_dir_all(d.path().join("backups")).unwrap();
    let name = "database_backup_20261122_032000.zip";
    std::fs::write(d.path().join("backups").join(name), vec![0u8; 1500]).unwrap();
    let run = st.begin_run(Trigger::Manual, now()).unwrap();
    st.finish_run(
        run,
        RunStatus::Ok,
        &RunEnd { archive: Some(name.into()), verified: true, ..Default::default() },
        now(),
    )
    .unwrap();
    st.enqueue_deliveries(name, &[(name.into(), 1, 1)], &[1, 2], now()).unwrap();
    let first = st.deliveries_for(name).unwrap()[0].id;
    st.mark_delivered(first, "FILE", 5, now()).unwrap();

    let rows = data::backups(&cfg, &st).unwrap();
    let s = text::backups(&rows, false, now());
    assert!(s.contains(name) && s.contains("✅ verified, delivered to 1 admin\n"), "{s}");
    let stamp = callback::ArchiveStamp::from_archive_name(name).unwrap();
    assert_eq!(callbacks(&keyboard::backups(&rows, false)), [Action::Resend(stamp), Action::Menu]);
    assert_eq!(
        callbacks(&keyboard::backups(&rows, true)),
        [Action::Resend(stamp), Action::RestoreAsk(stamp), Action::Menu]
    );
}

#[test]
fn health_names_each_admins_delivery_problem_in_words() {
    let (_d, cfg, st) = setup("[1, 2, 3]", 4);
    let name = "database_backup_20261122_032000.zip";
    st.enqueue_deliveries(name, &[(name.into(), 1, 1)], &[1, 2, 3], now()).unwrap();
    let rows = st.deliveries_for(name).unwrap();
    st.mark_delivered(rows[0].id, "F", 1, now() - Duration::minutes(5)).unwrap();
    let never = "Forbidden: bot can't initiate conversation with a user";
    st.mark_failed(rows[1].id, FailureCode::NeverStarted, never, true, now()).unwrap();
    st.mark_failed(rows[2].id, FailureCode::Blocked, "Forbidden: bot was blocked by the user", true, now()).unwrap();
    beat(&st, now() - Duration::seconds(30));

    let s = text::health(&data::health(&cfg, &st, now()).unwrap(), now());
    assert!(s.contains("<code>1</code>: ✅ ok, last delivery 5 min ago"), "{s}");
    assert!(s.contains("<code>2</code>: ❌ never started the bot — ask them to press Start"), "{s}");
    assert!(s.contains("<code>3</code>: ❌ blocked the bot"), "{s}");
    // The owner (4) is not in admin_ids: it restores but receives no archive.
    assert!(!s.contains("<code>4</code>"), "{s}");
    assert!(s.contains("Heartbeat age: 30 s"), "{s}");
    assert!(s.contains("<code>user_requests.db</code>: ⚪ never checked"), "{s}");
    assert!(s.contains("free in"), "{s}");
}

#[test]
fn status_says_when_the_data_last_changed_and_that_it_was_checked() {
    let (_d, cfg, st) = setup("[1]", 0);
    let id = st.begin_run(Trigger::Scheduled, now() - Duration::minutes(5)).unwrap();
    let end =
        RunEnd { archive: Some("database_backup_20261122_010000.zip".into()), verified: true, ..Default::default() };
    st.finish_run(id, RunStatus::Unchanged, &end, now() - Duration::minutes(5)).unwrap();
    let s = text::status(&data::status(&cfg, &st, now()).unwrap(), now());
    assert!(s.contains("Last change backed up: 2026-11-22 01:00 UTC (3 h ago) · checked 5 min ago, unchanged"), "{s}");
    assert!(s.contains("0 failed, 1 unchanged"), "{s}");
}
