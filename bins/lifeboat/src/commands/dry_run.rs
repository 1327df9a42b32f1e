//! `lifeboat backup --dry-run`: what a backup would take and skip, and which
//! archive it would write; nothing is copied or written.

use lifeboat_core::exit;
use lifeboat_core::units::human_size;
use lifeboat_engine::Config;
use lifeboat_engine::backup::{DryRun, dry_run};

/// Prints the dry run; the exit code a backup now would have: 0, 3 when it
/// would skip a source, 1 when it would take none.
pub(super) fn backup(cfg: &Config, as_json: bool) -> i32 {
    let plan = dry_run(cfg, chrono::Utc::now());
    if as_json {
        if let Err(e) = crate::json::print(&crate::json::dry_run(&plan)) {
            eprintln!("error: cannot write the dry run's JSON: {e}");
        }
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
