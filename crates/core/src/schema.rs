//! Comparing the tables of two databases, so a restore can say when an
//! archive does not fit the live database it would replace.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::manifest::SIDECAR_SUFFIXES;

/// Opens `path` read-only without creating anything beside it. A WAL-mode
/// database with no `-wal` file has nothing outside the main file, so it is
/// opened immutable (SQLite would otherwise create `-wal` and `-shm`).
pub fn open_quietly(path: &Path, wal: bool) -> rusqlite::Result<Connection> {
    let mut wal_file = path.as_os_str().to_owned();
    wal_file.push(SIDECAR_SUFFIXES[0]);
    if wal && !Path::new(&wal_file).exists() {
        let encoded: String = path
            .to_string_lossy()
            .chars()
            .map(|c| match c {
                '%' => "%25".to_string(),
                '?' => "%3f".to_string(),
                '#' => "%23".to_string(),
                c => c.to_string(),
            })
            .collect();
        return Connection::open_with_flags(
            format!("file:{encoded}?immutable=1"),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        );
    }
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

/// Each user table's name and its `CREATE` statement, whitespace folded.
fn tables(conn: &Connection) -> rusqlite::Result<BTreeMap<String, String>> {
    let mut st = conn.prepare(
        "SELECT name, COALESCE(sql, '') FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )?;
    let rows = st.query_map([], |r| {
        let sql: String = r.get(1)?;
        Ok((r.get::<_, String>(0)?, sql.split_whitespace().collect::<Vec<_>>().join(" ")))
    })?;
    rows.collect()
}

/// The user tables of a live database, read without writing anything.
/// `wal` is what its header says.
pub fn live_table_names(path: &Path, wal: bool) -> rusqlite::Result<Vec<String>> {
    Ok(tables(&open_quietly(path, wal)?)?.into_keys().collect())
}

/// How two sets of table names differ, in words.
pub fn table_set_changes(archived: &[String], live: &[String]) -> Vec<String> {
    let only = |a: &[String], b: &[String]| -> Vec<String> { a.iter().filter(|t| !b.contains(t)).cloned().collect() };
    let mut out = Vec::new();
    let (gone, new) = (only(live, archived), only(archived, live));
    if !gone.is_empty() {
        out.push(format!("only the live database has table {}", gone.join(", ")));
    }
    if !new.is_empty() {
        out.push(format!("only the archive has table {}", new.join(", ")));
    }
    out
}

/// How the tables of the archived copy differ from the live database's:
/// names, then definitions.
pub fn compare(archived: &Path, live: &Path, live_is_wal: bool) -> rusqlite::Result<Vec<String>> {
    let a = tables(&Connection::open_with_flags(archived, OpenFlags::SQLITE_OPEN_READ_ONLY)?)?;
    let l = tables(&open_quietly(live, live_is_wal)?)?;
    let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    let mut out = table_set_changes(&names(&a), &names(&l));
    let redefined: Vec<&str> =
        a.iter().filter(|(n, sql)| l.get(*n).is_some_and(|x| x != *sql)).map(|(n, _)| n.as_str()).collect();
    if !redefined.is_empty() {
        out.push(format!("table {} is defined differently", redefined.join(", ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &Path, name: &str, sql: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        Connection::open(&p).unwrap().execute_batch(sql).unwrap();
        p
    }

    #[test]
    fn differences_are_named() {
        let d = tempfile::tempdir().unwrap();
        let a = db(d.path(), "a.db", "CREATE TABLE users(id, name); CREATE TABLE pay(x);");
        let same = db(d.path(), "b.db", "CREATE TABLE pay(x);\nCREATE TABLE users(id,   name);");
        let other = db(d.path(), "c.db", "CREATE TABLE users(id, name, extra); CREATE TABLE logs(y);");
        assert!(compare(&a, &same, false).unwrap().is_empty());
        let diff = compare(&a, &other, false).unwrap();
        assert_eq!(
            diff,
            [
                "only the live database has table logs",
                "only the archive has table pay",
                "table users is defined differently"
            ]
        );
    }

    #[test]
    fn a_wal_database_is_read_without_files_appearing() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w?#%.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t(x);").unwrap();
        drop(c);
        let before: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(live_table_names(&p, true).unwrap(), ["t"]);
        let after: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(before, after);
    }
}
