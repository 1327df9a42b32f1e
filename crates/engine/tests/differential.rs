//! Differential archives on real SQLite files: made under a continuous
//! writer, rebuilt byte for byte from base + delta, restored; databases that
//! grew, shrank, changed page size or were replaced; a missing or damaged
//! base refused with nothing written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use lifeboat_core::seal::Keys;
use lifeboat_core::state::State;
use lifeboat_core::verify::{self, VerifyError, VerifyOptions};
use lifeboat_core::{CancellationToken, Trigger};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupOptions, BackupOutcome};
use lifeboat_engine::restore::{self, RestoreRequest};
use lifeboat_testkit::sqlite::{Mode, Writer, WriterOptions, check_invariant, create_ledger};
use sha2::{Digest, Sha256};

const FULL: VerifyOptions = VerifyOptions { integrity_check: true };

struct Env {
    dir: tempfile::TempDir,
    cfg: Config,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("data");
        std::fs::create_dir_all(&src).unwrap();
        create_ledger(&src.join("wal.db"), Mode::Wal, 3000, 200).unwrap();
        create_ledger(&src.join("delete.db"), Mode::Delete, 3000, 200).unwrap();
        create_ledger(&src.join("quiet.db"), Mode::Wal, 500, 100).unwrap();
        let cfg = Config::from_toml(&format!(
            "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"wal.db\", \"delete.db\", \"quiet.db\"]\n\
             [schedule]\nfull_cron = \"0 3 * * *\"\n",
            src.to_str().unwrap(),
            dir.path().join("out").to_str().unwrap()
        ))
        .unwrap();
        Env { dir, cfg }
    }

    fn db(&self, name: &str) -> PathBuf {
        self.cfg.backup.source_dir.join(name)
    }

    fn backup(&self, at: DateTime<Utc>) -> BackupOutcome {
        let state = State::open(&self.cfg.state_path()).unwrap();
        let opts = BackupOptions {
            trigger: Trigger::Scheduled,
            only: None,
            progress: None,
            cancel: CancellationToken::new(),
            now: at,
        };
        backup::run(&self.cfg, &state, opts).unwrap()
    }

    fn restore_to(&self, archive: &str, to: &Path) -> Result<(), restore::RestoreError> {
        let state = State::open(&self.cfg.state_path()).unwrap();
        let req = RestoreRequest {
            archive: archive.into(),
            only: Vec::new(),
            to: Some(to.to_path_buf()),
            force_schema: false,
        };
        let plan = restore::plan(&self.cfg, &req)?;
        restore::execute(&self.cfg, &state, &plan, &CancellationToken::new()).map(|_| ())
    }
}

fn at(day: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, 0, 0).unwrap()
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn exec(db: &Path, sql: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(sql).unwrap();
}

#[test]
fn a_differential_made_under_a_writer_rebuilds_byte_for_byte_and_restores() {
    let env = Env::new();
    let full = env.backup(at(22, 3));
    assert!(!full.archive.is_differential() && full.manifest.base.is_none(), "03:00 is a full time");

    let writer = Writer::start(&env.db("wal.db"), WriterOptions::default());
    assert!(writer.wait_for_commits(50, Duration::from_secs(20)));
    let diff = env.backup(at(22, 4));
    let stats = writer.stop();
    assert!(stats.commits > 0);
    assert!(diff.archive.name.ends_with(".diff.zip"), "{}", diff.archive.name);
    assert_eq!(diff.manifest.base.as_ref().unwrap().archive, full.archive.name);
    let wal = diff.manifest.database("wal.db").unwrap().delta.clone().expect("wal.db as a delta");
    assert_eq!(wal.entry.as_deref(), Some("wal.db.pages"));
    assert!(wal.changed_blocks > 0);
    let quiet = diff.manifest.database("quiet.db").unwrap().delta.clone().unwrap();
    assert_eq!((quiet.entry, quiet.changed_blocks), (None, 0), "unchanged: listed, not stored");
    assert!(
        diff.archive.size * 5 < full.archive.size,
        "a few pages, not the databases: {} vs {}",
        diff.archive.size,
        full.archive.size
    );

    let scratch = env.dir.path().join("scratch");
    let report = verify::verify(&diff.archive, &Keys::none(), &scratch, FULL).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.databases.len(), 3);

    // `latest` is the differential; restore rebuilds every database.
    let to = env.dir.path().join("restored");
    env.restore_to("latest", &to).unwrap();
    for d in &diff.manifest.databases {
        assert_eq!(sha256(&to.join(&d.name)), d.sha256, "{} rebuilt byte for byte", d.name);
        let c = rusqlite::Connection::open(to.join(&d.name)).unwrap();
        let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }
    check_invariant(&to.join("wal.db")).unwrap();

    // The next day after 03:00, a full archive is due again.
    let next = env.backup(at(23, 3));
    assert!(!next.archive.is_differential(), "{}", next.archive.name);
}

#[test]
fn grown_vacuumed_repaged_and_replaced_databases_all_rebuild() {
    let env = Env::new();
    env.backup(at(22, 3));
    type Change<'a> = (&'a str, &'a dyn Fn(&Env));
    let changes: [Change; 4] = [
        ("grew", &|e: &Env| {
            exec(
                &e.db("delete.db"),
                "INSERT INTO payments (account, amount, note) SELECT account, amount, note FROM payments LIMIT 2000;",
            )
        }),
        ("shrank", &|e: &Env| exec(&e.db("delete.db"), "DELETE FROM payments WHERE id % 2 = 0; VACUUM;")),
        ("page size", &|e: &Env| exec(&e.db("delete.db"), "PRAGMA page_size = 8192; VACUUM;")),
        ("replaced", &|e: &Env| {
            std::fs::remove_file(e.db("quiet.db")).unwrap();
            create_ledger(&e.db("quiet.db"), Mode::Delete, 700, 50).unwrap();
        }),
    ];
    for (i, (what, change)) in changes.iter().enumerate() {
        change(&env);
        let diff = env.backup(at(22, 4 + i as u32));
        assert!(diff.archive.is_differential(), "{what}");
        if *what == "grew" {
            let delta = diff.manifest.database("delete.db").unwrap().delta.clone();
            assert!(delta.and_then(|d| d.entry).is_some(), "appended rows are a delta");
        }
        let report = verify::verify(&diff.archive, &Keys::none(), &env.dir.path().join("scratch"), FULL).unwrap();
        assert!(report.is_ok(), "{what}: {report}");
        let to = env.dir.path().join(format!("restored-{i}"));
        env.restore_to(&diff.archive.name, &to).unwrap();
        for name in ["wal.db", "delete.db", "quiet.db"] {
            let live = rusqlite::Connection::open(env.db(name)).unwrap();
            let back = rusqlite::Connection::open(to.join(name)).unwrap();
            let count = |c: &rusqlite::Connection| -> i64 {
                c.query_row("SELECT COUNT(*) FROM payments", [], |r| r.get(0)).unwrap()
            };
            assert_eq!(count(&live), count(&back), "{what}: {name}");
        }
    }
}

#[test]
fn a_missing_or_damaged_base_is_refused_and_nothing_is_written() {
    let env = Env::new();
    let full = env.backup(at(22, 3));
    exec(
        &env.db("wal.db"),
        "UPDATE balances SET balance = balance + 1 WHERE account = 1; UPDATE balances SET balance = balance - 1 WHERE account = 2;",
    );
    let diff = env.backup(at(22, 4));
    assert!(diff.archive.is_differential());
    let base_file = full.archive.files[0].clone();
    let away = env.dir.path().join("away.zip");
    std::fs::rename(&base_file, &away).unwrap();

    let err = verify::verify(&diff.archive, &Keys::none(), &env.dir.path().join("scratch"), FULL).unwrap_err();
    assert!(matches!(err, VerifyError::MissingBase { .. }), "{err}");
    assert!(err.to_string().contains(&full.archive.name) && err.to_string().contains("copy the base"), "{err}");
    let to = env.dir.path().join("restored");
    let e = env.restore_to(&diff.archive.name, &to).unwrap_err();
    assert!(e.to_string().contains(&full.archive.name), "{e}");
    assert!(!to.exists(), "nothing written");

    // A base whose bytes changed: the rebuilt databases do not match.
    let mut bytes = std::fs::read(&away).unwrap();
    let n = bytes.len() / 3;
    for b in &mut bytes[n..n + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&base_file, bytes).unwrap();
    let report = verify::verify(&diff.archive, &Keys::none(), &env.dir.path().join("scratch"), FULL);
    assert!(report.as_ref().map_or(true, |r| !r.is_ok()), "a damaged base must not verify");
    assert!(env.restore_to(&diff.archive.name, &to).is_err());
    assert!(!to.exists(), "nothing written");
}

/// Gifts with two indexes on random keys, built row by row like a live bot
/// (so index pages have room and new entries land in many of them).
fn create_gifts(db: &Path, rows: u32) {
    exec(
        db,
        &format!(
            "CREATE TABLE gifts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL, at INTEGER);\n\
             CREATE INDEX gifts_user ON gifts (user_id);\n\
             CREATE INDEX gifts_name ON gifts (name);\n\
             {}",
            insert_gifts(rows)
        ),
    );
}

fn insert_gifts(rows: u32) -> String {
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})\n\
         INSERT INTO gifts (user_id, name, at) SELECT abs(random()) % 1000000, hex(randomblob(8)), i FROM n;"
    )
}

/// How many records of each kind an `LBDELTA2` delta holds: whole, XOR,
/// packed, packed with the base's block defragmented, a base block kept,
/// packed against a kept block.
fn record_kinds(d: &[u8]) -> [u64; 6] {
    let u32_at = |p: usize| u32::from_le_bytes(d[p..p + 4].try_into().unwrap());
    assert_eq!(&d[..8], b"LBDELTA2");
    let (block, size) = (u64::from(u32_at(8)), u64::from_le_bytes(d[12..20].try_into().unwrap()));
    let (mut kinds, mut p) = ([0u64; 6], 20);
    while u32_at(p) != u32::MAX {
        let index = u64::from(u32_at(p));
        let kind = d[p + 4];
        kinds[usize::from(kind)] += 1;
        p += 5 + match kind {
            2 | 3 => 4 + u32_at(p + 5) as usize,
            4 => 0,
            5 => 8 + u32_at(p + 9) as usize,
            _ => block.min(size - index * block) as usize,
        };
    }
    kinds
}

#[test]
fn random_key_inserts_into_indexed_tables_make_a_small_differential() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    std::fs::create_dir_all(&src).unwrap();
    create_gifts(&src.join("gifts.db"), 40_000);
    let cfg = Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"gifts.db\"]\n\
         [schedule]\nfull_cron = \"0 3 * * *\"\n",
        src.to_str().unwrap(),
        dir.path().join("out").to_str().unwrap()
    ))
    .unwrap();
    let env = Env { dir, cfg };
    let full = env.backup(at(22, 3));
    // 1 % new rows, each landing at a random place in both indexes.
    exec(&env.db("gifts.db"), &insert_gifts(400));
    let diff = env.backup(at(22, 4));
    let delta = diff.manifest.database("gifts.db").unwrap().delta.clone().expect("gifts.db as a delta");
    let pages = std::fs::metadata(env.db("gifts.db")).unwrap().len() / 4096;
    assert!(
        delta.changed_blocks * 10 > pages,
        "the shape touches many pages ({} of {pages}): stored whole they would weigh > 10 %",
        delta.changed_blocks
    );
    assert!(
        diff.archive.size * 5 < full.archive.size,
        "changed pages stored as differences: {} bytes against a full archive of {}",
        diff.archive.size,
        full.archive.size
    );
    assert_eq!(diff.manifest.version, lifeboat_core::manifest::DIFFERENTIAL_VERSION);

    let report = verify::verify(&diff.archive, &Keys::none(), &env.dir.path().join("scratch"), FULL).unwrap();
    assert!(report.is_ok(), "{report}");
    let to = env.dir.path().join("restored");
    env.restore_to(&diff.archive.name, &to).unwrap();
    let d = diff.manifest.database("gifts.db").unwrap();
    assert_eq!(sha256(&to.join("gifts.db")), d.sha256, "rebuilt byte for byte");

    // The rebuild documented in docs/archive-format.md gives the same bytes.
    let by_hand = env.dir.path().join("by-hand");
    std::fs::create_dir_all(&by_hand).unwrap();
    let unzip = |archive: &Path, entry: &str, to: &str| {
        let out = std::process::Command::new("unzip").arg("-p").arg(archive).arg(entry).output().unwrap();
        assert!(out.status.success(), "unzip {entry}");
        std::fs::write(by_hand.join(to), out.stdout).unwrap();
    };
    unzip(&full.archive.files[0], "gifts.db", "base.db");
    unzip(&diff.archive.files[0], "gifts.db.pages", "gifts.db.pages");
    let kinds = record_kinds(&std::fs::read(by_hand.join("gifts.db.pages")).unwrap());
    assert!(kinds.iter().all(|&n| n > 0), "records of every kind occur: {kinds:?}");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/archive-format.md")).unwrap();
    let code = doc.split("```python\n").nth(1).and_then(|c| c.split("```").next()).expect("a Python block");
    let script = format!("{code}\nrebuild('base.db', 'gifts.db.pages', 'gifts.db')\n");
    let run = std::process::Command::new("python3").arg("-c").arg(script).current_dir(&by_hand).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(sha256(&by_hand.join("gifts.db")), d.sha256, "the documented rebuild");
}
