//! Value rules the loading and the kinds' sections share: what an http(s)
//! URL must be, and how long one call may take. A file of its own, so that
//! a kind's section can parse its values without depending on the loading.

use url::Url;

/// Longest deadline of one external tool or server call (`timeout_secs`):
/// a day.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

/// One decimal megabyte, the unit of `telegram.max_upload_mb` and every
/// other size given in MB.
pub const MB: u64 = 1_000_000;

/// An http(s) URL with a host, or None.
pub fn http_url(text: &str) -> Option<Url> {
    Url::parse(text).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}
