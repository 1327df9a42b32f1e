//! Salvage: every row that can still be read from a damaged SQLite database,
//! written into a new, valid database with the same schema.
//!
//! The damaged file is never read as tables where it lies: it is copied
//! into a private scratch folder first, through SQLite's backup API (a
//! consistent copy while the bot writes), or byte for byte with any `-wal`
//! or `-journal` when SQLite cannot open it, so SQLite's own recovery
//! (replaying a WAL, rolling back a hot journal) never writes into the live
//! file.
//!
//! Rows are read table by table in rowid order. A damaged page makes a read
//! fail part way: the rows before it are kept, and the damaged range is
//! stepped over by galloping (try the next rowid, then 2, 4, 8… further)
//! until a seek lands past it, then narrowed by bisection to the first
//! rowid readable again. A damaged range costs O(log width) queries however
//! sparse the rowids, and only the rows on the damaged pages are lost. A
//! `WITHOUT ROWID` table is read in one pass, up to its first damaged page.
//!
//! Indexes, views and triggers are created after the rows, so no trigger
//! fires on a salvaged row and a damaged index costs nothing (its rows come
//! from the table). A reference (the newest archive holding a good copy)
//! says, per table, how many rows it has and how many salvaged rows it
//! lacks: those were written after it, and are what salvage adds to a
//! restore.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, params_from_iter};

/// What went wrong with a salvage as a whole (a table's damage is in its
/// report, never an error).
#[derive(Debug, thiserror::Error)]
pub enum SalvageError {
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} already exists; salvage never overwrites a file (choose another --to folder)", .0.display())]
    Exists(PathBuf),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Neither the damaged file nor a reference gives a schema.
    #[error(
        "the schema of {} cannot be read ({source}), and no archive holds a good copy to take it from; \
         nothing can be read back by table (try `sqlite3 {} .recover`)",
        .path.display(), .path.display()
    )]
    NoSchema {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// Writing the new database failed.
    #[error("writing {}: {source}", .path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// Where the new database's schema came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaFrom {
    /// The damaged file's own `sqlite_master`.
    Damaged,
    /// The reference's, because the damaged file's could not be read.
    Reference,
}

/// A range of rowids that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostRange {
    /// The first rowid not read.
    pub from: i64,
    /// The first rowid read again after it; None: to the table's end.
    pub until: Option<i64>,
}

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSalvage {
    pub name: String,
    /// Rows written into the new database.
    pub salvaged: u64,
    /// Rowid ranges skipped because their pages could not be read.
    pub lost: Vec<LostRange>,
    /// A `WITHOUT ROWID` table (or one read in a single pass) stopped at
    /// this error: rows after it are not salvaged.
    pub stopped: Option<String>,
    /// Rows the reference holds; None without a reference (or the table is
    /// not in it).
    pub in_reference: Option<u64>,
    /// Salvaged rows whose rowid the reference lacks: written after it.
    pub not_in_reference: Option<u64>,
}

impl TableSalvage {
    /// Every row of the table was read.
    pub fn complete(&self) -> bool {
        self.lost.is_empty() && self.stopped.is_none()
    }
}

/// The outcome of a salvage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalvageReport {
    /// The new database.
    pub output: PathBuf,
    pub schema_from: SchemaFrom,
    pub tables: Vec<TableSalvage>,
    /// Schema objects (indexes, views, triggers, virtual tables) that could
    /// not be created in the new database, with why.
    pub not_created: Vec<(String, String)>,
    /// `integrity_check` of the new database.
    pub integrity: String,
}

impl SalvageReport {
    /// Every row of every table was read.
    pub fn complete(&self) -> bool {
        self.tables.iter().all(TableSalvage::complete) && self.not_created.is_empty()
    }
}

/// Reads every row that can be read from the damaged database `damaged`
/// into the new file `output` (which must not exist). `reference`, an
/// intact copy of the same database (from an archive), gives the schema
/// when the damaged file's cannot be read, and the counts to compare with.
pub fn salvage(damaged: &Path, output: &Path, reference: Option<&Path>) -> Result<SalvageReport, SalvageError> {
    if !damaged.exists() {
        return Err(SalvageError::Missing(damaged.to_path_buf()));
    }
    if output.exists() {
        return Err(SalvageError::Exists(output.to_path_buf()));
    }
    let scratch = tempfile::Builder::new()
        .prefix(".lifeboat-salvage-")
        .tempdir_in(output.parent().unwrap_or(Path::new(".")))
        .map_err(|e| io("cannot create a scratch folder beside the output", e))?;
    let copy = scratch.path().join("damaged.db");
    // SQLite's backup API copies pages without reading them as tables, in
    // one read transaction: a consistent copy even while the bot writes.
    // A file too damaged for it (its header) is copied byte for byte.
    if crate::snapshot::take(damaged, &copy, &crate::snapshot::SnapshotOptions::default()).is_err() {
        for suffix in ["", "-wal", "-journal", "-shm"] {
            let mut p = copy.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
        copy_with_companions(damaged, &copy)?;
    }
    let src = Connection::open_with_flags(&copy, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|source| SalvageError::NoSchema { path: damaged.to_path_buf(), source })?;
    let (schema, schema_from) = match read_schema(&src) {
        Ok(s) => (s, SchemaFrom::Damaged),
        Err(source) => match reference.map(open_read_only).and_then(|r| r.ok()).map(|r| read_schema(&r)) {
            Some(Ok(s)) => (s, SchemaFrom::Reference),
            _ => return Err(SalvageError::NoSchema { path: damaged.to_path_buf(), source }),
        },
    };
    let out_err = |source| SalvageError::Output { path: output.to_path_buf(), source };
    crate::archive::create_private_file(output).map_err(|e| io(&format!("cannot create {}", output.display()), e))?;
    let mut out = Connection::open(output).map_err(out_err)?;
    out.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;").map_err(out_err)?;
    let mut not_created = Vec::new();
    let mut tables = Vec::new();
    for obj in schema.iter().filter(|o| o.kind == "table") {
        if let Err(e) = out.execute_batch(&obj.sql) {
            not_created.push((obj.name.clone(), e.to_string()));
            continue;
        }
        if obj.sql.trim_start().get(..14).is_some_and(|s| s.eq_ignore_ascii_case("create virtual")) {
            continue;
        }
        tables.push(copy_table(&src, &mut out, &obj.name).map_err(out_err)?);
    }
    for obj in schema.iter().filter(|o| o.kind != "table") {
        if let Err(e) = out.execute_batch(&obj.sql) {
            not_created.push((obj.name.clone(), e.to_string()));
        }
    }
    copy_sequences(&src, &out);
    if let Some(reference) = reference {
        compare(&out, reference, &mut tables);
    }
    let integrity = out
        .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap_or_else(|e| format!("cannot run integrity_check: {e}"));
    out.execute_batch("PRAGMA journal_mode = DELETE;").map_err(out_err)?;
    drop(out);
    std::fs::File::open(output).and_then(|f| f.sync_all()).map_err(|e| io("cannot sync the new database", e))?;
    Ok(SalvageReport { output: output.to_path_buf(), schema_from, tables, not_created, integrity })
}

fn io(context: &str, source: std::io::Error) -> SalvageError {
    SalvageError::Io { context: context.to_string(), source }
}

/// Copies `from` and its `-wal`/`-journal` (when present) to `to`.
fn copy_with_companions(from: &Path, to: &Path) -> Result<(), SalvageError> {
    let copy =
        |a: &Path, b: &Path| std::fs::copy(a, b).map_err(|e| io(&format!("cannot copy {}", a.display()), e)).map(drop);
    copy(from, to)?;
    for suffix in ["-wal", "-journal"] {
        let (mut a, mut b) = (from.as_os_str().to_owned(), to.as_os_str().to_owned());
        a.push(suffix);
        b.push(suffix);
        if Path::new(&a).exists() {
            copy(Path::new(&a), Path::new(&b))?;
        }
    }
    Ok(())
}

fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
}

/// One schema object as `sqlite_master` lists it.
struct SchemaObject {
    kind: String,
    name: String,
    sql: String,
}

/// Every user object with SQL, tables first (in the order SQLite lists
/// them), SQLite's own tables left out.
fn read_schema(conn: &Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut stmt = conn.prepare(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         ORDER BY type <> 'table', rowid",
    )?;
    let rows = stmt.query_map([], |r| Ok(SchemaObject { kind: r.get(0)?, name: r.get(1)?, sql: r.get(2)? }))?;
    rows.collect()
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Copies the readable rows of `table`.
fn copy_table(src: &Connection, out: &mut Connection, table: &str) -> rusqlite::Result<TableSalvage> {
    let columns: Vec<(String, bool)> = {
        let mut stmt = out.prepare(&format!(
            "SELECT name, pk = 1 AND upper(type) = 'INTEGER' FROM pragma_table_info({})",
            sql_text(table)
        ))?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
    };
    let pk_columns: i64 =
        out.query_row(&format!("SELECT count(*) FROM pragma_table_info({}) WHERE pk > 0", sql_text(table)), [], |r| {
            r.get(0)
        })?;
    // An INTEGER PRIMARY KEY is the rowid itself: it goes in as a column.
    let aliased = pk_columns == 1 && columns.iter().any(|(_, alias)| *alias);
    let names: Vec<String> = columns.iter().map(|(n, _)| quoted(n)).collect();
    let has_rowid = src.prepare(&format!("SELECT rowid FROM {} LIMIT 0", quoted(table))).is_ok();
    let mut report = TableSalvage {
        name: table.to_string(),
        salvaged: 0,
        lost: Vec::new(),
        stopped: None,
        in_reference: None,
        not_in_reference: None,
    };
    let mut salvaged = 0u64;
    let tx = out.transaction()?;
    {
        let insert_sql = if has_rowid && !aliased {
            let marks = vec!["?"; names.len() + 1].join(", ");
            format!("INSERT INTO {} (rowid, {}) VALUES ({marks})", quoted(table), names.join(", "))
        } else {
            let marks = vec!["?"; names.len()].join(", ");
            format!("INSERT INTO {} ({}) VALUES ({marks})", quoted(table), names.join(", "))
        };
        let mut insert = tx.prepare(&insert_sql)?;
        let mut sink = |rowid: Option<i64>, row: Vec<Value>| -> rusqlite::Result<()> {
            match rowid.filter(|_| !aliased) {
                Some(id) => insert.execute(params_from_iter(std::iter::once(Value::Integer(id)).chain(row)))?,
                None => insert.execute(params_from_iter(row))?,
            };
            salvaged += 1;
            Ok(())
        };
        let list = names.join(", ");
        if has_rowid {
            let reader = RowidReader { src, table, list: &list, width: names.len() };
            report.lost = reader.copy_all(&mut sink)?;
        } else if let Err(e) = read_all(src, table, &list, names.len(), &mut sink) {
            report.stopped = Some(e.to_string());
        }
    }
    tx.commit()?;
    report.salvaged = salvaged;
    Ok(report)
}

/// A SQL string literal (for table-valued pragma arguments).
fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Reads a `WITHOUT ROWID` table in one pass; the error ends it.
fn read_all(
    src: &Connection,
    table: &str,
    list: &str,
    width: usize,
    sink: &mut dyn FnMut(Option<i64>, Vec<Value>) -> rusqlite::Result<()>,
) -> Result<(), ReadError> {
    let mut stmt = src.prepare(&format!("SELECT {list} FROM {}", quoted(table))).map_err(ReadError::Source)?;
    let mut rows = stmt.query([]).map_err(ReadError::Source)?;
    while let Some(r) = rows.next().map_err(ReadError::Source)? {
        let row = (0..width)
            .map(|i| r.get::<_, Value>(i))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(ReadError::Source)?;
        sink(None, row).map_err(ReadError::Output)?;
    }
    Ok(())
}

/// Why a read stopped: the damaged source (stepped over) or the output
/// (a real failure).
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{0}")]
    Source(rusqlite::Error),
    #[error("{0}")]
    Output(rusqlite::Error),
}

/// Reads a rowid table range by range around its damaged pages.
struct RowidReader<'a> {
    src: &'a Connection,
    table: &'a str,
    list: &'a str,
    width: usize,
}

impl RowidReader<'_> {
    /// Copies every readable row; returns the ranges stepped over.
    fn copy_all(
        &self,
        sink: &mut dyn FnMut(Option<i64>, Vec<Value>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<Vec<LostRange>> {
        let mut lost = Vec::new();
        let mut from = i64::MIN;
        loop {
            let failed_at = match self.copy_from(from, sink) {
                Ok(()) => return Ok(lost),
                Err((ReadError::Output(e), _)) => return Err(e),
                Err((ReadError::Source(_), last)) => match last {
                    Some(i64::MAX) => return Ok(lost),
                    Some(last) => last + 1,
                    None => from,
                },
            };
            let until = self.next_readable(failed_at);
            lost.push(LostRange { from: failed_at, until });
            match until {
                Some(next) => from = next,
                None => return Ok(lost),
            }
        }
    }

    /// Streams the rows with rowid ≥ `from`; on an error, the last rowid read.
    fn copy_from(
        &self,
        from: i64,
        sink: &mut dyn FnMut(Option<i64>, Vec<Value>) -> rusqlite::Result<()>,
    ) -> Result<(), (ReadError, Option<i64>)> {
        let mut last = None;
        let sql = format!("SELECT rowid, {} FROM {} WHERE rowid >= ?1 ORDER BY rowid", self.list, quoted(self.table));
        let source = |e, last| (ReadError::Source(e), last);
        let mut stmt = self.src.prepare(&sql).map_err(|e| source(e, last))?;
        let mut rows = stmt.query([from]).map_err(|e| source(e, last))?;
        loop {
            let r = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) => return Err(source(e, last)),
            };
            let read = || -> rusqlite::Result<(i64, Vec<Value>)> {
                Ok((r.get(0)?, (1..=self.width).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?))
            };
            let (rowid, row) = read().map_err(|e| source(e, last))?;
            sink(Some(rowid), row).map_err(|e| (ReadError::Output(e), last))?;
            last = Some(rowid);
        }
    }

    /// Whether a seek to `at` reads the row there (or finds the table's end).
    fn seekable(&self, at: i64) -> bool {
        let sql = format!("SELECT rowid FROM {} WHERE rowid >= ?1 ORDER BY rowid LIMIT 1", quoted(self.table));
        self.src
            .query_row(&sql, [at], |r| r.get::<_, i64>(0))
            .map(drop)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(()),
                e => Err(e),
            })
            .is_ok()
    }

    /// The first rowid after `bad` (whose seek failed) from which reading
    /// works again: gallop, then bisect. None: nothing after it is readable.
    fn next_readable(&self, bad: i64) -> Option<i64> {
        let (mut fails, mut step) = (bad, 1i64);
        let works = loop {
            let at = fails.checked_add(step)?;
            if self.seekable(at) {
                break at;
            }
            fails = at;
            step = step.saturating_mul(2);
        };
        // Invariant: a seek to `fails` fails, one to `works` works.
        let (mut lo, mut hi) = (fails, works);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.seekable(mid) { hi = mid } else { lo = mid }
        }
        Some(hi)
    }
}

/// Copies `sqlite_sequence` (AUTOINCREMENT counters) where it can be read,
/// so new rows never reuse a salvaged row's id.
fn copy_sequences(src: &Connection, out: &Connection) {
    let Ok(mut stmt) = src.prepare("SELECT name, seq FROM sqlite_sequence") else { return };
    let Ok(rows) = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))) else { return };
    for (name, seq) in rows.flatten() {
        let _ = out.execute("DELETE FROM sqlite_sequence WHERE name = ?1", [&name]);
        let _ = out.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)", rusqlite::params![name, seq]);
    }
}

/// Fills each table's counts against the reference database.
fn compare(out: &Connection, reference: &Path, tables: &mut [TableSalvage]) {
    let attached = out.execute("ATTACH DATABASE ?1 AS reference", [reference.to_string_lossy()]).is_ok();
    if !attached {
        return;
    }
    for t in tables.iter_mut() {
        let q = quoted(&t.name);
        let count =
            |sql: String| out.query_row(&sql, [], |r| r.get::<_, i64>(0)).ok().and_then(|n| u64::try_from(n).ok());
        t.in_reference = count(format!("SELECT count(*) FROM reference.{q}"));
        t.not_in_reference =
            count(format!("SELECT count(*) FROM main.{q} WHERE rowid NOT IN (SELECT rowid FROM reference.{q})"));
    }
    let _ = out.execute("DETACH DATABASE reference", []);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database of `n` rows with page-sized rows, so a page holds few.
    fn make(path: &Path, n: i64) {
        let c = Connection::open(path).unwrap();
        c.execute_batch(
            "PRAGMA page_size = 4096; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);
             CREATE INDEX t_v ON t(v); CREATE TABLE k(a TEXT PRIMARY KEY, x) WITHOUT ROWID;",
        )
        .unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 1..=n {
            tx.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3)",
                rusqlite::params![i * 1000, format!("row {i} {}", "x".repeat(300)), vec![0u8, 1, 2]],
            )
            .unwrap();
            tx.execute("INSERT INTO k VALUES (?1, ?2)", rusqlite::params![format!("key{i:05}"), i]).unwrap();
        }
        tx.commit().unwrap();
    }

    #[test]
    fn an_intact_database_comes_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        make(&dir.path().join("a.db"), 500);
        let r = salvage(&dir.path().join("a.db"), &dir.path().join("out.db"), None).unwrap();
        assert!(r.complete(), "{r:?}");
        assert_eq!(r.integrity, "ok");
        assert_eq!(r.tables.iter().map(|t| t.salvaged).collect::<Vec<_>>(), [500, 500]);
        let c = Connection::open(dir.path().join("out.db")).unwrap();
        let ids: i64 = c.query_row("SELECT sum(id) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(ids, (1..=500).map(|i| i * 1000).sum::<i64>(), "rowids kept");
        assert!(salvage(&dir.path().join("a.db"), &dir.path().join("out.db"), None).is_err(), "never overwrites");
    }

    #[test]
    fn a_damaged_leaf_costs_only_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        make(&db, 2000);
        let reference = dir.path().join("ref.db");
        std::fs::copy(&db, &reference).unwrap();
        // The table leaf (page type 0x0D) holding row 1000; the index holds
        // the same text on pages of type 0x0A.
        let mut bytes = std::fs::read(&db).unwrap();
        let needle = b"row 1000 x";
        let at = (0..bytes.len() - needle.len())
            .filter(|&i| &bytes[i..i + needle.len()] == needle)
            .map(|i| i / 4096 * 4096)
            .find(|&page| bytes[page] == 0x0D)
            .expect("row 1000 is on a table leaf");
        bytes[at..at + 4096].fill(0x5a);
        std::fs::write(&db, bytes).unwrap();
        let r = salvage(&db, &dir.path().join("out.db"), Some(&reference)).unwrap();
        let t = &r.tables[0];
        assert_eq!(t.lost.len(), 1, "{t:?}");
        assert!(t.salvaged > 1900 && t.salvaged < 2000, "{t:?}");
        assert_eq!(t.in_reference, Some(2000));
        assert_eq!(t.not_in_reference, Some(0));
        assert_eq!(r.integrity, "ok");
    }
}
