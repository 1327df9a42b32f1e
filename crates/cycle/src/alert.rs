//! The one message the admins get when a cycle needs them.

use lifeboat_engine::backup::BackupError;

use crate::report::{CycleReport, Delivery, advice_for};

/// The alert for the admins, if this cycle needs one: a failed or partial
/// backup, admins Telegram refuses to reach, or retention failing. An
/// interrupted cycle (a deliberate stop) gets none.
pub fn alert_text(report: &CycleReport) -> Option<String> {
    let mut lines = Vec::new();
    let when = report.started_at.format("%Y-%m-%d %H:%M UTC");
    match &report.backup {
        Err(BackupError::Cancelled) => return None,
        // Nothing changed: nothing to say; only delivery or retention could.
        Err(BackupError::Unchanged { .. }) => {}
        Err(e) => {
            lines.push(format!("❌ Lifeboat: the {} backup of {when} failed.", report.trigger));
            lines.push(format!("Why: {e}"));
            lines.push("No new archive was written. Run `lifeboat diagnose` on the server.".into());
        }
        Ok(o) if !o.manifest.skipped.is_empty() => {
            lines.push(format!(
                "⚠️ Lifeboat: the {} backup of {when} is partial: {} of {} databases in {}.",
                report.trigger,
                o.manifest.databases.len(),
                o.manifest.databases.len() + o.manifest.skipped.len(),
                o.archive.name
            ));
            for sk in &o.manifest.skipped {
                lines.push(format!("Skipped {}: {}", sk.name, sk.reason));
                if let Some(command) = report.advice_for_skipped(&sk.name) {
                    lines.push(format!("Its newest good copy: {command}"));
                }
            }
            lines.push("Run `lifeboat diagnose` on the server.".into());
        }
        Ok(_) => {}
    }
    if let Delivery::Done(d) = &report.delivery {
        for f in &d.failed {
            lines.push(format!(
                "⚠️ {} could not be delivered to {}: {} ({}).",
                d.archive,
                f.chat,
                f.reason,
                advice_for(f.code)
            ));
        }
    }
    if let Some(e) = &report.retention_error {
        lines.push(format!("⚠️ Old archives could not be removed: {e}. Check free space on the server."));
    }
    if lines.is_empty() {
        return None;
    }
    // Each destination fits it to its own limits.
    Some(lines.join("\n"))
}
