//! What `lifeboat diagnose` asks of each configured destination, and what
//! the cycle is given of each kind: [`Probe`] (does it answer as it
//! should? nothing is sent) and [`Opened`] (a kind's configured
//! destinations, opened once from the configuration, for both).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{ArchiveSink, BoxFuture, Copies, CopySink, DestinationId, Notifier, Surroundings};
use crate::catalog::StoredArchive;
use crate::state::{FailureCode, State, StateError};

/// A configured destination as `diagnose` asks it whether it answers as it
/// should: it reaches the service and checks what it can without sending
/// anything (no archive, no alert, no ping).
pub trait Probe: Send + Sync {
    /// What the finding is about, as diagnose shows it ("s3:offsite",
    /// "email", "discord-bot").
    fn subject(&self) -> String;

    /// Asks the destination, saying what it answered, or why it did not
    /// answer as it should and what to fix.
    fn probe<'a>(&'a self, ask: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>>;

    /// Whether its answer stands in for the settings' own finding on the
    /// same subject when that one is fine ("token configured" becomes what
    /// the service said), rather than following the settings' findings.
    /// Such answers come before the other probes'.
    fn answers_for_settings(&self) -> bool {
        false
    }
}

/// What a probe is given besides its own settings.
pub struct ProbeContext<'a> {
    /// How long to wait for one outside service that sets no deadline of
    /// its own.
    pub within: Duration,
    newest: OnceLock<Option<String>>,
    find_newest: &'a (dyn Fn() -> Option<String> + Sync),
}

impl<'a> ProbeContext<'a> {
    /// `find_newest` finds the newest archive a cycle sends to the
    /// destinations; it is called once, by the first probe that asks.
    pub fn new(within: Duration, find_newest: &'a (dyn Fn() -> Option<String> + Sync)) -> ProbeContext<'a> {
        ProbeContext { within, newest: OnceLock::new(), find_newest }
    }

    /// The name of the newest archive a cycle sends to the destinations,
    /// when there is one: a destination that keeps archives should hold it.
    pub fn newest(&self) -> Option<&str> {
        self.newest.get_or_init(|| (self.find_newest)()).as_deref()
    }
}

/// What a destination answered a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It answers as it should: what it said.
    Fine(String),
    /// It answers, but something there is behind: what, and what happens
    /// next or what to do.
    Behind { message: String, action: String },
}

/// Why a destination did not answer a probe as it should, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProbeError {
    /// What went wrong, as a code.
    pub code: FailureCode,
    /// The same in words, without any secret.
    pub message: String,
    /// What to fix, in the destination's own words, and what waits
    /// meanwhile.
    pub fix: String,
}

impl ProbeError {
    pub fn new(code: FailureCode, message: impl Into<String>, fix: impl Into<String>) -> ProbeError {
        ProbeError { code, message: message.into(), fix: fix.into() }
    }
}

/// The probe of a configured destination that could not be set up: it
/// answers with why.
pub struct SetupFailed {
    pub subject: String,
    pub error: ProbeError,
}

impl Probe for SetupFailed {
    fn subject(&self) -> String {
        self.subject.clone()
    }

    fn probe<'a>(&'a self, _: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>> {
        Box::pin(async { Err(self.error.clone()) })
    }
}

/// A kind's configured destinations, opened from the configuration: where
/// the cycle hands archives, who hears alerts, and what diagnose probes.
/// Each kind adds its own, and the cycle's registry lists the kinds.
#[derive(Default)]
pub struct Opened {
    pub sinks: Vec<Arc<dyn ArchiveSink>>,
    pub notifiers: Vec<Arc<dyn Notifier>>,
    pub probes: Vec<Arc<dyn Probe>>,
}

impl Opened {
    /// Adds a destination that keeps whole archives (a sink through
    /// [`Copies`]), carries alerts and answers probes.
    pub fn add_in_every_role<D: CopySink + Notifier + Probe + 'static>(&mut self, around: Surroundings, d: Arc<D>) {
        self.sinks.push(Arc::new(Copies::new(around, d.clone())));
        self.notifiers.push(d.clone());
        self.probes.push(d);
    }
}

/// A configured destination that cannot be set up: each archive is recorded
/// as owed to it and failed, so the cycle reports it (exit 3, an alert)
/// rather than finishing as though it were not configured.
pub struct Unusable {
    pub id: DestinationId,
    /// Why, in words.
    pub why: String,
}

impl ArchiveSink for Unusable {
    fn id(&self) -> &DestinationId {
        &self.id
    }

    fn has_recipients(&self) -> bool {
        true
    }

    fn enqueue(&self, state: &State, archive: &StoredArchive, at: DateTime<Utc>) -> Result<(), StateError> {
        state.enqueue_copy(&archive.name, &self.id, at)?;
        state.mark_copy_failed(&archive.name, &self.id, FailureCode::Refused, &self.why, true, at)
    }

    fn deliver_pending<'a>(&'a self, _: &'a CancellationToken) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}
