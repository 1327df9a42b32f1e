//! Telegram's length limits, counted as Telegram counts them: in UTF-16
//! code units, so an emoji such as 📊 costs two.

/// A message's text.
pub const MESSAGE_LIMIT: usize = 4096;
/// A document's caption.
pub use lifeboat_core::caption::CAPTION_LIMIT;

pub use lifeboat_core::caption::{fit_units as fit, len};

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
