//! The inline keyboards. Labels come from [`crate::text::button`]; data
//! from [`crate::callback`].

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::callback::{Action, ArchiveStamp};
use crate::data::ArchiveRow;
use crate::text::button;

fn btn(label: impl Into<String>, action: Action) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(label, action.encode())
}

/// The main menu: the five screens.
pub fn menu() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([
        vec![btn(button::STATUS, Action::Status), btn(button::BACKUP_NOW, Action::BackupNow)],
        vec![btn(button::LOGS, Action::Logs { offset: 0 }), btn(button::HEALTH, Action::Health)],
        vec![btn(button::BACKUPS, Action::Backups)],
    ])
}

/// Just ◀️ Back to the menu.
pub fn back() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![btn(button::BACK, Action::Menu)]])
}

/// 🔄 Refresh (the same screen again) and ◀️ Back.
pub fn refresh_back(refresh: Action) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![btn(button::REFRESH, refresh), btn(button::BACK, Action::Menu)]])
}

/// Logs paging.
pub fn logs(offset: u32, next: Option<u32>) -> InlineKeyboardMarkup {
    let mut row = Vec::new();
    if offset > 0 {
        row.push(btn(button::NEWEST, Action::Logs { offset: 0 }));
    }
    if let Some(next) = next.filter(|n| *n <= crate::callback::MAX_LOG_OFFSET) {
        row.push(btn(button::NEXT_PAGE, Action::Logs { offset: next }));
    }
    let mut rows = vec![];
    if !row.is_empty() {
        rows.push(row);
    }
    rows.push(vec![btn(button::BACK, Action::Menu)]);
    InlineKeyboardMarkup::new(rows)
}

/// One button per archive (re-send), plus ♻️ Restore for the owner.
pub fn backups(rows: &[ArchiveRow], is_owner: bool) -> InlineKeyboardMarkup {
    let mut kb = Vec::new();
    for r in rows {
        let Some(stamp) = ArchiveStamp::from_archive_name(&r.archive.name) else { continue };
        let mut row = vec![btn(button::resend(r), Action::Resend(stamp))];
        if is_owner {
            row.push(btn(button::RESTORE, Action::RestoreAsk(stamp)));
        }
        kb.push(row);
    }
    kb.push(vec![btn(button::BACK, Action::Menu)]);
    InlineKeyboardMarkup::new(kb)
}

/// The restore confirmation.
pub fn confirm_restore(stamp: ArchiveStamp, nonce: u64) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![
        btn(button::YES_RESTORE, Action::RestoreYes(stamp, nonce)),
        btn(button::CANCEL, Action::Backups),
    ]])
}

/// Back to 📦 Backups.
pub fn back_to_backups() -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([vec![btn(button::BACK, Action::Backups)]])
}
