//! Where archives go once written and verified, and who hears when
//! something needs people. Each kind of destination (Telegram, S3, Discord,
//! email) is an [`ArchiveSink`], and a [`Notifier`] when it carries
//! messages; one whose outbox rows are whole archives implements
//! [`CopySink`] and is made a sink by [`Copies`]. The cycle hands every
//! archive to each configured sink and reads what happened from the durable
//! outbox in the state database, the single source of truth for what a
//! destination confirmed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::catalog::StoredArchive;
use crate::state::{FailureCode, Level, OutboxStatus, State, StateError};

mod id;
mod probe;
mod section;
pub use id::{BadDestinationId, DestinationId, DestinationKind, NotifierKind};
pub use probe::{Answer, Opened, Probe, ProbeContext, ProbeError, SetupFailed, Unusable};
pub use section::{Keep, Section, read_secret};

/// A future a destination returns; boxed so destinations can be trait
/// objects, `Send` so a cycle can run on any thread.
pub use futures_util::future::BoxFuture;

/// Where archives go: each configured destination that holds them
/// (Telegram's admins, a bucket, a channel, a mailbox). The cycle hands it
/// every archive through the outbox.
pub trait ArchiveSink: Send + Sync {
    /// Its id in the outbox and in logs ("telegram", "s3:offsite").
    fn id(&self) -> &DestinationId;

    /// Whether anyone is configured to receive archives here.
    fn has_recipients(&self) -> bool;

    /// Records `archive` in the outbox for every recipient, so a crash or a
    /// stop before it is sent loses nothing.
    fn enqueue(&self, state: &State, archive: &StoredArchive, at: DateTime<Utc>) -> Result<(), StateError>;

    /// Sends what the outbox holds pending, with retry, until done or
    /// `cancel`; removes from the destination what local retention removed,
    /// where it can. Outcomes are recorded in the outbox as they happen.
    fn deliver_pending<'a>(&'a self, cancel: &'a CancellationToken) -> BoxFuture<'a, ()>;

    /// What the outbox still owes this destination: archives not yet
    /// confirmed and tried again next cycle (refused for good is not owed).
    fn owed(&self, state: &State) -> Result<Vec<Owed>, StateError> {
        Ok(state
            .copies(self.id(), OutboxStatus::Pending)?
            .into_iter()
            .map(|c| Owed { archive: c.archive, destination: c.destination, recipient: None, why: c.last_error })
            .collect())
    }
}

/// What a destination needs besides its own section: the folder the
/// archives are in, the state database, the keys that open a sealed
/// archive's manifest (for captions and a differential's base), the
/// retry policy and what it may tell people of the rest. Destinations get this and their own settings, never the
/// whole configuration. Built from one by `Config::surroundings` (in the
/// engine).
#[derive(Debug, Clone)]
pub struct Surroundings {
    pub output_dir: std::path::PathBuf,
    /// The state database's file.
    pub state_path: std::path::PathBuf,
    pub keys: crate::seal::Keys,
    pub retry: crate::config::retry::RetryConfig,
    /// `monitoring.quiet_routine`: routine archives go without a
    /// notification sound, where the destination can say so.
    pub quiet_routine: bool,
    /// Where every archive also goes, in words ("s3:offsite", "the
    /// Telegram admins"), for a destination that points people to the
    /// other copies.
    pub elsewhere: Vec<String>,
}

impl Surroundings {
    /// Opens the state database.
    pub fn state(&self) -> Result<State, StateError> {
        State::open(&self.state_path)
    }
}

/// An archive a destination has not confirmed yet: it stays in the outbox
/// and is tried again next cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owed {
    /// The archive's name.
    pub archive: String,
    /// The destination that is owed it.
    pub destination: DestinationId,
    /// Who there, where the destination has several recipients and each
    /// is owed it on its own ("admin 42").
    pub recipient: Option<String>,
    /// The last failure's words, when there was one.
    pub why: Option<String>,
}

impl std::fmt::Display for Owed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} to {}", self.archive, self.destination)?;
        if let Some(recipient) = &self.recipient {
            write!(f, " {recipient}")?;
        }
        match &self.why {
            Some(why) => write!(f, " (last error: {why})"),
            None => Ok(()),
        }
    }
}

/// Where alerts go: each configured destination that carries messages to
/// people (a bucket carries none).
pub trait Notifier: Send + Sync {
    /// Its kind, as logs and reports name it ("telegram").
    fn kind(&self) -> NotifierKind;

    /// Whether anyone is configured to hear alerts here.
    fn has_recipients(&self) -> bool;

    /// Tells the people behind this destination that something needs them.
    /// The destination fits `text` to its own limits.
    fn alert<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>>;

    /// An alert that pinned `archive`: where the destination can, it offers
    /// a way to acknowledge (and unpin) it; otherwise a plain [`Self::alert`].
    fn alert_pinned<'a>(&'a self, text: &'a str, archive: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        let _ = archive;
        self.alert(text)
    }

    /// A scheduled backup went well. Destinations whose people asked to
    /// hear about every one (the Discord bot's owner) tell them; the others
    /// stay quiet, as they do by default (archives already reach them).
    fn backed_up<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        let _ = text;
        Box::pin(async { Ok(()) })
    }
}

/// Why one attempt to hand an archive over failed.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFailure {
    /// What the reports match on.
    pub code: FailureCode,
    /// The same in words, without any secret.
    pub message: String,
    /// Not worth trying again with this archive.
    pub permanent: bool,
    /// Parts the destination confirmed before it failed: the next attempt
    /// starts after them.
    pub sent_parts: u32,
}

impl CopyFailure {
    /// A failure the next cycle tries again.
    pub fn transient(code: FailureCode, message: impl Into<String>) -> CopyFailure {
        CopyFailure { code, message: message.into(), permanent: false, sent_parts: 0 }
    }

    /// A failure not worth trying again with this archive.
    pub fn permanent(code: FailureCode, message: impl Into<String>) -> CopyFailure {
        CopyFailure { code, message: message.into(), permanent: true, sent_parts: 0 }
    }
}

impl std::fmt::Display for CopyFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why an alert reached nobody at a destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AlertError {
    /// What went wrong, as a code.
    pub code: FailureCode,
    /// The same in words, without any secret.
    pub message: String,
    /// Trying again will not help until someone changes something (a
    /// token, a password, an address, a blocked bot).
    pub permanent: bool,
}

impl AlertError {
    /// A failure that may pass: the next alert may get through.
    pub fn transient(code: FailureCode, message: impl Into<String>) -> AlertError {
        AlertError { code, message: message.into(), permanent: false }
    }

    /// A failure that stays until the configuration changes.
    pub fn permanent(code: FailureCode, message: impl Into<String>) -> AlertError {
        AlertError { code, message: message.into(), permanent: true }
    }
}

impl From<CopyFailure> for AlertError {
    fn from(f: CopyFailure) -> AlertError {
        AlertError { code: f.code, message: f.message, permanent: f.permanent }
    }
}

/// Why what a destination holds of an archive local retention removed
/// could not be removed there; the next cycle tries again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RetireError {
    /// What went wrong, as a code.
    pub code: FailureCode,
    /// The same in words, without any secret.
    pub message: String,
}

/// One archive to hand over to a [`CopySink`].
#[derive(Clone, Copy)]
pub struct Handover<'a> {
    pub archive: &'a StoredArchive,
    /// Parts a former attempt got confirmed: this one starts after them.
    pub sent_parts: u32,
    pub cancel: &'a CancellationToken,
}

/// A destination whose outbox rows are whole archives (one row per
/// archive): a bucket, a channel, a mailbox. It says how to hand one
/// archive over; [`Copies`] makes it an [`ArchiveSink`], and
/// [`drain_copies`] runs its outbox.
pub trait CopySink: Send + Sync {
    /// Its id in the outbox ("s3:offsite", "discord", "email").
    fn id(&self) -> &DestinationId;

    /// Whether anyone is configured to receive archives here.
    fn has_recipients(&self) -> bool {
        true
    }

    /// Hands an archive over; Ok(bytes the destination confirmed).
    fn send<'a>(&'a self, job: Handover<'a>) -> BoxFuture<'a, Result<u64, CopyFailure>>;

    /// Local retention removed `archive`: remove what the destination holds
    /// of it, where it can (a message once sent stays sent).
    fn retire<'a>(&'a self, archive: &'a str) -> BoxFuture<'a, Result<(), RetireError>> {
        let _ = archive;
        Box::pin(async { Ok(()) })
    }
}

/// What a differential needs at a destination before it goes there: the
/// full archive it completes. Without its base a differential restores
/// nothing, so every destination gets the base first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseNeed {
    /// A full archive (or one whose base cannot be read here): it goes as it is.
    Nothing,
    /// The base, still on disk.
    Stored(StoredArchive),
    /// The base's name; it is no longer on disk.
    Gone(String),
}

/// The base `archive` (in `dir`) needs, found through its manifest (or the
/// copy the state database kept of it; `keys` open a sealed one).
pub fn base_need(dir: &std::path::Path, keys: &crate::seal::Keys, state: &State, archive: &str) -> BaseNeed {
    if !crate::catalog::ArchiveName::parse(archive).is_ok_and(|n| n.is_differential()) {
        return BaseNeed::Nothing;
    }
    let Ok(stored) = crate::catalog::resolve(dir, archive) else { return BaseNeed::Nothing };
    let base = match crate::verify::known_manifest(&stored, keys, Some(state)) {
        Ok(m) => m.base.map(|b| b.archive),
        Err(e) => {
            tracing::warn!(archive, "cannot tell the base of a differential: {e}");
            None
        }
    };
    match base {
        None => BaseNeed::Nothing,
        Some(name) => match crate::catalog::resolve(dir, &name) {
            Ok(b) => BaseNeed::Stored(b),
            Err(_) => BaseNeed::Gone(name),
        },
    }
}

/// Why a differential does not go to a destination lacking its base `name`
/// because the base is no longer on disk.
pub fn base_gone_reason(name: &str, dir: &std::path::Path) -> String {
    format!(
        "its base {name} is no longer in {} and never reached this destination, so it would restore nothing there; \
         it is not sent, and the next archive reaches this destination together with a base still on disk",
        dir.display()
    )
}

/// The [`ArchiveSink`] of a [`CopySink`]: one row per archive in the
/// outbox, drained by [`drain_copies`]. The sink is shared, so the same
/// destination can also be a [`Notifier`].
pub struct Copies<S: ?Sized> {
    surroundings: Surroundings,
    sink: Arc<S>,
}

impl<S: CopySink + ?Sized> Copies<S> {
    pub fn new(surroundings: Surroundings, sink: Arc<S>) -> Copies<S> {
        Copies { surroundings, sink }
    }
}

impl<S: CopySink + ?Sized> ArchiveSink for Copies<S> {
    fn id(&self) -> &DestinationId {
        self.sink.id()
    }

    fn has_recipients(&self) -> bool {
        self.sink.has_recipients()
    }

    fn enqueue(&self, state: &State, archive: &StoredArchive, at: DateTime<Utc>) -> Result<(), StateError> {
        state.enqueue_copy(&archive.name, self.sink.id(), at)
    }

    /// Outcomes are in the outbox; only an outbox that cannot be used is
    /// logged here.
    fn deliver_pending<'a>(&'a self, cancel: &'a CancellationToken) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = drain_copies(&self.surroundings, &*self.sink, cancel).await {
                tracing::error!("{}: cannot use the outbox: {e}", self.sink.id());
            }
        })
    }
}

/// Works through `sink`'s rows of the outbox: every pending archive is
/// handed over and the outcome recorded once the destination confirmed it;
/// every retired one is removed from the destination, then forgotten.
pub async fn drain_copies<S: CopySink + ?Sized>(
    around: &Surroundings,
    sink: &S,
    cancel: &CancellationToken,
) -> Result<(), StateError> {
    let state = around.state()?;
    let id = sink.id();
    let dir = &around.output_dir;
    let bases = owe_bases(around, &state, id)?;
    for copy in state.copies(id, OutboxStatus::Pending)? {
        if cancel.is_cancelled() {
            return Ok(());
        }
        let outcome = match bases.get(&copy.archive) {
            Some(BaseNeed::Stored(base)) if state.copy_status(&base.name, id)? != Some(OutboxStatus::Delivered) => {
                let msg = format!("{} waits for its base {} to reach {id}", copy.archive, base.name);
                tracing::info!("{msg}");
                continue;
            }
            Some(BaseNeed::Gone(base)) if state.copy_status(base, id)? != Some(OutboxStatus::Delivered) => {
                Err(CopyFailure::permanent(FailureCode::BaseMissing, base_gone_reason(base, dir)))
            }
            _ => match crate::catalog::resolve(dir, &copy.archive) {
                Ok(archive) => sink.send(Handover { archive: &archive, sent_parts: copy.progress, cancel }).await,
                Err(e) => Err(CopyFailure::permanent(
                    FailureCode::FileUnreadable,
                    format!("{} is no longer in {}: {e}", copy.archive, dir.display()),
                )),
            },
        };
        let now = Utc::now();
        match outcome {
            Ok(size) => {
                state.mark_copied(&copy.archive, id, size, now)?;
                let msg = format!("{} sent to {id} ({size} bytes)", copy.archive);
                tracing::info!("{msg}");
                state.log_event(Level::Info, "delivery", &msg, now)?;
            }
            Err(e) => {
                if e.sent_parts > copy.progress {
                    state.record_copy_progress(&copy.archive, id, e.sent_parts)?;
                }
                state.mark_copy_failed(&copy.archive, id, e.code, &e.message, e.permanent, now)?;
                let again = if e.permanent { "not tried again" } else { "tried again next cycle" };
                let msg = format!("{} not sent to {id}: {e}; {again}", copy.archive);
                tracing::warn!("{msg}");
                state.log_event(Level::Warn, "delivery", &msg, now)?;
            }
        }
    }
    for copy in state.copies(id, OutboxStatus::Retired)? {
        if cancel.is_cancelled() {
            return Ok(());
        }
        match sink.retire(&copy.archive).await {
            Ok(()) => {
                state.forget_copy(&copy.archive, id)?;
                let msg = format!("{} removed from {id}: local retention removed it", copy.archive);
                state.log_event(Level::Info, "retention", &msg, Utc::now())?;
            }
            Err(e) => tracing::warn!("{id}: {e}; tried again next cycle"),
        }
    }
    Ok(())
}

/// The base each pending differential of `id` needs; a base still on disk
/// that `id` neither holds nor is owed is owed again (a destination added
/// later, or a base whose copy failed for good), so it goes first.
fn owe_bases(
    around: &Surroundings,
    state: &State,
    id: &DestinationId,
) -> Result<std::collections::HashMap<String, BaseNeed>, StateError> {
    let mut bases = std::collections::HashMap::new();
    for copy in state.copies(id, OutboxStatus::Pending)? {
        let need = base_need(&around.output_dir, &around.keys, state, &copy.archive);
        if let BaseNeed::Stored(base) = &need
            && !matches!(state.copy_status(&base.name, id)?, Some(OutboxStatus::Delivered | OutboxStatus::Pending))
        {
            state.owe_copy(&base.name, id, Utc::now())?;
            let msg = format!("{} owed to {id} again: {} needs it there", base.name, copy.archive);
            tracing::info!("{msg}");
            state.log_event(Level::Info, "delivery", &msg, Utc::now())?;
        }
        bases.insert(copy.archive, need);
    }
    Ok(bases)
}
