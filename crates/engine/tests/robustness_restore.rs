//! A live restore that fails after its safety snapshot was taken: what it
//! had written is put back from that snapshot (all or nothing), and the
//! error names the snapshot.

use std::path::Path;

use chrono::{TimeZone, Utc};
use lifeboat_core::{CancellationToken, Trigger};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupOptions};
use lifeboat_engine::restore::{self, RestoreError, RestoreRequest};
use rusqlite::Connection;

fn make_db(path: &Path, rows: u32) {
    let c = Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE items(id INTEGER PRIMARY KEY, label TEXT NOT NULL)").unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute("INSERT INTO items(label) VALUES (?1)", [format!("item-{i}")]).unwrap();
    }
    tx.commit().unwrap();
}

fn count(path: &Path) -> i64 {
    Connection::open(path).unwrap().query_row("SELECT COUNT(*) FROM items", [], |r| r.get(0)).unwrap()
}

#[test]
fn a_live_restore_failing_after_the_safety_snapshot_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&src).unwrap();
    let cfg = Config::from_toml(&format!(
        "[backup]\nsource_dir = {:?}\noutput_dir = {:?}\ndatabases = [\"a.db\", \"b.db\"]\n",
        src.to_str().unwrap(),
        out.to_str().unwrap()
    ))
    .unwrap();
    make_db(&src.join("a.db"), 100);
    make_db(&src.join("b.db"), 100);
    let state = cfg.open_state().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 4, 0, 0).unwrap();
    let opts =
        BackupOptions { trigger: Trigger::Manual, only: None, progress: None, cancel: CancellationToken::new(), now };
    let archive = backup::run(&cfg, &state, opts).unwrap().archive;

    // The live data moves on; then, between plan and execute, b.db's path
    // becomes a folder: a.db is snapshotted and restored, b.db fails.
    Connection::open(src.join("a.db")).unwrap().execute("DELETE FROM items WHERE id > 7", []).unwrap();
    let req = RestoreRequest { archive: archive.name.clone(), only: vec![], to: None, force_schema: false };
    let plan = restore::plan(&cfg, &req).unwrap();
    std::fs::remove_file(src.join("b.db")).unwrap();
    std::fs::create_dir(src.join("b.db")).unwrap();

    let err = restore::execute(&cfg, &state, &plan, &CancellationToken::new()).expect_err("b.db cannot be written");
    let RestoreError::PutBack { error, safety, put_back } = &err else { panic!("expected PutBack: {err:?}") };
    assert!(matches!(**error, RestoreError::NotAFile(_)), "{error:?}");
    let msg = err.to_string();
    assert!(msg.contains(safety.as_str()), "{msg}");
    assert!(msg.contains("b.db"), "the cause is kept: {msg}");
    // All or nothing: a.db, restored before b.db failed, is put back as it
    // was before the restore, from the safety snapshot.
    assert_eq!(put_back[0], "a.db", "{msg}");
    assert!(put_back[1].starts_with("b.db (not in the safety snapshot"), "{msg}");
    assert_eq!(count(&src.join("a.db")), 7, "a.db is as it was before the restore");

    // The safety snapshot still holds a.db as it was before the restore.
    let back = RestoreRequest { archive: safety.clone(), only: vec!["a.db".into()], to: None, force_schema: false };
    let plan = restore::plan(&cfg, &back).unwrap();
    restore::execute(&cfg, &state, &plan, &CancellationToken::new()).unwrap();
    assert_eq!(count(&src.join("a.db")), 7);
}
