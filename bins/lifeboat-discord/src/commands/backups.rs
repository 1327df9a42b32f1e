//! `/backups list`: the newest archives, as the seed's list showed them
//! (time, files, size) with whether each verified and where it went.

use std::sync::Arc;

use lifeboat_core::catalog;
use lifeboat_core::state::OutboxStatus;
use lifeboat_core::units::human_size;
use twilight_model::application::interaction::Interaction;

use crate::App;
use crate::discord::Say;
use crate::text::{code, time};

/// Archives listed.
pub const SHOWN: usize = 10;

/// One archive in the list.
#[derive(Debug, Clone)]
pub struct Row {
    pub archive: catalog::StoredArchive,
    /// Verified after writing (None: no run recorded it).
    pub verified: Option<bool>,
    /// Telegram chats that received every part.
    pub chats: usize,
    /// Other destinations (buckets, the webhook, email) that confirmed it.
    pub stores: usize,
}

/// Reads the newest archives. Blocking.
pub fn rows(cfg: &lifeboat_engine::Config) -> anyhow::Result<(Vec<Row>, usize)> {
    let st = cfg.open_state()?;
    let all = catalog::list(&cfg.backup.output_dir)?;
    let total = all.len();
    let mut rows = Vec::new();
    for archive in all.into_iter().take(SHOWN) {
        let verified = st.run_for_archive(&archive.name)?.map(|r| r.end.verified);
        let chats = st.delivered_chats(&archive.name)?.len();
        let stores = st.copies_of(&archive.name)?.iter().filter(|c| c.status == OutboxStatus::Delivered).count();
        rows.push(Row { archive, verified, chats, stores });
    }
    Ok((rows, total))
}

/// The list as a message.
pub fn text(rows: &[Row], total: usize) -> String {
    if rows.is_empty() {
        return "📦 **No archives yet.** `/backup now` makes one.".to_string();
    }
    let mut s = String::from("📦 **Archives**, newest first\n");
    for r in rows {
        let verified = match r.verified {
            Some(true) => "verified",
            Some(false) => "NOT verified",
            None => "verified: unknown",
        };
        s += &format!(
            "{} {} - {} file(s), {}, {verified}, delivered to {} chat(s) and {} destination(s)\n",
            time(r.archive.created_at),
            code(&r.archive.name),
            r.archive.files.len(),
            human_size(r.archive.size),
            r.chats,
            r.stores,
        );
    }
    s += &format!("Showing {} of {total}.", rows.len());
    s
}

/// `/backups list`.
pub async fn list(app: Arc<App>, interaction: Interaction) {
    app.defer(&interaction, true).await;
    let cfg = app.cfg.clone();
    let text = match tokio::task::spawn_blocking(move || rows(&cfg)).await {
        Ok(Ok((rows, total))) => text(&rows, total),
        Ok(Err(e)) => format!("❌ Cannot list the archives: {e}"),
        Err(e) => format!("❌ Cannot list the archives: {e}"),
    };
    app.edit(&interaction.token, &Say::private(text)).await;
}
