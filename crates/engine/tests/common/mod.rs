//! Helpers for the verify and restore tests: real SQLite files and archives
//! built by hand with the zip crate (so hostile archives can be made too).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use lifeboat_core::catalog::{StoredArchive, archive_name};
use lifeboat_core::manifest::{DatabaseEntry, FORMAT, INFO_NAME, MANIFEST_NAME, Manifest, Trigger, VERSION};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Creates a database with `rows` rows in `items` and a `meta` table.
pub fn make_db(path: &Path, rows: u32, wal: bool) {
    let c = Connection::open(path).unwrap();
    if wal {
        c.pragma_update(None, "journal_mode", "wal").unwrap();
    }
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS items(id INTEGER PRIMARY KEY, label TEXT NOT NULL, amount INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);",
    )
    .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute("INSERT INTO items(label, amount) VALUES (?1, ?2)", (format!("item-{i}"), i * 10)).unwrap();
    }
    tx.execute("INSERT OR REPLACE INTO meta VALUES ('origin', ?1)", [path.file_name().unwrap().to_str().unwrap()])
        .unwrap();
    tx.commit().unwrap();
}

/// Rows of `items` as (id, label, amount), ordered.
pub fn items(conn: &Connection) -> Vec<(i64, String, i64)> {
    let mut st = conn.prepare("SELECT id, label, amount FROM items ORDER BY id").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Snapshot-like copy of `src` (consistent, one file) for putting in an archive.
pub fn snapshot(src: &Path, dest: &Path) {
    let c = Connection::open(src).unwrap();
    c.execute("VACUUM INTO ?1", [dest.to_str().unwrap()]).unwrap();
}

/// The manifest entry for a database file, computed from its bytes.
pub fn entry_for(name: &str, file: &Path) -> DatabaseEntry {
    let bytes = std::fs::read(file).unwrap();
    let report = lifeboat_core::integrity::check(file).unwrap();
    DatabaseEntry {
        name: name.to_string(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        integrity: "ok".into(),
        journal_mode: "delete".into(),
        page_size: report.page_size,
        tables: report.tables,
        ..Default::default()
    }
}

/// A manifest for the given entries.
pub fn manifest(databases: Vec<DatabaseEntry>) -> Manifest {
    Manifest {
        base: None,
        format: FORMAT.into(),
        version: VERSION,
        created_at: Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap(),
        host: "test-host".into(),
        trigger: Trigger::Manual,
        lifeboat_version: "0.1.0".into(),
        databases,
        skipped: vec![],
    }
}

/// One entry to put in a hand-built ZIP.
pub enum Entry {
    /// A regular file.
    File(String, Vec<u8>),
    /// A symbolic link.
    Symlink(String, String),
}

/// Writes a ZIP with exactly these entries to `path`.
pub fn write_zip(path: &Path, entries: &[Entry]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o600)
        .large_file(false);
    for e in entries {
        match e {
            Entry::File(name, data) => {
                z.start_file(name.as_str(), opts).unwrap();
                z.write_all(data).unwrap();
            }
            Entry::Symlink(name, target) => z.add_symlink(name.as_str(), target.as_str(), opts).unwrap(),
        }
    }
    z.finish().unwrap();
}

/// The regular entries of a well-formed archive for these databases
/// (name, snapshot file), with its manifest.
pub fn good_entries(dbs: &[(&str, &Path)]) -> (Vec<Entry>, Manifest) {
    let m = manifest(dbs.iter().map(|(n, p)| entry_for(n, p)).collect());
    let mut entries: Vec<Entry> =
        dbs.iter().map(|(n, p)| Entry::File(n.to_string(), std::fs::read(p).unwrap())).collect();
    entries.push(Entry::File(INFO_NAME.into(), b"Lifeboat backup (test)\n".to_vec()));
    entries.push(Entry::File(MANIFEST_NAME.into(), serde_json::to_vec_pretty(&m).unwrap()));
    (entries, m)
}

/// A stored archive for one ZIP file.
pub fn stored(path: &Path) -> StoredArchive {
    StoredArchive {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        created_at: Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap(),
        files: vec![path.to_path_buf()],
        size: path.metadata().unwrap().len(),
    }
}

/// The archive name used by the hand-built archives.
pub fn test_archive_name() -> String {
    archive_name(Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap())
}

/// Three real databases in `dir/live`, their snapshots in `dir/snap`, and a
/// good archive of them at `dir/out/<name>.zip`. Returns (live dir, archive path).
pub fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let live = dir.join("live");
    let snap = dir.join("snap");
    let out = dir.join("out");
    for d in [&live, &snap, &out] {
        std::fs::create_dir_all(d).unwrap();
    }
    let names = ["a.db", "b.db", "c.db"];
    for (i, n) in names.iter().enumerate() {
        make_db(&live.join(n), 50 + 25 * i as u32, i == 0);
        snapshot(&live.join(n), &snap.join(n));
    }
    let dbs: Vec<(&str, PathBuf)> = names.iter().map(|n| (*n, snap.join(n))).collect();
    let refs: Vec<(&str, &Path)> = dbs.iter().map(|(n, p)| (*n, p.as_path())).collect();
    let (entries, _) = good_entries(&refs);
    let path = out.join(test_archive_name());
    write_zip(&path, &entries);
    (live, path)
}

/// Replaces every occurrence of `from` with `to` (same length) in a file.
pub fn patch_bytes(path: &Path, from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    std::fs::write(path, bytes).unwrap();
    n
}

/// Every file under `dir` with its bytes, for before/after comparisons.
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(tree(&p));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}
