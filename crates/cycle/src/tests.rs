//! The cycle's report, alert and outbox summary, on hand-made outcomes.

use super::*;
use lifeboat_core::state::{FailureCode, HeartbeatState, IncidentKind, RunStatus};

fn assert_send<T: Send>(_: &T) {}

#[test]
fn the_cycle_future_is_send_so_the_dashboard_can_spawn_it() {
    let cfg = Config::from_toml("").unwrap();
    let fut = run_cycle(&cfg, Trigger::Dashboard, CancellationToken::new());
    assert_send(&fut);
}

fn outcome(skipped: &[&str]) -> BackupOutcome {
    use lifeboat_core::catalog::StoredArchive;
    use lifeboat_core::manifest::{DatabaseEntry, Manifest, SkippedDatabase};
    let at = Utc::now();
    let entry = |name: &str| DatabaseEntry {
        name: name.into(),
        size: 4096,
        sha256: "00".into(),
        integrity: "ok".into(),
        journal_mode: "wal".into(),
        page_size: 4096,
        tables: Vec::new(),
        ..Default::default()
    };
    BackupOutcome {
        archive: StoredArchive {
            name: "database_backup_20261122_100000.zip".into(),
            created_at: at,
            files: vec!["/b/database_backup_20261122_100000.zip".into()],
            size: 2_500_000,
        },
        manifest: Manifest {
            base: None,
            format: "lifeboat-backup".into(),
            version: 1,
            created_at: at,
            host: "h".into(),
            trigger: Trigger::Scheduled,
            lifeboat_version: "0".into(),
            databases: vec![entry("a.db"), entry("b.db")],
            skipped: skipped
                .iter()
                .map(|n| SkippedDatabase { name: n.to_string(), reason: "file is not a database".into() })
                .collect(),
        },
        run_id: 1,
        status: if skipped.is_empty() { RunStatus::Ok } else { RunStatus::Partial },
        chain_proofs: Vec::new(),
    }
}

fn report(backup: Result<BackupOutcome, BackupError>, delivery: Delivery) -> CycleReport {
    CycleReport {
        trigger: Trigger::Scheduled,
        started_at: Utc::now(),
        finished_at: Utc::now(),
        abandoned_runs_closed: 0,
        backup,
        delivery,
        owed: Vec::new(),
        removed: Vec::new(),
        retention_error: None,
        shrunk: None,
        reverified: None,
        alert: AlertStatus::NotNeeded,
        restore_advice: Vec::new(),
        hooks_failed: Vec::new(),
    }
}

fn done(delivered: &[i64], failed: &[(i64, FailureCode, &str)], pending: &[i64]) -> Delivery {
    Delivery::Done(DeliverySummary {
        archive: "database_backup_20261122_100000.zip".into(),
        delivered: delivered.to_vec(),
        failed: failed
            .iter()
            .map(|(chat, code, reason)| FailedChat { chat: *chat, code: Some(*code), reason: reason.to_string() })
            .collect(),
        pending: pending.iter().map(|c| (*c, Some("timed out".to_string()))).collect(),
        stores: Vec::new(),
    })
}

#[test]
fn a_clean_cycle_is_0_and_needs_no_alert() {
    let r = report(Ok(outcome(&[])), done(&[1, 2], &[], &[]));
    assert_eq!(r.exit_code(), 0);
    assert_eq!(alert_text(&r), None);
    assert!(r.summary().contains("delivered to 2 of 2 admins"), "{}", r.summary());
    let r = report(Ok(outcome(&[])), Delivery::Disabled);
    assert_eq!(r.exit_code(), 0, "no token is not a failure");
    assert!(r.summary().contains("Delivery: disabled"), "{}", r.summary());
    assert_eq!(alert_text(&r), None);
}

#[test]
fn a_skipped_database_is_3_and_alerted_by_name() {
    let r = report(Ok(outcome(&["c.db"])), done(&[1], &[], &[]));
    assert_eq!(r.exit_code(), 3);
    let alert = alert_text(&r).unwrap();
    assert!(alert.contains("partial") && alert.contains("2 of 3") && alert.contains("c.db: file is not a database"));
}

#[test]
fn a_skipped_database_with_a_good_copy_is_alerted_with_its_restore_command() {
    let mut r = report(Ok(outcome(&["c.db"])), done(&[1], &[], &[]));
    let command = "`lifeboat restore database_backup_20261120_040000.zip --only c.db`";
    r.restore_advice = vec![("c.db".into(), command.into())];
    let alert = alert_text(&r).unwrap();
    assert!(alert.contains(&format!("Its newest good copy: {command}")), "{alert}");
    assert!(!alert.contains("restore latest"), "{alert}");
    assert!(r.summary().contains(command), "{}", r.summary());
}

#[test]
fn undelivered_admins_are_3_and_only_permanent_failures_alerted() {
    let r = report(Ok(outcome(&[])), done(&[1], &[], &[2]));
    assert_eq!(r.exit_code(), 3);
    assert_eq!(alert_text(&r), None, "a transient failure is retried next cycle, not alerted");
    assert!(r.summary().contains("2 retried next cycle (last error: timed out)"), "{}", r.summary());
    let r = report(
        Ok(outcome(&[])),
        done(&[1], &[(2, FailureCode::NeverStarted, "Forbidden: bot can't initiate conversation with a user")], &[]),
    );
    assert_eq!(r.exit_code(), 3);
    let alert = alert_text(&r).unwrap();
    assert!(alert.contains("could not be delivered to 2:"), "{alert}");
    assert!(alert.contains("press Start"), "{alert}");
}

#[test]
fn no_archive_is_1_and_alerted_but_an_interruption_is_not() {
    let skipped = vec![lifeboat_core::manifest::SkippedDatabase { name: "a.db".into(), reason: "missing".into() }];
    let r = report(Err(BackupError::NothingBackedUp { skipped }), Delivery::NoArchive);
    assert_eq!(r.exit_code(), 1);
    let alert = alert_text(&r).unwrap();
    assert!(alert.contains("failed") && alert.contains("a.db: missing"), "{alert}");
    let r = report(Err(BackupError::Cancelled), Delivery::Interrupted);
    assert!(r.interrupted());
    assert_eq!(alert_text(&r), None);
    assert!(r.summary().contains("interrupted"), "{}", r.summary());
}

#[test]
fn outbox_summary_per_admin() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open(&dir.path().join("state.db")).unwrap();
    let at = Utc::now();
    let files = [("x.zip.001".to_string(), 1, 2), ("x.zip.002".to_string(), 2, 2)];
    state.enqueue_deliveries("x.zip", &files, &[1, 2, 3], at).unwrap();
    for row in state.deliveries_for("x.zip").unwrap() {
        match (row.chat_id, row.part) {
            (1, _) => state.mark_delivered(row.id, "F", 1, at).unwrap(),
            (2, 1) => state.mark_delivered(row.id, "F", 2, at).unwrap(),
            (2, 2) => state.mark_failed(row.id, FailureCode::Transient, "network down", false, at).unwrap(),
            (3, 1) => state
                .mark_failed(row.id, FailureCode::Blocked, "Forbidden: bot was blocked by the user", true, at)
                .unwrap(),
            _ => {}
        }
    }
    let sum = summarize_outbox(&state, "x.zip").unwrap();
    assert_eq!(sum.delivered, vec![1]);
    assert_eq!(sum.pending, vec![(2, Some("network down".to_string()))]);
    assert_eq!(
        sum.failed,
        vec![FailedChat {
            chat: 3,
            code: Some(FailureCode::Blocked),
            reason: "Forbidden: bot was blocked by the user".to_string()
        }]
    );
    assert!(!sum.all_delivered());
}

/// A destination that keeps what it is told: the watcher's alerts.
#[derive(Default, Clone)]
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Recorder {
    fn texts(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Notifier for Recorder {
    fn kind(&self) -> lifeboat_core::destination::NotifierKind {
        lifeboat_core::destination::DestinationKind::Telegram.into()
    }
    fn has_recipients(&self) -> bool {
        true
    }
    fn alert<'a>(
        &'a self,
        text: &'a str,
    ) -> lifeboat_core::destination::BoxFuture<'a, Result<(), lifeboat_core::destination::AlertError>> {
        self.0.lock().unwrap().push(text.to_string());
        Box::pin(async { Ok(()) })
    }
}

fn watched(extra: &str) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_toml(&format!(
        "[backup]\noutput_dir = {:?}\nsource_dir = {:?}\n[monitoring]\nstale_after_minutes = 60\n{extra}",
        dir.path().join("out").display().to_string(),
        dir.path().join("src").display().to_string()
    ))
    .unwrap();
    std::fs::create_dir_all(&cfg.backup.output_dir).unwrap();
    (dir, cfg)
}

fn t(h: u32, m: u32) -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.with_ymd_and_hms(2026, 11, 22, h, m, 0).unwrap()
}

/// Database `name`'s chain 1 recorded at increment `seq`, captured at `at`.
fn captured(name: &str, seq: u64, at: DateTime<Utc>) -> lifeboat_core::state::CapturePosition {
    lifeboat_core::state::CapturePosition {
        database: name.into(),
        generation: 1,
        seq,
        chain_hash: "00".repeat(32),
        file_id: String::new(),
        db_stamp: String::new(),
        page_size: 4096,
        db_pages: 1,
        wal: Default::default(),
        captured_at: at,
        checked_at: at,
    }
}

fn succeeded_at(cfg: &Config, at: DateTime<Utc>) {
    let st = cfg.open_state().unwrap();
    let id = st.begin_run(Trigger::Scheduled, at).unwrap();
    st.finish_run(id, RunStatus::Ok, &lifeboat_core::state::RunEnd::default(), at).unwrap();
}

#[tokio::test]
async fn staleness_opens_once_does_not_repeat_and_recovers_once_with_two_watchers() {
    let (_d, cfg) = watched("");
    let rec = Recorder::default();
    let dests: Vec<Arc<dyn Notifier>> = vec![Arc::new(rec.clone())];
    succeeded_at(&cfg, t(10, 0));
    let look = |now| watch::look(&cfg, &dests, t(9, 0), now, "test");

    assert_eq!(look(t(10, 30)).await.unwrap(), watch::Changes::default());
    let opened = look(t(11, 1)).await.unwrap();
    assert_eq!(opened.opened, [IncidentKind::Stale]);
    // Every minute after, from this watcher and the other process's: silence.
    for m in 2..10 {
        assert_eq!(look(t(11, m)).await.unwrap(), watch::Changes::default());
    }
    let texts = rec.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("Backups have stopped") && texts[0].contains("no successful backup for 61 min"),
        "{texts:?}"
    );
    let st = cfg.open_state().unwrap();
    assert_eq!(st.open_incidents().unwrap().len(), 1, "shown in Status and Health");

    succeeded_at(&cfg, t(11, 30));
    assert_eq!(look(t(11, 31)).await.unwrap().closed, [IncidentKind::Stale]);
    assert_eq!(look(t(11, 32)).await.unwrap(), watch::Changes::default());
    let texts = rec.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].contains("recovered") && texts[1].contains("backups are succeeding again"), "{texts:?}");
    assert!(st.open_incidents().unwrap().is_empty());
}

#[tokio::test]
async fn a_fresh_install_is_stale_only_after_the_limit_from_when_watching_started() {
    let (_d, cfg) = watched("");
    let dests: Vec<Arc<dyn Notifier>> = vec![Arc::new(Recorder::default())];
    assert!(watch::look(&cfg, &dests, t(10, 0), t(10, 59), "test").await.unwrap().opened.is_empty());
    assert_eq!(watch::look(&cfg, &dests, t(10, 0), t(11, 1), "test").await.unwrap().opened, [IncidentKind::Stale]);
}

#[tokio::test]
async fn a_silent_scheduler_is_an_incident_a_clean_stop_is_not() {
    let (_d, cfg) = watched("");
    let dests: Vec<Arc<dyn Notifier>> = vec![Arc::new(Recorder::default())];
    succeeded_at(&cfg, t(10, 0));
    let st = cfg.open_state().unwrap();
    let beat = |state, at| {
        st.beat(&lifeboat_core::state::Heartbeat {
            process: lifeboat_core::state::Process::Scheduler,
            pid: 42,
            at,
            state,
            stale_after_secs: 90,
            next_run: None,
        })
        .unwrap()
    };
    beat(HeartbeatState::Idle, t(10, 0));
    assert!(watch::look(&cfg, &dests, t(10, 0), t(10, 1), "test").await.unwrap().opened.is_empty());
    let c = watch::look(&cfg, &dests, t(10, 0), t(10, 5), "test").await.unwrap();
    assert_eq!(c.opened, [IncidentKind::SchedulerSilent]);
    beat(HeartbeatState::Idle, t(10, 6));
    assert_eq!(
        watch::look(&cfg, &dests, t(10, 0), t(10, 6), "test").await.unwrap().closed,
        [IncidentKind::SchedulerSilent]
    );
    beat(HeartbeatState::Stopped, t(10, 7));
    assert!(
        watch::look(&cfg, &dests, t(10, 0), t(10, 30), "test").await.unwrap().opened.is_empty(),
        "stopped on purpose"
    );
    // A timer's heartbeat, overtaken by a long cycle: the look at the end of
    // that scheduled cycle knows the scheduler runs; another cycle's does not.
    beat(HeartbeatState::Timer, t(11, 0));
    let after = |scheduled| watch::look_after_cycle(&cfg, &dests, t(11, 59), t(12, 0), "test", scheduled);
    let opened = after(true).await.unwrap().opened;
    assert!(
        !opened.contains(&IncidentKind::SchedulerSilent),
        "the scheduled cycle is the scheduler at work: {opened:?}"
    );
    assert_eq!(after(false).await.unwrap().opened, [IncidentKind::SchedulerSilent]);
    assert_eq!(after(true).await.unwrap().closed, [IncidentKind::SchedulerSilent]);
}

#[test]
fn the_watchers_future_is_send_so_the_daemons_can_spawn_it() {
    let cfg = Config::from_toml("").unwrap();
    let dests: Vec<Arc<dyn Notifier>> = Vec::new();
    let fut = watch::look(&cfg, &dests, Utc::now(), Utc::now(), "test");
    assert_send(&fut);
}

#[tokio::test]
async fn an_incident_whose_check_is_turned_off_closes() {
    let (_d, cfg) = watched("");
    let dests: Vec<Arc<dyn Notifier>> = vec![Arc::new(Recorder::default())];
    succeeded_at(&cfg, t(10, 0));
    assert_eq!(watch::look(&cfg, &dests, t(9, 0), t(12, 0), "test").await.unwrap().opened, [IncidentKind::Stale]);
    let mut off = cfg.clone();
    off.monitoring.stale_after_minutes = 0;
    assert_eq!(watch::look(&off, &dests, t(9, 0), t(12, 1), "test").await.unwrap().closed, [IncidentKind::Stale]);
}

#[tokio::test]
async fn an_email_destination_that_cannot_be_set_up_fails_the_delivery() {
    let (dir, mut cfg) = watched(
        "[destinations.email]\nsmtp_url = \"smtps://backup@127.0.0.1:1\"\n\
         from = \"backup@example.com\"\nto = [\"ops@example.com\"]\n",
    );
    std::fs::create_dir_all(&cfg.backup.source_dir).unwrap();
    let made = std::process::Command::new("sqlite3")
        .arg(cfg.backup.source_dir.join("a.db"))
        .arg("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .status()
        .unwrap();
    assert!(made.success());
    cfg.backup.databases = vec!["a.db".into()];
    // Start-up checks refuse a relay without a sender; here it changes after them.
    cfg.destinations.email.from = None;
    let report = run_cycle(&cfg, Trigger::Manual, CancellationToken::new()).await.unwrap();
    assert_eq!(report.exit_code(), exit::PARTIAL, "{}", report.summary());
    assert!(report.summary().contains("email"), "{}", report.summary());
    drop(dir);
}

#[test]
fn a_bucket_holds_archives_and_carries_no_alerts() {
    let mut cfg = Config::from_toml("").unwrap();
    cfg.destinations.s3.push(lifeboat_s3::S3Config {
        name: "offsite".into(),
        endpoint: Some("http://127.0.0.1:1".parse().unwrap()),
        bucket: "b".into(),
        prefix: String::new(),
        region: "us-east-1".into(),
        access_key_id: "key".into(),
        secret_access_key_file: Default::default(),
        secret_access_key: lifeboat_engine::config::Secret::new("secret"),
        timeout_secs: 2,
    });
    let d = destinations(&cfg);
    let sinks: Vec<_> = d.sinks.iter().map(|s| s.id()).collect();
    assert_eq!(sinks, ["s3:offsite"]);
    assert!(d.notifiers.is_empty(), "a bucket is told no alert");
}

#[test]
fn an_unchanged_cycle_with_an_archive_still_owed_is_3_and_says_what_is_owed() {
    let unchanged = || Err(BackupError::Unchanged { archive: "database_backup_20261122_090000.zip".into() });
    let r = report(unchanged(), Delivery::NoArchive);
    assert_eq!((r.exit_code(), r.result_word()), (0, "unchanged"));
    let mut r = report(unchanged(), Delivery::NoArchive);
    r.owed = vec![lifeboat_core::destination::Owed {
        archive: "database_backup_20261122_090000.zip".into(),
        destination: lifeboat_core::destination::DestinationId::TELEGRAM,
        recipient: Some("admin 7".into()),
        why: Some("network error: cannot connect to the Telegram API at api.telegram.org".into()),
    }];
    assert_eq!((r.exit_code(), r.result_word()), (3, "partial"));
    let s = r.summary();
    assert!(
        s.contains(
            "Still owed, tried again next cycle: database_backup_20261122_090000.zip to telegram admin 7 (last error: \
             network error: cannot connect to the Telegram API at api.telegram.org)."
        ),
        "{s}"
    );
    let env = r.hook_env();
    assert!(
        env.contains(&("LIFEBOAT_RESULT", "partial".to_string())) && env.contains(&("LIFEBOAT_ARCHIVE", String::new()))
    );
}

#[test]
fn this_cycles_own_archive_owed_is_said_once_in_the_delivery_line() {
    let mut r = report(Ok(outcome(&[])), done(&[], &[], &[2]));
    r.owed = vec![lifeboat_core::destination::Owed {
        archive: "database_backup_20261122_100000.zip".into(),
        destination: lifeboat_core::destination::DestinationId::TELEGRAM,
        recipient: Some("admin 2".into()),
        why: None,
    }];
    assert_eq!(r.exit_code(), 3);
    assert!(!r.summary().contains("Still owed"), "{}", r.summary());
    assert_eq!(r.result_word(), "partial");
}

#[tokio::test]
async fn an_archive_still_owed_after_the_cycle_that_tried_it_opens_the_incident_at_once() {
    let (_d, cfg) = watched(
        "[telegram]\ntoken = \"123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi\"\nadmin_ids = [7]\n[schedule]\ncron = \"0 * * * *\"\n",
    );
    let rec = Recorder::default();
    let dests: Vec<Arc<dyn Notifier>> = vec![Arc::new(rec.clone())];
    succeeded_at(&cfg, t(10, 0));
    let st = cfg.open_state().unwrap();
    let archive = "database_backup_20261122_100000.zip";
    st.enqueue_deliveries(archive, &[(archive.to_string(), 1, 1)], &[7], t(10, 0)).unwrap();
    // Queued, not yet tried: nothing is stuck.
    assert!(watch::look(&cfg, &dests, t(9, 0), t(10, 1), "test").await.unwrap().opened.is_empty());
    let row = st.pending_deliveries().unwrap()[0].id;
    st.mark_failed(row, FailureCode::Transient, "network error: cannot connect", false, t(10, 1)).unwrap();
    // One failed cycle is enough: not two schedule periods.
    let c = watch::look(&cfg, &dests, t(9, 0), t(10, 2), "test").await.unwrap();
    assert_eq!(c.opened, [IncidentKind::DeliveriesStuck]);
    let texts = rec.texts();
    assert!(texts[0].contains("1 archive still owed") && texts[0].contains("telegram admin 7"), "{texts:?}");
    st.mark_delivered(row, "file-1", 1, t(10, 30)).unwrap();
    assert_eq!(
        watch::look(&cfg, &dests, t(9, 0), t(10, 31), "test").await.unwrap().closed,
        [IncidentKind::DeliveriesStuck]
    );
}

#[test]
fn continuous_capture_falling_ten_intervals_behind_is_an_incident() {
    let (_d, cfg) = watched("[continuous]\nenabled = true\ninterval_secs = 10\n");
    let st = cfg.open_state().unwrap();
    let lag = |now| {
        let seen = watch::conditions(&cfg, &st, t(10, 0), now).unwrap();
        seen.into_iter().find(|(k, _)| *k == IncidentKind::ContinuousLag).and_then(|(_, d)| d)
    };
    // Never captured: judged from when watching started.
    assert_eq!(lag(t(10, 1)), None);
    let said = lag(t(10, 2)).unwrap();
    assert!(said.contains("user_requests.db never"), "{said}");
    for name in &cfg.backup.databases {
        st.set_capture_position(&captured(name, 0, t(10, 0))).unwrap();
    }
    assert_eq!(lag(t(10, 1)), None, "60 s behind is within ten intervals");
    let said = lag(t(10, 2)).unwrap();
    assert!(said.contains("analytics.db for"), "{said}");
    // Off: never an incident.
    let (_d2, off) = watched("");
    let st2 = off.open_state().unwrap();
    let seen = watch::conditions(&off, &st2, t(10, 0), t(12, 0)).unwrap();
    assert!(seen.iter().any(|(k, d)| *k == IncidentKind::ContinuousLag && d.is_none()));
}

#[test]
fn increments_a_store_has_not_taken_for_ten_intervals_are_an_incident() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "s\n").unwrap();
    let s3 = format!(
        "[[destinations.s3]]\nname = \"offsite\"\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"b\"\n\
         access_key_id = \"k\"\nsecret_access_key_file = {:?}\n",
        secret.path().display().to_string()
    );
    let (_d, cfg) = watched(&format!("[continuous]\nenabled = true\ninterval_secs = 10\n{s3}"));
    let st = cfg.open_state().unwrap();
    // Every database captured just now, so only the copies can lag.
    let name = cfg.backup.databases[0].clone();
    let dir = lifeboat_core::source::sqlite::continuous::Paths::new(&cfg.continuous_setup(), &name).dir;
    std::fs::create_dir_all(&dir).unwrap();
    for (seq, at) in [(0, t(10, 0)), (1, t(10, 1))] {
        let file = lifeboat_core::source::sqlite::continuous::increment::file_name(1, seq, at, false);
        std::fs::write(dir.join(file), b"").unwrap();
    }
    let lag = |now| {
        for n in &cfg.backup.databases {
            st.set_capture_position(&captured(n, 1, now)).unwrap();
        }
        let seen = watch::conditions(&cfg, &st, t(9, 0), now).unwrap();
        seen.into_iter().find(|(k, _)| *k == IncidentKind::ContinuousLag).and_then(|(_, d)| d)
    };
    assert_eq!(lag(t(10, 1)), None, "a minute behind is within ten intervals");
    let said = lag(t(10, 5)).unwrap();
    assert!(said.contains(&format!("{name} to offsite for 5 min")) && said.contains("diagnose"), "{said}");
    // The store took the first one: the second is the oldest owed.
    let up = lifeboat_core::state::UploadPosition { generation: 1, seq: 0 };
    st.set_upload_position("s3:offsite", &name, up, t(10, 5)).unwrap();
    assert!(lag(t(10, 5)).unwrap().contains("for 4 min"));
    st.set_upload_position("s3:offsite", &name, lifeboat_core::state::UploadPosition { seq: 1, ..up }, t(10, 5))
        .unwrap();
    assert_eq!(lag(t(10, 5)), None);
}
