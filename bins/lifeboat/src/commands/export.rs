//! `lifeboat export ARCHIVE --to DIR`: every table of an archive's SQLite
//! databases as JSON lines or CSV, for programs and people without SQLite.

use anyhow::{Context, Result};
use lifeboat_core::exit;
use lifeboat_engine::Config;
use lifeboat_engine::rows::export::{Format, export_database};
use lifeboat_engine::rows::operand;

use crate::{ExportArgs, ExportFormat};

use super::{exit_on_signal_removing_scratch, rows_error, yield_to_signal_handler};

pub(super) fn export(cfg: &Config, a: &ExportArgs) -> Result<i32> {
    if a.archive.starts_with('@') {
        return Err(rows_error(lifeboat_engine::rows::RowsError::PointInTime {
            operand: a.archive.clone(),
            why: "export reads an archive; rebuild the moment first with `lifeboat restore latest --at TIME --to DIR` \
                  and read the database there"
                .into(),
        }));
    }
    let prefix = format!("lifeboat-export-{}-", std::process::id());
    exit_on_signal_removing_scratch(prefix.clone(), "export");
    let scratch = tempfile::Builder::new().prefix(&prefix).tempdir().context("creating a scratch folder")?;
    let result = run(cfg, a, scratch.path());
    yield_to_signal_handler();
    result
}

fn run(cfg: &Config, a: &ExportArgs, scratch: &std::path::Path) -> Result<i32> {
    let format = match a.format {
        ExportFormat::Jsonl => Format::Jsonl,
        ExportFormat::Csv => Format::Csv,
    };
    let side = operand::open(cfg, &a.archive, &a.only, scratch).map_err(rows_error)?;
    operand::check_only(&a.only, &[&side]).map_err(rows_error)?;
    let mut tables = 0usize;
    for (name, path) in &side.databases {
        for t in export_database(name, path, &a.to, format, None).map_err(rows_error)? {
            println!("{:>10} rows  {}", t.rows, t.path.display());
            tables += 1;
        }
    }
    for (name, kind) in &side.other {
        eprintln!("note: {name} is a {} entry, not exported: only SQLite databases are", kind.as_str());
    }
    println!(
        "exported {tables} table(s) of {} database(s) from {} into {}",
        side.databases.len(),
        side.label,
        a.to.display()
    );
    Ok(exit::SUCCESS)
}
