//! Snapshots of live databases: consistent under a continuous writer in WAL
//! and rollback-journal mode, never holding the writer up with SQLITE_BUSY,
//! waiting for (then skipping) a database a writer keeps locked, and naming
//! what is wrong with files that are not usable databases.

use std::path::Path;
use std::time::{Duration, Instant};

use lifeboat_core::integrity;
use lifeboat_core::snapshot::{self, SkipReason, SnapshotOptions};
use lifeboat_testkit::sqlite::{Mode, Writer, WriterOptions, check_invariant, create_ledger};
use rusqlite::Connection;

fn journal_mode(p: &Path) -> String {
    Connection::open(p).unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap()
}

fn snapshots_under_a_writer(mode: Mode) {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("live.db");
    create_ledger(&src, mode, 3000, 200).unwrap();
    let writer = Writer::start(&src, WriterOptions::default());
    assert!(writer.wait_for_commits(20, Duration::from_secs(10)), "the writer does not write");
    let before = writer.commits();
    let mut rows_seen = Vec::new();
    for i in 0..8 {
        let dest = d.path().join(format!("snap{i}.db"));
        let s = snapshot::take(&src, &dest, &SnapshotOptions::default()).unwrap();
        assert_eq!(s.journal_mode, mode.as_str());
        assert_eq!(s.page_size, 4096);
        assert_eq!(s.size, std::fs::metadata(&dest).unwrap().len());
        for suffix in ["-wal", "-shm", "-journal"] {
            assert!(!d.path().join(format!("snap{i}.db{suffix}")).exists(), "{suffix} left next to the snapshot");
        }
        let report = integrity::check(&dest).unwrap();
        assert!(report.ok, "snapshot {i}: {report:?}");
        rows_seen.push(check_invariant(&dest).unwrap_or_else(|e| panic!("torn snapshot {i}: {e}")));
        writer.wait_for_commits(3, Duration::from_secs(5));
    }
    let stats = writer.stop();
    assert!(stats.commits > before, "the writer made no progress while snapshots were taken");
    assert_eq!(stats.busy, 0, "the writer saw SQLITE_BUSY: {:?}", stats.errors);
    assert!(stats.errors.is_empty(), "the writer failed: {:?}", stats.errors);
    // Each snapshot is a later point in time than the one before.
    assert!(rows_seen.windows(2).all(|w| w[0] <= w[1]) && rows_seen[0] < *rows_seen.last().unwrap(), "{rows_seen:?}");
    assert_eq!(journal_mode(&src), mode.as_str(), "the source's journal mode changed");
}

#[test]
fn wal_snapshots_are_consistent_under_a_writer() {
    snapshots_under_a_writer(Mode::Wal);
}

#[test]
fn rollback_journal_snapshots_are_consistent_under_a_writer() {
    snapshots_under_a_writer(Mode::Delete);
}

#[test]
fn waits_for_a_writer_then_skips_it_as_locked() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("held.db");
    create_ledger(&src, Mode::Delete, 100, 10).unwrap();
    let holder = Connection::open(&src).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE; UPDATE balances SET balance = balance WHERE account = 0;").unwrap();
    let t0 = Instant::now();
    let r = snapshot::take(&src, &d.path().join("a.db"), &SnapshotOptions { lock_timeout: Duration::from_millis(400) });
    assert!(matches!(r, Err(SkipReason::Locked(_))), "{r:?}");
    assert!(t0.elapsed() >= Duration::from_millis(400), "did not wait: {:?}", t0.elapsed());
    assert!(!d.path().join("a.db").exists(), "a failed snapshot left a file");

    // A lock released within the timeout is waited for.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        holder.execute_batch("COMMIT").unwrap();
    });
    let s = snapshot::take(&src, &d.path().join("b.db"), &SnapshotOptions { lock_timeout: Duration::from_secs(10) })
        .unwrap();
    release.join().unwrap();
    assert!(integrity::check(&s.path).unwrap().ok);
}

#[test]
fn unusable_files_are_skipped_with_their_reason() {
    let d = tempfile::tempdir().unwrap();
    let opts = SnapshotOptions { lock_timeout: Duration::from_millis(200) };
    let dest = d.path().join("out.db");

    let r = snapshot::take(&d.path().join("nope.db"), &dest, &opts);
    assert!(matches!(r, Err(SkipReason::Missing(_))), "{r:?}");

    let empty = d.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(snapshot::take(&empty, &dest, &opts), Err(SkipReason::Empty)));

    let text = d.path().join("notes.db");
    std::fs::write(&text, "this is a text file someone named .db\n".repeat(200)).unwrap();
    assert!(matches!(snapshot::take(&text, &dest, &opts), Err(SkipReason::NotSqlite)));

    // A valid header with an impossible page size: SQLite says "not a database".
    let bad = d.path().join("bad.db");
    create_ledger(&bad, Mode::Delete, 50, 10).unwrap();
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[16] = 0x01;
    bytes[17] = 0x03;
    std::fs::write(&bad, &bytes).unwrap();
    let r = snapshot::take(&bad, &dest, &opts);
    assert!(matches!(r, Err(SkipReason::Corrupt(_))), "{r:?}");

    let locked_out = d.path().join("private.db");
    create_ledger(&locked_out, Mode::Delete, 10, 10).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked_out, std::fs::Permissions::from_mode(0o000)).unwrap();
    // root reads anything; the check only means something for other users.
    if std::fs::File::open(&locked_out).is_err() {
        let r = snapshot::take(&locked_out, &dest, &opts);
        assert!(matches!(&r, Err(SkipReason::Unreadable(m)) if m.contains("private.db")), "{r:?}");
    }
    assert!(!dest.exists());
}
