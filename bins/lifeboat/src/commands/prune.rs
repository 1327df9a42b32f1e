//! `lifeboat prune [--dry-run] [--json]`: retention now, as a cycle would
//! apply it, or what it would remove and why each kept archive stays.

use anyhow::Result;
use chrono::Utc;
use lifeboat_core::exit;
use lifeboat_engine::Config;
use lifeboat_engine::retention::{self, Verdict};

use crate::PruneArgs;

use super::{existing_state, take_lock};

pub(super) fn prune(cfg: &Config, a: &PruneArgs) -> Result<i32> {
    let now = Utc::now();
    let verdicts = if a.dry_run {
        // Reads only: no lock, and no state database created.
        retention::preview(cfg, existing_state(cfg)?.as_ref(), now)?
    } else {
        let _lock = take_lock(cfg, "prune (lifeboat prune)")?;
        retention::apply_judged(cfg, &cfg.open_state()?, now)?
    };
    report(cfg, &verdicts, a.dry_run, a.json)?;
    Ok(exit::SUCCESS)
}

fn report(cfg: &Config, verdicts: &[Verdict], dry_run: bool, as_json: bool) -> Result<()> {
    if as_json {
        crate::json::print(&crate::json::prune(verdicts, dry_run))?;
        return Ok(());
    }
    let removed: Vec<(&str, &str)> =
        verdicts.iter().filter_map(|v| Some((v.name.as_str(), v.removal.as_deref()?))).collect();
    let kept: Vec<&Verdict> = verdicts.iter().filter(|v| v.removal.is_none()).collect();
    let verb = if dry_run { "would remove" } else { "removed" };
    for (name, reason) in &removed {
        println!("{verb} {name}: {reason}");
    }
    for k in &kept {
        println!("keep {}: {}", k.name, k.kept_by.join(", "));
    }
    let offsite: Vec<String> = cfg.destinations.ids().iter().map(ToString::to_string).collect();
    if !removed.is_empty() && !offsite.is_empty() {
        let when = if dry_run { "would go" } else { "go" };
        println!("their copies at {} {when} at the next cycle", offsite.join(", "));
    }
    let summary = if dry_run { "would remove" } else { "removed" };
    println!("{summary} {} archive(s), kept {}", removed.len(), kept.len());
    Ok(())
}
