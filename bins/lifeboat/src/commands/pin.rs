//! `lifeboat pin` / `unpin`: keep an archive past retention, or let it go.

use anyhow::Result;
use lifeboat_core::{catalog, exit};
use lifeboat_engine::Config;

use crate::PinArgs;

use super::UsageError;

pub(super) fn pin(cfg: &Config, a: &PinArgs) -> Result<i32> {
    let archive = catalog::resolve(&cfg.backup.output_dir, &a.archive).map_err(|e| UsageError(e.to_string()))?;
    let state = cfg.open_state()?;
    let was_pinned = state.pins()?.iter().any(|p| p.archive == archive.name);
    state.pin(&archive.name, &a.reason, lifeboat_core::state::PinOrigin::Hand, chrono::Utc::now())?;
    if a.json {
        crate::json::print(&crate::json::pin(&archive.name, true, was_pinned, Some(&a.reason)))?;
    } else {
        println!("{} pinned: retention keeps it until `lifeboat unpin {}`", archive.name, archive.name);
    }
    Ok(exit::SUCCESS)
}

/// Unpinning an archive that is not pinned is no error, as pinning one
/// twice is none; a name that is neither on disk nor pinned is (a typo).
pub(super) fn unpin(cfg: &Config, a: &PinArgs) -> Result<i32> {
    // By name too: the archive may be gone from disk already.
    let (name, on_disk) = match catalog::resolve(&cfg.backup.output_dir, &a.archive) {
        Ok(archive) => (archive.name, true),
        Err(_) => (a.archive.clone(), false),
    };
    let was_pinned = cfg.open_state()?.unpin(&name)?;
    if !was_pinned && !on_disk {
        return Err(UsageError(format!(
            "{name} is neither an archive here nor pinned (lifeboat list shows the archives and the pins)"
        ))
        .into());
    }
    if a.json {
        crate::json::print(&crate::json::pin(&name, false, was_pinned, None))?;
    } else if was_pinned {
        println!("{name} unpinned: retention treats it like any other archive again");
    } else {
        println!("{name} was not pinned; nothing changed");
    }
    Ok(exit::SUCCESS)
}
