//! One function per subcommand. Each returns the exit code of a finished
//! run (0, 1 for a failed check, 3 partial); errors become exit 1, or 2 for
//! configuration and usage problems.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use lifeboat_core::backup::{self, BackupError, BackupOptions};
use lifeboat_core::catalog::{self, StoredArchive};
use lifeboat_core::config::ConfigError;
use lifeboat_core::diagnose::{self, Severity};
use lifeboat_core::lock::{CycleLock, LockError};
use lifeboat_core::state::{RunStatus, State};
use lifeboat_core::units::human_size;
use lifeboat_core::{CancellationToken, Config, Trigger, exit};
use serde_json::json;

use crate::ui::{self, Progress};
use crate::{BackupArgs, Cli, Command, DemoArgs, JsonArg, RestoreArgs, VerifyArgs};

/// A usage problem found after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Maps an error chain to the exit code: configuration and usage → 2, the rest → 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    if err.chain().any(|e| e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some()) {
        exit::USAGE
    } else {
        exit::FAILURE
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<i32> {
    let cfg = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Backup(a) => backup_cmd(&cfg, &a),
        Command::List(a) => list(&cfg, &a),
        Command::Verify(a) => verify(&cfg, &a),
        Command::Restore(a) => restore(&cfg, &a),
        Command::Status(a) => status(&cfg, &a),
        Command::Diagnose(a) => diagnose_cmd(&cfg, &a),
        Command::Demo(a) => demo(&cfg, &a),
    }
}

/// Ctrl-C or SIGTERM cancels the token; the core stops between steps and
/// leaves nothing partial behind.
fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    on_signal(move || t.cancel());
    token
}

/// Runs `f` on the first Ctrl-C or SIGTERM. Returns once the handlers are
/// installed, so a signal from then on never takes the default action
/// (dying without cleaning up).
fn on_signal(f: impl FnOnce() + Send + 'static) {
    let (ready, installed) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
                else {
                    return;
                };
                let _ = ready.send(());
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ready.send(());
                let _ = tokio::signal::ctrl_c().await;
            }
            eprintln!("stopping: interrupted");
            f();
        });
    });
    let _ = installed.recv_timeout(std::time::Duration::from_secs(5));
}

/// For commands that cannot stop between steps but hold copies of the bot's
/// data in the system temporary folder: on Ctrl-C or SIGTERM, remove this
/// process's folders (named `prefix…`) and exit with a failure.
fn exit_on_signal_removing_scratch(prefix: String, command: &'static str) {
    on_signal(move || {
        for e in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        eprintln!("error: {command} interrupted; nothing was changed");
        std::process::exit(exit::FAILURE);
    });
}

fn take_lock(cfg: &Config, what: &str) -> Result<CycleLock> {
    CycleLock::try_acquire(&cfg.lock_path(), what).map_err(|e| match e {
        LockError::Busy { .. } => anyhow::Error::new(e).context("cannot start now"),
        other => anyhow::Error::new(other),
    })
}

/// Opens the state database only if it exists: read-only commands never
/// create Lifeboat's folder.
fn existing_state(cfg: &Config) -> Result<Option<State>> {
    if cfg.state_path().exists() { Ok(Some(State::open_for(cfg)?)) } else { Ok(None) }
}

// ---- backup -----------------------------------------------------------------

fn backup_cmd(cfg: &Config, a: &BackupArgs) -> Result<i32> {
    if a.deliver {
        return deliver_cycle(cfg, a);
    }
    let outcome = run_backup(cfg, Trigger::Manual, !a.json, "manual backup (lifeboat backup)")?;
    Ok(report_backup(&outcome, a.json))
}

fn run_backup(cfg: &Config, trigger: Trigger, progress: bool, what: &str) -> Result<backup::BackupOutcome> {
    let _lock = take_lock(cfg, what)?;
    let state = State::open_for(cfg)?;
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
/// skipped on stderr; returns 0 or 3.
fn report_backup(o: &backup::BackupOutcome, as_json: bool) -> i32 {
    let partial = o.status == RunStatus::Partial || o.manifest.is_partial();
    if as_json {
        let v = json!({
            "archive": o.archive.name,
            "files": o.archive.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "size": o.archive.size,
            "status": o.status.as_str(),
            "databases": o.manifest.databases.iter().map(|d| json!({
                "name": d.name, "size": d.size, "integrity": d.integrity, "rows": d.total_rows(),
            })).collect::<Vec<_>>(),
            "skipped": o.manifest.skipped.iter().map(|s| json!({"name": s.name, "reason": s.reason})).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        for f in &o.archive.files {
            println!("{}", f.display());
        }
    }
    for s in &o.manifest.skipped {
        eprintln!("warning: {} was skipped: {}", s.name, s.reason);
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
/// retention, alert) through the telegram crate, which takes the lock itself.
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
    let code = report.exit_code();
    if a.json {
        let v = json!({
            "archive": report.backup.as_ref().ok().map(|o| o.archive.name.clone()),
            "files": report.backup.as_ref().map(|o| o.archive.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>()).unwrap_or_default(),
            "status": report.backup.as_ref().map(|o| o.status.as_str()).unwrap_or("failed"),
            "error": report.backup.as_ref().err().map(|e| e.to_string()),
            "delivery_enabled": cfg.delivery_enabled(),
            "removed": report.removed,
            "summary": report.summary(),
            "exit_code": code,
        });
        println!("{v}");
    } else if let Ok(o) = &report.backup {
        for f in &o.archive.files {
            println!("{}", f.display());
        }
    }
    eprintln!("{}", report.summary());
    Ok(code)
}

// ---- list ---------------------------------------------------------------------

struct Row {
    archive: StoredArchive,
    trigger: String,
    status: String,
    databases: Vec<String>,
    verified: Option<bool>,
    delivered: usize,
}

fn list(cfg: &Config, a: &JsonArg) -> Result<i32> {
    let archives = catalog::list(&cfg.backup.output_dir)?;
    let state = existing_state(cfg)?;
    let mut rows = Vec::with_capacity(archives.len());
    for archive in archives {
        let run = match &state {
            Some(s) => s.run_for_archive(&archive.name)?,
            None => None,
        };
        let delivered = match &state {
            Some(s) => s.delivered_chats(&archive.name)?.len(),
            None => 0,
        };
        // The manifest names the databases; the run knows whether it verified.
        let manifest = lifeboat_core::verify::read_manifest(&archive).ok();
        let databases =
            manifest.as_ref().map(|m| m.databases.iter().map(|d| d.name.clone()).collect()).unwrap_or_default();
        let trigger = run
            .as_ref()
            .map(|r| r.trigger.as_str().to_string())
            .or_else(|| manifest.as_ref().map(|m| m.trigger.as_str().to_string()))
            .unwrap_or_else(|| "?".into());
        let status = match (&run, &manifest) {
            (Some(r), _) => r.status.as_str().to_string(),
            (None, Some(m)) if m.is_partial() => "partial".into(),
            (None, Some(_)) => "ok".into(),
            (None, None) => "unreadable".into(),
        };
        rows.push(Row { archive, trigger, status, databases, verified: run.map(|r| r.end.verified), delivered });
    }
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "name": r.archive.name,
                    "created_at": ui::json_time(r.archive.created_at),
                    "trigger": r.trigger,
                    "status": r.status,
                    "size": r.archive.size,
                    "files": r.archive.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                    "databases": r.databases,
                    "verified": r.verified,
                    "delivered": r.delivered,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(exit::SUCCESS);
    }
    if rows.is_empty() {
        println!("no archives in {} yet; run `lifeboat backup`", cfg.backup.output_dir.display());
        return Ok(exit::SUCCESS);
    }
    println!(
        "{:<23}  {:<11}  {:>9}  {:>3}  {:<8}  {:>9}  ARCHIVE",
        "TIME (UTC)", "TRIGGER", "SIZE", "DBS", "VERIFIED", "DELIVERED"
    );
    for r in &rows {
        let parts = if r.archive.is_split() { format!(" ({} parts)", r.archive.files.len()) } else { String::new() };
        let status = if r.status == "ok" { String::new() } else { format!(" [{}]", r.status) };
        println!(
            "{:<23}  {:<11}  {:>9}  {:>3}  {:<8}  {:>9}  {}{parts}{status}",
            r.archive.created_at.format("%Y-%m-%d %H:%M:%S"),
            r.trigger,
            human_size(r.archive.size),
            r.databases.len(),
            match r.verified {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            },
            if cfg.delivery_enabled() || r.delivered > 0 { r.delivered.to_string() } else { "-".into() },
            r.archive.name,
        );
    }
    Ok(exit::SUCCESS)
}

// ---- verify -------------------------------------------------------------------

fn verify(cfg: &Config, a: &VerifyArgs) -> Result<i32> {
    let archive = catalog::resolve(&cfg.backup.output_dir, &a.archive)?;
    // Verify cannot stop between steps, and its scratch folder holds whole
    // extracted databases: on a signal, remove it and exit. The handler is
    // installed before the folder exists, so no signal can outrun it.
    let prefix = format!("lifeboat-verify-{}-", std::process::id());
    exit_on_signal_removing_scratch(prefix.clone(), "verify");
    let scratch = tempfile::Builder::new().prefix(&prefix).tempdir().context("creating a scratch folder")?;
    let bar = Progress::new(!a.json);
    bar.spin(&format!("verifying {}", archive.name));
    let report = lifeboat_core::verify::verify(
        &archive,
        scratch.path(),
        lifeboat_core::verify::VerifyOptions { integrity_check: true },
    )
    .with_context(|| format!("cannot verify {}", archive.name))?;
    bar.clear();
    let ok = report.is_ok();
    if a.json {
        let v = json!({
            "archive": report.archive,
            "files": archive.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "ok": ok,
            "databases": report.databases.iter().map(|d| json!({
                "name": d.name, "size": d.size, "checksum_ok": d.checksum_ok, "integrity": d.integrity, "ok": d.ok,
            })).collect::<Vec<_>>(),
            "problems": report.problems,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", report.archive);
        for d in &report.databases {
            println!(
                "  {:<5} {:<28} {:>9}  checksum {}  integrity {}",
                if d.ok { "ok" } else { "FAIL" },
                d.name,
                human_size(d.size),
                if d.checksum_ok { "ok" } else { "MISMATCH" },
                d.integrity
            );
        }
        for p in &report.problems {
            println!("  problem: {p}");
        }
        if ok {
            println!("archive ok: {} databases verified", report.databases.len());
        } else {
            eprintln!("error: {} did not verify; use another archive (`lifeboat list`)", report.archive);
        }
    }
    Ok(if ok { exit::SUCCESS } else { exit::FAILURE })
}

// ---- restore ------------------------------------------------------------------

/// Plan, show it, then (only with `--yes`) execute under the cycle lock.
fn restore(cfg: &Config, a: &RestoreArgs) -> Result<i32> {
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
            println!("{}", serde_json::to_string_pretty(&plan.to_json())?);
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
        let v = outcome.to_json();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}", outcome.to_string().trim_end());
    }
    Ok(exit::SUCCESS)
}

// ---- status -------------------------------------------------------------------

fn status(cfg: &Config, a: &JsonArg) -> Result<i32> {
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

fn existing_dir(path: &Path) -> &Path {
    let mut p = path;
    while !p.exists() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => return Path::new("."),
        }
    }
    p
}

// ---- diagnose -----------------------------------------------------------------

fn diagnose_cmd(cfg: &Config, a: &JsonArg) -> Result<i32> {
    let bar = Progress::new(!a.json);
    bar.spin("checking the databases on snapshots");
    // Diagnose cannot stop between steps, and its snapshot folders hold
    // copies of the live databases: on a signal, remove ours and exit.
    exit_on_signal_removing_scratch(diagnose::scratch_prefix(), "diagnose");
    let d = diagnose::run(cfg, Utc::now());
    bar.clear();
    if a.json {
        let v = json!({ "worst": d.worst().as_str(), "findings": d.findings });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for f in &d.findings {
            println!("[{:<5}] {}: {}", f.level.as_str(), f.subject, f.message);
            if let Some(action) = &f.action {
                println!("        -> {action}");
            }
        }
        let (w, e) = d.findings.iter().fold((0, 0), |(w, e), f| match f.level {
            Severity::Warn => (w + 1, e),
            Severity::Error => (w, e + 1),
            Severity::Ok => (w, e),
        });
        println!("{e} error(s), {w} warning(s)");
    }
    Ok(if d.has_errors() { exit::FAILURE } else { exit::SUCCESS })
}

// ---- demo ---------------------------------------------------------------------

fn demo(cfg: &Config, a: &DemoArgs) -> Result<i32> {
    if !(a.scale_mb > 0.0 && a.scale_mb <= 10_000.0) {
        return Err(UsageError(format!("--scale-mb {} is out of range; give 0.01 to 10000", a.scale_mb)).into());
    }
    // Midnight UTC today: the data looks recent, and runs on the same day
    // with the same seed produce identical files.
    let today = Utc::now().date_naive().and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_else(Utc::now);
    let opts = lifeboat_core::demo::DemoOptions { scale_mb: a.scale_mb, seed: a.seed, now: today };
    let made = lifeboat_core::demo::create_missing(&cfg.backup.source_dir, &cfg.backup.databases, &opts)
        .context("creating the demo databases")?;
    for d in &made {
        if d.created {
            eprintln!("created {} ({}, {} rows)", d.path.display(), human_size(d.size), d.rows);
        } else {
            eprintln!("kept    {} (exists, not touched)", d.path.display());
        }
    }
    if a.no_backup {
        return Ok(exit::SUCCESS);
    }
    let outcome = run_backup(cfg, Trigger::Demo, true, "demo backup (lifeboat demo)")?;
    let code = report_backup(&outcome, false);
    let config_flag = std::env::args()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--config" || w[0] == "-c")
        .map(|w| format!(" --config {}", w[1]))
        .unwrap_or_default();
    eprintln!(
        "\nWhat to try next:\n  lifeboat{config_flag} list              the archives\n  \
         lifeboat{config_flag} verify latest     check the newest archive\n  \
         lifeboat{config_flag} restore latest --to /tmp/restored --yes   unpack it as plain files\n  \
         lifeboat{config_flag} diagnose          check the live databases\n  \
         unzip -l {}",
        outcome.archive.files[0].display()
    );
    Ok(code)
}
