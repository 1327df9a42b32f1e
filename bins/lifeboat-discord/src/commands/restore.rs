//! `/restore ARCHIVE [database]` (the owner only): the plan first, with
//! Confirm and Cancel buttons that expire; Confirm carries out exactly the
//! plan shown, under the cycle lock, with the safety snapshot every
//! restore takes. The rules are the ones every chat shares
//! (`lifeboat_engine::restore::chat`, `lifeboat_engine::restore::pending`):
//! only live restores, only archives in `output_dir`, never over a schema
//! difference, and an age archive is not opened here (the server holds no
//! key).

use std::sync::Arc;

use lifeboat_core::units::human_size;
use lifeboat_engine::restore::chat::{self, ChatRestore};
use lifeboat_engine::restore::pending::{Refused, VALID_FOR_SECS};
use lifeboat_engine::restore::{Action, RestoreOutcome, RestorePlan};
use twilight_model::application::interaction::Interaction;

use super::Invocation;
use crate::App;
use crate::discord::{Say, buttons, snowflake_time};
use crate::text::{clip, code, time};

/// `/restore`: makes the plan and offers it for confirmation.
pub async fn ask(app: Arc<App>, interaction: Interaction, inv: &Invocation) {
    let archive = inv.option("archive").unwrap_or("latest").trim().to_string();
    let only: Vec<String> = inv.option("database").map(|d| vec![d.trim().to_string()]).unwrap_or_default();
    app.defer(&interaction, true).await;
    let cfg = app.cfg.clone();
    let asked = archive.clone();
    let planned = tokio::task::spawn_blocking(move || chat::plan(&cfg, &asked, only)).await;
    let plan = match planned {
        Ok(Ok(plan)) => plan,
        Ok(Err(why)) => {
            let text = format!("♻️ **Cannot restore {}**\n{}", code(&archive), clip(&why.to_string(), 1800));
            app.edit(&interaction.token, &Say::private(text)).await;
            return;
        }
        Err(e) => {
            app.edit(&interaction.token, &Say::private(format!("♻️ **Cannot restore**: {e}"))).await;
            return;
        }
    };
    let text = plan_text(&plan);
    if plan.schema_differs() {
        app.edit(&interaction.token, &Say::private(text)).await;
        return;
    }
    let user = interaction.author_id().map_or(0, |id| id.get());
    let name = plan.archive.name.clone();
    let asked_at = snowflake_time(interaction.id.get());
    let nonce = app.pending.offer(user as i64, &name, plan, asked_at);
    let row = buttons(&[
        (&format!("restore:yes:{nonce}:{name}"), "Confirm restore", 4),
        (&format!("restore:no:{nonce}:{name}"), "Cancel", 2),
    ]);
    app.edit(&interaction.token, &Say::private(text).with_buttons(row)).await;
}

/// A press on Confirm or Cancel (`restore:yes|no:NONCE:ARCHIVE`).
pub async fn pressed(app: Arc<App>, interaction: Interaction, custom_id: &str) {
    let mut parts = custom_id.splitn(4, ':');
    let (Some("restore"), Some(choice), Some(nonce), Some(archive)) =
        (parts.next(), parts.next(), parts.next().and_then(|n| n.parse::<u64>().ok()), parts.next())
    else {
        app.update(&interaction, Say::private("This button is not Lifeboat's.").without_buttons()).await;
        return;
    };
    let user = interaction.author_id().map_or(0, |id| id.get());
    // Any press uses the confirmation up: a guess cannot be followed by another.
    let taken = app.pending.take(user as i64, archive, nonce, snowflake_time(interaction.id.get()));
    if choice != "yes" {
        app.update(&interaction, Say::private("♻️ Cancelled: nothing was restored.").without_buttons()).await;
        return;
    }
    let plan = match taken {
        Ok(plan) => plan,
        Err(Refused::Expired) => {
            let text = format!(
                "♻️ This confirmation expired (after {VALID_FOR_SECS} s): nothing was restored. Run `/restore` again."
            );
            app.update(&interaction, Say::private(text).without_buttons()).await;
            return;
        }
        Err(Refused::NoneWaiting | Refused::Mismatch) => {
            let text = "♻️ This confirmation is no longer valid (used, or replaced by a newer /restore): nothing was restored.";
            app.update(&interaction, Say::private(text).without_buttons()).await;
            return;
        }
    };
    let started = format!(
        "♻️ **Restoring {}…**\nVerifying, taking safety snapshots, then restoring. This message changes when it is done.",
        code(&plan.archive.name)
    );
    app.update(&interaction, Say::private(started).without_buttons()).await;
    let cfg = app.cfg.clone();
    let cancel = app.cancel.child_token();
    let who = format!("restore from Discord by user {user}");
    let ran = tokio::task::spawn_blocking(move || chat::execute(&cfg, &plan, &who, &cancel)).await;
    let text = match ran {
        Ok(ChatRestore::Done(outcome)) => done_text(&outcome),
        Ok(ChatRestore::Busy(holder)) => {
            format!("♻️ **Not restored**: a backup cycle is running ({holder}). Try again when it has finished.")
        }
        Ok(ChatRestore::Failed(why)) => format!(
            "♻️ ❌ **Restore failed**\n{}\nThe live databases were not replaced unless stated above.",
            clip(&why.to_string(), 1700)
        ),
        Err(e) => format!("♻️ ❌ **Restore failed**: the restore task stopped: {e}"),
    };
    let say = Say::private(text);
    if !app.edit(&interaction.token, &say).await
        && let Some(user) = interaction.author_id()
        && let Err(e) = app.dm(user, &say.content).await
    {
        tracing::warn!("cannot tell the result of a restore: {e}");
    }
}

/// The plan to confirm: what each database becomes, what is left out.
pub fn plan_text(plan: &RestorePlan) -> String {
    let m = &plan.manifest;
    let mut s = format!(
        "♻️ **Restore {}?**\nTaken {} on {} ({}).\n",
        code(&plan.archive.name),
        time(m.created_at),
        code(&m.host),
        m.trigger,
    );
    for d in &plan.databases {
        s += &format!(
            "• {} {}, {} rows → {}\n",
            code(&d.name),
            human_size(d.size),
            d.rows,
            action(&d.action, &d.dest.display().to_string())
        );
        for c in &d.schema_changes {
            s += &format!("   ⚠️ schema differs: {}\n", clip(c, 200));
        }
        if let Some(why) = &d.damaged {
            s += &format!(
                "   ⚠️ damaged now ({}): no safety snapshot can take it; its files are copied to {} first\n",
                clip(why, 200),
                code(&plan.quarantine_dir().display().to_string())
            );
        }
    }
    if !plan.unconfigured.is_empty() {
        s += &format!("Not restored (not configured on this server): {}\n", plan.unconfigured.join(", "));
    }
    for (why, names) in plan.manual_reasons() {
        s += &format!("Not restored ({}; use `lifeboat restore --to DIR`): {}\n", why.why_short, names.join(", "));
    }
    if plan.schema_differs() {
        s += "\n⚠️ The archive's tables differ from the live ones: it may belong to another application or \
              version. Nothing will be replaced from here; the CLI's `--force-schema` can.";
        return clip(&s, 1900);
    }
    s += &format!(
        "\nThe live databases listed above will be **REPLACED** (a safety snapshot of each is taken first, and \
         the archive is verified in full). Press **Confirm restore** within {VALID_FOR_SECS} s to go ahead."
    );
    clip(&s, 1900)
}

/// What happens to one database, in a word and its path.
fn action(a: &Action, dest: &str) -> String {
    let dest = code(dest);
    match a {
        Action::Replace { .. } | Action::WriteBack { exists: true } => format!("REPLACE {dest}"),
        Action::ReplaceUnreadable { reason } => {
            format!("REPLACE {dest} (unreadable now: {}; moved aside, not deleted)", clip(reason, 200))
        }
        Action::Create | Action::WriteBack { exists: false } => format!("CREATE {dest}"),
        Action::WriteFile => format!("WRITE {dest}"),
        Action::LoadDump { source, words } => format!("LOAD into {dest} ({} source “{source}”)", words.server),
    }
}

/// What was written where, and the safety snapshot.
pub fn done_text(outcome: &RestoreOutcome) -> String {
    let mut s = format!("♻️ ✅ **Restore finished** from {}:\n", code(&outcome.archive));
    for d in &outcome.restored {
        let differs = if d.rows_match_manifest { "" } else { " ⚠️ row counts differ from the manifest" };
        s += &format!(
            "• {} {} rows → {}{differs}\n",
            code(&d.name),
            d.total_rows(),
            code(&d.dest.display().to_string())
        );
    }
    match &outcome.safety_archive {
        Some(a) => s += &format!("Safety snapshot of what was replaced: {}\n", code(a)),
        None => s += "No safety snapshot was taken.\n",
    }
    for q in &outcome.quarantined {
        s += &format!("Kept in quarantine: {} → {}\n", code(&q.name), code(&q.dir.display().to_string()));
    }
    for n in &outcome.notes {
        s += &format!("Note: {}\n", clip(n, 300));
    }
    clip(&s, 1900)
}
