//! Words shared by the replies. Discord renders Markdown: names go in
//! backticks, which a name cannot break out of (archive and database names
//! are plain names).

use chrono::{DateTime, Utc};

/// Discord's limit on a message's text, in characters.
pub const MAX_MESSAGE: usize = 2000;

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A time as people read it here: `2024-01-15 02:00 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `text` as inline code, without backticks inside.
pub fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

/// What anyone who may not use a command is told: no data.
pub const REFUSED: &str = "You are not allowed to use this bot's commands.";

/// What an admin who is not the owner is told about /restore.
pub const OWNER_ONLY: &str = "Only the owner may restore.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_marks_a_cut() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("ééééé", 3).chars().count(), 3);
    }
}
