//! `lifeboat status`: the last backup, the scheduler, storage and delivery.

use anyhow::Result;
use chrono::{Duration, Utc};
use lifeboat_core::catalog;
use lifeboat_core::units::human_size;
use lifeboat_core::{Config, exit};
use serde_json::json;

use crate::JsonArg;
use crate::ui;

use super::{UsageError, existing_dir, existing_state};

pub(super) fn status(cfg: &Config, a: &JsonArg) -> Result<i32> {
    let now = Utc::now();
    let archives = catalog::list(&cfg.backup.output_dir)?;
    let used: u64 = archives.iter().map(|a| a.size).sum();
    let free = lifeboat_core::fsutil::available_space(existing_dir(&cfg.backup.output_dir)).ok();
    let schedule = lifeboat_core::schedule::parse(&cfg.schedule.cron).map_err(|e| UsageError(e.to_string()))?;
    let state = existing_state(cfg)?;
    let last = match &state {
        Some(s) => s.last_finished_run()?,
        None => None,
    };
    let hb = match &state {
        Some(s) => s.heartbeat(lifeboat_core::state::Process::Scheduler)?,
        None => None,
    };
    let sched_state = lifeboat_core::state::scheduler_state(hb.as_ref(), now);
    // A stopped scheduler's promise is stale; the schedule still says when a run is due.
    let next_run = hb
        .as_ref()
        .filter(|_| sched_state == lifeboat_core::state::SchedulerState::Running)
        .and_then(|h| h.next_run)
        .or_else(|| schedule.next_after(now));
    let counts = match &state {
        Some(s) => s.run_counts_since(now - Duration::hours(24))?,
        None => Default::default(),
    };
    let pending = match &state {
        Some(s) => s.pending_deliveries()?.len(),
        None => 0,
    };
    if a.json {
        let v = json!({
            "now": ui::json_time(now),
            "last_backup": last.as_ref().map(|r| json!({
                "started_at": ui::json_time(r.started_at),
                "finished_at": r.finished_at.map(ui::json_time),
                "trigger": r.trigger.as_str(),
                "status": r.status.as_str(),
                "archive": r.end.archive,
                "size": r.end.size,
                "databases_ok": r.end.databases_ok,
                "databases_skipped": r.end.databases_skipped,
                "verified": r.end.verified,
                "detail": r.end.detail,
            })),
            "schedule": schedule.as_str(),
            "next_run": next_run.map(ui::json_time),
            "scheduler": {
                "state": sched_state.as_str(),
                "heartbeat_at": hb.as_ref().map(|h| ui::json_time(h.at)),
                "pid": hb.as_ref().map(|h| h.pid),
            },
            "storage": {
                "output_dir": cfg.backup.output_dir.display().to_string(),
                "archives": archives.len(),
                "used_bytes": used,
                "free_bytes": free,
            },
            "last_24h": { "ok": counts.ok, "partial": counts.partial, "failed": counts.failed },
            "delivery": {
                "enabled": cfg.delivery_enabled(),
                "admins": cfg.telegram.admin_ids.len(),
                "pending": pending,
            },
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit::SUCCESS);
    }
    match &last {
        Some(r) => {
            let end = &r.end;
            let size = end.size.map(|s| format!(", {}", human_size(s))).unwrap_or_default();
            println!(
                "Last backup:  {} ({}), {} [{}]{size}, {} databases{}",
                ui::time(r.started_at),
                ui::ago(r.started_at, now),
                r.status.as_str(),
                r.trigger,
                end.databases_ok,
                if end.databases_skipped > 0 { format!(", {} skipped", end.databases_skipped) } else { String::new() }
            );
            if let Some(d) = end.detail.as_deref().filter(|d| !d.is_empty()) {
                println!("              {d}");
            }
        }
        None => println!("Last backup:  none yet"),
    }
    match next_run {
        Some(t) => println!("Next run:     {} (schedule \"{}\")", ui::time(t), schedule.as_str()),
        None => println!("Next run:     never (schedule \"{}\")", schedule.as_str()),
    }
    println!(
        "Scheduler:    {}{}",
        sched_state.as_str(),
        hb.as_ref().map(|h| format!(" (last heartbeat {}, pid {})", ui::ago(h.at, now), h.pid)).unwrap_or_default()
    );
    println!(
        "Storage:      {} archives, {} used in {}{}",
        archives.len(),
        human_size(used),
        cfg.backup.output_dir.display(),
        free.map(|f| format!(", {} free", human_size(f))).unwrap_or_default()
    );
    println!("Last 24 h:    {} ok, {} partial, {} failed", counts.ok, counts.partial, counts.failed);
    if cfg.delivery_enabled() {
        println!("Delivery:     enabled, {} admin(s), {pending} pending", cfg.telegram.admin_ids.len());
    } else {
        println!("Delivery:     disabled (no telegram.token); archives stay on this server");
    }
    Ok(exit::SUCCESS)
}
