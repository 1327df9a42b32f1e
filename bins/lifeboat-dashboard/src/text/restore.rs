//! The restore screens: the plan to confirm, progress, and the outcome.
//! The dashboard only restores live, with every configured database and
//! never over a schema difference (the CLI has `--only`, `--to` and
//! `--force-schema`), so its plan is shorter than the CLI's.

use lifeboat_engine::restore::{Action, RestoreOutcome, RestorePlan};

use super::{bytes, clip, esc};

/// Restore confirmation: what each database becomes, what is left out.
pub fn restore_confirm(plan: &RestorePlan, valid_secs: u64) -> String {
    let m = &plan.manifest;
    let mut s = format!(
        "♻️ <b>Restore {}?</b>\nTaken {} on <code>{}</code> ({}).\n\n",
        esc(&plan.archive.name),
        m.created_at.format("%Y-%m-%d %H:%M UTC"),
        esc(&m.host),
        m.trigger,
    );
    for d in &plan.databases {
        s += &format!(
            "• <code>{}</code> {}, {} rows → {}\n",
            esc(&d.name),
            bytes(d.size),
            d.rows,
            action(&d.action, &d.dest.display().to_string())
        );
        if let Some(first) = &d.first {
            s += &format!("   first: {}\n", esc(&clip(first, 200)));
        }
        for c in &d.schema_changes {
            s += &format!("   ⚠️ schema differs: {}\n", esc(c));
        }
        if let Some(why) = &d.damaged {
            s += &format!(
                "   ⚠️ damaged now ({}): no safety snapshot can take it; its files are copied to <code>{}</code> first\n",
                esc(&clip(why, 200)),
                esc(&plan.quarantine_dir().display().to_string())
            );
        }
    }
    if !plan.unconfigured.is_empty() {
        s += &format!("Not restored (not configured on this server): {}\n", esc(&plan.unconfigured.join(", ")));
    }
    for (why, names) in plan.manual_reasons() {
        s += &format!(
            "Not restored ({}; use <code>lifeboat restore --to DIR</code>): {}\n",
            esc(why.why_short),
            esc(&names.join(", "))
        );
    }
    if plan.schema_differs() {
        s += "\n⚠️ The archive's tables differ from the live ones: it may belong to another application or \
              version. Nothing will be replaced from here; the CLI's <code>--force-schema</code> can.\n";
    }
    if !plan.problems.is_empty() {
        s += "\n⚠️ The restore would stop before writing anything:\n";
        for p in &plan.problems {
            s += &format!("• {}\n", esc(&clip(p, 300)));
        }
    }
    s += &format!(
        "\nThe live databases listed above will be REPLACED (a safety snapshot of each is taken first, and the \
         archive is verified in full). Press <b>Yes, restore</b> within {valid_secs} s to go ahead."
    );
    s
}

/// What happens to one database, in a word and its path.
fn action(a: &Action, dest: &str) -> String {
    let dest = format!("<code>{}</code>", esc(dest));
    match a {
        Action::Replace { .. } | Action::WriteBack { exists: true } => format!("REPLACE {dest}"),
        Action::ReplaceUnreadable { reason } => {
            format!("REPLACE {dest} (unreadable now: {}; moved aside, not deleted)", esc(&clip(reason, 200)))
        }
        Action::Create | Action::WriteBack { exists: false } => format!("CREATE {dest}"),
        Action::WriteFile => format!("WRITE {dest}"),
        Action::LoadDump { source, words } => format!("LOAD into {dest} ({} source “{}”)", words.server, esc(source)),
    }
}

/// Restore: the plan could not be made.
pub fn restore_plan_failed(archive: &str, error: &str) -> String {
    format!("♻️ <b>Cannot restore {}</b>\n\n{}", esc(archive), esc(&clip(error, 3500)))
}

/// Restore: running.
pub fn restore_started(archive: &str) -> String {
    format!(
        "♻️ <b>Restoring {}…</b>\n\nVerifying, taking safety snapshots, then restoring. This message changes when it is done.",
        esc(archive)
    )
}

/// Restore: what was written where, and the safety snapshot.
pub fn restore_done(outcome: &RestoreOutcome) -> String {
    let mut s = format!("♻️ <b>✅ Restore finished</b>\n\nFrom <code>{}</code>:\n", esc(&outcome.archive));
    for d in &outcome.restored {
        let differs = if d.rows_match_manifest { "" } else { " ⚠️ row counts differ from the manifest" };
        s += &format!(
            "• <code>{}</code> {} rows → <code>{}</code>{differs}\n",
            esc(&d.name),
            d.total_rows(),
            esc(&d.dest.display().to_string())
        );
    }
    match &outcome.safety_archive {
        Some(a) => s += &format!("Safety snapshot of what was replaced: <code>{}</code>\n", esc(a)),
        None => s += "No safety snapshot was taken.\n",
    }
    for q in &outcome.quarantined {
        s += &format!(
            "Kept in quarantine: <code>{}</code> → <code>{}</code>\n",
            esc(&q.name),
            esc(&q.dir.display().to_string())
        );
    }
    for n in &outcome.notes {
        s += &format!("Note: {}\n", esc(&clip(n, 500)));
    }
    clip(&s, 3900)
}

/// Restore: failed.
pub fn restore_failed(error: &str) -> String {
    format!(
        "♻️ <b>❌ Restore failed</b>\n\n{}\n\nThe live databases were not replaced unless stated above.",
        esc(&clip(error, 3500))
    )
}

/// Restore: a backup or restore holds the lock.
pub fn restore_busy(holder: &str) -> String {
    format!("♻️ <b>Not restored</b>\n\n⏳ A backup cycle is running ({}). Try again when it has finished.", esc(holder))
}
