//! Row-level differences between two copies of the same databases.
//!
//! Per database held by both sides: the schema differences first (tables
//! added or removed, columns added, removed or retyped, a changed primary
//! key), then per table the rows added (in B only), removed (in A only) and
//! changed (same key, other values).
//!
//! Rows are matched by the table's PRIMARY KEY; a rowid table without one
//! by its rowid (stable unless the table was rebuilt, e.g. by `VACUUM`); a
//! table where neither works, or whose key differs between the sides, is
//! compared as a multiset of whole rows (only added and removed). Only the
//! columns both sides have are compared.
//!
//! Both sides are read with `ORDER BY key COLLATE BINARY` and merged like a
//! sorted merge join, so memory stays flat however large the table: SQLite
//! walks the key's index (or sorts on disk), and only the two current rows
//! are held here.

use std::cmp::Ordering;
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use super::operand::Opened;
use super::{Cell, RowsError, Table, key_cmp, open_read_only, quote_ident, read_row, tables};

/// Which side a table or database is only on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    A,
    B,
}

/// How a table's rows were matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// By the declared PRIMARY KEY.
    PrimaryKey,
    /// By rowid (no PRIMARY KEY declared).
    Rowid,
    /// As a multiset of whole rows: only added and removed.
    WholeRow,
}

/// A difference in the tables' definitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum SchemaChange {
    /// The table is only in B.
    TableAdded { table: String },
    /// The table is only in A.
    TableRemoved { table: String },
    /// The column is only in B.
    ColumnAdded { table: String, column: String, r#type: String },
    /// The column is only in A.
    ColumnRemoved { table: String, column: String, r#type: String },
    /// The column's declared type differs.
    ColumnType { table: String, column: String, a: String, b: String },
    /// The PRIMARY KEY's columns differ.
    PrimaryKey { table: String, a: Vec<String>, b: Vec<String> },
}

impl std::fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaChange::TableAdded { table } => write!(f, "table {table} added"),
            SchemaChange::TableRemoved { table } => write!(f, "table {table} removed"),
            SchemaChange::ColumnAdded { table, column, r#type } => {
                write!(f, "column {table}.{column} added ({type})", type = show_type(r#type))
            }
            SchemaChange::ColumnRemoved { table, column, r#type } => {
                write!(f, "column {table}.{column} removed ({type})", type = show_type(r#type))
            }
            SchemaChange::ColumnType { table, column, a, b } => {
                write!(f, "column {table}.{column} type {} -> {}", show_type(a), show_type(b))
            }
            SchemaChange::PrimaryKey { table, a, b } => {
                write!(f, "table {table} primary key ({}) -> ({})", a.join(", "), b.join(", "))
            }
        }
    }
}

fn show_type(t: &str) -> &str {
    if t.is_empty() { "no type" } else { t }
}

/// One table's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDiff {
    pub name: String,
    /// Rows only in B.
    pub added: u64,
    /// Rows only in A.
    pub removed: u64,
    /// Rows in both, by key, with other values.
    pub changed: u64,
    /// How rows were matched.
    pub key: KeyKind,
    /// The table is only on this side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_in: Option<Side>,
}

/// One database's differences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseDiff {
    /// The name as archived (`premium_system.db`).
    pub name: String,
    pub schema_changes: Vec<SchemaChange>,
    /// Every compared table, by name, whether or not it differs.
    pub tables: Vec<TableDiff>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffReport {
    /// Databases held by both sides.
    pub databases: Vec<DatabaseDiff>,
    /// SQLite databases only A holds.
    pub only_in_a: Vec<String>,
    /// SQLite databases only B holds.
    pub only_in_b: Vec<String>,
}

impl DiffReport {
    /// Anything differs.
    pub fn differs(&self) -> bool {
        !self.only_in_a.is_empty()
            || !self.only_in_b.is_empty()
            || self
                .databases
                .iter()
                .any(|d| !d.schema_changes.is_empty() || d.tables.iter().any(|t| t.added + t.removed + t.changed > 0))
    }
}

/// What the comparison meets, in order, for a caller that prints rows as
/// they stream by.
#[derive(Debug)]
pub enum Event<'a> {
    /// A database held by both sides begins.
    Database { name: &'a str },
    /// Its schema differences, before any table.
    Schema(&'a [SchemaChange]),
    /// A table begins; the rows that follow have `columns`: those both
    /// sides have (a table on one side only: all of its own), led by
    /// `rowid` when rows are matched by rowid, so that a row put back
    /// keeps the rowid it had.
    Table { table: &'a Table, columns: &'a [String], only_in: Option<Side> },
    /// A row only in B.
    Added(&'a [Cell]),
    /// A row only in A.
    Removed(&'a [Cell]),
    /// A row in both, by key, with other values.
    Changed { a: &'a [Cell], b: &'a [Cell] },
}

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Only this table.
    pub table: Option<String>,
}

/// Compares `a` with `b`, calling `on_event` for every difference as it is
/// found. An error from `on_event` (the reader went away) stops the run.
pub fn diff<'o>(
    a: &'o Opened,
    b: &'o Opened,
    opts: &DiffOptions,
    on_event: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
) -> Result<DiffReport, RowsError> {
    let mut report = DiffReport { databases: vec![], only_in_a: vec![], only_in_b: vec![] };
    let mut pairs: Vec<(&'o str, &'o Path, &'o Path)> = Vec::new();
    if a.from_file || b.from_file {
        // A file stands for one database of the other side: the one of its
        // name, or the only one there (`--only`).
        let (file, other) = if a.from_file { (a, b) } else { (b, a) };
        let file_name = &file.databases[0].0;
        let name = if other.from_file || other.databases.iter().any(|d| &d.0 == file_name) {
            file_name
        } else if let [(only, _)] = other.databases.as_slice() {
            only
        } else {
            return Err(RowsError::WhichDatabase { file: file.label.clone(), known: other.names().join(", ") });
        };
        let find = |side: &'o Opened| -> Option<&'o Path> {
            if side.from_file {
                Some(&side.databases[0].1)
            } else {
                side.databases.iter().find(|d| &d.0 == name).map(|d| d.1.as_path())
            }
        };
        match (find(a), find(b)) {
            (Some(pa), Some(pb)) => pairs.push((name, pa, pb)),
            _ => return Err(RowsError::WhichDatabase { file: file.label.clone(), known: other.names().join(", ") }),
        }
    } else {
        for (name, pa) in &a.databases {
            match b.databases.iter().find(|(n, _)| n == name) {
                Some((_, pb)) => pairs.push((name, pa, pb)),
                None => report.only_in_a.push(name.clone()),
            }
        }
        report.only_in_b =
            b.databases.iter().filter(|(n, _)| !a.databases.iter().any(|(m, _)| m == n)).map(|d| d.0.clone()).collect();
    }
    let mut table_seen = false;
    for (name, pa, pb) in pairs {
        on_event(Event::Database { name }).map_err(RowsError::Output)?;
        let d = diff_database(name, pa, pb, opts, on_event)?;
        table_seen |= !d.tables.is_empty() || !d.schema_changes.is_empty();
        report.databases.push(d);
    }
    if let Some(t) = &opts.table
        && !table_seen
    {
        return Err(RowsError::UnknownTable(t.clone()));
    }
    Ok(report)
}

fn diff_database(
    name: &str,
    pa: &Path,
    pb: &Path,
    opts: &DiffOptions,
    on_event: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
) -> Result<DatabaseDiff, RowsError> {
    let ca = open_read_only(pa, name)?;
    let cb = open_read_only(pb, name)?;
    let keep = |t: &Table| opts.table.as_ref().is_none_or(|only| &t.name == only);
    let ta: Vec<Table> = tables(&ca, name)?.into_iter().filter(keep).collect();
    let tb: Vec<Table> = tables(&cb, name)?.into_iter().filter(keep).collect();
    let mut out = DatabaseDiff { name: name.to_string(), schema_changes: schema_changes(&ta, &tb), tables: vec![] };
    on_event(Event::Schema(&out.schema_changes)).map_err(RowsError::Output)?;
    let mut names: Vec<&str> = ta.iter().chain(&tb).map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for table in names {
        let (x, y) = (ta.iter().find(|t| t.name == table), tb.iter().find(|t| t.name == table));
        let counts = match (x, y) {
            (Some(x), Some(y)) => diff_table(name, &ca, &cb, x, y, on_event)?,
            (Some(x), None) => one_side(name, &ca, x, Side::A, on_event)?,
            (None, Some(y)) => one_side(name, &cb, y, Side::B, on_event)?,
            (None, None) => continue,
        };
        out.tables.push(counts);
    }
    Ok(out)
}

/// Tables added and removed, then per common table its column changes.
pub fn schema_changes(a: &[Table], b: &[Table]) -> Vec<SchemaChange> {
    let mut out = Vec::new();
    for t in b.iter().filter(|t| !a.iter().any(|x| x.name == t.name)) {
        out.push(SchemaChange::TableAdded { table: t.name.clone() });
    }
    for t in a.iter().filter(|t| !b.iter().any(|y| y.name == t.name)) {
        out.push(SchemaChange::TableRemoved { table: t.name.clone() });
    }
    for x in a {
        let Some(y) = b.iter().find(|y| y.name == x.name) else { continue };
        let table = || x.name.clone();
        for (col, ty) in &y.columns {
            match x.columns.iter().find(|c| &c.0 == col) {
                None => out.push(SchemaChange::ColumnAdded { table: table(), column: col.clone(), r#type: ty.clone() }),
                Some((_, tx)) if !tx.eq_ignore_ascii_case(ty) => out.push(SchemaChange::ColumnType {
                    table: table(),
                    column: col.clone(),
                    a: tx.clone(),
                    b: ty.clone(),
                }),
                Some(_) => {}
            }
        }
        for (col, ty) in x.columns.iter().filter(|c| !y.columns.iter().any(|d| d.0 == c.0)) {
            out.push(SchemaChange::ColumnRemoved { table: table(), column: col.clone(), r#type: ty.clone() });
        }
        if x.primary_key != y.primary_key {
            out.push(SchemaChange::PrimaryKey { table: table(), a: x.primary_key.clone(), b: y.primary_key.clone() });
        }
    }
    out
}

/// The key both sides can be matched by, as SQL expressions.
fn key_for(x: &Table, y: &Table, common: &[String]) -> (KeyKind, Vec<String>) {
    if !x.primary_key.is_empty() && x.primary_key == y.primary_key && x.primary_key.iter().all(|k| common.contains(k)) {
        return (KeyKind::PrimaryKey, x.primary_key.iter().map(|k| quote_ident(k)).collect());
    }
    let shadows_rowid = |t: &Table| t.columns.iter().any(|c| c.0.eq_ignore_ascii_case("rowid"));
    if x.primary_key.is_empty()
        && y.primary_key.is_empty()
        && x.has_rowid
        && y.has_rowid
        && !shadows_rowid(x)
        && !shadows_rowid(y)
    {
        return (KeyKind::Rowid, vec!["rowid".into()]);
    }
    (KeyKind::WholeRow, common.iter().map(|c| quote_ident(c)).collect())
}

/// `SELECT key…, columns… FROM t ORDER BY order… COLLATE BINARY`.
fn ordered_query(table: &str, key: &[String], columns: &[String], order: &[String]) -> String {
    let mut select = key.to_vec();
    select.extend(columns.iter().map(|c| quote_ident(c)));
    if select.is_empty() {
        select.push("NULL".into());
    }
    let order: Vec<String> = order.iter().map(|k| format!("{k} COLLATE BINARY")).collect();
    let order_by = if order.is_empty() { String::new() } else { format!(" ORDER BY {}", order.join(", ")) };
    format!("SELECT {} FROM {}{order_by}", select.join(", "), quote_ident(table))
}

fn diff_table(
    database: &str,
    ca: &Connection,
    cb: &Connection,
    x: &Table,
    y: &Table,
    on_event: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
) -> Result<TableDiff, RowsError> {
    let err = |source| RowsError::Sqlite { database: database.to_string(), source };
    let columns: Vec<String> = x.column_names().into_iter().filter(|c| y.columns.iter().any(|d| &d.0 == c)).collect();
    let (kind, key) = key_for(x, y, &columns);
    // A rowid is shown with the row, so that `--sql` puts a row back
    // under the rowid it had.
    let shown: Vec<String> = if kind == KeyKind::Rowid {
        std::iter::once("rowid".to_string()).chain(columns.clone()).collect()
    } else {
        columns.clone()
    };
    on_event(Event::Table { table: x, columns: &shown, only_in: None }).map_err(RowsError::Output)?;
    let mut out = TableDiff { name: x.name.clone(), added: 0, removed: 0, changed: 0, key: kind, only_in: None };
    // Each row read is the key, then the columns; a whole-row key is the
    // columns themselves, read once.
    let selected_key: &[String] = if kind == KeyKind::WholeRow { &[] } else { &key };
    let key_len = selected_key.len();
    let width = (key_len + columns.len()).max(1);
    let cmp_len = if kind == KeyKind::WholeRow { width } else { key_len };
    let first = if kind == KeyKind::Rowid { 0 } else { key_len };
    let values = |row: &[Cell]| -> std::ops::Range<usize> { first..(key_len + columns.len()).min(row.len()) };
    let mut sa = ca.prepare(&ordered_query(&x.name, selected_key, &columns, &key)).map_err(err)?;
    let mut sb = cb.prepare(&ordered_query(&y.name, selected_key, &columns, &key)).map_err(err)?;
    let mut ra = sa.query([]).map_err(err)?;
    let mut rb = sb.query([]).map_err(err)?;
    let next = |rows: &mut rusqlite::Rows<'_>| -> Result<Option<Vec<Cell>>, RowsError> {
        match rows.next().map_err(err)? {
            Some(r) => Ok(Some(read_row(r, width).map_err(err)?)),
            None => Ok(None),
        }
    };
    let mut cur_a = next(&mut ra)?;
    let mut cur_b = next(&mut rb)?;
    loop {
        let order = match (&cur_a, &cur_b) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(ra_row), Some(rb_row)) => key_cmp(&ra_row[..cmp_len], &rb_row[..cmp_len]),
        };
        match order {
            Ordering::Less => {
                let row = cur_a.take().unwrap_or_default();
                out.removed += 1;
                on_event(Event::Removed(&row[values(&row)])).map_err(RowsError::Output)?;
                cur_a = next(&mut ra)?;
            }
            Ordering::Greater => {
                let row = cur_b.take().unwrap_or_default();
                out.added += 1;
                on_event(Event::Added(&row[values(&row)])).map_err(RowsError::Output)?;
                cur_b = next(&mut rb)?;
            }
            Ordering::Equal => {
                let (row_a, row_b) = (cur_a.take().unwrap_or_default(), cur_b.take().unwrap_or_default());
                let (va, vb) = (&row_a[values(&row_a)], &row_b[values(&row_b)]);
                if row_a[key_len..] != row_b[key_len..] {
                    out.changed += 1;
                    on_event(Event::Changed { a: va, b: vb }).map_err(RowsError::Output)?;
                }
                cur_a = next(&mut ra)?;
                cur_b = next(&mut rb)?;
            }
        }
    }
    Ok(out)
}

/// A table on one side only: every row is added (B) or removed (A).
fn one_side(
    database: &str,
    conn: &Connection,
    t: &Table,
    side: Side,
    on_event: &mut dyn FnMut(Event<'_>) -> std::io::Result<()>,
) -> Result<TableDiff, RowsError> {
    let err = |source| RowsError::Sqlite { database: database.to_string(), source };
    let columns = t.column_names();
    on_event(Event::Table { table: t, columns: &columns, only_in: Some(side) }).map_err(RowsError::Output)?;
    let mut out = TableDiff {
        name: t.name.clone(),
        added: 0,
        removed: 0,
        changed: 0,
        key: if t.primary_key.is_empty() && t.has_rowid { KeyKind::Rowid } else { KeyKind::PrimaryKey },
        only_in: Some(side),
    };
    let mut stmt = conn.prepare(&ordered_query(&t.name, &[], &columns, &[])).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let row = read_row(r, columns.len()).map_err(err)?;
        match side {
            Side::A => {
                out.removed += 1;
                on_event(Event::Removed(&row)).map_err(RowsError::Output)?;
            }
            Side::B => {
                out.added += 1;
                on_event(Event::Added(&row)).map_err(RowsError::Output)?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, sql: &str) -> Opened {
        let path = dir.join(name);
        Connection::open(&path).unwrap().execute_batch(sql).unwrap();
        Opened {
            label: name.into(),
            held: vec![name.into()],
            databases: vec![(name.into(), path)],
            other: vec![],
            from_file: true,
        }
    }

    #[test]
    fn tables_without_a_usable_key_compare_as_multisets_and_schema_comes_first() {
        let dir = tempfile::tempdir().unwrap();
        // `rowid` is a real column here, so rows can only be matched whole;
        // `k` changes its primary key, so it is matched whole too.
        let a = file(
            dir.path(),
            "a.db",
            "CREATE TABLE m (rowid, v); INSERT INTO m VALUES (1, 'x'), (1, 'x'), (2, 'y'), (3, NULL);
             CREATE TABLE k (id INTEGER PRIMARY KEY, v); INSERT INTO k VALUES (1, 'a'), (2, 'b');
             CREATE TABLE gone (x); INSERT INTO gone VALUES (1), (2);",
        );
        let b = file(
            dir.path(),
            "b.db",
            "CREATE TABLE m (rowid, v); INSERT INTO m VALUES (1, 'x'), (2, 'y'), (2, 'y'), (4, X'00');
             CREATE TABLE k (id INTEGER, v TEXT PRIMARY KEY, extra); INSERT INTO k VALUES (1, 'a', 0), (2, 'c', 0);",
        );
        let mut events = Vec::new();
        let report = diff(&a, &b, &DiffOptions::default(), &mut |e| {
            events.push(match e {
                Event::Schema(c) => format!("schema {}", c.len()),
                Event::Removed(r) => format!("- {r:?}"),
                Event::Added(r) => format!("+ {r:?}"),
                _ => return Ok(()),
            });
            Ok(())
        })
        .unwrap();
        let d = &report.databases[0];
        assert_eq!(d.name, "a.db", "two files: named after A");
        assert_eq!(
            d.schema_changes,
            vec![
                SchemaChange::TableRemoved { table: "gone".into() },
                SchemaChange::ColumnType { table: "k".into(), column: "v".into(), a: String::new(), b: "TEXT".into() },
                SchemaChange::ColumnAdded { table: "k".into(), column: "extra".into(), r#type: String::new() },
                SchemaChange::PrimaryKey { table: "k".into(), a: vec!["id".into()], b: vec!["v".into()] },
            ]
        );
        assert_eq!(events[0], "schema 4");
        let t = |n: &str| d.tables.iter().find(|t| t.name == n).unwrap().clone();
        assert_eq!((t("m").key, t("m").added, t("m").removed, t("m").changed), (KeyKind::WholeRow, 2, 2, 0));
        assert_eq!((t("k").key, t("k").added, t("k").removed, t("k").changed), (KeyKind::WholeRow, 1, 1, 0));
        assert_eq!((t("gone").only_in, t("gone").removed), (Some(Side::A), 2));
        assert!(report.differs());
    }
}
