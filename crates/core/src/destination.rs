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

    /// Whether alerts can go here (a bucket holds archives, not messages).
    fn carries_text(&self) -> bool {
        true
    }

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

/// `[[destinations.*]]`: where archives go besides the Telegram admins.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationsConfig {
    /// `[[destinations.s3]]`
    #[serde(default)]
    pub s3: Vec<S3Config>,
}

/// One `[[destinations.s3]]`: an S3-compatible bucket (AWS, MinIO,
/// SeaweedFS, R2, B2). Its Debug shows no secret: [`crate::config::Secret`]
/// never does.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Its name, for `fetch`, `list --remote` and reports.
    pub name: String,
    /// The service's URL; "" = AWS itself.
    #[serde(default)]
    pub endpoint: String,
    /// The bucket (it must exist).
    pub bucket: String,
    /// Prepended to each archive's name to make its key.
    #[serde(default)]
    pub prefix: String,
    /// The region ("us-east-1" where the service has none).
    #[serde(default = "default_region")]
    pub region: String,
    /// The access key id; "" = `AWS_ACCESS_KEY_ID`.
    #[serde(default)]
    pub access_key_id: String,
    /// The file holding the secret access key; "" = `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub secret_access_key_file: std::path::PathBuf,
    /// The secret access key, from the file or the environment.
    #[serde(skip)]
    pub secret_access_key: crate::config::Secret,
}

fn default_region() -> String {
    "us-east-1".to_string()
}

impl S3Config {
    /// Its id in the off-site outbox.
    pub fn id(&self) -> String {
        format!("s3:{}", self.name)
    }
}
