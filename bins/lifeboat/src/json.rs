//! Every JSON shape the CLI prints with `--json`, in one place: the core
//! returns data, and this is how programs read it. Shapes only grow: a
//! field once printed keeps its name and meaning.

use lifeboat_core::backup::BackupOutcome;
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::config::Config;
use lifeboat_core::diagnose::Diagnosis;
use lifeboat_core::restore::{Action, RestoreOutcome, RestorePlan};
use lifeboat_core::schedule::Schedule;
use lifeboat_core::status::StatusSnapshot;
use lifeboat_core::verify::VerifyReport;
use lifeboat_cycle::CycleReport;
use serde_json::{Value, json};

use crate::commands::ListRow;
use crate::ui::json_time;

fn files(archive: &StoredArchive) -> Vec<String> {
    archive.files.iter().map(|f| f.display().to_string()).collect()
}

/// `backup --json`
pub fn backup(o: &BackupOutcome) -> Value {
    json!({
        "archive": o.archive.name,
        "files": files(&o.archive),
        "size": o.archive.size,
        "status": o.status.as_str(),
        "databases": o.manifest.databases.iter().map(|d| json!({
            "name": d.name, "size": d.size, "integrity": d.integrity, "rows": d.total_rows(),
        })).collect::<Vec<_>>(),
        "skipped": o.manifest.skipped.iter().map(|s| json!({"name": s.name, "reason": s.reason})).collect::<Vec<_>>(),
    })
}

/// `backup --deliver --json`
pub fn cycle(cfg: &Config, report: &CycleReport, code: i32) -> Value {
    json!({
        "archive": report.backup.as_ref().ok().map(|o| o.archive.name.clone()),
        "files": report.backup.as_ref().map(|o| files(&o.archive)).unwrap_or_default(),
        "status": report.backup.as_ref().map(|o| o.status.as_str()).unwrap_or("failed"),
        "error": report.backup.as_ref().err().map(|e| e.to_string()),
        "delivery_enabled": cfg.delivery_enabled(),
        "removed": report.removed,
        "summary": report.summary(),
        "exit_code": code,
    })
}

/// `list --json`
pub fn list(rows: &[ListRow]) -> Value {
    rows.iter()
        .map(|r| {
            json!({
                "name": r.archive.name,
                "created_at": json_time(r.archive.created_at),
                "trigger": r.trigger,
                "status": r.status,
                "size": r.archive.size,
                "files": files(&r.archive),
                "databases": r.databases,
                "verified": r.verified,
                "delivered": r.delivered,
                "copies": r.copies.iter().map(|c| json!({
                    "destination": c.destination,
                    "status": c.status.as_str(),
                    "attempts": c.attempts,
                    "last_error": c.last_error,
                })).collect::<Vec<_>>(),
                "pinned": r.pinned,
                "kept_by": r.kept_by,
                "encryption": r.sealed.as_str(),
                "kind": if r.base.is_some() || r.archive.is_differential() { "differential" } else { "full" },
                "base": r.base,
            })
        })
        .collect()
}

/// `verify --json`
pub fn verify(report: &VerifyReport, archive: &StoredArchive) -> Value {
    json!({
        "archive": report.archive,
        "files": files(archive),
        "ok": report.is_ok(),
        "databases": report.databases.iter().map(|d| json!({
            "name": d.name, "size": d.size, "checksum_ok": d.checksum_ok, "integrity": d.integrity, "ok": d.ok,
        })).collect::<Vec<_>>(),
        "problems": report.all_problems(),
    })
}

/// `status --json`
pub fn status(cfg: &Config, s: &StatusSnapshot, schedule: &Schedule) -> Value {
    json!({
        "now": json_time(s.now),
        "last_backup": s.last_run.as_ref().map(|r| json!({
            "started_at": json_time(r.started_at),
            "finished_at": r.finished_at.map(json_time),
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
        "warnings": s.warnings,
        "next_run": s.next_run.map(json_time),
        "scheduler": {
            "state": s.scheduler.as_str(),
            "heartbeat_at": s.heartbeat.as_ref().map(|h| json_time(h.at)),
            "pid": s.heartbeat.as_ref().map(|h| h.pid),
        },
        "storage": {
            "output_dir": cfg.backup.output_dir.display().to_string(),
            "archives": s.archives,
            "used_bytes": s.archive_bytes,
            "free_bytes": s.free_bytes.as_ref().ok(),
        },
        "quarantine": s.quarantined.iter().map(|q| json!({
            "name": q.name, "dir": q.dir.display().to_string(), "bytes": q.bytes,
        })).collect::<Vec<_>>(),
        "last_24h": {
            "ok": s.last_24h.ok, "partial": s.last_24h.partial, "failed": s.last_24h.failed, "unchanged": s.last_24h.unchanged,
        },
        "no_good_copy": s.without_good_copy.iter().map(|g| json!({
            "source": g.source,
            "last_good_archive": g.last_good.as_ref().map(|(a, _)| a),
            "last_good_at": g.last_good.as_ref().map(|(_, t)| json_time(*t)),
            "for_secs": g.last_good.as_ref().map(|(_, t)| (s.now - *t).num_seconds()),
        })).collect::<Vec<_>>(),
        "incidents": s.incidents.iter().map(|i| json!({
            "kind": i.kind.as_str(),
            "opened_at": json_time(i.opened_at),
            "detail": i.detail,
        })).collect::<Vec<_>>(),
        "delivery": {
            "enabled": cfg.delivery_enabled(),
            "admins": cfg.telegram.admin_ids.len(),
            "pending": s.pending_deliveries,
        },
        "offsite": s.stores.iter().map(|(store, latest)| json!({
            "destination": store,
            "archive": latest.as_ref().map(|c| &c.archive),
            "status": latest.as_ref().map(|c| c.status.as_str()),
            "attempts": latest.as_ref().map(|c| c.attempts),
            "last_error": latest.as_ref().and_then(|c| c.last_error.as_ref()),
            "updated_at": latest.as_ref().map(|c| json_time(c.updated_at)),
        })).collect::<Vec<_>>(),
    })
}

/// `diagnose --json`
pub fn diagnose(d: &Diagnosis) -> Value {
    json!({ "worst": d.worst().as_str(), "findings": d.findings })
}

/// `restore --dry-run --json` (and `restore --json` without `--yes`)
pub fn restore_plan(plan: &RestorePlan) -> Value {
    json!({
        "archive": plan.archive.name,
        "files": files(&plan.archive),
        "created_at": plan.manifest.created_at,
        "trigger": plan.manifest.trigger,
        "target": match &plan.to { Some(d) => d.display().to_string(), None => "live".to_string() },
        "databases": plan.databases.iter().map(|d| {
            let (action, detail) = match &d.action {
                Action::Replace { current_size, journal_mode, page_size } => ("replace", json!({
                    "current_size": current_size, "journal_mode": journal_mode, "page_size": page_size,
                })),
                Action::ReplaceUnreadable { reason } => ("replace-unreadable", json!({ "reason": reason })),
                Action::Create => ("create", Value::Null),
                Action::WriteFile => ("write-file", Value::Null),
                Action::LoadDump { source, .. } => ("load-dump", json!({ "source": source })),
                Action::WriteBack { exists } => ("write-back", json!({ "exists": exists })),
            };
            json!({
                "name": d.name, "dest": d.dest.display().to_string(), "size": d.size, "rows": d.rows,
                "action": action, "current": detail, "schema_changes": d.schema_changes,
                "damaged": d.damaged,
            })
        }).collect::<Vec<_>>(),
        "unconfigured": plan.unconfigured,
        "manual": plan.manual,
    })
}

/// `restore --yes --json`
pub fn restore_outcome(o: &RestoreOutcome) -> Value {
    json!({
        "archive": o.archive,
        "safety_archive": o.safety_archive,
        "quarantined": o.quarantined.iter().map(|q| json!({
            "name": q.name, "dir": q.dir.display().to_string(), "bytes": q.bytes,
        })).collect::<Vec<_>>(),
        "restored": o.restored.iter().map(|d| json!({
            "name": d.name,
            "dest": d.dest.display().to_string(),
            "rows": d.total_rows(),
            "rows_match_manifest": d.rows_match_manifest,
            "tables": d.tables.iter().map(|t| json!({ "name": t.name, "rows": t.rows })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "notes": o.notes,
    })
}
