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
    /// The SQLite header is there but does not make sense.
    #[error("damaged SQLite header: {0}")]
    BadHeader(String),
}

/// Length of a database file's header.
pub const HEADER_LEN: usize = 100;

/// What a database file's header says, read without SQLite (which would
/// create `-wal`/`-shm` files beside a live database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Page size in bytes.
    pub page_size: u32,
    /// WAL mode (read and write format versions are 2).
    pub wal: bool,
    /// Pages in the file, when the header's count is valid: SQLite 3.7.0
    /// and later keep it, and say so by "version-valid-for" equal to the
    /// change counter.
    pub pages: Option<u32>,
}

impl Header {
    /// Parses the first bytes of a file (at least [`HEADER_LEN`] of them).
    pub fn parse(head: &[u8]) -> Result<Header, IntegrityError> {
        if head.is_empty() {
            return Err(IntegrityError::Empty);
        }
        if head.len() < SQLITE_HEADER.len() || &head[..SQLITE_HEADER.len()] != SQLITE_HEADER {
            return Err(IntegrityError::NotSqlite);
        }
        if head.len() < HEADER_LEN {
            return Err(IntegrityError::BadHeader(format!("the file is {} bytes, shorter than a header", head.len())));
        }
        let be32 = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
        let raw = u16::from_be_bytes([head[16], head[17]]);
        let page_size = if raw == 1 { 65536 } else { u32::from(raw) };
        if page_size < 512 || !page_size.is_power_of_two() {
            return Err(IntegrityError::BadHeader(format!("the header's page size {raw} is invalid")));
        }
        let pages = be32(28);
        Ok(Header {
            page_size,
            wal: head[18] == 2 && head[19] == 2,
            pages: (pages > 0 && be32(92) == be32(24)).then_some(pages),
        })
    }

    /// Reads and parses the header of the file at `path`.
    pub fn read(path: &Path) -> Result<Header, IntegrityError> {
        let mut head = [0u8; HEADER_LEN];
        let n = crate::fsutil::read_prefix(path, &mut head)?;
        Header::parse(&head[..n])
    }
}

/// Checks that `path` starts with the SQLite header.
pub(crate) fn check_header(path: &Path) -> Result<(), IntegrityError> {
    let mut head = [0u8; SQLITE_HEADER.len()];
    match crate::fsutil::read_prefix(path, &mut head)? {
        0 => Err(IntegrityError::Empty),
        16 if &head == SQLITE_HEADER => Ok(()),
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
    fn header_gives_page_size_mode_and_pages() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("h.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch("PRAGMA page_size = 8192; CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(20000));")
            .unwrap();
        drop(c);
        let h = Header::read(&p).unwrap();
        assert_eq!((h.page_size, h.wal), (8192, false));
        assert_eq!(u64::from(h.pages.unwrap()) * 8192, std::fs::metadata(&p).unwrap().len());
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert!(matches!(Header::parse(&bytes), Err(IntegrityError::BadHeader(_))));
        assert!(matches!(Header::parse(&bytes[..50]), Err(IntegrityError::BadHeader(_))));
        assert!(matches!(Header::parse(b"PK\x03\x04"), Err(IntegrityError::NotSqlite)));
        assert!(matches!(Header::parse(b""), Err(IntegrityError::Empty)));
    }

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
