//! `lifeboat-discord`: Lifeboat's Discord bot (twilight). It registers its
//! slash commands itself and answers them over the gateway:
//!
//! - `/backup now` (admins): a backup cycle with delivery, as the scheduler
//!   runs it; a deferred reply edited with the result.
//! - `/backup status` (admins): the facts `lifeboat status` shows.
//! - `/backups list` (admins): the newest archives.
//! - `/restore ARCHIVE [database]` (the owner): the plan, then Confirm or
//!   Cancel buttons that expire; the restore runs under the cycle lock with
//!   a safety snapshot, by the rules every chat shares
//!   (`lifeboat_engine::restore::chat`).
//!
//! Anyone else gets a short refusal and no data. Replies that show state
//! are ephemeral: only the person who asked sees them.
//!
//! - [`discord`]: the REST client and the gateway, pointed at
//!   `discord.api_url`; answering interactions with retry.
//! - [`commands`]: the command definitions and the dispatch, a module per
//!   command.
//! - [`text`]: the words shared by the replies.

pub mod commands;
pub mod discord;
pub mod text;

use std::sync::Arc;

use lifeboat_core::CancellationToken;
use lifeboat_engine::Config;
use lifeboat_engine::restore::RestorePlan;
use lifeboat_engine::restore::pending::PendingRestores;
use tokio_util::task::TaskTracker;
use twilight_model::id::Id;
use twilight_model::id::marker::ApplicationMarker;

/// Everything a command needs.
pub struct App {
    pub cfg: Config,
    /// The REST client (never logged: it holds the token).
    pub http: twilight_http::Client,
    /// The application, from the gateway's READY.
    pub application_id: Id<ApplicationMarker>,
    /// Restore plans shown to the owner, waiting for Confirm.
    pub pending: PendingRestores<RestorePlan>,
    /// Stops a running backup or restore.
    pub cancel: CancellationToken,
    /// Backups and restores under way, waited for at shutdown.
    pub work: TaskTracker,
}

impl App {
    /// The app for `application_id`.
    pub fn new(cfg: Config, http: twilight_http::Client, application_id: Id<ApplicationMarker>) -> Arc<App> {
        Arc::new(App {
            cfg,
            http,
            application_id,
            pending: PendingRestores::default(),
            cancel: CancellationToken::new(),
            work: TaskTracker::new(),
        })
    }
}
