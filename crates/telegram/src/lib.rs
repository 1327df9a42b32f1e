//! Lifeboat's Telegram destination: delivery of archives to the admins with
//! retry and a durable outbox, and alerts.
//!
//! # Layout
//! - [`client`]: [`Telegram`], the configured bots (an uploading client whose
//!   timeout fits a big file, a polling one for the dashboard), retry with
//!   backon, pacing, and a `Debug` without the token.
//! - [`error`]: what a failed call means (retry, give up on this admin, bad
//!   token), with human reasons scrubbed of the token.
//! - [`delivery`]: what delivery reports, [`enqueue_archive`],
//!   [`Telegram::alert`], [`Telegram::send_archive_to`], and sending one
//!   file (upload once, then `file_id`).
//! - `drain`: [`Telegram::deliver_pending`], the outbox drained in steps:
//!   pending rows by file, the skip rules, send, record.
//! - [`ack`]: the "Acknowledge" button of a shrink alert.
//! - [`limits`]: Telegram's length limits, counted in UTF-16 units.
//! - [`destination`]: [`TelegramDestination`], the cycle's view of all that.
//! - [`section`]: [`TelegramConfig`], the `[telegram]` section: its parse,
//!   its checks and the bot token read from its file.

pub mod ack;
pub mod client;
pub mod delivery;
pub mod destination;
mod drain;
pub mod error;
pub mod limits;
pub mod section;

pub use client::{SentDocument, Telegram};
pub use delivery::{AlertError, AlertReport, Delivered, DeliveryReport, Failure, Resent, enqueue_archive};
pub use destination::TelegramDestination;
pub use error::{FailureKind, SendError};
pub use section::TelegramConfig;
