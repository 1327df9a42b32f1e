//! `lifeboat diagnose`: integrity of the live databases (checked on
//! snapshots, never on the live files, so the bot is not held up), storage,
//! state, scheduler and delivery; for each, what is wrong and what to do.
//!
//! [`run`] gathers the facts (file system, SQLite, state database); the
//! judgments are pure functions of those facts and of `now`, so tests fix
//! the clock.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

pub use lifeboat_core::finding;

pub use finding::{Finding, Severity};

use crate::config::Config;
use lifeboat_core::state::{Heartbeat, OutboxStatus, RunStatus, SchedulerState, State};
use lifeboat_core::units::human_size;

/// Everything diagnose found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnosis {
    /// In the order checked: databases, storage, state, scheduler, delivery.
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// The worst level found (Ok when there is nothing).
    pub fn worst(&self) -> Severity {
        self.findings.iter().map(|f| f.level).max().unwrap_or(Severity::Ok)
    }
    /// True when some finding is an error.
    pub fn has_errors(&self) -> bool {
        self.worst() == Severity::Error
    }
}

/// What each kind of source finds about its configured sources (a server
/// answers and its tools work, paths name readable files), with the size
/// each had in the newest archive.
fn check_sources(cfg: &Config, last: Option<&lifeboat_core::manifest::Manifest>) -> Vec<Finding> {
    let setup = cfg.source_setup();
    lifeboat_core::source::KINDS.iter().flat_map(|k| k.diagnose(&setup, last)).collect()
}

/// The advice for a damaged database: its rows newer than any archive are
/// read back before a restore replaces it.
fn salvage_first(name: &str, restore_hint: &str) -> String {
    format!(
        "first read back the rows it still holds with `lifeboat salvage {name}` (it may hold rows newer than any \
         archive), then {restore_hint}"
    )
}

/// A `-wal` file larger than this suggests the bot never checkpoints.
pub const LARGE_WAL_BYTES: u64 = 256 * 1024 * 1024;
/// A cycle may take this long after its fire time before it counts as missed.
pub const CYCLE_GRACE_MINUTES: i64 = 15;

/// Runs every check at `now`. Never writes to the live databases; creates
/// nothing but temporary snapshots (removed before returning).
pub fn run(cfg: &Config, now: DateTime<Utc>) -> Diagnosis {
    let mut findings = Vec::new();
    let known = cfg.state_path().exists().then(|| State::open(&cfg.state_path()).ok()).flatten();
    for name in &cfg.backup.databases {
        let hint = match crate::retention::restore_advice(cfg, known.as_ref(), name) {
            Some(command) => format!("restore it with {command} (its newest good copy; see `lifeboat list`)"),
            None => format!(
                "no archive here holds a good copy of {name}: fetch one from an off-site copy (see `lifeboat list --remote`)"
            ),
        };
        findings.extend(check_database_with(&cfg.backup.source_dir.join(name), name, &hint));
    }
    let archives = lifeboat_core::catalog::list(&cfg.backup.output_dir);
    let newest = archives.as_ref().ok().and_then(|a| a.first());
    let last = newest.and_then(|a| lifeboat_core::verify::known_manifest(a, &cfg.encryption.keys, None).ok());
    findings.extend(check_sources(cfg, last.as_ref()));
    findings.push(check_output_dir(&cfg.backup.output_dir));
    findings.extend(check_secret_permissions(cfg));
    let last_archive_size = newest.map(|a| a.size);
    match lifeboat_core::fsutil::space_for(&cfg.backup.output_dir) {
        Ok(free) => findings.push(judge_space(free, last_archive_size)),
        Err(e) => findings.push(Finding::warn(
            "disk",
            e.to_string(),
            "check that backup.output_dir is on a mounted file system",
        )),
    }
    if let Err(e) = &archives {
        findings.push(Finding::error("archives", e.to_string(), "fix the permissions of backup.output_dir"));
    }

    let state_path = cfg.state_path();
    let newest_archive = archives.as_ref().ok().and_then(|a| a.first()).map(|a| a.created_at);
    let schedule = &cfg.schedule.cron;
    if !state_path.exists() {
        findings.push(Finding::warn(
            "state",
            format!("no state database yet at {}", state_path.display()),
            "run `lifeboat backup` (or start the scheduler) once; it is created then",
        ));
        findings.push(judge_scheduler(None, now));
        findings.push(judge_staleness(newest_archive, schedule, now));
        findings.extend(judge_delivery(cfg, &[]));
        return Diagnosis { findings };
    }
    let state = match State::open(&state_path) {
        Ok(s) => s,
        Err(e) => {
            findings.push(Finding::error(
                "state",
                e.to_string(),
                "check the file's owner and permissions; if it is corrupt, move it aside (history is lost, archives are not)",
            ));
            findings.extend(judge_delivery(cfg, &[]));
            return Diagnosis { findings };
        }
    };
    findings.push(Finding::ok("state", format!("state database {} is readable", state_path.display())));
    let hb = state.heartbeat(lifeboat_core::state::Process::Scheduler).ok().flatten();
    findings.push(judge_scheduler(hb.as_ref(), now));
    let last_success = state
        .runs(500)
        .ok()
        .and_then(|runs| {
            runs.into_iter().find(|r| matches!(r.status, RunStatus::Ok | RunStatus::Partial)).map(|r| r.started_at)
        })
        .into_iter()
        .chain(newest_archive)
        .max();
    findings.push(judge_staleness(last_success, schedule, now));
    let failed: Vec<(i64, String)> = state
        .admin_health()
        .unwrap_or_default()
        .into_iter()
        .filter(|h| h.status == OutboxStatus::Failed && cfg.telegram.admin_ids.contains(&h.chat_id))
        .map(|h| (h.chat_id, h.last_error.unwrap_or_else(|| "unknown error".into())))
        .collect();
    findings.extend(judge_delivery(cfg, &failed));
    Diagnosis { findings }
}

/// How this process's snapshot folders in the system temporary folder start
/// (they hold copies of live databases): a CLI stopped by a signal removes
/// exactly its own.
pub fn scratch_prefix() -> String {
    format!("lifeboat-diagnose-{}-", std::process::id())
}

/// Checks one live database: exists, size, header, journal mode, leftover
/// `-wal`, and integrity on a snapshot taken into a temporary folder.
pub fn check_database(path: &Path, name: &str) -> Vec<Finding> {
    check_database_with(
        path,
        name,
        &format!("restore it with `lifeboat restore latest --only {name}` (see `lifeboat list`)"),
    )
}

/// [`check_database`] advising `restore_hint` when the database is lost.
fn check_database_with(path: &Path, name: &str, restore_hint: &str) -> Vec<Finding> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![Finding::error(
                name,
                format!("missing: {} does not exist", path.display()),
                format!("{restore_hint}, or fix backup.source_dir / backup.databases if the name is wrong"),
            )];
        }
        Err(e) => {
            return vec![Finding::error(
                name,
                format!("cannot read {}: {e}", path.display()),
                "give the Lifeboat user read access to the database and its folder",
            )];
        }
    };
    if !meta.is_file() {
        // Checked first: reading a pipe would block forever.
        return vec![Finding::error(
            name,
            format!("{} is not a regular file (a folder, a device or a pipe)", path.display()),
            format!("move it away, then {restore_hint}"),
        )];
    }
    if meta.len() == 0 {
        return vec![Finding::error(name, "empty file (0 bytes), not a database", restore_hint)];
    }
    let wal = match lifeboat_core::integrity::Header::read(path) {
        Ok(h) => h.wal,
        Err(lifeboat_core::integrity::IntegrityError::Io(e)) => {
            return vec![Finding::error(name, format!("cannot read: {e}"), "check the file's permissions")];
        }
        Err(e) => return vec![Finding::error(name, e.to_string(), restore_hint)],
    };
    let mut out = Vec::new();
    let wal_path = sidecar(path, "-wal");
    let wal_size = std::fs::metadata(&wal_path).map(|m| m.len()).ok();
    out.extend(judge_wal(name, wal, wal_size));

    let integrity = (|| -> Result<lifeboat_core::integrity::IntegrityReport, Unchecked> {
        let scratch = tempfile::Builder::new()
            .prefix(&scratch_prefix())
            .tempdir()
            .map_err(|e| Unchecked::Other(e.to_string()))?;
        let snap = lifeboat_core::snapshot::take(path, &scratch.path().join(name), &Default::default())
            .map_err(Unchecked::Snapshot)?;
        lifeboat_core::integrity::check(&snap.path).map_err(|e| Unchecked::Other(e.to_string()))
    })();
    match integrity {
        Ok(r) if r.ok => {
            let rows: u64 = r.tables.iter().map(|t| t.rows).sum();
            out.insert(
                0,
                Finding::ok(
                    name,
                    format!(
                        "integrity ok; {}, {} tables, {rows} rows, {} journal",
                        human_size(meta.len()),
                        r.tables.len(),
                        if wal { "WAL" } else { "rollback" }
                    ),
                ),
            );
        }
        Ok(r) => {
            out.insert(0, Finding::error(name, format!("corrupt: {}", r.summary()), salvage_first(name, restore_hint)))
        }
        Err(why) => out.insert(
            0,
            Finding::error(
                name,
                format!("cannot snapshot: {why}"),
                if matches!(why, Unchecked::Snapshot(lifeboat_core::snapshot::SkipReason::Locked(_))) {
                    "find the process holding a long write transaction (the bot?) and let it finish".to_string()
                } else {
                    salvage_first(name, restore_hint)
                },
            ),
        ),
    }
    out
}

/// Why a live database could not be checked.
#[derive(Debug, thiserror::Error)]
enum Unchecked {
    /// No snapshot of it could be taken.
    #[error("{0}")]
    Snapshot(lifeboat_core::snapshot::SkipReason),
    /// The scratch folder, or the check of the snapshot, failed.
    #[error("{0}")]
    Other(String),
}

fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

/// Judges a database's `-wal` file.
pub fn judge_wal(name: &str, wal_mode: bool, wal_size: Option<u64>) -> Option<Finding> {
    match (wal_mode, wal_size) {
        (true, Some(n)) if n > LARGE_WAL_BYTES => Some(Finding::warn(
            name,
            format!("its -wal file is {}; the bot's connections never let SQLite checkpoint", human_size(n)),
            "make sure the bot does not keep a read transaction open forever; `PRAGMA wal_checkpoint(TRUNCATE)` while it is idle shrinks it",
        )),
        (false, Some(n)) if n > 0 => Some(Finding::warn(
            name,
            format!("a leftover -wal file of {} next to a rollback-journal database", human_size(n)),
            "stop the bot and open the database once with sqlite3 so SQLite recovers the -wal, then remove it if empty",
        )),
        _ => None,
    }
}

/// A secret file other users may read is a warning, as ssh warns about a
/// private key: the secret still works, but is no longer only ours.
fn check_secret_permissions(cfg: &Config) -> Vec<Finding> {
    cfg.exposed_secret_files()
        .into_iter()
        .map(|w| {
            Finding::warn(
                "secrets",
                w,
                "remove the other users' access with the chmod above; Lifeboat only needs to read it itself",
            )
        })
        .collect()
}

fn check_output_dir(dir: &Path) -> Finding {
    if !dir.exists() {
        return Finding::warn(
            "output_dir",
            format!("{} does not exist yet", dir.display()),
            "it is created by the first backup; check that its parent is writable",
        );
    }
    match tempfile::Builder::new().prefix(".lifeboat-diagnose-").suffix(".tmp").tempfile_in(dir) {
        Ok(_) => Finding::ok("output_dir", format!("{} is writable", dir.display())),
        Err(e) => Finding::error(
            "output_dir",
            format!("cannot write into {}: {e}", dir.display()),
            "give the Lifeboat user write access to backup.output_dir",
        ),
    }
}

/// Judges free space against the size of the newest archive: a backup needs
/// room for one more archive (written under a temporary name first).
pub fn judge_space(free: u64, last_archive: Option<u64>) -> Finding {
    match last_archive {
        Some(size) if free < size => Finding::error(
            "disk",
            format!(
                "{} free, less than the last archive ({}): the next backup will fail",
                human_size(free),
                human_size(size)
            ),
            "free space on that disk, or lower retention.max_count / retention.max_age_days",
        ),
        Some(size) if free < size.saturating_mul(3) => Finding::warn(
            "disk",
            format!("{} free, room for fewer than three archives of {}", human_size(free), human_size(size)),
            "free space soon, or lower retention.max_count",
        ),
        Some(size) => Finding::ok("disk", format!("{} free; last archive {}", human_size(free), human_size(size))),
        None => Finding::ok("disk", format!("{} free", human_size(free))),
    }
}

/// Judges the scheduler's heartbeat at `now`.
pub fn judge_scheduler(hb: Option<&Heartbeat>, now: DateTime<Utc>) -> Finding {
    let what = lifeboat_core::state::Process::Scheduler.as_str();
    match lifeboat_core::state::scheduler_state_here(hb, now) {
        SchedulerState::Running => Finding::ok(what, format!("running (heartbeat {} ago)", ago(hb.map(|h| h.at), now))),
        SchedulerState::Timer => Finding::ok(
            what,
            format!(
                "timer mode: last cycle {} ago, next {}",
                ago(hb.map(|h| h.at), now),
                hb.and_then(|h| h.next_run)
                    .map_or("not scheduled".to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            ),
        ),
        SchedulerState::Died => Finding::warn(
            what,
            format!("its process (pid {}) is gone without stopping cleanly", hb.map_or(0, |h| h.pid)),
            "`journalctl -u lifeboat-scheduler` says why (killed? out of memory?); systemd restarts it (Restart=on-failure)",
        ),
        SchedulerState::Stopped => Finding::warn(
            what,
            match hb {
                Some(h) if h.state == lifeboat_core::state::HeartbeatState::Stopped => {
                    format!("stopped cleanly {} ago", ago(Some(h.at), now))
                }
                Some(h) => format!("no heartbeat for {} (pid {} may have died)", ago(Some(h.at), now), h.pid),
                None => "stopped".to_string(),
            },
            "start it: `systemctl start lifeboat-scheduler` (or check its timer); `journalctl -u lifeboat-scheduler` says why it stopped",
        ),
        SchedulerState::Unknown => Finding::warn(
            what,
            "no scheduler has ever run with this configuration",
            "install the systemd units (docs/operations.md) or run `lifeboat-scheduler --once` from cron",
        ),
    }
}

/// Judges the age of the last successful backup against the schedule: one
/// missed fire time is a warning, more is an error.
pub fn judge_staleness(
    last_success: Option<DateTime<Utc>>,
    schedule: &lifeboat_core::schedule::Schedule,
    now: DateTime<Utc>,
) -> Finding {
    let Some(last) = last_success else {
        return Finding::warn("backups", "no backup has been made yet", "run `lifeboat backup` now");
    };
    let Some(due) = schedule.previous_at_or_before(now - Duration::minutes(CYCLE_GRACE_MINUTES)) else {
        return Finding::ok("backups", format!("last successful backup {} ago", ago(Some(last), now)));
    };
    if last >= due {
        return Finding::ok("backups", format!("last successful backup {} ago", ago(Some(last), now)));
    }
    let before = schedule.previous_at_or_before(due - Duration::seconds(1));
    let hours = (now - last).num_hours();
    let message = format!(
        "backups stopped {} ago (last successful {}; schedule \"{}\" expected one at {})",
        if hours >= 1 { format!("{hours} hours") } else { ago(Some(last), now) },
        last.format("%Y-%m-%d %H:%M UTC"),
        schedule.as_str(),
        due.format("%Y-%m-%d %H:%M UTC"),
    );
    let action =
        "check the scheduler (`lifeboat status`, `journalctl -u lifeboat-scheduler`) and run `lifeboat backup`";
    match before {
        Some(b) if last >= b => Finding::warn("backups", message, action),
        _ => Finding::error("backups", message, action),
    }
}

/// Judges the Telegram settings and admins whose last delivery failed for good.
pub fn judge_delivery(cfg: &Config, failed_admins: &[(i64, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    if !cfg.delivery_enabled() {
        out.push(Finding::warn(
            "telegram",
            "no telegram.token: backups are kept only on this server, delivery is disabled",
            "set telegram.token (or token_file, or LIFEBOAT__TELEGRAM__TOKEN) to send archives to the admins",
        ));
        return out;
    }
    out.push(Finding::ok("telegram", "token configured"));
    if cfg.telegram.admin_ids.is_empty() {
        out.push(Finding::warn(
            "admins",
            "telegram.admin_ids is empty: nobody receives the archives",
            "add the admins' numeric Telegram user ids to telegram.admin_ids",
        ));
    } else {
        out.push(Finding::ok("admins", format!("{} admin(s) configured", cfg.telegram.admin_ids.len())));
    }
    for (chat, error) in failed_admins {
        out.push(Finding::warn(
            format!("admin {chat}"),
            format!("last delivery failed permanently: {error}"),
            "ask them to open the bot and press Start (and not block it), or remove them from telegram.admin_ids",
        ));
    }
    out
}

fn ago(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else { return "never".into() };
    let s = (now - at).num_seconds().max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

#[cfg(test)]
mod tests;
