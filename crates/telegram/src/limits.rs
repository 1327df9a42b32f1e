//! Telegram's length limits, counted as Telegram counts them: in UTF-16
//! code units, so an emoji such as 📊 costs two.

use std::borrow::Cow;

/// A message's text.
pub const MESSAGE_LIMIT: usize = 4096;
/// A document's caption.
pub const CAPTION_LIMIT: usize = 1024;

/// Length as Telegram counts it.
pub fn len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `s` cut to at most `limit` units, ending in "…" when cut. Never splits a
/// character.
pub fn fit(s: &str, limit: usize) -> Cow<'_, str> {
    if len(s) <= limit {
        return Cow::Borrowed(s);
    }
    let budget = limit.saturating_sub(1); // "…" is one unit
    let mut used = 0;
    let end = s
        .char_indices()
        .find(|(_, c)| {
            used += c.len_utf16();
            used > budget
        })
        .map_or(s.len(), |(i, _)| i);
    Cow::Owned(format!("{}…", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_utf16_units() {
        assert_eq!(len("📊"), 2);
        assert_eq!(len("abc"), 3);
        assert_eq!(len("é"), 1);
    }

    #[test]
    fn fits_without_splitting_a_character() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("abcdef", 4), "abc…");
        // Three emoji are six units; a limit of 4 leaves room for one and "…".
        assert_eq!(fit("📊📊📊", 4), "📊…");
        assert_eq!(fit("📊📊📊", 5), "📊📊…");
        let long = "x📊".repeat(3000);
        assert_eq!(len(&fit(&long, MESSAGE_LIMIT)), MESSAGE_LIMIT);
    }
}
