//! A full disk: backups into, and restores onto, a tiny tmpfs. The promise
//! is a clear error and nothing lost: no temporary or partial files, no
//! working folders, the run recorded as failed and the earlier archive on
//! that disk untouched. Mounting needs root (CI runs as root); elsewhere
//! the tests say why and return.

use lifeboat_testkit::tmpfs::Tmpfs;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use lifeboat_core::catalog;
use lifeboat_core::state::RunStatus;
use lifeboat_core::verify::{self, VerifyOptions};
use lifeboat_core::{CancellationToken, Trigger};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupError, BackupOptions};
use lifeboat_engine::restore::{self, RestoreRequest};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

/// A database of `rows` rows of `blob` random (incompressible) bytes each.
fn random_db(path: &Path, rows: u32, blob: u32) {
    let _ = std::fs::remove_file(path);
    let c = Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE data(id INTEGER PRIMARY KEY, payload BLOB NOT NULL);").unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for _ in 0..rows {
        tx.execute("INSERT INTO data(payload) VALUES (randomblob(?1))", [blob]).unwrap();
    }
    tx.commit().unwrap();
}

fn sha(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn config(src: &Path, out: &Path, dbs: &[&str]) -> Config {
    let list = dbs.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>().join(", ");
    Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [{list}]\ncompression_level = 1\n",
        src.to_str().unwrap(),
        out.to_str().unwrap()
    ))
    .unwrap()
}

fn opts(sec: u32) -> BackupOptions<'static> {
    BackupOptions {
        trigger: Trigger::Manual,
        only: None,
        progress: None,
        cancel: CancellationToken::new(),
        now: Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, sec).unwrap(),
    }
}

/// Every name in `dir` that is a leftover of a run: `.tmp` files, partial
/// archives, working folders.
fn leftovers(dir: &Path, keep: &[PathBuf]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| !keep.contains(&e.path()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lifeboat")
        .collect()
}

/// The disk fills at different steps depending on the database's size
/// against the free space: the snapshot itself, or the compressed copy /
/// the assembled archive (each needs about the database's size again).
fn backup_on_full_disk(big_fraction_of_free: f64) {
    let Some(disk) = Tmpfs::mount(1536) else { return };
    let home = tempfile::tempdir().unwrap();
    let src = home.path().join("sqlite_data");
    std::fs::create_dir_all(&src).unwrap();
    let out = disk.path().join("backups");
    let cfg = config(&src, &out, &["small.db", "big.db"]);
    random_db(&src.join("small.db"), 4, 2000);
    random_db(&src.join("big.db"), 4, 2000);

    let state = cfg.open_state().unwrap();
    let first = backup::run(&cfg, &state, opts(0)).expect("the first backup fits");
    let first_sha: Vec<String> = first.archive.files.iter().map(|f| sha(f)).collect();

    let free = lifeboat_core::fsutil::available_space(&out).unwrap();
    let rows = ((free as f64 * big_fraction_of_free) / 4096.0).ceil() as u32;
    random_db(&src.join("big.db"), rows, 4000);
    let live_before = sha(&src.join("big.db"));

    let err = backup::run(&cfg, &state, opts(1)).expect_err("the disk is too small");
    assert!(matches!(err, BackupError::DiskFull(_)), "expected DiskFull, got {err:?}");
    let msg = err.to_string();
    assert!(msg.contains("no space left") && msg.contains(out.to_str().unwrap()), "{msg}");
    assert!(msg.contains("free space"), "the message says what to do: {msg}");

    assert_eq!(leftovers(&out, &first.archive.files), Vec::<String>::new(), "nothing but the first archive is left");
    let archives = catalog::list(&out).unwrap();
    assert_eq!(archives.len(), 1);
    assert_eq!(archives[0].name, first.archive.name);
    let after: Vec<String> = first.archive.files.iter().map(|f| sha(f)).collect();
    assert_eq!(after, first_sha, "the earlier archive is byte-identical");
    let scratch = tempfile::tempdir().unwrap();
    let report = verify::verify(
        &archives[0],
        &lifeboat_core::seal::Keys::none(),
        scratch.path(),
        VerifyOptions { integrity_check: true },
    )
    .unwrap();
    assert!(report.is_ok(), "the earlier archive still verifies: {:?}", report.all_problems());
    assert_eq!(sha(&src.join("big.db")), live_before, "the live database is untouched");

    let runs = state.runs(10).unwrap();
    let failed = runs.iter().find(|r| r.started_at == opts(1).now).expect("the failed run is recorded");
    assert_eq!(failed.status, RunStatus::Failed);
    assert!(failed.finished_at.is_some());
    assert!(failed.end.archive.is_none());
    assert!(failed.end.detail.as_deref().unwrap_or("").contains("no space left"), "{failed:?}");
    assert!(runs.iter().all(|r| r.status != RunStatus::Running), "no run left running: {runs:?}");

    // Once there is room again the next run works, on the same disk.
    random_db(&src.join("big.db"), 4, 2000);
    let next = backup::run(&cfg, &state, opts(2)).expect("a backup with room works again");
    assert_eq!(catalog::list(&out).unwrap().len(), 2);
    assert_eq!(next.status, RunStatus::Ok);
}

#[test]
fn snapshot_larger_than_the_disk_is_disk_full() {
    backup_on_full_disk(3.0);
}

#[test]
fn archive_larger_than_what_is_left_after_the_snapshot_is_disk_full() {
    // The snapshot fits; its compressed copy or the assembled archive does not.
    backup_on_full_disk(0.5);
}

#[test]
fn state_database_on_the_full_disk_is_disk_full_too() {
    // The disk fills while the run records its checks in the state database
    // (which lives in output_dir): still DiskFull, and the run still recorded.
    backup_on_full_disk(0.6);
}

#[test]
fn nearly_full_disk_is_disk_full() {
    backup_on_full_disk(0.8);
}

/// `restore --to` a folder on a disk with too little room: a clear error,
/// no half-written database, and the live databases untouched.
#[test]
fn restore_to_a_full_disk_leaves_nothing_half_written() {
    let Some(disk) = Tmpfs::mount(512) else { return };
    let home = tempfile::tempdir().unwrap();
    let src = home.path().join("sqlite_data");
    std::fs::create_dir_all(&src).unwrap();
    let out = home.path().join("backups");
    let cfg = config(&src, &out, &["a.db", "b.db"]);
    random_db(&src.join("a.db"), 80, 4000);
    random_db(&src.join("b.db"), 80, 4000);
    let state = cfg.open_state().unwrap();
    backup::run(&cfg, &state, opts(0)).unwrap();
    let live = [sha(&src.join("a.db")), sha(&src.join("b.db"))];

    let to = disk.path().join("restored");
    let req = RestoreRequest { archive: "latest".into(), only: vec![], to: Some(to.clone()), force_schema: false };
    let plan = restore::plan(&cfg, &req).unwrap();
    let err = restore::execute(&cfg, &state, &plan, &CancellationToken::new()).expect_err("the disk is too small");
    let msg = err.to_string();
    assert!(msg.contains("No space left") || msg.contains("no space left"), "a clear reason: {msg}");

    assert!(msg.contains("no space left") && msg.contains("free space"), "what to do: {msg}");
    assert!(msg.contains("nothing was kept"), "{msg}");

    // a.db fitted and b.db did not: the folder is as before (no a.db, no
    // temporary), so the same command works once there is room.
    let written: Vec<String> =
        std::fs::read_dir(&to).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(written.is_empty(), "nothing half-written or partial is left: {written:?}");
    assert_eq!([sha(&src.join("a.db")), sha(&src.join("b.db"))], live, "the live databases are untouched");
    let leftover: Vec<_> = std::fs::read_dir(cfg.state_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".restore-"))
        .collect();
    assert!(leftover.is_empty(), "no scratch folder is left: {leftover:?}");
}
