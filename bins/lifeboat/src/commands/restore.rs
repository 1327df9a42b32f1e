//! `lifeboat restore`: the plan, then (with `--yes`) the restore.

use anyhow::{Context, Result};
use lifeboat_core::state::State;
use lifeboat_core::{Config, exit};

use crate::RestoreArgs;
use crate::ui::Progress;

use super::{UsageError, cancel_on_signal, take_lock};

/// Plan, show it, then (only with `--yes`) execute under the cycle lock.
pub(super) fn restore(cfg: &Config, a: &RestoreArgs) -> Result<i32> {
    use lifeboat_core::restore::{self, RestoreError, RestoreRequest};
    let req = RestoreRequest {
        archive: a.archive.clone(),
        only: a.only.clone(),
        to: a.to.clone(),
        force_schema: a.force_schema,
    };
    let plan = match restore::plan(cfg, &req) {
        Ok(p) => p,
        // A name the archive does not hold is the user's typo, not a failure.
        Err(
            e @ (RestoreError::UnknownDatabase { .. }
            | RestoreError::ToNotAFolder(..)
            | RestoreError::NotConfigured { .. }
            | RestoreError::NothingConfigured { .. }),
        ) => {
            return Err(UsageError(e.to_string()).into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot plan the restore")),
    };
    if a.json {
        if a.dry_run || !a.yes {
            println!("{}", serde_json::to_string_pretty(&crate::json::restore_plan(&plan))?);
        }
    } else {
        println!("{}", plan.to_string().trim_end());
    }
    if a.dry_run {
        eprintln!("dry run: nothing was written");
        return Ok(exit::SUCCESS);
    }
    if !a.yes {
        eprintln!("refusing to restore without confirmation: nothing was written; add --yes to carry out this plan");
        return Ok(exit::USAGE);
    }
    let _lock = take_lock(cfg, "restore (lifeboat restore)")?;
    let state = State::open_for(cfg)?;
    let bar = Progress::new(!a.json);
    bar.spin("verifying the archive and restoring");
    let result = restore::execute(cfg, &state, &plan, &cancel_on_signal());
    bar.clear();
    let outcome = result.context("restore failed")?;
    if a.json {
        let v = crate::json::restore_outcome(&outcome);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", outcome.to_string().trim_end());
    }
    Ok(exit::SUCCESS)
}
