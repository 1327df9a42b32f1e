//! Where archives go once written and verified. Each kind of destination
//! (Telegram today) implements [`Destination`]; the cycle hands every
//! archive to each configured one and reads what happened from the durable
//! outbox in the state database, the single source of truth for what a
//! destination confirmed.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::catalog::StoredArchive;
use crate::state::{State, StateError};

/// A future a destination returns; boxed so destinations can be trait
/// objects, `Send` so a cycle can run on any thread.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One configured destination.
pub trait Destination: Send + Sync {
    /// Its kind, as logs and reports name it ("telegram").
    fn kind(&self) -> &'static str;

    /// Whether anyone is configured to receive archives here.
    fn has_recipients(&self) -> bool;

    /// Records `archive` in the outbox for every recipient, so a crash or a
    /// stop before it is sent loses nothing.
    fn enqueue(&self, state: &State, archive: &StoredArchive, at: DateTime<Utc>) -> Result<(), StateError>;

    /// Sends what the outbox holds pending, with retry, until done or
    /// `cancel`. Outcomes are recorded in the outbox as they happen.
    fn deliver_pending<'a>(&'a self, cancel: &'a CancellationToken) -> BoxFuture<'a, ()>;

    /// Tells the people behind this destination that something needs them.
    /// The destination fits `text` to its own limits.
    fn alert<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), String>>;

    /// An alert that pinned `archive`: where the destination can, it offers
    /// a way to acknowledge (and unpin) it; otherwise a plain [`Self::alert`].
    fn alert_pinned<'a>(&'a self, text: &'a str, archive: &'a str) -> BoxFuture<'a, Result<(), String>> {
        let _ = archive;
        self.alert(text)
    }
}
