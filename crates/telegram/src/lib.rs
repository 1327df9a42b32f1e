//! Lifeboat's Telegram side: delivery of archives to the admins with retry
//! and a durable outbox, alerts, and the backup cycle.
//!
//! # Layout
//! - [`client`]: [`Telegram`], the configured bots (an uploading client whose
//!   timeout fits a big file, a polling one for the dashboard), retry with
//!   backon, pacing, and a `Debug` without the token.
//! - [`error`]: what a failed call means (retry, give up on this admin, bad
//!   token), with human reasons scrubbed of the token.
//! - [`delivery`]: [`enqueue_archive`], [`Telegram::deliver_pending`] (upload
//!   once, then `file_id`), [`Telegram::alert`], [`Telegram::send_archive_to`].
//! - [`caption`]: what the document's caption says.
//! - [`cycle`]: backup → verify → deliver → retention, under the cycle lock.

pub mod caption;
pub mod client;
pub mod cycle;
pub mod delivery;
pub mod error;

pub use client::{SentDocument, Telegram};
pub use delivery::{AlertError, AlertReport, Delivered, DeliveryReport, Failure, Resent, enqueue_archive};
pub use error::{FailureKind, SendError};
