//! Reading the rows of backed-up databases: what changed between two copies
//! ([`diff`]) and every table written out as JSON lines or CSV ([`export`]).
//!
//! # Layout
//! - [`operand`]: turns what the operator names (an archive, `latest`,
//!   `live`, a path to an SQLite file) into readable SQLite files in a
//!   private scratch folder. Archives are verified and extracted first
//!   (differentials rebuilt, sealed archives opened with the keys held);
//!   `live` is read from a snapshot, never from the bot's file.
//! - [`diff`]: schema differences, then added, removed and changed rows per
//!   table, by primary key, streamed as a sorted merge of two `ORDER BY`
//!   queries so memory does not grow with the table.
//! - [`export`]: every table as `DIR/<database>/<table>.jsonl` or `.csv`.
//! - [`sql`]: SQL literals that round-trip every SQLite value.
//!
//! Every connection here is read-only: nothing in this module writes to a
//! database.

pub mod diff;
pub mod export;
pub mod operand;
pub mod sql;

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use lifeboat_core::catalog::CatalogError;
use lifeboat_core::snapshot::SkipReason;
use lifeboat_core::verify::VerifyError;

/// Why rows could not be read, compared or written out.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    /// `@TIME` names a point in time that cannot be reached: not a time,
    /// before the first capture, `[continuous]` off.
    #[error("{operand}: no point in time to read there: {why}")]
    PointInTime { operand: String, why: String },
    /// The increments that reach a point in time could not be rebuilt.
    #[error(
        "{operand}: cannot rebuild {database} as of that moment: {why}; `lifeboat verify latest --continuous` says more"
    )]
    Rebuild { operand: String, database: String, why: String },
    /// Neither an archive, `live`, nor an existing SQLite file.
    #[error(
        "{operand}: {source}; name an archive (`lifeboat list` shows them), `latest`, `live`, or the path of an SQLite file"
    )]
    Operand {
        operand: String,
        #[source]
        source: CatalogError,
    },
    /// A path that exists but is neither an archive nor an SQLite file.
    #[error("{0} is neither a Lifeboat archive nor an SQLite database (wrong file header)")]
    NotSqlite(PathBuf),
    /// The archive could not be verified at all.
    #[error("cannot read the archive {archive}")]
    Verify {
        archive: String,
        #[source]
        source: VerifyError,
    },
    /// The archive was read but did not verify: its copies are not trusted.
    #[error(
        "the archive {archive} did not verify ({problems}); `lifeboat verify {archive}` says more, or use another archive"
    )]
    NotVerified { archive: String, problems: String },
    /// A live database could not be snapshotted.
    #[error("cannot take a snapshot of the live {database}: {reason}")]
    Snapshot { database: String, reason: SkipReason },
    /// `--only NAME` that neither side holds.
    #[error("{name} is in neither {sides}; the databases there: {known}")]
    UnknownDatabase { name: String, sides: String, known: String },
    /// A file compared with a side holding several databases.
    #[error("{file} is one database: say which it stands for with --only (one of: {known})")]
    WhichDatabase { file: String, known: String },
    /// `--table T` that no compared database holds.
    #[error("no compared database has a table named {0}")]
    UnknownTable(String),
    /// An export would overwrite a file.
    #[error("{0} already exists; export into an empty folder (nothing was overwritten)")]
    Exists(PathBuf),
    /// Reading a database.
    #[error("cannot read {database}: {source}")]
    Sqlite {
        database: String,
        #[source]
        source: rusqlite::Error,
    },
    /// Reading or writing a file.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the diff's or the export's output.
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

impl RowsError {
    /// A mistake in what was asked (exit 2), rather than a failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            RowsError::PointInTime { .. }
                | RowsError::Operand { .. }
                | RowsError::NotSqlite(_)
                | RowsError::UnknownDatabase { .. }
                | RowsError::WhichDatabase { .. }
                | RowsError::UnknownTable(_)
                | RowsError::Exists(_)
        )
    }
}

/// One SQLite value, owned. Text that is not valid UTF-8 is read lossily.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    fn from_ref(v: ValueRef<'_>) -> Cell {
        match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Integer(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        }
    }

    /// SQLite's order for `ORDER BY … COLLATE BINARY`: NULL, numbers (by
    /// value, integers and reals mixed), text (bytewise), blobs (bytewise).
    pub fn sqlite_cmp(&self, other: &Cell) -> Ordering {
        fn class(c: &Cell) -> u8 {
            match c {
                Cell::Null => 0,
                Cell::Integer(_) | Cell::Real(_) => 1,
                Cell::Text(_) => 2,
                Cell::Blob(_) => 3,
            }
        }
        match (self, other) {
            (Cell::Integer(a), Cell::Integer(b)) => a.cmp(b),
            (Cell::Real(a), Cell::Real(b)) => a.total_cmp(b),
            (Cell::Integer(a), Cell::Real(b)) => int_real_cmp(*a, *b),
            (Cell::Real(a), Cell::Integer(b)) => int_real_cmp(*b, *a).reverse(),
            (Cell::Text(a), Cell::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Cell::Blob(a), Cell::Blob(b)) => a.cmp(b),
            _ => class(self).cmp(&class(other)),
        }
    }
}

/// An integer against a real, exactly (an i64 beyond 2^53 is not rounded).
fn int_real_cmp(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Greater;
    }
    // -2^63 is exact as f64; 2^63 is the first real above every i64.
    if f >= 9_223_372_036_854_775_808.0 {
        return Ordering::Less;
    }
    if f < -9_223_372_036_854_775_808.0 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    match i.cmp(&(whole as i64)) {
        Ordering::Equal if f > whole => Ordering::Less,
        Ordering::Equal if f < whole => Ordering::Greater,
        o => o,
    }
}

/// Compares two keys column by column.
pub fn key_cmp(a: &[Cell], b: &[Cell]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| x.sqlite_cmp(y)).find(|o| o.is_ne()).unwrap_or(a.len().cmp(&b.len()))
}

/// Reads one row's columns.
pub(crate) fn read_row(row: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Vec<Cell>> {
    (0..n).map(|i| row.get_ref(i).map(Cell::from_ref)).collect()
}

/// One user table of a database.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    /// Its `CREATE TABLE` statement.
    pub sql: String,
    /// Column names and declared types, in order.
    pub columns: Vec<(String, String)>,
    /// The primary key's columns, in key order (empty: none declared).
    pub primary_key: Vec<String>,
    /// A rowid table (not `WITHOUT ROWID`).
    pub has_rowid: bool,
}

impl Table {
    /// The column names.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.0.clone()).collect()
    }
}

/// Opens an SQLite file read-only.
pub(crate) fn open_read_only(path: &Path, database: &str) -> Result<Connection, RowsError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|source| RowsError::Sqlite { database: database.to_string(), source })?;
    Ok(conn)
}

/// The user tables of a database, by name (virtual tables and SQLite's own
/// `sqlite_*` tables left out).
pub fn tables(conn: &Connection, database: &str) -> Result<Vec<Table>, RowsError> {
    let err = |source| RowsError::Sqlite { database: database.to_string(), source };
    let mut stmt = conn
        .prepare(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
        )
        .map_err(err)?;
    let named: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default())))
        .map_err(err)?
        .collect::<Result<_, _>>()
        .map_err(err)?;
    let mut out = Vec::with_capacity(named.len());
    for (name, sql) in named {
        let mut info = conn.prepare("SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid").map_err(err)?;
        let cols: Vec<(String, String, i64)> = info
            .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let mut pk: Vec<(i64, String)> = cols.iter().filter(|c| c.2 > 0).map(|c| (c.2, c.0.clone())).collect();
        pk.sort();
        let has_rowid = conn
            .query_row("SELECT wr = 0 FROM pragma_table_list(?1) WHERE schema = 'main'", [&name], |r| {
                r.get::<_, bool>(0)
            })
            .unwrap_or(true);
        out.push(Table {
            name,
            sql,
            columns: cols.into_iter().map(|c| (c.0, c.1)).collect(),
            primary_key: pk.into_iter().map(|p| p.1).collect(),
            has_rowid,
        });
    }
    Ok(out)
}

/// `"name"`, as SQL quotes an identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_reals_compare_exactly() {
        let big = 9_007_199_254_740_993_i64; // 2^53 + 1: not representable as f64
        assert_eq!(int_real_cmp(big, 9_007_199_254_740_992.0), Ordering::Greater);
        assert_eq!(int_real_cmp(3, 3.0), Ordering::Equal);
        assert_eq!(int_real_cmp(3, 3.5), Ordering::Less);
        assert_eq!(int_real_cmp(-3, -3.5), Ordering::Greater);
        assert_eq!(int_real_cmp(i64::MAX, 1e19), Ordering::Less);
        assert_eq!(int_real_cmp(i64::MIN, -1e19), Ordering::Greater);
        assert_eq!(Cell::Null.sqlite_cmp(&Cell::Integer(i64::MIN)), Ordering::Less);
        assert_eq!(Cell::Text("z".into()).sqlite_cmp(&Cell::Blob(vec![0])), Ordering::Less);
        assert_eq!(Cell::Real(2.5).sqlite_cmp(&Cell::Text(String::new())), Ordering::Less);
    }
}
