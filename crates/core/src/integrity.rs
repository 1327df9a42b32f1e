//! `PRAGMA integrity_check` and row counts, run on a snapshot (never on the
//! live database, so the bot is not held up).

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::manifest::TableCount;

/// The first 16 bytes of every SQLite 3 database file.
pub const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityReport {
    /// `integrity_check` said "ok".
    pub ok: bool,
    /// "ok", or the problems it listed (at most 20).
    pub messages: Vec<String>,
    /// User tables and their rows, by name (empty when not ok).
    pub tables: Vec<TableCount>,
    /// Page size.
    pub page_size: u32,
}

impl IntegrityReport {
    /// One line: "ok" or the first problems joined.
    pub fn summary(&self) -> String {
        if self.ok { "ok".to_string() } else { self.messages.iter().take(3).cloned().collect::<Vec<_>>().join("; ") }
    }
}

/// The check could not run at all (not a database, unreadable...).
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// Opening or querying failed.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Reading the header failed.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with the SQLite header.
    #[error("not an SQLite database (the file does not start with the SQLite header)")]
    NotSqlite,
    /// Zero bytes.
    #[error("the file is empty (0 bytes), not a database")]
    Empty,
}

/// Checks that `path` starts with the SQLite header.
pub fn check_header(path: &Path) -> Result<(), IntegrityError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = [0u8; 16];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    match n {
        0 => Err(IntegrityError::Empty),
        16 if &buf == SQLITE_HEADER => Ok(()),
        _ => Err(IntegrityError::NotSqlite),
    }
}

/// Runs `PRAGMA integrity_check` on the database file at `path` and counts
/// the rows of every table. Opens it read-write only because a WAL-mode file
/// needs its `-shm`; it is meant for snapshots and extracted copies, which
/// are Lifeboat's own files.
pub fn check(path: &Path) -> Result<IntegrityReport, IntegrityError> {
    check_header(path)?;
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let page_size: u32 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let messages: Vec<String> = {
        let mut st = conn.prepare("PRAGMA integrity_check(20)")?;
        st.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<_, _>>()?
    };
    let ok = messages.len() == 1 && messages[0] == "ok";
    let tables = if ok { count_rows(&conn)? } else { Vec::new() };
    Ok(IntegrityReport { ok, messages, tables, page_size })
}

/// Row counts of every user table, by name.
pub fn count_rows(conn: &Connection) -> rusqlite::Result<Vec<TableCount>> {
    let names: Vec<String> = {
        let mut st = conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    names
        .into_iter()
        .map(|name| {
            let quoted = name.replace('"', "\"\"");
            let rows: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM \"{quoted}\""), [], |r| r.get(0))?;
            Ok(TableCount { name, rows: rows as u64 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_database_counts_rows() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1),(2); CREATE TABLE \"we\"\"ird\"(y);").unwrap();
        drop(c);
        let r = check(&p).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(
            r.tables,
            vec![TableCount { name: "t".into(), rows: 2 }, TableCount { name: "we\"ird".into(), rows: 0 }]
        );
    }

    #[test]
    fn empty_and_foreign_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let e = d.path().join("e.db");
        std::fs::write(&e, b"").unwrap();
        assert!(matches!(check(&e), Err(IntegrityError::Empty)));
        let t = d.path().join("t.db");
        std::fs::write(&t, b"hello, this is a text file and not a database").unwrap();
        assert!(matches!(check(&t), Err(IntegrityError::NotSqlite)));
    }
}
