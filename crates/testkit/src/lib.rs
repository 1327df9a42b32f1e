//! Dev-only test kit: fake Telegram and Discord servers on 127.0.0.1:0,
//! real PostgreSQL, Redis, S3 and SMTP servers on loopback, and SQLite
//! helpers.
//!
//! # Layout
//! - [`fake_telegram`]: the fake Bot API server, with fault injection and
//!   recording of every call and upload.
//! - [`background`]: an axum app served from a thread of its own.
//! - [`daemon`]: a daemon's real binary started with a config and a log, and
//!   the processes still running with a marker in their command line.
//! - [`fake_discord`]: a fake Discord webhook with Discord's answers, rate
//!   limit and faults.
//! - [`fake_discord_bot`]: a fake Discord for a bot: the gateway over a
//!   websocket and the REST API, with faults.
//! - [`http_recorder`]: an HTTP server that records requests (or hangs).
//! - [`secrets`]: a configuration naming every secret file of every kind.
//! - [`servers`]: real PostgreSQL, Redis and SeaweedFS servers on loopback.
//! - [`smtp`]: a real SMTP server (aiosmtpd) on loopback.
//! - [`sqlite`]: writer helpers and file corruption for backup tests.
//! - [`tmpfs`]: a small mounted tmpfs for full-disk tests.

pub mod background;
pub mod daemon;
pub mod fake_discord;
pub mod fake_discord_bot;
pub mod fake_telegram;
pub mod http_recorder;
pub mod secrets;
pub mod servers;
pub mod smtp;
pub mod sqlite;

pub mod tmpfs;

pub use fake_discord::{DiscordFault, FakeDiscord};
pub use fake_discord_bot::{BotFault, FakeDiscordBot};
pub use fake_telegram::{FakeTelegram, Fault};
pub use http_recorder::HttpRecorder;
