//! What the buttons that change something do: acknowledge a shrink alert,
//! re-send an archive, back up now, and the owner's two-step restore.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lifeboat_core::catalog;
use lifeboat_core::state::{Acknowledged, Level};
use teloxide::prelude::*;
use teloxide::types::ChatId;

use crate::callback::ArchiveStamp;
use crate::ops::{self, BackupResult, RestoreResult};
use crate::pending::VALID_FOR_SECS;
use crate::{keyboard, text};

use super::{Answer, App, DashBot, JobKind, Target, show, user_id};

/// "Acknowledge" under a shrink alert, the owner's to press: the archive
/// kept for it may go with retention again. Callback data can be forged,
/// so it removes only a pin a shrink alert made, never one made by hand. The alert stays, with who acknowledged it instead of
/// the button.
pub(super) async fn unpin(
    bot: &DashBot,
    app: &Arc<App>,
    user: i64,
    to: Target,
    stamp: ArchiveStamp,
) -> anyhow::Result<Answer> {
    let name = stamp.name_in(&app.cfg.backup.output_dir);
    if !app.is_owner(user) {
        app.log(Level::Warn, format!("admin {user} pressed Acknowledge on {name}; only the owner may unpin")).await;
        return Ok(Answer::alert(text::unpin_owner_only(&name)));
    }
    let archive = name.clone();
    match app.with_state(move |_, st| Ok(st.acknowledge_shrink_pin(&archive)?)).await? {
        Acknowledged::Unpinned => {}
        Acknowledged::NotPinned => return Ok(Answer::toast(text::already_unpinned(&name))),
        Acknowledged::PinnedByHand => {
            app.log(Level::Warn, format!("Acknowledge on {name} left its pin: it was pinned by hand")).await;
            return Ok(Answer::alert(text::pinned_by_hand(&name)));
        }
    }
    app.log(Level::Info, format!("the owner acknowledged the shrink alert; {name} unpinned")).await;
    if let Some(id) = to.message {
        let edit = bot.edit_message_reply_markup(to.chat, id).await;
        if let Err(e) = edit {
            tracing::warn!("cannot remove the Acknowledge button: {}", crate::redact(&e.to_string(), &app.cfg));
        }
    }
    Ok(Answer::alert(text::unpinned(&name)))
}

/// Answers the press at once (Telegram expires a callback query within
/// seconds, and an upload with retries takes longer), then sends in the
/// background: the document arriving is the success; a failure is a message.
/// Shutdown cancels it.
pub(super) fn resend(bot: &DashBot, app: &Arc<App>, user: i64, stamp: ArchiveStamp) -> Answer {
    let name = stamp.name_in(&app.cfg.backup.output_dir);
    let Ok(archive) = catalog::resolve(&app.cfg.backup.output_dir, &name) else {
        return Answer::alert(text::TOAST_ARCHIVE_GONE);
    };
    let Some(tg) = app.telegram.clone() else { return Answer::alert(text::resend_failed("delivery is disabled")) };
    let (bot, app, cancel) = (bot.clone(), app.clone(), app.cancel.child_token());
    let toast = text::resending(&name);
    tokio::spawn(async move {
        match ops::resend(&tg, &app.cfg, user, &archive, &cancel).await {
            Ok(()) => app.log(Level::Info, format!("re-sent {name} to admin {user} from the dashboard")).await,
            Err(_) if cancel.is_cancelled() => {}
            Err(e) => {
                app.log(Level::Warn, format!("re-sending {name} to admin {user} failed: {e}")).await;
                if let Err(e) = bot.send_message(ChatId(user), text::resend_failed(&e.to_string())).await {
                    tracing::warn!(
                        "cannot tell admin {user} the re-send failed: {}",
                        crate::redact(&e.to_string(), &app.cfg)
                    );
                }
            }
        }
    });
    Answer::toast(toast)
}

pub(super) async fn backup_now(
    bot: &DashBot,
    app: &Arc<App>,
    to: Target,
    now: DateTime<Utc>,
) -> anyhow::Result<Answer> {
    let guard = match app.try_start_job(JobKind::Backup, now) {
        Ok(g) => g,
        Err((JobKind::Backup, since)) => {
            show(bot, to, text::backup_already_running(since, now), Some(keyboard::back())).await?;
            return Ok(Answer::toast(text::TOAST_ALREADY_RUNNING));
        }
        Err((JobKind::Restore, _)) => return Ok(Answer::alert(text::ALERT_JOB_RUNNING)),
    };
    // The menu stays, so the other screens (and a second press) still work.
    let to = show(bot, to, text::backup_started(now), Some(keyboard::menu())).await?;
    app.log(Level::Info, "backup started from the dashboard".into()).await;
    let (bot, app) = (bot.clone(), app.clone());
    // The dispatcher keeps serving other presses meanwhile.
    tokio::spawn(async move {
        let _guard = guard;
        let result = ops::run_backup(&app.cfg, app.cancel.child_token()).await;
        let body = match &result {
            BackupResult::Done { summary, ok } => text::backup_done(summary, *ok),
            BackupResult::Busy(holder) => text::backup_busy(holder),
            BackupResult::Failed(e) => text::backup_failed(e),
        };
        if let BackupResult::Failed(e) = &result {
            app.log(Level::Error, format!("backup from the dashboard failed: {e}")).await;
        }
        if let Err(e) = show(&bot, to, body, Some(keyboard::back())).await {
            tracing::error!("cannot show the backup result: {}", crate::redact(&e.to_string(), &app.cfg));
        }
    });
    Ok(Answer::default())
}

pub(super) async fn owner_only(app: &Arc<App>, q: &CallbackQuery) -> Option<Answer> {
    let user = user_id(&q.from);
    if app.is_owner(user) {
        return None;
    }
    app.log(Level::Warn, format!("refused a restore button from admin {user}: only the owner may restore")).await;
    Some(Answer::alert(text::ALERT_OWNER_ONLY))
}

pub(super) async fn restore_ask(
    bot: &DashBot,
    app: &Arc<App>,
    q: &CallbackQuery,
    to: Target,
    stamp: ArchiveStamp,
    now: DateTime<Utc>,
) -> anyhow::Result<Answer> {
    if let Some(refused) = owner_only(app, q).await {
        return Ok(refused);
    }
    let name = stamp.name_in(&app.cfg.backup.output_dir);
    let cfg = app.cfg.clone();
    let plan_for = name.clone();
    let plan = tokio::task::spawn_blocking(move || ops::restore_plan(&cfg, &plan_for)).await?;
    match plan {
        Ok(plan) => {
            let body = text::restore_confirm(&plan, VALID_FOR_SECS as u64);
            let nonce = app.restores.offer(user_id(&q.from), &name, plan, now);
            show(bot, to, body, Some(keyboard::confirm_restore(stamp, nonce))).await?;
        }
        Err(e) => {
            show(bot, to, text::restore_plan_failed(&name, &e.to_string()), Some(keyboard::back_to_backups())).await?;
        }
    }
    Ok(Answer::default())
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn restore_yes(
    bot: &DashBot,
    app: &Arc<App>,
    q: &CallbackQuery,
    to: Target,
    stamp: ArchiveStamp,
    nonce: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<Answer> {
    if let Some(refused) = owner_only(app, q).await {
        return Ok(refused);
    }
    let user = user_id(&q.from);
    let name = stamp.name_in(&app.cfg.backup.output_dir);
    let plan = match app.restores.take(user, &name, nonce, now) {
        Ok(plan) => plan,
        Err(why) => {
            app.log(Level::Warn, format!("restore confirmation from owner {user} for {name} refused: {why:?}")).await;
            return Ok(Answer::alert(text::ALERT_CONFIRMATION_EXPIRED));
        }
    };
    let Ok(guard) = app.try_start_job(JobKind::Restore, now) else {
        return Ok(Answer::alert(text::ALERT_JOB_RUNNING));
    };
    let to = show(bot, to, text::restore_started(&name), None).await?;
    app.log(Level::Warn, format!("owner {user} confirmed restoring {name} from the dashboard")).await;
    let (bot, app) = (bot.clone(), app.clone());
    tokio::spawn(async move {
        let _guard = guard;
        let (cfg, cancel) = (app.cfg.clone(), app.cancel.child_token());
        let who = format!("restore from Telegram by {user}");
        let result = tokio::task::spawn_blocking(move || ops::restore(&cfg, &plan, &who, &cancel))
            .await
            .unwrap_or_else(|e| RestoreResult::Failed(format!("the restore task failed: {e}")));
        let (level, body) = match &result {
            RestoreResult::Done(outcome) => (Level::Warn, text::restore_done(outcome)),
            RestoreResult::Busy(holder) => (Level::Warn, text::restore_busy(holder)),
            RestoreResult::Failed(e) => (Level::Error, text::restore_failed(e)),
        };
        app.log(level, format!("restore of {name} from the dashboard: {result:?}")).await;
        if let Err(e) = show(&bot, to, body, Some(keyboard::back())).await {
            tracing::error!("cannot show the restore result: {}", crate::redact(&e.to_string(), &app.cfg));
        }
    });
    Ok(Answer::default())
}
