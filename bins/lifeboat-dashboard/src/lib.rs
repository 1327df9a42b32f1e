//! `lifeboat-dashboard`: the admins' Telegram dashboard (teloxide, long
//! polling). `/admin` shows one message whose inline keyboard leads to
//! Status, Backup now, Logs, Health and Backups, each edited in place.
//!
//! - [`handlers::schema`]: the whole handler tree, checked against the
//!   admin list for messages and button presses alike.
//! - [`callback`]: the buttons' data, versioned and parsed strictly.
//! - [`text`]: every word it says; [`keyboard`]: the buttons.
//! - [`data`]: what the screens show, read with a given `now`.
//! - [`pending`]: the owner's restore confirmations.
//! - [`strangers`]: one refusal per stranger per window.
//! - [`ops`]: backup, re-send and restore, done by the other crates.

pub mod callback;
pub mod data;
pub mod handlers;
pub mod keyboard;
pub mod ops;
pub mod pending;
pub mod strangers;
pub mod text;

pub use handlers::{App, schema};

/// Replaces the bot token in `text` (errors may carry request URLs).
/// The same rule as every delivery error: pieces of the secret go too.
pub fn redact(text: &str, cfg: &lifeboat_engine::Config) -> String {
    lifeboat_telegram::error::scrub(text, cfg.telegram.token.expose())
}
