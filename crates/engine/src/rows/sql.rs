//! SQL literals for `diff --sql`: each value reads back as the very value
//! it was (the same storage class, the same bits).

use super::{Cell, quote_ident};

/// The SQL literal for a value.
///
/// Integers are written exactly; reals in the shortest form that parses
/// back to the same bits, always with a `.` or an exponent so they stay
/// REAL (infinities as `9e999`); text quoted with `'` doubled (newlines are
/// fine inside a literal; text holding a NUL byte goes through a BLOB
/// cast, as a literal cannot hold it); blobs as `X'…'`.
pub fn literal(cell: &Cell) -> String {
    match cell {
        Cell::Null => "NULL".into(),
        Cell::Integer(i) => i.to_string(),
        Cell::Real(f) if f.is_infinite() => if *f > 0.0 { "9e999" } else { "-9e999" }.into(),
        Cell::Real(f) if f.is_nan() => "NULL".into(),
        Cell::Real(f) => {
            let s = format!("{f:?}");
            if s.contains(['.', 'e', 'E']) { s } else { format!("{s}.0") }
        }
        Cell::Text(t) if t.contains('\0') => format!("CAST(X'{}' AS TEXT)", hex::encode_upper(t.as_bytes())),
        Cell::Text(t) => format!("'{}'", t.replace('\'', "''")),
        Cell::Blob(b) => format!("X'{}'", hex::encode_upper(b)),
    }
}

/// `INSERT INTO "table" ("a", "b") VALUES (…);`
pub fn insert(table: &str, columns: &[String], row: &[Cell]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let vals: Vec<String> = row.iter().map(literal).collect();
    format!("INSERT INTO {} ({}) VALUES ({});", quote_ident(table), cols.join(", "), vals.join(", "))
}

/// A table's `CREATE TABLE` statement, when it is exactly one statement
/// (the text in `sqlite_schema` comes from the file, which may be hostile).
pub fn create_statement(table: &super::Table) -> Option<String> {
    let probe = rusqlite::Connection::open_in_memory().ok()?;
    let text = table.sql.trim().trim_end_matches(';');
    probe.prepare(text).ok()?;
    Some(format!("{text};"))
}

/// Text safe inside a `--` comment: no line breaks or other controls.
pub fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_the_same() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let cells = [
            Cell::Null,
            Cell::Integer(9_007_199_254_740_993),
            Cell::Integer(i64::MIN),
            Cell::Real(0.1),
            Cell::Real(1e300),
            Cell::Real(-2.0),
            Cell::Real(1e16),
            Cell::Real(f64::INFINITY),
            Cell::Real(5e-324),
            Cell::Text("it's\n\"quoted\", here".into()),
            Cell::Text("a\0b".into()),
            Cell::Blob(vec![0, 1, 0, 255]),
            Cell::Blob(vec![]),
        ];
        for cell in cells {
            let back = conn
                .query_row(&format!("SELECT {}", literal(&cell)), [], |r| Ok(Cell::from_ref(r.get_ref(0)?)))
                .unwrap();
            assert_eq!(back, cell, "{}", literal(&cell));
        }
    }

    #[test]
    fn only_one_create_statement_is_copied() {
        let table = |sql: &str| super::super::Table {
            name: "t".into(),
            sql: sql.into(),
            columns: vec![],
            primary_key: vec![],
            has_rowid: true,
        };
        assert_eq!(create_statement(&table("CREATE TABLE t (a)")).as_deref(), Some("CREATE TABLE t (a);"));
        assert_eq!(create_statement(&table("CREATE TABLE t (a); DROP TABLE u")), None);
        assert_eq!(comment("a\nDROP TABLE x;"), "a?DROP TABLE x;");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(
            insert("od\"d t", &["a b".into()], &[Cell::Integer(1)]),
            "INSERT INTO \"od\"\"d t\" (\"a b\") VALUES (1);"
        );
    }
}
