//! Whole backup runs: real databases (some broken), real concurrent writers,
//! the ZIP checked with the system `unzip` and its databases with `sqlite3`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use lifeboat_core::catalog;
use lifeboat_core::state::RunStatus;
use lifeboat_core::{CancellationToken, Trigger};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupError, BackupOptions, ProgressEvent};
use lifeboat_testkit::sqlite::{Mode, Writer, WriterOptions, check_invariant, corrupt_middle, create_ledger};

struct Setup {
    _dir: tempfile::TempDir,
    src: PathBuf,
    out: PathBuf,
    cfg: Config,
}

fn setup(databases: &[&str], extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("sqlite_data");
    let out = dir.path().join("backups");
    std::fs::create_dir_all(&src).unwrap();
    let list = databases.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ");
    let cfg = Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [{list}]\n{extra}",
        src.to_str().unwrap(),
        out.to_str().unwrap()
    ))
    .unwrap();
    Setup { _dir: dir, src, out, cfg }
}

fn opts(cancel: CancellationToken) -> BackupOptions<'static> {
    BackupOptions {
        trigger: Trigger::Manual,
        only: None,
        progress: None,
        cancel,
        now: Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap(),
    }
}

fn unzip_test(zip: &Path) {
    let o = Command::new("unzip").arg("-t").arg(zip).output().expect("unzip is installed");
    assert!(
        o.status.success(),
        "unzip -t {}: {}{}",
        zip.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn entries(zip: &Path) -> Vec<String> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut names: Vec<String> = (0..z.len()).map(|i| z.by_index(i).unwrap().name().unwrap().into_owned()).collect();
    names.sort();
    names
}

fn extract(zip: &Path, to: &Path) {
    let o = Command::new("unzip").arg("-q").arg("-o").arg(zip).arg("-d").arg(to).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn sqlite3_integrity(db: &Path) {
    let o = Command::new("sqlite3").arg(db).arg("PRAGMA integrity_check").output().expect("sqlite3 is installed");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "ok",
        "{}: {}",
        db.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn leftovers(out: &Path) -> Vec<String> {
    std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lifeboat")
        .collect()
}

#[test]
fn broken_databases_are_skipped_and_the_rest_archived() {
    let s = setup(&["wal.db", "journal.db", "corrupt.db", "missing.db", "text.db", "empty.db"], "");
    create_ledger(&s.src.join("wal.db"), Mode::Wal, 2000, 100).unwrap();
    create_ledger(&s.src.join("journal.db"), Mode::Delete, 1500, 100).unwrap();
    create_ledger(&s.src.join("corrupt.db"), Mode::Delete, 3000, 200).unwrap();
    corrupt_middle(&s.src.join("corrupt.db"), 8192).unwrap();
    std::fs::write(s.src.join("text.db"), "id,name\n1,alice\n".repeat(100)).unwrap();
    std::fs::write(s.src.join("empty.db"), b"").unwrap();
    // Leftovers of a crashed run, which the run must clean up.
    std::fs::create_dir_all(&s.out).unwrap();
    std::fs::write(s.out.join("database_backup_20261121_230000.zip.tmp"), b"half").unwrap();
    std::fs::create_dir_all(s.out.join(".lifeboat-work-crashed")).unwrap();

    let state = s.cfg.open_state().unwrap();
    let out = backup::run(&s.cfg, &state, opts(CancellationToken::new())).unwrap();
    assert_eq!(out.status, RunStatus::Partial);
    assert_eq!(out.archive.name, "database_backup_20261122_040000.zip");
    assert_eq!(out.archive.files, vec![s.out.join(&out.archive.name)]);
    let reasons: Vec<(String, String)> =
        out.manifest.skipped.iter().map(|k| (k.name.clone(), k.reason.clone())).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    let reason = |n: &str| reasons.iter().find(|r| r.0 == n).map(|r| r.1.clone()).unwrap();
    assert!(reason("corrupt.db").starts_with("corrupt"), "{reasons:?}");
    assert!(reason("missing.db").starts_with("missing"), "{reasons:?}");
    assert!(reason("text.db").contains("not an SQLite database"), "{reasons:?}");
    assert!(reason("empty.db").contains("0 bytes"), "{reasons:?}");

    let zip = &out.archive.files[0];
    unzip_test(zip);
    assert_eq!(entries(zip), ["backup_info.txt", "journal.db", "manifest.json", "wal.db"]);
    assert_eq!(mode_of(zip), 0o600);
    assert_eq!(mode_of(&s.out), 0o700);
    assert_eq!(leftovers(&s.out), vec![out.archive.name.clone()], "temp files or leftovers remain");

    let x = tempfile::tempdir().unwrap();
    extract(zip, x.path());
    for db in ["wal.db", "journal.db"] {
        sqlite3_integrity(&x.path().join(db));
        let entry = out.manifest.database(db).unwrap();
        let bytes = std::fs::read(x.path().join(db)).unwrap();
        use sha2::Digest;
        assert_eq!(entry.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
        assert_eq!(entry.size, bytes.len() as u64);
        assert_eq!(entry.integrity, "ok");
        assert_eq!(
            entry.tables.iter().find(|t| t.name == "payments").unwrap().rows,
            check_invariant(&x.path().join(db)).unwrap()
        );
    }
    assert_eq!(out.manifest.database("wal.db").unwrap().journal_mode, "wal");
    assert_eq!(out.manifest.database("journal.db").unwrap().journal_mode, "delete");
    let info = std::fs::read_to_string(x.path().join("backup_info.txt")).unwrap();
    assert!(info.contains("corrupt.db: corrupt") && info.contains("== wal.db =="), "{info}");

    let run = state.last_finished_run().unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Partial);
    assert_eq!((run.end.databases_ok, run.end.databases_skipped, run.end.verified), (2, 4, true));
    assert_eq!(run.end.archive.as_deref(), Some(out.archive.name.as_str()));
    let checks = state.latest_db_checks().unwrap();
    assert!(checks.iter().any(|c| c.name == "corrupt.db" && !c.ok), "{checks:?}");
    assert!(checks.iter().any(|c| c.name == "wal.db" && c.ok && c.rows.unwrap() > 2000), "{checks:?}");
    assert!(!state.events(10, 0).unwrap().is_empty());

    // Same second again: the next free name, not an overwrite.
    let again = backup::run(&s.cfg, &state, opts(CancellationToken::new())).unwrap();
    assert_eq!(again.archive.name, "database_backup_20261122_040001.zip");
    assert_eq!(catalog::list(&s.out).unwrap().len(), 2);
}

fn backup_under_writers(mode: Mode) {
    let names = ["a.db", "b.db", "c.db"];
    let s = setup(&names, "");
    for n in names {
        create_ledger(&s.src.join(n), mode, 4000, 300).unwrap();
    }
    let writers: Vec<Writer> = names.iter().map(|n| Writer::start(&s.src.join(n), WriterOptions::default())).collect();
    for w in &writers {
        assert!(w.wait_for_commits(10, Duration::from_secs(10)));
    }
    let state = s.cfg.open_state().unwrap();
    let commits_seen = AtomicBool::new(false);
    let before: Vec<u64> = writers.iter().map(|w| w.commits()).collect();
    let progress = |e: ProgressEvent| {
        // Checked while the run is still going: the writers keep committing.
        if let ProgressEvent::Verifying = e {
            commits_seen.store(writers.iter().zip(&before).all(|(w, b)| w.commits() > *b), Ordering::Relaxed);
        }
    };
    let mut o = opts(CancellationToken::new());
    o.progress = Some(&progress);
    let out = backup::run(&s.cfg, &state, o).unwrap();
    assert!(commits_seen.load(Ordering::Relaxed), "a writer made no progress during the backup");
    for (w, n) in writers.into_iter().zip(names) {
        let stats = w.stop();
        assert_eq!(stats.busy, 0, "{n}: the writer saw SQLITE_BUSY: {:?}", stats.errors);
        assert!(stats.errors.is_empty(), "{n}: {:?}", stats.errors);
        assert!(stats.worst_commit < Duration::from_secs(2), "{n}: worst commit {:?}", stats.worst_commit);
    }
    assert_eq!(out.status, RunStatus::Ok);
    let zip = &out.archive.files[0];
    unzip_test(zip);
    let mut want = vec!["backup_info.txt".to_string(), "manifest.json".to_string()];
    want.extend(names.iter().map(|n| n.to_string()));
    want.sort();
    assert_eq!(entries(zip), want, "no -wal/-shm/-journal entries, nothing else");
    let x = tempfile::tempdir().unwrap();
    extract(zip, x.path());
    for n in names {
        sqlite3_integrity(&x.path().join(n));
        let rows = check_invariant(&x.path().join(n)).unwrap_or_else(|e| panic!("torn snapshot: {e}"));
        assert!(rows > 4000, "{n}: {rows}");
        assert_eq!(out.manifest.database(n).unwrap().journal_mode, mode.as_str());
    }
    for n in names {
        let m: String = rusqlite::Connection::open(s.src.join(n))
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(m, mode.as_str(), "the source's journal mode changed");
    }
}

#[test]
fn wal_databases_back_up_under_continuous_writers() {
    backup_under_writers(Mode::Wal);
}

#[test]
fn rollback_journal_databases_back_up_under_continuous_writers() {
    backup_under_writers(Mode::Delete);
}

#[test]
fn cancel_mid_run_leaves_nothing() {
    let s = setup(&["a.db", "b.db"], "");
    create_ledger(&s.src.join("a.db"), Mode::Wal, 3000, 300).unwrap();
    create_ledger(&s.src.join("b.db"), Mode::Delete, 3000, 300).unwrap();
    let state = s.cfg.open_state().unwrap();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let progress = move |e: ProgressEvent| {
        if let ProgressEvent::Compressed { .. } = e {
            c2.cancel();
        }
    };
    let mut o = opts(cancel);
    o.progress = Some(&progress);
    let r = backup::run(&s.cfg, &state, o);
    assert!(matches!(r, Err(BackupError::Cancelled)), "{r:?}");
    assert!(leftovers(&s.out).is_empty(), "left behind: {:?}", leftovers(&s.out));
    let run = state.runs(1).unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Interrupted);
}

#[test]
fn nothing_to_back_up_is_a_failed_run() {
    let s = setup(&["gone.db", "empty.db"], "");
    std::fs::write(s.src.join("empty.db"), b"").unwrap();
    let state = s.cfg.open_state().unwrap();
    let r = backup::run(&s.cfg, &state, opts(CancellationToken::new()));
    match r {
        Err(BackupError::NothingBackedUp { skipped }) => assert_eq!(skipped.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(leftovers(&s.out).is_empty());
    let run = state.runs(1).unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.end.detail.unwrap().contains("gone.db"));
}

#[test]
fn an_archive_over_the_upload_limit_is_split() {
    let s = setup(&["big.db"], "compression_level = 0\n[telegram]\nmax_upload_mb = 1\n");
    {
        let c = rusqlite::Connection::open(s.src.join("big.db")).unwrap();
        c.execute_batch("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)").unwrap();
        let mut rng = lifeboat_testkit::sqlite::Lcg::new(7);
        for _ in 0..40 {
            let data: Vec<u8> = (0..60_000).map(|_| rng.next() as u8).collect();
            c.execute("INSERT INTO blobs (data) VALUES (?1)", [data]).unwrap();
        }
    }
    let state = s.cfg.open_state().unwrap();
    let out = backup::run(&s.cfg, &state, opts(CancellationToken::new())).unwrap();
    assert!(out.archive.files.len() >= 3, "{:?}", out.archive.files);
    for (i, f) in out.archive.files.iter().enumerate() {
        assert_eq!(f.file_name().unwrap().to_str().unwrap(), catalog::part_name(&out.archive.name, i as u32 + 1));
        assert!(std::fs::metadata(f).unwrap().len() <= 1_000_000);
        assert_eq!(mode_of(f), 0o600);
    }
    let whole = s.out.join("joined.zip");
    let mut joined = Vec::new();
    for f in &out.archive.files {
        joined.extend(std::fs::read(f).unwrap());
    }
    std::fs::write(&whole, joined).unwrap();
    unzip_test(&whole);
    assert_eq!(catalog::resolve(&s.out, "latest").unwrap().files, out.archive.files);
}

#[test]
fn only_backs_up_the_named_databases_and_reports_progress() {
    let s = setup(&["a.db", "b.db"], "");
    create_ledger(&s.src.join("a.db"), Mode::Delete, 500, 50).unwrap();
    create_ledger(&s.src.join("b.db"), Mode::Delete, 800, 50).unwrap();
    let state = s.cfg.open_state().unwrap();
    let events = std::sync::Mutex::new(Vec::new());
    let progress = |e: ProgressEvent| events.lock().unwrap().push(e);
    let only = vec!["b.db".to_string()];
    let mut o = opts(CancellationToken::new());
    o.trigger = Trigger::PreRestore;
    o.only = Some(&only);
    o.progress = Some(&progress);
    let out = backup::run(&s.cfg, &state, o).unwrap();
    assert_eq!(out.status, RunStatus::Ok);
    assert_eq!(out.manifest.trigger, Trigger::PreRestore);
    assert!(out.manifest.skipped.is_empty());
    assert_eq!(out.manifest.databases.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["b.db"]);
    let events = events.into_inner().unwrap();
    let size = std::fs::metadata(s.src.join("b.db")).unwrap().len();
    assert!(
        matches!(&events[0], ProgressEvent::Started { databases: 1, total_bytes } if *total_bytes == size),
        "{events:?}"
    );
    assert!(matches!(&events[1], ProgressEvent::Snapshotted { name, skipped: None } if name == "b.db"), "{events:?}");
    let last_compressed = events.iter().rev().find_map(|e| match e {
        ProgressEvent::Compressed { done, total } => Some((*done, *total)),
        _ => None,
    });
    assert_eq!(last_compressed, Some((size, size)));
    assert!(matches!(events[events.len() - 2], ProgressEvent::Verifying));
    assert!(matches!(events[events.len() - 1], ProgressEvent::Finished));
    assert_eq!(state.runs(1).unwrap()[0].trigger, Trigger::PreRestore);
}
