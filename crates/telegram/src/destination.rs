//! Telegram as one of the cycle's destinations.

use std::sync::Arc;

use crate::section::TelegramConfig;
use chrono::{DateTime, Utc};
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::destination::{
    AlertError, Answer, ArchiveSink, BoxFuture, DestinationId, Notifier, Opened, Owed, Probe, ProbeContext, ProbeError,
    Surroundings,
};
use lifeboat_core::state::{State, StateError};
use tokio_util::sync::CancellationToken;

use crate::delivery::outbox_files;
use crate::{FailureKind, SendError, Telegram};

/// Opens Telegram when a bot token is configured in `section`: archives,
/// alerts, and its probe for `diagnose` (`getMe`, whose answer stands in
/// for the settings' finding).
pub fn open_configured(section: &TelegramConfig, around: &Surroundings, out: &mut Opened) {
    let host = section.api_url.host_str().unwrap_or("the Bot API").to_string();
    match TelegramDestination::from_config(section, around) {
        Some(tg) => {
            let tg = Arc::new(tg);
            out.sinks.push(tg.clone());
            out.notifiers.push(tg.clone());
            out.probes.push(Arc::new(BotApiProbe { telegram: Some(tg), host }));
        }
        None if !section.token.is_empty() => out.probes.push(Arc::new(BotApiProbe { telegram: None, host })),
        None => {}
    }
}

/// Telegram as `diagnose` asks it: who the bot is (`getMe`), so a token
/// that is configured but revoked, or an API this server cannot reach, is
/// an error rather than "token configured". Nothing is sent to anyone.
struct BotApiProbe {
    /// None: a token is configured but the HTTP client could not be set up.
    telegram: Option<Arc<TelegramDestination>>,
    /// The Bot API's host, as the fix names it.
    host: String,
}

impl Probe for BotApiProbe {
    fn subject(&self) -> String {
        DestinationId::TELEGRAM.to_string()
    }

    fn probe<'a>(&'a self, ask: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>> {
        Box::pin(async move {
            let probed = match &self.telegram {
                Some(tg) => tg.telegram.probe(ask.within).await,
                None => Err(SendError::transient("cannot set up an HTTP client for Telegram")),
            };
            probed.map(Answer::Fine).map_err(|e| {
                let fix = if e.kind == FailureKind::BadToken {
                    "put the bot's current token from @BotFather in telegram.token_file (or telegram.token); archives \
                     wait in the outbox meanwhile"
                        .to_string()
                } else {
                    format!(
                        "check that this server reaches {} (firewall, DNS, proxy) and that telegram.api_url is right; \
                         archives wait in the outbox and are delivered once it answers",
                        self.host
                    )
                };
                ProbeError::new(e.code, format!("the Bot API does not answer as it should: {e}"), fix)
            })
        })
    }

    fn answers_for_settings(&self) -> bool {
        true
    }
}

/// The configured bot and the admins it sends to.
#[derive(Debug)]
pub struct TelegramDestination {
    telegram: Telegram,
    around: Surroundings,
    id: DestinationId,
}

impl TelegramDestination {
    /// From Telegram's own section and what it needs besides (see
    /// [`Surroundings`]). None when no bot token is configured (delivery
    /// disabled).
    pub fn from_config(section: &TelegramConfig, around: &Surroundings) -> Option<TelegramDestination> {
        let telegram = Telegram::from_config(section, around)?;
        Some(TelegramDestination { telegram, around: around.clone(), id: DestinationId::TELEGRAM })
    }

    fn has_admins(&self) -> bool {
        !self.telegram.admins.is_empty()
    }
}

impl ArchiveSink for TelegramDestination {
    fn id(&self) -> &DestinationId {
        &self.id
    }

    fn has_recipients(&self) -> bool {
        self.has_admins()
    }

    fn enqueue(&self, state: &State, archive: &StoredArchive, at: DateTime<Utc>) -> Result<(), StateError> {
        state.enqueue_deliveries(&archive.name, &outbox_files(archive), &self.telegram.admins, at)
    }

    fn deliver_pending<'a>(&'a self, cancel: &'a CancellationToken) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // Outcomes are in the outbox; the report is for callers that
            // drive delivery themselves.
            let _report = self.telegram.deliver_pending(&self.around, cancel).await;
        })
    }

    /// One entry per archive and admin with a file of it still pending.
    fn owed(&self, state: &State) -> Result<Vec<Owed>, StateError> {
        let mut owed: Vec<Owed> = Vec::new();
        for row in state.pending_deliveries()? {
            let recipient = Some(format!("admin {}", row.chat_id));
            match owed.iter_mut().find(|o| o.archive == row.archive && o.recipient == recipient) {
                Some(o) => {
                    if o.why.is_none() {
                        o.why = row.last_error;
                    }
                }
                None => owed.push(Owed {
                    archive: row.archive,
                    destination: self.id.clone(),
                    recipient,
                    why: row.last_error,
                }),
            }
        }
        Ok(owed)
    }
}

impl Notifier for TelegramDestination {
    fn kind(&self) -> lifeboat_core::destination::NotifierKind {
        lifeboat_core::destination::DestinationKind::Telegram.into()
    }

    fn has_recipients(&self) -> bool {
        self.has_admins()
    }

    fn alert<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        Box::pin(async move { self.telegram.alert(text).await.map(|_| ()).map_err(AlertError::from) })
    }

    fn alert_pinned<'a>(&'a self, text: &'a str, archive: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        Box::pin(async move {
            let data = crate::ack::callback_data(archive);
            let button = data.as_deref().map(|d| (crate::ack::LABEL, d));
            self.telegram.alert_with_button(text, button).await.map(|_| ()).map_err(AlertError::from)
        })
    }
}
