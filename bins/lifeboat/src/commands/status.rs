//! `lifeboat status`: the last backup, the scheduler, storage and delivery.

use anyhow::Result;
use chrono::{DateTime, Utc};
use lifeboat_core::exit;
use lifeboat_core::schedule::Schedule;
use lifeboat_core::state::{Heartbeat, SchedulerState};
use lifeboat_core::units::human_size;
use lifeboat_engine::Config;
use lifeboat_engine::status::{self, StatusSnapshot};

use crate::JsonArg;
use crate::ui;

use super::existing_state;

pub(super) fn status(cfg: &Config, a: &JsonArg) -> Result<i32> {
    let schedule = &cfg.schedule.cron;
    let state = existing_state(cfg)?;
    let s = status::snapshot(cfg, state.as_ref(), Utc::now())?;
    if a.json {
        crate::json::print(&crate::json::status(cfg, &s, schedule))?;
    } else {
        print_text(cfg, &s, schedule);
    }
    Ok(exit::SUCCESS)
}

fn print_text(cfg: &Config, s: &StatusSnapshot, schedule: &Schedule) {
    let now = s.now;
    for w in &s.warnings {
        println!("WARNING:      {w}");
    }
    for i in &s.incidents {
        println!(
            "INCIDENT:     {} (since {}): {}",
            lifeboat_cycle::watch::title(i.kind),
            ui::ago(i.opened_at, now),
            i.detail
        );
    }
    match &s.last_run {
        Some(r) if r.status == lifeboat_core::state::RunStatus::Unchanged => {
            let checked = r.finished_at.unwrap_or(r.started_at);
            let changed = r.end.archive.as_deref().and_then(lifeboat_core::catalog::parse_name);
            println!(
                "Last change backed up: {} · checked {}, unchanged",
                changed.map(|t| format!("{} ({})", ui::time(t), ui::ago(t, now))).unwrap_or_else(|| "unknown".into()),
                ui::ago(checked, now)
            );
        }
        Some(r) => {
            let end = &r.end;
            let size = end.size.map(|b| format!(", {}", human_size(b))).unwrap_or_default();
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
    for g in &s.without_good_copy {
        match &g.last_good {
            Some((archive, at)) => println!(
                "NO GOOD COPY: {} for {} (since {archive}, {}); retention keeps that archive",
                g.source,
                lifeboat_core::units::human_duration((now - *at).num_seconds()),
                ui::time(*at)
            ),
            None => println!("NO GOOD COPY: {}: no archive here holds one", g.source),
        }
    }
    match s.next_run {
        Some(t) => println!("Next run:     {} (schedule \"{}\")", ui::time(t), schedule.as_str()),
        None => println!("Next run:     never (schedule \"{}\")", schedule.as_str()),
    }
    println!("Scheduler:    {}{}", s.scheduler.as_str(), scheduler_detail(s.scheduler, s.heartbeat.as_ref(), now));
    println!(
        "Storage:      {} archives, {} used in {}{}",
        s.archives,
        human_size(s.archive_bytes),
        cfg.backup.output_dir.display(),
        s.free_bytes.as_ref().ok().map(|f| format!(", {} free", human_size(*f))).unwrap_or_default()
    );
    if !s.quarantined.is_empty() {
        println!(
            "Quarantine:   {} kept in {} (damaged files a restore replaced; remove them by hand once read):",
            if s.quarantined.len() == 1 { "1 copy".to_string() } else { format!("{} copies", s.quarantined.len()) },
            cfg.backup.output_dir.join(lifeboat_engine::restore::quarantine::FOLDER).display()
        );
        for q in &s.quarantined {
            println!("              {} → {} ({})", q.name, q.dir.display(), human_size(q.bytes));
        }
    }
    for c in &s.continuous {
        let lag = match c.lag_secs {
            Some(secs) if secs > 10.0 * cfg.continuous.interval_secs as f64 => {
                format!("lag {secs:.1} s, over ten intervals: is lifeboat-scheduler running?")
            }
            Some(secs) => format!("lag {secs:.1} s"),
            None => "never captured (is lifeboat-scheduler running as a daemon?)".to_string(),
        };
        let span = c
            .span
            .as_ref()
            .map(|sp| format!(", restore --at reaches {} to {}", ui::time(sp.from), ui::time(sp.to)))
            .unwrap_or_default();
        println!("Continuous:   {} {lag}{span}", c.database);
    }
    let c = s.last_24h;
    let unchanged = if c.unchanged > 0 { format!(", {} unchanged", c.unchanged) } else { String::new() };
    println!("Last 24 h:    {} ok, {} partial, {} failed{unchanged}", c.ok, c.partial, c.failed);
    if cfg.delivery_enabled() {
        println!("Delivery:     enabled, {} admin(s), {} pending", cfg.telegram.admin_ids.len(), s.pending_deliveries);
    } else if s.stores.is_empty() {
        println!("Delivery:     disabled (no telegram.token); archives stay on this server");
    } else {
        println!("Delivery:     no telegram.token: archives go off-site only");
    }
    for (store, latest) in &s.stores {
        let line = match latest {
            None => "nothing sent yet".to_string(),
            Some(c) if c.status == lifeboat_core::state::OutboxStatus::Delivered => {
                format!("{} sent {}", c.archive, ui::ago(c.updated_at, s.now))
            }
            Some(c) => format!(
                "{} {} (attempt {}{})",
                c.archive,
                c.status.as_str(),
                c.attempts,
                c.last_error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ),
        };
        println!("Off-site:     {store}: {line}");
    }
}

/// What backs the scheduler's state: the daemon's pid, or the timer's last cycle.
fn scheduler_detail(state: SchedulerState, hb: Option<&Heartbeat>, now: DateTime<Utc>) -> String {
    let Some(h) = hb else { return String::new() };
    match state {
        SchedulerState::Timer => format!(" (no daemon; a timer runs the cycles; last one {})", ui::ago(h.at, now)),
        SchedulerState::Died => {
            format!(" (pid {} is gone without stopping cleanly; last heartbeat {})", h.pid, ui::ago(h.at, now))
        }
        _ => format!(" (last heartbeat {}, pid {})", ui::ago(h.at, now), h.pid),
    }
}
