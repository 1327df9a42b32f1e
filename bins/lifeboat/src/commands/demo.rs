//! `lifeboat demo`: realistic demo databases, then a backup of them.

use anyhow::{Context, Result};
use chrono::Utc;
use lifeboat_core::units::human_size;
use lifeboat_core::{Trigger, exit};
use lifeboat_engine::Config;

use crate::DemoArgs;

use super::UsageError;

pub(super) fn demo(cfg: &Config, a: &DemoArgs) -> Result<i32> {
    if !(a.scale_mb > 0.0 && a.scale_mb <= 10_000.0) {
        return Err(UsageError(format!("--scale-mb {} is out of range; give 0.01 to 10000", a.scale_mb)).into());
    }
    // Midnight UTC today: the data looks recent, and runs on the same day
    // with the same seed produce identical files.
    let today = Utc::now().date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_else(Utc::now);
    let opts = lifeboat_demo::DemoOptions { scale_mb: a.scale_mb, seed: a.seed, now: today };
    let made = lifeboat_demo::create_missing(&cfg.backup.source_dir, &cfg.backup.databases, &opts)
        .context("creating the demo databases")?;
    for d in &made {
        if d.created {
            eprintln!("created {} ({}, {} rows)", d.path.display(), human_size(d.size), d.rows);
        } else {
            eprintln!("kept    {} (exists, not touched)", d.path.display());
        }
    }
    if a.no_backup {
        return Ok(exit::SUCCESS);
    }
    let outcome = super::backup::run_backup(cfg, Trigger::Demo, true, "demo backup (lifeboat demo)")?;
    let code = super::backup::report_backup(cfg, &outcome, false);
    // Commands that work as shown: after `cargo run` nothing is on the PATH,
    // so name the binary as it was started.
    let args: Vec<String> = std::env::args().collect();
    let me = args.first().filter(|a| a.contains('/')).map_or("lifeboat", String::as_str);
    let config_flag = args
        .windows(2)
        .find(|w| w[0] == "--config" || w[0] == "-c")
        .map(|w| format!(" --config {}", w[1]))
        .unwrap_or_default();
    let lb = format!("{me}{config_flag}");
    eprintln!(
        "\nWhat to try next:\n  {lb} list              the archives\n  \
         {lb} verify latest     check the newest archive\n  \
         {lb} restore latest --to /tmp/restored --yes   unpack it as plain files\n  \
         {lb} diagnose          check the live databases\n  \
         unzip -l {}",
        outcome.archive.files[0].display()
    );
    Ok(code)
}
