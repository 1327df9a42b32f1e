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

pub(super) fn unpin(cfg: &Config, a: &PinArgs) -> Result<i32> {
    // By name too: the archive may be gone from disk already.
    let name = match catalog::resolve(&cfg.backup.output_dir, &a.archive) {
        Ok(archive) => archive.name,
        Err(_) => a.archive.clone(),
    };
    if State::open_for(cfg)?.unpin(&name)? {
        println!("{name} unpinned: retention treats it like any other archive again");
        Ok(exit::SUCCESS)
    } else {
        Err(UsageError(format!("{name} is not pinned (lifeboat list shows the pins)")).into())
    }
}
