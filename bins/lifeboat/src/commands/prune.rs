//! `lifeboat prune [--dry-run] [--json]`: retention now, as a cycle would
//! apply it, or what it would remove and why each kept archive stays.

use anyhow::Result;
use chrono::Utc;
use lifeboat_core::retention::{self, Verdict};
use lifeboat_core::state::State;
use lifeboat_core::{Config, exit};
use serde::Serialize;

use crate::PruneArgs;

use super::{existing_state, take_lock};

/// `prune --json`.
#[derive(Debug, Serialize)]
struct PruneReport<'a> {
    schema: u32,
    dry_run: bool,
    /// Removed (or, in a dry run, to be removed), with why.
    removed: Vec<Removed<'a>>,
    /// Kept, with every reason that keeps it.
    kept: Vec<Kept<'a>>,
}

#[derive(Debug, Serialize)]
struct Removed<'a> {
    name: &'a str,
    reason: &'a str,
}

#[derive(Debug, Serialize)]
struct Kept<'a> {
    name: &'a str,
    kept_by: &'a [String],
}

pub(super) fn prune(cfg: &Config, a: &PruneArgs) -> Result<i32> {
    let now = Utc::now();
    let verdicts = if a.dry_run {
        // Reads only: no lock, and no state database created.
        retention::preview(cfg, existing_state(cfg)?.as_ref(), now)?
    } else {
        let _lock = take_lock(cfg, "prune (lifeboat prune)")?;
        let state = State::open_for(cfg)?;
        let verdicts = retention::preview(cfg, Some(&state), now)?;
        let removed = retention::apply(cfg, &state, now)?;
        // The lock held the archives still: what was applied is what was judged.
        debug_assert!(removed.iter().all(|r| verdicts.iter().any(|v| v.name == r.name && v.removal.is_some())));
        verdicts
    };
    report(cfg, &verdicts, a.dry_run, a.json);
    Ok(exit::SUCCESS)
}

fn report(cfg: &Config, verdicts: &[Verdict], dry_run: bool, as_json: bool) {
    let removed: Vec<Removed> =
        verdicts.iter().filter_map(|v| Some(Removed { name: &v.name, reason: v.removal.as_deref()? })).collect();
    let kept: Vec<Kept> =
        verdicts.iter().filter(|v| v.removal.is_none()).map(|v| Kept { name: &v.name, kept_by: &v.kept_by }).collect();
    if as_json {
        let report = PruneReport { schema: 1, dry_run, removed, kept };
        println!("{}", serde_json::to_string_pretty(&report).expect("plain data serializes"));
        return;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for r in &removed {
        println!("{verb} {}: {}", r.name, r.reason);
    }
    for k in &kept {
        println!("keep {}: {}", k.name, k.kept_by.join(", "));
    }
    let offsite = cfg.destinations.ids();
    if !removed.is_empty() && !offsite.is_empty() {
        let when = if dry_run { "would go" } else { "go" };
        println!("their copies at {} {when} at the next cycle", offsite.join(", "));
    }
    let summary = if dry_run { "would remove" } else { "removed" };
    println!("{summary} {} archive(s), kept {}", removed.len(), kept.len());
}
