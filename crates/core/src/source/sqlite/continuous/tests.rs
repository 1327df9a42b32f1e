use std::os::unix::fs::FileExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::*;
use crate::state::State;
use crate::test_data::noise;

/// What these tests configure: one database `a.db` in `root/data`,
/// archives in `root/out`, nothing sealed, increments kept a week.
struct Cfg {
    setup: Setup,
}

impl Cfg {
    fn continuous_setup(&self) -> Setup {
        self.setup.clone()
    }

    fn open_state(&self) -> Result<State, crate::state::StateError> {
        State::open(&self.setup.state_dir.join("state.db"))
    }
}

fn config(root: &Path) -> Cfg {
    let src = root.join("data");
    std::fs::create_dir_all(&src).unwrap();
    let out = root.join("out");
    Cfg {
        setup: Setup {
            source_dir: src,
            databases: vec!["a.db".into()],
            state_dir: out.join(".lifeboat"),
            output_dir: out,
            keys: crate::seal::Keys::default(),
            recipients: None,
            keep_days: 7,
            stores: Vec::new(),
        },
    }
}

/// A folder with the continuous config of [`config`] and its state database.
fn setup() -> (tempfile::TempDir, Cfg, State) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let state = cfg.open_state().unwrap();
    (dir, cfg, state)
}

fn rows(path: &Path) -> i64 {
    let c = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
}

fn ok(path: &Path) -> bool {
    crate::integrity::check(path).unwrap().ok
}

/// A clock that moves a millisecond each time it is read.
fn clock() -> impl Fn() -> DateTime<Utc> {
    let t = std::cell::Cell::new(Utc::now());
    move || {
        t.set(t.get() + chrono::TimeDelta::milliseconds(1));
        t.get()
    }
}

#[test]
fn every_kind_of_increment_rebuilds_the_moment_it_captured() {
    let (dir, cfg, state) = setup();
    let db = cfg.setup.source_dir.join("a.db");
    let bot = wal_bot_from(&cfg, "CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('a');");
    let now = clock();
    let mut moments = Vec::new();
    let mut capture_now = |expect: Option<increment::Kind>| {
        let got = capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
        match (expect, &got) {
            (Some(k), Captured::Written { kind, .. }) => assert_eq!(*kind, k),
            (None, Captured::Unchanged) => {}
            _ => panic!("expected {expect:?}, got {got:?}"),
        }
        moments.push((now(), rows(&db)));
    };
    capture_now(Some(increment::Kind::Full));
    capture_now(None);
    for i in 0..50 {
        bot.execute("INSERT INTO t VALUES (?1)", [format!("{i:0500}")]).unwrap();
    }
    capture_now(Some(increment::Kind::Wal));
    bot.execute("DELETE FROM t WHERE rowid % 3 = 0", []).unwrap();
    capture_now(Some(increment::Kind::Wal));
    // Frames checkpointed and dropped before they were read: a page diff.
    bot.execute("INSERT INTO t VALUES ('after')", []).unwrap();
    bot.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    capture_now(Some(increment::Kind::Diff));
    capture_now(None);
    bot.execute_batch("INSERT INTO t VALUES ('new wal'); VACUUM;").unwrap();
    // The WAL begun after the reset: read from its first frame.
    capture_now(Some(increment::Kind::Wal));
    bot.execute("DELETE FROM t", []).unwrap();
    bot.execute_batch("VACUUM").unwrap();
    capture_now(Some(increment::Kind::Wal));
    for (i, (at, want)) in moments.iter().enumerate() {
        let r = reach(&cfg.continuous_setup(), "a.db", *at).unwrap();
        let out = dir.path().join(format!("r{i}.db"));
        rebuild(&cfg.continuous_setup(), &r, &out).unwrap();
        assert!(ok(&out), "moment {i}");
        assert_eq!(rows(&out), *want, "moment {i}");
    }
    // Before the first capture: nothing to reach, and the error says from when.
    let early = reach(&cfg.continuous_setup(), "a.db", moments[0].0 - chrono::TimeDelta::hours(1)).unwrap_err();
    assert!(early.to_string().contains("earliest moment reachable"), "{early}");
    // The shadow is what the chain rebuilds.
    let last = dir.path().join("last.db");
    rebuild(
        &cfg.continuous_setup(),
        &reach(&cfg.continuous_setup(), "a.db", Utc::now() + chrono::TimeDelta::hours(1)).unwrap(),
        &last,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(&last).unwrap(),
        std::fs::read(Paths::new(&cfg.continuous_setup(), "a.db").shadow).unwrap()
    );
}

#[test]
fn a_capture_stopped_before_recording_is_adopted() {
    let (dir, cfg, state) = setup();
    let bot = wal_bot_from(&cfg, "CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('a');");
    let now = clock();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    let before = state.capture_position("a.db").unwrap().unwrap();
    bot.execute("INSERT INTO t VALUES ('b')", []).unwrap();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    // As if stopped after writing the increment, before recording it.
    state.set_capture_position(&before).unwrap();
    bot.execute("INSERT INTO t VALUES ('c')", []).unwrap();
    let got = capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    assert!(matches!(got, Captured::Written { kind: increment::Kind::Wal, seq: 2, generation: 1, .. }), "{got:?}");
    let out = dir.path().join("r.db");
    rebuild(
        &cfg.continuous_setup(),
        &reach(&cfg.continuous_setup(), "a.db", now() + chrono::TimeDelta::seconds(1)).unwrap(),
        &out,
    )
    .unwrap();
    assert_eq!(rows(&out), 3);
    // The shadow took the adopted increment's pages once, not twice.
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(Paths::new(&cfg.continuous_setup(), "a.db").shadow).unwrap()
    );
}

#[test]
fn another_file_at_the_path_starts_a_new_chain_and_retention_drops_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.setup.keep_days = 1;
    let state = cfg.open_state().unwrap();
    let db = cfg.setup.source_dir.join("a.db");
    let make = |rows: i64| lifeboat_testkit::sqlite::replace_with_wal_db(&db, rows);
    make(1);
    let now = clock();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    make(2);
    let got = capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    assert!(matches!(got, Captured::Written { kind: increment::Kind::Full, generation: 2, .. }), "{got:?}");
    assert_eq!(prune(&cfg.continuous_setup(), &state, "a.db", now()).unwrap(), 0);
    assert_eq!(prune(&cfg.continuous_setup(), &state, "a.db", now() + chrono::TimeDelta::days(2)).unwrap(), 1);
    assert_eq!(span(&cfg.continuous_setup(), "a.db").unwrap().unwrap().increments, 1);
}

#[test]
fn a_rollback_journal_database_gets_page_diffs() {
    let (dir, cfg, state) = setup();
    let db = cfg.setup.source_dir.join("a.db");
    let bot = Connection::open(&db).unwrap();
    bot.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);").unwrap();
    let t0 = Utc::now();
    let at = std::cell::Cell::new(t0);
    let now = || at.get();
    assert!(matches!(capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap(), Captured::Written { .. }));
    assert_eq!(capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap(), Captured::Unchanged);
    bot.execute("INSERT INTO t VALUES (2)", []).unwrap();
    assert_eq!(capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap(), Captured::NotDue);
    at.set(t0 + chrono::TimeDelta::seconds(61));
    let got = capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    assert!(matches!(got, Captured::Written { kind: increment::Kind::Diff, .. }), "{got:?}");
    let out = dir.path().join("r.db");
    rebuild(&cfg.continuous_setup(), &reach(&cfg.continuous_setup(), "a.db", at.get()).unwrap(), &out).unwrap();
    assert_eq!(rows(&out), 2);
}

#[test]
fn sealed_increments_need_the_identity_to_be_rebuilt() {
    use age::secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let id = age::x25519::Identity::generate();
    let key = dir.path().join("key.txt");
    std::fs::write(&key, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let base = config(dir.path());
    let with = |identity: &str| {
        let mut setup = base.continuous_setup();
        setup.recipients = Some(vec![id.to_public().to_string().parse().unwrap()]);
        if !identity.is_empty() {
            setup.keys.set_identity_file(Path::new(identity)).unwrap();
        }
        Cfg { setup }
    };
    let cfg = with(&key.display().to_string());
    let state = cfg.open_state().unwrap();
    let bot = wal_bot_from(&cfg, "CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('secret row');");
    let now = clock();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    bot.execute("INSERT INTO t VALUES ('another secret row')", []).unwrap();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    let files = increment::list(&Paths::new(&cfg.continuous_setup(), "a.db").dir).unwrap();
    assert_eq!(files.len(), 2);
    for f in &files {
        assert!(f.sealed, "{}", f.path.display());
        let bytes = std::fs::read(&f.path).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"secret"), "plain text in {}", f.path.display());
    }
    let r = reach(&cfg.continuous_setup(), "a.db", now()).unwrap();
    let out = dir.path().join("r.db");
    rebuild(&cfg.continuous_setup(), &r, &out).unwrap();
    assert_eq!(rows(&out), 2);
    // Without the private key: refused, saying what is missing.
    let keyless = with("");
    let err = rebuild(&keyless.continuous_setup(), &r, &dir.path().join("r2.db")).unwrap_err().to_string();
    assert!(err.contains("identity") || err.contains("key"), "{err}");
}

#[test]
fn checking_the_chains_finds_an_altered_increment() {
    let (_dir, cfg, state) = setup();
    let bot = wal_bot_from(&cfg, "CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('a');");
    let now = clock();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    for i in 0..3 {
        bot.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
        capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    }
    let scratch = tempfile::tempdir().unwrap();
    let c = check_chains(&cfg.continuous_setup(), Some(&state), "a.db", scratch.path()).unwrap();
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    assert_eq!((c.chains, c.increments), (1, 4));
    // An increment replaced by another valid one: its hash no longer follows.
    let files = increment::list(&Paths::new(&cfg.continuous_setup(), "a.db").dir).unwrap();
    let h = increment::Reader::open(&files[2], &crate::seal::Keys::none()).unwrap().header;
    std::fs::remove_file(&files[2].path).unwrap();
    let w = increment::Writer::create(&files[2].path, &increment::Header { prev: [9; 32], ..h }, None).unwrap();
    w.finish().unwrap();
    let c = check_chains(&cfg.continuous_setup(), Some(&state), "a.db", scratch.path()).unwrap();
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    assert!(c.problems[0].contains("does not follow"), "{:?}", c.problems);
}

/// A bot's WAL database `a.db` made by `sql`, the connection kept open (so
/// the WAL stays), in `cfg.setup.source_dir`.
fn wal_bot_from(cfg: &Cfg, sql: &str) -> Connection {
    let bot = Connection::open(cfg.setup.source_dir.join("a.db")).unwrap();
    bot.pragma_update(None, "journal_mode", "wal").unwrap();
    bot.execute_batch(sql).unwrap();
    bot
}

/// A bot's WAL database `a.db` with some rows, as [`wal_bot_from`] makes it.
fn wal_bot(cfg: &Cfg, rows: i64) -> Connection {
    let bot = wal_bot_from(cfg, "CREATE TABLE t(x TEXT)");
    for i in 0..rows {
        bot.execute("INSERT INTO t VALUES (?1)", [format!("row {i} {}", "x".repeat(300))]).unwrap();
    }
    bot
}

#[test]
fn a_backup_api_copy_differs_from_the_chain_only_in_page_one_bookkeeping() {
    let (dir, cfg, state) = setup();
    let bot = wal_bot(&cfg, 20);
    capture(&cfg.continuous_setup(), &state, "a.db", &clock()).unwrap();
    // The chain's page 1 now comes from the bot's own WAL frames.
    for i in 0..30 {
        bot.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
    }
    bot.execute_batch("CREATE TABLE u(y)").unwrap();
    let got = capture(&cfg.continuous_setup(), &state, "a.db", &clock()).unwrap();
    assert!(matches!(got, Captured::Written { kind: increment::Kind::Wal, .. }), "{got:?}");
    let snap = dir.path().join("snap.db");
    crate::snapshot::take(&cfg.setup.source_dir.join("a.db"), &snap, &Default::default()).unwrap();
    let chain = dir.path().join("chain.db");
    let newest = increment::list(&Paths::new(&cfg.continuous_setup(), "a.db").dir).unwrap().last().unwrap().captured_at;
    rebuild(&cfg.continuous_setup(), &reach(&cfg.continuous_setup(), "a.db", newest).unwrap(), &chain).unwrap();
    let (a, b) = (std::fs::read(&chain).unwrap(), std::fs::read(&snap).unwrap());
    assert_eq!(a.len(), b.len());
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    let page_size = 4096;
    assert!(differing.iter().all(|&i| i < page_size), "pages past the first differ: {differing:?}");
    let bookkeeping = |i: &usize| proof::BOOKKEEPING.iter().any(|r| r.contains(i));
    assert!(differing.iter().all(bookkeeping), "page 1 differs outside the bookkeeping: {differing:?}");
    // The copy does set them: the change counter and the schema cookie.
    assert!(differing.iter().any(|i| (24..28).contains(i)), "{differing:?}");
    assert!(differing.iter().any(|i| (40..44).contains(i)), "{differing:?}");
    let ps = page_size as u32;
    assert_eq!(proof::page_hash(&chain, ps).unwrap(), proof::page_hash(&snap, ps).unwrap());
}

/// Before, snapshot, after, as a scheduled archive does; `tamper` changes
/// the snapshot in between.
fn prove(cfg: &Cfg, state: &State, dir: &Path, tamper: bool) -> ChainProof {
    let before = proof::before_snapshot(&cfg.continuous_setup(), state, "a.db").unwrap();
    let snap = dir.join("snap.db");
    let _ = std::fs::remove_file(&snap);
    crate::snapshot::take(&cfg.setup.source_dir.join("a.db"), &snap, &Default::default()).unwrap();
    if tamper {
        let f = std::fs::OpenOptions::new().write(true).open(&snap).unwrap();
        f.write_all_at(b"tampered", 4096 + 2000).unwrap();
    }
    proof::after_snapshot(&cfg.continuous_setup(), state, "a.db", before, &snap, dir)
}

#[test]
fn a_snapshot_is_proven_against_its_chain_and_a_mismatch_starts_a_new_one() {
    let (dir, cfg, state) = setup();
    let bot = wal_bot(&cfg, 50);
    // The first proof starts the chain itself, and holds.
    let got = prove(&cfg, &state, dir.path(), false);
    assert!(matches!(got, ChainProof::Proven { generation: 1, seq: 0, .. }), "{got:?}");
    for i in 0..100 {
        bot.execute("INSERT INTO t VALUES (?1)", [i]).unwrap();
    }
    capture(&cfg.continuous_setup(), &state, "a.db", &Utc::now).unwrap();
    bot.execute("DELETE FROM t WHERE rowid % 3 = 0", []).unwrap();
    let got = prove(&cfg, &state, dir.path(), false);
    assert!(matches!(got, ChainProof::Proven { generation: 1, seq: 2, .. }), "{got:?}");
    // The bot's checkpoint empties the WAL: the page diff is proven too.
    bot.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    bot.execute("UPDATE t SET x = 'changed' WHERE rowid < 10", []).unwrap();
    let got = prove(&cfg, &state, dir.path(), false);
    assert!(matches!(got, ChainProof::Proven { generation: 1, .. }), "{got:?}");
    // A snapshot that differs from the chain: a mismatch, and a new chain.
    let got = prove(&cfg, &state, dir.path(), true);
    assert!(matches!(&got, ChainProof::Mismatch { generation: 1, detail, .. } if detail.contains("sha256")), "{got:?}");
    assert!(got.words().contains("new chain"), "{}", got.words());
    let next = capture(&cfg.continuous_setup(), &state, "a.db", &Utc::now).unwrap();
    assert!(matches!(next, Captured::Written { kind: increment::Kind::Full, generation: 2, .. }), "{next:?}");
    let got = prove(&cfg, &state, dir.path(), false);
    assert!(matches!(got, ChainProof::Proven { generation: 2, .. }), "{got:?}");
}

#[test]
fn a_database_written_around_its_snapshot_is_proven_at_the_commit_it_holds() {
    let (dir, cfg, state) = setup();
    let bot = wal_bot(&cfg, 5);
    let db = cfg.setup.source_dir.join("a.db");
    let snap = dir.path().join("snap.db");
    let before = proof::before_snapshot(&cfg.continuous_setup(), &state, "a.db").unwrap();
    // Commits before the snapshot, then more after it: the snapshot is
    // the state after the fourth of the seven since the capture.
    for i in 0..4 {
        bot.execute("INSERT INTO t VALUES (?1)", [format!("before {i}")]).unwrap();
    }
    crate::snapshot::take(&db, &snap, &Default::default()).unwrap();
    for i in 0..3 {
        bot.execute("INSERT INTO t VALUES (?1)", [format!("after {i} {}", "y".repeat(3000))]).unwrap();
    }
    let got = proof::after_snapshot(&cfg.continuous_setup(), &state, "a.db", before, &snap, dir.path());
    assert!(matches!(got, ChainProof::Proven { generation: 1, .. }), "{got:?}");

    // A snapshot no commit of the WAL reaches is a mismatch.
    let before = proof::before_snapshot(&cfg.continuous_setup(), &state, "a.db").unwrap();
    bot.execute("INSERT INTO t VALUES ('one more')", []).unwrap();
    crate::snapshot::take(&db, &snap, &Default::default()).unwrap();
    let c = Connection::open(&snap).unwrap();
    c.execute("INSERT INTO t VALUES ('never in the bot')", []).unwrap();
    drop(c);
    let got = proof::after_snapshot(&cfg.continuous_setup(), &state, "a.db", before, &snap, dir.path());
    assert!(matches!(got, ChainProof::Mismatch { .. }), "{got:?}");
}

#[test]
fn a_database_whose_wal_was_reset_during_its_snapshot_is_not_proven() {
    let (dir, cfg, state) = setup();
    let bot = wal_bot(&cfg, 5);
    let before = proof::before_snapshot(&cfg.continuous_setup(), &state, "a.db").unwrap();
    bot.execute("INSERT INTO t VALUES ('during')", []).unwrap();
    bot.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    bot.execute("INSERT INTO t VALUES ('after the reset')", []).unwrap();
    let snap = dir.path().join("snap.db");
    crate::snapshot::take(&cfg.setup.source_dir.join("a.db"), &snap, &Default::default()).unwrap();
    let got = proof::after_snapshot(&cfg.continuous_setup(), &state, "a.db", before, &snap, dir.path());
    assert!(matches!(&got, ChainProof::Skipped { why, .. } if why.contains("changed")), "{got:?}");
    // Nothing forgotten: the chain goes on.
    assert!(state.capture_position("a.db").unwrap().is_some());
}

#[test]
fn a_page_size_change_starts_a_new_chain_and_both_sides_rebuild() {
    let (dir, cfg, state) = setup();
    let bot = wal_bot(&cfg, 1);
    let now = clock();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    bot.execute("INSERT INTO t VALUES ('b')", []).unwrap();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    let before = now();
    // The page size of a WAL database changes only through rollback mode.
    bot.pragma_update(None, "journal_mode", "delete").unwrap();
    bot.pragma_update(None, "page_size", 8192).unwrap();
    bot.execute_batch("VACUUM").unwrap();
    bot.pragma_update(None, "journal_mode", "wal").unwrap();
    bot.execute("INSERT INTO t VALUES ('c')", []).unwrap();
    let page_size: u32 = bot.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page_size, 8192);
    let got = capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    assert!(matches!(got, Captured::Written { kind: increment::Kind::Full, generation: 2, .. }), "{got:?}");
    for (at, want) in [(before, 2), (now(), 3)] {
        let out = dir.path().join(format!("r{want}.db"));
        rebuild(&cfg.continuous_setup(), &reach(&cfg.continuous_setup(), "a.db", at).unwrap(), &out).unwrap();
        assert!(ok(&out));
        assert_eq!(rows(&out), want);
    }
}

#[test]
fn a_capture_that_cannot_write_fails_and_the_next_one_catches_up() {
    let (dir, cfg, state) = setup();
    let bot = wal_bot(&cfg, 1);
    let now = clock();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    let position = state.capture_position("a.db").unwrap();
    // The increments' folder cannot be written (a file in its place, as a
    // full disk or a lost mount would refuse it).
    let increments = Paths::new(&cfg.continuous_setup(), "a.db").dir;
    let aside = increments.with_extension("aside");
    std::fs::rename(&increments, &aside).unwrap();
    std::fs::write(&increments, b"not a folder").unwrap();
    bot.execute("INSERT INTO t VALUES ('b')", []).unwrap();
    assert!(capture(&cfg.continuous_setup(), &state, "a.db", &now).is_err());
    assert_eq!(state.capture_position("a.db").unwrap(), position, "a failed capture records nothing");
    std::fs::remove_file(&increments).unwrap();
    std::fs::rename(&aside, &increments).unwrap();
    bot.execute("INSERT INTO t VALUES ('c')", []).unwrap();
    let got = capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    assert!(matches!(got, Captured::Written { generation: 1, seq: 1, .. }), "{got:?}");
    let out = dir.path().join("r.db");
    rebuild(&cfg.continuous_setup(), &reach(&cfg.continuous_setup(), "a.db", now()).unwrap(), &out).unwrap();
    assert!(ok(&out));
    assert_eq!(rows(&out), 3);
}

#[test]
fn a_commit_counts_as_published_once_shm_counts_it_or_a_reset_follows() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let bot = wal_bot(&cfg, 3);
    let paths = Paths::new(&cfg.continuous_setup(), "a.db");
    let look = capture::Look::take(&paths).unwrap();
    let at = look.wal_position();
    assert!(at.frames > 0);
    assert_eq!(look.published(), at, "every commit SQLite made is published");
    let index = wal::IndexHeader::read(&paths.shm()).unwrap();
    assert!(index.settled && index.publishes(&at));
    let ahead = wal::WalPosition { frames: at.frames + 1, ..at };
    assert!(!index.publishes(&ahead), "a frame -shm does not count yet");
    // A commit in the file that -shm does not count yet: the position a
    // snapshot is sure to hold is the commit before it.
    let wal = wal::read(&paths.wal()).unwrap();
    let wal::WalState::Valid(h, bytes) = &wal else { panic!("no wal") };
    let mut commits = Vec::new();
    wal::each_commit(h, bytes, &h.start(), |_, _, p| commits.push(p));
    assert!(commits.len() >= 2);
    let behind = wal::IndexHeader { frames: commits[commits.len() - 1].frames as u32 - 1, ..index };
    assert_eq!(wal::published(&wal, Some(&behind)), commits[commits.len() - 2]);
    assert_eq!(wal::published(&wal, None), h.start(), "without -shm, the WAL's start");
    bot.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let reset = wal::IndexHeader::read(&paths.shm()).unwrap();
    assert!(reset.publishes(&ahead), "a reset comes after every frame was checkpointed");
    let next = wal::published(&wal, Some(&reset));
    assert_eq!((next.salt1, next.salt2, next.frames), (reset.salt1, reset.salt2, 0), "the next WAL's start");
}

/// The increments of `a.db`, oldest first.
fn increments(cfg: &Cfg) -> Vec<increment::Stored> {
    increment::list(&Paths::new(&cfg.continuous_setup(), "a.db").dir).unwrap()
}

/// Runs the rebuild docs/archive-format.md gives for continuous increments
/// over `files` (unsealed, in order) into `out`.
fn documented_rebuild(files: &[increment::Stored], out: &Path) {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/archive-format.md")).unwrap();
    let blocks: Vec<&str> =
        doc.split("```python\n").skip(1).map(|c| c.split("```").next().expect("a closed block")).collect();
    assert_eq!(blocks.len(), 2, "the differential's rebuild, then the increments'");
    let list = files.iter().map(|s| format!("{:?}", s.path.display().to_string())).collect::<Vec<_>>().join(", ");
    let script =
        format!("{}\n{}\nrebuild_increments([{list}], {:?})\n", blocks[0], blocks[1], out.display().to_string());
    let run = std::process::Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
}

#[test]
fn pages_are_stored_as_differences_and_the_chain_still_rebuilds_the_snapshot() {
    let (dir, cfg, state) = setup();
    let db = cfg.setup.source_dir.join("a.db");
    let bot = wal_bot_from(
        &cfg,
        "CREATE TABLE t(x TEXT); CREATE TABLE keys (k BLOB); CREATE INDEX keys_k ON keys (k); BEGIN;",
    );
    for key in noise(3000 * 16, 1).chunks(16) {
        bot.execute("INSERT INTO keys VALUES (?1)", [key]).unwrap();
    }
    bot.execute_batch("COMMIT").unwrap();
    let now = clock();
    capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
    let mut moments = Vec::new();
    // Index entries in random leaf pages: WAL frames, then a page diff
    // after the bot's checkpoint emptied the WAL.
    for (round, checkpoint) in [(1u64, false), (2, false), (3, true)] {
        for key in noise(10 * 16, 100 + round).chunks(16) {
            bot.execute("INSERT INTO keys VALUES (?1)", [key]).unwrap();
        }
        if checkpoint {
            bot.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        }
        let got = capture(&cfg.continuous_setup(), &state, "a.db", &now).unwrap();
        let Captured::Written { kind, pages, bytes, .. } = got else { panic!("{got:?}") };
        assert_eq!(kind, if checkpoint { increment::Kind::Diff } else { increment::Kind::Wal });
        assert!(pages >= 10, "{pages} pages");
        // The first round splits no page: each changed page is a few
        // dozen bytes (later ones split leaves, whose new pages are whole).
        if round == 1 {
            assert!(bytes < pages * 200, "{pages} changed pages of random keys cost {bytes} bytes");
        }
        let snap = dir.path().join(format!("snap{round}.db"));
        crate::snapshot::take(&db, &snap, &Default::default()).unwrap();
        moments.push((now(), snap));
    }
    let files = increments(&cfg);
    for (i, (at, snap)) in moments.iter().enumerate() {
        let r = reach(&cfg.continuous_setup(), "a.db", *at).unwrap();
        let out = dir.path().join(format!("r{i}.db"));
        rebuild(&cfg.continuous_setup(), &r, &out).unwrap();
        assert!(ok(&out));
        // The snapshot's pages, page 1's bookkeeping aside.
        assert_eq!(proof::page_hash(&out, 4096).unwrap(), proof::page_hash(snap, 4096).unwrap(), "moment {i}");
        // And the documented rebuild gives the same bytes.
        let by_hand = dir.path().join(format!("by-hand{i}.db"));
        documented_rebuild(&files[..r.increments.len()], &by_hand);
        assert_eq!(std::fs::read(&by_hand).unwrap(), std::fs::read(&out).unwrap(), "moment {i}");
    }
    let scratch = tempfile::tempdir().unwrap();
    let c = check_chains(&cfg.continuous_setup(), Some(&state), "a.db", scratch.path()).unwrap();
    assert!(c.problems.is_empty(), "{:?}", c.problems);
}

/// Writes an increment of `a.db` as Lifeboat wrote them before page
/// records had a kind (`LBINC\0\0\x01`: every page whole), byte by byte;
/// returns its chain hash.
fn version_1(cfg: &Cfg, kind: u8, seq: u64, at: DateTime<Utc>, db: &[u8], pages: &[u32], prev: [u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    use std::io::Write;
    let mut body = b"LBINC\0\0\x01".to_vec();
    body.push(kind);
    body.extend(7u32.to_be_bytes());
    body.extend(seq.to_be_bytes());
    body.extend(at.timestamp_millis().to_be_bytes());
    body.extend(4096u32.to_be_bytes());
    body.extend((db.len() as u32 / 4096).to_be_bytes());
    body.extend([0u8; 28]);
    body.extend(prev);
    for &no in pages {
        body.extend(no.to_be_bytes());
        body.extend(&db[(no as usize - 1) * 4096..no as usize * 4096]);
    }
    body.extend(0u32.to_be_bytes());
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&body).unwrap();
    let dir = Paths::new(&cfg.continuous_setup(), "a.db").dir;
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(increment::file_name(7, seq, at, false)), z.finish().unwrap()).unwrap();
    sha2::Sha256::digest(&body).into()
}

#[test]
fn increments_of_version_1_still_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let db = cfg.setup.source_dir.join("a.db");
    let bot = Connection::open(&db).unwrap();
    bot.execute_batch("PRAGMA page_size = 4096; CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('a');").unwrap();
    let first = std::fs::read(&db).unwrap();
    for i in 0..40 {
        bot.execute("INSERT INTO t VALUES (?1)", [format!("{i:0300}")]).unwrap();
    }
    let second = std::fs::read(&db).unwrap();
    assert!(second.len() > first.len());
    let t0 = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 3, 4, 10, 0, 0).unwrap();
    let t1 = t0 + chrono::TimeDelta::seconds(10);
    let all: Vec<u32> = (1..=first.len() as u32 / 4096).collect();
    let hash = version_1(&cfg, 0, 0, t0, &first, &all, [0; 32]);
    let changed: Vec<u32> = (1..=second.len() as u32 / 4096)
        .filter(|&no| {
            let p = (no as usize - 1) * 4096..no as usize * 4096;
            first.get(p.clone()) != Some(&second[p])
        })
        .collect();
    version_1(&cfg, 2, 1, t1, &second, &changed, hash);
    for (at, want) in [(t0, &first), (t1, &second)] {
        let r = reach(&cfg.continuous_setup(), "a.db", at).unwrap();
        let out = dir.path().join(format!("r{}.db", r.increments.len()));
        rebuild(&cfg.continuous_setup(), &r, &out).unwrap();
        assert_eq!(&std::fs::read(&out).unwrap(), want);
        let by_hand = dir.path().join(format!("by-hand{}.db", r.increments.len()));
        documented_rebuild(&r.increments, &by_hand);
        assert_eq!(&std::fs::read(&by_hand).unwrap(), want);
    }
}
