//! Numbers for people, shared by every message Lifeboat writes (CLI,
//! `backup_info.txt`, captions, dashboard), so they all say the same.

/// Bytes in decimal units, like `telegram.max_upload_mb` and phones:
/// "512 B", "3.4 kB", "12.0 MB".
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// A span of time for people: "45 s", "12 min", "3 h", "2 d".
pub fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 90 => format!("{s} s"),
        s if s < 90 * 60 => format!("{} min", (s + 30) / 60),
        s if s < 48 * 3600 => format!("{} h", (s + 1800) / 3600),
        s => format!("{} d", (s + 43_200) / 86_400),
    }
}

/// "1 archive", "3 archives": a count with its noun, plural by `s`.
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

#[cfg(test)]
mod tests {
    use super::{human_size, plural};

    #[test]
    fn counted_nouns() {
        assert_eq!(plural(1, "admin"), "1 admin");
        assert_eq!(plural(0, "admin"), "0 admins");
        assert_eq!(plural(2, "earlier run"), "2 earlier runs");
    }

    #[test]
    fn decimal_units() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1.0 kB");
        assert_eq!(human_size(1_716_369), "1.7 MB");
        assert_eq!(human_size(50_000_000), "50.0 MB");
        assert_eq!(human_size(3_200_000_000_000_000), "3200.0 TB");
    }
}
