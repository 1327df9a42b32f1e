//! The callback data carried by the dashboard's buttons: a compact,
//! versioned format, parsed strictly.
//!
//! Format: `v1:<op>[:<arg>]*`, at most 64 bytes (Telegram's limit).
//! Anything else, including data from an older or newer format, is rejected:
//! callback data comes from the client and may be forged.

use std::fmt;

use lifeboat_core::catalog::ArchiveName;

/// Prefix of every button this version of the dashboard makes.
const VERSION: &str = "v1";

/// Telegram's limit on callback data.
pub const MAX_LEN: usize = 64;

/// The largest logs offset a button may carry (keeps the number small and
/// the query cheap).
pub const MAX_LOG_OFFSET: u32 = 100_000;

/// An archive named by its timestamp, `YYYYMMDD_HHMMSS` (UTC), which is how
/// [`ArchiveName::stamp`] spells it. Only valid timestamps exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArchiveStamp(ArchiveName);

impl ArchiveStamp {
    /// The stamp of a catalog archive name (`database_backup_….zip`, or
    /// `.zip.age`: one stamp names one archive, however it is sealed).
    pub fn from_archive_name(name: &str) -> Option<ArchiveStamp> {
        let name = ArchiveName::parse(name).ok().filter(|n| n.part().is_none())?;
        Some(ArchiveStamp(ArchiveName::full(name.created_at())))
    }

    /// The name of the archive with this stamp in `dir`, whatever its kind
    /// (full or differential, age-sealed or not; one stamp names one
    /// archive), whole or in parts; the plain full name when none exists.
    pub fn name_in(&self, dir: &std::path::Path) -> String {
        let kinds = ArchiveName::every_kind_at(self.0.created_at());
        kinds.into_iter().find(|n| n.exists_in(dir)).unwrap_or(self.0).to_string()
    }

    fn parse(s: &str) -> Option<ArchiveStamp> {
        ArchiveName::from_stamp(s).ok().map(ArchiveStamp)
    }

    /// The archive's logical name, `database_backup_YYYYMMDD_HHMMSS.zip`.
    pub fn archive_name(&self) -> String {
        self.0.to_string()
    }
}

/// `YYYYMMDD_HHMMSS`
impl fmt::Display for ArchiveStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.stamp())
    }
}

/// What a button asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Back to the main menu.
    Menu,
    /// 📊 Status.
    Status,
    /// 💾 Backup now.
    BackupNow,
    /// 📜 Logs, starting `offset` events from the newest.
    Logs {
        /// Events to skip.
        offset: u32,
    },
    /// 🩺 Health.
    Health,
    /// 📦 Backups.
    Backups,
    /// Re-send one archive to the admin who pressed.
    Resend(ArchiveStamp),
    /// Owner: ask to restore one archive (shows the plan).
    RestoreAsk(ArchiveStamp),
    /// Owner: the second press, "Yes, restore". The nonce must match the
    /// confirmation the server is holding for this owner.
    RestoreYes(ArchiveStamp, u64),
    /// "Acknowledge" under a shrink alert: unpin the archive it kept (the
    /// scheduler writes this data, see `lifeboat_telegram::ack`).
    Unpin(ArchiveStamp),
}

impl Action {
    /// The callback data of this action; always at most [`MAX_LEN`] bytes.
    pub fn encode(&self) -> String {
        let s = self.to_string();
        debug_assert!(s.len() <= MAX_LEN, "{s}");
        s
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Menu => write!(f, "{VERSION}:m"),
            Action::Status => write!(f, "{VERSION}:s"),
            Action::BackupNow => write!(f, "{VERSION}:b"),
            Action::Logs { offset } => write!(f, "{VERSION}:l:{offset}"),
            Action::Health => write!(f, "{VERSION}:h"),
            Action::Backups => write!(f, "{VERSION}:a"),
            Action::Resend(s) => write!(f, "{VERSION}:f:{s}"),
            Action::RestoreAsk(s) => write!(f, "{VERSION}:r:{s}"),
            Action::RestoreYes(s, nonce) => write!(f, "{VERSION}:y:{s}:{nonce:016x}"),
            Action::Unpin(s) => write!(f, "{VERSION}:u:{s}"),
        }
    }
}

/// Parses callback data; `None` for anything this version did not make.
pub fn parse(data: &str) -> Option<Action> {
    if data.is_empty() || data.len() > MAX_LEN {
        return None;
    }
    let mut parts = data.split(':');
    if parts.next()? != VERSION {
        return None;
    }
    let op = parts.next()?;
    let args: Vec<&str> = parts.collect();
    let action = match (op, args.as_slice()) {
        ("m", []) => Action::Menu,
        ("s", []) => Action::Status,
        ("b", []) => Action::BackupNow,
        ("h", []) => Action::Health,
        ("a", []) => Action::Backups,
        ("l", [n]) => Action::Logs { offset: parse_offset(n)? },
        ("f", [s]) => Action::Resend(ArchiveStamp::parse(s)?),
        ("r", [s]) => Action::RestoreAsk(ArchiveStamp::parse(s)?),
        ("y", [s, nonce]) => Action::RestoreYes(ArchiveStamp::parse(s)?, parse_nonce(nonce)?),
        ("u", [s]) => Action::Unpin(ArchiveStamp::parse(s)?),
        _ => return None,
    };
    // One spelling per action: "l:007" or upper-case hex is not ours.
    (action.encode() == data).then_some(action)
}

fn parse_offset(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n <= MAX_LOG_OFFSET)
}

fn parse_nonce(s: &str) -> Option<u64> {
    if s.len() != 16 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> ArchiveStamp {
        ArchiveStamp::from_archive_name("database_backup_20261122_031500.zip").unwrap()
    }

    #[test]
    fn every_action_round_trips_within_64_bytes() {
        let all = [
            Action::Menu,
            Action::Status,
            Action::BackupNow,
            Action::Logs { offset: 0 },
            Action::Logs { offset: MAX_LOG_OFFSET },
            Action::Health,
            Action::Backups,
            Action::Resend(stamp()),
            Action::RestoreAsk(stamp()),
            Action::RestoreYes(stamp(), u64::MAX),
            Action::RestoreYes(stamp(), 1),
        ];
        for a in all {
            let data = a.encode();
            assert!(data.len() <= MAX_LEN, "{data} is {} bytes", data.len());
            assert_eq!(parse(&data), Some(a), "{data}");
        }
        assert_eq!(stamp().archive_name(), "database_backup_20261122_031500.zip");
    }

    #[test]
    fn anything_else_is_rejected() {
        let bad = [
            "",
            "s",
            "v1",
            "v1:",
            "v2:s",
            "V1:s",
            "v1:s:",
            "v1:s:extra",
            "v1:x",
            "v1:l",
            "v1:l:",
            "v1:l:-1",
            "v1:l:007",
            "v1:l:+7",
            "v1:l:100001",
            "v1:l:99999999999999999999",
            "v1:f:20261122031500",
            "v1:f:20261122_03150",
            "v1:f:20261399_031500",
            "v1:f:20261122_256100",
            "v1:f:../../etc/passwd",
            "v1:f:20261122_031500:1",
            "v1:r:2026112_0315000",
            "v1:y:20261122_031500",
            "v1:y:20261122_031500:",
            "v1:y:20261122_031500:00000000000000001",
            "v1:y:20261122_031500:000000000000000G",
            "v1:y:20261122_031500:000000000000000A",
            "v1:y:20261122_031500:0000000000000001:x",
            "v1:s\n",
            " v1:s",
        ];
        for data in bad {
            assert_eq!(parse(data), None, "{data:?} should be rejected");
        }
        let long = format!("v1:l:{}", "1".repeat(70));
        assert_eq!(parse(&long), None);
    }

    #[test]
    fn stamps_only_from_archive_names() {
        assert!(ArchiveStamp::from_archive_name("database_backup_20261122_031500.zip.001").is_none());
        assert!(ArchiveStamp::from_archive_name("other_20261122_031500.zip").is_none());
        assert!(ArchiveStamp::from_archive_name("database_backup_20260230_031500.zip").is_none());
    }

    #[test]
    fn one_stamp_names_an_archive_of_any_kind() {
        let d = tempfile::tempdir().unwrap();
        for name in [
            "database_backup_20261122_031500.zip",
            "database_backup_20261122_031500.zip.age",
            "database_backup_20261122_031500.diff.zip",
            "database_backup_20261122_031500.diff.zip.age",
        ] {
            let stamp = ArchiveStamp::from_archive_name(name).unwrap();
            assert_eq!(stamp.to_string(), "20261122_031500");
            let file = d.path().join(name);
            std::fs::write(&file, b"x").unwrap();
            assert_eq!(stamp.name_in(d.path()), name);
            std::fs::remove_file(file).unwrap();
        }
        let stamp = ArchiveStamp::from_archive_name("database_backup_20261122_031500.diff.zip").unwrap();
        std::fs::write(d.path().join("database_backup_20261122_031500.diff.zip.age.001"), b"x").unwrap();
        assert_eq!(stamp.name_in(d.path()), "database_backup_20261122_031500.diff.zip.age", "parts count");
    }

    #[test]
    fn the_schedulers_acknowledge_button_is_ours() {
        let name = "database_backup_20261122_100000.zip";
        let data = lifeboat_telegram::ack::callback_data(name).unwrap();
        let stamp = ArchiveStamp::from_archive_name(name).unwrap();
        assert_eq!(parse(&data), Some(Action::Unpin(stamp)));
        assert_eq!(Action::Unpin(stamp).encode(), data);
    }
}
