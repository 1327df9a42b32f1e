//! Every table as a file a program without SQLite can read:
//! `DIR/<database>/<table>.jsonl` (one JSON object per row, columns in
//! table order) or `.csv` (RFC 4180, a header row).
//!
//! Values: integers exact (an i64 is written as its digits, never through
//! a float), reals as JSON numbers in the shortest form that reads back to
//! the same value (infinities, which JSON lacks, as the strings `"inf"` and
//! `"-inf"`), text as is, BLOBs as standard base64 with padding, NULL as
//! `null` (CSV: an empty field, as an empty text also is).
//!
//! Archives hold private data: folders are made 0700 and files 0600, and an
//! existing file is never overwritten. A table name becomes a file name
//! with `%` and `/` percent-encoded (and a leading `.` too), so no name can
//! leave its folder or collide with another.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Cell, RowsError, open_read_only, quote_ident, read_row, tables};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Jsonl,
    Csv,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// One table written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedTable {
    pub database: String,
    pub table: String,
    pub rows: u64,
    pub path: PathBuf,
}

/// The file name a table is written to.
pub fn file_name(table: &str, format: Format) -> String {
    let mut out = String::with_capacity(table.len());
    for (i, ch) in table.chars().enumerate() {
        match ch {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    format!("{out}.{}", format.extension())
}

/// Writes every table of `database` (an SQLite file at `path`) into
/// `dir/<database>/`. `dir` is created 0700 when missing.
pub fn export_database(
    database: &str,
    path: &Path,
    dir: &Path,
    format: Format,
    table: Option<&str>,
) -> Result<Vec<ExportedTable>, RowsError> {
    let conn = open_read_only(path, database)?;
    let folder = dir.join(database);
    lifeboat_core::fsutil::create_dir_private_if_new(dir)
        .map_err(|source| RowsError::Io { path: dir.to_path_buf(), source })?;
    lifeboat_core::fsutil::create_dir_private_if_new(&folder)
        .map_err(|source| RowsError::Io { path: folder.clone(), source })?;
    let err = |source| RowsError::Sqlite { database: database.to_string(), source };
    let mut out = Vec::new();
    for t in tables(&conn, database)?.into_iter().filter(|t| table.is_none_or(|only| only == t.name)) {
        let target = folder.join(file_name(&t.name, format));
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&target).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                RowsError::Exists(target.clone())
            } else {
                RowsError::Io { path: target.clone(), source }
            }
        })?;
        let io = |source| RowsError::Io { path: target.clone(), source };
        let columns = t.column_names();
        let select: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let mut stmt =
            conn.prepare(&format!("SELECT {} FROM {}", select.join(", "), quote_ident(&t.name))).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut count = 0u64;
        match format {
            Format::Jsonl => {
                let keys: Vec<String> = columns.iter().map(|c| json_string(c)).collect();
                let mut w = BufWriter::new(file);
                while let Some(r) = rows.next().map_err(err)? {
                    let row = read_row(r, columns.len()).map_err(err)?;
                    w.write_all(json_line(&keys, &row).as_bytes()).map_err(io)?;
                    count += 1;
                }
                w.flush().map_err(io)?;
                w.get_ref().sync_all().map_err(io)?;
            }
            Format::Csv => {
                let csv_err = |e: csv::Error| io(std::io::Error::other(e));
                let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(file);
                w.write_record(&columns).map_err(csv_err)?;
                while let Some(r) = rows.next().map_err(err)? {
                    let row = read_row(r, columns.len()).map_err(err)?;
                    w.write_record(row.iter().map(csv_field)).map_err(csv_err)?;
                    count += 1;
                }
                w.flush().map_err(io)?;
                w.get_ref().sync_all().map_err(io)?;
            }
        }
        out.push(ExportedTable { database: database.to_string(), table: t.name, rows: count, path: target });
    }
    Ok(out)
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// One row as a JSON object, the columns in table order.
pub fn json_object(columns: &[String], row: &[Cell]) -> String {
    let keys: Vec<String> = columns.iter().map(|c| json_string(c)).collect();
    let mut line = json_line(&keys, row);
    line.pop();
    line
}

/// One row as a JSON object and a newline; `keys` already JSON strings.
fn json_line(keys: &[String], row: &[Cell]) -> String {
    let mut line = String::from("{");
    for (i, (k, v)) in keys.iter().zip(row).enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(k);
        line.push(':');
        line.push_str(&json_value(v));
    }
    line.push_str("}\n");
    line
}

/// A value as JSON.
pub fn json_value(cell: &Cell) -> String {
    match cell {
        Cell::Null => "null".into(),
        Cell::Integer(i) => i.to_string(),
        Cell::Real(f) if f.is_infinite() => if *f > 0.0 { "\"inf\"" } else { "\"-inf\"" }.into(),
        Cell::Real(f) if f.is_nan() => "null".into(),
        // Shortest round-trip form; `1e16` is valid JSON too.
        Cell::Real(f) => format!("{f:?}"),
        Cell::Text(t) => json_string(t),
        Cell::Blob(b) => json_string(&STANDARD.encode(b)),
    }
}

/// A value as a CSV field.
fn csv_field(cell: &Cell) -> Vec<u8> {
    match cell {
        Cell::Null => Vec::new(),
        Cell::Text(t) => t.as_bytes().to_vec(),
        Cell::Blob(b) => STANDARD.encode(b).into_bytes(),
        other => json_value(other).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_stay_in_their_folder() {
        assert_eq!(file_name("payments", Format::Jsonl), "payments.jsonl");
        assert_eq!(file_name("../etc/x", Format::Csv), "%2E.%2Fetc%2Fx.csv");
        assert_eq!(file_name("a%2Fb", Format::Csv), "a%252Fb.csv");
        assert_eq!(file_name("it's a \"t\"", Format::Jsonl), "it's a \"t\".jsonl");
    }

    #[test]
    fn reals_and_big_integers_are_exact_json() {
        assert_eq!(json_value(&Cell::Integer(9_007_199_254_740_993)), "9007199254740993");
        assert_eq!(json_value(&Cell::Real(0.1)), "0.1");
        assert_eq!(json_value(&Cell::Real(-2.0)), "-2.0");
        let back: f64 = serde_json::from_str(&json_value(&Cell::Real(1e300))).unwrap();
        assert_eq!(back, 1e300);
    }
}
