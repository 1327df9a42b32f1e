//! `lifeboat restore`: the plan, then (with `--yes`) the restore.

use std::fmt::Write;

use anyhow::{Context, Result};
use lifeboat_core::destination::DestinationId;
use lifeboat_core::exit;
use lifeboat_core::units::{human_size, plural};
use lifeboat_engine::Config;
use lifeboat_engine::restore::{Action, RestoreOutcome, RestorePlan};

use crate::RestoreArgs;
use crate::ui::Progress;

use super::{UsageError, cancel_on_signal, take_lock};

/// Plan, show it, then (only with `--yes`) execute, a live restore under
/// the cycle lock.
pub(super) fn restore(cfg: &Config, a: &RestoreArgs) -> Result<i32> {
    use lifeboat_engine::restore::{self, RestoreError, RestoreRequest};
    let at = match &a.at {
        None => None,
        Some(text) => match restore::parse_time(text) {
            Some(at) => Some(at),
            None => {
                return Err(UsageError(format!(
                    "--at {text:?} is not a time; give RFC 3339 (2026-03-04T10:20:00Z) or \"YYYY-MM-DD HH:MM:SS\" in UTC"
                ))
                .into());
            }
        },
    };
    let archive = match &a.from {
        Some(from) => fetch_first(cfg, from, &a.archive, at)?,
        None => a.archive.clone(),
    };
    let req = RestoreRequest { archive, only: a.only.clone(), to: a.to.clone(), force_schema: a.force_schema };
    let planned = match at {
        None => restore::plan(cfg, &req),
        Some(at) => restore::plan_at(cfg, &req, at),
    };
    let mut plan = match planned {
        Ok(p) => p,
        // A name the archive does not hold is the user's typo, not a failure.
        Err(
            e @ (RestoreError::UnknownDatabase { .. }
            | RestoreError::ToNotAFolder(..)
            | RestoreError::NotConfigured { .. }
            | RestoreError::NothingConfigured { .. }
            | RestoreError::ArchiveAfter { .. }),
        ) => {
            return Err(UsageError(e.to_string()).into());
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot plan the restore")),
    };
    if a.dry_run {
        // What the real run checks before writing, checked now too.
        let bar = Progress::new(!a.json);
        bar.spin(&format!("verifying {}", plan.archive.name));
        restore::verify_archive(cfg, &mut plan);
        bar.clear();
    }
    if a.json {
        if a.dry_run || !a.yes {
            crate::json::print(&crate::json::restore_plan(&plan))?;
        }
    } else {
        println!("{}", plan_text(&plan));
    }
    if a.dry_run {
        let fetched = if a.from.is_some() {
            format!(" (the archive was fetched into {}, nothing else)", cfg.backup.output_dir.display())
        } else {
            String::new()
        };
        if !plan.problems.is_empty() {
            eprintln!("dry run: nothing was written{fetched}; the restore would stop on the problems above");
            return Ok(exit::FAILURE);
        }
        eprintln!("dry run: nothing was written{fetched}");
        return Ok(exit::SUCCESS);
    }
    if !plan.problems.is_empty() {
        return Err(
            RestoreError::Preflight { archive: plan.archive.name.clone(), problems: plan.problems.clone() }.into()
        );
    }
    if !a.yes {
        eprintln!("refusing to restore without confirmation: nothing was written; add --yes to carry out this plan");
        return Ok(exit::USAGE);
    }
    // A live restore writes the databases a cycle reads: one at a time. A
    // restore into a folder touches nothing live and runs beside a cycle.
    let _lock = match plan.to {
        None => Some(take_lock(cfg, "restore (lifeboat restore)")?),
        Some(_) => None,
    };
    let state = cfg.open_state()?;
    let bar = Progress::new(!a.json);
    bar.spin("verifying the archive and restoring");
    let result = restore::execute(cfg, &state, &plan, &cancel_on_signal());
    bar.clear();
    let outcome = result.context("restore failed")?;
    if a.json {
        crate::json::print(&crate::json::restore_outcome(&outcome))?;
    } else {
        println!("{}", outcome_text(&outcome).trim_end());
    }
    Ok(exit::SUCCESS)
}

/// Downloads what restoring `what` needs from the S3 destination `from`
/// into `output_dir`: the archive's name, to restore exactly that one (a
/// newer archive may be in the folder already). With `at`, `latest` is the
/// newest archive taken at or before it, and the continuous increments
/// that reach `at` come too.
fn fetch_first(
    cfg: &Config,
    id: &DestinationId,
    what: &str,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<String> {
    let from = id.word();
    cfg.require_secret(super::fetch::STORE_KEY, Some(from))?;
    let what = std::path::Path::new(what).file_name().and_then(|f| f.to_str()).unwrap_or(what);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let fetched = runtime
        .block_on(lifeboat_s3::fetch_before(&cfg.destinations.s3, &cfg.surroundings(), id, what, at))
        .context(format!("cannot fetch from {from}"))?;
    if let Some(at) = at {
        let increments = runtime
            .block_on(lifeboat_s3::fetch_increments(
                &cfg.destinations.s3,
                &cfg.continuous_setup(),
                &cfg.surroundings(),
                id,
                at,
            ))
            .context(format!("cannot fetch the continuous increments from {from}"))?;
        if !increments.is_empty() {
            eprintln!(
                "fetched {} continuous increment(s) from {from} into {}",
                increments.len(),
                cfg.backup.output_dir.join(lifeboat_core::source::sqlite::continuous::FOLDER).display()
            );
        }
    }
    if let Some(warning) = &fetched.warning {
        eprintln!("warning: {warning}");
    }
    for path in &fetched.downloaded {
        eprintln!("fetched {} from {from}", path.display());
    }
    for name in &fetched.present {
        eprintln!("{name} is already in {}; used as it is", cfg.backup.output_dir.display());
    }
    Ok(fetched.archive)
}

/// The plan in words: what each database becomes, what is left out and why.
fn plan_text(plan: &RestorePlan) -> String {
    let m = &plan.manifest;
    let mut out = String::new();
    let parts = if plan.archive.is_split() { format!(", {} parts", plan.archive.files.len()) } else { String::new() };
    let _ = writeln!(
        out,
        "Restore from {} (taken {} on {}, {}, {}{parts})",
        plan.archive.name,
        m.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        m.host,
        m.trigger,
        plural(m.databases.len(), "database"),
    );
    if let Some(at) = &plan.at {
        let _ = writeln!(out, "As of {} (asked):", at.asked.format("%Y-%m-%d %H:%M:%S%.3f UTC"));
        for r in &at.databases {
            let short = r.short_by().num_milliseconds() as f64 / 1000.0;
            let diffs = r.increments.len().saturating_sub(1);
            let _ = writeln!(
                out,
                "  {:<24} as of {}, {short:.1} s before the asked time: rebuilt from its chain's full image of {} \
                 and {} (the archive's copy is not used)",
                r.database,
                r.reached.format("%Y-%m-%d %H:%M:%S%.3f"),
                r.chain_start.format("%Y-%m-%d %H:%M:%S%.3f"),
                plural(diffs, "increment"),
            );
        }
        if !at.left_out.is_empty() {
            let _ = writeln!(
                out,
                "  not restored (no point-in-time history; restore it from an archive without --at): {}",
                at.left_out.join(", ")
            );
        }
    }
    for d in &plan.databases {
        let dest = d.dest.display();
        let what = match &d.action {
            Action::Replace { current_size, journal_mode, .. } => format!(
                "REPLACE {dest} (now {}, {journal_mode} mode, kept; written through SQLite so open connections stay valid)",
                human_size(*current_size)
            ),
            Action::ReplaceUnreadable { reason } => format!(
                "REPLACE {dest} — it is not a readable database ({reason}); it is moved aside as {}.unreadable-<time>, not deleted",
                d.name
            ),
            Action::Create | Action::WriteBack { exists: false } => format!("CREATE {dest} (it does not exist)"),
            Action::WriteFile => format!("WRITE {dest} (new file, 0600)"),
            Action::LoadDump { source, words } => {
                format!("LOAD into {dest} ({} \"{source}\"): {}", words.key, words.how)
            }
            Action::WriteBack { exists: true } => format!("REPLACE {dest} (written beside it, then renamed over it)"),
        };
        match &plan.at {
            // The archive's size and rows are not what is written.
            Some(_) => {
                let _ = writeln!(out, "  {:<24} {:>10}  {:>9}      → {what}", d.name, "rebuilt", "");
            }
            None => {
                let _ = writeln!(out, "  {:<24} {:>10}, {:>9} rows → {what}", d.name, human_size(d.size), d.rows);
            }
        }
        if let Some(first) = &d.first {
            let _ = writeln!(out, "      first: {first}");
        }
        for c in &d.schema_changes {
            let _ = writeln!(out, "      schema differs: {c}");
        }
        if let Some(why) = &d.damaged {
            let _ = writeln!(
                out,
                "      damaged now ({why}): no safety snapshot can take it, so its files (with any -wal/-journal) \
                 are first copied to {}/{}.<time>/ and kept there",
                plan.quarantine_dir().display(),
                d.name.replace('/', "_")
            );
        }
    }
    let left_out = plan.not_selected();
    if !left_out.is_empty() {
        let _ = writeln!(out, "  not restored (not selected): {}", left_out.join(", "));
    }
    if !plan.unconfigured.is_empty() {
        let _ = writeln!(
            out,
            "  not restored (not in backup.databases or [[sources.*]] here; restore it with --to DIR): {}",
            plan.unconfigured.join(", ")
        );
    }
    for (why, names) in plan.manual_reasons() {
        let _ = writeln!(
            out,
            "  not restored live ({}; restore it with --to DIR, then follow the steps printed): {}",
            why.why,
            names.join(", ")
        );
    }
    if plan.schema_differs() {
        let _ = writeln!(
            out,
            "  The archive's tables differ from the live database's: it may belong to another application \
             or another version of the bot. {}",
            if plan.force_schema {
                "Replacing anyway (--force-schema)."
            } else {
                "Nothing will be replaced unless you add --force-schema."
            }
        );
    }
    if plan.at.is_some() {
        out += "Each database is rebuilt from its increments (every one checked against its predecessor's hash) \
                and must pass integrity_check before anything is written.\n";
    }
    out += if plan.any_damaged() {
        "Before writing, the archive is verified in full, a safety snapshot of what is being replaced is taken, \
         and what it cannot take is copied to quarantine; if that copy fails, nothing is written."
    } else if plan.is_live() {
        "Before writing, the archive is verified in full and a safety snapshot of what is being replaced is taken."
    } else {
        "Before writing, the archive is verified in full. Live databases are not touched."
    };
    if plan.is_live() {
        out += " If a source then fails, those already written are put back from that snapshot.";
    }
    if !plan.problems.is_empty() {
        let _ = write!(out, "\nPROBLEMS: the restore would stop before writing anything:");
        for p in &plan.problems {
            let _ = write!(out, "\n  - {p}");
        }
    }
    out
}

/// What was restored, where, and the safety snapshot taken before.
fn outcome_text(outcome: &RestoreOutcome) -> String {
    let mut out = format!("Restored from {}:\n", outcome.archive);
    for d in &outcome.restored {
        let _ = writeln!(
            out,
            "  ✓ {:<24} {:>9} rows → {}{}",
            d.name,
            d.total_rows(),
            d.dest.display(),
            if d.rows_match_manifest { "" } else { " (row counts differ from the manifest!)" }
        );
    }
    match &outcome.safety_archive {
        Some(s) => out += &format!("Safety snapshot of the replaced databases: {s}\n"),
        None => out += "No safety snapshot was taken.\n",
    }
    for q in &outcome.quarantined {
        let _ = writeln!(
            out,
            "Kept in quarantine (the safety snapshot could not take it): {} → {}",
            q.name,
            q.dir.display()
        );
    }
    for n in &outcome.notes {
        let _ = writeln!(out, "Note: {n}");
    }
    out
}
