//! `/backup now` and `/backup status`.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use lifeboat_core::state::{RunStatus, SchedulerState};
use lifeboat_core::units::human_size;
use lifeboat_core::{Trigger, exit};
use lifeboat_cycle::{CycleError, CycleReport};
use lifeboat_engine::backup::BackupError;
use twilight_model::application::interaction::Interaction;

use crate::App;
use crate::discord::Say;
use crate::text::{code, time};

/// `/backup now`: one backup cycle with delivery, as the scheduler runs it
/// (the same lock, destinations and retention). The deferred answer is
/// edited when it starts and when it ends; a cycle longer than the
/// interaction token's 15 minutes reports by DM instead.
pub async fn now(app: Arc<App>, interaction: Interaction) {
    app.defer(&interaction, true).await;
    let token = interaction.token.clone();
    app.edit(&token, &Say::private("⏳ Backing up… this message changes when it is done.")).await;
    let started = Instant::now();
    let cfg = app.cfg.clone();
    let cancel = app.cancel.child_token();
    // A task of its own, so a panic inside the cycle is reported, not fatal.
    let ran = tokio::spawn(async move { lifeboat_cycle::run_cycle(&cfg, Trigger::Dashboard, cancel).await }).await;
    let took = started.elapsed().as_secs_f64();
    let text = match ran {
        Ok(Ok(report)) => {
            let cfg = app.cfg.clone();
            let verified = match &report.backup {
                Ok(o) => {
                    let name = o.archive.name.clone();
                    tokio::task::spawn_blocking(move || {
                        cfg.open_state().ok()?.run_for_archive(&name).ok()?.map(|r| r.end.verified)
                    })
                    .await
                    .ok()
                    .flatten()
                }
                Err(_) => None,
            };
            done(&report, verified, took)
        }
        Ok(Err(CycleError::Busy { holder })) => busy(&holder),
        Ok(Err(e)) => format!("❌ **Backup failed**\n{e}"),
        Err(e) => format!("❌ **Backup failed**: the backup task stopped: {e}"),
    };
    let say = Say::private(text);
    if !app.edit(&token, &say).await
        && let Some(user) = interaction.author_id()
        && let Err(e) = app.dm(user, &say.content).await
    {
        tracing::warn!("cannot tell the result of /backup now: {e}");
    }
}

/// The result of a cycle: the archive's name, size, databases, duration,
/// and the cycle's own summary (delivery, retention).
pub fn done(report: &CycleReport, verified: Option<bool>, took_secs: f64) -> String {
    let ok = report.exit_code() == exit::SUCCESS;
    let mut s = match &report.backup {
        Ok(o) => {
            let m = &o.manifest;
            let head = if ok { "✅ **Backup done**" } else { "⚠️ **Backup partial**" };
            format!(
                "{head}: {}\nSize: {} · Files: {} · Databases: {} of {} · Took {took_secs:.1} s · Verified: {}\n",
                code(&o.archive.name),
                human_size(o.archive.size),
                o.archive.files.len(),
                m.databases.len(),
                m.databases.len() + m.skipped.len(),
                match verified {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "unknown",
                },
            )
        }
        Err(BackupError::Unchanged { archive }) => {
            format!("✅ **Nothing changed** since {}: no archive written. Took {took_secs:.1} s\n", code(archive))
        }
        Err(_) => format!("❌ **Backup failed** after {took_secs:.1} s\n"),
    };
    s += &format!("```\n{}\n```", crate::text::clip(report.summary().trim_end(), 1500));
    s
}

fn busy(holder: &str) -> String {
    format!("⏳ **Not started**: a backup or restore is running ({holder}). Try again when it has finished.")
}

/// `/backup status`: what `lifeboat status` shows, in short.
pub async fn status(app: Arc<App>, interaction: Interaction) {
    app.defer(&interaction, true).await;
    let cfg = app.cfg.clone();
    let text = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let st = cfg.open_state()?;
        let now = Utc::now();
        Ok(status_text(&lifeboat_engine::status::snapshot(&cfg, Some(&st), now)?))
    })
    .await;
    let text = match text {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => format!("❌ Cannot read the status: {e}"),
        Err(e) => format!("❌ Cannot read the status: {e}"),
    };
    app.edit(&interaction.token, &Say::private(text)).await;
}

/// The status in a few lines.
pub fn status_text(d: &lifeboat_engine::status::StatusSnapshot) -> String {
    let mut s = String::from("📊 **Status**\n");
    let scheduler = match d.scheduler {
        SchedulerState::Running => "running",
        SchedulerState::Timer => "timer (runs on schedule)",
        SchedulerState::Stopped => "STOPPED",
        SchedulerState::Died => "DIED (killed without stopping)",
        SchedulerState::Unknown => "never seen",
    };
    s += &format!("Scheduler: {scheduler}");
    if let Some(next) = d.next_run {
        s += &format!(" · next backup {}", time(next));
    }
    s += "\n";
    match &d.last_run {
        Some(r) => {
            let at = r.finished_at.unwrap_or(r.started_at);
            let status = match r.status {
                RunStatus::Ok => "ok",
                RunStatus::Partial => "PARTIAL",
                RunStatus::Failed => "FAILED",
                RunStatus::Unchanged => "unchanged",
                RunStatus::Interrupted => "interrupted",
                RunStatus::Running => "running",
            };
            s += &format!("Last backup: {} ({status})", time(at));
            if let Some(a) = &r.end.archive {
                s += &format!(" {}", code(a));
            }
            if let Some(size) = r.end.size {
                s += &format!(", {}", human_size(size));
            }
            s += &format!(", {} databases", r.end.databases_ok);
            if r.end.databases_skipped > 0 {
                s += &format!(" ({} skipped)", r.end.databases_skipped);
            }
            s += "\n";
        }
        None => s += "Last backup: none yet\n",
    }
    let c = &d.last_24h;
    s += &format!("Last 24 h: {} ok, {} partial, {} failed, {} unchanged\n", c.ok, c.partial, c.failed, c.unchanged);
    s += &format!("Archives: {} ({})", d.archives, human_size(d.archive_bytes));
    match &d.free_bytes {
        Ok(free) => s += &format!(" · free: {}\n", human_size(*free)),
        Err(_) => s += " · free: unknown\n",
    }
    if d.pending_deliveries > 0 {
        s += &format!("Deliveries pending: {}\n", d.pending_deliveries);
    }
    for i in &d.incidents {
        s += &format!("🔴 Since {}: {}\n", time(i.opened_at), crate::text::clip(&i.detail, 300));
    }
    for w in &d.warnings {
        s += &format!("⚠️ {}\n", crate::text::clip(w, 300));
    }
    s
}
