//! The handler tree ([`schema`]), the routing of every press, and the
//! screens that only read; the buttons that change something are in
//! `actions`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use lifeboat_core::CancellationToken;
use lifeboat_core::state::{Level, State};
use lifeboat_engine::Config;
use lifeboat_engine::restore::RestorePlan;
use teloxide::dispatching::UpdateHandler;
use teloxide::prelude::*;
use teloxide::types::{ChatId, InlineKeyboardMarkup, MessageId, ParseMode};
use teloxide::utils::command::BotCommands;
use teloxide::{ApiError, RequestError};

use crate::callback::{self, Action};
use crate::pending::PendingRestores;
use crate::strangers::Strangers;
use crate::{data, keyboard, text};

mod actions;
use actions::{backup_now, resend, restore_ask, restore_yes, unpin};

/// Errors a handler hands to the dispatcher's error handler (logged there,
/// with the token redacted).
pub type HandlerError = anyhow::Error;
type HandlerResult = Result<(), HandlerError>;

/// The bot the handlers answer with: Telegram's limits (30 messages a second,
/// one a second per chat, 20 a minute per group) kept by teloxide's
/// throttling, so a burst of presses queues instead of being refused.
pub type DashBot = teloxide::adaptors::Throttle<Bot>;

/// Where events of this binary are filed in the state database.
pub const SOURCE: &str = "dashboard";

/// A long job started from the dashboard: one at a time in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// 💾 Backup now.
    Backup,
    /// ♻️ Restore.
    Restore,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct App {
    pub cfg: Config,
    /// Cancelled at shutdown: stops a running cycle or restore cleanly.
    pub cancel: CancellationToken,
    /// Telegram, for re-sending archives; None only in tests without a token.
    pub telegram: Option<lifeboat_telegram::Telegram>,
    /// Restore confirmations waiting for the owner.
    pub restores: PendingRestores<RestorePlan>,
    /// Who was last refused when.
    pub strangers: Strangers,
    job: Mutex<Option<(JobKind, DateTime<Utc>)>>,
}

/// Holds the process's one job slot; frees it when dropped (even on panic).
#[derive(Debug)]
pub struct JobGuard(Arc<App>);

impl Drop for JobGuard {
    fn drop(&mut self) {
        *self.0.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl App {
    /// Shared state for the handlers.
    pub fn new(cfg: Config, cancel: CancellationToken) -> Arc<App> {
        let telegram = lifeboat_telegram::Telegram::from_config(&cfg.telegram, &cfg.surroundings());
        Arc::new(App {
            cfg,
            cancel,
            telegram,
            restores: PendingRestores::default(),
            strangers: Strangers::default(),
            job: Mutex::new(None),
        })
    }

    /// Takes the job slot, or says which job holds it since when.
    pub fn try_start_job(
        self: &Arc<Self>,
        kind: JobKind,
        now: DateTime<Utc>,
    ) -> Result<JobGuard, (JobKind, DateTime<Utc>)> {
        let mut slot = self.job.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = *slot {
            return Err(running);
        }
        *slot = Some((kind, now));
        Ok(JobGuard(self.clone()))
    }

    /// Waits until no job runs (or `limit` passes): at shutdown, so a
    /// cancelled backup or restore can finish cleanly. True when idle.
    pub async fn wait_idle(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.job.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        true
    }

    fn is_owner(&self, user: i64) -> bool {
        user != 0 && user == self.cfg.telegram.owner_id
    }

    /// Runs `f` on the state database on a blocking thread.
    async fn with_state<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Config, &State) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let st = app.cfg.open_state()?;
            f(&app.cfg, &st)
        })
        .await?
    }

    /// Files an event in the state database and mirrors it to tracing.
    async fn log(self: &Arc<Self>, level: Level, message: String) {
        match level {
            Level::Info => tracing::info!("{message}"),
            Level::Warn => tracing::warn!("{message}"),
            Level::Error => tracing::error!("{message}"),
        }
        let now = Utc::now();
        if let Err(e) = self.with_state(move |_, st| Ok(st.log_event(level, SOURCE, &message, now)?)).await {
            tracing::error!("cannot record an event in the state database: {e:#}");
        }
    }
}

fn user_id(user: &teloxide::types::User) -> i64 {
    user.id.0 as i64
}

/// The whole handler tree: messages and button presses, each checked
/// against the admin list first. The binary and the tests both use it.
pub fn schema() -> UpdateHandler<HandlerError> {
    // Screens show user ids, paths and logs: never to a group's members.
    let messages = Update::filter_message()
        .branch(
            dptree::filter(|m: Message| !m.chat.is_private())
                .branch(dptree::entry().filter_command::<Command>().endpoint(on_group_message))
                .endpoint(ignore),
        )
        .branch(
            dptree::filter(|m: Message, app: Arc<App>| {
                m.from.as_ref().is_some_and(|u| app.cfg.telegram.is_admin(user_id(u)))
            })
            .branch(dptree::entry().filter_command::<Command>().endpoint(on_admin_message))
            .endpoint(ignore),
        )
        .endpoint(refuse_message);
    let callbacks = Update::filter_callback_query()
        .branch(
            dptree::filter(|q: CallbackQuery| q.message.as_ref().is_some_and(|m| !m.chat().is_private()))
                .endpoint(refuse_group_callback),
        )
        .branch(
            dptree::filter(|q: CallbackQuery, app: Arc<App>| app.cfg.telegram.is_admin(user_id(&q.from)))
                .endpoint(on_callback),
        )
        .endpoint(refuse_callback);
    dptree::entry().branch(messages).branch(callbacks)
}

/// The commands in Telegram's command menu; both open the dashboard. A
/// payload (`/start x`) is ignored; `/admin@otherbot` is not ours.
#[derive(BotCommands, Clone, Copy, Debug, PartialEq, Eq)]
#[command(rename_rule = "lowercase")]
pub enum Command {
    /// Opens the dashboard.
    #[command(description = "Open the Lifeboat dashboard")]
    Admin,
    /// What Telegram sends when someone first opens the bot.
    #[command(description = "Start (admins: opens the dashboard)")]
    Start,
}

/// Other messages from admins, and anything but our commands in groups.
async fn ignore() -> HandlerResult {
    Ok(())
}

async fn on_admin_message(bot: DashBot, msg: Message) -> HandlerResult {
    bot.send_message(msg.chat.id, text::menu()).parse_mode(ParseMode::Html).reply_markup(keyboard::menu()).await?;
    Ok(())
}

/// In a group, an admin's menu command gets one line pointing to the private
/// chat; everything else there is left alone (a bot that answered every
/// stranger in a group would be noise).
async fn on_group_message(bot: DashBot, msg: Message, app: Arc<App>) -> HandlerResult {
    if msg.from.as_ref().is_some_and(|u| app.cfg.telegram.is_admin(user_id(u))) {
        bot.send_message(msg.chat.id, text::PRIVATE_ONLY).await?;
    }
    Ok(())
}

async fn refuse_group_callback(bot: DashBot, q: CallbackQuery) -> HandlerResult {
    bot.answer_callback_query(q.id).text(text::PRIVATE_ONLY).show_alert(true).await?;
    Ok(())
}

async fn refuse_message(bot: DashBot, msg: Message, me: teloxide::types::Me, app: Arc<App>) -> HandlerResult {
    // Channel posts and the like have no user to answer.
    let Some(user) = msg.from.as_ref() else { return Ok(()) };
    if !app.strangers.may_answer(user_id(user), Utc::now()) {
        return Ok(());
    }
    let command = msg.text().is_some_and(|t| Command::parse(t, me.username()).is_ok());
    let what = if command { "a command" } else { "a message" };
    app.log(Level::Warn, text::refused_event(user_id(user), user.username.as_deref(), what)).await;
    bot.send_message(msg.chat.id, text::REFUSAL).await?;
    Ok(())
}

async fn refuse_callback(bot: DashBot, q: CallbackQuery, app: Arc<App>) -> HandlerResult {
    // A press must be answered (or the button spins), but only the first
    // in a while says why and is logged.
    if !app.strangers.may_answer(user_id(&q.from), Utc::now()) {
        bot.answer_callback_query(q.id).await?;
        return Ok(());
    }
    app.log(Level::Warn, text::refused_event(user_id(&q.from), q.from.username.as_deref(), "a button press")).await;
    bot.answer_callback_query(q.id).text(text::REFUSAL_ALERT).show_alert(true).await?;
    Ok(())
}

/// What the callback answer says.
#[derive(Debug, Default)]
struct Answer {
    text: Option<String>,
    alert: bool,
}

impl Answer {
    fn toast(t: impl Into<String>) -> Answer {
        Answer { text: Some(t.into()), alert: false }
    }
    fn alert(t: impl Into<String>) -> Answer {
        Answer { text: Some(t.into()), alert: true }
    }
}

/// Answers every press, also when acting on it failed.
async fn on_callback(bot: DashBot, q: CallbackQuery, app: Arc<App>) -> HandlerResult {
    let now = Utc::now();
    let result = match q.data.as_deref().and_then(callback::parse) {
        Some(action) => act(&bot, &q, &app, action, now).await,
        None => {
            let message = format!("ignored unknown button data from admin {}: {:?}", user_id(&q.from), q.data);
            app.log(Level::Warn, message).await;
            Ok(Answer::toast(text::TOAST_UNKNOWN_BUTTON))
        }
    };
    let answer = match &result {
        Ok(a) => a,
        Err(e) => &Answer::alert(text::error_toast(&crate::redact(&format!("{e:#}"), &app.cfg))),
    };
    let mut req = bot.answer_callback_query(q.id.clone());
    if let Some(t) = &answer.text {
        req = req.text(t).show_alert(answer.alert);
    }
    let answered = req.await;
    result?;
    answered?;
    Ok(())
}

/// The message a press came from, to edit in place.
#[derive(Debug, Clone, Copy)]
struct Target {
    chat: ChatId,
    message: Option<MessageId>,
}

impl Target {
    fn of(q: &CallbackQuery) -> Target {
        match &q.message {
            Some(m) => Target { chat: m.chat().id, message: Some(m.id()) },
            None => Target { chat: ChatId(user_id(&q.from)), message: None },
        }
    }
}

/// Shows a screen: edits the message in place, or sends a new one when
/// there is none to edit. Returns the message shown.
async fn show(
    bot: &DashBot,
    to: Target,
    body: String,
    kb: Option<InlineKeyboardMarkup>,
) -> Result<Target, RequestError> {
    if let Some(id) = to.message {
        let mut req = bot.edit_message_text(to.chat, id, body).parse_mode(ParseMode::Html);
        if let Some(kb) = kb {
            req = req.reply_markup(kb);
        }
        return match req.await {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(to),
            Err(e) => Err(e),
        };
    }
    let mut req = bot.send_message(to.chat, body).parse_mode(ParseMode::Html);
    if let Some(kb) = kb {
        req = req.reply_markup(kb);
    }
    let sent = req.await?;
    Ok(Target { chat: sent.chat.id, message: Some(sent.id) })
}

async fn act(
    bot: &DashBot,
    q: &CallbackQuery,
    app: &Arc<App>,
    action: Action,
    now: DateTime<Utc>,
) -> anyhow::Result<Answer> {
    let to = Target::of(q);
    let user = user_id(&q.from);
    let screen = match action {
        Action::Menu => Some((text::menu(), keyboard::menu())),
        Action::Status => Some(
            screen(app, "the status", action, move |cfg, st| Ok(text::status(&data::status(cfg, st, now)?, now))).await,
        ),
        Action::Health => Some(
            screen(app, "health", action, move |cfg, st| Ok(text::health(&data::health(cfg, st, now)?, now))).await,
        ),
        Action::Logs { offset } => {
            let page = app.with_state(move |_, st| data::logs(st, offset)).await;
            Some(match page {
                Ok(page) => {
                    let (body, shown) = text::logs(&page);
                    let more = shown < page.events.len() || page.more;
                    (body, keyboard::logs(offset, more.then_some(offset + shown as u32)))
                }
                Err(e) => (text::screen_error("the logs", &format!("{e:#}")), keyboard::back()),
            })
        }
        Action::Backups => {
            let is_owner = app.is_owner(user);
            Some(match app.with_state(data::backups).await {
                Ok(rows) => (text::backups(&rows, is_owner, now), keyboard::backups(&rows, is_owner)),
                Err(e) => (text::screen_error("the backups", &format!("{e:#}")), keyboard::back()),
            })
        }
        Action::Resend(stamp) => return Ok(resend(bot, app, user, stamp)),
        Action::BackupNow => return backup_now(bot, app, to, now).await,
        Action::RestoreAsk(stamp) => return restore_ask(bot, app, q, to, stamp, now).await,
        Action::RestoreYes(stamp, nonce) => return restore_yes(bot, app, q, to, stamp, nonce, now).await,
        Action::Unpin(stamp) => return unpin(bot, app, user, to, stamp).await,
    };
    if let Some((body, kb)) = screen {
        let shown = show(bot, to, body, Some(kb)).await?;
        if to.message.is_none() && shown.message.is_some() {
            return Ok(Answer::toast(text::TOAST_SENT_NEW));
        }
    }
    Ok(Answer::default())
}

/// A read-only screen with a Refresh button; errors become the screen.
async fn screen(
    app: &Arc<App>,
    what: &'static str,
    refresh: Action,
    render: impl FnOnce(&Config, &State) -> anyhow::Result<String> + Send + 'static,
) -> (String, InlineKeyboardMarkup) {
    match app.with_state(render).await {
        Ok(body) => (body, keyboard::refresh_back(refresh)),
        Err(e) => (text::screen_error(what, &format!("{e:#}")), keyboard::refresh_back(refresh)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_commands() {
        use teloxide::utils::command::BotCommands as _;
        for t in ["/admin", "/start", "/admin@lifeboat_bot", "/start payload", "/admin  x"] {
            assert!(Command::parse(t, "lifeboat_bot").is_ok(), "{t}");
        }
        for t in ["admin", "/administrator", "hello /admin", "/help", "", "/admin@other_bot", "/ADMIN"] {
            assert!(Command::parse(t, "lifeboat_bot").is_err(), "{t}");
        }
    }

    #[test]
    fn one_job_at_a_time_and_freed_on_drop() {
        let app = App::new(Config::from_toml("").unwrap(), CancellationToken::new());
        let now = Utc::now();
        let g = app.try_start_job(JobKind::Backup, now).unwrap();
        assert_eq!(app.try_start_job(JobKind::Restore, now).unwrap_err(), (JobKind::Backup, now));
        drop(g);
        app.try_start_job(JobKind::Restore, now).unwrap();
    }
}
