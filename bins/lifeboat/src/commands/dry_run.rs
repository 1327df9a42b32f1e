//! `lifeboat backup --dry-run`: what a backup would take and skip, and which
//! archive it would write; nothing is copied or written.

use lifeboat_core::backup::{DryRun, dry_run};
use lifeboat_core::units::human_size;
use lifeboat_core::{Config, exit};
use serde::Serialize;

/// `backup --dry-run --json`.
#[derive(Debug, Serialize)]
struct Report<'a> {
    schema: u32,
    output_dir: String,
    /// "full" or "differential".
    kind: &'static str,
    base: Option<&'a str>,
    sources: Vec<Source<'a>>,
    /// Bytes the sources to be taken would read (servers not counted).
    total_bytes: u64,
    free_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Source<'a> {
    name: &'a str,
    source: &'a str,
    kind: &'static str,
    /// Bytes a copy would read; null when not known before the copy.
    size: Option<u64>,
    /// "take" or "skip".
    action: &'static str,
    reason: Option<&'a str>,
}

/// Prints the dry run; the exit code a backup now would have: 0, 3 when it
/// would skip a source, 1 when it would take none.
pub(super) fn backup(cfg: &Config, as_json: bool) -> i32 {
    let plan = dry_run(cfg, chrono::Utc::now());
    if as_json {
        let report = Report {
            schema: 1,
            output_dir: plan.output_dir.display().to_string(),
            kind: if plan.base.is_some() { "differential" } else { "full" },
            base: plan.base.as_deref(),
            sources: plan
                .sources
                .iter()
                .map(|s| Source {
                    name: &s.name,
                    source: &s.source,
                    kind: s.kind.as_str(),
                    size: s.size,
                    action: if s.skip.is_some() { "skip" } else { "take" },
                    reason: s.skip.as_deref(),
                })
                .collect(),
            total_bytes: plan.total_bytes(),
            free_bytes: plan.free_bytes,
        };
        println!("{}", serde_json::to_string_pretty(&report).expect("plain data serializes"));
    } else {
        print_text(&plan);
    }
    let taken = plan.sources.iter().filter(|s| s.skip.is_none()).count();
    if taken == 0 {
        exit::FAILURE
    } else if taken < plan.sources.len() {
        exit::PARTIAL
    } else {
        exit::SUCCESS
    }
}

fn print_text(plan: &DryRun) {
    println!("dry run: nothing is copied or written");
    match &plan.base {
        Some(base) => println!("a backup now writes a differential on {base} into {}", plan.output_dir.display()),
        None => println!("a backup now writes a full archive into {}", plan.output_dir.display()),
    }
    for s in &plan.sources {
        let size = s.size.map_or_else(|| "size not known before the copy".to_string(), human_size);
        match &s.skip {
            None => println!("  take {} ({}, {size})", s.name, s.kind.as_str()),
            Some(why) => println!("  skip {} ({}): {why}", s.name, s.kind.as_str()),
        }
    }
    if plan.sources.is_empty() {
        println!("  no source is configured (backup.databases, [[sources.*]])");
    }
    let free = plan.free_bytes.map(|b| format!("; {} free there", human_size(b))).unwrap_or_default();
    println!("to read: {} before compression{free}", human_size(plan.total_bytes()));
}
