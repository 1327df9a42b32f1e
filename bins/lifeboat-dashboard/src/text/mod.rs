//! Every word the dashboard says, in one place. HTML parse mode: everything
//! that comes from outside (file names, errors, event messages) goes
//! through [`esc`]. Functions that mention time take `now`.

use chrono::{DateTime, Utc};
use lifeboat_core::state::{
    AdminHealth, Copy, DbCheck, FailureCode, Incident, Level, OutboxStatus, RunStatus, SchedulerState,
};

use lifeboat_core::fsutil::SpaceError;
use lifeboat_engine::status::StatusSnapshot;

use crate::data::{ArchiveRow, HealthData, LogsData};

pub use lifeboat_telegram::limits::MESSAGE_LIMIT as MAX_MESSAGE;

mod restore;
pub use restore::{restore_busy, restore_confirm, restore_done, restore_failed, restore_plan_failed, restore_started};

/// Button labels.
pub mod button {
    /// Main menu.
    pub const STATUS: &str = "📊 Status";
    /// Main menu.
    pub const BACKUP_NOW: &str = "💾 Backup now";
    /// Main menu.
    pub const LOGS: &str = "📜 Logs";
    /// Main menu.
    pub const HEALTH: &str = "🩺 Health";
    /// Main menu.
    pub const BACKUPS: &str = "📦 Backups";
    /// Every sub-screen.
    pub const BACK: &str = "◀️ Back";
    /// Logs.
    pub const NEXT_PAGE: &str = "Older ▶️";
    /// Logs.
    pub const NEWEST: &str = "⏮ Newest";
    /// Status, Health: read again.
    pub const REFRESH: &str = "🔄 Refresh";
    /// Restore confirmation.
    pub const YES_RESTORE: &str = "⚠️ Yes, restore";
    /// Restore confirmation.
    pub const CANCEL: &str = "✖️ Cancel";
    /// Backups: re-send one archive.
    pub fn resend(row: &crate::data::ArchiveRow) -> String {
        format!("📤 {} · {}", row.archive.created_at.format("%m-%d %H:%M"), super::bytes(row.archive.size))
    }
    /// Backups, owner only.
    pub const RESTORE: &str = "♻️ Restore";
}

/// Escapes text for HTML parse mode (text only: the dashboard writes no
/// attributes).
pub use teloxide::utils::html::escape as esc;

pub use lifeboat_telegram::limits::len as tg_len;

/// Bytes in decimal units, like the upload limit (one formatter for all of Lifeboat).
pub use lifeboat_core::units::human_size as bytes;

/// `2026-11-22 03:15 UTC`
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

use lifeboat_core::units::human_duration as span;

/// "5 min ago", "in 3 h".
pub fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = now.signed_duration_since(t).num_seconds();
    if secs >= 0 { format!("{} ago", span(secs)) } else { format!("in {}", span(-secs)) }
}

/// The main menu.
pub fn menu() -> String {
    "🛟 <b>Lifeboat</b>: backups of the bot's databases.\nChoose:".to_string()
}

/// Scheduler state in words.
pub fn scheduler_line(
    state: SchedulerState,
    hb: Option<&lifeboat_core::state::Heartbeat>,
    now: DateTime<Utc>,
) -> String {
    match (state, hb) {
        (SchedulerState::Running, Some(hb)) => {
            format!("🟢 Running (heartbeat {})", relative(hb.at, now))
        }
        (SchedulerState::Timer, Some(hb)) => {
            format!("🟢 Timer (last cycle {})", relative(hb.at, now))
        }
        (SchedulerState::Died, Some(hb)) => {
            format!("🔴 Died (pid {} is gone; last heartbeat {})", hb.pid, relative(hb.at, now))
        }
        (SchedulerState::Stopped, Some(hb)) if hb.state == lifeboat_core::state::HeartbeatState::Stopped => {
            format!("🔴 Stopped (stopped cleanly {})", relative(hb.at, now))
        }
        (SchedulerState::Stopped, Some(hb)) => {
            format!("🔴 Stopped (last heartbeat {}; is lifeboat-scheduler running?)", relative(hb.at, now))
        }
        _ => "⚪ Unknown (no heartbeat yet; is lifeboat-scheduler installed?)".to_string(),
    }
}

fn run_status(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Ok => "✅ ok",
        RunStatus::Partial => "⚠️ partial",
        RunStatus::Failed => "❌ failed",
        RunStatus::Interrupted => "❌ interrupted",
        RunStatus::Running => "⏳ running",
        RunStatus::Unchanged => "✅ unchanged",
    }
}

/// 📊 Status.
pub fn status(d: &StatusSnapshot, now: DateTime<Utc>) -> String {
    let mut s = String::from("📊 <b>Status</b>\n\n");
    s += &incidents(&d.incidents, now);
    s += &format!("Scheduler: {}\n", scheduler_line(d.scheduler, d.heartbeat.as_ref(), now));
    match &d.last_run {
        // Nothing changed: say when the data last did, and that it was checked.
        Some(r) if r.status == RunStatus::Unchanged => {
            let checked = r.finished_at.unwrap_or(r.started_at);
            let changed = r.end.archive.as_deref().and_then(lifeboat_core::catalog::parse_name);
            match changed {
                Some(t) => s += &format!("Last change backed up: {} ({})", time(t), relative(t, now)),
                None => s += "Last change backed up: unknown",
            }
            s += &format!(" · checked {}, unchanged\n", relative(checked, now));
        }
        Some(r) => {
            let at = r.finished_at.unwrap_or(r.started_at);
            s += &format!("Last backup: {} ({}), {}", time(at), relative(at, now), run_status(r.status));
            let end = &r.end;
            if let Some(size) = end.size {
                s += &format!(", {}", bytes(size));
            }
            s += &format!(", {} database{}", end.databases_ok, plural(end.databases_ok as u64));
            if end.databases_skipped > 0 {
                s += &format!(" ({} skipped)", end.databases_skipped);
            }
            s += "\n";
            if r.status != RunStatus::Ok
                && let Some(detail) = &end.detail
            {
                s += &format!("  <i>{}</i>\n", esc(&clip(detail, 300)));
            }
        }
        None => s += "Last backup: none yet\n",
    }
    for g in &d.without_good_copy {
        match &g.last_good {
            Some((archive, at)) => {
                s += &format!(
                    "🔴 No good copy of <b>{}</b> since {} ({}): the newest is <code>{}</code>, kept\n",
                    esc(&g.source),
                    time(*at),
                    relative(*at, now),
                    esc(archive)
                )
            }
            None => s += &format!("🔴 No good copy of <b>{}</b> in any archive here\n", esc(&g.source)),
        }
    }
    match d.next_run {
        Some(t) => s += &format!("Next run: {} ({})\n", time(t), relative(t, now)),
        None => s += "Next run: unknown\n",
    }
    s += &continuous(&d.continuous);
    let c = d.last_24h;
    s += &format!("Last 24 h: {} ok, {} partial, {} failed", c.ok, c.partial, c.failed);
    if c.unchanged > 0 {
        s += &format!(", {} unchanged", c.unchanged);
    }
    s += "\n";
    s += &format!("Archives: {} using {}\n", d.archives, bytes(d.archive_bytes));
    s += &format!("Free disk: {}\n", free(&d.free_bytes));
    if !d.quarantined.is_empty() {
        s += &format!(
            "Quarantine: {} damaged cop{} kept by restores (remove by hand once read)\n",
            d.quarantined.len(),
            if d.quarantined.len() == 1 { "y" } else { "ies" }
        );
    }
    s += &format!("\n<i>as of {}</i>", now.format("%H:%M:%S UTC"));
    s
}

/// `[continuous]`: each database's lag and the moments `restore --at`
/// reaches, a line each.
fn continuous(all: &[lifeboat_engine::status::ContinuousStatus]) -> String {
    let seconds = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let mut s = String::new();
    for c in all {
        let lag = match c.lag_secs {
            Some(secs) => format!("lag {secs:.1} s"),
            None => "never captured (is lifeboat-scheduler running as a daemon?)".to_string(),
        };
        let span = c
            .span
            .as_ref()
            .map(|sp| format!(", restore --at reaches {} to {}", seconds(sp.from), seconds(sp.to)))
            .unwrap_or_default();
        s += &format!("Continuous: <b>{}</b> {lag}{span}\n", esc(&c.database));
    }
    s
}

/// Open incidents, first on Status and Health: what needs people now.
fn incidents(open: &[Incident], now: DateTime<Utc>) -> String {
    let mut s = String::new();
    for i in open {
        s += &format!(
            "🔴 <b>{}</b> (since {})\n  <i>{}</i>\n",
            lifeboat_cycle::watch::title(i.kind),
            relative(i.opened_at, now),
            esc(&clip(&i.detail, 300))
        );
    }
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

fn free(f: &Result<u64, SpaceError>) -> String {
    match f {
        Ok(n) => bytes(*n),
        Err(e) => format!("unknown ({})", esc(&e.to_string())),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Cuts `s` to at most `max` characters, marking the cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}

/// One admin's delivery health in words.
pub fn admin_health(h: Option<&AdminHealth>, now: DateTime<Utc>) -> String {
    let Some(h) = h else { return "nothing sent yet".to_string() };
    let err = h.last_error.as_deref().unwrap_or("");
    let last = match h.last_delivered_at {
        Some(t) => format!("last delivery {}", relative(t, now)),
        None => "never received a backup".to_string(),
    };
    match (h.status, h.error_code) {
        // A Telegram row is never retired: that is for stores.
        (OutboxStatus::Delivered | OutboxStatus::Superseded | OutboxStatus::Retired, _) => format!("✅ ok, {last}"),
        (_, Some(FailureCode::NeverStarted)) => format!("❌ never started the bot — ask them to press Start ({last})"),
        (_, Some(FailureCode::Blocked)) => format!("❌ blocked the bot — ask them to unblock it ({last})"),
        (_, Some(FailureCode::ChatNotFound)) => {
            format!("❌ chat not found — wrong id in telegram.admin_ids, or they never started the bot ({last})")
        }
        (_, Some(FailureCode::Deactivated)) => {
            format!("❌ account deleted — remove it from telegram.admin_ids ({last})")
        }
        (OutboxStatus::Failed, _) => format!("❌ failed: {} ({last})", esc(&clip(err, 200))),
        (OutboxStatus::Pending, _) if err.is_empty() => format!("⏳ waiting for delivery ({last})"),
        (OutboxStatus::Pending, _) => format!("⏳ retrying: {} ({last})", esc(&clip(err, 200))),
    }
}

fn db_check(c: Option<&DbCheck>, now: DateTime<Utc>) -> String {
    match c {
        None => "⚪ never checked".to_string(),
        Some(c) if c.ok => {
            let mut s = format!("✅ ok {}", relative(c.checked_at, now));
            if let Some(size) = c.size {
                s += &format!(", {}", bytes(size));
            }
            s
        }
        Some(c) => format!("❌ {} ({})", esc(&clip(&c.detail, 200)), relative(c.checked_at, now)),
    }
}

/// 🩺 Health.
pub fn health(d: &HealthData, now: DateTime<Utc>) -> String {
    let mut s = String::from("🩺 <b>Health</b>\n\n");
    s += &incidents(&d.incidents, now);
    s += &format!("Disk: {} free in <code>{}</code>\n", free(&d.free_bytes), esc(&d.output_dir));
    match &d.reverified {
        Some(v) if v.ok => {
            s += &format!("Re-verified: <code>{}</code> ✅ {}\n", esc(&v.archive), relative(v.verified_at, now))
        }
        Some(v) => {
            s += &format!(
                "Re-verified: <code>{}</code> ❌ {}: {}\n",
                esc(&v.archive),
                relative(v.verified_at, now),
                esc(&clip(&v.detail, 200))
            )
        }
        None => s += "Re-verified: not yet (each cycle reads back one stored archive)\n",
    }
    s += &format!("Scheduler: {}\n", scheduler_line(d.scheduler, d.heartbeat.as_ref(), now));
    if let Some(hb) = &d.heartbeat {
        s += &format!("Heartbeat age: {}\n", span(now.signed_duration_since(hb.at).num_seconds().max(0)));
    }
    s += "\n<b>Databases</b> (last integrity check)\n";
    for (name, check) in &d.databases {
        s += &format!("• <code>{}</code>: {}\n", esc(name), db_check(check.as_ref(), now));
    }
    s += "\n<b>Admins</b> (delivery)\n";
    if d.admins.is_empty() {
        s += "• none configured (telegram.admin_ids)\n";
    }
    for (id, h) in &d.admins {
        s += &format!("• <code>{id}</code>: {}\n", admin_health(h.as_ref(), now));
    }
    if !d.destinations.is_empty() {
        s += "\n<b>Other destinations</b>\n";
        for (id, c) in &d.destinations {
            s += &format!("• <code>{}</code>: {}\n", esc(&id.to_string()), destination_health(c.as_ref(), now));
        }
    }
    s
}

/// Where a bucket, Discord or email stands: its latest outbox row.
pub fn destination_health(c: Option<&Copy>, now: DateTime<Utc>) -> String {
    let Some(c) = c else { return "nothing sent yet".to_string() };
    let err = esc(&clip(c.last_error.as_deref().unwrap_or(""), 200));
    let archive = esc(&c.archive);
    match c.status {
        OutboxStatus::Delivered => format!("✅ <code>{archive}</code> sent {}", relative(c.updated_at, now)),
        OutboxStatus::Failed => format!("❌ refused <code>{archive}</code>: {err}"),
        OutboxStatus::Pending if err.is_empty() => format!("⏳ <code>{archive}</code> waiting to be sent"),
        OutboxStatus::Pending => format!("⏳ retrying <code>{archive}</code> ({} attempts): {err}", c.attempts),
        OutboxStatus::Retired => format!("✅ <code>{archive}</code> retired by retention"),
        OutboxStatus::Superseded => format!("✅ <code>{archive}</code> no longer owed: a newer archive went"),
    }
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Info => "ℹ️",
        Level::Warn => "⚠️",
        Level::Error => "❌",
    }
}

/// 📜 Logs: the text and how many events it shows (trimmed to fit).
pub fn logs(d: &LogsData) -> (String, usize) {
    let header = if d.offset == 0 {
        "📜 <b>Logs</b> (newest first)\n\n".to_string()
    } else {
        format!("📜 <b>Logs</b> (newest first, from #{})\n\n", d.offset + 1)
    };
    if d.events.is_empty() {
        return (header + "No events.", 0);
    }
    // Room for the footer saying some were left for the next page.
    let budget = MAX_MESSAGE - 64;
    let mut s = header;
    let mut shown = 0;
    for e in &d.events {
        let line = format!(
            "{} <code>{}</code> {} <i>{}</i>: {}\n",
            level(e.level),
            e.at.format("%m-%d %H:%M:%S"),
            e.level.as_str(),
            esc(&e.source),
            esc(&clip(&e.message, 400))
        );
        if tg_len(&s) + tg_len(&line) > budget {
            break;
        }
        s += &line;
        shown += 1;
    }
    if shown < d.events.len() || d.more {
        s += "\n<i>Older events: next page.</i>";
    }
    (s, shown)
}

/// 📦 Backups.
pub fn backups(rows: &[ArchiveRow], is_owner: bool, now: DateTime<Utc>) -> String {
    let mut s = String::from("📦 <b>Backups</b> (newest first)\n\n");
    if rows.is_empty() {
        return s + "No archives yet. Press 💾 Backup now to make one.";
    }
    for r in rows {
        let verified = match r.verified {
            Some(true) => "✅ verified",
            Some(false) => "⚠️ not verified",
            None => "❔ no record",
        };
        let mut parts =
            if r.archive.files.len() > 1 { format!(", {} parts", r.archive.files.len()) } else { String::new() };
        if r.archive.is_differential() {
            parts += ", differential (needs its full base)";
        }
        s += &format!(
            "• <code>{}</code>\n  {} ({}), {}{}, {verified}, delivered to {} admin{}\n",
            esc(&r.archive.name),
            time(r.archive.created_at),
            relative(r.archive.created_at, now),
            bytes(r.archive.size),
            parts,
            r.delivered_to,
            plural(r.delivered_to as u64)
        );
    }
    s += "\nPress an archive to get it here again.";
    if is_owner {
        s += " ♻️ Restore replaces the live databases (asks first).";
    }
    s
}

/// Backup now: started.
pub fn backup_started(now: DateTime<Utc>) -> String {
    format!("💾 <b>Backup now</b>\n\nStarted at {}… This message changes when it is done.", now.format("%H:%M:%S UTC"))
}

/// Backup now: this process is already running one.
pub fn backup_already_running(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!(
        "💾 A backup started from the dashboard is already running (since {}). Wait for its result here.",
        relative(since, now)
    )
}

/// Toast for a second press.
pub const TOAST_ALREADY_RUNNING: &str = "A backup is already running.";

/// Backup now: another process holds the cycle lock.
pub fn backup_busy(holder: &str) -> String {
    format!(
        "💾 <b>Backup now</b>\n\n⏳ Another backup cycle is running ({}). Try again when it has finished.",
        esc(holder)
    )
}

/// Backup now: the result.
pub fn backup_done(summary: &str, ok: bool) -> String {
    let head = if ok { "✅ Backup finished" } else { "⚠️ Backup finished with problems" };
    format!("💾 <b>{head}</b>\n\n{}", esc(&clip(summary, 3500)))
}

/// Backup now: failed.
pub fn backup_failed(error: &str) -> String {
    format!("💾 <b>❌ Backup failed</b>\n\n{}", esc(&clip(error, 3500)))
}

/// Alert after "Acknowledge": what it changed.
pub fn unpinned(archive: &str) -> String {
    format!("Acknowledged. {archive} is no longer pinned: retention may remove it with the other old archives.")
}

/// Alert: an admin who is not the owner pressed "Acknowledge".
pub fn unpin_owner_only(archive: &str) -> String {
    format!("Only the owner can acknowledge a shrink alert: {archive} stays pinned.")
}

/// Alert: "Acknowledge" against an archive pinned by hand.
pub fn pinned_by_hand(archive: &str) -> String {
    format!("{archive} was pinned by hand (lifeboat pin) and stays pinned; remove that pin with `lifeboat unpin`.")
}

/// Toast: "Acknowledge" pressed again, or after `lifeboat unpin`.
pub fn already_unpinned(archive: &str) -> String {
    format!("{archive} is not pinned (already acknowledged).")
}

/// Toast: the re-send has started; the document itself is the result.
pub fn resending(name: &str) -> String {
    format!("📤 Sending {name}…")
}

/// Message when a re-send failed.
pub fn resend_failed(error: &str) -> String {
    clip(&format!("Could not send it: {error}"), 190)
}

/// Toast: a re-send while delivery is disabled.
pub const TOAST_ARCHIVE_GONE: &str = "That archive is no longer on disk; open 📦 Backups again.";

/// Alert: the confirmation is stale or was never given.
pub const ALERT_CONFIRMATION_EXPIRED: &str =
    "This confirmation has expired or was already used. Open 📦 Backups and press ♻️ Restore again.";

/// Alert: restore is for the owner.
pub const ALERT_OWNER_ONLY: &str = "Only the owner can restore from Telegram.";

/// Alert: a job is running in this dashboard.
pub const ALERT_JOB_RUNNING: &str = "A backup or restore started from the dashboard is still running.";

/// Reply to a stranger's message.
pub const REFUSAL: &str = "Sorry, this bot is private.";

/// Answer to the dashboard asked for in a group chat.
pub const PRIVATE_ONLY: &str = "The dashboard opens only in a private chat with me, so group members never see backup details. Message me directly and send /admin.";

/// Alert for a stranger's button press.
pub const REFUSAL_ALERT: &str = "Not allowed: this bot is private.";

/// Toast for buttons this version did not make (an old message, or forged).
pub const TOAST_UNKNOWN_BUTTON: &str = "This button is out of date. Send /admin for a fresh menu.";

/// Toast when the message can no longer be edited.
pub const TOAST_SENT_NEW: &str = "Sent as a new message.";

/// Toast for an internal error; details go to the logs.
pub fn error_toast(error: &str) -> String {
    clip(&format!("Error: {error}"), 190)
}

/// A screen that failed to load.
pub fn screen_error(what: &str, error: &str) -> String {
    format!("❌ Cannot show {what}: {}", esc(&clip(error, 3500)))
}

/// Event logged for every refused attempt.
pub fn refused_event(user_id: i64, username: Option<&str>, what: &str) -> String {
    match username {
        Some(u) => format!("refused {what} from user {user_id} (@{u}): not an admin"),
        None => format!("refused {what} from user {user_id}: not an admin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OutboxStatus as CopyStatus;

    #[test]
    fn escaping_and_units() {
        assert_eq!(esc("<b>&\"x\"</b>"), "&lt;b&gt;&amp;\"x\"&lt;/b&gt;");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
        assert_eq!(tg_len("📊"), 2);
    }

    #[test]
    fn each_destination_says_where_it_stands() {
        let now = Utc::now();
        let row = |status, attempts, err: Option<&str>| Copy {
            archive: "database_backup_20261123_100000.zip".into(),
            destination: lifeboat_core::destination::DestinationId::DISCORD,
            status,
            attempts,
            error_code: None,
            last_error: err.map(str::to_string),
            size: None,
            updated_at: now - chrono::Duration::minutes(5),
            progress: 0,
        };
        assert_eq!(destination_health(None, now), "nothing sent yet");
        let sent = destination_health(Some(&row(CopyStatus::Delivered, 1, None)), now);
        assert!(sent.starts_with("✅ <code>database_backup_20261123_100000.zip</code> sent 5 min"), "{sent}");
        let retrying = destination_health(Some(&row(CopyStatus::Pending, 2, Some("rate limited <by> Discord"))), now);
        assert!(
            retrying.contains("⏳ retrying") && retrying.contains("(2 attempts): rate limited &lt;by&gt; Discord"),
            "{retrying}"
        );
        let refused = destination_health(Some(&row(CopyStatus::Failed, 1, Some("535 bad login"))), now);
        assert!(refused.starts_with("❌ refused") && refused.ends_with("535 bad login"), "{refused}");
    }
}
