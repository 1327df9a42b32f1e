//! Destinations that deliver archives and alerts as messages: a Discord
//! channel through its webhook ([`discord`]) and mailboxes through an SMTP
//! relay ([`email`]); alerts only, to the Discord bot's owner by direct
//! message ([`discord::dm`]) and as HTTP POSTs to any endpoint
//! ([`webhook`]). Each kind is a folder holding everything about it: its
//! config section (parsed, checked and given its secrets through
//! [`lifeboat_core::destination::Section`], which the engine's loading
//! calls), its sending, its alerts and its probe for `diagnose`, opened from
//! that section and the [`Surroundings`], never the whole configuration.
//! Discord and email keep one outbox row per archive in the state database
//! (see [`lifeboat_core::destination::drain_copies`]): an archive is
//! recorded as sent only once the service confirmed it, and one that was
//! not is tried again next cycle.
//!
//! # Error policy
//! Every failure is a [`CopyFailure`]: a [`FailureCode`] that reports and
//! Health match on, words for people that never hold the webhook URL or the
//! SMTP password (a reqwest error is shown `without_url`), and whether
//! trying again can help. What only the operator can fix (a wrong token or
//! password, an attachment over the service's limit) is permanent and not
//! retried with this archive. Network trouble, 5xx answers, SMTP 4xx replies
//! and rate limits longer than a minute are transient: retried with backoff
//! per `[retry]` within the cycle, then left pending for the next one. The
//! parts a service already confirmed are recorded, so a retry starts after
//! them.

mod connect;
pub mod discord;
pub mod email;
pub mod webhook;

use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::destination::{CopyFailure, Surroundings};
use lifeboat_core::manifest::Manifest;
use lifeboat_core::state::FailureCode;
use std::io::{Read, Seek, SeekFrom};

pub use connect::{ConnectError, connects};
pub use discord::{DiscordDestination, DiscordOwnerDm};
pub use email::{EmailDestination, SetupError};
pub use webhook::WebhookDestination;

/// Reads `len` bytes at `offset` of an archive, across its files as if they
/// were one, on a blocking thread.
async fn read_range(archive: &StoredArchive, offset: u64, len: u64) -> Result<Vec<u8>, CopyFailure> {
    let files = archive.files.clone();
    let name = archive.name.clone();
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut r = lifeboat_core::parts::MultiFileReader::open(&files)?;
        r.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(len as usize);
        r.take(len).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the archive is shorter than listed"));
        }
        Ok(buf)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    read.map_err(|e| CopyFailure::permanent(FailureCode::FileUnreadable, format!("cannot read {name}: {e}")))
}

/// What a message says about an archive: the same words the admins get in
/// Telegram, from its manifest read once.
struct Captions<'a> {
    archive: &'a StoredArchive,
    manifest: Option<Manifest>,
    mode: lifeboat_core::seal::Mode,
}

impl<'a> Captions<'a> {
    fn new(around: &Surroundings, archive: &'a StoredArchive) -> Captions<'a> {
        let manifest = lifeboat_core::caption::manifest_of(&around.keys, around.state().ok().as_ref(), archive);
        Captions { archive, manifest, mode: lifeboat_core::verify::seal_mode(archive) }
    }

    /// The caption of part `part` of `parts`.
    fn part(&self, part: u32, parts: u32) -> String {
        let a = self.archive;
        lifeboat_core::caption::caption(&a.name, self.mode, self.manifest.as_ref(), a.size, part, parts)
    }

    /// Some database was skipped (as far as the manifest can be read here).
    fn partial(&self) -> bool {
        self.manifest.as_ref().is_some_and(Manifest::is_partial)
    }
}

/// `text` cut to at most `max` characters, marked with "…" when cut.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_cuts_on_characters() {
        assert_eq!(fit("hello", 5), "hello");
        assert_eq!(fit("héllo wörld", 5), "héll…");
    }
}
