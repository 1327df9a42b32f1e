//! `lifeboat pin` / `unpin`: keep an archive past retention, or let it go.

use anyhow::Result;
use lifeboat_core::state::State;
use lifeboat_core::{Config, catalog, exit};

use crate::PinArgs;

use super::UsageError;

pub(super) fn pin(cfg: &Config, a: &PinArgs) -> Result<i32> {
    let archive = catalog::resolve(&cfg.backup.output_dir, &a.archive).map_err(|e| UsageError(e.to_string()))?;
    State::open_for(cfg)?.pin(&archive.name, &a.reason, lifeboat_core::state::PinOrigin::Hand, chrono::Utc::now())?;
    println!("{} pinned: retention keeps it until `lifeboat unpin {}`", archive.name, archive.name);
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
    if State::open_for(cfg)?.unpin(&name)? {
        println!("{name} unpinned: retention treats it like any other archive again");
        Ok(exit::SUCCESS)
    } else if on_disk {
        println!("{name} was not pinned; nothing changed");
        Ok(exit::SUCCESS)
    } else {
        Err(UsageError(format!(
            "{name} is neither an archive here nor pinned (lifeboat list shows the archives and the pins)"
        ))
        .into())
    }
}
