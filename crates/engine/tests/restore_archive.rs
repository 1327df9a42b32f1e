//! Restore: plan, `--to`, `--only`, hostile archives refused with nothing
//! written, and live round trips through the backup API with a connection
//! kept open.

mod common;

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use common::*;
use lifeboat_core::manifest::{INFO_NAME, MANIFEST_NAME};
use lifeboat_core::state::State;
use lifeboat_core::{CancellationToken, Trigger};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupOptions};
use lifeboat_engine::restore::{self, Action, RestoreError, RestoreRequest};
use rusqlite::Connection;

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cfg: Config,
    live: PathBuf,
    archive: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (live, archive) = fixture(&root);
    let cfg = Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"a.db\", \"b.db\", \"c.db\"]\n",
        live.to_str().unwrap(),
        root.join("out").to_str().unwrap()
    ))
    .unwrap();
    Env { _dir: dir, root, cfg, live, archive }
}

fn req(archive: &str, only: &[&str], to: Option<&Path>) -> RestoreRequest {
    RestoreRequest {
        archive: archive.to_string(),
        only: only.iter().map(|s| s.to_string()).collect(),
        to: to.map(Path::to_path_buf),
        force_schema: false,
    }
}

fn state(e: &Env) -> State {
    State::open(&e.cfg.state_path()).unwrap()
}

fn rows(path: &Path) -> Vec<(i64, String, i64)> {
    items(&Connection::open(path).unwrap())
}

#[test]
fn plan_says_what_happens_and_writes_nothing() {
    let e = env();
    std::fs::remove_file(e.live.join("c.db")).unwrap();
    let before = tree(&e.root);
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    assert_eq!(p.names(), ["a.db", "b.db", "c.db"]);
    assert!(matches!(&p.databases[0].action, Action::Replace { journal_mode, .. } if journal_mode == "wal"));
    assert!(matches!(&p.databases[1].action, Action::Replace { journal_mode, .. } if journal_mode == "delete"));
    assert_eq!(p.databases[2].action, Action::Create);
    assert_eq!(p.databases[1].rows, 75 + 1);
    assert_eq!(p.archive.name, test_archive_name());
    assert!(p.not_selected().is_empty());
    assert!(p.is_live());
    assert_eq!(tree(&e.root), before, "planning writes nothing");

    // --only keeps archive order and says what is left out.
    let p = restore::plan(&e.cfg, &req(e.archive.to_str().unwrap(), &["c.db", "a.db", "c.db"], None)).unwrap();
    assert_eq!(p.names(), ["a.db", "c.db"]);
    assert_eq!(p.not_selected(), ["b.db"]);

    let err = restore::plan(&e.cfg, &req("latest", &["nope.db"], None)).unwrap_err();
    assert!(matches!(err, RestoreError::UnknownDatabase { .. }));
    assert!(err.to_string().contains("a.db, b.db, c.db"), "{err}");
    let err = restore::plan(&e.cfg, &req("database_backup_20200101_000000.zip", &[], None)).unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn restore_to_a_folder_writes_plain_private_files_and_never_overwrites() {
    let e = env();
    let to = e.root.join("restored");
    let live_before = tree(&e.live);
    let p = restore::plan(&e.cfg, &req("latest", &["b.db"], Some(&to))).unwrap();
    assert_eq!(p.databases[0].action, Action::WriteFile);
    assert!(!p.is_live());
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(out.restored.len(), 1);
    assert!(out.restored[0].rows_match_manifest, "{out:?}");
    assert_eq!(out.safety_archive, None);
    assert_eq!(rows(&to.join("b.db")), rows(&e.live.join("b.db")));
    assert_eq!(out.restored[0].total_rows(), 75 + 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&to).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(to.join("b.db")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 1, "only b.db, no temporary left");
    assert_eq!(tree(&e.live), live_before, "--to leaves the live databases alone");

    // Planning again lists the refusal with the plan's problems (b.db
    // exists now), and carrying that plan out writes nothing.
    let p = restore::plan(&e.cfg, &req("latest", &["b.db"], Some(&to))).unwrap();
    assert!(p.problems.iter().any(|x| x.contains("b.db") && x.contains("already exists")), "{:?}", p.problems);
    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(matches!(err, RestoreError::Preflight { .. }), "{err}");
    assert_eq!(rows(&to.join("b.db")), rows(&e.live.join("b.db")));
    // A plan made before the file appeared still refuses at execute time.
    let p = restore::plan(&e.cfg, &req("latest", &["a.db"], Some(&to))).unwrap();
    std::fs::write(to.join("a.db"), b"precious").unwrap();
    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(matches!(err, RestoreError::DestinationExists(_)), "{err}");
    assert_eq!(std::fs::read(to.join("a.db")).unwrap(), b"precious");

    let events = state(&e).events(10, 0).unwrap();
    assert!(events.iter().any(|ev| ev.source == "restore" && ev.message.contains("restored b.db")), "{events:?}");
}

#[test]
fn split_archive_restores_from_its_first_part() {
    let e = env();
    let name = test_archive_name();
    let size = std::fs::metadata(&e.archive).unwrap().len();
    let parts = lifeboat_core::parts::split(&e.archive, &e.root.join("out"), &name, size / 2 + 1).unwrap();
    let to = e.root.join("from-parts");
    let p = restore::plan(&e.cfg, &req(parts[0].to_str().unwrap(), &[], Some(&to))).unwrap();
    assert_eq!(p.archive.files.len(), 2);
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(out.restored.len(), 3);
    for n in ["a.db", "b.db", "c.db"] {
        assert_eq!(rows(&to.join(n)), rows(&e.live.join(n)));
    }
}

/// Writes a hostile archive in place of the fixture's, keeping a good manifest
/// for a.db (so the only thing wrong is what the case adds).
fn hostile(e: &Env, extra: Option<Entry>, mutate: impl FnOnce(&mut Vec<Entry>)) {
    let snap = e.root.join("snap/a.db");
    let (mut entries, _) = good_entries(&[("a.db", snap.as_path())]);
    if let Some(x) = extra {
        entries.push(x);
    }
    mutate(&mut entries);
    write_zip(&e.archive, &entries);
}

#[test]
fn hostile_archives_are_refused_with_nothing_written() {
    type Case = (&'static str, Option<Entry>, fn(&mut Vec<Entry>));
    let cases: Vec<Case> = vec![
        ("dotdot", Some(Entry::File("../a.db".into(), b"evil".to_vec())), |_| {}),
        ("absolute", Some(Entry::File("/tmp/lifeboat-evil.db".into(), b"evil".to_vec())), |_| {}),
        ("symlink", Some(Entry::Symlink("b.db".into(), "/etc/passwd".into())), |_| {}),
        ("not in manifest", Some(Entry::File("b.db".into(), b"SQLite format 3\0evil".to_vec())), |_| {}),
        ("checksum mismatch", None, |entries| {
            if let Entry::File(_, data) = &mut entries[0] {
                let n = data.len();
                data[n - 10] ^= 0x01;
            }
        }),
        ("missing database", None, |entries| {
            entries.remove(0);
        }),
    ];
    for (label, extra, mutate) in cases {
        let e = env();
        hostile(&e, extra, mutate);
        // Live restore (the worst case) and --to both refuse.
        let to = e.root.join("to");
        let before = tree(&e.root);
        for target in [None, Some(to.as_path())] {
            let p = restore::plan(&e.cfg, &req("latest", &[], target)).unwrap();
            let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
            assert!(matches!(err, RestoreError::NotVerified { .. }), "{label}: {err}");
            assert!(err.to_string().contains("nothing was written"), "{label}: {err}");
        }
        let after: Vec<_> = tree(&e.root).into_iter().filter(|(p, _)| !p.starts_with(e.cfg.state_dir())).collect();
        assert_eq!(after, before, "{label}: nothing written outside the state folder");
        assert!(!to.exists(), "{label}");
        assert!(!Path::new("/tmp/lifeboat-evil.db").exists());
        let scratch_left: Vec<_> = std::fs::read_dir(e.cfg.state_dir())
            .unwrap()
            .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".restore-"))
            .collect();
        assert!(scratch_left.is_empty(), "{label}: scratch removed: {scratch_left:?}");
    }
}

#[test]
fn duplicate_names_and_truncation_are_refused() {
    let e = env();
    hostile(&e, Some(Entry::File("a.dX".into(), b"shadow".to_vec())), |_| {});
    patch_bytes(&e.archive, b"a.dX", b"a.db");
    let before = tree(&e.live);
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(err.to_string().contains("same name"), "{err}");
    assert_eq!(tree(&e.live), before);

    let e = env();
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    let len = std::fs::metadata(&e.archive).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&e.archive).unwrap().set_len(len - 200).unwrap();
    let before = tree(&e.live);
    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert_eq!(tree(&e.live), before);
    assert!(restore::plan(&e.cfg, &req("latest", &[], None)).is_err(), "a truncated archive cannot even be planned");
}

#[test]
fn archive_replaced_after_planning_is_refused() {
    let e = env();
    let p = restore::plan(&e.cfg, &req("latest", &[], Some(&e.root.join("to")))).unwrap();
    // A different, valid archive under the same name.
    let snap = e.root.join("snap/c.db");
    let (entries, _) = good_entries(&[("c.db", snap.as_path())]);
    write_zip(&e.archive, &entries);
    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(matches!(err, RestoreError::Changed(_)), "{err}");
    assert!(!e.root.join("to").exists());
}

#[test]
fn cancelled_before_writing_writes_nothing() {
    let e = env();
    let before = tree(&e.live);
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = restore::execute(&e.cfg, &state(&e), &p, &cancel).unwrap_err();
    assert!(matches!(err, RestoreError::Cancelled { ref restored } if restored.is_empty()), "{err}");
    assert_eq!(tree(&e.live), before);
}

#[test]
fn manifest_with_a_path_is_refused_at_plan_time() {
    let e = env();
    let snap = e.root.join("snap/a.db");
    let mut entry = entry_for("a.db", &snap);
    entry.name = "../../etc/a.db".into();
    let m = manifest(vec![entry]);
    write_zip(
        &e.archive,
        &[
            Entry::File("../../etc/a.db".into(), std::fs::read(&snap).unwrap()),
            Entry::File(INFO_NAME.into(), b"x".to_vec()),
            Entry::File(MANIFEST_NAME.into(), serde_json::to_vec(&m).unwrap()),
        ],
    );
    let err = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap_err();
    assert!(matches!(err, RestoreError::Hostile { .. }), "{err}");
}

#[test]
fn restoring_a_missing_live_database_creates_it_in_its_archived_mode() {
    let e = env();
    std::fs::remove_file(e.live.join("a.db")).unwrap();
    for s in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(e.live.join(format!("a.db{s}")));
    }
    let p = restore::plan(&e.cfg, &req("latest", &["a.db"], None)).unwrap();
    assert_eq!(p.databases[0].action, Action::Create);
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(out.safety_archive, None, "nothing to protect");
    assert!(out.restored[0].rows_match_manifest, "{out:?}");
    let c = Connection::open(e.live.join("a.db")).unwrap();
    assert_eq!(items(&c).len(), 50);
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
}

/// Takes a real backup through `backup::run` at a fixed time.
fn backup_now(e: &Env, h: u32) -> String {
    let st = state(e);
    let out = backup::run(
        &e.cfg,
        &st,
        BackupOptions {
            trigger: Trigger::Manual,
            only: None,
            progress: None,
            cancel: CancellationToken::new(),
            now: Utc.with_ymd_and_hms(2026, 11, 22, h, 0, 0).unwrap(),
        },
    )
    .unwrap();
    out.archive.name
}

#[test]
fn live_round_trip_keeps_open_connections_valid_and_takes_a_safety_snapshot() {
    let e = env();
    std::fs::remove_file(&e.archive).unwrap();
    let name = backup_now(&e, 2);
    let want_a = rows(&e.live.join("a.db"));
    let want_b = rows(&e.live.join("b.db"));
    // The bot keeps its connections open and changes the data.
    let bot_a = Connection::open(e.live.join("a.db")).unwrap();
    let bot_b = Connection::open(e.live.join("b.db")).unwrap();
    bot_a
        .execute_batch("DELETE FROM items WHERE id % 2 = 0; INSERT INTO items(label, amount) VALUES ('new', 1);")
        .unwrap();
    bot_b.execute_batch("UPDATE items SET amount = -1; DELETE FROM meta;").unwrap();
    assert_ne!(items(&bot_a), want_a);

    let p = restore::plan(&e.cfg, &req("latest", &["a.db", "b.db"], None)).unwrap();
    assert_eq!(p.archive.name, name);
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(out.restored.len(), 2);
    assert!(out.restored.iter().all(|r| r.rows_match_manifest), "{out:?}");

    // The open connections see the restored rows.
    assert_eq!(items(&bot_a), want_a);
    assert_eq!(items(&bot_b), want_b);
    let mode: String = bot_a.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal", "a.db stays in WAL mode");
    let mode: String = bot_b.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "delete", "b.db stays in rollback mode");
    // And can keep writing.
    bot_a.execute("INSERT INTO items(label, amount) VALUES ('after', 2)", []).unwrap();
    drop((bot_a, bot_b));
    assert_eq!(rows(&e.live.join("a.db")).len(), want_a.len() + 1);

    // The safety snapshot holds the changed data, and verifies.
    let safety = out.safety_archive.clone().expect("a safety snapshot");
    assert_ne!(safety, name);
    let archived = lifeboat_core::catalog::resolve(&e.cfg.backup.output_dir, &safety).unwrap();
    let m = lifeboat_core::verify::read_manifest(&archived, &lifeboat_core::seal::Keys::none()).unwrap();
    assert_eq!(m.trigger, Trigger::PreRestore);
    assert_eq!(m.databases.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["a.db", "b.db"]);
    let to = e.root.join("safety");
    let p = restore::plan(&e.cfg, &req(&safety, &["b.db"], Some(&to))).unwrap();
    restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert!(rows(&to.join("b.db")).iter().all(|r| r.2 == -1), "the safety snapshot has the pre-restore data");

    // `latest` still means the backup, not the newer safety snapshot, so
    // running the same restore again does not undo the first one.
    let again = restore::plan(&e.cfg, &req("latest", &["b.db"], None)).unwrap();
    assert_eq!(again.archive.name, name);
    let out = restore::execute(&e.cfg, &state(&e), &again, &CancellationToken::new()).unwrap();
    assert_eq!(rows(&e.live.join("b.db")), want_b);
    assert_ne!(out.safety_archive.as_deref(), Some(safety.as_str()), "each restore takes its own snapshot");
}

#[test]
fn corrupt_live_database_is_moved_aside_and_replaced() {
    let e = env();
    std::fs::remove_file(&e.archive).unwrap();
    backup_now(&e, 3);
    let want = rows(&e.live.join("c.db"));
    std::fs::write(e.live.join("c.db"), b"this is not a database any more").unwrap();
    let p = restore::plan(&e.cfg, &req("latest", &["c.db"], None)).unwrap();
    assert!(matches!(p.databases[0].action, Action::ReplaceUnreadable { .. }), "{p:?}");
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(rows(&e.live.join("c.db")), want);
    assert!(out.notes.iter().any(|n| n.contains("kept as")), "{out:?}");
    let aside: Vec<_> = std::fs::read_dir(&e.live)
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("c.db.unreadable-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(&aside[0]).unwrap(), b"this is not a database any more");
}

#[test]
fn page_size_mismatch_into_a_wal_database_is_handled() {
    let e = env();
    // Archive a.db with 8 KiB pages, while the live WAL a.db has 4 KiB pages.
    let big = e.root.join("snap/a8k.db");
    {
        let c = Connection::open(e.live.join("a.db")).unwrap();
        c.execute_batch(&format!("VACUUM INTO '{}'", big.to_str().unwrap())).unwrap();
        let b = Connection::open(&big).unwrap();
        b.execute_batch("PRAGMA page_size = 8192; VACUUM;").unwrap();
        let ps: u32 = b.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(ps, 8192);
    }
    let (entries, _) = good_entries(&[("a.db", big.as_path())]);
    write_zip(&e.archive, &entries);
    let want = rows(&big);
    let bot = Connection::open(e.live.join("a.db")).unwrap();
    bot.execute("DELETE FROM items", []).unwrap();
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert!(out.notes.iter().any(|n| n.contains("page size")), "{out:?}");
    assert_eq!(items(&bot), want);
    let ps: u32 = bot.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(ps, 4096);
}

#[test]
fn live_database_with_corrupt_pages_is_restored() {
    let e = env();
    std::fs::remove_file(&e.archive).unwrap();
    backup_now(&e, 5);
    let path = e.live.join("c.db");
    let want = rows(&path);
    // Keep the header, ruin the pages after it.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[4096..] {
        *b = 0xAB;
    }
    std::fs::write(&path, &bytes).unwrap();
    let p = restore::plan(&e.cfg, &req("latest", &["c.db"], None)).unwrap();
    assert!(matches!(p.databases[0].action, Action::Replace { .. }), "{p:?}");
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(rows(&path), want, "{out:?}");
    let c = Connection::open(&path).unwrap();
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    assert!(out.notes.iter().any(|n| n.contains("c.db") && n.contains("safety snapshot")), "{out:?}");
}

/// The bot keeps writing while the restore replaces its database: the
/// restore finishes, the writer never sees an error, and the ledger's
/// cross-table invariant holds afterwards.
fn restore_under_a_continuous_writer(mode: lifeboat_testkit::sqlite::Mode) {
    use lifeboat_testkit::sqlite::{Writer, WriterOptions, check_invariant, create_ledger};
    let d = tempfile::tempdir().unwrap();
    let live = d.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    let db = live.join("ledger.db");
    create_ledger(&db, mode, 2_000, 64).unwrap();
    let cfg = Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"ledger.db\"]\n",
        live.to_str().unwrap(),
        d.path().join("out").to_str().unwrap()
    ))
    .unwrap();
    let st = State::open(&cfg.state_path()).unwrap();
    let opts = |h| BackupOptions {
        trigger: Trigger::Manual,
        only: None,
        progress: None,
        cancel: CancellationToken::new(),
        now: Utc.with_ymd_and_hms(2026, 11, 22, h, 0, 0).unwrap(),
    };
    backup::run(&cfg, &st, opts(1)).unwrap();
    let writer = Writer::start(&db, WriterOptions::default());
    assert!(writer.wait_for_commits(200, std::time::Duration::from_secs(20)));
    let p = restore::plan(&cfg, &req("latest", &[], None)).unwrap();
    let out = restore::execute(&cfg, &st, &p, &CancellationToken::new()).unwrap();
    assert_eq!(out.restored.len(), 1, "{out:?}");
    assert!(writer.wait_for_commits(50, std::time::Duration::from_secs(20)), "the writer goes on after the restore");
    let stats = writer.stop();
    assert!(stats.errors.is_empty(), "{mode:?}: the writer saw {:?}", stats.errors);
    let payments = check_invariant(&db).unwrap();
    assert!(payments >= 2_000, "{payments}");
    let c = Connection::open(&db).unwrap();
    let jm: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(jm, mode.as_str());
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    assert!(out.safety_archive.is_some());
}

#[test]
fn restore_under_a_continuous_writer_wal() {
    restore_under_a_continuous_writer(lifeboat_testkit::sqlite::Mode::Wal);
}

#[test]
fn restore_under_a_continuous_writer_rollback() {
    restore_under_a_continuous_writer(lifeboat_testkit::sqlite::Mode::Delete);
}

#[test]
fn restore_waits_for_a_reader_holding_a_rollback_database() {
    let e = env();
    std::fs::remove_file(&e.archive).unwrap();
    backup_now(&e, 6);
    let path = e.live.join("b.db");
    let want = rows(&path);
    Connection::open(&path).unwrap().execute("DELETE FROM items", []).unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let reader_path = path.clone();
    let reader = std::thread::spawn(move || {
        let c = Connection::open(&reader_path).unwrap();
        c.execute_batch("BEGIN").unwrap();
        let n: i64 = c.query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0)).unwrap();
        held_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        c.execute_batch("COMMIT").unwrap();
        n
    });
    held_rx.recv().unwrap();
    let started = std::time::Instant::now();
    let p = restore::plan(&e.cfg, &req("latest", &["b.db"], None)).unwrap();
    restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(reader.join().unwrap(), 0, "the reader saw its own consistent view");
    assert!(started.elapsed() >= std::time::Duration::from_millis(500), "the restore waited for the reader");
    assert_eq!(rows(&path), want);
}

/// c.db as a payments ledger, archived at hour `h`; then the bot, its
/// connection kept open (returned), adds 50 payments and rewrites a large
/// note many times, all held in the `-wal`; then pages of the main file go
/// bad, so no safety snapshot can take it.
fn archive_then_damage_ledger(e: &Env, h: u32) -> Connection {
    use lifeboat_testkit::sqlite::{Mode, corrupt_middle, create_ledger};
    let path = e.live.join("c.db");
    std::fs::remove_file(&path).unwrap();
    create_ledger(&path, Mode::Delete, 2000, 100).unwrap();
    backup_now(e, h);
    let bot = Connection::open(&path).unwrap();
    bot.pragma_update(None, "journal_mode", "wal").unwrap();
    bot.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    for i in 0..50 {
        bot.execute("INSERT INTO payments (account, amount, note) VALUES (?1, 1, 'after the archive')", [i % 7])
            .unwrap();
    }
    for i in 0..60 {
        bot.execute("UPDATE payments SET note = ?1 WHERE id = 2050", [format!("{i}").repeat(400 * 1024)]).unwrap();
    }
    corrupt_middle(&path, 64 * 1024).unwrap();
    bot
}

#[test]
fn a_damaged_live_database_is_quarantined_byte_for_byte_before_it_is_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let e = env();
    std::fs::remove_file(&e.archive).unwrap();
    let bot = archive_then_damage_ledger(&e, 6);
    let path = e.live.join("c.db");
    let (main, wal) = (std::fs::read(&path).unwrap(), std::fs::read(e.live.join("c.db-wal")).unwrap());
    assert!(!wal.is_empty(), "the newer payments are in the -wal");

    let p = restore::plan(&e.cfg, &req("latest", &["c.db"], None)).unwrap();
    let why = p.databases[0].damaged.clone().expect("the plan sees the damage");
    assert!(why.contains("integrity"), "{why}");
    let out = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();

    assert_eq!(out.quarantined.len(), 1, "{out:?}");
    let q = &out.quarantined[0];
    let root = e.cfg.backup.output_dir.join("quarantine");
    assert_eq!(q.dir.parent(), Some(root.as_path()));
    assert!(q.dir.file_name().unwrap().to_str().unwrap().starts_with("c.db."), "{q:?}");
    assert_eq!(std::fs::read(q.dir.join("c.db")).unwrap(), main, "the damaged file, byte for byte");
    assert_eq!(std::fs::read(q.dir.join("c.db-wal")).unwrap(), wal, "its -wal, byte for byte");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&root), mode(&q.dir), mode(&q.dir.join("c.db"))), (0o700, 0o700, 0o600));
    assert!(out.notes.iter().any(|n| n.contains(&q.dir.display().to_string())), "{out:?}");

    // The live database is the archived one again, under the open connection.
    let payments: i64 = bot.query_row("SELECT count(*) FROM payments", [], |r| r.get(0)).unwrap();
    assert_eq!(payments, 2000);
    // Status shows the copy; nothing takes it for an archive.
    let s = lifeboat_engine::status::snapshot(&e.cfg, None, Utc::now()).unwrap();
    assert_eq!(s.quarantined, out.quarantined);
    let archives = lifeboat_core::catalog::list(&e.cfg.backup.output_dir).unwrap();
    assert!(archives.iter().all(|a| a.files.iter().all(|f| !f.starts_with(&root))), "{archives:?}");
}

#[test]
fn a_full_disk_while_quarantining_stops_the_restore_before_the_live_file_is_touched() {
    let Some(fs) = lifeboat_testkit::tmpfs::Tmpfs::mount(64 * 1024) else { return };
    let mut e = env();
    std::fs::remove_file(&e.archive).unwrap();
    let out_dir = fs.path().join("out");
    e.cfg = Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"a.db\", \"b.db\", \"c.db\"]\n",
        e.live.to_str().unwrap(),
        out_dir.to_str().unwrap()
    ))
    .unwrap();
    let bot = archive_then_damage_ledger(&e, 7);
    let path = e.live.join("c.db");
    let (main, wal) = (std::fs::read(&path).unwrap(), std::fs::read(e.live.join("c.db-wal")).unwrap());
    let p = restore::plan(&e.cfg, &req("latest", &["c.db"], None)).unwrap();
    assert!(p.databases[0].damaged.is_some());

    // Room to verify the archive (its size plus a 16 MiB margin) and to take
    // the snapshot the safety backup tries, but not for the damaged files.
    let extracted: u64 = p.manifest.databases.iter().map(|d| d.size).sum();
    let logical: i64 = bot
        .query_row("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", [], |r| r.get(0))
        .unwrap();
    let logical = logical as u64;
    let free = extracted + (16 << 20) + logical + (1 << 20);
    assert!(free - extracted < (main.len() + wal.len()) as u64, "the damaged files must not fit");
    let avail = lifeboat_core::fsutil::available_space(fs.path()).unwrap();
    std::fs::write(fs.path().join("filler"), vec![0u8; (avail - free) as usize]).unwrap();

    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(matches!(err, RestoreError::Quarantine { .. }), "{err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), main, "the live file is untouched");
    assert_eq!(std::fs::read(e.live.join("c.db-wal")).unwrap(), wal, "its -wal is untouched");
    let left = std::fs::read_dir(out_dir.join("quarantine")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "no partial copy is left");
    drop(bot);
}

#[test]
fn a_files_folder_swapped_for_a_symlink_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let (bot, victim) = (dir.path().join("bot/data"), dir.path().join("victim"));
    std::fs::create_dir_all(&bot).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(bot.join("settings.json"), "archived").unwrap();
    std::fs::write(victim.join("settings.json"), "the victim's").unwrap();
    let cfg = Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = []\n[[sources.files]]\nname = \"conf\"\npaths = [{:?}]\n",
        dir.path().join("live").to_str().unwrap(),
        dir.path().join("out").to_str().unwrap(),
        bot.to_str().unwrap()
    ))
    .unwrap();
    let e = Env { root: dir.path().to_path_buf(), live: bot.clone(), archive: PathBuf::new(), cfg, _dir: dir };
    backup_now(&e, 8);
    // The bot's user (here nobody, 65534) swaps its folder for a link.
    let swap = || {
        std::fs::rename(&bot, e.root.join("bot/data.old")).unwrap();
        std::os::unix::fs::symlink(&victim, &bot).unwrap();
        std::os::unix::fs::lchown(&bot, Some(65534), Some(65534)).unwrap();
    };
    let untouched = || {
        let names: Vec<_> = std::fs::read_dir(&victim).unwrap().map(|d| d.unwrap().file_name()).collect();
        assert_eq!(names, ["settings.json"], "nothing new in the victim folder");
        assert_eq!(std::fs::read_to_string(victim.join("settings.json")).unwrap(), "the victim's");
    };

    // Planned before the swap: the write itself refuses the link.
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    swap();
    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(err.to_string().contains("is a symbolic link"), "{err}");
    untouched();

    // Planned after it: the plan lists the refusal, naming the link, and
    // carrying it out writes nothing.
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    let link = format!("{} is a symbolic link", bot.display());
    assert!(p.problems.iter().any(|x| x.contains(&link)), "{:?}", p.problems);
    let err = restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap_err();
    assert!(matches!(&err, RestoreError::Preflight { .. }), "{err}");
    assert!(err.to_string().contains("nothing was written"), "{err}");
    untouched();

    // A link root made is the machine's layout, not a swap: followed.
    std::fs::remove_file(&bot).unwrap();
    let moved = e.root.join("moved");
    std::fs::rename(e.root.join("bot/data.old"), &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &bot).unwrap();
    std::fs::write(moved.join("settings.json"), "changed since").unwrap();
    let p = restore::plan(&e.cfg, &req("latest", &[], None)).unwrap();
    restore::execute(&e.cfg, &state(&e), &p, &CancellationToken::new()).unwrap();
    assert_eq!(std::fs::read_to_string(moved.join("settings.json")).unwrap(), "archived");
    untouched();
}
