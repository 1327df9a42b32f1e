//! Differential archives on real SQLite files: made under a continuous
//! writer, rebuilt byte for byte from base + delta, restored; databases that
//! grew, shrank, changed page size or were replaced; a missing or damaged
//! base refused with nothing written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use lifeboat_core::backup::{self, BackupOptions, BackupOutcome};
use lifeboat_core::restore::{self, RestoreRequest};
use lifeboat_core::seal::Keys;
use lifeboat_core::state::State;
use lifeboat_core::verify::{self, VerifyError, VerifyOptions};
use lifeboat_core::{CancellationToken, Config, Trigger};
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
