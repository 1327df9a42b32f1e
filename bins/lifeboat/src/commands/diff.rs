//! `lifeboat diff A B`: what changed between two copies of the databases,
//! row by row; read-only on both sides. Exits 0 whether or not anything
//! differs (the output says), 1 when a side cannot be read, 2 bad usage.

use std::io::Write;

use anyhow::{Context, Result};
use lifeboat_core::exit;
use lifeboat_engine::Config;
use lifeboat_engine::rows::diff::{self, DiffOptions, DiffReport, Event, Side};
use lifeboat_engine::rows::export::json_object;
use lifeboat_engine::rows::{operand, sql};

use crate::DiffArgs;

use super::{UsageError, exit_on_signal_removing_scratch, rows_error, yield_to_signal_handler};

pub(super) fn diff(cfg: &Config, a: &DiffArgs) -> Result<i32> {
    // The scratch folder holds whole copies of the bot's data: on a signal,
    // remove it and exit (as `verify` does).
    let prefix = format!("lifeboat-diff-{}-", std::process::id());
    exit_on_signal_removing_scratch(prefix.clone(), "diff");
    let scratch = tempfile::Builder::new().prefix(&prefix).tempdir().context("creating a scratch folder")?;
    let result = run(cfg, a, scratch.path());
    yield_to_signal_handler();
    result
}

fn run(cfg: &Config, a: &DiffArgs, scratch: &std::path::Path) -> Result<i32> {
    let side_a = operand::open(cfg, &a.a, &a.only, scratch).map_err(rows_error)?;
    let side_b = operand::open(cfg, &a.b, &a.only, scratch).map_err(rows_error)?;
    operand::check_only(&a.only, &[&side_a, &side_b]).map_err(rows_error)?;
    if a.sql {
        let common = side_a.names().iter().filter(|n| side_b.names().contains(n)).count();
        let single = side_a.databases.len() == 1 && side_b.databases.len() == 1;
        if !single && common != 1 {
            return Err(UsageError(format!(
                "--sql writes into one database, and {} are compared; name one with --only",
                common
            ))
            .into());
        }
    }
    let opts = DiffOptions { table: a.table.clone() };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if a.sql {
        writeln!(out, "-- rows in {} that {} lacks\nBEGIN;", sql::comment(&side_a.label), sql::comment(&side_b.label))?;
        let mut columns: Vec<String> = Vec::new();
        let mut table = String::new();
        let mut statements = 0u64;
        diff::diff(&side_a, &side_b, &opts, &mut |e| {
            match e {
                Event::Table { table: t, columns: c, only_in } => {
                    table = t.name.clone();
                    columns = c.to_vec();
                    if only_in == Some(Side::A) {
                        match sql::create_statement(t) {
                            Some(create) => writeln!(out, "{create}")?,
                            None => writeln!(out, "-- {} has no usable CREATE TABLE statement", sql::comment(&t.name))?,
                        }
                    }
                }
                Event::Removed(row) => {
                    statements += 1;
                    writeln!(out, "{}", sql::insert(&table, &columns, row))?;
                }
                _ => {}
            }
            Ok(())
        })
        .map_err(rows_error)?;
        writeln!(out, "COMMIT;")?;
        eprintln!(
            "{statements} row(s) that {} lacks; rows changed since are left as they are in {}",
            side_b.label, side_b.label
        );
    } else if a.json {
        let report = diff::diff(&side_a, &side_b, &opts, &mut |_| Ok(())).map_err(rows_error)?;
        let v = crate::json::diff(&side_a.label, &side_b.label, &report);
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(out, "A: {}\nB: {}", side_a.label, side_b.label)?;
        let mut columns: Vec<String> = Vec::new();
        let rows = a.rows;
        let report = diff::diff(&side_a, &side_b, &opts, &mut |e| {
            match e {
                Event::Database { name } if rows => writeln!(out, "{name}")?,
                Event::Schema(changes) if rows => {
                    for c in changes {
                        writeln!(out, "  schema: {c}")?;
                    }
                }
                Event::Table { table, columns: c, .. } if rows => {
                    columns = c.to_vec();
                    writeln!(out, "  {}:", table.name)?;
                }
                Event::Added(row) if rows => writeln!(out, "    + {}", json_object(&columns, row))?,
                Event::Removed(row) if rows => writeln!(out, "    - {}", json_object(&columns, row))?,
                Event::Changed { a, b } if rows => {
                    writeln!(out, "    ~ {}\n      {}", json_object(&columns, a), json_object(&columns, b))?
                }
                _ => {}
            }
            Ok(())
        })
        .map_err(rows_error)?;
        if rows {
            writeln!(out, "summary:")?;
        }
        print_summary(&mut out, &report, !rows)?;
    }
    out.flush()?;
    for (side, label) in [(&side_a, &side_a.label), (&side_b, &side_b.label)] {
        for (name, kind) in &side.other {
            eprintln!("note: {name} in {label} is a {} entry; only SQLite databases are compared", kind.as_str());
        }
    }
    Ok(exit::SUCCESS)
}

fn print_summary(out: &mut impl Write, report: &DiffReport, schema: bool) -> std::io::Result<()> {
    for d in &report.databases {
        writeln!(out, "{}", d.name)?;
        for c in d.schema_changes.iter().filter(|_| schema) {
            writeln!(out, "  schema: {c}")?;
        }
        let width = d.tables.iter().map(|t| t.name.chars().count()).max().unwrap_or(0);
        for t in &d.tables {
            let how = match t.key {
                diff::KeyKind::PrimaryKey => "by primary key",
                diff::KeyKind::Rowid => "by rowid",
                diff::KeyKind::WholeRow => "as whole rows",
            };
            let what = match t.only_in {
                Some(Side::A) => format!("only in A: {} row(s) removed", t.removed),
                Some(Side::B) => format!("only in B: {} row(s) added", t.added),
                None if t.added + t.removed + t.changed == 0 => "no change".into(),
                None => format!("+{} added  -{} removed  ~{} changed  ({how})", t.added, t.removed, t.changed),
            };
            writeln!(out, "  {:<width$}  {what}", t.name)?;
        }
    }
    for n in &report.only_in_a {
        writeln!(out, "{n}: only in A")?;
    }
    for n in &report.only_in_b {
        writeln!(out, "{n}: only in B")?;
    }
    if !report.differs() {
        writeln!(out, "no differences")?;
    }
    Ok(())
}
