//! Dev-only test kit: a fake Telegram Bot API server on 127.0.0.1:0 and
//! SQLite helpers. OWNER: H3 (fake server).
pub mod sqlite;
