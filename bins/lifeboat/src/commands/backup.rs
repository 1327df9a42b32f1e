//! `lifeboat backup [--deliver]`: one backup, or the whole cycle.

use anyhow::{Context, Result};
use chrono::Utc;
use lifeboat_core::state::RunStatus;
use lifeboat_core::{Trigger, exit};
use lifeboat_engine::Config;
use lifeboat_engine::backup::{self, BackupError, BackupOptions};

use crate::BackupArgs;
use crate::ui::Progress;

use super::{cancel_on_signal, stopped_code, take_lock};

pub(super) fn backup(cfg: &Config, a: &BackupArgs) -> Result<i32> {
    if a.dry_run {
        return Ok(super::dry_run::backup(cfg, a.json));
    }
    if a.deliver {
        return deliver_cycle(cfg, a);
    }
    let outcome = run_backup(cfg, Trigger::Manual, !a.json, "manual backup (lifeboat backup)")?;
    Ok(report_backup(cfg, &outcome, a.json))
}

pub(super) fn run_backup(cfg: &Config, trigger: Trigger, progress: bool, what: &str) -> Result<backup::BackupOutcome> {
    let _lock = take_lock(cfg, what)?;
    let state = cfg.open_state()?;
    let bar = Progress::new(progress);
    let on_event = |ev| bar.on_backup(ev);
    let result = backup::run(
        cfg,
        &state,
        BackupOptions { trigger, only: None, progress: Some(&on_event), cancel: cancel_on_signal(), now: Utc::now() },
    );
    bar.clear();
    match result {
        Ok(o) => Ok(o),
        Err(e @ BackupError::NothingBackedUp { .. }) => {
            Err(anyhow::Error::new(e).context("backup failed; `lifeboat diagnose` says what to do"))
        }
        Err(e) => Err(anyhow::Error::new(e).context("backup failed")),
    }
}

/// Prints the archive's files on stdout (one per line, or JSON) and what was
/// skipped on stderr, with the command that restores each skipped source
/// from its newest good copy; returns 0 or 3.
pub(super) fn report_backup(cfg: &Config, o: &backup::BackupOutcome, as_json: bool) -> i32 {
    let partial = o.status == RunStatus::Partial || o.manifest.is_partial();
    if as_json {
        if let Err(e) = crate::json::print(&crate::json::backup(o)) {
            eprintln!("error: cannot write the backup's JSON: {e}");
        }
    } else {
        for f in &o.archive.files {
            println!("{}", f.display());
        }
    }
    let state = (!o.manifest.skipped.is_empty()).then(|| cfg.open_state().ok()).flatten();
    for s in &o.manifest.skipped {
        eprintln!("warning: {} was skipped: {}", s.name, s.reason);
        if let Some(command) = lifeboat_engine::retention::restore_advice(cfg, state.as_ref(), &s.name) {
            eprintln!("  its newest good copy: {command}");
        }
    }
    if partial {
        eprintln!(
            "partial backup: {} of {} databases in the archive",
            o.manifest.databases.len(),
            o.manifest.databases.len() + o.manifest.skipped.len()
        );
        exit::PARTIAL
    } else {
        exit::SUCCESS
    }
}

/// `backup --deliver`: the scheduler's full cycle (backup, delivery,
/// retention, alert) through the cycle crate, which takes the lock itself.
/// No token means delivery is reported as disabled, not as a failure.
fn deliver_cycle(cfg: &Config, a: &BackupArgs) -> Result<i32> {
    use lifeboat_cycle::{CycleError, run_cycle};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let bar = Progress::new(!a.json);
    bar.spin("backing up and delivering");
    let result = rt.block_on(run_cycle(cfg, Trigger::Manual, cancel_on_signal()));
    bar.clear();
    let report = match result {
        Ok(r) => r,
        Err(e @ CycleError::Busy { .. }) => return Err(anyhow::Error::new(e).context("cannot start now")),
        Err(e) => return Err(anyhow::Error::new(e).context("backup cycle failed")),
    };
    // Stopped by a signal: the shell's code, as for every other command.
    let code = stopped_code().filter(|_| report.interrupted()).unwrap_or_else(|| report.exit_code());
    if a.json {
        crate::json::print(&crate::json::cycle(cfg, &report, code))?;
    } else if let Ok(o) = &report.backup {
        for f in &o.archive.files {
            println!("{}", f.display());
        }
    }
    eprintln!("{}", report.summary());
    Ok(code)
}
