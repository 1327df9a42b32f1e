//! Dev-only test kit: a fake Telegram Bot API server on 127.0.0.1:0 and
//! SQLite helpers.
//!
//! # Layout
//! - [`fake_telegram`]: the fake Bot API server, with fault injection and
//!   recording of every call and upload.
//! - [`sqlite`]: writer helpers and file corruption for backup tests.
//! - [`tmpfs`]: a small mounted tmpfs for full-disk tests.

pub mod fake_telegram;
pub mod sqlite;

pub mod tmpfs;

pub use fake_telegram::{FakeTelegram, Fault};
